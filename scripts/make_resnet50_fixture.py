#!/usr/bin/env python3
"""PyTorch reference for hypersphere's ResNet-50 (CIFAR stem, torchvision names).

Run with CPU PyTorch (any 2.x) and safetensors:
    python3 scripts/make_resnet50_fixture.py core/tests/fixtures

Writes a width-4 ResNet-50 (bottlenecks, stride on the 3x3 conv as torchvision v1.5, stages
3/4/6/3, 3x3 stride-1 stem without max-pool, 128-d features) with random weights and random
BatchNorm statistics:
  resnet50_w4.pt                    {"model": {"module.encoder.<torchvision name>": tensor}},
                                    the layout of DataParallel + SupContrast checkpoints
  resnet50_w4_reference.safetensors inputs [4,3,32,32] in [0,1], features [4,128], logits [4,10]
The model normalises inputs with SupContrast's CIFAR-10 statistics, as hypersphere does.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + identity)


class ResNet50Cifar(nn.Module):
    def __init__(self, width=64, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        cin = width
        layers = []
        for planes, blocks, stride in [(width, 3, 1), (2 * width, 4, 2), (4 * width, 6, 2), (8 * width, 3, 2)]:
            stage = []
            for b in range(blocks):
                stage.append(Bottleneck(cin, planes, stride if b == 0 else 1))
                cin = planes * 4
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(cin, num_classes)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x):
        x = (x - self.mean) / self.std
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def main(out_dir):
    from safetensors.torch import save_file

    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(50)
    model = ResNet50Cifar(width=4)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    state = {"module.encoder." + k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save({"model": state, "epoch": 1000}, os.path.join(out_dir, "resnet50_w4.pt"))
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        features = model.features(x)
        logits = model.fc(features)
    save_file({"inputs": x, "features": features, "logits": logits}, os.path.join(out_dir, "resnet50_w4_reference.safetensors"))
    print(f"wrote ResNet-50 fixtures to {out_dir} (torch {torch.__version__}, features {tuple(features.shape)})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core/tests/fixtures")
