"""Checkpoints: one folder per finished epoch, written under a temporary name and renamed.

A kill at any moment leaves either the previous epoch's folder or the new one, never a torn
one. ``trainer.pt`` holds only tensors, numbers and dicts, so it loads with weights_only=True.

This module knows the folder's layout and nothing of training: the loop (``train.py``) hands it
plain values and applies what it reads back, so the two do not import each other.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.errors import DistillError
from edgedistil.files import staged_dir

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, kw_only=True)
class Saved:
    """One finished epoch, as read back."""

    path: Path
    state: dict[str, Any]  # the loop's State, as a dict
    student: dict[str, torch.Tensor]  # the weights at the end of the epoch
    best: dict[str, torch.Tensor]  # the best epoch's weights so far
    trainer: dict[str, Any]  # optimizer, scheduler and random state


def checkpoint_dir(out: Path) -> Path:
    return out / "checkpoints"


def save_checkpoint(
    out: Path,
    epoch: int,
    *,
    state: dict[str, Any],
    settings: dict[str, Any],
    student: dict[str, torch.Tensor],
    best: dict[str, torch.Tensor],
    trainer: dict[str, Any],
) -> None:
    """Write ``epoch`` to a temporary folder, rename it into place, then drop older epochs."""
    import torch
    from safetensors.torch import save_file

    root = checkpoint_dir(out)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"epoch-{epoch}"
    with staged_dir(final) as folder:
        save_file(student, str(folder / "student.safetensors"))
        save_file(best, str(folder / "best.safetensors"))
        torch.save(trainer, folder / "trainer.pt")  # only tensors, numbers and dicts
        meta = {"state": state, "settings": settings}
        (folder / "state.json").write_text(json.dumps(meta, indent=2))
    for old in root.glob("epoch-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(out: Path) -> Path | None:
    found = sorted(checkpoint_dir(out).glob("epoch-*"), key=lambda p: int(p.name.split("-")[1]))
    return found[-1] if found else None


def load_checkpoint(out: Path, settings: dict[str, Any]) -> Saved:
    """The last finished epoch; refuses a checkpoint made with other ``settings``."""
    import torch
    from safetensors.torch import load_file

    path = latest_checkpoint(out)
    if path is None:
        raise DistillError(
            f"--resume: no checkpoint in {checkpoint_dir(out)}; start without --resume"
        )
    meta = json.loads((path / "state.json").read_text())
    saved = meta["settings"]
    changed = [f"{k} {saved.get(k)!r} -> {v!r}" for k, v in settings.items() if saved.get(k) != v]
    if changed:
        raise DistillError(
            f"--resume: the checkpoint in {path} was made with other settings "
            f"({'; '.join(changed)}); resume with the same options"
        )
    return Saved(
        path=path,
        state=meta["state"],
        student=load_file(str(path / "student.safetensors")),
        best=load_file(str(path / "best.safetensors")),
        trainer=torch.load(path / "trainer.pt", map_location="cpu", weights_only=True),
    )
