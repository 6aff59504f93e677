"""A ``click.Choice`` whose values a registry gives when the command line is read.

Scheme and format names come from their registries (``schemes.py``, ``formats.py``); a fixed
tuple taken when the CLI module was imported would miss an entry registered after it.
"""

from __future__ import annotations

from collections.abc import Callable

import click


class RegistryChoice(click.Choice[str]):
    """``click.Choice`` over ``names()``, read each time click asks for the choices."""

    def __init__(self, names: Callable[[], tuple[str, ...]]) -> None:
        self._names = names
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return self._names()

    @choices.setter
    def choices(self, value: object) -> None:
        """click.Choice.__init__ assigns its fixed tuple here; the registry stays the source."""
