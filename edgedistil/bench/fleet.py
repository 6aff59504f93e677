"""Which boards a bench runs on, and running them all at once.

Boards come from ``--board`` (repeated), from a fleet file, or from the target profile's
``[bench].host_env`` variable. A fleet file is TOML:

    [[boards]]
    address = "pi@10.0.0.7:22"        # user@host[:port], an ssh config alias, or an adb serial
    name = "kitchen-pi"               # optional label; default: the address
    runner = "ssh"                    # optional; default: --runner, else the target's
    python = "/home/pi/venv/bin/python3"   # optional; default: python3

or plain text, one address a line (``#`` starts a comment). Boards run in parallel threads;
one board's failure is its own result and never loses the others'.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil import runners
from edgedistil.bench.base import Board
from edgedistil.errors import BenchError, EdgedistilError

log = logging.getLogger(__name__)

FLEET_KEYS = ("address", "name", "runner", "python")
_MAX_PARALLEL = 16  # each board is one ssh/adb process waiting on I/O; 16 is plenty for a lab


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """One board's result, or why it has none."""

    board: Board
    result: dict[str, Any] | None = None
    error: str | None = None


def resolve_boards(
    *,
    runner: str,
    addresses: tuple[str, ...],
    fleet: Path | None,
    host_env: str | None,
) -> list[Board]:
    """The boards to run on, labelled uniquely; ``runner`` is the default runner's name."""
    if fleet is not None and addresses:
        raise BenchError("Give boards with --board or with --fleet FILE, not both")
    if fleet is not None:
        boards = read_fleet(fleet, runner)
    elif addresses:
        boards = [_board(runner, a) for a in addresses]
    else:
        boards = [_default_board(runner, host_env)]
    labels = [b.label for b in boards]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise BenchError(
            f"Board names repeat: {', '.join(repeated)}; each board needs its own name "
            "(its results are stored under it)"
        )
    here = [b for b in boards if not runners.needs_address(b.runner) and b.address]
    if here:
        raise BenchError(
            f"--board {here[0].label} was given with the {here[0].runner} runner, which runs on "
            "this host; use --runner ssh or --runner adb to reach a board"
        )
    return boards


def _board(
    runner: str, address: str, *, name: str | None = None, python: str | None = None
) -> Board:
    label = name or (f"adb-{address}" if runner == "adb" else address)
    return Board(label=label, runner=runner, address=address, python=python)


def _default_board(runner: str, host_env: str | None) -> Board:
    if runner in runners.runner_names() and not runners.needs_address(runner):
        return Board(label=runner, runner=runner)  # local, qemu: this host
    address = os.environ.get(host_env, "").strip() if host_env else ""
    if address:
        return _board(runner, address)
    if runner == "adb":  # adb picks the one connected device by itself
        return Board(label="adb", runner="adb")
    where = f" or set {host_env}" if host_env else ""
    raise BenchError(
        f"No board to run on with the {runner} runner: give --board user@host[:port]{where}, "
        "or --fleet FILE (edgedistil bench)"
    )


def read_fleet(path: Path, runner: str) -> list[Board]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"Fleet file {path} cannot be read: {exc}") from None
    if path.suffix == ".toml":
        return _read_toml_fleet(path, text, runner)
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    boards = [_board(runner, line) for line in lines if line]
    if not boards:
        raise BenchError(f"Fleet file {path} lists no boards; one address a line")
    return boards


def _read_toml_fleet(path: Path, text: str, runner: str) -> list[Board]:
    """``[[boards]]`` tables (``records.fleet``), each checked on its own so an error names the
    board by its number; every bad board is named in the one error."""
    from edgedistil.records import load_toml, parse
    from edgedistil.records.fleet import FleetBoard, FleetFile

    data = load_toml(text, label=f"Fleet file {path}", error=BenchError)
    hint = f"expected [[boards]] tables, each with an address; keys: {', '.join(FLEET_KEYS)}"
    try:
        entries = parse(FleetFile, data, f"Fleet file {path}", error=BenchError).boards
    except BenchError as exc:
        raise BenchError(f"{exc}; {hint}") from None
    problems, boards = [], []
    for number, entry in enumerate(entries, 1):
        try:
            board = parse(FleetBoard, entry, f"board {number}", error=BenchError)
        except BenchError as exc:
            problems.append(str(exc))
            continue
        own = board.runner or runner
        boards.append(_board(own, board.address, name=board.name, python=board.python))
    if problems:
        raise BenchError(f"Fleet file {path}: " + "; ".join(problems) + f"; {hint}")
    return boards


def run_all(boards: list[Board], run: Callable[[Board], dict[str, Any]]) -> list[Outcome]:
    """``run`` on every board at once; results in the boards' order."""

    def one(board: Board) -> Outcome:
        try:
            return Outcome(board=board, result=run(board))
        except EdgedistilError as exc:
            log.info("%s failed: %s", board.label, exc)
            return Outcome(board=board, error=str(exc))
        except OSError as exc:  # a local file or process problem for this board alone
            return Outcome(board=board, error=f"Board {board.label}: {exc}")

    if len(boards) == 1:
        return [one(boards[0])]
    with ThreadPoolExecutor(max_workers=min(len(boards), _MAX_PARALLEL)) as pool:
        return list(pool.map(one, boards))
