// A tiny static file server for the page under test, bound to 127.0.0.1 (a secure context, so
// WebGPU is allowed). Serves the repository root; `.wasm` gets its MIME type. `served()` counts
// the bytes sent.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".json": "application/json", ".png": "image/png",
  ".jpg": "image/jpeg", ".bpk": "application/octet-stream", ".css": "text/css",
};

// With `prefix` (e.g. "/demo"), the root is served under that sub-path only, as a static host
// that publishes the page in a folder would.
export async function serve(root, prefix = "") {
  const base = resolve(root);
  let served = 0;
  const server = createServer(async (req, res) => {
    let path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (prefix) {
      if (!path.startsWith(prefix + "/")) { res.writeHead(404).end("not found"); return; }
      path = path.slice(prefix.length);
    }
    path = normalize(path);
    const file = join(base, path.endsWith("/") ? path + "index.html" : path);
    if (!file.startsWith(base)) { res.writeHead(403).end(); return; }
    try {
      if (!(await stat(file)).isFile()) throw new Error("not a file");
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] || "application/octet-stream" });
      served += body.length;
      res.end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close(), served: () => served };
}
