"""The stage cache (``edgedistil.build.cache``): a stage is redone exactly when its key or one
of its outputs changed, and a stage that fails leaves no record behind."""

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


def test_a_failed_stage_forgets_its_record_and_what_it_verified(tmp_path: Path) -> None:
    manifest, events = Manifest.open(tmp_path), Recorder()

    def verify() -> dict[str, Any]:
        (tmp_path / "model.bin").write_bytes(b"\0" * 8)
        manifest.add_artifact("model.bin", stage="verify", role="release")
        return {"outputs": ["model.bin"]}

    run_stage(manifest, events, "verify", "k1", verify)
    assert "model.bin" in manifest.releases()

    def broken() -> dict[str, Any]:
        raise RuntimeError("conversion crashed")

    with pytest.raises(RuntimeError):
        run_stage(manifest, events, "verify", "k2", broken)
    assert events.seen[-1] == ("verify", "failed", "")
    saved = Manifest.open(tmp_path)
    assert "verify" not in saved.data["stages"]
    assert saved.releases() == {}  # the gate never sees bytes the failed stage had verified
