#!/usr/bin/env python3
"""Time the executor's arithmetic of two or more dfc builds against each other and onnxruntime.

Usage: python3 Tools/run_ab.py --dfc base=PATH --dfc new=PATH [--cache .cache/bench]
                               [--models mobilenet_v2,resnet18] [--accel df1] [--rounds 15] [--threads 2]

Each model is compiled once (by the first --dfc) and every build runs that same program with
`dfc run --profile`; the "run" phase (the arithmetic) is what is compared. A round runs every build
once, in an order rotated from round to round (without rotation, one build run under two names
differed by up to 10% on a shared two-core machine, depending on its place in the round), then one
onnxruntime `run` of the same input in a session created once, with `--threads` intra-op threads.
Prints the median of the rounds per build, its ratio to onnxruntime and to the first build.
`--env NAME:KEY=VALUE` sets an environment variable for build NAME's runs only (a build may be
listed twice under two names with different settings).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_PHASE = re.compile(r"profile: run\s+([0-9.]+) ms")


def run_phase_ms(dfc: str, program: str, input_path: str, input_name: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [dfc, "run", program, "--input", f"{input_name}={input_path}", "--profile"],
        capture_output=True,
        text=True,
        env=env,
    )
    match = RUN_PHASE.search(out.stderr)
    if out.returncode != 0 or match is None:
        sys.exit(f"run_ab: {dfc} run {program} failed: {out.stderr.strip().splitlines()[-1:]}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dfc", action="append", required=True, help="NAME=PATH of a dfc build (repeatable)")
    parser.add_argument("--env", action="append", default=[], help="NAME:KEY=VALUE for build NAME's runs")
    parser.add_argument("--cache", default=os.path.join(REPO, ".cache", "bench"))
    parser.add_argument("--models", default="mobilenet_v2")
    parser.add_argument("--accel", default="df1")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import onnxruntime as ort

    builds = [tuple(spec.split("=", 1)) for spec in args.dfc]
    envs = {name: dict(os.environ) for name, _ in builds}
    for setting in args.env:
        name, assignment = setting.split(":", 1)
        key, value = assignment.split("=", 1)
        envs[name][key] = value
    with tempfile.TemporaryDirectory() as scratch:
        for model in args.models.split(","):
            onnx_path = os.path.join(args.cache, f"{model}.onnx")
            input_path = os.path.join(args.cache, f"{model}.input.npy")
            program = os.path.join(scratch, f"{model}.dfx")
            subprocess.run([builds[0][1], "compile", onnx_path, "-o", program, "--accel", args.accel], check=True)
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
            input_name = session.get_inputs()[0].name
            x = np.load(input_path)
            session.run(None, {input_name: x})
            for name, path in builds:  # warm-up
                run_phase_ms(path, program, input_path, input_name, envs[name])
            times: dict[str, list[float]] = {name: [] for name, _ in builds}
            ort_ms: list[float] = []
            for r in range(args.rounds):
                k = r % len(builds)
                for name, path in builds[k:] + builds[:k]:
                    times[name].append(run_phase_ms(path, program, input_path, input_name, envs[name]))
                start = time.perf_counter()
                session.run(None, {input_name: x})
                ort_ms.append((time.perf_counter() - start) * 1000)
            ort_median = statistics.median(ort_ms)
            first = statistics.median(times[builds[0][0]])
            print(f"{model} ({args.accel}): onnxruntime run {ort_median:.2f} ms, median of {args.rounds}")
            for name, _ in builds:
                m = statistics.median(times[name])
                print(f"  {name:12s} {m:8.2f} ms  {m / ort_median:5.2f}x onnxruntime  {m / first:.3f}x {builds[0][0]}")


if __name__ == "__main__":
    main()
