"""Does every built-in profile build green as a new user would build it? One build per profile.

Each target is built with ``edgedistil build --target NAME`` on the default teacher with the
default options, plus what this host needs (``new_user_options``: ``--runner local`` where the
profile's runner needs a board, ``--allow-unmeasured`` for the latency and RSS only the board can
give), each in its own folder under --work, one after the other (2 cores: builds side by side
would only time each other). Then one Markdown row per release artifact, read from what each
build recorded (``gate.json`` for the verdict and the drops against their budgets, the manifest
for the scheme and the student's shape): the table of issue 20.

    .venv/bin/python benchmarks/profiles.py --work runs/profiles            # all seven
    .venv/bin/python benchmarks/profiles.py --targets raspberry-pi-4 --work runs/pi4 -- --epochs 1

Arguments after ``--`` go to every build, after the defaults (so ``-- --runs 20`` overrides).
A build reuses what its folder already holds (the stage cache), and its row then says how many
stages it took up again: time a fresh clone with a fresh --work. The table is printed and
written to WORK/profiles.md; each build's output is in WORK/NAME.log.

Distillation is what takes long on a few cores (three epochs of the augmented sample text and
a quantization-aware quarter epoch). On a machine with a GPU, ``--students-only`` runs each
build only up to its distilled student (``benchmarks/_students.py``), ``--parallel N`` builds at
a time; copying WORK back here (the same commit, so the same stage keys) and running without it
does the rest, each row counting the reused stages:

    python benchmarks/profiles.py --work W --students-only --parallel 6 --targets ...   # GPU
    .venv/bin/python benchmarks/profiles.py --work W                                    # here
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil.profiles import Profile, builtin_names, load_profile
from edgedistil.runners import needs_address

STUDENTS_ONLY = Path(__file__).with_name("_students.py")
HEADER = (
    "| target | artifact | scheme | student | result | drop vs float student (allowed) "
    "| drop vs teacher (allowed) | wall time |\n"
    "| --- | --- | --- | --- | --- | ---: | ---: | ---: |"
)


@dataclass(frozen=True, kw_only=True)
class Built:
    """One build as it ran: its folder, exit code, wall time and what it printed."""

    target: str
    folder: Path
    exit_code: int
    seconds: float
    output: str

    @property
    def reused(self) -> int:
        """Stages taken up from the folder instead of run (build prints ``= stage: ...``)."""
        return sum(line.startswith("= ") for line in self.output.splitlines())

    @property
    def error(self) -> str:
        """The build's ``Error: ...`` line, when it broke."""
        errors = [line for line in self.output.splitlines() if line.startswith("Error: ")]
        return errors[-1] if errors else f"exit {self.exit_code}"


def new_user_options(profile: Profile) -> list[str]:
    """What a new user adds on this host to build ``profile`` with the defaults: a profile whose
    runner reaches a board by its address (ssh, adb) has none to reach here, so it benches on
    this host; and every profile's latency (and a board's RSS) counts only from the device,
    so the gate skips them, saying so, instead of failing closed."""
    options = ["--allow-unmeasured"]
    if needs_address(profile.bench.runner):
        options += ["--runner", "local"]
    return options


def build(target: str, work: Path, extra: list[str], students_only: bool = False) -> Built:
    """``edgedistil build`` of ``target`` into WORK/TARGET, in its own process as a user runs
    it, its output kept in WORK/TARGET.log; only up to its student with ``students_only``."""
    folder = work / target
    program = [str(STUDENTS_ONLY)] if students_only else ["-m", "edgedistil"]
    command = [sys.executable, *program, "build", "--target", target, "--out"]
    command += [str(folder), *new_user_options(load_profile(target)), *extra]
    start = time.monotonic()
    ran = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    output = ran.stdout + ran.stderr
    (work / f"{target}.log").write_text(output, encoding="utf-8")
    return Built(
        target=target, folder=folder, exit_code=ran.returncode, seconds=seconds, output=output
    )


