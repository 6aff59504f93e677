"""A release on the target's own kernels (issue 21): the same bytes, the same token ids, run on
this host's x86 kernels and on an emulated arm64 core (the ``qemu`` runner: the board's aarch64
ONNX Runtime or LiteRT, at the versions the profile says the board installs).

The build's fidelity figures are measured on x86 kernels (ORT's MLAS, LiteRT's x86 XNNPACK); a
Pi or a phone computes with others (ORT's aarch64 int8 GEMMs, XNNPACK's NEON / dot-product
kernels). Here both run a sample of the eval text and are compared: argmax agreement for a
classifier, mean cosine for an embedding. The ARM figure of the gate's accuracy budget is the
host's drop plus what the ARM kernels change against the host's on that sample (for a
classifier, each changed prediction counted as lost: a bound).

Latency under emulation is an emulator's, never a device's: only its time per sentence is kept,
for the record (``emulated_ms_per_sentence``), and nothing gates on it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgedistil.bench.base import Board, Job, Options
from edgedistil.data import TextInput
from edgedistil.errors import BenchError

log = logging.getLogger(__name__)
SENTENCES = 48  # ~1 s each emulated for a 3-layer MiniLM at 128 tokens: under a minute a file
SUFFIXES = (".onnx", ".tflite")  # what the board script runs
# The manifest fields this module writes on a release (replaced whole by the next build).
FIELDS = ("arm", "arm_unmeasured")


def measure(
    path: Path,
    info: dict[str, Any],
    *,
    student: Path,
    texts: list[TextInput],
    task: str,
    options: Options,
    threads: int,
) -> dict[str, Any]:
    """The manifest fields of one release: ``arm`` (the figures) or ``arm_unmeasured`` (why:
    the run crashed, the runtime refused the file, ...); a failure of one file is its own."""
    from edgedistil.bench.qemu import QemuRunner, core_for
    from edgedistil.runtimes import runtime_of

    runtime = runtime_of(str(info.get("format")))
    if path.suffix.lower() not in SUFFIXES or runtime is None:
        return {"arm_unmeasured": f"no board runtime runs {path.suffix} files"}
    core = core_for(options.emulated_cpu)
    host = runtime.run(path, info, student, texts)
    try:
        arm, result = _emulated(QemuRunner(options), path, _ids(path, student, texts), threads)
    except BenchError as exc:
        log.warning("%s on the emulated %s: %s", path.name, core.name, exc)
        return {"arm_unmeasured": str(exc)}
    return {"arm": _figures(host, arm, task, info, result, core.name)}


def _ids(path: Path, student: Path, texts: list[TextInput]) -> dict[str, np.ndarray]:
    """The ids the host's run fed (``runtimes``), under the board script's names."""
    from edgedistil.bench.board_script import match_input

    if path.suffix.lower() == ".tflite":
        from edgedistil.runtimes import int32_inputs

        arrays = int32_inputs(path, student, texts)
    else:
        from edgedistil.export.onnx import read_record
        from edgedistil.runtimes import tokenizer_of
        from edgedistil.verify.text import encode

        record = read_record(path.parent)
        arrays = encode(
            tokenizer_of(path.parent),
            texts,
            record.sequence_length,
            tuple(record.inputs),
            record.input_dtype,
        )
    return {match_input(name, len(arrays)): value for name, value in arrays.items()}


def _emulated(
    runner: Any, path: Path, arrays: dict[str, np.ndarray], threads: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """The first output of ``path`` on every row, computed on the emulated core."""
    with tempfile.TemporaryDirectory(prefix="edgedistil-arm-") as directory:
        folder = Path(directory)
        for name, value in arrays.items():
            np.save(folder / f"{name}.npy", value)
        # One timed run: the outputs come from their own pass over every row afterwards.
        job = Job(model=path, inputs=folder, runs=1, warmup=0, threads=threads, timeout_s=1800)
        result = runner.run_saving(job, Board(label="qemu", runner="qemu"), folder / "out.npz")
        with np.load(folder / "out.npz") as saved:
            first = np.asarray(saved[saved.files[0]])
    return _dequantized(path, first), result


def _dequantized(path: Path, values: np.ndarray) -> np.ndarray:
    """An integer LiteRT output as the host's run reads it (``export.tflite.run_litert``)."""
    if path.suffix.lower() != ".tflite" or values.dtype not in (np.int8, np.int16):
        return values.astype(np.float32)
    from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]

    from edgedistil.export.tflite import dequantize

    scale, zero = Interpreter(model_path=str(path)).get_output_details()[0]["quantization"]
    return dequantize(values, (float(scale), int(zero)))


def _figures(
    host: np.ndarray,
    arm: np.ndarray,
    task: str,
    info: dict[str, Any],
    result: dict[str, Any],
    core: str,
) -> dict[str, Any]:
    from edgedistil.verify.fidelity import compare

    f = compare(host, arm, task, None)
    changed = 1.0 - (f.agreement if f.agreement is not None else f.mean_cosine or 0.0)
    host_drop = float(info.get("accuracy_drop") or 0.0)
    runtime = result.get("runtime") or {}
    return {
        "core": core,
        "runtime": f"{runtime.get('name')} {runtime.get('version')}",
        "sentences": f.sentences,
        "metric": "agreement" if f.agreement is not None else "cosine",
        "vs_host": round(1.0 - changed, 6),
        "max_abs_diff": round(f.max_abs_diff, 6),
        "host_accuracy_drop": round(host_drop, 6),
        "accuracy_drop": round(host_drop + max(changed, 0.0), 6),
        "emulated_ms_per_sentence": round(_per_sentence(result, f.sentences), 1),
    }


def _per_sentence(result: dict[str, Any], sentences: int) -> float:
    """The emulator's time per sentence (its latency: not a device's)."""
    latency = result.get("latency_ms") or {}
    rows = int(result.get("rows") or sentences or 1)
    batch = max(sentences // rows, 1)  # a fixed batch feeds several sentences a run
    return float(latency.get("mean") or 0.0) / batch
