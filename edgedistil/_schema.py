"""What a target profile may contain: every key, its type, its range, and the rules between keys.

Kept apart from ``profiles.py`` so the whole contract of a profile reads in one place. A check
returns problems as strings (``[export].sequence_length = 0: ...``); the caller prefixes the file
and raises once with all of them.

Why a schema of our own and not a pydantic model, when every JSON file the tool reads is one
(``edgedistil.records``): this already is the typed model, as strict as pydantic's strict mode
(no ``"64"`` for an integer, no ``true`` for a number; and no NaN, which pydantic takes unless
told), with every problem and its place collected at once, and it does what a pydantic model of
a profile could only do with as much hand code again. A profile is checked twice: each file's
own keys, all optional and blamed on that file, before ``extends`` merges them, then the merged
profile for what is required; the allowed values are the registries' names when the profile is
read (a plug-in's scheme counts), not ``Literal`` types fixed at import; most of the contract is
rules between keys, hand code either way; and every message users see names the key, the value
and what is allowed in words (``must be an integer from 1 to 8192``, did-you-mean), which
pydantic's would have to be rewritten into, one error type at a time. Pydantic would add its
import (and a model build) to ``edgedistil targets``, which reads every profile and must not pay
for it, and nothing else. The profile's frozen dataclasses (``profiles.py``) are the typed result.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgedistil import formats, runners, schemes
from edgedistil._registry import did_you_mean as did_you_mean  # profiles and data use it here

DEVICE_KINDS = ("linux-board", "phone", "watch", "microcontroller")
ARCHITECTURES = ("arm64", "armv7", "armv7e-m", "armv8-m", "riscv32", "x86_64", "xtensa-lx7")
# Runners, runtimes, formats and schemes are their registries' names (``runners.py``,
# ``formats.py``, ``schemes.py``), read when a profile is checked.
CALIBRATION_METHODS = ("entropy", "minmax", "percentile")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")

Choices = tuple[str, ...] | Callable[[], tuple[str, ...]]


@dataclass(frozen=True, kw_only=True)
class Field:
    """One key of a profile: its type and what values it allows."""

    kind: str  # "str", "int", "float", "bool", "str-list", "range" ([low, high] numbers)
    required: bool = False
    # The values allowed, or a registry's function that lists them when a profile is checked
    options: Choices | None = None
    low: float | None = None
    high: float | None = None
    unit: str = ""

    @property
    def choices(self) -> tuple[str, ...] | None:
        return self.options() if callable(self.options) else self.options


def _f(kind: str, choices: Choices | None = None, **kw: Any) -> Field:
    return Field(kind=kind, options=choices, **kw)


TOP_LEVEL = {
    "name": _f("str"),
    "description": _f("str", required=True),
    "extends": _f("str"),
}
SECTIONS: dict[str, dict[str, Field]] = {
    "device": {
        "kind": _f("str", required=True, choices=DEVICE_KINDS),
        "cpu": _f("str", required=True),
        "architecture": _f("str", required=True, choices=ARCHITECTURES),
        "cores": _f("int", required=True, low=1, high=256),
        "clock_mhz": _f("int", low=1, high=10_000),
        "memory_bytes": _f("int", required=True, low=1, unit="bytes"),
        "psram_bytes": _f("int", low=0, unit="bytes"),
        "storage_bytes": _f("int", low=1, unit="bytes"),
        "flash_bytes": _f("int", low=1, unit="bytes"),
        "runtime_overhead_bytes": _f("int", low=0, unit="bytes"),
    },
    "export": {
        "runtimes": _f("str-list", required=True, choices=formats.runtime_names),
        "formats": _f("str-list", required=True, choices=formats.format_names),
        # 8192 is no device's limit; it stops a typo (64000) before any plan. The teacher's own
        # max_position_embeddings is checked when a teacher is known.
        "sequence_length": _f("int", required=True, low=1, high=8192),
        "input_dtype": _f("str", choices=("int32", "int64")),
        # "fused": ORT's transformer contrib operators (full ORT builds); "plain": standard ops.
        "onnx_graph": _f("str", choices=("fused", "plain")),
        # The ONNX release also as model.<scheme>.text.onnx: raw text in, BertTokenizer inside.
        "text_input": _f("bool"),
        # What the device can install, "runtime==version" each ("litert==1.4.0"): the qemu runner
        # verifies under emulation with exactly these, and a file they cannot load is refused.
        "runtime_versions": _f("str-list"),
    },
    "quantize": {
        "scheme": _f("str", required=True, choices=schemes.scheme_names),
        "activations": _f("str", choices=schemes.activation_types),
        "weights": _f("str", choices=schemes.weight_types),
        "per_channel": _f("bool"),
        "calibration": _f("str", choices=CALIBRATION_METHODS),
    },
    "bench": {
        "runner": _f("str", required=True, choices=runners.profile_runners),
        "host_env": _f("str"),
        "threads": _f("int", required=True, low=1, high=256),
    },
    "budgets": {
        "max_model_bytes": _f("int", required=True, low=1, unit="bytes"),
        "max_flash_bytes": _f("int", low=1, unit="bytes"),
        "max_arena_bytes": _f("int", low=1, unit="bytes"),
        "max_peak_rss_bytes": _f("int", low=1, unit="bytes"),
        "max_p95_latency_ms": _f("float", low=0.001, unit="ms"),
        # A fraction, not percentage points: 0.01 is one point of accuracy; 1.0 allows anything.
        "max_accuracy_drop": _f("float", required=True, low=0.0, high=1.0, unit="fraction"),
        # What ships against the teacher, end to end (vs_teacher): the same kind of fraction.
        # Not required, so a profile of one's own that omits it still loads; every built-in
        # target sets it.
        "max_drop_vs_teacher": _f("float", low=0.0, high=1.0, unit="fraction"),
    },
    # Per-kernel costs of the target's int8 kernels, each [low, high] (a range: published
    # figures differ by memory, shape and library version), in CPU cycles per unit of work.
    # The build multiplies them by the op counts of the TFLite Micro file (export.mcu_latency)
    # for an estimated latency; a microcontroller only, at [device].clock_mhz. 10_000 cycles per
    # MAC or element is no kernel's cost: it stops a typo (cycles per second) before a build.
    "estimate": {
        key: _f("range", required=True, low=0.01, high=10_000, unit="cycles")
        for key in (
            "fully_connected_cycles_per_mac",
            "batch_matmul_cycles_per_mac",
            "add_cycles_per_element",
            "mul_cycles_per_element",
            "activation_cycles_per_element",
            "movement_cycles_per_element",
        )
    },
    # How the build distils this target's student when its command line does not say: the
    # epochs (--epochs; else 3) and what the quantization-aware epochs pull the rounded output
    # to. 1,000 epochs is no build's: it stops a typo (a step count) before hours of training.
    "distill": {
        "epochs": _f("int", low=1, high=1000),
        "qat_toward": _f("str", choices=schemes.QAT_TARGETS),
    },
}
# Sections a profile may leave out; every other section is required.
OPTIONAL_SECTIONS = ("estimate", "distill")


def section_applies(section: str, t: Mapping[str, Any]) -> bool:
    """Whether an optional section is there and its kind of device has a use for it: then its
    missing keys are named; otherwise the rules refuse it whole (``_estimate_rules``)."""
    device = t.get("device")
    kind = device.get("kind") if isinstance(device, dict) else None
    return section in t and (section != "estimate" or kind in (None, MCU))


MAX_SHOWN = 80  # characters of a value in a message: enough to recognise it, one line still
INT64 = 2**63  # TOML integers are 64-bit; tomllib reads longer ones, no device has such numbers


def printable(text: str) -> str:
    """``text`` with what would break the one line of an error (line and paragraph separators,
    control characters) written as escapes."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def show(value: Any) -> str:
    """A value as it would be written in TOML, for error messages: on one line, and cut after
    ``MAX_SHOWN`` characters."""
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = f"{value:_}" if abs(value) >= 10_000 else str(value)
    elif isinstance(value, float) and not math.isfinite(value):
        text = str(value)  # nan, inf, -inf: as TOML writes them (JSON has no word for them)
    elif isinstance(value, dict):
        return "a table"
    else:
        text = printable(json.dumps(value, ensure_ascii=False, default=str))
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def quoted(text: str) -> str:
    """A string (a value, a key, a name) in double quotes, escaped and cut as ``show`` does."""
    shown = printable(json.dumps(text, ensure_ascii=False))
    return shown if len(shown) <= MAX_SHOWN else shown[: MAX_SHOWN - 1] + "…"


