from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistil import teacher
from edgedistil.cli import cli
from edgedistil.plan import METADATA_FIXED, METADATA_PER_TOKEN
from edgedistil.profiles import builtin_names
from tests.conftest import error_line, write_profile


def test_targets_lists_every_profile(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["targets"])
    assert result.exit_code == 0, result.output
    for name in builtin_names():
        assert name in result.output


def test_targets_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["targets", "--json"])
    data = json.loads(result.output)
    assert [d["name"] for d in data] == builtin_names()
    assert data[1]["budgets"]["max_arena_bytes"] == 524_288


def test_targets_show_prints_the_resolved_profile(runner: CliRunner, tmp_path: Path) -> None:
    path = write_profile(
        tmp_path / "my-pi.toml", 'extends = "raspberry-pi-4"\n[bench]\nthreads = 2\n'
    )
    result = runner.invoke(cli, ["targets", "show", str(path)])
    assert result.exit_code == 0, result.output
    assert 'name = "my-pi"' in result.output and 'extends = "raspberry-pi-4"' in result.output
    assert "threads = 2" in result.output and "max_model_bytes = 25_000_000" in result.output
    as_json = json.loads(runner.invoke(cli, ["targets", "show", "esp32-s3", "--json"]).output)
    assert as_json["device"]["psram_bytes"] == 8_388_608


def test_misspelt_target_is_one_line_with_a_suggestion(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["targets", "show", "cortex-m4"])
    assert result.exit_code == 1
    assert 'did you mean "cortex-m7"?' in error_line(result)


def test_invalid_profile_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    path = write_profile(
        tmp_path / "bad.toml",
        'extends = "raspberry-pi-4"\n[export]\nsequence_length = 0\n'
        "[budgets]\nmax_model_bytes = -1\n",
    )
    result = runner.invoke(cli, ["plan", "--target", str(path)])
    assert result.exit_code == 1
    line = error_line(result)
    assert "bad.toml: 2 problems" in line and "sequence_length = 0" in line


def test_plan_every_target_by_default(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["plan"])
    assert result.exit_code == 0, result.output
    for name in builtin_names():
        assert name in result.output
    assert "3 layers at hidden size 128 (narrowed)" in result.output  # cortex-m7
    assert "[budgets].max_model_bytes" in result.output


def test_plan_json_for_machines(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        ["plan", "--target", "cortex-m7", "--target", "raspberry-pi-4", "--layers", "3", "--json"],
    )
    assert result.exit_code == 0, result.output
    m7, pi4 = json.loads(result.output)
    assert (m7["target"], m7["fits"], pi4["fits"]) == ("cortex-m7", False, True)
    assert m7["over_by"] == m7["artifact_bytes"] - m7["limit_bytes"] > 0
    assert m7["artifact_bytes"] == sum(
        m7[c]["bytes"] for c in ("embeddings", "encoder", "head", "graph", "tokenizer")
    )
    # C for a board; the Pi's .tflite carries its vocabulary as MediaPipe metadata
    assert m7["tokenizer"]["bytes"] > 0
    metadata = METADATA_FIXED + METADATA_PER_TOKEN * pi4["vocab_size"]
    assert pi4["tokenizer"]["bytes"] == metadata
    assert pi4["layers"] == 3 and pi4["suggestions"] == []


def test_plan_with_a_local_teacher_and_pruned_vocab(
    runner: CliRunner, tiny_classifier: Path
) -> None:
    result = runner.invoke(
        cli,
        [
            "plan",
            "--teacher",
            str(tiny_classifier),
            "--target",
            "android-phone",
            "--vocab-size",
            "50",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    [p] = json.loads(result.output)
    assert (p["task"], p["vocab_size"], p["layers"]) == ("classification", 50, 1)
    assert p["head"]["parameters"] == 32 * 32 + 32 + 3 * 32 + 3


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--layers", "9"], "--layers 9: the teacher has 6 layers"),
        (["--vocab-size", "99999"], "--vocab-size 99999"),
        (["--teacher", "/no/such/dir"], 'Teacher "/no/such/dir" does not exist'),
        (["--target", "rasberry-pi-5"], 'did you mean "raspberry-pi-5"'),
    ],
)
def test_plan_errors_are_one_line(runner: CliRunner, args: list[str], expected: str) -> None:
    result = runner.invoke(cli, ["plan", *args])
    assert result.exit_code == 1
    assert expected in error_line(result)


def test_bad_usage_exits_2(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["plan", "--layers", "0"]).exit_code == 2
    assert runner.invoke(cli, ["nonsense"]).exit_code == 2


def test_plan_refuses_a_tampered_default(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = teacher.default_teacher_dir()
    for name in teacher.DEFAULT_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, tmp_path / name)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    monkeypatch.setattr(teacher, "default_teacher_dir", lambda: tmp_path)
    result = runner.invoke(cli, ["plan"])
    assert result.exit_code == 1
    assert "The default teacher at" in error_line(result) and "was modified" in result.stderr


def test_the_console_script_runs_without_heavy_imports() -> None:
    code = (
        "import sys; from edgedistil.cli import cli\n"
        "try: cli(['targets'], prog_name='edgedistil')\n"
        "except SystemExit: pass\n"
        "names = ('torch', 'tensorflow', 'onnxruntime', 'transformers')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_version_and_entry_point() -> None:
    exe = Path(sys.executable).parent / "edgedistil"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "edgedistil, version 0.1.0"
