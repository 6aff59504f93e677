"""Files and folders written whole or not at all: what a reader can see at any moment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgedistil.files import (
    move_into,
    staged_dir,
    staged_file,
    temporary_name,
    write_atomic,
    write_json,
)


def test_write_atomic_writes_text_and_bytes_and_leaves_no_temporary(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a.txt", "héllo\n")
    write_atomic(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_write_atomic_gives_the_file_the_usual_permissions(tmp_path: Path) -> None:
    """Not mkstemp's 0600: a manifest or report another user (a CI uploader) can read."""
    import os
    import stat

    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640


def test_write_json_is_indented_and_ends_in_a_newline(tmp_path: Path) -> None:
    write_json(tmp_path / "r.json", {"b": 1, "a": Path("x")}, sort_keys=True, default=str)
    text = (tmp_path / "r.json").read_text(encoding="utf-8")
    assert text == '{\n  "a": "x",\n  "b": 1\n}\n' and json.loads(text) == {"a": "x", "b": 1}


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"old": True})
    with pytest.raises(TypeError):
        write_json(path, {"new": object()})  # not serialisable: fails before anything is written
    with pytest.raises(TypeError):
        write_atomic(path, 42)  # type: ignore[arg-type]  # fails while writing the temporary
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_staged_file_renames_on_success_and_removes_on_error(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError), staged_file(target) as tmp:
        assert tmp == temporary_name(target) == tmp_path / ".model.onnx.tmp"
        tmp.write_text("half")
        raise RuntimeError("the tool failed")
    assert target.read_text() == "old" and not tmp.exists()
    with staged_file(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # the final name changes only at the end
    assert target.read_text() == "new" and not tmp.exists()


def test_staged_dir_replaces_the_old_folder_only_when_the_new_is_complete(
    tmp_path: Path,
) -> None:
    final = tmp_path / "epoch-2"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_dir(final) as folder:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("killed")
    assert [p.name for p in final.iterdir()] == ["old.txt"]
    with staged_dir(final) as folder:
        (folder / "new.txt").write_text("new")
        assert (final / "old.txt").is_file()  # still the old folder while the new one fills
    assert [p.name for p in final.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["epoch-2"]  # no temporary left


def test_move_into_merges_a_staged_tree(tmp_path: Path) -> None:
    staging, folder = tmp_path / ".model.tmp", tmp_path / "out"
    (staging / "1_Pooling").mkdir(parents=True)
    (staging / "1_Pooling" / "config.json").write_text("new pooling")
    (staging / "model.safetensors").write_text("new weights")
    folder.mkdir()
    (folder / "model.safetensors").write_text("old weights")
    (folder / "kept.txt").write_text("kept")
    move_into(staging, folder)
    assert not staging.exists()
    assert (folder / "model.safetensors").read_text() == "new weights"
    assert (folder / "1_Pooling" / "config.json").read_text() == "new pooling"
    assert (folder / "kept.txt").read_text() == "kept"
