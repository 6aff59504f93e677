"""The student against its teacher at the end of ``distill`` (``distill.versus``) and the
embedding probes it uses (``distill.probe``): a student that IS its teacher (all its layers,
a learning rate below float32's resolution) scores exactly as the teacher does; probes reach
~1.0 on separable embeddings and ~chance on random labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from edgedistil.distill import probe, versus
from edgedistil.distill.job import Job, distill
from edgedistil.distill.train import Settings
from tests.conftest import save_tiny
from tests.distill.test_job import _labelled, _plain
from tests.distill.test_tokens import save_tagger, write_tagged

# An update of lr x (Adam's ~1) below float32's resolution leaves every weight as it was: the
# student trained for an epoch is still the teacher's copy, to the bit.
FROZEN = 1e-30


def _settings(**kw: Any) -> Settings:
    return Settings(task="", epochs=1, batch_size=8, seq_len=16, patience=None, **kw)


def _clusters(n: int, seed: int, gap: float) -> tuple[torch.Tensor, list[int]]:
    g = torch.Generator().manual_seed(seed)
    labels = [i % 3 for i in range(n)]
    centres = torch.randn(3, 16, generator=g) * gap
    return torch.randn(n, 16, generator=g) + centres[labels], labels


def test_probes_find_separable_classes_and_only_chance_in_random_labels() -> None:
    x, labels = _clusters(150, 0, gap=4.0)
    assert probe.neighbour_accuracy(x, labels) > 0.97
    assert probe.probe_accuracy(x, labels, seed=42) > 0.97
    shuffled = torch.randint(0, 3, (150,), generator=torch.Generator().manual_seed(1)).tolist()
    assert 0.15 < probe.neighbour_accuracy(x, shuffled) < 0.5  # chance is 1/3
    assert 0.15 < probe.probe_accuracy(x, shuffled, seed=42) < 0.5
    # deterministic: the same rows give the same figure, whatever their scale
    assert probe.probe_accuracy(x, labels, 42) == probe.probe_accuracy(x * 10, labels, 42)


def test_the_neighbour_is_never_the_row_itself() -> None:
    x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    assert probe.neighbour_accuracy(x, [0, 0, 1, 1]) == 1.0
    assert probe.neighbour_accuracy(x, [0, 1, 0, 1]) == 0.0  # its own label would give 1.0


def test_too_few_labelled_rows_leave_the_probe_out_with_the_reason() -> None:
    assert probe.probe_left_out([0, 1] * 10) is None
    assert "19 labelled eval rows, fewer than the 20" in str(probe.probe_left_out([0, 1] * 9 + [0]))
    assert "one class only" in str(probe.probe_left_out([0] * 30))
    assert "1 class(es) with fewer than 2" in str(probe.probe_left_out([0, 1] * 15 + [2]))
    assert probe.neighbour_left_out([0, 1]) is None
    assert "one class only" in str(probe.neighbour_left_out([4, 4, 4]))


def test_the_line_says_what_was_left_out() -> None:
    record = {
        "eval_source": versus.HELD_OUT,
        "eval_examples": 7,
        "task": "embedding",
        "cosine": 0.91234,
        "nearest_neighbour": {"left_out": versus.NO_LABELS},
        "linear_probe": {"teacher_accuracy": 0.8, "student_accuracy": 0.6, "retention": 0.75},
    }
    assert versus.describe(record) == (
        "Against the teacher on 7 eval examples (held-out share of the data): cosine 0.9123; "
        "1-NN accuracy left out (the eval text has no labels); "
        "linear probe accuracy 0.6000 (teacher 0.8000, retention 75.00%)"
    )


def _saved(out: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((out / "edgedistil.json").read_text())["vs_teacher"]
    return record


@pytest.mark.slow
def test_a_classifier_that_is_its_teacher_agrees_with_it_on_every_row(tmp_path: Path) -> None:
    teacher = save_tiny(tmp_path / "t", "BertForSequenceClassification", num_labels=2)
    out = tmp_path / "s"
    outcome = distill(
        Job(
            teacher=str(teacher),
            data=_labelled(tmp_path / "train.tsv", 60),
            out=out,
            settings=_settings(),
            layers=2,  # all the teacher's
            lr=FROZEN,
        )
    )
    record = outcome.vs_teacher
    assert record is not None and record == _saved(out)
    assert record["eval_source"] == "held-out share of the data"
    assert record["eval_examples"] == outcome.eval_examples == 6  # 10% of 60
    assert record["agreement"] == 1.0 and record["retention"] in (1.0, None)
    assert record["student_accuracy"] == record["teacher_accuracy"]
    # the last epoch's accuracy on the same rows is the student's figure here
    assert record["student_accuracy"] == pytest.approx(outcome.state.history[-1]["accuracy"])


@pytest.mark.slow
def test_an_embedding_student_on_labelled_eval_text_gets_both_probes(tmp_path: Path) -> None:
    teacher = save_tiny(tmp_path / "t")
    out = tmp_path / "s"
    outcome = distill(
        Job(
            teacher=str(teacher),
            data=_plain(tmp_path / "train.txt"),
            eval_path=_labelled(tmp_path / "eval.tsv", 40),
            out=out,
            settings=_settings(),
            layers=2,
            lr=FROZEN,
            task="embedding",
        )
    )
    record = outcome.vs_teacher
    assert record is not None and record == _saved(out)
    assert record["eval_source"] == "eval file" and record["eval_examples"] == 40
    assert record["cosine"] == pytest.approx(1.0, abs=1e-5)
    for key in ("nearest_neighbour", "linear_probe"):
        scores = record[key]
        assert scores["student_accuracy"] == scores["teacher_accuracy"], key
        assert 0 < scores["teacher_accuracy"] <= 1 and scores["retention"] == 1.0


@pytest.mark.slow
def test_an_unlabelled_embedding_eval_gives_the_cosine_and_no_probe(tmp_path: Path) -> None:
    teacher = save_tiny(tmp_path / "t")
    outcome = distill(
        Job(
            teacher=str(teacher),
            data=_plain(tmp_path / "train.txt", 60),
            out=tmp_path / "s",
            settings=_settings(),
            layers=1,  # a real student: half the teacher
        )
    )
    record = outcome.vs_teacher
    assert record is not None and record["eval_source"] == "held-out share of the data"
    assert -1 <= record["cosine"] < 1  # one layer of two is not the teacher
    assert record["cosine"] == pytest.approx(outcome.state.history[-1]["cosine"], abs=1e-5)
    assert record["nearest_neighbour"] == {"left_out": "the eval text has no labels"}
    assert record["linear_probe"] == {"left_out": "the eval text has no labels"}


@pytest.mark.slow
def test_a_tagger_that_is_its_teacher_finds_its_entities(tmp_path: Path) -> None:
    teacher = save_tagger(tmp_path / "t")
    out = tmp_path / "s"
    outcome = distill(
        Job(
            teacher=str(teacher),
            data=write_tagged(tmp_path / "train.jsonl", 40),
            eval_path=write_tagged(tmp_path / "eval.jsonl", 12),
            out=out,
            settings=_settings(),
            layers=2,
            lr=FROZEN,
        )
    )
    record = outcome.vs_teacher
    assert record is not None and record == _saved(out)
    assert record["task"] == "token-classification" and record["eval_examples"] == 12
    assert record["entity_f1_vs_teacher"] == 1.0
    assert record["student_entity_f1"] == record["teacher_entity_f1"]
    assert 0 <= record["teacher_entity_f1"] <= 1
