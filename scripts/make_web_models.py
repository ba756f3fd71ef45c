#!/usr/bin/env python3
"""Bundles the page's models and test batch into web/models/ (committed; each model < 5 MB).

    python3 scripts/make_web_models.py [RUNS_DIR] [CIFAR10_DIR] [TABLE5_DIR]

RUNS_DIR (default runs/small) holds the small presets trained by scripts/train_presets.sh on
../shared/data/cifar10 (ResNet-18, width 8, 4,000 training images, 12 epochs; contrastive runs
end with a linear evaluation). Copies model.bpk + model.json of ce, supcon, simclr and
simclr-afnc-0.99-0.7 (weight matrices and kernels rounded to f16 values, still stored as f32:
scripts/web_weights.py; dist/ stores them as f16), and writes manifest.json with each model's method, test accuracy (on the
presets' 1,000 test images) and training command. The fifth model, RoCL, comes from the small
Table 5 study in TABLE5_DIR (default runs/table5-small-cifar10: `hypersphere reproduce --preset
small --tables 5 --data ../shared/data/cifar10`): its backbone with the classifier of RoCL's
robust (adversarial) linear evaluation, <run>/rocl/adversarial/. A model whose run folder is
absent keeps its bundled files and manifest entry (so one model can be refreshed alone). From CIFAR10_DIR/cifar10-test.tar.gz it
takes the first 10 test images of every class (the archive's order) into
cifar10-test-100.tar.gz, the batch of the page's robustness curve.
"""
import gzip
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

import web_weights

# (id, name on the page, preset, where the run is: "small" = RUNS_DIR/<preset>,
# "table5" = TABLE5_DIR/<preset>/adversarial with the run's config in TABLE5_DIR/<preset>)
MODELS = [
    ("ce", "Supervised (CE)", "ce", "small"),
    ("supcon", "SupCon", "supcon", "small"),
    ("simclr", "SimCLR", "simclr", "small"),
    ("afnc", "SimCLR + A-FNC", "simclr-afnc-0.99-0.7", "small"),
    ("rocl", "RoCL (adversarial CSL)", "rocl", "table5"),
]
TRAINED_WITH = {
    "small": "hypersphere train --preset {preset} --scale small --data ../shared/data/cifar10",
    "table5": "hypersphere reproduce --preset small --tables 5 --data ../shared/data/cifar10 "
    "(RoCL, then its robust linear evaluation: linear-eval --mode adversarial)",
}
PER_CLASS = 10


def test_accuracy(run: Path) -> float:
    linear = run / "linear_eval.json"
    if linear.exists():
        return json.loads(linear.read_text())["report"]["test_accuracy"]
    last = run.joinpath("metrics.jsonl").read_text().strip().splitlines()[-1]
    return json.loads(last)["test_accuracy"]


def main():
    runs = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/small")
    cifar = Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/data/cifar10")
    table5 = Path(sys.argv[3] if len(sys.argv) > 3 else "runs/table5-small-cifar10")
    out = Path("web/models")
    out.mkdir(parents=True, exist_ok=True)
    previous = {}
    if (out / "manifest.json").exists():
        previous = {m["id"]: m for m in json.loads((out / "manifest.json").read_text())["models"]}
    entries = []
    for ident, label, preset, source in MODELS:
        run, config_run = (runs / preset, runs / preset) if source == "small" else (table5 / preset / "adversarial", table5 / preset)
        if not (run / "model.bpk").exists():
            if ident in previous and (out / f"{ident}.bpk").exists():
                print(f"{run}: absent, keeping the bundled {ident}", file=sys.stderr)
                entries.append(previous[ident])
                continue
            sys.exit(f"{run}/model.bpk: absent, and no bundled {ident} to keep")
        metadata, tensors = web_weights.read_burnpack(run / "model.bpk")
        web_weights.round_tensors(tensors)
        web_weights.write_burnpack(out / f"{ident}.bpk", metadata, tensors)
        shutil.copyfile(run / "model.json", out / f"{ident}.json")
        config = json.loads((config_run / "config.json").read_text())
        entries.append({
            "id": ident,
            "name": label,
            "preset": preset,
            "weights": f"{ident}.bpk",
            "config": f"{ident}.json",
            "arch": config["model"]["arch"],
            "width": config["model"]["width"],
            "test_accuracy": test_accuracy(run),
            "trained_with": TRAINED_WITH[source].format(preset=preset),
            "bytes": (out / f"{ident}.bpk").stat().st_size,
        })
    batch = "cifar10-test-100.tar.gz"
    taken = {}
    buffer = io.BytesIO()
    with tarfile.open(cifar / "cifar10-test.tar.gz") as src, tarfile.open(fileobj=buffer, mode="w") as dst:
        for member in src:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3:
                continue
            cls = parts[1]
            if taken.get(cls, 0) >= PER_CLASS:
                continue
            taken[cls] = taken.get(cls, 0) + 1
            data = src.extractfile(member).read()
            info = tarfile.TarInfo(member.name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            dst.addfile(info, io.BytesIO(data))
    # gzip with a zero timestamp: the same images give the same bytes (no diff on a rerun).
    (out / batch).write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    manifest = {
        "models": entries,
        "batch": {"file": batch, "images": sum(taken.values()), "source": "CIFAR-10 test split, first 10 images of each class"},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
