#!/usr/bin/env python3
"""Writes the weight-file seeds of the fuzz harness (tests/tests/fuzz) into tests/fuzz/seeds/.

The seeds are valid state dicts of hypersphere's small CNN at width 1 with 3 classes (what the
harness loads them into), with torchvision names: a `.safetensors` file, a PyTorch zip file
(`torch.save`) and a legacy (pre-1.6, non-zip) pickle. The fuzzer mutates them; other targets
take their seeds from tests/hostile/ or build them in Rust.

    python3 scripts/make_fuzz_seeds.py [OUT_DIR]   # default: tests/fuzz/seeds

Fixed values: the safetensors and zip files come out byte for byte the same every run; the
legacy pickle names its storages by memory address, so only those keys differ.
"""

import json
import os
import struct
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fuzz", "seeds")


def state_dict():
    """The small CNN (core/src/models/small_cnn.rs) at width 1, 3 classes: bias-free 3x3 convs
    of 1, 2, 4 channels, BatchNorm after each, a linear head on the 4 pooled features."""
    g = torch.Generator().manual_seed(13)
    sd = {}
    for i, (cin, cout) in enumerate([(3, 1), (1, 2), (2, 4)], start=1):
        sd[f"conv{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * 0.3
        sd[f"bn{i}.weight"] = torch.ones(cout)
        sd[f"bn{i}.bias"] = torch.zeros(cout)
        sd[f"bn{i}.running_mean"] = torch.zeros(cout)
        sd[f"bn{i}.running_var"] = torch.ones(cout)
        sd[f"bn{i}.num_batches_tracked"] = torch.tensor(0)
    sd["fc.weight"] = torch.randn(3, 4, generator=g) * 0.3
    sd["fc.bias"] = torch.zeros(3)
    return sd


def safetensors_bytes(sd):
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, data = {}, b""
    for name, t in sd.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = state_dict()
    with open(os.path.join(OUT, "small_cnn_w1.safetensors"), "wb") as f:
        f.write(safetensors_bytes(sd))
    torch.save(sd, os.path.join(OUT, "small_cnn_w1.pt"))
    torch.save(sd, os.path.join(OUT, "small_cnn_w1_legacy.pt"), _use_new_zipfile_serialization=False)
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))


if __name__ == "__main__":
    main()
