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
import contextlib
import json
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
    """Median seconds per call of fn (each call ends in a read-back or a synchronize), after
    `warmup` untimed calls; the same rule as hypersphere_core::bench::measure."""
    for _ in range(warmup):
        fn()  # cuDNN autotuning, allocator
    times = []
    for _ in range(max(1, iters)):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])


def set_mode(mode, device):
    """strict: IEEE f32 everywhere (TF32 off for matmuls and cuDNN). default: PyTorch's own
    defaults (cuDNN convolutions may use TF32 on sm >= 80) with cudnn.benchmark on. bf16: the
    defaults plus bf16 autocast around the forward passes."""
    if device.type == "cuda":
        strict = mode == "strict"
        torch.backends.cuda.matmul.allow_tf32 = False if strict else torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = not strict
        torch.backends.cudnn.benchmark = not strict
    if mode == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def row(name, detail, batch, seconds, a):
    return {"name": name, "batch": batch, "seconds": seconds, "images_per_second": batch / seconds if seconds > 0 else 0.0,
            "warmup": a.warmup, "iters": a.iters, "detail": detail}


def write_json(a, device, rows):
    if not a.json:
        return
    out = {"framework": f"pytorch {torch.__version__}", "device": device_name(device), "mode": a.mode,
           "model": f"resnet18-cifar width {a.width}" + (f" ({os.path.basename(a.weights)})" if a.weights else ""),
           "rows": rows}
    with open(a.json, "w") as f:
        json.dump(out, f, indent=2)


def print_rows(rows):
    print("| measurement | batch | seconds/call (median) | images/s |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} ({r['detail']}) | {r['batch']} | {r['seconds']:.4f} | {r['images_per_second']:.1f} |")


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

