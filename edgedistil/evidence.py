"""What was measured for each release artifact of a build folder: the gate's inputs.

Every number is tied to the artifact's bytes: the file must still have the sha256 the manifest
recorded, and a bench result counts only when it carries that same sha256. A latency or peak RSS
is tied to the device too: it counts only when measured on the target's kind of device
(``bench.machine.off_target``); one measured elsewhere is shown, labelled, as unmeasured.

The profile must be the one the build used in everything that shaped the artifacts or their
measurements; only ``[budgets]`` (and the labels: name, description, extends) may differ, since
budgets are the gate's input, not the build's. The gate lists each budget that changed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil import gate as gate_mod
from edgedistil import manifest as manifest_mod
from edgedistil.bench import machine
from edgedistil.bench.results import read_result, results_dir
from edgedistil.errors import BuildError
from edgedistil.gate import BudgetChange, Measurement
from edgedistil.profiles import Profile

if TYPE_CHECKING:
    from edgedistil.records.bench import BenchResult

log = logging.getLogger(__name__)
# Keys that name, describe or locate a profile: they shape no artifact and no measurement.
_LABELS = ("name", "description", "source", "extends")


@dataclass(frozen=True, kw_only=True)
class BenchFile:
    """One stored or given bench result, with the file it came from (for the reader's sake)."""

    path: Path
    entry: BenchResult

    @property
    def sha256(self) -> str:
        return self.entry.artifact_sha256

    @property
    def timestamp(self) -> str:
        return self.entry.timestamp

    @property
    def ran_on(self) -> machine.RanOn | None:
        return machine.parse(self.entry.ran_on_dict())


def gate_folder(
    root: Path,
    profile: Profile,
    *,
    allow_unmeasured: bool = False,
    bench_files: tuple[Path, ...] = (),
    allow_estimates: bool = False,
) -> gate_mod.Gate:
    """The gate of every release artifact in ``root`` against ``profile``'s budgets;
    ``allow_estimates``: the latency budget may judge the build's latency estimate."""
    data = manifest_mod.load(root)
    changes = check_profile(data, profile)
    releases = manifest_mod.releases(data["artifacts"])
    if not releases:
        raise BuildError(
            f"{root}: the manifest lists no verified release artifact (the build stopped before "
            "its verify stage); finish it with: edgedistil build --out " + str(root)
        )
    extra = [_read_bench(path) for path in bench_files]
    _check_bench_files(extra, releases)
    check_listed(root, data)
    gates = []
    for rel, info in sorted(releases.items()):
        path = root / rel
        measured = measurements(path, info, profile, extra)
        gates.append(
            gate_mod.check_artifact(
                profile.budgets,
                measured,
                artifact=rel,
                sha256=info["sha256"],
                allow_unmeasured=allow_unmeasured,
                reasons=unmeasured_reasons(info),
                coverage=coverage(info),
                tokenization=tokenization(path, info["sha256"], profile, extra),
                notes=notes(info),
                text_model=text_model(info),
                latency_estimate=latency_estimate(info),
                allow_estimates=allow_estimates,
            )
        )
    return gate_mod.Gate(
        target=profile.name,
        allow_unmeasured=allow_unmeasured,
        artifacts=tuple(gates),
        budget_changes=changes,
        allow_estimates=allow_estimates,
    )


def check_profile(data: dict[str, Any], profile: Profile) -> tuple[BudgetChange, ...]:
    """The budgets that changed since the build; refuse any other change but the labels', since
    the artifacts and their measurements were made under the build's profile."""
    built = dict(data.get("profile") or {})
    now = profile.to_dict()
    changed = _differences(built, now)
    shaping = [(s, k) for s, k in changed if s != "budgets" and (s or k not in _LABELS)]
    if shaping:
        diff = "; ".join(
            f"{f'[{s}].{k}' if s else k} {_show(_value(built, s, k))} -> {_show(_value(now, s, k))}"
            for s, k in shaping
        )
        raise BuildError(
            f'profile "{profile.name}" changed since the build in what shaped its artifacts or '
            f"their measurements ({diff}); rebuild with edgedistil build, so that every number "
            "is measured under the profile it is checked against (a change to [budgets] alone "
            "is checked against this build)"
        )
    return tuple(
        BudgetChange(
            budget=gate_mod.budget_named(k),
            built=_number(_value(built, s, k)),
            now=_number(_value(now, s, k)),
        )
        for s, k in changed
        if s == "budgets"
    )


def _differences(built: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, str]]:
    """(section, key) of every value that differs; section "" for top-level keys."""
    found = []
    for key in sorted(set(built) | set(now)):
        a, b = built.get(key), now.get(key)
        if isinstance(a, dict) or isinstance(b, dict):
            a, b = a if isinstance(a, dict) else {}, b if isinstance(b, dict) else {}
            found += [(key, k) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            found.append(("", key))
    return found


def _value(profile: dict[str, Any], section: str, key: str) -> Any:
    table = profile.get(section) if section else profile
    return table.get(key) if isinstance(table, dict) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _show(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)


def check_listed(root: Path, data: dict[str, Any]) -> None:
    """Every file the manifest lists still has its sha256: each artifact whatever its role (the
    float graph, the ``.ort`` copy ORT Mobile loads), and each output of a stage that is done
    (the student, C arrays, records, fidelity.json). A gate of a folder whose files changed
    would vouch for bytes nobody verified. The bench stages' results are left to their own
    rule (``_bench_files``: a result counts for the bytes whose sha256 it carries): ``bench``
    and CI add results from the boards after the build."""
    listed = [(rel, str(info.get("sha256"))) for rel, info in data["artifacts"].items()]
    for stage, outputs in manifest_mod.done_outputs(data["stages"]).items():
        if not stage.startswith(manifest_mod.BENCH_STAGE):
            listed += outputs.items()
    for rel, digest in sorted(listed):
        _check_bytes(root / rel, digest)


def _check_bytes(path: Path, expected: str) -> None:
    if not path.exists():
        raise BuildError(
            f"{path}: listed in the manifest but missing; the build folder is incomplete"
        )
    digest = manifest_mod.tree_sha256(path)
    if digest != expected:
        raise BuildError(
            f"{path} changed since the build: sha256 {digest[:12]}..., the manifest says "
            f"{expected[:12]}...; rebuild rather than gate bytes nobody verified"
        )


def coverage(info: dict[str, Any]) -> gate_mod.Coverage | None:
    """The [UNK] share of the eval text under the artifact's tokenizer, as the build recorded it."""
    rate, sentences = info.get("eval_unk_rate"), info.get("eval_unk_sentences")
    if not isinstance(rate, int | float) or not isinstance(sentences, int | float):
        return None
    return gate_mod.Coverage(
        unk_rate=float(rate),
        sentences_with_unk=float(sentences),
        source=str(info.get("eval_unk_source") or "the eval text"),
    )


def text_model(info: dict[str, Any]) -> gate_mod.TextModel | None:
    """The text-input model the build made beside the release and its figures, if any."""
    made = info.get("text_model")
    if not isinstance(made, dict) or not isinstance(made.get("path"), str):
        return None

    def number(key: str) -> float | None:
        value = made.get(key)
        return float(value) if isinstance(value, int | float) else None

    return gate_mod.TextModel(
        path=made["path"],
        sentences=int(made.get("sentences") or 0),
        agreement=number("agreement"),
        cosine_mean=number("cosine_mean"),
        cosine_min=number("cosine_min"),
    )


def notes(info: dict[str, Any]) -> tuple[str, ...]:
    """What the build verified beyond the budgets, and why it made no latency estimate."""
    found = [str(note) for note in info.get("notes") or ()]
    if info.get("latency_estimate_unavailable"):
        found.append(f"No latency estimate: {info['latency_estimate_unavailable']}")
    return tuple(found)


def latency_estimate(info: dict[str, Any]) -> gate_mod.LatencyEstimate | None:
    """The latency the build estimated for the artifact (``export.mcu_latency``), if any."""
    made = info.get("latency_estimate")
    if not isinstance(made, dict):
        return None
    return gate_mod.LatencyEstimate(
        low_ms=float(made["low_ms"]),
        high_ms=float(made["high_ms"]),
        source=str(made["source"]),
        breakdown=str(made.get("breakdown") or ""),
    )


def measurements(
    path: Path, info: dict[str, Any], profile: Profile, extra: list[BenchFile]
) -> dict[str, Measurement]:
    size = path.stat().st_size
    found = {"model_bytes": Measurement(float(size), _size_source(info))}
    if profile.device.is_microcontroller and profile.device.runtime_overhead_bytes:
        overhead = profile.device.runtime_overhead_bytes
        tokenizer = int(info.get("tokenizer_flash_bytes") or 0)
        source = f"model bytes + [device].runtime_overhead_bytes ({overhead:,}, an estimate)"
        if tokenizer:
            source += f" + the C tokenizer beside the C array ({tokenizer:,})"
        found["flash_bytes"] = Measurement(float(size + overhead + tokenizer), source)
    for quantity in ("arena_bytes", "accuracy_drop", "drop_vs_teacher"):
        if quantity in info:
            found[quantity] = Measurement(float(info[quantity]), info[f"{quantity}_source"])
    arm = info.get("arm")
    if isinstance(arm, dict) and "accuracy_drop" in arm:  # on the target's kernels (bench.arm)
        found["accuracy_drop"] = Measurement(float(arm["accuracy_drop"]), str(arm["source"]))
    return found | _bench_measurements(path, info["sha256"], profile, extra)


def _size_source(info: dict[str, Any]) -> str:
    metadata = info.get("metadata_bytes")
    if not metadata:
        return "file size"
    return f"file size, with {int(metadata):,} bytes of MediaPipe metadata (its tokenizer)"


def unmeasured_reasons(info: dict[str, Any]) -> dict[str, str]:
    """Why the build has no figure against the teacher for this artifact: the reason the build
    recorded (no teacher, nothing comparable), or a manifest from before the comparison."""
    if "drop_vs_teacher" in info:
        return {}
    why = info.get("drop_vs_teacher_unmeasured") or (
        "the build recorded no comparison with the teacher (an older edgedistil made it); "
        "rebuild to measure it"
    )
    return {"drop_vs_teacher": str(why)}


def _chosen_bench(
    path: Path, sha256: str, profile: Profile, extra: list[BenchFile], *, warn: bool = True
) -> tuple[BenchFile, str | None] | None:
    """The newest result measured on the target's kind of device; without one, the newest
    result at all, with why it does not count; None without any. ``warn``: say once which
    results lack what they ran on."""
    files = _bench_files(path, sha256, extra)
    if not files:
        return None
    judged = [(f, _off_target(f, profile)) for f in files]
    on_target = [(f, why) for f, why in judged if why is None]
    if not on_target and warn:
        _warn_without_facts([f for f in files if f.ran_on is None], path)
    return max(on_target or judged, key=lambda pair: pair[0].timestamp)


def _bench_measurements(
    path: Path, sha256: str, profile: Profile, extra: list[BenchFile]
) -> dict[str, Measurement]:
    """p95 latency and peak RSS of the chosen bench result (``_chosen_bench``), kept as
    evidence that does not count when it was measured off the target."""
    found_bench = _chosen_bench(path, sha256, profile, extra)
    if found_bench is None:
        return {}
    chosen, why = found_bench
    result = chosen.entry.result
    p95, rss = result.latency_ms.p95, result.memory.peak_rss_bytes
    source = _bench_source(chosen)
    found = {}
    if p95 is not None:
        found["p95_latency_ms"] = Measurement(p95, source, off_target=why)
    if rss is not None:
        found["peak_rss_bytes"] = Measurement(float(rss), source, off_target=why)
    return found


def tokenization(
    path: Path, sha256: str, profile: Profile, extra: list[BenchFile]
) -> gate_mod.Tokenization | None:
    """Tokenisation on the board in the same bench result as the latency figure; None when
    there is none, or it is from before the board could tokenise."""
    found_bench = _chosen_bench(path, sha256, profile, extra, warn=False)
    if found_bench is None:
        return None
    chosen, why = found_bench
    tokenize = chosen.entry.result.tokenize
    if tokenize is None:
        return None
    source = _bench_source(chosen) + (f" ({why})" if why else "")
    latency = tokenize.latency_ms
    return gate_mod.Tokenization(
        tokenizer=tokenize.tokenizer if tokenize.measured else None,
        p50_ms=latency.p50 if latency and tokenize.measured else None,
        p95_ms=latency.p95 if latency and tokenize.measured else None,
        source=source,
        reason=None if tokenize.measured else tokenize.reason,
    )


def _off_target(bench: BenchFile, profile: Profile) -> str | None:
    ran_on = bench.ran_on
    if ran_on is None:
        return (
            f"{bench.path.name} does not say what it ran on (an older edgedistil wrote it): "
            "counts as unmeasured"
        )
    return machine.off_target(ran_on, profile)


def _bench_source(bench: BenchFile) -> str:
    ran_on = bench.ran_on
    if ran_on is None:
        entry = bench.entry
        return f"bench on {entry.board} ({entry.runner}), {bench.timestamp}"
    return f"bench on {ran_on.describe()}, {bench.timestamp}"


def _warn_without_facts(old: list[BenchFile], artifact: Path) -> None:
    """One warning for results that predate ``ran_on``: they cannot show where they ran."""
    if not old:
        return
    newest = max(old, key=lambda f: f.timestamp)
    more = f" (and {len(old) - 1} older result(s) like it)" if len(old) > 1 else ""
    log.warning(
        "%s%s: a bench result without device facts (written by an older edgedistil); its "
        "latency and peak RSS count as unmeasured; re-run edgedistil bench on %s",
        newest.path,
        more,
        artifact,
    )


def _bench_files(path: Path, sha256: str, extra: list[BenchFile]) -> list[BenchFile]:
    """The bench results of these bytes: the ``--bench`` files when any is of these bytes, else
    the artifact's own ``.bench`` folder, where results of other bytes are refused, not skipped."""
    given = [f for f in extra if f.sha256 == sha256]
    if given:
        return given
    folder = results_dir(path)
    stored = [_read_bench(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    matching = [f for f in stored if f.sha256 == sha256]
    if stored and not matching:
        other = stored[-1].sha256
        raise BuildError(
            f"{folder}: the bench results are for other bytes (sha256 {other[:12]}..., the "
            f"artifact is {sha256[:12]}...); re-run edgedistil bench on {path}"
        )
    return matching


def _read_bench(path: Path) -> BenchFile:
    return BenchFile(path=path, entry=read_result(path, error=BuildError))


def _check_bench_files(extra: list[BenchFile], releases: dict[str, Any]) -> None:
    known = {a["sha256"] for a in releases.values()}
    for bench in extra:
        if bench.sha256 not in known:
            raise BuildError(
                f"--bench: the result for {bench.entry.artifact} (sha256 "
                f"{bench.sha256[:12]}...) in {bench.path} is for none of this build's release "
                "artifacts; bench the artifact this build made"
            )