def _where(section: str, key: str) -> str:
    return f"[{section}].{key}" if section else key


def _allowed(field: Field) -> str:
    if field.choices is not None:
        return "one of " + ", ".join(field.choices)
    if field.kind == "bool":
        return "true or false"
    noun = {"int": "an integer", "float": "a number", "str": "a string"}.get(field.kind, "")
    if field.kind == "str-list":
        return "a list of strings"
    if field.kind == "range":
        return f"[low, high]: two numbers from {show(field.low)} to {show(field.high)}, low <= high"
    if field.low is not None and field.high is not None:
        return f"{noun} from {show(field.low)} to {show(field.high)}"
    if field.low is not None:
        return f"{noun} >= {show(field.low)}" if field.low else f"{noun} >= 0"
    return noun


def _type_ok(field: Field, value: Any) -> bool:
    if isinstance(value, bool):
        return field.kind == "bool"
    checks: dict[str, Callable[[Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int),
        # NaN passes every comparison with a limit, and no budget or length is infinite
        "float": lambda v: isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)),
        "bool": lambda v: False,
        "str-list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "range": lambda v: isinstance(v, list) and len(v) == 2 and all(map(_number, v)),
    }
    return checks[field.kind](value)


def _number(value: Any) -> bool:
    """An int or a finite float, not a bool: what a number in a profile may be."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _range_problem(field: Field, value: list[float]) -> bool:
    low, high = value
    below = field.low is not None and low < field.low
    return below or low > high or (field.high is not None and high > field.high)


def check_value(section: str, key: str, field: Field, value: Any) -> str | None:
    """The problem with one value, or None when it is allowed."""
    where = _where(section, key)
    bad = f"{where} = {show(value)}: must be {_allowed(field)}"
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        return f"{bad}; TOML integers are 64-bit"
    if not _type_ok(field, value):
        return bad
    if field.kind == "range":
        return bad if _range_problem(field, value) else None
    if field.kind == "str-list":
        if not value:
            return f"{where} = []: must name at least one of {', '.join(field.choices or ())}"
        unknown = [v for v in value if field.choices and v not in field.choices]
        if unknown:
            return f"{where} = {show(value)}: unknown {quoted(unknown[0])}" + (
                did_you_mean(unknown[0], field.choices or ()) + f"; allowed: {_allowed(field)}"
            )
        return None
    if field.choices is not None and value not in field.choices:
        return bad + did_you_mean(str(value), field.choices)
    if field.low is not None and value < field.low:
        return bad
    if field.high is not None and value > field.high:
        return bad
    return None


def check_keys(section: str, table: Mapping[str, Any], fields: Mapping[str, Field]) -> list[str]:
    """Unknown keys and bad values of one table, as one file wrote it."""
    problems = []
    label = f"[{section}]" if section else "the top level"
    for key in table:
        if key not in fields:
            problems.append(
                f"unknown key {quoted(key)} in {label}{did_you_mean(key, tuple(fields))}; "
                f"allowed: {', '.join(fields)}"
            )
    for key, field in fields.items():
        problem = check_value(section, key, field, table[key]) if key in table else None
        if problem:
            problems.append(problem)
    return problems


def check_missing(section: str, table: Mapping[str, Any], fields: Mapping[str, Field]) -> list[str]:
    """Required keys that neither the profile nor the profile it extends gives."""
    return [
        f"{_where(section, key)} is missing: must be {_allowed(field)}"
        for key, field in fields.items()
        if field.required and key not in table
    ]


# ---- rules between keys: run only once every value on its own is valid ----

Tables = Mapping[str, Mapping[str, Any]]


def check_rules(t: Tables) -> list[str]:
    """Problems that only show when keys are read together."""
    return [
        *_device_rules(t["device"]),
        *_export_rules(t["device"], t["export"]),
        *_quantize_rules(t["export"], t["quantize"]),
        *_bench_rules(t["device"], t["bench"]),
        *_budget_rules(t["device"], t["budgets"]),
        *_estimate_rules(t["device"], t.get("estimate")),
    ]


def _estimate_rules(d: Mapping[str, Any], e: Mapping[str, Any] | None) -> list[str]:
    """Kernel costs in cycles mean a time only at a clock, and they are TFLite Micro's."""
    if e is None:
        return []
    if d["kind"] != MCU:
        return [
            f'[estimate]: no meaning for kind "{d["kind"]}" (its kernel costs are TFLite '
            "Micro's on a microcontroller; other kinds measure latency with edgedistil bench); "
            "remove the section"
        ]
    return _need(d, "device", ("clock_mhz",), "to turn [estimate]'s cycles into a time")


