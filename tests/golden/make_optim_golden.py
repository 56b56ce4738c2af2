#!/usr/bin/env python3
"""Golden values for clnet's optimizers from PyTorch's own: torch.optim.AdamW and torch.optim.SGD
(momentum, and Nesterov), three steps each on the trainable parameters of a small graph
(tests/test_golden.c builds it: conv "c" 3x3 2->3 with bias, batchnorm "b", dense "d" 3->5 with
bias), with fixed gradients per step, in float64, rounded once to float32.

clnet's conventions, and how PyTorch is driven to them:
  * weight decay applies to parameters of two or more dimensions (c.kernel, d.kernel) only:
    AdamW gets two parameter groups (weight_decay and 0);
  * SGD's weight decay is decoupled (p -= lr*wd*p from the value before the step): PyTorch's
    SGD weight_decay is an L2 term added to the gradient, so here torch.optim.SGD runs with
    weight_decay 0 and the decayed parameters are scaled by (1 - lr*wd) before each step, which
    is the same update since the step does not depend on p.

File (F32): p0.<name> (initial values), grad<k>.<name> (k = 1..3), <opt>.<name> after three
steps for opt in adamw, sgd, nesterov; __metadata__ with the hyperparameters and versions.

    python3 tests/golden/make_optim_golden.py [--out tests/golden/optim_steps.safetensors]
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import write_safetensors  # noqa: E402

SHAPES = {"c.kernel": (3, 3, 2, 3), "c.bias": (3,), "b.gamma": (3,), "b.beta": (3,), "d.kernel": (5, 3), "d.bias": (5,)}
ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
SGD = dict(lr=0.1, momentum=0.9, weight_decay=0.01)
STEPS = 3


def run(kind, p0, grads):
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in p0.items()}
    decayed = [params[k] for k in SHAPES if len(SHAPES[k]) >= 2]
    plain = [params[k] for k in SHAPES if len(SHAPES[k]) < 2]
    if kind == "adamw":
        opt = torch.optim.AdamW([{"params": decayed}, {"params": plain, "weight_decay": 0.0}], **ADAMW)
    else:
        opt = torch.optim.SGD(decayed + plain, lr=SGD["lr"], momentum=SGD["momentum"], nesterov=kind == "nesterov",
                              weight_decay=0.0)
    for s in range(STEPS):
        for k, p in params.items():
            p.grad = torch.tensor(grads[s][k], dtype=torch.float64)
        if kind != "adamw":
            with torch.no_grad():
                for p in decayed:
                    p.mul_(1 - SGD["lr"] * SGD["weight_decay"])
        opt.step()
    return {k: p.detach().numpy().astype(np.float32) for k, p in params.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "optim_steps.safetensors"))
    a = ap.parse_args()
    rng = np.random.default_rng(20261202)
    p0 = {k: rng.uniform(-1, 1, s).astype(np.float32) for k, s in SHAPES.items()}
    grads = [{k: rng.uniform(-1, 1, s).astype(np.float32) for k, s in SHAPES.items()} for _ in range(STEPS)]
    out = {f"p0.{k}": v for k, v in p0.items()}
    for s in range(STEPS):
        out.update({f"grad{s + 1}.{k}": v for k, v in grads[s].items()})
    for kind in ("adamw", "sgd", "nesterov"):
        out.update({f"{kind}.{k}": v for k, v in run(kind, p0, grads).items()})
    meta = {"adamw": str(ADAMW), "sgd": str(SGD), "steps": str(STEPS), "torch": torch.__version__,
            "numpy": np.__version__}
    write_safetensors(a.out, out, meta)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
