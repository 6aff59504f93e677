"""The one line a broken record of edgedistil's own becomes: the file, the field, the value and
what was expected (issue 16). The folders and files are those of ``tests/fuzz/test_records.py``,
each broken in one known way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from edgedistil.errors import BenchError
from tests.conftest import error_line
from tests.fuzz.test_records import ARTIFACT, TARGET, Build, artifact, build, exported

__all__ = ["artifact", "build", "exported"]  # the fixtures, shared with the fuzz tests


def _copy(build: Build, tmp_path: Path, **manifest: Any) -> Path:
    import shutil

    folder = tmp_path / "build"
    shutil.copytree(build.folder, folder)
    (folder / "manifest.json").write_text(json.dumps({**build.manifest, **manifest}))
    return folder


def _check(folder: Path, *more: str) -> str:
    result = CliRunner().invoke(cli, ["check", str(folder), "--target", TARGET, *more])
    assert result.exit_code == 1, result.output
    return error_line(result)


def test_a_manifest_field_of_the_wrong_type(build: Build, tmp_path: Path) -> None:
    entry = {**build.manifest["artifacts"][ARTIFACT], "bytes": "74"}
    folder = _copy(build, tmp_path, artifacts={ARTIFACT: entry})
    assert _check(folder) == (
        f'Error: {folder}/manifest.json: artifacts["{ARTIFACT}"].bytes = "74": '
        "expected a valid integer"
    )


def test_a_measured_quantity_without_its_source(build: Build, tmp_path: Path) -> None:
    entry = {**build.manifest["artifacts"][ARTIFACT]}
    del entry["drop_vs_teacher_source"]
    folder = _copy(build, tmp_path, artifacts={ARTIFACT: entry})
    assert _check(folder).endswith(
        f'manifest.json: artifacts["{ARTIFACT}"] = an object: '
        "drop_vs_teacher without drop_vs_teacher_source"
    )


def test_the_schema_is_checked_first(build: Build, tmp_path: Path) -> None:
    folder = _copy(build, tmp_path, schema=2, artifacts=[])
    assert _check(folder) == (
        f"Error: {folder}/manifest.json: manifest schema 2; this edgedistil reads 1"
    )


@pytest.mark.parametrize("schema", [True, 1.0])
def test_a_schema_equal_to_1_but_no_integer_is_refused(
    build: Build, tmp_path: Path, schema: object
) -> None:
    """JSON's true and 1.0 equal 1 in Python; the fuzz tests drew ``"schema": true`` and the
    build was judged as if the manifest were sound."""
    folder = _copy(build, tmp_path, schema=schema)
    assert _check(folder) == (
        f"Error: {folder}/manifest.json: manifest schema {schema!r}; this edgedistil reads 1"
    )


def test_a_bench_result_without_its_p95(build: Build, tmp_path: Path) -> None:
    result = {**build.bench["result"], "latency_ms": {"p50": 1.0}}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({**build.bench, "result": result}))
    line = _check(build.folder, "--bench", str(path))
    assert line.startswith(f"Error: {path}: not a bench result: result.latency_ms.min is missing")
    assert "result.latency_ms.p95 is missing" in line


def test_a_history_line_names_its_number(build: Build, artifact: Path) -> None:
    from edgedistil.bench.results import HISTORY, results_dir

    history = results_dir(artifact) / HISTORY
    history.parent.mkdir(exist_ok=True)
    bad = {**build.bench, "board": ["local"]}
    history.write_text(json.dumps(build.bench) + "\n\n" + json.dumps(bad) + "\n")
    result = CliRunner().invoke(cli, ["bench", str(artifact), "--runner", "local"])
    assert result.exit_code == 1
    assert error_line(result) == f"Error: {history} line 3: board = a list: expected a valid string"
    history.unlink()


def test_an_export_record_with_a_value_not_allowed(exported: tuple[Path, dict[str, Any]]) -> None:
    folder, valid = exported
    (folder / "export.json").write_text(json.dumps({**valid, "input_dtype": "float32"}))
    result = CliRunner().invoke(cli, ["quantize", str(folder)])
    assert error_line(result) == (
        f"Error: {folder}/export.json: input_dtype = \"float32\": expected 'int32' or 'int64'"
    )
    (folder / "export.json").write_text(json.dumps(valid))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("boards = [1]\n", "board 1: expected a JSON object, found a number"),
        ('[[boards]]\naddress = "a"\nname = 3\n', "board 1: name = 3: expected a valid string"),
        ("[[boards]]\n[[boards]]\n", "board 1: address is missing; board 2: address is missing"),
        (
            "boards = []\n",
            "boards = a list: list should have at least 1 item after validation, not 0",
        ),
    ],
)
def test_a_fleet_entry_is_named_by_its_number(tmp_path: Path, text: str, expected: str) -> None:
    from edgedistil.bench.fleet import read_fleet

    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(BenchError) as caught:
        read_fleet(path, "ssh")
    assert str(caught.value).startswith(f"Fleet file {path}: {expected}; expected [[boards]]")


def test_a_gate_report_of_the_wrong_shape_is_the_folders_reason(
    build: Build, tmp_path: Path
) -> None:
    from edgedistil import summary

    folder = _copy(build, tmp_path)
    (folder / "gate.json").write_text(json.dumps({"target": "x", "passed": "yes"}))
    (row,) = summary.summarize((folder,))
    assert row.reason == (
        f'{folder}/gate.json: not a gate report: passed = "yes": expected a valid boolean; '
        "counts is missing; artifacts is missing"
    )
