#!/usr/bin/env python3
"""Reference values for hypersphere's adversarial contrastive learning (RoCL, ACL-DS, dual
BatchNorm), written independently of the Rust code.

Run with CPU PyTorch (any 2.x):
    python3 scripts/make_advcsl_fixtures.py core/tests/fixtures

Writes two files:

advcsl.json: loss cases. Each holds raw embeddings (view-major: row v*N+i is view v of image
  i), the settings, and in float64 the loss of z = u / |u| and its gradient with respect to
  every input, plus the number of cancelled (anchor, negative) pairs.
  - RoCL (Kim-Minseon/RoCL loss.py `NT_xent(..., 'Rep')` and attack_lib.py `get_loss`):
    the three-view term is the reference's own formula, the sum of the six positive-pair
    diagonal blocks of -log(exp(S) (1 - I) / rowsum + 1e-8) divided by 3N, plus 1/lambda times
    the two-view formula on the regulariser pair (adv, t2). One deliberate difference: the
    reference detaches the transposed operand of its similarity matrix; here the loss itself is
    differentiated.
  - ACL-DS (VITA-Group/Adversarial-Contrastive-Learning utils.py `nt_xent`, train_simCLR.py):
    (nt_xent(clean) + nt_xent(adv)) / 2 with the reference's interleaved-pair formula
    (exp(cos / t), column sum minus exp(1/t)); our view-major rows are interleaved first.
  - with A-FNC (a threshold rho): per-anchor loops instead, every negative k of anchor i with
    cos(z_i, z_k) > rho (detached) removed from the denominator, the positives never.

advcsl_dual_bn.safetensors (weights) and advcsl_dual_bn_io.safetensors: a CIFAR ResNet-18 of width 2 whose every BatchNorm is a pair
  ("normal", "pgd"), as ACL's resnet_multi_bn.py, with random BatchNorm parameters and running
  statistics, different per set. Names: torchvision's for the shared weights and the "normal"
  set; `bn_pgd.K.*` for the K-th BatchNorm of the "pgd" set in forward order (stem bn1, then per
  block bn1, bn2, downsample). The second file: inputs `x` [4, 3, 16, 16]; eval-mode features through each
  set (`features_normal`, `features_pgd`); train-mode features through the pgd set
  (`train_features_pgd`) and the running means of both sets after that forward
  (`after_pgd_running_mean`, `after_normal_running_mean`, the stem's bn1).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def save_file(tensors, path):
    """The safetensors layout (8-byte little-endian header length, JSON header, raw data),
    written directly so the script needs only torch."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().float().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)

torch.manual_seed(0)


# --- losses -----------------------------------------------------------------------------------

def normalise(u):
    return u / u.norm(dim=1, keepdim=True)


def rocl_nt_xent(z, views, tau):
    """Kim-Minseon/RoCL loss.py: pairwise_similarity + NT_xent (without the detach)."""
    n2 = z.shape[0]
    n = n2 // views
    sim = (z @ z.T) / tau
    e = torch.exp(sim) * (1 - torch.eye(n2, dtype=z.dtype))
    l = -torch.log(e / (e.sum(dim=1).view(n2, 1) + 1e-8) + 1e-8)
    total = torch.zeros((), dtype=z.dtype)
    for a in range(views):
        for b in range(views):
            if a != b:
                total = total + torch.diag(l[a * n:(a + 1) * n, b * n:(b + 1) * n]).sum()
    return total / n2


def acl_nt_xent(z_view_major, tau):
    """VITA-Group/Adversarial-Contrastive-Learning utils.py nt_xent on interleaved pairs."""
    n = z_view_major.shape[0] // 2
    order = [r for i in range(n) for r in (i, n + i)]  # (2i, 2i+1) = the two views of image i
    x = z_view_major[order]
    nrm = x.norm(p=2, dim=1, keepdim=True)
    x = (x @ x.t()) / (nrm * nrm.t()).clamp(min=1e-8)
    x = torch.exp(x / tau)
    idx = torch.arange(x.size()[0])
    idx[::2] += 1
    idx[1::2] -= 1
    x = x[idx]
    x = x.diag() / (x.sum(0) - torch.exp(torch.tensor(1 / tau, dtype=x.dtype)))
    return -torch.log(x).mean()


