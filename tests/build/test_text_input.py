"""A build with ``[export].text_input = true``: the released ONNX model again as
``model.<scheme>.text.onnx`` (raw text in), verified against the host path, listed in the
manifest and shown by the reports; one that does not match fails in one line, leaving no file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from edgedistil.cli import cli
from edgedistil.export import onnx_text
from tests.build.test_build import LOCAL, PROFILE
from tests.conftest import error_line, save_tiny
from tests.export.test_onnx_text import _student
from tests.tiny_families import save_tiny_family


def _build(teacher: Path, out: Path) -> Result:
    profile = out.parent / "pi4-text.toml"
    profile.write_text(PROFILE + "text_input = true\n", encoding="utf-8")  # in its [export]
    return CliRunner().invoke(
        cli,
        ["build", "--epochs", "1", "--runs", "3", "--augment", "0", "--target", str(profile),
         "--teacher", str(teacher), "--out", str(out), *LOCAL],
    )  # fmt: skip


@pytest.mark.slow
def test_the_build_ships_a_verified_text_model_beside_the_release(tmp_path: Path) -> None:
    teacher = _student(tmp_path / "teacher", "BertModel")
    out = tmp_path / "out"
    result = _build(teacher, out)
    assert result.exit_code == 0, result.output + result.stderr
    artifacts = json.loads((out / "manifest.json").read_text())["artifacts"]
    (release,) = [r for r, a in artifacts.items() if a["role"] == "release"]
    (text,) = [r for r, a in artifacts.items() if a["role"] == "text"]
    assert text == release.removesuffix(".onnx") + ".text.onnx"
    figures = artifacts[release]["text_model"]
    assert figures["path"] == text and figures["cosine_mean"] >= onnx_text.MIN_COSINE
    assert figures["sentences"] > 0 and figures["extra_bytes"] > 0
    assert artifacts[text]["text_fidelity"]["cosine_min"] == figures["cosine_min"]
    session = onnx_text.text_session(out / text)
    (embedding,) = session.run(None, {"text": np.array(["Café über 电影!"], dtype=object)})
    assert embedding.shape == (1, 32)
    gate = json.loads((out / "gate.json").read_text())
    assert gate["artifacts"][0]["text_model"]["path"] == text
    for report in ("gate.md", "report.html"):
        assert f"Text-input model {text} (tokenizer in the graph" in (out / report).read_text()


@pytest.mark.slow
def test_a_text_model_that_does_not_match_fails_the_build(tmp_path: Path) -> None:
    """The tests' usual vocabulary lacks the alphabet, where BertTokenizer and Hugging Face part
    (``test_onnx_text.test_a_text_model_that_does_not_match_is_not_left_behind``)."""
    out = tmp_path / "out"
    result = _build(save_tiny(tmp_path / "teacher"), out)
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if not line.startswith("Warning: ")]
    assert len(errors) == 1 and "Traceback" not in result.output
    (line,) = errors
    assert line.startswith("Error: ")
    assert "does not match the host path: cosine" in line and "needs >= 0.999" in line
    assert not list((out / "onnx").glob("*.text.onnx"))
    assert not [p for p in (out / "onnx").iterdir() if p.name.startswith(".")]


def test_a_bpe_teacher_is_refused_before_any_training(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _build(save_tiny_family(tmp_path / "teacher", "roberta"), out)
    line = error_line(result)
    assert "sets [export].text_input: " in line and "the tokenizer is BPE" in line
    assert "BertTokenizer" in line and "WordPiece" in line
    assert not out.exists() or not any(out.iterdir())
