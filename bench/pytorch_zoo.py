#!/usr/bin/env python3
"""clnet against PyTorch for every zoo model: same network, same batch, same threads, one run.

Each model of `clnet_model_build` (host/models/) has its twin here, layer for layer: the same
kinds, channels, strides and paddings (clnet's "same" is TensorFlow's, asymmetric on even inputs
at stride 2: reproduced with explicit pads), Keras' batch norm (eps 1e-3, momentum 0.99 = torch
momentum 0.01) and Keras' Adam. For each model it runs `clnet bench --model NAME`, then times
PyTorch's training steps after two warm-up steps, and prints a table of both throughputs and
their ratio.

    python3 bench/pytorch_zoo.py [--models resnet18,mobilenet_v2,...] [--batch 64] [--input 32x32x3]
                                 [--steps 5] [--threads N] [--clnet build/clnet] [--device D]
                                 [--torch-device cpu|cuda]

--width W applies to every model (default: each model's own default width). PyTorch uses
--threads intra-op threads (default: every core, as PoCL does); --torch-device cuda: fp32,
TF32 off.
"""
import argparse
import math
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from pytorch_resnet18 import KerasAdam, ResNet, tf_same_pad  # noqa: E402

DEFAULT_WIDTH = {"resnet18": 64, "resnet34": 64, "resnet50": 64, "vgg11": 64, "mobilenet_v2": 32, "lenet": 6}


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class SameConv(nn.Module):
    """clnet conv with padding=same (TensorFlow's) or explicit pads."""

    def __init__(self, ci, co, k, stride=1, same=True, bias=True, groups=1, pads=None):
        super().__init__()
        self.conv = nn.Conv2d(ci, co, k, stride=stride, bias=bias, groups=groups)
        self.k, self.stride, self.same, self.pads = k, stride, same, pads

    def forward(self, x):
        if self.pads is not None:
            t, l, b, r = self.pads
            x = F.pad(x, [l, r, t, b])
        elif self.same:
            x = tf_same_pad(x, self.k, self.stride)
        return self.conv(x)


def stem(in_c, width):
    """The seed's stem: 3x3 valid conv with bias, BN, ReLU, 2x2 stride-1 same max-pool."""
    return nn.ModuleDict({"conv": SameConv(in_c, width, 3, same=False), "bn": bn(width)})


def run_stem(s, x):
    x = F.relu(s["bn"](s["conv"](x)))
    return F.max_pool2d(tf_same_pad(x, 2, 1, -math.inf), 2, 1)


class Bottleneck(nn.Module):
    def __init__(self, ci, width, stride):
        super().__init__()
        co = 4 * width
        self.c1, self.b1 = SameConv(ci, width, 1, bias=False), bn(width)
        self.c2, self.b2 = SameConv(width, width, 3, stride, bias=False), bn(width)
        self.c3, self.b3 = SameConv(width, co, 1, bias=False), bn(co)
        self.short = None
        if stride != 1 or ci != co:
            self.short = nn.Sequential(SameConv(ci, co, 1, stride, same=False, bias=False), bn(co))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = F.relu(self.b2(self.c2(y)))
        y = self.b3(self.c3(y))
        return F.relu(y + (self.short(x) if self.short is not None else x))


class ResNet50(nn.Module):
    def __init__(self, width, in_c, classes):
        super().__init__()
        self.stem = stem(in_c, width)
        layers, c = [], width
        for s, n in enumerate([3, 4, 6, 3]):
            for b in range(n):
                layers.append(Bottleneck(c, width << s, 2 if s > 0 and b == 0 else 1))
                c = 4 * (width << s)
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(self.layers(run_stem(self.stem, x)).mean(dim=(2, 3)))


class VGG11(nn.Module):
    PLAN = [1, 0, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0]

    def __init__(self, width, in_c, classes):
        super().__init__()
        mods, c = [], in_c
        for p in self.PLAN:
            if p == 0:
                mods.append(None)
            else:
                mods.append(nn.Sequential(SameConv(c, p * width, 3, bias=False), bn(p * width)))
                c = p * width
        self.convs = nn.ModuleList([m for m in mods if m is not None])
        self.plan = [m is None for m in mods]
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        it = iter(self.convs)
        for pool in self.plan:
            x = F.max_pool2d(tf_same_pad(x, 2, 2, -math.inf), 2, 2) if pool else F.relu(next(it)(x))
        return self.fc(x.mean(dim=(2, 3)))


