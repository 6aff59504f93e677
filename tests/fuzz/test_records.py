"""edgedistil's own records, broken every way ``_mutate`` knows, through the commands that read
them (issue 16): ``check`` (manifest.json, a bench result), ``summary`` (gate.json), ``quantize
EXPORT_DIR`` (export.json), ``bench`` (history.jsonl, a TOML fleet). Each ends with exit 1 and
one ``Error:`` line naming the file (``summary`` shows it as the folder's reason), no traceback.

Each valid file is written by the code that writes it for real (``Manifest``, ``report``,
``export.onnx._publish``, ``bench.results``), around files made once per module; a mutation only
rewrites the small JSON or TOML file. ``typed`` lists the values whose type the readers fix:
free-form values (the build's profile, a board's extra facts) and those that may be null are
left out, since changing them leaves a file that is still valid.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edgedistil.cli import cli
from tests.conftest import error_line
from tests.fuzz._mutate import NOT_JSON, _get, _set, broken, missing, paths, retyped, truncated

FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ARTIFACT = "onnx/model.int8.onnx"
TARGET = "raspberry-pi-4"


def _only(valid: Any, under: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """The paths under the top-level keys ``under``."""
    return [p for p in paths(valid) if p[0] in under]


# ---- manifest.json and a bench result, through check ----


@dataclass(frozen=True)
class Build:
    folder: Path
    manifest: dict[str, Any]
    bench: dict[str, Any]


def _tiny_onnx(path: Path) -> None:
    from onnx import TensorProto, helper, save

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "tiny", [x], [y])
    save(helper.make_model(graph), str(path))


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """A build folder of one release (a real ONNX file: the HTML report reads its graph) by
    the manifest's own writer, and a bench result of its bytes by ``bench.results``', around
    the latency and memory sections of the board script's report."""
    from edgedistil.bench import board_script, results
    from edgedistil.bench.machine import ran_on
    from edgedistil.manifest import MANIFEST, Manifest
    from edgedistil.profiles import load_profile

    folder = tmp_path_factory.mktemp("records") / "build"
    (folder / "onnx").mkdir(parents=True)
    _tiny_onnx(folder / ARTIFACT)
    manifest = Manifest.open(folder)
    manifest.data["target"] = TARGET
    manifest.data["profile"] = load_profile(TARGET).to_dict()
    manifest.add_artifact(
        ARTIFACT,
        stage="onnx-verify",
        role="release",
        accuracy_drop=0.004,
        accuracy_drop_source="int8 vs float on 100 held-out rows",
        drop_vs_teacher=0.01,
        drop_vs_teacher_source="1 - mean cosine to the teacher",
    )
    manifest.finish("onnx-verify", "k" * 64, [ARTIFACT], {})
    board = {
        "latency_ms": board_script.summarize([10.0, 11.0, 12.5]),
        "memory": board_script.memory_result(
            {"rss": 50_000_000, "peak": 50_000_000}, {"rss": 60_000_000, "peak": 80_000_000}
        ),
    }
    facts = ran_on(runner="local", address=None, label="local", result={}, host_is_target=False)
    entry = results.record(
        artifact=folder / ARTIFACT,
        sha256=manifest.data["artifacts"][ARTIFACT]["sha256"],
        board="local",
        runner="local",
        target=TARGET,
        result=board,
        ran_on=facts,
    )
    saved = results.store(folder / ARTIFACT, entry)
    bench = json.loads(saved.read_text(encoding="utf-8"))
    shutil.rmtree(saved.parent)  # the stored results are the bench fuzz's, given with --bench
    return Build(folder, json.loads((folder / MANIFEST).read_text(encoding="utf-8")), bench)


@st.composite
def _renested(draw: st.DrawFn, valid: Any, objects: list[tuple[Any, ...]]) -> str:
    """``_mutate.renested`` at the given objects only: the profile inside a manifest is
    free-form to the model (the gate compares it with the target's), so wrapping one of its
    tables is a changed profile, not a broken file."""
    from tests.fuzz._mutate import SCALARS

    path = draw(st.sampled_from(objects))
    wrong = draw(st.one_of(st.just([_get(valid, path)]), SCALARS))
    return json.dumps(wrong if path == () else _set(valid, path, wrong))


