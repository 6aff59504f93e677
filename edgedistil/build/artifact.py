"""What every format stage shares: its context, and how a verified file becomes a release."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgedistil.build.context import Context


class FormatStage:
    """The stages one artifact format adds to a build: they make its files in ``folder`` and
    verify them, and only a verified file is listed in the manifest. A format's stage is named
    in its registration (``edgedistil.formats``) and loaded only when a profile lists it."""

    name = ""
    folder = ""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def run(self, student: Path) -> None:
        raise NotImplementedError

    def fresh_folder(self) -> Path:
        """The format's folder, emptied: its stage key says what was there is stale."""
        out = self.ctx.root / self.folder
        shutil.rmtree(out, ignore_errors=True)
        return out

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.ctx.root))

    def add_release(self, rel: str, *, stage: str, **info: Any) -> None:
        """``rel`` as what ships, with the [UNK] share of the eval text under its tokenizer."""
        self.ctx.manifest.add_artifact(
            rel, stage=stage, format=self.name, role="release", **info, **self.ctx.unk_fields()
        )
