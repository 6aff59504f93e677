"""Every family x task x path, built for real: the fidelity each release artifact measured.

For each family (BERT, DistilBERT, RoBERTa, XLM-R) and task (embedding, classification, text
pairs, token classification) a tiny random teacher with its family's own tokenizer (the test
suite's ``tests/tiny_families.py``, offline) is built with ``edgedistil build`` for an ONNX
profile (the Raspberry Pi 4's, ONNX only), the watch (LiteRT static-int8) and the ESP32-S3
(TFLite Micro full-int8); the student of the ONNX build is reused for the other two. Each cell is
the release's drop against PyTorch as the gate measured it (1 - cosine, accuracy points on the
labels, entity F1 on the gold tags) and its drop against the teacher, on the build's held-out
eval split, with its agreement with PyTorch. The labels of this data are arbitrary, so an
accuracy drop is noise of a few flips either way; the agreement is what shows a path is right.

    .venv/bin/python benchmarks/family_tasks.py [--families bert roberta] [--tasks pairs]

Tiny random models say whether each path computes its family's function through int8 end to
end, not how well a real student keeps a real teacher (``benchmarks/families.py`` runs the
trained MiniLM in every layout; ``benchmarks/distill_sst2.py`` measures retention).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from click.testing import CliRunner  # noqa: E402

from edgedistil.cli import cli  # noqa: E402
from tests.build._device import agreement, build_for, release  # noqa: E402
from tests.build.test_families import TASKS, _head, _task_data  # noqa: E402
from tests.tiny_families import FAMILIES, save_tiny_family  # noqa: E402

MEASURE = 1.0  # the accuracy budget: every cell measured, none refused
ONNX_PROFILE = f"""extends = "raspberry-pi-4"
name = "pi4-onnx"
description = "the Raspberry Pi 4 profile, ONNX only"
[export]
runtimes = ["onnxruntime"]
formats = ["onnx"]
[budgets]
max_accuracy_drop = {MEASURE}
"""
DEVICES = {"litert": "wear-os-watch", "tflite-micro": "esp32-s3"}


def _build(args: list[str]) -> None:
    result = CliRunner().invoke(
        cli, ["build", "--epochs", "1", "--runs", "3", "--runner", "local",
              "--allow-unmeasured", *args],
    )  # fmt: skip
    if result.exit_code != 0:
        raise SystemExit(f"build {' '.join(args)} failed:\n{result.output}{result.stderr}")


def _cell(folder: Path) -> str:
    _, entry, checks = release(folder)
    drop = checks["max_accuracy_drop"]["measured"]
    teacher = checks["max_drop_vs_teacher"]["measured"]
    agreed = agreement(folder)
    agree = "" if agreed is None else f", agreement {agreed:.3f}"
    return f"{entry['vs_teacher']['metric']} {drop:.4f} / {teacher:.4f}{agree}"


def _row(family: str, task: str, root: Path) -> list[str]:
    teacher = save_tiny_family(root / "teacher", family, TASKS[task], **_head(task))
    data = _task_data(root, task)
    profile = root / "onnx.toml"
    profile.write_text(ONNX_PROFILE)
    _build(["--target", str(profile), "--teacher", str(teacher), "--data", str(data),
            "--out", str(root / "onnx")])  # fmt: skip
    cells = [_cell(root / "onnx")]
    for path, target in DEVICES.items():
        build_for(target, root / "onnx" / "student", data, root / path, MEASURE)
        cells.append(_cell(root / path))
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    args = parser.parse_args()
    print("each cell: metric, drop vs PyTorch / drop vs the teacher (held-out eval split), and "
          "the release's agreement with PyTorch (classes, or entities)")  # fmt: skip
    print("| family | task | ONNX dynamic-int8 (Pi 4) | LiteRT static-int8 (watch) "
          "| TFLite Micro full-int8 (ESP32-S3) | seconds |")  # fmt: skip
    print("|---|---|---|---|---|---:|")
    for family in args.families:
        for task in args.tasks:
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                cells: list[Any] = _row(family, task, Path(tmp))
            seconds = time.perf_counter() - start
            print(f"| {family} | {task} | " + " | ".join(cells) + f" | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
