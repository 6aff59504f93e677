"""Target profiles: ``targets/*.toml`` -> frozen dataclasses that every stage reads.

A profile names a built-in target (``raspberry-pi-4``) or a file by path. It may ``extends`` a
built-in target or another file and override any key; tables merge key by key, other values
replace. Each file's own keys are checked against ``_schema`` and blamed on that file; the merged
profile is then checked for missing keys and the rules between keys. A file that sets
``[quantize].scheme`` inherits none of the parent's other ``[quantize]`` keys; in the same
way, a file that sets ``[device].kind`` inherits none of the parent's keys the new kind has no use
for (``_schema.KIND_ONLY``: a board's ``storage_bytes`` and ``max_peak_rss_bytes`` once it is a
microcontroller, a microcontroller's ``flash_bytes`` and arena budget once it is a phone). TOML
cannot unset a key, so without this no file could extend a profile into another kind of device;
what the new kind needs is then named as missing. Every problem of every file in
the chain (unreadable TOML, a missing or circular parent, bad keys) is collected and raised
once, as one ``ProfileError`` line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgedistil import _schema
from edgedistil.errors import ProfileError

DEFAULT_EPOCHS = 3  # the build's epochs when neither its command line nor the profile says
_EXTENDS_DEPTH = 8  # deeper chains are almost surely a mistake; a cycle is caught before this


@dataclass(frozen=True, kw_only=True)
class Device:
    kind: str
    cpu: str
    architecture: str
    cores: int
    clock_mhz: int | None = None
    memory_bytes: int
    psram_bytes: int = 0
    storage_bytes: int | None = None
    flash_bytes: int | None = None
    runtime_overhead_bytes: int = 0

    @property
    def is_microcontroller(self) -> bool:
        return self.kind == "microcontroller"


@dataclass(frozen=True, kw_only=True)
class Export:
    runtimes: tuple[str, ...]
    formats: tuple[str, ...]
    sequence_length: int
    input_dtype: str = "int64"
    onnx_graph: str = "plain"  # fused contrib operators only where the runtime is a full ORT build
    text_input: bool = False  # also a text-in ONNX model, the tokenizer in the graph (opt-in)
    runtime_versions: tuple[str, ...] = ()  # "litert==1.4.0": what the device can install


@dataclass(frozen=True, kw_only=True)
class Quantize:
    scheme: str
    activations: str | None = None
    weights: str = "int8"
    per_channel: bool = True
    calibration: str | None = None


@dataclass(frozen=True, kw_only=True)
class Bench:
    runner: str
    host_env: str | None = None
    threads: int


@dataclass(frozen=True, kw_only=True)
class Budgets:
    max_model_bytes: int
    max_flash_bytes: int | None = None
    max_arena_bytes: int | None = None
    max_peak_rss_bytes: int | None = None
    max_p95_latency_ms: float | None = None
    max_accuracy_drop: float
    max_drop_vs_teacher: float | None = None


Range = tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """CPU cycles per unit of work of the target's int8 kernels, each (low, high); the keys are
    ``_schema.SECTIONS["estimate"]``'s, and each built-in profile cites its figures' sources."""

    fully_connected_cycles_per_mac: Range
    batch_matmul_cycles_per_mac: Range
    add_cycles_per_element: Range
    mul_cycles_per_element: Range
    activation_cycles_per_element: Range
    movement_cycles_per_element: Range


@dataclass(frozen=True, kw_only=True)
class Distill:
    """How the build distils this target's student by default (``_schema.SECTIONS["distill"]``):
    a narrow microcontroller student may need more epochs than the build's 3."""

    epochs: int = DEFAULT_EPOCHS
    qat_toward: str = "float"  # schemes.QAT_TARGETS


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    description: str
    source: Path
    extends: str | None
    device: Device
    export: Export
    quantize: Quantize
    bench: Bench
    budgets: Budgets
    estimate: Estimate | None = None  # a microcontroller's kernel costs, when its profile has them
    distill: Distill = field(default_factory=Distill)

    def to_dict(self) -> dict[str, Any]:
        """The resolved profile as plain data (JSON-ready; ``source`` as a string)."""
        data = asdict(self)
        data["source"] = _display(self.source)
        for section in ("export",):
            data[section] = {
                k: list(v) if isinstance(v, tuple) else v for k, v in data[section].items()
            }
        # Left out when off: the profile dict keys the build's stages and is compared with the
        # one a build folder recorded, and neither should change for a profile that never set it.
        if not self.export.text_input:
            del data["export"]["text_input"]
        if not self.export.runtime_versions:
            del data["export"]["runtime_versions"]
        if self.distill == Distill():
            del data["distill"]
        if self.estimate is None:
            del data["estimate"]
        else:
            data["estimate"] = {k: list(v) for k, v in data["estimate"].items()}
        return data


