"""Typed models of the files edgedistil reads, and the one place a bad file becomes one line.

Every JSON file the tool reads (its own records, a model folder's configs, bench results, fleet
files) is parsed into a pydantic v2 model at the boundary, one module per kind of file in this
package, so that a wrong type, a missing key or a wrong nesting is one validation error with its
location, never a ``KeyError`` or ``TypeError`` three calls later.

Why pydantic v2 rather than msgspec: it is already in the verified stack (no new dependency), it
reports every problem of a file at once with the path to each field (``loc``), it validates plain
dicts as well as JSON text (the manifest is also built in memory), and its strict mode refuses
``"64"`` for an integer instead of coercing it. Its import (~40 ms) happens only when a file is
read, never for ``edgedistil --help``.

    read_json(path, Model, error=BuildError)   a file -> a validated Model, or one error line
    parse(Model, data, where, error=...)       data already in memory -> the same
    load_toml(text, label=..., error=...)      TOML text -> a dict, or one error line
    describe(exc, where)                        a ValidationError as "where: field = value: why"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edgedistil.errors import EdgedistilError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound="BaseModel")
MAX_SHOWN = 4  # problems named in the one line; the rest are counted
MAX_VALUE = 40  # characters of a bad value shown


def read_json(path: Path, model: type[M], *, error: type[EdgedistilError], what: str = "") -> M:
    """``path`` parsed as JSON and validated as ``model``; any problem (missing, unreadable, not
    JSON, not valid) is one ``error`` naming the file, and ``what`` it is for when given."""
    return parse(model, load_json(path, error=error, what=what), str(path), error=error)


def load_json(path: Path, *, error: type[EdgedistilError], what: str = "") -> Any:
    """``path``'s JSON value, or one ``error`` line: missing, unreadable, not UTF-8, not JSON."""
    label = f"{path} ({what})" if what else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{label}: no such file") from None
    except IsADirectoryError:
        raise error(f"{label}: a folder, not a file") from None
    except UnicodeDecodeError:
        raise error(f"{label}: not UTF-8 text") from None
    except OSError as exc:
        raise error(f"{label}: cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise error(f"{label}: not valid JSON ({exc})") from None


def load_toml(text: str, *, label: str, error: type[EdgedistilError]) -> dict[str, Any]:
    """``text`` parsed as TOML, or one ``error`` line ``<label>: not valid TOML: <why>``, for
    tomllib's own limits too (an integer of over 4,300 digits, arrays nested thousands deep),
    which it raises as ValueError and RecursionError, not as TOMLDecodeError."""
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{label}: not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:
        why = str(exc).split(":")[0] if isinstance(exc, ValueError) else "nested too deeply"
        raise error(f"{label}: not valid TOML: {why}") from None


def parse(model: type[M], data: Any, where: str, *, error: type[EdgedistilError]) -> M:
    """``data`` validated as ``model``; every problem in one ``error`` line naming ``where``."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe(exc, where)) from None


def describe(exc: ValidationError, where: str) -> str:
    """One line for every problem of a validation: ``where: field = value: why; ...``."""
    problems = [_problem(e) for e in exc.errors(include_url=False)]
    shown = "; ".join(problems[:MAX_SHOWN])
    more = len(problems) - MAX_SHOWN
    return f"{where}: {shown}" + (f"; and {more} more" if more > 0 else "")


def _problem(e: Any) -> str:
    field = _field(e["loc"])
    kind, value = e["type"], e.get("input")
    if kind == "missing":
        return f"{field or 'the file'} is missing"
    if kind == "extra_forbidden":
        return f"unknown key {field}"
    if not field:
        return f"expected a JSON object, found {_type_name(value)}"
    return f"{field} = {_show(value)}: {_why(e)}"


def _field(loc: tuple[Any, ...]) -> str:
    """``("artifacts", "onnx/model.onnx", "bytes")`` -> ``artifacts["onnx/model.onnx"].bytes``;
    list positions as ``[3]``. A key with characters beyond a name is quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).replace("_", "").isalnum():
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _why(e: Any) -> str:
    """pydantic's reason, lower-cased into the sentence: 'expected an integer' reads better than
    'Input should be a valid integer'."""
    msg = str(e["msg"])
    for prefix in ("Input should be ", "Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            rest = msg[len(prefix) :]
            return ("expected " + rest) if prefix == "Input should be " else rest
    return msg[:1].lower() + msg[1:]


def _type_name(value: Any) -> str:
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
        type(None): "null",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."
