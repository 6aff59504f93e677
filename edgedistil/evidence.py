"""What was measured for each release artifact of a build folder: the gate's inputs.

Every number is tied to the artifact's bytes: the file must still have the sha256 the manifest
recorded, and a bench result counts only when it carries that same sha256. The profile must be
the one the build used, so a budget is never checked against numbers measured for another.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgedistil import gate as gate_mod
from edgedistil import manifest as manifest_mod
from edgedistil.bench.results import results_dir
from edgedistil.errors import BuildError
from edgedistil.gate import Measurement
from edgedistil.profiles import Profile
from edgedistil.teacher import sha256_of


def gate_folder(
    root: Path,
    profile: Profile,
    *,
    allow_unmeasured: bool = False,
    bench_files: tuple[Path, ...] = (),
) -> gate_mod.Gate:
    """The gate of every release artifact in ``root`` against ``profile``'s budgets."""
    data = manifest_mod.load(root)
    check_profile(data, profile)
    releases = {rel: a for rel, a in data["artifacts"].items() if a.get("role") == "release"}
    if not releases:
        raise BuildError(
            f"{root}: the manifest lists no verified release artifact (the build stopped before "
            "its verify stage); finish it with: edgedistil build --out " + str(root)
        )
    extra = [_read_bench(path) for path in bench_files]
    _check_bench_files(extra, releases)
    gates = []
    for rel, info in sorted(releases.items()):
        path = root / rel
        _check_bytes(path, info)
        measured = measurements(path, info, profile, extra)
        gates.append(
            gate_mod.check_artifact(
                profile.budgets,
                measured,
                artifact=rel,
                sha256=info["sha256"],
                allow_unmeasured=allow_unmeasured,
            )
        )
    return gate_mod.Gate(
        target=profile.name, allow_unmeasured=allow_unmeasured, artifacts=tuple(gates)
    )


def check_profile(data: dict[str, Any], profile: Profile) -> None:
    """Refuse a profile that differs from the one the build resolved (its source path aside)."""
    built = dict(data.get("profile") or {})
    now = profile.to_dict()
    built.pop("source", None)
    now.pop("source", None)
    if built == now:
        return
    changes = [
        f"[{section}].{key} {_show(built.get(section, {}).get(key))} -> "
        f"{_show(now.get(section, {}).get(key))}"
        for section in sorted(set(built) | set(now))
        if isinstance(now.get(section), dict) or isinstance(built.get(section), dict)
        for key in sorted(set(built.get(section) or {}) | set(now.get(section) or {}))
        if (built.get(section) or {}).get(key) != (now.get(section) or {}).get(key)
    ]
    changes += [
        f"{key} {_show(built.get(key))} -> {_show(now.get(key))}"
        for key in sorted(set(built) | set(now))
        if not isinstance(now.get(key), dict) and built.get(key) != now.get(key)
    ]
    raise BuildError(
        f'profile "{profile.name}" changed since the build ({"; ".join(changes)}); rebuild with '
        "edgedistil build, so that every number is measured under the profile it is checked against"
    )


def _show(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)


def _check_bytes(path: Path, info: dict[str, Any]) -> None:
    if not path.is_file():
        raise BuildError(
            f"{path}: listed in the manifest but missing; the build folder is incomplete"
        )
    digest = sha256_of(path)
    if digest != info["sha256"]:
        raise BuildError(
            f"{path} changed since the build: sha256 {digest[:12]}..., the manifest says "
            f"{info['sha256'][:12]}...; rebuild rather than gate bytes nobody verified"
        )


def measurements(
    path: Path, info: dict[str, Any], profile: Profile, extra: list[dict[str, Any]]
) -> dict[str, Measurement]:
    size = path.stat().st_size
    found = {"model_bytes": Measurement(float(size), "file size")}
    if profile.device.is_microcontroller and profile.device.runtime_overhead_bytes:
        overhead = profile.device.runtime_overhead_bytes
        found["flash_bytes"] = Measurement(
            float(size + overhead),
            f"model bytes + [device].runtime_overhead_bytes ({overhead:,}, an estimate)",
        )
    for quantity in ("arena_bytes", "accuracy_drop"):
        if quantity in info:
            found[quantity] = Measurement(float(info[quantity]), info[f"{quantity}_source"])
    entry = _latest_bench(path, info["sha256"], extra)
    if entry is not None:
        result = entry.get("result") or {}
        where = f"bench on {entry.get('board')} ({entry.get('runner')}), {entry.get('timestamp')}"
        p95 = (result.get("latency_ms") or {}).get("p95")
        rss = (result.get("memory") or {}).get("peak_rss_bytes")
        if isinstance(p95, int | float):
            found["p95_latency_ms"] = Measurement(float(p95), where)
        if isinstance(rss, int | float):
            found["peak_rss_bytes"] = Measurement(float(rss), where)
    return found


def _latest_bench(path: Path, sha256: str, extra: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest bench result of these bytes: from ``--bench`` files first, else from the
    artifact's own ``.bench`` folder, where results of other bytes are refused, not skipped."""
    given = [e for e in extra if e.get("artifact_sha256") == sha256]
    if given:
        return max(given, key=lambda e: str(e.get("timestamp")))
    folder = results_dir(path)
    stored = [_read_bench(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    matching = [e for e in stored if e.get("artifact_sha256") == sha256]
    if stored and not matching:
        other = stored[-1].get("artifact_sha256", "?")
        raise BuildError(
            f"{folder}: the bench results are for other bytes (sha256 {str(other)[:12]}..., the "
            f"artifact is {sha256[:12]}...); re-run edgedistil bench on {path}"
        )
    return max(matching, key=lambda e: str(e.get("timestamp"))) if matching else None


def _read_bench(path: Path) -> dict[str, Any]:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path}: not a readable bench result ({exc})") from None
    if not isinstance(entry, dict) or "artifact_sha256" not in entry or "result" not in entry:
        raise BuildError(f"{path}: not a bench result (no artifact_sha256 and result)")
    return entry


def _check_bench_files(extra: list[dict[str, Any]], releases: dict[str, Any]) -> None:
    known = {a["sha256"] for a in releases.values()}
    for entry in extra:
        if entry["artifact_sha256"] not in known:
            raise BuildError(
                f"--bench: the result for {entry.get('artifact')} (sha256 "
                f"{str(entry['artifact_sha256'])[:12]}...) is for none of this build's release "
                "artifacts; bench the artifact this build made"
            )
