// End-to-end tests of the page (index.html + web/) in headless Chromium: on the CPU fallback
// (Flex in wasm) every attack on two bundled models, a targeted attack, the bisection, a
// corruption, the robustness curve with the worker answering meanwhile, a non-image upload;
// on WebGPU (SwiftShader) every attack with 2 steps; and the same adversarial image as the
// native CLI. The first visit, the 360 px layout, the sub-path and the geometry panel are
// checked on both backends. The page is served from dist/ (scripts/build-dist.sh), as published: its models
// store their weight matrices as f16, and the native CLI reads the committed f32 files of the
// same values, so every comparison with the CLI also checks the widening on load.
// Screenshots go to tests/browser/artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const dist = join(root, "dist");
const artifacts = join(here, "artifacts");
const CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
const chromiumPath = process.env.CHROMIUM || "/usr/lib/chromium/chromium";
const hypersphere = process.env.HYPERSPHERE_BIN;

let server;
let browser;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  assert.ok(existsSync(join(dist, "index.html")), "dist/ is built (scripts/build-dist.sh)");
  server = await serve(dist);
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

// Opens the page; without `auto=` in the query the first-visit attack is switched off so that
// each test starts from a page that has done nothing yet.
async function openPage(query, { width = 1280, height = 900, base = server.url } = {}) {
  const page = await browser.newPage({ viewport: { width, height } });
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${base}/index.html?${query}${query.includes("auto=") ? "" : "&auto=0"}`);
  try {
    await page.waitForFunction(() => document.body.dataset.ready === "true" || document.getElementById("error").textContent, null, { timeout: 300_000 });
  } catch (e) {
    throw new Error(`page did not start: ${e.message}\n${logs.join("\n")}`);
  }
  assert.equal(await page.textContent("#error"), "", logs.join("\n"));
  return { page, logs };
}

const counter = (page, name) => page.evaluate((n) => Number(document.body.dataset[n] || 0), name);

async function waitCounter(page, logs, name, value, timeout = 600_000) {
  try {
    await page.waitForFunction(([n, v]) => Number(document.body.dataset[n] || 0) >= v || document.getElementById("error").textContent, [name, value], { timeout });
  } catch (e) {
    throw new Error(`${name} did not reach ${value}: ${e.message}\n${logs.join("\n")}`);
  }
  assert.equal(await page.textContent("#error"), "", logs.join("\n"));
}

async function upload(page, logs, file) {
  const before = await counter(page, "classified");
  await page.setInputFiles("#file", file);
  await waitCounter(page, logs, "classified", before + 1);
}

// Runs the chosen attack on every model card and checks each card's result.
async function attack(page, logs, { attack, eps, steps = 5, target = "", bisect = false }) {
  await page.setChecked("#live", false); // one attack per click, none from moving the slider
  await page.selectOption("#attack", attack);
  await page.selectOption("#target", target);
  await page.fill("#eps", String(eps));
  if (attack !== "fgsm") await page.fill("#steps", String(steps));
  await page.setChecked("#bisect", bisect);
  const before = await counter(page, "attacks");
  await page.click("#run");
  await waitCounter(page, logs, "attacks", before + 1);
  const cards = await page.$$eval(".card", (cs) => cs.map((c) => ({ ...c.dataset, time: c.querySelector(".time").textContent, verdict: c.querySelector(".verdict").textContent })));
  for (const c of cards) {
    assert.ok(CIFAR.includes(c.clean) && CIFAR.includes(c.adv), `${c.model}: predictions ${c.clean} -> ${c.adv}`);
    const goal = target === "" ? c.adv !== c.clean : c.adv === CIFAR[Number(target)];
    assert.equal(c.flipped, String(goal), `${c.model}: the verdict '${c.verdict}' matches the predictions`);
    const linf = Number(c.linf) * 255, l2 = Number(c.l2);
    if (attack === "pgd-l2") assert.ok(l2 <= eps / 32 + 1e-4 && l2 > 0, `${c.model}: l2 ${l2} within ${eps / 32}`);
    else assert.ok(linf <= eps + 1e-3 && linf > 0, `${c.model}: l_inf ${linf}/255 within ${eps}/255`);
    if (attack === "fgsm") assert.ok(linf > eps - 0.51, `${c.model}: FGSM moves pixels by eps (${linf}/255)`);
    assert.match(c.time, /took \d+ ms/);
  }
  const adv = await page.$eval(".card .adv", (img) => img.complete && [img.naturalWidth, img.naturalHeight]);
  assert.deepEqual(adv, [32, 32], "the adversarial image is shown at the model's input size");
  return cards;
}

test("CPU fallback: a real image, every attack on two models, a non-image upload", async () => {
  const { page, logs } = await openPage("backend=cpu&models=ce,simclr");
  assert.match(await page.textContent("#backend"), /^CPU/);
  assert.equal(await page.locator(".card").count(), 2);
  // A large real image (a screenshot) is scaled down; then the CIFAR-10 cat through the picker.
  await upload(page, logs, join(root, "docs", "report-small-study.png"));
  await upload(page, logs, join(root, "web", "gallery", "cat.jpg"));
  assert.match(await page.textContent("#source-name"), /cat\.jpg/);
  for (const spec of [{ attack: "fgsm", eps: 8 }, { attack: "pgd", eps: 8 }, { attack: "pgd-l2", eps: 8 }, { attack: "apgd-ce", eps: 8 }]) {
    await attack(page, logs, spec);
  }
  await page.screenshot({ path: join(artifacts, "page-cpu-attacks.png"), fullPage: true });

  const junk = join(mkdtempSync(join(tmpdir(), "hs-")), "notes.txt");
  writeFileSync(junk, "this is not an image");
  await page.setInputFiles("#file", junk);
  await page.waitForFunction(() => document.getElementById("error").textContent !== "", null, { timeout: 60_000 });
  assert.match(await page.textContent("#error"), /notes\.txt: .*not a readable image/);
  // The page keeps working with the previous image.
  const before = await counter(page, "attacks");
  await page.click("#run");
  await page.waitForFunction((b) => Number(document.body.dataset.attacks || 0) > b, before, { timeout: 300_000 });
  assert.equal(await page.textContent("#error"), "");
  await page.close();
});

test("CPU fallback: targeted PGD, the smallest flipping eps (checked at and just below it), a corruption", async () => {
  const { page, logs } = await openPage("backend=cpu&models=ce,afnc");
  await page.click('#gallery button[data-name="cat"]');
  await waitCounter(page, logs, "classified", 1);
  await attack(page, logs, { attack: "pgd", eps: 16, steps: 10, target: "6" });

  const bisected = await counter(page, "bisected");
  await attack(page, logs, { attack: "pgd", eps: 8, steps: 5, bisect: true });
  await waitCounter(page, logs, "bisected", bisected + 1);
  const found = await page.$$eval(".minflip", (els) => els.map((e) => e.dataset.eps));
  for (const [i, eps] of found.entries()) {
    assert.notEqual(eps, undefined, "every model gets a bisection result");
    if (eps === "none") continue;
    const unit = 1 / 255 / 4;
    const check = (e) => page.evaluate(async ([model, e]) => {
      const image = new Uint8Array(await (await fetch("web/gallery/cat.jpg")).arrayBuffer());
      return (await window.workerCall("attack", { model, image, request: { attack: "pgd", eps: e, steps: 5, seed: 0 } })).summary.flipped;
    }, [i, e]);
    assert.equal(await check(Number(eps)), true, `model ${i} flips at the eps the bisection found (${eps})`);
    if (Number(eps) > unit * 1.5) assert.equal(await check(Number(eps) - unit), false, `model ${i} does not flip a quarter step below ${eps}`);
  }

  const original = await page.getAttribute("#original", "src");
  const classified = await counter(page, "classified");
  await page.selectOption("#severity", "5");
  await page.selectOption("#corruption", "gaussian_noise");
  await waitCounter(page, logs, "classified", classified + 1);
  assert.notEqual(await page.getAttribute("#original", "src"), original, "the corrupted image is shown");
  const pixels = await page.evaluate(async () => {
    const bitmap = await createImageBitmap(document.getElementById("original"));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    const clean = await createImageBitmap(await (await fetch("web/gallery/cat.jpg")).blob());
    const c2 = new OffscreenCanvas(32, 32).getContext("2d");
    c2.drawImage(clean, 0, 0);
    const a = ctx.getImageData(0, 0, 32, 32).data, b = c2.getImageData(0, 0, 32, 32).data;
    let sum = 0;
    for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
    return sum / a.length;
  });
  assert.ok(pixels > 10, `gaussian noise at severity 5 changes the image (mean |diff| ${pixels.toFixed(1)} levels)`);
  await page.close();
});

test("CPU fallback: the robustness curve is drawn while the worker keeps answering", async () => {
  const { page, logs } = await openPage("backend=cpu&models=ce,simclr&batch=40");
  await page.selectOption("#curve-attack", "fgsm");
  await page.click("#curve-run");
  const pings = [];
  for (let i = 0; i < 3; i++) {
    await page.waitForTimeout(300);
    const running = await page.evaluate(() => !document.body.dataset.curve);
    pings.push([running, await page.evaluate(() => window.pingWorker())]);
  }
  assert.ok(pings[0][0], "the first ping was sent while the curve was still being computed");
  for (const [, ms] of pings) assert.ok(ms < 2000, `the worker answered a ping in ${ms.toFixed(0)} ms during the curve`);
  await page.waitForFunction(() => document.body.dataset.curve || document.getElementById("error").textContent, null, { timeout: 600_000 });
  assert.equal(await page.textContent("#error"), "", logs.join("\n"));
  const curve = JSON.parse(await page.evaluate(() => document.body.dataset.curve));
  assert.equal(curve.length, 2);
  for (const series of curve) {
    assert.equal(series.length, 6);
    for (const a of series) assert.ok(a >= 0 && a <= 1);
    assert.ok(series[0] > 0.2, `clean accuracy on the batch (${series[0]}) is above chance`);
    assert.ok(series[5] < series[0], `FGSM at 16/255 lowers accuracy (${series})`);
  }
  // The clean point is the models' own accuracy on the first 40 batch images, recomputed here.
  const clean = await page.evaluate(() => window.workerCall("batchCorrect", { model: 0, request: { attack: "fgsm", eps: 0 }, start: 0, len: 40 }));
  assert.equal(curve[0][0], clean / 40);
  assert.equal(await page.locator("#curve svg polyline.series").count(), 2);
  await page.screenshot({ path: join(artifacts, "page-cpu-curve.png"), fullPage: true });
  // The relative-drop view plots (clean - attacked) / clean of the accuracy view's numbers.
  await page.selectOption("#curve-view", "drop");
  assert.equal(await page.getAttribute("#curve svg", "data-view"), "drop");
  const drops = await page.$$eval("#curve svg polyline.series", (ps) => ps.map((p) => p.dataset.values.split(",").map(Number)));
  for (const [j, series] of curve.entries()) {
    series.forEach((a, i) => assert.ok(Math.abs(drops[j][i] - (series[0] - a) / series[0]) < 1e-12, `model ${j}, point ${i}: drop ${drops[j][i]} vs accuracy ${a}, clean ${series[0]}`));
  }
  // The summary states the drop at 2/255 of each model in words.
  const summary = await page.textContent("#curve-summary");
  const names = await page.$$eval(".card h3", (hs) => hs.map((h) => h.textContent));
  for (const [j, name] of names.entries()) {
    const pct = Math.round(100 * (curve[j][0] - curve[j][2]) / curve[j][0]);
    assert.ok(summary.includes(`${name} ${pct}%`) || summary.includes(`${name} loses ${pct}%`), `'${summary}' states ${name}'s drop ${pct}%`);
  }
  assert.match(summary, /^At \u03b5 = 2\/255/);
  await page.selectOption("#curve-view", "accuracy");
  const back = await page.$$eval("#curve svg polyline.series", (ps) => ps.map((p) => p.dataset.values.split(",").map(Number)));
  assert.deepEqual(back, curve, "the accuracy view shows the curve's accuracies");
  await page.close();
});