def _broken_manifest(valid: dict[str, Any]) -> st.SearchStrategy[str]:
    artifact = ("artifacts", ARTIFACT)
    required = (
        ("schema",),
        ("stages",),
        ("artifacts",),
        (*artifact, "sha256"),
        (*artifact, "bytes"),
        (*artifact, "stage"),
        (*artifact, "accuracy_drop_source"),
        ("stages", "onnx-verify", "outputs"),
    )
    typed = _only(valid, ("schema", "stages", "artifacts"))
    objects = [()] + [p for p in typed if isinstance(_get(valid, p), dict)]
    return st.one_of(
        retyped(valid, typed),
        missing(valid, required),
        truncated(valid),
        _renested(valid, objects),
        NOT_JSON,
    )


def _check(runner: CliRunner, folder: Path, *more: str) -> Any:
    return runner.invoke(cli, ["check", str(folder), "--target", TARGET, *more])


def test_the_valid_build_is_checked(runner: CliRunner, build: Build) -> None:
    """The unmutated files pass the readers: the mutations below are all that breaks them."""
    bench = build.folder.parent / "bench.json"
    bench.write_text(json.dumps(build.bench), encoding="utf-8")
    result = _check(runner, build.folder, "--bench", str(bench))
    assert result.exit_code in (0, 3), result.output


@FUZZ
@given(data=st.data())
def test_a_broken_manifest_is_one_error_line(
    runner: CliRunner, build: Build, tmp_path: Path, data: st.DataObject
) -> None:
    text = data.draw(_broken_manifest(build.manifest))
    folder = tmp_path / "build"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(build.folder, folder)
    (folder / "manifest.json").write_text(text, encoding="utf-8")
    result = _check(runner, folder)
    assert result.exit_code == 1, result.output
    assert str(folder) in error_line(result)


def _broken_bench(valid: dict[str, Any]) -> st.SearchStrategy[str]:
    """A bench result or history line: the board's report is partial to the readers (p95
    latency and peak RSS), so only those and the result's own keys are retyped."""
    keys = ("timestamp", "artifact", "artifact_sha256", "board", "runner", "schema")
    typed = [(k,) for k in (*keys, "artifact_bytes", "result", "ran_on")]
    typed += [("result", "latency_ms"), ("result", "memory")]  # a quantile or RSS may be null
    typed += [("ran_on", "runner"), ("ran_on", "host_is_target")]
    required = tuple((k,) for k in (*keys[:5], "result")) + (("result", "latency_ms", "p95"),)
    return broken(valid, required=required, typed=typed)


@FUZZ
@given(data=st.data())
def test_a_broken_bench_result_is_one_error_line(
    runner: CliRunner, build: Build, tmp_path: Path, data: st.DataObject
) -> None:
    path = tmp_path / "bench.json"
    path.write_text(data.draw(_broken_bench(build.bench)), encoding="utf-8")
    result = _check(runner, build.folder, "--bench", str(path))
    assert result.exit_code == 1, result.output
    assert str(path) in error_line(result)


# ---- history.jsonl and a TOML fleet, through bench (both fail before any board runs) ----


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "model.onnx"
    path.write_bytes(b"not run: every bench here stops at its history or its fleet")
    return path


@FUZZ
@given(data=st.data())
def test_a_broken_history_line_is_one_error_line(
    runner: CliRunner, build: Build, artifact: Path, data: st.DataObject
) -> None:
    from edgedistil.bench.results import HISTORY, results_dir

    text = data.draw(_broken_bench(build.bench))
    assume(text.strip())  # an empty history is a valid one
    history = results_dir(artifact) / HISTORY
    history.parent.mkdir(exist_ok=True)
    history.write_text(json.dumps(build.bench) + "\n" + text + "\n", encoding="utf-8")
    result = runner.invoke(cli, ["bench", str(artifact), "--runner", "local", "--compare"])
    assert result.exit_code == 1, result.output
    assert f"{history} line " in error_line(result)


FLEET = {
    "boards": [
        {"address": "pi@10.0.0.7", "name": "kitchen", "runner": "local", "python": "python3"},
        {"address": "R58M123", "runner": "local"},
    ]
}


def _toml(value: Any) -> str:
    """A JSON value as a TOML inline value (TOML has no null: an empty table stands for it,
    as wrong a type as null is wherever the fleet expects a string or a list)."""
    if value is None or value == {}:
        return "{}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _fleet_text(mutated: str) -> str:
    """The mutation as a TOML fleet: a table of values stays one; anything else (not JSON, not
    a table) is written as it is, which is not a fleet either."""
    try:
        value = json.loads(mutated)
    except ValueError:
        return mutated
    if not isinstance(value, dict):
        return mutated
    return "".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in value.items())


