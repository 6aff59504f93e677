"""What every format stage shares: its context, and how a verified file becomes a release."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgedistil.build.context import Context
from edgedistil.files import staged_dir, temporary_name


class FormatStage:
    """The stages one artifact format adds to a build: they make its files in ``folder`` and
    verify them, and only a verified file is listed in the manifest. A format's stage is named
    in its registration (``edgedistil.formats``) and loaded only when a profile lists it.

    A stage never works in ``folder`` itself: it fills a temporary folder beside it and swaps it
    in (``fresh_folder``), or moves its new files in (``beside``), only once its files are made
    and verified, so a stage that fails leaves the folder as the last build left it."""

    name = ""
    folder = ""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.staging: Path | None = None

    def run(self, student: Path) -> None:
        raise NotImplementedError

    @property
    def out(self) -> Path:
        return self.ctx.root / self.folder

    @contextmanager
    def fresh_folder(self) -> Iterator[Path]:
        """An empty folder to make the format's files in; it replaces ``folder`` whole when the
        block ends (the stage key says what was there is stale), and is removed, leaving
        ``folder`` as it was, when the block raises."""
        with staged_dir(self.out) as staging:
            self.staging = staging
            yield staging

    @contextmanager
    def beside(self, inputs: list[Path]) -> Iterator[Path]:
        """A temporary folder holding copies of ``inputs`` (files of ``folder`` a tool reads
        where it writes), whose new files move into ``folder`` when the block ends; removed,
        with nothing moved, when it raises. Copies, not links: a tool that rewrote a file in
        place would change the bytes an earlier stage recorded."""
        staging = temporary_name(self.out, "stage")
        shutil.rmtree(staging, ignore_errors=True)  # what a killed run left
        staging.mkdir(parents=True)
        self.staging = staging
        try:
            for path in inputs:
                shutil.copy2(path, staging / path.name)
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        copied = {path.name for path in inputs}
        for made in sorted(staging.iterdir()):
            if made.name not in copied and made.is_file():
                os.replace(made, self.out / made.name)
        shutil.rmtree(staging, ignore_errors=True)

    def final(self, path: Path) -> Path:
        """Where a file made in the temporary folder is once the stage has moved it in."""
        if self.staging is not None and path.is_relative_to(self.staging):
            return self.out / path.relative_to(self.staging)
        return path

    def relative(self, path: Path) -> str:
        """The path in the manifest's words (relative to the build folder), of the file's final
        place for one made in the temporary folder."""
        return str(self.final(path).relative_to(self.ctx.root))

    def tokenizer_beside(self, student: Path, staging: Path) -> list[str]:
        """The student's tokenizer files copied next to the format's files (whatever runs the
        artifact reads its text with them, whichever kind the teacher's tokenizer is); their
        paths in the manifest's words, for the stage's outputs."""
        from edgedistil.tokens import copy_tokenizer

        return [self.relative(path) for path in copy_tokenizer(student, staging)]

    def add_release(self, rel: str, *, stage: str, **info: Any) -> None:
        """``rel`` as what ships, with the [UNK] share of the eval text under its tokenizer."""
        self.ctx.manifest.add_artifact(
            rel, stage=stage, format=self.name, role="release", **info, **self.ctx.unk_fields()
        )
