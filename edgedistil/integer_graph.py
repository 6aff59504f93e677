"""What the integer LiteRT / TFLite Micro graph of a student is made of, shared by the export
that builds it (``export.tf_bert``) and the quantization-aware training that mirrors it
(``distill.fake_quant``): one rule each, so the mirror rounds what the file will round."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SOFTMAX_FLOOR = 16.0  # a masked score this far below the row's lowest keeps < e^-16 = 1e-7 weight
SIGMOID_GELU = 1.702  # x * sigmoid(1.702 x) (Hendrycks & Gimpel): TFLite Micro has no GELU kernel
OUTLIERS = 8  # MiniLM-L6 has 1-3 dimensions far above the rest; 8 leaves room (3-32 measured alike)


def largest(peak: Sequence[float] | np.ndarray, count: int) -> tuple[int, ...]:
    """The ``count`` dimensions of largest peak (at most half of them: a tiny model keeps most
    of its stream together), in ascending order."""
    values = np.asarray(peak, dtype=np.float64)
    count = min(count, len(values) // 2)
    return tuple(sorted(int(d) for d in np.argsort(-values, kind="stable")[:count]))
