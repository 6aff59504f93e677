"""The gate as JSON, Markdown (a pull-request comment) and JUnit XML (one test case per budget, so
CI systems list each budget natively). Pure renderers: data in, text out.

Every report shows a measurement taken off the target beside its budget, labelled as such (it
counts as unmeasured), and lists each budget that differs from the profile the build used. A
latency estimate (a microcontroller's, from op counts) is shown in every report as an estimate
with its range, whether the gate counted it or not, and never as a measurement.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from typing import Any

from edgedistil.gate import (
    FAIL,
    PASS,
    SKIPPED,
    UNMEASURED,
    ArtifactGate,
    BudgetChange,
    Check,
    Coverage,
    Gate,
    LatencyEstimate,
    TextModel,
    Tokenization,
)
from edgedistil.units import format_value

# 2: a check's "measured" may be set while its status is unmeasured/skipped ("off_target" says
# why); "budget_changes" lists the budgets that differ from the build's profile.
# 3: "unmeasured_reason" on a check the build tried and could not measure (no teacher).
# 4: "eval_unk" on each artifact: the [UNK] share of the eval text under its tokenizer.
# 5: "tokenization" on each artifact: tokenisation timed on the board beside the latency.
# 6: "notes" on each artifact: what the build verified beyond the budgets, in words.
# 7: "text_model" on each artifact: the text-input ONNX model beside it and its figures, or null.
# 8: "allow_estimates"; "latency_estimate" on each artifact (the build's estimate, or null) and
#    "estimate" on each check (true when the check judged the estimate's high end).
SCHEMA = 8
_MARK = {PASS: "✅ pass", FAIL: "❌ fail", UNMEASURED: "❌ unmeasured", SKIPPED: "⚪ skipped"}


def to_dict(gate: Gate) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "target": gate.target,
        "passed": gate.passed,
        "allow_unmeasured": gate.allow_unmeasured,
        "allow_estimates": gate.allow_estimates,
        "counts": {s: gate.count(s) for s in (PASS, FAIL, UNMEASURED, SKIPPED)},
        "artifacts": [
            {
                "artifact": a.artifact,
                "sha256": a.sha256,
                "passed": a.passed,
                "checks": [_check_dict(c) for c in a.checks],
                "eval_unk": None if a.coverage is None else asdict(a.coverage),
                "tokenization": None if a.tokenization is None else asdict(a.tokenization),
                "notes": list(a.notes),
                "text_model": None if a.text_model is None else asdict(a.text_model),
                "latency_estimate": _estimate_dict(a),
            }
            for a in gate.artifacts
        ],
        "budget_changes": [
            {
                "budget": change.budget.key,
                "label": change.budget.label,
                "unit": change.budget.unit,
                "built": change.built,
                "now": change.now,
            }
            for change in gate.budget_changes
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
        "off_target": check.off_target,
        "unmeasured_reason": check.unmeasured_reason,
        "status": check.status,
        "estimate": check.estimate is not None,
    }


def _estimate_dict(artifact: ArtifactGate) -> dict[str, Any] | None:
    made = artifact.latency_estimate
    if made is None:
        return None
    return asdict(made) | {"counted": artifact.estimate_counted}


def to_json(gate: Gate) -> str:
    return json.dumps(to_dict(gate), indent=2) + "\n"


def measured_text(check: Check) -> str:
    """The measured value, marked when it was taken off the target and does not count; an
    estimate's high end as the estimate it is, with its range."""
    if check.measured is None:
        return "not measured"
    value = format_value(check.measured.value, check.budget.unit)
    if check.estimate is not None:
        return f"{value} (estimate, range {range_text(check.estimate)})"
    return value if check.off_target is None else f"{value} (off target)"


def result_text(check: Check) -> str:
    """The status, marked when it judged an estimate rather than a measurement."""
    return f"{check.status} (estimate)" if check.estimate is not None else check.status


def range_text(made: LatencyEstimate) -> str:
    return f"{made.low_ms:.2f}-{made.high_ms:.2f} ms"


def estimate_text(artifact: ArtifactGate) -> str:
    """One line: the estimate, its range and source, and whether the gate counted it."""
    made = artifact.latency_estimate
    if made is None:
        return ""
    counted = (
        "counted by the latency budget at its high end (--allow-estimates)"
        if artifact.estimate_counted
        else "not counted by the gate (a latency measured on the board is; or pass "
        "--allow-estimates to judge the estimate's high end)"
    )
    return (
        f"Estimated latency, not measured: {range_text(made)} per inference "
        f"(most of it {made.breakdown}; {made.source}); {counted}"
    )


def source_text(check: Check) -> str:
    """Where the number comes from and, off the target, why it counts as unmeasured; with no
    number, why the build could not measure it, when it said."""
    if check.measured is None:
        return check.unmeasured_reason or ""
    if check.off_target is None:
        return check.measured.source
    return f"{check.measured.source}: {check.off_target}"


def change_text(change: BudgetChange) -> str:
    """``max_model_bytes (model size): 23.84 MiB -> 1000 B`` (unset on either side)."""

    def show(value: float | None) -> str:
        return "(unset)" if value is None else format_value(value, change.budget.unit)

    key, label = change.budget.key, change.budget.label
    return f"{key} ({label}): {show(change.built)} -> {show(change.now)}"


