"""The ``qemu`` runner: the unchanged board script on an emulated arm64 core, on this host.

``qemu-aarch64`` (user mode) runs the board's own Python, numpy and runtime wheels from the root
``edgedistil runners prepare qemu`` made (``bench.sysroot``), so the int8 kernels that compute
are the aarch64 ones a Pi or a phone runs (ORT's NEON / dot-product GEMMs, XNNPACK's), not this
host's x86 ones. The core is the target's ([device].cpu, ``Options.emulated_cpu``): qemu's
``-cpu`` model gives its instructions, so a kernel the core lacks is an illegal instruction here
as on the board.

What it measures is what the board computes, not how fast: every instruction is translated, so
its latency is an emulator's (``machine.ran_on`` says so) and never a device's.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from edgedistil.bench import sysroot
from edgedistil.bench.base import (
    SCRIPT,
    Board,
    Job,
    Runner,
    last_json_object,
    read_result,
    script_args,
)
from edgedistil.errors import BenchError

log = logging.getLogger(__name__)
QEMU = "qemu-aarch64"
DEFAULT_CPU = "Cortex-A72"  # without a target: ARMv8.0 NEON, the kernels every arm64 board has
# The board script's runtime per model suffix, as its result names it (``runtime.name``).
PACKAGES = {".onnx": "onnxruntime", ".tflite": "ai-edge-litert"}
# How ONNX Runtime and LiteRT say that a file is newer than they are.
TOO_NEW = (
    "Unsupported model IR version",
    "ONNX Runtime only *guarantees* support for models stamped",
    "Didn't find op for builtin opcode",
    "Op builtin_code out of range",
)
_GRACE_S = 60.0  # the script stops itself at --timeout; this covers an emulated model load


def prepare(
    progress: sysroot.Progress, force: bool = False, versions: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``edgedistil runners prepare qemu``: qemu-aarch64 checked, then the arm64 root made for
    ``versions`` ("litert==1.4.0", as a profile's [export].runtime_versions; none: the Pi's)."""
    qemu_binary()
    return sysroot.prepare(sysroot.Spec.of(versions), progress, force=force)


def core_for(cpu: str | None) -> sysroot.Core:
    """The emulated core for a profile's [device].cpu ("Cortex-A78 x2 + Cortex-A55 x6": the
    first core named, the big one that a thread pool's first thread runs on)."""
    text = cpu or DEFAULT_CPU
    for word in text.replace("+", " ").split():
        core = sysroot.CORES.get(word.lower())
        if core is not None:
            return core
    known = ", ".join(c.name for c in sysroot.CORES.values())
    raise BenchError(f'The qemu runner cannot emulate CPU "{text}"; known cores: {known}')


def qemu_binary() -> str:
    found = shutil.which(QEMU)
    if found is None:
        raise BenchError(
            f"The qemu runner needs {QEMU} (Debian/Ubuntu: apt-get install qemu-user), then "
            f"run: {sysroot.PREPARE_COMMAND}"
        )
    return found


def command(
    job: Job, core: sysroot.Core, where: Path, qemu: str, outputs: Path | None = None
) -> list[str]:
    """``qemu-aarch64 -L VIEW -cpu MODEL python3.11 -s -E board_script.py ...``: -E and -s keep
    this host's PYTHON* variables and user site (x86 modules) away from the board's Python."""
    view = sysroot.view(where, core)
    python = view / "usr" / "bin" / f"python{sysroot.PYTHON}"
    words = [qemu, "-L", str(view), "-cpu", core.qemu, str(python), "-s", "-E", str(SCRIPT)]
    words += script_args(job, str(job.model.resolve()), str(job.inputs))
    if outputs is not None:
        words += ["--save-outputs", str(outputs)]
    return words


class QemuRunner(Runner):
    """an emulated arm64 core on this host (qemu-aarch64)"""

    def run(self, job: Job, board: Board) -> dict[str, Any]:
        return self.run_saving(job, board, None)

    def run_saving(self, job: Job, board: Board, outputs: Path | None) -> dict[str, Any]:
        """The board script's result; with ``outputs``, each input row's outputs saved there
        (an ``.npz`` keyed by the model's output names): this host's file system is the
        emulated board's."""
        qemu = qemu_binary()
        where = sysroot.require(self.options.runtimes)
        core = core_for(self.options.emulated_cpu)
        words = command(job, core, where, qemu, outputs)
        log.info("qemu: %s", shlex.join(words))
        with tempfile.TemporaryDirectory(prefix="edgedistil-qemu-home-") as home:
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "TMPDIR": home}
            try:
                done = subprocess.run(
                    words,
                    capture_output=True,
                    text=True,
                    timeout=job.timeout_s + _GRACE_S,
                    stdin=subprocess.DEVNULL,
                    env=env,
                )
            except subprocess.TimeoutExpired:
                raise BenchError(
                    f"Board {board.label}: the emulated benchmark ran past {job.timeout_s:g} s "
                    "and was stopped; fewer --runs or a larger --timeout"
                ) from None
        if done.returncode in (-4, 132):  # SIGILL: a kernel this core does not have
            raise BenchError(
                f"Board {board.label}: illegal instruction on the emulated {core.name} "
                f"(qemu -cpu {core.qemu}): the runtime ran an instruction this core lacks"
            )
        self._refuse_too_new(job.model, board, done.stdout)
        return read_result(board, done.stdout, done.stderr, done.returncode)

    def _refuse_too_new(self, model: Path, board: Board, stdout: str) -> None:
        """One line when the board's runtime version cannot load the file: the file needs a
        newer runtime than the target installs ([export].runtime_versions)."""
        data = last_json_object(stdout)
        reason = too_new(str(data.get("error") or "")) if data else None
        if reason is None:
            return
        package = PACKAGES[model.suffix.lower()]
        version = self.options.runtimes.version_of(package)
        raise BenchError(
            f"Board {board.label}: {model.name} needs a newer {package} than the target "
            f"installs ({package}=={version}, [export].runtime_versions): {reason}"
        )


def too_new(error: str) -> str | None:
    """The runtime's own words, when its refusal says the file is newer than it: a higher ONNX
    IR version or opset, a LiteRT builtin operator version it does not have."""
    for marker in TOO_NEW:
        at = error.find(marker)
        if at >= 0:
            return " ".join(error[at:].split())[:240]
    return None