def builtin_names() -> list[str]:
    """Names of the profiles shipped in ``targets/``, sorted."""
    return sorted(
        p.name.removesuffix(".toml") for p in _builtin_dir().iterdir() if p.name.endswith(".toml")
    )


def load_builtin_profiles() -> list[Profile]:
    return [load_profile(name) for name in builtin_names()]


def load_profile(target: str) -> Profile:
    """A validated profile from a built-in name or a path to a TOML file."""
    path = _locate(target, relative_to=None)
    raw, origins, problems = _read_chain(path, chain=())
    if problems:
        raise ProfileError("; ".join(problems))
    return _build(path, raw, origins)


# ---- locating and reading files ----


def _builtin_dir() -> Path:
    return Path(__file__).parent / "_targets"


def _looks_like_path(target: str) -> bool:
    return target.endswith(".toml") or "/" in target or "\\" in target


def _locate(target: str, relative_to: Path | None) -> Path:
    where = f" (extends in {_display(relative_to)})" if relative_to else ""
    if _looks_like_path(target):
        path = Path(target) if relative_to is None else relative_to.parent / target
        if not _is_file(path):
            raise ProfileError(f"Profile file not found: {_display(path)}{where}")
        return path
    names = builtin_names()
    if target not in names:
        raise ProfileError(
            f"Unknown target {_schema.quoted(target)}{where}"
            f"{_schema.did_you_mean(target, names)}; "
            f"known targets: {', '.join(names)}; or give a path to a .toml profile"
        )
    # Resolved so that a built-in reads as targets/NAME.toml, not through the package's symlink.
    return (_builtin_dir() / f"{target}.toml").resolve()


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system names no file either
        return False


def _read_toml(path: Path) -> dict[str, Any]:
    from edgedistil.records import load_toml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{_display(path)}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ProfileError(f"{_display(path)}: cannot be read: {exc.strerror}") from None
    return load_toml(text, label=_display(path), error=ProfileError)


Origins = dict[tuple[str, str], Path]


Chain = tuple[dict[str, Any], Origins, list[str]]


def _read_chain(path: Path, chain: tuple[Path, ...]) -> Chain:
    """The file merged over the files it extends, which file gave each key, and every problem
    of the files in the chain (each naming its file; then nothing is merged)."""
    resolved = path.resolve()
    if resolved in chain or len(chain) >= _EXTENDS_DEPTH:
        names = " -> ".join(_display(p) for p in (*chain, resolved))
        return {}, {}, [f"{_display(path)}: extends forms a cycle or too deep a chain: {names}"]
    try:
        raw = _read_toml(path)
    except ProfileError as exc:
        return {}, {}, [str(exc)]
    problems = _blamed(path, _check_file(raw))
    base: dict[str, Any] = {}
    origins: Origins = {}
    if isinstance(raw.get("extends"), str):  # any other value is one of _check_file's problems
        base, origins, more = _read_parent(raw["extends"], path, (*chain, resolved))
        problems += more
        base.pop("name", None)  # a child is its own target; it inherits settings, not identity
    if problems:
        return {}, {}, problems
    return (*_merge(base, origins, raw, path), [])


def _read_parent(target: str, child: Path, chain: tuple[Path, ...]) -> Chain:
    try:
        parent = _locate(target, relative_to=child)
    except ProfileError as exc:
        return {}, {}, [str(exc)]
    return _read_chain(parent, chain)


def _merge(
    base: dict[str, Any], origins: Origins, raw: dict[str, Any], path: Path
) -> tuple[dict[str, Any], Origins]:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    origins = dict(origins)
    for key, value in raw.items():
        if key == "quantize" and isinstance(value, dict) and "scheme" in value:
            # A new scheme starts [quantize] afresh: the parent's activations or calibration
            # belong to its scheme and could not be unset from TOML.
            merged[key] = {}
        if isinstance(value, dict):
            merged.setdefault(key, {}).update(value)
            origins.update({(key, sub): path for sub in value})
        else:
            merged[key] = value
            origins[("", key)] = path
    return _drop_foreign_to_kind(base, merged, origins, path)


