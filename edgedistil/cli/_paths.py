"""The folder options a command writes into (``--out``, ``--report-dir``): refused in one
``Error:`` line, exit 1, when a file stands where the folder or one of its parents must be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgedistil.files import not_a_folder


class OutputDir(click.Path):
    """A folder a command creates or reuses. click's own ``file_okay=False`` answers an existing
    file with a usage error (exit 2, the usage text), and says nothing about a file above the
    folder, which then fails deep inside the command with a traceback."""

    def __init__(self) -> None:
        super().__init__(path_type=Path, file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = Path(value)
        blocker = not_a_folder(path)
        if blocker is not None:
            option = param.opts[0] if param is not None and param.opts else "the output folder"
            where = "is a file" if blocker == path else f"is below {blocker}, which is a file"
            raise click.ClickException(
                f"{option} {path}: {where}; give a folder (new or existing) to write into"
            )
        return super().convert(value, param, ctx)
