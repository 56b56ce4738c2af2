#!/usr/bin/env python3
"""Exports an IDX (MNIST, Fashion-MNIST) or CIFAR-10 data set as an image folder of PNG files.

usage: scripts/make_image_folder.py SRC OUT [--layout split|flat] [--train N] [--test N]
                                    [--rgb32] [--cifar-out DIR]

  SRC          a folder with train-images-idx3-ubyte[.gz] ... (IDX) or data_batch_*.bin and
               test_batch.bin (CIFAR-10 binary version)
  OUT          written as OUT/train/<class>/NNNNN.png and OUT/val/<class>/NNNNN.png (split), or
               OUT/<class>/NNNNN.png from the training split only (flat; clnet train --val-split F)
  --train N, --test N   the first N images of each split (default: all)
  --rgb32      28x28 grey images as 32x32 RGB (zero border of 2, grey in every channel)
  --cifar-out DIR  the same images, in the folder's order, as CIFAR-10 batch files
               (DIR/data_batch_1.bin, DIR/test_batch.bin; implies --rgb32 for 28x28 sources), so
               that `clnet train --data OUT --crop none --norm imagenet` and
               `clnet train --data DIR` see the same images in the same order

Class folders are named "<label>_<name>" (Fashion-MNIST and CIFAR-10 names, else the digit),
so that sorting them by name keeps the data set's label order. Within a class the files are
numbered in the data set's order. Standard library only (zlib, gzip, struct).
"""
import argparse
import gzip
import os
import struct
import sys
import zlib

FASHION = ["tshirt-top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle-boot"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def read_maybe_gz(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                data = f.read()
            return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return None


def load_idx(src, prefix):
    """[(h, w, c, bytes)], [label] of one IDX split."""
    im = read_maybe_gz(os.path.join(src, prefix + "-images-idx3-ubyte"))
    lb = read_maybe_gz(os.path.join(src, prefix + "-labels-idx1-ubyte"))
    if im is None or lb is None:
        return None
    magic, n, h, w = struct.unpack(">IIII", im[:16])
    if magic != 0x803 or struct.unpack(">II", lb[:8]) != (0x801, n):
        sys.exit("%s: not an IDX image/label pair" % src)
    size = h * w
    images = [(h, w, 1, im[16 + i * size:16 + (i + 1) * size]) for i in range(n)]
    return images, list(lb[8:8 + n])


def load_cifar(src):
    def read(names):
        images, labels = [], []
        for name in names:
            with open(os.path.join(src, name), "rb") as f:
                data = f.read()
            for r in range(len(data) // 3073):
                rec = data[r * 3073:(r + 1) * 3073]
                planes = rec[1:]
                hwc = bytearray(3072)
                hwc[0::3], hwc[1::3], hwc[2::3] = planes[:1024], planes[1024:2048], planes[2048:]
                images.append((32, 32, 3, bytes(hwc)))
                labels.append(rec[0])
        return images, labels

    batches = []
    i = 1
    while os.path.exists(os.path.join(src, "data_batch_%d.bin" % i)):
        batches.append("data_batch_%d.bin" % i)
        i += 1
    if not batches or not os.path.exists(os.path.join(src, "test_batch.bin")):
        return None
    return read(batches), read(["test_batch.bin"])


def rgb32(img):
    h, w, c, px = img
    if (h, w, c) != (28, 28, 1):
        return img
    out = bytearray(32 * 32 * 3)
    for y in range(28):
        row = px[y * 28:(y + 1) * 28]
        o = ((y + 2) * 32 + 2) * 3
        for k in range(3):
            out[o + k:o + 28 * 3:3] = row
    return (32, 32, 3, bytes(out))


def png(img):
    h, w, c, px = img
    stride = w * c
    raw = b"".join(b"\x00" + px[y * stride:(y + 1) * stride] for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def cifar_record(img, label):
    h, w, c, px = img
    if (h, w, c) != (32, 32, 3):
        sys.exit("--cifar-out needs 32x32x3 images (28x28 grey ones are padded), got %dx%dx%d" % (h, w, c))
    return bytes([label]) + px[0::3] + px[1::3] + px[2::3]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--layout", choices=["split", "flat"], default="split")
    ap.add_argument("--train", type=int, default=0)
    ap.add_argument("--test", type=int, default=0)
    ap.add_argument("--rgb32", action="store_true")
    ap.add_argument("--cifar-out")
    a = ap.parse_args()

    idx_train = load_idx(a.src, "train")
    if idx_train:
        splits = [idx_train, load_idx(a.src, "t10k")]
        names = FASHION if "fashion" in os.path.abspath(a.src).lower() else [str(i) for i in range(10)]
    else:
        cifar = load_cifar(a.src)
        if not cifar:
            sys.exit("%s: neither IDX files nor CIFAR-10 batch files" % a.src)
        splits = list(cifar)
        names = CIFAR10
    if splits[1] is None:
        sys.exit("%s: the test split is missing" % a.src)
    limits = [a.train, a.test]
    splits = [(im[:n] if n else im, lb[:n] if n else lb) for (im, lb), n in zip(splits, limits)]
    if a.rgb32 or a.cifar_out:
        splits = [([rgb32(i) for i in im], lb) for im, lb in splits]
    classes = max(max(lb) for _, lb in splits) + 1
    width = len(str(classes - 1))
    folder = ["%0*d_%s" % (width, k, names[k] if k < len(names) else str(k)) for k in range(classes)]

    parts = [("train", splits[0])] if a.layout == "flat" else [("train", splits[0]), ("val", splits[1])]
    for split_name, (images, labels) in parts:
        base = a.out if a.layout == "flat" else os.path.join(a.out, split_name)
        counts = [0] * classes
        records = []
        for k in range(classes):  # class by class, each in the data set's order: the folder's order
            os.makedirs(os.path.join(base, folder[k]), exist_ok=True)
            for img, label in zip(images, labels):
                if label != k:
                    continue
                with open(os.path.join(base, folder[k], "%05d.png" % counts[k]), "wb") as f:
                    f.write(png(img))
                counts[k] += 1
                if a.cifar_out:
                    records.append(cifar_record(img, label))
        if a.cifar_out:
            os.makedirs(a.cifar_out, exist_ok=True)
            name = "data_batch_1.bin" if split_name == "train" else "test_batch.bin"
            with open(os.path.join(a.cifar_out, name), "wb") as f:
                f.write(b"".join(records))
        print("%s: %d images in %d classes" % (base, sum(counts), classes))


if __name__ == "__main__":
    main()
