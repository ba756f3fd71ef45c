// The page's controller (main thread). All model work happens in `worker.js`; this file only
// wires the controls, sends requests and draws the answers. Query parameters:
//   ?backend=webgpu|cpu|auto   (default auto: WebGPU when the browser has it, else the CPU)
//   ?models=ce,simclr          (a subset of web/models/manifest.json; default all)
//   ?batch=N                   (images of the bundled test batch used by the curve; default all)
//   ?auto=0                    (no first-visit attack; default: a gallery image is attacked on load)
//   ?image=NAME                (the gallery image of the first visit; default ship)
import { connectWorker } from "./worker-client.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
const CORRUPTIONS = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
  "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"];
const CURVE_STEPS = [0, 1, 2, 4, 8, 16];
const CHUNK = 10;

// ---- the worker and its requests --------------------------------------------------------
const { call } = connectWorker((e) => showError(`The worker failed: ${e.message}`));
// Round trip to the worker in milliseconds (the page and the tests use it to show that the
// worker keeps answering while an attack runs).
window.pingWorker = async () => { const t = performance.now(); await call("ping"); return performance.now() - t; };
// The worker's requests, for the browser tests and the console (`await workerCall("classify", {...})`).
window.workerCall = call;

// ---- state ------------------------------------------------------------------------------
let models = [];
let batchSize = 0;
let source = null;   // bytes of the uploaded / gallery image
let input = null;    // PNG bytes the models see (after the optional corruption)
let generation = 0;  // bumps on every new request set, so stale answers are dropped
const lastPng = {};  // model index -> adversarial PNG bytes (download)

function showError(message) { $("error").textContent = message; }
function clearError() { $("error").textContent = ""; }
function status(text) { $("status").textContent = text; }
function pngUrl(bytes) { return URL.createObjectURL(new Blob([bytes], { type: "image/png" })); }

function attackRequest(eps) {
  const attack = $("attack").value;
  const target = $("target").value === "" ? null : Number($("target").value);
  return { attack, eps: eps ?? epsOf(Number($("eps").value)), steps: Number($("steps").value), seed: Number($("seed").value), target };
}
// The slider counts 1/255 steps for l_inf attacks and 1/32 steps of l_2 radius for PGD-l_2.
function epsUnit(attack = $("attack").value) { return attack === "pgd-l2" ? 1 / 32 : 1 / 255; }
function epsOf(k, attack) { return k * epsUnit(attack); }
function epsLabel(k, attack = $("attack").value) { return attack === "pgd-l2" ? `${(k / 32).toFixed(3)} (l\u2082)` : `${k}/255`; }

// ---- drawing ----------------------------------------------------------------------------
function bars(predictions, highlight) {
  const list = document.createElement("ol");
  list.className = "bars";
  for (const p of predictions) {
    const li = document.createElement("li");
    if (p.label === highlight) li.className = "hl";
    li.innerHTML = `<span class="name"></span><span class="bar"><span style="width:${(100 * p.probability).toFixed(1)}%"></span></span><span class="pct">${(100 * p.probability).toFixed(1)}%</span>`;
    li.querySelector(".name").textContent = p.name;
    list.append(li);
  }
  return list;
}

function buildCards() {
  $("cards").replaceChildren(...models.map((m, i) => {
    const card = document.createElement("section");
    card.className = "card";
    card.id = `card-${i}`;
    card.dataset.model = m.id;
    card.innerHTML = `<h3></h3><p class="acc"></p>
      <div class="imgs"><figure><img class="adv" alt="adversarial image"><figcaption>adversarial</figcaption></figure>
      <figure><img class="pert" alt="amplified perturbation"><figcaption>perturbation &times;<span class="amp">-</span></figcaption></figure></div>
      <p class="norms"></p><p class="verdict"></p><p class="minflip"></p>
      <h4>clean</h4><div class="clean"></div><h4>adversarial</h4><div class="advtop"></div>
      <p class="time"></p><a class="download" download="adversarial.png" hidden>download adversarial PNG</a>`;
    card.querySelector("h3").textContent = m.name;
    card.querySelector(".acc").textContent = `${m.arch} width ${m.width}; test accuracy ${(100 * m.test_accuracy).toFixed(1)}%`;
    return card;
  }));
}

