"""LiteRT variants of one student side by side with its ONNX artifacts, on this host.

For each ``.tflite`` scheme (float32, float16, dynamic-int8, static-int8, full-int8, int16x8):
size, median single-row latency in the LiteRT interpreter (XNNPACK applied where it takes the
ops, as on a phone), and accuracy on a labelled dev file against PyTorch's; beside them the ONNX
float export and its dynamic and static int8 files from ``edgedistil.export.onnx`` and
``edgedistil.quantize`` at the same sequence length and threads. Every artifact is built by the
library's own verified paths; a variant that fails to convert or verify is shown with its error.
Every artifact is timed by benchmarks/_timing.py's interleaved timer: `--runs` runs each, in
`--rounds` rounds (every artifact in turn each round), the median over all of an artifact's runs.

    .venv/bin/python benchmarks/tflite_latency.py STUDENT ../shared/data/sst2/dev.tsv \
        [--sequence-length 64] [--limit 872] [--threads 1] [--runs 300] [--rounds 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import _timing
import numpy as np

from edgedistil.schemes import scheme_names

SCHEMES = scheme_names("tflite")


def subset(dev: Path, limit: int, out: Path) -> Path:
    """The first ``limit`` labelled rows of the dev file: the same sentences for every model."""
    lines = dev.read_text(encoding="utf-8").splitlines(keepends=True)
    path = out / dev.name  # the same extension: the reader picks the format by it
    path.write_text("".join(lines[: limit + 1]), encoding="utf-8")  # the header and ``limit`` rows
    return path


def litert_runner(path: Path, length: int, threads: int) -> Any:
    from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    ids = np.full((1, length), 1000, dtype=np.int32)  # any id: latency does not depend on it
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], ids if "ids" in detail["name"] else ids * 0 + 1)
    return interpreter.invoke


def onnx_runner(path: Path, length: int, threads: int) -> Any:
    session = _timing.session(path, threads=threads)
    ids = np.full((1, length), 1000, dtype=np.int32)
    feed = {
        i.name: ids if i.name == "input_ids" else np.ones_like(ids) for i in session.get_inputs()
    }
    return lambda: session.run(None, feed)


def time_rows(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Median single-row latency of every artifact, LiteRT interpreters and ORT sessions alike,
    timed interleaved in ``args.rounds`` rounds: on a shared host a burst of load then hits
    every model alike. Each row keeps the median of all its ``args.runs`` runs."""
    candidates = []
    for row in rows:
        if "path" in row:
            make = litert_runner if row["path"].suffix == ".tflite" else onnx_runner
            run = make(row["path"], args.sequence_length, args.threads)
            candidates.append(
                _timing.Candidate(name=row["model"], call=lambda _, r=run: r(), runs=args.runs)
            )
    timed = _timing.time_interleaved(candidates, rounds=args.rounds)
    for row in rows:
        if row["model"] in timed:
            row["ms"] = timed[row["model"]].median


def tflite_rows(args: argparse.Namespace, dev: Path, out: Path) -> list[dict[str, Any]]:
    from edgedistil.data import SAMPLE_TEXT
    from edgedistil.errors import EdgedistilError
    from edgedistil.export.tflite import TFLiteSpec, convert_tflite

    rows: list[dict[str, Any]] = []
    for scheme in args.schemes:
        spec = TFLiteSpec(
            student=args.student,
            out=out / "tflite",
            scheme=scheme,
            sequence_length=args.sequence_length,
            calibration=SAMPLE_TEXT,
            eval_text=dev,
            max_drop=1.0,  # measure, do not gate: every variant's accuracy is the point here
            eval_sentences=args.limit,
        )
        try:
            r = convert_tflite(spec)
        except EdgedistilError as exc:
            rows.append({"model": f"LiteRT {scheme}", "error": str(exc)})
            continue
        f = r.fidelity
        rows.append(
            {
                "model": f"LiteRT {scheme}",
                "bytes": r.bytes,
                "path": r.path,
                "accuracy": f.int8_score,
                "reference": f.float_score,
                "agreement": f.agreement,
            }
        )
    return rows


def onnx_rows(args: argparse.Namespace, dev: Path, out: Path) -> list[dict[str, Any]]:
    from edgedistil.data import SAMPLE_TEXT
    from edgedistil.export.onnx import ExportSpec, export_onnx
    from edgedistil.quantize import onnx as q
    from edgedistil.quantize.job import Job, quantize

    exported = export_onnx(
        ExportSpec(
            student=args.student,
            out=out / "onnx",
            sequence_length=args.sequence_length,
            input_dtype="int32",
            graph="plain",
            parity_text=SAMPLE_TEXT,
        )
    )
    rows: list[dict[str, Any]] = []
    for scheme, activations in (("dynamic-int8", "uint8"), ("static-int8", "int8")):
        result = quantize(
            Job(
                export_dir=out / "onnx",
                settings=q.Settings(scheme=scheme, activations=activations),
                calibration=SAMPLE_TEXT,
                eval_path=dev,
                max_accuracy_drop=1.0,
                fallback=False,
            )
        )
        if not rows:
            rows.append(_onnx_row("ONNX float32", exported.path, result.fidelity.float_score))
        named = out / "onnx" / f"model.{scheme}.onnx"
        os.replace(result.path, named)
        rows.append(_onnx_row(f"ONNX {scheme}", named, result.fidelity.int8_score))
    return rows


def _onnx_row(name: str, path: Path, accuracy: float) -> dict[str, Any]:
    return {"model": name, "bytes": path.stat().st_size, "path": path, "accuracy": accuracy}


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.student} at length {args.sequence_length}, {args.threads} thread(s), "
        f"first {args.limit} sentences of {args.dev}"
    )
    print(f"| {'model':<20} | {'bytes':>11} | {'median ms':>9} | {'accuracy':>8} |")
    print(f"|{'-' * 22}|{'-' * 13}|{'-' * 11}|{'-' * 10}|")
    for row in rows:
        if "error" in row:
            print(f"| {row['model']:<20} | failed: {row['error'][:150]}")
            continue
        print(
            f"| {row['model']:<20} | {row['bytes']:>11,} | {row['ms']:>9.3f} | "
            f"{row['accuracy']:>8.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("student", type=Path, help="A classifier student (HF directory).")
    parser.add_argument(
        "dev", type=Path, help="Labelled dev file, e.g. ../shared/data/sst2/dev.tsv"
    )
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--limit", type=int, default=872, help="Dev sentences (SST-2's 872).")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=300, help="Timed runs per model, in all.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=SCHEMES)
    parser.add_argument("--out", type=Path, help="Keep the artifacts here (default: a temp dir).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgedistil-tflite-bench-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        dev = subset(args.dev, args.limit, out)
        rows = tflite_rows(args, dev, out) + onnx_rows(args, dev, out)
        time_rows(rows, args)
    print_table(rows, args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
