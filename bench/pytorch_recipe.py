#!/usr/bin/env python3
"""clnet's `--recipe fast` and the same recipe in PyTorch, on the same data, side by side.

Trains the seed's ResNet (bench/pytorch_resnet18.py's PyTorch twin) on Fashion-MNIST from
Debian's dataset-fashion-mnist with exactly the options `clnet train --recipe fast` prints:
Nesterov SGD (momentum 0.9) with decoupled weight decay on kernels and dense weights
(p -= lr*wd*p, as clnet), clnet's one-cycle schedule per step (linear from lr/div_factor to lr
over pct_start of the run, then linear to min_lr), label smoothing, BN momentum (Keras form m ->
PyTorch 1 - m), pad-and-crop translations, alternating flips (random in epoch 0, then every image
the other way) and flip TTA for validation. Then runs `clnet train` with the same flags, and
prints both curves (test accuracy per epoch) and the wall time of each, start-up included.

    python3 bench/pytorch_recipe.py [--epochs 8] [--width 16] [--batch 256] [--threads N]
                                    [--clnet build/clnet] [--skip-clnet] [--skip-torch]
                                    [--extra "--label-smoothing 0.1 ..."]

Never needed by the tests; PyTorch from PyPI (pip install torch).
"""
import argparse
import gzip
import math
import os
import re
import struct
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from pytorch_resnet18 import ResNet  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def idx(path):
    op = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with op(path, "rb") as f:
        magic = struct.unpack(">I", f.read(4))[0]
        dims = [struct.unpack(">I", f.read(4))[0] for _ in range(magic & 0xFF)]
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).reshape(dims)


def find(stem):
    for suffix in ("", ".gz"):
        p = os.path.join(DATA, stem + suffix)
        if os.path.exists(p):
            return p
    sys.exit(f"{stem} not in {DATA} (apt-get install dataset-fashion-mnist)")


def onecycle(step, total, lr, pct, div, min_lr):
    rise = pct * total
    if step < rise:
        return lr / div + (lr - lr / div) * step / rise
    return lr + (min_lr - lr) * (step - rise) / max(total - rise, 1)


def torch_run(a):
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    xtr = idx(find("train-images-idx3-ubyte")).float().div_(255).unsqueeze(1)
    ytr = idx(find("train-labels-idx1-ubyte")).long()
    xte = idx(find("t10k-images-idx3-ubyte")).float().div_(255).unsqueeze(1)
    yte = idx(find("t10k-labels-idx1-ubyte")).long()
    mean, std = xtr.mean().item(), xtr.std(unbiased=False).item()
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    black = (0 - mean) / std  # zero padding is pixel value 0, as clnet's
    model = ResNet([2, 2, 2, 2], a.width, 1, 10)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum, m.eps = 1 - a.bn_momentum, 1e-3
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.SGD([{"params": decay}, {"params": rest}], lr=a.lr, momentum=0.9, nesterov=True)
    n, B = len(xtr), a.batch
    steps = (n + B - 1) // B
    total = steps * a.epochs
    base_flip = torch.randint(0, 2, (n,), dtype=torch.bool)
    curve = []
    for e in range(a.epochs):
        model.train()
        order = torch.randperm(n)
        flip = base_flip ^ bool(e & 1)
        for b in range(steps):
            i = order[b * B:(b + 1) * B]
            x = xtr[i]
            x = torch.where(flip[i].view(-1, 1, 1, 1), x.flip(3), x)
            P = a.crop_pad
            if P:
                xp = F.pad(x, (P, P, P, P), value=black)
                dy = torch.randint(0, 2 * P + 1, (len(i),))
                dx = torch.randint(0, 2 * P + 1, (len(i),))
                ar = torch.arange(28)
                rows, cols = (dy[:, None] + ar)[:, :, None], (dx[:, None] + ar)[:, None, :]
                x = xp[torch.arange(len(i))[:, None, None], 0, rows, cols].unsqueeze(1)
            lr = onecycle(e * steps + b, total, a.lr, a.pct_start, 25, 0)
            for g in opt.param_groups:
                g["lr"] = lr
            loss = F.cross_entropy(model(x), ytr[i], label_smoothing=a.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                torch._foreach_mul_(decay, 1 - lr * a.weight_decay)
            opt.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for b in range(0, len(xte), 1000):
                x = xte[b:b + 1000]
                z = model(x) + model(x.flip(3))
                correct += (z.argmax(1) == yte[b:b + 1000]).sum().item()
        curve.append((correct / len(xte), time.time() - t0))
        print(f"pytorch epoch {e + 1}: val_accuracy {curve[-1][0]:.4f} at {curve[-1][1]:.0f} s", flush=True)
    return curve


def clnet_run(a):
    cmd = [a.clnet, "train", "--recipe", "fast", "--epochs", str(a.epochs), "--width", str(a.width), "--batch",
           str(a.batch), "--seed", str(a.seed), "--out", a.out] + a.extra.split()
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, CI="1"))
    curve = []
    for line in p.stdout:
        m = re.match(r"epoch (\d+): .* val_accuracy ([0-9.]+)", line)
        if m:
            curve.append((float(m.group(2)), time.time() - t0))
            print(f"clnet   epoch {m.group(1)}: val_accuracy {curve[-1][0]:.4f} at {curve[-1][1]:.0f} s", flush=True)
        elif line.startswith("recipe:"):
            print(line.rstrip())
    if p.wait():
        sys.exit(f"clnet train failed: {' '.join(cmd)}")
    return curve


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--clnet", default=os.path.join(os.path.dirname(__file__), "..", "build", "clnet"))
    ap.add_argument("--out", default="runs/recipe-fast")
    ap.add_argument("--extra", default="", help="more clnet train flags (also read for the PyTorch run's values)")
    ap.add_argument("--skip-clnet", action="store_true")
    ap.add_argument("--skip-torch", action="store_true")
    a = ap.parse_args()
    # the recipe's values, as clnet's fast recipe has them, overridable through --extra
    vals = {"lr": 0.2, "weight-decay": 5e-4, "label-smoothing": 0.1, "bn-momentum": 0.9, "crop-pad": 2,
            "pct-start": 0.25 if a.epochs > 2 else 0.3}
    words = a.extra.split()
    for k in range(0, len(words) - 1):
        if words[k].startswith("--") and words[k][2:] in vals:
            vals[words[k][2:]] = float(words[k + 1])
    a.lr, a.weight_decay, a.label_smoothing = vals["lr"], vals["weight-decay"], vals["label-smoothing"]
    a.bn_momentum, a.crop_pad, a.pct_start = vals["bn-momentum"], int(vals["crop-pad"]), vals["pct-start"]
    c = [] if a.skip_clnet else clnet_run(a)
    t = [] if a.skip_torch else torch_run(a)
    print("\nepoch  clnet acc  clnet s  pytorch acc  pytorch s")
    for e in range(a.epochs):
        ce = c[e] if e < len(c) else (math.nan, math.nan)
        te = t[e] if e < len(t) else (math.nan, math.nan)
        print(f"{e + 1:5d}  {ce[0]:9.4f}  {ce[1]:7.0f}  {te[0]:11.4f}  {te[1]:9.0f}")


if __name__ == "__main__":
    main()
