"""``edgedistil quantize``: a verified float export -> a verified int8 ONNX file (and ``.ort``).

Dynamic int8 quantizes weights and computes activation scales at run time. Static int8 takes
activation ranges from calibration text (``calibration.py``, bounded memory) and writes QDQ or
QOperator graphs, in two passes on a fused graph: ORT's contrib Attention and
EmbedLayerNormalization to their integer kernels first (``fused.py``), then the rest. The int8
file is then measured against the float one on eval text (``verify/fidelity.py``); when its
drop exceeds the profile's budget, ``fallback.py`` keeps the most sensitive nodes in float. Files
are written under temporary names and renamed once verified (``files.py``).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgedistil.errors import QuantizeError
from edgedistil.files import staged_file
from edgedistil.quantize import fused
from edgedistil.schemes import get_scheme, scheme_names
from edgedistil.verify import kernels

log = logging.getLogger(__name__)

FORMATS = ("qdq", "qoperator")
# What gets int8: the matrix products (where the time goes) and the embedding lookups (where
# the bytes are). Add, Softmax and LayerNorm stay float: int8 there costs accuracy, saves little.
OP_TYPES = ("MatMul", "Gemm", "Attention", "Gather", "EmbedLayerNormalization")


@dataclass(frozen=True, kw_only=True)
class Settings:
    scheme: str
    fmt: str = "qdq"
    activations: str = "uint8"
    per_channel: bool = True
    method: str = "minmax"
    reduce_range: bool = False
    nodes_to_exclude: tuple[str, ...] = ()

    @property
    def calibrated(self) -> bool:
        """Activation ranges from calibration text (static), not measured at run time."""
        return get_scheme(self.scheme).calibrated

    def describe(self) -> str:
        if not self.calibrated:
            return f"{self.scheme} (U8S8{', per-channel' if self.per_channel else ''})"
        pair = "U8S8" if self.activations == "uint8" else "S8S8"
        return (
            f"{self.scheme} {self.fmt.upper()} {pair} {self.method}"
            f"{', per-channel' if self.per_channel else ''}"
            f"{', reduce-range' if self.reduce_range else ''}"
        )


def ort_schemes() -> tuple[str, ...]:
    """What ONNX Runtime's quantizer makes: the int8 schemes the onnx format carries, dynamic
    or static (float ones are the export itself)."""
    return tuple(s for s in scheme_names("onnx") if get_scheme(s).quantized)


def settings_for(profile: Any, **overrides: Any) -> Settings:
    """The profile's int8 settings for ONNX Runtime, the one mapping that ``build``, ``quantize``
    and the benchmarks share; ``overrides`` that are not None replace single fields."""
    settings = Settings(
        scheme=profile.quantize.scheme,
        activations=profile.quantize.activations or "uint8",
        per_channel=profile.quantize.per_channel,
        method=profile.quantize.calibration or "minmax",
        reduce_range=needs_reduce_range(profile.device.architecture),
    )
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def needs_reduce_range(architecture: str, *, host_saturates: bool | None = None) -> bool:
    """7-bit weights only where u8*s8 products saturate: x86 without VNNI (``kernels``).

    ARM's sdot/udot and i8mm accumulate in 32 bits, so ARM targets never need it. An x86_64
    target is taken to be this host (the local runner), whose ORT kernels are probed;
    ``host_saturates`` gives the answer instead (tests take each branch on any host).
    """
    if architecture != "x86_64":
        return False
    return kernels.u8s8_saturates() if host_saturates is None else host_saturates


def check_model(path: Path) -> None:
    """Refuse a missing, truncated or corrupt .onnx with one line."""
    import onnx

    if not path.is_file():
        raise QuantizeError(f"{path}: no such ONNX file; export one with `edgedistil export`")
    try:
        onnx.checker.check_model(onnx.load(str(path)))
    except Exception as exc:  # protobuf raises DecodeError, onnx its own; both mean unusable
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise QuantizeError(
            f"{path}: not a readable ONNX model (corrupt or truncated?): {first}"
        ) from None


def quantize_file(
    source: Path, target: Path, settings: Settings, ranges_cache: Path | None
) -> Path:
    """``source`` quantized as ``settings`` say, written to ``target`` atomically."""
    with staged_file(target) as tmp:
        _quantize_into(source, tmp, settings, ranges_cache)
        _check_loads(tmp, settings)
    return target


def _quantize_into(source: Path, tmp: Path, settings: Settings, ranges_cache: Path | None) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    common: dict[str, Any] = {
        "per_channel": settings.per_channel,
        "reduce_range": settings.reduce_range,
        "weight_type": QuantType.QInt8,
        "op_types_to_quantize": list(op_types(settings)),
        "nodes_to_exclude": list(settings.nodes_to_exclude),
        # Fused graphs hold contrib operators whose outputs ONNX shape inference cannot type.
        "extra_options": {"DefaultTensorType": TensorProto.FLOAT},
    }
    if not settings.calibrated:
        with _ort_quantizer(source, tmp, settings):
            quantize_dynamic(str(source), str(tmp), **common)
    else:
        if ranges_cache is None:
            raise QuantizeError(f"{settings.scheme} needs calibration ranges; none were collected")
        prepared = tmp.with_suffix(".prepared.tmp")  # .<target>.prepared.tmp, scratch
        try:
            with _ort_quantizer(source, tmp, settings):
                first = _prepare(source, prepared, settings, ranges_cache)
                quantize_static(
                    str(first),
                    str(tmp),
                    None,  # no reader: the ranges come from the cache our own collector wrote
                    quant_format=QuantFormat.QDQ
                    if settings.fmt == "qdq"
                    else QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8
                    if settings.activations == "uint8"
                    else QuantType.QInt8,
                    calibrate_method=_method(settings.method),
                    calibration_cache_path=str(ranges_cache),
                    **common,
                )
        finally:
            prepared.unlink(missing_ok=True)


@contextlib.contextmanager
def _ort_quantizer(source: Path, tmp: Path, settings: Settings) -> Iterator[None]:
    """ORT's quantizer failing inside (it asserts and indexes rather than raising its own
    errors, e.g. on a graph without tensor types) becomes one line, with nothing left behind."""
    try:
        yield
    except QuantizeError:
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [""])[0]
        raise QuantizeError(
            f"{source}: ONNX Runtime's quantizer failed ({settings.describe()}): "
            f"{type(exc).__name__}: {first[:300]}; re-export the model with `edgedistil export`"
        ) from None


def op_types(settings: Settings) -> tuple[str, ...]:
    """What ORT's own quantizer gets. In static mode the fused contrib operators are not among
    them: its QDQ quantizer would wrap their weights in DequantizeLinear (no kernel takes that,
    so the word-embedding table was dequantized on every run), and its QOperator quantizer
    cannot make QAttention; ``fused.prepare`` turns them int8 first (issue 4)."""
    if settings.calibrated:
        return tuple(t for t in OP_TYPES if t not in fused.CONTRIB_OPS)
    return OP_TYPES


def _method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[name]


def _prepare(source: Path, target: Path, settings: Settings, cache: Path) -> Path:
    """The first pass of static int8 (``fused.prepare``), with the ranges of the second."""
    from onnxruntime.quantization.calibrate import load_tensors_data  # type: ignore[import-untyped]

    ranges = load_tensors_data(cache)
    if ranges.calibration_method != _method(settings.method):
        raise QuantizeError(
            f"{cache}: ranges were collected with {ranges.calibration_method.name}, "
            f"not {settings.method}"
        )
    return fused.prepare(
        source,
        target,
        op_types=OP_TYPES,
        per_channel=settings.per_channel,
        reduce_range=settings.reduce_range,
        ranges=ranges,
        nodes_to_exclude=settings.nodes_to_exclude,
    )


def _check_loads(path: Path, settings: Settings) -> None:
    import onnxruntime as ort  # type: ignore[import-untyped]

    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own pybind types
        path.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise QuantizeError(
            f"{settings.describe()}: ONNX Runtime cannot load the quantized graph: {first[:300]}"
        ) from None


def to_ort(source: Path, target: Path) -> Path:
    """The ORT format for ONNX Runtime Mobile; basic optimisations only, so any build runs it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.add_session_config_entry("session.save_model_format", "ORT")
    with staged_file(target) as tmp:
        options.optimized_model_filepath = str(tmp)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise QuantizeError(f"{source}: ONNX Runtime wrote no ORT-format file")
    return target


def with_excluded(settings: Settings, nodes: tuple[str, ...]) -> Settings:
    """The settings with ``nodes`` kept float as well as those the caller already excluded."""
    return replace(
        settings, nodes_to_exclude=tuple(dict.fromkeys(settings.nodes_to_exclude + nodes))
    )


def scratch() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="edgedistil-quant-")
