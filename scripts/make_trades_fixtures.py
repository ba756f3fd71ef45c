#!/usr/bin/env python3
"""Reference values for hypersphere's TRADES loss (core/src/train/trades.rs, the KL objective in
core/src/attacks/objective.rs), written independently of the Rust code.

Run with CPU PyTorch (any 2.x):
    python3 scripts/make_trades_fixtures.py core/tests/fixtures

Writes trades.json: a tiny linear model f(x) = x W^T + b on fixed inputs x [N, D], a fixed
x_adv near them, labels y and several beta. Inputs are float32 values; everything is computed in
float64. For each case:
  - the TRADES outer loss as the reference code writes it (yaodongyu/TRADES trades.py
    `trades_loss`):
        loss_natural = F.cross_entropy(model(x), y)
        loss_robust = (1 / N) * nn.KLDivLoss(size_average=False)(
            F.log_softmax(model(x_adv), dim=1), F.softmax(model(x), dim=1))
        loss = loss_natural + beta * loss_robust
    checked against a second, hand-written formula
        sum_i sum_c p_ic (log p_ic - log q_ic) / N,  p = softmax(f(x)), q = softmax(f(x_adv));
  - its gradient with respect to W and b (through both the clean and the adversarial logits) and
    with respect to the two logit matrices taken as leaves;
  - the per-sample KL values;
  - the input gradient of TRADES's inner objective, sum_i KL(p_i || q(x_adv_i)) with the clean
    distribution p a constant (the reference recomputes it under the eval-mode model), with
    respect to x_adv.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(14)
N, D, C = 5, 6, 4


def f32(t):
    """float32 values (what the Rust test reads exactly), held in float64."""
    return t.float().double()


x = f32(torch.rand(N, D))
# Far enough from x that the KL is of order 0.1-1, where KL(p || q) and KL(q || p) differ.
x_adv = f32((x + (torch.rand(N, D) * 2 - 1) * 0.6).clamp(0, 1))
W0 = f32(torch.randn(C, D) * 2.5)
b0 = f32(torch.randn(C) * 0.5)
y = torch.tensor([0, 3, 1, 1, 2])

cases = []
for beta in [6.0, 0.0, 1.5]:
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    clean = x @ W.T + b
    adv = x_adv @ W.T + b
    clean.retain_grad()
    adv.retain_grad()
    loss_natural = F.cross_entropy(clean, y)
    criterion_kl = nn.KLDivLoss(reduction="sum")
    loss_robust = (1.0 / N) * criterion_kl(F.log_softmax(adv, dim=1), F.softmax(clean, dim=1))
    loss = loss_natural + beta * loss_robust
    loss.backward()

    # The same numbers by hand.
    with torch.no_grad():
        p = torch.exp(clean - torch.logsumexp(clean, 1, keepdim=True))
        log_p = torch.log(p)
        log_q = adv - torch.logsumexp(adv, 1, keepdim=True)
        kl_rows = (p * (log_p - log_q)).sum(1)
        ce_rows = -(log_p[torch.arange(N), y])
        by_hand = ce_rows.mean() + beta * kl_rows.mean()
        assert abs(by_hand.item() - loss.item()) < 1e-12, (by_hand.item(), loss.item())
        assert abs(kl_rows.mean().item() - loss_robust.item()) < 1e-12
        reverse = (torch.exp(log_q) * (log_q - log_p)).sum(1).mean()
        assert abs(reverse.item() - loss_robust.item()) > 1e-3, "the fixture tells the KL's direction"

    # The inner objective's input gradient: p constant, x_adv the leaf.
    xa = x_adv.clone().requires_grad_(True)
    p_const = F.softmax(x @ W0.T + b0, dim=1).detach()
    inner = nn.KLDivLoss(reduction="sum")(F.log_softmax(xa @ W0.T + b0, dim=1), p_const)
    inner.backward()
    # By hand: d/dx_adv sum_c p_c (log p_c - log q_c) = (q - p) W for a linear model.
    with torch.no_grad():
        q = F.softmax(x_adv @ W0.T + b0, dim=1)
        assert torch.allclose(xa.grad, (q - p_const) @ W0, atol=1e-12)

    flat = lambda t: [float(v) for v in t.detach().reshape(-1)]
    cases.append(
        {
            "beta": beta,
            "loss": loss.item(),
            "cross_entropy": loss_natural.item(),
            "kl": loss_robust.item(),
            "kl_per_sample": flat(kl_rows),
            "grad_w": flat(W.grad),
            "grad_b": flat(b.grad),
            "grad_clean_logits": flat(clean.grad),
            "grad_adversarial_logits": flat(adv.grad),
            "inner_objective": inner.item(),
            "grad_x_adv": flat(xa.grad),
        }
    )

out = {
    "n": N,
    "d": D,
    "c": C,
    "x": [float(v) for v in x.reshape(-1)],
    "x_adv": [float(v) for v in x_adv.reshape(-1)],
    "w": [float(v) for v in W0.reshape(-1)],
    "b": [float(v) for v in b0.reshape(-1)],
    "labels": [int(v) for v in y],
    "cases": cases,
}
folder = sys.argv[1] if len(sys.argv) > 1 else "core/tests/fixtures"
os.makedirs(folder, exist_ok=True)
with open(os.path.join(folder, "trades.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote", os.path.join(folder, "trades.json"))
