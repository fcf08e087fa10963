#!/usr/bin/env python3
"""Record what the timing model predicts for bench programs: the expectation the executor's runs are held to.

Usage: python3 Tools/record_run_stats.py --dfc PATH [--cache .cache/bench] [--models resnet18,mobilenet_v2]
                                         [--config df1] [--write Fixtures/run-stats.json]

For each model, compiles it at the config, takes the program's SHA-256 (the digest Tools/program_digests.py
prints) and runs `dfc run --timing-only --stats -`, which computes the cycle and byte counts from the
instruction stream alone, without any arithmetic. The test BenchProgramRunTests compiles the same models,
checks the programs still have these digests, runs them with the arithmetic and expects exactly these
counts. Rerun this (with a dfc whose timing model is trusted) when a compiler change alters the programs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(dfc: str, model: str, config: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "p.dfx")
        subprocess.run([dfc, "compile", model, "-o", out, "--accel", config], check=True, capture_output=True)
        with open(out, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        run = subprocess.run(
            [dfc, "run", out, "--timing-only", "--stats", "-"], check=True, capture_output=True, text=True
        )
        return {"sha256": sha, "stats": json.loads(run.stdout)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dfc", required=True, help="the dfc binary")
    parser.add_argument("--cache", default=os.path.join(REPO, ".cache", "bench"))
    parser.add_argument("--models", default="resnet18,mobilenet_v2")
    parser.add_argument("--config", default="df1")
    parser.add_argument("--write", default=os.path.join(REPO, "Fixtures", "run-stats.json"))
    args = parser.parse_args()
    recorded = {}
    for name in args.models.split(","):
        model = os.path.join(args.cache, name + ".onnx")
        if not os.path.exists(model):
            print(f"record_run_stats: {model}: missing (python3 Tools/gen_bench_models.py makes it)", file=sys.stderr)
            return 2
        recorded[f"{name} {args.config}"] = record(args.dfc, model, args.config)
        print(f"{name} {args.config}: {recorded[f'{name} {args.config}']['sha256'][:16]}")
    with open(args.write, "w") as f:
        json.dump(recorded, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
