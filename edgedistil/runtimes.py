"""Each artifact format run in its own runtime on raw text, tokenised as the device would: with
the tokenizer the artifact ships with (the student's: its vocabulary may be pruned), at the
artifact's own length. ONNX Runtime computes int8 on the exact kernels of ``verify.kernels``,
whatever this host's CPU; LiteRT and TFLite Micro through ``export.tflite.run_litert`` and
``export.microcontroller.run_micro``, the helpers their verify stages use.

``runtime_of`` gives a registered format's ``Runtime`` (``formats.py``): the label its format
gives the runtime for the reports, how many sentences it takes, and the function its
registration names to run a file on texts (one output row a text); the built-in formats' are
the ``run_*`` functions here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistil.data import TextInput
from edgedistil.formats import get_format, is_format

BATCH = 32  # ONNX Runtime batches: memory stays flat at any eval size
# (file, its manifest entry, the student directory, texts) -> outputs, one row a text
Runner = Callable[[Path, dict[str, Any], Path, list[TextInput]], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class Runtime:
    name: str
    sentences: int
    run: Runner


def runtime_of(fmt: str) -> Runtime | None:
    """How to run an artifact of the format ``fmt`` on texts; None for a format not registered
    (a manifest written by another edgedistil)."""
    if not is_format(fmt):
        return None
    entry = get_format(fmt)
    return Runtime(
        name=entry.runtime_label, sentences=entry.eval_sentences, run=entry.load_evaluate()
    )


def tokenizer_of(path: Path) -> Any:
    """The tokenizer of a student or export folder, checked (``teacher.load_tokenizer``)."""
    from edgedistil.teacher import load_tokenizer

    return load_tokenizer(path)


def run_onnx(path: Path, info: dict[str, Any], student: Path, texts: list[TextInput]) -> np.ndarray:
    """The graph with the tokenizer exported beside it, on the exact int8 kernels."""
    from edgedistil.export.onnx import read_record
    from edgedistil.verify.kernels import session
    from edgedistil.verify.text import batches

    record = read_record(path.parent)
    data = batches(
        tokenizer_of(path.parent),
        texts,
        length=record.sequence_length,
        names=record.inputs,
        dtype=record.input_dtype,
        batch_size=BATCH,
    )
    run = session(path)
    return np.concatenate([run.run(None, batch)[0] for batch in data])


def run_litert(
    path: Path, info: dict[str, Any], student: Path, texts: list[TextInput]
) -> np.ndarray:
    from edgedistil.export.tflite import run_litert

    outputs, _ = run_litert(path, int32_inputs(path, student, texts))
    return outputs


def run_micro(
    path: Path, info: dict[str, Any], student: Path, texts: list[TextInput]
) -> np.ndarray:
    from edgedistil.export.microcontroller import run_micro

    arena = int(info["arena_bytes"])  # measured by the verify stage in TFLite Micro itself
    return run_micro(path.read_bytes(), int32_inputs(path, student, texts), arena)


def int32_inputs(path: Path, student: Path, texts: list[TextInput]) -> dict[str, np.ndarray]:
    """Ids and mask (and segment ids for a pair graph) as a .tflite takes them: the student's
    tokenizer, padded to the file's own length."""
    from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]

    from edgedistil.export.tflite import input_names
    from edgedistil.verify.text import encode

    length = int(Interpreter(model_path=str(path)).get_input_details()[0]["shape"][1])
    return encode(tokenizer_of(student), texts, length, input_names(path), "int32")