def changed_keys(gate: Gate) -> dict[str, BudgetChange]:
    return {change.budget.key: change for change in gate.budget_changes}


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
            mark = _MARK[c.status] + (" (estimate)" if c.estimate is not None else "")
            lines.append(
                f"| {c.budget.label} | {format_value(c.limit, c.budget.unit)} | "
                f"{measured_text(c)} | {mark} | {_escape_cell(source_text(c))} |"
            )
        lines.append("")
        if artifact.coverage is not None:
            lines += [coverage_text(artifact.coverage), ""]
        if artifact.latency_estimate is not None:
            lines += [estimate_text(artifact), ""]
        if artifact.tokenization is not None:
            lines += [tokenization_text(artifact.tokenization), ""]
        lines += [line for note in artifact.notes for line in (note, "")]
        if artifact.text_model is not None:
            lines += [text_model_text(artifact.text_model), ""]
    if gate.budget_changes:
        lines += ["Budgets changed since the build (checked at the new values):", ""]
        lines += [f"- `{change_text(change)}`" for change in gate.budget_changes]
        lines.append("")
    if any(c.off_target for a in gate.artifacts for c in a.checks):
        lines.append(
            "Figures marked *off target* were measured on another machine than the target's "
            "kind of device: shown, but they count as unmeasured."
        )
    if any(c.estimate for a in gate.artifacts for c in a.checks):
        lines.append(
            "Results marked *(estimate)* judged a latency estimated from op counts and published "
            "kernel throughputs (its high end), allowed by `--allow-estimates`: not a measurement."
        )
    if gate.count(UNMEASURED):
        lines.append(
            "Unmeasured budgets fail (fail closed); run the missing measurement, or pass "
            "`--allow-unmeasured` to skip them."
        )
    return "\n".join(lines).rstrip() + "\n"


def coverage_text(coverage: Coverage) -> str:
    return (
        f"[UNK] on the eval text: {coverage.unk_rate:.2%} of tokens, "
        f"{coverage.sentences_with_unk:.1%} of sentences ({coverage.source})"
    )


def tokenization_text(t: Tokenization) -> str:
    """Tokenisation on the board, labelled apart from the latency budget's inference figure."""
    if t.tokenizer is None:
        return f"Tokenisation on the board: not measured ({t.reason}; {t.source})"
    return (
        f"Tokenisation on the board ({t.tokenizer}), per sentence, apart from inference: "
        f"p50 {_fine_ms(t.p50_ms)}, p95 {_fine_ms(t.p95_ms)} ({t.source}; "
        "no budget: the latency budget judges inference alone)"
    )


def _fine_ms(value: float | None) -> str:
    """Three decimals: a sentence's tokenisation often takes well under a millisecond."""
    return "not reported" if value is None else f"{value:.3f} ms"


def text_model_text(text: TextModel) -> str:
    """One line: the text-input model, and how it matched the host path."""
    if text.agreement is not None:
        figure = f"same class as the host path on {text.agreement:.2%}"
    else:
        figure = f"cosine to the host path mean {text.cosine_mean:.5f}, min {text.cosine_min:.5f}"
    return (
        f"Text-input model {text.path} (tokenizer in the graph, raw strings in): {figure} "
        f"of {text.sentences} eval sentences"
    )


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_junit(gate: Gate) -> str:
    """One ``<testsuite>`` per artifact, one ``<testcase>`` per budget; an unmeasured budget is a
    failure (fail closed) unless skipped."""
    suites = ET.Element("testsuites", name=f"edgedistil gate {gate.target}")
    changes = changed_keys(gate)
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
        texts = [text_model_text(artifact.text_model)] if artifact.text_model else []
        has_properties = any(
            x is not None
            for x in (artifact.coverage, artifact.tokenization, artifact.latency_estimate)
        )
        if changes or has_properties or artifact.notes or texts:
            properties = ET.SubElement(suite, "properties")
            if artifact.coverage is not None:
                text = coverage_text(artifact.coverage)
                ET.SubElement(properties, "property", name="eval_unk", value=text)
            if artifact.tokenization is not None:
                text = tokenization_text(artifact.tokenization)
                ET.SubElement(properties, "property", name="tokenization", value=text)
            if artifact.latency_estimate is not None:
                text = estimate_text(artifact)
                ET.SubElement(properties, "property", name="latency_estimate", value=text)
            for text in texts:
                ET.SubElement(properties, "property", name="text_model", value=text)
            for note in artifact.notes:
                ET.SubElement(properties, "property", name="note", value=note)
            for change in changes.values():
                ET.SubElement(
                    properties,
                    "property",
                    name=f"budget changed since the build: {change.budget.key}",
                    value=change_text(change),
                )
        for c in checks:
            _junit_case(suite, gate.target, artifact.artifact, c, changes.get(c.budget.key))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _junit_case(
    suite: ET.Element, target: str, artifact: str, c: Check, change: BudgetChange | None
) -> None:
    case = ET.SubElement(suite, "testcase", classname=f"{target}.{artifact}", name=c.budget.key)
    limit = format_value(c.limit, c.budget.unit)
    if change is not None:
        limit += f" (changed since the build: {change_text(change)})"
    unmeasured = (
        "not measured" if c.measured is None else f"{measured_text(c)}, counts as unmeasured"
    )
    if c.status == FAIL:
        judged = "the estimate's high end " if c.estimate is not None else ""
        message = f"{judged}{measured_text(c)} exceeds {limit}"
        failure = ET.SubElement(case, "failure", message=message)
        failure.text = source_text(c)
    elif c.status in (UNMEASURED, SKIPPED):
        tag = "failure" if c.status == UNMEASURED else "skipped"
        element = ET.SubElement(case, tag, message=f"{unmeasured}; budget {limit}")
        element.text = source_text(c) or None
    else:
        out = ET.SubElement(case, "system-out")
        out.text = f"{measured_text(c)} <= {limit} ({source_text(c)})"