def _only_for(table: Mapping[str, Any], section: str, keys: tuple[str, ...], who: str) -> list[str]:
    return [f"[{section}].{k} = {show(table[k])}: only allowed {who}" for k in keys if k in table]


def _need(table: Mapping[str, Any], section: str, keys: tuple[str, ...], who: str) -> list[str]:
    return [f"[{section}].{k} is missing: required {who}" for k in keys if k not in table]


MCU = "microcontroller"
# Keys of [device] that describe one kind of device only: a microcontroller's firmware lives in
# flash beside its runtime (and may have PSRAM); the other kinds load the model from storage.
MCU_DEVICE_KEYS = ("flash_bytes", "runtime_overhead_bytes", "psram_bytes")
MCU_NEEDS = ("flash_bytes", "runtime_overhead_bytes")


def _device_rules(d: Mapping[str, Any]) -> list[str]:
    if d["kind"] == MCU:
        return [
            *_need(d, "device", MCU_NEEDS, "for a microcontroller"),
            *_only_for(d, "device", ("storage_bytes",), "for kinds other than microcontroller"),
            *_runtime_fits_flash(d),
        ]
    return [
        *_need(d, "device", ("storage_bytes",), f'for kind "{d["kind"]}"'),
        *_only_for(d, "device", MCU_DEVICE_KEYS, "for a microcontroller"),
    ]


