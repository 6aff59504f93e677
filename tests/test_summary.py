"""``edgedistil summary``: several build folders' gates in one table, one exit code (issue 14:
``make demo`` builds every target whatever one's verdict, then answers once).

The folders are made with the manifest and report writers the build uses, around a real file:
``summary`` reads only what they write."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from edgedistil import gate as gate_mod
from edgedistil import report, summary
from edgedistil.cli import cli
from edgedistil.manifest import Manifest
from edgedistil.profiles import load_profile
from edgedistil.teacher import sha256_of
from tests.conftest import save_tiny


def _summary(*folders: Path) -> Result:
    return CliRunner().invoke(cli, ["summary", *map(str, folders)], catch_exceptions=False)


def _folder(root: Path, name: str, *, model_bytes: int = 5_000) -> Path:
    """A build folder with one release artifact of ``model_bytes`` and its gate against the
    Raspberry Pi 4 budgets (latency and RSS unmeasured, allowed)."""
    folder = root / name
    (folder / "onnx").mkdir(parents=True)
    (folder / "onnx" / "model.int8.onnx").write_bytes(b"\0" * model_bytes)
    manifest = Manifest.open(folder)
    manifest.add_artifact("onnx/model.int8.onnx", stage="onnx-verify", role="release")
    manifest.save()
    measured = {
        "model_bytes": gate_mod.Measurement(float(model_bytes), "file size"),
        "accuracy_drop": gate_mod.Measurement(0.001, "agreement of int8 vs float"),
    }
    budgets = load_profile("raspberry-pi-4").budgets
    artifact = gate_mod.check_artifact(
        budgets,
        measured,
        artifact="onnx/model.int8.onnx",
        sha256=sha256_of(folder / "onnx" / "model.int8.onnx"),
        allow_unmeasured=True,
    )
    gate = gate_mod.Gate(target="raspberry-pi-4", allow_unmeasured=True, artifacts=(artifact,))
    (folder / "gate.json").write_text(report.to_json(gate))
    return folder


def test_every_gate_passed_is_exit_0(tmp_path: Path) -> None:
    result = _summary(_folder(tmp_path, "phone"), _folder(tmp_path, "watch"))
    assert result.exit_code == 0, result.output
    assert result.output.count("│ passed ") == 2 and "PASSED" in result.output


def test_one_failed_gate_is_exit_3_and_names_the_budget(tmp_path: Path) -> None:
    too_big = load_profile("raspberry-pi-4").budgets.max_model_bytes + 1
    result = _summary(_folder(tmp_path, "good"), _folder(tmp_path, "bad", model_bytes=too_big))
    assert result.exit_code == 3, result.output
    assert result.output.count("│ failed ") == 1 and "FAILED" in result.output
    (bad,) = [row for row in summary.summarize((tmp_path / "bad",)) if not row.passed]
    assert "model size fail" in bad.reason


def test_a_folder_without_a_current_gate_is_exit_1_with_the_reason(tmp_path: Path) -> None:
    stale = _folder(tmp_path, "stale")
    (stale / "onnx" / "model.int8.onnx").write_bytes(b"other bytes")
    manifest = Manifest.open(stale)
    manifest.add_artifact("onnx/model.int8.onnx", stage="onnx-verify", role="release")
    manifest.save()  # the manifest now lists bytes the gate never judged
    broken = _folder(tmp_path, "broken")
    (broken / "gate.json").write_text('{"target": 3, "passed": "yes"}')
    unfinished = _folder(tmp_path, "unfinished")
    (unfinished / "gate.json").unlink()
    folders = (_folder(tmp_path, "good"), tmp_path / "never-built", stale, broken, unfinished)
    result = _summary(*folders)
    assert result.exit_code == 1, result.output
    assert result.output.count("│ no verdict ") == 4 and "INCOMPLETE" in result.output
    reasons = [row.reason for row in summary.summarize(folders)[1:]]
    expected = ("no such build folder", "other release artifacts", "not a gate report", "no gate")
    for reason, words in zip(reasons, expected, strict=True):
        assert words in reason
    assert "Traceback" not in result.output


def test_a_build_that_fails_leaves_no_gate_of_the_last_one(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "rebuilt")
    gate = (folder / "gate.json").read_bytes()
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    build = ["build", "--target", "raspberry-pi-4", "--out", str(folder), "--skip-bench"]
    refused = CliRunner().invoke(cli, [*build, "--data", str(empty)])
    # Refused at its inputs: the build never started, and the folder, its gate with it, is as
    # the last build left it.
    assert refused.exit_code == 1, refused.output
    assert (folder / "gate.json").read_bytes() == gate
    # A complete model folder (config, weights, tokenizer: the inputs check passes it) whose
    # 16 positions no stage can plan at the profile's length: the build starts, then fails.
    student = save_tiny(tmp_path / "student", max_position_embeddings=16)
    result = CliRunner().invoke(cli, [*build, "--student", str(student)])
    assert result.exit_code == 1, result.output
    assert not (folder / "gate.json").exists()
    assert _summary(folder).exit_code == 1


def test_the_summary_shows_each_latency_estimate_as_one(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "m7")
    estimate = gate_mod.LatencyEstimate(low_ms=3.0, high_ms=7.5, source="op counts", breakdown="")
    budgets = load_profile("raspberry-pi-4").budgets
    sha = sha256_of(folder / "onnx" / "model.int8.onnx")
    for allow, counted in ((False, "not counted"), (True, "counted")):
        artifact = gate_mod.check_artifact(
            budgets,
            {"model_bytes": gate_mod.Measurement(5_000.0, "file size")},
            artifact="onnx/model.int8.onnx",
            sha256=sha,
            latency_estimate=estimate,
            allow_estimates=allow,
        )
        gate = gate_mod.Gate(target="m7", allow_unmeasured=False, artifacts=(artifact,))
        (folder / "gate.json").write_text(report.to_json(gate))
        (row,) = summary.summarize((folder,))
        assert row.estimates == f"estimate 3.00-7.50 ms ({counted})"
        result = _summary(folder)
        assert "estimate 3.00-7.50" in result.output
    # the latency budget (40 ms on a Pi 4) judged the estimate's high end: it passed as one
    assert "p95 latency" not in row.reason
    (judged,) = [c for c in artifact.checks if c.budget.key == "max_p95_latency_ms"]
    assert judged.status == "pass" and judged.estimate == estimate
