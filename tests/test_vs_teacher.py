"""Each release artifact against the teacher, end to end (``edgedistil.vs_teacher``), and the
budget that gates it (``[budgets].max_drop_vs_teacher``).

Builds reuse a student (``--student``) rather than distil one, so each takes seconds: the tiny
teacher itself, a random BERT of another seed (unlike it), or a copy whose record names a teacher
that is gone. The LiteRT and TFLite Micro artifacts are checked in tests/build/test_build.py,
whose builds make them."""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from edgedistil import vs_teacher
from edgedistil.bench.machine import architecture_of
from edgedistil.cli import cli
from edgedistil.data import SAMPLE_TEXT
from tests.conftest import TINY, WORDS, save_tiny, write_vocab

BUDGET = 0.25
PROFILE = f"""extends = "raspberry-pi-4"
name = "pi4-onnx"
description = "the Raspberry Pi 4 profile, ONNX only, on this host's architecture"
[device]
architecture = "{architecture_of(platform.machine())}"
[export]
runtimes = ["onnxruntime"]
formats = ["onnx"]
[budgets]
max_drop_vs_teacher = {BUDGET}
"""
RELEASE = "onnx/model.int8.onnx"


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profile") / "pi4.toml"
    path.write_text(PROFILE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def unlike(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT of another seed: the tiny teacher's shape and vocabulary, none of its
    weights (its mean-pooled embeddings point elsewhere: cosine about -0.2 to the teacher's)."""
    import torch
    import transformers

    folder = tmp_path_factory.mktemp("unlike")
    torch.manual_seed(1)
    model = transformers.BertModel(transformers.BertConfig(**TINY))
    model.save_pretrained(str(folder), safe_serialization=True)
    write_vocab(folder, TINY["vocab_size"])
    return folder


def _build(*args: str | Path) -> Result:
    return CliRunner().invoke(
        cli, ["build", "--skip-bench", "--augment", "0", *map(str, args)], catch_exceptions=False
    )


def _check(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["check", *map(str, args)], catch_exceptions=False)


def _release(folder: Path) -> dict[str, Any]:
    artifacts = json.loads((folder / "manifest.json").read_text())["artifacts"]
    return artifacts[RELEASE]  # type: ignore[no-any-return]


def _teacher_check(folder: Path) -> dict[str, Any]:
    checks = json.loads((folder / "gate.json").read_text())["artifacts"][0]["checks"]
    (check,) = [c for c in checks if c["budget"] == "max_drop_vs_teacher"]
    return check  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_teacher_as_its_own_student_drops_nothing(
    tiny_bert: Path, profile: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _build("--target", profile, "--student", tiny_bert, "--teacher", tiny_bert,
                    "--out", out, "--allow-unmeasured")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert any(line.startswith("✓ vs-teacher: ") for line in result.output.splitlines())
    release = _release(out)
    eval_lines = json.loads((out / "manifest.json").read_text())["split"]["eval"]["lines"]
    scores = release["vs_teacher"]
    assert scores["metric"] == "cosine" and scores["sentences"] == eval_lines
    assert scores["runtime"] == "ONNX Runtime" and scores["teacher"] == str(tiny_bert)
    assert 0 <= release["drop_vs_teacher"] < 0.01  # int8 weights, and nothing else, between them
    assert "its own tokenizer" in release["drop_vs_teacher_source"]
    check = _teacher_check(out)
    assert check["status"] == "pass" and check["measured"] == release["drop_vs_teacher"]
    assert check["limit"] == BUDGET and check["label"] == "drop vs teacher"
    for name in ("gate.md", "report.html"):
        assert "drop vs teacher" in (out / name).read_text(), name
    assert 'name="max_drop_vs_teacher"' in (out / "gate.junit.xml").read_text()


@pytest.mark.slow
def test_a_student_unlike_its_teacher_fails_the_budget(
    tiny_bert: Path, unlike: Path, profile: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _build("--target", profile, "--student", unlike, "--teacher", tiny_bert,
                    "--out", out, "--allow-unmeasured")  # fmt: skip
    assert result.exit_code == 3, result.output
    check = _teacher_check(out)
    assert check["status"] == "fail" and check["measured"] > BUDGET
    # ... while the int8 file is as faithful to its own float student as ever
    checks = json.loads((out / "gate.json").read_text())["artifacts"][0]["checks"]
    assert {c["budget"]: c["status"] for c in checks}["max_accuracy_drop"] == "pass"


@pytest.mark.slow
def test_a_student_whose_teacher_is_gone_is_built_with_the_figure_unmeasured(
    tiny_bert: Path, profile: Path, tmp_path: Path
) -> None:
    teacher = Path(shutil.copytree(tiny_bert, tmp_path / "teacher"))
    student = Path(shutil.copytree(tiny_bert, tmp_path / "student"))
    # What distill records: the teacher as it was named; --student without --teacher reads it.
    (student / "edgedistil.json").write_text(json.dumps({"teacher": str(teacher)}))
    shutil.rmtree(teacher)
    out = tmp_path / "out"
    closed = _build("--target", profile, "--student", student, "--out", out)
    assert closed.exit_code == 3, closed.output
    assert "Traceback" not in closed.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["teacher"] == str(teacher)
    reason = _release(out)["drop_vs_teacher_unmeasured"]
    assert f'the teacher "{teacher}" cannot be loaded' in reason and "does not exist" in reason
    assert "drop_vs_teacher" not in _release(out)
    check = _teacher_check(out)
    assert check["status"] == "unmeasured" and check["measured"] is None
    assert check["unmeasured_reason"] == reason
    assert "does not exist" in (out / "gate.md").read_text()
    allowed = _check(out, "--target", profile, "--allow-unmeasured")
    assert allowed.exit_code == 0, allowed.output
    assert _teacher_check(out)["status"] == "skipped"
    # The teacher back where the record says: the next build measures, and the reason goes.
    shutil.copytree(tiny_bert, teacher)
    again = _build("--target", profile, "--student", student, "--out", out, "--allow-unmeasured")
    assert again.exit_code == 0, again.output
    assert "= onnx-verify: inputs unchanged" in again.output.splitlines()
    assert "drop_vs_teacher_unmeasured" not in _release(out)
    assert _teacher_check(out)["status"] == "pass"


def _labelled(path: Path, labels: tuple[str, ...], rows: int = 120) -> Path:
    lines = ["sentence\tlabel"]
    for i in range(rows):
        words = [WORDS[(i * 7 + k * 3) % 19] for k in range(3 + i % 5)]
        lines.append(f"{' '.join(words)} {i}\t{labels[i % len(labels)]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_classifier_is_scored_on_labels_against_its_classifier_teacher(
    tiny_classifier: Path, profile: Path, tmp_path: Path
) -> None:
    data = _labelled(tmp_path / "data.tsv", ("LABEL_0", "LABEL_1", "LABEL_2"))
    out = tmp_path / "out"
    result = _build("--target", profile, "--student", tiny_classifier,
                    "--teacher", tiny_classifier, "--data", data, "--out", out,
                    "--allow-unmeasured")  # fmt: skip
    assert result.exit_code == 0, result.output
    release = _release(out)
    assert release["vs_teacher"]["metric"] == "accuracy"
    # The same classifier on both sides: int8 weights may move a near tie, little more.
    assert abs(release["drop_vs_teacher"]) <= 0.05
    assert "with labels" in release["drop_vs_teacher_source"]


# ---- what cannot be compared: the reason, before any artifact runs ----


def _measure(student: Path, teacher: Path | str, eval_path: Path = SAMPLE_TEXT) -> str:
    fields = vs_teacher.measure(
        releases={RELEASE: {"format": "onnx"}},
        root=Path("/nonexistent"),  # never read: the teacher's side decides first
        student=student,
        teacher=str(teacher),
        eval_path=eval_path,
    )
    assert set(fields[RELEASE]) == {"drop_vs_teacher_unmeasured"}
    return str(fields[RELEASE]["drop_vs_teacher_unmeasured"])


def test_labels_the_teacher_cannot_score_leave_the_figure_unmeasured(
    tiny_classifier: Path, tmp_path: Path
) -> None:
    eval_path = _labelled(tmp_path / "eval.tsv", ("neg", "pos"), rows=10)
    reason = _measure(tiny_classifier, tiny_classifier, eval_path)
    assert "the labels of eval.tsv (neg, pos) are not the teacher's classes" in reason
    assert "LABEL_0, LABEL_1, LABEL_2" in reason and "cannot score them" in reason


def test_a_classifier_against_a_sentence_embedding_teacher_is_not_compared(
    tiny_classifier: Path, tiny_bert: Path
) -> None:
    reason = _measure(tiny_classifier, tiny_bert)
    assert "sentence-embedding model without a classification head" in reason
    assert "the classifier it was distilled from (--teacher)" in reason


def test_an_embedding_of_another_size_is_not_compared(tiny_bert: Path, tmp_path: Path) -> None:
    narrow = save_tiny(tmp_path / "narrow", hidden_size=16, intermediate_size=19)
    reason = _measure(narrow, tiny_bert)
    assert "the student's embedding has 16 dimensions and the teacher's" in reason
    assert "32: no cosine between them" in reason and "this one has none" in reason


def test_a_teacher_that_does_not_exist_is_named_with_the_reason(tiny_bert: Path) -> None:
    reason = _measure(tiny_bert, "/nonexistent/teacher")
    assert 'the teacher "/nonexistent/teacher" cannot be loaded' in reason


def test_a_new_figure_replaces_every_field_of_an_old_one() -> None:
    artifacts: dict[str, dict[str, Any]] = {
        RELEASE: {
            "sha256": "x",
            "drop_vs_teacher": 0.1,
            "drop_vs_teacher_source": "s",
            "vs_teacher": {},
        },  # fmt: skip
        "onnx/model.onnx": {"sha256": "y"},
    }
    vs_teacher.record_on(artifacts, {RELEASE: {"drop_vs_teacher_unmeasured": "gone"}})
    assert artifacts[RELEASE] == {"sha256": "x", "drop_vs_teacher_unmeasured": "gone"}
    assert artifacts["onnx/model.onnx"] == {"sha256": "y"}
