#!/usr/bin/env python3
"""PyTorch's figures for the work `hypersphere bench` times, for the CIFAR ResNet-18 of
scripts/make_fixtures.py (torchvision names, CIFAR-10 normalisation inside forward), fp32.

Three modes:

    # 1. Same shapes as `hypersphere bench` (random weights and images): inference, one SGD
    #    training step, PGD-10 and PGD-40.
    python3 scripts/bench_pytorch.py [--width 64] [--batch-size 128] [--iters 3] [--device cuda]

    # 2. Write the shared fixture both sides read: DIR/bench_model.safetensors (the state dict)
    #    and DIR/bench_images.safetensors ("images" uint8 [N,3,32,32], x = u8 / 255, and
    #    "labels" int64 [N]).
    python3 scripts/bench_pytorch.py --write-fixture DIR [--width 64] [--fixture-images 1000]

    # 3. The same-weights benchmark on that fixture (hypersphere: `hypersphere bench --weights
    #    DIR/bench_model.safetensors --images DIR/bench_images.safetensors ...` with the same
    #    flags), printing the same two tables: inference, PGD-10 and PGD-40 on the first batch,
    #    and AutoAttack standard with torchattacks (APGD-CE, APGD-T, FAB-T, Square, each on the
    #    images still robust, as torchattacks' AutoAttack / MultiAttack runs them) on the first
    #    --autoattack-images images.
    python3 scripts/bench_pytorch.py --weights DIR/bench_model.safetensors \\
        --images DIR/bench_images.safetensors --autoattack-images 100 [--aa-steps 100] [--aa-queries 5000]

The fixture model is cheap to make: random initial weights, BatchNorm statistics measured on
synthetic images (a colour and an oriented stripe per class, plus noise), and the last layer
fitted on the network's features of 256 such images. Clean accuracy on the test images is
about 100%; it is not robust (PGD at 2/255 already fools it), so in AutoAttack APGD-CE fools
nearly every image and the later components attack few or none.
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import ResNet18Cifar  # noqa: E402

EPS = 8 / 255


def timed(fn, warmup, iters, device):
    for _ in range(warmup):
        fn()  # cuDNN autotuning, allocator
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def pgd(model, x, y, steps):
    """PGD l_inf with a random start, alpha = 2.5 eps / steps (hypersphere's convention)."""
    alpha = 2.5 * EPS / steps
    adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, adv)
        adv = torch.min(torch.max(adv.detach() + alpha * g.sign(), x - EPS), x + EPS).clamp(0, 1)
    return adv


def correct(model, x, y):
    with torch.no_grad():
        return model(x).argmax(1) == y


def device_name(device):
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


# --- mode 1: same shapes as `hypersphere bench`, random weights ------------------------------

def shapes_bench(a, device):
    torch.manual_seed(0)
    model = ResNet18Cifar(width=a.width).to(device)
    x = torch.rand(a.batch_size, 3, 32, 32, device=device)
    y = torch.arange(a.batch_size, device=device) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.eval()

    def infer():
        with torch.no_grad():
            model(x).sum().item()

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        model.eval()

    rows = [("inference (forward)", infer), ("training step (fwd+bwd+SGD)", train_step),
            ("PGD-10 attack (10 grad steps)", lambda: pgd(model, x, y, 10).sum().item()),
            ("PGD-40 attack (40 grad steps)", lambda: pgd(model, x, y, 40).sum().item())]
    print(f"PyTorch {torch.__version__} on {device_name(device)}: resnet18-cifar width {a.width}, batch {a.batch_size}, fp32")
    print("| measurement | seconds/batch | images/s |")
    print("|---|---|---|")
    for label, fn in rows:
        t = timed(fn, a.warmup, a.iters, device)
        print(f"| {label} | {t:.4f} | {a.batch_size / t:.1f} |")


# --- mode 2: the shared fixture ---------------------------------------------------------------

def synthetic(n, gen):
    """Class c: colour at hue c/10 plus a stripe pattern at angle c*pi/10 with a random phase,
    plus Gaussian noise; rounded to multiples of 1/255 so uint8 stores them exactly."""
    y = torch.arange(n) % 10
    c = y.float()
    colour = torch.stack([0.5 + 0.3 * torch.cos(2 * math.pi * c / 10), 0.5 + 0.3 * torch.sin(2 * math.pi * c / 10),
                          0.5 + 0.3 * torch.cos(6 * math.pi * c / 10)], 1)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    theta = (c * math.pi / 10)[:, None, None]
    phase = 2 * math.pi * torch.rand(n, 1, 1, generator=gen)
    wave = torch.sin(0.3 * (xx * torch.cos(theta) + yy * torch.sin(theta)) + phase)
    x = colour[:, :, None, None] + 0.15 * wave[:, None] + 0.1 * torch.randn(n, 3, 32, 32, generator=gen)
    return torch.round(x.clamp(0, 1) * 255) / 255, y