/// The paper's measure: (clean - attacked) / clean, with clean the accuracy at eps = 0 (the
/// curve's first point); null where the clean accuracy is 0.
function relativeDrops(accuracy) {
  const clean = accuracy[0];
  return accuracy.map((a) => (clean > 0 ? (clean - a) / clean : null));
}

let lastCurve = null; // { series, steps, attack } of the last computed curve, for the view toggle

function drawCurve(series, steps, attack, view = $("curve-view").value) {
  lastCurve = { series, steps, attack };
  const W = 520, H = 260, L = 48, B = 36, T = 12, R = 120;
  const x = (i) => L + (i / (steps.length - 1)) * (W - L - R);
  const y = (v) => T + (1 - v) * (H - T - B);
  const values = (s) => (view === "drop" ? relativeDrops(s.accuracy) : s.accuracy);
  const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
  const what = view === "drop" ? "relative accuracy drop" : "accuracy";
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${what} versus epsilon" data-view="${view}">`;
  for (const a of [0, 0.25, 0.5, 0.75, 1]) {
    svg += `<line x1="${L}" x2="${W - R}" y1="${y(a)}" y2="${y(a)}" stroke="#ddd"/><text x="${L - 6}" y="${y(a) + 4}" text-anchor="end" font-size="11">${a * 100}%</text>`;
  }
  steps.forEach((k, i) => { svg += `<text x="${x(i)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${epsLabel(k, attack).replace(" (l\u2082)", "")}</text>`; });
  svg += `<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle" font-size="12">\u03b5</text>`;
  series.forEach((s, j) => {
    const c = colors[j % colors.length];
    const v = values(s);
    const pts = v.map((a, i) => (a == null ? null : `${x(i)},${y(a)}`)).filter(Boolean).join(" ");
    svg += `<polyline class="series" data-model="${s.id}" data-values="${v.join(",")}" fill="none" stroke="${c}" stroke-width="2" points="${pts}"/>`;
    v.forEach((a, i) => { if (a != null) svg += `<circle cx="${x(i)}" cy="${y(a)}" r="3" fill="${c}"/>`; });
    svg += `<text x="${W - R + 8}" y="${T + 14 + 16 * j}" font-size="12" fill="${c}">${s.name}</text>`;
  });
  $("curve").innerHTML = svg + "</svg>";
}

/// One sentence per curve: each model's relative drop at the smallest epsilon where the curve
/// has one (2/255 for l_inf), largest drop first.
function curveSummary(series, steps, attack) {
  const at = steps.indexOf(2) > 0 ? steps.indexOf(2) : 1;
  const drops = series.map((s) => ({ name: s.name, drop: relativeDrops(s.accuracy)[at] })).filter((d) => d.drop != null);
  if (!drops.length) return "";
  drops.sort((a, b) => b.drop - a.drop);
  const pct = (d) => `${Math.round(100 * d.drop)}%`;
  const [first, ...rest] = drops;
  return `At \u03b5 = ${epsLabel(steps[at], attack)}, ${first.name} loses ${pct(first)} of its accuracy` +
    (rest.length ? `, ${rest.map((d) => `${d.name} ${pct(d)}`).join(", ")}` : "") + " (relative drop on the test batch).";
}

// ---- the image ---------------------------------------------------------------------------
async function setSource(bytes, name) {
  clearError();
  try {
    const png = await call("prepare", { image: bytes });
    source = bytes;
    $("source-name").textContent = name;
    await applyCorruption(png);
  } catch (e) {
    showError(`${name}: ${e.message}`);
  }
}

