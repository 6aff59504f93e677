"""Self-attention relation distillation (MiniLMv2: Wang et al., 2021, "MiniLMv2: Multi-Head
Self-Attention Relation Distillation for Compressing Pretrained Transformers").

The student's last layer learns how the teacher's layer relates tokens to each other: among
its queries (Q-Q), its keys (K-K) and its values (V-V). Each side splits its own Q, K and V
into the same number R of relation heads; a head's relation is softmax(X_r X_r^T / sqrt(d_r))
over the real tokens, and the loss is KL(teacher relation || student relation). Both sides'
relations are [batch, R, tokens, tokens] whatever their widths or attention head counts, so a
narrow student (hidden 256 under a 384 teacher, 8 heads against 12) learns them with no
projection, which is why MiniLMv2 chose relations over the attention maps themselves.

The projections are read by forward hooks on the family's query, key and value Linear modules
(``families.Family.attention_projections``), so no model's forward is rewritten.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from edgedistil.errors import DistillError
from edgedistil.families import family_of

if TYPE_CHECKING:
    import torch
    from torch import Tensor

# The most relation heads an error message suggests: MiniLMv2 used 12 to 64 (its large models)
MAX_SUGGESTED = 64


def projections(model: Any, layer: int) -> list[torch.nn.Module]:
    """The query, key and value Linear modules of encoder layer ``layer`` of ``model``."""
    family = family_of(model.config.model_type)
    if family is None:
        raise DistillError(
            f"attention relations: model_type {model.config.model_type!r} has no family "
            "describing where its query, key and value projections are"
        )
    base = model.base_model
    return [base.get_submodule(name) for name in family.attention_projections(layer)]


@contextmanager
def capture(model: Any, layer: int, enabled: bool = True) -> Iterator[list[Tensor]]:
    """The outputs of layer ``layer``'s query, key and value projections ([batch, tokens, width]
    each, in that order) during the forward pass run inside the block; nothing when not
    ``enabled``. Stored by slot, not in call order: transformers versions differ in whether the
    query or the key is computed first."""
    found: list[Any] = []
    if not enabled:
        yield found
        return
    found.extend([None, None, None])

    def keep(slot: int) -> Any:
        def hook(_module: Any, _args: Any, output: Tensor) -> None:
            found[slot] = output

        return hook

    handles = [m.register_forward_hook(keep(i)) for i, m in enumerate(projections(model, layer))]
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()


def relation_log_probs(x: Tensor, mask: Tensor, heads: int) -> Tensor:
    """log softmax(X_r X_r^T / sqrt(d_r)) for each of ``heads`` slices of the last dimension of
    ``x`` [batch, tokens, width]: [batch, heads, tokens, tokens]. A padding key gets the lowest
    finite score, so its probability is exactly 0 and its log stays finite (no NaN in the KL)."""
    import torch

    b, t, d = x.shape
    size = d // heads
    # float32 even under a GPU's autocast: a KL of near-equal distributions from bf16 scores is
    # mostly rounding, and fp16 scores of large activations overflow
    with torch.autocast(x.device.type, enabled=False):
        split = x.float().reshape(b, t, heads, size).transpose(1, 2)  # [batch, heads, tokens, d_r]
        scores = split @ split.transpose(-1, -2) / math.sqrt(size)
        keys = mask[:, None, None, :].bool()
        scores = scores.masked_fill(~keys, torch.finfo(scores.dtype).min)
        return scores.log_softmax(-1)


def relation_kl(student: Tensor, teacher: Tensor, mask: Tensor) -> Tensor:
    """KL(teacher || student) of log relations [batch, heads, tokens, tokens], summed over the
    keys and averaged over the real query tokens and the heads."""
    keys = mask[:, None, None, :].to(teacher.dtype)
    per_query = (teacher.exp() * (teacher - student) * keys).sum(-1)  # [batch, heads, tokens]
    queries = mask[:, None, :].to(per_query.dtype)
    count = queries.sum() * teacher.shape[1]
    return (per_query * queries).sum() / count.clamp(min=1)


def relation_loss(
    student: Sequence[Tensor], teacher: Sequence[Tensor], mask: Tensor, heads: int
) -> Tensor:
    """MiniLMv2's loss: the relation KL of Q-Q, K-K and V-V, averaged. ``student`` and
    ``teacher``: their [q, k, v] of [batch, tokens, width] (widths may differ); ``mask``: 1 on
    real tokens."""
    terms = [
        relation_kl(relation_log_probs(s, mask, heads), relation_log_probs(t, mask, heads), mask)
        for s, t in zip(student, teacher, strict=True)
    ]
    return sum(terms[1:], terms[0]) / len(terms)


def heads_for(requested: int | None, student: Any) -> int:
    """The relation heads asked for, or by default the student's own attention head count."""
    return requested or int(student.config.num_attention_heads)


def check_heads(requested: int | None, student: Any, teacher: Any) -> None:
    """Each side splits its width into the same number of equal parts, so both widths must
    divide by it (the default, the student's head count, may not divide a narrow student's
    teacher: 5 heads of 32 under a 384-wide teacher)."""
    heads = heads_for(requested, student)
    student_width, teacher_width = student.config.hidden_size, teacher.config.hidden_size
    if student_width % heads == 0 and teacher_width % heads == 0:
        return
    common = math.gcd(student_width, teacher_width)
    works = [n for n in range(1, min(common, MAX_SUGGESTED) + 1) if common % n == 0]
    given = f"--relation-heads {heads}" if requested else f"--relation-heads (default {heads}, "
    given += "" if requested else "the student's attention heads)"
    raise DistillError(
        f"{given}: the student's width {student_width} and the teacher's "
        f"{teacher_width} must both divide into that many relation heads; counts that work: "
        f"{', '.join(map(str, works))}"
    )
