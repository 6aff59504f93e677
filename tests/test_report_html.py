"""report.html (``edgedistil.report_html``) from hand-made gates and build folders: what the page
says, that it escapes what it quotes, and which plots it draws from what the folder holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgedistil import gate as gate_mod
from edgedistil.bench.results import results_dir
from edgedistil.gate import Measurement
from edgedistil.manifest import Manifest
from edgedistil.profiles import Budgets
from edgedistil.report_html import byte_parts, render

BUDGETS = Budgets(max_model_bytes=1_000_000, max_p95_latency_ms=10.0, max_accuracy_drop=0.01)
RELEASE = "onnx/model.int8.onnx"
FLOAT = "onnx/model.onnx"


def _onnx(path: Path) -> Path:
    """An ONNX file whose initializers name an embedding, an encoder weight and a head."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = {
        "embeddings.word_embeddings.weight": np.zeros((10, 4), np.float32),  # 160 bytes
        "encoder.layer.0.attention.self.query.weight": np.zeros((4, 4), np.float32),  # 64
        "classifier.weight": np.zeros((4, 2), np.float32),  # 32
    }
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(array, name) for name, array in weights.items()],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph), str(path))
    return path


def _folder(root: Path) -> Path:
    """A build folder with a float ONNX graph and its int8 release, as the manifest lists them."""
    folder = root / "build"
    manifest = Manifest.open(folder)
    for rel, info in ((FLOAT, {"role": "float"}), (RELEASE, {"role": "release"})):
        _onnx(folder / rel)
        manifest.add_artifact(
            rel, stage="onnx-verify", accuracy_drop=0.004, accuracy_drop_source="test", **info
        )
    manifest.save()
    return folder


def _gate(
    measured: dict[str, Measurement], *, target: str = "raspberry-pi-4", **kw: Any
) -> gate_mod.Gate:
    artifact = gate_mod.check_artifact(
        BUDGETS, measured, artifact=kw.pop("artifact", RELEASE), sha256="ab" * 32
    )
    return gate_mod.Gate(target=target, allow_unmeasured=False, artifacts=(artifact,), **kw)


SMALL = {"model_bytes": Measurement(5_000, "file size")}


