#!/usr/bin/env python3
"""Benchmark dfc on six CNNs against onnxruntime and record the table in docs/bench.md.

Usage: python3 Tools/bench.py [--models resnet50,vgg16,...] [--configs df1,df1-small,df1-large]
                              [--quick] [--cache DIR] [--dfc PATH] [--build-flags "-c release"]
                              [--doc docs/bench.md | --no-doc] [--json FILE]

Steps:
  1. the models: Tools/gen_bench_models.py CACHE (seeded random weights; cached, not in git);
  2. dfc: `swift build BUILD_FLAGS --product dfc` (skipped with --dfc);
  3. per network and per *cell* (accelerator config x compile variant): `dfc compile --report`
     (wall clock, best of N), then `dfc run --stats`. At the primary config (df1) the default
     variant is run in full N times (median wall clock) and its outputs are compared with
     onnxruntime's for the same input, run in this process (CPUExecutionProvider, default
     threads and optimizations; one warm-up, then the median of M runs). Every other cell runs
     `dfc run --timing-only` once, except that other variants at the primary config get one full
     run so that their outputs are checked too. Every cell checks predicted == executed DRAM
     bytes (total, read, write, weight, activation);
  4. prints the tables and writes them, with the command, date and machine, to docs/bench.md
     (atomically).

Compile variants: every variant in VARIANTS whose flag `dfc compile --help` mentions is one
more column set: the default (fused) and `--no-fusion` (layer by layer), which also gives the
fused-vs-layer-by-layer tables.

A failing cell (compile error, run error, byte mismatch, output mismatch > 1e-4 relative L2)
is shown as "error: ..." and the run goes on; the exit status is 1 if anything failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Networks in table order: (key used by gen_bench_models.py, display name).
NETWORKS: list[tuple[str, str]] = [
    ("resnet50", "ResNet-50"),
    ("vgg16", "VGG-16"),
    ("mobilenet_v2", "MobileNetV2"),
    ("inception_v1", "Inception v1"),
    ("squeezenet1_0", "SqueezeNet 1.0"),
    ("alexnet", "AlexNet"),
    ("resnet18", "ResNet-18"),
]
DEFAULT_CONFIGS = ["df1", "df1-small", "df1-large", "df1-lowbw"]
PRIMARY_CONFIG = "df1"  # executor wall time and the onnxruntime comparison are measured here
REL_L2_LIMIT = 1e-4
CYCLE_PREDICTION_LIMIT = 0.05  # the design goal: predicted cycles within 5% (a warning, not a failure)
SUBPROCESS_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Variant:
    """One way of compiling: extra `dfc compile` flags. `requires` = text that `dfc compile
    --help` must contain for the variant to be benchmarked (None: always)."""

    key: str
    label: str
    flags: tuple[str, ...] = ()
    requires: str | None = None
    primary_only: bool = False  # compiled (with --timing-only runs) at the primary config only


DEFAULT_VARIANT = Variant("default", "dfc (default)")
NO_FUSION = Variant("no-fusion", "layer-by-layer (--no-fusion)", ("--no-fusion",), "--no-fusion")
# The objectives besides the default, each at the primary config.
OBJECTIVES = ["traffic", "latency", "energy", "edp"]
OBJECTIVE_VARIANTS = [Variant(f"objective-{o}", f"--objective {o}", ("--objective", o), "--objective", True)
                      for o in OBJECTIVES]
VARIANTS: list[Variant] = [DEFAULT_VARIANT, NO_FUSION, *OBJECTIVE_VARIANTS]


@dataclass
class Cell:
    """The measurements of one network at one (config, variant)."""

    config: str
    variant: Variant
    error: str | None = None
    compile_times: list[float] = field(default_factory=list)
    report: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    run_times: list[float] = field(default_factory=list)
    full_run: bool = False
    rel_l2: float | None = None
    bytes_ok: bool | None = None
    byte_mismatches: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Per fusion group: the cost model's bytes against its instructions' bytes
    # (must be equal) and its cycles against the time the group adds in the program.
    groups: int = 0
    worst_group_cycle_err: float | None = None
    group_cycle_err: float | None = None

    @property
    def compile_s(self) -> float | None:
        return min(self.compile_times) if self.compile_times else None

    @property
    def run_s(self) -> float | None:
        return statistics.median(self.run_times) if self.run_times else None

    def fail(self, message: str) -> None:
        self.error = message if self.error is None else self.error + "; " + message


@dataclass
class Speed:
    """Whole processes measured in turn at the primary config (default compile), one round after another:
    `dfc compile`, a Python process that creates an onnxruntime session and runs once (which reports its
    session creation and run), `dfc run --profile` and `dfc run --timing-only`. Lists hold one value a round."""

    compile_s: list[float] = field(default_factory=list)
    compile_rss: list[int] = field(default_factory=list)  # bytes, the compile process's peak RSS
    ort_process_s: list[float] = field(default_factory=list)
    ort_session_s: list[float] = field(default_factory=list)
    run_s: list[float] = field(default_factory=list)
    arithmetic_s: list[float] = field(default_factory=list)  # `dfc run --profile`'s "run" phase
    ort_run_s: list[float] = field(default_factory=list)  # onnxruntime's warm run, the same round
    timing_only_s: list[float] = field(default_factory=list)
    model_bytes: int = 0
    error: str | None = None

    @staticmethod
    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None


@dataclass
class Network:
    key: str
    name: str
    input_name: str = ""
    output_names: list[str] = field(default_factory=list)
    ort_times: list[float] = field(default_factory=list)
    ort_error: str | None = None
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    speed: Speed | None = None

    @property
    def ort_s(self) -> float | None:
        return statistics.median(self.ort_times) if self.ort_times else None


# ----------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_SCRUB: list[tuple[str, str]] = []


def scrub(text: str) -> str:
    """Replace this machine's paths (work dir, repository) by neutral names."""
    for path, name in _SCRUB:
        text = text.replace(path, name)
    return text


def config_label(config: str) -> str:
    """A config as shown in tables: a preset name, or a JSON file's path relative to the repository
    (just its name if it lies elsewhere)."""
    if os.sep not in config:
        return config
    path = os.path.abspath(config)
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else os.path.basename(path)


