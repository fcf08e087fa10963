#!/usr/bin/env python3
"""Build the benchmark networks as ONNX with seeded random weights (no torch needed).

Usage: python3 Tools/gen_bench_models.py [OUT_DIR] [--models resnet50,vgg16,...] [--force]
OUT_DIR defaults to .cache/bench under the repository root.

Writes, per model NAME (resnet50, vgg16, mobilenet_v2, inception_v1, squeezenet1_0, alexnet):
  OUT_DIR/NAME.onnx            opset 13, input "input" 1x3x224x224, output "output" 1x1000 (Softmax)
  OUT_DIR/NAME.input.npy       seeded N(0,1) float32 input
  OUT_DIR/NAME.expected.npy    onnxruntime output (CPU, graph optimizations disabled)
  OUT_DIR/NAME.shapes.json     dtype and shape of every value (as Fixtures/onnx/*.shapes.json)
A model whose files all exist is skipped (cache); the expected output is written last.

Weights: conv / fully-connected N(0, 2/fan_in) (He), biases N(0, 0.01); BatchNormalization scale
U(0.8, 1.2), bias N(0, 0.1), and running mean / var calibrated on the seeded input (mean = mu + N(0,0.1)*sigma,
var = sigma^2 * U(0.5, 1.5); see gen_conformance.calibrate_batchnorm) so activations stay well scaled.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_conformance import calibrate_batchnorm  # noqa: E402
from make_fixtures import PRODUCER, PRODUCER_VERSION, value_shapes, write_json  # noqa: E402

OPSET = 13


def _out(size: int, k: int, s: int, p: int, ceil: bool = False, d: int = 1) -> int:
    eff = (k - 1) * d + 1
    num = size + 2 * p - eff
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= size + p:  # last window must start inside the input or left padding
        o -= 1
    return o


class Net:
    """Tiny graph builder that tracks NCHW shapes (batch 1) and draws seeded weights."""

    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []
        self.shapes: dict[str, tuple] = {"input": (1, 3, 224, 224)}
        self.count: dict[str, int] = {}
        self.consts: dict[tuple, str] = {}

    def _name(self, kind: str) -> str:
        self.count[kind] = self.count.get(kind, 0) + 1
        return f"{kind}{self.count[kind]}"

    def _param(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    def _node(self, op: str, inputs: list, name: str, shape: tuple, **attrs) -> str:
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        self.shapes[out] = shape
        return out

    def scalar(self, value: float) -> str:
        key = ("scalar", value)
        if key not in self.consts:
            name = f"const_{len(self.consts)}"
            self.inits.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
            self.consts[key] = name
        return self.consts[key]

    # layers ---------------------------------------------------------------

    def conv(self, x, cout, k, s=1, p=0, group=1, bias=True, name=None):
        n, cin, h, w = self.shapes[x]
        name = name or self._name("conv")
        fan_in = cin // group * k * k
        wname = self._param(name + "_w", self.rng.standard_normal((cout, cin // group, k, k), dtype=np.float32)
                            * np.float32(np.sqrt(2.0 / fan_in)))
        ins = [x, wname]
        if bias:
            ins.append(self._param(name + "_b", self.rng.standard_normal(cout, dtype=np.float32) * np.float32(0.01)))
        shape = (n, cout, _out(h, k, s, p), _out(w, k, s, p))
        return self._node("Conv", ins, name, shape, kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p],
                          group=group)

    def bn(self, x, name=None):
        c = self.shapes[x][1]
        name = name or self._name("bn")
        r = self.rng
        ins = [
            x,
            self._param(name + "_scale", r.uniform(0.8, 1.2, c)),
            self._param(name + "_bias", r.standard_normal(c) * 0.1),
            self._param(name + "_mean", r.standard_normal(c) * 0.1),  # calibrated later
            self._param(name + "_var", r.uniform(0.5, 1.5, c)),  # calibrated later
        ]
        return self._node("BatchNormalization", ins, name, self.shapes[x], epsilon=1e-5)

    def relu(self, x):
        return self._node("Relu", [x], self._name("relu"), self.shapes[x])

    def relu6(self, x):
        return self._node("Clip", [x, self.scalar(0.0), self.scalar(6.0)], self._name("relu6_"), self.shapes[x])

    def conv_bn_act(self, x, cout, k, s=1, p=0, group=1, act="relu"):
        y = self.bn(self.conv(x, cout, k, s, p, group, bias=False))
        return self.relu(y) if act == "relu" else self.relu6(y) if act == "relu6" else y

    def maxpool(self, x, k, s, p=0, ceil=False):
        n, c, h, w = self.shapes[x]
        shape = (n, c, _out(h, k, s, p, ceil), _out(w, k, s, p, ceil))
        return self._node("MaxPool", [x], self._name("maxpool"), shape, kernel_shape=[k, k], strides=[s, s],
                          pads=[p, p, p, p], ceil_mode=int(ceil))

    def avgpool(self, x, k, s):
        n, c, h, w = self.shapes[x]
        return self._node("AveragePool", [x], self._name("avgpool"), (n, c, _out(h, k, s, 0), _out(w, k, s, 0)),
                          kernel_shape=[k, k], strides=[s, s])

    def gap(self, x):
        n, c, _, _ = self.shapes[x]
        return self._node("GlobalAveragePool", [x], self._name("gap"), (n, c, 1, 1))

    def lrn(self, x):
        return self._node("LRN", [x], self._name("lrn"), self.shapes[x], size=5, alpha=1e-4, beta=0.75, bias=1.0)

    def add(self, a, b):
        return self._node("Add", [a, b], self._name("add"), self.shapes[a])

    def concat(self, xs):
        n, _, h, w = self.shapes[xs[0]]
        c = sum(self.shapes[x][1] for x in xs)
        return self._node("Concat", xs, self._name("concat"), (n, c, h, w), axis=1)

    def flatten(self, x):
        s = self.shapes[x]
        return self._node("Flatten", [x], self._name("flatten"), (s[0], int(np.prod(s[1:]))), axis=1)

    def gemm(self, x, cout):
        n, cin = self.shapes[x]
        name = self._name("fc")
        w = self._param(name + "_w", self.rng.standard_normal((cout, cin), dtype=np.float32)
                        * np.float32(np.sqrt(2.0 / cin)))
        b = self._param(name + "_b", self.rng.standard_normal(cout, dtype=np.float32) * np.float32(0.01))
        return self._node("Gemm", [x, w, b], name, (n, cout), transB=1)

    def softmax(self, x):
        self.nodes.append(helper.make_node("Softmax", [x], ["output"], name="softmax", axis=1))
        self.shapes["output"] = self.shapes[x]
        return "output"

    def model(self) -> onnx.ModelProto:
        g = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(self.shapes["input"]))],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(self.shapes["output"]))],
            self.inits,
        )
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER,
                              producer_version=PRODUCER_VERSION)
        m.ir_version = 8
        return m


# --------------------------------------------------------------------------
# Architectures
# --------------------------------------------------------------------------


def resnet50() -> Net:
    """ResNet-50 v1.5 (stride on the 3x3 conv of the bottleneck, as torchvision)."""
    net = Net("resnet50", 101)
    x = net.conv_bn_act("input", 64, 7, 2, 3)
    x = net.maxpool(x, 3, 2, 1)
    cin = 64
    for stage, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for b in range(blocks):
            stride = 2 if (b == 0 and stage > 0) else 1
            y = net.conv_bn_act(x, width, 1)
            y = net.conv_bn_act(y, width, 3, stride, 1)
            y = net.bn(net.conv(y, width * 4, 1, bias=False))
            short = x
            if b == 0:
                short = net.bn(net.conv(x, width * 4, 1, stride, bias=False))
            x = net.relu(net.add(y, short))
            cin = width * 4
    del cin
    x = net.flatten(net.gap(x))
    net.softmax(net.gemm(x, 1000))
    return net


def resnet18() -> Net:
    """ResNet-18: basic blocks of two 3x3 convolutions, a 1x1 projection where the shape changes."""
    net = Net("resnet18", 107)
    x = net.conv_bn_act("input", 64, 7, 2, 3)
    x = net.maxpool(x, 3, 2, 1)
    for stage, width in enumerate([64, 128, 256, 512]):
        for b in range(2):
            stride = 2 if (b == 0 and stage > 0) else 1
            y = net.conv_bn_act(x, width, 3, stride, 1)
            y = net.bn(net.conv(y, width, 3, 1, 1, bias=False))
            short = x
            if b == 0 and stage > 0:
                short = net.bn(net.conv(x, width, 1, stride, bias=False))
            x = net.relu(net.add(y, short))
    x = net.flatten(net.gap(x))
    net.softmax(net.gemm(x, 1000))
    return net


def vgg16() -> Net:
    net = Net("vgg16", 102)
    x = "input"
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        x = net.maxpool(x, 2, 2) if v == "M" else net.relu(net.conv(x, v, 3, 1, 1))
    x = net.flatten(x)  # 512*7*7
    x = net.relu(net.gemm(x, 4096))
    x = net.relu(net.gemm(x, 4096))
    net.softmax(net.gemm(x, 1000))
    return net


def mobilenet_v2() -> Net:
    net = Net("mobilenet_v2", 103)
    x = net.conv_bn_act("input", 32, 3, 2, 1, act="relu6")
    cin = 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = x
            if t != 1:
                y = net.conv_bn_act(y, hidden, 1, act="relu6")
            y = net.conv_bn_act(y, hidden, 3, stride, 1, group=hidden, act="relu6")  # depthwise
            y = net.conv_bn_act(y, c, 1, act=None)  # linear bottleneck
            x = net.add(x, y) if (stride == 1 and cin == c) else y
            cin = c
    x = net.conv_bn_act(x, 1280, 1, act="relu6")
    x = net.flatten(net.gap(x))
    net.softmax(net.gemm(x, 1000))
    return net


def inception_v1() -> Net:
    """GoogLeNet as published (Caffe bvlc_googlenet): ReLU, LRN, ceil-mode max pooling, no BatchNorm."""
    net = Net("inception_v1", 104)
    x = net.relu(net.conv("input", 64, 7, 2, 3))
    x = net.lrn(net.maxpool(x, 3, 2, 0, ceil=True))
    x = net.relu(net.conv(x, 64, 1))
    x = net.relu(net.conv(x, 192, 3, 1, 1))
    x = net.maxpool(net.lrn(x), 3, 2, 0, ceil=True)

    def inception(x, c1, c3r, c3, c5r, c5, pp):
        b1 = net.relu(net.conv(x, c1, 1))
        b2 = net.relu(net.conv(net.relu(net.conv(x, c3r, 1)), c3, 3, 1, 1))
        b3 = net.relu(net.conv(net.relu(net.conv(x, c5r, 1)), c5, 5, 1, 2))
        b4 = net.relu(net.conv(net.maxpool(x, 3, 1, 1), pp, 1))
        return net.concat([b1, b2, b3, b4])

    x = inception(x, 64, 96, 128, 16, 32, 32)  # 3a
    x = inception(x, 128, 128, 192, 32, 96, 64)  # 3b
    x = net.maxpool(x, 3, 2, 0, ceil=True)
    x = inception(x, 192, 96, 208, 16, 48, 64)  # 4a
    x = inception(x, 160, 112, 224, 24, 64, 64)  # 4b
    x = inception(x, 128, 128, 256, 24, 64, 64)  # 4c
    x = inception(x, 112, 144, 288, 32, 64, 64)  # 4d
    x = inception(x, 256, 160, 320, 32, 128, 128)  # 4e
    x = net.maxpool(x, 3, 2, 0, ceil=True)
    x = inception(x, 256, 160, 320, 32, 128, 128)  # 5a
    x = inception(x, 384, 192, 384, 48, 128, 128)  # 5b
    x = net.flatten(net.avgpool(x, 7, 1))
    net.softmax(net.gemm(x, 1000))
    return net


def squeezenet1_0() -> Net:
    net = Net("squeezenet1_0", 105)
    x = net.relu(net.conv("input", 96, 7, 2, 0))
    x = net.maxpool(x, 3, 2, 0, ceil=True)

    def fire(x, s, e1, e3):
        sq = net.relu(net.conv(x, s, 1))
        return net.concat([net.relu(net.conv(sq, e1, 1)), net.relu(net.conv(sq, e3, 3, 1, 1))])

    x = fire(x, 16, 64, 64)
    x = fire(x, 16, 64, 64)
    x = fire(x, 32, 128, 128)
    x = net.maxpool(x, 3, 2, 0, ceil=True)
    x = fire(x, 32, 128, 128)
    x = fire(x, 48, 192, 192)
    x = fire(x, 48, 192, 192)
    x = fire(x, 64, 256, 256)
    x = net.maxpool(x, 3, 2, 0, ceil=True)
    x = fire(x, 64, 256, 256)
    x = net.relu(net.conv(x, 1000, 1))
    net.softmax(net.flatten(net.gap(x)))
    return net


def alexnet() -> Net:
    """torchvision AlexNet (single-tower, 64-192-384-256-256 channels, no LRN)."""
    net = Net("alexnet", 106)
    x = net.maxpool(net.relu(net.conv("input", 64, 11, 4, 2)), 3, 2)
    x = net.maxpool(net.relu(net.conv(x, 192, 5, 1, 2)), 3, 2)
    x = net.relu(net.conv(x, 384, 3, 1, 1))
    x = net.relu(net.conv(x, 256, 3, 1, 1))
    x = net.maxpool(net.relu(net.conv(x, 256, 3, 1, 1)), 3, 2)
    x = net.flatten(x)  # 256*6*6
    x = net.relu(net.gemm(x, 4096))
    x = net.relu(net.gemm(x, 4096))
    net.softmax(net.gemm(x, 1000))
    return net


MODELS = {
    "resnet50": resnet50,
    "vgg16": vgg16,
    "mobilenet_v2": mobilenet_v2,
    "inception_v1": inception_v1,
    "squeezenet1_0": squeezenet1_0,
    "alexnet": alexnet,
    "resnet18": resnet18,
}


def build(name: str, out_dir: str) -> None:
    t0 = time.time()
    net = MODELS[name]()
    model = net.model()
    onnx.checker.check_model(model)
    x = np.random.default_rng(200 + list(MODELS).index(name)).standard_normal((1, 3, 224, 224), dtype=np.float32)
    n_bn = calibrate_batchnorm(model, {"input": x})
    table, values = value_shapes(model, feeds={"input": x}, strict=False)
    for k, v in net.shapes.items():  # the builder's own shape bookkeeping must agree with onnxruntime
        if list(v) != table[k]["shape"]:
            raise RuntimeError(f"{name}: {k} is {table[k]['shape']}, builder expected {list(v)}")
    y = values["output"]
    base = os.path.join(out_dir, name)
    with open(base + ".onnx.tmp", "wb") as f:
        f.write(model.SerializeToString())
    os.replace(base + ".onnx.tmp", base + ".onnx")
    np.save(base + ".input.npy", x)
    write_json(base + ".shapes.json", table)
    np.save(base + ".expected.tmp.npy", y)
    os.replace(base + ".expected.tmp.npy", base + ".expected.npy")
    nparams = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"{name}: {len(model.graph.node)} nodes, {nparams / 1e6:.1f}M parameters, {n_bn} BN calibrated, "
          f"max prob {float(y.max()):.3g} ({time.time() - t0:.1f}s)", flush=True)


def main(argv=None) -> int:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", nargs="?", default=os.path.join(repo, ".cache", "bench"))
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--force", action="store_true", help="rebuild even if the files exist")
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    for name in [m for m in args.models.split(",") if m]:
        if name not in MODELS:
            ap.error(f"unknown model {name!r}")
        base = os.path.join(args.out_dir, name)
        files = [base + s for s in (".onnx", ".input.npy", ".expected.npy", ".shapes.json")]
        if not args.force and all(os.path.isfile(f) for f in files):
            print(f"{name}: cached")
            continue
        build(name, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
