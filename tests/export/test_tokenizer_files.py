"""A student folder whose tokenizer is missing or cannot serve its model is refused before export
(issue 16): transformers would otherwise build a 5-token tokenizer and compare all-[UNK] ids."""

from __future__ import annotations

import shutil
from pathlib import Path

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
