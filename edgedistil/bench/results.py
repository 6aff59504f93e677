"""Where results live, and how a run compares with the last one.

Each result is a JSON file beside the artifact, ``<artifact>.bench/<board>-<UTC time>.json``,
carrying the artifact's sha256 and what it ran on (``ran_on``, see ``machine``), and one line
in ``<artifact>.bench/history.jsonl``. ``compare`` finds the previous run of the same board on
the same bytes (same sha256) and flags p95 latency or peak RSS that got worse by more than a
threshold. Files are written whole, under a temporary name then renamed, so a crash never leaves
half a result; a lock file keeps two concurrent runs from losing each other's history lines.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.bench import stats
from edgedistil.bench.machine import RanOn
from edgedistil.errors import BenchError, EdgedistilError
from edgedistil.files import write_atomic, write_json

if TYPE_CHECKING:
    from edgedistil.records.bench import BenchResult


HISTORY = "history.jsonl"
DEFAULT_THRESHOLD = 0.10  # 10%: run-to-run noise on a quiet board stays well under it
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, kw_only=True)
class Metric:
    name: str
    unit: str  # "ms" or "bytes"
    previous: float | None
    current: float | None

    @property
    def change(self) -> float | None:
        if self.previous is None or self.current is None:
            return None
        return stats.change(self.current, self.previous)


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """This run against the previous run of the same board on the same artifact sha256."""

    board: str
    previous_timestamp: str | None
    threshold: float
    metrics: tuple[Metric, ...]

    @property
    def regressions(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.change is not None and m.change > self.threshold)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


def results_dir(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".bench")


def record(
    *,
    artifact: Path,
    sha256: str,
    board: str,
    runner: str,
    target: str | None,
    result: Any,
    ran_on: RanOn,
) -> dict[str, Any]:
    """One history entry: the board's result, what it was a result of and what it ran on."""
    return {
        # 2: ``ran_on`` added; a result without it counts as unmeasured for latency and RSS.
        "schema": 2,
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "artifact": artifact.name,
        "artifact_sha256": sha256,
        "artifact_bytes": artifact.stat().st_size,
        "board": board,
        "runner": runner,
        "target": target,
        "result": result,
        "ran_on": ran_on.to_dict(),
    }


def store(artifact: Path, entry: dict[str, Any]) -> Path:
    """Write ``entry`` as its own file and append it to the history; the file's path."""
    directory = results_dir(artifact)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = entry["timestamp"].replace(":", "").replace("-", "").replace(".", "-")
    path = directory / f"{_UNSAFE.sub('_', entry['board'])}-{stamp}.json"
    write_json(path, entry, sort_keys=True)
    with _locked(directory):
        history = directory / HISTORY
        old = history.read_text(encoding="utf-8") if history.is_file() else ""
        line = json.dumps(entry, sort_keys=True)
        write_atomic(history, old + ("" if not old or old.endswith("\n") else "\n") + line + "\n")
    return path


def read_result(path: Path, *, error: type[EdgedistilError] = BenchError) -> BenchResult:
    """One stored or given result file, typed (``records.bench``), or one ``error`` naming it."""
    from edgedistil.records import load_json, parse
    from edgedistil.records.bench import BenchResult

    data = load_json(path, error=error, what="not a readable bench result")
    return parse(BenchResult, data, f"{path}: not a bench result", error=error)


def read_history(artifact: Path) -> list[BenchResult]:
    """Every entry of the artifact's ``history.jsonl``, typed (``records.bench``); a line that is
    not a result ``store`` writes is one ``BenchError`` naming the file and the line, checked
    before a bench runs so that no board's time is spent on a run whose history cannot be kept."""
    from edgedistil.records import parse
    from edgedistil.records.bench import BenchResult

    history = results_dir(artifact) / HISTORY
    try:
        text = history.read_text(encoding="utf-8") if history.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"{history}: cannot be read ({exc}); move it aside") from None
    entries = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():  # the newline that ends the last entry, or a blank line
            continue
        where = f"{history} line {number}"
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise BenchError(f"{where}: not valid JSON ({exc}); move the file aside") from None
        entries.append(parse(BenchResult, data, where, error=BenchError))
    return entries


def previous(artifact: Path, board: str, sha256: str) -> BenchResult | None:
    """The last stored run of ``board`` on these exact bytes, or None."""
    found = [e for e in read_history(artifact) if e.board == board and e.artifact_sha256 == sha256]
    return found[-1] if found else None


def compare(
    board: str, current: dict[str, Any], before: BenchResult | None, threshold: float
) -> Comparison:
    def pick(entry: dict[str, Any], section: str, key: str) -> float | None:
        value = (entry.get("result") or {}).get(section, {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    rss = before.result.memory.peak_rss_bytes if before else None
    metrics = (
        Metric(
            name="p95 latency",
            unit="ms",
            previous=before.result.latency_ms.p95 if before else None,
            current=pick(current, "latency_ms", "p95"),
        ),
        Metric(
            name="peak RSS",
            unit="bytes",
            previous=None if rss is None else float(rss),
            current=pick(current, "memory", "peak_rss_bytes"),
        ),
    )
    return Comparison(
        board=board,
        previous_timestamp=before.timestamp if before else None,
        threshold=threshold,
        metrics=metrics,
    )


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    try:
        fh = (directory / ".history.lock").open("a")
    except OSError as exc:
        raise BenchError(f"Cannot write results in {directory}: {exc.strerror}") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
