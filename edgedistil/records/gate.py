"""``gate.json`` as ``edgedistil summary`` reads it (``report.to_dict`` writes it).

Partial on purpose (``extra="allow"``): summary reads the verdict, the counts and each
artifact's checks; the other keys (limits, sources, budget changes) are for people and CI, and a
newer gate report that adds one still has a verdict summary can show."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from edgedistil.records._base import Record

Status = Literal["pass", "fail", "unmeasured", "skipped"]  # gate.py's four statuses


class _Partial(Record):
    model_config = ConfigDict(extra="allow")


class GateCheck(_Partial):
    label: str
    status: Status
    estimate: bool = False  # the check judged a latency estimate (schema 8), not a measurement


class GateEstimate(_Partial):
    """An artifact's latency estimate (schema 8): its range, and whether the gate counted it."""

    low_ms: float
    high_ms: float
    counted: bool


class GateArtifact(_Partial):
    artifact: str
    sha256: str
    checks: list[GateCheck]
    latency_estimate: GateEstimate | None = None


class GateReport(_Partial):
    target: str
    passed: bool
    counts: dict[Status, int]
    artifacts: list[GateArtifact]
