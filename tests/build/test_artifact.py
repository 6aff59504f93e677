"""What a format stage leaves in its folder (``build.artifact.FormatStage``): the new files once
they are complete, or the old ones untouched when the stage fails."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from edgedistil.build.artifact import FormatStage


class _Stage(FormatStage):
    name = "onnx"
    folder = "onnx"


def _stage(root: Path) -> FormatStage:
    ctx: Any = SimpleNamespace(root=root)
    return _Stage(ctx)


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _old(root: Path) -> dict[str, bytes]:
    (root / "onnx").mkdir(parents=True)
    (root / "onnx" / "model.onnx").write_bytes(b"old float")
    (root / "onnx" / "model.int8.onnx").write_bytes(b"old int8")
    return _listing(root)


def test_a_fresh_folder_that_fails_leaves_the_old_one_and_no_temporary(tmp_path: Path) -> None:
    before = _old(tmp_path)
    stage = _stage(tmp_path)
    with pytest.raises(RuntimeError), stage.fresh_folder() as staging:
        (staging / "model.onnx").write_bytes(b"half a new model")
        raise RuntimeError("export crashed")
    assert _listing(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx"]


def test_a_fresh_folder_replaces_the_old_one_whole_when_complete(tmp_path: Path) -> None:
    _old(tmp_path)
    stage = _stage(tmp_path)
    with stage.fresh_folder() as staging:
        (staging / "model.onnx").write_bytes(b"new float")
        made = staging / "model.onnx"
        assert stage.relative(made) == "onnx/model.onnx"  # its final place, for the manifest
    assert _listing(tmp_path) == {"onnx/model.onnx": b"new float"}


def test_beside_moves_only_new_files_in_and_nothing_when_it_fails(tmp_path: Path) -> None:
    before = _old(tmp_path)
    stage = _stage(tmp_path)
    float_model = tmp_path / "onnx" / "model.onnx"
    with pytest.raises(RuntimeError), stage.beside([float_model]) as staging:
        assert (staging / "model.onnx").read_bytes() == b"old float"  # a copy to read
        (staging / "model.int8.onnx").write_bytes(b"half a new int8")
        raise RuntimeError("quantization crashed")
    assert _listing(tmp_path) == before
    with stage.beside([float_model]) as staging:
        (staging / "model.int8.onnx").write_bytes(b"new int8")
        (staging / "fidelity.json").write_bytes(b"{}")
    assert _listing(tmp_path) == {
        "onnx/model.onnx": b"old float",
        "onnx/model.int8.onnx": b"new int8",
        "onnx/fidelity.json": b"{}",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx"]


@pytest.mark.parametrize("family", ["roberta", "xlm-roberta"])
def test_the_students_tokenizer_goes_beside_the_artifact(tmp_path: Path, family: str) -> None:
    """What the LiteRT and TFLite Micro stages put next to their files: the student's tokenizer,
    of whichever kind, loading there as in the student's folder."""
    from transformers import AutoTokenizer

    from tests.tiny_families import save_tiny_family

    student = save_tiny_family(tmp_path / "student", family)
    stage = _stage(tmp_path / "build")
    with stage.fresh_folder() as staging:
        (staging / "model.tflite").write_bytes(b"a model")
        listed = stage.tokenizer_beside(student, staging)
    assert listed == ["onnx/tokenizer.json", "onnx/tokenizer_config.json"]
    folder = tmp_path / "build" / "onnx"
    texts = ["the movie was good", "battery watch fast, timers!"]
    ours = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    theirs = AutoTokenizer.from_pretrained(str(student), local_files_only=True)
    assert ours(texts)["input_ids"] == theirs(texts)["input_ids"]
