"""torchvision's ResNet-18 and ResNet-50 architectures (torchvision.models.resnet: 7x7 stride-2 stem,
3x3 stride-2 max pool, BasicBlock / Bottleneck stages, 1x1 projections with BN, global average
pool, fc), written out so that the checks need torch alone; and the export and synthetic
CIFAR-format data the checks share. Used by check_ort.py and check_torch_training.py."""
import os

import numpy as np
import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(s, cin, c, stride):
        super().__init__()
        s.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        s.bn1 = nn.BatchNorm2d(c)
        s.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        s.bn2 = nn.BatchNorm2d(c)
        s.relu = nn.ReLU(inplace=True)
        s.downsample = None
        if stride != 1 or cin != c:
            s.downsample = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(s, x):
        y = s.relu(s.bn1(s.conv1(x)))
        y = s.bn2(s.conv2(y))
        return s.relu(y + (x if s.downsample is None else s.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(s, cin, c, stride):
        super().__init__()
        s.conv1 = nn.Conv2d(cin, c, 1, bias=False)
        s.bn1 = nn.BatchNorm2d(c)
        s.conv2 = nn.Conv2d(c, c, 3, stride, 1, bias=False)
        s.bn2 = nn.BatchNorm2d(c)
        s.conv3 = nn.Conv2d(c, 4 * c, 1, bias=False)
        s.bn3 = nn.BatchNorm2d(4 * c)
        s.relu = nn.ReLU(inplace=True)
        s.downsample = None
        if stride != 1 or cin != 4 * c:
            s.downsample = nn.Sequential(nn.Conv2d(cin, 4 * c, 1, stride, bias=False), nn.BatchNorm2d(4 * c))

    def forward(s, x):
        y = s.relu(s.bn1(s.conv1(x)))
        y = s.relu(s.bn2(s.conv2(y)))
        y = s.bn3(s.conv3(y))
        return s.relu(y + (x if s.downsample is None else s.downsample(x)))


class ResNet(nn.Module):
    def __init__(s, block, layers, num_classes=10, width=64):
        super().__init__()
        s.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        s.bn1 = nn.BatchNorm2d(width)
        s.relu = nn.ReLU(inplace=True)
        s.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = width
        stages = []
        for i, n in enumerate(layers):
            c = width * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(block(cin, c, 2 if (j == 0 and i > 0) else 1))
                cin = c * block.expansion
            stages.append(nn.Sequential(*blocks))
        s.layer1, s.layer2, s.layer3, s.layer4 = stages
        s.avgpool = nn.AdaptiveAvgPool2d(1)
        s.fc = nn.Linear(cin, num_classes)
        for m in s.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(s, x):
        x = s.maxpool(s.relu(s.bn1(s.conv1(x))))
        x = s.layer4(s.layer3(s.layer2(s.layer1(x))))
        return s.fc(torch.flatten(s.avgpool(x), 1))


def resnet18(num_classes=10, width=64):
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, width)


def resnet50(num_classes=10, width=64):
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, width)


def randomise_bn(model, g):
    """Non-trivial running statistics and affine parameters, so inference-form BN is tested."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def export(model, path, shape, train, opset=17):
    """As the issue asks: the TorchScript exporter, BN kept as a node, no constant folding."""
    model.train(train)
    x = torch.zeros((2,) + tuple(shape))
    torch.onnx.export(model, (x,), path, dynamo=False, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=opset)
    model.train(train)


def write_cifar(directory, n_train, n_test, seed):
    """CIFAR-10 binary files (label byte, 3x32x32 bytes) whose class is learnable: it sets which
    colour channel is bright and by how much (as tests/cifar_files.h)."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)

    def batch(path, n):
        labels = rng.integers(0, 10, n)
        img = rng.integers(0, 40, (n, 3, 1024)) + 40
        for c in range(3):
            bright = labels % 3 == c
            img[bright, c] = rng.integers(0, 40, (bright.sum(), 1024)) + 150 + 10 * (labels[bright, None] // 3)
        rec = np.concatenate([labels[:, None], img.reshape(n, -1)], 1).astype(np.uint8)
        rec.tofile(path)
        return labels, img.reshape(n, 3, 32, 32)

    train = batch(os.path.join(directory, "data_batch_1.bin"), n_train)
    test = batch(os.path.join(directory, "test_batch.bin"), n_test)
    return train, test


class ConvBNReLU6(nn.Sequential):
    def __init__(s, cin, cout, k=3, stride=1, groups=1):
        super().__init__(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(s, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        s.use_res = stride == 1 and cin == cout
        layers = [] if t == 1 else [ConvBNReLU6(cin, hidden, 1)]
        layers += [ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden), nn.Conv2d(hidden, cout, 1, bias=False),
                   nn.BatchNorm2d(cout)]
        s.conv = nn.Sequential(*layers)

    def forward(s, x):
        return x + s.conv(x) if s.use_res else s.conv(x)


class MobileNetV2(nn.Module):
    """torchvision.models.mobilenet_v2: inverted residuals with depthwise convolutions and ReLU6,
    dropout 0.2 before the classifier; `alpha` scales the channels (1.0 is torchvision's)."""

    def __init__(s, num_classes=10, alpha=1.0):
        super().__init__()
        c = lambda v: max(8, int(v * alpha + 4) // 8 * 8)  # noqa: E731 (torchvision's _make_divisible)
        cfg = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
        cin = c(32)
        feats = [ConvBNReLU6(3, cin, 3, 2)]
        for t, ch, n, st in cfg:
            for i in range(n):
                feats.append(InvertedResidual(cin, c(ch), st if i == 0 else 1, t))
                cin = c(ch)
        last = c(1280) if alpha > 1.0 else 1280
        feats.append(ConvBNReLU6(cin, last, 1))
        s.features = nn.Sequential(*feats)
        s.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(s, x):
        x = nn.functional.adaptive_avg_pool2d(s.features(x), 1)
        return s.classifier(torch.flatten(x, 1))


class VGG11BN(nn.Module):
    """torchvision.models.vgg11_bn (configuration A with batch norm, 7x7 adaptive average pool, a
    three-layer classifier with dropout) with its channels and hidden units divided by `div`."""

    def __init__(s, num_classes=10, div=8):
        super().__init__()
        layers, cin = [], 3
        for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v // div, 3, padding=1), nn.BatchNorm2d(v // div), nn.ReLU(inplace=True)]
                cin = v // div
        s.features = nn.Sequential(*layers)
        s.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        h = 4096 // div
        s.classifier = nn.Sequential(nn.Linear(cin * 49, h), nn.ReLU(True), nn.Dropout(), nn.Linear(h, h),
                                     nn.ReLU(True), nn.Dropout(), nn.Linear(h, num_classes))

    def forward(s, x):
        return s.classifier(torch.flatten(s.avgpool(s.features(x)), 1))
