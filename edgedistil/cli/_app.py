"""The ``edgedistil`` group and what every command shares: the error line, the console, sizes.

The CLI (this package) is the only place that prints or chooses an exit code. Exit codes:
0 success, 1 an error (``Error: ...`` on stderr, one line), 2 bad usage (click's own),
3 a failed gate (a regression in ``bench --compare``, a failed ``check``).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console

from edgedistil import __version__
from edgedistil.errors import EdgedistilError
from edgedistil.units import format_size

__all__ = ["cli", "format_size", "make_console"]


class _WarningHandler(logging.Handler):
    """Each distinct warning once per command: a build reads the same teacher in several stages
    (distil, compare), and its one note about that teacher need not be said each time."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.console = console
        self.said: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message in self.said:
            return
        self.said.add(message)
        self.console.print(f"Warning: {message}", markup=False, highlight=False)


@contextmanager
def _warnings_shown() -> Iterator[None]:
    """edgedistil's warnings (too many [UNK], threads beyond the host's cores, ...) on stderr,
    once, as they happen; nothing else of the library's logging."""
    logger = logging.getLogger("edgedistil")
    handler = _WarningHandler(Console(stderr=True, soft_wrap=True))
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@contextmanager
def _libraries_quiet() -> Iterator[None]:
    """The libraries' own warnings and log lines (torch's tracer, ORT's fusion and quantization
    notes) are hidden: every artifact is verified by edgedistil itself, which says what matters.
    EDGEDISTIL_DEBUG=1 shows them, for a bug report."""
    if os.environ.get("EDGEDISTIL_DEBUG"):
        yield
        return
    # TensorFlow's C++ logging is read once, at its import: set before any command imports it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    root = logging.getLogger()
    # A handler on the root keeps logging's last-resort printer (and basicConfig) away.
    null = logging.NullHandler()
    root.addHandler(null)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(null)


class _Group(click.Group):
    """Turns every ``EdgedistilError`` into ``Error: <one line>`` on stderr and exit code 1,
    and shows the library's warnings while a command runs."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _warnings_shown(), _libraries_quiet():
                return super().invoke(ctx)
        except EdgedistilError as exc:
            # splitlines, not split("\n"): a value quoted from a file may hold \r, \x85 or
            # \u2028, which terminals and str.splitlines also break lines at
            message = " ".join(str(exc).splitlines())
            raise click.ClickException(message) from None


def make_console() -> Console:
    # Created per command so click's test runner sees the output; wide enough that tables
    # are not wrapped when piped to a file or CI log.
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200, highlight=False)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="edgedistil")
def cli() -> None:
    """Distil a BERT-class teacher into an int8 student that fits a named small device."""
