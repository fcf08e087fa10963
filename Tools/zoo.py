#!/usr/bin/env python3
"""Compile a zoo of public CNNs (seeded random weights) with dfc and record the results in docs/zoo.md.

Usage: python3 Tools/zoo.py [--only resnet18,mobilenet_v2] [--jobs N] [--opsets 17,11]
                            [--old-opset-models all|KEY,...] [--cache DIR] [--dfc PATH] [--build-flags FLAGS]
                            [--doc FILE | --no-doc] [--json FILE] [--list]

The models (`--list` prints their keys):
  - torchvision classifiers at 224x224 (Inception v3 at its natural 299x299) and segmentation networks
    at 256x256 (weights=None, weights_backbone=None, aux_loss off; the "out" head only), batch 1. Built
    after `torch.manual_seed` (a seed per model), BatchNorm running statistics set from one seeded
    calibration batch of two images (so activations stay well scaled, as with trained weights), eval
    mode, exported with torch.onnx.export's TorchScript exporter (`dynamo=False`: it writes plain
    graphs at the asked opset; the dynamo exporter targets opset 18 and up), input "input", output
    "output", at every opset of --opsets (default 17 and 11);
  - the CNNs among the onnx package's `light_*.onnx` graphs (backend test data). They ship without
    weights (ConstantOfShape stand-ins), so they get seeded random ones the way the conformance suite
    does it (Tools/gen_conformance.py: He-scaled weights, BatchNorm calibrated on the input); they keep
    their own opset.

Models are cached in CACHE (default .cache/zoo): torchvision exports under torch-<torch version>/ as
KEY.opsetN.onnx, light graphs under onnx-<onnx version>/; each with KEY[.opsetN].input.npy (seeded
N(0,1)) and a .json written last (the recipe); an export is redone only when that .json is missing or
its recipe differs. torch is imported only when an export is needed.

Per model (and opset), at the default accelerator (df1), with the helpers of Tools/bench.py:
  1. `dfc compile MODEL -o X.dfx --report R.json`, timed (the compile time);
  2. `dfc compile MODEL -o V.dfx --verify --report RV.json`: the executor against the reference
     interpreter (V.dfx must equal X.dfx byte for byte);
  3. `dfc compile MODEL -o L.dfx --no-fusion --report L.json` and `dfc run L.dfx --timing-only`: the
     layer-by-layer baseline;
  4. `dfc run X.dfx --input input=IN.npy`, outputs compared with onnxruntime's (CPU) for the same
     input: a match is relative L2 <= 1e-4, or max |diff| <= 1e-6 where the outputs are tiny; predicted
     DRAM bytes must equal the executor's.
A model that fails a step gets the step's first error line in the notes and the run goes on.

The table goes to stdout and, for a run over the whole zoo (no --only) or with an explicit --doc, to
docs/zoo.md (atomically). The exit status is 0 even when models fail: failures are the point of the
table; it is 1 only if the run itself could not be done (no dfc, a model that cannot be exported).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (dfc build, compile and run cells, onnxruntime, table formatting)

REPO = bench.REPO
CONFIG = "df1"
DEFAULT_OPSETS = [17, 11]
REL_L2_LIMIT = 1e-4
TINY_ATOL = 1e-6  # outputs that are all this close pass even when their relative error is large
TARGET_RATIO = {"classifier": 1.5, "segmentation": 2.0}  # fused DRAM / compulsory
NOTE_CHARS = 160
EXPORT_RECIPE = 1  # bump when the way models are built or exported changes: the cache is redone

VERIFY = bench.Variant("verify", "dfc compile --verify", ("--verify",))


@dataclass(frozen=True)
class ZooModel:
    key: str  # --only name and file stem
    name: str
    kind: str  # "classifier" or "segmentation"
    source: str  # "torchvision" or "onnx light"
    builder: str  # torchvision builder, or the light_*.onnx file name
    size: int = 224  # input height = width (light: the graph's own)
    kwargs: tuple[tuple[str, Any], ...] = ()


def _tv(key: str, name: str, size: int = 224, **kwargs: Any) -> ZooModel:
    return ZooModel(key, name, "classifier", "torchvision", key, size, tuple(sorted(kwargs.items())))


def _seg(key: str, name: str) -> ZooModel:
    kwargs = {"weights_backbone": None, "aux_loss": False}
    return ZooModel(key, name, "segmentation", "torchvision", key, 256, tuple(sorted(kwargs.items())))


TORCHVISION: list[ZooModel] = [
    _tv("alexnet", "AlexNet"),
    _tv("vgg11", "VGG-11"),
    _tv("vgg16", "VGG-16"),
    _tv("resnet18", "ResNet-18"),
    _tv("resnet50", "ResNet-50"),
    _tv("resnext50_32x4d", "ResNeXt-50 (32x4d)"),
    _tv("wide_resnet50_2", "Wide-ResNet-50-2"),
    _tv("densenet121", "DenseNet-121"),
    # The auxiliary classifiers only run in training; init_weights=True is their default init, said
    # explicitly to silence torchvision's warning.
    _tv("googlenet", "GoogLeNet", aux_logits=False, init_weights=True),
    _tv("inception_v3", "Inception v3", size=299, aux_logits=False, init_weights=True),
    _tv("mobilenet_v2", "MobileNetV2"),
    _tv("mobilenet_v3_small", "MobileNetV3-small"),
    _tv("mobilenet_v3_large", "MobileNetV3-large"),
    _tv("mnasnet1_0", "MNASNet 1.0"),
    _tv("shufflenet_v2_x1_0", "ShuffleNetV2 x1.0"),
    _tv("squeezenet1_0", "SqueezeNet 1.0"),
    _tv("squeezenet1_1", "SqueezeNet 1.1"),
    _tv("efficientnet_b0", "EfficientNet-B0"),
    _tv("regnet_y_400mf", "RegNetY-400MF"),
    _seg("fcn_resnet50", "FCN-ResNet50"),
    _seg("deeplabv3_mobilenet_v3_large", "DeepLabV3-MobileNetV3-large"),
    _seg("lraspp_mobilenet_v3_large", "LRASPP-MobileNetV3-large"),
]


def light_models() -> list[ZooModel]:
    """The CNNs (graphs with a Conv) among the onnx package's light_*.onnx files."""
    import onnx
    from gen_conformance import onnx_data_dir

    root = os.path.join(onnx_data_dir(), "light")
    models = []
    for file in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if not (file.startswith("light_") and file.endswith(".onnx")):
            continue
        graph = onnx.load(os.path.join(root, file), load_external_data=False).graph
        if any(node.op_type == "Conv" for node in graph.node):
            case = file[len("light_"):-len(".onnx")]
            models.append(ZooModel(f"light_{case}", f"{case} (onnx light)", "classifier", "onnx light", file, 0))
    return models


