"""Static int8 for ORT's fused contrib operators: ``Attention`` and ``EmbedLayerNormalization``.

ONNX Runtime's QDQ quantizer has no handler for these two operators, so it used to wrap their
weights (the Q/K/V matrices and the whole word-embedding table) in DequantizeLinear nodes. No ORT
kernel takes a DequantizeLinear -> Attention pattern, and ORT does not constant-fold
DequantizeLinear, so every run dequantized ~12 M floats before the first layer (issue 4): static
int8 ran slower than fp32 at real sentence lengths. Its QOperator quantizer, in turn, has no
static entry for ``Attention`` and left the Q/K/V weights float (+3.8 MiB on a 3-layer MiniLM).

Here they go first, on their own, to the integer kernels ORT's CPU build carries: ``QAttention``
(uint8 input at the calibrated scale, int8 Q/K/V weights) and ``QEmbedLayerNormalization`` (uint8
tables, looked up without a float copy). Both keep their tensor names, so the same calibration
ranges then serve ORT's own quantizer, which takes the MatMul/Gemm/Gather nodes in the profile's
format (QDQ or QOperator) as before.

Chosen by measurement (3-layer MiniLM SST-2 student, static U8S8 minmax per-channel, ORT 1.32
on a 2-core Xeon with AVX-512 VNNI, 1 thread, batch 1, 6 interleaved rounds; accuracy and argmax
agreement with fp32 on all 6,735 SST-2 dev rows; fp32 fused: 20.1 ms at 128 tokens, 1.87 ms at
real lengths, 82.97%):

| static int8 variant                     | MiB   | 128 tok | real    | accuracy | agreement |
|-----------------------------------------|-------|---------|---------|----------|-----------|
| all ops to quantize_static (before, #4) | 16.56 | 22.3 ms | 7.92 ms | 82.78    | 96.66     |
| Attention float, QEmbedLayerNorm        | 20.36 | 14.4 ms | 1.17 ms | 82.73    | 96.79     |
| QAttention + QEmbedLayerNorm, then QDQ  | 16.58 | 12.6 ms | 0.96 ms | 82.55    | 96.94     |
| the same, then QOperator                | 16.57 | 12.4 ms | 0.97 ms | 82.78    | 96.96     |
| plain graph, QDQ (no fused operators)   | 16.69 | 13.0 ms | 1.18 ms | 82.41    | 96.56     |
| dynamic int8, fused (for reference)     | 16.57 | 12.3 ms | 0.95 ms | 83.18    | 98.93     |

Keeping Attention float costs 3.8 MiB and 14% at 128 tokens; quantizing the plain graph loses the
fused kernels (23% slower at real lengths). Accuracies differ by less than 0.4 point (about 25 of
6,735 sentences) and the chosen variant agrees with fp32 the most of the static ones.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CONTRIB_OPS = ("Attention", "EmbedLayerNormalization")


def prepare(
    source: Path,
    target: Path,
    *,
    op_types: tuple[str, ...],
    per_channel: bool,
    reduce_range: bool,
    ranges: Any,
    nodes_to_exclude: tuple[str, ...],
) -> Path:
    """``source`` ready for ORT's static quantizer, written to ``target``.

    Shared weights are split (``_unshare``), then Attention -> QAttention and
    EmbedLayerNormalization -> QEmbedLayerNormalization with ORT's ``ONNXQuantizer`` in its
    integer-ops registry (the one ``quantize_dynamic`` uses, the only one with both operators)
    but in static mode, so QAttention's input scale comes from ``ranges`` rather than from a
    DynamicQuantizeLinear at run time. Activations are uint8 whatever the profile says: ORT's
    CPU QAttention and QEmbedLayerNormalization kernels take uint8 only, and their outputs are
    float, so the choice does not reach the rest of the graph. Per-channel follows the profile;
    ORT quantizes QAttention's weights to 7 bits (reduce_range) whatever it is asked.
    """
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType  # type: ignore[import-untyped]
    from onnxruntime.quantization.onnx_quantizer import ONNXQuantizer  # type: ignore[import-untyped]
    from onnxruntime.quantization.quant_utils import (  # type: ignore[import-untyped]
        QuantizationMode,
        load_model_with_shape_infer,
    )

    model = load_model_with_shape_infer(source)
    _unshare(model, op_types)
    contrib = [
        n for n in model.graph.node if n.op_type in CONTRIB_OPS and n.name not in nodes_to_exclude
    ]
    if not contrib:
        onnx.save(model, str(target))
        return target
    quantizer = ONNXQuantizer(
        model,
        per_channel,
        reduce_range,
        QuantizationMode.IntegerOps,  # the registry that maps Attention to QAttention
        True,  # static: calibrated input scales, no DynamicQuantizeLinear
        QuantType.QInt8,
        QuantType.QUInt8,
        ranges,
        None,
        list(nodes_to_exclude),
        list(CONTRIB_OPS),
        {"DefaultTensorType": TensorProto.FLOAT},
    )
    quantizer.quantize_model()
    quantizer.model.save_model_to_file(str(target))
    log.info("int8 kernels for %d fused node(s): %s", len(contrib), [n.name for n in contrib])
    return target


def _unshare(model: Any, op_types: tuple[str, ...]) -> None:
    """Give each node to quantize its own copy of an initializer that other nodes read too.

    ORT's transformer optimizer merges equal initializers (a zero bias, a unit gamma). When one
    reader is quantized, ORT's quantizer replaces the shared tensor by its int8 copy and puts a
    DequantizeLinear in front of every other reader: a float tensor rebuilt on every run, the
    defect of issue 4 in another form (seen on freshly initialised models, whose biases are
    all zero).
    """
    import onnx

    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    for node in graph.node:
        if node.op_type not in op_types:
            continue
        for index, name in enumerate(node.input):
            if name not in weights or readers[name] < 2:
                continue
            own = onnx.TensorProto()
            own.CopyFrom(weights[name])
            own.name = f"{name}__unshared_{len(graph.initializer)}"  # the count keeps it unique
            graph.initializer.append(own)
            node.input[index] = own.name
            readers[name] -= 1