def _runtime_fits_flash(d: Mapping[str, Any]) -> list[str]:
    if "flash_bytes" not in d or d.get("runtime_overhead_bytes", 0) < d["flash_bytes"]:
        return []
    return [
        f"[device].runtime_overhead_bytes = {show(d['runtime_overhead_bytes'])}: not less than "
        f"[device].flash_bytes = {show(d['flash_bytes'])}; the runtime must leave flash for "
        "the model"
    ]


def _export_rules(d: Mapping[str, Any], e: Mapping[str, Any]) -> list[str]:
    problems = []
    loadable = {f for r in e["runtimes"] for f in formats.formats_loaded_by(r)}
    for fmt in e["formats"]:
        if fmt not in loadable:
            problems.append(
                f'[export].formats = {show(e["formats"])}: "{fmt}" cannot be loaded by the '
                f"runtimes {show(e['runtimes'])}; formats they load: {', '.join(sorted(loadable))}"
            )
    if "onnx" not in e["formats"]:
        onnx_only = ("onnx_graph", "text_input")
        problems += _only_for(e, "export", onnx_only, 'when [export].formats lists "onnx"')
    problems += _runtime_version_rules(e)
    mcu = d["kind"] == MCU
    fitting = formats.runtime_names(microcontroller=mcu)
    for runtime in e["runtimes"]:
        if runtime not in fitting:
            allowed = ", ".join(fitting) + (" only" if mcu else "")
            problems.append(
                f'[export].runtimes = {show(e["runtimes"])}: "{runtime}" does not run on a '
                f"{d['kind']}; allowed: {allowed}"
            )
    return problems


