// The page's controller: loads the wasm module and the bundled model, then runs attacks on
// the uploaded image. `?backend=cpu` forces the CPU (Flex) fallback; the default tries WebGPU.
import init, { Demo } from "./pkg/hypersphere_web.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const backend = params.get("backend") || "auto";
const modelBase = params.get("model") || "web/models/demo";
let demo = null;
let imageBytes = null;

function showError(message) {
  $("error").textContent = message;
  $("status").textContent = "";
}

function topList(element, predictions) {
  element.replaceChildren(...predictions.map((p) => {
    const li = document.createElement("li");
    li.textContent = `${p.name} ${(100 * p.probability).toFixed(1)}%`;
    return li;
  }));
}

function pngUrl(bytes) {
  return URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
}

// wgpu cannot always read the adapter's name in a browser; WebGPU's own `adapter.info` can.
async function describeBackend(name) {
  if (name !== "WebGPU" || !navigator.gpu) return name;
  const adapter = await navigator.gpu.requestAdapter();
  const info = adapter && adapter.info;
  const parts = info ? [info.vendor, info.architecture, info.description].filter(Boolean) : [];
  return parts.length ? `WebGPU: ${parts.join(" ")}` : name;
}

async function start() {
  try {
    await init();
    const [weights, config] = await Promise.all([
      fetch(`${modelBase}.bpk`).then((r) => { if (!r.ok) throw new Error(`model weights: HTTP ${r.status}`); return r.arrayBuffer(); }),
      fetch(`${modelBase}.json`).then((r) => { if (!r.ok) throw new Error(`model config: HTTP ${r.status}`); return r.text(); }),
    ]);
    demo = await Demo.create(new Uint8Array(weights), config, backend);
    $("backend").textContent = await describeBackend(demo.backend());
    const info = JSON.parse(config);
    $("model-info").textContent = `${info.arch} (width ${info.width}), ${info.num_classes} classes`;
    $("run").disabled = false;
    document.body.dataset.ready = "true";
  } catch (e) {
    $("backend").textContent = "unavailable";
    showError(`Could not start: ${e.message || e}`);
  }
}

$("eps").addEventListener("input", () => { $("eps-value").textContent = $("eps").value; });

$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  if (!file) return;
  $("error").textContent = "";
  imageBytes = new Uint8Array(await file.arrayBuffer());
  $("original").src = URL.createObjectURL(file);
  if (!demo) return;
  try {
    const top = JSON.parse(await demo.classify(imageBytes));
    topList($("clean-top5"), top);
    $("clean-pred").textContent = top[0].name;
  } catch (e) {
    imageBytes = null;
    showError(`${file.name}: ${e.message || e}`);
  }
});

$("run").addEventListener("click", async () => {
  if (!demo || !imageBytes) { showError("Choose an image first."); return; }
  $("error").textContent = "";
  $("status").textContent = "attacking...";
  $("run").disabled = true;
  try {
    const eps = Number($("eps").value) / 255;
    const out = await demo.attack(imageBytes, $("attack").value, eps, Number($("steps").value), Number($("seed").value));
    const s = JSON.parse(out.summary);
    $("adversarial").src = pngUrl(out.adversarial_png);
    $("perturbation").src = pngUrl(out.perturbation_png);
    topList($("clean-top5"), s.clean);
    topList($("adv-top5"), s.adversarial);
    $("clean-pred").textContent = s.clean[0].name;
    $("adv-pred").textContent = s.adversarial[0].name;
    $("verdict").textContent = s.flipped ? "label flipped" : "label kept";
    $("verdict").className = s.flipped ? "flip" : "";
    $("norms").textContent = `l\u221e ${(255 * s.linf).toFixed(1)}/255, l2 ${s.l2.toFixed(3)}`;
    $("status").textContent = `${s.spec} took ${s.milliseconds.toFixed(0)} ms`;
    document.body.dataset.attacks = String(Number(document.body.dataset.attacks || 0) + 1);
  } catch (e) {
    showError(`Attack failed: ${e.message || e}`);
  } finally {
    $("run").disabled = false;
  }
});

start();