async function applyCorruption(prepared) {
  const kind = $("corruption").value;
  input = kind ? await call("corrupt", { image: source, name: kind, severity: Number($("severity").value), seed: Number($("seed").value) }) : prepared ?? await call("prepare", { image: source });
  $("original").src = pngUrl(input);
  await classifyAll();
  $("run").disabled = false;
}

async function classifyAll() {
  const g = ++generation;
  const tops = await Promise.all(models.map((_, i) => call("classify", { model: i, image: input })));
  if (g !== generation) return;
  for (const k of Object.keys(lastPng)) delete lastPng[k];
  if (Object.keys(maps).length) placeAll();
  tops.forEach((top, i) => {
    const card = $(`card-${i}`);
    card.querySelector(".clean").replaceChildren(bars(top));
    card.querySelector(".advtop").replaceChildren();
    card.querySelector(".verdict").textContent = `clean: ${top[0].name}`;
    card.querySelector(".verdict").className = "verdict";
    card.querySelector(".minflip").textContent = "";
    card.dataset.clean = top[0].name;
    delete card.dataset.adv;
  });
  document.body.dataset.classified = String(Number(document.body.dataset.classified || 0) + 1);
}

// ---- attacks -----------------------------------------------------------------------------
async function attackAll({ bisect }) {
  if (!input) { showError("Choose an image first."); return; }
  clearError();
  const g = ++generation;
  const request = attackRequest();
  status(`running ${request.attack} on ${models.length} models...`);
  const started = performance.now();
  try {
    await Promise.all(models.map(async (_, i) => {
      const out = await call("attack", { model: i, image: input, request });
      if (g !== generation) return;
      showAttack(i, out);
    }));
    if (g !== generation) return;
    status(`${request.attack} done in ${(performance.now() - started).toFixed(0)} ms`);
    if (Object.keys(maps).length) await placeAll();
    document.body.dataset.attacks = String(Number(document.body.dataset.attacks || 0) + 1);
    if (bisect) await minFlipAll(g, request);
  } catch (e) {
    if (g === generation) { showError(`Attack failed: ${e.message}`); status(""); }
  }
}

function showAttack(i, { summary: s, adversarial, perturbation }) {
  const card = $(`card-${i}`);
  card.querySelector(".adv").src = pngUrl(adversarial);
  card.querySelector(".pert").src = pngUrl(perturbation);
  card.querySelector(".amp").textContent = s.linf > 0 ? (0.5 / s.linf).toFixed(1) : "-";
  card.querySelector(".norms").textContent = `\u2016\u03b4\u2016\u221e = ${(255 * s.linf).toFixed(2)}/255, \u2016\u03b4\u2016\u2082 = ${s.l2.toFixed(3)}`;
  card.querySelector(".clean").replaceChildren(bars(s.clean, s.label));
  card.querySelector(".advtop").replaceChildren(bars(s.adversarial, s.target ?? s.label));
  const verdict = card.querySelector(".verdict");
  const to = s.adversarial[0].name;
  verdict.textContent = s.target != null
    ? (s.flipped ? `reached target ${to}` : `target ${CLASSES[s.target]} not reached (${to})`)
    : (s.flipped ? `label flipped: ${s.clean[0].name} \u2192 ${to}` : `label kept: ${to}`);
  verdict.className = s.flipped ? "verdict flip" : "verdict kept";
  card.querySelector(".time").textContent = `${s.spec} took ${s.milliseconds.toFixed(0)} ms`;
  const link = card.querySelector(".download");
  lastPng[i] = adversarial;
  link.href = pngUrl(adversarial);
  link.download = `adversarial-${models[i].id}-${s.spec.replaceAll(/[:/]/g, "_")}.png`;
  link.hidden = false;
  card.dataset.adv = to;
  card.dataset.flipped = String(s.flipped);
  card.dataset.linf = String(s.linf);
  card.dataset.l2 = String(s.l2);
}

