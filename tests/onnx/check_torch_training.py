#!/usr/bin/env python3
"""Trains torchvision's ResNet-18, imported from PyTorch through ONNX, with clnet and with PyTorch
from the same weights on the same batches, and compares the losses of the first steps; then trains
the imported model with `clnet train` for one epoch on CIFAR-format data and expects better than
chance (Adam at 1e-3, `--recipe seed`).

    check_torch_training.py --clnet build/clnet --steps-bin build/bench_onnx_train_steps
                            [--device D] [--width 64] [--steps 20] [--epoch-images 2048]

The tolerance is calibrated by the run itself, not guessed. Training a deep net is chaotic: two
float32 runs that differ only in summation order drift apart exponentially after a few steps, and
PyTorch in float32 drifts from PyTorch in float64 the same way. So per step s, with
e32(s) = max over s' <= s of |L_32(s') - L_64(s')| (float32's own drift so far):
    |L_clnet(s) - L_64(s)|  <=  10 * e32(s) + 1e-5 * L_64(s)
clnet may not drift from exact arithmetic faster than float32 PyTorch does (a factor of 10 for
other summation orders and Winograd convolutions); in the first steps, before the drift grows,
that is a bound near 1e-5 on the loss of the same forward pass, gradients and update.
One epoch "better than chance": validation accuracy above 1/10 by more than 3 binomial standard
deviations of the test set's size.
Exit status 0 pass, 1 fail, 77 skipped (no torch or onnx). CI does not depend on it."""
import argparse
import math
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx  # noqa: F401  torch.onnx.export needs it (without it: OnnxExporterError)
    import torch
    import torch.nn as nn
except ImportError as e:  # the check is optional
    print("skipped: %s" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


def torch_losses(model, batches, steps, lr, momentum, dtype):
    m = model.to(dtype)
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=momentum)
    out = []
    for s in range(steps):
        x, y = batches[s % len(batches)]
        opt.zero_grad()
        loss = nn.functional.cross_entropy(m(torch.from_numpy(x).to(dtype)), torch.from_numpy(y).long())
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clnet", required=True)
    ap.add_argument("--steps-bin", required=True)
    ap.add_argument("--device", default=None)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--epoch-images", type=int, default=2048)
    ap.add_argument("--test-images", type=int, default=512)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="clnet-torch-")
    env = dict(os.environ, CLNET_CACHE_DIR=os.path.join(tmp, "cache"), CI="1")
    torch.manual_seed(0)
    model = torch_models.resnet18(10, a.width)
    path = os.path.join(tmp, "resnet18.onnx")
    torch_models.export(model, path, (3, 32, 32), train=True)

    # the same batches for both: normalised float32, NCHW
    (train_y, train_x), _ = torch_models.write_cifar(os.path.join(tmp, "data"), a.epoch_images, a.test_images, 5)
    xs = train_x.astype(np.float32) / 255.0
    mean, std = xs.mean((0, 2, 3), keepdims=True), xs.std((0, 2, 3), keepdims=True)
    xs = ((xs - mean) / std).astype(np.float32)
    nb = min(a.steps, len(xs) // a.batch)
    batches = [(xs[i * a.batch:(i + 1) * a.batch], train_y[i * a.batch:(i + 1) * a.batch].astype(np.int32))
               for i in range(nb)]
    bpath = os.path.join(tmp, "batches.bin")
    with open(bpath, "wb") as f:
        f.write(b"CLB1")
        np.array([nb, a.batch, 3, 32, 32], np.int32).tofile(f)
        for x, y in batches:
            x.tofile(f)
            y.tofile(f)
    cmd = [a.steps_bin, path, bpath, "--steps", str(a.steps), "--lr", str(a.lr), "--momentum", "0.9"]
    if a.device:
        cmd += ["--device", a.device]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        return 1
    sys.stderr.write(r.stderr)
    ours = [float(line.split(",")[1]) for line in r.stdout.strip().splitlines()[1:]]
    import copy
    l32 = torch_losses(copy.deepcopy(model), batches, a.steps, a.lr, 0.9, torch.float32)
    l64 = torch_losses(copy.deepcopy(model), batches, a.steps, a.lr, 0.9, torch.float64)
    ok = len(ours) == a.steps
    e32 = 0.0
    print("step  clnet        torch fp32   torch fp64   |clnet-fp64|  bound")
    for k in range(a.steps):
        e32 = max(e32, abs(l32[k] - l64[k]))
        d, bound = abs(ours[k] - l64[k]), 10 * e32 + 1e-5 * abs(l64[k])
        ok &= d <= bound
        print("%4d  %.7f    %.7f    %.7f    %.2e      %.2e %s" % (k, ours[k], l32[k], l64[k], d, bound,
                                                              "" if d <= bound else "FAIL"))

    # one epoch with clnet train: better than chance
    out = os.path.join(tmp, "run")
    cmd = [a.clnet, "train", "--model", path, "--data", os.path.join(tmp, "data"), "--epochs", "1", "--batch", "64",
           "--recipe", "seed", "--out", out]  # Adam at 1e-3: the fast recipe's peak rate is tuned to clnet's zoo
    if a.device:
        cmd += ["--device", a.device]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    print(r.stdout[-2000:] + r.stderr[-2000:])
    acc = re.findall(r"val_accuracy ([0-9.]+)", r.stdout)
    chance = 0.1 + 3 * math.sqrt(0.1 * 0.9 / a.test_images)
    if r.returncode != 0 or not acc or float(acc[-1]) <= chance:
        print("one epoch: validation accuracy %s, needed > %.3f" % (acc[-1] if acc else "?", chance))
        ok = False
    else:
        print("one epoch on %d images: validation accuracy %s (chance + 3 sigma: %.3f)" % (a.epoch_images, acc[-1], chance))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
