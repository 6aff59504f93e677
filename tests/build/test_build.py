"""``edgedistil build`` and ``edgedistil check`` end to end on a tiny random BERT: the real
distillation, ONNX export, int8 quantization, local bench and gate, into one folder."""

from __future__ import annotations

import html
import json
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from edgedistil.bench.machine import architecture_of
from edgedistil.cli import cli
from edgedistil.teacher import sha256_of
from tests.conftest import error_line, save_tiny

# This host's architecture, in the profiles' words: a local bench counts for a profile only on
# a host of its architecture declared to be the target (--host-is-target).
HOST_ARCH = architecture_of(platform.machine())
# The Raspberry Pi 4 profile with ONNX only (the format every test here builds), on this host's
# architecture, so that this host may stand for the board.
PROFILE = f"""extends = "raspberry-pi-4"
name = "pi4-onnx"
description = "the Raspberry Pi 4 profile, ONNX only, on this host's architecture"
[device]
architecture = "{HOST_ARCH}"
[export]
runtimes = ["onnxruntime"]
formats = ["onnx"]
"""
LOCAL = ("--runner", "local", "--host-is-target")  # this host benches as the target itself


def _profile(directory: Path, extra: str = "", name: str = "pi4.toml") -> Path:
    path = directory / name
    path.write_text(PROFILE + extra, encoding="utf-8")
    return path


# Without --data a build augments the sample text threefold (build.student.SAMPLE_AUGMENT):
# these tests are about the stages, so they train on the text as given, except the one below
# that asks for the default.
PLAIN = ("--augment", "0")


def _build(*args: str | Path, augment: tuple[str, ...] = PLAIN) -> Result:
    result = CliRunner().invoke(
        cli,
        ["build", "--epochs", "1", "--runs", "5", *augment, *map(str, args)],
        catch_exceptions=False,
    )
    return result