// The bisection searches a 4x finer grid than the slider (quarter steps), up to the slider's end.
const BISECTION_SUBSTEPS = 4;
async function minFlipAll(g, request) {
  const maxSteps = Number($("eps").max) * BISECTION_SUBSTEPS;
  const unit = epsUnit() / BISECTION_SUBSTEPS;
  for (const [i] of models.entries()) $(`card-${i}`).querySelector(".minflip").textContent = "smallest flipping \u03b5: searching...";
  await Promise.all(models.map(async (_, i) => {
    const found = await call("minFlip", { model: i, image: input, request, unit, maxSteps });
    if (g !== generation) return;
    const el = $(`card-${i}`).querySelector(".minflip");
    const k = found.eps == null ? null : Math.round(found.eps / unit) / BISECTION_SUBSTEPS;
    el.textContent = k == null ? `no flip up to \u03b5 = ${epsLabel(maxSteps / BISECTION_SUBSTEPS)}` : `smallest flipping \u03b5: ${epsLabel(k)} (${found.attacks} attacks)`;
    el.dataset.eps = k == null ? "none" : String(found.eps);
  }));
  if (g === generation) document.body.dataset.bisected = String(Number(document.body.dataset.bisected || 0) + 1);
}

// ---- the geometry panel ------------------------------------------------------------------
const CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const MAP = 240, PAD = 10;
const maps = {}; // model index -> { scale: (x, y) -> [px, py] }

async function drawMaps() {
  $("geometry-run").disabled = true;
  delete document.body.dataset.geometry;
  const started = performance.now();
  try {
    const figures = [];
    for (const [i, m] of models.entries()) {
      $("geometry-status").textContent = `${m.name}: embedding ${batchSize} test images...`;
      const g = await call("geometry", { model: i, seed: 0 });
      const xs = g.points.map((p) => p[0]), ys = g.points.map((p) => p[1]);
      const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      const scale = (x, y) => [PAD + ((x - x0) / (x1 - x0 || 1)) * (MAP - 2 * PAD), PAD + ((y - y0) / (y1 - y0 || 1)) * (MAP - 2 * PAD)];
      maps[i] = { scale };
      let svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${MAP} ${MAP}" role="img" aria-label="t-SNE map of ${m.name}">`;
      g.points.forEach(([x, y], k) => {
        const [px, py] = scale(x, y);
        svg += `<circle class="point" data-index="${k}" data-label="${g.labels[k]}" cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3.2" fill="${CLASS_COLORS[g.labels[k] % 10]}"><title>${g.class_names[g.labels[k]]}</title></circle>`;
      });
      // The uploaded image's marks never hide the points under them from the pointer.
      svg += `<g class="markers" pointer-events="none"></g></svg>`;
      const fig = document.createElement("figure");
      fig.className = "map";
      fig.dataset.model = m.id;
      fig.dataset.ratio = String(g.ratio);
      fig.dataset.uniformity = String(g.uniformity);
      fig.innerHTML = svg + `<figcaption><strong>${m.name}</strong>: ratio <span class="ratio">${g.ratio.toFixed(3)}</span>x ` +
        `(inter ${g.inter.toFixed(3)} / intra ${g.intra.toFixed(3)}), alignment ${g.alignment.toFixed(3)}, uniformity ${g.uniformity.toFixed(3)}</figcaption>`;
      figures.push(fig);
      $("maps").replaceChildren(...figures);
    }
    $("maps").querySelectorAll("circle.point").forEach((c) => c.addEventListener("mouseenter", () => hoverImage(Number(c.dataset.index))));
    $("geometry-status").textContent = `${models.length} maps in ${((performance.now() - started) / 1000).toFixed(1)} s (hover a dot to see its image)`;
    document.body.dataset.geometry = "done";
    if (input) await placeAll();
  } catch (e) {
    showError(`Geometry failed: ${e.message}`);
  } finally {
    $("geometry-run").disabled = false;
  }
}

