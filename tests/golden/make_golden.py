#!/usr/bin/env python3
"""Golden values for clnet's ResNet-18 from an independent PyTorch implementation.

What this computes
------------------
One training step of the network SPEC.md describes (clnet_resnet_build with
depth 18, width 4, 12x12x3 input, 10 classes) on a fixed batch of 4 images,
written from SPEC.md alone, not from clnet's code:

  * NHWC images are converted to NCHW here; conv kernels are kept in clnet's
    (KH, KW, C_in, C_out) layout and permuted to torch's (C_out, C_in, KH, KW)
    inside the forward pass, so their gradients come back in clnet's layout;
  * TensorFlow "same" padding with an explicit F.pad: out = ceil(in / s),
    total = max((out - 1) * s + k - in, 0), before = total // 2,
    after = total - before (zeros for convolutions, -inf for the max-pool);
  * stem: 3x3 valid conv -> BN -> ReLU -> 2x2 stride-1 "same" max-pool
    (pads 0 before, 1 after);
  * BasicBlock: conv3x3(stride, same) -> BN -> ReLU -> conv3x3(1, same) -> BN,
    shortcut identity or 1x1 stride-2 valid conv with bias and no BN,
    out = ReLU(main + shortcut); every conv has a bias;
  * BN in training mode: batch mean and BIASED batch variance over N*H*W,
    eps 1e-3; moving = moving * 0.99 + batch * 0.01 (biased variance);
  * global average pool, dense logits = x @ kernel^T + bias with the kernel
    stored (OUT, IN);
  * loss: softmax cross-entropy of the logits, mean over the batch;
  * one Keras Adam step (t = 1): m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2),
    p -= alpha_t * m / (sqrt(v) + eps), alpha_t = lr sqrt(1 - b2^t) / (1 - b1^t),
    lr 1e-3, b1 0.9, b2 0.999, eps 1e-7.

The step runs in float64 (the golden values) and again in float32 (printed
only: the float32-vs-float64 differences show how much float32 rounding noise
a correct float32 implementation carries, which is what tests/test_golden.c's
tolerances must admit).

Initial values
--------------
The script draws the initial values itself from a fixed numpy seed and stores
them, rounded to float32, in the golden file; tests/test_golden.c writes them
into clnet with clnet_graph_param_write, so the test does not depend on
clnet's initialiser and nothing here depends on clnet's code. Kernels are
Keras Glorot-uniform (limit sqrt(6 / (fan_in + fan_out)), fan = kh*kw*channels
for convs, IN and OUT for the dense layer). Biases, gamma, beta and the moving
statistics are deliberately NOT Keras' defaults (0, 1, 0, 0, 1) but small
random values (see init_params), so that a forward pass which ignored a bias,
gamma, beta or the old moving statistics would be caught; with the defaults
such bugs would be invisible in one step. Images are standard normal, labels
uniform in [0, 10).

File written (all F32 except "labels", which is I32; computed in float64 and
rounded once to float32):
  images (4, 12, 12, 3)     labels (4)          logits (4, 10)    loss (1)
  <name>            every parameter's initial value, clnet's names and layouts
                    (kernels, biases, gamma, beta, moving_mean, moving_variance)
  grad.<name>       the gradient of the mean loss, every trainable parameter
  stat.<name>       moving_mean / moving_variance after the training-mode forward
  updated.<name>    every trainable parameter after one Adam step
  __metadata__      configuration and the versions used

Regenerating
------------
From the repository root (only PyPI is needed; the default torch wheel works,
CPU is used either way):

    python3 -m venv /tmp/golden-venv
    /tmp/golden-venv/bin/pip install torch numpy safetensors
    /tmp/golden-venv/bin/python tests/golden/make_golden.py
    cmake -S . -B build && cmake --build build -j2
    (cd build && ctest -R test_golden --output-on-failure)

Options: --out PATH (default tests/golden/resnet18_w4_step.safetensors),
--seed N (default 20240601), --init FILE (initial values from a safetensors
file with clnet's names and layouts, e.g. one clnet wrote for this
configuration, instead of the drawn ones; the committed file does not use it).

Before writing, the script checks its float64 gradients against central
differences of the float64 loss (largest element of every parameter) and
stops if one disagrees; after writing, it reads the file back with the
official safetensors reader. The output is byte-identical from run to run
(the header is written in a fixed order). Another torch or numpy version may
change an occasional last float32 bit of the stored values, far below the
test's tolerances, and changes the versions recorded in the metadata.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import load_file

DEPTH_BLOCKS = [2, 2, 2, 2]  # ResNet-18
WIDTH = 4
IN_H, IN_W, IN_C = 12, 12, 3
CLASSES = 10
BATCH = 4
BN_EPS = 1e-3
BN_MOMENTUM = 0.99
LR, BETA1, BETA2, ADAM_EPS = 1e-3, 0.9, 0.999, 1e-7


# ---------------------------------------------------------------------------
# The layer list, in clnet's parameter order (host/models/resnet.c)
# ---------------------------------------------------------------------------
def layer_list():
    """[(kind, name, spec)]: conv spec (k, stride, padding, c_in, c_out); bn spec (c,); dense (in, out)."""
    layers = [("conv", "stem.conv", (3, 1, "valid", IN_C, WIDTH)), ("bn", "stem.bn", (WIDTH,))]
    c_in = WIDTH
    for s, n_blocks in enumerate(DEPTH_BLOCKS):
        filters = WIDTH << s
        for b in range(n_blocks):
            p = f"layer{s + 1}.{b}"
            stride = 2 if (s > 0 and b == 0) else 1
            layers += [
                ("conv", p + ".conv1", (3, stride, "same", c_in, filters)),
                ("bn", p + ".bn1", (filters,)),
                ("conv", p + ".conv2", (3, 1, "same", filters, filters)),
                ("bn", p + ".bn2", (filters,)),
            ]
            if stride != 1:
                layers.append(("conv", p + ".shortcut", (1, stride, "valid", c_in, filters)))
            c_in = filters
    layers.append(("dense", "fc", (c_in, CLASSES)))
    return layers


TRAINABLE_SUFFIXES = {"conv": ("kernel", "bias"), "bn": ("gamma", "beta"), "dense": ("kernel", "bias")}


def init_params(rng):
    """Initial values (float32 numpy arrays) under clnet's names, in clnet's order."""
    params = {}
    for kind, name, spec in layer_list():
        if kind == "conv":
            k, _, _, ci, co = spec
            limit = math.sqrt(6.0 / (k * k * ci + k * k * co))
            params[name + ".kernel"] = rng.uniform(-limit, limit, (k, k, ci, co))
            params[name + ".bias"] = rng.uniform(-0.1, 0.1, (co,))
        elif kind == "bn":
            (c,) = spec
            params[name + ".gamma"] = rng.uniform(0.5, 1.5, (c,))
            params[name + ".beta"] = rng.uniform(-0.2, 0.2, (c,))
            params[name + ".moving_mean"] = rng.uniform(-0.1, 0.1, (c,))
            params[name + ".moving_variance"] = rng.uniform(0.5, 1.5, (c,))
        else:
            fi, fo = spec
            limit = math.sqrt(6.0 / (fi + fo))
            params[name + ".kernel"] = rng.uniform(-limit, limit, (fo, fi))  # (OUT, IN)
            params[name + ".bias"] = rng.uniform(-0.1, 0.1, (fo,))
    return {k: v.astype(np.float32) for k, v in params.items()}


# ---------------------------------------------------------------------------
# Forward pass (NCHW inside)
# ---------------------------------------------------------------------------
def tf_same_pad(x, k, stride, value):
    """TensorFlow "same" padding of an NCHW tensor: pad after >= pad before."""
    pads = []
    for size in (x.shape[3], x.shape[2]):  # F.pad order: (W before, W after, H before, H after)
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        before = total // 2
        pads += [before, total - before]
    return F.pad(x, pads, value=value)


def forward(P, images_nhwc, new_stats):
    """Logits of a training-mode forward. P: name -> tensor; new_stats receives the updated moving statistics."""

    def conv(x, name, k, stride, padding):
        w = P[name + ".kernel"].permute(3, 2, 0, 1)  # (KH, KW, Cin, Cout) -> (Cout, Cin, KH, KW)
        if padding == "same":
            x = tf_same_pad(x, k, stride, 0.0)
        return F.conv2d(x, w, P[name + ".bias"], stride=stride)

    def bn(x, name):
        mean = x.mean(dim=(0, 2, 3))
        var = ((x - mean[None, :, None, None]) ** 2).mean(dim=(0, 2, 3))  # biased
        y = (x - mean[None, :, None, None]) / torch.sqrt(var + BN_EPS)[None, :, None, None]
        y = y * P[name + ".gamma"][None, :, None, None] + P[name + ".beta"][None, :, None, None]
        mm, mv = P[name + ".moving_mean"].detach(), P[name + ".moving_variance"].detach()
        new_stats[name + ".moving_mean"] = mm * BN_MOMENTUM + mean.detach() * (1.0 - BN_MOMENTUM)
        new_stats[name + ".moving_variance"] = mv * BN_MOMENTUM + var.detach() * (1.0 - BN_MOMENTUM)
        return y

    x = images_nhwc.permute(0, 3, 1, 2)  # NHWC -> NCHW
    x = conv(x, "stem.conv", 3, 1, "valid")
    x = F.relu(bn(x, "stem.bn"))
    x = F.max_pool2d(tf_same_pad(x, 2, 1, -math.inf), kernel_size=2, stride=1)
    for s, n_blocks in enumerate(DEPTH_BLOCKS):
        for b in range(n_blocks):
            p = f"layer{s + 1}.{b}"
            stride = 2 if (s > 0 and b == 0) else 1
            y = conv(x, p + ".conv1", 3, stride, "same")
            y = F.relu(bn(y, p + ".bn1"))
            y = conv(y, p + ".conv2", 3, 1, "same")
            y = bn(y, p + ".bn2")
            shortcut = conv(x, p + ".shortcut", 1, stride, "valid") if stride != 1 else x
            x = F.relu(y + shortcut)
    x = x.mean(dim=(2, 3))  # global average pool -> (N, C)
    return x @ P["fc.kernel"].t() + P["fc.bias"]


def trainable_names():
    names = []
    for kind, name, _ in layer_list():
        names += [f"{name}.{s}" for s in TRAINABLE_SUFFIXES[kind]]
    return names


def train_step(init, images, labels, dtype):
    """One training step in `dtype`: logits, loss, gradients, new moving statistics, Adam-updated parameters."""
    P = {k: torch.tensor(v, dtype=dtype) for k, v in init.items()}
    trainable = trainable_names()
    for n in trainable:
        P[n].requires_grad_(True)
    stats = {}
    logits = forward(P, torch.tensor(images, dtype=dtype), stats)
    loss = F.cross_entropy(logits, torch.tensor(labels, dtype=torch.int64), reduction="mean")
    grads = torch.autograd.grad(loss, [P[n] for n in trainable])
    grads = dict(zip(trainable, grads))
    t = 1
    alpha_t = LR * math.sqrt(1.0 - BETA2**t) / (1.0 - BETA1**t)
    updated = {}
    for n in trainable:
        g = grads[n]
        m = torch.zeros_like(g)
        v = torch.zeros_like(g)
        m = m + (g - m) * (1.0 - BETA1)
        v = v + (g * g - v) * (1.0 - BETA2)
        updated[n] = P[n].detach() - alpha_t * m / (torch.sqrt(v) + ADAM_EPS)
    out = {"logits": logits.detach(), "loss": loss.detach().reshape(1)}
    out.update({"grad." + n: g for n, g in grads.items()})
    out.update({"stat." + n: s for n, s in stats.items()})
    out.update({"updated." + n: u for n, u in updated.items()})
    # .contiguous(): the gradient of a permuted kernel comes back as a permuted
    # (non-contiguous) view, and safetensors would store its raw buffer.
    return {k: np.ascontiguousarray(v.contiguous().numpy()) for k, v in out.items()}


def check_gradients_fd(init, images, labels, r64, h=1e-6):
    """Self-check of the float64 gradients: central differences of the float64
    loss at the largest-gradient element of every trainable parameter."""
    def loss_at(name, idx, delta):
        P = {k: torch.tensor(v, dtype=torch.float64) for k, v in init.items()}
        P[name][idx] += delta
        logits = forward(P, torch.tensor(images, dtype=torch.float64), {})
        return F.cross_entropy(logits, torch.tensor(labels, dtype=torch.int64)).item()

    worst = (0.0, "")
    for n in trainable_names():
        g = r64["grad." + n]
        scale = layer_scales(r64)[layer_of("grad." + n)]
        idx = np.unravel_index(int(np.abs(g).argmax()), g.shape)
        fd = (loss_at(n, idx, h) - loss_at(n, idx, -h)) / (2 * h)
        rel = abs(fd - float(g[idx])) / scale
        if rel >= worst[0]:
            worst = (rel, f"{n}{list(map(int, idx))}: backward {float(g[idx]):.9g}, finite differences {fd:.9g}")
        if rel > 1e-5:
            sys.exit(f"gradient self-check failed: {worst[1]}")
    print(f"float64 gradients vs central differences (h {h}), worst / layer scale: {worst[0]:.2e} ({worst[1]})")


def layer_of(key):
    """'grad.layer1.0.conv1.kernel' -> 'layer1.0.conv1' (gradients of one layer share one scale)."""
    return key.split(".", 1)[1].rsplit(".", 1)[0]


def layer_scales(r):
    """Largest |gradient| of each layer (over its kernel and bias, or gamma and beta)."""
    scale = {}
    for k, v in r.items():
        if k.startswith("grad."):
            scale[layer_of(k)] = max(scale.get(layer_of(k), 0.0), float(np.abs(v).max()))
    return scale


def report_f32_noise(r64, r32, tol=1e-4):
    """Worst float32-vs-float64 difference per category, relative to the scale
    tests/test_golden.c uses: max|golden| of the tensor, or the layer's largest
    gradient for gradients; updated weights are compared in units of lr, leaving
    out (as the C test does) those whose gradient is within tol * layer scale of 0."""
    layer_scale = layer_scales(r64)
    worst = {}
    for k, v in r64.items():
        cat = k.split(".", 1)[0] if "." in k else k
        diff = np.abs(r32[k].astype(np.float64) - v)
        if cat == "grad":
            scale = layer_scale[layer_of(k)]
        elif cat == "updated":
            name = k.split(".", 1)[1]
            diff = diff[np.abs(r64["grad." + name]) > tol * layer_scale[layer_of(k)]]
            scale = LR
        else:
            scale = float(np.abs(v).max())
        rel = float(diff.max()) / scale if diff.size and scale > 0 else 0.0
        if rel >= worst.get(cat, (-1.0, ""))[0]:
            worst[cat] = (rel, k)
    print("float32 torch vs float64 torch, worst max|diff| / scale per category (updated: / lr):")
    for cat, (rel, k) in sorted(worst.items()):
        print(f"  {cat:8s} {rel:.3e}  ({k})")


def write_safetensors(path, tensors, metadata):
    """A safetensors file with a fixed byte layout (header in insertion order,
    metadata first), so that regenerating gives an identical file; the official
    writer stores the metadata in hash order. Read back with the official reader."""
    dtypes = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, v in tensors.items():
        data = np.ascontiguousarray(v).astype(v.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtypes[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "resnet18_w4_step.safetensors"))
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--init", metavar="SAFETENSORS",
                    help="take the initial parameter values from this file (e.g. a checkpoint clnet wrote for a "
                    "depth-18, width-4, 12x12x3, 10-class model) instead of drawing them")
    args = ap.parse_args()

    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)
    init = init_params(rng)  # always drawn, so the image stream does not depend on --init
    if args.init:
        given = load_file(args.init)
        for k, v in init.items():
            if k not in given or given[k].shape != v.shape:
                sys.exit(f"{args.init}: needs tensor {k} of shape {v.shape}")
            init[k] = given[k].astype(np.float32)
    images = rng.standard_normal((BATCH, IN_H, IN_W, IN_C)).astype(np.float32)
    labels = rng.integers(0, CLASSES, BATCH).astype(np.int32)

    r64 = train_step(init, images, labels, torch.float64)
    r32 = train_step(init, images, labels, torch.float32)
    check_gradients_fd(init, images, labels, r64)
    report_f32_noise(r64, r32)
    print(f"loss {r64['loss'][0]:.9f} (float32 run {r32['loss'][0]:.9f})")

    tensors = {"images": images, "labels": labels}
    tensors.update(init)
    tensors.update({k: v.astype(np.float32) for k, v in r64.items()})
    meta = {
        "generator": "tests/golden/make_golden.py",
        "model": f"ResNet-18 width {WIDTH}, input {IN_H}x{IN_W}x{IN_C}, {CLASSES} classes, batch {BATCH}",
        "seed": str(args.seed),
        "init": args.init or "drawn from the seed",
        "bn": f"eps {BN_EPS}, momentum {BN_MOMENTUM}, biased variance",
        "adam": f"lr {LR}, beta1 {BETA1}, beta2 {BETA2}, eps {ADAM_EPS}, t 1",
        "precision": "computed in float64, stored as float32",
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
    }
    write_safetensors(args.out, tensors, meta)
    back = load_file(args.out)  # round trip through the official reader: names, shapes, bits
    for k, v in tensors.items():
        if back[k].shape != v.shape or back[k].dtype != v.dtype or not np.array_equal(back[k], v):
            sys.exit(f"{args.out}: tensor {k} does not read back as written")
    with safe_open(args.out, "np") as f:
        if f.metadata() != meta or len(back) != len(tensors):
            sys.exit(f"{args.out}: metadata or tensor count does not read back as written")
    print(f"wrote {args.out}: {len(tensors)} tensors, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
