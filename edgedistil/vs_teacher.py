"""What ships against the teacher, end to end: the figure ``[budgets].max_drop_vs_teacher`` gates.

``max_accuracy_drop`` compares each release artifact with the float student it was made from, so
a student far from its teacher passes it as easily as a good one. Here each release artifact runs
in its own runtime (``runtimes``: ONNX Runtime on the exact int8 kernels of ``verify.kernels``,
LiteRT, TFLite Micro) on the raw eval text, tokenised by the tokenizer it ships with (the
student's: its vocabulary may be pruned) at the profile's length; the teacher runs in PyTorch on
the same text with its own tokenizer at its own length. The gap counts everything between the
two: fewer layers, a narrower width, a pruned vocabulary, truncation and int8.

The task follows the student:

- an embedding: 1 - the mean cosine between the artifact's sentence embedding and the teacher's
  (pooled, mapped by its Dense module and normalised as ``export.model`` does); labels in the eval
  text are not read. Both must have the same size: a narrow student reaches its teacher's through
  its Dense map (2_Dense); one that does not is not comparable, and the figure says so.
- a classifier, against a classifier teacher: with labels, the teacher's accuracy on them minus
  the artifact's; without, the share of sentences whose class is not the teacher's (1 - argmax
  agreement). Classes and labels are matched to the teacher's by name (by position when the
  teacher's classes are LABEL_0, LABEL_1, ...).
- a classifier, against a sentence-embedding teacher (no classification head): nothing is
  comparable. The teacher's embedding has no classes, so it can neither score the eval labels nor
  agree with the student's argmax, and such a student (an encoder given a head by ``finetune``)
  learnt its classes from labels the teacher never saw. The figure is unmeasured, saying so:
  compare the classifier with the classifier it was distilled from (``--teacher``).
- a token classifier (NER), against a token classifier teacher: word by word (each side's tag of
  a word is the one on its first sub-token, under its own tokenizer), as entities
  (``verify.tags``): with gold tags, the teacher's entity F1 on them minus the artifact's;
  without, 1 - the F1 of the artifact's entities against the teacher's. Tags match by name.

A figure that cannot be had (the teacher is gone or does not load, the eval labels are none of the
teacher's classes, the sizes differ) stops nothing: it is recorded with its reason, and the gate
counts it as unmeasured (fail closed, or skipped with ``--allow-unmeasured``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistil.data import TextInput, read_examples
from edgedistil.errors import ExportError, TeacherError
from edgedistil.families import size_of
from edgedistil.formats import format_names
from edgedistil.runtimes import runtime_of, tokenizer_of
from edgedistil.teacher import Teacher, is_classifier, is_token_classifier
from edgedistil.verify.fidelity import Fidelity, compare, score_tags

log = logging.getLogger(__name__)

BATCH = 32  # the teacher's batches: memory stays flat at any eval size
# Every manifest field of an artifact's comparison, so a new one replaces all of an old one.
FIELDS = ("drop_vs_teacher", "drop_vs_teacher_source", "drop_vs_teacher_unmeasured", "vs_teacher")


class _Unmeasured(Exception):
    """Why there is no figure against the teacher; recorded on the artifact, never raised on."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Reference:
    """The teacher's outputs on the eval text, and how the student's outputs map onto them."""

    teacher: str  # as the build names it: "default" or a directory
    task: str  # the student's: "embedding" or "classification"
    texts: list[TextInput]  # the eval text's first sentences, or pairs
    outputs: np.ndarray  # the teacher's, one row per text
    size: int  # embedding dimensions, or classes
    labels: list[int] | None  # the eval labels as the teacher's class ids (classification)
    classes: list[int] | None  # the teacher's class id of each of the student's classes
    word_tags: list[list[str]] | None = None  # a token classifier's: the teacher's, by word
    gold_tags: list[list[str]] | None = None  # and the eval text's, when it has them


# ---- the stage ----


def teacher_key(spec: str) -> str:
    """The teacher's part of the stage key: its files' hash, or why it cannot be had, so the
    stage runs again when the teacher changes or comes back."""
    from edgedistil.manifest import tree_sha256
    from edgedistil.teacher import resolve_teacher

    try:
        return tree_sha256(resolve_teacher(spec).path)
    except TeacherError as exc:
        return f"unavailable: {exc}"


def stage_record(
    *, releases: dict[str, dict[str, Any]], root: Path, student: Path, teacher: str, eval_path: Path
) -> dict[str, Any]:
    """The ``vs-teacher`` stage's record: each release artifact's manifest fields, a summary."""
    fields = measure(
        releases=releases, root=root, student=student, teacher=teacher, eval_path=eval_path
    )
    return {"teacher": teacher, "artifacts": fields, "summary": summary(fields)}


