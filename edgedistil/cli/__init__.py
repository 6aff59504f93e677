"""The ``edgedistil`` command. Each module registers its commands on the one group."""

from __future__ import annotations

from edgedistil.cli import bench, build, export, runners, targets, tflite, train
from edgedistil.cli._app import cli

__all__ = ["cli", "main", "bench", "build", "export", "runners", "targets", "tflite", "train"]


def main() -> None:
    from edgedistil.cli._stderr import native_noise_filtered

    with native_noise_filtered():
        cli(prog_name="edgedistil")
