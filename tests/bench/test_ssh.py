"""The ssh runner for real: the system OpenSSH client against an sshd on 127.0.0.1.

The ``sshd`` fixture (tests/conftest.py) starts a real OpenSSH server on a free port with a host
key and a user key generated for this run, a known_hosts file written for it, and an ssh_config
passed with ``ssh -F``. The "board" is this host: its Python is this virtual environment's, and
its $TMPDIR is a directory the tests watch, so every case can assert that nothing is left there.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistil.bench.base import Board, Job, Options, make_runner
from edgedistil.bench.inputs import tokenize, write_inputs
from edgedistil.bench.ssh import parse_address
from edgedistil.cli import cli
from edgedistil.errors import BenchError
from tests.conftest import SshServer, error_line

FAST = ["--runs", "5", "--warmup", "1", "--rows", "4"]


@pytest.fixture
def job(tiny_onnx: Path, tmp_path: Path) -> Job:
    arrays = tokenize(tiny_onnx.parent, ["set a timer for five minutes", "the light is on"], 16)
    directory = tmp_path / "inputs"
    directory.mkdir()
    return Job(model=tiny_onnx, inputs=write_inputs(arrays, directory), runs=5, warmup=1, threads=1)


@pytest.fixture
def board_tmp(sshd: SshServer) -> Iterator[Path]:
    """The board's $TMPDIR, which every test must leave as empty as it found it."""
    assert list(sshd.board_tmp.iterdir()) == []
    yield sshd.board_tmp
    assert list(sshd.board_tmp.iterdir()) == [], "the run left files on the board"


def options(sshd: SshServer, config: Path | None = None, **kw: object) -> Options:
    return Options(python=sys.executable, ssh_config=config or sshd.config, **kw)  # type: ignore[arg-type]


def board(sshd: SshServer, address: str | None = None, python: str | None = None) -> Board:
    return Board(label="test-board", runner="ssh", address=address or sshd.address, python=python)


def test_ssh_runs_the_benchmark_on_the_board(sshd: SshServer, board_tmp: Path, job: Job) -> None:
    result = make_runner("ssh", options(sshd)).run(job, board(sshd))
    assert result["ok"] is True and result["runtime"]["name"] == "onnxruntime"
    assert result["model"] == "model.onnx" and result["rows"] == 2
    assert result["latency_ms"]["p95"] > 0 and result["memory"]["peak_rss_bytes"] > 0