def fnc_pair_sum(z, views, tau, rho):
    """Sum over anchors i and positives p of -log(exp(s_ip) / sum_{k in D(i)} exp(s_ik)), D(i) =
    every k != i except negatives above rho; and the number of cancelled pairs."""
    m = z.shape[0]
    n = m // views
    sim = z @ z.T
    detached = sim.detach()
    total = torch.zeros((), dtype=z.dtype)
    cancelled = 0
    for i in range(m):
        pos = [k for k in range(m) if k != i and k % n == i % n]
        neg = [k for k in range(m) if k != i and k not in pos]
        flagged = [k for k in neg if rho is not None and detached[i, k].item() > rho]
        cancelled += len(flagged)
        denom = [k for k in range(m) if k != i and k not in flagged]
        logits = sim[i] / tau
        lse = torch.logsumexp(logits[denom], dim=0)
        for p in pos:
            total = total - (logits[p] - lse)
    return total, cancelled


def count_cancelled(z, views, rho):
    if rho is None:
        return 0
    return fnc_pair_sum(z.detach(), views, 1.0, rho)[1]


def rocl_case(name, n, d, tau, lam, rho):
    u3 = torch.randn(3 * n, d, dtype=torch.float64, requires_grad=True)
    ureg = torch.randn(2 * n, d, dtype=torch.float64, requires_grad=True)
    z3, zr = normalise(u3), normalise(ureg)
    if rho is None:
        loss = rocl_nt_xent(z3, 3, tau) + rocl_nt_xent(zr, 2, tau) / lam
    else:
        loss = fnc_pair_sum(z3, 3, tau, rho)[0] / (3 * n) + fnc_pair_sum(zr, 2, tau, rho)[0] / (2 * n) / lam
    g3, gr = torch.autograd.grad(loss, [u3, ureg])
    return {
        "name": name, "kind": "rocl", "n": n, "dim": d, "temperature": tau, "lambda": lam, "threshold": rho,
        "u": u3.detach().flatten().tolist(), "u_second": ureg.detach().flatten().tolist(),
        "loss": loss.item(), "grad": g3.flatten().tolist(), "grad_second": gr.flatten().tolist(),
        "negatives": 3 * n * (3 * n - 3) + 2 * n * (2 * n - 2),
        "cancelled": count_cancelled(z3, 3, rho) + count_cancelled(zr, 2, rho),
    }


def acl_ds_case(name, n, d, tau, rho):
    uc = torch.randn(2 * n, d, dtype=torch.float64, requires_grad=True)
    ua = torch.randn(2 * n, d, dtype=torch.float64, requires_grad=True)
    zc, za = normalise(uc), normalise(ua)
    if rho is None:
        loss = (acl_nt_xent(zc, tau) + acl_nt_xent(za, tau)) / 2
    else:
        loss = (fnc_pair_sum(zc, 2, tau, rho)[0] + fnc_pair_sum(za, 2, tau, rho)[0]) / (2 * n) / 2
    gc, ga = torch.autograd.grad(loss, [uc, ua])
    return {
        "name": name, "kind": "acl_ds", "n": n, "dim": d, "temperature": tau, "lambda": None, "threshold": rho,
        "u": uc.detach().flatten().tolist(), "u_second": ua.detach().flatten().tolist(),
        "loss": loss.item(), "grad": gc.flatten().tolist(), "grad_second": ga.flatten().tolist(),
        "negatives": 2 * (2 * n * (2 * n - 2)),
        "cancelled": count_cancelled(zc, 2, rho) + count_cancelled(za, 2, rho),
    }


# --- dual BatchNorm ---------------------------------------------------------------------------

