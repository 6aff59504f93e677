"""What the gate is fed (``edgedistil.evidence``), on hand-made build folders: a manifest written
by the build's own writer around a few bytes, and bench results written as ``bench`` stores them.
No model, no runtime: each case runs in milliseconds."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from edgedistil.bench.results import results_dir
from edgedistil.errors import BuildError
from edgedistil.evidence import gate_folder
from edgedistil.gate import Check, Gate
from edgedistil.manifest import Manifest
from edgedistil.profiles import Profile, load_profile
from edgedistil.teacher import sha256_of
from tests.conftest import write_profile

ARTIFACT = "onnx/model.int8.onnx"
QUANTILES = ("min", "p50", "p90", "p95", "p99", "max")
# What the Raspberry Pi 4 profile's own runner reports from the board.
ON_THE_PI = {"runner": "ssh", "board": "pi@board", "machine": "aarch64", "cpu_model": "Cortex-A72"}


def _build(root: Path, target: str = "raspberry-pi-4", artifact: str = ARTIFACT) -> Path:
    """A build folder for ``target`` with one verified release artifact of 5,000 bytes."""
    folder = root / "build"
    (folder / artifact).parent.mkdir(parents=True)
    (folder / artifact).write_bytes(b"\1" * 5_000)
    manifest = Manifest.open(folder)
    manifest.add_artifact(
        artifact,
        stage="verify",
        role="release",
        accuracy_drop=0.004,
        accuracy_drop_source="int8 vs float on 100 held-out rows",
        drop_vs_teacher=0.1,
        drop_vs_teacher_source="1 - mean cosine to the teacher",
    )
    manifest.data["profile"] = load_profile(target).to_dict()
    manifest.save()
    return folder


def _bench(
    folder: Path,
    *,
    p95: float,
    ran_on: dict[str, Any] | None = ON_THE_PI,
    timestamp: str = "2026-01-01T10-00-00",
    sha256: str | None = None,
    where: Path | None = None,
) -> Path:
    """A stored bench result of the artifact's bytes (or of ``sha256``), as ``bench`` writes it."""
    entry: dict[str, Any] = {
        "artifact": Path(ARTIFACT).name,
        "artifact_sha256": sha256 or sha256_of(folder / ARTIFACT),
        "board": "pi@board",
        "runner": "ssh",
        "timestamp": timestamp,
        "result": {
            "latency_ms": {q: p95 for q in QUANTILES},
            "memory": {"peak_rss_bytes": 80_000_000},
        },
    }
    if ran_on is not None:
        entry["ran_on"] = {"cores": 4, "os": "Linux 6.6", **ran_on}
    directory = where or results_dir(folder / ARTIFACT)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{timestamp}.json"
    path.write_text(json.dumps(entry), encoding="utf-8")
    return path


def _check(gate: Gate, key: str) -> Check:
    (artifact,) = gate.artifacts
    return next(c for c in artifact.checks if c.budget.key == key)


def _gate(folder: Path, profile: Profile | None = None, **kw: Any) -> Gate:
    return gate_folder(folder, profile or load_profile("raspberry-pi-4"), **kw)


def test_the_accuracy_budget_reads_the_arm_figure_when_the_build_has_one(tmp_path: Path) -> None:
    """The arm-fidelity stage's figure (the host's drop and what the ARM kernels change) is the
    accuracy budget's, with its source; a failed budget on it fails the gate."""
    folder = _build(tmp_path)
    assert _check(_gate(folder), "max_accuracy_drop").measured.value == 0.004  # the host's
    manifest = Manifest.open(folder)
    arm = {
        "accuracy_drop": 0.012,
        "source": "host (x86) drop 0.0040 + what the arm64 kernels change on 48 sentences",
        "host_accuracy_drop": 0.004,
        "vs_host": 0.992,
        "metric": "cosine",
        "sentences": 48,
        "core": "Cortex-A72",
        "runtime": "onnxruntime 1.32.0",
    }
    manifest.data["artifacts"][ARTIFACT]["arm"] = arm
    manifest.save()
    check = _check(_gate(folder), "max_accuracy_drop")
    assert check.measured.value == 0.012 and check.measured.source == arm["source"]
    assert check.status == "fail"  # the Pi 4's budget is 0.01: x86's 0.004 would have passed


def test_a_latency_measured_on_the_board_counts_both_ways(tmp_path: Path) -> None:
    folder = _build(tmp_path)
    _bench(folder, p95=12.5)
    fast = _check(_gate(folder), "max_p95_latency_ms")
    assert fast.status == "pass" and fast.measured is not None and fast.off_target is None
    assert fast.measured.value == 12.5
    assert "bench on arm64 board pi@board (Cortex-A72, 4 cores; ssh)" in fast.measured.source
    _bench(folder, p95=41.0, timestamp="2026-01-02T10-00-00")  # the newest result is judged
    assert _check(_gate(folder), "max_p95_latency_ms").status == "fail"


