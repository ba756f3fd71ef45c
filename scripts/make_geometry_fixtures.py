#!/usr/bin/env python3
"""NumPy reference values for hypersphere's representation-geometry metrics.

Run with NumPy:
    python3 scripts/make_geometry_fixtures.py core/tests/fixtures/geometry.json

Random features (1,030 rows, so the Rust code's 1,024-row blocks are crossed) with 7 classes
of unequal sizes, computed in float64 with explicit pairwise distance matrices (no blocking):
  class separation  mean cosine distance (1 - cos, as scipy's pdist(metric="cosine")) over
                    different-class pairs / over same-class pairs i != j, and the class matrix
  alignment         mean ||a_i - b_i||^2 of normalised rows (Wang & Isola, alpha = 2)
  uniformity        log mean exp(-2 ||f_i - f_j||^2) over i != j of normalised rows (t = 2)
"""
import json
import sys

import numpy as np


def main(path):
    rng = np.random.default_rng(0)
    n, d, classes = 1030, 6, 7
    labels = rng.choice(classes, size=n, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05])
    centres = rng.normal(size=(classes, d))
    features = (centres[labels] + 0.8 * rng.normal(size=(n, d))) * rng.uniform(0.5, 2.0, size=(n, 1))
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    distance = 1.0 - unit @ unit.T
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(n, dtype=bool)
    intra = distance[same & off_diagonal].mean()
    inter = distance[~same].mean()
    matrix = [[float(distance[np.ix_(labels == a, labels == b)][(~np.eye((labels == a).sum(), dtype=bool)) if a == b else slice(None)].mean())
               for b in range(classes)] for a in range(classes)]
    views = features + 0.3 * rng.normal(size=(n, d))
    unit_views = views / np.linalg.norm(views, axis=1, keepdims=True)
    alignment = float((np.linalg.norm(unit - unit_views, axis=1) ** 2).mean())
    squared = np.maximum(2.0 - 2.0 * (unit @ unit.T), 0.0)
    uniformity = float(np.log(np.exp(-2.0 * squared)[off_diagonal].mean()))
    out = {
        "generator": "scripts/make_geometry_fixtures.py",
        "dim": d,
        "classes": classes,
        "labels": labels.tolist(),
        "features": features.astype(np.float32).flatten().tolist(),
        "views": views.astype(np.float32).flatten().tolist(),
        "inter": float(inter),
        "intra": float(intra),
        "ratio": float(inter / intra),
        "matrix": matrix,
        "alignment": alignment,
        "uniformity": uniformity,
    }
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"ratio {inter / intra:.6f} alignment {alignment:.6f} uniformity {uniformity:.6f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core/tests/fixtures/geometry.json")
