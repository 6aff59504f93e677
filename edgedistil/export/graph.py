"""Graph optimisation per target: ONNX Runtime's transformer fusions, or the plain graph.

"fused" runs ``onnxruntime.transformers.optimizer`` (Attention, SkipLayerNormalization,
EmbedLayerNormalization, BiasGelu): fewer, bigger kernels, but contrib operators that only full
ONNX Runtime builds carry. "plain" keeps standard ONNX operators, which ORT Mobile's reduced
builds and NNAPI can take. Only Python fusions run (opt_level 0), so the file does not depend on
the CPU it was made on.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

GRAPHS = ("fused", "plain")

log = logging.getLogger(__name__)


def fuse(source: Path, target: Path, *, num_heads: int, hidden_size: int) -> dict[str, int]:
    """Write the fused graph of ``source`` to ``target``; the fused operator counts."""
    from onnxruntime.transformers import optimizer  # type: ignore[import-untyped]

    # The optimizer prints progress; library code does not print, so it goes to the log.
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        model = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=num_heads,
            hidden_size=hidden_size,
            opt_level=0,
        )
        model.save_model_to_file(str(target))
        _infer_shapes(target)
    if buffer.getvalue().strip():
        log.debug("optimizer: %s", buffer.getvalue().strip())
    counts: dict[str, int] = model.get_fused_operator_statistics()
    log.info("fused operators: %s", {k: v for k, v in counts.items() if v})
    return {k: v for k, v in counts.items() if v}


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
