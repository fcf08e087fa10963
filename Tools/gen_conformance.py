#!/usr/bin/env python3
"""Generate the external conformance material the Swift tests consume (not committed).

Usage: python3 Tools/gen_conformance.py [OUT_DIR] [--suites node,pytorch-converted,pytorch-operator,light]
                                        [--force] [--jobs N]
OUT_DIR defaults to .cache/conformance under the repository root.

Layout:
  OUT_DIR/<suite>/<case>/model.onnx
  OUT_DIR/<suite>/<case>/test_data_set_<k>/input_<i>.pb, output_<i>.pb   (TensorProto, named after the graph
                                                                          input / output)
  OUT_DIR/<suite>/<case>/shapes.json     {"value": {"dtype": "float32", "shape": [..]}} for every graph input,
                                         node output and graph output; observed with onnxruntime when it can
                                         run the model, else from onnx.shape_inference (unknown dims: null)
  OUT_DIR/manifest.json                  see write_manifest() / Tools/README.md

Idempotent: if OUT_DIR/manifest.json already has this generator version (and the same onnx version and
suite list) nothing is done.  Everything is seeded, so reruns produce the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import _np_dtype_name, dtype_name, ort_session, value_shapes, write_json  # noqa: E402

GENERATOR_VERSION = 2  # bump whenever the output changes
ALL_SUITES = ["node", "pytorch-converted", "pytorch-operator", "light"]
DEFAULT_TOL = {"rtol": 1e-3, "atol": 1e-7}  # onnx backend test runner defaults
LIGHT_TOL = {"rel_l2": 1e-4}


def onnx_data_dir() -> str:
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


# --------------------------------------------------------------------------
# Common helpers
# --------------------------------------------------------------------------


def graph_ops(graph: onnx.GraphProto, acc: set) -> set:
    """Ops of a graph and of every nested subgraph, as "domain::Op" (plain "Op" for the default domain)."""
    for n in graph.node:
        dom = n.domain
        acc.add(n.op_type if dom in ("", "ai.onnx") else f"{dom}::{n.op_type}")
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                graph_ops(a.g, acc)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    graph_ops(g, acc)
    return acc


def default_opset(model: onnx.ModelProto):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return None


def tensor_desc(name: str, arr: np.ndarray) -> dict:
    return {"name": name, "dtype": _np_dtype_name(arr), "shape": [int(d) for d in arr.shape]}


def write_tensor(path: str, arr: np.ndarray, name: str) -> None:
    t = numpy_helper.from_array(arr, name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def read_tensor(path: str) -> tuple[str, np.ndarray]:
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t.name, numpy_helper.to_array(t)


def shapes_json(model: onnx.ModelProto, feeds: dict, notes: list, model_dir: str | None = None) -> dict:
    """value_shapes with onnxruntime if it can run the model, else shape inference only."""
    try:
        table, _ = value_shapes(model, feeds=feeds, strict=False, model_dir=model_dir)
        return table
    except Exception as e:  # noqa: BLE001 - onnxruntime cannot run every conformance model
        notes.append("shapes.json from onnx.shape_inference (onnxruntime failed: %s)" % _one_line(e))
    table, _ = value_shapes(model, feeds=feeds, strict=False, run_ort=False)
    return table


def _one_line(e: Exception) -> str:
    s = str(e).strip().splitlines()
    s = s[0] if s else type(e).__name__
    return s[:160]


def is_tensor_vi(vi: onnx.ValueInfoProto) -> bool:
    return vi.type.HasField("tensor_type")


# --------------------------------------------------------------------------
# node suite
# --------------------------------------------------------------------------


def _plain_tensor(x) -> bool:
    """numpy arrays, numpy scalars and ready-made TensorProtos (used upstream for exotic element types)."""
    return isinstance(x, (np.ndarray, np.generic, TensorProto)) and not isinstance(x, np.ma.MaskedArray)


def _as_proto(x, name: str) -> TensorProto:
    if isinstance(x, TensorProto):
        t = TensorProto()
        t.CopyFrom(x)
        t.name = name
        return t
    return numpy_helper.from_array(np.asarray(x), name)


def _proto_desc(t: TensorProto) -> dict:
    return {"name": t.name, "dtype": dtype_name(t.data_type), "shape": [int(d) for d in t.dims]}


def gen_node(out_dir: str):
    import warnings

    from onnx.backend.test.case.node import collect_testcases

    np.random.seed(0)  # the onnx test-case generators draw from the global numpy generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    entries, skipped = [], []
    for tc in sorted(cases, key=lambda c: c.name):
        model = tc.model
        g = model.graph
        reason = None
        if not all(is_tensor_vi(v) for v in list(g.input) + list(g.output)):
            reason = "graph input/output is not a plain tensor (sequence, optional or map)"
        elif not tc.data_sets:
            reason = "no data sets"
        else:
            for ins, outs in tc.data_sets:
                if not all(_plain_tensor(x) for x in list(ins) + list(outs)):
                    reason = "test data is not a plain tensor (sequence, optional or map)"
                    break
                if len(ins) > len(g.input) or len(outs) != len(g.output):
                    reason = "test data does not match the graph inputs/outputs"
                    break
        if reason is None:
            try:
                entry = _write_node_case(out_dir, tc)
            except Exception as e:  # noqa: BLE001
                reason = "cannot serialize: " + _one_line(e)
                shutil.rmtree(os.path.join(out_dir, "node", tc.name), ignore_errors=True)
        if reason is not None:
            skipped.append({"suite": "node", "case": tc.name, "reason": reason})
            continue
        entries.append(entry)
    return entries, skipped


def _write_node_case(out_dir: str, tc) -> dict:
    model = tc.model
    g = model.graph
    case_dir = os.path.join(out_dir, "node", tc.name)
    if os.path.isdir(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    in_names = [v.name for v in g.input]
    out_names = [v.name for v in g.output]
    first = None
    for k, (ins, outs) in enumerate(tc.data_sets):
        ds = os.path.join(case_dir, f"test_data_set_{k}")
        os.makedirs(ds)
        pin = [_as_proto(x, in_names[i]) for i, x in enumerate(ins)]
        pout = [_as_proto(x, out_names[i]) for i, x in enumerate(outs)]
        for prefix, protos in (("input", pin), ("output", pout)):
            for i, t in enumerate(protos):
                with open(os.path.join(ds, f"{prefix}_{i}.pb"), "wb") as f:
                    f.write(t.SerializeToString())
        if first is None:
            first = (pin, pout)
    pin, pout = first
    ins = tc.data_sets[0][0]
    notes = []
    try:
        feeds = {t.name: numpy_helper.to_array(t) for t in pin}
    except Exception as e:  # noqa: BLE001
        feeds = None
        notes.append("inputs not convertible to numpy: " + _one_line(e))
    if feeds is not None:
        table = shapes_json(model, feeds, notes)
    else:
        table, _ = value_shapes(model, feeds={}, strict=False, run_ort=False)
    for t in pin:  # graph inputs: the data set is ground truth
        table[t.name] = {"dtype": dtype_name(t.data_type), "shape": [int(d) for d in t.dims]}
    write_json(os.path.join(case_dir, "shapes.json"), table)
    if len(ins) < len(in_names):
        notes.append("data sets give only the first %d of %d graph inputs" % (len(ins), len(in_names)))
    if len(tc.data_sets) > 1:
        notes.append("%d data sets" % len(tc.data_sets))
    return {
        "suite": "node",
        "case": tc.name,
        "path": f"node/{tc.name}",
        "ops": sorted(graph_ops(g, set())),
        "opset": default_opset(model),
        "inputs": [_proto_desc(t) for t in pin],
        "outputs": [_proto_desc(t) for t in pout],
        "tolerance": {"rtol": float(tc.rtol), "atol": float(tc.atol)},
        "data_sets": len(tc.data_sets),
        "notes": "; ".join(notes),
    }


# --------------------------------------------------------------------------
# pytorch-converted / pytorch-operator (copied from the onnx package)
# --------------------------------------------------------------------------


def gen_copied(out_dir: str, suite: str):
    src_root = os.path.join(onnx_data_dir(), suite)
    entries, skipped = [], []
    for case in sorted(os.listdir(src_root)):
        src = os.path.join(src_root, case)
        if not os.path.isfile(os.path.join(src, "model.onnx")):
            continue
        dst = os.path.join(out_dir, suite, case)
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        shutil.copytree(src, dst)
        model = onnx.load(os.path.join(dst, "model.onnx"))
        g = model.graph
        sets = sorted(d for d in os.listdir(dst) if d.startswith("test_data_set_"))
        notes = []
        if not all(is_tensor_vi(v) for v in list(g.input) + list(g.output)):
            skipped.append({"suite": suite, "case": case, "reason": "graph input/output is not a plain tensor"})
            shutil.rmtree(dst)
            continue
        inits = {t.name for t in g.initializer}
        in_names = [v.name for v in g.input if v.name not in inits]
        out_names = [v.name for v in g.output]
        renamed = False
        for s in sets:
            renamed |= _name_set(os.path.join(dst, s), in_names, out_names)
        if renamed:
            notes.append("tensor names in the .pb files set to the graph input/output names (blank upstream)")
        ins, outs = _read_set(os.path.join(dst, sets[0])) if sets else ([], [])
        feeds = {n: a for n, a in ins}
        write_json(os.path.join(dst, "shapes.json"), shapes_json(model, feeds, notes))
        if any(v.name in inits for v in g.input):
            notes.append("initializers are also listed in graph.input (IR version %d)" % model.ir_version)
        data_json = os.path.join(src, "data.json")
        tol = dict(DEFAULT_TOL)
        if os.path.isfile(data_json):
            with open(data_json, encoding="utf-8") as f:
                d = json.load(f)
            tol = {"rtol": float(d.get("rtol", tol["rtol"])), "atol": float(d.get("atol", tol["atol"]))}
        entries.append({
            "suite": suite,
            "case": case,
            "path": f"{suite}/{case}",
            "ops": sorted(graph_ops(g, set())),
            "opset": default_opset(model),
            "inputs": [tensor_desc(n, a) for n, a in ins],
            "outputs": [tensor_desc(n, a) for n, a in outs],
            "tolerance": tol,
            "data_sets": len(sets),
            "notes": "; ".join(notes),
        })
    return entries, skipped


def _name_set(ds: str, in_names: list, out_names: list) -> bool:
    """Give the i-th input/output .pb of a data set the name of the i-th graph input/output; True if changed."""
    changed = False
    for prefix, names in (("input_", in_names), ("output_", out_names)):
        for i, name in enumerate(names):
            path = os.path.join(ds, f"{prefix}{i}.pb")
            if not os.path.isfile(path):
                break
            t = TensorProto()
            with open(path, "rb") as f:
                t.ParseFromString(f.read())
            if t.name != name:
                t.name = name
                with open(path, "wb") as f:
                    f.write(t.SerializeToString())
                changed = True
    return changed


def _read_set(ds: str):
    ins, outs = [], []
    for prefix, acc in (("input_", ins), ("output_", outs)):
        i = 0
        while os.path.isfile(os.path.join(ds, f"{prefix}{i}.pb")):
            acc.append(read_tensor(os.path.join(ds, f"{prefix}{i}.pb")))
            i += 1
    return ins, outs


# --------------------------------------------------------------------------
# light suite: real network graphs with seeded random weights
# --------------------------------------------------------------------------

_PASS_THROUGH = {"Unsqueeze", "Reshape", "Identity", "Cast", "Squeeze", "Flatten"}


def _consumers(graph: onnx.GraphProto) -> dict:
    cons: dict[str, list] = {}
    for n in graph.node:
        for i, name in enumerate(n.input):
            if name:
                cons.setdefault(name, []).append((n, i))
    return cons


def _role(name: str, cons: dict, depth: int = 0):
    """(op_type, input index, node) of the first consumer that is not a pass-through op."""
    for node, idx in cons.get(name, []):
        if node.op_type in _PASS_THROUGH and idx == 0 and depth < 4:
            r = _role(node.output[0], cons, depth + 1)
            if r is not None:
                return r
            continue
        return node.op_type, idx, node
    return None


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _random_param(rng: np.random.Generator, shape, role) -> tuple[np.ndarray, str]:
    shape = tuple(int(d) for d in shape)
    size = int(np.prod(shape)) if shape else 1

    def normal(std):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)

    def uniform(lo, hi):
        return rng.uniform(lo, hi, shape).astype(np.float32)

    if role is None:
        return normal(0.1), "unused"
    op, idx, node = role
    if op in ("Conv", "ConvTranspose") and idx == 1:
        fan_in = int(np.prod(shape[1:])) if op == "Conv" else int(shape[0] * np.prod(shape[2:]))
        return normal(np.sqrt(2.0 / max(fan_in, 1))), "weight"
    if op == "Gemm" and idx == 1:
        fan_in = shape[1] if _attr(node, "transB", 0) else shape[0]
        return normal(np.sqrt(2.0 / max(fan_in, 1))), "weight"
    if op == "Gemm" and idx == 0:
        fan_in = shape[0] if _attr(node, "transA", 0) else shape[-1]
        return normal(np.sqrt(2.0 / max(fan_in, 1))), "weight"
    if op == "MatMul" and idx == 1 and len(shape) >= 2:
        return normal(np.sqrt(2.0 / max(shape[-2], 1))), "weight"
    if op in ("Conv", "ConvTranspose", "Gemm") and idx == 2:
        return normal(0.01), "bias"
    if op == "BatchNormalization":
        if idx == 1:
            return uniform(0.8, 1.2), "bn_scale"
        if idx == 2:
            return normal(0.1), "bn_bias"
        if idx == 3:
            return normal(0.1), "bn_mean"
        if idx == 4:
            return uniform(0.5, 1.5), "bn_var"
    if op == "Mul" or op == "Div":
        return uniform(0.8, 1.2), "scale"
    if op in ("Add", "Sub", "Sum"):
        return normal(0.1), "shift"
    if op == "PRelu":
        return uniform(0.05, 0.3), "slope"
    del size
    return normal(0.1), "other"


def randomize_light(model: onnx.ModelProto, seed: int) -> tuple[onnx.ModelProto, dict]:
    """Replace every float parameter with seeded random values.

    Float parameters are float initializers, ConstantOfShape nodes whose shape is an initializer (the light
    graphs build their weights that way) and float Constant nodes with more than 16 elements.  They become
    plain initializers; initializers nobody reads are dropped; graph.input keeps only the real inputs
    (ir_version raised to 4 so initializers need not be listed as inputs).
    """
    g = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in g.initializer}
    cons = _consumers(g)
    params: list[tuple[str, tuple]] = []  # (name, shape) in graph order
    drop_nodes = set()
    for t in g.initializer:
        if t.data_type == TensorProto.FLOAT:
            params.append((t.name, tuple(t.dims)))
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.input and n.input[0] in inits:
            val = _attr(n, "value", None)
            if val is None or val.data_type == TensorProto.FLOAT:
                shape = tuple(int(d) for d in numpy_helper.to_array(inits[n.input[0]]))
                params.append((n.output[0], shape))
                drop_nodes.add(id(n))
        elif n.op_type == "Constant":
            val = _attr(n, "value", None)
            if isinstance(val, TensorProto) and val.data_type == TensorProto.FLOAT and int(np.prod(val.dims)) > 16:
                params.append((n.output[0], tuple(val.dims)))
                drop_nodes.add(id(n))
    new_nodes = [n for n in g.node if id(n) not in drop_nodes]
    roles: dict[str, int] = {}
    new_inits = {}
    for name, shape in params:
        r = _role(name, cons)
        if r is None and name not in {o.name for o in g.output}:
            continue  # read by nobody: dropped below
        arr, role = _random_param(rng, shape, r)
        roles[role] = roles.get(role, 0) + 1
        new_inits[name] = numpy_helper.from_array(arr, name)
    used = {i for n in new_nodes for i in n.input} | {o.name for o in g.output}
    final_inits = []
    for t in g.initializer:
        if t.name in new_inits:
            continue
        if t.name in used:
            final_inits.append(t)
    final_inits += [new_inits[name] for name, _ in params if name in used]
    init_names = {t.name for t in final_inits} | set(new_inits)
    real_inputs = [vi for vi in g.input if vi.name not in init_names and vi.name not in inits]
    out = onnx.ModelProto()
    out.CopyFrom(model)
    out.ir_version = max(model.ir_version, 4)
    og = out.graph
    del og.node[:]
    og.node.extend(new_nodes)
    del og.initializer[:]
    og.initializer.extend(final_inits)
    del og.input[:]
    og.input.extend(real_inputs)
    del og.value_info[:]
    return out, roles


def calibrate_batchnorm(model: onnx.ModelProto, feeds: dict) -> int:
    """Make every BatchNormalization's running statistics relative to the statistics of its real input.

    Fixed random mean/var do not normalize, so activations of deep residual networks (ResNet-50, ShuffleNet)
    would grow by orders of magnitude.  The network is evaluated in topological order with onnxruntime,
    one segment per BatchNormalization; just before each BN its per-channel input mean mu and std sigma are
    measured and the drawn parameters m0 ~ N(0, 0.1), v0 ~ U(0.5, 1.5) become
        mean = mu + m0 * sigma,    var = sigma^2 * v0.
    Returns the number of calibrated BatchNormalization nodes.
    """
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    uses: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    for o in g.output:
        uses[o.name] = uses.get(o.name, 0) + 1
    values = dict(feeds)
    opsets = list(model.opset_import)
    segment: list = []
    count = 0

    def run_segment():
        if not segment:
            return
        produced = {o for n in segment for o in n.output if o}
        need = []
        for n in segment:
            for i in n.input:
                if i and i not in produced and i not in inits and i not in need:
                    need.append(i)
        seg_inits = []
        seen = set()
        for n in segment:
            for i in n.input:
                if i in inits and i not in seen and i not in produced:
                    seen.add(i)
                    seg_inits.append(inits[i])
        ins = []
        for name in need:
            a = values[name]
            ins.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)))
        outs = []
        for n in segment:
            for o in n.output:
                if o:
                    vi = onnx.ValueInfoProto()
                    vi.name = o
                    outs.append(vi)
        sub = helper.make_model(helper.make_graph(list(segment), "segment", ins, outs, seg_inits),
                                opset_imports=opsets)
        sub.ir_version = model.ir_version
        sess = ort_session(sub.SerializeToString())
        names = [o.name for o in sess.get_outputs()]
        for name, val in zip(names, sess.run(names, {k: values[k] for k in need})):
            values[name] = val
        for n in segment:
            for i in n.input:
                if i in uses:
                    uses[i] -= 1
                    if uses[i] == 0 and i in values and i not in feeds:
                        del values[i]
        segment.clear()

    for node in g.node:
        if node.op_type == "BatchNormalization":
            if node.input[0] not in values:
                run_segment()
            x = values[node.input[0]].astype(np.float64)
            axes = (0,) + tuple(range(2, x.ndim))
            mu = x.mean(axis=axes)
            sigma = np.sqrt(x.var(axis=axes)) + 1e-3
            m0 = numpy_helper.to_array(inits[node.input[3]]).astype(np.float64)
            v0 = numpy_helper.to_array(inits[node.input[4]]).astype(np.float64)
            for name, arr in ((node.input[3], mu + m0 * sigma), (node.input[4], sigma * sigma * v0)):
                inits[name].CopyFrom(numpy_helper.from_array(arr.astype(np.float32), name))
            count += 1
        segment.append(node)
    return count


def gen_light(out_dir: str):
    src_root = os.path.join(onnx_data_dir(), "light")
    entries, skipped = [], []
    names = sorted(f[: -len(".onnx")] for f in os.listdir(src_root) if f.startswith("light_") and f.endswith(".onnx"))
    for idx, base in enumerate(names):
        case = base[len("light_"):]
        t0 = time.time()
        src_model = onnx.load(os.path.join(src_root, base + ".onnx"))
        model, roles = randomize_light(src_model, seed=1000 + idx)
        onnx.checker.check_model(model)
        g = model.graph
        rng = np.random.default_rng(2000 + idx)
        feeds = {}
        for vi in g.input:
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                    for d in vi.type.tensor_type.shape.dim]
            dims[0] = 1  # batch 1
            np_dt = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
            feeds[vi.name] = rng.standard_normal(dims, dtype=np.float32).astype(np_dt)
        n_bn = calibrate_batchnorm(model, feeds)
        case_dir = os.path.join(out_dir, "light", case)
        if os.path.isdir(case_dir):
            shutil.rmtree(case_dir)
        ds = os.path.join(case_dir, "test_data_set_0")
        os.makedirs(ds)
        data = model.SerializeToString()
        with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
            f.write(data)
        del data
        table, values = value_shapes(model, feeds=feeds, strict=False)
        write_json(os.path.join(case_dir, "shapes.json"), table)
        in_names = [v.name for v in g.input]
        out_names = [v.name for v in g.output]
        for i, n in enumerate(in_names):
            write_tensor(os.path.join(ds, f"input_{i}.pb"), feeds[n], n)
        outs = [np.asarray(values[n]) for n in out_names]
        for i, (n, a) in enumerate(zip(out_names, outs)):
            write_tensor(os.path.join(ds, f"output_{i}.pb"), a, n)
        del values
        nparams = sum(int(np.prod(t.dims)) for t in g.initializer if t.data_type == TensorProto.FLOAT)
        role_txt = ", ".join(f"{k} {v}" for k, v in sorted(roles.items()))
        top = float(np.max(outs[0])) if outs and outs[0].size else 0.0
        entries.append({
            "suite": "light",
            "case": case,
            "path": f"light/{case}",
            "ops": sorted(graph_ops(g, set())),
            "opset": default_opset(model),
            "inputs": [tensor_desc(n, feeds[n]) for n in in_names],
            "outputs": [tensor_desc(n, a) for n, a in zip(out_names, outs)],
            "tolerance": dict(LIGHT_TOL),
            "data_sets": 1,
            "notes": (f"{base}.onnx from the onnx package with seeded random weights ({nparams} float parameters; "
                      f"roles: {role_txt}; {n_bn} BatchNormalization mean/var calibrated: mean = mu + N(0,0.1)*sigma, "
                      f"var = sigma^2*U(0.5,1.5) with mu, sigma the per-channel statistics of the BN input); "
                      f"input N(0,1), batch 1; expected output from onnxruntime CPU with "
                      f"graph optimizations disabled; compare by relative L2 error "
                      f"||got-expected||/||expected|| <= {LIGHT_TOL['rel_l2']}; max output {top:.4g}"),
        })
        print(f"  light/{case}: {time.time() - t0:.1f}s", flush=True)
    return entries, skipped


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def _manifest_ok(path: str, suites: list[str]) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return False
    return (
        m.get("generator_version") == GENERATOR_VERSION
        and m.get("onnx_version") == onnx.__version__
        and sorted(m.get("suites", [])) == sorted(suites)
    )


def main(argv=None) -> int:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", nargs="?", default=os.path.join(repo, ".cache", "conformance"))
    ap.add_argument("--suites", default=",".join(ALL_SUITES), help="comma-separated subset of " + ",".join(ALL_SUITES))
    ap.add_argument("--force", action="store_true", help="regenerate even if the manifest is current")
    args = ap.parse_args(argv)
    suites = [s for s in args.suites.split(",") if s]
    for s in suites:
        if s not in ALL_SUITES:
            ap.error(f"unknown suite {s!r}")
    out_dir = os.path.abspath(args.out_dir)
    manifest_path = os.path.join(out_dir, "manifest.json")
    if not args.force and _manifest_ok(manifest_path, suites):
        print(f"conformance material is up to date (generator version {GENERATOR_VERSION})")
        return 0
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(manifest_path):
        os.remove(manifest_path)  # written last: its presence marks a complete generation
    import onnxruntime

    all_entries, all_skipped = [], []
    t_start = time.time()
    for suite in suites:
        t0 = time.time()
        if os.path.isdir(os.path.join(out_dir, suite)):
            shutil.rmtree(os.path.join(out_dir, suite))
        if suite == "node":
            entries, skipped = gen_node(out_dir)
        elif suite == "light":
            entries, skipped = gen_light(out_dir)
        else:
            entries, skipped = gen_copied(out_dir, suite)
        all_entries += entries
        all_skipped += skipped
        print(f"{suite}: {len(entries)} cases written, {len(skipped)} skipped ({time.time() - t0:.1f}s)", flush=True)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": onnxruntime.__version__,
        "suites": suites,
        "cases": sorted(all_entries, key=lambda e: (e["suite"], e["case"])),
        "skipped": sorted(all_skipped, key=lambda e: (e["suite"], e["case"])),
    }
    tmp = manifest_path + ".tmp"
    write_json(tmp, manifest)
    os.replace(tmp, manifest_path)
    print(f"total: {len(all_entries)} cases, {len(all_skipped)} skipped in {time.time() - t_start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