def scaled(c, w):
    return max(1, (c * w + 16) // 32)


class InvertedResidual(nn.Module):
    def __init__(self, ci, co, t, stride):
        super().__init__()
        hidden = ci * t
        self.expand = None if t == 1 else nn.Sequential(SameConv(ci, hidden, 1, bias=False), bn(hidden))
        self.dw = nn.Sequential(SameConv(hidden, hidden, 3, stride, bias=False, groups=hidden, pads=(1, 1, 1, 1)),
                                bn(hidden))
        self.project = nn.Sequential(SameConv(hidden, co, 1, bias=False), bn(co))
        self.residual = stride == 1 and ci == co

    def forward(self, x):
        y = x if self.expand is None else F.relu6(self.expand(x))
        y = self.project(F.relu6(self.dw(y)))
        return y + x if self.residual else y


class MobileNetV2(nn.Module):
    BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
              (6, 320, 1, 1)]

    def __init__(self, width, in_c, classes):
        super().__init__()
        c = scaled(32, width)
        self.stem = nn.Sequential(SameConv(in_c, c, 3, bias=False), bn(c))
        blocks = []
        for t, ch, n, s in self.BLOCKS:
            for b in range(n):
                oc = scaled(ch, width)
                blocks.append(InvertedResidual(c, oc, t, s if b == 0 else 1))
                c = oc
        self.blocks = nn.Sequential(*blocks)
        last = max(1280, scaled(1280, width))
        self.head = nn.Sequential(SameConv(c, last, 1, bias=False), bn(last))
        self.fc = nn.Linear(last, classes)

    def forward(self, x):
        x = self.blocks(F.relu6(self.stem(x)))
        return self.fc(F.relu6(self.head(x)).mean(dim=(2, 3)))


class LeNet(nn.Module):
    def __init__(self, width, in_c, classes, h, w):
        super().__init__()
        c2, f1, f2 = (16 * width + 3) // 6, (120 * width + 3) // 6, (84 * width + 3) // 6
        self.c1 = SameConv(in_c, width, 5)
        self.c2 = SameConv(width, c2, 5, same=False)
        oh, ow = ((h // 2) - 4) // 2, ((w // 2) - 4) // 2
        self.f1, self.f2, self.f3 = nn.Linear(c2 * oh * ow, f1), nn.Linear(f1, f2), nn.Linear(f2, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2, 2)
        x = x.permute(0, 2, 3, 1).flatten(1)  # clnet's dense reads NHWC order
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


def build(name, width, c, h, w, classes=10):
    if name == "resnet18":
        return ResNet([2, 2, 2, 2], width, c, classes)
    if name == "resnet34":
        return ResNet([3, 4, 6, 3], width, c, classes)
    if name == "resnet50":
        return ResNet50(width, c, classes)
    if name == "vgg11":
        return VGG11(width, c, classes)
    if name == "mobilenet_v2":
        return MobileNetV2(width, c, classes)
    if name == "lenet":
        return LeNet(width, c, classes, h, w)
    raise SystemExit(f"no PyTorch twin for '{name}'")


def torch_images_per_s(model, batch, c, h, w, steps, dev):
    opt = KerasAdam(model.parameters())
    x = torch.randn(batch, c, h, w, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return batch * steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,resnet50,vgg11,mobilenet_v2,lenet")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=0, help="0: each model's default")
    ap.add_argument("--input", default="32x32x3")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--clnet", default=os.path.join(os.path.dirname(__file__), "..", "build", "clnet"))
    ap.add_argument("--device", default=None, help="clnet --device")
    ap.add_argument("--torch-device", default="cpu", choices=["cpu", "cuda"])
    a = ap.parse_args()
    h, w, c = (int(v) for v in a.input.split("x"))
    dev = torch.device(a.torch_device)
    if a.torch_device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(a.threads)
    rows = []
    for name in a.models.split(","):
        width = a.width or DEFAULT_WIDTH[name]
        cmd = [a.clnet, "bench", "--model", name, "--batch", str(a.batch), "--width", str(width), "--input", a.input,
               "--steps", str(a.steps)] + (["--device", a.device] if a.device else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"clnet bench --model {name} failed:\n{out.stdout}{out.stderr}")
        clnet_ips = float(re.search(r"([0-9.]+) images/s", out.stdout).group(1))
        torch.manual_seed(1)
        model = build(name, width, c, h, w).to(dev).train()
        torch_ips = torch_images_per_s(model, a.batch, c, h, w, a.steps, dev)
        rows.append((name, width, clnet_ips, torch_ips))
        print(f"{name:14s} width {width:4d}: clnet {clnet_ips:8.1f} images/s, PyTorch {torch_ips:8.1f}, "
              f"ratio {clnet_ips / torch_ips:.2f}x", flush=True)
    where = f"CUDA, fp32, TF32 off" if a.torch_device == "cuda" else f"CPU, {a.threads} threads"
    print(f"\nbatch {a.batch}, input {a.input}, PyTorch {torch.__version__} ({where}), {a.steps} timed steps")
    print("| model | width | clnet images/s | PyTorch images/s | clnet / PyTorch |\n|---|---|---|---|---|")
    for name, width, ci, ti in rows:
        print(f"| {name} | {width} | {ci:.1f} | {ti:.1f} | {ci / ti:.2f}x |")


if __name__ == "__main__":
    main()
