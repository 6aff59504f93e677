"""The stage cache: a stage runs unless the manifest holds it done with the same key and every
file it wrote still has its recorded sha256 (``Manifest.done``); a redo that fails leaves the
stage's old outputs and record as they were."""

from __future__ import annotations

import copy
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
    either way.

    A stage being redone keeps its old outputs until its work is complete (it writes beside
    them and swaps, ``files.staged_dir``), and its old record, marked ``redoing`` with its
    artifacts withdrawn (``Manifest.withdraw``), until the new one replaces it. A stage that
    raises leaves the manifest as it was before the work: what it added in memory goes."""
    done = manifest.done(name, key)
    if done is not None:
        manifest.restore(name)
        events.stage(name, "skipped", "inputs unchanged")
        return done
    manifest.withdraw(name)
    before = copy.deepcopy(manifest.data)
    events.stage(name, "start")
    started = time.perf_counter()
    try:
        record = work()
    except BaseException:
        manifest.data = before
        manifest.save()  # the same bytes, unless the work saved what it had added
        events.stage(name, "failed")
        raise
    outputs = record.pop("outputs", [])
    record["seconds"] = round(time.perf_counter() - started, 1)
    manifest.finish(name, key, outputs, record)
    events.stage(name, "done", record.get("summary", ""))
    return manifest.data["stages"][name]  # type: ignore[no-any-return]
