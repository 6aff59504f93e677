"""A student folder whose tokenizer is missing or cannot serve its model is refused before export
(issue 16): transformers would otherwise build a 5-token tokenizer and compare all-[UNK] ids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from tests.conftest import error_line


def _export(runner: CliRunner, student: Path, out: Path) -> object:
    return runner.invoke(
        cli, ["export", str(student), "--target", "android-phone", "--out", str(out)]
    )


def test_a_folder_without_tokenizer_files_is_not_exported(
    tiny_bert: Path, tmp_path: Path, runner: CliRunner
) -> None:
    student = shutil.copytree(tiny_bert, tmp_path / "student")
    (student / "vocab.txt").unlink()
    out = tmp_path / "out"
    result = runner.invoke(
        cli, ["export", str(student), "--target", "android-phone", "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert str(student) in line and "tokenizer" in line
    assert not out.exists() or not any(out.iterdir())


def test_a_tokenizer_larger_than_the_embedding_table_is_not_exported(
    tiny_bert: Path, tmp_path: Path, runner: CliRunner
) -> None:
    student = shutil.copytree(tiny_bert, tmp_path / "student")
    with (student / "vocab.txt").open("a", encoding="utf-8") as fh:
        fh.write("".join(f"extra{i}\n" for i in range(10)))  # ids 99..108: beyond 99 rows
    out = tmp_path / "out"
    result = runner.invoke(
        cli, ["export", str(student), "--target", "android-phone", "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert "109" in line and "vocab_size" in line and "99" in line
    assert not out.exists() or not any(out.iterdir())


# ---- issue 17: tokenizers of every kind travel with the student into every artifact folder ----

UNSEEN = ["battery watch fast", "phones timers settings", "the light was on"]


def _teacher(family: str, form: str, directory: Path) -> Path:
    """A tiny teacher of ``family`` whose tokenizer is saved as ``form``: transformers' own
    files (tokenizer.json), or, for RoBERTa, only the vocab.json + merges.txt many checkpoints
    carry."""
    from tests.tiny_families import save_tiny_family

    teacher = save_tiny_family(directory, family)
    if form == "vocab+merges":
        from transformers import AutoTokenizer

        backend = AutoTokenizer.from_pretrained(str(teacher)).backend_tokenizer
        backend.model.save(str(teacher))  # vocab.json and merges.txt
        (teacher / "tokenizer.json").unlink()
        config = json.loads((teacher / "tokenizer_config.json").read_text())
        config["tokenizer_class"] = "RobertaTokenizer"
        (teacher / "tokenizer_config.json").write_text(json.dumps(config))
        assert {"vocab.json", "merges.txt"} <= {p.name for p in teacher.iterdir()}
    return teacher


def _export_short(runner: CliRunner, student: Path, out: Path, text: Path) -> Any:
    args = ["export", str(student), "--target", "android-phone", "--out", str(out)]
    return runner.invoke(cli, [*args, "--sequence-length", "16", "--parity-text", str(text)])


def _tokens(folder: Path, texts: list[str]) -> list[list[str]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return [tokenizer.convert_ids_to_tokens(tokenizer(t)["input_ids"]) for t in texts]


def _ids(folder: Path, texts: list[str]) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return [tokenizer(t)["input_ids"] for t in texts]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "form", "prune"),
    [
        ("roberta", "tokenizer.json", True),
        ("roberta", "vocab+merges", False),
        ("xlm-roberta", "tokenizer.json", True),
        ("xlm-roberta", "tokenizer.json", False),
    ],
)
def test_the_tokenizer_reaches_the_student_and_the_onnx_folder(
    tmp_path: Path, runner: CliRunner, family: str, form: str, prune: bool
) -> None:
    from tests.conftest import write_word_lines

    teacher = _teacher(family, form, tmp_path / "teacher")
    data = write_word_lines(tmp_path / "data.txt", 24, seed=3)
    texts = data.read_text().splitlines()
    student = tmp_path / "student"
    args = ["distill", "--teacher", str(teacher), "--data", str(data), "--out", str(student)]
    args += ["--layers", "1", "--epochs", "1", "--batch-size", "8", "--seq-len", "16"]
    done = runner.invoke(cli, args + (["--prune-vocab"] if prune else []))
    assert done.exit_code == 0, done.output
    out = tmp_path / "onnx"
    done = _export_short(runner, student, out, data)
    assert done.exit_code == 0, done.output
    for name in ("tokenizer.json", "tokenizer_config.json"):  # copies of the student's own
        assert (out / name).read_bytes() == (student / name).read_bytes()
    teacher_tokens = _tokens(teacher, texts + UNSEEN)
    for folder in (student, out):
        # the same tokens as the teacher's on the text (pruned: the same, renumbered) ...
        assert _tokens(folder, texts) == teacher_tokens[: len(texts)], folder
        if not prune:  # ... and the same ids on any text
            assert _ids(folder, texts + UNSEEN) == _ids(teacher, texts + UNSEEN)
    if prune:  # fewer rows, and the unseen text still read without <unk>
        sizes = [json.loads((d / "config.json").read_text())["vocab_size"] for d in (teacher, out)]
        assert sizes[1] < sizes[0]
        assert not any("<unk>" in tokens for tokens in _tokens(out, UNSEEN))


def test_a_student_with_bpe_files_only_exports_them(tmp_path: Path, runner: CliRunner) -> None:
    """A student from elsewhere whose tokenizer is vocab.json + merges.txt, no tokenizer.json:
    the ONNX folder carries those files, and they read text as the student's do."""
    from tests.conftest import write_word_lines

    student = _teacher("roberta", "vocab+merges", tmp_path / "student")
    data = write_word_lines(tmp_path / "data.txt", 8, seed=4)
    out = tmp_path / "onnx"
    done = _export_short(runner, student, out, data)
    assert done.exit_code == 0, done.output
    assert {"vocab.json", "merges.txt", "tokenizer_config.json"} <= {p.name for p in out.iterdir()}
    texts = data.read_text().splitlines() + UNSEEN
    assert _ids(out, texts) == _ids(student, texts)
