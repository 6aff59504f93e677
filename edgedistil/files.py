"""Files and folders written whole or not at all: what every writer in edgedistil uses.

A reader (the next stage, a resumed run, a gate on CI) must never see half a file. Everything
is therefore written under a temporary name beside its final place, on the same file system, and
renamed when complete; ``os.replace`` is atomic there, so the final name holds either the old
content or the new.

    write_atomic(path, text_or_bytes)   a file whose content is in memory
    write_json(path, value)             the same, for the JSON records and reports
    staged_file(path)                   a file a tool writes itself (ORT, the TFLite converter)
    staged_dir(path)                    a folder filled piece by piece, then swapped in whole
    move_into(staging, folder)          a staged folder's files merged into a shared one
    not_a_folder(path)                  what stops a folder being made at ``path``

Temporary names start with a dot and end in ``.tmp`` (``temporary_name``), so a listing or a
glob for the real names skips them, and what a killed run leaves is recognisable.

Only the stdlib: nothing here imports the rest of edgedistil. (``bench/board_script.py`` renames
its one result file by hand: it runs alone on a board, where edgedistil is not installed.)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def temporary_name(path: Path, tag: str = "") -> Path:
    """``.<name>[.<tag>].tmp`` beside ``path``: hidden, and on the same file system."""
    suffix = f".{tag}" if tag else ""
    return path.with_name(f".{path.name}{suffix}.tmp")


def write_atomic(path: Path, data: str | bytes) -> None:
    """``data`` at ``path``, all or nothing: a uniquely named temporary file beside it (two
    writers never share one), flushed to disk, then renamed. Text is written as UTF-8."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; the renamed file gets what open() would have given it
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it: set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(
    path: Path,
    value: Any,
    *,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> None:
    """``value`` as indented JSON ending in a newline, written with ``write_atomic``."""
    text = json.dumps(value, indent=2, sort_keys=sort_keys, default=default)
    write_atomic(path, text + "\n")


@contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """A temporary path for a tool that writes the file itself; renamed onto ``path`` when the
    block ends, removed when it raises (``path`` is then untouched)."""
    temporary = temporary_name(path)
    temporary.unlink(missing_ok=True)  # what a killed run left
    try:
        yield temporary
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


@contextmanager
def staged_dir(path: Path) -> Iterator[Path]:
    """An empty folder to fill under a temporary name; when the block ends it becomes ``path``
    (``swap_dir``), when it raises it is removed and ``path`` is untouched."""
    temporary = temporary_name(path)
    shutil.rmtree(temporary, ignore_errors=True)  # what a killed run left
    temporary.mkdir(parents=True)
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    swap_dir(temporary, path)


def swap_dir(complete: Path, path: Path) -> None:
    """``complete`` (a finished folder) renamed to ``path``. An existing ``path`` is first renamed
    aside and deleted only once the new folder is in place: POSIX cannot rename a folder onto a
    non-empty one, so for an instant neither name exists, but never a half-written one."""
    old = temporary_name(path, "old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(complete, path)
    shutil.rmtree(old, ignore_errors=True)


def move_into(staging: Path, folder: Path) -> None:
    """Every file under ``staging`` moved to the same place under ``folder`` (replacing what is
    there, keeping what is not), then ``staging`` removed. For a folder other stages also write
    into: the caller writes its completion record after this, so an interrupted move reads as
    unfinished."""
    for item in sorted(staging.rglob("*"), key=lambda p: len(p.parts)):  # parents first
        target = folder / item.relative_to(staging)
        if item.is_dir():
            target.mkdir(exist_ok=True)
        else:
            os.replace(item, target)
    shutil.rmtree(staging, ignore_errors=True)


def not_a_folder(path: Path) -> Path | None:
    """The existing file (or other non-folder) at ``path`` or above it, which stops a folder
    being made there; None when ``path`` is a folder or can become one. Checked before a command
    writes anything, so ``--out notes.txt/sub`` is refused in one line, not deep in a stage."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return None
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return None
