#!/usr/bin/env python3
"""Write the small ONNX test models of Fixtures/onnx/.

Usage: python3 Tools/make_fixtures.py [OUT_DIR]     (default: Fixtures/onnx)

Every model is built with the onnx helper API from fixed seeds, so running the
script twice gives byte-identical files.  Each valid model NAME.onnx also gets
NAME.shapes.json: {"value": {"dtype": "float32", "shape": [..]}} for every graph
input, node output and graph output.  Shapes are observed by running
onnxruntime on a seeded random input (ground truth); values onnxruntime cannot
produce fall back to onnx.shape_inference (strict mode).

The helpers `value_shapes`, `dtype_name` and `ort_session` are shared with
Tools/gen_conformance.py and Tools/gen_bench_models.py.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PRODUCER = "dfc-fixtures"
PRODUCER_VERSION = "1"
IR_VERSION = 8  # IR version written for opset >= 13 models

# --------------------------------------------------------------------------
# Shared helpers (also imported by the other Tools scripts)
# --------------------------------------------------------------------------

_DTYPE_NAMES = {
    TensorProto.FLOAT: "float32",
    TensorProto.DOUBLE: "float64",
    TensorProto.FLOAT16: "float16",
    TensorProto.BFLOAT16: "bfloat16",
    TensorProto.INT8: "int8",
    TensorProto.INT16: "int16",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.UINT8: "uint8",
    TensorProto.UINT16: "uint16",
    TensorProto.UINT32: "uint32",
    TensorProto.UINT64: "uint64",
    TensorProto.BOOL: "bool",
    TensorProto.STRING: "string",
    TensorProto.COMPLEX64: "complex64",
    TensorProto.COMPLEX128: "complex128",
}


def dtype_name(elem_type: int) -> str:
    """Name of an ONNX element type as used in shapes.json ("float32", ...)."""
    if elem_type in _DTYPE_NAMES:
        return _DTYPE_NAMES[elem_type]
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return "undefined"


def _np_dtype_name(arr: np.ndarray) -> str:
    """shapes.json dtype of a numpy array, spelled as for the equivalent ONNX element type."""
    if arr.dtype == object or arr.dtype.kind in "US":
        return "string"
    try:
        return dtype_name(helper.np_dtype_to_tensor_dtype(arr.dtype))
    except (KeyError, ValueError, TypeError):
        return str(arr.dtype)


def ort_session(model_bytes: bytes, intra_threads: int = 0):
    """An onnxruntime CPU session with all graph optimizations disabled."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 4  # fatal only: conformance models make onnxruntime log expected errors
    if intra_threads:
        so.intra_op_num_threads = intra_threads
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def _type_entry(tp: onnx.TypeProto):
    """(dtype, shape) of a tensor TypeProto; unknown dims are None, no shape -> None."""
    if not tp.HasField("tensor_type"):
        return None
    tt = tp.tensor_type
    dt = dtype_name(tt.elem_type)
    if not tt.HasField("shape"):
        return dt, None
    dims = []
    for d in tt.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else None)
    return dt, dims


def value_names(graph: onnx.GraphProto) -> list[str]:
    """Graph inputs, every node output, graph outputs (main graph only), in order."""
    names: list[str] = []
    seen = set()
    for n in [i.name for i in graph.input] + [o for node in graph.node for o in node.output] + [
        o.name for o in graph.output
    ]:
        if n and n not in seen:
            seen.add(n)
            names.append(n)
    return names


def random_feeds(model: onnx.ModelProto, rng: np.random.Generator, dim_default: int = 1) -> dict:
    """Seeded random inputs for every graph input that is not an initializer."""
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        entry = _type_entry(vi.type)
        if entry is None:
            raise ValueError(f"input {vi.name} is not a tensor")
        dt, dims = entry
        shape = [d if d is not None and d > 0 else dim_default for d in (dims or [])]
        np_dt = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        if np.issubdtype(np_dt, np.floating):
            feeds[vi.name] = rng.standard_normal(shape).astype(np_dt)
        elif np_dt == np.bool_:
            feeds[vi.name] = rng.integers(0, 2, shape).astype(np.bool_)
        else:
            feeds[vi.name] = rng.integers(0, 4, shape).astype(np_dt)
    return feeds


def value_shapes(
    model: onnx.ModelProto,
    feeds: dict | None = None,
    strict: bool = True,
    rng_seed: int = 0,
    run_ort: bool = True,
    model_dir: str | None = None,
):
    """Return ({name: {"dtype", "shape"}}, ort_outputs or None).

    Shapes come from running onnxruntime with every node output added as a graph
    output (ground truth); what onnxruntime cannot give falls back to
    onnx.shape_inference.  `feeds` default to seeded random inputs.
    ort_outputs maps every value name onnxruntime produced to its array.
    """
    inits = {t.name: t for t in model.graph.initializer}
    names = value_names(model.graph)

    observed = {}
    ort_values = None
    if run_ort:
        if feeds is None:
            feeds = random_feeds(model, np.random.default_rng(rng_seed))
        probe = model
        if model_dir is not None:
            # Sessions from bytes cannot find external data; load it into a copy first.
            from onnx.external_data_helper import load_external_data_for_model

            probe = onnx.ModelProto()
            probe.CopyFrom(model)
            load_external_data_for_model(probe, model_dir)
        # Expose every node output as a graph output (temporarily: no copy of big models).
        n_out = len(probe.graph.output)
        existing = {o.name for o in probe.graph.output}
        try:
            for node in probe.graph.node:
                for o in node.output:
                    if o and o not in existing:
                        existing.add(o)
                        probe.graph.output.add().name = o
            data = probe.SerializeToString()
        finally:
            del probe.graph.output[n_out:]
        sess = ort_session(data)
        del data
        out_names = [o.name for o in sess.get_outputs()]
        results = sess.run(out_names, feeds)
        del sess
        ort_values = dict(zip(out_names, results))
        for k, v in feeds.items():
            observed[k] = (_np_dtype_name(np.asarray(v)), list(np.asarray(v).shape))
        for k, v in ort_values.items():
            v = np.asarray(v)
            observed[k] = (_np_dtype_name(v), list(v.shape))

    static = {}
    if strict or any(n not in observed and n not in inits for n in names):
        if strict:  # also validates the model
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        else:
            try:
                inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
            except Exception:  # noqa: BLE001 - fall back to the declared types
                inferred = model
        g = inferred.graph
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            e = _type_entry(vi.type)
            if e is not None and vi.name not in static:
                static[vi.name] = e

    table = {}
    for n in names:
        if n in observed:
            dt, shape = observed[n]
        elif n in inits:
            t = inits[n]
            dt, shape = dtype_name(t.data_type), list(t.dims)
        elif n in static:
            dt, shape = static[n]
        else:
            continue
        if shape is not None:
            shape = [int(d) if d is not None else None for d in shape]
        table[n] = {"dtype": dt, "shape": shape}
    return table, ort_values


def write_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, sort_keys=True, indent=1)
        f.write("\n")


# --------------------------------------------------------------------------
# Model building helpers
# --------------------------------------------------------------------------


def _init(name: str, arr: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.array(arr, order="C"), name)  # keeps rank-0 arrays rank 0


def _vi(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _const_node(name: str, output: str, arr: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [output], name=name, value=numpy_helper.from_array(arr, output + "_value"))


def _he(rng, shape, fan_in=None):
    if fan_in is None:
        fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def _small(rng, shape, scale=0.1):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _model(graph, opset: int = 13, ir_version: int = IR_VERSION, extra_opsets=()) -> onnx.ModelProto:
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
    )
    m.ir_version = ir_version
    return m


def _bn_params(rng, prefix, c):
    return [
        _init(prefix + "_scale", rng.uniform(0.8, 1.2, c).astype(np.float32)),
        _init(prefix + "_bias", _small(rng, c)),
        _init(prefix + "_mean", _small(rng, c)),
        _init(prefix + "_var", rng.uniform(0.5, 1.5, c).astype(np.float32)),
    ]


# --------------------------------------------------------------------------
# Valid models
# --------------------------------------------------------------------------


