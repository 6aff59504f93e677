"""Writes a gate's reports into a folder: gate.json, gate.md, gate.junit.xml and report.html,
each whole under a temporary name and then renamed."""

from __future__ import annotations

from pathlib import Path

from edgedistil import report
from edgedistil.files import write_atomic
from edgedistil.gate import Gate

REPORTS = ("gate.json", "gate.md", "gate.junit.xml", "report.html")


def write_reports(gate: Gate, folder: Path, out: Path) -> list[Path]:
    """The four reports of ``gate`` (for the build in ``folder``) in ``out``; their paths."""
    from edgedistil.report_html import render

    out.mkdir(parents=True, exist_ok=True)
    texts = (
        report.to_json(gate),
        report.to_markdown(gate),
        report.to_junit(gate),
        render(gate, folder, out),
    )
    paths = []
    for name, text in zip(REPORTS, texts, strict=True):
        write_atomic(out / name, text)
        paths.append(out / name)
    return paths