@FUZZ
@given(data=st.data())
def test_a_broken_fleet_is_one_error_line(
    runner: CliRunner, artifact: Path, tmp_path: Path, data: st.DataObject
) -> None:
    fleet = tmp_path / "lab.toml"
    fleet.write_text(_fleet_text(data.draw(broken(FLEET, required=(("boards",),)))), "utf-8")
    args = ["bench", str(artifact), "--runner", "local", "--fleet", str(fleet)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert f"Fleet file {fleet}" in error_line(result)


# ---- gate.json, through summary ----


@pytest.fixture(scope="module")
def gated(build: Build, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The build's folder with its gate.json, by the gate's own reporter."""
    from edgedistil.build.gate import judge
    from edgedistil.profiles import load_profile

    folder = tmp_path_factory.mktemp("gated") / "build"
    shutil.copytree(build.folder, folder)
    judge(folder, load_profile(TARGET), allow_unmeasured=True)
    return folder, json.loads((folder / "gate.json").read_text(encoding="utf-8"))


def _read_by_summary(path: tuple[Any, ...]) -> bool:
    """The gate's verdict, counts, and each artifact's name, bytes and checks' label and
    status; the rest of gate.json is for people and CI."""
    top, *inner = path
    if top != "artifacts" or len(inner) in (0, 1, 3):
        return top in ("target", "passed", "counts", "artifacts")
    return inner[-1] in ("artifact", "sha256", "checks", "label", "status")


@FUZZ
@given(data=st.data())
def test_a_broken_gate_is_a_folder_without_a_verdict(
    runner: CliRunner, gated: tuple[Path, dict[str, Any]], tmp_path: Path, data: st.DataObject
) -> None:
    from edgedistil import summary

    source, valid = gated
    keys = ("target", "passed", "counts", "artifacts")
    typed = [p for p in paths(valid) if _read_by_summary(p)]
    text = data.draw(broken(valid, required=tuple((k,) for k in keys), typed=typed))
    folder = tmp_path / "build"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder)
    (folder / "gate.json").write_text(text, encoding="utf-8")
    result = runner.invoke(cli, ["summary", str(folder)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (row,) = summary.summarize((folder,))
    assert row.passed is None and str(folder / "gate.json") in row.reason


# ---- export.json, through quantize ----


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An export folder's export.json by ``_publish``, the exporter's own writer, for a tiny
    embedding student (the graph itself is not needed: quantize reads the record first)."""
    from edgedistil.export.model import Head
    from edgedistil.export.onnx import Exported, ExportSpec, _publish
    from edgedistil.verify.parity import Parity

    root = tmp_path_factory.mktemp("export")
    out, student = root / "export", root / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")  # export copies it beside the graph
    (out / ".export.tmp").mkdir(parents=True)
    spec = ExportSpec(
        student=student, out=out, sequence_length=64, parity_text=root / "t", target=TARGET
    )
    exported = Exported(
        path=out / "model.onnx",
        task="embedding",
        pairs=False,
        inputs=("input_ids", "attention_mask"),
        output="embedding",
        graph="plain",
        fused={},
        parity=Parity(sentences=8, max_abs_diff=1e-6, agreement=None, min_cosine=0.99999),
        bytes=1234,
    )
    _publish(
        out / ".export.tmp", spec, exported, Head(task="embedding", pooling="mean", normalize=True)
    )
    return out, json.loads((out / "export.json").read_text(encoding="utf-8"))


@FUZZ
@given(data=st.data())
def test_a_broken_export_record_is_one_error_line(
    runner: CliRunner, exported: tuple[Path, dict[str, Any]], data: st.DataObject
) -> None:
    folder, valid = exported
    nullable = ("target", "sequence_length", "pooling", "dense", "agreement", "min_cosine")
    typed = [p for p in paths(valid) if p[-1] not in nullable]
    required = tuple((k,) for k in valid) + (("parity", "max_abs_diff"),)
    (folder / "export.json").write_text(data.draw(broken(valid, required, typed)), "utf-8")
    result = runner.invoke(cli, ["quantize", str(folder)])
    assert result.exit_code == 1, result.output
    assert str(folder / "export.json") in error_line(result)