def test_cli_over_ssh_stores_the_result(
    runner: CliRunner, sshd: SshServer, board_tmp: Path, tiny_onnx: Path, tmp_path: Path
) -> None:
    artifact = tmp_path / "model.onnx"
    shutil.copyfile(tiny_onnx, artifact)
    shutil.copyfile(tiny_onnx.parent / "vocab.txt", tmp_path / "vocab.txt")
    args = ["bench", str(artifact), "--runner", "ssh", "--board", sshd.address, *FAST]
    args += ["--ssh-config", str(sshd.config), "--python", sys.executable, "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["boards"]
    assert entry["ok"] and entry["board"] == sshd.address
    assert Path(entry["saved"]).parent == tmp_path / "model.onnx.bench"
    # What it ran on: the board by its address, the machine as the board script saw it there.
    ran_on = entry["result"]["ran_on"]
    assert ran_on["runner"] == "ssh" and ran_on["board"] == sshd.address
    assert ran_on["machine"] == entry["result"]["result"]["board"]["machine"]
    assert ran_on["host_is_target"] is False


def test_address_from_the_profiles_environment_variable(
    runner: CliRunner,
    sshd: SshServer,
    board_tmp: Path,
    tiny_onnx: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGEDISTIL_PI4_HOST", sshd.address)
    args = ["bench", str(tiny_onnx), "--target", "raspberry-pi-4", *FAST, "--json"]
    args += ["--ssh-config", str(sshd.config), "--python", sys.executable]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["boards"]
    assert entry["runner"] == "ssh" and entry["result"]["target"] == "raspberry-pi-4"
    assert entry["result"]["result"]["threads"] == 4  # the profile's [bench].threads


def test_names_with_spaces_quotes_and_semicolons_inject_nothing(
    sshd: SshServer, board_tmp: Path, job: Job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / 'it\'s a "dir"; touch INJECTED'
    folder.mkdir()
    model = folder / "a;touch INJECTED $(touch INJECTED) `touch INJECTED`.onnx"
    shutil.copyfile(job.model, model)
    tricky = Job(model=model, inputs=job.inputs, runs=2, warmup=0, threads=1)
    result = make_runner("ssh", options(sshd)).run(tricky, board(sshd))
    assert result["ok"] is True
    # A --python with a ";" is one odd command name on the board, not two commands.
    with pytest.raises(BenchError, match="no such Python"):
        make_runner("ssh", options(sshd)).run(
            tricky, board(sshd, python=f"{sys.executable}; touch INJECTED")
        )
    for place in (tmp_path, folder, Path.home(), board_tmp, Path.cwd()):
        assert not (place / "INJECTED").exists(), place


def test_an_address_that_would_be_an_option_is_refused() -> None:
    for bad in ("-oProxyCommand=touch INJECTED", "pi@host;touch INJECTED", "pi@host:99999"):
        with pytest.raises(BenchError, match="is not user@host"):
            parse_address(bad)
    assert str(parse_address("pi@[::1]:2222")) == "pi@::1:2222"
    assert parse_address("pi@[::1]:2222").scp_target("/tmp/x") == "pi@[::1]:/tmp/x"


def test_a_board_without_the_runtime_says_what_to_install(
    sshd: SshServer, board_tmp: Path, job: Job, tmp_path: Path
) -> None:
    # A sitecustomize that hides onnxruntime: this Python then has numpy but no runtime.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['onnxruntime'] = None\n")
    python = f"env PYTHONPATH={hide} {sys.executable}"
    with pytest.raises(BenchError) as caught:
        make_runner("ssh", options(sshd)).run(job, board(sshd, python=python))
    message = str(caught.value)
    assert (
        message.startswith("Board test-board: ") and "missing on this board: onnxruntime" in message
    )
    assert "install it there with: " in message and "-m pip install onnxruntime" in message


def test_the_script_killed_mid_run(
    sshd: SshServer, board_tmp: Path, job: Job, tmp_path: Path
) -> None:
    killer = tmp_path / "killer"
    killer.write_text(
        f'#!/bin/sh\n"{sys.executable}" "$@" & pid=$!\nsleep 1\nkill -9 $pid\nwait $pid\n'
    )
    killer.chmod(0o755)
    endless = Job(model=job.model, inputs=job.inputs, runs=10**9, warmup=0, threads=1)
    with pytest.raises(BenchError, match="killed by signal 9"):
        make_runner("ssh", options(sshd)).run(endless, board(sshd, python=str(killer)))


def test_garbage_instead_of_json(
    sshd: SshServer, board_tmp: Path, job: Job, tmp_path: Path
) -> None:
    liar = tmp_path / "liar"
    liar.write_text("#!/bin/sh\necho 'Welcome to BoardOS 1.0'\necho '{\"half\": '\n")
    liar.chmod(0o755)
    with pytest.raises(BenchError, match="returned no JSON result.*Welcome to BoardOS"):
        make_runner("ssh", options(sshd)).run(job, board(sshd, python=str(liar)))


def test_a_model_larger_than_the_boards_disk(
    sshd: SshServer, board_tmp: Path, job: Job, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.onnx"
    try:
        with huge.open("wb") as fh:
            fh.truncate(1 << 43)  # sparse: 8 TiB that take no disk
    except OSError as exc:
        pytest.skip(f"this filesystem has no room for a sparse 8 TiB file: {exc}")
    big = Job(model=huge, inputs=job.inputs, runs=1, warmup=0, threads=1)
    with pytest.raises(BenchError, match="exceeds the free disk"):
        make_runner("ssh", options(sshd)).run(big, board(sshd))


def test_refused_authentication(sshd: SshServer, board_tmp: Path, job: Job) -> None:
    config = sshd.client_config(
        "stranger_config", key=sshd.root / "stranger_key", known_hosts=sshd.root / "known_hosts"
    )
    with pytest.raises(BenchError, match="refused authentication.*Permission denied"):
        make_runner("ssh", options(sshd, config)).run(job, board(sshd))


def test_an_unknown_host_key_is_not_accepted(
    sshd: SshServer, board_tmp: Path, job: Job, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = sshd.client_config("fresh_config", key=sshd.root / "user_key", known_hosts=empty)
    with pytest.raises(BenchError, match="host key .* is unknown or has changed"):
        make_runner("ssh", options(sshd, config)).run(job, board(sshd))
    assert empty.read_text() == ""  # nothing was added behind the user's back


def test_a_refused_port_is_one_clear_line(
    runner: CliRunner, sshd: SshServer, board_tmp: Path, tiny_onnx: Path
) -> None:
    closed = _closed_port()
    args = [
        "bench",
        str(tiny_onnx),
        "--runner",
        "ssh",
        "--board",
        f"{sshd.user}@127.0.0.1:{closed}",
    ]
    result = runner.invoke(cli, [*args, *FAST, "--ssh-config", str(sshd.config)])
    assert result.exit_code == 1
    line = error_line(result)
    assert "cannot reach" in line and "Connection refused" in line


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts and then says nothing: ssh waits for a banner that never comes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_an_unresponsive_host_times_out(
    sshd: SshServer, board_tmp: Path, job: Job, silent_server: int
) -> None:
    address = f"{sshd.user}@127.0.0.1:{silent_server}"
    runner = make_runner("ssh", options(sshd, connect_timeout_s=1))
    with pytest.raises(BenchError, match="cannot reach .* timed out"):
        runner.run(job, board(sshd, address=address))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there now


def test_the_ssh_command_line_keeps_host_key_checking(sshd: SshServer) -> None:
    from edgedistil.bench.ssh import SshRunner

    argv = SshRunner(options(sshd))._ssh(parse_address(sshd.address), "true")
    text = " ".join(argv)
    assert "BatchMode=yes" in text and "ConnectTimeout=" in text
    assert "StrictHostKeyChecking" not in text and "/dev/null" not in text
    assert argv[argv.index("--") + 1] == f"{sshd.user}@127.0.0.1"
    assert os.path.isabs(argv[argv.index("-F") + 1])


def test_a_board_without_sftp_gets_classic_scp(
    sshd_without_sftp: SshServer, job: Job, caplog: pytest.LogCaptureFixture
) -> None:
    server = sshd_without_sftp
    with caplog.at_level(logging.INFO, logger="edgedistil.bench.ssh"):
        result = make_runner("ssh", options(server)).run(job, board(server))
    assert result["ok"] is True
    assert any("scp -q -O " in m for m in caplog.messages)
    assert list(server.board_tmp.iterdir()) == []
