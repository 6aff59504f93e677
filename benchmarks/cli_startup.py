"""How long do the light commands take, from process start to exit?

`edgedistil --help`, `targets` and `plan` import no torch, TensorFlow or ONNX Runtime, so they
should answer well under a second. Each command runs --runs times after one warm-up run; the
table gives the median and spread beside a bare `python -c pass`, as a ratio in the same run.

    .venv/bin/python benchmarks/cli_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

EXE = str(Path(sys.executable).parent / "edgedistil")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "edgedistil --help": [EXE, "--help"],
    "edgedistil targets": [EXE, "targets"],
    "edgedistil plan (7 targets)": [EXE, "plan", "--teacher", "default"],
}


def time_command(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, check=True, capture_output=True)  # warm-up: page cache, .pyc files
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    baseline = None
    print("| command | median ms | min ms | max ms | / python -c pass |")
    print("|---|---:|---:|---:|---:|")
    for name, argv in COMMANDS.items():
        samples = time_command(argv, args.runs)
        median = statistics.median(samples)
        baseline = baseline or median
        print(
            f"| {name} | {median * 1e3:.0f} | {min(samples) * 1e3:.0f} | "
            f"{max(samples) * 1e3:.0f} | {median / baseline:.1f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
