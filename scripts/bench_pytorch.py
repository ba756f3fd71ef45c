#!/usr/bin/env python3
"""PyTorch's figures for the work `hypersphere bench` times, on the same shapes: inference,
one SGD training step and a PGD-10 l_inf attack for the CIFAR ResNet-18 of
scripts/make_fixtures.py (torchvision names, normalisation inside), fp32, batch 128.

    python3 scripts/bench_pytorch.py [--width 64] [--batch-size 128] [--iters 3] [--device cuda]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import ResNet18Cifar  # noqa: E402


def timed(fn, iters, device):
    fn()  # warm-up (cuDNN autotuning, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--autoattack-images", type=int, default=0,
                   help="also time torchattacks APGD, APGDT, Square on this many images and extrapolate")
    p.add_argument("--aa-steps", type=int, default=5)
    p.add_argument("--aa-queries", type=int, default=50)
    a = p.parse_args()
    device = torch.device(a.device)
    torch.manual_seed(0)
    model = ResNet18Cifar(width=a.width).to(device)
    x = torch.rand(a.batch_size, 3, 32, 32, device=device)
    y = torch.arange(a.batch_size, device=device) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    model.eval()

    def infer():
        with torch.no_grad():
            model(x).sum().item()

    def pgd(steps):
        eps, alpha = 8 / 255, 2.5 * (8 / 255) / steps
        adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(steps):
            adv.requires_grad_(True)
            loss = F.cross_entropy(model(adv), y, reduction="sum")
            (g,) = torch.autograd.grad(loss, adv)
            adv = torch.min(torch.max(adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
        adv.sum().item()

    def pgd10():
        pgd(10)

    def pgd40():
        pgd(40)

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        model.eval()

    t_inf = timed(infer, a.iters, device)
    t_train = timed(train_step, a.iters, device)
    t_pgd = timed(pgd10, a.iters, device)
    t_pgd40 = timed(pgd40, a.iters, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"PyTorch {torch.__version__} on {name}: resnet18-cifar width {a.width}, batch {a.batch_size}, fp32")
    print("| measurement | seconds/batch | images/s |")
    print("|---|---|---|")
    for label, t in [("inference (forward)", t_inf), ("training step (fwd+bwd+SGD)", t_train), ("PGD-10 attack (10 grad steps)", t_pgd),
                     ("PGD-40 attack (40 grad steps)", t_pgd40)]:
        print(f"| {label} | {t:.4f} | {a.batch_size / t:.1f} |")
    if a.autoattack_images > 0:
        autoattack_extrapolation(model, x, y, a)


def autoattack_extrapolation(model, x, y, a):
    """torchattacks APGD-CE, APGDT (9 targets) and Square at small budgets on images labelled
    with the model's own predictions, scaled linearly to 100 / 9x100 / 5000 and to 1,000 images."""
    import torchattacks

    k = min(a.autoattack_images, x.shape[0])
    xs = x[:k]
    with torch.no_grad():
        ys = model(xs).argmax(1)  # every image starts correctly classified, as hypersphere's bench
    s, q, eps = a.aa_steps, a.aa_queries, 8 / 255
    rows = [
        (f"APGD-CE {s} steps", torchattacks.APGD(model, norm="Linf", eps=eps, steps=s, loss="ce"), 100 / s),
        (f"APGDT {s} steps, 9 targets", torchattacks.APGDT(model, norm="Linf", eps=eps, steps=s, n_classes=10), 100 / s),
        (f"Square {q} queries", torchattacks.Square(model, norm="Linf", eps=eps, n_queries=q, resc_schedule=False), 5000 / q),
    ]
    print()
    print(f"torchattacks {torchattacks.__version__}, {k} images, labelled by the model, extrapolated (torchattacks skips images already fooled):")
    print("| component | seconds | seconds per 1,000 images (extrapolated) |")
    print("|---|---|---|")
    total = 0.0
    for name, attack, scale in rows:
        start = time.perf_counter()
        attack(xs, ys).sum().item()
        secs = time.perf_counter() - start
        per_1000 = secs * scale * 1000 / k
        total += per_1000
        print(f"| {name} | {secs:.2f} | {per_1000:.0f} |")
    print(f"| AutoAttack (APGD-CE, APGDT, Square) | | {total:.0f} ({total / 3600:.1f} h) |")


if __name__ == "__main__":
    main()
