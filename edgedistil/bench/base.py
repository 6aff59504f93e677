"""The runner interface, its registry, and what every runner shares.

A runner takes a ``Job`` (the model, the token inputs, how many runs) to one ``Board`` and
returns the board script's JSON object, or raises ``BenchError`` naming the board. The names
live in ``edgedistil.runners``, which imports a built-in runner's module only when it runs; a
runner written elsewhere (a plug-in, a test's fake) is one class:

    @register_runner("serial")
    class SerialRunner(Runner):
        def run(self, job: Job, board: Board) -> dict[str, Any]: ...
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
import shlex
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from edgedistil import runners
from edgedistil.bench.sysroot import Spec
from edgedistil.errors import BenchError

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("board_script.py")
SCRIPT_NAME = "board_script.py"
MODEL_SUFFIXES = (".onnx", ".tflite")
RESULT_KEYS = ("latency_ms", "memory", "runtime", "board", "load_ms", "first_inference_ms")
# What a directory made by mktemp may look like before we ever run rm -rf on it.
_SAFE_DIR = re.compile(r"^/[A-Za-z0-9._/-]+$")


@dataclass(frozen=True, kw_only=True)
class Board:
    """One place to run: ``address`` is user@host[:port] for ssh, a serial for adb."""

    label: str
    runner: str
    address: str | None = None
    python: str | None = None


@dataclass(frozen=True, kw_only=True)
class Job:
    """What to run on every board: the model, the token inputs and the counts.

    ``inputs`` is a host directory of ``.npy`` files (``input_ids.npy``, ...), shipped as is.
    ``text``: the name of the sentences file in it, whose tokenizer files lie there too; the
    board then tokenises the text itself, padded to ``sequence_length`` (``inputs.write_text``).
    """

    model: Path
    inputs: Path
    runs: int
    warmup: int
    threads: int
    cpus: str = ""
    timeout_s: float = 900.0
    text: str | None = None
    sequence_length: int = 128


@dataclass(frozen=True, kw_only=True)
class Options:
    """How boards are reached; each runner reads the fields it needs."""

    python: str | None = None  # None: python3 on a board, this interpreter locally
    ssh_config: Path | None = None
    connect_timeout_s: int = 10
    benchmark_model: Path | None = None
    emulated_cpu: str | None = None  # qemu: a profile's [device].cpu; None is qemu.DEFAULT_CPU
    runtimes: Spec = field(default_factory=Spec)  # qemu: the runtime versions the board installs


def qemu_options(options: Options, cpu: str, runtime_versions: tuple[str, ...]) -> Options:
    """``options`` with a target's core and runtime versions where the user gave none."""
    return replace(
        options,
        emulated_cpu=options.emulated_cpu or cpu,
        runtimes=Spec.of(runtime_versions) if runtime_versions else options.runtimes,
    )


class Runner(ABC):
    """Runs the board script (or an equivalent) for one job on one board."""

    name: ClassVar[str] = ""

    def __init__(self, options: Options) -> None:
        self.options = options

    @abstractmethod
    def run(self, job: Job, board: Board) -> dict[str, Any]:
        """The board's result object (``"ok": true``); ``BenchError`` naming the board if not."""


R = TypeVar("R", bound=type[Runner])


def register_runner(name: str, *, address: bool = False) -> Callable[[R], R]:
    """Register a runner class defined in-process; ``address``: it reaches a board at an
    address that [bench].host_env names."""

    def add(cls: R) -> R:
        doc = (cls.__doc__ or name).strip().splitlines()[0]
        runners.register_runner(
            runners.RunnerEntry(name=name, description=doc, runner=cls, address=address)
        )
        cls.name = name
        return cls

    return add


def runner_names() -> list[str]:
    return list(runners.runner_names())


def make_runner(name: str, options: Options, where: str = "") -> Runner:
    """The registered runner ``name``; an unknown name lists the known ones."""
    if not runners.is_runner(name):
        hint = (
            " (the target has no board runner; try --runner local)" if name == runners.NONE else ""
        )
        raise BenchError(
            f'Unknown runner "{name}"{where}{hint}; known: {", ".join(runners.runner_names())}'
        )
    cls: type[Runner] = runners.get_runner(name).load()
    cls.name = name
    return cls(options)


