"""A reference against a candidate on eval text (float against int8 ONNX, PyTorch against a
``.tflite``, the teacher against an artifact): accuracy when labels are given, else agreement or
cosine.

The "drop" is what the profile's ``[budgets].max_accuracy_drop`` bounds: accuracy points lost
(labels), the share of sentences whose class changed (no labels), or 1 - mean cosine (an
embedding). Runs batch by batch; only per-sentence scalars are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistil.verify import kernels
from edgedistil.verify.parity import cosines
from edgedistil.verify.text import Batch


@dataclass(frozen=True, kw_only=True)
class Fidelity:
    task: str
    sentences: int
    metric: str  # "accuracy", "agreement" or "cosine"
    float_score: float
    int8_score: float
    max_abs_diff: float
    agreement: float | None
    mean_cosine: float | None

    @property
    def drop(self) -> float:
        return self.float_score - self.int8_score


def session(path: Path, *, basic: bool = False) -> Any:
    """A CPU session that computes int8 as the target does, whatever this host's CPU
    (``kernels.session``); ``basic`` stops at the optimisations an ``.ort`` file was saved with."""
    return kernels.session(path, level="basic" if basic else "all")


def measure(
    float_path: Path,
    int8_path: Path,
    data: Callable[[], Iterator[Batch]],
    labels: list[int] | None,
    task: str,
) -> Fidelity:
    reference, candidate = session(float_path), session(int8_path)
    agree: list[bool] = []
    cos: list[float] = []
    right_f: list[bool] = []
    right_q: list[bool] = []
    worst = 0.0
    for batch in data():
        f, q = reference.run(None, batch)[0], candidate.run(None, batch)[0]
        worst = max(worst, float(np.max(np.abs(f - q))))
        if task == "classification":
            agree += list(f.argmax(-1) == q.argmax(-1))
            if labels is not None:
                gold = np.array(labels[len(right_f) : len(right_f) + len(f)], dtype=np.int64)
                right_f += list(f.argmax(-1) == gold)
                right_q += list(q.argmax(-1) == gold)
        else:
            cos += list(cosines(f, q))
    return _score(task, labels, agree, cos, right_f, right_q, worst)


def compare(
    reference: np.ndarray, candidate: np.ndarray, task: str, labels: list[int] | None
) -> Fidelity:
    """The same scores as ``measure`` for two whole output arrays (another runtime's, say)."""
    worst = float(np.max(np.abs(reference - candidate)))
    if task != "classification":
        return _score(task, labels, [], list(cosines(reference, candidate)), [], [], worst)
    agree = list(reference.argmax(-1) == candidate.argmax(-1))
    right_f: list[Any] = []
    right_q: list[Any] = []
    if labels is not None:
        gold = np.asarray(labels)
        right_f, right_q = list(reference.argmax(-1) == gold), list(candidate.argmax(-1) == gold)
    return _score(task, labels, agree, [], right_f, right_q, worst)


def _score(
    task: str,
    labels: list[int] | None,
    agree: list[Any],
    cos: list[Any],
    right_f: list[Any],
    right_q: list[Any],
    worst: float,
) -> Fidelity:
    if task == "classification":
        agreement = float(np.mean(agree))
        if labels is not None:
            metric, f_score, q_score = "accuracy", float(np.mean(right_f)), float(np.mean(right_q))
        else:
            metric, f_score, q_score = "agreement", 1.0, agreement
        return Fidelity(
            task=task,
            sentences=len(agree),
            metric=metric,
            float_score=f_score,
            int8_score=q_score,
            max_abs_diff=worst,
            agreement=agreement,
            mean_cosine=None,
        )
    mean = float(np.mean(cos))
    return Fidelity(
        task=task,
        sentences=len(cos),
        metric="cosine",
        float_score=1.0,
        int8_score=mean,
        max_abs_diff=worst,
        agreement=None,
        mean_cosine=mean,
    )
