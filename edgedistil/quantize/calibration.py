"""Calibration text -> activation ranges, in memory that does not grow with the text.

ONNX Runtime's own calibrators keep every batch's activations until the end (ORT #10503 went
past 100 GB on BERT). Here the text is tokenised batch by batch, each batch runs through the model
with the tensors to quantize added as outputs, and only a running summary stays: min and max for
MinMax, or ORT's own ``HistogramCollector`` histograms (which merge batch by batch) for Entropy and
Percentile. The result is ORT's ``TensorsData``, which ``quantize_static`` takes from a
calibration cache file instead of calibrating again.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgedistil.errors import QuantizeError
from edgedistil.verify.text import Batch

# ORT's defaults for each method (create_calibrator), so results match its own calibrators.
HISTOGRAM: dict[str, dict[str, Any]] = {
    "entropy": {"num_bins": 128, "num_quantized_bins": 128, "symmetric": False, "percentile": 0},
    "percentile": {
        "num_bins": 2048,
        "num_quantized_bins": 128,
        "symmetric": True,
        "percentile": 99.999,
    },
}
METHODS = ("minmax", "entropy", "percentile")


def tensors_to_calibrate(model: Any, op_types: tuple[str, ...]) -> list[str]:
    """Float activations read or written by the nodes to quantize (as ORT's calibrators pick)."""
    from onnx import TensorProto

    infos = {vi.name: vi for vi in itertools.chain(model.graph.value_info, model.graph.output)}
    infos.update({vi.name: vi for vi in model.graph.input})
    weights = {init.name for init in model.graph.initializer}
    chosen = set()
    for node in model.graph.node:
        if node.op_type not in op_types:
            continue
        for name in itertools.chain(node.input, node.output):
            info = infos.get(name)
            if info is None or name in weights or not info.type.HasField("tensor_type"):
                continue
            if info.type.tensor_type.elem_type in (TensorProto.FLOAT, TensorProto.FLOAT16):
                chosen.add(name)
    return sorted(chosen)


def augmented_session(path: Path, op_types: tuple[str, ...], work: Path) -> tuple[Any, list[str]]:
    """A session over ``path`` that also returns every tensor to calibrate."""
    import onnx
    import onnxruntime as ort  # type: ignore[import-untyped]
    from onnxruntime.quantization.quant_utils import load_model_with_shape_infer  # type: ignore[import-untyped]

    model = load_model_with_shape_infer(path)
    names = tensors_to_calibrate(model, op_types)
    infos = {vi.name: vi for vi in itertools.chain(model.graph.value_info, model.graph.input)}
    present = {o.name for o in model.graph.output}
    model.graph.output.extend(infos[n] for n in names if n not in present)
    augmented = work / "augmented.onnx"
    onnx.save(model, str(augmented))
    options = ort.SessionOptions()
    # No graph rewrites: a fused-away tensor could not be returned for calibration.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(augmented), options, providers=["CPUExecutionProvider"])
    return session, names


class RangeCollector:
    """Running per-tensor summaries, fed one batch of activations at a time."""

    def __init__(self, method: str) -> None:
        if method not in METHODS:
            raise QuantizeError(f'calibration method "{method}": allowed {", ".join(METHODS)}')
        self.method = method
        self.low: dict[str, np.ndarray] = {}
        self.high: dict[str, np.ndarray] = {}
        self.histograms: Any = None
        if method != "minmax":
            from onnxruntime.quantization.calibrate import HistogramCollector  # type: ignore[import-untyped]

            self.histograms = HistogramCollector(
                method=method, scenario="same", **HISTOGRAM[method]
            )

    def add(self, activations: dict[str, np.ndarray]) -> None:
        if self.histograms is not None:
            with contextlib.redirect_stdout(io.StringIO()):  # ORT's collector prints
                self.histograms.collect({k: v.astype(np.float32) for k, v in activations.items()})
            return
        for name, value in activations.items():
            low, high = np.nanmin(value).astype(np.float32), np.nanmax(value).astype(np.float32)
            self.low[name] = np.minimum(self.low.get(name, low), low)
            self.high[name] = np.maximum(self.high.get(name, high), high)

    def result(self) -> Any:
        from onnxruntime.quantization import CalibrationMethod  # type: ignore[import-untyped]
        from onnxruntime.quantization.calibrate import TensorsData

        if self.histograms is not None:
            method = CalibrationMethod.Entropy if self.method == "entropy" else None
            method = method or CalibrationMethod.Percentile
            with contextlib.redirect_stdout(io.StringIO()):
                return TensorsData(method, self.histograms.compute_collection_result())
        pairs = {n: (self.low[n], self.high[n]) for n in self.low}
        return TensorsData(CalibrationMethod.MinMax, pairs)


def collect_ranges(
    path: Path, data: Iterator[Batch], *, method: str, op_types: tuple[str, ...]
) -> tuple[Any, int]:
    """ORT ``TensorsData`` for the tensors the ops read and write; and the rows seen."""
    collector = RangeCollector(method)
    rows = 0
    with tempfile.TemporaryDirectory(prefix="edgedistil-calib-") as tmp:
        session, names = augmented_session(path, op_types, Path(tmp))
        outputs = [o.name for o in session.get_outputs()]
        wanted = set(names)
        for batch in data:
            values = session.run(None, batch)
            collector.add({n: v for n, v in zip(outputs, values, strict=True) if n in wanted})
            rows += len(next(iter(batch.values())))
            del values  # one batch of activations at a time, never more
    if rows == 0:
        raise QuantizeError(f"{path}: calibration saw no text; give at least one sentence")
    return collector.result(), rows


def write_cache(ranges: Any, path: Path) -> Path:
    from onnxruntime.quantization.calibrate import save_tensors_data

    save_tensors_data(ranges, path)
    return path
