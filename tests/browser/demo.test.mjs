// End-to-end: the page classifies an uploaded CIFAR-10 image and attacks it with FGSM, on
// WebGPU (SwiftShader in headless Chromium) and on the forced CPU fallback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const artifacts = join(here, "artifacts");
const CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
const chromiumPath = process.env.CHROMIUM || "/usr/lib/chromium/chromium";

let server;
let browser;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  server = await serve(root);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
      "--enable-unsafe-webgpu",
    ],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function openPage(backend) {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${server.url}/index.html?backend=${backend}`);
  try {
    await page.waitForFunction(() => document.body.dataset.ready === "true" || document.getElementById("error").textContent, null, { timeout: 300_000 });
  } catch (e) {
    throw new Error(`page did not start: ${e.message}\n${logs.join("\n")}`);
  }
  const error = await page.textContent("#error");
  assert.equal(error, "", `page error: ${error}\n${logs.join("\n")}`);
  return { page, logs };
}

async function uploadAndAttack(page, logs, name) {
  await page.setInputFiles("#file", join(root, "web", "gallery", "cat.jpg"));
  await page.waitForFunction(() => document.getElementById("clean-pred").textContent !== "-", null, { timeout: 300_000 });
  const clean = await page.textContent("#clean-pred");
  assert.ok(CIFAR.includes(clean), `clean prediction '${clean}' is a CIFAR-10 class`);

  await page.fill("#eps", "8");
  await page.selectOption("#attack", "fgsm");
  await page.click("#run");
  try {
    await page.waitForFunction(() => document.body.dataset.attacks === "1" || document.getElementById("error").textContent, null, { timeout: 600_000 });
  } catch (e) {
    throw new Error(`attack did not finish: ${e.message}\n${logs.join("\n")}`);
  }
  assert.equal(await page.textContent("#error"), "", logs.join("\n"));
  const adv = await page.textContent("#adv-pred");
  assert.ok(CIFAR.includes(adv), `adversarial prediction '${adv}' is a CIFAR-10 class`);
  const size = await page.$eval("#adversarial", (img) => img.complete && img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight] : null);
  assert.deepEqual(size, [32, 32], "the adversarial image is shown at the model's input size");
  const norms = await page.textContent("#norms");
  const linf = Number(norms.match(/l\u221e ([0-9.]+)\/255/)[1]);
  assert.ok(linf <= 8.01 && linf >= 7.5, `FGSM moves pixels by eps = 8/255, shown ${norms}`);
  assert.match(await page.textContent("#status"), /fgsm:linf:.* took \d+ ms/);
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  return { clean, adv };
}

test("WebGPU (SwiftShader): upload, classify, FGSM", async () => {
  const { page, logs } = await openPage("webgpu");
  assert.match(await page.textContent("#backend"), /^WebGPU/);
  await uploadAndAttack(page, logs, "webgpu-fgsm");
  await page.close();
});

test("CPU fallback: upload, classify, FGSM; a non-image gets a readable error", async () => {
  const { page, logs } = await openPage("cpu");
  assert.match(await page.textContent("#backend"), /^CPU/);
  await uploadAndAttack(page, logs, "cpu-fgsm");
  const junk = join(mkdtempSync(join(tmpdir(), "hs-")), "notes.txt");
  writeFileSync(junk, "this is not an image");
  await page.setInputFiles("#file", junk);
  await page.waitForFunction(() => document.getElementById("error").textContent !== "", null, { timeout: 60_000 });
  assert.match(await page.textContent("#error"), /notes\.txt: .*not a readable image/);
  // The page keeps working after the bad upload.
  assert.equal(await page.isDisabled("#run"), false);
  await page.close();
});