const hoverCache = {};
async function hoverImage(k) {
  hoverCache[k] ??= pngUrl(await call("batchPng", { index: k }));
  $("geometry-hover").src = hoverCache[k];
  $("geometry-hover").hidden = false;
}

/// Draws the clean image (ring) and, after an attack, the adversarial image (cross) on every map.
async function placeAll() {
  await Promise.all(models.map(async (_, i) => {
    if (!maps[i]) return;
    const g = $("maps").querySelector(`figure.map[data-model="${models[i].id}"] .markers`);
    const clean = await call("embed", { model: i, image: input });
    const [cx, cy] = maps[i].scale(clean.x, clean.y);
    let marks = `<circle class="clean-mark" cx="${cx.toFixed(2)}" cy="${cy.toFixed(2)}" r="6" fill="none" stroke="#000" stroke-width="2"/>`;
    if (lastPng[i]) {
      const adv = await call("embed", { model: i, image: lastPng[i] });
      const [ax, ay] = maps[i].scale(adv.x, adv.y);
      marks += `<line x1="${cx.toFixed(2)}" y1="${cy.toFixed(2)}" x2="${ax.toFixed(2)}" y2="${ay.toFixed(2)}" stroke="#b00020" stroke-dasharray="3 2"/>` +
        `<path class="adv-mark" data-x="${ax.toFixed(2)}" data-y="${ay.toFixed(2)}" d="M${ax - 5},${ay - 5}L${ax + 5},${ay + 5}M${ax - 5},${ay + 5}L${ax + 5},${ay - 5}" stroke="#b00020" stroke-width="2.5"/>`;
    }
    g.innerHTML = marks;
  }));
  document.body.dataset.placed = String(Number(document.body.dataset.placed || 0) + 1);
}

