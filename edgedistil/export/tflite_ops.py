"""Which operators a ``.tflite`` file uses, read from its flatbuffer, against a runtime's op set.

Three op sets:

- ``litert``: every LiteRT builtin operator (the flatbuffer schema's ``BuiltinOperator``). Custom
  operators, Flex (TensorFlow) operators included, are not in it: a stock LiteRT runtime refuses
  them.
- ``tflite-micro``: the operators the TFLite Micro op resolver registers (``MICRO_OPS`` below,
  taken from the ``Register_*`` symbols of the ``tflite-micro`` wheel's runtime). There is no
  GELU and no LayerNorm kernel; TFLite Micro also has no int64 kernels for GATHER, so an int64
  tensor anywhere is refused as well.
- ``xnnpack``: the operators LiteRT's XNNPACK delegate takes on phones. An operator outside it
  still runs, on LiteRT's reference CPU kernels, so it is reported as a fallback, not refused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil.errors import ExportError

RUNTIMES = ("litert", "tflite-micro")
# tflite-micro 2025 wheel, `strings _runtime.so | grep Register_`: the resolver the Python
# interpreter uses, which is TFLite Micro's full op list (a firmware links a subset of it).
_MICRO_OPS_TEXT = """
    ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL
    BATCH_TO_SPACE_ND BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CIRCULAR_BUFFER
    CONCATENATION CONV_2D COS CUMSUM DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE
    DETECTION_POSTPROCESS DIV DYNAMIC_UPDATE_SLICE ELU EMBEDDING_LOOKUP EQUAL EXP
    EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER
    GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG
    LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN MINIMUM
    MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE READ_VARIABLE REDUCE_MAX
    REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2 ROUND
    RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V
    SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH TRANSPOSE
    TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
"""
MICRO_OPS = frozenset(_MICRO_OPS_TEXT.split())
# The builtins XNNPACK's delegate (tensorflow/lite/delegates/xnnpack/xnnpack_delegate.cc) maps.
_XNNPACK_OPS_TEXT = """
    ABS ADD AVERAGE_POOL_2D BATCH_MATMUL CEIL CONCATENATION CONV_2D DEPTH_TO_SPACE
    DEPTHWISE_CONV_2D DEQUANTIZE DIV ELU EXP FLOOR FULLY_CONNECTED GELU HARD_SWISH
    LEAKY_RELU LOGISTIC MAX_POOL_2D MAXIMUM MEAN MINIMUM MUL NEG PAD PRELU QUANTIZE RELU
    RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR ROUND RSQRT SLICE SOFTMAX SPACE_TO_DEPTH
    SPLIT SQRT SQUARE SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TRANSPOSE
    TRANSPOSE_CONV
