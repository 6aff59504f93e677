"""Quantization-aware distillation: after the ordinary epochs, ``Settings.qat.epochs`` more in
which the student also runs through the integer graph it will be converted to
(``distill.fake_quant``) and is pulled to give there what it gives in float.

Why pull the rounded output to the float one, not to the teacher: the release gate measures the
converted file against the float student (``max_accuracy_drop``) and the float student against
the teacher (``max_drop_vs_teacher``). The ordinary distillation loss keeps the float student near
the teacher; the added term, 1 - cosine (embeddings) or KL (logits) between the fake-quantized and
the float output, closes the first gap directly. Q8BERT (Zafrir et al. 2019) showed training
through the rounding keeps >= 99% of a float BERT where rounding after training does not.

Ranges come from the calibration text, read again by the float graph every ``RECALIBRATE`` steps
(the weights move under them), exactly as the converter will read them at the end.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgedistil.distill import fake_quant, train, width
from edgedistil.errors import DistillError

if TYPE_CHECKING:
    import torch

RECALIBRATE = 100  # optimizer steps between two readings of the ranges
LR_SCALE = 0.5  # the phase fine-tunes a trained student: half the task's rate, no warm-up
CALIBRATION_SENTENCES = 200  # as export.tflite.CALIBRATION_SENTENCES: the converter's count


def quant_aware(
    scheme: str, *, micro: bool, epochs: float | None, toward: str = "float"
) -> fake_quant.QuantAware | None:
    """The phase for a student converted to ``scheme`` (``micro``: for TFLite Micro, whose graph
    has the sigmoid GELU); ``epochs`` None: the scheme's default; ``toward``: what the rounded
    output is pulled to (``QuantAware.toward``). None when there is no phase."""
    from edgedistil.schemes import get_scheme, scheme_names

    found = get_scheme(scheme)
    if not found.calibrated:
        if epochs:
            trainable = [n for n in scheme_names() if get_scheme(n).calibrated]
            raise DistillError(
                f'quantization-aware epochs: scheme "{scheme}" has no fake-quantization path '
                f"(its activations are not calibrated integers); allowed for {', '.join(trainable)}"
            )
        return None
    count = found.qat_epochs if epochs is None else epochs
    if not count:
        return None
    return fake_quant.QuantAware(
        scheme=scheme,
        epochs=count,
        bits=16 if found.activations[0] == "int16" else 8,
        gelu="sigmoid" if micro else "exact",
        split=found.split_residual,
        toward=toward,
    )


def fit(run: train.Run, model: Any, state: train.State, rank: int, size: int) -> None:
    """The phase: ``qat.epochs`` epochs (a fraction: that share of one) from the student's best
    weights; the last one's weights are kept (each is recorded, with the rounded output's
    agreement on the eval text)."""
    s = run.settings
    spec = s.qat
    assert spec is not None
    student = train.unwrap(model)
    mirror, calibration = calibrated_mirror(run, student, spec)
    per_epoch = math.ceil(math.ceil(len(run.train.ids) / size) / s.batch_size)  # batches
    left = max(1, math.ceil(per_epoch * spec.epochs))
    opt, sched = train.optimizer(
        student,
        dataclasses.replace(s, lr=s.lr * LR_SCALE, warmup=0),
        math.ceil(left / s.grad_accum),
    )
    loss_fn = _loss(run, mirror, calibration, spec)
    # what rounding costs the student as the ordinary epochs left it, for the record
    before = {f"{k}_before": v for k, v in agreement(run, mirror).items()}
    for epoch in range(1, math.ceil(spec.epochs) + 1):
        limit = min(left, per_epoch)
        loss = train.train_epoch(
            run, model, (opt, sched), s.epochs + epoch, rank, size, loss_fn, limit=limit
        )
        left -= limit
        mirror.calibrate(calibration, run.student_ids)
        metrics = {
            "epoch": float(s.epochs + epoch),
            "qat": 1.0,
            "train_loss": loss,
            **train.evaluate(run),
            **agreement(run, mirror),
            **(before if epoch == 1 else {}),
        }
        state.history.append(metrics)
        run.progress.end(s.epochs + epoch, metrics)


def calibrated_mirror(
    run: train.Run, student: Any, spec: fake_quant.QuantAware
) -> tuple[fake_quant.Mirror, list[dict[str, Any]]]:
    """The student's integer graph (``fake_quant.Mirror``, reading its live weights) with its
    ranges read on the calibration text, and those calibration batches."""
    assert run.calibration is not None and run.qat_head is not None
    head = dataclasses.replace(run.qat_head, projection=width.projection_of(student))
    mirror = fake_quant.Mirror.of(student, spec.graph, head)
    calibration = _calibration(run)
    mirror.calibrate(calibration, run.student_ids)
    return mirror, calibration


def _loss(
    run: train.Run,
    mirror: fake_quant.Mirror,
    calibration: list[dict[str, Any]],
    spec: fake_quant.QuantAware,
) -> Callable[[train.Run, Any, dict[str, Any]], Any]:
    """The distillation loss plus ``spec.weight`` times the rounded output's gap to what
    ``spec.toward`` names; the ranges read again every ``RECALIBRATE`` calls."""
    calls = [1]  # fit has just calibrated: the first reading is RECALIBRATE calls away

    def loss(run: train.Run, model: Any, batch: dict[str, Any]) -> Any:
        step = calls[0]
        if step % RECALIBRATE == 0:
            mirror.calibrate(calibration, run.student_ids)
        calls[0] += 1
        base = train.compute_loss(run, model, batch)
        term = gap(run.settings.task, *_outputs(run, mirror, batch, spec.toward))
        if not bool(term.isfinite()):  # stop here rather than save a student of NaN
            raise DistillError(
                f"quantization-aware step {step}: the rounded output's gap is {float(term)}"
            )
        return base + spec.weight * term

    return loss


def _outputs(
    run: train.Run, mirror: fake_quant.Mirror, batch: dict[str, Any], toward: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rounded output, what it is pulled to without gradient, attention mask): the float
    output, or the teacher's (its logits, or its pooled embedding, as the distillation loss
    reads them)."""
    import torch

    ids = run.student_ids(batch["input_ids"])
    with torch.no_grad():
        if toward == "teacher":
            if not train.uses_teacher(run.settings):
                raise DistillError("quantization-aware epochs toward the teacher: no teacher loss")
            target = train.teacher_outputs(run, batch)["head"].float()
        else:
            target = mirror.run("float", batch, ids)
    return mirror.run("quant", batch, ids), target, batch["attention_mask"]


