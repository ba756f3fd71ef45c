// End-to-end: `hypersphere report` of a tiny study (a cross-entropy run and a SimCLR + FNC run
// on procedural data, each evaluated under FGSM, plus their geometry) renders in headless
// Chromium without errors, and every chart image loads.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, "artifacts");
const chromiumPath = process.env.CHROMIUM || "/usr/lib/chromium/chromium";
const binary = process.env.HYPERSPHERE_BIN || join(homedir(), ".cache", "hypersphere", "target", "release", "hypersphere");

let browser;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
});

after(async () => {
  await browser?.close();
});

function hypersphere(...args) {
  return execFileSync(binary, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

test("the study report renders with every chart", { timeout: 600_000 }, async () => {
  assert.ok(existsSync(binary), `${binary} not built (cargo build --release --workspace)`);
  const study = mkdtempSync(join(tmpdir(), "hs-report-"));
  const common = ["--data", "procedural:200", "--arch", "small-cnn", "--width", "4", "--epochs", "2", "--batch-size", "50", "--device", "flex"];
  hypersphere("train", ...common, "--lr", "0.05", "--out", join(study, "ce"));
  hypersphere("train", ...common, "--method", "simclr", "--fnc", "adaptive:0.9:0.5", "--lr", "0.3", "--linear-epochs", "3", "--out", join(study, "simclr-afnc"));
  for (const run of ["ce", "simclr-afnc"]) {
    hypersphere("eval", "--weights", join(study, run, "model.bpk"), "--data", "procedural:100", "--device", "flex",
      "--attack", "fgsm:linf:2/255", "--attack", "fgsm:linf:8/255", "--json", join(study, run, "eval.json"));
  }
  hypersphere("geometry", "--models", `${join(study, "ce", "model.bpk")},${join(study, "simclr-afnc", "model.bpk")}`,
    "--data", "procedural:200", "--tsne", "120", "--device", "flex", "--json", join(study, "geometry.json"));
  const out = hypersphere("report", "--study", study, "--title", "tiny study");
  assert.match(out, /\(6 figures\)/, out);

  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(`file://${join(study, "report", "report.html")}`);
  await page.waitForFunction(() => [...document.images].every((img) => img.complete), null, { timeout: 60_000 });
  const images = await page.$$eval("img", (imgs) => imgs.map((img) => ({ alt: img.alt, width: img.naturalWidth, height: img.naturalHeight })));
  assert.equal(images.length, 6, JSON.stringify(images));
  for (const img of images) {
    assert.ok(img.width > 100 && img.height > 100, `chart '${img.alt}' did not load: ${JSON.stringify(img)}`);
  }
  const headings = await page.$$eval("h2", (hs) => hs.map((h) => h.textContent));
  for (const h of ["Models", "Training", "False-negative cancellation", "Robustness (Table 1 layout)", "Representation geometry (Figure 2)"]) {
    assert.ok(headings.includes(h), `missing section ${h}: ${headings}`);
  }
  const cells = await page.$$eval("td", (tds) => tds.map((t) => t.textContent));
  assert.ok(cells.includes("simclr-afnc") && cells.includes("ce"), cells.join(","));
  assert.deepEqual(errors, []);
  await page.screenshot({ path: join(artifacts, "report.png"), fullPage: true });
  await page.close();
});
