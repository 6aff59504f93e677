"""What an embedding is used for, scored on labelled text: nearest-neighbour and linear-probe
accuracy of a set of sentence embeddings (pure functions of tensors; ``distill.versus`` runs
them on the student's and on the teacher's embeddings of the same eval text).

- Nearest neighbour: leave-one-out 1-NN by cosine. Each row's label is guessed from the single
  most similar other row: every labelled row is scored, no train/test split to choose, and no
  vote to break ties in (k=5 needs a rule for 2-2-1), so the figure depends on the embeddings
  alone. It is what a semantic search that returns the nearest sentence gets right.
- Linear probe: multinomial logistic regression with L2, on standardised features, fitted
  full-batch by L-BFGS in float64 from zero weights (deterministic: no sampling, no random
  initialisation), scored by stratified k-fold cross-validation, so every row is scored once
  by a probe that never saw it. The L2 strength is scikit-learn's default (C=1), so the figure
  can be reproduced there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

FOLDS = 5  # cross-validation folds: each probe trains on 80% of the rows
MIN_ROWS = 20  # fewer labelled rows than this: 4 test rows a fold say nothing
MIN_PER_CLASS = 2  # a class with one row is never in both a probe's train and test part
C = 1.0  # inverse L2 strength, scikit-learn's LogisticRegression default
MAX_ITER = 200  # L-BFGS iterations; a probe on a few thousand rows converges well within
CHUNK = 1024  # rows of the similarity matrix at a time: memory stays flat at any eval size


def neighbour_left_out(labels: list[int]) -> str | None:
    """Why leave-one-out 1-NN says nothing on ``labels``, or None when it can be scored."""
    if len(set(labels)) < 2:
        return f"the {len(labels)} labelled eval rows hold one class only"
    return None


def probe_left_out(labels: list[int]) -> str | None:
    """Why a linear probe cannot be cross-validated on ``labels``, or None when it can."""
    if len(labels) < MIN_ROWS:
        return f"{len(labels)} labelled eval rows, fewer than the {MIN_ROWS} a probe needs"
    counts = {label: labels.count(label) for label in set(labels)}
    if len(counts) < 2:
        return f"the {len(labels)} labelled eval rows hold one class only"
    rare = sorted(label for label, n in counts.items() if n < MIN_PER_CLASS)
    if rare:
        return (
            f"{len(rare)} class(es) with fewer than {MIN_PER_CLASS} labelled eval rows "
            f"(class ids {rare[:5]})"
        )
    return None


def neighbour_accuracy(embeddings: Tensor, labels: list[int]) -> float:
    """Leave-one-out 1-NN accuracy by cosine similarity."""
    import torch

    x = torch.nn.functional.normalize(embeddings.double(), dim=-1)
    y = torch.tensor(labels)
    hits = 0
    for start in range(0, len(x), CHUNK):
        rows = torch.arange(start, min(start + CHUNK, len(x)))
        similarity = x[rows] @ x.T
        similarity[torch.arange(len(rows)), rows] = -torch.inf  # never its own neighbour
        hits += int((y[similarity.argmax(1)] == y[rows]).sum())
    return hits / len(x)


def probe_accuracy(embeddings: Tensor, labels: list[int], seed: int) -> float:
    """Stratified ``FOLDS``-fold cross-validated accuracy of an L2 logistic regression."""
    import torch

    x = embeddings.double().cpu()
    classes, y = torch.unique(torch.tensor(labels), return_inverse=True)
    folds = _folds(y, seed)
    hits = 0
    for fold in range(FOLDS):
        test = folds == fold
        predict = _fit(x[~test], y[~test], len(classes))
        hits += int((predict(x[test]) == y[test]).sum())
    return hits / len(x)


def _folds(y: Tensor, seed: int) -> Tensor:
    """A fold per row: each class's rows in a seeded random order, dealt round the folds, so
    every fold holds each class in proportion."""
    import torch

    g = torch.Generator().manual_seed(seed)
    shuffled = torch.randperm(len(y), generator=g)
    order = shuffled[torch.argsort(y[shuffled], stable=True)]  # by class, random within
    folds = torch.empty(len(y), dtype=torch.long)
    folds[order] = torch.arange(len(y)) % FOLDS
    return folds


def _fit(x: Tensor, y: Tensor, classes: int) -> Callable[[Tensor], Tensor]:
    """Logistic regression on standardised ``x``; returns the predictor of class ids."""
    import torch
    import torch.nn.functional as F

    mean, std = x.mean(0), x.std(0, correction=0).clamp_min(1e-12)
    z = (x - mean) / std
    weight = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=MAX_ITER, line_search_fn="strong_wolfe"
    )
    penalty = 1.0 / (2.0 * C * len(x))  # sklearn's objective, divided by the row count

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight + bias, y) + penalty * (weight**2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    with torch.enable_grad():
        optimizer.step(closure)  # type: ignore[no-untyped-call]
    w, b = weight.detach(), bias.detach()
    return lambda rows: (((rows - mean) / std) @ w + b).argmax(1)