// Decodes PNG bytes in the page and returns the RGBA pixels.
async function pngPixels(page, bytes) {
  return page.evaluate(async (b) => {
    const bitmap = await createImageBitmap(new Blob([new Uint8Array(b)], { type: "image/png" }));
    const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    return Array.from(ctx.getImageData(0, 0, bitmap.width, bitmap.height).data);
  }, Array.from(bytes));
}

async function compareWithNative(page, spec, request, tolerance) {
  assert.ok(hypersphere, "HYPERSPHERE_BIN names the native binary (scripts/test.sh sets it)");
  const out = join(mkdtempSync(join(tmpdir(), "hs-native-")), "adv.png");
  const json = out.replace(/png$/, "json");
  execFileSync(hypersphere, ["attack", "--weights", join(root, "web", "models", "ce.bpk"), "--image", join(root, "web", "gallery", "cat.jpg"),
    "--attack", spec, "--seed", String(request.seed ?? 0), "--out", out, "--json", json, "--device", "flex"], { stdio: "pipe" });
  const native = JSON.parse((await import("node:fs")).readFileSync(json, "utf8"));
  const browserOut = await page.evaluate(async (request) => {
    const image = new Uint8Array(await (await fetch("web/gallery/cat.jpg")).arrayBuffer());
    const r = await window.workerCall("attack", { model: 0, image, request });
    return { summary: r.summary, png: Array.from(r.adversarial) };
  }, request);
  const a = await pngPixels(page, (await import("node:fs")).readFileSync(out));
  const b = await pngPixels(page, browserOut.png);
  assert.equal(a.length, b.length);
  let worst = 0, off = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    worst = Math.max(worst, d);
    if (d > 1) off++;
  }
  assert.ok(off / a.length <= tolerance.fraction && worst <= tolerance.worst,
    `${spec}: ${off} of ${a.length} values differ by more than one level (worst ${worst})`);
  assert.equal(browserOut.summary.adversarial[0].name, native.adversarial[0].name, "same adversarial prediction");
  assert.ok(Math.abs(browserOut.summary.adversarial[0].probability - native.adversarial[0].probability) < tolerance.probability,
    `probabilities ${browserOut.summary.adversarial[0].probability} vs ${native.adversarial[0].probability}`);
}

