"""How long do the light commands take, from process start to exit?

`edgedistil --help`, `targets` and `plan` import no torch, TensorFlow or ONNX Runtime, so they
should answer well under a second. Each command runs --runs times, timed by
benchmarks/_timing.py's interleaved timer (one run of every command per round, the order rotated,
after one untimed run of each); the table gives the median and spread beside a bare
`python -c pass`, as a ratio in the same run.

    .venv/bin/python benchmarks/cli_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import _timing

EXE = str(Path(sys.executable).parent / "edgedistil")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "edgedistil --help": [EXE, "--help"],
    "edgedistil targets": [EXE, "targets"],
    "edgedistil plan (7 targets)": [EXE, "plan", "--teacher", "default"],
}
# Every run is a fresh process, so there is no session to warm: one untimed run of each command
# fills the page cache and writes the .pyc files, and more would only repeat it.
WARMUP = 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    candidates = [
        _timing.Candidate(
            name=name,
            call=lambda _, a=argv: subprocess.run(a, check=True, capture_output=True),
            runs=args.runs,
        )
        for name, argv in COMMANDS.items()
    ]
    timed = _timing.time_interleaved(candidates, rounds=args.runs, warmup=WARMUP)
    baseline = timed["python -c pass"].median
    print("| command | median ms | min ms | max ms | / python -c pass |")
    print("|---|---:|---:|---:|---:|")
    for name in COMMANDS:
        t = timed[name]
        print(
            f"| {name} | {t.median:.0f} | {min(t.ms):.0f} | {max(t.ms):.0f} | "
            f"{t.median / baseline:.1f}x |"
        )


if __name__ == "__main__":
    main()