RUNTIME_VERSION = re.compile(r"^([a-z0-9-]+)==([0-9]+(\.[0-9]+)*)$")


def _runtime_version_rules(e: Mapping[str, Any]) -> list[str]:
    """Each entry ``runtime==version`` of a known runtime, each runtime once. One [export].runtimes
    leaves out is allowed, unused: a profile that narrows the runtimes of the one it extends
    inherits its versions and cannot unset them."""
    problems, seen = [], set()
    known = formats.runtime_names()
    for item in e.get("runtime_versions", ()):
        match = RUNTIME_VERSION.match(item)
        name = match.group(1) if match else None
        if name is None or name not in known or name in seen:
            why = "named twice" if name in seen else "expected runtime==version"
            problems.append(
                f"[export].runtime_versions: {show(item)}: {why}, one per runtime "
                f'({", ".join(known)}), e.g. "litert==1.4.0"'
            )
        seen.add(name)
    return problems


def _quantize_rules(e: Mapping[str, Any], q: Mapping[str, Any]) -> list[str]:
    problems = []
    scheme = schemes.get_scheme(q["scheme"])
    for fmt in map(formats.get_format, e["formats"]):
        if fmt.name not in scheme.formats:
            why = f" ({fmt.refusal})" if fmt.refusal else ""
            problems.append(
                f'[quantize].scheme = "{scheme.name}": format {fmt.name} cannot carry it{why}; '
                f"allowed for {fmt.name}: {', '.join(fmt.schemes)}"
            )
    if not scheme.calibrated:
        calibrated = ", ".join(s.name for s in schemes.all_schemes() if s.calibrated)
        who = f"with a calibrated scheme ({calibrated})"
        problems += _only_for(q, "quantize", ("activations", "calibration"), who)
    elif "activations" in q and q["activations"] not in scheme.activations:
        problems.append(
            f'[quantize].activations = "{q["activations"]}": scheme {scheme.name} allows '
            + ", ".join(scheme.activations)
        )
    if not scheme.quantized:
        problems += _only_for(q, "quantize", ("per_channel", "weights"), "with an int8 scheme")
    return problems


def _bench_rules(d: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    problems = []
    if runners.needs_address(b["runner"]):
        env = b.get("host_env")
        if env is None:
            problems.append(
                f'[bench].host_env is missing: runner "{b["runner"]}" needs the name of the '
                "environment variable that holds the board's address (addresses never live in "
                "the repository)"
            )
        elif not ENV_NAME.fullmatch(env):
            problems.append(
                f"[bench].host_env = {show(env)}: must be an environment variable name "
                "(A-Z, 0-9, _), not an address"
            )
    else:
        reached = " or ".join(f'"{r.name}"' for r in runners.all_runners() if r.address)
        problems += _only_for(b, "bench", ("host_env",), f"with runner {reached}")
    if b["threads"] > d["cores"]:
        problems.append(
            f"[bench].threads = {b['threads']}: more than the device's {d['cores']} cores"
        )
    return problems


# Budgets that mean something on some kinds of device only: on the others the gate could never
# measure them, so a profile that sets one there is refused rather than failed forever.
BUDGET_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "max_flash_bytes": (
        ("microcontroller",),
        "flash holds a microcontroller's firmware; other kinds load the model from storage, "
        "which max_model_bytes bounds",
    ),
    "max_arena_bytes": (
        ("microcontroller",),
        "a tensor arena is TFLite Micro's; other runtimes allocate as they go, which "
        "max_peak_rss_bytes bounds",
    ),
    "max_peak_rss_bytes": (
        ("linux-board", "phone", "watch"),
        "a microcontroller runs no process with a resident set; its memory is max_arena_bytes",
    ),
}