# ---- the board script's command line and output ----


def script_args(job: Job, model: str, inputs: str, output: str = "") -> list[str]:
    """Arguments after ``python board_script.py``; paths as the board sees them."""
    args = [
        "--model",
        model,
        "--inputs",
        inputs,
        "--runs",
        str(job.runs),
        "--warmup",
        str(job.warmup),
        "--threads",
        str(job.threads),
        "--timeout",
        f"{job.timeout_s:g}",
    ]
    if job.cpus:
        args += ["--cpus", job.cpus]
    if job.text:  # the tokenizer's files lie beside the text, under their own names
        text = posixpath.join(inputs, job.text)
        args += ["--text", text, "--tokenizer", inputs, "--length", str(job.sequence_length)]
    if output:
        args += ["--output", output]
    return args


def remote_model_name(model: Path) -> str:
    """The fixed name the model gets on a board: the user's file name never reaches a shell."""
    return "model" + model.suffix.lower()


def python_words(python: str) -> list[str]:
    """A board's Python command (``python3``, ``/opt/venv/bin/python``, ``env X=1 python3``)."""
    words = shlex.split(python)
    if not words:
        raise BenchError("The board's Python command is empty; give --python CMD, e.g. python3")
    return words


def read_result(board: Board, stdout: str, stderr: str, returncode: int) -> dict[str, Any]:
    """The board script's JSON object, or a ``BenchError`` saying why there is none."""
    data = last_json_object(stdout)
    if data is None:
        raise BenchError(f"Board {board.label}: {_no_result(stdout, stderr, returncode)}")
    if data.get("ok") is False:
        install = data.get("install")
        hint = f"; install it there with: {install}" if install else ""
        raise BenchError(f"Board {board.label}: the benchmark failed: {data.get('error')}{hint}")
    missing = [key for key in RESULT_KEYS if key not in data]
    if data.get("ok") is not True or missing:
        raise BenchError(
            f"Board {board.label}: returned JSON that is not a benchmark result "
            f"(missing {', '.join(missing) or 'ok'}): {_snippet(stdout)}; "
            "is board_script.py on the board from another edgedistil version?"
        )
    _check_result(board, data)
    return data


def _check_result(board: Board, data: dict[str, Any]) -> None:
    """What will be stored is what the gate and ``--compare`` can read back (``records.bench``):
    a result they would refuse later is refused now, naming the board."""
    from edgedistil.records import parse
    from edgedistil.records.bench import BoardResult

    parse(BoardResult, data, f"Board {board.label}: the benchmark result", error=BenchError)