test("the browser (CPU) computes the same adversarial image as the native CLI", async () => {
  const { page } = await openPage("backend=cpu&models=ce");
  await compareWithNative(page, "pgd:linf:8/255:10", { attack: "pgd", eps: 8 / 255, steps: 10, seed: 3 }, { fraction: 0, worst: 1, probability: 1e-3 });
  await compareWithNative(page, "pgd:l2:0.5:10", { attack: "pgd-l2", eps: 0.5, steps: 10, seed: 1 }, { fraction: 0, worst: 1, probability: 1e-3 });
  await page.close();
});

test("WebGPU (SwiftShader): every attack on two models, and the native CLI's FGSM image", async () => {
  const { page, logs } = await openPage("backend=webgpu&models=ce,simclr");
  assert.match(await page.textContent("#backend"), /^WebGPU/);
  await upload(page, logs, join(root, "web", "gallery", "cat.jpg"));
  await attack(page, logs, { attack: "fgsm", eps: 8 });
  await attack(page, logs, { attack: "pgd-l2", eps: 8, steps: 2 });
  await attack(page, logs, { attack: "apgd-ce", eps: 8, steps: 2 });
  await attack(page, logs, { attack: "pgd", eps: 8, steps: 2 });
  await page.screenshot({ path: join(artifacts, "page-webgpu-attacks.png"), fullPage: true });
  // GPU arithmetic differs from the CPU's in the last bits: a gradient sign may flip where the
  // gradient is ~0, so a few values may differ by 2 eps.
  await compareWithNative(page, "fgsm:linf:8/255", { attack: "fgsm", eps: 8 / 255 }, { fraction: 0.01, worst: 255, probability: 0.02 });
  await page.close();
});

