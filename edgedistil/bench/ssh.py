"""The ``ssh`` runner: the board script on a Linux board, through the system OpenSSH client.

The system ``ssh``/``scp`` (not a Python SSH library) so that ``~/.ssh/config``, agents, jump
hosts and known_hosts work as the user set them. Batch mode (never a password prompt), a bounded
connect timeout, and host keys checked as the user's configuration says: this module never turns
that checking off. Every run gets a private directory from ``mktemp -d`` that is removed
afterwards, by a trap on the board and again from here, even when the run fails.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil.bench.base import (
    SCRIPT_NAME,
    Board,
    Job,
    Runner,
    Workspace,
    check_room,
    cleanup_script,
    input_files,
    last_line,
    parse_preflight,
    preflight_script,
    python_words,
    read_result,
    remote_model_name,
    script_args,
    stage_files,
)
from edgedistil.errors import BenchError

log = logging.getLogger(__name__)

# user@host[:port]; host a name, an IPv4 address or a bracketed IPv6 one. Nothing may start
# with "-", which ssh would read as an option.
_ADDRESS = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9._-]*)"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_STEP_S = 120.0  # one ssh/scp step besides the run: connect, mktemp, cleanup
_UPLOAD_S = 1800.0  # scp of a model: 100 MB over a slow Wi-Fi link stays well inside
_GRACE_S = 60.0  # the script stops itself at --timeout; this covers a stuck model load
_UNREACHABLE = (
    "timed out",
    "Connection refused",
    "No route to host",
    "Could not resolve",
    "Network is unreachable",
    "Name or service not known",
    "Connection reset",
    "Connection closed",
)


@dataclass(frozen=True, kw_only=True)
class Address:
    user: str | None
    host: str
    port: int | None

    @property
    def destination(self) -> str:
        """For ``ssh``: user@host, an IPv6 host without its brackets."""
        host = self.host.strip("[]")
        return f"{self.user}@{host}" if self.user else host

    def scp_target(self, path: str) -> str:
        host = self.host if self.host.startswith("[") or ":" not in self.host else f"[{self.host}]"
        return f"{self.user}@{host}:{path}" if self.user else f"{host}:{path}"

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.destination}{port}"


def parse_address(text: str, where: str = "") -> Address:
    """``user@host[:port]`` (or an ssh config alias) -> an ``Address``."""
    match = _ADDRESS.match(text.strip())
    port = int(match["port"]) if match and match["port"] else None
    if match is None or (port is not None and not 0 < port < 65536):
        raise BenchError(
            f"Board address {text!r}{where} is not user@host[:port] (a host name, an IPv4 "
            "address or a [bracketed] IPv6 one, a port from 1 to 65535); e.g. pi@10.0.0.7:22"
        )
    return Address(user=match["user"], host=match["host"], port=port)


class SshRunner(Runner):
    def run(self, job: Job, board: Board) -> dict[str, Any]:
        if not board.address:
            raise BenchError(f"Board {board.label}: no address; give --board user@host[:port]")
        address = parse_address(board.address, f" (board {board.label})")
        space = self._preflight(board, address)
        try:
            model_bytes = job.model.stat().st_size
            upload = model_bytes + sum(p.stat().st_size for p in input_files(job))
            check_room(board, space, upload, model_bytes)
            with tempfile.TemporaryDirectory(prefix="edgedistil-stage-") as stage:
                self._upload(board, address, stage_files(job, Path(stage)), space.path)
            return self._execute(job, board, address, space.path)
        finally:
            self._cleanup(board, address, space.path)

    # ---- the commands ----

    def _options(self) -> list[str]:
        config = ["-F", str(self.options.ssh_config)] if self.options.ssh_config else []
        return [
            *config,
            "-o",
            "BatchMode=yes",  # fail, never prompt: nobody is at the terminal of a fleet run
            "-o",
            f"ConnectTimeout={self.options.connect_timeout_s}",
            "-o",
            "ServerAliveInterval=15",  # a board that vanishes mid-run fails within a minute
            "-o",
            "ServerAliveCountMax=4",
            "-o",
            "LogLevel=ERROR",
        ]

    def _ssh(self, address: Address, script: str) -> list[str]:
        port = ["-p", str(address.port)] if address.port else []
        # One argument, run by sh whatever the login shell is; shlex.quote keeps it one word.
        remote = f"sh -c {shlex.quote(script)}"
        return ["ssh", *self._options(), *port, "--", address.destination, remote]

    def _call(
        self,
        board: Board,
        address: Address,
        argv: list[str],
        timeout: float,
        doing: str,
        *,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        log.info("%s: %s", board.label, shlex.join(argv))
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise BenchError(
                f"Board {board.label}: {doing} on {address} took longer than {timeout:g} s and "
                "was stopped; check the link to the board, or give a larger --timeout"
            ) from None
        except FileNotFoundError:
            raise BenchError(
                f"Board {board.label}: {argv[0]} is not installed on this host; install the "
                "OpenSSH client (Debian: apt-get install openssh-client)"
            ) from None
        if check and done.returncode == 255:  # ssh's own failure, not the remote command's
            raise _ssh_failure(board, address, done.stderr, doing)
        return done

    # ---- the steps ----

    def _preflight(self, board: Board, address: Address) -> Workspace:
        argv = self._ssh(address, preflight_script(None, find_python=False))
        done = self._call(board, address, argv, _STEP_S, "connecting")
        return parse_preflight(board, done.stdout)

    def _upload(self, board: Board, address: Address, files: list[Path], directory: str) -> None:
        port = ["-P", str(address.port)] if address.port else []
        # Absolute local paths: scp reads "name:with:colons" as host:path unless a "/" comes first.
        sources = [str(p.resolve()) for p in files]
        target = address.scp_target(directory + "/")
        for protocol in ([], ["-O"]):
            argv = ["scp", "-q", *protocol, *self._options(), *port, "--", *sources, target]
            done = self._call(board, address, argv, _UPLOAD_S, "copying the model", check=False)
            # Dropbear and minimal sshd builds have no SFTP subsystem, which scp uses since
            # OpenSSH 9.0: then the classic protocol (-O). The target has no shell metacharacters.
            if done.returncode == 0 or not _no_sftp(done.stderr):
                break
        if done.returncode == 255 and not _no_sftp(done.stderr):
            raise _ssh_failure(board, address, done.stderr, "copying the model")
        if done.returncode != 0:
            raise BenchError(
                f"Board {board.label}: copying the model to {address}:{directory} failed: "
                f"{last_line(done.stderr)}; check the free disk there"
            )

    def _execute(self, job: Job, board: Board, address: Address, directory: str) -> dict[str, Any]:
        python = python_words(board.python or self.options.python or "python3")
        command = [*python, SCRIPT_NAME, *script_args(job, remote_model_name(job.model), ".")]
        script = "\n".join(
            [
                f"d={shlex.quote(directory)}",
                # The board cleans up after itself too, should this connection drop.
                "trap 'rm -rf -- \"$d\"' EXIT",
                "trap 'exit 129' HUP",
                "trap 'exit 130' INT",
                "trap 'exit 143' TERM",
                'cd "$d" || exit 97',
                # The runtime's own temporary files (onnxruntime writes $TMPDIR/.ses) go in
                # the private directory too, and leave with it.
                'TMPDIR="$d" ' + shlex.join(command),
            ]
        )
        argv = self._ssh(address, script)
        done = self._call(board, address, argv, job.timeout_s + _GRACE_S, "running the benchmark")
        return read_result(board, done.stdout, done.stderr, done.returncode)

    def _cleanup(self, board: Board, address: Address, directory: str) -> None:
        try:
            self._call(
                board, address, self._ssh(address, cleanup_script(directory)), _STEP_S, "cleanup"
            )
        except BenchError as exc:
            # The run's own outcome matters more; say where the leftovers are.
            log.warning("%s: could not remove %s on the board: %s", board.label, directory, exc)


def _ssh_failure(board: Board, address: Address, stderr: str, doing: str) -> BenchError:
    line = last_line(stderr) or "ssh exited 255 and said nothing"
    where = f"Board {board.label}"
    if "Permission denied" in stderr:
        return BenchError(
            f"{where}: {address} refused authentication ({line}); put your public key in the "
            f"board's ~/.ssh/authorized_keys (ssh-copy-id {address.destination}) or load it "
            "into your ssh agent; passwords are never asked for"
        )
    if "Host key verification failed" in stderr or "IDENTIFICATION HAS CHANGED" in stderr:
        return BenchError(
            f"{where}: the host key of {address} is unknown or has changed ({line}); check its "
            f"fingerprint and connect once with ssh {address.destination} to add it to "
            "known_hosts"
        )
    if any(symptom in stderr for symptom in _UNREACHABLE):
        return BenchError(
            f"{where}: cannot reach {address} while {doing} ({line}); check the address, that "
            "the board is on and that sshd runs there"
        )
    return BenchError(f"{where}: ssh to {address} failed while {doing}: {line}")


def _no_sftp(stderr: str) -> bool:
    return "subsystem request failed" in stderr or "Connection closed" in stderr
