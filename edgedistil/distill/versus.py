"""The float student against its teacher at the end of ``distill``: the ``vs_teacher`` record of
``edgedistil.json``, in the job's ``Outcome``, printed by the CLI and shown by ``build``, so a
weak student is seen before anything is exported.

Both models run once over the job's eval set, in batches, in float on the training device: the
``--eval`` file, or else the share of ``--data`` held out to pick the best epoch (never trained
or pruned on); ``eval_source`` says which. Both read the same token ids (the student's mapped
through its pruned vocabulary), so the figures measure the student, not two tokenizations.

The figures are those ``edgedistil.vs_teacher`` gives a release artifact after export (it cannot
be imported here: it runs the exported formats), computed by the same ``verify.fidelity``:

- classification: teacher and student accuracy on the eval labels (matched to the teacher's
  classes by name, or by position for LABEL_i, as ``vs_teacher`` matches them: the job did that
  when it read the data), ``retention`` = student / teacher, and ``agreement``, the share of rows
  whose argmax is the teacher's;
- token-classification: teacher and student entity F1 on the gold tags (``verify.tags``: a word's
  tag on its first sub-token), ``retention``, and ``entity_f1_vs_teacher``, the student's
  entities scored against the teacher's;
- embedding: ``cosine``, the mean cosine of the student's sentence embedding (through its
  projection when it is narrow) to the teacher's pooled one, as training compares them; and,
  when the eval text has labels, leave-one-out 1-NN and linear-probe accuracy (``distill.probe``)
  of each side's embeddings, with ``retention``. One that cannot be had (no labels, too few
  rows) is ``{"left_out": reason}``, never an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from edgedistil.data import Examples
from edgedistil.distill import losses, probe, train
from edgedistil.verify import fidelity, tags

if TYPE_CHECKING:
    import torch

EVAL_FILE = "eval file"
HELD_OUT = "held-out share of the data"
NO_LABELS = "the eval text has no labels"


def measure(run: train.Run, eval_set: Examples, source: str) -> dict[str, Any]:
    """The student against the teacher on ``run.eval`` (``eval_set``'s rows, encoded)."""
    task = run.settings.task
    record: dict[str, Any] = {"eval_source": source, "eval_examples": len(eval_set), "task": task}
    model = train.unwrap(run.student)
    was_training = model.training
    model.eval()
    try:
        if task == "embedding":
            record.update(_embedding(run, eval_set))
        elif task == train.TOKEN_TASK:
            record.update(_tagging(run, eval_set))
        else:
            record.update(_classification(run, eval_set))
    finally:
        model.train(was_training)
    return record


def _outputs(run: train.Run) -> Iterator[tuple[dict[str, torch.Tensor], Any, Any]]:
    """(batch, student output, teacher output) over the eval set, each model run once."""
    import torch

    assert run.eval is not None and run.teacher is not None
    model, enc = train.unwrap(run.student), run.eval
    device = next(model.parameters()).device
    size = run.settings.batch_size * 2
    with torch.no_grad():
        for start in range(0, len(enc.ids), size):
            rows = list(range(start, min(start + size, len(enc.ids))))
            batch = {k: v.to(device) for k, v in train.collate(enc, rows).items()}
            student = model(**losses.model_inputs(batch, run.student_ids(batch["input_ids"])))
            yield batch, student, run.teacher(**losses.model_inputs(batch))


def _classification(run: train.Run, eval_set: Examples) -> dict[str, Any]:
    import torch

    pairs = [(t.logits.float().cpu(), s.logits.float().cpu()) for _, s, t in _outputs(run)]
    teacher = torch.cat([t for t, _ in pairs]).numpy()
    student = torch.cat([s for _, s in pairs]).numpy()
    f = fidelity.compare(teacher, student, "classification", eval_set.labels)
    return {
        **_scores("accuracy", f.float_score, f.int8_score),
        "agreement": _round(f.agreement),
    }


def _tagging(run: train.Run, eval_set: Examples) -> dict[str, Any]:
    """Each side's tag of each word (its first sub-token, where training put the word's tag)."""
    names = [str(n) for n in eval_set.label_names or []]
    teacher: list[list[str]] = []
    student: list[list[str]] = []
    for batch, s, t in _outputs(run):
        starts = (batch["labels"] != train.IGNORE).cpu().numpy()
        teacher += tags.word_tags(t.logits.float().cpu().numpy(), starts, names)
        student += tags.word_tags(s.logits.float().cpu().numpy(), starts, names)
    gold = [[names[i] for i in row] for row in eval_set.tags or []]
    f = fidelity.score_tags(teacher, student, gold, float("nan"))
    return {
        **_scores("entity_f1", f.float_score, f.int8_score),
        "entity_f1_vs_teacher": _round(f.agreement),
    }


def _embedding(run: train.Run, eval_set: Examples) -> dict[str, Any]:
    import torch

    s = run.settings
    teacher, student = [], []
    for batch, out, ref in _outputs(run):
        mask = batch["attention_mask"]
        student.append(
            train.sentence_embedding(run.student, out.last_hidden_state, mask, s.pooling)
        )
        teacher.append(losses.pool(ref.last_hidden_state, mask, s.pooling))
    a, b = torch.cat(student).float().cpu(), torch.cat(teacher).float().cpu()
    cosine = float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean())
    labels = eval_set.labels
    return {
        "cosine": round(cosine, 6),
        "nearest_neighbour": _labelled(
            labels,
            probe.neighbour_left_out,
            lambda x: probe.neighbour_accuracy(x, labels or []),
            a,
            b,
        ),
        "linear_probe": _labelled(
            labels,
            probe.probe_left_out,
            lambda x: probe.probe_accuracy(x, labels or [], s.seed),
            a,
            b,
        ),
    }


