"""Property-based mutations of a valid JSON file, for the fuzz tests of every file kind the tool
reads (issue 16): truncation, wrong types, wrong nesting, missing and extra keys, not JSON.

``broken(valid)`` draws a mutation that can no longer be the file it was: the command reading
it must end with exit 1 and one ``Error:`` line (``tests.conftest.error_line``), never a
traceback. ``extra_key(valid)`` draws the one mutation a file of another tool (a Hugging Face
``config.json``) may carry harmlessly: exit 0 or one ``Error:`` line, never a traceback.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Values of every JSON type, to put where another type belongs.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=6), SCALARS, max_size=3),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list positions), root excluded."""
    found: list[tuple[Any, ...]] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the value at ``path`` replaced (``_DROP`` removes a dict key)."""
    copy = json.loads(json.dumps(value))
    parent = _get(copy, path[:-1])
    if new is _DROP:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


_DROP = object()


def _other_type(old: Any) -> st.SearchStrategy[Any]:
    """A value whose JSON type differs from ``old``'s (an int where a float is expected is the
    same kind, so numbers are kept apart from both)."""

    def kind(v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return type(v).__name__
        if isinstance(v, int | float):
            return "number"
        return type(v).__name__

    return VALUES.filter(lambda v: kind(v) != kind(old))


@st.composite
def retyped(draw: st.DrawFn, valid: Any, typed: list[tuple[Any, ...]] | None = None) -> str:
    """One value replaced by a value of another JSON type: anywhere in the file, or at one of
    the ``typed`` paths (those whose type the reader fixes; leave out free-form values)."""
    path = draw(st.sampled_from(typed if typed is not None else paths(valid)))
    return json.dumps(_set(valid, path, draw(_other_type(_get(valid, path)))))


@st.composite
def missing(draw: st.DrawFn, valid: Any, required: tuple[tuple[Any, ...], ...]) -> str:
    """One of the ``required`` keys (paths) removed."""
    return json.dumps(_set(valid, draw(st.sampled_from(required)), _DROP))


@st.composite
def truncated(draw: st.DrawFn, valid: Any) -> str:
    """The file cut short: what a killed writer or a full disk leaves."""
    text = json.dumps(valid, indent=2)
    return text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]


@st.composite
def renested(draw: st.DrawFn, valid: Any) -> str:
    """The whole file, or one object inside it, wrapped in a list or replaced by a scalar."""
    objects = [()] + [p for p in paths(valid) if isinstance(_get(valid, p), dict)]
    path = draw(st.sampled_from(objects))
    wrong = draw(st.one_of(st.just([_get(valid, path)]), SCALARS))
    return json.dumps(wrong if path == () else _set(valid, path, wrong))


@st.composite
def extra_key(draw: st.DrawFn, valid: Any) -> str:
    """A key nobody wrote, at the top or in any object of the file."""
    objects = [()] + [p for p in paths(valid) if isinstance(_get(valid, p), dict)]
    path = draw(st.sampled_from(objects))
    key = draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in _get(valid, path)))
    copy = json.loads(json.dumps(valid))
    _get(copy, path)[key] = draw(VALUES)
    return json.dumps(copy)


NOT_JSON = st.one_of(
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["", "{", "[1,", "nul", "{'a': 1}", "\ufeff{}"]),
)


def broken(
    valid: Any,
    required: tuple[tuple[Any, ...], ...] = (),
    typed: list[tuple[Any, ...]] | None = None,
) -> st.SearchStrategy[str]:
    """Any mutation that makes ``valid`` no longer a valid file of its kind. ``required``: the
    paths whose removal is an error; ``typed``: the paths ``retyped`` may change (default:
    every path, for a file whose every value has a fixed type)."""
    options = [retyped(valid, typed), truncated(valid), renested(valid), NOT_JSON]
    if required:
        options.append(missing(valid, required))
    return st.one_of(options)