// ---- the robustness curve ----------------------------------------------------------------
async function computeCurve() {
  const n = Math.min(batchSize, Number(params.get("batch") || batchSize));
  const base = $("curve-attack").value === "fgsm" ? { ...attackRequest(), attack: "fgsm" } : attackRequest();
  const series = models.map((m) => ({ id: m.id, name: m.name, accuracy: [] }));
  const total = models.length * CURVE_STEPS.length * Math.ceil(n / CHUNK);
  let done = 0;
  $("curve-run").disabled = true;
  $("curve-progress").max = total;
  $("curve-progress").value = 0;
  $("curve-progress").hidden = false;
  delete document.body.dataset.curve;
  const started = performance.now();
  try {
    for (const k of CURVE_STEPS) {
      for (const [i, s] of series.entries()) {
        let correct = 0;
        for (let start = 0; start < n; start += CHUNK) {
          correct += await call("batchCorrect", { model: i, request: { ...base, target: null, eps: epsOf(k, base.attack) }, start, len: Math.min(CHUNK, n - start) });
          $("curve-progress").value = ++done;
          $("curve-status").textContent = `${models[i].name}, \u03b5 = ${epsLabel(k, base.attack)}: ${done}/${total}`;
        }
        s.accuracy.push(correct / n);
      }
      if (series[0].accuracy.length > 1) drawCurve(series, CURVE_STEPS.slice(0, series[0].accuracy.length), base.attack);
    }
    $("curve-status").textContent = `${base.attack} on ${n} test images, ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
      series.map((s) => `${s.name} ${s.accuracy.map((a) => (100 * a).toFixed(0) + "%").join(" / ")}`).join("; ");
    document.body.dataset.curve = JSON.stringify(series.map((s) => s.accuracy));
    $("curve-summary").textContent = curveSummary(series, CURVE_STEPS, base.attack);
  } catch (e) {
    showError(`Curve failed: ${e.message}`);
  } finally {
    $("curve-run").disabled = false;
    $("curve-progress").hidden = true;
  }
}

// ---- controls ----------------------------------------------------------------------------
function fillControls() {
  $("target").append(...CLASSES.map((c, i) => new Option(`towards ${c}`, String(i))));
  $("corruption").append(...CORRUPTIONS.map((c) => new Option(c.replaceAll("_", " "), c)));
  $("gallery").append(...CLASSES.map((c) => {
    const b = document.createElement("button");
    b.type = "button";
    b.title = c;
    b.dataset.name = c;
    b.innerHTML = `<img src="web/gallery/${c}.jpg" alt="${c}">`;
    b.onclick = async () => setSource(new Uint8Array(await (await fetch(`web/gallery/${c}.jpg`)).arrayBuffer()), `${c}.jpg (CIFAR-10 test)`);
    return b;
  }));
}

function updateEpsLabel() { $("eps-value").textContent = epsLabel(Number($("eps").value)); }

let live = null;
$("eps").addEventListener("input", () => {
  updateEpsLabel();
  if (!$("live").checked || !input) return;
  clearTimeout(live);
  live = setTimeout(() => attackAll({ bisect: false }), 150);
});
$("attack").addEventListener("change", () => { updateEpsLabel(); $("steps").disabled = $("attack").value === "fgsm"; });
$("run").addEventListener("click", () => attackAll({ bisect: $("bisect").checked }));
$("curve-run").addEventListener("click", computeCurve);
$("geometry-run").addEventListener("click", drawMaps);
$("curve-view").addEventListener("change", () => { if (lastCurve) drawCurve(lastCurve.series, lastCurve.steps, lastCurve.attack); });
$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  if (file) await setSource(new Uint8Array(await file.arrayBuffer()), file.name);
});
$("corruption").addEventListener("change", () => source && applyCorruption().catch((e) => showError(e.message)));
$("severity").addEventListener("change", () => source && $("corruption").value && applyCorruption().catch((e) => showError(e.message)));
document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
document.addEventListener("drop", async (e) => {
  e.preventDefault();
  document.body.classList.remove("dragging");
  const file = e.dataTransfer.files[0];
  if (file) await setSource(new Uint8Array(await file.arrayBuffer()), file.name);
});
document.addEventListener("paste", async (e) => {
  const file = [...(e.clipboardData?.files || [])][0];
  if (file) await setSource(new Uint8Array(await file.arrayBuffer()), file.name || "pasted image");
});

// wgpu cannot always read the adapter's name in a browser; WebGPU's own `adapter.info` can.
async function describeBackend(name) {
  if (!name.startsWith("WebGPU") || !navigator.gpu) return name;
  const adapter = await navigator.gpu.requestAdapter();
  const info = adapter && adapter.info;
  const parts = info ? [info.vendor, info.architecture, info.description].filter(Boolean) : [];
  return parts.length ? `WebGPU: ${parts.join(" ")}` : name;
}

// A first visit shows the effect without a click: a gallery image attacked on every model at
// the default epsilon (the smallest flipping epsilon is left to the button).
async function firstVisit() {
  const name = CLASSES.includes(params.get("image")) ? params.get("image") : "ship";
  await setSource(new Uint8Array(await (await fetch(`web/gallery/${name}.jpg`)).arrayBuffer()), `${name}.jpg (CIFAR-10 test)`);
  await attackAll({ bisect: false });
  document.body.dataset.firstVisit = "done";
  await drawMaps();
}

async function start() {
  fillControls();
  updateEpsLabel();
  try {
    const only = params.get("models")?.split(",");
    const started = await call("start", { backend: params.get("backend") || "auto", base: new URL("models", new URL(".", import.meta.url)).href, only });
    models = started.models;
    batchSize = started.batch;
    buildCards();
    $("backend").textContent = await describeBackend(started.backend);
    $("curve-run").disabled = false;
    $("geometry-run").disabled = false;
    document.body.dataset.ready = "true";
    status(`${models.length} models loaded, ${batchSize} test images for the curve`);
    if (params.get("auto") !== "0") await firstVisit();
  } catch (e) {
    $("backend").textContent = "unavailable";
    showError(`Could not start: ${e.message}`);
  }
}

start();