def write_fixture(a):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = ResNet18Cifar(width=a.width)
    gen = torch.Generator().manual_seed(1)
    # BatchNorm statistics: the exact average over one batch of synthetic images.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(synthetic(128, gen)[0])
    model.eval()
    # The last layer: logistic regression on the features of 256 synthetic images.
    head, model.fc = model.fc, torch.nn.Identity()
    x, y = synthetic(256, gen)
    with torch.no_grad():
        features = model(x)
    model.fc = head
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(300):
        loss = F.cross_entropy(head(features), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = synthetic(a.fixture_images, torch.Generator().manual_seed(12345))
    clean = correct(model, x, y).float().mean().item()
    os.makedirs(a.write_fixture, exist_ok=True)
    weights = os.path.join(a.write_fixture, "bench_model.safetensors")
    images = os.path.join(a.write_fixture, "bench_images.safetensors")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    save_file({"images": (x * 255).round().to(torch.uint8).contiguous(), "labels": y.to(torch.int64)}, images)
    print(f"wrote {weights} (resnet18-cifar width {a.width}) and {images} ({a.fixture_images} images, "
          f"clean accuracy {100 * clean:.1f}%)")


# --- mode 3: the same-weights benchmark ---------------------------------------------------------

def load_fixture(a, device):
    from safetensors.torch import load_file

    model = ResNet18Cifar(width=a.width)
    model.load_state_dict(load_file(a.weights))
    model.to(device).eval()
    data = load_file(a.images)
    x = (data["images"].float() / 255).to(device)
    return model, x, data["labels"].to(device)


def autoattack_components(model, steps, queries, eps):
    """AutoAttack standard as torchattacks.AutoAttack builds it (one restart each, FAB and APGD-T
    with 9 target classes), at the given budgets."""
    import torchattacks

    return [
        ("APGD-CE", f"{steps} steps", torchattacks.APGD(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, loss="ce", seed=0)),
        ("APGD-T", f"9 targets x {steps} steps",
         torchattacks.APGDT(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, n_classes=10, seed=0)),
        ("FAB-T", f"9 targets x {steps} steps",
         torchattacks.FAB(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, multi_targeted=True, n_classes=10, seed=0)),
        ("Square", f"{queries} queries",
         torchattacks.Square(model, norm="Linf", eps=eps, n_queries=queries, n_restarts=1, p_init=0.8, loss="margin",
                             resc_schedule=False, seed=0)),
    ]


def same_weights_bench(a, device):
    import torchattacks

    model, x_all, y_all = load_fixture(a, device)
    n = min(a.batch_size, x_all.shape[0])
    x, y = x_all[:n], y_all[:n]
    print(f"PyTorch {torch.__version__} on {device_name(device)}: {a.weights} (resnet18-cifar width {a.width}), "
          f"batch {n}, fp32, warm-up {a.warmup}, timed iterations {a.iters}")
    print("| measurement | seconds/batch | images/s | accuracy |")
    print("|---|---|---|---|")
    def infer():
        with torch.no_grad():
            model(x).sum().item()

    rows = [("inference (forward)", infer, lambda: x),
            ("PGD-10 l_inf 8/255 (10 grad steps)", lambda: pgd(model, x, y, 10).sum().item(), lambda: pgd(model, x, y, 10)),
            ("PGD-40 l_inf 8/255 (40 grad steps)", lambda: pgd(model, x, y, 40).sum().item(), lambda: pgd(model, x, y, 40))]
    for label, work, attack in rows:
        t = timed(work, a.warmup, a.iters, device)
        torch.manual_seed(0)
        acc = correct(model, attack(), y).float().mean().item()
        print(f"| {label} | {t:.4f} | {n / t:.1f} | {100 * acc:.1f}% |")

    k = min(a.autoattack_images, x_all.shape[0])
    if k == 0:
        return
    xs, ys = x_all[:k], y_all[:k]
    robust = correct(model, xs, ys)
    print()
    print(f"AutoAttack standard (l_inf, eps {a.aa_eps}), torchattacks {torchattacks.__version__}: each component on the images "
          f"still robust, batches of {a.batch_size}")
    print("| attack | budget | measured on | images attacked | seconds | seconds per 1,000 images | robust accuracy |")
    print("|---|---|---|---|---|---|---|")
    print(f"| clean | | {k} images | | | | {100 * robust.float().mean().item():.1f}% |")
    total = 0.0
    num, _, den = a.aa_eps.partition("/")
    eps = float(num) / float(den or 1)
    for name, budget, attack in autoattack_components(model, a.aa_steps, a.aa_queries, eps):
        idx = robust.nonzero().flatten()
        torch.manual_seed(0)
        start = time.perf_counter()
        for chunk in idx.split(a.batch_size):
            adv = attack(xs[chunk], ys[chunk])
            robust[chunk] = correct(model, adv, ys[chunk])
        if device.type == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - start
        total += secs
        print(f"| {name} | {budget} | {k} images | {len(idx)} | {secs:.2f} | {secs * 1000 / k:.1f} | "
              f"{100 * robust.float().mean().item():.1f}% |")
    print(f"| AutoAttack (APGD-CE, APGD-T, FAB-T, Square) | | {k} images | | {total:.2f} | {total * 1000 / k:.1f} | "
          f"{100 * robust.float().mean().item():.1f}% |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--write-fixture", metavar="DIR", help="write bench_model.safetensors and bench_images.safetensors here")
    p.add_argument("--fixture-images", type=int, default=1000, help="test images in the fixture")
    p.add_argument("--weights", help="the fixture's bench_model.safetensors")
    p.add_argument("--images", help="the fixture's bench_images.safetensors")
    p.add_argument("--autoattack-images", type=int, default=0, help="run AutoAttack on the first K images (0: skip)")
    p.add_argument("--aa-steps", type=int, default=100, help="APGD-CE, APGD-T and FAB-T iterations")
    p.add_argument("--aa-eps", default="8/255", help="AutoAttack's l_inf radius (a fraction like 8/255 or a decimal)")
    p.add_argument("--aa-queries", type=int, default=5000, help="Square queries")
    a = p.parse_args()
    if a.write_fixture:
        write_fixture(a)
    elif a.weights or a.images:
        if not (a.weights and a.images):
            p.error("--weights and --images go together")
        same_weights_bench(a, torch.device(a.device))
    else:
        shapes_bench(a, torch.device(a.device))


if __name__ == "__main__":
    main()
