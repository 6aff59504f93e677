"""The build's description in its manifest, and the train / eval / calibration split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistil import manifest as manifest_mod
from edgedistil.build.cache import Events
from edgedistil.build.request import Resolved
from edgedistil.errors import BuildError
from edgedistil.manifest import Manifest, tree_sha256


def describe(manifest: Manifest, resolved: Resolved) -> None:
    """What went in: the target, its profile, the versions and every input (files by sha256)."""
    request, profile = resolved.request, resolved.profile
    manifest.data.update(
        target=profile.name,
        profile=profile.to_dict(),
        seed=request.seed,
        versions=manifest_mod.versions(),
        inputs={
            "teacher": request.teacher,
            "student": str(request.student) if request.student else None,
            "data": {"path": str(resolved.data), "sha256": tree_sha256(resolved.data)},
            "eval": _file_input(request.eval_path) if request.eval_path else None,
            "calibration": _file_input(request.calibration) if request.calibration else None,
            "layers": request.layers,
            "vocab_size": request.vocab_size,
            "hidden": request.hidden,
            "epochs": request.epochs,
            "batch_size": request.batch_size,
        },
    )
    manifest.save()


def split(manifest: Manifest, resolved: Resolved, events: Events) -> Any:
    """The train / eval / calibration files (``heldout``), recorded under the manifest's
    ``split``: cheap and deterministic, so redone on every build, and the stages' keys hash
    the files it writes."""
    from edgedistil.heldout import prepare

    request = resolved.request
    texts = prepare(
        request.out,
        data=resolved.data,
        eval_path=request.eval_path,
        calibration=request.calibration,
        seed=request.seed,
    )
    manifest.data["split"] = texts.record
    manifest.save()
    events.stage("split", "done", texts.summary)
    return texts


def _file_input(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise BuildError(f"{path}: no such file")
    return {"path": str(path), "sha256": tree_sha256(path)}
