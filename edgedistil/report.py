"""The gate as JSON, Markdown (a pull-request comment) and JUnit XML (one test case per budget, so
CI systems list each budget natively). Pure renderers: data in, text out."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from edgedistil.gate import FAIL, PASS, SKIPPED, UNMEASURED, Check, Gate
from edgedistil.units import format_value

SCHEMA = 1
_MARK = {PASS: "✅ pass", FAIL: "❌ fail", UNMEASURED: "❌ unmeasured", SKIPPED: "⚪ skipped"}


def to_dict(gate: Gate) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "target": gate.target,
        "passed": gate.passed,
        "allow_unmeasured": gate.allow_unmeasured,
        "counts": {s: gate.count(s) for s in (PASS, FAIL, UNMEASURED, SKIPPED)},
        "artifacts": [
            {
                "artifact": a.artifact,
                "sha256": a.sha256,
                "passed": a.passed,
                "checks": [_check_dict(c) for c in a.checks],
            }
            for a in gate.artifacts
        ],
    }


def _check_dict(check: Check) -> dict[str, Any]:
    return {
        "budget": check.budget.key,
        "label": check.budget.label,
        "unit": check.budget.unit,
        "limit": check.limit,
        "measured": None if check.measured is None else check.measured.value,
        "source": None if check.measured is None else check.measured.source,
        "status": check.status,
    }


def to_json(gate: Gate) -> str:
    return json.dumps(to_dict(gate), indent=2) + "\n"


def _measured_text(check: Check) -> str:
    if check.measured is None:
        return "not measured"
    return format_value(check.measured.value, check.budget.unit)


def to_markdown(gate: Gate) -> str:
    verdict = "passed" if gate.passed else "FAILED"
    lines = [f"## edgedistil gate: `{gate.target}` {verdict}", ""]
    for artifact in gate.artifacts:
        lines += [
            f"**{artifact.artifact}** (sha256 `{artifact.sha256[:12]}`)",
            "",
            "| budget | limit | measured | result | source |",
            "|---|---:|---:|---|---|",
        ]
        for c in artifact.checks:
            source = "" if c.measured is None else c.measured.source
            lines.append(
                f"| {c.budget.label} | {format_value(c.limit, c.budget.unit)} | "
                f"{_measured_text(c)} | {_MARK[c.status]} | {_escape_cell(source)} |"
            )
        lines.append("")
    if gate.count(UNMEASURED):
        lines.append(
            "Unmeasured budgets fail (fail closed); run the missing measurement, or pass "
            "`--allow-unmeasured` to skip them."
        )
    return "\n".join(lines).rstrip() + "\n"


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_junit(gate: Gate) -> str:
    """One ``<testsuite>`` per artifact, one ``<testcase>`` per budget; an unmeasured budget is a
    failure (fail closed) unless skipped."""
    suites = ET.Element("testsuites", name=f"edgedistil gate {gate.target}")
    for artifact in gate.artifacts:
        checks = artifact.checks
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{gate.target}: {artifact.artifact}",
            tests=str(len(checks)),
            failures=str(sum(c.status in (FAIL, UNMEASURED) for c in checks)),
            skipped=str(sum(c.status == SKIPPED for c in checks)),
            errors="0",
        )
        for c in checks:
            case = ET.SubElement(
                suite, "testcase", classname=f"{gate.target}.{artifact.artifact}", name=c.budget.key
            )
            limit = format_value(c.limit, c.budget.unit)
            if c.status == FAIL:
                failure = ET.SubElement(
                    case, "failure", message=f"{_measured_text(c)} exceeds {limit}"
                )
                failure.text = c.measured.source if c.measured else ""
            elif c.status == UNMEASURED:
                ET.SubElement(case, "failure", message=f"not measured; budget {limit}")
            elif c.status == SKIPPED:
                ET.SubElement(case, "skipped", message=f"not measured; budget {limit}")
            else:
                out = ET.SubElement(case, "system-out")
                out.text = (
                    f"{_measured_text(c)} <= {limit} ({c.measured.source if c.measured else ''})"
                )
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
