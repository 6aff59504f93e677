"""What every registry here shares: entries by name, in the order they were registered.

The registries themselves (``schemes``, ``formats``, ``runners``, ``families``) each hold one
kind of entry and the functions that read it. Lookups happen when something is checked, never
at import, so an entry registered later (a plug-in, a test's fixture) counts everywhere.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Generic, TypeVar

from edgedistil.errors import EdgedistilError

T = TypeVar("T")


def load_object(path: str) -> Any:
    """The object a registration names as ``"package.module:name"``, imported now: entries name
    their heavy code by path so that reading a registry imports none of it."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def did_you_mean(word: str, known: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class Registry(Generic[T]):
    """Entries of one kind (``kind`` names it in errors), by name, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Forget ``name`` (a test's or a plug-in's entry); unknown names are ignored."""
        self._entries.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entries(self) -> tuple[T, ...]:
        return tuple(self._entries.values())

    def get(self, name: str) -> T:
        """The entry ``name``; an unknown name lists the known ones."""
        if name not in self._entries:
            raise EdgedistilError(
                f'Unknown {self.kind} "{name}"{did_you_mean(name, self.names())}; '
                f"known: {', '.join(self.names())}"
            )
        return self._entries[name]
