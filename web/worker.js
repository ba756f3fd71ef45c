// The page's Web Worker: owns the wasm `Lab` (every bundled model on one device) so that the
// page never freezes. Messages are `{id, op, args}`; every reply is `{id, ok, result | error}`.
// Long jobs (the robustness curve) are split by the page into small requests, so other
// requests (and `ping`) are answered between them.
import init, { Lab } from "./pkg/hypersphere_web.js";

let lab = null;
const names = [];

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// Each op returns [result, transferables].
const ops = {
  ping: async () => [{ at: performance.now() }],

  // Loads the wasm module, the chosen models of the manifest and the test batch.
  async start({ backend, base, only }) {
    await init();
    const manifest = await (await fetch(`${base}/manifest.json`)).json();
    const chosen = only ? manifest.models.filter((m) => only.includes(m.id)) : manifest.models;
    if (!chosen.length) throw new Error(`no bundled model matches '${only}'`);
    lab = await Lab.create(backend);
    for (const m of chosen) {
      const [weights, config] = await Promise.all([fetchBytes(`${base}/${m.weights}`), fetch(`${base}/${m.config}`).then((r) => r.text())]);
      lab.add_model(m.name, weights, config);
      names.push(m.name);
    }
    const batch = lab.load_batch(await fetchBytes(`${base}/${manifest.batch.file}`));
    return [{ backend: lab.backend(), models: chosen, batch }];
  },

  async prepare({ image }) {
    const png = lab.prepare(image);
    return [png, [png.buffer]];
  },

  async corrupt({ image, name, severity, seed }) {
    const png = lab.corrupt(image, name, severity, seed);
    return [png, [png.buffer]];
  },

  async classify({ model, image }) {
    return [JSON.parse(await lab.classify(model, image))];
  },

  async attack({ model, image, request }) {
    const out = await lab.attack(model, image, JSON.stringify(request));
    const result = { summary: JSON.parse(out.summary), adversarial: out.adversarial_png, perturbation: out.perturbation_png };
    return [result, [result.adversarial.buffer, result.perturbation.buffer]];
  },

  async minFlip({ model, image, request, unit, maxSteps }) {
    return [JSON.parse(await lab.min_flip_eps(model, image, JSON.stringify(request), unit, maxSteps))];
  },

  async geometry({ model, seed }) {
    return [JSON.parse(await lab.geometry(model, seed ?? 0))];
  },

  async embed({ model, image }) {
    return [JSON.parse(await lab.embed(model, image))];
  },

  async batchPng({ index }) {
    const png = lab.batch_png(index);
    return [png, [png.buffer]];
  },

  async batchCorrect({ model, request, start, len }) {
    return [await lab.batch_correct(model, JSON.stringify(request), start, len)];
  },
};

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    if (op !== "start" && op !== "ping" && !lab) throw new Error("the models are still loading");
    const handler = ops[op];
    if (!handler) throw new Error(`unknown request '${op}'`);
    const [result, transfer] = await handler(args || {});
    self.postMessage({ id, ok: true, result }, transfer || []);
  } catch (e) {
    self.postMessage({ id, ok: false, error: String(e && e.message ? e.message : e) });
  }
};