def _check(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["check", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(teacher, profile, build folder) of one complete build; tests copy the folder."""
    root = tmp_path_factory.mktemp("build")
    teacher = save_tiny(root / "teacher")
    profile = _profile(root)
    out = root / "out"
    result = _build("--target", profile, "--teacher", teacher, "--out", out, *LOCAL)
    assert result.exit_code == 0, result.output + result.stderr
    return teacher, profile, out


def _copy(built: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(built[2], tmp_path / "copy"))


@pytest.mark.slow
def test_build_writes_a_manifest_whose_hashes_match_the_files(
    built: tuple[Path, Path, Path],
) -> None:
    _, _, out = built
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"] == "pi4-onnx"
    assert manifest["seed"] == 42
    assert manifest["profile"]["budgets"]["max_p95_latency_ms"] == 40.0
    assert {"python", "torch", "onnxruntime", "edgedistil"} <= set(manifest["versions"])
    assert manifest["inputs"]["data"]["sha256"] == sha256_of(
        Path(manifest["inputs"]["data"]["path"])
    )
    roles = {rel: a["role"] for rel, a in manifest["artifacts"].items()}
    assert roles == {"onnx/model.onnx": "float", "onnx/model.int8.onnx": "release"}
    for rel, artifact in manifest["artifacts"].items():
        assert sha256_of(out / rel) == artifact["sha256"]
        assert (out / rel).stat().st_size == artifact["bytes"]
    assert set(manifest["stages"]) == {
        "plan",
        "distill",
        "onnx-export",
        "onnx-verify",
        "vs-teacher",
        "bench onnx/model.int8.onnx",
    }
    # The release against the teacher too, end to end: the student is the tiny teacher's.
    release = manifest["artifacts"]["onnx/model.int8.onnx"]
    assert release["vs_teacher"]["runtime"] == "ONNX Runtime"
    assert release["vs_teacher"]["teacher"] == manifest["inputs"]["teacher"]
    assert 0 <= release["drop_vs_teacher"] < 0.05
    # and the float student before it, in the distill stage (its summary is build's line)
    distilled = manifest["stages"]["distill"]
    assert distilled["vs_teacher"]["eval_source"] == "held-out share of the data"
    assert 0 < distilled["vs_teacher"]["cosine"] <= 1
    assert "Against the teacher on " in distilled["summary"]
    for name in ("gate.json", "gate.md", "gate.junit.xml", "report.html", "bytes.png"):
        assert (out / name).is_file(), name


@pytest.mark.slow
def test_a_second_build_redoes_nothing(built: tuple[Path, Path, Path], tmp_path: Path) -> None:
    teacher, profile, _ = built
    out = _copy(built, tmp_path)
    before = (out / "onnx" / "model.int8.onnx").stat().st_mtime_ns
    result = _build("--target", profile, "--teacher", teacher, "--out", out, *LOCAL)
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.output.splitlines() if line.startswith("= ")]
    assert len(skipped) == 6, result.output
    assert (out / "onnx" / "model.int8.onnx").stat().st_mtime_ns == before


@pytest.mark.slow
def test_other_edgedistil_code_redoes_every_stage(
    built: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgedistil import manifest

    teacher, profile, _ = built
    out = _copy(built, tmp_path)
    monkeypatch.setattr(manifest, "code_sha256", lambda: "an upgraded edgedistil")
    result = _build("--target", profile, "--teacher", teacher, "--out", out, *LOCAL)
    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if line.startswith("= ")]


@pytest.mark.slow
def test_a_changed_input_redoes_its_stage_and_those_after(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    teacher, profile, _ = built
    out = _copy(built, tmp_path)
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("set a timer for five minutes\nthe battery is low\n" * 20)
    result = _build(
        "--target", profile, "--teacher", teacher, "--out", out, *LOCAL,
        "--calibration", calibration,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "= distill: inputs unchanged" in lines and "= onnx-export: inputs unchanged" in lines
    assert any(line.startswith("✓ onnx-verify") for line in lines)


@pytest.mark.slow
def test_the_sample_text_is_augmented_by_default_and_the_distillation_redone(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    teacher, profile, _ = built
    out = _copy(built, tmp_path)
    result = _build("--target", profile, "--teacher", teacher, "--out", out, *LOCAL, augment=())
    assert result.exit_code == 0, result.output
    assert "= plan: inputs unchanged" in result.output.splitlines()
    distilled = json.loads((out / "manifest.json").read_text())["stages"]["distill"]
    assert 0 < distilled["augmented_examples"] <= 2 * distilled["train_examples"]
    after = distilled["train_examples"] + distilled["augmented_examples"]
    assert f"{distilled['train_examples']:,} training sentences, {after:,} with augmentation" in (
        result.output
    )


@pytest.mark.slow
def test_two_builds_with_one_seed_give_identical_artifacts(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    teacher, profile, first = built
    second = tmp_path / "second"
    assert _build("--target", profile, "--teacher", teacher, "--out", second, "--skip-bench",
                  "--allow-unmeasured").exit_code == 0  # fmt: skip
    a = json.loads((first / "manifest.json").read_text())["artifacts"]
    b = json.loads((second / "manifest.json").read_text())["artifacts"]
    assert {k: v["sha256"] for k, v in a.items()} == {k: v["sha256"] for k, v in b.items()}
    assert sha256_of(first / "student" / "model.safetensors") == sha256_of(
        second / "student" / "model.safetensors"
    )


@pytest.mark.slow
def test_check_passes_with_exit_0_and_writes_every_report(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    reports = tmp_path / "reports"
    result = _check(out, "--target", profile, "--report-dir", reports)
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output
    gate = json.loads((reports / "gate.json").read_text())
    assert gate["passed"] and gate["counts"]["pass"] == 5
    html = (reports / "report.html").read_text()
    for image in ("bytes.png", "latency.png", "accuracy.png"):
        assert f'src="{image}"' in html and (reports / image).stat().st_size > 0


@pytest.mark.slow
def test_check_fails_with_exit_3_when_a_budget_is_exceeded(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, out = built
    tight = _profile(tmp_path, "[budgets]\nmax_model_bytes = 1000\n")
    folder = tmp_path / "tight"
    result = _build("--target", tight, "--student", out / "student", "--out", folder,
                    *LOCAL)  # fmt: skip
    assert result.exit_code == 3, result.output
    gate = json.loads((folder / "gate.json").read_text())
    (size,) = [c for c in gate["artifacts"][0]["checks"] if c["budget"] == "max_model_bytes"]
    assert size["status"] == "fail" and size["measured"] > 1000
    assert _check(folder, "--target", tight).exit_code == 3
    assert "distill" not in json.loads((folder / "manifest.json").read_text())["stages"]


@pytest.mark.slow
def test_unmeasured_budgets_fail_closed_unless_allowed(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, out = built
    folder = tmp_path / "unbenched"
    result = _build("--target", profile, "--student", out / "student", "--out", folder,
                    "--skip-bench")  # fmt: skip
    assert result.exit_code == 3
    gate = json.loads((folder / "gate.json").read_text())
    assert gate["counts"]["unmeasured"] == 2  # p95 latency and peak RSS
    allowed = _check(folder, "--target", profile, "--allow-unmeasured")
    assert allowed.exit_code == 0, allowed.output
    assert json.loads((folder / "gate.json").read_text())["counts"]["skipped"] == 2


@pytest.mark.slow
def test_a_bench_result_file_from_ci_is_matched_by_sha256(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    (stored,) = (out / "onnx" / "model.int8.onnx.bench").glob("*.json")
    elsewhere = tmp_path / "from-the-board.json"
    entry = json.loads(stored.read_text())
    entry["result"]["latency_ms"]["p95"] = 1234.5  # what a slow board would report
    # ... through the profile's own runner (ssh), on a board of the profile's architecture
    entry["ran_on"] = {**entry["ran_on"], "runner": "ssh", "board": "pi@10.0.0.7",
                       "host_is_target": False}  # fmt: skip
    elsewhere.write_text(json.dumps(entry))
    result = _check(out, "--target", profile, "--bench", elsewhere)
    assert result.exit_code == 3
    checks = json.loads((out / "gate.json").read_text())["artifacts"][0]["checks"]
    (p95,) = [c for c in checks if c["budget"] == "max_p95_latency_ms"]
    assert p95["measured"] == 1234.5 and p95["status"] == "fail" and p95["off_target"] is None
    assert "board pi@10.0.0.7" in p95["source"]


# ---- bad input: one line, exit 1 ----


def test_check_refuses_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    result = _check(tmp_path, "--target", "raspberry-pi-4")
    assert result.exit_code == 1
    assert "is not a build folder: it has no manifest.json" in error_line(result)
    missing = _check(tmp_path / "nope", "--target", "raspberry-pi-4")
    assert "no such build folder" in error_line(missing)


@pytest.mark.slow
def test_check_refuses_a_half_written_manifest(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    text = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(text[: len(text) // 2])
    assert "is not valid JSON" in error_line(_check(out, "--target", profile))


@pytest.mark.slow
def test_check_refuses_an_artifact_changed_since_the_build(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    with (out / "onnx" / "model.int8.onnx").open("ab") as fh:
        fh.write(b"\0")
    line = error_line(_check(out, "--target", profile))
    assert "model.int8.onnx changed since the build" in line
    (out / "onnx" / "model.int8.onnx").unlink()
    assert "listed in the manifest but missing" in error_line(_check(out, "--target", profile))


@pytest.mark.slow
def test_check_refuses_bench_results_of_other_bytes(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    (stored,) = (out / "onnx" / "model.int8.onnx.bench").glob("*.json")
    entry = json.loads(stored.read_text())
    entry["artifact_sha256"] = "0" * 64
    stored.write_text(json.dumps(entry))
    assert "bench results are for other bytes" in error_line(_check(out, "--target", profile))
    given = tmp_path / "other.json"
    given.write_text(json.dumps(entry))
    line = error_line(_check(out, "--target", profile, "--bench", given))
    assert "--bench" in line and "none of this build's release artifacts" in line


@pytest.mark.slow
def test_check_refuses_a_profile_changed_since_the_build(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, out = built
    changed = _profile(
        tmp_path, "[quantize]\nper_channel = false\n[budgets]\nmax_p95_latency_ms = 20.0\n"
    )
    line = error_line(_check(out, "--target", changed))
    assert 'profile "pi4-onnx" changed since the build in what shaped its artifacts' in line
    assert "[quantize].per_channel true -> false" in line
    assert "max_p95_latency_ms" not in line  # a budget is the gate's input: not a reason


@pytest.mark.slow
def test_check_refuses_a_budget_in_the_wrong_unit(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, out = built
    wrong = _profile(tmp_path, '[budgets]\nmax_p95_latency_ms = "40 ms"\n')
    line = error_line(_check(out, "--target", wrong))
    assert "max_p95_latency_ms" in line


@pytest.mark.slow
def test_a_failed_stage_keeps_the_earlier_ones_and_a_rerun_starts_there(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, out = built
    folder = tmp_path / "resumed"
    # The profile's runner is ssh, and nothing listens on port 1: the bench stage fails.
    failed = _build("--target", profile, "--student", out / "student", "--out", folder,
                    "--board", "nobody@127.0.0.1:1")  # fmt: skip
    assert failed.exit_code == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("Error: bench of onnx/model.int8")
    assert "✗ bench onnx/model.int8.onnx" in failed.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["stages"]["onnx-verify"]["status"] == "done"
    assert not (folder / "gate.json").exists()
    rerun = _build("--target", profile, "--student", out / "student", "--out", folder,
                   *LOCAL)  # fmt: skip
    assert rerun.exit_code == 0, rerun.output
    lines = rerun.output.splitlines()
    assert "= onnx-export: inputs unchanged" in lines and "= onnx-verify: inputs unchanged" in lines
    assert any(line.startswith("✓ bench onnx/model.int8.onnx") for line in lines)


def _fail_quantize(monkeypatch: pytest.MonkeyPatch) -> None:
    """int8 quantization that writes half a file, then fails."""
    from edgedistil.errors import QuantizeError
    from edgedistil.quantize import job

    def broken(spec: Any) -> Any:
        (spec.export_dir / "model.int8.onnx").write_bytes(b"half a model")
        raise QuantizeError("calibration text: the ranges came out empty")

    monkeypatch.setattr(job, "quantize", broken)


@pytest.mark.slow
def test_no_gate_for_bytes_that_nothing_verified(
    built: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, profile, out = built
    folder = tmp_path / "unverified"
    _fail_quantize(monkeypatch)
    failed = _build("--target", profile, "--student", out / "student", "--out", folder,
                    "--skip-bench")  # fmt: skip
    assert failed.exit_code == 1
    assert "✗ onnx-verify" in failed.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["stages"]["onnx-export"]["status"] == "done"
    assert "onnx-verify" not in manifest["stages"] and not manifest["artifacts"]
    assert not (folder / "onnx" / "model.int8.onnx").exists()  # the half file stayed aside
    assert "no verified release artifact" in error_line(_check(folder, "--target", profile))


# ---- nothing built is lost: inputs checked first, stages redone beside their old outputs ----


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with its sha256."""
    return {
        str(p.relative_to(folder)): sha256_of(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("option", "text", "expected"),
    [
        ("--data", "", "no examples"),
        # two lines: one held out, one left to train on, and distillation needs two
        ("--data", "the battery is low\nset a timer\n", "distillation needs at least 2"),
        ("--eval", "", "no examples"),
        ("--calibration", "", "--calibration"),
    ],
)
def test_a_build_refused_at_its_inputs_leaves_the_folder_as_it_was(
    built: tuple[Path, Path, Path], tmp_path: Path, option: str, text: str, expected: str
) -> None:
    teacher, profile, _ = built
    out = _copy(built, tmp_path)
    before = _files(out)
    bad = tmp_path / "bad.txt"
    bad.write_text(text, encoding="utf-8")
    result = _build("--target", profile, "--teacher", teacher, "--out", out, *LOCAL, option, bad)
    assert result.exit_code == 1
    assert _files(out) == before  # the student, the reports, the manifest: byte for byte
    assert expected in error_line(result)


@pytest.mark.slow
def test_a_build_refused_at_its_inputs_writes_no_manifest(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    teacher, profile, out = built
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    folder = tmp_path / "new"
    result = _build("--target", profile, "--teacher", teacher, "--out", folder, *LOCAL,
                    "--calibration", empty)  # fmt: skip
    assert "--calibration" in error_line(result) and "no examples" in error_line(result)
    assert not folder.exists()
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    result = _build("--target", profile, "--student", not_a_model, "--out", folder, *LOCAL)
    assert "not a model directory (no config.json)" in error_line(result)
    assert not folder.exists()


@pytest.mark.slow
def test_a_failed_distillation_keeps_the_old_student_and_the_old_inputs_take_it_up(
    built: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgedistil.distill import job
    from edgedistil.errors import DistillError

    teacher, profile, _ = built
    out = _copy(built, tmp_path)
    before = _files(out / "student")
    old = json.loads((out / "manifest.json").read_text())["stages"]["distill"]

    def broken(spec: Any, progress: Any = None) -> Any:
        (spec.out / "model.safetensors").write_bytes(b"half a student")
        raise DistillError("out of memory in epoch 2")

    monkeypatch.setattr(job, "distill", broken)
    failed = _build("--target", profile, "--teacher", teacher, "--out", out, *LOCAL,
                    "--seed", "7")  # fmt: skip
    assert "out of memory in epoch 2" in error_line(failed)
    assert _files(out / "student") == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["stages"]["distill"]
    assert record["status"] == "redoing" and record["outputs"] == old["outputs"]
    # The manifest describes the failed build's inputs now: the old releases, made from other
    # inputs, are withdrawn with every later stage, and check has nothing verified to gate.
    assert manifest["artifacts"] == {}
    assert manifest["stages"]["onnx-verify"]["status"] == "redoing"
    checked = CliRunner().invoke(cli, ["check", str(out), "--target", str(profile)])
    assert "no verified release artifact" in error_line(checked)
    monkeypatch.undo()
    rerun = _build("--target", profile, "--teacher", teacher, "--out", out, *LOCAL)
    assert rerun.exit_code == 0, rerun.output
    assert "= distill: inputs unchanged" in rerun.output.splitlines()


@pytest.mark.slow
def test_a_failed_verify_keeps_the_old_release_but_no_gate_sees_it(
    built: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher, profile, _ = built
    out = _copy(built, tmp_path)
    before = _files(out / "onnx")
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("set a timer for five minutes\nthe battery is low\n" * 20)
    _fail_quantize(monkeypatch)
    failed = _build("--target", profile, "--teacher", teacher, "--out", out, *LOCAL,
                    "--calibration", calibration)  # fmt: skip
    assert "the ranges came out empty" in error_line(failed)
    assert _files(out / "onnx") == before
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["onnx-verify"]["status"] == "redoing"
    assert "onnx/model.int8.onnx" in manifest["stages"]["onnx-verify"]["withdrawn_artifacts"]
    assert not manifest["artifacts"]  # what the build now describes was never verified
    assert "no verified release artifact" in error_line(_check(out, "--target", profile))
    monkeypatch.undo()
    rerun = _build("--target", profile, "--teacher", teacher, "--out", out, *LOCAL)
    assert rerun.exit_code == 0, rerun.output
    assert "= onnx-verify: inputs unchanged" in rerun.output.splitlines()
    assert _files(out / "onnx") == before
    assert _check(out, "--target", profile).exit_code == 0


@pytest.mark.slow
def test_check_refuses_a_deleted_float_graph_or_a_changed_stage_output(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    with (out / "onnx" / "fidelity.json").open("a") as fh:
        fh.write(" ")
    assert "onnx/fidelity.json changed since the build" in error_line(
        _check(out, "--target", profile)
    )
    out = Path(shutil.copytree(built[2], tmp_path / "again"))
    (out / "onnx" / "model.onnx").unlink()
    line = error_line(_check(out, "--target", profile))
    assert "onnx/model.onnx: listed in the manifest but missing" in line


@pytest.mark.slow
def test_build_refuses_a_bench_it_cannot_start_before_any_stage(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, out = built
    result = _build("--target", profile, "--student", out / "student", "--out", tmp_path / "o")
    line = error_line(result)  # the profile's runner is ssh, and no board is named
    assert "No board to run on with the ssh runner" in line and "EDGEDISTIL_PI4_HOST" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_watch_build_verifies_and_benches_a_litert_artifact(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, out = built
    watch = tmp_path / "watch.toml"
    watch.write_text('extends = "wear-os-watch"\nname = "watch"\ndescription = "w"\n')
    folder = tmp_path / "watch"
    # This host benches for the watch without standing for it: its figures count as unmeasured.
    result = _build("--target", watch, "--student", out / "student", "--out", folder,
                    "--runner", "local", "--allow-unmeasured")  # fmt: skip
    assert result.exit_code == 0, result.output
    (release,) = [
        (rel, a)
        for rel, a in json.loads((folder / "manifest.json").read_text())["artifacts"].items()
        if a["role"] == "release"
    ]
    assert release[0] == "tflite/model.static-int8.tflite"
    # the student's tokenizer beside it, listed among the stage's outputs
    assert (folder / "tflite" / "vocab.txt").read_bytes() == (
        out / "student/vocab.txt"
    ).read_bytes()
    stage = json.loads((folder / "manifest.json").read_text())["stages"]["tflite-verify"]
    assert {"tflite/vocab.txt", "tflite/tokenizer.json"} <= set(stage["outputs"])
    # --student without --teacher: the teacher its edgedistil.json names, run in PyTorch
    assert release[1]["vs_teacher"]["runtime"] == "LiteRT"
    assert "in LiteRT (its own tokenizer)" in release[1]["drop_vs_teacher_source"]
    gate = json.loads((folder / "gate.json").read_text())
    checks = {c["budget"]: c for c in gate["artifacts"][0]["checks"]}
    for key in ("max_p95_latency_ms", "max_peak_rss_bytes"):
        assert checks[key]["measured"] > 0 and checks[key]["status"] == "skipped"
        assert "counts as unmeasured" in checks[key]["off_target"]
    assert "(off target)" in result.output


@pytest.mark.slow
def test_a_microcontroller_build_measures_the_arena_and_leaves_latency_unmeasured(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, out = built
    esp = tmp_path / "esp.toml"
    esp.write_text('extends = "esp32-s3"\nname = "esp"\ndescription = "e"\n')
    folder = tmp_path / "esp"
    result = _build("--target", esp, "--student", out / "student", "--out", folder)
    assert result.exit_code == 3, result.output  # no board runner: p95 fails closed
    checks = {
        c["budget"]: c
        for c in json.loads((folder / "gate.json").read_text())["artifacts"][0]["checks"]
    }
    assert checks["max_p95_latency_ms"]["status"] == "unmeasured"
    arena = checks["max_arena_bytes"]
    assert arena["status"] == "pass" and 0 < arena["measured"] < arena["limit"]
    flash = checks["max_flash_bytes"]["measured"]
    record = json.loads((folder / "tflite-micro" / "model_data.json").read_text())
    tokenizer = record["tokenizer_flash_bytes"]  # the C tokenizer beside the C array
    assert tokenizer > 1_440 and record["flash_bytes"] == flash
    assert flash == checks["max_model_bytes"]["measured"] + 1_048_576 + tokenizer
    assert (folder / "tflite-micro" / "model_data.cc").is_file()
    stage = json.loads((folder / "manifest.json").read_text())["stages"]["tflite-micro-verify"]
    assert {"tflite-micro/tokenizer.c", "tflite-micro/tokenizer.h"} <= set(stage["outputs"])
    if shutil.which("gcc"):  # what a firmware compiles: C99, every warning an error
        source = folder / "tflite-micro" / "tokenizer.c"
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "-o",
                        str(tmp_path / "tokenizer.o"), str(source)], check=True)  # fmt: skip
    assert (folder / "tflite-micro" / "tokenizer.json").is_file()
    teacher = checks["max_drop_vs_teacher"]
    assert teacher["status"] == "pass"
    assert "in TFLite Micro (its own tokenizer)" in teacher["source"]
    assert _check(folder, "--target", esp, "--allow-unmeasured").exit_code == 0
    _the_latency_is_estimated_and_counted_only_when_allowed(folder, esp, tmp_path)


def _the_latency_is_estimated_and_counted_only_when_allowed(
    folder: Path, esp: Path, tmp_path: Path
) -> None:
    """No runner reaches the board: the build estimates its latency from op counts, every
    report shows the estimate, and the budget judges its high end only with --allow-estimates."""
    (release,) = [
        info
        for info in json.loads((folder / "manifest.json").read_text())["artifacts"].values()
        if info.get("role") == "release"
    ]
    made = release["latency_estimate"]
    assert 0 < made["low_ms"] < made["high_ms"] and made["clock_mhz"] == 240
    assert made["macs"] > 0 and "FULLY_CONNECTED" in made["ops"]
    assert "estimate, not a measurement" in made["source"]
    shown = json.loads((folder / "gate.json").read_text())["artifacts"][0]["latency_estimate"]
    assert shown["high_ms"] == made["high_ms"] and shown["counted"] is False
    assert "Estimated latency, not measured" in (folder / "gate.md").read_text()
    allowed = _check(folder, "--target", esp, "--allow-estimates")
    assert allowed.exit_code == 0, allowed.output  # a tiny student: well inside 500 ms
    latency = _check_of(folder, "max_p95_latency_ms")
    assert latency["status"] == "pass" and latency["estimate"] is True
    assert latency["measured"] == made["high_ms"] and "pass (estimate)" in allowed.output
    tight = tmp_path / "tight-latency.toml"
    tight.write_text(
        f'extends = "{esp}"\nname = "esp"\ndescription = "e"\n'
        f"[budgets]\nmax_p95_latency_ms = {made['low_ms'] * 0.5}\n"
    )
    over = _check(folder, "--target", tight, "--allow-estimates")
    assert over.exit_code == 3 and _check_of(folder, "max_p95_latency_ms")["status"] == "fail"
    from edgedistil.summary import summarize

    (row,) = summarize((folder,))
    assert "(counted)" in row.estimates and "p95 latency fail (estimate)" in row.reason


@pytest.mark.slow
def test_when_nothing_fits_at_the_teachers_width_build_narrows_the_student(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    teacher, _, _ = built
    # 96 kB: the graph alone takes ~74 kB and the C tokenizer beside it ~11 kB, so one layer at
    # width 32 is over, a narrower fits
    tight = tmp_path / "tight.toml"
    tight.write_text(
        'extends = "esp32-s3"\nname = "tight"\ndescription = "t"\n'
        "[export]\nsequence_length = 16\n[budgets]\nmax_model_bytes = 96_000\n"
    )
    folder = tmp_path / "narrow"
    result = _build("--target", tight, "--teacher", teacher, "--out", folder, "--layers", "1",
                    "--allow-unmeasured")  # fmt: skip
    assert result.exit_code == 0, result.output
    planned = json.loads((folder / "plan.json").read_text())
    assert planned["layers"] == 1 and planned["narrow"] and planned["hidden"] in (16, 24)
    config = json.loads((folder / "student" / "config.json").read_text())
    assert config["hidden_size"] == planned["hidden"] and (folder / "student" / "2_Dense").is_dir()
    assert f"hidden {planned['hidden']}" in result.output
    assert planned["planned_bytes"] <= 96_000
    # the same student reused: its plan prices the Dense map (2_Dense) as the first plan did
    again = tmp_path / "again"
    result = _build("--target", tight, "--student", folder / "student", "--out", again,
                    "--allow-unmeasured")  # fmt: skip
    assert result.exit_code == 0, result.output
    replanned = json.loads((again / "plan.json").read_text())
    assert replanned["parts"]["head"] == planned["parts"]["head"] > 0


# ---- latency and RSS count only from the target's kind of device ----


def _stored(out: Path) -> Path:
    (stored,) = (out / "onnx" / "model.int8.onnx.bench").glob("*.json")
    return stored


def _check_of(folder: Path, budget: str) -> dict[str, Any]:
    checks = json.loads((folder / "gate.json").read_text())["artifacts"][0]["checks"]
    (check,) = [c for c in checks if c["budget"] == budget]
    return check  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_bench_on_a_host_declared_the_target_counts(built: tuple[Path, Path, Path]) -> None:
    _, _, out = built
    ran_on = json.loads(_stored(out).read_text())["ran_on"]
    assert ran_on["runner"] == "local" and ran_on["board"] == "localhost"
    assert ran_on["machine"] == platform.machine() and ran_on["architecture"] == HOST_ARCH
    assert ran_on["host_is_target"] is True and ran_on["cores"] >= 1 and ran_on["os"]
    for budget in ("max_p95_latency_ms", "max_peak_rss_bytes"):
        check = _check_of(out, budget)
        assert check["status"] == "pass" and check["off_target"] is None


@pytest.mark.slow
def test_a_bench_on_a_host_not_declared_the_target_is_shown_but_unmeasured(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    stored = _stored(out)
    entry = json.loads(stored.read_text())
    entry["ran_on"]["host_is_target"] = False  # a plain --runner local on the build host
    stored.write_text(json.dumps(entry))
    closed = _check(out, "--target", profile)
    assert closed.exit_code == 3, closed.output
    p95 = _check_of(out, "max_p95_latency_ms")
    assert p95["status"] == "unmeasured"
    assert p95["measured"] == entry["result"]["latency_ms"]["p95"]
    assert "not declared to be the target" in p95["off_target"]
    assert "(off target)" in closed.output
    for name in ("gate.md", "gate.junit.xml", "report.html"):
        text = html.unescape((out / name).read_text())
        assert "(off target)" in text and "not declared to be the target" in text, name
    allowed = _check(out, "--target", profile, "--allow-unmeasured")
    assert allowed.exit_code == 0, allowed.output
    assert _check_of(out, "max_p95_latency_ms")["status"] == "skipped"


@pytest.mark.slow
def test_a_bench_of_another_architecture_counts_as_unmeasured(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    stored = _stored(out)
    entry = json.loads(stored.read_text())
    other = "aarch64" if HOST_ARCH == "x86_64" else "x86_64"
    # Declared the target, through the profile's runner even: the architecture still decides.
    entry["ran_on"].update(machine=other, architecture=architecture_of(other), runner="ssh")
    stored.write_text(json.dumps(entry))
    assert _check(out, "--target", profile).exit_code == 3
    assert "not on the target" in _check_of(out, "max_peak_rss_bytes")["off_target"]


@pytest.mark.slow
def test_an_old_bench_result_without_device_facts_is_unmeasured_with_a_warning(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    stored = _stored(out)
    entry = json.loads(stored.read_text())
    del entry["ran_on"]
    entry["schema"] = 1
    stored.write_text(json.dumps(entry))
    result = _check(out, "--target", profile)
    assert result.exit_code == 3, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1 and str(stored) in warnings[0], result.stderr
    assert "without device facts" in warnings[0]
    p95 = _check_of(out, "max_p95_latency_ms")
    assert p95["status"] == "unmeasured" and stored.name in p95["off_target"]


@pytest.mark.slow
def test_build_refuses_host_is_target_on_a_host_of_another_architecture(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, out = built
    esp = tmp_path / "esp.toml"
    esp.write_text('extends = "esp32-s3"\nname = "esp"\ndescription = "e"\n')
    result = _build("--target", esp, "--student", out / "student", "--out", tmp_path / "o",
                    "--runner", "local", "--host-is-target")  # fmt: skip
    line = error_line(result)
    assert "--host-is-target: this host is" in line
    assert "[device].architecture is xtensa-lx7" in line
    assert not (tmp_path / "o").exists()


# ---- check takes new budgets ----


@pytest.mark.slow
def test_check_takes_a_tighter_budget_and_names_it(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, _ = built
    out = _copy(built, tmp_path)
    tight = tmp_path / "tight.toml"
    tight.write_text(f'extends = "{profile}"\nname = "tight"\n[budgets]\nmax_model_bytes = 1000\n')
    result = _check(out, "--target", tight)
    assert result.exit_code == 3, result.output
    change = "max_model_bytes (model size): 23.84 MiB -> 1000 B"
    assert f"budget changed since the build: {change}" in result.output
    gate = json.loads((out / "gate.json").read_text())
    assert gate["target"] == "tight"
    assert gate["budget_changes"] == [
        {"budget": "max_model_bytes", "label": "model size", "unit": "bytes",
         "built": 25_000_000, "now": 1000},
    ]  # fmt: skip
    assert _check_of(out, "max_model_bytes")["status"] == "fail"
    for name in ("gate.md", "gate.junit.xml", "report.html"):
        assert change in html.unescape((out / name).read_text()), name


@pytest.mark.slow
def test_check_refuses_a_budget_with_no_meaning_for_the_kind(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, profile, out = built
    arena = tmp_path / "arena.toml"
    arena.write_text(f'extends = "{profile}"\n[budgets]\nmax_arena_bytes = 524_288\n')
    line = error_line(_check(out, "--target", arena))
    assert 'arena.toml: [budgets].max_arena_bytes = 524_288: no meaning for kind "linux-board"' in (
        line
    )
