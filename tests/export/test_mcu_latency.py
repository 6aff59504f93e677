"""The latency estimate from op counts (``export.mcu_latency``): the work of each operator read
from a ``.tflite`` flatbuffer's shapes, priced by a profile's [estimate] ranges at its clock.

The graphs here are written as flatbuffers by hand (the schema's object API), so every count is
known exactly; ``test_microcontroller.py`` counts a converted tiny BERT against its config."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from edgedistil.errors import ExportError
from edgedistil.export import mcu_latency
from edgedistil.export.tflite_ops import read_nodes
from edgedistil.profiles import load_profile

Shape = tuple[int, ...]


def tflite(ops: list[tuple[str, list[Shape | None], list[Shape], Any]]) -> bytes:
    """A one-subgraph model: each op (name, input shapes, output shapes, builtin options) with
    tensors of its own; no weights (the estimate reads shapes only)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema  # type: ignore[import-untyped]

    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]
    graph = schema.SubGraphT()
    graph.tensors, graph.operators, codes = [], [], []

    def tensor(shape: Shape) -> int:
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = list(shape), schema.TensorType.INT8, 0, b"t"
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    for name, inputs, outputs, options in ops:
        if name not in codes:
            codes.append(name)
        op = schema.OperatorT()
        op.opcodeIndex = codes.index(name)
        op.inputs = [-1 if s is None else tensor(s) for s in inputs]
        op.outputs = [tensor(s) for s in outputs]
        if options is not None:
            op.builtinOptionsType, op.builtinOptions = options
        graph.operators.append(op)
    model.operatorCodes = []
    for name in codes:
        code = schema.OperatorCodeT()
        number = getattr(schema.BuiltinOperator, name)
        code.builtinCode, code.deprecatedBuiltinCode = number, min(number, 127)
        code.version = 1
        model.operatorCodes.append(code)
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def adj_x() -> tuple[int, Any]:
    from ai_edge_litert import schema_py_generated as schema

    options = schema.BatchMatMulOptionsT()
    options.adjX = True
    return schema.BuiltinOptions.BatchMatMulOptions, options


