"""A reference against a candidate on eval text (float against int8 ONNX, PyTorch against a
``.tflite``, the teacher against an artifact): accuracy when labels are given, else agreement or
cosine; for a token classifier, entity F1 (``verify.tags``) against the gold tags when given,
else of the candidate's entities against the reference's.

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

from edgedistil.verify import kernels, tags
from edgedistil.verify.parity import cosines
from edgedistil.verify.text import Batch


@dataclass(frozen=True, kw_only=True)
class Fidelity:
    task: str
    sentences: int
    metric: str  # "accuracy", "agreement", "cosine", "entity-f1" or "entity-agreement"
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
    words: tags.Words | None = None,
) -> Fidelity:
    """``words``: where a token classifier's words start in ``data``'s arrays, in order."""
    reference, candidate = session(float_path), session(int8_path)
    if task == tags.TASK:
        assert words is not None
        outputs = [(reference.run(None, b)[0], candidate.run(None, b)[0]) for b in data()]
        f, q = (np.concatenate([o[i] for o in outputs]) for i in (0, 1))
        return compare_words(f, q, words, words)
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


def compare_words(
    reference: np.ndarray, candidate: np.ndarray, ref_words: tags.Words, words: tags.Words
) -> Fidelity:
    """Two token classifiers' logits, each with where its words start, scored on the words'
    entities; the gold tags are ``words``'. The same tokenization: logits compare too."""
    ref = tags.word_tags(reference, ref_words.starts, ref_words.names)
    cand = tags.word_tags(candidate, words.starts, words.names)
    return score_tags(ref, cand, words.gold, float(np.max(np.abs(reference - candidate))))


def score_tags(
    reference: list[list[str]],
    candidate: list[list[str]],
    gold: list[list[str]] | None,
    worst: float,
) -> Fidelity:
    """Word tags scored as entities: each side's entity F1 on the gold tags, else the
    candidate's entities against the reference's (``entity-agreement``, the reference 1.0)."""
    agreement = tags.entity_f1(reference, candidate)
    metric, f_score, q_score = "entity-agreement", 1.0, agreement
    if gold is not None:
        metric = "entity-f1"
        f_score, q_score = tags.entity_f1(gold, reference), tags.entity_f1(gold, candidate)
    return Fidelity(
        task=tags.TASK,
        sentences=len(reference),
        metric=metric,
        float_score=f_score,
        int8_score=q_score,
        max_abs_diff=worst,
        agreement=agreement,
        mean_cosine=None,
    )


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
