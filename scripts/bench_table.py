#!/usr/bin/env python3
"""Pairs `hypersphere bench --json` reports with `scripts/bench_pytorch.py --json` reports of the
same run and writes the ratio table.

    python3 scripts/bench_table.py --hypersphere hs-f32.json hs-tf32.json \\
        --pytorch pt-strict.json pt-default.json pt-bf16.json \\
        --out docs/gpu/bench.json [--markdown docs/gpu/bench.md] [--readme README.md]

Rows are matched on (name, batch) between reports of the same model (the `model` field: the
random-weights benchmark and the same-weights fixture are kept apart). Every hypersphere precision is paired with every PyTorch
mode; each output row has: name, batch, hypersphere_img_s, pytorch_img_s, ratio,
hypersphere_precision, pytorch_mode, backend (hypersphere's backend<compiler>), device, and the
PyTorch version. With --readme, the Markdown table replaces the text between the markers
`<!-- NAME:begin -->` and `<!-- NAME:end -->` (--marker NAME, default bench-table).
"""
import argparse
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def pair(hs_reports, pt_reports):
    rows = []
    for hs in hs_reports:
        rt = hs["runtime"]
        backend = rt["backend"] if rt["compiler"] == "none" else f"{rt['backend']}<{rt['compiler']}>"
        for pt in pt_reports:
            if pt.get("model") != hs.get("model"):
                continue
            theirs = {(r["name"], r["batch"]): r for r in pt["rows"]}
            for r in hs["rows"]:
                other = theirs.get((r["name"], r["batch"]))
                if other is None:
                    continue
                ours, base = r["images_per_second"], other["images_per_second"]
                rows.append({
                    "name": r["name"],
                    "batch": r["batch"],
                    "hypersphere_img_s": round(ours, 1),
                    "pytorch_img_s": round(base, 1),
                    "ratio": round(ours / base, 3) if base > 0 else None,
                    "hypersphere_precision": rt["precision"],
                    "pytorch_mode": pt["mode"],
                    "backend": backend,
                    "device": rt["device"],
                    "pytorch": pt.get("framework", "pytorch"),
                })
    return rows


def markdown(rows):
    out = ["| measurement | batch | hypersphere (precision, backend) | img/s | PyTorch (mode) | img/s | ratio |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        out.append(f"| {r['name']} | {r['batch']} | {r['hypersphere_precision']}, {r['backend']} | {r['hypersphere_img_s']:,.1f} "
                   f"| {r['pytorch_mode']} | {r['pytorch_img_s']:,.1f} | {ratio} |")
    devices = sorted({r["device"] for r in rows})
    out.append("")
    out.append(f"Device: {', '.join(devices) or 'none'}; PyTorch: {', '.join(sorted({r['pytorch'] for r in rows})) or 'none'}. "
               "Medians of timed calls after warm-up (scripts/bench_table.py from the JSON of the same run).")
    return "\n".join(out) + "\n"


def replace_between_markers(path, text, marker):
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    with open(path) as f:
        doc = f.read()
    if begin not in doc or end not in doc:
        sys.exit(f"error: {path} has no {begin} ... {end} markers")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + text + end + tail)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hypersphere", nargs="+", required=True, help="hypersphere bench --json reports")
    p.add_argument("--pytorch", nargs="*", default=[], help="bench_pytorch.py --json reports (missing files are skipped)")
    p.add_argument("--out", required=True, help="the paired rows (JSON)")
    p.add_argument("--markdown", help="also write the table here")
    p.add_argument("--readme", help="replace the table between the markers of this file")
    p.add_argument("--marker", default="bench-table", help="marker name: <!-- NAME:begin --> ... <!-- NAME:end -->")
    a = p.parse_args()
    hs = [load(f) for f in a.hypersphere]
    pt = []
    for f in a.pytorch:
        try:
            pt.append(load(f))
        except (OSError, json.JSONDecodeError) as e:
            print(f"warning: skipping {f}: {e}", file=sys.stderr)
    rows = pair(hs, pt)
    with open(a.out, "w") as f:
        json.dump({"rows": rows, "hypersphere": hs, "pytorch": pt}, f, indent=2)
    table = markdown(rows)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    if a.readme:
        replace_between_markers(a.readme, table, a.marker)
    print(table, end="")
    if not pt:
        print("(no PyTorch report: hypersphere rows only, in the JSON)", file=sys.stderr)


if __name__ == "__main__":
    main()
