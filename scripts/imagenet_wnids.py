#!/usr/bin/env python3
"""Writes core/src/data/imagenet_wnids.txt: the 1,000 ImageNet-1k (ILSVRC-2012) WordNet ids in
sorted order, one per line. The line number (from 0) is the standard class index that
torchvision's ImageFolder, timm and every published ImageNet classifier use.

Source: the list timm ships (`timm/data/_info/imagenet_synsets.txt`, `pip install timm`); the
script checks that it has 1,000 distinct sorted ids and that the well-known first and last
classes (n01440764 tench, n15075141 toilet tissue) are where they belong.
    python3 scripts/imagenet_wnids.py core/src/data/imagenet_wnids.txt
"""
import os
import sys

import timm

src = os.path.join(os.path.dirname(timm.__file__), "data", "_info", "imagenet_synsets.txt")
wnids = [line.strip() for line in open(src) if line.strip()]
assert len(wnids) == 1000 and len(set(wnids)) == 1000, len(wnids)
assert wnids == sorted(wnids), "not sorted"
assert wnids[0] == "n01440764" and wnids[-1] == "n15075141", (wnids[0], wnids[-1])
out = sys.argv[1] if len(sys.argv) > 1 else "core/src/data/imagenet_wnids.txt"
with open(out, "w") as f:
    f.write("\n".join(wnids) + "\n")
print(f"wrote {len(wnids)} wnids to {out} (timm {timm.__version__})")