// Every control (input, select, button) is explained by a tooltip, on it or on its label.
async function untitledControls(page) {
  return page.$$eval("input, select, button", (els) => els
    .filter((e) => !(e.closest("#gallery")) && !(e.title || e.closest("label")?.title))
    .map((e) => e.id || e.outerHTML.slice(0, 60)));
}

// Controls whose box reaches past the viewport's right edge (or a page wider than the viewport).
async function offScreen(page) {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const out = [...document.querySelectorAll("input, select, button, #curve svg, .card, img")]
      .filter((e) => e.offsetParent !== null && !e.hidden)
      .filter((e) => { const r = e.getBoundingClientRect(); return r.right > w + 0.5 || r.left < -0.5; })
      .map((e) => e.id || e.className || e.tagName);
    if (document.documentElement.scrollWidth > w + 0.5) out.push(`page width ${document.documentElement.scrollWidth} > ${w}`);
    return out;
  });
}

// The checks of issue 16 run on both backends: the CPU fallback and WebGPU (SwiftShader).
const BACKENDS = [["cpu", "CPU fallback", /^CPU/], ["webgpu", "WebGPU (SwiftShader)", /^WebGPU/]];

for (const [backend, label, shown] of BACKENDS) test(`${label}: first visit: a result without a click, the explanation, tooltips, and a 360 px and 1280 px layout`, async () => {
  for (const [width, height] of [[360, 800], [1280, 900]]) {
    const { page, logs } = await openPage(`backend=${backend}&models=ce,simclr&auto=1&image=cat`, { width, height });
    assert.match(await page.textContent("#backend"), shown);
    try {
      await page.waitForFunction(() => document.body.dataset.firstVisit === "done" || document.getElementById("error").textContent, null, { timeout: 600_000 });
    } catch (e) {
      throw new Error(`no first-visit result: ${e.message}\n${logs.join("\n")}`);
    }
    assert.equal(await page.textContent("#error"), "", logs.join("\n"));
    const cards = await page.$$eval(".card", (cs) => cs.map((c) => ({ ...c.dataset, verdict: c.querySelector(".verdict").textContent })));
    assert.equal(cards.length, 2);
    for (const c of cards) {
      assert.ok(CIFAR.includes(c.clean) && CIFAR.includes(c.adv), `${c.model}: a result (${c.clean} -> ${c.adv})`);
      assert.match(c.verdict, /label (flipped|kept)/);
    }
    assert.match(await page.textContent("#source-name"), /cat\.jpg/);
    assert.equal(await page.getAttribute("#explain a", "href"), "https://arxiv.org/abs/2207.10862");
    assert.deepEqual(await untitledControls(page), [], "controls without a tooltip");
    await page.screenshot({ path: join(artifacts, `page-first-visit-${backend}-${width}.png`), fullPage: true });
    assert.deepEqual(await offScreen(page), [], `off-screen at ${width} px`);
    await page.close();
  }
});

