#!/usr/bin/env python3
"""Generate the PyTorch reference fixtures that hypersphere's tests compare against.

Run with CPU PyTorch (any 2.x) and numpy/safetensors:
    python3 scripts/make_fixtures.py core/tests/fixtures

Writes, for a narrow (width 8) CIFAR ResNet-18 with torchvision parameter names and random
weights (BatchNorm affine parameters and running statistics randomised too, so that a loader
that drops them fails the test):
  resnet18_w8.safetensors   the state dict (num_batches_tracked included, as torch saves it)
  resnet18_w8.pth           the same state dict via torch.save
  resnet18_w8_wrapped.pt    {"state_dict": {"module.<name>": tensor}} as DataParallel checkpoints
  reference.safetensors     inputs [8,3,32,32] in [0,1], labels, logits, the input gradient of
                            the summed cross-entropy, FGSM outputs at eps 2/255 and 8/255, and
                            PGD-l2 (eps 0.5, 10 steps, no random start) as torchattacks PGDL2
The model normalises inputs with the CIFAR-10 statistics of SupContrast inside forward(), as
hypersphere's models do (`--normalize cifar10`).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNet18Cifar(nn.Module):
    """torchvision's resnet18 names, CIFAR stem (3x3 stride 1, no max-pool)."""

    def __init__(self, width=64, num_classes=10):
        super().__init__()
        w = [width, 2 * width, 4 * width, 8 * width]
        self.conv1 = nn.Conv2d(3, w[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.layer1 = nn.Sequential(BasicBlock(w[0], w[0], 1), BasicBlock(w[0], w[0], 1))
        self.layer2 = nn.Sequential(BasicBlock(w[0], w[1], 2), BasicBlock(w[1], w[1], 1))
        self.layer3 = nn.Sequential(BasicBlock(w[1], w[2], 2), BasicBlock(w[2], w[2], 1))
        self.layer4 = nn.Sequential(BasicBlock(w[2], w[3], 2), BasicBlock(w[3], w[3], 1))
        self.fc = nn.Linear(w[3], num_classes)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def fgsm(model, x, y, eps):
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return (x + eps * grad.sign()).clamp(0, 1).detach(), grad.detach()


def pgd_l2(model, x, y, eps, steps):
    """PGD-l2 without random start, as torchattacks.PGDL2(random_start=False), alpha 2.5 eps/steps."""
    alpha = 2.5 * eps / steps
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, adv)
        g_norm = g.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10
        adv = adv.detach() + alpha * g / g_norm
        delta = adv - x
        factor = torch.clamp(eps / delta.flatten(1).norm(dim=1), max=1.0).view(-1, 1, 1, 1)
        adv = (x + delta * factor).clamp(0, 1).detach()
    return adv


def main(out_dir):
    from safetensors.torch import save_file  # only needed to write fixtures

    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    model = ResNet18Cifar(width=8)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(1234)
    model.eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out_dir, "resnet18_w8.safetensors"))
    torch.save(state, os.path.join(out_dir, "resnet18_w8.pth"))
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}, "epoch": 7},
               os.path.join(out_dir, "resnet18_w8_wrapped.pt"))

    x = torch.rand(8, 3, 32, 32)
    y = torch.arange(8) % 10
    with torch.no_grad():
        logits = model(x)
    adv8, grad = fgsm(model, x, y, 8 / 255)
    adv2, _ = fgsm(model, x, y, 2 / 255)
    adv_l2 = pgd_l2(model, x, y, 0.5, 10)
    save_file({
        "inputs": x, "labels": y.to(torch.int64), "logits": logits, "input_grad": grad,
        "fgsm_2": adv2, "fgsm_8": adv8, "pgd_l2_0.5_10": adv_l2,
    }, os.path.join(out_dir, "reference.safetensors"))
    print(f"wrote fixtures to {out_dir} (torch {torch.__version__})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core/tests/fixtures")
