"""The qemu runner's figures for the issue-21 note: what preparing its arm64 root costs, and what a
build's releases compute on the emulated target's kernels against this host's.

1. ``edgedistil runners prepare qemu --force`` into a fresh cache folder: wall time and size.
2. For each target, ``edgedistil build --target T --runner qemu`` on one student (skipping the
   distillation with --student), then each release's ``arm`` record from the manifest: the
   ARM-vs-x86 agreement or cosine on the build's sample of eval sentences, the host's and the
   ARM figure of the accuracy budget, and the emulator's time per sentence.

    .venv/bin/python benchmarks/qemu_arm.py --student DIR [--targets raspberry-pi-5 ...] \
        [--out DIR] [--cache DIR] [--skip-prepare]

Prints one JSON object. The builds are real builds: minutes each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EDGEDISTIL = [sys.executable, "-m", "edgedistil"]
ROOT = Path(__file__).resolve().parents[1]


def _run(command: list[str], env: dict[str, str]) -> tuple[float, str | None]:
    """Wall seconds, and the error line of a command that failed (3, a failed gate, measured
    everything)."""
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    error = None if done.returncode in (0, 3) else (done.stderr.strip().splitlines() or ["?"])[-1]
    return time.monotonic() - started, error


def prepare(env: dict[str, str]) -> dict[str, Any]:
    seconds, error = _run([*EDGEDISTIL, "runners", "prepare", "qemu", "--force"], env)
    if error:
        sys.exit(error)
    cache = Path(env["EDGEDISTIL_CACHE"]) / "qemu"
    record = json.loads(next(cache.glob("*/prepared.json")).read_text(encoding="utf-8"))
    return {"wall_s": round(seconds, 1), "bytes": record["bytes"], "wheels": record["wheels"]}


def build(target: str, student: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    command = [*EDGEDISTIL, "build", "--target", target, "--runner", "qemu", "--student"]
    command += [str(student), "--out", str(out), "--runs", "5", "--allow-unmeasured"]
    seconds, error = _run(command, env)
    if error:  # the build stopped (a budget its int8 file could not meet): nothing to read
        return {"build_wall_s": round(seconds, 1), "error": error}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    stage = manifest["stages"].get("arm-fidelity", {})
    releases = {
        rel: {
            "scheme": info.get("scheme"),
            "arm": info.get("arm"),
            "arm_unmeasured": info.get("arm_unmeasured"),
        }
        for rel, info in manifest["artifacts"].items()
        if info.get("role") == "release"
    }
    return {"build_wall_s": round(seconds, 1), "arm_stage_s": stage.get("seconds"), **releases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, required=True)
    parser.add_argument("--targets", nargs="+", default=["raspberry-pi-4", "raspberry-pi-5"])
    parser.add_argument("--out", type=Path, default=None, help="build folders (default: temp)")
    parser.add_argument("--cache", type=Path, default=None, help="the cache folder to prepare")
    parser.add_argument("--skip-prepare", action="store_true", help="use the prepared root")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="qemu-arm-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if args.cache:
        env["EDGEDISTIL_CACHE"] = str(args.cache)
    found: dict[str, Any] = {}
    if not args.skip_prepare:
        env.setdefault("EDGEDISTIL_CACHE", str(out / "cache"))
        found["prepare"] = prepare(env)
    for target in args.targets:
        folder = out / Path(target).name.removesuffix(".toml")  # a name, or a profile's path
        found[target] = build(target, args.student.resolve(), folder, env)
    print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
