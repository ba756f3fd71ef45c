// Runs the browser benchmark page (web/bench.html) from dist/ in headless Chromium: FGSM and
// PGD-10 on one image and on the bundled test batch, on WebGPU (SwiftShader here) and on the
// CPU fallback, plus the gzip size of dist/. Prints the table and saves it to artifacts/.
// By default the CPU runs the full 100-image batch (median of 3) and WebGPU, which SwiftShader
// emulates on this machine's two cores at minutes per PGD-10 batch, 10 images once;
// BENCH_QUERIES (';'-separated page queries) overrides, e.g. "backends=webgpu,cpu&batch=100&repeats=3".
// Besides the timings being positive, the page's numbers must agree with each other and with
// what was asked: one FGSM and one PGD-10 row per requested backend, on that backend, each
// timing as many images as requested (or the whole bundled batch), images/s equal to those
// images over the batch time, the printed table equal to the JSON, and the size of dist/ equal
// to the files in it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "..", "dist");
const queries = (process.env.BENCH_QUERIES || "backends=cpu&batch=100&repeats=3;backends=webgpu&batch=10&repeats=1").split(";");

// Files and bytes of every file under `dir` but `skip` (what scripts/build-dist.sh counts).
function tally(dir, skip) {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (path === skip) continue;
    if (entry.isDirectory()) {
      const inner = tally(path, skip);
      files += inner.files;
      bytes += inner.bytes;
    } else if (entry.isFile()) {
      files += 1;
      bytes += statSync(path).size;
    }
  }
  return { files, bytes };
}

// The backend the page reports for a requested one (web/src/lib.rs `Lab::create`).
function backendMatches(requested, reported) {
  if (requested === "cpu") return reported === "CPU (Flex)";
  if (requested === "webgpu") return reported.startsWith("WebGPU");
  return reported.startsWith("WebGPU") || reported.startsWith("CPU (Flex");
}

test("benchmark page: FGSM and PGD-10 timings per backend and the size of dist/", async () => {
  assert.ok(existsSync(join(dist, "size.json")), "dist/ is built (scripts/build-dist.sh)");
  const size = JSON.parse(readFileSync(join(dist, "size.json"), "utf8"));
  const bundled = JSON.parse(readFileSync(join(dist, "web", "models", "manifest.json"), "utf8")).batch.images;
  assert.deepEqual(tally(dist, join(dist, "size.json")), { files: size.files, bytes: size.bytes }, "dist/size.json counts the files of dist/");
  const server = await serve(dist);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/lib/chromium/chromium", headless: true, args: ["--no-sandbox", "--enable-unsafe-webgpu", "--disable-dev-shm-usage"] });
  try {
    const tables = [];
    for (const query of queries) {
      const page = await browser.newPage();
      await page.goto(`${server.url}/web/bench.html?${query}`);
      await page.waitForFunction(() => document.body.dataset.result, null, { timeout: 1_800_000 });
      const table = await page.textContent("#table");
      console.log(`\nbench.html?${query}\n${table}\n`);
      tables.push(`bench.html?${query}\n\n${table}\n`);
      const result = JSON.parse(await page.evaluate(() => document.body.dataset.result));
      assert.equal(result.error, undefined, result.error);
      const params = new URLSearchParams(query);
      const backends = params.get("backends").split(",");
      const images = Math.min(Number(params.get("batch") || 100), bundled);
      assert.equal(result.rows.length, 2 * backends.length, table);
      for (const r of result.rows) assert.equal(r.error, undefined, `${r.backend}: ${r.error}`);
      for (let i = 0; i < result.rows.length; i += 2) {
        const requested = backends[i / 2];
        const [fgsm, pgd] = result.rows.slice(i, i + 2);
        assert.deepEqual([fgsm.attack, pgd.attack], ["FGSM", "PGD-10"], table);
        for (const r of [fgsm, pgd]) {
          assert.ok(backendMatches(requested, r.backend), `asked for ${requested}, ran on ${r.backend}`);
          assert.equal(r.batch, images, `${r.backend} ${r.attack}: timed ${r.batch} images, asked for ${images}`);
          assert.ok(r.one_image_ms > 0 && r.batch_ms > 0, table);
          const rate = (1000 * r.batch) / r.batch_ms;
          assert.ok(Math.abs(r.images_per_second - rate) <= 1e-9 * rate, `${r.backend} ${r.attack}: ${r.images_per_second} images/s for ${r.batch} images in ${r.batch_ms} ms`);
          const line = `| ${r.backend} | ${r.attack} | ${r.one_image_ms.toFixed(0)} | ${r.batch} | ${r.batch_ms.toFixed(0)} | ${r.images_per_second.toFixed(1)} |`;
          assert.ok(table.split("\n").includes(line), `the table does not show ${line}:\n${table}`);
        }
        assert.ok(pgd.batch_ms > fgsm.batch_ms, `PGD-10 (10 gradient steps) takes longer than FGSM (1) on ${pgd.backend}`);
      }
      assert.deepEqual(result.dist, size, "the page shows dist/size.json");
      assert.ok(size.gzip_bytes > 0 && size.gzip_bytes < size.bytes, JSON.stringify(size));
      await page.close();
    }
    mkdirSync(join(here, "artifacts"), { recursive: true });
    writeFileSync(join(here, "artifacts", "bench.md"), tables.join("\n"));
  } finally {
    await browser.close();
    server.close();
  }
});