def tiny_cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    F = TensorProto.FLOAT
    inits = [
        _init("conv1_w", _he(rng, (8, 3, 3, 3))),
        _init("conv1_b", _small(rng, 8, 0.01)),
        *_bn_params(rng, "bn1", 8),
        _init("conv2_w", _he(rng, (8, 8, 3, 3))),
        _init("conv2_b", _small(rng, 8, 0.01)),
        _init("conv3_w", _he(rng, (16, 8, 1, 1))),
        _init("conv3_b", _small(rng, 16, 0.01)),
        _init("fc_w", _he(rng, (10, 16))),
        _init("fc_b", _small(rng, 10, 0.01)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv1_w", "conv1_b"], ["conv1_out"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["conv1_out", "bn1_scale", "bn1_bias", "bn1_mean", "bn1_var"],
                         ["bn1_out"], name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["bn1_out"], ["relu1_out"], name="relu1"),
        helper.make_node("MaxPool", ["relu1_out"], ["pool1_out"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1_out", "conv2_w", "conv2_b"], ["conv2_out"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["conv2_out", "pool1_out"], ["add1_out"], name="add1"),
        helper.make_node("Relu", ["add1_out"], ["relu2_out"], name="relu2"),
        helper.make_node("Conv", ["relu2_out", "conv3_w", "conv3_b"], ["conv3_out"], name="conv3",
                         kernel_shape=[1, 1], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["conv3_out"], ["gap_out"], name="gap"),
        helper.make_node("Flatten", ["gap_out"], ["flatten_out"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flatten_out", "fc_w", "fc_b"], ["fc_out"], name="fc", transB=1),
        helper.make_node("Softmax", ["fc_out"], ["output"], name="softmax", axis=1),
    ]
    g = helper.make_graph(nodes, "tiny_cnn", [_vi("input", F, [1, 3, 32, 32])], [_vi("output", F, [1, 10])], inits)
    return _model(g)


def ops_conv() -> onnx.ModelProto:
    """Conv family, pooling, normalisation, Pad and Resize with non-default attributes."""
    rng = np.random.default_rng(2)
    F = TensorProto.FLOAT
    inits = [
        _init("cg_w", _he(rng, (8, 2, 3, 3))),
        _init("cg_b", _small(rng, 8, 0.01)),
        *_bn_params(rng, "bn", 8),
        _init("dw_w", _he(rng, (8, 1, 3, 3))),
        _init("su_w", _he(rng, (8, 8, 3, 3))),
        _init("su_b", _small(rng, 8, 0.01)),
        _init("ct_w", _he(rng, (8, 4, 3, 3))),
        _init("ct_b", _small(rng, 4, 0.01)),
    ]
    nodes = [
        # grouped + dilated conv: 4 -> 8 channels, group 2, dilation 2, pad 2
        helper.make_node("Conv", ["x", "cg_w", "cg_b"], ["conv_group_out"], name="conv_group_dilated",
                         kernel_shape=[3, 3], group=2, dilations=[2, 2], pads=[2, 2, 2, 2]),
        helper.make_node("BatchNormalization", ["conv_group_out", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
                         ["bn_out"], name="bn", epsilon=1e-3),
        # depthwise conv with asymmetric pads (top 0, left 1, bottom 2, right 1), no bias
        helper.make_node("Conv", ["bn_out", "dw_w"], ["conv_dw_out"], name="conv_depthwise",
                         kernel_shape=[3, 3], group=8, pads=[0, 1, 2, 1]),
        # strided conv with auto_pad SAME_UPPER (16 -> 8, pad 0 before / 1 after)
        helper.make_node("Conv", ["conv_dw_out", "su_w", "su_b"], ["conv_same_out"], name="conv_same_upper",
                         kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        # transposed conv 8 -> 4, stride 2, pads 1, output_padding 1 (8 -> 16)
        helper.make_node("ConvTranspose", ["conv_same_out", "ct_w", "ct_b"], ["convt_out"], name="conv_transpose",
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
        helper.make_node("MaxPool", ["convt_out"], ["maxpool_out"], name="maxpool_ceil",
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
        helper.make_node("AveragePool", ["convt_out"], ["avgpool_excl_out"], name="avgpool_exclude_pad",
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0),
        helper.make_node("AveragePool", ["convt_out"], ["avgpool_incl_out"], name="avgpool_include_pad",
                         kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1),
        helper.make_node("LRN", ["avgpool_incl_out"], ["lrn_out"], name="lrn",
                         size=3, alpha=1e-2, beta=0.75, bias=2.0),
        _const_node("pad_pads", "pad_pads_out", np.array([0, 0, 1, 2, 0, 0, 2, 1], dtype=np.int64)),
        _const_node("pad_value", "pad_value_out", np.array(0.5, dtype=np.float32)),
        helper.make_node("Pad", ["lrn_out", "pad_pads_out", "pad_value_out"], ["pad_out"], name="pad_constant",
                         mode="constant"),
        _const_node("resize_scales", "resize_scales_out", np.array([1.0, 1.0, 2.0, 2.0], dtype=np.float32)),
        helper.make_node("Resize", ["conv_same_out", "", "resize_scales_out"], ["resize_out"], name="resize_nearest",
                         mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("GlobalAveragePool", ["conv_group_out"], ["gap_out"], name="global_avg_pool"),
        helper.make_node("GlobalMaxPool", ["resize_out"], ["gmp_out"], name="global_max_pool"),
    ]
    outs = [
        _vi("maxpool_out", F, [1, 4, 9, 9]),
        _vi("avgpool_excl_out", F, [1, 4, 8, 8]),
        _vi("pad_out", F, [1, 4, 19, 19]),
        _vi("gap_out", F, [1, 8, 1, 1]),
        _vi("gmp_out", F, [1, 8, 1, 1]),
    ]
    g = helper.make_graph(nodes, "ops_conv", [_vi("x", F, [1, 4, 16, 16])], outs, inits)
    return _model(g)


def ops_eltwise() -> onnx.ModelProto:
    """Activations and broadcasting element-wise arithmetic (opset 14)."""
    rng = np.random.default_rng(3)
    F = TensorProto.FLOAT
    inits = [
        _init("prelu_slope", rng.uniform(0.05, 0.3, (1, 4, 1, 1)).astype(np.float32)),
        _init("add_c", _small(rng, (1, 4, 1, 1), 0.5)),
        _init("mul_w", rng.uniform(0.5, 1.5, (8,)).astype(np.float32)),
        _init("div_d", rng.uniform(1.0, 2.0, (4, 1, 1)).astype(np.float32)),
        _init("sub_s", np.array(0.25, dtype=np.float32)),
    ]
    nodes = [
        helper.make_node("Add", ["x", "y"], ["add_xy"], name="add_broadcast_inputs"),  # [1,4,8,8] + [1,1,8,1]
        helper.make_node("Relu", ["add_xy"], ["relu_out"], name="relu"),
        helper.make_node("LeakyRelu", ["add_xy"], ["leaky_out"], name="leaky_relu", alpha=0.2),
        helper.make_node("PRelu", ["add_xy", "prelu_slope"], ["prelu_out"], name="prelu"),
        _const_node("clip_min", "clip_min_out", np.array(-0.5, dtype=np.float32)),
        _const_node("clip_max", "clip_max_out", np.array(0.8, dtype=np.float32)),
        helper.make_node("Clip", ["add_xy", "clip_min_out", "clip_max_out"], ["clip_out"], name="clip"),
        helper.make_node("Clip", ["add_xy", "", "clip_max_out"], ["clip_max_only_out"], name="clip_max_only"),
        helper.make_node("Sigmoid", ["leaky_out"], ["sigmoid_out"], name="sigmoid"),
        helper.make_node("HardSigmoid", ["prelu_out"], ["hsig_out"], name="hard_sigmoid", alpha=0.25, beta=0.4),
        helper.make_node("HardSwish", ["clip_out"], ["hswish_out"], name="hard_swish"),
        helper.make_node("Tanh", ["clip_max_only_out"], ["tanh_out"], name="tanh"),
        helper.make_node("Add", ["relu_out", "add_c"], ["add_c_out"], name="add_channel"),
        helper.make_node("Sub", ["sigmoid_out", "sub_s"], ["sub_out"], name="sub_scalar"),
        helper.make_node("Mul", ["hsig_out", "mul_w"], ["mul_out"], name="mul_last_axis"),
        helper.make_node("Div", ["hswish_out", "div_d"], ["div_out"], name="div_rank3"),
        helper.make_node("Sum", ["add_c_out", "sub_out", "mul_out"], ["sum_out"], name="sum3"),
        helper.make_node("Identity", ["sum_out"], ["identity_out"], name="identity"),
        helper.make_node("Dropout", ["identity_out"], ["dropout_out"], name="dropout"),
        helper.make_node("Mul", ["dropout_out", "tanh_out"], ["mul_tanh"], name="mul_same_shape"),
        helper.make_node("Sub", ["div_out", "mul_tanh"], ["output"], name="sub_same_shape"),
    ]
    g = helper.make_graph(
        nodes,
        "ops_eltwise",
        [_vi("x", F, [1, 4, 8, 8]), _vi("y", F, [1, 1, 8, 1])],
        [_vi("output", F, [1, 4, 8, 8])],
        inits,
    )
    return _model(g, opset=14)  # HardSwish needs opset 14


def ops_shape() -> onnx.ModelProto:
    """Data-movement ops: Split, Concat, Slice, Reshape, Transpose, Squeeze, Unsqueeze, Flatten, Shape,
    Gather, Cast."""
    F = TensorProto.FLOAT
    inits = [
        _init("split_sizes", np.array([2, 4], dtype=np.int64)),
        _init("slice_starts", np.array([0, -1], dtype=np.int64)),
        _init("slice_ends", np.array([4, -100], dtype=np.int64)),
        _init("slice_axes", np.array([2, 3], dtype=np.int64)),
        _init("slice_steps", np.array([2, -2], dtype=np.int64)),
        _init("reshape_shape", np.array([0, -1, 4], dtype=np.int64)),
        _init("squeeze_axes", np.array([0], dtype=np.int64)),
        _init("unsqueeze_axes", np.array([0, 3], dtype=np.int64)),
        _init("dim_index", np.array(2, dtype=np.int64)),  # scalar index: Gather output is rank 0
        _init("channel_idx", np.array([5, 0, 2], dtype=np.int64)),
    ]
    nodes = [
        # [1,6,4,4] -> [1,2,4,4], [1,4,4,4]
        helper.make_node("Split", ["x", "split_sizes"], ["split_a", "split_b"], name="split", axis=1),
        # -> [1,8,4,4]
        helper.make_node("Concat", ["split_b", "split_a", "split_a"], ["concat_out"], name="concat", axis=1),
        # rows 0,2 ; columns 3,1 (negative step) -> [1,8,2,2]
        helper.make_node("Slice", ["concat_out", "slice_starts", "slice_ends", "slice_axes", "slice_steps"],
                         ["slice_out"], name="slice"),
        # [0,-1,4]: keep dim 0, infer the middle -> [1,32,4]
        helper.make_node("Reshape", ["concat_out", "reshape_shape"], ["reshape_out"], name="reshape_zero_minus1"),
        helper.make_node("Transpose", ["reshape_out"], ["transpose_out"], name="transpose", perm=[2, 0, 1]),
        helper.make_node("Squeeze", ["slice_out", "squeeze_axes"], ["squeeze_out"], name="squeeze"),  # [8,2,2]
        helper.make_node("Unsqueeze", ["squeeze_out", "unsqueeze_axes"], ["unsqueeze_out"],
                         name="unsqueeze"),  # [1,8,2,1,2]
        helper.make_node("Flatten", ["unsqueeze_out"], ["flatten_out"], name="flatten_axis2", axis=2),  # [8,4]
        helper.make_node("Shape", ["transpose_out"], ["shape_out"], name="shape"),  # [4,1,32]
        helper.make_node("Gather", ["shape_out", "dim_index"], ["dim_out"], name="gather_dim", axis=0),  # 32
        helper.make_node("Cast", ["dim_out"], ["dim_float"], name="cast_to_float", to=TensorProto.FLOAT),
        helper.make_node("Gather", ["x", "channel_idx"], ["gather_data_out"], name="gather_channels",
                         axis=1),  # [1,3,4,4]
        helper.make_node("Div", ["gather_data_out", "dim_float"], ["scaled_out"], name="div_by_dim"),
    ]
    outs = [
        _vi("transpose_out", F, [4, 1, 32]),
        _vi("flatten_out", F, [8, 4]),
        _vi("scaled_out", F, [1, 3, 4, 4]),
    ]
    g = helper.make_graph(nodes, "ops_shape", [_vi("x", F, [1, 6, 4, 4])], outs, inits)
    return _model(g)


def ops_misc() -> onnx.ModelProto:
    """Dense and reduction ops: Gemm (alpha/beta/transA), MatMul (batched), Softmax, ReduceMean, Constant."""
    rng = np.random.default_rng(5)
    F = TensorProto.FLOAT
    inits = [
        _init("gemm_b", _he(rng, (6, 5), fan_in=6)),
        _init("gemm_c", _small(rng, (5,), 0.1)),
        _init("matmul_w", _he(rng, (5, 7), fan_in=5)),
    ]
    nodes = [
        # a is [6,4]; Gemm(transA) computes 0.5 * a^T b + 2 * c -> [4,5]
        helper.make_node("Gemm", ["a", "gemm_b", "gemm_c"], ["gemm_out"], name="gemm_transA",
                         alpha=0.5, beta=2.0, transA=1),
        _const_node("const_3d", "const_3d_out", _small(rng, (3, 1, 1), 1.0)),
        helper.make_node("Add", ["gemm_out", "const_3d_out"], ["batched"], name="add_to_batch"),  # [3,4,5]
        helper.make_node("MatMul", ["batched", "matmul_w"], ["matmul_out"], name="matmul_batched"),  # [3,4,7]
        helper.make_node("Softmax", ["matmul_out"], ["softmax_out"], name="softmax_last", axis=-1),
        helper.make_node("Softmax", ["matmul_out"], ["softmax1_out"], name="softmax_axis1", axis=1),
        helper.make_node("ReduceMean", ["softmax1_out"], ["rmean_keep"], name="reduce_mean_keepdims",
                         axes=[1, 2], keepdims=1),
        helper.make_node("ReduceMean", ["matmul_out"], ["rmean_drop"], name="reduce_mean_nokeep",
                         axes=[-1], keepdims=0),
    ]
    outs = [
        _vi("softmax_out", F, [3, 4, 7]),
        _vi("rmean_keep", F, [3, 1, 1]),
        _vi("rmean_drop", F, [3, 4]),
    ]
    g = helper.make_graph(nodes, "ops_misc", [_vi("a", F, [6, 4])], outs, inits)
    return _model(g)


def pytorch_shape_chain() -> onnx.ModelProto:
    """The torch.onnx flatten idiom: x -> Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape -> Gemm."""
    rng = np.random.default_rng(6)
    F = TensorProto.FLOAT
    inits = [
        _init("conv_w", _he(rng, (8, 3, 3, 3))),
        _init("conv_b", _small(rng, 8, 0.01)),
        _init("fc_w", _he(rng, (10, 128))),
        _init("fc_b", _small(rng, 10, 0.01)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv_out"], name="conv",
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv_out"], ["relu_out"], name="relu"),
        helper.make_node("Shape", ["relu_out"], ["shape_out"], name="Shape_3"),
        _const_node("Constant_4", "gather_index", np.array(0, dtype=np.int64)),
        helper.make_node("Gather", ["shape_out", "gather_index"], ["batch_dim"], name="Gather_5", axis=0),
        _const_node("Constant_6", "unsqueeze_axes", np.array([0], dtype=np.int64)),
        helper.make_node("Unsqueeze", ["batch_dim", "unsqueeze_axes"], ["batch_dim_1d"], name="Unsqueeze_7"),
        _const_node("Constant_8", "minus_one", np.array([-1], dtype=np.int64)),
        helper.make_node("Concat", ["batch_dim_1d", "minus_one"], ["new_shape"], name="Concat_9", axis=0),
        helper.make_node("Reshape", ["relu_out", "new_shape"], ["flat"], name="Reshape_10"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["output"], name="Gemm_11", transB=1),
    ]
    g = helper.make_graph(nodes, "pytorch_shape_chain", [_vi("input", F, [1, 3, 8, 8])],
                          [_vi("output", F, [1, 10])], inits)
    return _model(g)


def opset7() -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    F = TensorProto.FLOAT
    inits = [*_bn_params(rng, "bn", 2), _init("reshape_shape", np.array([1, 4, 64], dtype=np.int64))]
    nodes = [
        helper.make_node("BatchNormalization", ["x", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn_out"],
                         name="bn", epsilon=1e-4, momentum=0.9),
        helper.make_node("Upsample", ["bn_out"], ["up_out"], name="upsample", mode="nearest",
                         scales=[1.0, 1.0, 2.0, 2.0]),
        helper.make_node("Dropout", ["up_out"], ["drop_out"], name="dropout", ratio=0.3),
        helper.make_node("Concat", ["up_out", "drop_out"], ["concat_out"], name="concat", axis=1),
        helper.make_node("Reshape", ["concat_out", "reshape_shape"], ["output"], name="reshape"),
    ]
    g = helper.make_graph(nodes, "opset7", [_vi("x", F, [1, 2, 4, 4])], [_vi("output", F, [1, 4, 64])], inits)
    return _model(g, opset=7, ir_version=4)


def symbolic_batch() -> onnx.ModelProto:
    rng = np.random.default_rng(8)
    F = TensorProto.FLOAT
    inits = [_init("conv_w", _he(rng, (4, 3, 3, 3))), _init("conv_b", _small(rng, 4, 0.01))]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv_out"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv_out"], ["output"], name="relu"),
    ]
    g = helper.make_graph(nodes, "symbolic_batch", [_vi("input", F, ["N", 3, 16, 16])],
                          [_vi("output", F, ["N", 4, 16, 16])], inits)
    return _model(g)


def negative_dims() -> onnx.ModelProto:
    """Dynamic dims as some exporters write them: dim_value -1 on the batch of the input,
    of a value_info and of the output ([-1, 2])."""
    rng = np.random.default_rng(9)
    F = TensorProto.FLOAT
    inits = [_init("conv_w", _he(rng, (4, 3, 3, 3))), _init("conv_b", _small(rng, 4, 0.01)),
             _init("fc_w", _he(rng, (2, 4))), _init("fc_b", _small(rng, 2, 0.01))]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv_out"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv_out"], ["relu_out"], name="relu"),
        helper.make_node("GlobalAveragePool", ["relu_out"], ["gap_out"], name="gap"),
        helper.make_node("Flatten", ["gap_out"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["output"], name="fc", transB=1),
    ]
    g = helper.make_graph(nodes, "negative_dims", [_vi("input", F, [-1, 3, 16, 16])],
                          [_vi("output", F, [-1, 2])], inits,
                          value_info=[_vi("conv_out", F, [-1, 4, 16, 16])])
    return _model(g)


def unknown_spatial() -> onnx.ModelProto:
    """Symbolic height and width besides the batch: no default, the error suggests the model's own dims."""
    rng = np.random.default_rng(10)
    F = TensorProto.FLOAT
    inits = [_init("conv_w", _he(rng, (4, 3, 3, 3)))]
    nodes = [helper.make_node("Conv", ["input", "conv_w"], ["output"], name="conv", kernel_shape=[3, 3])]
    g = helper.make_graph(nodes, "unknown_spatial", [_vi("input", F, ["N", 3, "H", "W"])],
                          [_vi("output", F, ["N", 4, "H2", "W2"])], inits)
    return _model(g)


def no_shape() -> onnx.ModelProto:
    F = TensorProto.FLOAT
    inp = onnx.ValueInfoProto()
    inp.name = "input"
    inp.type.tensor_type.elem_type = F  # element type only, no shape field at all
    out = onnx.ValueInfoProto()
    out.name = "output"
    out.type.tensor_type.elem_type = F
    nodes = [helper.make_node("Relu", ["input"], ["output"], name="relu")]
    g = helper.make_graph(nodes, "no_shape", [inp], [out])
    return _model(g)


def weights_float(np_dtype, seed) -> onnx.ModelProto:
    """Conv weight stored as float16/float64, converted by Cast(to=FLOAT) before the Conv."""
    rng = np.random.default_rng(seed)
    F = TensorProto.FLOAT
    inits = [
        _init("conv_w_stored", _he(rng, (4, 3, 3, 3)).astype(np_dtype)),
        _init("conv_b_stored", _small(rng, 4, 0.05).astype(np_dtype)),
    ]
    nodes = [
        helper.make_node("Cast", ["conv_w_stored"], ["conv_w"], name="cast_w", to=F),
        helper.make_node("Cast", ["conv_b_stored"], ["conv_b"], name="cast_b", to=F),
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["output"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    ]
    g = helper.make_graph(nodes, "weights_" + np.dtype(np_dtype).name, [_vi("input", F, [1, 3, 8, 8])],
                          [_vi("output", F, [1, 4, 8, 8])], inits)
    return _model(g)


def weights_int() -> onnx.ModelProto:
    F = TensorProto.FLOAT
    inits = [
        _init("offset_i8", np.array([-3, 0, 7], dtype=np.int8).reshape(1, 3, 1, 1)),
        _init("offset_i32", np.array([100000, -2, 5, -70000, 1, 0, 3, -1], dtype=np.int32)),
    ]
    nodes = [
        helper.make_node("Cast", ["offset_i8"], ["offset_i8_f"], name="cast_i8", to=F),
        helper.make_node("Add", ["input", "offset_i8_f"], ["add_i8_out"], name="add_i8"),
        helper.make_node("Cast", ["offset_i32"], ["offset_i32_f"], name="cast_i32", to=F),
        helper.make_node("Add", ["add_i8_out", "offset_i32_f"], ["output"], name="add_i32"),
    ]
    g = helper.make_graph(nodes, "weights_int", [_vi("input", F, [1, 3, 8, 8])], [_vi("output", F, [1, 3, 8, 8])],
                          inits)
    return _model(g)


def activation_idioms() -> onnx.ModelProto:
    """Four convolutions, each followed by an activation spelled out as PyTorch exports it (opset 13 has no
    Gelu or Mish op): SiLU as x*Sigmoid(x), erf GELU (x/sqrt2 -> Erf -> +1 -> *x -> *0.5), Mish as
    x*Tanh(Softplus(x)), tanh GELU (x*0.5 first, then Pow(x, 3))."""
    rng = np.random.default_rng(17)
    F = TensorProto.FLOAT
    scalar = lambda v: np.array(v, dtype=np.float32)  # noqa: E731
    inits = [
        _init("conv1_w", _he(rng, (8, 3, 3, 3))),
        _init("conv1_b", _small(rng, 8)),
        _init("conv2_w", _he(rng, (8, 8, 3, 3))),
        _init("conv2_b", _small(rng, 8)),
        _init("conv3_w", _he(rng, (8, 8, 3, 3))),
        _init("conv3_b", _small(rng, 8)),
        _init("conv4_w", _he(rng, (4, 8, 1, 1))),
        _init("conv4_b", _small(rng, 4)),
        _init("sqrt2", scalar(np.sqrt(2.0))),
        _init("one", scalar(1.0)),
        _init("half", scalar(0.5)),
        _init("three", scalar(3.0)),
        _init("kappa", scalar(0.044715)),
        _init("sqrt2_over_pi", scalar(np.sqrt(2.0 / np.pi))),
    ]

    def conv(name, x, k):
        return helper.make_node("Conv", [x, name + "_w", name + "_b"], [name + "_out"], name=name,
                                kernel_shape=[k, k], pads=[k // 2] * 4)

    nodes = [
        conv("conv1", "input", 3),
        helper.make_node("Sigmoid", ["conv1_out"], ["silu_sigmoid"], name="silu_sigmoid"),
        helper.make_node("Mul", ["conv1_out", "silu_sigmoid"], ["silu_out"], name="silu_mul"),
        conv("conv2", "silu_out", 3),
        helper.make_node("Div", ["conv2_out", "sqrt2"], ["gelu_div"], name="gelu_div"),
        helper.make_node("Erf", ["gelu_div"], ["gelu_erf"], name="gelu_erf"),
        helper.make_node("Add", ["gelu_erf", "one"], ["gelu_add"], name="gelu_add"),
        helper.make_node("Mul", ["conv2_out", "gelu_add"], ["gelu_mul"], name="gelu_mul"),
        helper.make_node("Mul", ["gelu_mul", "half"], ["gelu_out"], name="gelu_half"),
        conv("conv3", "gelu_out", 3),
        helper.make_node("Softplus", ["conv3_out"], ["mish_softplus"], name="mish_softplus"),
        helper.make_node("Tanh", ["mish_softplus"], ["mish_tanh"], name="mish_tanh"),
        helper.make_node("Mul", ["conv3_out", "mish_tanh"], ["mish_out"], name="mish_mul"),
        conv("conv4", "mish_out", 1),
        helper.make_node("Mul", ["conv4_out", "half"], ["tgelu_half"], name="tgelu_half"),
        helper.make_node("Pow", ["conv4_out", "three"], ["tgelu_cube"], name="tgelu_cube"),
        helper.make_node("Mul", ["kappa", "tgelu_cube"], ["tgelu_kappa"], name="tgelu_kappa"),
        helper.make_node("Add", ["conv4_out", "tgelu_kappa"], ["tgelu_sum"], name="tgelu_sum"),
        helper.make_node("Mul", ["sqrt2_over_pi", "tgelu_sum"], ["tgelu_scaled"], name="tgelu_scaled"),
        helper.make_node("Tanh", ["tgelu_scaled"], ["tgelu_tanh"], name="tgelu_tanh"),
        helper.make_node("Add", ["one", "tgelu_tanh"], ["tgelu_add"], name="tgelu_add"),
        helper.make_node("Mul", ["tgelu_half", "tgelu_add"], ["output"], name="tgelu_mul"),
    ]
    g = helper.make_graph(nodes, "activation_idioms", [_vi("input", F, [1, 3, 16, 16])],
                          [_vi("output", F, [1, 4, 16, 16])], inits)
    return _model(g)


def shape_arithmetic() -> onnx.ModelProto:
    """A conv network wrapped in shape logic as exporters write it, all of it static: a per-channel bias
    Tiled from a constant; the Reshape target computed as Shape -> Gather -> Unsqueeze -> Concat with the
    spatial size from Shape(start=2) -> ReduceProd and Mul; a mask over the logits built from Size,
    Range, ConstantOfShape, comparisons, Min/Max, Not/And/Or and Where; a gain from Sqrt, Ceil, Floor,
    Neg and Abs; an offset from ReduceSum of the mask, Cast and Expand. dfc must fold every shape op."""
    rng = np.random.default_rng(18)
    F, I64 = TensorProto.FLOAT, TensorProto.INT64
    i64 = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
    f32 = lambda v: np.array(v, dtype=np.float32)  # noqa: E731
    inits = [
        _init("conv_w", _he(rng, (8, 3, 3, 3))),
        _init("bias4", _small(rng, (1, 4, 1, 1), 0.1)),
        _init("repeats", i64([1, 2, 1, 1])),
        _init("fc_w", _he(rng, (10, 8 * 16 * 16))),
        _init("fc_b", _small(rng, 10, 0.01)),
        _init("zero", i64(0)), _init("one", i64(1)), _init("two", i64(2)), _init("seven", i64(7)),
        _init("eight", i64(8)), _init("axis0", i64([0])), _init("axis1", i64([1])),
        _init("high", f32([1.0])), _init("low", f32([0.5])), _init("hundred", f32(100.0)),
        _init("minus_forty", f32(-40.0)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w"], ["conv_out"], name="conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Tile", ["bias4", "repeats"], ["bias8"], name="tile_bias"),
        helper.make_node("Add", ["conv_out", "bias8"], ["biased"], name="add_bias"),
        helper.make_node("Relu", ["biased"], ["features"], name="relu"),
        # Reshape target [N, C * H * W], computed from the features' shape.
        helper.make_node("Shape", ["features"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], name="gather_batch", axis=0),
        helper.make_node("Gather", ["shape", "one"], ["channels"], name="gather_channels", axis=0),
        helper.make_node("Shape", ["features"], ["spatial"], name="shape_spatial", start=2),
        helper.make_node("ReduceProd", ["spatial"], ["plane"], name="plane", keepdims=1),
        helper.make_node("Unsqueeze", ["batch", "axis0"], ["batch_1d"], name="unsqueeze_batch"),
        helper.make_node("Unsqueeze", ["channels", "axis0"], ["channels_1d"], name="unsqueeze_channels"),
        helper.make_node("Mul", ["channels_1d", "plane"], ["flat_size"], name="flat_size"),
        helper.make_node("Concat", ["batch_1d", "flat_size"], ["target"], name="target", axis=0),
        helper.make_node("Reshape", ["features", "target"], ["flat"], name="reshape"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
        # A mask over the logits: keep 2 <= i <= 8 outside [0, size/2) and [7, size).
        helper.make_node("Size", ["logits"], ["size"], name="size"),
        helper.make_node("Range", ["zero", "size", "one"], ["index"], name="range"),
        helper.make_node("Div", ["size", "two"], ["half"], name="half"),
        helper.make_node("Shape", ["logits"], ["logits_shape"], name="shape_logits"),
        helper.make_node("ConstantOfShape", ["logits_shape"], ["zeros"], name="zeros",
                         value=helper.make_tensor("value", I64, [1], [0])),
        helper.make_node("Add", ["zeros", "index"], ["index_2d"], name="index_2d"),
        helper.make_node("Less", ["index_2d", "half"], ["below_half"], name="below_half"),
        helper.make_node("GreaterOrEqual", ["index", "seven"], ["from_seven"], name="from_seven"),
        helper.make_node("Or", ["below_half", "from_seven"], ["outside"], name="outside"),
        helper.make_node("Not", ["outside"], ["inside"], name="inside"),
        helper.make_node("Min", ["index", "eight"], ["clamped_high"], name="clamp_high"),
        helper.make_node("Max", ["clamped_high", "two"], ["clamped"], name="clamp_low"),
        helper.make_node("Equal", ["index", "clamped"], ["in_range"], name="in_range"),
        helper.make_node("And", ["inside", "in_range"], ["keep"], name="keep"),
        helper.make_node("Where", ["keep", "high", "low"], ["weights"], name="weights"),
        # gain = abs(-floor(ceil(sqrt(size) - 40) / 100)) = 1.
        helper.make_node("Cast", ["size"], ["size_f"], name="size_f", to=F),
        helper.make_node("Sqrt", ["size_f"], ["root"], name="root"),
        helper.make_node("Add", ["root", "minus_forty"], ["shifted"], name="shifted"),
        helper.make_node("Ceil", ["shifted"], ["ceiled"], name="ceiled"),
        helper.make_node("Div", ["ceiled", "hundred"], ["scaled"], name="scaled"),
        helper.make_node("Floor", ["scaled"], ["floored"], name="floored"),
        helper.make_node("Neg", ["floored"], ["negated"], name="negated"),
        helper.make_node("Abs", ["negated"], ["gain"], name="gain"),
        helper.make_node("Mul", ["weights", "gain"], ["gained"], name="gained"),
        helper.make_node("Mul", ["logits", "gained"], ["weighted"], name="weighted"),
        # offset = (number of kept logits) / 100, broadcast to the logits' shape.
        helper.make_node("Cast", ["keep"], ["keep_i"], name="keep_i", to=I64),
        helper.make_node("ReduceSum", ["keep_i", "axis1"], ["kept"], name="kept", keepdims=1),
        helper.make_node("Cast", ["kept"], ["kept_f"], name="kept_f", to=F),
        helper.make_node("Div", ["kept_f", "hundred"], ["offset"], name="offset"),
        helper.make_node("Expand", ["offset", "logits_shape"], ["offsets"], name="offsets"),
        helper.make_node("Add", ["weighted", "offsets"], ["output"], name="add_offset"),
    ]
    g = helper.make_graph(nodes, "shape_arithmetic", [_vi("input", F, [1, 3, 16, 16])],
                          [_vi("output", F, [1, 10])], inits)
    return _model(g, opset=15)


def exporter_idioms() -> onnx.ModelProto:
    """What older exporters write around a small detector-style CNN, at opset 9: an NHWC input turned NCHW
    by a Transpose (and the output turned back); weights as Constant nodes; a squeeze-excitation block
    (GlobalAveragePool, two 1x1 convolutions, HardSigmoid, Mul); HardSwish spelled x*Clip(x+3,0,6)/6
    with a Div; an FPN step (a lateral 1x1 convolution, a nearest Upsample with a scales input, an Add
    and a Concat); and a stride-2 ConvTranspose decoder."""
    rng = np.random.default_rng(23)
    F = TensorProto.FLOAT
    scalar = lambda v: np.array(v, dtype=np.float32)  # noqa: E731
    weights = {
        "stem_w": _he(rng, (16, 3, 3, 3)), "stem_b": _small(rng, 16),
        "se1_w": _he(rng, (4, 16, 1, 1)), "se1_b": _small(rng, 4),
        "se2_w": _he(rng, (16, 4, 1, 1)), "se2_b": _small(rng, 16),
        "down_w": _he(rng, (32, 16, 3, 3)), "down_b": _small(rng, 32),
        "lateral_w": _he(rng, (16, 32, 1, 1)), "lateral_b": _small(rng, 16),
        "decoder_w": _he(rng, (32, 8, 4, 4), fan_in=32 * 4), "decoder_b": _small(rng, 8),
    }
    # Weights as Constant nodes, as some exporters write them; the small scalars stay initializers.
    nodes = [_const_node(name + "_const", name, value) for name, value in weights.items()]
    inits = [_init("three", scalar(3.0)), _init("six", scalar(6.0)),
             _init("up_scales", np.array([1, 1, 2, 2], dtype=np.float32))]
    nodes += [
        helper.make_node("Transpose", ["input"], ["nchw"], name="to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "stem_w", "stem_b"], ["stem"], name="stem", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["stem"], ["stem_relu"], name="stem_relu"),
        helper.make_node("GlobalAveragePool", ["stem_relu"], ["se_pool"], name="se_pool"),
        helper.make_node("Conv", ["se_pool", "se1_w", "se1_b"], ["se1"], name="se1", kernel_shape=[1, 1]),
        helper.make_node("Relu", ["se1"], ["se1_relu"], name="se1_relu"),
        helper.make_node("Conv", ["se1_relu", "se2_w", "se2_b"], ["se2"], name="se2", kernel_shape=[1, 1]),
        helper.make_node("HardSigmoid", ["se2"], ["se_scale"], name="se_scale", alpha=1.0 / 6, beta=0.5),
        helper.make_node("Mul", ["stem_relu", "se_scale"], ["excited"], name="se_mul"),
        helper.make_node("Conv", ["excited", "down_w", "down_b"], ["down"], name="down", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["down", "three"], ["hs_add"], name="hs_add"),
        helper.make_node("Clip", ["hs_add"], ["hs_clip"], name="hs_clip", min=0.0, max=6.0),
        helper.make_node("Mul", ["down", "hs_clip"], ["hs_mul"], name="hs_mul"),
        helper.make_node("Div", ["hs_mul", "six"], ["hswish"], name="hs_div"),
        helper.make_node("Conv", ["hswish", "lateral_w", "lateral_b"], ["lateral"], name="lateral",
                         kernel_shape=[1, 1]),
        helper.make_node("Upsample", ["lateral", "up_scales"], ["up"], name="up", mode="nearest"),
        helper.make_node("Add", ["up", "excited"], ["fpn_sum"], name="fpn_add"),
        helper.make_node("Concat", ["fpn_sum", "excited"], ["fpn"], name="fpn_concat", axis=1),
        helper.make_node("ConvTranspose", ["fpn", "decoder_w", "decoder_b"], ["decoded"], name="decoder",
                         kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["decoded"], ["decoded_relu"], name="decoder_relu"),
        helper.make_node("Transpose", ["decoded_relu"], ["output"], name="to_nhwc", perm=[0, 2, 3, 1]),
    ]
    g = helper.make_graph(nodes, "exporter_idioms", [_vi("input", F, [1, 32, 32, 3])],
                          [_vi("output", F, [1, 32, 32, 8])], inits)
    return _model(g, opset=9)


def shufflenet_blocks() -> onnx.ModelProto:
    """Two ShuffleNetV2 stride-1 blocks as torch exports them at opset 13: the input split into two channel
    halves by Slices (one with ends past the extent and a negative axis), the second half through a 1x1
    convolution, a depthwise 3x3 and another 1x1, concatenated with the first half, and the channels
    shuffled by Reshape-Transpose-Reshape. A 1x1 stem makes the first block's slices read a map computed
    in the same group."""
    rng = np.random.default_rng(29)
    F = TensorProto.FLOAT
    c, half, h, w = 48, 24, 18, 14
    ints = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    inits = [_init("stem_w", _he(rng, (c, 24, 1, 1))), _init("stem_b", _small(rng, c)),
             _init("shuffle_split", ints(1, 2, half, h, w)), _init("shuffle_merge", ints(1, c, h, w))]
    nodes = [
        helper.make_node("Conv", ["input", "stem_w", "stem_b"], ["stem_conv"], name="stem", kernel_shape=[1, 1]),
        helper.make_node("Relu", ["stem_conv"], ["stem"], name="stem_relu"),
    ]
    x = "stem"
    for k, (axis, end, first_half_first) in enumerate([(1, c, True), (-3, 2**63 - 1, False)]):
        p = f"b{k}_"
        inits += [_init(p + "lo_starts", ints(0)), _init(p + "lo_ends", ints(half)),
                  _init(p + "hi_starts", ints(half)), _init(p + "hi_ends", ints(end)),
                  _init(p + "axes", ints(axis)), _init(p + "steps", ints(1))]
        lo = helper.make_node("Slice", [x, p + "lo_starts", p + "lo_ends", p + "axes"], [p + "x1"], name=p + "slice_lo")
        hi = helper.make_node("Slice", [x, p + "hi_starts", p + "hi_ends", p + "axes", p + "steps"], [p + "x2"],
                              name=p + "slice_hi")
        nodes += [lo, hi] if first_half_first else [hi, lo]
        for name, shape in [("pw1", (half, half, 1, 1)), ("dw", (half, 1, 3, 3)), ("pw2", (half, half, 1, 1))]:
            inits += [_init(p + name + "_w", _he(rng, shape)), _init(p + name + "_b", _small(rng, half))]
        nodes += [
            helper.make_node("Conv", [p + "x2", p + "pw1_w", p + "pw1_b"], [p + "pw1"], name=p + "pw1",
                             kernel_shape=[1, 1]),
            helper.make_node("Relu", [p + "pw1"], [p + "pw1_relu"], name=p + "pw1_relu"),
            helper.make_node("Conv", [p + "pw1_relu", p + "dw_w", p + "dw_b"], [p + "dw"], name=p + "dw",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=half),
            helper.make_node("Conv", [p + "dw", p + "pw2_w", p + "pw2_b"], [p + "pw2"], name=p + "pw2",
                             kernel_shape=[1, 1]),
            helper.make_node("Relu", [p + "pw2"], [p + "branch"], name=p + "pw2_relu"),
            helper.make_node("Concat", [p + "x1", p + "branch"], [p + "cat"], name=p + "concat", axis=1),
            helper.make_node("Reshape", [p + "cat", "shuffle_split"], [p + "split"], name=p + "shuffle_split"),
            helper.make_node("Transpose", [p + "split"], [p + "swapped"], name=p + "shuffle_swap",
                             perm=[0, 2, 1, 3, 4]),
            helper.make_node("Reshape", [p + "swapped", "shuffle_merge"], ["output" if k == 1 else p + "out"],
                             name=p + "shuffle_merge"),
        ]
        x = p + "out"
    g = helper.make_graph(nodes, "shufflenet_blocks", [_vi("input", F, [1, 24, h, w])],
                          [_vi("output", F, [1, c, h, w])], inits)
    return _model(g, opset=13)


def space_depth() -> onnx.ModelProto:
    """A sub-pixel network at opset 13: SpaceToDepth folds 2x2 pixel blocks of the input into channels,
    two convolutions run at half resolution, and two sub-pixel upsampling heads (a convolution to r^2
    times the channels, then DepthToSpace) bring it back: one in DCR order, one in CRD order."""
    rng = np.random.default_rng(29)
    F = TensorProto.FLOAT
    inits = [
        _init("body_w", _he(rng, (16, 12, 3, 3))), _init("body_b", _small(rng, 16)),
        _init("up1_w", _he(rng, (32, 16, 3, 3))), _init("up1_b", _small(rng, 32)),
        _init("up2_w", _he(rng, (12, 8, 3, 3))), _init("up2_b", _small(rng, 12)),
    ]
    conv = lambda name, x, y: helper.make_node(  # noqa: E731
        "Conv", [x, name + "_w", name + "_b"], [y], name=name, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("SpaceToDepth", ["input"], ["blocks"], name="to_depth", blocksize=2),
        conv("body", "blocks", "body"),
        helper.make_node("Relu", ["body"], ["body_relu"], name="body_relu"),
        conv("up1", "body_relu", "up1"),
        helper.make_node("DepthToSpace", ["up1"], ["shuffled1"], name="to_space_dcr", blocksize=2, mode="DCR"),
        helper.make_node("Relu", ["shuffled1"], ["shuffled1_relu"], name="up1_relu"),
        conv("up2", "shuffled1_relu", "up2"),
        helper.make_node("DepthToSpace", ["up2"], ["output"], name="to_space_crd", blocksize=2, mode="CRD"),
    ]
    g = helper.make_graph(nodes, "space_depth", [_vi("input", F, [1, 3, 16, 16])],
                          [_vi("output", F, [1, 3, 32, 32])], inits)
    return _model(g, opset=13)


def broadcast_copies() -> onnx.ModelProto:
    """Expand and Tile of run-time maps at opset 13: a global-context branch (GlobalAveragePool, the
    [1,C,1,1] vector Expanded to the map and Concatenated with it, as in ASPP's image pooling), a map
    Tiled along channels and Added, and a map Tiled along height and width."""
    rng = np.random.default_rng(31)
    F = TensorProto.FLOAT
    inits = [
        _init("stem_w", _he(rng, (16, 4, 3, 3))), _init("stem_b", _small(rng, 16)),
        _init("mix_w", _he(rng, (8, 32, 1, 1))), _init("mix_b", _small(rng, 8)),
        _init("head_w", _he(rng, (4, 16, 3, 3))), _init("head_b", _small(rng, 4)),
        _init("context_shape", np.array([1, 16, 8, 8], dtype=np.int64)),
        _init("channel_repeats", np.array([1, 2, 1, 1], dtype=np.int64)),
        _init("spatial_repeats", np.array([1, 1, 2, 2], dtype=np.int64)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "stem_w", "stem_b"], ["stem"], name="stem", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["stem"], ["stem_relu"], name="stem_relu"),
        helper.make_node("GlobalAveragePool", ["stem_relu"], ["context"], name="context_pool"),
        helper.make_node("Expand", ["context", "context_shape"], ["context_map"], name="context_expand"),
        helper.make_node("Concat", ["stem_relu", "context_map"], ["joined"], name="join", axis=1),
        helper.make_node("Conv", ["joined", "mix_w", "mix_b"], ["mix"], name="mix", kernel_shape=[1, 1]),
        helper.make_node("Tile", ["mix", "channel_repeats"], ["mix_tiled"], name="channel_tile"),
        helper.make_node("Add", ["mix_tiled", "stem_relu"], ["summed"], name="sum"),
        helper.make_node("Tile", ["summed", "spatial_repeats"], ["mosaic"], name="spatial_tile"),
        helper.make_node("Conv", ["mosaic", "head_w", "head_b"], ["output"], name="head", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
    ]
    g = helper.make_graph(nodes, "broadcast_copies", [_vi("input", F, [1, 4, 8, 8])],
                          [_vi("output", F, [1, 4, 16, 16])], inits)
    return _model(g, opset=13)


def write_reference_run(name: str, model: onnx.ModelProto, out_dir: str) -> None:
    """NAME.input.npy (seeded N(0, 1)) and NAME.expected.npy, onnxruntime's output for it (one thread)."""
    (input_info,), (output_info,) = model.graph.input, model.graph.output
    shape = [d.dim_value for d in input_info.type.tensor_type.shape.dim]
    x = np.random.default_rng(2027).standard_normal(shape, dtype=np.float32)
    (y,) = ort_session(model.SerializeToString(), intra_threads=1).run([output_info.name], {input_info.name: x})
    np.save(os.path.join(out_dir, name + ".input.npy"), x)
    np.save(os.path.join(out_dir, name + ".expected.npy"), y)


def initializer_as_input() -> onnx.ModelProto:
    """IR version 3 style: every initializer is also declared in graph.input."""
    rng = np.random.default_rng(9)
    F = TensorProto.FLOAT
    inits = [
        _init("conv_w", _he(rng, (4, 3, 3, 3))),
        _init("conv_b", _small(rng, 4, 0.01)),
        _init("add_c", _small(rng, (1, 4, 1, 1), 0.5)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv_out"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv_out"], ["relu_out"], name="relu"),
        helper.make_node("Add", ["relu_out", "add_c"], ["output"], name="add"),
    ]
    inputs = [_vi("input", F, [1, 3, 8, 8])] + [_vi(t.name, t.data_type, list(t.dims)) for t in inits]
    g = helper.make_graph(nodes, "initializer_as_input", inputs, [_vi("output", F, [1, 4, 8, 8])], inits)
    return _model(g, opset=8, ir_version=3)


# --------------------------------------------------------------------------
# Bad inputs (no shapes.json, no checker)
# --------------------------------------------------------------------------


def missing_external() -> onnx.ModelProto:
    F = TensorProto.FLOAT
    w = TensorProto()
    w.name = "add_c"
    w.data_type = F
    w.dims.extend([1, 3, 1, 1])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "does_not_exist.bin"), ("offset", "0"), ("length", "12")):
        e = w.external_data.add()
        e.key = k
        e.value = v
    nodes = [helper.make_node("Add", ["input", "add_c"], ["output"], name="add")]
    g = helper.make_graph(nodes, "missing_external", [_vi("input", F, [1, 3, 4, 4])],
                          [_vi("output", F, [1, 3, 4, 4])], [w])
    return _model(g)


def unsupported_ops() -> onnx.ModelProto:
    F = TensorProto.FLOAT
    inits = [_init("k", np.array([2], dtype=np.int64))]
    nodes = [
        helper.make_node("Relu", ["input"], ["relu_out"], name="relu_1"),
        helper.make_node("TopK", ["relu_out", "k"], ["topk_values", "topk_indices"], name="topk_1", axis=-1),
        helper.make_node("Einsum", ["topk_values"], ["einsum_out"], name="einsum_1", equation="nchw->nhwc"),
        helper.make_node("Hardmax", ["relu_out"], ["hardmax_out"], name="hardmax_1", axis=-1),
    ]
    outs = [
        _vi("einsum_out", F, [1, 4, 2, 3]),
        _vi("topk_indices", TensorProto.INT64, [1, 3, 4, 2]),
        _vi("hardmax_out", F, [1, 3, 4, 4]),
    ]
    g = helper.make_graph(nodes, "unsupported_ops", [_vi("input", F, [1, 3, 4, 4])], outs, inits)
    return _model(g)


def unknown_domain() -> onnx.ModelProto:
    F = TensorProto.FLOAT
    nodes = [
        helper.make_node("Relu", ["input"], ["relu_out"], name="relu"),
        helper.make_node("FancyActivation", ["relu_out"], ["output"], name="custom_1",
                         domain="com.example.custom", strength=2.0),
    ]
    g = helper.make_graph(nodes, "unknown_domain", [_vi("input", F, [1, 3, 4, 4])],
                          [_vi("output", F, [1, 3, 4, 4])])
    return _model(g, extra_opsets=[("com.example.custom", 1)])


def shape_mismatch() -> onnx.ModelProto:
    F = TensorProto.FLOAT
    nodes = [helper.make_node("Add", ["a", "b"], ["output"], name="add_mismatch")]
    g = helper.make_graph(nodes, "shape_mismatch", [_vi("a", F, [1, 3, 4, 4]), _vi("b", F, [1, 5, 4, 4])],
                          [_vi("output", F, [1, 3, 4, 4])])
    return _model(g)


def huge_dims() -> onnx.ModelProto:
    """A Relu whose input declares f32[1,3,2^40,2^40]: the element count overflows a 64-bit integer."""
    F = TensorProto.FLOAT
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "huge_dims", [_vi("x", F, [1, 3, 2**40, 2**40])],
                          [_vi("y", F, [1, 3, 2**40, 2**40])])
    return _model(g)


def conv_channel_mismatch() -> onnx.ModelProto:
    rng = np.random.default_rng(10)
    F = TensorProto.FLOAT
    inits = [_init("conv_w", _he(rng, (4, 5, 3, 3)))]
    nodes = [helper.make_node("Conv", ["input", "conv_w"], ["output"], name="conv_bad_channels",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    g = helper.make_graph(nodes, "conv_channel_mismatch", [_vi("input", F, [1, 3, 8, 8])],
                          [_vi("output", F, [1, 4, 8, 8])], inits)
    return _model(g)


# --------------------------------------------------------------------------
# Hostile inputs: each tiny, each rejected with one line (or compiled) by a test
# in Tests/ONNXImportTests/HostileInputTests.swift
# --------------------------------------------------------------------------


def _relu_graph(name, inits=(), x_shape=(1, 3, 4, 4), nodes=None, outputs=None):
    F = TensorProto.FLOAT
    nodes = nodes or [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    outputs = outputs or [_vi("y", F, list(x_shape))]
    return helper.make_graph(nodes, name, [_vi("x", F, list(x_shape))], outputs, list(inits))


def overflow_dims() -> onnx.ModelProto:
    """An initializer of dims [2^31-1]*3: each dim fits, their product overflows 64 bits; no data."""
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2**31 - 1] * 3)
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    return _model(_relu_graph("overflow_dims", [t], nodes=nodes))


def zero_dims() -> onnx.ModelProto:
    """A Relu on f32[1,3,0,4]: a real empty axis."""
    return _model(_relu_graph("zero_dims", x_shape=(1, 3, 0, 4)))


def raw_data_mismatch(extra: int) -> onnx.ModelProto:
    """An f32[2,3] initializer whose raw_data is 24 + extra bytes."""
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3], raw_data=bytes(24 + extra))
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    return _model(_relu_graph("raw_data_short" if extra < 0 else "raw_data_long", [t], x_shape=(2, 3), nodes=nodes))


EXTERNAL_SMALL = b"\x00" * 16  # external_small.bin: 16 bytes, shorter than any tensor below asks for


def external_past_end(offset: int | None, length: int | None, name: str) -> onnx.ModelProto:
    """An f32[8] (32 bytes) initializer in external_small.bin (16 bytes), at `offset` with `length`."""
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[8], data_location=TensorProto.EXTERNAL)
    for k, v in [("location", "external_small.bin"), ("offset", offset), ("length", length)]:
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    return _model(_relu_graph(name, [t], x_shape=(8,), nodes=nodes))


def graph_cycle() -> onnx.ModelProto:
    """Two Relus that read each other's outputs."""
    nodes = [helper.make_node("Relu", ["b"], ["a"], name="relu_a"),
             helper.make_node("Relu", ["a"], ["b"], name="relu_b")]
    return _model(_relu_graph("graph_cycle", nodes=nodes, outputs=[_vi("a", TensorProto.FLOAT, [1, 3, 4, 4])]))


def duplicate_values() -> onnx.ModelProto:
    """Two nodes write the value 'y'."""
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu_1"), helper.make_node("Sigmoid", ["x"], ["y"], name="sigmoid_1")]
    return _model(_relu_graph("duplicate_values", nodes=nodes))


def undefined_input() -> onnx.ModelProto:
    """A node reads 'ghost', which nothing defines."""
    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"], name="add_ghost")]
    return _model(_relu_graph("undefined_input", nodes=nodes))


def many_attributes() -> onnx.ModelProto:
    """A Relu carrying 3000 integer attributes no operator defines."""
    node = helper.make_node("Relu", ["x"], ["y"], name="relu_many")
    node.attribute.extend(helper.make_attribute(f"a{i}", i) for i in range(3000))
    return _model(_relu_graph("many_attributes", nodes=[node]))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint((num << 3) | 2) + _varint(len(payload)) + payload


def deep_nesting_bytes(levels: int = 100_000) -> bytes:
    """ModelProto whose graph holds a node whose GRAPH attribute holds a graph holding a node ... `levels` deep.

    Written with raw wire bytes (the onnx Python API refuses to build it).  Field numbers: ModelProto
    ir_version=1, graph=7, opset_import=8; GraphProto node=1, name=2; NodeProto op_type=4, attribute=5;
    AttributeProto name=1, g=6, type=20 (GRAPH=5).  Inner levels omit names to keep the file ~1 MB.
    """
    graph = _field(2, b"leaf")
    for i in range(levels):
        attr = _field(6, graph)
        if i == levels - 1:
            attr = _field(1, b"then_branch") + _varint((20 << 3) | 0) + _varint(5) + attr
        node = _field(5, attr)
        if i == levels - 1:
            node = _field(3, b"deep_1") + _field(4, b"If") + node
        graph = _field(1, node)
    graph += _field(2, b"deep_nesting")
    opset = _field(1, b"") + _varint((2 << 3) | 0) + _varint(13)
    model_version = _varint((5 << 3) | 0) + _varint(0)  # explicit 0: a NUL byte marks the file binary for git
    return (_varint((1 << 3) | 0) + _varint(IR_VERSION) + _field(2, PRODUCER.encode()) + model_version
            + _field(7, graph) + _field(8, opset))


def corrupt_bytes(good: bytes, model: onnx.ModelProto) -> bytes:
    """Overwrite a node record in the middle of the graph with invalid wire types (0x07 = field 0, type 7)."""
    mid = len(model.graph.node) // 2
    for k in list(range(mid, len(model.graph.node))) + list(range(0, mid)):
        rec = _field(1, model.graph.node[k].SerializeToString())
        pos = good.find(rec)
        if pos < 0:
            continue
        data = bytearray(good)
        data[pos:pos + 16] = b"\x07" * 16
        data = bytes(data)
        try:
            onnx.load_from_string(data)
        except Exception:  # noqa: BLE001 - any parse failure is what we want
            return data
    raise RuntimeError("could not produce an unparsable corruption of tiny_cnn")


# --------------------------------------------------------------------------
# External data
# --------------------------------------------------------------------------


def save_external(model: onnx.ModelProto, out_dir: str) -> None:
    """external_data.onnx + external_data.bin written by onnx's own external-data helper."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.name = "external_data"
    bin_path = os.path.join(out_dir, "external_data.bin")
    if os.path.exists(bin_path):
        os.remove(bin_path)  # onnx appends to an existing side file
    from onnx.external_data_helper import convert_model_to_external_data

    convert_model_to_external_data(m, all_tensors_to_one_file=True, location="external_data.bin", size_threshold=0)
    onnx.save(m, os.path.join(out_dir, "external_data.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="external_data.bin", size_threshold=0)


def save_external_offsets(model: onnx.ModelProto, out_dir: str) -> None:
    """external_data_offsets.onnx + .bin laid out by hand: tensors in reverse order, each at a 64-byte
    aligned offset after a gap of filler bytes, the first tensor in the file at offset 128, and the last
    tensor in the file described by offset only (no length: it runs to the end of the file)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.name = "external_data_offsets"
    blob = bytearray(b"\xee" * 128)  # leading filler: no tensor starts at offset 0
    tensors = list(m.graph.initializer)[::-1]
    for idx, t in enumerate(tensors):
        raw = numpy_helper.to_array(t).astype(helper.tensor_dtype_to_np_dtype(t.data_type)).tobytes()
        while len(blob) % 64:
            blob.append(0xEE)
        offset = len(blob)
        blob += raw
        last = idx == len(tensors) - 1
        t.ClearField("raw_data")
        t.ClearField("float_data")
        t.ClearField("int64_data")
        t.ClearField("int32_data")
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        entries = [("location", "external_data_offsets.bin"), ("offset", str(offset))]
        if not last:
            entries.append(("length", str(len(raw))))
        for k, v in entries:
            e = t.external_data.add()
            e.key = k
            e.value = v
    with open(os.path.join(out_dir, "external_data_offsets.bin"), "wb") as f:
        f.write(bytes(blob))
    with open(os.path.join(out_dir, "external_data_offsets.onnx"), "wb") as f:
        f.write(m.SerializeToString())


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

VALID = [
    ("tiny_cnn", tiny_cnn),
    ("ops_conv", ops_conv),
    ("ops_eltwise", ops_eltwise),
    ("ops_shape", ops_shape),
    ("ops_misc", ops_misc),
    ("pytorch_shape_chain", pytorch_shape_chain),
    ("opset7", opset7),
    ("symbolic_batch", symbolic_batch),
    ("no_shape", no_shape),
    ("negative_dims", negative_dims),
    ("unknown_spatial", unknown_spatial),
    ("weights_fp16", lambda: weights_float(np.float16, 11)),
    ("weights_fp64", lambda: weights_float(np.float64, 12)),
    ("weights_int", weights_int),
    ("initializer_as_input", initializer_as_input),
    ("activation_idioms", activation_idioms),
    ("shape_arithmetic", shape_arithmetic),
    ("exporter_idioms", exporter_idioms),
    ("shufflenet_blocks", shufflenet_blocks),
    ("space_depth", space_depth),
    ("broadcast_copies", broadcast_copies),
]

# Models whose onnxruntime output for a seeded input is kept beside them (NAME.input.npy, NAME.expected.npy).
REFERENCE_RUNS = {"activation_idioms", "shape_arithmetic", "exporter_idioms", "shufflenet_blocks", "space_depth",
                  "broadcast_copies"}

# Concrete input shapes used to observe shapes for models whose inputs are not fully static.
PROBE_SHAPES = {
    "symbolic_batch": {"input": [1, 3, 16, 16]},
    "no_shape": {"input": [1, 3, 4, 4]},
    "negative_dims": {"input": [1, 3, 16, 16]},
    "unknown_spatial": {"input": [1, 3, 12, 20]},
}

# Valid for onnxruntime but rejected by onnx.checker: its graph input deliberately has no shape field.
NO_CHECKER = {"no_shape"}

BAD = [
    ("missing_external", missing_external),
    ("unsupported_ops", unsupported_ops),
    ("unknown_domain", unknown_domain),
    ("shape_mismatch", shape_mismatch),
    ("conv_channel_mismatch", conv_channel_mismatch),
    ("huge_dims", huge_dims),
    ("overflow_dims", overflow_dims),
    ("zero_dims", zero_dims),
    ("raw_data_short", lambda: raw_data_mismatch(-4)),
    ("raw_data_long", lambda: raw_data_mismatch(4)),
    ("external_offset_past_end", lambda: external_past_end(1 << 40, 32, "external_offset_past_end")),
    ("external_length_past_end", lambda: external_past_end(0, 32, "external_length_past_end")),
    ("graph_cycle", graph_cycle),
    ("duplicate_values", duplicate_values),
    ("undefined_input", undefined_input),
    ("many_attributes", many_attributes),
]


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _shapes_for(name: str, model: onnx.ModelProto, model_dir: str | None = None) -> dict:
    rng = np.random.default_rng(1000)
    if name in PROBE_SHAPES:
        feeds = {k: rng.standard_normal(v).astype(np.float32) for k, v in PROBE_SHAPES[name].items()}
    else:
        feeds = random_feeds(model, rng)
    table, _ = value_shapes(model, feeds=feeds, strict=True, model_dir=model_dir)
    # Cross-check: wherever onnx's static inference knows a full shape, it must match what ran.
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
    for vi in list(inferred.value_info) + list(inferred.output):
        e = _type_entry(vi.type)
        # Dims of -1 are how some exporters write "unknown": not a static shape either.
        if e is None or e[1] is None or any(d is None or d < 0 for d in e[1]) or vi.name not in table:
            continue
        got = table[vi.name]
        if got["dtype"] != e[0] or got["shape"] != e[1]:
            raise RuntimeError(f"{name}: {vi.name} inferred {e}, observed {got}")
    return table


def main(argv: list[str]) -> int:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = argv[1] if len(argv) > 1 else os.path.join(repo, "Fixtures", "onnx")
    os.makedirs(out_dir, exist_ok=True)

    models = {}
    for name, build in VALID:
        m = build()
        if name in NO_CHECKER:
            pass  # the checker demands a shape on graph inputs; onnxruntime does not
        else:
            onnx.checker.check_model(m, full_check=True)
        models[name] = m
        _write(os.path.join(out_dir, name + ".onnx"), m.SerializeToString())
        write_json(os.path.join(out_dir, name + ".shapes.json"), _shapes_for(name, m))
        if name in REFERENCE_RUNS:
            write_reference_run(name, m, out_dir)

    # External data: the model protos reference side files; check them from disk.
    save_external(models["tiny_cnn"], out_dir)
    save_external_offsets(models["tiny_cnn"], out_dir)
    for name in ("external_data", "external_data_offsets"):
        path = os.path.join(out_dir, name + ".onnx")
        onnx.checker.check_model(path, full_check=True)
        loaded = onnx.load(path)  # resolves the side file
        ref = {t.name: numpy_helper.to_array(t) for t in models["tiny_cnn"].graph.initializer}
        for t in loaded.graph.initializer:
            if not np.array_equal(numpy_helper.to_array(t), ref[t.name]):
                raise RuntimeError(f"{name}: tensor {t.name} does not round-trip")
        shell = onnx.load(path, load_external_data=False)
        write_json(os.path.join(out_dir, name + ".shapes.json"), _shapes_for(name, shell, model_dir=out_dir))

    for name, build in BAD:
        _write(os.path.join(out_dir, name + ".onnx"), build().SerializeToString())

    tiny = (models["tiny_cnn"]).SerializeToString()
    _write(os.path.join(out_dir, "empty.onnx"), b"")
    _write(os.path.join(out_dir, "not_onnx.onnx"), b"This is not an ONNX model, just some ASCII text.\n")
    truncated = tiny[: len(tiny) * 6 // 10]
    _write(os.path.join(out_dir, "truncated.onnx"), truncated)
    _write(os.path.join(out_dir, "corrupted.onnx"), corrupt_bytes(tiny, models["tiny_cnn"]))
    _write(os.path.join(out_dir, "deep_nesting.onnx"), deep_nesting_bytes())
    # Below the nesting limit: the decoder reads it, and the If at the top is reported as unsupported.
    _write(os.path.join(out_dir, "nested_subgraphs.onnx"), deep_nesting_bytes(levels=15))
    _write(os.path.join(out_dir, "external_small.bin"), EXTERNAL_SMALL)

    for name in ("empty", "not_onnx", "truncated", "corrupted"):
        try:
            m = onnx.load(os.path.join(out_dir, name + ".onnx"))
            if name == "empty" or name == "not_onnx":
                # protobuf may parse these leniently; they must at least fail the checker
                onnx.checker.check_model(m)
            else:
                raise RuntimeError(f"{name}.onnx unexpectedly parses")
        except RuntimeError:
            raise
        except Exception:  # noqa: BLE001
            pass
    print(f"wrote {len(os.listdir(out_dir))} files to {os.path.relpath(out_dir, repo)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
