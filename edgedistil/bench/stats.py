"""Summaries of timings on the host: percentiles, spread and relative change.

The board script computes its own (it may import nothing from edgedistil); these functions use
the same definitions, linear interpolation between closest ranks as numpy's default, and a test
holds the two to the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PERCENTILES = (50, 90, 95, 99)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values``, interpolated linearly between ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """min, mean, max, population std and the p50/p90/p95/p99 of ``values``."""
    if not values:
        raise ValueError("summary of no values")
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    summary = {"min": min(values), "mean": mean, "max": max(values), "std": std}
    summary.update({f"p{q}": percentile(values, q) for q in PERCENTILES})
    return summary


def spread(values: Sequence[float]) -> float:
    """Interquartile range: the spread of repeated medians, robust to one noisy repeat."""
    return percentile(values, 75) - percentile(values, 25)


def change(new: float, old: float) -> float:
    """Relative change from ``old`` to ``new``: 0.1 is 10% worse for a cost (latency, bytes)."""
    if old <= 0:
        return math.inf if new > old else 0.0
    return (new - old) / old