def test_a_latency_from_this_host_is_shown_but_counts_as_unmeasured(tmp_path: Path) -> None:
    folder = _build(tmp_path)
    laptop = {"runner": "local", "board": "localhost", "machine": "x86_64", "cpu_model": "EPYC"}
    _bench(folder, p95=1.0, ran_on=laptop)  # far inside the budget, and still no evidence
    closed = _gate(folder)
    check = _check(closed, "max_p95_latency_ms")
    assert check.status == "unmeasured" and not closed.passed
    assert check.measured is not None and check.measured.value == 1.0
    assert check.off_target == "not on the target (arm64 Cortex-A72): counts as unmeasured"
    assert _check(closed, "max_peak_rss_bytes").status == "unmeasured"
    allowed = _gate(folder, allow_unmeasured=True)
    assert _check(allowed, "max_p95_latency_ms").status == "skipped" and allowed.passed


@pytest.mark.parametrize(
    ("ran_on", "why"),
    [
        ({**ON_THE_PI, "runner": "local"}, "a host not declared to be the target"),
        ({**ON_THE_PI, "runner": "local", "host_is_target": True}, None),
        ({**ON_THE_PI, "runner": "adb"}, "not through the target's runner (ssh) but adb"),
        ({**ON_THE_PI, "machine": "armv7l"}, "not on the target (arm64 Cortex-A72)"),
        (None, "does not say what it ran on (an older edgedistil wrote it)"),
    ],
    ids=["arm-host-undeclared", "arm-host-declared", "other-runner", "32-bit-arm", "no-ran-on"],
)
def test_what_makes_a_result_off_target(
    tmp_path: Path, ran_on: dict[str, Any] | None, why: str | None
) -> None:
    folder = _build(tmp_path)
    _bench(folder, p95=12.5, ran_on=ran_on)
    check = _check(_gate(folder), "max_p95_latency_ms")
    if why is None:
        assert check.off_target is None and check.status == "pass"
    else:
        assert check.off_target is not None and why in check.off_target
        assert check.status == "unmeasured"


def test_an_older_result_from_the_board_wins_over_a_newer_one_from_elsewhere(
    tmp_path: Path,
) -> None:
    folder = _build(tmp_path)
    _bench(folder, p95=30.0, timestamp="2026-01-01T10-00-00")
    laptop = {"runner": "local", "board": "localhost", "machine": "x86_64"}
    _bench(folder, p95=1.0, ran_on=laptop, timestamp="2026-03-01T10-00-00")
    check = _check(_gate(folder), "max_p95_latency_ms")
    assert check.measured is not None and check.measured.value == 30.0
    assert check.off_target is None and check.status == "pass"


def test_results_without_device_facts_give_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _build(tmp_path)
    _bench(folder, p95=12.5, ran_on=None, timestamp="2026-01-01T10-00-00")
    newest = _bench(folder, p95=13.0, ran_on=None, timestamp="2026-01-02T10-00-00")
    with caplog.at_level(logging.WARNING, logger="edgedistil.evidence"):
        check = _check(_gate(folder), "max_p95_latency_ms")
    assert check.measured is not None and check.measured.value == 13.0
    (record,) = caplog.records
    assert str(newest) in record.getMessage() and "and 1 older result(s)" in record.getMessage()


def test_a_bench_file_given_to_check_replaces_the_stored_ones(tmp_path: Path) -> None:
    folder = _build(tmp_path)
    _bench(folder, p95=30.0)
    given = _bench(folder, p95=35.0, where=tmp_path / "from-ci")
    check = _check(_gate(folder, bench_files=(given,)), "max_p95_latency_ms")
    assert check.measured is not None and check.measured.value == 35.0
    stranger = _bench(folder, p95=1.0, sha256="ab" * 32, where=tmp_path / "other")
    with pytest.raises(BuildError, match="is for none of this build's release artifacts"):
        _gate(folder, bench_files=(stranger,))


