"""What a bench ran on, and whether that machine may stand for a target's device.

Every stored result carries a ``ran_on`` table: the runner, the board (its address or serial,
``localhost`` for the local runner), the machine's architecture, CPU model, core count and OS,
as the board script read them on the machine that ran the model, and whether the user declared
that host to be the target (``--host-is-target``).

A latency or a peak RSS says something about a target only when it was measured on the target's
kind of device, so the gate counts one only when:

- the architecture is the profile's ``[device].architecture`` (an x86 laptop is never a phone), and
- it came through the profile's own board runner (ssh to the Pi, adb to the phone), or the host
  that ran it was declared to be the target (``--runner local --host-is-target``, e.g. edgedistil
  run on the Pi itself), or the profile's runner is ``local`` itself.

Anything else is shown beside the budget, labelled, and counts as unmeasured.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from typing import Any

from edgedistil import runners
from edgedistil.errors import BenchError
from edgedistil.profiles import Profile

LOCALHOST = "localhost"
# platform.machine() (or uname -m) -> the words of [device].architecture.
_ARCHITECTURES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",  # Windows and the BSDs
    "x64": "x86_64",
    "aarch64": "arm64",  # Linux and Android
    "aarch64_be": "arm64",
    "arm64": "arm64",  # macOS
    # 32-bit ARM userlands; armv8l is a 64-bit core running 32-bit code, which runs armv7 builds.
    "armv7l": "armv7",
    "armv7": "armv7",
    "armv7hl": "armv7",
    "armv8l": "armv7",
    "riscv32": "riscv32",
}


def architecture_of(machine: str | None) -> str | None:
    """``platform.machine()`` in the profiles' words (``aarch64`` -> ``arm64``); None if unknown."""
    if not machine:
        return None
    return _ARCHITECTURES.get(machine.lower(), machine.lower())


@dataclass(frozen=True, kw_only=True)
class RanOn:
    """The machine that ran one bench, as stored in its result."""

    runner: str
    board: str  # the ssh address, the adb serial, or "localhost"
    machine: str | None  # platform.machine() there, as reported
    architecture: str | None  # ``machine`` in the profiles' words
    cpu_model: str | None
    cores: int | None
    os: str | None
    host_is_target: bool = False  # the user declared this host to be the target

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """``x86_64 host localhost (AMD EPYC 7B13, 2 cores; local)``."""
        where = "host" if self.runner == "local" else "board"
        arch = self.architecture or "unknown-architecture"
        cpu = self.cpu_model or "unknown CPU"
        cores = f", {self.cores} cores" if self.cores else ""
        return f"{arch} {where} {self.board} ({cpu}{cores}; {self.runner})"


def ran_on(
    *, runner: str, address: str | None, label: str, result: dict[str, Any], host_is_target: bool
) -> RanOn:
    """The facts of one run: the board script reports them from the machine that ran the model."""
    board = result.get("board")
    facts: dict[str, Any] = board if isinstance(board, dict) else {}
    machine = facts.get("machine") or None
    system, kernel = facts.get("system"), facts.get("kernel")
    cores = facts.get("cores")
    return RanOn(
        runner=runner,
        board=address or (LOCALHOST if runner == "local" else label),
        machine=machine,
        architecture=architecture_of(machine),
        cpu_model=facts.get("cpu_model") or None,
        cores=cores if isinstance(cores, int) and not isinstance(cores, bool) else None,
        os=" ".join(str(v) for v in (system, kernel) if v) or None,
        host_is_target=host_is_target,
    )


def parse(data: Any) -> RanOn | None:
    """A stored ``ran_on`` table; None when a result has none (written by an older edgedistil)."""
    if not isinstance(data, dict) or not isinstance(data.get("runner"), str):
        return None
    cores = data.get("cores")
    return RanOn(
        runner=data["runner"],
        board=str(data.get("board") or "?"),
        machine=_text(data.get("machine")),
        architecture=architecture_of(_text(data.get("machine"))) or _text(data.get("architecture")),
        cpu_model=_text(data.get("cpu_model")),
        cores=cores if isinstance(cores, int) and not isinstance(cores, bool) else None,
        os=_text(data.get("os")),
        host_is_target=data.get("host_is_target") is True,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def off_target(ran: RanOn, profile: Profile) -> str | None:
    """Why a result from ``ran`` is no evidence of ``profile``'s device; None when it is."""
    device = profile.device
    if ran.architecture != device.architecture and (
        ran.architecture is not None or ran.runner == "local"
    ):
        # Unknown only where adb's uname failed; the board runner still reached the device.
        return f"not on the target ({device.architecture} {device.cpu}): counts as unmeasured"
    if runners.is_emulated(ran.runner):
        return f"an emulated {device.architecture} core ({ran.runner}): counts as unmeasured"
    if ran.runner == "local":
        # A profile whose runner is local says the target is the machine running edgedistil (a
        # server, or edgedistil on the Pi itself): the same declaration as --host-is-target, and
        # like it, only on a host of the target's architecture (checked above).
        if ran.host_is_target or profile.bench.runner == "local":
            return None
        return "a host not declared to be the target (--host-is-target): counts as unmeasured"
    if ran.runner == profile.bench.runner:
        return None
    return (
        f"not through the target's runner ({profile.bench.runner}) but {ran.runner}: "
        "counts as unmeasured"
    )


def check_host_is_target(runner: str, profile: Profile | None, machine: str | None = None) -> None:
    """Refuse ``--host-is-target`` where it cannot be true: another runner, another architecture."""
    if runner != "local":
        raise BenchError(
            f"--host-is-target declares the machine running edgedistil to be the target, so it "
            f'needs --runner local, not "{runner}"; a board reached over ssh or adb counts as the '
            "target through the profile's own runner"
        )
    if profile is None:
        return
    machine = platform.machine() if machine is None else machine
    arch = architecture_of(machine)
    if arch != profile.device.architecture:
        raise BenchError(
            f"--host-is-target: this host is {arch or 'of unknown architecture'} (platform."
            f"machine() {machine!r}), but {profile.name}'s [device].architecture is "
            f"{profile.device.architecture} ({profile.source}); run it on the device itself, or "
            "bench without --host-is-target (the figures are then shown, counted as unmeasured)"
        )
