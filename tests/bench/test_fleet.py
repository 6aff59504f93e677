"""Fleets: boards from --board, a fleet file or the environment, run at once, failing alone."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgedistil.bench.base import Board
from edgedistil.bench.fleet import read_fleet, resolve_boards, run_all
from edgedistil.cli import cli
from edgedistil.errors import BenchError
from tests.conftest import SshServer, error_line


def test_boards_run_in_parallel_and_fail_alone() -> None:
    boards = [Board(label=name, runner="ssh", address=name) for name in ("a", "b", "c")]
    meeting = threading.Barrier(3, timeout=30)  # only reached if all three run at once

    def run(board: Board) -> dict[str, Any]:
        meeting.wait()
        if board.label == "b":
            raise BenchError("Board b: unplugged")
        return {"ok": True, "board": board.label}

    outcomes = run_all(boards, run)
    assert [o.board.label for o in outcomes] == ["a", "b", "c"]
    assert [o.error for o in outcomes] == [None, "Board b: unplugged", None]
    assert outcomes[2].result == {"ok": True, "board": "c"}


def test_a_toml_fleet(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(
        '[[boards]]\naddress = "pi@10.0.0.7"\nname = "kitchen"\n'
        'python = "/opt/venv/bin/python3"\n\n'
        '[[boards]]\naddress = "R58M123"\nrunner = "adb"\n'
    )
    kitchen, watch = read_fleet(path, "ssh")
    assert (kitchen.label, kitchen.runner, kitchen.python) == (
        "kitchen",
        "ssh",
        "/opt/venv/bin/python3",
    )
    assert (watch.label, watch.runner, watch.address) == ("adb-R58M123", "adb", "R58M123")


def test_a_plain_fleet(tmp_path: Path) -> None:
    path = tmp_path / "boards.txt"
    path.write_text("# the lab\npi@10.0.0.7\n\npi@10.0.0.8:2222  # the new one\n")
    assert [b.address for b in read_fleet(path, "ssh")] == ["pi@10.0.0.7", "pi@10.0.0.8:2222"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[boards]]\naddress = "a"\nhost = "b"\n', "board 1: unknown key host"),
        ('[[boards]]\nname = "x"\n', "board 1: address is missing"),
        ('[[boards]]\naddress = "a"\n[[boards]]\naddress = "a"\n', "Board names repeat: a"),
        ("boards = 3\n", "expected [[boards]] tables"),
        ("[[boards]\n", "not valid TOML"),
        # tomllib's own limits end in ValueError / RecursionError, not TOMLDecodeError
        ('[[boards]]\naddress = "a"\nport = ' + "9" * 5000 + "\n", "not valid TOML"),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "not valid TOML: nested too deeply"),
    ],
)
def test_a_bad_fleet_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(BenchError, match=expected.replace("[", r"\[")):
        resolve_boards(runner="ssh", addresses=(), fleet=path, host_env=None)


def test_board_and_fleet_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="not both"):
        resolve_boards(runner="ssh", addresses=("a",), fleet=tmp_path / "x", host_env=None)


def test_one_dead_board_keeps_the_others_result(
    runner: CliRunner, sshd: SshServer, tiny_onnx: Path, tmp_path: Path
) -> None:
    artifact = tmp_path / "model.onnx"
    shutil.copyfile(tiny_onnx, artifact)
    shutil.copyfile(tiny_onnx.parent / "vocab.txt", tmp_path / "vocab.txt")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    fleet = tmp_path / "lab.toml"
    fleet.write_text(
        f'[[boards]]\naddress = "{sshd.address}"\nname = "alive"\n\n'
        f'[[boards]]\naddress = "{sshd.user}@127.0.0.1:{closed}"\nname = "dead"\n'
    )
    args = ["bench", str(artifact), "--runner", "ssh", "--fleet", str(fleet), "--runs", "3"]
    args += ["--rows", "4", "--ssh-config", str(sshd.config), "--python", sys.executable]
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith("Error: 1 of 2 boards failed: Board dead: cannot reach")
    alive, dead = json.loads(result.stdout)["boards"]
    assert alive["ok"] and Path(alive["saved"]).is_file()
    assert not dead["ok"] and "Connection refused" in dead["error"] and dead["saved"] is None
    table = runner.invoke(cli, args)
    assert "alive" in table.stdout and "failed" in table.stdout
    assert list(sshd.board_tmp.iterdir()) == []
