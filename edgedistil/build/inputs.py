"""Every input of a build checked before the folder changes, the build's description in its
manifest, and the train / eval / calibration split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistil import manifest as manifest_mod
from edgedistil.build.cache import Events
from edgedistil.build.request import Resolved
from edgedistil.errors import BuildError, DataError
from edgedistil.files import not_a_folder
from edgedistil.manifest import Manifest, tree_sha256

# Distillation picks its best epoch on a share it holds out of the train part (``distill.job``):
# one line of train text leaves nothing to hold out.
MIN_TRAIN = 2


def check(resolved: Resolved) -> tuple[Manifest, Any]:
    """The folder's manifest and the split text (``heldout.Split``), read once every input is
    known to serve: the folder, its manifest, the text files, the teacher or the student. A build
    refused here leaves the folder byte for byte as it was."""
    from edgedistil.heldout import split as split_texts

    request = resolved.request
    blocker = not_a_folder(request.out)
    if blocker is not None:
        raise BuildError(f"--out {request.out}: {blocker} is a file; give a folder to build in")
    manifest = Manifest.open(request.out)
    texts = split_texts(
        data=resolved.data,
        eval_path=request.eval_path,
        calibration=request.calibration,
        seed=request.seed,
    )
    if request.student is not None:
        _check_student(request.student)
    else:
        _check_teacher(resolved, len(texts.train))
    _check_text_input(resolved, texts.train)
    return manifest, texts


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


def split(manifest: Manifest, resolved: Resolved, checked: Any, events: Events) -> Any:
    """The train / eval / calibration files (``heldout``) of the ``check``ed split, recorded
    under the manifest's ``split``: cheap and deterministic, so redone on every build, and the
    stages' keys hash the files it writes."""
    from edgedistil.heldout import write

    texts = write(resolved.request.out, checked)
    manifest.data["split"] = texts.record
    manifest.save()
    events.stage("split", "done", texts.summary)
    return texts


def _file_input(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise BuildError(f"{path}: no such file")
    return {"path": str(path), "sha256": tree_sha256(path)}


def _check_student(student: Path) -> None:
    """The user's student is checked as a teacher is: config, weights, tokenizer."""
    from edgedistil.teacher import check_model_folder, read_config

    if not (student / "config.json").is_file():
        raise BuildError(f"--student {student}: not a model directory (no config.json)")
    check_model_folder(student, read_config(student))


def _check_text_input(resolved: Resolved, train: Any) -> None:
    """``[export].text_input``: a tokenizer BertTokenizer cannot run, pair data or tagged words
    are refused before any training (the student keeps the teacher's kind of tokenizer)."""
    from edgedistil.export.onnx_text import refusal
    from edgedistil.teacher import resolve_teacher
    from edgedistil.verify.tags import TASK as TOKEN_TASK

    profile, request = resolved.profile, resolved.request
    if not profile.export.text_input:
        return
    folder = request.student or resolve_teacher(request.teacher).path
    task = TOKEN_TASK if train.words is not None else "classification"
    why = refusal(folder, pairs=train.pairs is not None, task=task)
    if why:
        raise BuildError(f'target "{profile.name}" sets [export].text_input: {why}')


def _check_teacher(resolved: Resolved, train_lines: int) -> None:
    """The teacher distillation starts from, and enough train text for it."""
    from edgedistil.teacher import resolve_teacher

    resolve_teacher(resolved.request.teacher)
    if train_lines < MIN_TRAIN:
        raise DataError(
            f"{resolved.data}: {train_lines} line(s) of train text once the eval text is held "
            f"out; distillation needs at least {MIN_TRAIN} (it holds a share out to pick its "
            "best epoch): give more text"
        )
