"""Peak RSS of static-int8 calibration against the number of calibration sentences.

Exports a student (default: the default teacher, all-MiniLM-L6-v2) once, then calibrates it in a
fresh process per count, so each peak is that run's own. The counts are drawn from a text file
(``--text``; default: the shipped sample text), repeated when it is shorter than the count. With
``--ort-collector`` each count also runs ONNX Runtime's own MinMax calibrator for comparison.

    .venv/bin/python benchmarks/calibration_memory.py [--text ../shared/data/sst2/train.tsv] \\
        [--student DIR] [--counts 100 2000] [--seq 128] [--ort-collector]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from edgedistil.data import SAMPLE_TEXT


def child(export: Path, text: Path, count: int, ort_collector: bool) -> None:
    import itertools

    from transformers import AutoTokenizer

    from edgedistil.data import read_examples
    from edgedistil.export.onnx import read_record
    from edgedistil.quantize import calibration
    from edgedistil.quantize import onnx as q
    from edgedistil.verify.text import batches

    record = read_record(export)
    tok = AutoTokenizer.from_pretrained(str(export))
    texts = list(itertools.islice(itertools.cycle(read_examples(text).texts), count))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    kwargs = dict(length=record["sequence_length"], names=record["inputs"], dtype="int64")
    if ort_collector:
        from onnxruntime.quantization import CalibrationDataReader, create_calibrator

        class Reader(CalibrationDataReader):  # type: ignore[misc]
            def __init__(self) -> None:
                self.it = batches(tok, texts, batch_size=16, **kwargs)

            def get_next(self):  # type: ignore[no-untyped-def]
                return next(self.it, None)

        with tempfile.TemporaryDirectory() as tmp:
            cal = create_calibrator(
                export / "model.onnx", list(q.OP_TYPES), augmented_model_path=f"{tmp}/aug.onnx"
            )
            cal.collect_data(Reader())
            cal.compute_data()
    else:
        data = batches(tok, texts, batch_size=16, **kwargs)
        calibration.collect_ranges(
            export / "model.onnx", data, method="minmax", op_types=q.OP_TYPES
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{before} {peak}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, default=None, help="Default: the default teacher.")
    parser.add_argument(
        "--text", type=Path, default=SAMPLE_TEXT, help="e.g. ../shared/data/sst2/train.tsv"
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 2000])
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--ort-collector", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.text, int(args.child[1]), args.child[2] == "ort")
        return
    from edgedistil.export.onnx import ExportSpec, export_onnx
    from edgedistil.teacher import default_teacher_dir

    student = args.student or default_teacher_dir()
    collectors = ["edgedistil"] + (["ort"] if args.ort_collector else [])
    print("| collector | sentences | RSS before calibration | peak RSS | growth |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        spec = ExportSpec(
            student=student, out=Path(tmp), sequence_length=args.seq, parity_text=SAMPLE_TEXT
        )
        export_onnx(spec)
        for collector in collectors:
            for count in args.counts:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--text",
                        str(args.text),
                        "--child",
                        tmp,
                        str(count),
                        collector,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.split()
                before, peak = int(out[-2]), int(out[-1])
                mib = [f"{v / 2**20:.0f} MiB" for v in (before, peak, peak - before)]
                print(
                    f"| {collector} | {count:,} | {' | '.join(mib)} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
