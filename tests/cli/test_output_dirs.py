"""Every folder a command writes into (``--out``, ``--report-dir``): a file where the folder or
one of its parents must be is one ``Error:`` line and exit 1, before the command does anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from tests.conftest import error_line

# command -> its arguments around the output folder option (OUT: the folder under test)
COMMANDS = {
    "build": ["build", "--target", "raspberry-pi-4", "--out", "OUT"],
    "check": ["check", "FOLDER", "--target", "raspberry-pi-4", "--report-dir", "OUT"],
    "distill": ["distill", "--teacher", "default", "--out", "OUT"],
    "finetune": ["finetune", "--teacher", "default", "--data", "DATA", "--out", "OUT"],
    "export": ["export", "FOLDER", "--out", "OUT"],
    "convert": ["convert", "FOLDER", "--out", "OUT"],
}


def _run(runner: CliRunner, tmp_path: Path, command: str, out: Path) -> str:
    names = {"OUT": str(out), "FOLDER": str(tmp_path / "folder"), "DATA": str(tmp_path / "d")}
    args = [names.get(a, a) for a in COMMANDS[command]]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1, result.output
    return error_line(result)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_folder_below_a_file_is_one_error_line(
    runner: CliRunner, tmp_path: Path, command: str
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder\n", encoding="utf-8")
    line = _run(runner, tmp_path, command, notes / "sub" / "deeper")
    assert f"{notes / 'sub' / 'deeper'}: is below {notes}, which is a file" in line
    assert notes.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_folder_that_is_a_file_is_one_error_line(
    runner: CliRunner, tmp_path: Path, command: str
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder\n", encoding="utf-8")
    line = _run(runner, tmp_path, command, notes)
    assert f"{notes}: is a file; give a folder" in line
    assert notes.read_text(encoding="utf-8") == "not a folder\n"