"""
XNNPACK_OPS = frozenset(_XNNPACK_OPS_TEXT.split())
# What each refused operator becomes when `edgedistil convert` writes the graph for TFLite Micro
# (``tf_bert``); SELECT_V2, LESS, LOGICAL_AND and NOT_EQUAL are what the mask logic of other
# exporters gives: TFLite Micro registers them, but not for every type, so the graph has none.
REWRITES = {
    "GELU": "x*sigmoid(1.702x) GELU as MUL/LOGISTIC; `convert --target esp32-s3` writes it",
    "CUSTOM": "none: a custom or Flex operator needs its own kernel in the firmware",
}


@dataclass(frozen=True, kw_only=True)
class OpCheck:
    runtime: str
    ops: dict[str, int]  # operator -> number of nodes
    unsupported: tuple[str, ...]  # refused by the runtime
    fallback: tuple[str, ...]  # runs, but outside XNNPACK (LiteRT only)
    int64_tensors: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.unsupported and not self.int64_tensors

    def describe(self) -> str:
        problems = [
            f"{op} (rewrite: {REWRITES[op]})" if op in REWRITES else op for op in self.unsupported
        ]
        if self.int64_tensors:
            shown = ", ".join(self.int64_tensors[:3])
            problems.append(
                f"int64 tensors ({shown}): TFLite Micro has no int64 kernels (token ids must be "
                "int32; 16-bit activations bring int64 biases)"
            )
        return "; ".join(problems)


@dataclass(frozen=True, kw_only=True)
class Node:
    """One operator of the graph with the static shapes of its tensors, as the flatbuffer
    stores them (an optional input left out is None)."""

    op: str
    inputs: tuple[tuple[int, ...] | None, ...]
    outputs: tuple[tuple[int, ...], ...]
    options: Any  # the flatbuffer's builtin options object (e.g. BatchMatMulOptionsT), or None


def _model(data: bytes) -> Any:
    from ai_edge_litert import schema_py_generated as schema  # type: ignore[import-untyped]

    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception:  # flatbuffers raises plain errors on garbage
        raise ExportError("not a .tflite flatbuffer: its operators cannot be read") from None
    if not model.subgraphs:
        raise ExportError("not a .tflite flatbuffer: it holds no subgraph")
    return model


@functools.cache
def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}


def _op_name(model: Any, op: Any) -> str:
    names = _builtin_names()
    code = model.operatorCodes[op.opcodeIndex]
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    name = names.get(number, f"BUILTIN_{number}")
    return "CUSTOM:" + (code.customCode or b"").decode() if name == "CUSTOM" else name


def read_nodes(data: bytes) -> list[Node]:
    """Every operator of every subgraph, in order, with its tensors' shapes."""
    model = _model(data)
    nodes = []
    for graph in model.subgraphs:
        shapes = [
            tuple(int(d) for d in (t.shape if t.shape is not None else ()))
            for t in graph.tensors or []
        ]
        nodes += [
            Node(
                op=_op_name(model, op),
                inputs=tuple(shapes[i] if i >= 0 else None for i in op.inputs),
                outputs=tuple(shapes[i] for i in op.outputs),
                options=op.builtinOptions,
            )
            for op in graph.operators or []
        ]
    return nodes


def read_ops(data: bytes) -> tuple[dict[str, int], tuple[str, ...]]:
    """Operator counts (custom ops as ``CUSTOM:name``) and the names of int64 tensors."""
    from ai_edge_litert import schema_py_generated as schema

    model = _model(data)
    counts: dict[str, int] = {}
    int64: list[str] = []
    for graph in model.subgraphs:
        for op in graph.operators or []:
            name = _op_name(model, op)
            counts[name] = counts.get(name, 0) + 1
        int64 += [
            (t.name or b"").decode()
            for t in graph.tensors or []
            if t.type == schema.TensorType.INT64
        ]
    return dict(sorted(counts.items())), tuple(int64)


def check_ops(data: bytes, runtime: str) -> OpCheck:
    if runtime not in RUNTIMES:
        raise ExportError(f'runtime "{runtime}": allowed {", ".join(RUNTIMES)}')
    from ai_edge_litert import schema_py_generated as schema

    ops, int64 = read_ops(data)
    builtins = {k for k in vars(schema.BuiltinOperator) if k.isupper()} - {"CUSTOM", "DELEGATE"}
    allowed = MICRO_OPS if runtime == "tflite-micro" else builtins
    unsupported = tuple(op if ":" not in op else "CUSTOM" for op in ops if op not in allowed)
    fallback = tuple(op for op in ops if op in builtins and op not in XNNPACK_OPS)
    return OpCheck(
        runtime=runtime,
        ops=ops,
        unsupported=tuple(dict.fromkeys(unsupported)),
        fallback=fallback if runtime == "litert" else (),
        int64_tensors=int64 if runtime == "tflite-micro" else (),
    )


def check_file(path: Path, runtime: str) -> OpCheck:
    if not path.is_file():
        raise ExportError(f"{path}: no such .tflite file")
    try:
        return check_ops(path.read_bytes(), runtime)
    except ExportError as exc:
        raise ExportError(f"{path}: {exc}") from None
