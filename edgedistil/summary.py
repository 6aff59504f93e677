"""The verdicts of several build folders side by side: one row per folder, from its gate.json.

A release for a product line is several targets (the phone, the watch, the board); ``make demo``
and CI build each whatever another's verdict, then need one answer. A folder's gate.json counts
only while it describes the folder's current release artifacts (the same sha256 as the
manifest): a build that failed after an older gate, or bytes changed since, show as no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgedistil import manifest as manifest_mod
from edgedistil.errors import BuildError, EdgedistilError

if TYPE_CHECKING:
    from edgedistil.records.gate import GateReport, Status

GATE_FILE = "gate.json"
STATUSES: tuple[Status, ...] = ("pass", "fail", "unmeasured", "skipped")


@dataclass(frozen=True, kw_only=True)
class Row:
    folder: Path
    target: str | None
    passed: bool | None  # None: no current verdict
    counts: dict[str, int]
    artifacts: int
    reason: str  # why there is no verdict, or the failing budgets
    # Each artifact's latency estimate, labelled as one and as counted or not ("" when none)
    estimates: str = ""

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "no verdict"
        return "passed" if self.passed else "failed"


def summarize(folders: tuple[Path, ...]) -> tuple[Row, ...]:
    return tuple(read_row(folder) for folder in folders)


def exit_code(rows: tuple[Row, ...]) -> int:
    """1 when a folder has no current verdict (its build broke), else 3 for a failed gate."""
    if any(r.passed is None for r in rows):
        return 1
    return 0 if all(r.passed for r in rows) else 3


def read_row(folder: Path) -> Row:
    try:
        releases = _releases(folder)
        gate = _read_gate(folder / GATE_FILE)
    except EdgedistilError as exc:
        return Row(folder=folder, target=None, passed=None, counts={}, artifacts=0, reason=str(exc))
    gated = {a.artifact: a.sha256 for a in gate.artifacts}
    if gated != releases:
        return Row(
            folder=folder,
            target=gate.target,
            passed=None,
            counts={},
            artifacts=len(releases),
            reason=f"{folder / GATE_FILE} is for other release artifacts than the manifest lists "
            "(the last build or check did not finish); rebuild or re-run edgedistil check",
        )
    failing = [
        f"{a.artifact}: {c.label} {c.status}" + (" (estimate)" if c.estimate else "")
        for a in gate.artifacts
        for c in a.checks
        if c.status in ("fail", "unmeasured")
    ]
    return Row(
        folder=folder,
        target=gate.target,
        passed=gate.passed,
        counts={s: gate.counts.get(s, 0) for s in STATUSES},
        artifacts=len(gated),
        reason="; ".join(failing),
        estimates=_estimates(gate),
    )


def _estimates(gate: GateReport) -> str:
    """``estimate 1620.00-4420.00 ms (counted)``: the ranges of the artifacts that have one,
    each saying whether the gate counted it."""
    shown = []
    for a in gate.artifacts:
        made = a.latency_estimate
        if made is not None:
            counted = "counted" if made.counted else "not counted"
            shown.append(f"estimate {made.low_ms:.2f}-{made.high_ms:.2f} ms ({counted})")
    return "; ".join(shown)


def _releases(folder: Path) -> dict[str, str]:
    artifacts = manifest_mod.read(folder).artifacts
    return {rel: info.sha256 for rel, info in artifacts.items() if info.role == "release"}


def _read_gate(path: Path) -> GateReport:
    """gate.json, typed for every field this module reads (``records.gate``)."""
    from edgedistil.records import load_json, parse
    from edgedistil.records.gate import GateReport

    if not path.is_file():
        raise BuildError(f"{path}: no gate yet (the build did not reach its gate)")
    data = load_json(path, error=BuildError, what="gate report")
    return parse(GateReport, data, f"{path}: not a gate report", error=BuildError)
