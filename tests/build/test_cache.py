"""The stage cache (``edgedistil.build.cache``): a stage is redone exactly when its key or one
of its outputs changed, and a redo that fails leaves the old record, marked as being redone,
with no artifact the gate could take for verified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgedistil.build.cache import run_stage
from edgedistil.manifest import Manifest


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def stage(self, name: str, state: str, detail: str = "") -> None:
        self.seen.append((name, state, detail))

    def training(self) -> Any:
        return None


def _writer(root: Path, calls: list[str], text: str = "made") -> Any:
    def work() -> dict[str, Any]:
        calls.append(text)
        (root / "out.txt").write_text(text, encoding="utf-8")
        return {"outputs": ["out.txt"], "summary": f"wrote {text}", "extra": 7}

    return work


def test_a_stage_runs_once_then_is_skipped_while_key_and_outputs_hold(tmp_path: Path) -> None:
    manifest, events, calls = Manifest.open(tmp_path), Recorder(), []
    first = run_stage(manifest, events, "make", "k1", _writer(tmp_path, calls))
    assert calls == ["made"]
    assert first["status"] == "done" and first["key"] == "k1" and first["extra"] == 7
    assert set(first["outputs"]) == {"out.txt"}
    assert events.seen[-1] == ("make", "done", "wrote made")
    # A new process reads the saved manifest: the stage is not redone.
    again = run_stage(Manifest.open(tmp_path), events, "make", "k1", _writer(tmp_path, calls))
    assert calls == ["made"]
    assert again["outputs"] == first["outputs"]
    assert events.seen[-1] == ("make", "skipped", "inputs unchanged")


def test_a_new_key_or_a_changed_output_redoes_the_stage(tmp_path: Path) -> None:
    manifest, events, calls = Manifest.open(tmp_path), Recorder(), []
    run_stage(manifest, events, "make", "k1", _writer(tmp_path, calls))
    run_stage(manifest, events, "make", "k2", _writer(tmp_path, calls, "k2"))
    assert calls == ["made", "k2"]
    (tmp_path / "out.txt").write_text("edited by hand", encoding="utf-8")
    run_stage(manifest, events, "make", "k2", _writer(tmp_path, calls, "again"))
    assert calls == ["made", "k2", "again"]
    (tmp_path / "out.txt").unlink()
    run_stage(manifest, events, "make", "k2", _writer(tmp_path, calls, "gone"))
    assert calls[-1] == "gone"


def test_a_failed_redo_keeps_the_old_record_withdrawn_and_the_old_key_takes_it_up(
    tmp_path: Path,
) -> None:
    manifest, events = Manifest.open(tmp_path), Recorder()

    def verify() -> dict[str, Any]:
        (tmp_path / "model.bin").write_bytes(b"\0" * 8)
        manifest.add_artifact("model.bin", stage="verify", role="release")
        return {"outputs": ["model.bin"]}

    run_stage(manifest, events, "verify", "k1", verify)
    assert "model.bin" in manifest.releases()
    before = (tmp_path / "manifest.json").read_text()

    def broken() -> dict[str, Any]:
        (tmp_path / "other.bin").write_bytes(b"\1")
        manifest.add_artifact("other.bin", stage="verify", role="release")  # then it crashes
        raise RuntimeError("conversion crashed")

    with pytest.raises(RuntimeError):
        run_stage(manifest, events, "verify", "k2", broken)
    assert events.seen[-1] == ("verify", "failed", "")
    saved = Manifest.open(tmp_path)
    record = saved.data["stages"]["verify"]
    # The old record stays, true to the old bytes, marked as being redone ...
    assert record["key"] == "k1" and record["status"] == "redoing"
    assert (tmp_path / "model.bin").read_bytes() == b"\0" * 8
    # ... and the gate sees no artifact of a stage that is not done, nor what the crash added.
    assert saved.releases() == {}
    assert set(record["withdrawn_artifacts"]) == {"model.bin"}
    # Back on the old inputs: taken up again as it was, not redone.
    calls: list[str] = []
    again = run_stage(saved, events, "verify", "k1", _writer(tmp_path, calls))
    assert calls == [] and again["status"] == "done"
    assert events.seen[-1] == ("verify", "skipped", "inputs unchanged")
    assert (tmp_path / "manifest.json").read_text() == before


def test_a_redo_that_finishes_replaces_the_record_and_its_artifacts(tmp_path: Path) -> None:
    manifest, events = Manifest.open(tmp_path), Recorder()

    def verify(name: str) -> Any:
        def work() -> dict[str, Any]:
            (tmp_path / name).write_bytes(name.encode())
            manifest.add_artifact(name, stage="verify", role="release")
            return {"outputs": [name]}

        return work

    run_stage(manifest, events, "verify", "k1", verify("a.bin"))
    run_stage(manifest, events, "verify", "k2", verify("b.bin"))
    saved = Manifest.open(tmp_path)
    assert set(saved.releases()) == {"b.bin"}
    assert saved.data["stages"]["verify"]["status"] == "done"
    assert "withdrawn_artifacts" not in saved.data["stages"]["verify"]