def last_json_object(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        return data if isinstance(data, dict) else None
    return None


def _no_result(stdout: str, stderr: str, returncode: int) -> str:
    last = last_line(stderr)
    if returncode == 127:
        return (
            f"the board has no such Python (exit 127){_tail(last)}; install python3 there "
            "or give the board's Python with --python CMD"
        )
    if returncode < 0 or returncode >= 128:
        signal = -returncode if returncode < 0 else returncode - 128
        return (
            f"the benchmark was killed by signal {signal} before it reported (exit "
            f"{returncode}; 9 is often the out-of-memory killer){_tail(last)}; "
            "check the board's free memory and dmesg, then run again"
        )
    if stdout.strip():
        return (
            f"returned no JSON result (exit {returncode}); its output begins "
            f"{_snippet(stdout)}{_tail(last)}; check the board's Python (--python)"
        )
    return f"the benchmark exited {returncode} and printed nothing{_tail(last)}"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _tail(line: str) -> str:
    return f"; stderr: {line[:200]}" if line else ""


def _snippet(text: str) -> str:
    return repr(" ".join(text.split())[:80])


# ---- the private directory on a board ----


@dataclass(frozen=True, kw_only=True)
class Workspace:
    """A private directory on a board and the room around it, as ``preflight`` reported."""

    path: str
    free_disk_bytes: int | None
    available_memory_bytes: int | None
    python: str | None = None


def preflight_script(base: str | None, find_python: bool) -> str:
    """POSIX sh that makes a private directory under ``base`` and reports the room around it.

    ``base`` None is the board's ``$TMPDIR``, else /tmp. Works on Debian's dash, BusyBox and
    Android's toybox: no awk, the host parses what it prints.
    """
    base_expr = '"${TMPDIR:-/tmp}"' if base is None else shlex.quote(base)
    lines = [
        "set -u",
        f"d=$(mktemp -d {base_expr}/edgedistil.XXXXXXXX) || exit 97",
        'echo "@@dir=$d"',
        'echo "@@df"; df -Pk "$d" 2>/dev/null; echo "@@end"',
        "grep -E '^MemAvailable:' /proc/meminfo 2>/dev/null",
    ]
    if find_python:
        lines.append('echo "@@python=$(command -v python3 || command -v python || true)"')
    return "\n".join(lines)


def parse_preflight(board: Board, text: str) -> Workspace:
    path, python, in_df, df_lines, memory = "", None, False, [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("@@dir="):
            path = line.removeprefix("@@dir=")
        elif line.startswith("@@python="):
            python = line.removeprefix("@@python=") or None
        elif line in ("@@df", "@@end"):
            in_df = line == "@@df"
        elif in_df:
            df_lines.append(line)
        elif line.startswith("MemAvailable:"):
            memory = _int(line.split()[1:2], scale=1024)
    if not _SAFE_DIR.match(path) or ".." in path.split("/"):
        raise BenchError(
            f"Board {board.label}: could not make a private directory with mktemp -d "
            f"(got {path!r}); check that /tmp (or $TMPDIR) is writable there"
        )
    # df -P: a header, then one line per filesystem; the 4th field is the free KiB.
    disk = _int(df_lines[-1].split()[3:4], scale=1024) if len(df_lines) > 1 else None
    return Workspace(path=path, free_disk_bytes=disk, available_memory_bytes=memory, python=python)


def _int(fields: list[str], scale: int) -> int | None:
    return int(fields[0]) * scale if fields and fields[0].isdigit() else None


def check_room(board: Board, space: Workspace, upload_bytes: int, model_bytes: int) -> None:
    """Refuse before copying when the model cannot fit the board's disk or memory."""
    problems = []
    if space.free_disk_bytes is not None and upload_bytes > space.free_disk_bytes:
        problems.append(
            f"the upload ({_mib(upload_bytes)}) exceeds the free disk in {space.path} "
            f"({_mib(space.free_disk_bytes)}): free space there or set TMPDIR on the board"
        )
    if space.available_memory_bytes is not None and model_bytes > space.available_memory_bytes:
        problems.append(
            f"the model ({_mib(model_bytes)}) exceeds the board's available memory "
            f"({_mib(space.available_memory_bytes)}, MemAvailable): a smaller student or "
            "a board with more memory"
        )
    if problems:
        raise BenchError(f"Board {board.label}: " + "; ".join(problems))


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def cleanup_script(path: str) -> str:
    if not _SAFE_DIR.match(path):
        raise BenchError(f"refusing to remove {path!r}: not a directory made by mktemp")
    return f"rm -rf -- {shlex.quote(path)}"


def input_files(job: Job) -> list[Path]:
    """What goes with the model: the ``.npy`` ids and, in text mode, the text and the tokenizer's
    files. By name: the local runner's runtime writes its own temporary files in the same
    directory, and a fleet may stage it for another board meanwhile."""
    from edgedistil.tokens import TOKENIZER_FILES

    found = set(job.inputs.glob("*.npy"))
    if job.text:
        names = (job.text, *TOKENIZER_FILES)
        found.update(job.inputs / name for name in names if (job.inputs / name).is_file())
    return sorted(found)


def stage_files(job: Job, stage: Path) -> list[Path]:
    """The files to upload, under fixed names in ``stage``: linked where possible, else copied.

    Fixed names (``model.onnx``, ``board_script.py``, ``input_ids.npy``, ``sentences.jsonl``,
    ``vocab.txt``) mean no user-chosen name ever reaches a board's shell or an ``scp``
    destination.
    """
    sources = {remote_model_name(job.model): job.model, SCRIPT_NAME: SCRIPT}
    sources.update({p.name: p for p in input_files(job)})
    staged = []
    for name, source in sources.items():
        target = stage / name
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        staged.append(target)
    return staged
