"""Tokenisation against inference on the board, per sentence: the board script's builtin WordPiece
and Hugging Face's tokenizers side by side, in one run.

The default teacher (all-MiniLM-L6-v2) is exported to ONNX by edgedistil's own export (static
length ``--length``, its tokenizer files beside it), and ``--rows`` sentences of the calibration
sample text are written as the host writes them for a board (``bench.inputs``: the ids, the
text, the tokenizer files). Then the board script, the very file ``edgedistil bench`` copies to
a board, runs the model in text mode in a fresh process, as the local runner runs it, once with
``--tokenize-with builtin`` and once with ``--tokenize-with tokenizers``, alternating for
``--rounds`` rounds so that a burst of load from another process lands on both. Each process
reports the tokenisation times of every sentence (after one untimed pass) and the inference
times of ``--runs`` runs; the rounds' samples are pooled per tokenizer. Both tokenizers' ids are
checked against the host's (sha256 per sentence), as ``bench`` does.

    .venv/bin/python benchmarks/bench_text.py [--rows 200] [--runs 200] [--rounds 3] \\
        [--threads 2] [--length 128] [--work DIR]

It measures this host, not a board: the ratio of tokenisation to inference is what carries over.
About 3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgedistil.bench import inputs, stats
from edgedistil.bench.base import SCRIPT
from edgedistil.data import SAMPLE_TEXT

KINDS = ("builtin", "tokenizers")


def export_teacher(work: Path, length: int) -> Path:
    from edgedistil.export.onnx import ExportSpec, export_onnx
    from edgedistil.teacher import default_teacher_dir

    spec = ExportSpec(
        student=default_teacher_dir(), out=work, sequence_length=length, parity_text=SAMPLE_TEXT
    )
    return export_onnx(spec).path


def ship(model: Path, rows: int, length: int, folder: Path) -> list[str]:
    """What the host ships for a board in text mode; the host's digests of its ids."""
    sentences = inputs.read_sentences(SAMPLE_TEXT, rows)
    arrays = inputs.tokenize(model.parent, sentences, length)
    folder.mkdir(parents=True, exist_ok=True)
    inputs.write_inputs(arrays, folder)
    inputs.write_text(sentences, model.parent, folder)
    return inputs.digests(arrays)


def run_board(model: Path, folder: Path, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(SCRIPT), "--model", str(model), "--inputs", str(folder)]
    command += ["--runs", str(args.runs), "--warmup", "10", "--threads", str(args.threads)]
    command += ["--text", str(folder / inputs.TEXT_FILE), "--tokenizer", str(folder)]
    command += ["--length", str(args.length), "--tokenize-with", kind]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    result: dict[str, Any] = json.loads(done.stdout)
    if not result.get("ok"):
        raise SystemExit(f"{kind}: {result.get('error')}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-text-") as tmp:
        work = args.work or Path(tmp)
        model = export_teacher(work / "onnx", args.length)
        expected = ship(model, args.rows, args.length, work / "ship")
        tok: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
        inference: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
        facts: dict[str, Any] = {}
        for round_ in range(args.rounds):
            for kind in KINDS if round_ % 2 == 0 else reversed(KINDS):
                result = run_board(model, work / "ship", kind, args)
                report = result["tokenize"]
                if report["digests"] != expected:
                    raise SystemExit(f"{kind}: the board's ids differ from the host's")
                tok[kind].append(report["latency_ms"])
                inference[kind].append(result["latency_ms"])
                facts = result
        print_table(model, args, tok, inference, facts)


def median_of(rounds: list[dict[str, float]], key: str) -> float:
    return stats.median([r[key] for r in rounds])


def print_table(
    model: Path,
    args: argparse.Namespace,
    tok: dict[str, list[dict[str, float]]],
    inference: dict[str, list[dict[str, float]]],
    facts: dict[str, Any],
) -> None:
    size = model.stat().st_size / 2**20
    print(
        f"all-MiniLM-L6-v2, ONNX fp32 ({size:.1f} MiB) at length {args.length}, "
        f"{facts['runtime']['name']} {facts['runtime']['version']}, {args.threads} threads, "
        f"{args.rows} calibration sentences, {args.rounds} rounds; "
        f"CPU: {facts['board']['cpu_model']}"
    )
    print(
        "| tokenizer | tokenise p50 ms | p95 ms | mean ms | inference p50 ms | p95 ms | "
        "mean ms | tokenise / inference (p50) | (mean) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        t = {q: median_of(tok[kind], q) for q in ("p50", "p95", "mean")}
        i = {q: median_of(inference[kind], q) for q in ("p50", "p95", "mean")}
        print(
            f"| {'builtin-wordpiece' if kind == 'builtin' else kind} | {t['p50']:.3f} | "
            f"{t['p95']:.3f} | {t['mean']:.3f} | {i['p50']:.2f} | {i['p95']:.2f} | "
            f"{i['mean']:.2f} | {t['p50'] / i['p50']:.2%} | {t['mean'] / i['mean']:.2%} |"
        )
    ratio = median_of(tok["builtin"], "p50") / median_of(tok["tokenizers"], "p50")
    print(f"builtin WordPiece / tokenizers, tokenise p50: {ratio:.1f}x")


if __name__ == "__main__":
    main()
