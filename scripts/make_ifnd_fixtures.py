#!/usr/bin/env python3
"""Reference values for hypersphere's IFND (incremental false negative detection, Chen et al.
ICLR 2022) as implemented in core/src/train/ifnd.rs and core/src/geometry/kmeans.rs.

Run with CPU PyTorch and NumPy:
    python3 scripts/make_ifnd_fixtures.py core/tests/fixtures/ifnd.json

Fixed inputs (seeded): N unit embeddings `x` of a training set with true classes, the centres of
two clusterings (3 and 5 clusters), a batch of B training-image indices, raw embeddings `u` of
the batch's two views ([2B, d], view-major: row v*B+a is view v of batch image a) and their
classes. Computed independently of the Rust tensor formulas, with plain loops in float64:

  assignment  nearest centre by squared Euclidean distance; margin = second-nearest squared
              distance minus the nearest (the confidence).
  acceptance  per level, the round(rate * N) largest margins (inputs are drawn so that no tie or
              near-tie sits at the cut).
  flagged     batch images a != b are flagged when at some level both are accepted and share the
              pseudo-label.
  precision   per level, over ordered pairs i != j of accepted training images with one
              pseudo-label, the fraction whose true classes match.
  loss        the masked NT-Xent per anchor (core/src/losses/contrastive.rs semantics): positive =
              the other view of the same image; elimination removes flagged negatives from the
              denominator; attraction adds them to the positives. Loss of z = u / |u| and its
              gradient with respect to u, by autograd in float64; counts of negative pairs,
              cancelled pairs and cancelled pairs of one class.
"""
import json
import sys

import numpy as np
import torch

RNG = np.random.default_rng(7)
N, D, B, TAU = 24, 6, 8, 0.5
LEVELS = [3, 5]


def unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def f32(a):
    """Values exactly representable in float32 (what the Rust test uploads)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def assignment(x, centres):
    labels, margins = [], []
    for i in range(len(x)):
        d2 = [float(np.sum((x[i] - c) ** 2)) for c in centres]
        order = sorted(range(len(centres)), key=lambda k: d2[k])
        labels.append(order[0])
        margins.append(d2[order[1]] - d2[order[0]])
    return labels, margins


def accepted(margins, rate):
    take = min(len(margins), int(np.floor(rate * len(margins) + 0.5)))
    ranked = sorted(range(len(margins)), key=lambda i: -margins[i])
    keep = set(ranked[:take])
    return [i in keep for i in range(len(margins))]


def well_separated(values, gap):
    v = sorted(values)
    return all(b - a > gap for a, b in zip(v, v[1:]))


def draw_inputs():
    while True:
        x = f32(unit(RNG.normal(size=(N, D))))
        classes = [int(c) for c in RNG.integers(0, 3, size=N)]
        centres = [f32(x[RNG.choice(N, size=k, replace=False)] + 0.1 * RNG.normal(size=(k, D))) for k in LEVELS]
        levels = [assignment(x, c) for c in centres]
        # no near-tie between nearest centres, nor between margins around any acceptance cut
        if all(min(m) > 1e-3 and well_separated(m, 1e-3) for _, m in levels):
            return x, classes, centres, levels


def precision(labels, keep, classes):
    pairs = same = 0
    for i in range(N):
        for j in range(N):
            if i != j and keep[i] and keep[j] and labels[i] == labels[j]:
                pairs += 1
                same += classes[i] == classes[j]
    return pairs, same


def flagged_pairs(batch, levels, keeps):
    out = [[False] * B for _ in range(B)]
    for a in range(B):
        for b in range(B):
            if a == b:
                continue
            i, j = batch[a], batch[b]
            out[a][b] = any(keep[i] and keep[j] and labels[i] == labels[j] for (labels, _), keep in zip(levels, keeps))
    return out


def reference_loss(u, flagged, mode, batch_classes):
    z = u / u.norm(dim=1, keepdim=True)
    m = z.shape[0]
    sim = z @ z.T
    total = torch.zeros((), dtype=torch.float64)
    negatives = cancelled = cancelled_same = 0
    for i in range(m):
        a = i % B
        pos = [k for k in range(m) if k != i and k % B == a]
        neg = [k for k in range(m) if k != i and k % B != a]
        negatives += len(neg)
        cut = [k for k in neg if flagged[a][k % B]]
        cancelled += len(cut)
        cancelled_same += sum(1 for k in cut if batch_classes[k % B] == batch_classes[a])
        denom = [k for k in range(m) if k != i]
        if mode == "elimination":
            denom = [k for k in denom if k not in cut]
        else:
            pos = pos + cut
        logits = sim[i] / TAU
        log_denominator = torch.logsumexp(logits[denom], dim=0)
        total = total - sum(logits[p] - log_denominator for p in pos) / len(pos)
    return total / m, negatives, cancelled, cancelled_same


def main(path):
    x, classes, centres, levels = draw_inputs()
    batch = [int(i) for i in RNG.choice(N, size=B, replace=False)]
    batch_classes = [classes[i] for i in batch]
    u = f32(RNG.normal(size=(2 * B, D)))
    cases = []
    for rate, mode in [(0.0, "elimination"), (0.25, "attraction"), (0.5, "elimination"), (0.75, "elimination"), (1.0, "elimination")]:
        keeps = [accepted(m, rate) for _, m in levels]
        flagged = flagged_pairs(batch, levels, keeps)
        ut = torch.tensor(u, dtype=torch.float64, requires_grad=True)
        loss, negatives, cancelled, cancelled_same = reference_loss(ut, flagged, mode, batch_classes)
        (grad,) = torch.autograd.grad(loss, ut)
        stats = [precision(labels, keep, classes) for (labels, _), keep in zip(levels, keeps)]
        cases.append({
            "rate": rate,
            "mode": mode,
            "accepted": keeps,
            "flagged": flagged,
            "loss": loss.item(),
            "grad": grad.flatten().tolist(),
            "negatives": negatives,
            "cancelled": cancelled,
            "cancelled_same_class": cancelled_same,
            "pairs": [p for p, _ in stats],
            "same_class_pairs": [s for _, s in stats],
        })
    fixture = {
        "generator": "scripts/make_ifnd_fixtures.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "n": N, "dim": D, "batch": batch, "temperature": TAU,
        "x": x.flatten().tolist(),
        "classes": classes,
        "batch_classes": batch_classes,
        "levels": [{"clusters": k, "centroids": c.flatten().tolist(), "labels": l, "margins": m} for k, c, (l, m) in zip(LEVELS, centres, levels)],
        "u": u.flatten().tolist(),
        "cases": cases,
    }
    with open(path, "w") as f:
        json.dump(fixture, f)
    for c in cases:
        flags = sum(map(sum, c["flagged"]))
        print(f"rate {c['rate']:.2f} {c['mode']:<11} flagged image pairs {flags:>2}  loss {c['loss']:.6f}  cancelled {c['cancelled']}/{c['negatives']} (same class {c['cancelled_same_class']})  pairs {c['pairs']} same {c['same_class_pairs']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core/tests/fixtures/ifnd.json")