class DualBN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.sets = nn.ModuleDict({"normal": nn.BatchNorm2d(c), "pgd": nn.BatchNorm2d(c)})

    def forward(self, x, name):
        return self.sets[name](x)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = DualBN(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = DualBN(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down_conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
            self.down_bn = DualBN(cout)
            self.down = True

    def forward(self, x, name):
        out = F.relu(self.bn1(self.conv1(x), name))
        out = self.bn2(self.conv2(out), name)
        identity = self.down_bn(self.down_conv(x), name) if self.down else x
        return F.relu(out + identity)

    def bns(self):
        return [self.bn1, self.bn2] + ([self.down_bn] if self.down else [])


class DualResNet18(nn.Module):
    def __init__(self, w):
        super().__init__()
        ws = [w, 2 * w, 4 * w, 8 * w]
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = DualBN(w)
        cin = w
        self.stages = nn.ModuleList()
        for i, (c, s) in enumerate(zip(ws, [1, 2, 2, 2])):
            self.stages.append(nn.ModuleList([Block(cin, c, s), Block(c, c, 1)]))
            cin = c
        self.fc = nn.Linear(8 * w, 10)

    def features(self, x, name):
        x = F.relu(self.bn1(self.conv1(x), name))
        for stage in self.stages:
            for block in stage:
                x = block(x, name)
        return x.mean(dim=(2, 3))

    def bns(self):
        out = [self.bn1]
        for stage in self.stages:
            for block in stage:
                out += block.bns()
        return out

    def state(self):
        """torchvision names for the shared weights and the normal set; bn_pgd.K for the pgd set."""
        t = {"conv1.weight": self.conv1.weight}
        def bn(prefix, b):
            for k in ["weight", "bias", "running_mean", "running_var"]:
                t[f"{prefix}.{k}"] = getattr(b, k)
        bn("bn1", self.bn1.sets["normal"])
        for si, stage in enumerate(self.stages):
            for bi, block in enumerate(stage):
                p = f"layer{si + 1}.{bi}"
                t[f"{p}.conv1.weight"] = block.conv1.weight
                bn(f"{p}.bn1", block.bn1.sets["normal"])
                t[f"{p}.conv2.weight"] = block.conv2.weight
                bn(f"{p}.bn2", block.bn2.sets["normal"])
                if block.down:
                    t[f"{p}.downsample.0.weight"] = block.down_conv.weight
                    bn(f"{p}.downsample.1", block.down_bn.sets["normal"])
        for k, b in enumerate(self.bns()):
            bn(f"bn_pgd.{k}", b.sets["pgd"])
        t["fc.weight"] = self.fc.weight
        t["fc.bias"] = self.fc.bias
        return {k: v.detach().clone().float().contiguous() for k, v in t.items()}


def dual_bn_fixture(path):
    model = DualResNet18(2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    save_file(model.state(), path)
    tensors = {}
    x = torch.rand(4, 3, 16, 16)
    model.eval()
    with torch.no_grad():
        tensors["features_normal"] = model.features(x, "normal").contiguous()
        tensors["features_pgd"] = model.features(x, "pgd").contiguous()
        model.train()
        tensors["train_features_pgd"] = model.features(x, "pgd").contiguous()
    tensors["after_pgd_running_mean"] = model.bn1.sets["pgd"].running_mean.detach().clone().contiguous()
    tensors["after_normal_running_mean"] = model.bn1.sets["normal"].running_mean.detach().clone().contiguous()
    tensors["x"] = x.contiguous()
    save_file(tensors, path.replace(".safetensors", "_io.safetensors"))
    diff = (tensors["features_normal"] - tensors["features_pgd"]).abs().max().item()
    print(f"dual BN: {len(model.bns())} BatchNorm pairs; max |normal - pgd| feature difference {diff:.4f}")


def main(folder):
    cases = [
        rocl_case("rocl", 4, 6, 0.5, 256.0, None),
        rocl_case("rocl_lambda_2", 4, 6, 0.5, 2.0, None),
        rocl_case("rocl_afnc", 4, 6, 0.5, 2.0, 0.3),
        acl_ds_case("acl_ds", 4, 6, 0.5, None),
        acl_ds_case("acl_ds_afnc", 5, 6, 0.2, 0.2),
    ]
    with open(os.path.join(folder, "advcsl.json"), "w") as f:
        json.dump({"generator": "scripts/make_advcsl_fixtures.py", "torch": torch.__version__, "cases": cases}, f)
    for c in cases:
        print(f"{c['name']:<14} loss {c['loss']:.6f}  cancelled {c['cancelled']}/{c['negatives']}")
    dual_bn_fixture(os.path.join(folder, "advcsl_dual_bn.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core/tests/fixtures")