@dataclass
class Task:
    """One model at one opset (light graphs: their own opset)."""

    model: ZooModel
    opset: int | None
    path: str = ""
    input_path: str = ""
    input_shape: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.model.key + (f"@{self.opset}" if self.opset else "")


@dataclass
class Result:
    task: Task
    compiled: bool = False
    compile_error: str | None = None
    compile_s: float | None = None
    verify_error: str | None = None
    verify_s: float | None = None
    fused: bench.Cell | None = None
    layered: bench.Cell | None = None
    rel_l2: float | None = None
    max_abs: float | None = None
    match_error: str | None = None
    bytes_error: str | None = None  # predicted DRAM bytes (program or a group's cost model) != executed
    notes: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def verified(self) -> bool:
        return self.compiled and self.verify_error is None

    @property
    def matched(self) -> bool:
        return self.compiled and self.match_error is None and self.rel_l2 is not None


# ----------------------------------------------------------------------------- models


def model_seed(key: str) -> int:
    """A seed per model that does not move when models are added or reordered."""
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def import_torch() -> tuple[Any, Any]:
    """torch and torchvision. The torchvision 0.28 wheels on PyPI are CUDA builds: next to the CPU torch
    their C++ ops (nms, roi_align; detection only) do not load, and torchvision registers fake and
    autograd kernels for them at import without checking. The classification and segmentation models
    are plain Python, so when that import fails the two registration modules are replaced by empty ones."""
    import types

    import torch

    try:
        import torchvision
    except (RuntimeError, OSError) as exc:
        bench.log(f"zoo: torchvision's C++ ops do not load ({str(exc).splitlines()[0]}); "
                  "importing it without them (the zoo's models do not use them)")
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
            sys.modules[name] = types.ModuleType(name)
        import torchvision
    return torch, torchvision