def record_on(artifacts: dict[str, dict[str, Any]], fields: dict[str, dict[str, Any]]) -> None:
    """Each artifact's comparison onto its manifest entry, replacing an earlier build's."""
    for rel, entry in artifacts.items():
        if rel in fields:
            for key in FIELDS:
                entry.pop(key, None)
            entry.update(fields[rel])


def summary(fields: dict[str, dict[str, Any]]) -> str:
    reasons = {f.get("drop_vs_teacher_unmeasured") for f in fields.values()}
    if len(reasons) == 1 and None not in reasons:
        return f"unmeasured: {reasons.pop()}"
    return ", ".join(
        f"{rel} {f['vs_teacher']['metric']} drop {f['drop_vs_teacher']:.4f}"
        if "drop_vs_teacher" in f
        else f"{rel} unmeasured ({f['drop_vs_teacher_unmeasured']})"
        for rel, f in sorted(fields.items())
    )


# ---- measuring ----


def measure(
    *, releases: dict[str, dict[str, Any]], root: Path, student: Path, teacher: str, eval_path: Path
) -> dict[str, dict[str, Any]]:
    """Manifest fields of each release artifact against ``teacher``: ``drop_vs_teacher`` with
    its ``_source`` and the scores (``vs_teacher``), or ``drop_vs_teacher_unmeasured``."""
    if not releases:
        return {}
    wanted = max(_sentences(info) for info in releases.values())
    try:
        reference = teacher_reference(teacher, student, eval_path, wanted)
    except _Unmeasured as exc:
        log.info("no figure against the teacher: %s", exc)
        return {rel: _unmeasured(str(exc)) for rel in releases}
    return {
        rel: _against(root / rel, info, reference, student, eval_path.name)
        for rel, info in releases.items()
    }


def _sentences(info: dict[str, Any]) -> int:
    runtime = runtime_of(str(info.get("format")))
    return 0 if runtime is None else runtime.sentences


def _unmeasured(reason: str) -> dict[str, Any]:
    return {"drop_vs_teacher_unmeasured": reason}


def _against(
    path: Path, info: dict[str, Any], ref: Reference, student: Path, eval_name: str
) -> dict[str, Any]:
    runtime = runtime_of(str(info.get("format")))
    if runtime is None:
        known = ", ".join(sorted(format_names()))
        return _unmeasured(f'no runtime here runs format "{info.get("format")}" (runs {known})')
    count = min(len(ref.texts), runtime.sentences)
    outputs = runtime.run(path, info, student, ref.texts[:count])
    try:
        if ref.word_tags is not None:
            fidelity = _score_words(ref, outputs, student)
        else:
            fidelity = _score(ref, outputs, count)
    except _Unmeasured as exc:
        return _unmeasured(str(exc))
    what = f"{info.get('scheme') or 'the artifact'} in {runtime.name} (its own tokenizer)"
    return {
        "drop_vs_teacher": round(fidelity.drop, 6),
        "drop_vs_teacher_source": _source(fidelity, what, ref.teacher, eval_name),
        "vs_teacher": {
            "teacher": ref.teacher,
            "metric": fidelity.metric,
            "sentences": fidelity.sentences,
            "teacher_score": round(fidelity.float_score, 6),
            "artifact_score": round(fidelity.int8_score, 6),
            "runtime": runtime.name,
        },
    }


def _score(ref: Reference, outputs: np.ndarray, count: int) -> Fidelity:
    if outputs.ndim != 2 or outputs.shape[1] != ref.size:
        unit = "dimensions" if ref.task == "embedding" else "classes"
        raise _Unmeasured(
            f"the artifact gives outputs of shape {list(outputs.shape)}, the teacher {ref.size} "
            f"{unit} a sentence: not comparable"
        )
    if ref.classes is not None:  # the student's columns in the teacher's class order
        ordered = np.empty_like(outputs)
        ordered[:, ref.classes] = outputs
        outputs = ordered
    labels = ref.labels[:count] if ref.labels is not None else None
    return compare(ref.outputs[:count], outputs, ref.task, labels)


def _score_words(ref: Reference, outputs: np.ndarray, student: Path) -> Fidelity:
    """The artifact's logits a token as tags a word (its own tokenizer, at its own length)."""
    from edgedistil.teacher import read_config
    from edgedistil.verify import tags

    assert ref.word_tags is not None
    if outputs.ndim != 3:
        raise _Unmeasured(f"the artifact gives outputs of shape {list(outputs.shape)}, not tags")
    words = ref.texts[: len(outputs)]
    starts = tags.word_starts(tokenizer_of(student), words, outputs.shape[1])
    mine = tags.word_tags(outputs, starts, _class_names(read_config(student)))
    gold = ref.gold_tags[: len(mine)] if ref.gold_tags is not None else None
    # two tokenizers, two lengths: tags compare word by word, logits do not (NaN: not measured)
    return score_tags(ref.word_tags[: len(mine)], mine, gold, float("nan"))


