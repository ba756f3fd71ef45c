// The page's side of the worker protocol (`worker.js`): `call(op, args)` sends `{id, op, args}`
// and resolves with the worker's result (or rejects with its error message).
export function connectWorker(onError) {
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  const pending = new Map();
  let nextId = 0;
  worker.onmessage = ({ data }) => {
    const p = pending.get(data.id);
    pending.delete(data.id);
    if (data.ok) p.resolve(data.result); else p.reject(new Error(data.error));
  };
  if (onError) worker.onerror = onError;
  const call = (op, args) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, args });
  });
  return { call, close: () => worker.terminate() };
}