def recipe(model: ZooModel, opset: int | None, versions: dict[str, str]) -> dict[str, Any]:
    return {"recipe": EXPORT_RECIPE, "key": model.key, "source": model.source, "builder": model.builder,
            "kwargs": {k: v for k, v in model.kwargs}, "opset": opset, "seed": model_seed(model.key),
            "size": model.size, **versions}


def cached(stem: str, want: dict[str, Any]) -> bool:
    try:
        with open(stem + ".json") as f:
            have = json.load(f)
    except (OSError, ValueError):
        return False
    return (have.get("recipe_of") == want and os.path.isfile(stem + ".onnx")
            and os.path.isfile(stem + ".input.npy"))


def write_meta(stem: str, want: dict[str, Any], extra: dict[str, Any]) -> None:
    with open(stem + ".json.tmp", "w") as f:
        json.dump({"recipe_of": want, **extra}, f, indent=1, sort_keys=True)
    os.replace(stem + ".json.tmp", stem + ".json")


def export_torchvision(task: Task, cache: str) -> None:
    import importlib.metadata

    model = task.model
    torch_version = importlib.metadata.version("torch")
    versions = {"torch": torch_version, "torchvision": importlib.metadata.version("torchvision")}
    directory = os.path.join(cache, f"torch-{torch_version}")
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(directory, f"{model.key}.opset{task.opset}")
    task.path, task.input_path = stem + ".onnx", stem + ".input.npy"
    task.input_shape = [1, 3, model.size, model.size]
    want = recipe(model, task.opset, versions)
    if cached(stem, want):
        return
    torch, torchvision = import_torch()
    t0 = time.perf_counter()
    seed = model_seed(model.key)
    torch.manual_seed(seed)
    kwargs = dict(model.kwargs)
    net = torchvision.models.get_model(model.builder, weights=None, **kwargs)
    net.eval()
    # Running statistics from one seeded batch: every BatchNorm normalizes what it really sees.
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average: after one batch, that batch's statistics
        bn.train()
    with torch.no_grad():
        net(torch.randn(2, 3, model.size, model.size))
    net.eval()
    if model.kind == "segmentation":
        net = segmentation_out(torch, net)
    x = np.random.default_rng(seed).standard_normal(task.input_shape, dtype=np.float32)
    tmp = stem + ".onnx.tmp"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # "the TorchScript exporter is legacy"
        torch.onnx.export(net, (torch.from_numpy(x),), tmp, opset_version=task.opset, dynamo=False,
                          input_names=["input"], output_names=["output"], do_constant_folding=True)
    os.replace(tmp, stem + ".onnx")
    np.save(stem + ".input.npy", x)
    write_meta(stem, want, {"batchnorms_calibrated": len(norms), "exporter": "torch.onnx.export(dynamo=False)"})
    bench.log(f"zoo: exported {model.key} at opset {task.opset} ({time.perf_counter() - t0:.1f} s)")


def segmentation_out(torch: Any, net: Any) -> Any:
    """The segmentation model's "out" map alone (its forward returns a dict)."""

    class Out(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):  # noqa: ANN001
            return self.net(x)["out"]

    return Out()