def _source(f: Fidelity, what: str, teacher: str, eval_name: str) -> str:
    versus = f"the teacher ({_name(teacher)}, PyTorch, its own tokenizer)"
    where = f"on {f.sentences} sentences of {eval_name}"
    if f.metric == "cosine":
        return f"1 - mean cosine ({f.int8_score:.4f}) of {what} with {versus} {where}"
    if f.metric == "agreement":
        return f"1 - argmax agreement ({f.int8_score:.4f}) of {what} with {versus} {where}"
    if f.metric == "entity-agreement":
        return f"1 - entity F1 ({f.int8_score:.4f}) of {what} against {versus} {where}"
    if f.metric == "entity-f1":
        return (
            f"entity F1 of {what} ({f.int8_score:.4f}) below {versus} ({f.float_score:.4f}) "
            f"{where} with gold tags"
        )
    return (
        f"accuracy of {what} ({f.int8_score:.4f}) below {versus} ({f.float_score:.4f}) "
        f"{where} with labels"
    )


def _name(teacher: str) -> str:
    return "the default all-MiniLM-L6-v2" if teacher == "default" else teacher


# ---- the teacher ----


def teacher_reference(spec: str, student: Path, eval_path: Path, sentences: int) -> Reference:
    """The teacher's outputs on the first ``sentences`` of the eval text, or ``_Unmeasured``
    with the reason when the teacher cannot be had or compared with the student."""
    try:
        return _reference(spec, student, eval_path, sentences)
    except (TeacherError, ExportError) as exc:
        raise _Unmeasured(f'the teacher "{spec}" cannot be loaded: {exc}') from None


def _reference(spec: str, student: Path, eval_path: Path, sentences: int) -> Reference:
    from edgedistil.teacher import load_teacher_model, read_config, resolve_teacher, takes_pairs

    teacher = resolve_teacher(spec)
    mine = read_config(student)
    if is_token_classifier(mine):
        return _tag_reference(spec, teacher, mine, eval_path, sentences)
    examples = read_examples(eval_path, pairs=takes_pairs(student))
    texts = examples.inputs[:sentences]
    classes, labels = None, None
    if is_classifier(mine):
        classes = _classes(mine, teacher)
        if examples.labels is not None and examples.label_names is not None:
            index = _label_ids(examples.label_names, _class_names(teacher.config), eval_path)
            labels = [index[i] for i in examples.labels[:sentences]]
        size = len(classes)
    else:
        size = _embedding_size(student, mine)
        _check_embedding(teacher, size, student)
    outputs = _teacher_outputs(teacher, load_teacher_model(teacher), texts)
    return Reference(
        teacher=spec,
        task="classification" if classes is not None else "embedding",
        texts=texts,
        outputs=outputs,
        size=size,
        labels=labels,
        classes=classes,
    )


def _tag_reference(
    spec: str, teacher: Teacher, mine: dict[str, Any], eval_path: Path, sentences: int
) -> Reference:
    """A token classifier's reference: the teacher's tag of each word of the eval text."""
    from edgedistil.teacher import load_teacher_model

    ours, theirs = _class_names(mine), _class_names(teacher.config)
    if not is_token_classifier(teacher.config) or sorted(ours) != sorted(theirs):
        what = f"tags {theirs}" if is_token_classifier(teacher.config) else "no token classifier"
        raise _Unmeasured(
            f"the student tags words with {ours} and the teacher ({_name(teacher.name)}) is "
            f"{what}: compare it with the token classifier it was distilled from (--teacher)"
        )
    examples = read_examples(eval_path, words=True)
    words = examples.inputs[:sentences]
    gold = None
    if examples.tags is not None and examples.label_names is not None:
        gold = [[examples.label_names[t] for t in row] for row in examples.tags[:sentences]]
    return Reference(
        teacher=spec,
        task="token-classification",
        texts=words,
        outputs=np.zeros((0, 0), np.float32),  # compared by word, not by token
        size=len(theirs),
        labels=None,
        classes=None,
        word_tags=_teacher_word_tags(teacher, load_teacher_model(teacher), words),
        gold_tags=gold,
    )


def _teacher_word_tags(teacher: Teacher, model: Any, words: list[TextInput]) -> list[list[str]]:
    """The teacher's tag of each word: its tokenizer, its length, the first sub-token's class."""
    import torch

    from edgedistil.families import uses_token_types
    from edgedistil.verify import tags

    tokenizer = tokenizer_of(teacher.path)
    segments = uses_token_types(teacher.config, tokenizer)
    names, length, result = _class_names(teacher.config), _teacher_length(teacher), []
    with torch.inference_mode():
        for start in range(0, len(words), BATCH):
            chunk = words[start : start + BATCH]
            batch = tokenizer(
                chunk, is_split_into_words=True, padding=True, truncation=True,
                max_length=length, return_tensors="pt",
            )  # fmt: skip
            inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
            if segments:
                inputs["token_type_ids"] = batch["token_type_ids"]
            logits = model(**inputs).logits.float().numpy()
            result += tags.word_tags(logits, tags.starts_of(batch, len(chunk)), names)
    return result


