"""A build of a finished student for a built-in device profile, and what its gate said about the
release: shared by the family, pair and token-classification build tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from edgedistil.cli import cli


def build_onnx(teacher: Path, data: Path, out: Path, budgets: str = "") -> Path:
    """``edgedistil build`` from ``teacher`` for the Pi 4 profile with ONNX only
    (``test_build.PROFILE``; ``budgets``: a ``[budgets]`` table to add), benched on this host
    standing for the board; it must pass. The student in ``out`` serves the device builds."""
    from tests.build.test_build import LOCAL, PROFILE

    profile = out.parent / "pi4.toml"  # beside ``out``, for later builds and checks to name
    profile.write_text(PROFILE + budgets, encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["build", "--epochs", "1", "--runs", "3", "--target", str(profile), "--teacher",
         str(teacher), "--data", str(data), "--out", str(out), *LOCAL],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    return out


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


# A tiny random classifier's labels are arbitrary, so its accuracy drop is the balance of a few
# flipped near-ties (0-6 of ~50 eval rows measured, benchmarks/family_tasks.py) and says nothing
# of the graph: a broken one keeps the float student's chance-level accuracy too. Its budget is
# left wide and the tests assert the release's agreement with PyTorch instead (``agreement``):
# measured 0.88-1.00 over every family, task and path, where a broken graph agrees on ~1/3.
TINY_LOGITS_DROP = 0.5
MIN_AGREEMENT = 0.8


def release(folder: Path) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]]:
    """The release artifact's path and manifest entry, and its gate checks by budget."""
    artifacts = json.loads((folder / "manifest.json").read_text())["artifacts"]
    (name,) = [n for n, a in artifacts.items() if a["role"] == "release"]
    (gated,) = json.loads((folder / "gate.json").read_text())["artifacts"]
    return name, artifacts[name], {c["budget"]: c for c in gated["checks"]}


def agreement(folder: Path) -> float | None:
    """The release's agreement with PyTorch (classes, or a token classifier's entities) as its
    own record has it: the .tflite's against PyTorch, the ONNX int8's against the float graph
    (which parity holds to PyTorch within 1e-4). None for an embedding model."""
    records = [*folder.glob("tflite*/model.*.json"), *folder.glob("onnx/fidelity.json")]
    value = json.loads(records[0].read_text())["fidelity"].get("agreement")
    return None if value is None else float(value)


def tflite_record(folder: Path) -> dict[str, Any]:
    """The record of the build's one .tflite (LiteRT or TFLite Micro)."""
    (record,) = [json.loads(p.read_text()) for p in folder.glob("tflite*/model.*.json")]
    return dict(record)