def test_the_page_names_the_target_and_the_verdict(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    page = render(_gate(SMALL), folder, folder)
    assert "<title>edgedistil gate: raspberry-pi-4</title>" in page
    assert "<h1>edgedistil gate: raspberry-pi-4 FAILED</h1>" in page  # latency never measured
    assert '<td class="unmeasured">unmeasured</td>' in page and "not measured" in page
    measured = {
        **SMALL,
        "p95_latency_ms": Measurement(4, "b"),
        "accuracy_drop": Measurement(0, "a"),
    }
    assert "raspberry-pi-4 passed</h1>" in render(_gate(measured), folder, folder)


def test_every_quoted_name_is_escaped(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    change = gate_mod.BudgetChange(
        budget=gate_mod.budget_named("max_model_bytes"), built=2_000_000.0, now=1_000_000.0
    )
    hostile = '<img src=x onerror="alert(1)">'
    page = render(
        _gate(
            {"model_bytes": Measurement(5_000, f"file size of {hostile}")},
            target=f"pi{hostile}",
            artifact=f"onnx/{hostile}.onnx",
            budget_changes=(change,),
        ),
        folder,
        folder,
    )
    assert hostile not in page
    escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert f"<title>edgedistil gate: pi{escaped}</title>" in page
    assert f"<td>onnx/{escaped}.onnx</td>" in page and f"file size of {escaped}" in page
    assert "Budgets changed since the build" in page and "max_model_bytes (model size)" in page


def test_a_figure_off_the_target_is_shown_and_labelled(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    laptop = Measurement(1.5, "bench on x86_64 host localhost", off_target="not on the target")
    page = render(_gate({**SMALL, "p95_latency_ms": laptop}), folder, folder)
    assert "<td>1.50 ms (off target)</td>" in page
    assert "bench on x86_64 host localhost: not on the target" in page


def test_the_coverage_of_the_eval_text_is_listed(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    coverage = gate_mod.Coverage(unk_rate=0.0125, sentences_with_unk=0.05, source="eval.txt")
    artifact = gate_mod.check_artifact(
        BUDGETS, SMALL, artifact=RELEASE, sha256="ab" * 32, coverage=coverage
    )
    gate = gate_mod.Gate(target="pi", allow_unmeasured=False, artifacts=(artifact,))
    page = render(gate, folder, folder)
    assert f"<li>{RELEASE}: [UNK] on the eval text: 1.25% of tokens, 5.0% of" in page


def test_bytes_by_part_of_an_onnx_graph_and_a_tflite_whole(tmp_path: Path) -> None:
    parts = byte_parts(_onnx(tmp_path / "model.onnx"))
    assert {k: parts[k] for k in ("embeddings", "encoder", "head")} == {
        "embeddings": 160,
        "encoder": 64,
        "head": 32,
    }
    assert sum(parts.values()) == (tmp_path / "model.onnx").stat().st_size
    (tmp_path / "model.tflite").write_bytes(b"\0" * 1234)
    assert byte_parts(tmp_path / "model.tflite") == {"model (not broken down)": 1234}


def test_the_latency_plot_needs_a_bench_of_the_same_bytes(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "latency.png").write_bytes(b"a plot of the last build")
    page = render(_gate(SMALL), folder, folder)
    assert not (folder / "latency.png").exists()  # no bench: no plot, and not the last one
    assert '<img src="bytes.png"' in page and '<img src="accuracy.png"' in page
    sha = json.loads((folder / "manifest.json").read_text())["artifacts"][RELEASE]["sha256"]
    bench = results_dir(folder / RELEASE)
    bench.mkdir()
    latency = {q: 3.0 for q in ("min", "p50", "p90", "p95", "p99", "max")}
    entry = {"artifact_sha256": sha, "timestamp": "t", "board": "pi", "runner": "ssh"}
    result = {"latency_ms": latency, "memory": {"peak_rss_bytes": 1}}
    (bench / "t.json").write_text(json.dumps({**entry, "artifact": RELEASE, "result": result}))
    page = render(_gate(SMALL), folder, folder)
    assert '<img src="latency.png"' in page and (folder / "latency.png").stat().st_size > 1000


def test_an_artifact_missing_from_the_folder_is_drawn_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check`` judges the release artifacts only; the float graph beside them may be gone."""
    from matplotlib.axes import Axes

    folder = _folder(tmp_path)
    (folder / FLOAT).unlink()
    drawn: list[list[str]] = []
    barh = Axes.barh
    monkeypatch.setattr(
        Axes, "barh", lambda ax, y, *a, **kw: drawn.append(list(y)) or barh(ax, y, *a, **kw)
    )
    page = render(_gate(SMALL), folder, folder)
    assert '<img src="bytes.png"' in page
    assert drawn and all(names == [RELEASE, f"{FLOAT} (missing)"] for names in drawn)


def test_a_file_named_onnx_that_is_not_a_graph_is_drawn_whole(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\xff\xff garbage, not a protobuf")
    assert byte_parts(path) == {"model (not readable as ONNX)": path.stat().st_size}


def test_a_latency_estimate_is_listed_and_labelled(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    estimate = gate_mod.LatencyEstimate(
        low_ms=2.0, high_ms=3.0, source="estimate, not a measurement", breakdown="FC 80%"
    )
    artifact = gate_mod.check_artifact(
        BUDGETS,
        SMALL,
        artifact=RELEASE,
        sha256="ab" * 32,
        latency_estimate=estimate,
        allow_estimates=True,
    )
    gate = gate_mod.Gate(target="pi", allow_unmeasured=False, artifacts=(artifact,))
    page = render(gate, folder, folder)
    assert "Estimated latency, not measured: 2.00-3.00 ms per inference" in page
    assert "<td>3.00 ms (estimate, range 2.00-3.00 ms)</td>" in page
    assert '<td class="pass">pass (estimate)</td>' in page