def _embedding_size(path: Path, config: dict[str, Any]) -> int:
    """The sentence embedding's size: the Dense module's output when there is one."""
    from edgedistil.export.model import dense_outputs

    return dense_outputs(path) or size_of(config, "hidden")


def _check_embedding(teacher: Teacher, size: int, student: Path) -> None:
    from edgedistil.export.model import dense_outputs

    if is_classifier(teacher.config):
        raise _Unmeasured(
            f"the student is a sentence-embedding model and the teacher ({_name(teacher.name)}) "
            "a classifier: its logits are no embedding to compare with"
        )
    theirs = _embedding_size(teacher.path, teacher.config)
    if theirs == size:
        return
    mapped = (
        f"its Dense module (2_Dense) maps to {size}"
        if dense_outputs(student)
        else "a narrow student reaches its teacher's size through a Dense map (2_Dense), and "
        "this one has none"
    )
    raise _Unmeasured(
        f"the student's embedding has {size} dimensions and the teacher's ({_name(teacher.name)}) "
        f"{theirs}: no cosine between them ({mapped})"
    )


def _class_names(config: dict[str, Any]) -> list[str]:
    """A classifier's class names in id order (transformers' LABEL_i when it names none)."""
    names = config.get("id2label")
    if isinstance(names, dict) and names:
        return [str(names[k]) for k in sorted(names, key=int)]
    return [f"LABEL_{i}" for i in range(int(config.get("num_labels", 2)))]


def _classes(mine: dict[str, Any], teacher: Teacher) -> list[int]:
    """The teacher's class id of each of the student's classes, matched by name."""
    if not is_classifier(teacher.config):
        raise _Unmeasured(
            f"the student is a classifier and the teacher ({_name(teacher.name)}) a "
            "sentence-embedding model without a classification head: its embedding has no "
            "classes, so it neither scores the eval labels nor agrees with an argmax; compare "
            "the student with the classifier it was distilled from (--teacher)"
        )
    ours, theirs = _class_names(mine), _class_names(teacher.config)
    if sorted(ours) != sorted(theirs):
        raise _Unmeasured(f"the student's classes {ours} are not the teacher's {theirs}")
    return [theirs.index(name) for name in ours]


def _label_ids(names: list[str], theirs: list[str], eval_path: Path) -> list[int]:
    """The teacher's class id of each eval label (by the label's number in ``names``)."""
    if set(names) <= set(theirs):
        return [theirs.index(name) for name in names]
    if len(names) == len(theirs) and theirs == [f"LABEL_{i}" for i in range(len(theirs))]:
        return list(range(len(names)))  # a teacher that names no classes: by position
    raise _Unmeasured(
        f"the labels of {eval_path.name} ({', '.join(names)}) are not the teacher's classes "
        f"({', '.join(theirs)}): the teacher cannot score them"
    )


def _teacher_outputs(teacher: Teacher, model: Any, texts: list[TextInput]) -> np.ndarray:
    """The teacher's logits or sentence embeddings, in batches, as sentence-transformers or
    transformers would give them: its tokenizer, its length, its pooling, Dense and Normalize."""
    import torch

    from edgedistil.export.model import read_head, wrap
    from edgedistil.families import uses_token_types

    tokenizer = tokenizer_of(teacher.path)
    segments = uses_token_types(teacher.config, tokenizer)
    graph = wrap(model, read_head(model, teacher.path), segments)
    length = _teacher_length(teacher)
    rows = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH):
            batch = tokenizer(
                texts[start : start + BATCH],
                padding=True,
                truncation=True,
                max_length=length,
                return_tensors="pt",
            )
            inputs = [batch["input_ids"], batch["attention_mask"]]
            if segments:
                inputs.append(batch["token_type_ids"])
            rows.append(graph(*inputs).float().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)


def _teacher_length(teacher: Teacher) -> int:
    """The teacher's own limit: sentence-transformers' max_seq_length when it sets one (256 for
    the default teacher), else its position table's, at most BERT's usual 512."""
    from edgedistil.export.model import position_offset

    rows = int(teacher.config.get("max_position_embeddings", 512))
    rows -= position_offset(teacher.config)
    settings = teacher.path / "sentence_bert_config.json"
    if settings.is_file():
        try:
            limit = int(json.loads(settings.read_text(encoding="utf-8"))["max_seq_length"])
        except (ValueError, KeyError, TypeError):
            limit = rows
        return min(limit, rows)
    return min(rows, 512)