def first_error_line(stderr: str, rc: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower():
            return scrub(line.removeprefix("dfc: error: ").removeprefix("error: "))
    return scrub(lines[-1]) if lines else f"exit status {rc}"


def run_timed(argv: list[str], cwd: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc = subprocess.CompletedProcess(argv, 124, "", f"error: timed out after {SUBPROCESS_TIMEOUT_S} s")
    return time.perf_counter() - start, proc


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rel_l2(got, want) -> float:
    import numpy as np

    got = np.asarray(got, dtype=np.float64).ravel()
    want = np.asarray(want, dtype=np.float64).ravel()
    if got.shape != want.shape:
        return math.inf
    denom = float(np.linalg.norm(want))
    diff = float(np.linalg.norm(got - want))
    return diff / denom if denom > 0 else diff


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


# ----------------------------------------------------------------------------- steps


def ensure_models(cache: str, keys: list[str]) -> None:
    missing = [k for k in keys if not all(
        os.path.exists(os.path.join(cache, f"{k}.{suffix}")) for suffix in ("onnx", "input.npy", "expected.npy"))]
    if not missing:
        return
    log(f"bench: building models {','.join(missing)} (Tools/gen_bench_models.py)")
    subprocess.run([sys.executable, os.path.join(REPO, "Tools", "gen_bench_models.py"), cache,
                    "--models", ",".join(missing)], check=True)


def build_dfc(build_flags: list[str]) -> str:
    argv = ["swift", "build", *build_flags, "--product", "dfc"]
    log(f"bench: {' '.join(argv)}")
    for attempt in range(3):
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
        if proc.returncode == 0:
            break
        output = proc.stdout + proc.stderr
        # Someone editing sources while we build: try again.
        if "modified during the build" in output and attempt < 2:
            log("bench: sources changed during the build; retrying")
            continue
        sys.stderr.write(output)
        sys.exit("bench: swift build failed")
    bin_dir = subprocess.run(["swift", "build", *build_flags, "--show-bin-path"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(bin_dir, "dfc")


def graph_io(model_path: str) -> tuple[str, list[str]]:
    import onnx

    model = onnx.load(model_path, load_external_data=False)
    inits = {init.name for init in model.graph.initializer}
    inputs = [value.name for value in model.graph.input if value.name not in inits]
    if len(inputs) != 1:
        raise SystemExit(f"bench: {os.path.basename(model_path)}: expected one graph input, found {inputs}")
    return inputs[0], [value.name for value in model.graph.output]


def run_onnxruntime(net: Network, model_path: str, input_path: str, repeats: int) -> dict[str, Any] | None:
    """Time onnxruntime (warm-up once, then `repeats` runs); return its outputs by name."""
    import numpy as np
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        feed = {net.input_name: np.load(input_path)}
        outputs = session.run(None, feed)
        for _ in range(repeats):
            start = time.perf_counter()
            session.run(None, feed)
            net.ort_times.append(time.perf_counter() - start)
        return {value.name: out for value, out in zip(session.get_outputs(), outputs)}
    except Exception as exc:  # noqa: BLE001 - recorded and reported, not hidden
        net.ort_error = scrub(f"onnxruntime: {exc}".splitlines()[0])
        return None


TIME = "/usr/bin/time"


def run_with_rusage(argv: list[str]) -> tuple[float, int, int, str]:
    """Runs a process; returns its wall-clock seconds, exit status, peak RSS in bytes and its output.

    The peak RSS comes from GNU time (`/usr/bin/time -f %M`), whose child starts from its small image: a
    child forked straight from this Python process reports at least this process's own peak (Linux carries
    it over fork and exec). Without GNU time, wait4's figure is used, an upper bound."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss_file, tempfile.TemporaryFile() as out:
        timed = [TIME, "-f", "%M", "-o", rss_file.name, *argv] if os.access(TIME, os.X_OK) else argv
        start = time.perf_counter()
        proc = subprocess.Popen(timed, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
        rss = usage.ru_maxrss * 1024
        if timed is not argv:
            lines = [line for line in rss_file.read().splitlines() if line.strip()]
            rss = int(lines[-1]) * 1024 if lines and lines[-1].strip().isdigit() else rss
    return seconds, proc.returncode, rss, text


# The onnxruntime side of the whole-process comparison: load onnxruntime, create the session (two threads,
# as dfc uses both cores) and run once; prints the session creation and run seconds. Given a count of warm
# runs (the arithmetic comparison, taken in each speed round beside `dfc run --profile` so that the ratio
# compares measurements moments apart), it then runs that many more and prints their median as warm_s.
ORT_PROCESS = """
import json, statistics, sys, time
import numpy as np
import onnxruntime as ort
model, name, inp = sys.argv[1:4]
warm = int(sys.argv[4]) if len(sys.argv) > 4 else 0
options = ort.SessionOptions()
options.intra_op_num_threads = 2
t0 = time.perf_counter()
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
t1 = time.perf_counter()
feed = {name: np.load(inp)}
session.run(None, feed)
t2 = time.perf_counter()
result = {"session_s": t1 - t0, "run_s": t2 - t1}
times = []
for _ in range(warm):
    t = time.perf_counter()
    session.run(None, feed)
    times.append(time.perf_counter() - t)
if times:
    result["warm_s"] = statistics.median(times)
print(json.dumps(result))
"""


def measure_speed(dfc: str, net: Network, model: str, input_path: str, work: str, rounds: int) -> Speed:
    """The processes of `Speed`, in turn, `rounds` times."""
    speed = Speed(model_bytes=os.path.getsize(model))
    prog = os.path.join(work, f"{net.key}.speed.dfx")
    out_dir = os.path.join(work, f"{net.key}.speed.out")
    os.makedirs(out_dir, exist_ok=True)
    try:
        for _ in range(rounds):
            seconds, rc, rss, text = run_with_rusage([dfc, "compile", model, "-o", prog])
            if rc != 0:
                speed.error = "compile: " + first_error_line(text, rc)
                return speed
            speed.compile_s.append(seconds)
            speed.compile_rss.append(rss)
            seconds, rc, _, text = run_with_rusage([sys.executable, "-c", ORT_PROCESS, model, net.input_name,
                                                    input_path])
            if rc != 0:
                speed.error = "onnxruntime process: " + first_error_line(text, rc)
                return speed
            speed.ort_process_s.append(seconds)
            speed.ort_session_s.append(json.loads(text.strip().splitlines()[-1])["session_s"])
            seconds, rc, _, text = run_with_rusage([dfc, "run", prog, "--input", f"{net.input_name}={input_path}",
                                                    "--output-dir", out_dir, "--profile"])
            if rc != 0:
                speed.error = "run: " + first_error_line(text, rc)
                return speed
            speed.run_s.append(seconds)
            phases = {" ".join(line.split()[1:-2]): float(line.split()[-2]) for line in text.splitlines()
                      if line.startswith("profile: ") and line.endswith(" ms")}
            if "run" in phases:
                speed.arithmetic_s.append(phases["run"] / 1e3)
            _, rc, _, text = run_with_rusage([sys.executable, "-c", ORT_PROCESS, model, net.input_name, input_path,
                                              "3"])
            if rc != 0:
                speed.error = "onnxruntime runs: " + first_error_line(text, rc)
                return speed
            speed.ort_run_s.append(json.loads(text.strip().splitlines()[-1])["warm_s"])
            seconds, rc, _, text = run_with_rusage([dfc, "run", prog, "--timing-only"])
            if rc != 0:
                speed.error = "run --timing-only: " + first_error_line(text, rc)
                return speed
            speed.timing_only_s.append(seconds)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        if os.path.exists(prog):
            os.remove(prog)
    return speed


def compile_cell(dfc: str, cell: Cell, model: str, prog: str, report: str, repeats: int) -> None:
    argv = [dfc, "compile", model, "-o", prog, "--accel", cell.config, *cell.variant.flags, "--report", report]
    digests = set()
    for _ in range(repeats):
        seconds, proc = run_timed(argv)
        if proc.returncode != 0:
            cell.fail(first_error_line(proc.stderr, proc.returncode))
            return
        cell.compile_times.append(seconds)
        if repeats > 1:
            digests.add(sha256(prog))
    if len(digests) > 1:
        cell.fail("non-deterministic: repeated compiles gave different .dfx bytes")
    with open(report) as f:
        cell.report = json.load(f)


def run_cell(dfc: str, cell: Cell, net: Network, prog: str, input_path: str, out_dir: str, stats_path: str,
             full: bool, repeats: int, reference: dict[str, Any] | None) -> None:
    import numpy as np

    cell.full_run = full
    if full:
        argv = [dfc, "run", prog, "--input", f"{net.input_name}={input_path}", "--output-dir", out_dir,
                "--stats", stats_path]
    else:
        argv = [dfc, "run", prog, "--timing-only", "--stats", stats_path]
    for _ in range(repeats):
        seconds, proc = run_timed(argv)
        if proc.returncode != 0:
            cell.fail("run: " + first_error_line(proc.stderr, proc.returncode))
            return
        cell.run_times.append(seconds)
    with open(stats_path) as f:
        cell.stats = json.load(f)
    check_bytes(cell)
    if full and reference is not None:
        errors = []
        for name in net.output_names:
            path = os.path.join(out_dir, f"{name}.npy")
            errors.append(rel_l2(np.load(path), reference[name]) if os.path.exists(path) else math.inf)
        cell.rel_l2 = max(errors) if errors else None
        if cell.rel_l2 is None or not cell.rel_l2 <= REL_L2_LIMIT:
            cell.fail(f"output differs from onnxruntime: relative L2 {cell.rel_l2:.3g} > {REL_L2_LIMIT:g}")


def check_bytes(cell: Cell) -> None:
    report, stats = cell.report, cell.stats
    pairs = [
        ("total", report["predicted_dram_bytes"], stats["dram_read_bytes"] + stats["dram_write_bytes"]),
        ("read", report["predicted_dram_read_bytes"], stats["dram_read_bytes"]),
        ("write", report["predicted_dram_write_bytes"], stats["dram_write_bytes"]),
        ("weight", report["predicted_dram_weight_bytes"], stats["dram_weight_bytes"]),
        ("activation", report["predicted_dram_activation_bytes"], stats["dram_activation_bytes"]),
    ]
    cell.byte_mismatches = [f"{what} predicted {p} != executed {e}" for what, p, e in pairs if p != e]
    cell.bytes_ok = not cell.byte_mismatches
    if not cell.bytes_ok:
        cell.fail("DRAM bytes: " + "; ".join(cell.byte_mismatches))
    check_groups(cell)
    predicted, executed = report["predicted_cycles"], stats["cycles"]
    if executed and abs(predicted - executed) / executed > CYCLE_PREDICTION_LIMIT:
        cell.warnings.append(f"predicted cycles {predicted} vs executed {executed} "
                             f"({(predicted - executed) / executed:+.1%})")


def check_groups(cell: Cell) -> None:
    """The planner's per-group predictions (report "groups") against the program's rows."""
    report = cell.report
    groups = iter(report.get("groups", []))
    reached, worst, count, predicted_total, added_total = 0, None, 0, 0, 0
    for row in report["layers"]:
        end = row["end_cycle"] if row["instructions"] else reached
        if row["op"] == "FusionGroup":
            group = next(groups, None)
            if group is None or "+".join(group["layers"]) != row["node"]:
                cell.fail(f"report groups do not match the program's rows at {row['node']}")
                return
            executed = row["dram_read_bytes"] + row["dram_write_bytes"]
            if group["predicted_dram_bytes"] != executed:
                cell.fail(f"group {row['node']}: predicted {group['predicted_dram_bytes']} bytes, instructions move {executed}")
            added = end - reached
            err = abs(group["predicted_cycles"] / added - 1) if added > 0 else 0.0
            worst = err if worst is None else max(worst, err)
            if err > 2 * CYCLE_PREDICTION_LIMIT:
                cell.warnings.append(f"group {row['node']}: predicted {group['predicted_cycles']} cycles, adds {added} "
                                     f"({err:.1%})")
            predicted_total += group["predicted_cycles"]
            added_total += added
            count += 1
        reached = max(reached, end)
    cell.groups, cell.worst_group_cycle_err = count, worst
    cell.group_cycle_err = abs(predicted_total / added_total - 1) if added_total else None
    if cell.group_cycle_err is not None and cell.group_cycle_err > CYCLE_PREDICTION_LIMIT:
        cell.warnings.append(f"groups: predicted {predicted_total} cycles, add {added_total} ({cell.group_cycle_err:.1%})")


# ----------------------------------------------------------------------------- formatting

DASH = "—"


def f_mb(b: float | None) -> str:
    return DASH if b is None else f"{b / 1e6:.1f}"


def f_ratio(r: float | None, digits: int = 2) -> str:
    return DASH if r is None else f"{r:.{digits}f}"


def f_mcycles(c: float | None) -> str:
    return DASH if c is None else f"{c / 1e6:.2f}"


def f_uj(fj: float | None) -> str:
    return DASH if fj is None else f"{fj / 1e9:.0f}"


def f_ms(s: float | None) -> str:
    if s is None:
        return DASH
    return f"{s * 1e3:.0f}" if s >= 0.1 else f"{s * 1e3:.1f}"


def f_s(s: float | None) -> str:
    return DASH if s is None else f"{s:.2f}"


def f_pct(x: float | None) -> str:
    return DASH if x is None else f"{x * 100:.1f}%"


def f_sci(x: float | None) -> str:
    return DASH if x is None else f"{x:.1e}"


def f_sram(b: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b % size == 0:
            return f"{b // size} {unit}"
    return f"{b} B"


def md_table(headers: list[str], rows: list[list[str]], align: list[str]) -> str:
    """A Markdown table padded to line up in a terminal too. align: 'l' or 'r' per column."""
    cells = [[c.replace("|", "\\|") for c in row] for row in [headers] + rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if a == "l" else c.rjust(w)
                                 for c, w, a in zip(row, widths, align)) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if a == "r" else "-" * w for w, a in zip(widths, align)) + " |"
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


@dataclass
class Column:
    header: str
    value: Callable[[Network], str]
    align: str = "r"


def table(nets: list[Network], columns: list[Column], first: str = "Network",
          summary: list[str] | None = None) -> str:
    rows = [[net.name] + [col.value(net) for col in columns] for net in nets]
    if summary is not None:
        rows.append(summary)
    return md_table([first] + [c.header for c in columns], rows, ["l"] + [c.align for c in columns])


def cell_error(cell: Cell | None) -> str | None:
    if cell is None:
        return "not run"
    return f"error: {cell.error}" if cell.error else None


# ----------------------------------------------------------------------------- tables


def summary_table(nets: list[Network], config: str, compile_repeats: int, run_repeats: int,
                  ort_repeats: int) -> str:
    key = (config, DEFAULT_VARIANT.key)

    def col(header: str, fn: Callable[[Cell, Network], str], errors_here: bool = False) -> Column:
        def value(net: Network) -> str:
            cell = net.cells.get(key)
            if cell is None or cell.report is None:
                return (cell_error(cell) or DASH) if errors_here else DASH
            return fn(cell, net)
        return Column(header, value)

    def rep(name: str) -> Callable[[Cell, Network], str]:
        return lambda c, n: f_mb(c.report[name])

    def traffic_ratio(c: Cell, n: Network) -> str:
        return f_ratio(c.report["predicted_dram_bytes"] / max(1, c.report["compulsory_bytes"]))

    def cycles(c: Cell, n: Network) -> str:
        return f_mcycles(c.stats["cycles"]) if c.stats else DASH

    def bytes_check(c: Cell, n: Network) -> str:
        return DASH if c.bytes_ok is None else ("yes" if c.bytes_ok else "NO")

    def ratio_ort(c: Cell, n: Network) -> str:
        return f_ratio(c.run_s / n.ort_s, 1) if c.run_s and n.ort_s else DASH

    def err(c: Cell, n: Network) -> str:
        if c.rel_l2 is None:
            return n.ort_error or DASH
        return f_sci(c.rel_l2) + ("" if c.rel_l2 <= REL_L2_LIMIT else " FAIL")

    def floor(c: Cell, n: Network) -> str:
        return f_mcycles(c.report["layer_floor_cycles"]) if "layer_floor_cycles" in c.report else DASH

    def over_floor(c: Cell, n: Network) -> str:
        if not c.stats or not c.report.get("layer_floor_cycles"):
            return DASH
        return f_ratio(c.stats["cycles"] / c.report["layer_floor_cycles"])

    def energy(c: Cell, n: Network) -> str:
        return f_uj(c.stats.get("energy_fj")) if c.stats else DASH

    columns = [
        col(f"compile s (best of {compile_repeats})", lambda c, n: f_s(c.compile_s), errors_here=True),
        col("DRAM MB", rep("predicted_dram_bytes")),
        col("weights MB", rep("predicted_dram_weight_bytes")),
        col("activations MB", rep("predicted_dram_activation_bytes")),
        col("compulsory MB", rep("compulsory_bytes")),
        col("DRAM / compulsory", traffic_ratio),
        col("Mcycles", cycles),
        col("layer floor Mcycles", floor),
        col("cycles / floor", over_floor),
        col("energy µJ", energy),
        col("pred = exec bytes", bytes_check),
        col(f"dfc run ms (median of {run_repeats})", lambda c, n: f_ms(c.run_s)),
        Column(f"onnxruntime ms (median of {ort_repeats})", lambda n: f_ms(n.ort_s)),
        col("dfc / ort", ratio_ort),
        col("rel. L2 vs ort", err),
    ]
    ratios = []
    for net in nets:
        cell = net.cells.get(key)
        if cell and cell.run_s and net.ort_s:
            ratios.append(cell.run_s / net.ort_s)
    g = geomean(ratios)
    summary = ["geomean"] + [""] * (len(columns) - 2) + [f_ratio(g, 1) if g else DASH, ""]
    return table(nets, columns, summary=summary if len(nets) > 1 else None)


def speed_table(nets: list[Network], rounds: int, ort_repeats: int) -> str:
    """The toolchain's speed against onnxruntime's, as ratios of measurements taken in turn."""
    def ratio(a: float | None, b: float | None) -> str:
        return f_ratio(a / b) if a and b else DASH

    def speed_col(header: str, fn: Callable[[Speed, Network], str]) -> Column:
        def value(net: Network) -> str:
            if net.speed is None:
                return DASH
            if net.speed.error:
                return f"error: {net.speed.error}"
            return fn(net.speed, net)
        return Column(header, value)

    m = Speed.median
    columns = [
        speed_col("compile s", lambda sp, n: f_s(m(sp.compile_s))),
        speed_col("ort session s", lambda sp, n: f_s(m(sp.ort_session_s))),
        speed_col("compile / ort session", lambda sp, n: ratio(m(sp.compile_s), m(sp.ort_session_s))),
        speed_col("dfc run arithmetic ms", lambda sp, n: f_ms(m(sp.arithmetic_s))),
        speed_col("ort run ms", lambda sp, n: f_ms(m(sp.ort_run_s))),
        # The median of each round's ratio: the two were measured moments apart.
        speed_col("arithmetic / ort run", lambda sp, n: f_ratio(m([a / o for a, o in zip(sp.arithmetic_s, sp.ort_run_s)]))
                  if sp.arithmetic_s and len(sp.arithmetic_s) == len(sp.ort_run_s) else DASH),
        speed_col("dfc run process s", lambda sp, n: f_s(m(sp.run_s))),
        speed_col("ort process s", lambda sp, n: f_s(m(sp.ort_process_s))),
        speed_col("dfc run / ort process", lambda sp, n: ratio(m(sp.run_s), m(sp.ort_process_s))),
        speed_col("--timing-only ms", lambda sp, n: f_ms(m(sp.timing_only_s))),
        speed_col("compile peak RSS MB", lambda sp, n: f_mb(max(sp.compile_rss))),
        speed_col("model MB", lambda sp, n: f_mb(sp.model_bytes)),
        speed_col("peak RSS / model", lambda sp, n: ratio(max(sp.compile_rss), sp.model_bytes)),
    ]
    ratio_columns = {"compile / ort session", "arithmetic / ort run", "dfc run / ort process", "peak RSS / model"}
    summary = ["geomean"]
    for col in columns:
        values = []
        for net in nets:
            try:
                values.append(float(col.value(net)))
            except ValueError:
                pass
        summary.append(f_ratio(geomean(values)) if col.header in ratio_columns and values else "")
    return table(nets, columns, summary=summary if len(nets) > 1 else None)


def objectives_table(nets: list[Network], config: str) -> str:
    """The default compile and each --objective at one config: traffic, cycles, energy, EDP."""
    headers = ["Network", "objective", "DRAM MB", "DRAM / traffic's", "Mcycles", "cycles / floor",
               "energy µJ", "EDP µJ·ms", "pred = exec bytes"]
    rows = []
    for net in nets:
        by = {v.key: net.cells.get((config, v.key)) for v in [DEFAULT_VARIANT, *OBJECTIVE_VARIANTS]}
        least = by.get("objective-traffic")
        least_bytes = least.report["predicted_dram_bytes"] if least and least.report else None
        for variant in [DEFAULT_VARIANT, *OBJECTIVE_VARIANTS]:
            cell = by[variant.key]
            name = "default" if variant is DEFAULT_VARIANT else variant.flags[1]
            if cell is None or cell.report is None or cell.stats is None:
                rows.append([net.name, name, cell_error(cell) or DASH] + [""] * (len(headers) - 3))
                continue
            r, s = cell.report, cell.stats
            floor = r.get("layer_floor_cycles")
            energy_j = s.get("energy_fj", 0) / 1e15
            rows.append([
                net.name, name, f_mb(r["predicted_dram_bytes"]),
                f_ratio(r["predicted_dram_bytes"] / least_bytes) if least_bytes else DASH,
                f_mcycles(s["cycles"]), f_ratio(s["cycles"] / floor) if floor else DASH,
                f_uj(s.get("energy_fj")),
                f"{energy_j * 1e6 * s['cycles'] / cell_clock_hz(r) * 1e3:.1f}",
                "yes" if cell.bytes_ok else "NO"])
    return md_table(headers, rows, ["l", "l"] + ["r"] * 6 + ["l"])


def cell_clock_hz(report: dict) -> float:
    return float(report.get("clock_hz", 1e9))


def configs_table(nets: list[Network], configs: list[str], variants: list[Variant]) -> str:
    headers = ["Network", "config", "SRAM"] + (["variant"] if len(variants) > 1 else []) + [
        "compile s", "DRAM MB", "weights MB", "activations MB", "DRAM / compulsory", "Mcycles",
        "pred. cycles err", "SRAM peak KiB", "pred = exec bytes"]
    rows = []
    for net in nets:
        for config in configs:
            for variant in variants:
                cell = net.cells.get((config, variant.key))
                if cell is None and variant.primary_only:
                    continue
                lead = [net.name, config_label(config)]
                sram = f_sram(cell.report["sram_bytes"]) if cell and cell.report else DASH
                lead.append(sram)
                if len(variants) > 1:
                    lead.append(variant.key)
                if cell is None or cell.report is None or cell.stats is None:
                    message = cell_error(cell) or DASH
                    rows.append(lead + [message] + [""] * (len(headers) - len(lead) - 1))
                    continue
                r, s = cell.report, cell.stats
                err = (r["predicted_cycles"] - s["cycles"]) / s["cycles"] if s["cycles"] else None
                rows.append(lead + [
                    f_s(cell.compile_s), f_mb(r["predicted_dram_bytes"]), f_mb(r["predicted_dram_weight_bytes"]),
                    f_mb(r["predicted_dram_activation_bytes"]),
                    f_ratio(r["predicted_dram_bytes"] / max(1, r["compulsory_bytes"])),
                    f_mcycles(s["cycles"]), DASH if err is None else f"{err:+.1%}",
                    f"{s['sram_peak_bytes'] / 1024:.0f}",
                    ("yes" if cell.bytes_ok else "NO") + (f" ({cell.error})" if cell.error else "")])
    align = ["l", "l", "r"] + (["l"] if len(variants) > 1 else []) + ["r"] * 8 + ["l"]
    return md_table(headers, rows, align)


def fusion_table(nets: list[Network], config: str) -> str:
    """Issue 6: fused (default variant) against layer-by-layer (--no-fusion) at one config."""

    def pair(net: Network) -> tuple[Cell | None, Cell | None]:
        return net.cells.get((config, NO_FUSION.key)), net.cells.get((config, DEFAULT_VARIANT.key))

    def ok(c: Cell | None) -> bool:
        return c is not None and c.report is not None and c.stats is not None

    def metric(fn: Callable[[dict, dict, dict, dict], str], show_error: bool = False) -> Callable[[Network], str]:
        def value(net: Network) -> str:
            lbl, fused = pair(net)
            if not (ok(lbl) and ok(fused)):
                if show_error:
                    return cell_error(lbl if not ok(lbl) else fused) or DASH
                return DASH
            return fn(lbl.report, lbl.stats, fused.report, fused.stats)
        return value

    def reduction(before: float, after: float) -> float | None:
        return 1 - after / before if before else None

    columns = [
        Column("layer-by-layer MB", metric(lambda lr, ls, fr, fs: f_mb(lr["predicted_dram_bytes"]), True)),
        Column("fused MB", metric(lambda lr, ls, fr, fs: f_mb(fr["predicted_dram_bytes"]))),
        Column("activation reduction", metric(lambda lr, ls, fr, fs: f_pct(reduction(
            lr["predicted_dram_activation_bytes"], fr["predicted_dram_activation_bytes"])))),
        Column("total reduction", metric(lambda lr, ls, fr, fs: f_pct(reduction(
            lr["predicted_dram_bytes"], fr["predicted_dram_bytes"])))),
        Column("fused / compulsory", metric(lambda lr, ls, fr, fs: f_ratio(
            fr["predicted_dram_bytes"] / max(1, fr["compulsory_bytes"])))),
        Column("layer-by-layer Mcycles", metric(lambda lr, ls, fr, fs: f_mcycles(ls["cycles"]))),
        Column("fused Mcycles", metric(lambda lr, ls, fr, fs: f_mcycles(fs["cycles"]))),
        Column("speedup", metric(lambda lr, ls, fr, fs: f_ratio(ls["cycles"] / fs["cycles"]) + "x")),
        Column("compile s (fused)", lambda n: f_s(pair(n)[1].compile_s) if pair(n)[1] else DASH),
        Column("groups", lambda n: str(pair(n)[1].groups) if ok(pair(n)[1]) else DASH),
        Column("group cycles err", lambda n: f_pct(pair(n)[1].group_cycle_err)
               if ok(pair(n)[1]) and pair(n)[1].group_cycle_err is not None else DASH),
        Column("worst group cycles err", lambda n: f_pct(pair(n)[1].worst_group_cycle_err)
               if ok(pair(n)[1]) and pair(n)[1].worst_group_cycle_err is not None else DASH),
    ]
    act, tot, speed = [], [], []
    for net in nets:
        lbl, fused = pair(net)
        if ok(lbl) and ok(fused):
            a = reduction(lbl.report["predicted_dram_activation_bytes"], fused.report["predicted_dram_activation_bytes"])
            if a is not None:
                act.append(a)
            tot.append(reduction(lbl.report["predicted_dram_bytes"], fused.report["predicted_dram_bytes"]))
            speed.append(lbl.stats["cycles"] / fused.stats["cycles"])
    summary = None
    if len(nets) > 1 and tot:
        g = geomean(speed)
        summary = ["mean", "", "", f_pct(statistics.mean(act)) if act else DASH, f_pct(statistics.mean(tot)), "",
                   "", "", (f_ratio(g) + "x (geomean)") if g else DASH, "", "", "", ""]
    return table(nets, columns, summary=summary)


def heavy_layers_table(nets: list[Network], config: str, by: str, top: int = 3) -> str:
    """The `top` layers of each network by DRAM traffic (by="traffic") or by cycles (by="cycles"), from
    the report's per-layer rows (a layer's cycles run from its first instruction's start to its last
    one's end, so overlapping layers share time)."""
    rows = []
    for net in nets:
        cell = net.cells.get((config, DEFAULT_VARIANT.key))
        if cell is None or cell.report is None:
            continue
        report = cell.report

        def traffic(layer: dict) -> int:
            return layer["dram_read_bytes"] + layer["dram_write_bytes"]

        measure = traffic if by == "traffic" else (lambda layer: layer["cycles"])
        total = (report["predicted_dram_bytes"] if by == "traffic" else report["predicted_cycles"]) or 1
        for layer in sorted(report.get("layers", []), key=lambda l: (-measure(l), l["node"]))[:top]:
            rows.append([net.name, layer["node"], layer["op"], layer.get("engine", ""), f_mb(traffic(layer)),
                         f_mb(layer["dram_weight_bytes"]), f_mb(layer["dram_activation_bytes"]),
                         f_mcycles(layer["cycles"]), f_pct(measure(layer) / total), layer.get("tiling", "")])
    share = "share of DRAM" if by == "traffic" else "share of cycles"
    return md_table(["Network", "layer", "op", "engine", "DRAM MB", "weights MB", "activations MB", "Mcycles",
                     share, "tiling"], rows, ["l", "l", "l", "l", "r", "r", "r", "r", "r", "l"])


# ----------------------------------------------------------------------------- machine


def machine_summary() -> list[str]:
    import numpy
    import onnx
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                    break
    except OSError:
        pass
    try:
        swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout
        swift = (swift.strip().splitlines() or ["?"])[0]
    except OSError:
        swift = "?"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return [
        f"CPU: {os.cpu_count()} logical cores, {cpu}{memory}; {platform.system()} {platform.release()}",
        f"Swift: {swift}",
        f"onnxruntime {onnxruntime.__version__} (CPUExecutionProvider, default threads and graph optimizations), "
        f"onnx {onnx.__version__}, numpy {numpy.__version__}, Python {platform.python_version()}",
        f"dfc: commit {commit}" + (" with uncommitted changes in the tree" if dirty else ""),
    ]


# ----------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(k for k, _ in NETWORKS),
                        help="comma-separated subset of " + ",".join(k for k, _ in NETWORKS))
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                        help="accelerator configs (preset names or JSON files); default %(default)s")
    parser.add_argument("--quick", action="store_true", help="one compile and one run per cell, 3 onnxruntime runs")
    parser.add_argument("--cache", default=os.path.join(REPO, ".cache", "bench"), help="model directory")
    parser.add_argument("--dfc", help="use this dfc binary instead of building one")
    parser.add_argument("--build-flags", default="-c release", help="swift build flags (default %(default)s)")
    parser.add_argument("--doc", default=os.path.join(REPO, "docs", "bench.md"), help="Markdown output")
    parser.add_argument("--no-doc", action="store_true", help="do not write the Markdown file")
    parser.add_argument("--json", help="also write every measurement as JSON here")
    return parser.parse_args()


def shown_argument(arg: str) -> str:
    """An argument as the docs show it: paths inside the repository relative to it, paths outside
    it as .../NAME, so that no path of the machine that ran it lands in the repository."""
    key, eq, value = arg.partition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
    if os.path.isabs(value):
        value = os.path.relpath(value, REPO) if value.startswith(REPO + os.sep) else ".../" + os.path.basename(value)
    return key + eq + value


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["python3", "Tools/bench.py", *map(shown_argument, sys.argv[1:])])


def main() -> int:
    args = parse_args()
    known = dict(NETWORKS)
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in keys if k not in known]
    if unknown or not keys:
        sys.exit(f"bench: unknown model(s) {','.join(unknown)}; choose from {','.join(known)}")
    keys = [k for k, _ in NETWORKS if k in keys]  # deterministic order
    configs = list(dict.fromkeys(c.strip() for c in args.configs.split(",") if c.strip()))
    if not configs:
        sys.exit("bench: --configs is empty")
    primary = PRIMARY_CONFIG if PRIMARY_CONFIG in configs else configs[0]
    compile_repeats, run_repeats, ort_repeats = (1, 1, 3) if args.quick else (3, 3, 5)
    speed_rounds = 1 if args.quick else 5

    started = time.perf_counter()
    cache = os.path.abspath(args.cache)
    ensure_models(cache, keys)
    dfc = os.path.abspath(args.dfc) if args.dfc else build_dfc(shlex.split(args.build_flags))
    help_text = subprocess.run([dfc, "compile", "--help"], capture_output=True, text=True).stdout
    variants = [v for v in VARIANTS if v.requires is None or v.requires in help_text]
    log(f"bench: variants {', '.join(v.key for v in variants)}; configs {', '.join(configs)}")

    work = tempfile.mkdtemp(prefix="dfc-bench-", dir=cache)
    _SCRUB.extend([(work, "<work>"), (cache + os.sep, ""), (REPO + os.sep, "")])
    nets: list[Network] = []
    try:
        for key in keys:
            net = Network(key, known[key])
            nets.append(net)
            model = os.path.join(cache, f"{key}.onnx")
            input_path = os.path.join(cache, f"{key}.input.npy")
            net.input_name, net.output_names = graph_io(model)
            t0 = time.perf_counter()
            reference = run_onnxruntime(net, model, input_path, ort_repeats)
            log(f"bench: {net.name}: onnxruntime {f_ms(net.ort_s)} ms" + (f" ({net.ort_error})" if net.ort_error else ""))
            for config in configs:
                for variant in variants:
                    if variant.primary_only and config != primary:
                        continue
                    cell = Cell(config, variant)
                    net.cells[(config, variant.key)] = cell
                    tag = f"{key}.{len(net.cells)}"
                    prog, report = os.path.join(work, f"{tag}.dfx"), os.path.join(work, f"{tag}.report.json")
                    at_primary = config == primary
                    compile_cell(dfc, cell, model, prog, report, compile_repeats if at_primary else 1)
                    if cell.report is not None:
                        timed = at_primary and variant is DEFAULT_VARIANT
                        out_dir = os.path.join(work, f"{tag}.out")
                        os.makedirs(out_dir, exist_ok=True)
                        run_cell(dfc, cell, net, prog, input_path, out_dir, os.path.join(work, f"{tag}.stats.json"),
                                 full=at_primary, repeats=run_repeats if timed else 1, reference=reference)
                        shutil.rmtree(out_dir, ignore_errors=True)
                    for path in (prog, report):
                        if os.path.exists(path):
                            os.remove(path)
                    status = f"error: {cell.error}" if cell.error else (
                        f"compile {f_s(cell.compile_s)} s, run {f_ms(cell.run_s)} ms, "
                        f"{f_mb(cell.report['predicted_dram_bytes'])} MB, {f_mcycles(cell.stats['cycles'])} Mcycles")
                    log(f"bench: {net.name} @ {config} [{variant.key}]: {status}")
                    for warning in cell.warnings:
                        log(f"bench: warning: {net.name} @ {config} [{variant.key}]: {warning}")
            if primary in configs:
                net.speed = measure_speed(dfc, net, model, input_path, work, speed_rounds)
                log(f"bench: {net.name}: speed " + (net.speed.error or "measured"))
            log(f"bench: {net.name} done in {time.perf_counter() - t0:.0f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - started

    failures = []
    warnings = []
    for net in nets:
        if net.ort_error:
            failures.append(f"{net.name}: {net.ort_error}")
        for cell in net.cells.values():
            if cell.error:
                failures.append(f"{net.name} @ {config_label(cell.config)} [{cell.variant.key}]: {cell.error}")
            warnings.extend(f"{net.name} @ {config_label(cell.config)} [{cell.variant.key}]: {w}" for w in cell.warnings)

    sections = [("Summary at " + config_label(primary), summary_table(nets, primary, compile_repeats, run_repeats, ort_repeats))]
    if primary in configs:
        sections.append((f"Toolchain speed against onnxruntime at {config_label(primary)}",
                         speed_table(nets, speed_rounds, ort_repeats)))
    if NO_FUSION in variants:
        for config in configs:
            sections.append((f"Deep fusion vs layer-by-layer at {config_label(config)}", fusion_table(nets, config)))
    if any(v.primary_only for v in variants):
        sections.append((f"Objectives at {config_label(primary)}", objectives_table(nets, primary)))
    sections.append(("Traffic and cycles per accelerator config", configs_table(nets, configs, variants)))
    sections.append((f"Heaviest layers by DRAM traffic at {config_label(primary)}",
                     heavy_layers_table(nets, primary, "traffic")))
    sections.append((f"Slowest layers by cycles at {config_label(primary)}", heavy_layers_table(nets, primary, "cycles")))

    for title, text in sections:
        print(f"\n## {title}\n\n{text}")
    for w in warnings:
        print(f"warning: {w}")
    for f in failures:
        print(f"FAILED: {f}")
    print(f"\nbench: {len(nets)} networks x {len(configs)} configs x {len(variants)} variants in {elapsed:.0f} s"
          + (f"; {len(failures)} failure(s)" if failures else "; all checks passed"))

    if not args.no_doc:
        write_doc(args.doc, sections, failures, warnings, primary, configs, variants, compile_repeats, run_repeats,
                  ort_repeats, speed_rounds, elapsed)
    if args.json:
        write_json(args.json, nets, configs, variants, elapsed)
    return 1 if failures else 0


def write_doc(path: str, sections: list[tuple[str, str]], failures: list[str], warnings: list[str], primary: str,
              configs: list[str], variants: list[Variant], compile_repeats: int, run_repeats: int,
              ort_repeats: int, speed_rounds: int, elapsed: float) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fusion = NO_FUSION in variants
    lines = [
        "# Benchmark",
        "",
        "Generated by `make bench` (`Tools/bench.py`); do not edit by hand. Regenerate with `make bench`.",
        "",
        f"- Command: `{command_line()}`",
        f"- Date: {now}; whole run {elapsed:.0f} s",
        *[f"- {line}" for line in machine_summary()],
        f"- Accelerator configs: {', '.join(f'`{config_label(c)}`' for c in configs)}; compile variants: "
        + ", ".join(f"{v.label}" for v in variants),
        "",
        "Networks: `Tools/gen_bench_models.py` (seeded random weights, input `input` 1x3x224x224 N(0,1)).",
        "The machine is small and shared, so absolute wall times are noisy; quote the ratios, which come",
        "from one run of this script with dfc and onnxruntime measured back to back.",
        "",
        "Columns:",
        "",
        f"- **compile s**: wall clock of `dfc compile MODEL -o PROG --accel CONFIG --report R.json` "
        f"(release build), the best of {compile_repeats} at `{primary}`, a single run at the other configs.",
        "- **DRAM MB**: bytes moved by LOAD and STORE (1 MB = 10^6 bytes), predicted by the compiler (`--report`)",
        "  and equal to what the executor counted; split into **weights** and **activations** (everything that",
        "  is not a constant: network input, feature maps, output).",
        "- **compulsory MB**: every weight once + the network input + the output, the traffic no schedule can",
        "  avoid (from the report); **DRAM / compulsory** is the ratio (1.00 is the floor).",
        "- **Mcycles**: millions of accelerator cycles from the executor's timing model (docs/isa.md section 7;",
        "  1 GHz, so also milliseconds of modeled time). **pred. cycles err**: the compiler's predicted cycles",
        "  against the executor's.",
        "- **pred = exec bytes**: the compiler's predicted DRAM bytes (total, read, write, weights, activations)",
        "  equal the executor's counts; the bench fails otherwise.",
        f"- **dfc run ms**: wall clock of `dfc run PROG --input ... --output-dir ... --stats ...` at `{primary}`,",
        f"  median of {run_repeats}: the whole process (loading and validating the program and its weights, the",
        "  hazard check, the arithmetic, writing the outputs). Other configs are executed with `--timing-only`,",
        "  which gives the same byte and cycle counts.",
        f"- **onnxruntime ms**: `InferenceSession.run` on the same input, CPUExecutionProvider, one warm-up and",
        f"  then the median of {ort_repeats} runs (session creation excluded). **dfc / ort**: the ratio of the two.",
        f"- **rel. L2 vs ort**: ||dfc - ort||_2 / ||ort||_2 over the output; the bench fails above {REL_L2_LIMIT:g}.",
        "- **SRAM peak KiB**: the highest SRAM address any instruction touches.",
        f"- **Toolchain speed** (median of {speed_rounds} rounds; each round runs, in turn, `dfc compile MODEL -o PROG`,",
        "  a Python process that imports onnxruntime, creates a session with two threads and runs once,",
        "  `dfc run PROG --input ... --output-dir ... --profile`, a Python process that times onnxruntime's warm",
        "  `run` (two threads, one warm-up, the median of 3) and `dfc run PROG --timing-only`; all whole",
        "  processes): **compile / ort session** the compile process against the session creation (timed inside",
        "  the Python process); **arithmetic / ort run** `--profile`'s `run` phase (the arithmetic, and what is",
        "  left of the timing model, which starts beside the hazard check) against that round's **ort run ms**,",
        "  the median of the rounds' ratios;",
        "  **dfc run / ort process** the two whole processes; **--timing-only ms** that whole process;",
        "  **peak RSS / model** the compile process's peak resident memory (GNU time) against the ONNX file's size.",
        "- **layer floor Mcycles**: the sum over layers of the larger of the layer's MAC cycles on the matrix",
        "  array (channels rounded up to lane blocks; depthwise on the vector unit) and its weight bytes over the",
        "  DRAM bandwidth (`--report` `layer_floor_cycles`); **cycles / floor** the program's cycles against it",
        "  (not a strict bound: prefetching across layers and folding taps into channels can beat it).",
        "- **energy µJ**: one inference under the config's energy model (docs/isa.md section 8), from the",
        "  executor's stats; **EDP** energy x modeled time.",
        "- **Objectives**: the default compile and `--objective traffic|latency|energy|edp` at the primary",
        "  config; **DRAM / traffic's** is the bytes against what `--objective traffic` moves.",
        "- **df1-lowbw**: df1 with 8 DRAM bytes per cycle, the regime where traffic decides speed.",
        "- **Heaviest / slowest layers**: the report's per-layer rows (the default compile at "
        f"`{config_label(primary)}`); a layer's",
        "  cycles run from its first instruction's start to its last one's end, so overlapping layers share time.",
    ]
    if fusion:
        lines += [
            "- **layer-by-layer / fused**: `dfc compile --no-fusion` against the default (fused) compile at the",
            "  same config. **activation reduction** = 1 - fused activation bytes / layer-by-layer activation bytes;",
            "  **total reduction** likewise for all DRAM bytes; **speedup** = layer-by-layer cycles / fused cycles.",
            "- **groups**: fusion groups in the fused program. For each, the planner's cost model predicts its DRAM",
            "  bytes (the bench fails unless they equal what its instructions move) and its cycles (the group",
            "  scheduled alone by the timing model). Actual is the time the group adds to the executor's schedule",
            "  (from the end of everything before it to its own end). **group cycles err** = |sum predicted / sum",
            "  actual - 1| over the network's groups; **worst group cycles err** the largest per group (a group's",
            "  first weight loads may overlap the group before it, which the model does not see).",
        ]
    lines.append("")
    for title, text in sections:
        lines += [f"## {title}", "", text, ""]
    if warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    if failures:
        lines += ["## Failures", ""] + [f"- {f}" for f in failures] + [""]
    write_atomically(path, scrub("\n".join(lines)), "bench")


def write_atomically(path: str, text: str, tool: str) -> None:
    """Writes a generated document through a temporary file in its folder, then renames it."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{tool}-", suffix=".md", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    log(f"{tool}: wrote {os.path.relpath(path, REPO) if path.startswith(REPO) else path}")


def write_json(path: str, nets: list[Network], configs: list[str], variants: list[Variant], elapsed: float) -> None:
    def cell_json(cell: Cell) -> dict[str, Any]:
        data = dataclasses.asdict(cell)
        data["variant"] = cell.variant.key
        data["compile_s"], data["run_s"] = cell.compile_s, cell.run_s
        return data

    payload = {
        "configs": configs,
        "variants": [v.key for v in variants],
        "elapsed_s": elapsed,
        "networks": [{
            "key": net.key, "name": net.name, "input": net.input_name, "outputs": net.output_names,
            "onnxruntime_times_s": net.ort_times, "onnxruntime_s": net.ort_s, "onnxruntime_error": net.ort_error,
            "cells": [cell_json(c) for c in net.cells.values()],
        } for net in nets],
    }
    fd, tmp = tempfile.mkstemp(prefix=".bench-", suffix=".json", dir=os.path.dirname(os.path.abspath(path)))
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
