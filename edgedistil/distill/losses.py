"""The distillation losses, as pure functions of tensors.

Classification follows DistilBERT: a * KL(student/T || teacher/T) * T^2 + b * CE(hard labels)
+ c * (1 - cosine) between mapped hidden states, with padding masked out. The T^2 keeps the soft
term's gradients at the scale of the hard one when T changes (Hinton et al., 2015). The
embedding task matches the teacher's pooled sentence embedding (cosine + MSE) and the mapped
hidden states. Every task can add the last layer's self-attention relations
(``distill.relations``, MiniLMv2) with weight ``att``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what a batch feeds the model


def model_inputs(batch: dict[str, Tensor], ids: Tensor | None = None) -> dict[str, Tensor]:
    """The model's keyword inputs from a batch: its ids (or ``ids``, a student's mapped ones),
    mask, and segments when the batch carries them (text pairs of a family with token types)."""
    found = {name: batch[name] for name in INPUTS if name in batch}
    if ids is not None:
        found["input_ids"] = ids
    return found


@dataclass(frozen=True, kw_only=True)
class Weights:
    """Loss weights. DistilBERT's recipe: 5 (soft), 2 (hard), 1 (cosine), at temperature 2."""

    kd: float = 5.0
    ce: float = 2.0
    cos: float = 1.0
    mse: float = 1.0
    temperature: float = 2.0
    # MiniLMv2's self-attention relations of the last layer (distill.relations); off by
    # default: at weight 1 it added nothing to any student shape in benchmarks/distill_recipes.py
    att: float = 0.0


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    import torch.nn.functional as F

    t = temperature
    log_student = F.log_softmax(student_logits / t, dim=-1)
    log_teacher = F.log_softmax(teacher_logits / t, dim=-1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * t * t


def masked_cosine_loss(student: Tensor, teacher: Tensor, mask: Tensor) -> Tensor:
    """Mean of (1 - cosine) over the real tokens of [batch, tokens, hidden] states."""
    import torch.nn.functional as F

    per_token = 1 - F.cosine_similarity(student, teacher, dim=-1)
    weights = mask.to(per_token.dtype)
    return (per_token * weights).sum() / weights.sum().clamp(min=1)


def hidden_loss(student_states: list[Tensor], teacher_states: list[Tensor], mask: Tensor) -> Tensor:
    """Masked cosine loss averaged over pairs of (student layer, mapped teacher layer)."""
    pairs = [
        masked_cosine_loss(s, t, mask) for s, t in zip(student_states, teacher_states, strict=True)
    ]
    return sum(pairs[1:], pairs[0]) / len(pairs)


def pool(hidden: Tensor, mask: Tensor, mode: str) -> Tensor:
    """A sentence embedding from token states: "mean" over real tokens, "cls", or "max"."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(weights == 0, float("-inf")).max(dim=1).values
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def embedding_loss(student: Tensor, teacher: Tensor, w: Weights) -> Tensor:
    """cos * (1 - cosine) + mse * MSE between pooled sentence embeddings."""
    import torch.nn.functional as F

    cosine = 1 - F.cosine_similarity(student, teacher, dim=-1).mean()
    return w.cos * cosine + w.mse * F.mse_loss(student, teacher)
