#!/usr/bin/env python3
"""Reference values for hypersphere's contrastive losses (NT-Xent, SupCon, FNC, A-FNC).

Run with CPU PyTorch (any 2.x):
    python3 scripts/make_contrastive_fixtures.py core/tests/fixtures/contrastive.json

Each case holds raw embeddings `u` ([views * N, d], view-major: row v*N+i is view v of image
i), labels, the objective, and, computed in float64 by the independent per-anchor loops below
(not by a masked matrix formula like the Rust code), the loss of z = u / |u| and its gradient
with respect to u, plus the number of negative pairs and of cancelled pairs.

Semantics (see core/src/losses/contrastive.rs):
  NT-Xent  positives = the other views of the same image; denominator = every k != i.
  SupCon   HobbitLong/SupContrast `SupConLoss` with base_temperature = temperature: positives
           = same label, k != i; anchors without positives contribute 0 and count in the mean.
  FNC      a negative k of anchor i (not a positive, k != i) is a false negative when
           cos(z_i, z_k) > rho (detached), or, for the oracle, when labels match.
           elimination: removed from the denominator; attraction: added to the positives.
"""
import json
import sys

import torch

torch.manual_seed(0)


def reference_loss(u, labels, views, temperature, positives, detector=None, threshold=None, mode=None):
    """Per-anchor loops, float64."""
    z = u / u.norm(dim=1, keepdim=True)
    m = z.shape[0]
    n = m // views
    sim = z @ z.T
    sim_detached = sim.detach()
    image = [r % n for r in range(m)]
    label = [labels[r % n] for r in range(m)] if labels is not None else None
    total = torch.zeros((), dtype=torch.float64)
    negatives = 0
    cancelled = 0
    cancelled_same = 0
    for i in range(m):
        if positives == "instances":
            pos = [k for k in range(m) if k != i and image[k] == image[i]]
        else:
            pos = [k for k in range(m) if k != i and label[k] == label[i]]
        neg = [k for k in range(m) if k != i and k not in pos]
        negatives += len(neg)
        flagged = []
        if detector == "threshold":
            flagged = [k for k in neg if sim_detached[i, k].item() > threshold]
        elif detector == "oracle":
            flagged = [k for k in neg if label[k] == label[i]]
        cancelled += len(flagged)
        if label is not None:
            cancelled_same += sum(1 for k in flagged if label[k] == label[i])
        denom = [k for k in range(m) if k != i]
        if mode == "elimination":
            denom = [k for k in denom if k not in flagged]
        elif mode == "attraction":
            pos = pos + flagged
        if not pos:
            continue
        logits = sim[i] / temperature
        log_denominator = torch.logsumexp(logits[denom], dim=0)
        total = total - sum(logits[p] - log_denominator for p in pos) / len(pos)
    return total / m, negatives, cancelled, cancelled_same


def case(name, u, labels, views, temperature, positives, detector=None, threshold=None, mode=None):
    u = u.clone().to(torch.float64).requires_grad_(True)
    loss, negatives, cancelled, cancelled_same = reference_loss(
        u, labels, views, temperature, positives, detector, threshold, mode
    )
    (grad,) = torch.autograd.grad(loss, u) if loss.requires_grad else (torch.zeros_like(u),)
    return {
        "name": name,
        "views": views,
        "dim": u.shape[1],
        "temperature": temperature,
        "positives": positives,
        "detector": detector,
        "threshold": threshold,
        "mode": mode,
        "labels": labels,
        "u": u.detach().flatten().tolist(),
        "loss": loss.item(),
        "grad": grad.flatten().tolist(),
        "negatives": negatives,
        "cancelled": cancelled,
        "cancelled_same_class": cancelled_same,
    }


def clustered(n, views, d, labels, spread):
    """Embeddings near one centre per class, so that same-class pairs are similar."""
    centres = torch.randn(max(labels) + 1, d)
    rows = [centres[labels[i]] + spread * torch.randn(d) for _ in range(views) for i in range(n)]
    return torch.stack(rows)


def main(path):
    n, d = 6, 8
    labels = [0, 1, 0, 2, 1, 0]
    u = torch.randn(2 * n, d)
    uc = clustered(n, 2, d, labels, 0.35)
    dup = uc.clone()
    dup[3] = dup[0]  # image 3 duplicates image 0 in both views (a different label: 2 vs 0)
    dup[n + 3] = dup[n]
    single = clustered(7, 1, d, [0, 0, 1, 1, 1, 2, 3], 0.5)  # classes 2 and 3 have no positive
    cases = [
        case("nt_xent", u, None, 2, 0.5, "instances"),
        case("nt_xent_with_labels", u, labels, 2, 0.5, "instances"),
        case("nt_xent_three_views", torch.randn(3 * 4, d), None, 3, 0.2, "instances"),
        case("supcon", uc, labels, 2, 0.1, "classes"),
        case("supcon_single_view_no_positive", single, [0, 0, 1, 1, 1, 2, 3], 1, 0.1, "classes"),
        case("fnc_no_false_negatives", uc, labels, 2, 0.5, "instances", "threshold", 1.0, "elimination"),
        case("fnc_all_false_negatives", uc, labels, 2, 0.5, "instances", "threshold", -1.5, "elimination"),
        case("fnc_threshold", uc, labels, 2, 0.5, "instances", "threshold", 0.2, "elimination"),
        case("fnc_duplicates", dup, labels, 2, 0.5, "instances", "threshold", 0.99, "elimination"),
        case("fnc_attraction", uc, labels, 2, 0.5, "instances", "threshold", 0.2, "attraction"),
        case("fnc_oracle", uc, labels, 2, 0.5, "instances", "oracle", None, "elimination"),
    ]
    with open(path, "w") as f:
        json.dump({"generator": "scripts/make_contrastive_fixtures.py", "torch": torch.__version__, "cases": cases}, f)
    for c in cases:
        print(f"{c['name']:<34} loss {c['loss']:.6f}  cancelled {c['cancelled']}/{c['negatives']} same class {c['cancelled_same_class']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core/tests/fixtures/contrastive.json")
