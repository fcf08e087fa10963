#!/usr/bin/env python3
"""Compile the bench networks at every config and print one SHA-256 per program.

Usage: python3 Tools/program_digests.py --dfc PATH [--cache .cache/bench] [--models a,b] [--configs df1,...]
                                        [--check FILE] [--write FILE] [--jobs 2] [--flags "--objective traffic"]
                                        [--body]

The refactoring gate: a change that must not alter any program is checked by
writing the digests before it (`--write before.txt`) and comparing after it
(`--check before.txt`, exit 1 naming every program that differs). The models
come from `Tools/gen_bench_models.py` (run by `make bench`).

`--body` digests each file without its format version (bytes 4-5) and its
trailing checksum, so that programs written before and after a change of the
container format (a new version, another checksum) can be compared.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["resnet50", "vgg16", "mobilenet_v2", "inception_v1", "squeezenet1_0", "alexnet"]
CONFIGS = ["df1", "df1-small", "df1-large"]


def body(data: bytes) -> bytes:
    """The file without its format version and checksum: what a container format change leaves alone."""
    return data[:4] + data[6:-4]


def digest(
    dfc: str, model: str, config: str, fusion: bool, flags: list[str], body_only: bool
) -> tuple[str, str, float]:
    """Compiles one program into a temporary folder; returns its key, SHA-256 and seconds."""
    key = f"{os.path.basename(model)[:-5]} {config}{'' if fusion else ' --no-fusion'}"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "p.dfx")
        cmd = [dfc, "compile", model, "-o", out, "--accel", config] + ([] if fusion else ["--no-fusion"]) + flags
        start = time.monotonic()
        run = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.monotonic() - start
        if run.returncode != 0:
            return key, "error: " + run.stderr.strip().splitlines()[-1], seconds
        with open(out, "rb") as f:
            data = f.read()
        return key, hashlib.sha256(body(data) if body_only else data).hexdigest(), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dfc", required=True, help="the dfc binary")
    parser.add_argument("--cache", default=os.path.join(REPO, ".cache", "bench"))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--no-fusion", action="store_true", help="also the layer-by-layer programs")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--flags", default="", help="more dfc compile flags, e.g. '--objective traffic'")
    parser.add_argument("--body", action="store_true", help="leave out the format version and the checksum")
    parser.add_argument("--write", help="write the digests here")
    parser.add_argument("--check", help="compare with digests written earlier; exit 1 on any difference")
    args = parser.parse_args()

    work = []
    for name in args.models.split(","):
        model = os.path.join(args.cache, name + ".onnx")
        if not os.path.exists(model):
            print(f"program_digests: {model}: missing (python3 Tools/gen_bench_models.py makes it)", file=sys.stderr)
            return 2
        for config in args.configs.split(","):
            work.append((model, config, True))
            if args.no_fusion:
                work.append((model, config, False))
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda w: digest(args.dfc, *w, args.flags.split(), args.body), work))
    lines = [f"{key}: {sha}" for key, sha, _ in results]
    for (key, sha, seconds) in results:
        print(f"{key:40s} {sha[:16]}  {seconds:5.1f} s")
    print(f"total compile time {sum(s for _, _, s in results):.1f} s")
    if args.write:
        with open(args.write, "w") as f:
            f.write("\n".join(lines) + "\n")
    if args.check:
        with open(args.check) as f:
            before = dict(line.rstrip("\n").split(": ", 1) for line in f if line.strip())
        differ = [key for key, sha, _ in results if before.get(key) != sha]
        if differ:
            print("programs differ: " + "; ".join(differ), file=sys.stderr)
            return 1
        print(f"all {len(results)} programs byte-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