def build_light(task: Task, cache: str) -> None:
    """The light graph with seeded random weights, as the conformance suite's light cases."""
    import onnx
    from onnx import helper

    from gen_conformance import calibrate_batchnorm, default_opset, onnx_data_dir, randomize_light

    model = task.model
    directory = os.path.join(cache, f"onnx-{onnx.__version__}")
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(directory, model.key)
    task.path, task.input_path = stem + ".onnx", stem + ".input.npy"
    want = recipe(model, None, {"onnx": onnx.__version__})
    if not cached(stem, want):
        t0 = time.perf_counter()
        seed = model_seed(model.key)
        source = onnx.load(os.path.join(onnx_data_dir(), "light", model.builder))
        graph_model, roles = randomize_light(source, seed=seed)
        onnx.checker.check_model(graph_model)
        (value,) = graph_model.graph.input
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                for d in value.type.tensor_type.shape.dim]
        dims[0] = 1
        dtype = helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        x = np.random.default_rng(seed).standard_normal(dims, dtype=np.float32).astype(dtype)
        calibrated = calibrate_batchnorm(graph_model, {value.name: x})
        with open(stem + ".onnx.tmp", "wb") as f:
            f.write(graph_model.SerializeToString())
        os.replace(stem + ".onnx.tmp", stem + ".onnx")
        np.save(stem + ".input.npy", x)
        write_meta(stem, want, {"batchnorms_calibrated": calibrated, "parameter_roles": roles,
                                "opset": default_opset(graph_model)})
        bench.log(f"zoo: built {model.key} from {model.builder} ({time.perf_counter() - t0:.1f} s)")
    with open(stem + ".json") as f:
        task.opset = json.load(f).get("opset")
    task.input_shape = list(np.load(task.input_path, mmap_mode="r").shape)


# ----------------------------------------------------------------------------- dfc


def summarize(error: str) -> str:
    """The first of a cell's errors ("; "-joined), fusion groups named by their first and last layer."""
    parts = error.split("; ")

    def group(match: re.Match) -> str:
        layers = match.group(1).split("+")
        return match.group(0) if len(layers) < 2 else f"group {layers[0]}+… ({len(layers)} layers)"

    first = re.sub(r"group (\S+)(?=:)", group, parts[0])
    return first + (f" (and {len(parts) - 1} more)" if len(parts) > 1 else "")


def short(message: str, model_path: str) -> str:
    """One line, without the model's path (the row names the model)."""
    message = message.strip()
    for prefix in (bench.scrub(model_path) + ": ", os.path.basename(model_path) + ": "):
        message = message.removeprefix(prefix)
    return message


def clip(message: str) -> str:
    return message if len(message) <= NOTE_CHARS else message[: NOTE_CHARS - 1] + "…"


