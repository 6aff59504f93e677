"""MediaPipe Tasks on raw text against edgedistil's host pipeline, for phone and watch files.

Two models, each converted with MediaPipe metadata (``edgedistil.export.tflite_metadata``) in
the phone's scheme (dynamic-int8) and the watch's (static-int8) at ``--length`` tokens:

- an embedding model: ``--student DIR``, else the shipped all-MiniLM-L6-v2;
- a classifier: ``--classifier DIR``, else the shipped MiniLM fine-tuned here with
  ``edgedistil finetune`` on the first ``--train-rows`` rows of SST-2 train (one epoch).

Each runs on SST-2 dev's sentences (``../shared/data/sst2/dev.tsv``, or ``--eval FILE``) in
MediaPipe's own ``TextEmbedder`` / ``TextClassifier`` (raw strings in) and in the host pipeline
(the Hugging Face tokenizer's ids into LiteRT on the same file). Printed per file: sentences,
how many MediaPipe's tokenizer read as the student's does, the host's class share or the mean
and least cosine (all sentences, then those tokenized alike), the metadata's bytes, and the
median milliseconds per sentence of MediaPipe (tokenizing included) and of the host pipeline
(tokenizer + LiteRT), timed interleaved in one run, with their ratio.

    .venv/bin/python benchmarks/mediapipe_text.py [--student DIR] [--classifier DIR] \\
        [--eval FILE] [--length 128] [--train-rows 4000] [--runs 200]

About 10 minutes on 2 CPU cores with the fine-tuning, 3 without.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from _timing import Candidate, time_interleaved  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from edgedistil.cli import cli  # noqa: E402
from edgedistil.export.tflite import TFLiteSpec, convert_tflite  # noqa: E402
from edgedistil.teacher import default_teacher_dir  # noqa: E402

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"
SCHEMES = ("dynamic-int8", "static-int8")  # android-phone's and wear-os-watch's


def sentences_of(path: Path) -> list[str]:
    """The text column of a TSV with a header, or the lines of a text file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".tsv":
        column = lines[0].split("\t").index("sentence")
        return [line.split("\t")[column].strip() for line in lines[1:] if line.strip()]
    return [line.strip() for line in lines if line.strip()]


def fine_tuned(out: Path, rows: int) -> Path:
    """The default teacher fine-tuned on the first ``rows`` rows of SST-2 train."""
    train = out / "train.tsv"
    lines = (SST2 / "train.tsv").read_text(encoding="utf-8").splitlines()
    train.write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")
    model = out / "classifier"
    result = CliRunner().invoke(
        cli,
        ["finetune", "--teacher", "default", "--data", str(train), "--epochs", "1",
         "--out", str(model)],
    )  # fmt: skip
    if result.exit_code != 0:
        sys.exit(f"finetune failed: {result.output}{result.stderr}")
    return model


def convert(student: Path, out: Path, scheme: str, text: Path, length: int) -> Any:
    spec = TFLiteSpec(
        student=student,
        out=out,
        scheme=scheme,
        sequence_length=length,
        calibration=text,
        eval_text=text,
        max_drop=1.0,  # the fidelity to PyTorch is not what is measured here
        mediapipe_sentences=100_000,
    )
    return convert_tflite(spec)


def timings(result: Any, student: Path, texts: list[str], runs: int) -> tuple[float, float]:
    """Median ms per sentence: MediaPipe's task on the raw string, and the host pipeline."""
    from ai_edge_litert.interpreter import Interpreter
    from mediapipe.tasks.python.core import base_options
    from mediapipe.tasks.python.text import text_classifier, text_embedder
    from transformers import AutoTokenizer

    options = base_options.BaseOptions(model_asset_path=str(result.path))
    if result.mediapipe.written.task == "TextClassifier":
        task = text_classifier.TextClassifier.create_from_options(
            text_classifier.TextClassifierOptions(base_options=options)
        )
        run_task = task.classify
    else:
        task = text_embedder.TextEmbedder.create_from_options(
            text_embedder.TextEmbedderOptions(base_options=options)
        )
        run_task = task.embed
    tokenizer = AutoTokenizer.from_pretrained(str(student))
    interpreter = Interpreter(model_path=str(result.path), num_threads=1)
    interpreter.allocate_tensors()
    inputs = {d["name"]: d["index"] for d in interpreter.get_input_details()}
    out = interpreter.get_output_details()[0]["index"]

    def host(i: int) -> object:
        batch = tokenizer(texts[i], padding="max_length", truncation=True,
                          max_length=result.sequence_length, return_tensors="np")  # fmt: skip
        for name, index in inputs.items():
            key = next(k for k in ("input_ids", "attention_mask", "token_type_ids") if k in name)
            values = batch.get(key, np.zeros_like(batch["input_ids"]))
            interpreter.set_tensor(index, np.asarray(values, np.int32))
        interpreter.invoke()
        return interpreter.get_tensor(out)

    count = min(runs, len(texts))
    timed = time_interleaved(
        [
            Candidate(name="mediapipe", call=lambda i: run_task(texts[i]), runs=count),
            Candidate(name="host", call=host, runs=count),
        ],
        rounds=10,
    )
    task.close()
    return timed["mediapipe"].median, timed["host"].median


def row(name: str, result: Any, student: Path, texts: list[str], runs: int) -> str:
    check, written = result.mediapipe.check, result.mediapipe.written
    if check.agreement is not None:
        figure = f"class {check.agreement:.2%} | {check.agreement_same_tokens:.2%}"
    else:
        figure = (
            f"cosine {check.mean_cosine:.5f} (least {check.min_cosine:.4f}) | "
            f"{check.mean_cosine_same_tokens:.5f}"
        )
    mediapipe_ms, host_ms = timings(result, student, texts, runs)
    return (
        f"| {name} | {result.scheme} | {check.sentences} | {check.same_tokens} | {figure} | "
        f"{written.bytes:,} | {mediapipe_ms:.2f} | {host_ms:.2f} | {mediapipe_ms / host_ms:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, help="Embedding model. Default: the teacher.")
    parser.add_argument("--classifier", type=Path, help="Default: fine-tuned here on SST-2.")
    parser.add_argument("--eval", type=Path, default=SST2 / "dev.tsv")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--train-rows", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=200, help="Timed sentences per pipeline.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        texts = sentences_of(args.eval)
        text = root / "eval.txt"
        text.write_text("\n".join(texts) + "\n", encoding="utf-8")
        models = {
            "embedding": args.student or default_teacher_dir(),
            "classifier": args.classifier or fine_tuned(root, args.train_rows),
        }
        print(
            "| model | scheme | sentences | same tokens | all | same tokens | metadata bytes | "
            "MediaPipe ms | host ms | ratio |\n|---|---|---:|---:|---|---|---:|---:|---:|---:|"
        )
        for name, student in models.items():
            for scheme in SCHEMES:
                result = convert(student, root / f"{name}-{scheme}", scheme, text, args.length)
                print(row(name, result, student, texts, args.runs), flush=True)


if __name__ == "__main__":
    main()