S, H, FF, HEADS = 16, 24, 40, 4  # sequence, hidden, feed-forward, heads: a small encoder layer
GRAPH = [
    ("GATHER", [(100, H), (S,)], [(S, H)], None),
    ("FULLY_CONNECTED", [(S, H), (3 * H, H), (3 * H,)], [(S, 3 * H)], None),
    ("TRANSPOSE", [(S, HEADS, H // HEADS), (3,)], [(HEADS, S, H // HEADS)], None),
    ("BATCH_MATMUL", [(HEADS, S, H // HEADS), (HEADS, H // HEADS, S)], [(HEADS, S, S)], None),
    ("SOFTMAX", [(HEADS, S, S)], [(HEADS, S, S)], None),
    # scores^T-style product read transposed: depth is the left operand's second-to-last axis
    ("BATCH_MATMUL", [(HEADS, S, S), (HEADS, S, H // HEADS)], [(HEADS, S, H // HEADS)], adj_x()),
    ("FULLY_CONNECTED", [(S, H), (FF, H), None], [(S, FF)], None),
    ("LOGISTIC", [(S, FF)], [(S, FF)], None),
    ("MUL", [(S, FF), (S, FF)], [(S, FF)], None),
    ("FULLY_CONNECTED", [(S, FF), (H, FF), (H,)], [(S, H)], None),
    ("ADD", [(S, H), (S, H)], [(S, H)], None),
    ("SUM", [(S, H), (1,)], [(S, 1)], None),
]
MACS = {
    "FULLY_CONNECTED": S * 3 * H * H + S * FF * H + S * H * FF,
    "BATCH_MATMUL": HEADS * S * S * (H // HEADS) + HEADS * S * (H // HEADS) * S,
}
ELEMENTS = {
    "GATHER": S * H,
    "TRANSPOSE": S * H,
    "SOFTMAX": HEADS * S * S,
    "LOGISTIC": S * FF,
    "MUL": S * FF,
    "ADD": S * H,
    "SUM": S * H,  # a reduction reads every element of its input
}


def _estimate(graph: list[Any], target: str = "cortex-m7") -> mcu_latency.KernelEstimate:
    profile = load_profile(target)
    assert profile.estimate is not None and profile.device.clock_mhz is not None
    return mcu_latency.estimate_nodes(
        read_nodes(tflite(graph)), profile.estimate, profile.device.clock_mhz
    )


def test_nodes_carry_the_shapes_of_the_flatbuffer() -> None:
    nodes = read_nodes(tflite(GRAPH))
    assert [n.op for n in nodes] == [op for op, *_ in GRAPH]
    assert nodes[1].inputs == ((S, H), (3 * H, H), (3 * H,)) and nodes[6].inputs[2] is None


def test_macs_and_elements_are_counted_per_operator_from_the_shapes() -> None:
    made = _estimate(GRAPH)
    work = {line.op: line.work for line in made.lines}
    assert {op: work[op] for op in MACS} == MACS
    assert {op: work[op] for op in ELEMENTS} == ELEMENTS
    assert made.total("MACs") == sum(MACS.values())
    assert made.total("elements") == sum(ELEMENTS.values())
    nodes = {line.op: line.nodes for line in made.lines}
    assert nodes["FULLY_CONNECTED"] == 3 and nodes["BATCH_MATMUL"] == 2
    assert made.unpriced == ()


@pytest.mark.parametrize("target", ["cortex-m7", "esp32-s3"])
def test_the_range_is_work_times_the_profiles_cycles_at_its_clock(target: str) -> None:
    profile = load_profile(target)
    costs, clock = profile.estimate, profile.device.clock_mhz
    assert costs is not None and clock is not None
    made = _estimate(GRAPH, target)
    for line in made.lines:
        low, high = getattr(costs, line.key)
        assert math.isclose(line.low_ms, line.work * low / (clock * 1e3))
        assert math.isclose(line.high_ms, line.work * high / (clock * 1e3))
    assert 0 < made.low_ms < made.high_ms
    assert math.isclose(made.high_ms, sum(line.high_ms for line in made.lines))
    # most time first, and the breakdown names the biggest share of the high end
    assert [line.high_ms for line in made.lines] == sorted(
        (line.high_ms for line in made.lines), reverse=True
    )
    assert made.breakdown().startswith(made.lines[0].op)


def test_a_faster_clock_gives_a_proportionally_shorter_estimate() -> None:
    profile = load_profile("cortex-m7")
    nodes = read_nodes(tflite(GRAPH))
    slow = mcu_latency.estimate_nodes(nodes, profile.estimate, 240)
    fast = mcu_latency.estimate_nodes(nodes, profile.estimate, 480)
    assert math.isclose(slow.high_ms, 2 * fast.high_ms)


def test_an_operator_no_kernel_prices_makes_no_estimate() -> None:
    made = _estimate([*GRAPH, ("CUMSUM", [(S, H), (1,)], [(S, H)], None)])
    assert made.unpriced == ("CUMSUM",)


def test_the_record_keeps_the_range_and_each_operators_share() -> None:
    made = _estimate(GRAPH)
    record = made.to_record(source="estimate, not a measurement")
    assert record["low_ms"] <= record["high_ms"] and record["macs"] == sum(MACS.values())
    assert record["ops"]["FULLY_CONNECTED"]["unit"] == "MACs"
    assert record["ops"]["SOFTMAX"]["key"] == "activation_cycles_per_element"
    from edgedistil.records.manifest import LatencyEstimate

    assert LatencyEstimate.model_validate(record).high_ms == record["high_ms"]


def test_the_build_records_the_estimate_or_why_there_is_none(tmp_path: Path) -> None:
    from edgedistil.build.micro import latency_fields

    path = tmp_path / "model.tflite"
    path.write_bytes(tflite(GRAPH))
    fields = latency_fields(path, load_profile("esp32-s3"))
    made = fields["latency_estimate"]
    assert "estimate, not a measurement" in made["source"] and "esp32-s3" in made["source"]
    assert made["clock_mhz"] == 240
    path.write_bytes(tflite([*GRAPH, ("CUMSUM", [(S, H), (1,)], [(S, H)], None)]))
    why = latency_fields(path, load_profile("esp32-s3"))["latency_estimate_unavailable"]
    assert "CUMSUM" in why and "[estimate]" in why
    pi = load_profile("raspberry-pi-4")
    assert latency_fields(path, pi) == {}  # no [estimate]: a measured latency or none
    assert latency_fields(path, replace(load_profile("cortex-m7"), estimate=None)) == {}


def test_a_file_that_is_no_flatbuffer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(b"not a flatbuffer at all")
    profile = load_profile("cortex-m7")
    with pytest.raises(ExportError, match="not a .tflite flatbuffer"):
        mcu_latency.estimate_file(path, profile.estimate, 480)