def _meaningless_budgets(kind: str, b: Mapping[str, Any]) -> list[str]:
    allowed = [
        key
        for key in SECTIONS["budgets"]
        if key not in BUDGET_KINDS or kind in BUDGET_KINDS[key][0]
    ]
    return [
        f'[budgets].{key} = {show(b[key])}: no meaning for kind "{kind}" ({why}); budgets '
        f"allowed for a {kind}: {', '.join(allowed)}"
        for key, (kinds, why) in BUDGET_KINDS.items()
        if key in b and kind not in kinds
    ]


def _budget_rules(d: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    # A device key that is missing was reported by _device_rules: the limits it gives are skipped.
    meaningless = _meaningless_budgets(d["kind"], b)
    if d["kind"] != MCU:
        return [
            *_need(b, "budgets", ("max_peak_rss_bytes",), f'for kind "{d["kind"]}"'),
            *meaningless,
            *_at_most(b, "max_model_bytes", d.get("storage_bytes"), "[device].storage_bytes"),
            *_at_most(b, "max_peak_rss_bytes", d["memory_bytes"], "[device].memory_bytes"),
        ]
    flash, overhead = d.get("flash_bytes"), d.get("runtime_overhead_bytes")
    room = None if flash is None or overhead is None else flash - overhead
    # No room at all (room <= 0) is _runtime_fits_flash's problem, said once there.
    ram = d["memory_bytes"] + d.get("psram_bytes", 0)
    return [
        *_need(b, "budgets", ("max_flash_bytes", "max_arena_bytes"), "for a microcontroller"),
        *meaningless,
        *_at_most(b, "max_flash_bytes", flash, "[device].flash_bytes"),
        *_at_most(b, "max_model_bytes", room if room and room > 0 else None, _ROOM),
        *_at_most(b, "max_arena_bytes", ram, "memory_bytes + psram_bytes"),
    ]


_ROOM = "flash_bytes - runtime_overhead_bytes"


def _at_most(b: Mapping[str, Any], key: str, limit: int | None, what: str) -> list[str]:
    if key in b and limit is not None and b[key] > limit:
        return [
            f"[budgets].{key} = {show(b[key])}: more than the device has ({what} = {show(limit)})"
        ]
    return []


# ---- keys of one kind of device ----

# Keys that mean something for some kinds of device only: a profile that changes [device].kind
# through extends inherits none of them that the new kind has no use for (profiles._merge).
KIND_ONLY: dict[tuple[str, str], tuple[str, ...]] = {
    ("device", "storage_bytes"): tuple(k for k in DEVICE_KINDS if k != MCU),
    **{("device", key): (MCU,) for key in MCU_DEVICE_KEYS},
    **{("budgets", key): kinds for key, (kinds, _) in BUDGET_KINDS.items()},
    **{("estimate", key): (MCU,) for key in SECTIONS["estimate"]},
}


def foreign_to_kind(t: Tables) -> list[tuple[str, str]]:
    """The (section, key) present that [device].kind has no use for: a board's storage_bytes on
    a microcontroller, a microcontroller's flash_bytes or arena budget on a phone. Read on a
    profile whose values are each valid, complete or not."""
    kind = t.get("device", {}).get("kind")
    return [
        (section, key)
        for (section, key), kinds in KIND_ONLY.items()
        if kind is not None and kind not in kinds and key in t.get(section, {})
    ]