def test_stored_results_of_other_bytes_are_refused_not_skipped(tmp_path: Path) -> None:
    folder = _build(tmp_path)
    _bench(folder, p95=12.5, sha256="ab" * 32)
    with pytest.raises(BuildError, match=r"bench results are for other bytes \(sha256 abababab"):
        _gate(folder)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("{not json", "not a readable bench result"), ('{"ok": true}', "not a bench result")],
)
def test_a_broken_bench_file_is_one_error(tmp_path: Path, text: str, expected: str) -> None:
    folder = _build(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(BuildError, match=expected):
        _gate(folder, bench_files=(broken,))


def test_changed_or_missing_bytes_are_refused(tmp_path: Path) -> None:
    folder = _build(tmp_path)
    (folder / ARTIFACT).write_bytes(b"\2" * 5_000)
    with pytest.raises(BuildError, match="changed since the build"):
        _gate(folder)
    (folder / ARTIFACT).unlink()
    with pytest.raises(BuildError, match="listed in the manifest but missing"):
        _gate(folder)


def _listed_beside(folder: Path, rel: str, data: bytes, **info: Any) -> None:
    """``rel`` made beside the release and listed as the build lists it: an artifact when
    ``info`` has a role, else an output of a stage that is done."""
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_bytes(data)
    manifest = Manifest.open(folder)
    if info:
        manifest.add_artifact(rel, stage="verify", **info)
    else:
        manifest.finish("micro", "k", [rel], {})
    manifest.save()


@pytest.mark.parametrize(
    ("rel", "info"),
    [
        ("onnx/model.int8.ort", {"role": "copy", "format": "ort"}),  # what ORT Mobile loads
        ("onnx/model.onnx", {"role": "float", "format": "onnx"}),
        ("tflite-micro/model_data.cc", {}),  # a stage output: the C array that ships
    ],
)
def test_every_listed_file_is_rehashed_whatever_its_role(
    tmp_path: Path, rel: str, info: dict[str, str]
) -> None:
    folder = _build(tmp_path)
    _listed_beside(folder, rel, b"\3" * 64, **info)
    _bench(folder, p95=30.0)
    _gate(folder)  # intact: judged
    (folder / rel).write_bytes(b"\4" * 64)
    with pytest.raises(BuildError, match=f"{rel} changed since the build"):
        _gate(folder)
    (folder / rel).unlink()
    with pytest.raises(BuildError, match=f"{rel}: listed in the manifest but missing"):
        _gate(folder)


def test_a_changed_folder_output_is_refused_and_a_stage_being_redone_is_not_read(
    tmp_path: Path,
) -> None:
    folder = _build(tmp_path)
    (folder / "student").mkdir()
    (folder / "student" / "config.json").write_text("{}", encoding="utf-8")
    manifest = Manifest.open(folder)
    manifest.finish("distill", "k1", ["student"], {})
    _bench(folder, p95=30.0)
    _gate(folder)
    (folder / "student" / "config.json").write_text('{"edited": 1}', encoding="utf-8")
    with pytest.raises(BuildError, match="student changed since the build"):
        _gate(folder)
    # A stage marked as being redone lists the outputs it replaces: not the build's any more.
    manifest.withdraw("distill")
    _gate(folder)


def test_a_manifest_without_a_release_says_how_to_finish(tmp_path: Path) -> None:
    folder = _build(tmp_path)
    manifest = Manifest.open(folder)
    manifest.data["artifacts"][ARTIFACT]["role"] = "float"
    manifest.save()
    with pytest.raises(BuildError, match="lists no verified release artifact"):
        _gate(folder)


def test_budgets_may_change_since_the_build_and_nothing_else(tmp_path: Path) -> None:
    folder = _build(tmp_path)
    _bench(folder, p95=30.0)
    pi4 = 'extends = "raspberry-pi-4"\ndescription = "my own Pi"\n'
    tighter = write_profile(tmp_path / "tight.toml", pi4 + "[budgets]\nmax_p95_latency_ms = 20.0\n")
    gate = _gate(folder, load_profile(str(tighter)))
    (change,) = gate.budget_changes
    assert (change.budget.key, change.built, change.now) == ("max_p95_latency_ms", 40.0, 20.0)
    assert _check(gate, "max_p95_latency_ms").status == "fail"  # checked at the new value
    shorter = write_profile(tmp_path / "short.toml", pi4 + "[export]\nsequence_length = 64\n")
    with pytest.raises(BuildError, match=r"\(\[export\]\.sequence_length 128 -> 64\); rebuild"):
        _gate(folder, load_profile(str(shorter)))


def test_a_microcontroller_is_judged_on_flash_with_the_runtime_estimate(tmp_path: Path) -> None:
    folder = _build(tmp_path, "esp32-s3", "micro/model.tflite")
    gate = _gate(folder, load_profile("esp32-s3"), allow_unmeasured=True)
    flash = _check(gate, "max_flash_bytes")
    assert flash.measured is not None and flash.measured.value == 5_000 + 1_048_576
    assert "runtime_overhead_bytes (1,048,576, an estimate)" in flash.measured.source
    assert _check(gate, "max_arena_bytes").status == "skipped"  # the build recorded no arena


def test_a_microcontrollers_flash_counts_the_c_tokenizer_beside_its_array(tmp_path: Path) -> None:
    folder = _build(tmp_path, "esp32-s3", "micro/model.tflite")
    manifest = Manifest.open(folder)
    manifest.data["artifacts"]["micro/model.tflite"]["tokenizer_flash_bytes"] = 30_000
    manifest.save()
    gate = _gate(folder, load_profile("esp32-s3"), allow_unmeasured=True)
    flash = _check(gate, "max_flash_bytes")
    assert flash.measured is not None and flash.measured.value == 5_000 + 1_048_576 + 30_000
    assert "+ the C tokenizer beside the C array (30,000)" in flash.measured.source
