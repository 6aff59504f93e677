"""Fuzz: mutations of real target profiles through ``edgedistil targets show FILE`` (issue 16).

Every file in ``targets/`` and profiles that ``extends`` one are mutated: a required key dropped,
a value of another type (a number as a string, a boolean, a table, a list of numbers, NaN, an
integer past 64 bits), a table replaced by a scalar or a list, a key or section nobody knows,
the text cut short or not UTF-8, ``[device].kind`` set to each other kind. ``targets show`` is
the cheapest command that loads a profile; it takes any string as TARGET, so click never refuses
a usage first (no exit 2): a broken profile is exit 1 and one ``Error:`` line, never a traceback.
Mutations that may leave a valid profile (a cut after the last key, a dropped optional key, a
phone that becomes a watch) ask the loader itself which they are, and the command must agree.
The profiles are written by a small TOML writer below: their shape is flat (top-level values,
then one level of tables), and tomli_w is not a dependency.
"""

from __future__ import annotations

import datetime
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edgedistil import _schema, profiles
from edgedistil.cli import cli
from edgedistil.errors import ProfileError
from tests.conftest import error_line

TARGETS = Path(__file__).resolve().parents[2] / "targets"
TEXTS = {p.stem: p.read_text(encoding="utf-8") for p in sorted(TARGETS.glob("*.toml"))}
# Profiles of one's own: a few keys over a built-in, the rest inherited.
CHILDREN = {
    "fast-pi": {
        "extends": "raspberry-pi-4",
        "description": "a Pi 4 that answers faster",
        "export": {"sequence_length": 64},
        "budgets": {"max_p95_latency_ms": 25.0},
    },
    "small-m7": {
        "extends": "cortex-m7",
        "device": {"clock_mhz": 400},
        "budgets": {"max_arena_bytes": 400_000},
    },
}
VALID = {name: tomllib.loads(text) for name, text in TEXTS.items()} | CHILDREN
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# ---- a TOML writer for the profiles' shape ----


def _string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\"}
    return (
        '"'
        + "".join(
            escapes.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c)
            for c in text
        )
        + '"'
    )


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan, inf, -inf
    if isinstance(value, int | float | datetime.date):
        return value.isoformat() if isinstance(value, datetime.date) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_value, value)) + "]"
    return "{" + ", ".join(f"{_string(k)} = {_value(v)}" for k, v in value.items()) + "}"


