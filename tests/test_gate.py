"""The gate and its renderers, on hand-made measurements: pure functions, no files."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

from edgedistil import gate as gate_mod
from edgedistil import report
from edgedistil.gate import Measurement
from edgedistil.profiles import Budgets

BUDGETS = Budgets(
    max_model_bytes=1000,
    max_p95_latency_ms=10.0,
    max_peak_rss_bytes=5000,
    max_accuracy_drop=0.01,
)


def _gate(measured: dict[str, Measurement], allow: bool = False) -> gate_mod.Gate:
    artifact = gate_mod.check_artifact(
        BUDGETS, measured, artifact="onnx/model.int8.onnx", sha256="ab" * 32, allow_unmeasured=allow
    )
    return gate_mod.Gate(target="pi", allow_unmeasured=allow, artifacts=(artifact,))


ALL = {
    "model_bytes": Measurement(900, "file size"),
    "p95_latency_ms": Measurement(9.5, "bench on pi"),
    "peak_rss_bytes": Measurement(4000, "bench on pi"),
    "accuracy_drop": Measurement(0.01, "accuracy on 100 rows"),
}


def test_every_budget_within_passes_and_exits_0() -> None:
    gate = _gate(ALL)
    assert gate.passed
    assert gate_mod.exit_code(gate) == 0
    # Only the budgets the profile sets are checked, in a fixed order.
    assert [c.budget.key for c in gate.artifacts[0].checks] == [
        "max_model_bytes",
        "max_peak_rss_bytes",
        "max_p95_latency_ms",
        "max_accuracy_drop",
    ]


def test_one_budget_over_fails_and_exits_3() -> None:
    gate = _gate({**ALL, "p95_latency_ms": Measurement(10.01, "bench on pi")})
    assert not gate.passed
    assert gate_mod.exit_code(gate) == 3
    statuses = {c.budget.key: c.status for c in gate.artifacts[0].checks}
    assert statuses["max_p95_latency_ms"] == "fail"
    assert statuses["max_model_bytes"] == "pass"


def test_unmeasured_fails_closed_unless_allowed() -> None:
    partial = {k: v for k, v in ALL.items() if k != "peak_rss_bytes"}
    closed = _gate(partial)
    assert not closed.passed and closed.count("unmeasured") == 1
    allowed = _gate(partial, allow=True)
    assert allowed.passed and allowed.count("skipped") == 1


def test_a_gate_with_no_artifact_does_not_pass() -> None:
    assert not gate_mod.Gate(target="pi", allow_unmeasured=False, artifacts=()).passed


def test_json_report_carries_every_check_with_its_source() -> None:
    data = json.loads(report.to_json(_gate({**ALL, "model_bytes": Measurement(2000, "file size")})))
    assert data["passed"] is False
    assert data["counts"] == {"pass": 3, "fail": 1, "unmeasured": 0, "skipped": 0}
    (artifact,) = data["artifacts"]
    size = artifact["checks"][0]
    assert size == {
        "budget": "max_model_bytes",
        "label": "model size",
        "unit": "bytes",
        "limit": 1000.0,
        "measured": 2000.0,
        "source": "file size",
        "off_target": None,
        "unmeasured_reason": None,
        "status": "fail",
        "estimate": False,
    }


def test_markdown_is_a_table_per_artifact() -> None:
    text = report.to_markdown(_gate({k: v for k, v in ALL.items() if k != "p95_latency_ms"}))
    assert text.startswith("## edgedistil gate: `pi` FAILED")
    assert "| p95 latency | 10.00 ms | not measured | ❌ unmeasured |  |" in text
    assert "| accuracy drop | 1.00 pt | 1.00 pt | ✅ pass |" in text
    assert "fail closed" in text


def test_junit_has_one_case_per_budget_and_counts_failures() -> None:
    gate = _gate(
        {**ALL, "model_bytes": Measurement(2000, "file size"), "p95_latency_ms": None},  # type: ignore[dict-item]
        allow=False,
    )
    root = ET.fromstring(report.to_junit(gate))
    (suite,) = root.findall("testsuite")
    assert suite.get("tests") == "4"
    assert suite.get("failures") == "2"  # the size over budget and the unmeasured latency
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {c.budget.key for c in gate.artifacts[0].checks}
    assert "exceeds" in cases["max_model_bytes"].find("failure").get("message")  # type: ignore[union-attr]
    assert cases["max_accuracy_drop"].find("failure") is None


def test_junit_marks_allowed_unmeasured_budgets_skipped() -> None:
    gate = _gate({k: v for k, v in ALL.items() if k != "peak_rss_bytes"}, allow=True)
    (suite,) = ET.fromstring(report.to_junit(gate)).findall("testsuite")
    assert suite.get("skipped") == "1" and suite.get("failures") == "0"


# ---- evidence from another machine, budgets changed since the build ----

HOST = "bench on x86_64 host localhost (AMD EPYC, 2 cores; local), 2026-01-01T00:00:00Z"
WHY = "not on the target (arm64 Cortex-A78): counts as unmeasured"


def test_an_off_target_figure_counts_as_unmeasured_but_stays_on_the_check() -> None:
    foreign = {**ALL, "p95_latency_ms": Measurement(5.0, HOST, off_target=WHY)}
    closed = _gate(foreign)
    (p95,) = [c for c in closed.artifacts[0].checks if c.budget.key == "max_p95_latency_ms"]
    # Within the budget, yet not a pass: the host's latency says nothing about the phone.
    assert p95.status == "unmeasured" and not closed.passed
    assert p95.measured is not None and p95.measured.value == 5.0 and p95.off_target == WHY
    allowed = _gate(foreign, allow=True)
    assert allowed.passed and allowed.count("skipped") == 1


def test_every_report_shows_an_off_target_figure_labelled() -> None:
    gate = _gate({**ALL, "p95_latency_ms": Measurement(33.86, HOST, off_target=WHY)}, allow=True)
    (p95,) = [
        c
        for c in json.loads(report.to_json(gate))["artifacts"][0]["checks"]
        if c["budget"] == "max_p95_latency_ms"
    ]
    assert p95["measured"] == 33.86 and p95["status"] == "skipped" and p95["off_target"] == WHY
    markdown = report.to_markdown(gate)
    assert f"| 33.86 ms (off target) | ⚪ skipped | {HOST}: {WHY} |" in markdown
    (suite,) = ET.fromstring(report.to_junit(gate)).findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    skipped = cases["max_p95_latency_ms"].find("skipped")
    assert skipped is not None and "33.86 ms (off target), counts as unmeasured" in str(
        skipped.get("message")
    )
    assert WHY in str(skipped.text)


def test_budget_changes_are_listed_in_every_report() -> None:
    size = gate_mod.budget_named("max_model_bytes")
    latency = gate_mod.budget_named("max_p95_latency_ms")
    changes = (
        gate_mod.BudgetChange(budget=size, built=25_000_000, now=1000),
        gate_mod.BudgetChange(budget=latency, built=None, now=10.0),
    )
    gate = dataclasses.replace(_gate(ALL), budget_changes=changes)
    data = json.loads(report.to_json(gate))
    assert data["budget_changes"] == [
        {"budget": "max_model_bytes", "label": "model size", "unit": "bytes",
         "built": 25_000_000, "now": 1000},
        {"budget": "max_p95_latency_ms", "label": "p95 latency", "unit": "ms",
         "built": None, "now": 10.0},
    ]  # fmt: skip
    markdown = report.to_markdown(gate)
    assert "- `max_model_bytes (model size): 23.84 MiB -> 1000 B`" in markdown
    assert "- `max_p95_latency_ms (p95 latency): (unset) -> 10.00 ms`" in markdown
    (suite,) = ET.fromstring(report.to_junit(gate)).findall("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["budget changed since the build: max_model_bytes"] == (
        "max_model_bytes (model size): 23.84 MiB -> 1000 B"
    )


# ---- against the teacher ----

TEACHER = dataclasses.replace(BUDGETS, max_drop_vs_teacher=0.3)
GONE = 'the teacher "/models/teacher" cannot be loaded: Teacher "/models/teacher" does not exist'


def _teacher_gate(
    measured: dict[str, Measurement], reasons: dict[str, str], allow: bool = False
) -> gate_mod.Gate:
    artifact = gate_mod.check_artifact(
        TEACHER, measured, artifact="a.onnx", sha256="ab" * 32, allow_unmeasured=allow,
        reasons=reasons,
    )  # fmt: skip
    return gate_mod.Gate(target="pi", allow_unmeasured=allow, artifacts=(artifact,))


def test_the_drop_vs_teacher_is_checked_after_the_drop_vs_the_float_student() -> None:
    far = _teacher_gate({**ALL, "drop_vs_teacher": Measurement(0.37, "1 - mean cosine")}, {})
    keys = [c.budget.key for c in far.artifacts[0].checks]
    assert keys[-2:] == ["max_accuracy_drop", "max_drop_vs_teacher"]
    assert far.artifacts[0].checks[-1].status == "fail" and not far.passed
    near = _teacher_gate({**ALL, "drop_vs_teacher": Measurement(0.3, "1 - mean cosine")}, {})
    assert near.passed  # the budget itself passes, as 0.01 passes max_accuracy_drop = 0.01


def test_a_figure_the_build_could_not_measure_shows_why_in_every_report() -> None:
    closed = _teacher_gate(ALL, {"drop_vs_teacher": GONE})
    check = closed.artifacts[0].checks[-1]
    assert check.status == "unmeasured" and check.unmeasured_reason == GONE
    assert not closed.passed
    data = json.loads(report.to_json(closed))["artifacts"][0]["checks"][-1]
    assert data["measured"] is None and data["unmeasured_reason"] == GONE
    assert f"| drop vs teacher | 30.00 pt | not measured | ❌ unmeasured | {GONE} |" in (
        report.to_markdown(closed)
    )
    (suite,) = ET.fromstring(report.to_junit(closed)).findall("testsuite")
    failure = {c.get("name"): c for c in suite.findall("testcase")}["max_drop_vs_teacher"]
    assert GONE in str(failure.findtext("failure"))
    allowed = _teacher_gate(ALL, {"drop_vs_teacher": GONE}, allow=True)
    assert allowed.passed and allowed.artifacts[0].checks[-1].status == "skipped"
    # a reason never hides a figure: a measured value is checked as measured
    measured = _teacher_gate({**ALL, "drop_vs_teacher": Measurement(0.1, "s")}, {"x": "y"})
    assert measured.artifacts[0].checks[-1].unmeasured_reason is None and measured.passed


def test_a_manifest_from_before_the_comparison_says_so() -> None:
    from edgedistil.evidence import unmeasured_reasons

    assert "an older edgedistil made it" in unmeasured_reasons({})["drop_vs_teacher"]
    assert unmeasured_reasons({"drop_vs_teacher_unmeasured": GONE}) == {"drop_vs_teacher": GONE}
    assert unmeasured_reasons({"drop_vs_teacher": 0.2}) == {}


# ---- a latency estimated from op counts: shown always, counted only when allowed ----

ESTIMATE = gate_mod.LatencyEstimate(
    low_ms=4.0, high_ms=9.0, source="estimate, not a measurement: op counts", breakdown="FC 90%"
)
NO_LATENCY = {k: v for k, v in ALL.items() if k != "p95_latency_ms"}


def _estimated(
    measured: dict[str, Measurement], *, allow: bool, high_ms: float = 9.0
) -> gate_mod.Gate:
    made = dataclasses.replace(ESTIMATE, high_ms=high_ms)
    artifact = gate_mod.check_artifact(
        BUDGETS,
        measured,
        artifact="tflite-micro/model.full-int8.tflite",
        sha256="ab" * 32,
        latency_estimate=made,
        allow_estimates=allow,
    )
    return gate_mod.Gate(
        target="m7", allow_unmeasured=False, artifacts=(artifact,), allow_estimates=allow
    )


def _latency(gate: gate_mod.Gate) -> gate_mod.Check:
    (check,) = [c for c in gate.artifacts[0].checks if c.budget.key == "max_p95_latency_ms"]
    return check


def test_without_the_flag_an_estimate_leaves_the_latency_unmeasured() -> None:
    gate = _estimated(NO_LATENCY, allow=False)
    check = _latency(gate)
    assert check.status == "unmeasured" and check.measured is None and check.estimate is None
    assert not gate.passed and gate.artifacts[0].latency_estimate == ESTIMATE
    assert not gate.artifacts[0].estimate_counted


def test_with_the_flag_the_budget_judges_the_estimates_high_end() -> None:
    within = _latency(_estimated(NO_LATENCY, allow=True, high_ms=9.99))
    assert within.status == "pass" and within.estimate is not None
    assert within.measured is not None and within.measured.value == 9.99
    # the low end (4 ms) is under the 10 ms budget, the high end over it: the budget fails
    over = _latency(_estimated(NO_LATENCY, allow=True, high_ms=10.5))
    assert over.status == "fail" and over.measured is not None and over.measured.value == 10.5


def test_a_latency_measured_on_the_target_wins_over_an_estimate() -> None:
    check = _latency(_estimated(ALL, allow=True, high_ms=50.0))
    assert check.status == "pass" and check.estimate is None
    assert check.measured == ALL["p95_latency_ms"]
    laptop = Measurement(1.0, "bench on a laptop", off_target="not the target")
    replaced = _latency(_estimated({**NO_LATENCY, "p95_latency_ms": laptop}, allow=True))
    assert replaced.estimate is not None and replaced.status == "pass"


def test_every_report_labels_the_estimate_with_its_range() -> None:
    for allow in (False, True):
        gate = _estimated(NO_LATENCY, allow=allow)
        data = json.loads(report.to_json(gate))
        assert data["allow_estimates"] is allow
        made = data["artifacts"][0]["latency_estimate"]
        assert (made["low_ms"], made["high_ms"], made["counted"]) == (4.0, 9.0, allow)
        latency = [c for c in data["artifacts"][0]["checks"] if c["budget"] == "max_p95_latency_ms"]
        assert latency[0]["estimate"] is allow
        markdown = report.to_markdown(gate)
        assert "Estimated latency, not measured: 4.00-9.00 ms per inference" in markdown
        junit = ET.fromstring(report.to_junit(gate))
        properties = {p.get("name"): p.get("value") for p in junit.iter("property")}
        assert "4.00-9.00 ms" in properties["latency_estimate"]
        counted = "counted by the latency budget" in markdown
        assert counted is allow and ("not counted by the gate" in markdown) is not allow
    assert "| 9.00 ms (estimate, range 4.00-9.00 ms) | ✅ pass (estimate) |" in markdown
    assert "*(estimate)*" in markdown and "not a measurement" in markdown


def test_junit_says_a_failed_budget_judged_an_estimate() -> None:
    gate = _estimated(NO_LATENCY, allow=True, high_ms=12.0)
    suite = ET.fromstring(report.to_junit(gate)).find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["max_p95_latency_ms"].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("the estimate's high end 12.00 ms (estimate")
    assert "not a measurement" in (failure.text or "")
