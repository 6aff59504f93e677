"""A TOML fleet file (``bench --fleet lab.toml``): ``[[boards]]`` tables, each a board to run on.
Written by people, so every key is checked and an unknown one is refused (a misspelt ``adress``
must not silently become a board without an address)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgedistil.records._base import Record


class FleetFile(Record):
    """The file as a whole; each entry of ``boards`` is parsed on its own as a ``FleetBoard``,
    so an error names the board by its number."""

    boards: list[Any] = Field(min_length=1)


class FleetBoard(Record):
    address: str = Field(min_length=1)  # user@host[:port], an ssh config alias, an adb serial
    name: str | None = None  # default: the address
    runner: str | None = None  # default: --runner, else the target's
    python: str | None = None  # default: python3
