#!/usr/bin/env python3
"""Writes the small ONNX fixtures of tests/test_onnx.c (committed while they are small).

Each case is a directory in ONNX's backend-test layout: model.onnx and test_data_set_0/ with
input_0.pb and output_0.pb (TensorProto), the expected output computed by PyTorch (or, for the
hand-built tf2onnx-style model, by numpy). clnet runs them with its own backend-test runner
(clnet onnx-test tests/onnx/cases). The models come from torch.onnx.export(..., dynamo=False,
training=TrainingMode.PRESERVE, do_constant_folding=False), so that BatchNormalization stays a node
and x.view(n, -1) stays the Shape/Gather/Unsqueeze/Concat/Reshape chain PyTorch writes for it.

    python3 tests/onnx/make_models.py            # writes tests/onnx/cases/ and tests/onnx/bad/

Needs torch and onnx (pip); CI never runs it.
"""
import os
import shutil
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
BAD = os.path.join(HERE, "bad")


def randomise_bn(model, g):
    """Non-trivial running statistics and affine parameters, so inference-form BN is tested."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def write_case(name, model, x, opset, train=False, open_hw=False):
    d = os.path.join(CASES, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    model.train(train)
    torch.onnx.export(model, (x,), os.path.join(d, "model.onnx"), dynamo=False,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N", 2: "H", 3: "W"} if open_hw else {0: "N"}, "output": {0: "N"}},
                      opset_version=opset)
    model.train(train)
    with torch.no_grad():
        y = model(x)
    for k, t in (("input_0", x), ("output_0", y)):
        p = numpy_helper.from_array(t.detach().numpy().astype(np.float32), k)
        with open(os.path.join(d, "test_data_set_0", k + ".pb"), "wb") as f:
            f.write(p.SerializeToString())


class Residual(nn.Module):
    """conv-BN-ReLU, a BasicBlock with a 1x1 stride-2 projection, global pool, linear. Exported with
    H and W open, so that it also trains on the test suite's 32x32 CIFAR files."""

    def __init__(s):
        super().__init__()
        s.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        s.bn1 = nn.BatchNorm2d(8)
        s.pool = nn.MaxPool2d(2)
        s.c2 = nn.Conv2d(8, 8, 3, 1, 1, bias=False)
        s.b2 = nn.BatchNorm2d(8)
        s.c3 = nn.Conv2d(8, 8, 3, 1, 1, bias=False)
        s.b3 = nn.BatchNorm2d(8)
        s.down = nn.Conv2d(8, 16, 1, 2, 0)
        s.fc = nn.Linear(16, 10)

    def forward(s, x):
        x = s.pool(torch.relu(s.bn1(s.conv1(x))))
        y = torch.relu(s.b2(s.c2(x)))
        x = torch.relu(s.b3(s.c3(y)) + x)
        x = torch.relu(s.down(x))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return s.fc(x)


class ViewHead(nn.Module):
    """max pool with padding, x.view(n, -1) of a spatial tensor (Gemm's columns in NCHW order),
    dropout, ReLU6, a second Linear."""

    def __init__(s):
        super().__init__()
        s.conv = nn.Conv2d(3, 6, 3, 1, 1)
        s.bn = nn.BatchNorm2d(6, eps=1e-3, momentum=0.2)
        s.pool = nn.MaxPool2d(3, 2, 1)
        s.drop = nn.Dropout(0.25)
        s.fc1 = nn.Linear(6 * 5 * 5, 12)
        s.fc2 = nn.Linear(12, 4)

    def forward(s, x):
        x = s.pool(torch.relu(s.bn(s.conv(x))))
        x = x.view(x.size(0), -1)
        return s.fc2(nn.functional.relu6(s.fc1(s.drop(x))))


class Activations(nn.Module):
    """the activations of MobileNet/EfficientNet-style nets, a squeeze-and-excitation gate, average
    pooling, channel concatenation, global max pooling."""

    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(3, 8, 3, 1, 1)
        s.c2 = nn.Conv2d(8, 8, 1)
        s.se1 = nn.Conv2d(8, 4, 1)
        s.se2 = nn.Conv2d(4, 8, 1)
        s.c3 = nn.Conv2d(16, 8, 3, 1, 1)
        s.fc = nn.Linear(8, 5)

    def forward(s, x):
        x = nn.functional.leaky_relu(s.c1(x), 0.1)
        a = nn.functional.hardswish(s.c2(x))
        b = torch.tanh(x) * torch.sigmoid(x)
        g = torch.sigmoid(s.se2(nn.functional.silu(s.se1(nn.functional.adaptive_avg_pool2d(a, 1)))))
        a = a * g
        x = torch.cat([a, nn.functional.hardsigmoid(b)], 1)
        x = nn.functional.avg_pool2d(torch.clamp(s.c3(x), -1.5, 2.0), 2)
        x = torch.flatten(nn.functional.adaptive_max_pool2d(x, 1), 1)
        return s.fc(x)


