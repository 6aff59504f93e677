"""An estimated TFLite Micro latency, for a microcontroller no runner can reach: the work of each
operator of the ``.tflite`` (multiply-accumulates for the matrix products, elements for the
rest), read from the tensor shapes in the flatbuffer, times the profile's per-kernel cycle costs
(``[estimate]``, each a published or derived [low, high] range), at ``[device].clock_mhz``.

An ESTIMATE, never a measurement: the build records it apart from every measured figure, every
report labels it with its range, and the gate counts it only when the user allows estimates.
What it leaves out (so the true latency can lie outside the range): the interpreter's per-
operator dispatch, cache and flash wait states beyond those in the published figures, and
kernels a firmware replaces with its own.

An operator the registry below does not price makes no estimate at all (``KernelEstimate.
unpriced``): a partial sum would read as a complete one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil.export import tflite_ops
from edgedistil.export.tflite_ops import Node

MACS, ELEMENTS = "MACs", "elements"


def _elements(shape: tuple[int, ...] | None) -> int:
    return math.prod(shape) if shape else 0


def _out(node: Node) -> int:
    return _elements(node.outputs[0])


def _in(node: Node) -> int:
    return _elements(node.inputs[0])


def _fc_macs(node: Node) -> int:
    """Each output element is a dot product over the weights' last axis ([units, depth])."""
    weights = node.inputs[1]
    return _out(node) * (weights[-1] if weights else 0)


def _batch_matmul_macs(node: Node) -> int:
    """Each output element of [..., M, N] is a dot product over K: the left operand's last axis,
    or its second-to-last when the op reads it transposed (adj_x)."""
    lhs = node.inputs[0] or ()
    adj_x = bool(getattr(node.options, "adjX", False))
    depth = lhs[-2] if adj_x and len(lhs) >= 2 else (lhs[-1] if lhs else 0)
    return _out(node) * depth


@dataclass(frozen=True)
class Cost:
    """How one operator's work is counted, and which ``[estimate]`` key prices it."""

    key: str
    unit: str
    work: Callable[[Node], int]


def _each(ops: str, cost: Cost) -> dict[str, Cost]:
    return dict.fromkeys(ops.split(), cost)


_ADD = "add_cycles_per_element"
_ACTIVATION = "activation_cycles_per_element"
_MOVEMENT = "movement_cycles_per_element"
# The one registry of what the estimate prices: every operator TFLite Micro graphs of the
# built-in families use (tf_bert's graph), and their plain relatives. Elementwise work is the
# output's elements; a reduction's is its input's, since it reads every one.
COSTS: dict[str, Cost] = {
    "FULLY_CONNECTED": Cost("fully_connected_cycles_per_mac", MACS, _fc_macs),
    "BATCH_MATMUL": Cost("batch_matmul_cycles_per_mac", MACS, _batch_matmul_macs),
    **_each("ADD SUB SQUARED_DIFFERENCE MAXIMUM MINIMUM", Cost(_ADD, ELEMENTS, _out)),
    **_each("SUM MEAN", Cost(_ADD, ELEMENTS, _in)),
    "MUL": Cost("mul_cycles_per_element", ELEMENTS, _out),
    **_each(
        "LOGISTIC TANH RSQRT SQRT EXP SOFTMAX LOG_SOFTMAX DIV", Cost(_ACTIVATION, ELEMENTS, _out)
    ),
    **_each(
        "GATHER TRANSPOSE RESHAPE STRIDED_SLICE SLICE CONCATENATION PACK UNPACK SPLIT SPLIT_V "
        "EXPAND_DIMS SQUEEZE QUANTIZE DEQUANTIZE CAST PAD PADV2",
        Cost(_MOVEMENT, ELEMENTS, _out),
    ),
}


@dataclass(frozen=True, kw_only=True)
class OpLine:
    """One operator type's share: its nodes, their work and its time range."""

    op: str
    key: str  # the [estimate] key that prices it
    nodes: int
    work: int
    unit: str
    low_ms: float
    high_ms: float


@dataclass(frozen=True, kw_only=True)
class KernelEstimate:
    clock_mhz: int
    lines: tuple[OpLine, ...]  # most time first
    unpriced: tuple[str, ...]  # operators no [estimate] key prices: then no estimate is made

    @property
    def low_ms(self) -> float:
        return sum(line.low_ms for line in self.lines)

    @property
    def high_ms(self) -> float:
        return sum(line.high_ms for line in self.lines)

    def total(self, unit: str) -> int:
        return sum(line.work for line in self.lines if line.unit == unit)

    def breakdown(self, top: int = 3) -> str:
        """The operator types that take most of the time, with their share of the high end."""
        high = self.high_ms or 1.0
        shown = [f"{line.op} {line.high_ms / high:.0%}" for line in self.lines[:top]]
        return ", ".join(shown)

    def to_record(self, *, source: str) -> dict[str, Any]:
        """What the manifest keeps (``records.manifest.LatencyEstimate``)."""
        return {
            "low_ms": round(self.low_ms, 3),
            "high_ms": round(self.high_ms, 3),
            "clock_mhz": self.clock_mhz,
            "macs": self.total(MACS),
            "elements": self.total(ELEMENTS),
            "breakdown": self.breakdown(),
            "source": source,
            "ops": {
                line.op: {
                    "nodes": line.nodes,
                    "work": line.work,
                    "unit": line.unit,
                    "key": line.key,
                    "low_ms": round(line.low_ms, 3),
                    "high_ms": round(line.high_ms, 3),
                }
                for line in self.lines
            },
        }


def estimate_nodes(nodes: list[Node], costs: Any, clock_mhz: int) -> KernelEstimate:
    """``costs``: a ``profiles.Estimate`` (each key a (low, high) of cycles per unit)."""
    work: dict[str, int] = {}
    count: dict[str, int] = {}
    unpriced = sorted({n.op for n in nodes if n.op not in COSTS})
    for node in nodes:
        if node.op in COSTS:
            work[node.op] = work.get(node.op, 0) + COSTS[node.op].work(node)
            count[node.op] = count.get(node.op, 0) + 1
    cycles_per_ms = clock_mhz * 1e3
    lines = []
    for op, units in work.items():
        cost = COSTS[op]
        low, high = getattr(costs, cost.key)
        lines.append(
            OpLine(
                op=op,
                key=cost.key,
                nodes=count[op],
                work=units,
                unit=cost.unit,
                low_ms=units * low / cycles_per_ms,
                high_ms=units * high / cycles_per_ms,
            )
        )
    lines.sort(key=lambda line: (-line.high_ms, line.op))
    return KernelEstimate(clock_mhz=clock_mhz, lines=tuple(lines), unpriced=tuple(unpriced))


def estimate_file(path: Path, costs: Any, clock_mhz: int) -> KernelEstimate:
    """The estimate of a ``.tflite`` file (``ExportError`` when it is not one)."""
    return estimate_nodes(tflite_ops.read_nodes(path.read_bytes()), costs, clock_mhz)


def source_text(file: str, profile_name: str, clock_mhz: int) -> str:
    """Where the estimate comes from, in the words every report shows beside it."""
    return (
        f"estimate, not a measurement: op counts of {file} x the per-kernel cycle ranges in "
        f"[estimate] of {profile_name} at [device].clock_mhz = {clock_mhz}"
    )
