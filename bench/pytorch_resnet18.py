#!/usr/bin/env python3
"""clnet against PyTorch on the same machine, same network, same batch, in one run.

Builds the seed's ResNet (SPEC.md: valid 3x3 stem, BN, ReLU, 2x2 stride-1
"same" max-pool, BasicBlocks with TensorFlow's asymmetric "same" padding,
1x1 stride-2 shortcut convs with bias and no BN, global average pool, dense)
in PyTorch with Keras' BN (eps 1e-3, momentum 0.99 = torch momentum 0.01) and
Keras' Adam update (m += (g-m)(1-b1), v += (g^2-v)(1-b2),
p -= alpha_t m / (sqrt(v) + eps)), times training steps after warm-up, runs
`clnet bench --model` with the same configuration, and prints both
throughputs and their ratio.

    python3 bench/pytorch_resnet18.py [--batch 64] [--width 64] [--input 32x32x3]
                                      [--steps 10] [--threads N] [--clnet build/clnet]
                                      [--device D] [--torch-device cpu|cuda]

PyTorch uses --threads intra-op threads (default: every core, as PoCL does).
--torch-device cuda runs PyTorch on the GPU in fp32 with TF32 off (OpenCL
cannot reach tensor cores), timed between CUDA synchronisations; --device
picks clnet's device (`clnet devices`).
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


def tf_same_pad(x, k, stride, value=0.0):
    pads = []
    for size in (x.shape[3], x.shape[2]):
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class Conv(nn.Module):
    def __init__(self, ci, co, k, stride, padding):
        super().__init__()
        self.conv = nn.Conv2d(ci, co, k, stride=stride, bias=True)
        self.k, self.stride, self.same = k, stride, padding == "same"

    def forward(self, x):
        return self.conv(tf_same_pad(x, self.k, self.stride) if self.same else x)


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class Block(nn.Module):
    def __init__(self, ci, co, stride):
        super().__init__()
        self.conv1, self.bn1 = Conv(ci, co, 3, stride, "same"), bn(co)
        self.conv2, self.bn2 = Conv(co, co, 3, 1, "same"), bn(co)
        self.shortcut = Conv(ci, co, 1, stride, "valid") if stride != 1 else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet(nn.Module):
    def __init__(self, blocks, width, in_c, classes):
        super().__init__()
        self.stem, self.stem_bn = Conv(in_c, width, 3, 1, "valid"), bn(width)
        layers, c = [], width
        for s, n in enumerate(blocks):
            for b in range(n):
                layers.append(Block(c, width << s, 2 if (s > 0 and b == 0) else 1))
                c = width << s
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        x = F.max_pool2d(tf_same_pad(x, 2, 1, -math.inf), 2, 1)
        x = self.layers(x)
        return self.fc(x.mean(dim=(2, 3)))


class KerasAdam:
    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        self.p = [p for p in params if p.requires_grad]
        self.m = [torch.zeros_like(p) for p in self.p]
        self.v = [torch.zeros_like(p) for p in self.p]
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        alpha = self.lr * math.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        g = [p.grad for p in self.p]
        torch._foreach_lerp_(self.m, g, 1 - self.b1)  # m += (g - m)(1 - b1)
        torch._foreach_mul_(self.v, self.b2)
        torch._foreach_addcmul_(self.v, g, g, 1 - self.b2)  # v = b2 v + (1 - b2) g^2
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.p, self.m, denom, -alpha)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--input", default="32x32x3")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--clnet", default=os.path.join(os.path.dirname(__file__), "..", "build", "clnet"))
    ap.add_argument("--device", default=None, help="clnet --device")
    ap.add_argument("--torch-device", default="cpu", choices=["cpu", "cuda"],
                    help="where PyTorch runs (cuda: fp32, TF32 off)")
    a = ap.parse_args()
    h, w, c = (int(v) for v in a.input.split("x"))

    cmd = [a.clnet, "bench", "--model", "resnet18", "--batch", str(a.batch), "--width", str(a.width),
           "--input", a.input, "--steps", str(a.steps)] + (["--device", a.device] if a.device else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"clnet bench failed:\n{out.stdout}{out.stderr}")
    print(out.stdout, end="")
    clnet_ips = float(re.search(r"([0-9.]+) images/s", out.stdout).group(1))

    dev = torch.device(a.torch_device)
    if a.torch_device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--torch-device cuda: PyTorch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = ResNet([2, 2, 2, 2], a.width, c, 10).to(dev).train()
    opt = KerasAdam(model.parameters())
    x = torch.randn(a.batch, c, h, w, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)
    sync = torch.cuda.synchronize if a.torch_device == "cuda" else (lambda: None)

    def step():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    secs = time.perf_counter() - t0
    torch_ips = a.batch * a.steps / secs
    where = (f"CUDA ({torch.cuda.get_device_name(0)}), fp32, TF32 off" if a.torch_device == "cuda"
             else f"CPU, {a.threads} threads")
    print(f"PyTorch {torch.__version__} {where}: {secs / a.steps * 1e3:.1f} ms per step, "
          f"{torch_ips:.1f} images/s")
    print(f"clnet / PyTorch: {clnet_ips / torch_ips:.2f}x")


if __name__ == "__main__":
    main()
