#!/usr/bin/env python3
"""Reference robust accuracies from torchattacks (PyPI, 3.5.x) for hypersphere's agreement test.

Run with CPU PyTorch 2.x, safetensors and torchattacks:
    pip install torchattacks==3.5.1
    python3 scripts/torchattacks_agreement.py core/tests/fixtures
    # re-run only the attacks on the committed weights and images (what the reference numbers
    # in ta_agreement.json are; its stdout is committed as ta_agreement.log):
    python3 scripts/torchattacks_agreement.py --from-fixture core/tests/fixtures | tee core/tests/fixtures/ta_agreement.log

Builds the CIFAR ResNet-18 of scripts/make_fixtures.py (torchvision names, CIFAR-10
normalisation inside forward) at width 4, trains it for a few hundred steps on synthetic
10-class images (oriented coloured stripes plus noise) so that it is neither trivial nor
degenerate, then runs torchattacks FGSM, PGD (with and without random start), PGDL2, APGD
(CE), APGDT (targeted DLR, 9 targets), FAB (untargeted, and targeted with 9 targets) and Square, and MultiAttack([APGD, APGDT, Square])
on 100 fixed test images. Writes:
  ta_model.safetensors      the trained state dict (about 190 KB)
  ta_images.safetensors     the test images as uint8 [100,3,32,32] (x = u8 / 255) and labels
  ta_agreement.json         clean accuracy and one entry per attack: torchattacks call,
                            hypersphere spec, robust accuracy, and whether it is randomised
Step sizes follow hypersphere's conventions (PGD alpha = 2.5 eps / steps) and budgets are small
so that the Rust test stays fast; both sides use exactly the same settings.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import ResNet18Cifar  # noqa: E402

N_TEST = 100
WIDTH = 4
EPS_LINF = 4 / 255
EPS_L2 = 0.5
AMP = float(os.environ.get('TA_AMP', 0.12))
NOISE = float(os.environ.get('TA_NOISE', 0.2))
STEPS = int(os.environ.get('TA_TRAIN_STEPS', 120))


def synthetic(n, gen):
    """Class c: stripes at angle c*pi/10 with a class colour, random phase, frequency and noise."""
    y = torch.arange(n) % 10
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    imgs = []
    for c in y.tolist():
        theta = c * math.pi / 10
        freq = 0.25 + 0.1 * torch.rand(1, generator=gen).item()
        phase = 2 * math.pi * torch.rand(1, generator=gen).item()
        wave = torch.sin(freq * (xx * math.cos(theta) + yy * math.sin(theta)) + phase)
        colour = torch.tensor([0.5 + 0.4 * math.cos(c), 0.5 + 0.4 * math.sin(c), 0.5 + 0.4 * math.cos(2 * c)])
        img = 0.5 + AMP * wave[None] * colour[:, None, None] + 0.05 * (colour[:, None, None] - 0.5)
        img = img + NOISE * torch.randn(3, 32, 32, generator=gen)
        imgs.append(img.clamp(0, 1))
    x = torch.stack(imgs)
    x = torch.round(x * 255) / 255  # exactly representable as uint8
    return x, y


def train(model, steps=None, seed=0):
    steps = steps or STEPS
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        x, y = synthetic(64, gen)
        perm = torch.randperm(64, generator=gen)
        loss = F.cross_entropy(model(x[perm]), y[perm])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main(out_dir, from_fixture=False):
    """Trains the fixture model and writes the fixture; with from_fixture, loads the committed
    weights and images from out_dir instead and only re-runs torchattacks on them (training on
    the CPU is not bit-reproducible across machines, the attacks on fixed weights are), writing
    ta_agreement.json (and a log of this run) next to them."""
    import torchattacks
    from safetensors.torch import save_file, load_file

    torch.manual_seed(0)
    if from_fixture:
        model = ResNet18Cifar(width=WIDTH)
        model.load_state_dict(load_file(os.path.join(out_dir, "ta_model.safetensors")))
        model.eval()
        data = load_file(os.path.join(out_dir, "ta_images.safetensors"))
        x, y = data["images"].float() / 255, data["labels"]
    else:
        model = train(ResNet18Cifar(width=WIDTH))
        x, y = synthetic(N_TEST, torch.Generator().manual_seed(12345))
    clean = accuracy(model, x, y)
    print(f"clean accuracy {clean:.3f}")

    e, e2 = EPS_LINF, EPS_L2
    e_txt, e2_txt = "4/255", "0.5"
    steps = 10
    entries = [
        # (name, torchattacks attack, hypersphere spec, randomised, random_start for PGD)
        ("FGSM", torchattacks.FGSM(model, eps=e), f"fgsm:linf:{e_txt}", False, None),
        ("PGD (no random start)", torchattacks.PGD(model, eps=e, alpha=2.5 * e / steps, steps=steps, random_start=False),
         f"pgd:linf:{e_txt}:{steps}", False, False),
        ("PGD", torchattacks.PGD(model, eps=e, alpha=2.5 * e / steps, steps=steps, random_start=True),
         f"pgd:linf:{e_txt}:{steps}", True, True),
        ("PGDL2 (no random start)", torchattacks.PGDL2(model, eps=e2, alpha=2.5 * e2 / steps, steps=steps, random_start=False),
         f"pgd:l2:{e2_txt}:{steps}", False, False),
        ("PGDL2", torchattacks.PGDL2(model, eps=e2, alpha=2.5 * e2 / steps, steps=steps, random_start=True),
         f"pgd:l2:{e2_txt}:{steps}", True, True),
        ("APGD-CE Linf", torchattacks.APGD(model, norm="Linf", eps=e, steps=steps, n_restarts=1, loss="ce", seed=0),
         f"apgd-ce:linf:{e_txt}:{steps}", True, None),
        ("APGD-CE L2", torchattacks.APGD(model, norm="L2", eps=e2, steps=steps, n_restarts=1, loss="ce", seed=0),
         f"apgd-ce:l2:{e2_txt}:{steps}", True, None),
        ("APGD-T Linf", torchattacks.APGDT(model, norm="Linf", eps=e, steps=steps, n_restarts=1, n_classes=10, seed=0),
         f"apgd-t:linf:{e_txt}:{steps}", True, None),
        # FAB with one restart starts from the clean image (random starts only from the second
        # restart on), so it is deterministic.
        ("FAB-T Linf", torchattacks.FAB(model, norm="Linf", eps=e, steps=steps, n_restarts=1, multi_targeted=True,
                                        n_classes=10, seed=0),
         f"fab-t:linf:{e_txt}:{steps}", False, None),
        ("FAB-T L2", torchattacks.FAB(model, norm="L2", eps=e2, steps=steps, n_restarts=1, multi_targeted=True,
                                      n_classes=10, seed=0),
         f"fab-t:l2:{e2_txt}:{steps}", False, None),
        ("FAB Linf", torchattacks.FAB(model, norm="Linf", eps=e, steps=steps, n_restarts=1, n_classes=10, seed=0),
         f"fab:linf:{e_txt}:{steps}", False, None),
        ("Square Linf", torchattacks.Square(model, norm="Linf", eps=e, n_queries=300, n_restarts=1, p_init=0.8,
                                            loss="margin", resc_schedule=False, seed=0),
         f"square:linf:{e_txt}:300", True, None),
        ("Square L2", torchattacks.Square(model, norm="L2", eps=e2, n_queries=300, n_restarts=1, p_init=0.8,
                                          loss="margin", resc_schedule=False, seed=0),
         f"square:l2:{e2_txt}:300", True, None),
    ]
    apgd = torchattacks.APGD(model, norm="Linf", eps=e, steps=steps, n_restarts=1, loss="ce", seed=0)
    apgdt = torchattacks.APGDT(model, norm="Linf", eps=e, steps=steps, n_restarts=1, n_classes=10, seed=0)
    square = torchattacks.Square(model, norm="Linf", eps=e, n_queries=300, p_init=0.8, loss="margin",
                                 resc_schedule=False, seed=0)
    entries.append(("MultiAttack(APGD, APGDT, Square) Linf", torchattacks.MultiAttack([apgd, apgdt, square]),
                    f"autoattack:linf:{e_txt}:apgd-ce@{steps}+apgd-t@{steps}+square@300", True, None))

    results = []
    for name, attack, spec, randomised, random_start in entries:
        torch.manual_seed(0)
        adv = attack(x, y)
        acc = accuracy(model, adv, y)
        print(f"{name:42s} {spec:55s} {acc:.3f}")
        results.append({"name": name, "torchattacks": repr(attack).split("(")[0], "spec": spec, "accuracy": acc,
                        "randomised": randomised, "random_start": random_start})

    os.makedirs(out_dir, exist_ok=True)
    if not from_fixture:
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(out_dir, "ta_model.safetensors"))
        save_file({"images": (x * 255).round().to(torch.uint8).contiguous(), "labels": y.to(torch.int64)},
                  os.path.join(out_dir, "ta_images.safetensors"))
    meta = {"width": WIDTH, "images": N_TEST, "clean_accuracy": clean, "torch": torch.__version__,
            "torchattacks": torchattacks.__version__, "attacks": results}
    with open(os.path.join(out_dir, "ta_agreement.json"), "w") as f:
        json.dump(meta, f, indent=1)
    written = "ta_agreement.json" if from_fixture else "ta_model.safetensors, ta_images.safetensors, ta_agreement.json"
    print(f"wrote {written} in {out_dir}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--from-fixture"]
    main(args[0] if args else "core/tests/fixtures", from_fixture="--from-fixture" in sys.argv[1:])
