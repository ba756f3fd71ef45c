// The browser benchmark: times the page's own worker requests (the code users run), per backend.
// Writes a Markdown table into #table and the numbers as JSON into document.body.dataset.result.
import { connectWorker } from "./worker-client.js";

const params = new URLSearchParams(location.search);
const backends = (params.get("backends") || "webgpu,cpu").split(",");
const batch = Number(params.get("batch") || 100);
const repeats = Number(params.get("repeats") || 3);
document.getElementById("repeats").textContent = String(repeats);
const EPS = 8 / 255;

async function median(run) {
  await run();
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function distSize() {
  const response = await fetch(new URL("../size.json", import.meta.url));
  return response.ok ? response.json() : null;
}

async function main() {
  const image = new Uint8Array(await (await fetch(new URL("gallery/cat.jpg", import.meta.url))).arrayBuffer());
  const rows = [];
  for (const backend of backends) {
    const c = connectWorker();
    try {
      const started = await c.call("start", { backend, base: new URL("models", import.meta.url).href, only: ["ce"] });
      const n = Math.min(batch, started.batch);
      for (const [name, request] of [["FGSM", { attack: "fgsm", eps: EPS }], ["PGD-10", { attack: "pgd", eps: EPS, steps: 10, seed: 0 }]]) {
        const one = await median(() => c.call("attack", { model: 0, image, request }));
        const many = await median(() => c.call("batchCorrect", { model: 0, request, start: 0, len: n }));
        rows.push({ backend: started.backend, attack: name, one_image_ms: one, batch: n, batch_ms: many, images_per_second: (1000 * n) / many });
      }
    } catch (e) {
      rows.push({ backend, error: String(e.message || e) });
    } finally {
      c.close();
    }
  }
  const size = await distSize();
  const lines = ["| backend | attack | one image (ms) | batch | batch (ms) | images/s |", "|---|---|---|---|---|---|"];
  for (const r of rows) {
    lines.push(r.error ? `| ${r.backend} | failed: ${r.error} | | | | |`
      : `| ${r.backend} | ${r.attack} | ${r.one_image_ms.toFixed(0)} | ${r.batch} | ${r.batch_ms.toFixed(0)} | ${r.images_per_second.toFixed(1)} |`);
  }
  lines.push("", size ? `dist/: ${size.files} files, ${(size.bytes / 1e6).toFixed(2)} MB, ${(size.gzip_bytes / 1e6).toFixed(2)} MB gzipped (each file gzip -9)`
    : "dist/: size unknown (serve the dist/ folder built by scripts/build-dist.sh to see it)");
  document.getElementById("table").textContent = lines.join("\n");
  document.body.dataset.result = JSON.stringify({ rows, dist: size });
}

main().catch((e) => {
  document.getElementById("table").textContent = `benchmark failed: ${e.message || e}`;
  document.body.dataset.result = JSON.stringify({ error: String(e.message || e) });
});
