#!/usr/bin/env python3
"""Build the demo network shipped in Fixtures/demo (deterministic; rerun after editing).

A CIFAR-style ResNet-8 (three stages of one residual block, 16/32/64 channels,
BatchNorm, global average pooling, a 10-way classifier, Softmax) on a 1x3x32x32
input, with seeded random weights and BatchNorm statistics calibrated on the
seeded input. `make demo` compiles it, verifies it and runs it.

Writes Fixtures/demo/resnet8.onnx, resnet8.input.npy and resnet8.expected.npy
(onnxruntime's output for the input).
"""

import os
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_bench_models import Net  # noqa: E402
from gen_conformance import calibrate_batchnorm  # noqa: E402
from make_fixtures import value_shapes  # noqa: E402


def resnet8() -> Net:
    net = Net("resnet8", 8)
    net.shapes["input"] = (1, 3, 32, 32)
    x = net.conv_bn_act("input", 16, 3, 1, 1)
    for width, stride in [(16, 1), (32, 2), (64, 2)]:
        y = net.conv_bn_act(x, width, 3, stride, 1)
        y = net.bn(net.conv(y, width, 3, 1, 1, bias=False))
        short = x if stride == 1 else net.bn(net.conv(x, width, 1, stride, bias=False))
        x = net.relu(net.add(y, short))
    x = net.flatten(net.gap(x))
    net.softmax(net.gemm(x, 10))
    return net


def main() -> int:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(repo, "Fixtures", "demo")
    os.makedirs(out, exist_ok=True)
    model = resnet8().model()
    onnx.checker.check_model(model)
    x = np.random.default_rng(2026).standard_normal((1, 3, 32, 32), dtype=np.float32)
    calibrate_batchnorm(model, {"input": x})
    _, values = value_shapes(model, feeds={"input": x}, strict=False)
    base = os.path.join(out, "resnet8")
    with open(base + ".onnx", "wb") as f:
        f.write(model.SerializeToString())
    np.save(base + ".input.npy", x)
    np.save(base + ".expected.npy", values["output"])
    print(f"resnet8: {len(model.graph.node)} nodes, "
          f"{sum(int(np.prod(t.dims)) for t in model.graph.initializer)} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