def rows(built: Built) -> list[str]:
    """One Markdown row per release artifact the build's gate judged, or one saying why the
    build has no verdict."""
    gate_path = built.folder / "gate.json"
    if built.exit_code not in (0, 3) or not gate_path.is_file():
        return [f"| {built.target} | - | - | - | broke: {built.error} | - | - | {_wall(built)} |"]
    gate = json.loads(gate_path.read_text(encoding="utf-8"))
    manifest = json.loads((built.folder / "manifest.json").read_text(encoding="utf-8"))
    shape = _shape(manifest["stages"].get("plan", {}))
    found = []
    for artifact in gate["artifacts"]:
        checks = {c["budget"]: c for c in artifact["checks"]}
        info = manifest["artifacts"][artifact["artifact"]]
        found.append(
            f"| {built.target} | {artifact['artifact']} | {info.get('scheme', '-')} | {shape} "
            f"| {_result(artifact)} | {_drop(checks.get('max_accuracy_drop'))} "
            f"| {_drop(checks.get('max_drop_vs_teacher'))} | {_wall(built)} |"
        )
    return found


def _shape(plan: dict[str, Any]) -> str:
    if not plan:
        return "-"
    narrow = f" h{plan['hidden']}" if plan.get("narrow") else ""
    return f"{plan['layers']}L{narrow} v{plan['vocab_size']:,}"


def _result(artifact: dict[str, Any]) -> str:
    """PASSED, or FAILED with each budget that failed or had no measurement."""
    if artifact["passed"]:
        return "PASSED"
    broken = [_broken(c) for c in artifact["checks"] if c["status"] in ("fail", "unmeasured")]
    return "**FAILED**: " + ", ".join(broken)


def _broken(check: dict[str, Any]) -> str:
    """A failed budget with its figure; an unmeasured one (a figure taken off the target counts
    as none: the gate's rule) as such."""
    if check["status"] == "unmeasured":
        return f"{check['label']} unmeasured{' (off target)' if check['off_target'] else ''}"
    if check["unit"] == "fraction":
        return f"{check['label']} {check['measured']:.4f} > {check['limit']:g}"
    return f"{check['label']} {check['measured']:,.0f} > {check['limit']:,.0f} {check['unit']}"


def _drop(check: dict[str, Any] | None) -> str:
    """``0.0199 (0.02)``, in bold when over; ``-`` when the profile sets no such budget."""
    if check is None:
        return "-"
    if check["measured"] is None:
        return f"unmeasured ({check['limit']:g})"
    text = f"{check['measured']:.4f} ({check['limit']:g})"
    return f"**{text}**" if check["status"] == "fail" else text


def _wall(built: Built) -> str:
    minutes, seconds = divmod(round(built.seconds), 60)
    reused = f", {built.reused} stages reused" if built.reused else ""
    return f"{minutes}:{seconds:02d}{reused}"


def table(builds: list[Built]) -> str:
    lines = [HEADER, *(row for built in builds for row in rows(built))]
    total = sum(b.seconds for b in builds)
    lines.append(f"\n{len(builds)} builds, {total / 60:.1f} minutes in all.")
    return "\n".join(lines) + "\n"


def _args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The script's own options, and what follows ``--`` (for every build)."""
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--targets", nargs="+", default=builtin_names(), choices=builtin_names(), metavar="NAME"
    )
    parser.add_argument("--work", type=Path, required=True, help="one build folder per target")
    parser.add_argument(
        "--students-only", action="store_true", help="stop each build once its student is made"
    )
    parser.add_argument(
        "--parallel", type=int, default=1, help="builds at a time (1 on a few shared cores)"
    )
    return parser.parse_args(argv), extra


def _one(args: argparse.Namespace, extra: list[str], target: str) -> Built:
    built = build(target, args.work, extra, args.students_only)
    print(f"{target}: exit {built.exit_code} in {built.seconds:.0f} s", flush=True)
    return built


def main() -> None:
    args, extra = _args(sys.argv[1:])
    args.work.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        builds = list(pool.map(lambda target: _one(args, extra, target), args.targets))
    if args.students_only:
        return
    text = table(builds)
    (args.work / "profiles.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
