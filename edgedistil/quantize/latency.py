"""Float against int8 latency on this host, as ``fidelity.json`` reports it beside the fidelity.

Timed in sessions with ORT's defaults, as an app runs the file; never in the verification
sessions of ``verify.kernels``, which on x86 without VNNI ask for ORT's exact, slower kernels.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from edgedistil.verify.text import Batch

LATENCY_RUNS = 20  # a median over 20 single-row runs is stable to a few percent on a quiet CPU


def timing_session(path: Path) -> Any:
    """ORT's defaults, as an app runs the file: latency is timed on these, never verified."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def latency_ms(path: Path, batch: Batch, runs: int = LATENCY_RUNS) -> float:
    """Median single-row latency; a few warm-up runs first, as the bench does."""
    one = {k: v[:1] for k, v in batch.items()}
    s = timing_session(path)
    for _ in range(3):
        s.run(None, one)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        s.run(None, one)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
