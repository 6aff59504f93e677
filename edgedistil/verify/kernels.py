"""Which int8 kernels ONNX Runtime runs on this host, and sessions that verify exactly on any.

Why this exists (issue 14). On x86 without VNNI (AVX2, or AVX-512 without VNNI), MLAS computes
uint8 x int8 products with ``vpmaddubsw``, which adds each pair of products in a *saturating*
16-bit lane: two products of 255 * 127 already make 64,770, past 32,767. ORT's quantizer guards
only QAttention (its weights are always 7-bit); every other u8s8 kernel with full 8-bit weights
(QLinearMatMul, QGemm, MatMulInteger, DynamicQuantizeMatMul, and the QDQ S8S8 graphs ORT rewrites
to u8 activations on x86) computes garbage there: argmax agreement with fp32 of 0.21-0.29 (static)
and 0.0 (dynamic) on a tiny BERT, against 1.0 on a VNNI host or an ARM board, whose sdot/udot and
VNNI instructions accumulate in 32 bits.

An artifact for an ARM board must keep its full 8-bit weights (7 bits would cost accuracy on the
device for a defect it does not have), so the host that verifies it must compute what the board
computes. ORT has a switch for exactly that: ``session.x64quantprecision`` runs u8s8 through its
exact (slower) U8U8 kernels on x86 without VNNI. Verification sessions set it wherever the probe
below sees saturation; latency is still measured with ORT's defaults, as an app would run it.

The probe asks ORT itself rather than reading CPU flags: a 64-long dot product of 255s and 127s
comes back saturated or exact, whatever the flags say (under ``qemu-x86_64 -cpu Haswell``,
``/proc/cpuinfo`` is the host's while CPUID is Haswell's; the probe sees what ORT sees).
"""

from __future__ import annotations

import functools
import logging
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PRECISION_KEY = "session.x64quantprecision"
_PROBE_DEPTH = 64  # 32 pairs of 255 * 127: saturated lanes give 32 * 32,767, far from exact


@dataclass(frozen=True, kw_only=True)
class Int8Path:
    """What the verifying host ran: the record every int8 artifact's JSON carries."""

    machine: str  # platform.machine() of the verifying host
    cpu: str
    u8s8: str  # "exact" (VNNI, ARM dot products) or "saturating" (x86 vpmaddubsw)
    verified_with: str  # the ORT kernels the fidelity figures came from

    def to_dict(self) -> dict[str, str]:
        return {
            "machine": self.machine,
            "cpu": self.cpu,
            "u8s8": self.u8s8,
            "verified_with": self.verified_with,
        }


@functools.cache
def u8s8_saturates() -> bool:
    """True when this host's default ORT u8s8 kernel saturates (x86 without VNNI)."""
    return _probe(precise=False) != _exact()


def _exact() -> int:
    return 255 * 127 * _PROBE_DEPTH


def _probe(*, precise: bool) -> int:
    import numpy as np
    import onnxruntime as ort  # type: ignore[import-untyped]
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.full((_PROBE_DEPTH, 1), 127, np.int8), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])],
        "u8s8-probe",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [1, _PROBE_DEPTH])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [1, 1])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = ort.SessionOptions()
    if precise:
        options.add_session_config_entry(PRECISION_KEY, "1")
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    a = np.full((1, _PROBE_DEPTH), 255, np.uint8)
    return int(session.run(None, {"A": a})[0].item())


def host_path() -> Int8Path:
    saturates = u8s8_saturates()
    return Int8Path(
        **host_facts(),
        u8s8="saturating" if saturates else "exact",
        verified_with=(
            f"ORT's exact U8U8 kernels ({PRECISION_KEY}=1), as the target computes"
            if saturates
            else "ORT's default int8 kernels"
        ),
    )


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name as Linux reports it; the processor string elsewhere."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "Model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def session(path: Path, *, level: str = "all") -> Any:
    """An ORT CPU session that computes int8 exactly, as the target does, on this host.

    ``level`` is "all" (ORT's default optimisations), "basic" (what an ``.ort`` file was saved
    with) or "none". On a saturating host the exact kernels are asked for; ORT refuses them only
    for graphs whose integer MatMuls take int8 activations (QOperator S8S8), and those run on
    MLAS's S8S8 kernels, which are exact on every x86 CPU, so the default session is right there.
    """
    import onnxruntime as ort

    def make(precise: bool) -> Any:
        options = ort.SessionOptions()
        options.graph_optimization_level = optimization_level(level)
        if precise:
            options.add_session_config_entry(PRECISION_KEY, "1")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    if not u8s8_saturates():
        return make(False)
    try:
        return make(True)
    except Exception as exc:  # ORT raises its own pybind types; NOT_IMPLEMENTED is the one meant
        if "NOT_IMPLEMENTED" not in str(exc):
            raise
        log.debug("%s: exact U8U8 kernels refused (int8 activations); default kernels", path)
        return make(False)


LEVELS = ("all", "basic", "none")


def optimization_level(level: str) -> Any:
    """ORT's graph optimization level by name: "all" (its default), "basic" (what an ``.ort``
    file is saved with; no fusions) or "none"; an unknown name lists the known ones."""
    import onnxruntime as ort

    levels = dict(
        zip(
            LEVELS,
            (
                ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            ),
            strict=True,
        )
    )
    if level not in levels:
        raise ValueError(f"Unknown ORT optimization level {level!r}; known: {', '.join(LEVELS)}")
    return levels[level]


def host_facts() -> dict[str, str]:
    """The verifying host, for records whose runtime has one int8 branch (LiteRT, TFLite
    Micro: they widen products before adding, bit-identical on AVX2 and VNNI hosts)."""
    return {"machine": platform.machine(), "cpu": cpu_name()}
