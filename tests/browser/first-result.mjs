// Time to first result: serves dist/ and opens the page in a fresh headless Chromium (an empty
// cache) on the CPU fallback with the first-visit attack on, and prints how long the page took
// until its models were loaded and until the first-visit result was shown, with the bytes the
// server sent (uncompressed; localhost, so transfer time is not what is measured). Run from tests/browser after scripts/build-dist.sh:
//
//     node first-result.mjs [QUERY]        # QUERY default: backend=cpu; DIST=folder to serve
import { chromium } from "playwright-core";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const dist = process.env.DIST || join(here, "..", "..", "dist");
const query = process.argv[2] || "backend=cpu";

const server = await serve(dist);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/lib/chromium/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--enable-unsafe-webgpu"],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(`${server.url}/index.html?${query}&auto=1`);
  await page.waitForFunction(() => document.body.dataset.ready === "true" || document.getElementById("error").textContent, null, { timeout: 600_000 });
  const ready = Date.now() - started;
  await page.waitForFunction(() => document.body.dataset.firstVisit === "done" || document.getElementById("error").textContent, null, { timeout: 600_000 });
  const done = Date.now() - started;
  const error = await page.textContent("#error");
  if (error) throw new Error(error);
  const backend = await page.textContent("#backend");
  console.log(`${query}: models loaded after ${(ready / 1000).toFixed(1)} s, first result after ${(done / 1000).toFixed(1)} s ` +
    `(${backend.trim()}; ${(server.served() / 1e6).toFixed(2)} MB served, uncompressed)`);
} finally {
  await browser.close();
  server.close();
}