def gap(task: str, rounded: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> Any:
    """1 - cosine for embeddings; KL(float || rounded) over classes for logits (every real
    token's, for a token classifier)."""
    import torch.nn.functional as F

    if task == "embedding":
        return 1.0 - F.cosine_similarity(rounded, target, dim=-1).mean()
    if task == train.TOKEN_TASK:
        keep = mask.bool()
        rounded, target = rounded[keep], target[keep]
    return F.kl_div(
        F.log_softmax(rounded, -1),
        F.log_softmax(target, -1),
        log_target=True,
        reduction="batchmean",
    )


def agreement(run: train.Run, mirror: fake_quant.Mirror) -> dict[str, float]:
    """The rounded output against the float one on the eval text: mean cosine (embeddings) or
    the share of equal argmax (logits): what the converted file will roughly keep."""
    import torch
    import torch.nn.functional as F

    if run.eval is None:
        return {}
    device = next(train.unwrap(run.student).parameters()).device
    hits, total = 0.0, 0
    with torch.no_grad():
        for idx in _chunks(len(run.eval.ids), run.settings.batch_size * 2):
            batch = {k: v.to(device) for k, v in train.collate(run.eval, idx).items()}
            ids = run.student_ids(batch["input_ids"])
            rounded, target = mirror.run("quant", batch, ids), mirror.run("float", batch, ids)
            if run.settings.task == "embedding":
                hits += float(F.cosine_similarity(rounded, target, dim=-1).sum())
                total += len(idx)
                continue
            same = rounded.argmax(-1) == target.argmax(-1)
            if run.settings.task == train.TOKEN_TASK:
                same = same[batch["attention_mask"].bool()]
            hits, total = hits + float(same.sum()), total + int(same.numel())
    key = "quant_cosine" if run.settings.task == "embedding" else "quant_agreement"
    return {key: hits / max(1, total)}


def _chunks(n: int, size: int) -> list[list[int]]:
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def _calibration(run: train.Run) -> list[dict[str, Any]]:
    """The calibration text's first sentences, padded to the trained length in batches of 32,
    as the converter's representative dataset pads them to the device's length."""
    import torch

    assert run.calibration is not None
    enc = run.calibration
    device = next(train.unwrap(run.student).parameters()).device
    length = run.settings.seq_len
    rows = enc.ids[:CALIBRATION_SENTENCES]
    batches = []
    for start in range(0, len(rows), 32):
        chunk = rows[start : start + 32]
        ids = torch.full((len(chunk), length), enc.pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), length), dtype=torch.long)
        types = torch.zeros((len(chunk), length), dtype=torch.long)
        for r, row in enumerate(chunk):
            ids[r, : len(row)] = torch.tensor(row[:length])
            mask[r, : len(row)] = 1
            if enc.types is not None:  # a pair model's calibration pairs
                given = enc.types[start + r][:length]
                types[r, : len(given)] = torch.tensor(given)
        batch = {"input_ids": ids, "attention_mask": mask}
        if enc.types is not None:
            batch["token_type_ids"] = types
        batches.append({k: v.to(device) for k, v in batch.items()})
    return batches