def _labelled(
    labels: list[int] | None,
    left_out: Any,
    accuracy: Any,
    student: torch.Tensor,
    teacher: torch.Tensor,
) -> dict[str, Any]:
    """One labelled measure of both sides' embeddings, or why it was left out."""
    reason = NO_LABELS if labels is None else left_out(labels)
    if reason is not None:
        return {"left_out": reason}
    return _scores("accuracy", accuracy(teacher), accuracy(student))


def _scores(metric: str, teacher: float, student: float) -> dict[str, Any]:
    retention = student / teacher if teacher > 0 else None  # None: a teacher that scores 0
    return {
        f"teacher_{metric}": round(teacher, 6),
        f"student_{metric}": round(student, 6),
        "retention": _round(retention),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


# ---- in words ----


def describe(record: dict[str, Any]) -> str:
    """One line for the CLI and build's summary."""
    where = f"on {record['eval_examples']} eval examples ({record['eval_source']})"
    task = record["task"]
    if task == "embedding":
        parts = [f"cosine {record['cosine']:.4f}"]
        for key, name in (("nearest_neighbour", "1-NN"), ("linear_probe", "linear probe")):
            parts.append(_versus(f"{name} accuracy", "accuracy", record[key]))
        body = "; ".join(parts)
    elif task == train.TOKEN_TASK:
        body = (
            f"{_versus('entity F1', 'entity_f1', record)}; entity F1 against the teacher's "
            f"entities {record['entity_f1_vs_teacher']:.4f}"
        )
    else:
        body = f"{_versus('accuracy', 'accuracy', record)}; agreement {record['agreement']:.2%}"
    return f"Against the teacher {where}: {body}"


def _versus(name: str, metric: str, scores: dict[str, Any]) -> str:
    if "left_out" in scores:
        return f"{name} left out ({scores['left_out']})"
    retention = scores["retention"]
    kept = "-" if retention is None else f"{retention:.2%}"
    return (
        f"{name} {scores[f'student_{metric}']:.4f} (teacher {scores[f'teacher_{metric}']:.4f}, "
        f"retention {kept})"
    )
