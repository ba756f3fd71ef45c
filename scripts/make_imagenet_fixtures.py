#!/usr/bin/env python3
"""PyTorch/timm references for hypersphere's ImageNet models and checkpoint conventions.

Run with CPU PyTorch 2.x, torchvision, timm 1.x and safetensors:
    python3 scripts/make_imagenet_fixtures.py core/tests/fixtures/imagenet

Every model is the real implementation (torchvision's `resnet50`, timm's `VisionTransformer`),
seeded and shrunk where size demands it, with names and structure unchanged:
- ResNet-50: torchvision `resnet50(num_classes=10)` (ImageNet stem: 7x7/2 conv, 3x3/2 max-pool)
  with every convolution, BatchNorm and `fc` cut to the first 1/32 of its channels (width 2,
  64-d features) and random BatchNorm statistics; inputs 64x64.
- ViTs: timm `vit_{tiny,small,base}_patch16_224` with embed_dim 48 (3, 6, 12 heads as the real
  ones), depth 2 (DINO: 4, so that its 4-class-token readout exists) and img_size 48 (9 patches),
  LayerNorm affine parameters and tokens randomised so nothing is near the identity.

Files (each in its project's published layout; see core/src/models/checkpoints.rs):
  r50_torchvision.pth   torchvision state dict with fc (10 classes)
  r50_simclr.pth        {'state_dict': torchvision names} (tonylins/simclr-converter)
  r50_swav.pth          'module.' + backbone, projection_head.*, prototypes.* (no fc)
  r50_swav_head.pth     {'state_dict': {'module.linear.weight', 'module.linear.bias'}} (RegLog)
  r50_byol.pth          {'online_network_state_dict': {'encoder.<i>.*', 'projetion.net.*'}, 'target_network_state_dict': ...}
  r50_byol_head.pth     {'weight', 'bias'}
  vit_ti_timm.safetensors     timm state dict (head: 10 classes)
  vit_ti_moco_linear.pth      {'state_dict': 'module.' + timm names} (moco-v3 main_lincls.py output)
  vit_b_mocov3.pth      {'state_dict': module.base_encoder.* (head = projection MLP), module.momentum_encoder.*, module.predictor.*}
  vit_b_mocov3_head.pth {'state_dict': {'module.head.weight', 'module.head.bias'}}
  vit_s_dino.pth        DINO backbone (timm names, no head)
  vit_s_dino_full.pth   {'teacher': {'backbone.*', 'head.mlp.*'}, 'student': {...}, 'epoch': 1}
  vit_s_dino_linear4.pth   {'state_dict': {'module.linear.*'}} on 4 class tokens (ViT-S recipe)
  vit_s_dino_linearavg.pth {'state_dict': {'module.linear.*'}} on class + mean patch token (ViT-B recipe)
  reference.safetensors inputs and every expected output (logits, FGSM images, input gradients)
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLASSES = 10


def normalize(x):
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def shrink_resnet(model, factor):
    """Keeps the first 1/factor of every channel dimension (the 3 input channels stay)."""
    cut = lambda n: n if n == 3 else n // factor
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight = nn.Parameter(m.weight[: cut(m.out_channels), : cut(m.in_channels)].clone())
                m.out_channels, m.in_channels = cut(m.out_channels), cut(m.in_channels)
            elif isinstance(m, nn.BatchNorm2d):
                n = cut(m.num_features)
                m.weight = nn.Parameter(torch.empty(n).uniform_(0.5, 1.5))
                m.bias = nn.Parameter(torch.empty(n).uniform_(-0.2, 0.2))
                m.running_mean = torch.empty(n).normal_(0.0, 0.2)
                m.running_var = torch.empty(n).uniform_(0.5, 2.0)
                m.num_features = n
            elif isinstance(m, nn.Linear):
                m.weight = nn.Parameter(m.weight[:, : cut(m.in_features)].clone() * factor**0.5)
                m.in_features = cut(m.in_features)
    return model


def randomise_vit(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                p.uniform_(-0.1, 0.1)
            elif name in ("cls_token", "pos_embed"):
                p.normal_(0.0, 0.5)
    return model


def vit(name, depth, num_classes):
    import timm

    return randomise_vit(timm.create_model(name, pretrained=False, img_size=48, embed_dim=48, depth=depth, num_classes=num_classes)).eval()


def contiguous(state):
    return {k: v.contiguous().clone() for k, v in state.items()}


def dino_features(model, x, n, avgpool):
    """DINO eval_linear.py: normed class tokens of the last n blocks (+ mean patch token)."""
    t = model._pos_embed(model.patch_embed(normalize(x)))
    outputs = []
    for i, blk in enumerate(model.blocks):
        t = blk(t)
        if len(model.blocks) - i <= n:
            outputs.append(model.norm(t))
    out = torch.cat([o[:, 0] for o in outputs], dim=-1)
    if avgpool:
        out = torch.cat((out.unsqueeze(-1), torch.mean(outputs[-1][:, 1:], dim=1).unsqueeze(-1)), dim=-1)
        out = out.reshape(out.shape[0], -1)
    return out


def make_linear(features, seed):
    torch.manual_seed(seed)
    layer = nn.Linear(features, CLASSES)
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.5)
        layer.bias.uniform_(-0.5, 0.5)
    return layer


def main(out):
    import torchvision
    from safetensors.torch import save_file

    os.makedirs(out, exist_ok=True)
    ref = {}
    torch.manual_seed(15)

    # ---------------- ResNet-50 (ImageNet stem) ----------------
    r50 = shrink_resnet(torchvision.models.resnet50(num_classes=CLASSES), 32).eval()
    sd = contiguous(r50.state_dict())
    x64 = torch.rand(2, 3, 64, 64)
    ref["r50_inputs"] = x64
    with torch.no_grad():
        ref["r50_logits"] = r50(normalize(x64))
        backbone = nn.Sequential(*list(r50.children())[:-1])
        feats = backbone(normalize(x64)).flatten(1)
    torch.save(sd, os.path.join(out, "r50_torchvision.pth"))
    torch.save({"state_dict": sd}, os.path.join(out, "r50_simclr.pth"))
    # SwAV: backbone under module., a projection head and prototypes, no fc.
    swav = {"module." + k: v for k, v in sd.items() if not k.startswith("fc.")}
    swav["module.projection_head.0.weight"] = torch.randn(16, 64)
    swav["module.projection_head.0.bias"] = torch.randn(16)
    swav["module.projection_head.1.weight"] = torch.randn(16)
    swav["module.projection_head.1.running_mean"] = torch.randn(16)
    swav["module.projection_head.3.weight"] = torch.randn(8, 16)
    swav["module.prototypes.weight"] = torch.randn(12, 8)
    torch.save(swav, os.path.join(out, "r50_swav.pth"))
    swav_head = make_linear(64, 101)
    torch.save({"epoch": 100, "state_dict": {"module." + "linear." + k: v for k, v in swav_head.state_dict().items()}, "best_acc": 1.0},
               os.path.join(out, "r50_swav_head.pth"))
    with torch.no_grad():
        ref["r50_swav_logits"] = swav_head(feats)
    # BYOL (sthalles/PyTorch-BYOL): encoder = Sequential(children()[:-1]).
    enc = {"encoder." + k: v for k, v in contiguous(backbone.state_dict()).items()}
    proj = {"projetion.net.0.weight": torch.randn(16, 64), "projetion.net.0.bias": torch.randn(16)}
    torch.save({"online_network_state_dict": {**enc, **proj}, "target_network_state_dict": dict(list(enc.items())[:3])},
               os.path.join(out, "r50_byol.pth"))
    byol_head = make_linear(64, 102)
    torch.save(contiguous(byol_head.state_dict()), os.path.join(out, "r50_byol_head.pth"))
    with torch.no_grad():
        ref["r50_byol_logits"] = byol_head(feats)

    # ---------------- ViT-Ti/16 (timm) + FGSM ----------------
    x48 = torch.rand(4, 3, 48, 48)
    y = torch.randint(0, CLASSES, (4,))
    ref["vit_inputs"] = x48
    ref["vit_labels"] = y
    ti = vit("vit_tiny_patch16_224", 2, CLASSES)
    ti_sd = contiguous(ti.state_dict())
    save_file(ti_sd, os.path.join(out, "vit_ti_timm.safetensors"))
    torch.save({"epoch": 90, "arch": "vit_tiny", "state_dict": {"module." + k: v for k, v in ti_sd.items()}},
               os.path.join(out, "vit_ti_moco_linear.pth"))
    with torch.no_grad():
        ref["vit_ti_logits"] = ti(normalize(x48))
    xg = x48.clone().requires_grad_(True)
    loss = F.cross_entropy(ti(normalize(xg)), y)
    (grad,) = torch.autograd.grad(loss, xg)
    ref["vit_ti_input_grad"] = grad
    for eps, name in [(2 / 255, "vit_ti_fgsm_2"), (8 / 255, "vit_ti_fgsm_8")]:
        ref[name] = (x48 + eps * grad.sign()).clamp(0, 1)

    # ---------------- ViT-B/16, MoCo v3 pre-training checkpoint ----------------
    b = vit("vit_base_patch16_224", 2, 0)  # head = Identity; MoCo v3 puts its MLP there
    b_sd = contiguous(b.state_dict())
    moco = {"module.base_encoder." + k: v for k, v in b_sd.items()}
    moco["module.base_encoder.head.0.weight"] = torch.randn(16, 48)
    moco["module.base_encoder.head.1.weight"] = torch.randn(16)
    moco["module.base_encoder.head.1.running_var"] = torch.rand(16)
    moco["module.base_encoder.head.3.weight"] = torch.randn(8, 16)
    moco.update({"module.momentum_encoder." + k: v + 1.0 for k, v in list(b_sd.items())[:4]})
    moco["module.predictor.0.weight"] = torch.randn(16, 8)
    torch.save({"epoch": 300, "arch": "vit_base", "state_dict": moco}, os.path.join(out, "vit_b_mocov3.pth"))
    moco_head = make_linear(48, 103)
    torch.save({"state_dict": {"module.head." + k: v for k, v in moco_head.state_dict().items()}},
               os.path.join(out, "vit_b_mocov3_head.pth"))
    with torch.no_grad():
        ref["vit_b_moco_logits"] = moco_head(b(normalize(x48)))

    # ---------------- ViT-S/16, DINO ----------------
    s = vit("vit_small_patch16_224", 4, 0)
    s_sd = contiguous(s.state_dict())
    torch.save(s_sd, os.path.join(out, "vit_s_dino.pth"))
    teacher = {"backbone." + k: v for k, v in s_sd.items()}
    teacher["head.mlp.0.weight"] = torch.randn(16, 48)
    teacher["head.last_layer.weight_g"] = torch.ones(8, 1)
    student = {"module.backbone.cls_token": s_sd["cls_token"] + 1.0}
    torch.save({"student": student, "teacher": teacher, "epoch": 1}, os.path.join(out, "vit_s_dino_full.pth"))
    for n, avgpool, name, seed in [(4, False, "linear4", 104), (1, True, "linearavg", 105)]:
        head = make_linear(48 * (n + int(avgpool)), seed)
        torch.save({"epoch": 100, "state_dict": {"module.linear." + k: v for k, v in head.state_dict().items()}},
                   os.path.join(out, f"vit_s_dino_{name}.pth"))
        with torch.no_grad():
            ref[f"vit_s_dino_{name}_logits"] = head(dino_features(s, x48, n, avgpool))

    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))
    import timm

    print(f"wrote ImageNet fixtures to {out} (torch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core/tests/fixtures/imagenet")
