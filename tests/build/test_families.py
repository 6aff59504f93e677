"""``edgedistil build`` from a teacher of each family beside BERT (DistilBERT, RoBERTa, XLM-R)
and each single-text task, for one ONNX, one LiteRT and one TFLite Micro profile: every release
passes its gate, and its fidelity to PyTorch and to the teacher is measured, not only run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from tests.build._device import (
    MIN_AGREEMENT,
    TINY_LOGITS_DROP,
    agreement,
    build_for,
    build_onnx,
    release,
    tflite_record,
)
from tests.distill.test_pairs import write_pairs
from tests.distill.test_tokens import TAGS, write_tagged
from tests.tiny_families import save_tiny_family

WORDS = "the movie was good bad phone battery fast slow timer set for minutes light off on"
LABELS = ("neg", "pos", "mid")
OTHERS = ("distilbert", "roberta", "xlm-roberta")  # BERT's builds are tests/build/test_build.py
TASKS = {
    "embedding": "Model",
    "classification": "ForSequenceClassification",
    "pairs": "ForSequenceClassification",  # a classifier of text pairs (NLI)
    "tokens": "ForTokenClassification",  # a tag a word (NER)
}


def _data(path: Path, task: str) -> Path:
    """400 lines of the tiny tokenizers' words (plain text); labelled (TSV) for a classifier."""
    rng = np.random.default_rng(7)
    rows = [" ".join(rng.choice(WORDS.split(), size=rng.integers(2, 10))) for _ in range(400)]
    if task == "classification":
        rows = ["text\tlabel"] + [f"{r}\t{LABELS[i % 3]}" for i, r in enumerate(rows)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _task_data(root: Path, task: str) -> Path:
    if task == "pairs":
        return write_pairs(root / "nli.tsv", n=300)
    if task == "tokens":
        return write_tagged(root / "ner.jsonl", n=300)
    return _data(root / ("data.tsv" if task == "classification" else "data.txt"), task)


def _head(task: str) -> dict[str, Any]:
    """The teacher's head: 3 classes or the tags. A classifier's weights drawn with
    initializer_range 0.5: at BERT's 0.02 every input gets the same class (every word the same
    tag), where any two graphs agree and a fidelity check could not fail."""
    if task == "embedding":
        return {}
    if task == "tokens":
        labels = {"id2label": dict(enumerate(TAGS)), "label2id": {t: i for i, t in enumerate(TAGS)}}
        return {"num_labels": len(TAGS), **labels, "initializer_range": 0.5}
    return {"num_labels": 3, "initializer_range": 0.5}


def _limit(task: str) -> float:
    """The accuracy budget a tiny teacher's build is held to: the targets' 0.02 for cosine."""
    return 0.02 if task == "embedding" else TINY_LOGITS_DROP


@pytest.fixture(scope="module", params=[(f, t) for f in OTHERS for t in TASKS], ids=str)
def onnx_build(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(family, task, folder, data) of a build for an ONNX-only profile; its student is reused."""
    family, task = request.param
    root = tmp_path_factory.mktemp(f"{family}-{task}")
    teacher = save_tiny_family(root / "teacher", family, TASKS[task], **_head(task))
    data = _task_data(root, task)
    budget = f"[budgets]\nmax_accuracy_drop = {_limit(task)}\n"
    return family, task, build_onnx(teacher, data, root / "onnx", budget), data


def _check_release(folder: Path, task: str, source: str, limit: float) -> dict[str, Any]:
    """The release passes its fidelity budget, measured as ``source`` says, and its teacher's."""
    name, entry, checks = release(folder)
    accuracy = checks["max_accuracy_drop"]
    assert accuracy["status"] == "pass" and accuracy["measured"] <= limit, accuracy
    assert source in accuracy["source"], accuracy["source"]
    agreed = agreement(folder)
    assert (agreed is None) == (task == "embedding")
    assert agreed is None or agreed >= MIN_AGREEMENT, agreed
    teacher = entry["vs_teacher"]
    metrics = {"embedding": "cosine", "tokens": "entity-f1"}
    assert teacher["metric"] == metrics.get(task, "accuracy")
    assert checks["max_drop_vs_teacher"]["status"] == "pass"
    return {"name": name, "accuracy": accuracy["measured"], "vs_teacher": teacher}


@pytest.mark.slow
def test_an_onnx_build_keeps_the_family_and_passes(onnx_build: Any) -> None:
    family, task, out, _ = onnx_build
    config = json.loads((out / "student" / "config.json").read_text())
    assert config["model_type"] == family
    _check_release(out, task, "int8 vs the float student", _limit(task))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "runtime"), [("wear-os-watch", "litert"), ("esp32-s3", "tflite-micro")]
)
def test_a_litert_and_a_micro_build_pass_for_each_family(
    onnx_build: Any, target: str, runtime: str, tmp_path: Path
) -> None:
    family, task, out, data = onnx_build
    folder = build_for(target, out / "student", data, tmp_path / "b", _limit(task))
    found = _check_release(folder, task, f"in {runtime} vs PyTorch", _limit(task))
    assert found["name"].startswith("tflite")
    if runtime == "litert":
        _check_metadata(folder, family, task)
    else:
        _check_c_tokenizer(folder, family)


