#!/usr/bin/env python3
"""Prints the size of the static page in dist/: every file raw and gzip-compressed, and the total.

    python3 scripts/dist_size.py [DIST] [--budget BYTES] [--json]

Each file is compressed on its own with gzip at level 9 (Python's zlib), as a static host
serves it. The table lists the largest files first, then a total and a line per kind (the
wasm module, model weights, JavaScript, other). DIST/size.json is not counted; --json writes
the totals there as {"files", "bytes", "gzip_bytes"} (the benchmark page shows them). With
--budget the command fails, after the table, with one line naming the gzip total and the
budget when the total exceeds it. scripts/build-dist.sh runs it with the 5 MB budget of
issue 16.
"""
import argparse
import gzip
import json
import sys
from pathlib import Path


def kind(path):
    suffix = path.suffix
    if suffix == ".wasm":
        return "wasm module"
    if suffix == ".bpk":
        return "model weights"
    if suffix in (".js", ".mjs"):
        return "JavaScript"
    if path.name.endswith(".tar.gz") or suffix in (".jpg", ".png"):
        return "images"
    return "other (HTML, JSON)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", nargs="?", default="dist")
    parser.add_argument("--budget", type=int, help="fail when the gzip total exceeds this many bytes")
    parser.add_argument("--json", action="store_true", help="write the totals to DIST/size.json")
    args = parser.parse_args()
    root = Path(args.dist)
    if not root.is_dir():
        sys.exit(f"dist_size: {root} is not a folder (build it with scripts/build-dist.sh)")
    report = root / "size.json"
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p != report):
        data = path.read_bytes()
        rows.append((path.relative_to(root).as_posix(), len(data), len(gzip.compress(data, compresslevel=9, mtime=0)), kind(path)))
    rows.sort(key=lambda r: (-r[2], r[0]))
    total_raw = sum(r[1] for r in rows)
    total_gz = sum(r[2] for r in rows)
    width = max([len(r[0]) for r in rows] + [len("total")])
    print(f"{'file':<{width}}  {'bytes':>11}  {'gzip -9':>11}  share")
    for name, raw, gz, _ in rows:
        print(f"{name:<{width}}  {raw:>11,}  {gz:>11,}  {100 * gz / max(total_gz, 1):5.1f}%")
    print(f"{'total':<{width}}  {total_raw:>11,}  {total_gz:>11,}  ({len(rows)} files)")
    kinds = {}
    for _, raw, gz, k in rows:
        a, b, n = kinds.get(k, (0, 0, 0))
        kinds[k] = (a + raw, b + gz, n + 1)
    for k, (raw, gz, n) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"  {k}: {n} file{'s' if n > 1 else ''}, {raw / 1e6:.2f} MB, {gz / 1e6:.2f} MB gzipped")
    if args.json:
        report.write_text(json.dumps({"files": len(rows), "bytes": total_raw, "gzip_bytes": total_gz}) + "\n")
    if args.budget is not None and total_gz > args.budget:
        sys.exit(f"dist/ is {total_gz / 1e6:.2f} MB gzipped ({total_gz:,} bytes), over its budget of "
                 f"{args.budget / 1e6:.2f} MB ({args.budget:,} bytes)")


if __name__ == "__main__":
    main()
