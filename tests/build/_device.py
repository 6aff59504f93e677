"""A build of a finished student for a built-in device profile, and what its gate said about the
release: shared by the family, pair and token-classification build tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from edgedistil.cli import cli


def build_for(
    target: str, student: Path, data: Path, folder: Path, max_drop: float | None = None
) -> Path:
    """``edgedistil build`` of ``student`` for the built-in ``target`` into ``folder``, benched
    on this host (off target, so unmeasured and allowed); it must pass. ``max_drop``: the
    accuracy budget instead of the target's (see ``TINY_LOGITS_DROP``)."""
    profile = folder.parent / f"{folder.name}.toml"
    budget = "" if max_drop is None else f"[budgets]\nmax_accuracy_drop = {max_drop}\n"
    profile.write_text(f'extends = "{target}"\nname = "p"\ndescription = "d"\n{budget}')
    result = CliRunner().invoke(
        cli,
        ["build", "--epochs", "1", "--runs", "3", "--target", str(profile), "--student",
         str(student), "--data", str(data), "--out", str(folder), "--runner", "local",
         "--allow-unmeasured"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    return folder


# A tiny random classifier's eval split is ~50 rows, and its logits have near ties that int8 may
# flip: one flip is 2 points, over the targets' 1-2 point budgets, while a broken graph agrees on
# a third of 3 classes. Measured over every family: 0-4 points.
TINY_LOGITS_DROP = 0.1


def release(folder: Path) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]]:
    """The release artifact's path and manifest entry, and its gate checks by budget."""
    artifacts = json.loads((folder / "manifest.json").read_text())["artifacts"]
    (name,) = [n for n, a in artifacts.items() if a["role"] == "release"]
    (gated,) = json.loads((folder / "gate.json").read_text())["artifacts"]
    return name, artifacts[name], {c["budget"]: c for c in gated["checks"]}


def tflite_record(folder: Path) -> dict[str, Any]:
    """The record of the build's one .tflite (LiteRT or TFLite Micro)."""
    (record,) = [json.loads(p.read_text()) for p in folder.glob("tflite*/model.*.json")]
    return dict(record)
