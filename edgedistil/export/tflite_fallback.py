"""LiteRT's static int8 over its budget: the fully connected layers int8, the operators between
them float.

LiteRT's static int8 rounds every operator's output to int8: the adds, LayerNorm's steps, the
GELU, the softmax and the attention's matrix products as well as the fully connected layers.
ONNX Runtime's makes only the matrix products and lookups int8 and keeps the rest float
(``quantize.onnx.OP_TYPES``). Measured on the Pi 5's 3-layer MiniLM student (issue 20, 200 eval
sentences): all int8 lost 0.0115 cosine against a 0.01 budget, and 0.0191 on the Pi 5's own
kernels (LiteRT 1.4.0 on an emulated Cortex-A76, ``bench.arm``). No single operator type kept
float brought it under (ADD 0.0104, MUL 0.0112, the others 0.0115, the FFN down-projections
alone 0.0116: the loss is spread over the graph). With the fully connected layers, the
attention's BATCH_MATMULs and the lookups int8, the rest float: 0.0081 here, but 0.0113 on the
Pi 5's kernels (their int8 BATCH_MATMUL computes otherwise: cosine 0.9968 with this host's).
With the fully connected layers and lookups alone int8: 0.0075 here and 0.0075 there (cosine
0.99998 with this host's). The weights stay int8 (17.52 -> 17.69 MB), and the attention's
products are a few percent of the multiply-adds at 128 tokens.

So a file over its budget is converted again with that split (``STEPS``; a tuple, so that a
finer step can be added before it), and it is kept if it fits. The operators are kept float
through TensorFlow's public ``tf.lite.experimental.QuantizationDebugger`` (``denylisted_ops``),
which quantizes the same calibrated model with those operators left out. Only for schemes with
float inputs and outputs run by LiteRT: a full-integer file has no float operators to fall back
to, and TFLite Micro has no float kernels for most of them.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil.errors import ExportError
from edgedistil.export import tflite_ops
from edgedistil.schemes import Scheme
from edgedistil.verify.fidelity import Fidelity

log = logging.getLogger(__name__)

# What stays int8 at each step, tried in order: the fully connected layers and the lookups.
STEPS: tuple[tuple[str, ...], ...] = (("FULLY_CONNECTED", "GATHER"),)
# Operators that only move or pick values: they take their input's type either way, and one
# left out would only add a DEQUANTIZE before it and a QUANTIZE after.
_MOVES_TEXT = """
RESHAPE TRANSPOSE CONCATENATION STRIDED_SLICE SLICE SQUEEZE EXPAND_DIMS PACK UNPACK
QUANTIZE DEQUANTIZE
"""
MOVES = frozenset(_MOVES_TEXT.split())


@dataclass(frozen=True, kw_only=True)
class Step:
    kept_float: tuple[str, ...]  # operator types left float ((): all int8)
    drop: float


@dataclass(frozen=True, kw_only=True)
class Outcome:
    data: bytes  # the chosen conversion
    chosen: Step
    steps: tuple[Step, ...]  # every conversion measured, all int8 first
    fits: bool

    def describe(self) -> str:
        return "; ".join(
            f"{', '.join(s.kept_float) or 'nothing'} float: drop {s.drop:.4f}" for s in self.steps
        )

    def record(self) -> dict[str, Any]:
        return {
            "fits": self.fits,
            "kept_float": list(self.chosen.kept_float),
            "steps": [{"kept_float": list(s.kept_float), "drop": s.drop} for s in self.steps],
        }


def applies(scheme: Scheme, runtime: str) -> bool:
    """Whether a file of ``scheme`` for ``runtime`` can keep operators float."""
    return runtime == "litert" and scheme.int8_activations and scheme.integer_output is None


def float_types(data: bytes, int8: tuple[str, ...]) -> tuple[str, ...]:
    """The operator types of a converted file to leave float so that only ``int8`` stay int8."""
    counts, _ = tflite_ops.read_ops(data)
    return tuple(op for op in counts if op not in int8 and op not in MOVES)


def search(
    first: bytes,
    first_drop: float,
    drop: Callable[[bytes], float],
    convert: Callable[[tuple[str, ...]], bytes],
    budget: float,
) -> Outcome:
    """``first`` (all int8) missed the budget: each of ``STEPS`` until one fits, else the
    conversion that lost least (the caller refuses it)."""
    steps = [Step(kept_float=(), drop=first_drop)]
    files = [first]
    for int8 in STEPS:
        kept = float_types(first, int8)
        files.append(convert(kept))
        steps.append(Step(kept_float=kept, drop=drop(files[-1])))
        log.info("fallback: %s float, drop %.4f", ", ".join(kept), steps[-1].drop)
        if steps[-1].drop <= budget + 1e-9:
            return Outcome(data=files[-1], chosen=steps[-1], steps=tuple(steps), fits=True)
    best = min(range(len(steps)), key=lambda i: (steps[i].drop, i))
    return Outcome(data=files[best], chosen=steps[best], steps=tuple(steps), fits=False)


def converted_keeping_float(
    converter: Any, calibration: Callable[[], Any], ops: tuple[str, ...]
) -> bytes:
    """The converter's calibrated model quantized with ``ops`` left float."""
    import tensorflow as tf  # type: ignore[import-untyped]

    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(ops))
    try:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=calibration, debug_options=options
        )
        data: bytes = debugger.get_nondebug_quantized_model()
    except Exception as exc:  # the converter raises ConverterError and plain RuntimeErrors
        first = next((x for x in str(exc).splitlines() if "error" in x.lower()), str(exc))
        raise ExportError(
            f"the fallback conversion with {', '.join(ops)} float failed: {first.strip()[:300]}"
        ) from None
    return data


def scored(data: bytes, score: Callable[[Path], Fidelity]) -> Fidelity:
    """``score`` of ``data`` written to a scratch file (LiteRT loads files)."""
    with tempfile.TemporaryDirectory(prefix="edgedistil-tflite-") as tmp:
        path = Path(tmp) / "try.tflite"
        path.write_bytes(data)
        return score(path)