for (const [backend, label, shown] of BACKENDS) test(`${label}: the page works from a sub-path (/demo/), as on any static host`, async () => {
  const sub = await serve(dist, "/demo");
  try {
    const { page, logs } = await openPage(`backend=${backend}&models=ce`, { base: `${sub.url}/demo` });
    assert.match(await page.textContent("#backend"), shown);
    assert.equal(await page.locator(".card").count(), 1);
    // Not only the shell: the model (fetched relative to the sub-path) classifies an image.
    await upload(page, logs, join(root, "web", "gallery", "cat.jpg"));
    assert.ok(CIFAR.includes(await page.$eval(".card", (c) => c.dataset.clean)), "a prediction from the sub-path");
    await page.close();
  } finally {
    sub.close();
  }
});

for (const [backend, label, shown] of BACKENDS) test(`${label}: the geometry panel maps every test image, states the native ratio, and the adversarial point moves with eps`, async () => {
  const { page, logs } = await openPage(`backend=${backend}&models=ce,simclr`);
  assert.match(await page.textContent("#backend"), shown);
  await page.click("#geometry-run");
  try {
    await page.waitForFunction(() => document.body.dataset.geometry === "done" || document.getElementById("error").textContent, null, { timeout: 600_000 });
  } catch (e) {
    throw new Error(`no maps: ${e.message}\n${logs.join("\n")}`);
  }
  assert.equal(await page.textContent("#error"), "", logs.join("\n"));
  const figures = await page.$$eval("figure.map", (fs) => fs.map((f) => ({ model: f.dataset.model, ratio: Number(f.dataset.ratio), uniformity: Number(f.dataset.uniformity), points: f.querySelectorAll("circle.point").length })));
  assert.equal(figures.length, 2);
  for (const f of figures) {
    assert.equal(f.points, 100, `${f.model}: one point per bundled test image`);
    // The same statistic as `hypersphere geometry` on the same weights and images.
    assert.ok(hypersphere, "HYPERSPHERE_BIN names the native binary (scripts/test.sh sets it)");
    const json = join(mkdtempSync(join(tmpdir(), "hs-geometry-")), "g.json");
    execFileSync(hypersphere, ["geometry", "--models", join(root, "web", "models", `${f.model}.bpk`), "--width", "8", "--data",
      join(root, "web", "models", "cifar10-test-100.tar.gz"), "--tsne", "0", "--device", "flex", "--json", json], { stdio: "pipe" });
    const native = JSON.parse((await import("node:fs")).readFileSync(json, "utf8"))[0];
    assert.ok(Math.abs(f.ratio - native.separation.ratio) <= 0.01 * native.separation.ratio, `${f.model}: ratio ${f.ratio} vs native ${native.separation.ratio}`);
    assert.ok(Math.abs(f.uniformity - native.uniformity) <= 0.01 * Math.abs(native.uniformity), `${f.model}: uniformity ${f.uniformity} vs native ${native.uniformity}`);
  }
  // An uploaded image gets a clean ring; an attack adds the adversarial cross, which moves with eps.
  await upload(page, logs, join(root, "web", "gallery", "cat.jpg"));
  await page.waitForFunction(() => document.querySelectorAll("figure.map .clean-mark").length === 2, null, { timeout: 120_000 });
  const crosses = async () => page.$$eval("figure.map .adv-mark", (ms) => ms.map((m) => [Number(m.dataset.x), Number(m.dataset.y)]));
  const placed = await counter(page, "placed");
  await attack(page, logs, { attack: "pgd", eps: 1, steps: 5 });
  await waitCounter(page, logs, "placed", placed + 1);
  const small = await crosses();
  await attack(page, logs, { attack: "pgd", eps: 32, steps: 10 });
  await waitCounter(page, logs, "placed", placed + 2);
  const large = await crosses();
  assert.equal(small.length, 2);
  assert.equal(large.length, 2);
  const moved = small.map(([x, y], i) => Math.hypot(x - large[i][0], y - large[i][1]));
  assert.ok(moved.some((d) => d > 1), `the adversarial point moves when eps changes (moved ${moved.map((d) => d.toFixed(1))} px)`);
  // Hover the point nearest the adversarial cross (the marks must not take the pointer from
  // the points under them).
  const nearest = await page.$eval("figure.map", (f) => {
    const m = f.querySelector(".adv-mark");
    const [mx, my] = [Number(m.dataset.x), Number(m.dataset.y)];
    const d = (c) => Math.hypot(Number(c.getAttribute("cx")) - mx, Number(c.getAttribute("cy")) - my);
    return [...f.querySelectorAll("circle.point")].reduce((a, c) => (d(c) < d(a) ? c : a)).dataset.index;
  });
  await page.hover(`figure.map >> nth=0 >> circle.point[data-index="${nearest}"]`);
  await page.waitForFunction(() => !document.getElementById("geometry-hover").hidden, null, { timeout: 60_000 });
  await page.screenshot({ path: join(artifacts, `page-${backend}-geometry.png`), fullPage: true });
  await page.close();
});

