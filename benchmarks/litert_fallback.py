"""LiteRT's static int8 all int8 against its accuracy-aware fallback, side by side on this host.

One student converted by ``edgedistil.export.tflite`` four ways: float32, dynamic int8, static
int8 with every operator int8 (``--no-fallback``'s file), and static int8 at ``--max-drop``,
where a file over the budget keeps all but the fully connected layers and lookups float
(``export/tflite_fallback.py``). For each: size, cosine (or accuracy) drop against PyTorch on
the eval text, and the median single-row latency in LiteRT (XNNPACK where it takes the ops),
timed round-robin in one run by benchmarks/_timing.py. The fallback's steps and their drops are
listed below the table. Latency here is this host's, not a board's: ratios, not budgets.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/litert_fallback.py STUDENT \
        --calibration CAL --eval EVAL [--max-drop 0.01] [--sequence-length 128] [--runs 50]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import _timing
from tflite_latency import litert_runner

from edgedistil.export.tflite import TFLiteSpec, convert_tflite


def variants(spec: TFLiteSpec, budget: float) -> dict[str, Any]:
    """The four conversions; the fallback's is None when the file refused even with it."""
    found: dict[str, Any] = {
        "float32": convert_tflite(replace(spec, scheme="float32", out=spec.out / "f32")),
        "dynamic-int8": convert_tflite(replace(spec, scheme="dynamic-int8", out=spec.out / "dyn")),
        "static-int8, all int8": convert_tflite(
            replace(spec, scheme="static-int8", out=spec.out / "all", fallback=False)
        ),
    }
    fallback = replace(spec, scheme="static-int8", out=spec.out / "fallback", max_drop=budget)
    found[f"static-int8 at {budget:g}"] = convert_tflite(fallback)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("student", type=Path)
    parser.add_argument("--calibration", type=Path, required=True)
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--max-drop", type=float, default=0.01)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="litert-fallback-") as tmp:
        spec = TFLiteSpec(
            student=args.student,
            out=Path(tmp),
            scheme="static-int8",
            sequence_length=args.sequence_length,
            calibration=args.calibration,
            eval_text=args.eval,
            max_drop=1.0,
            metadata=False,
        )
        results = variants(spec, args.max_drop)
        runners = {
            name: litert_runner(result.path, args.sequence_length, args.threads)
            for name, result in results.items()
        }
        candidates = [
            _timing.Candidate(name=name, call=lambda _, r=run: r(), runs=args.runs)
            for name, run in runners.items()
        ]
        timed = _timing.time_interleaved(candidates, rounds=args.rounds)
    print_table(results, timed)


def print_table(results: dict[str, Any], timed: dict[str, Any]) -> None:
    print("| variant | bytes | drop vs PyTorch | median ms | vs all int8 |")
    print("|---|---:|---:|---:|---:|")
    base = timed["static-int8, all int8"].median
    for name, result in results.items():
        ms = timed[name].median
        print(
            f"| {name} | {result.bytes:,} | {result.fidelity.drop:.4f} | {ms:.2f} | "
            f"{ms / base:.2f}x |"
        )
    for name, result in results.items():
        if result.fallback is not None:
            print(f"\n{name}: fallback {result.fallback.describe()}")


if __name__ == "__main__":
    main()
