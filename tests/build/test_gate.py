"""The gate of a build folder (``edgedistil.build.gate``), on folders written by hand: budgets
against the manifest's evidence, the four reports, and the bytes checked before any verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgedistil.build.gate import forget_reports, judge
from edgedistil.errors import BuildError
from edgedistil.manifest import MANIFEST, SCHEMA
from edgedistil.profiles import load_profile
from edgedistil.release import REPORTS
from edgedistil.teacher import sha256_of

ARTIFACT = "onnx/model.int8.onnx"


def _tiny_onnx(path: Path) -> None:
    """A real ONNX file (one Identity node): the HTML report reads the graph it describes."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "tiny", [x], [y])
    onnx.save(helper.make_model(graph), str(path))


def _folder(root: Path, *, drop: float) -> Path:
    """A build folder holding one release whose accuracy drop is ``drop``."""
    profile = load_profile("raspberry-pi-4")
    (root / "onnx").mkdir(parents=True)
    _tiny_onnx(root / ARTIFACT)
    info = {
        "sha256": sha256_of(root / ARTIFACT),
        "bytes": (root / ARTIFACT).stat().st_size,
        "stage": "onnx-verify",
        "format": "onnx",
        "role": "release",
        "accuracy_drop": drop,
        "accuracy_drop_source": "written by the test",
        "drop_vs_teacher": 0.1,
        "drop_vs_teacher_source": "written by the test",
    }
    data = {
        "schema": SCHEMA,
        "target": profile.name,
        "profile": profile.to_dict(),
        "stages": {},
        "artifacts": {ARTIFACT: info},
    }
    (root / MANIFEST).write_text(json.dumps(data), encoding="utf-8")
    return root


def test_a_release_within_its_budgets_passes_and_four_reports_are_written(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "b", drop=0.001)
    verdict = judge(folder, load_profile("raspberry-pi-4"), allow_unmeasured=True)
    assert verdict.gate.passed
    assert [p.name for p in verdict.reports] == list(REPORTS)
    written = json.loads((folder / "gate.json").read_text(encoding="utf-8"))
    assert written["passed"] is True


def test_a_broken_budget_is_a_failed_verdict_not_an_error(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "b", drop=0.5)
    reports = tmp_path / "reports"
    verdict = judge(
        folder, load_profile("raspberry-pi-4"), allow_unmeasured=True, report_dir=reports
    )
    assert not verdict.gate.passed
    failed = [c.budget.key for a in verdict.gate.artifacts for c in a.checks if c.status == "fail"]
    assert failed == ["max_accuracy_drop"]
    assert all(p.parent == reports for p in verdict.reports)
    assert not (folder / "gate.json").exists()


def test_unmeasured_budgets_fail_closed_unless_allowed(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "b", drop=0.001)
    verdict = judge(folder, load_profile("raspberry-pi-4"), allow_unmeasured=False)
    statuses = {c.budget.key: c.status for c in verdict.gate.artifacts[0].checks}
    assert statuses["max_p95_latency_ms"] == "unmeasured"
    assert not verdict.gate.passed


def test_changed_bytes_are_refused_before_any_verdict(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "b", drop=0.001)
    (folder / ARTIFACT).write_bytes(b"other bytes than were verified")
    with pytest.raises(BuildError, match="changed since the build"):
        judge(folder, load_profile("raspberry-pi-4"), allow_unmeasured=True)
    assert not (folder / "gate.json").exists()


def test_forget_reports_removes_the_last_verdict_only(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "b", drop=0.001)
    judge(folder, load_profile("raspberry-pi-4"), allow_unmeasured=True)
    forget_reports(folder)
    assert not any((folder / name).exists() for name in REPORTS)
    assert (folder / ARTIFACT).is_file() and (folder / MANIFEST).is_file()