def evaluate(dfc: str, task: Task, work_root: str) -> Result:
    result = Result(task)
    started = time.perf_counter()
    work = tempfile.mkdtemp(prefix=f"{task.label}-", dir=work_root)
    try:
        run_steps(dfc, task, work, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    check_targets(result)
    return result


def run_steps(dfc: str, task: Task, work: str, result: Result) -> None:
    path = lambda name: os.path.join(work, name)  # noqa: E731
    net = bench.Network(task.model.key, task.model.name)
    try:
        net.input_name, net.output_names = bench.graph_io(task.path)
    except SystemExit as exc:
        result.compile_error = short(str(exc), task.path)
        return

    # 1. Compile, timed.
    fused = bench.Cell(CONFIG, bench.DEFAULT_VARIANT)
    result.fused = fused
    bench.compile_cell(dfc, fused, task.path, path("x.dfx"), path("x.json"), repeats=1)
    if fused.report is None:
        result.compile_error = short(fused.error or "compile failed", task.path)
        return
    result.compiled, result.compile_s = True, fused.compile_s

    # 2. --verify: executor against the reference interpreter; the program must not change.
    verify = bench.Cell(CONFIG, VERIFY)
    bench.compile_cell(dfc, verify, task.path, path("v.dfx"), path("v.json"), repeats=1)
    result.verify_s = verify.compile_s
    if verify.report is None:
        result.verify_error = short(verify.error or "--verify failed", task.path)
    elif bench.sha256(path("v.dfx")) != bench.sha256(path("x.dfx")):
        result.notes.append("--verify compiled a different .dfx")

    # 3. The layer-by-layer baseline.
    layered = bench.Cell(CONFIG, bench.NO_FUSION)
    result.layered = layered
    bench.compile_cell(dfc, layered, task.path, path("l.dfx"), path("l.json"), repeats=1)
    if layered.report is not None:
        bench.run_cell(dfc, layered, net, path("l.dfx"), task.input_path, work, path("l.stats.json"), full=False,
                       repeats=1, reference=None)
    if layered.error:
        result.notes.append("--no-fusion: " + short(summarize(layered.error), task.path))

    # 4. Run the program and compare with onnxruntime.
    reference = bench.run_onnxruntime(net, task.path, task.input_path, repeats=0)
    out_dir = path("out")
    os.makedirs(out_dir)
    bench.run_cell(dfc, fused, net, path("x.dfx"), task.input_path, out_dir, path("x.stats.json"), full=True,
                   repeats=1, reference=None)
    if fused.stats is None:
        result.match_error = short(fused.error or "run: failed", task.path)  # "run: ..."
        return
    if fused.error:  # predicted bytes differ from the executor's, or a group's cost model from its instructions
        result.bytes_error = short(summarize(fused.error), task.path)
    if reference is None:
        result.match_error = net.ort_error or "onnxruntime: failed"  # "onnxruntime: ..."
        return
    worst_rel, worst_abs = 0.0, 0.0
    for name in net.output_names:
        file = os.path.join(out_dir, name.replace("/", "_") + ".npy")  # as `dfc run` names it
        if not os.path.exists(file):
            result.match_error = f"run: no output {name}"
            return
        got, want = np.load(file), reference[name]
        if got.shape != want.shape:
            result.match_error = (f"vs onnxruntime: output {name} has shape {list(got.shape)}, "
                                  f"onnxruntime's {list(want.shape)}")
            return
        worst_rel = max(worst_rel, bench.rel_l2(got, want))
        worst_abs = max(worst_abs, float(np.max(np.abs(got.astype(np.float64) - want))) if got.size else 0.0)
    result.rel_l2, result.max_abs = worst_rel, worst_abs
    if not (worst_rel <= REL_L2_LIMIT or worst_abs <= TINY_ATOL):
        result.match_error = (f"vs onnxruntime: relative L2 {worst_rel:.2g} > {REL_L2_LIMIT:g} "
                              f"(max |diff| {worst_abs:.2g})")


def ratio(cell: bench.Cell | None, what: str) -> float | None:
    if cell is None or cell.report is None:
        return None
    if what == "traffic":
        return cell.report["predicted_dram_bytes"] / max(1, cell.report["compulsory_bytes"])
    if cell.stats is None or not cell.report.get("layer_floor_cycles"):
        return None
    return cell.stats["cycles"] / cell.report["layer_floor_cycles"]


def check_targets(result: Result) -> None:
    if not result.compiled:
        result.misses.append("compile")
        return
    if not result.verified:
        result.misses.append("verify")
    if not result.matched:
        result.misses.append("onnxruntime")
    if result.bytes_error:
        result.misses.append("predicted != executed bytes")
    limit = TARGET_RATIO[result.task.model.kind]
    fused = ratio(result.fused, "traffic")
    if fused is not None and fused > limit:
        result.misses.append(f"fused/compulsory > {limit:g}")
    f, lbl = result.fused, result.layered
    if f and lbl and f.report and lbl.report:
        if f.report["predicted_dram_bytes"] > lbl.report["predicted_dram_bytes"]:
            result.misses.append("more bytes than layer-by-layer")
        if f.stats and lbl.stats and f.stats["cycles"] > lbl.stats["cycles"]:
            result.misses.append("slower than layer-by-layer")


# ----------------------------------------------------------------------------- tables


def yes_no(ok: bool | None) -> str:
    return bench.DASH if ok is None else ("yes" if ok else "**no**")


def row(result: Result) -> list[str]:
    task, model = result.task, result.task.model
    f, lbl = result.fused, result.layered
    fused_ratio, lbl_ratio = ratio(f, "traffic"), ratio(lbl, "traffic")
    floor_ratio = ratio(f, "cycles")
    if result.rel_l2 is not None:
        match = bench.f_sci(result.rel_l2) + ("" if result.matched else " **no**")
    else:
        match = "**no**" if result.compiled else bench.DASH
    notes = [e for e in (result.compile_error, result.verify_error and f"--verify: {result.verify_error}",
                         result.compiled and result.match_error, result.bytes_error) if e]
    notes = [clip(n) for n in notes + result.notes]
    return [
        model.name, model.source, bench.DASH if task.opset is None else str(task.opset),
        "x".join(str(d) for d in task.input_shape[2:]) or bench.DASH,
        yes_no(result.compiled), yes_no(result.verified if result.compiled else None), match,
        yes_no(None if f is None or f.stats is None else result.bytes_error is None),
        bench.DASH if f is None or f.report is None else bench.f_mb(f.report["compulsory_bytes"]),
        bench.DASH if lbl_ratio is None else bench.f_ratio(lbl_ratio),
        bench.DASH if fused_ratio is None else bench.f_ratio(fused_ratio),
        bench.DASH if floor_ratio is None else bench.f_ratio(floor_ratio),
        bench.f_s(result.compile_s),
        "ok" if not result.misses else "**miss**: " + ", ".join(result.misses),
        "; ".join(notes),
    ]


HEADERS = ["model", "source", "opset", "input", "compiles", "--verify", "vs onnxruntime (rel. L2)",
           "pred = exec bytes", "compulsory MB",
           "layer-by-layer / compulsory", "fused / compulsory", "cycles / layer floor", "compile s", "targets",
           "notes (first error line)"]
ALIGN = ["l", "l", "r", "r", "l", "l", "r", "l", "r", "r", "r", "r", "r", "l", "l"]


def zoo_table(results: list[Result]) -> str:
    return bench.md_table(HEADERS, [row(r) for r in results], ALIGN)


def failures_table(results: list[Result]) -> str:
    """Models grouped by the first thing that went wrong: what to fix next, most models first. Node names
    (quoted) differ between models, so they are left out of the grouping; the first one is shown."""
    groups: dict[str, list[str]] = {}
    example: dict[str, str] = {}
    for r in results:
        step, message = None, None
        if r.compile_error:
            step, message = "compile", r.compile_error
        elif r.verify_error:
            step, message = "--verify", r.verify_error
        elif r.match_error and r.compiled:
            step, message = r.match_error.split(": ", 1)
        elif r.bytes_error:
            step, message = "DRAM bytes", r.bytes_error
        if step:
            label = r.task.model.name + (f" (opset {r.task.opset})" if r.task.opset else "")
            key = f"{step}: " + re.sub(r"\d+", "N", re.sub(r"'[^']*'|group \S+ \(\d+ layers\)|group \S+", "…",
                                                           message))
            groups.setdefault(key, []).append(label)
            example.setdefault(key, message)
    rows = [[k.split(": ", 1)[0], clip(example[k]), str(len(v)), ", ".join(v)]
            for k, v in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    headers = ["step", "first error line (of the first model)", "rows", "models"]
    return bench.md_table(headers, rows, ["l", "l", "r", "l"])


def summary_lines(results: list[Result]) -> list[str]:
    n = len(results)
    count = lambda pred: sum(1 for r in results if pred(r))  # noqa: E731
    misses: dict[str, int] = {}
    for r in results:
        for miss in r.misses:
            misses[miss] = misses.get(miss, 0) + 1
    lines = [
        f"- {n} rows: {count(lambda r: r.compiled)} compile, {count(lambda r: r.verified)} pass `--verify`, "
        f"{count(lambda r: r.matched)} match onnxruntime, {count(lambda r: not r.misses)} meet every target.",
    ]
    if misses:
        lines.append("- Rows missing a target: " + ", ".join(
            f"{miss} ({k})" for miss, k in sorted(misses.items(), key=lambda kv: (-kv[1], kv[0]))) + ".")
    return lines


# ----------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated model keys (see --list); default every model")
    parser.add_argument("--jobs", type=int, default=1, help="models evaluated at once (default 1)")
    parser.add_argument("--opsets", default=",".join(map(str, DEFAULT_OPSETS)),
                        help="torchvision export opsets, the first for every model (default %(default)s)")
    parser.add_argument("--old-opset-models", default="all",
                        help="torchvision models also exported at the opsets after the first: all, or keys")
    parser.add_argument("--cache", default=os.path.join(REPO, ".cache", "zoo"), help="model directory")
    parser.add_argument("--dfc", help="use this dfc binary instead of building one")
    parser.add_argument("--build-flags", default="-c release", help="swift build flags (default %(default)s)")
    parser.add_argument("--doc", help="Markdown output (default docs/zoo.md for a run over the whole zoo)")
    parser.add_argument("--no-doc", action="store_true", help="do not write the Markdown file")
    parser.add_argument("--json", help="also write every result as JSON here")
    parser.add_argument("--list", action="store_true", help="print the model keys and exit")
    return parser.parse_args()


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["python3", "Tools/zoo.py", *map(bench.shown_argument, sys.argv[1:])])


def main() -> int:
    args = parse_args()
    models = TORCHVISION + light_models()
    if args.list:
        for m in models:
            print(f"{m.key:30} {m.kind:13} {m.source:12} {m.name}")
        return 0
    known = {m.key: m for m in models}
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        unknown = [k for k in keys if k not in known]
        if unknown or not keys:
            sys.exit(f"zoo: unknown model(s) {','.join(unknown)}; `Tools/zoo.py --list` names them")
        models = [m for m in models if m.key in keys]
    opsets = [int(o) for o in args.opsets.split(",") if o.strip()]
    old = None if args.old_opset_models == "all" else {k.strip() for k in args.old_opset_models.split(",")}
    if old is not None and not old <= set(known):
        sys.exit(f"zoo: unknown model(s) in --old-opset-models: {','.join(sorted(old - set(known)))}")

    started = time.perf_counter()
    cache = os.path.abspath(args.cache)
    os.makedirs(cache, exist_ok=True)
    tasks: list[Task] = []
    for m in models:
        if m.source == "torchvision":
            for i, opset in enumerate(opsets):
                if i == 0 or old is None or m.key in old:
                    tasks.append(Task(m, opset))
        else:
            tasks.append(Task(m, None))
    for task in tasks:
        if task.model.source == "torchvision":
            export_torchvision(task, cache)
        else:
            build_light(task, cache)
    bench.log(f"zoo: {len(tasks)} models ready ({time.perf_counter() - started:.0f} s)")

    dfc = os.path.abspath(args.dfc) if args.dfc else bench.build_dfc(shlex.split(args.build_flags))
    work_root = tempfile.mkdtemp(prefix="run-", dir=cache)
    bench._SCRUB.extend([(work_root, "<work>"), (cache + os.sep, ""), (REPO + os.sep, "")])
    results: dict[int, Result] = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(evaluate, dfc, task, work_root): i for i, task in enumerate(tasks)}
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                status = "ok" if not result.misses else "miss: " + ", ".join(result.misses)
                first = result.compile_error or result.verify_error or result.match_error
                bench.log(f"zoo: [{len(results)}/{len(tasks)}] {result.task.label}: {status}"
                          + (f" ({first})" if first else "") + f" in {result.seconds:.0f} s")
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    ordered = [results[i] for i in range(len(tasks))]
    elapsed = time.perf_counter() - started

    table, failures = zoo_table(ordered), failures_table(ordered)
    print("\n" + table + "\n\n" + failures + "\n")
    print("\n".join(summary_lines(ordered)) + f"\nzoo: {len(tasks)} rows in {elapsed:.0f} s")
    doc = args.doc or (None if args.only else os.path.join(REPO, "docs", "zoo.md"))
    if doc and not args.no_doc:
        write_doc(doc, ordered, table, failures, opsets, old, elapsed)
    if args.json:
        write_json(args.json, ordered)
    return 0


