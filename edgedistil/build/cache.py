"""The stage cache: a stage runs unless the manifest holds it done with the same key and every
file it wrote still has its recorded sha256 (``Manifest.done``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from edgedistil.manifest import Manifest


class Events(Protocol):
    """What the CLI shows: a line per stage, and training progress."""

    def stage(self, name: str, state: str, detail: str = "") -> None: ...
    def training(self) -> Any: ...  # a distill.train.Progress, or None for silence


def run_stage(
    manifest: Manifest,
    events: Events,
    name: str,
    key: str,
    work: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``work`` unless the manifest holds stage ``name`` done with ``key``. ``work`` returns
    the stage's record: ``outputs`` (paths under the folder, hashed by the manifest), a
    ``summary`` line for the events, and anything else to keep. The stored record is returned
    either way; a stage that raises leaves no record (its old one is forgotten first, so a
    half-done stage is never taken for a done one)."""
    done = manifest.done(name, key)
    if done is not None:
        events.stage(name, "skipped", "inputs unchanged")
        return done
    manifest.forget(name)
    events.stage(name, "start")
    started = time.perf_counter()
    try:
        record = work()
    except BaseException:
        events.stage(name, "failed")
        raise
    outputs = record.pop("outputs", [])
    record["seconds"] = round(time.perf_counter() - started, 1)
    manifest.finish(name, key, outputs, record)
    events.stage(name, "done", record.get("summary", ""))
    return manifest.data["stages"][name]  # type: ignore[no-any-return]