// Hostile uploads (issue 13): a decompression bomb (a PNG header declaring 100000 x 100000), a
// complete 20000 x 20000 RGB image (1.2 GB of pixels), an empty file and a text file each give
// one line naming the file and the problem, within a time bound, and leave the page working: the
// previous image stays, and the next valid upload is classified. A real 20000 x 20000 image
// small enough to decode (1-bit, 400 MB as grey bytes) is scaled down and classified. The worker
// never fails (its `onerror` would put "The worker failed" on the page, and later requests
// would never be answered).
test("CPU fallback: hostile uploads give one line each and the page keeps working", async () => {
  const { page, logs } = await openPage("backend=cpu&models=ce");
  const hostile = join(root, "tests", "hostile", "images");
  const gallery = (name) => join(root, "web", "gallery", name);
  await upload(page, logs, gallery("cat.jpg"));
  const dir = mkdtempSync(join(tmpdir(), "hs-hostile-"));
  writeFileSync(join(dir, "empty.png"), "");
  writeFileSync(join(dir, "notes.txt"), "this is not an image");
  const bad = [
    [join(hostile, "bomb_ihdr.png"), /^bomb_ihdr\.png: .*image too large to decode/],
    [join(hostile, "huge_20000_rgb.png"), /^huge_20000_rgb\.png: .*image too large to decode/],
    [join(dir, "empty.png"), /^empty\.png: .*not a readable image/],
    [join(dir, "notes.txt"), /^notes\.txt: .*not a readable image/],
  ];
  const next = ["ship.jpg", "frog.jpg", "dog.jpg", "truck.jpg"];
  for (const [i, [file, expected]] of bad.entries()) {
    const started = Date.now();
    await page.setInputFiles("#file", file);
    try {
      await page.waitForFunction(() => document.getElementById("error").textContent !== "", null, { timeout: 120_000 });
    } catch (e) {
      throw new Error(`${file}: no message within 120 s\n${logs.join("\n")}`);
    }
    const message = await page.textContent("#error");
    const seconds = (Date.now() - started) / 1000;
    assert.match(message, expected, logs.join("\n"));
    assert.ok(!/[\n\r]/.test(message) && message.length < 400, `one short line: ${JSON.stringify(message)}`);
    assert.ok(!message.includes("worker failed"), message);
    // The previous image stays the input.
    assert.match(await page.textContent("#source-name"), new RegExp(i === 0 ? "cat\\.jpg" : next[i - 1].replace(".", "\\.")));
    // The page still works: a valid upload clears the message and is classified. (Not
    // `upload`: its wait would end at once on the message still shown from the bad file.)
    const before = await counter(page, "classified");
    await page.setInputFiles("#file", gallery(next[i]));
    await page.waitForFunction(([b, old]) => Number(document.body.dataset.classified || 0) > b ||
      !["", old].includes(document.getElementById("error").textContent), [before, message], { timeout: 300_000 });
    assert.equal(await page.textContent("#error"), "", logs.join("\n"));
    assert.match(await page.textContent("#source-name"), new RegExp(next[i].replace(".", "\\.")));
    console.log(`hostile upload ${file.split("/").pop()}: "${message}" after ${seconds.toFixed(1)} s, then ${next[i]} classified`);
  }
  // A real 20000 x 20000 image that fits the decoder's bound is scaled down and classified.
  const started = Date.now();
  await upload(page, logs, join(hostile, "big_20000_1bit.png"));
  assert.match(await page.textContent("#source-name"), /big_20000_1bit\.png/);
  console.log(`20000 x 20000 upload classified after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await upload(page, logs, gallery("cat.jpg"));
  assert.ok(!logs.some((l) => l.startsWith("pageerror")), logs.join("\n"));
  await page.close();
});
