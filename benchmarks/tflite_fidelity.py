"""Integer-activation fidelity of the LiteRT/TFLite Micro graph, with and without the split
residual stream, side by side in one run.

For each student and scheme, the library's own conversion (``edgedistil.export.tflite``) runs
twice: as shipped (BERT's outlier dimensions in their own int8 tensor) and with the stream as one
tensor (``tf_bert.OUTLIERS = 0``). Each file runs in LiteRT against PyTorch on the eval text:
mean cosine for an embedding model, agreement (or accuracy with labels) for a classifier.

    .venv/bin/python benchmarks/tflite_fidelity.py STUDENT [STUDENT ...] \
        [--schemes full-int8 static-int8] [--runtime tflite-micro] [--sequence-length 64] \
        [--eval FILE] [--sentences 100]

STUDENT is a Hugging Face directory or "default" (the shipped MiniLM-L6).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgedistil.data import SAMPLE_TEXT  # noqa: E402
from edgedistil.export import tf_bert  # noqa: E402
from edgedistil.export.tflite import TFLiteSpec, convert_tflite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("students", nargs="+")
    parser.add_argument("--schemes", nargs="+", default=["full-int8"])
    parser.add_argument("--runtime", default="tflite-micro", choices=["litert", "tflite-micro"])
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--eval", type=Path, default=SAMPLE_TEXT)
    parser.add_argument("--sentences", type=int, default=100)
    args = parser.parse_args()
    shipped = tf_bert.OUTLIERS
    print(f"runtime {args.runtime}, length {args.sequence_length}, {args.sentences} sentences")
    print("| student | scheme | stream | outlier dims | metric | score | drop |")
    print("|---|---|---|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for student in args.students:
            for scheme in args.schemes:
                for label, count in (("one tensor", 0), ("split", shipped)):
                    tf_bert.OUTLIERS = count
                    spec = TFLiteSpec(
                        student=Path(student),
                        out=Path(tmp) / f"{len(list(Path(tmp).iterdir()))}",
                        scheme=scheme,
                        sequence_length=args.sequence_length,
                        runtime=args.runtime,
                        calibration=SAMPLE_TEXT,
                        eval_text=args.eval,
                        max_drop=1.0,  # measure, do not refuse
                        eval_sentences=args.sentences,
                    )
                    r = convert_tflite(spec)
                    f = r.fidelity
                    print(
                        f"| {student} | {scheme} | {label} | {list(r.outliers)} | {f.metric} "
                        f"| {f.int8_score:.4f} | {f.drop:.4f} |",
                        flush=True,
                    )
    tf_bert.OUTLIERS = shipped


if __name__ == "__main__":
    main()
