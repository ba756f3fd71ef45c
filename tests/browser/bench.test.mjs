// Runs the browser benchmark page (web/bench.html) from dist/ in headless Chromium: FGSM and
// PGD-10 on one image and on the bundled test batch, on WebGPU (SwiftShader here) and on the
// CPU fallback, plus the gzip size of dist/. Prints the table and saves it to artifacts/.
// By default the CPU runs the full 100-image batch (median of 3) and WebGPU, which SwiftShader
// emulates on this machine's two cores at minutes per PGD-10 batch, 10 images once;
// BENCH_QUERIES (';'-separated page queries) overrides, e.g. "backends=webgpu,cpu&batch=100&repeats=3".
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "..", "dist");
const queries = (process.env.BENCH_QUERIES || "backends=cpu&batch=100&repeats=3;backends=webgpu&batch=10&repeats=1").split(";");

test("benchmark page: FGSM and PGD-10 timings per backend and the size of dist/", async () => {
  assert.ok(existsSync(join(dist, "size.json")), "dist/ is built (scripts/build-dist.sh)");
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
      const backends = new URLSearchParams(query).get("backends").split(",");
      assert.equal(result.rows.length, 2 * backends.length, table);
      for (const r of result.rows) assert.equal(r.error, undefined, `${r.backend}: ${r.error}`);
      for (let i = 0; i < result.rows.length; i += 2) {
        const [fgsm, pgd] = result.rows.slice(i, i + 2);
        assert.ok(fgsm.one_image_ms > 0 && fgsm.batch_ms > 0, table);
        assert.ok(pgd.batch_ms > fgsm.batch_ms, `PGD-10 (10 gradient steps) takes longer than FGSM (1) on ${pgd.backend}`);
      }
      assert.ok(result.dist.gzip_bytes > 0 && result.dist.gzip_bytes < result.dist.bytes, JSON.stringify(result.dist));
      await page.close();
    }
    mkdirSync(join(here, "artifacts"), { recursive: true });
    writeFileSync(join(here, "artifacts", "bench.md"), tables.join("\n"));
  } finally {
    await browser.close();
    server.close();
  }
});