def write_doc(path: str, results: list[Result], table: str, failures: str, opsets: list[int],
              old: set[str] | None, elapsed: float) -> None:
    import importlib.metadata

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    opset_text = f"opset {opsets[0]}" + "".join(f" and {o}" for o in opsets[1:])
    if old is not None and len(opsets) > 1:
        subset = ", ".join(m.name for m in TORCHVISION if m.key in old)
        opset_text = (f"opset {opsets[0]} for every torchvision model; opset {', '.join(map(str, opsets[1:]))} "
                      f"for a representative subset only ({subset}), to keep the run short")
    lines = [
        "# Model zoo",
        "",
        "Generated by `make zoo` (`Tools/zoo.py`); do not edit by hand.",
        "",
        f"- Command: `{command_line()}`",
        f"- Date: {now}; whole run {elapsed / 60:.0f} min",
        f"- torch {version('torch')}, torchvision {version('torchvision')}; exported with `torch.onnx.export` "
        f"(TorchScript exporter, `dynamo=False`) at {opset_text}",
        *[f"- {line}" for line in bench.machine_summary()],
        f"- Accelerator `{CONFIG}` (the default); the fused program is the default compile (objective `edp`).",
        "",
        "Models: torchvision classifiers at 224x224 (Inception v3 at its natural 299x299) and segmentation",
        "networks at 256x256 (weights=None, weights_backbone=None, aux_loss off, the `out` map only), batch 1,",
        "seeded random weights with BatchNorm statistics from a seeded calibration batch; and the CNNs among",
        "the onnx package's `light_*.onnx` graphs, which ship without weights and get seeded random ones",
        "(He-scaled, BatchNorm calibrated, as in `Tools/gen_conformance.py`), at their own opset.",
        "Input: seeded N(0,1).",
        "",
        "Targets: every model compiles, passes `--verify` and matches onnxruntime (relative L2 <= 1e-4, or",
        f"max |diff| <= {TINY_ATOL:g} where outputs are tiny); fused DRAM / compulsory <= "
        f"{TARGET_RATIO['classifier']:g} on classifiers and <= {TARGET_RATIO['segmentation']:g} on segmentation;",
        "never worse than layer-by-layer (neither more DRAM bytes nor more cycles); and, an invariant of the",
        "design, predicted DRAM bytes equal to the executor's. A row that misses one says which in **targets**.",
        "",
        "Columns: **compiles** `dfc compile MODEL -o X.dfx --report R.json`; **--verify** the same with",
        "`--verify` (executor against the reference interpreter); **vs onnxruntime** `dfc run` of X.dfx on the",
        "seeded input against onnxruntime (CPU), the worst relative L2 over the outputs; **pred = exec bytes**",
        "the compiler's predicted DRAM bytes (total, read, write, weights, activations, and each fusion group's",
        "cost model against its instructions) equal the executor's counts (as `make bench` checks); **compulsory MB**",
        "every weight once + input + output (report `compulsory_bytes`); **layer-by-layer / compulsory** the",
        "DRAM bytes of `--no-fusion` over it, **fused / compulsory** those of the default compile;",
        "**cycles / layer floor** the executor's cycles over the report's `layer_floor_cycles`;",
        "**compile s** the wall clock of the compile without `--verify`; **notes** the first error line of the",
        "first step that failed (shortened).",
        "",
        "## Summary",
        "",
        *summary_lines(results),
        "",
        "## Models",
        "",
        table,
        "",
        "## Failures by first error",
        "",
        failures,
        "",
    ]
    bench.write_atomically(path, bench.scrub("\n".join(lines)), "zoo")


def write_json(path: str, results: list[Result]) -> None:
    def cell(c: bench.Cell | None) -> dict[str, Any] | None:
        if c is None:
            return None
        report = {k: v for k, v in (c.report or {}).items() if not isinstance(v, (list, dict))}
        return {"error": c.error, "compile_s": c.compile_s, "report": report, "stats": c.stats}

    payload = [{
        "key": r.task.model.key, "name": r.task.model.name, "kind": r.task.model.kind, "source": r.task.model.source,
        "opset": r.task.opset, "input_shape": r.task.input_shape, "compiled": r.compiled,
        "compile_error": r.compile_error, "compile_s": r.compile_s, "verify_error": r.verify_error,
        "verify_s": r.verify_s, "rel_l2": r.rel_l2, "max_abs_diff": r.max_abs, "match_error": r.match_error,
        "misses": r.misses, "notes": r.notes, "seconds": r.seconds, "fused": cell(r.fused),
        "layer_by_layer": cell(r.layered),
    } for r in results]
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    sys.exit(main())