def _drop_foreign_to_kind(
    base: dict[str, Any], merged: dict[str, Any], origins: Origins, path: Path
) -> tuple[dict[str, Any], Origins]:
    """``merged`` without the inherited keys that the kind this file sets has no use for. A key
    foreign to the kind already in ``base``, or written by this file itself, stays, for the
    rules to refuse."""
    if origins.get(("device", "kind")) != path:
        return merged, origins
    before = set(_schema.foreign_to_kind(base))
    for section, key in _schema.foreign_to_kind(merged):
        if origins.get((section, key)) != path and (section, key) not in before:
            del merged[section][key]
            del origins[(section, key)]
    for section in _schema.OPTIONAL_SECTIONS:  # a section with every key dropped is left out
        if merged.get(section) == {}:
            del merged[section]
    return merged, origins


# ---- checking ----


def _check_file(raw: dict[str, Any]) -> list[str]:
    """Problems of one file's own keys, before any merging."""
    problems = []
    known = (*_schema.TOP_LEVEL, *_schema.SECTIONS)
    for key, value in raw.items():
        if key in _schema.SECTIONS:
            if not isinstance(value, dict):
                problems.append(f"{key} = {_schema.show(value)}: must be a table [{key}]")
            else:
                problems += _schema.check_keys(key, value, _schema.SECTIONS[key])
        elif key not in _schema.TOP_LEVEL:
            problems.append(
                f"unknown key {_schema.quoted(key)} at the top level"
                f"{_schema.did_you_mean(key, known)}; "
                f"allowed: {', '.join(known)}"
            )
    top = {k: v for k, v in raw.items() if k in _schema.TOP_LEVEL}
    return problems + _schema.check_keys("", top, _schema.TOP_LEVEL)


def _check_merged(merged: dict[str, Any]) -> list[str]:
    problems = _schema.check_missing("", merged, _schema.TOP_LEVEL)
    for section, fields in _schema.SECTIONS.items():
        if section in _schema.OPTIONAL_SECTIONS and not _schema.section_applies(section, merged):
            continue  # absent, or of no use to this kind of device (the rules say so)
        if section not in merged:
            problems.append(f"[{section}] is missing: must be a table with {', '.join(fields)}")
        else:
            problems += _schema.check_missing(section, merged[section], fields)
    return problems or _schema.check_rules(merged)


def _blamed(path: Path, problems: list[str]) -> list[str]:
    """One file's problems as one part of the message, naming the file; none when none."""
    if len(problems) <= 1:
        return [f"{_display(path)}: {p}" for p in problems]
    return [f"{_display(path)}: {len(problems)} problems: " + "; ".join(problems)]


def _build(path: Path, merged: dict[str, Any], origins: Origins) -> Profile:
    stem = path.name.removesuffix(".toml")
    name = merged.get("name", stem)
    problems = _check_merged(merged)
    if path.parent.resolve() == _builtin_dir().resolve() and name != stem:
        problems.append(f'name = "{name}": a built-in profile is named after its file, "{stem}"')
    if problems:
        raise ProfileError(_blamed(path, problems)[0])
    return Profile(
        name=name,
        description=merged["description"],
        source=path,
        extends=merged.get("extends") if origins.get(("", "extends")) == path else None,
        device=Device(**merged["device"]),
        export=Export(
            **{
                **merged["export"],
                "runtimes": tuple(merged["export"]["runtimes"]),
                "formats": tuple(merged["export"]["formats"]),
                "runtime_versions": tuple(merged["export"].get("runtime_versions", ())),
            }
        ),
        quantize=Quantize(**merged["quantize"]),
        bench=Bench(**merged["bench"]),
        budgets=Budgets(**merged["budgets"]),
        estimate=_estimate(merged.get("estimate")),
        distill=Distill(**merged.get("distill", {})),
    )


def _estimate(table: dict[str, Any] | None) -> Estimate | None:
    if table is None:
        return None
    return Estimate(**{key: (float(v[0]), float(v[1])) for key, v in table.items()})


def _display(path: Path | None) -> str:
    """A path as the user would recognise it: relative to the working directory when inside it."""
    if path is None:
        return ""
    try:
        return _schema.printable(str(path.resolve().relative_to(Path.cwd())))
    except ValueError:
        return _schema.printable(str(path))