def to_toml(data: dict[str, Any]) -> str:
    """Top-level values first, then each table under its header; deeper tables inline."""
    lines = [f"{_string(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{_string(name)}]")
            lines += [f"{_string(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def test_the_writer_writes_every_profile_back_as_it_was() -> None:
    for data in VALID.values():
        assert tomllib.loads(to_toml(data)) == data


# ---- mutations ----

# Values of every TOML type, by kind, to put where another kind belongs.
BY_KIND: dict[str, st.SearchStrategy[Any]] = {
    "bool": st.booleans(),
    # NaN and the infinities too (TOML writes them), and integers past 64 bits
    "number": st.integers(min_value=-(2**70), max_value=2**70) | st.floats(),
    "str": st.text(max_size=12),
    "date": st.dates(),
}
SCALARS = st.one_of(list(BY_KIND.values()))
BY_KIND["list"] = st.lists(SCALARS, max_size=3)
BY_KIND["dict"] = st.dictionaries(st.text(max_size=6), SCALARS, max_size=3)
VALUES = st.one_of(list(BY_KIND.values()))


def _kind(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"  # an int where a float belongs is the same kind
    return "date" if isinstance(value, datetime.date) else type(value).__name__


def _leaves(data: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (k, sub) if isinstance(v, dict) else (k,)
        for k, v in data.items()
        for sub in (v if isinstance(v, dict) else [None])
    ]


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    return data[path[0]] if len(path) == 1 else data[path[0]][path[1]]


def _with(data: dict[str, Any], path: tuple[str, ...], new: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``path`` set to ``new`` (``None`` removes it)."""
    copy = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    table = copy if len(path) == 1 else copy[path[0]]
    if new is None:
        del table[path[-1]]
    else:
        table[path[-1]] = new
    return copy


@st.composite
def retyped(draw: st.DrawFn, data: dict[str, Any]) -> str:
    """A value of another kind where one belongs: also a number as a string, a list of numbers
    where strings belong, a table where a value belongs."""
    path = draw(st.sampled_from(_leaves(data)))
    old = _get(data, path)
    other = st.one_of([s for kind, s in BY_KIND.items() if kind != _kind(old)])
    if _kind(old) == "number":
        other = st.one_of(other, st.just(str(old)))
    if isinstance(old, list):
        other = st.one_of(other, st.lists(st.integers() | st.booleans(), min_size=1, max_size=3))
    return to_toml(_with(data, path, draw(other)))


@st.composite
def renested(draw: st.DrawFn, data: dict[str, Any]) -> str:
    """A table replaced by a scalar or a list of tables, or a value by a table."""
    tables = [k for k, v in data.items() if isinstance(v, dict)]
    if tables and draw(st.booleans()):
        name = draw(st.sampled_from(tables))
        new = draw(st.one_of(SCALARS, st.just([data[name]])))
        return to_toml(_with(data, (name,), new))
    table = draw(st.dictionaries(st.text(max_size=6), SCALARS, max_size=2))
    return to_toml(_with(data, draw(st.sampled_from(_leaves(data))), table))


@st.composite
def unknown_key(draw: st.DrawFn, data: dict[str, Any]) -> str:
    """A key nobody knows, at the top level (a section, perhaps) or in one of the tables."""
    tables = [k for k, v in data.items() if isinstance(v, dict)]
    where = draw(st.sampled_from(["", *tables]))
    known = _schema.SECTIONS[where] if where else {**_schema.TOP_LEVEL, **_schema.SECTIONS}
    key = draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in known))
    return to_toml(_with(data, (where, key) if where else (key,), draw(VALUES)))


# Required by the kind of device or the runner: every target that has one needs it.
NEEDED_HERE = {
    ("device", "storage_bytes"),
    ("device", "flash_bytes"),
    ("device", "runtime_overhead_bytes"),
    ("budgets", "max_peak_rss_bytes"),
    ("budgets", "max_flash_bytes"),
    ("budgets", "max_arena_bytes"),
    ("bench", "host_env"),
}


def _required(data: dict[str, Any]) -> list[tuple[str, ...]]:
    """What a whole profile (one that extends nothing) cannot do without."""
    fields = {"": _schema.TOP_LEVEL, **_schema.SECTIONS}
    keys = [
        p
        for p in _leaves(data)
        if p in NEEDED_HERE or (fields[p[0]] if len(p) == 2 else fields[""])[p[-1]].required
    ]
    sections = [k for k in data if k in _schema.SECTIONS and k not in _schema.OPTIONAL_SECTIONS]
    return keys + [(k,) for k in sections]


@st.composite
def dropped(draw: st.DrawFn, data: dict[str, Any]) -> str:
    return to_toml(_with(data, draw(st.sampled_from(_required(data))), None))


@st.composite
def unrepresentable(draw: st.DrawFn, data: dict[str, Any]) -> str:
    """A number no limit of a profile can hold: NaN, an infinity, past TOML's 64 bits."""
    numbers = [p for p in _leaves(data) if _kind(_get(data, p)) == "number"]
    odd = st.sampled_from([math.nan, math.inf, -math.inf, 2**63, -(2**63) - 1, 10**40])
    return to_toml(_with(data, draw(st.sampled_from(numbers)), draw(odd)))


@st.composite
def not_utf8(draw: st.DrawFn, name: str) -> bytes:
    """The profile with a byte no UTF-8 text holds (0xff), anywhere in it."""
    text = (TEXTS.get(name) or to_toml(VALID[name])).encode("utf-8")
    at = draw(st.integers(min_value=0, max_value=len(text)))
    return text[:at] + b"\xff" + text[at:]


def must_fail(name: str) -> st.SearchStrategy[str | bytes]:
    data = VALID[name]
    options: list[st.SearchStrategy[Any]] = [
        retyped(data),
        renested(data),
        unknown_key(data),
        not_utf8(name),
    ]
    if any(_kind(_get(data, p)) == "number" for p in _leaves(data)):
        options.append(unrepresentable(data))
    if "extends" not in data:
        options.append(dropped(data))
    return st.one_of(options)


@st.composite
def truncated(draw: st.DrawFn, name: str) -> str:
    text = TEXTS.get(name) or to_toml(VALID[name])
    return text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]


@st.composite
def other_kind(draw: st.DrawFn, name: str) -> str:
    data = VALID[name]
    kinds = [k for k in _schema.DEVICE_KINDS if k != data.get("device", {}).get("kind")]
    device = {**data.get("device", {}), "kind": draw(st.sampled_from(kinds))}
    return to_toml({**data, "device": device})


@st.composite
def any_dropped(draw: st.DrawFn, name: str) -> str:
    return to_toml(_with(VALID[name], draw(st.sampled_from(_leaves(VALID[name]))), None))


@st.composite
def rechosen(draw: st.DrawFn, name: str) -> str:
    """A value changed to another the key allows on its own (a number, a scheme, a runner, a
    list of formats): what is left to judge are the rules between keys."""
    data = VALID[name]
    path = draw(st.sampled_from([p for p in _leaves(data) if len(p) == 2]))
    field = _schema.SECTIONS[path[0]][path[1]]
    choices = field.choices
    if field.kind == "str-list":  # of its choices; any text where it has none (runtime_versions)
        item = st.sampled_from(choices) if choices else st.text(max_size=12)
        new: Any = draw(st.lists(item, min_size=1, max_size=3))
    elif choices:
        new = draw(st.sampled_from(choices))
    elif field.kind in ("int", "float"):
        low, high = field.low or 0, field.high or 2 * (_get(data, path) + 1)
        new = draw(
            st.integers(int(low), int(high)) if field.kind == "int" else st.floats(low, high)
        )
    else:
        new = draw(st.booleans() if field.kind == "bool" else st.text(max_size=12))
    return to_toml(_with(data, path, new))


@st.composite
def reparented(draw: st.DrawFn, name: str) -> str:
    """``extends`` set to a built-in, to itself, to a file that is not there, to any text."""
    names = [*profiles.builtin_names(), "mine.toml", "./mine.toml", "nope.toml", ".", ""]
    parent = draw(st.one_of(st.sampled_from(names), st.text(max_size=12)))
    return to_toml({"extends": parent, **{k: v for k, v in VALID[name].items() if k != "extends"}})


def may_load(name: str) -> st.SearchStrategy[str]:
    return st.one_of(
        truncated(name), other_kind(name), any_dropped(name), rechosen(name), reparented(name)
    )


# ---- the command ----


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _loads(path: Path) -> bool:
    """Whether the loader takes the profile; anything but a ProfileError fails the test."""
    try:
        profiles.load_profile(str(path))
    except ProfileError:
        return False
    return True


def _shows(runner: CliRunner, path: Path, valid: bool) -> None:
    result = runner.invoke(cli, ["targets", "show", str(path)])
    if valid:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert path.name in error_line(result)


NAMES = st.sampled_from(sorted(VALID))


@SETTINGS
@given(data=st.data(), name=NAMES)
def test_a_broken_profile_is_one_error_line(
    runner: CliRunner, tmp_path: Path, data: st.DataObject, name: str
) -> None:
    path = _write(tmp_path / "mine.toml", data.draw(must_fail(name)))
    _shows(runner, path, valid=False)


@SETTINGS
@given(data=st.data(), name=NAMES)
def test_a_changed_profile_loads_or_is_one_error_line(
    runner: CliRunner, tmp_path: Path, data: st.DataObject, name: str
) -> None:
    path = _write(tmp_path / "mine.toml", data.draw(may_load(name)))
    valid = _loads(path)
    event("loads" if valid else "refused")
    _shows(runner, path, valid=valid)


@SETTINGS
@given(data=st.data(), name=NAMES)
def test_a_broken_parent_is_one_error_line(
    runner: CliRunner, tmp_path: Path, data: st.DataObject, name: str
) -> None:
    _write(tmp_path / "parent.toml", data.draw(must_fail(name)))
    child = _write(tmp_path / "child.toml", 'extends = "parent.toml"\n')
    result = runner.invoke(cli, ["targets", "show", str(child)])
    # The parent's own keys are blamed on it; what the two lack together, on the child.
    assert result.exit_code == 1, (result.output, result.exception)
    assert "parent.toml" in error_line(result) or "child.toml" in error_line(result)


@pytest.mark.parametrize("name", sorted(VALID))
def test_each_profile_to_mutate_is_valid(tmp_path: Path, name: str) -> None:
    assert _loads(_write(tmp_path / f"{name}.toml", to_toml(VALID[name])))
