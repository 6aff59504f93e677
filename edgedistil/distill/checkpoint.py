"""Checkpoints: one folder per finished epoch, written under a temporary name and renamed.

A kill at any moment leaves either the previous epoch's folder or the new one, never a torn
one. ``trainer.pt`` holds only tensors, numbers and dicts, so it loads with weights_only=True.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.distill.train import Run, State, settings_dict, unwrap
from edgedistil.errors import DistillError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def checkpoint_dir(out: Path) -> Path:
    return out / "checkpoints"


def save_checkpoint(
    run: Run, state: State, optimizer: Any, scheduler: Any, best_weights: dict[str, torch.Tensor]
) -> None:
    """Write epoch ``state.epoch`` to a temporary folder, then rename it into place."""
    import torch
    from safetensors.torch import save_file

    root = checkpoint_dir(run.out)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".epoch-{state.epoch}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = {
        k: v.detach().cpu().contiguous() for k, v in unwrap(run.student).state_dict().items()
    }
    save_file(weights, str(tmp / "student.safetensors"))
    save_file({k: v.contiguous() for k, v in best_weights.items()}, str(tmp / "best.safetensors"))
    # Only tensors, numbers and dicts: it loads back with weights_only=True.
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        },
        tmp / "trainer.pt",
    )
    meta = {"state": asdict(state), "settings": settings_dict(run.settings)}
    (tmp / "state.json").write_text(json.dumps(meta, indent=2))
    final = root / f"epoch-{state.epoch}"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in root.glob("epoch-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(out: Path) -> Path | None:
    found = sorted(checkpoint_dir(out).glob("epoch-*"), key=lambda p: int(p.name.split("-")[1]))
    return found[-1] if found else None


def restore(run: Run, optimizer: Any, scheduler: Any) -> tuple[State, dict[str, torch.Tensor]]:
    """The last finished epoch's state; refuses a checkpoint made with other settings."""
    import torch
    from safetensors.torch import load_file

    path = latest_checkpoint(run.out)
    if path is None:
        raise DistillError(
            f"--resume: no checkpoint in {checkpoint_dir(run.out)}; start without --resume"
        )
    meta = json.loads((path / "state.json").read_text())
    saved, now = meta["settings"], settings_dict(run.settings)
    changed = [f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in now if saved.get(k) != now[k]]
    if changed:
        raise DistillError(
            f"--resume: the checkpoint in {path} was made with other settings "
            f"({'; '.join(changed)}); resume with the same options"
        )
    unwrap(run.student).load_state_dict(load_file(str(path / "student.safetensors")))
    trainer = torch.load(path / "trainer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    torch.set_rng_state(trainer["rng"])
    log.info("resumed from %s", path)
    return State(**meta["state"]), load_file(str(path / "best.safetensors"))