def keras_like(rng):
    """What tf2onnx writes for a small Keras model: an NHWC input, Transpose to NCHW, Conv with
    auto_pad SAME_UPPER, Relu, Transpose back, Reshape to (-1, K), MatMul + Add, Softmax."""
    d = os.path.join(CASES, "keras_like")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    B = rng.standard_normal(4).astype(np.float32) * 0.1
    M = rng.standard_normal((8 * 8 * 4, 5)).astype(np.float32) * 0.05
    b = rng.standard_normal(5).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2], name="conv2d__6"),
        helper.make_node("Conv", ["nchw", "W", "B"], ["conv"], auto_pad="SAME_UPPER", kernel_shape=[3, 3],
                         strides=[1, 1], name="sequential/conv2d/Conv2D"),
        helper.make_node("Relu", ["conv"], ["relu"], name="sequential/conv2d/Relu"),
        helper.make_node("Transpose", ["relu"], ["nhwc"], perm=[0, 2, 3, 1], name="conv2d__9"),
        helper.make_node("Reshape", ["nhwc", "shape"], ["flat"], name="sequential/flatten/Reshape"),
        helper.make_node("MatMul", ["flat", "M"], ["mm"], name="sequential/dense/MatMul"),
        helper.make_node("Add", ["mm", "b"], ["logits"], name="sequential/dense/BiasAdd"),
        helper.make_node("Softmax", ["logits"], ["output"], axis=1, name="sequential/dense/Softmax"),
    ]
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B"), numpy_helper.from_array(M, "M"),
             numpy_helper.from_array(b, "b"), numpy_helper.from_array(np.array([-1, 256], np.int64), "shape")]
    g = helper.make_graph(nodes, "keras_like",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 8, 8, 3])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 5])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="tf2onnx-like")
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(d, "model.onnx"))
    x = rng.standard_normal((3, 8, 8, 3)).astype(np.float32)
    # the reference: numpy, NCHW convolution with SAME_UPPER padding (1 on each side here)
    xc = np.pad(x.transpose(0, 3, 1, 2), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((3, 4, 8, 8), np.float32)
    for i in range(8):
        for j in range(8):
            conv[:, :, i, j] = np.einsum("nchw,ochw->no", xc[:, :, i:i + 3, j:j + 3], W)
    conv += B[None, :, None, None]
    flat = np.maximum(conv, 0).transpose(0, 2, 3, 1).reshape(3, -1)
    z = flat @ M + b
    y = np.exp(z - z.max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    for k, t in (("input_0", x), ("output_0", y.astype(np.float32))):
        with open(os.path.join(d, "test_data_set_0", k + ".pb"), "wb") as f:
            f.write(numpy_helper.from_array(t, k).SerializeToString())


def keras_like_gap(rng):
    """tf2onnx's shapes for Keras' ZeroPadding2D + Conv2D(padding='valid') + GlobalAveragePooling2D:
    an NHWC input, Transpose to NCHW, Pad with zeros, Conv, Relu, Transpose back, ReduceMean over
    H and W (keepdims 0), MatMul + Add, Softmax."""
    d = os.path.join(CASES, "keras_like_gap")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    W = rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3
    M = rng.standard_normal((6, 4)).astype(np.float32) * 0.5
    b = rng.standard_normal(4).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2], name="transpose_in"),
        helper.make_node("Pad", ["nchw", "pads"], ["padded"], mode="constant", name="zero_padding2d"),
        helper.make_node("Conv", ["padded", "W"], ["conv"], kernel_shape=[3, 3], name="conv2d"),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("Transpose", ["relu"], ["nhwc"], perm=[0, 2, 3, 1], name="transpose_out"),
        helper.make_node("ReduceMean", ["nhwc"], ["gap"], axes=[1, 2], keepdims=0, name="global_average_pooling2d"),
        helper.make_node("MatMul", ["gap", "M"], ["mm"], name="dense/MatMul"),
        helper.make_node("Add", ["mm", "b"], ["logits"], name="dense/BiasAdd"),
        helper.make_node("Softmax", ["logits"], ["output"], axis=1, name="dense/Softmax"),
    ]
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(M, "M"), numpy_helper.from_array(b, "b"),
             numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")]
    g = helper.make_graph(nodes, "keras_like_gap",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 6, 6, 3])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="tf2onnx-like")
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(d, "model.onnx"))
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    xc = np.pad(x.transpose(0, 3, 1, 2), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((2, 6, 6, 6), np.float32)
    for i in range(6):
        for j in range(6):
            conv[:, :, i, j] = np.einsum("nchw,ochw->no", xc[:, :, i:i + 3, j:j + 3], W)
    z = np.maximum(conv, 0).mean((2, 3)) @ M + b
    y = np.exp(z - z.max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    for k, t in (("input_0", x), ("output_0", y.astype(np.float32))):
        with open(os.path.join(d, "test_data_set_0", k + ".pb"), "wb") as f:
            f.write(numpy_helper.from_array(t, k).SerializeToString())


def bad_models():
    """Models clnet must refuse with a message naming the node, its op and what is wrong."""
    shutil.rmtree(BAD, ignore_errors=True)
    os.makedirs(BAD)
    W = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "W")
    inp = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])]

    def save(name, nodes, inits, inputs=inp, outputs=out, opset=13, check=True):
        m = helper.make_model(helper.make_graph(nodes, name, inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", opset)])
        if check:
            onnx.checker.check_model(m)
        onnx.save(m, os.path.join(BAD, name + ".onnx"))

    tail = [helper.make_node("GlobalAveragePool", ["c"], ["p"], name="pool"),
            helper.make_node("Flatten", ["p"], ["y"], name="flat")]
    # an op clnet does not have
    save("unsupported_op", [helper.make_node("Conv", ["x", "W"], ["c0"], kernel_shape=[3, 3], name="conv"),
                            helper.make_node("Erf", ["c0"], ["c"], name="erf")] + tail, [W])
    # an attribute value clnet does not take: dilated max pooling
    save("unsupported_attr", [helper.make_node("Conv", ["x", "W"], ["c0"], kernel_shape=[3, 3], name="conv"),
                              helper.make_node("MaxPool", ["c0"], ["c"], kernel_shape=[2, 2], dilations=[2, 2],
                                               name="pool2")] + tail, [W])
    # a weight that is not an initializer: Conv's W computed from the data
    save("weight_from_data", [helper.make_node("Conv", ["x", "x"], ["c"], kernel_shape=[3, 3], name="conv")] + tail,
         [])
    # an initializer that is named but missing
    save("missing_initializer", [helper.make_node("Conv", ["x", "W2"], ["c"], kernel_shape=[3, 3], name="conv")] + tail,
         [W], check=False)
    # two nodes writing one name
    save("name_collision", [helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[3, 3], name="conv"),
                            helper.make_node("Relu", ["x"], ["c"], name="relu")] + tail, [W], check=False)
    # a cycle
    save("cycle", [helper.make_node("Conv", ["x", "W"], ["c0"], kernel_shape=[3, 3], name="conv"),
                   helper.make_node("Add", ["c0", "c1"], ["c"], name="add"),
                   helper.make_node("Relu", ["c"], ["c1"], name="relu")] + tail, [W], check=False)
    # broadcasting a constant: Add(x, bias)
    bias = numpy_helper.from_array(np.ones((1, 2, 1, 1), np.float32), "bias")
    save("const_add", [helper.make_node("Conv", ["x", "W"], ["c0"], kernel_shape=[3, 3], name="conv"),
                       helper.make_node("Add", ["c0", "bias"], ["c"], name="biasadd")] + tail, [W, bias])


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    os.makedirs(CASES, exist_ok=True)
    m = Residual()
    randomise_bn(m, g)
    write_case("residual", m, torch.randn(4, 3, 16, 16, generator=g), 13, open_hw=True)
    write_case("residual_train", m, torch.randn(4, 3, 16, 16, generator=g), 15, train=True)
    m = ViewHead()
    randomise_bn(m, g)
    write_case("view_head", m, torch.randn(3, 3, 10, 10, generator=g), 13)
    m = Activations()
    write_case("activations", m, torch.randn(2, 3, 8, 8, generator=g), 17)
    keras_like(np.random.default_rng(2))
    keras_like_gap(np.random.default_rng(3))
    bad_models()
    total = sum(os.path.getsize(os.path.join(r, f)) for d in (CASES, BAD) for r, _, fs in os.walk(d) for f in fs)
    print("wrote %s and %s (%.1f KiB)" % (CASES, BAD, total / 1024.0))


if __name__ == "__main__":
    sys.exit(main())
