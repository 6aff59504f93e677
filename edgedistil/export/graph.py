"""Graph optimisation per target: ONNX Runtime's transformer fusions, or the plain graph.

"fused" runs ``onnxruntime.transformers.optimizer`` (Attention, EmbedLayerNormalization, Gelu):
fewer, bigger kernels, but contrib operators that only full ONNX Runtime builds carry. "plain"
keeps standard ONNX operators, which ORT Mobile's reduced builds and NNAPI can take. Only Python
fusions run (opt_level 0), so the file does not depend on the CPU it was made on.

Two rewrites make both graphs faster on ORT's CPU kernels without changing a value
(``for_ort_cpu``; measured by ``benchmarks/onnx_graph.py``):

- LayerNormalization, never SkipLayerNormalization. ORT's CPU kernel for the latter is a scalar
  loop with a division per element: at [1, 128, 384] it took 0.29 ms where Add +
  LayerNormalization took 0.04 ms, a quarter of a 3-layer int8 MiniLM student's time. The Python
  optimizer is told not to make it, and each residual Add that feeds a LayerNormalization is
  written as the equal two-input Sum, because ORT's session would otherwise fuse Add +
  LayerNormalization into the same kernel when it loads the file (its fusion matches Add only).
- Padding keys masked with MASK_FILTER_VALUE instead of -10000 (fused Attention) or the float
  minimum (the plain graph's Where): see there.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any

GRAPHS = ("fused", "plain")
# What a padding key's attention score gets added. ORT's Attention default (-10000) and the
# exporter's float minimum both meet the clamp of MLAS's exp at about -88, whose exp is a
# subnormal float: every padded row then carries subnormal probabilities into the next GEMM, which
# x86 CPUs run through slow microcode (a 3-layer int8 student, one sentence padded to 128 tokens:
# 7.1 ms, against 5.0 ms at -60, fused or plain). At -60 a padding key's
# probability is a normal float, still under 1e-26 of the largest, so outputs stay the same
# (measured: bit-identical); subnormals come back only for keys scoring 22 below the row's
# maximum, and a padding key could leak only by scoring 40 above it.
MASK_FILTER_VALUE = -60.0

log = logging.getLogger(__name__)


def fuse(source: Path, target: Path, *, num_heads: int, hidden_size: int) -> dict[str, int]:
    """Write the fused graph of ``source`` to ``target``; the fused operator counts."""
    from onnxruntime.transformers import optimizer  # type: ignore[import-untyped]
    from onnxruntime.transformers.fusion_options import FusionOptions  # type: ignore[import-untyped]

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False  # the slow kernel: see the module's docstring
    # Gelu, not BiasGelu: the bias then rides in the int8 MatMul (DynamicQuantizeMatMul), ~4%
    # faster on the 3-layer student; in float ORT's session makes BiasGelu itself.
    options.enable_bias_gelu = False
    # The optimizer prints progress; library code does not print, so it goes to the log.
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        model = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=num_heads,
            hidden_size=hidden_size,
            opt_level=0,
            optimization_options=options,
        )
        for_ort_cpu(model.model)
        model.save_model_to_file(str(target))
        _infer_shapes(target)
    if buffer.getvalue().strip():
        log.debug("optimizer: %s", buffer.getvalue().strip())
    counts: dict[str, int] = model.get_fused_operator_statistics()
    log.info("fused operators: %s", {k: v for k, v in counts.items() if v})
    return {k: v for k, v in counts.items() if v}


def rewrite_for_ort_cpu(path: Path) -> dict[str, int]:
    """``for_ort_cpu`` on the file at ``path``, rewritten in place."""
    import onnx

    model = onnx.load(str(path))
    counts = for_ort_cpu(model)
    if any(counts.values()):
        onnx.save(model, str(path))
    return counts


def for_ort_cpu(model: Any) -> dict[str, int]:
    """The module's two value-preserving rewrites; how many nodes each changed."""
    counts = {
        "Sum": residuals_as_sum(model),
        "mask": set_mask_filter_value(model) + padding_constants(model),
    }
    log.info("rewritten for ORT's CPU kernels: %s", counts)
    return counts


def residuals_as_sum(model: Any) -> int:
    """Write each Add of two computed tensors that feeds a LayerNormalization as Sum (same
    values, standard ONNX), so that ORT does not fuse the pair into SkipLayerNormalization;
    the number rewritten. A bias Add (one constant input) is left for the MatMul to take."""
    constant = {i.name for i in model.graph.initializer}
    constant |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    producer = {o: n for n in model.graph.node for o in n.output}
    count = 0
    for node in model.graph.node:
        if node.op_type != "LayerNormalization" or node.domain not in ("", "ai.onnx"):
            continue
        add = producer.get(node.input[0])
        if (
            add is not None
            and add.op_type == "Add"
            and add.domain in ("", "ai.onnx")
            and not any(name in constant for name in add.input)
        ):
            add.op_type = "Sum"
            count += 1
    return count


def set_mask_filter_value(model: Any, value: float = MASK_FILTER_VALUE) -> int:
    """Give every Attention node ``mask_filter_value`` (see MASK_FILTER_VALUE); the count.
    ORT's quantizer copies the attribute onto the QAttention it makes."""
    from onnx import helper

    count = 0
    for node in model.graph.node:
        if node.op_type == "Attention" and node.domain == "com.microsoft":
            kept = [a for a in node.attribute if a.name != "mask_filter_value"]
            del node.attribute[:]
            node.attribute.extend([*kept, helper.make_attribute("mask_filter_value", value)])
            count += 1
    return count


def padding_constants(model: Any, value: float = MASK_FILTER_VALUE) -> int:
    """Set to ``value`` each float32-minimum scalar Constant that only Where nodes read: the
    plain graph's additive attention mask (see MASK_FILTER_VALUE); the count."""
    import numpy as np
    from onnx import numpy_helper

    readers: dict[str, set[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    count = 0
    for node in model.graph.node:
        if node.op_type != "Constant" or readers.get(node.output[0]) != {"Where"}:
            continue
        tensor = next((a.t for a in node.attribute if a.name == "value"), None)
        if tensor is None:
            continue
        array = numpy_helper.to_array(tensor)
        if (
            array.size == 1
            and array.dtype == np.float32
            and array.item() == np.finfo(np.float32).min
        ):
            tensor.CopyFrom(numpy_helper.from_array(np.full_like(array, value), tensor.name))
            count += 1
    return count


def _infer_shapes(path: Path) -> None:
    """Typed value_info for the contrib operators too, which ONNX's own inference skips.

    The quantizer needs the type of every tensor it calibrates or quantizes; without this it
    cannot see past an Attention or SkipLayerNormalization node.
    """
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference  # type: ignore[import-untyped]

    model = onnx.load(str(path))
    try:
        inferred = SymbolicShapeInference.infer_shapes(
            model, auto_merge=True, guess_output_rank=True
        )
    except Exception as exc:  # best effort: the fused graph is valid without value_info
        log.warning("symbolic shape inference failed on %s: %s", path, exc)
        return
    onnx.save(inferred, str(path))
