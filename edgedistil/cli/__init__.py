"""The ``edgedistil`` command. Each module registers its commands on the one group."""

from __future__ import annotations

from edgedistil.cli import bench, build, export, targets, tflite, train
from edgedistil.cli._app import cli

__all__ = ["cli", "main", "bench", "build", "export", "targets", "tflite", "train"]


def main() -> None:
    cli(prog_name="edgedistil")