def simclr_views(x, gen_device):
    """Two SimCLR views of every image of x [N,3,H,W] in [0,1], on the device: random resized
    crop (scale 0.08-1, ratio 3/4-4/3) with a horizontal flip as one affine grid, colour jitter
    (0.4/0.4/0.4/0.1, p 0.8; brightness, contrast, saturation, hue in a random order per batch)
    and grayscale (p 0.2). The same work as hypersphere's views, vectorised."""
    n = x.shape[0]
    xs = x.repeat(2, 1, 1, 1)
    m = xs.shape[0]
    dev = x.device
    area = torch.empty(m, device=dev).uniform_(0.08, 1.0)
    logr = torch.empty(m, device=dev).uniform_(math.log(3 / 4), math.log(4 / 3))
    ratio = torch.exp(logr)
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(m, device=dev) * 2 - 1) * (1 - w)
    cy = (torch.rand(m, device=dev) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(m, device=dev) < 0.5, -1.0, 1.0)
    theta = torch.zeros(m, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * flip, cx, h, cy
    grid = F.affine_grid(theta, list(xs.shape), align_corners=False)
    v = F.grid_sample(xs, grid, mode="bilinear", padding_mode="border", align_corners=False)
    on = (torch.rand(m, 1, 1, 1, device=dev) < 0.8).float()
    gray = lambda t: (0.299 * t[:, 0:1] + 0.587 * t[:, 1:2] + 0.114 * t[:, 2:3])
    for op in torch.randperm(4).tolist():
        f = torch.empty(m, 1, 1, 1, device=dev).uniform_(0.6, 1.4)
        if op == 0:
            j = v * f
        elif op == 1:
            j = (v - gray(v).mean((2, 3), keepdim=True)) * f + gray(v).mean((2, 3), keepdim=True)
        elif op == 2:
            j = (v - gray(v)) * f + gray(v)
        else:
            shift = torch.empty(m, 1, 1, device=dev).uniform_(-0.1, 0.1)
            mx, _ = v.max(1)
            mn, _ = v.min(1)
            d = (mx - mn).clamp_min(1e-8)
            r, g, b = v[:, 0], v[:, 1], v[:, 2]
            hue = torch.where(mx == r, ((g - b) / d) % 6, torch.where(mx == g, (b - r) / d + 2, (r - g) / d + 4)) / 6
            hue = torch.where(mx == mn, torch.zeros_like(hue), hue)
            hue = (hue + shift) % 1.0
            sat = torch.where(mx > 0, d / mx.clamp_min(1e-8), torch.zeros_like(mx))
            k = lambda nn: (nn + hue * 6) % 6
            chan = lambda nn: mx - mx * sat * torch.clamp(torch.minimum(k(nn), 4 - k(nn)), 0, 1)
            j = torch.stack([chan(5), chan(3), chan(1)], 1)
        v = (on * j + (1 - on) * v).clamp(0, 1)
    g = (torch.rand(m, 1, 1, 1, device=dev) < 0.2).float()
    return g * gray(v).expand_as(v) + (1 - g) * v


def nt_xent(z, temperature=0.5):
    """NT-Xent over 2N normalised projections (row i and i+N are positives)."""
    z = F.normalize(z, dim=1)
    m = z.shape[0]
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = (torch.arange(m, device=z.device) + m // 2) % m
    return F.cross_entropy(sim, target)


def shapes_bench(a, device):
    autocast = set_mode(a.mode, device)
    torch.manual_seed(0)
    model = ResNet18Cifar(width=a.width).to(device)
    x = torch.rand(a.batch_size, 3, 32, 32, device=device)
    y = torch.arange(a.batch_size, device=device) % 10
    model.eval()
    rows = []
    wanted = set(a.rows.split(","))

    def infer():
        with torch.no_grad(), autocast():
            model(x).sum().item()
    if "inference" in wanted:
        rows.append(row("inference", "forward", a.batch_size, timed(infer, a.warmup, a.iters, device), a))

    for b in [int(v) for v in a.train_batch_sizes.split(",") if v and int(v) > 0 and "ce-step" in wanted]:
        net = ResNet18Cifar(width=a.width).to(device)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        xb = torch.rand(b, 3, 32, 32, device=device)
        yb = torch.arange(b, device=device) % 10

        def train_step():
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = F.cross_entropy(net(xb), yb)
            loss.backward()
            opt.step()
            loss.item()
        rows.append(row("ce-step", "forward + backward + SGD momentum", b, timed(train_step, a.warmup, a.iters, device), a))

    if a.simclr_batch_size > 0 and "simclr-step" in wanted:
        b = a.simclr_batch_size
        net = ResNet18Cifar(width=a.width).to(device)
        feat = 8 * a.width
        head = torch.nn.Sequential(torch.nn.Linear(feat, feat), torch.nn.ReLU(), torch.nn.Linear(feat, 128)).to(device)
        net.fc = torch.nn.Identity()
        params = list(net.parameters()) + list(head.parameters())
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
        images = (torch.rand(b, 3, 32, 32, device=device) * 255).to(torch.uint8)

        def simclr_step():
            opt.zero_grad(set_to_none=True)
            views = simclr_views(images.float() / 255, device)
            with autocast():
                loss = nt_xent(head(net(views)).float())
            loss.backward()
            opt.step()
            loss.item()
        rows.append(row("simclr-step", "two views per image, augmentations included", b,
                        timed(simclr_step, a.warmup, a.iters, device), a))

    for steps in [s for s in (10, 40) if f"pgd{s}" in wanted]:
        def attack():
            with autocast():
                pgd(model, x, y, steps).sum().item()
        rows.append(row(f"pgd{steps}", f"l_inf 8/255, {steps} steps", a.batch_size, timed(attack, a.warmup, a.iters, device), a))
    print(f"PyTorch {torch.__version__} on {device_name(device)}: resnet18-cifar width {a.width}, mode {a.mode}, "
          f"warm-up {a.warmup}, timed {a.iters} (median)")
    print_rows(rows)
    write_json(a, device, rows)


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

    set_mode(a.mode if a.mode != "bf16" else "default", device)
    model, x_all, y_all = load_fixture(a, device)
    n = min(a.batch_size, x_all.shape[0])
    out_rows = []
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
    for (label, work, attack), name in zip(rows, ["inference", "pgd10", "pgd40"]):
        t = timed(work, a.warmup, a.iters, device)
        out_rows.append(row(name, label, n, t, a))
        torch.manual_seed(0)
        acc = correct(model, attack(), y).float().mean().item()
        print(f"| {label} | {t:.4f} | {n / t:.1f} | {100 * acc:.1f}% |")

    k = min(a.autoattack_images, x_all.shape[0])
    if k == 0:
        write_json(a, device, out_rows)
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
    r = row("autoattack-standard", f"l_inf {a.aa_eps}, {a.aa_steps} steps, {a.aa_queries} queries, "
            f"robust {100 * robust.float().mean().item():.1f}%", k, total, a)
    r["warmup"], r["iters"] = 0, 1
    out_rows.append(r)
    write_json(a, device, out_rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--iters", type=int, default=20, help="timed iterations (the median is reported)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--mode", choices=["strict", "default", "bf16"], default="default",
                   help="strict: f32 with TF32 off; default: PyTorch's defaults + cudnn.benchmark; bf16: defaults + bf16 autocast")
    p.add_argument("--train-batch-sizes", default="128,512", help="batch sizes of the CE training step (comma list)")
    p.add_argument("--simclr-batch-size", type=int, default=256, help="images per SimCLR step (0: skip)")
    p.add_argument("--rows", default="inference,ce-step,simclr-step,pgd10,pgd40", help="rows of the shapes mode (comma list)")
    p.add_argument("--json", help="write the rows as JSON here (shapes and same-weights modes)")
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