def _check_c_tokenizer(folder: Path, family: str) -> None:
    """A WordPiece student's C tokenizer ships checked on the eval text; a BPE or unigram one's
    build says why it has none."""
    _, entry, _ = release(folder)
    (note,) = entry["notes"]
    assert note in (folder / "gate.md").read_text()
    if family == "distilbert":
        assert (folder / "tflite-micro" / "tokenizer.c").is_file()
        plain = re.search(r"identical to the student's tokenizer on ([1-9][\d,]*) of \1 eval", note)
        assert plain or "not compared (the eval text holds text pairs or word lists" in note
    else:
        assert note.startswith("No C tokenizer")


def _check_metadata(folder: Path, family: str, task: str) -> None:
    """MediaPipe metadata where MediaPipe's text tasks can take the file (WordPiece, one text,
    a class or an embedding), counted in the model size and shown in the gate; else why not."""
    _, entry, checks = release(folder)
    (note,) = entry["notes"]
    assert note in (folder / "gate.md").read_text()
    mediapipe = tflite_record(folder)["mediapipe"]
    if family == "distilbert" and task in ("embedding", "classification"):
        assert mediapipe["written"] and note.startswith("MediaPipe metadata")
        assert entry["metadata_bytes"] == mediapipe["bytes"] > 0
        assert "MediaPipe metadata" in checks["max_model_bytes"]["source"]
    else:
        assert not mediapipe["written"] and note.startswith("No MediaPipe metadata")


@pytest.mark.slow
@pytest.mark.parametrize("family", OTHERS)
def test_a_narrow_student_of_each_family_reaches_a_microcontroller(
    family: str, tmp_path: Path
) -> None:
    """``--hidden`` narrows by the family's layout; the TFLite Micro graph carries its Dense."""
    teacher = save_tiny_family(tmp_path / "teacher", family)
    data = _data(tmp_path / "data.txt", "embedding")
    student = tmp_path / "student"
    distilled = CliRunner().invoke(cli, ["distill", "--teacher", str(teacher), "--data", str(data),
                                         "--layers", "1", "--hidden", "16", "--epochs", "1",
                                         "--out", str(student)])  # fmt: skip
    assert distilled.exit_code == 0, distilled.output + distilled.stderr
    assert json.loads((student / "config.json").read_text())["model_type"] == family
    build_for("esp32-s3", student, data, tmp_path / "b")
    _check_release(tmp_path / "b", "embedding", "in tflite-micro vs PyTorch", 0.02)
