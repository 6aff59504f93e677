"""``edgedistil bench``: an artifact, timed where it will live, stored beside it.

The stages in order: check the artifact and the boards (every mistake before any board is
touched), tokenise the text on the host, run every board at once, then store each result with
the artifact's sha256 and compare it with that board's previous run on the same bytes.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedistil.bench import fleet, inputs, machine, results
from edgedistil.bench.base import MODEL_SUFFIXES, Board, Job, Options, make_runner, qemu_options
from edgedistil.errors import BenchError

log = logging.getLogger(__name__)

_CPUS = re.compile(r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$")


@dataclass(frozen=True, kw_only=True)
class Request:
    artifact: Path
    target: str | None = None
    runner: str | None = None
    boards: tuple[str, ...] = ()
    fleet: Path | None = None
    runs: int = 100
    warmup: int = 10
    threads: int | None = None
    cpus: str = ""
    tokenizer: Path | None = None
    text: Path | None = None
    rows: int = inputs.DEFAULT_ROWS
    timeout_s: float = 900.0
    options: Options = field(default_factory=Options)
    compare: bool = False
    threshold: float = results.DEFAULT_THRESHOLD
    host_is_target: bool = False  # the user says this host is the target device itself


@dataclass(frozen=True, kw_only=True)
class BoardReport:
    board: Board
    result: dict[str, Any] | None = None
    error: str | None = None
    saved: Path | None = None
    comparison: results.Comparison | None = None


@dataclass(frozen=True, kw_only=True)
class Report:
    artifact: Path
    sha256: str | None
    target: str | None
    threads: int
    boards: tuple[BoardReport, ...]

    @property
    def failed(self) -> tuple[BoardReport, ...]:
        return tuple(b for b in self.boards if b.error is not None)

    @property
    def regressed(self) -> tuple[BoardReport, ...]:
        return tuple(b for b in self.boards if b.comparison and b.comparison.regressed)


def bench(request: Request) -> Report:
    artifact = _check_artifact(request.artifact)
    profile = None
    if request.target is not None:
        from edgedistil.profiles import load_profile

        profile = load_profile(request.target)
    runner = request.runner or (profile.bench.runner if profile else "local")
    where = "" if request.runner or not profile else f" ([bench].runner of {profile.name})"
    make_runner(runner, request.options, where)  # an unknown name fails before anything else
    if request.host_is_target:
        machine.check_host_is_target(runner, profile)
    boards = fleet.resolve_boards(
        runner=runner,
        addresses=request.boards,
        fleet=request.fleet,
        host_env=profile.bench.host_env if profile else None,
    )
    options = request.options
    if profile is not None:  # qemu emulates the target's core with the runtimes it installs
        options = qemu_options(options, profile.device.cpu, profile.export.runtime_versions)
    runners = {b.runner: make_runner(b.runner, options) for b in boards}
    results.read_history(artifact)  # a history that cannot be kept fails before any board runs
    if request.cpus and not _CPUS.match(request.cpus):
        raise BenchError(f"--cpus {request.cpus!r}: expected CPU numbers like 0-3 or 0,2")
    threads = request.threads or (profile.bench.threads if profile else os.cpu_count() or 1)
    host_cores = os.cpu_count() or 1
    if runner == "local" and threads > host_cores:
        # More threads than cores only measures the scheduler; the board's count can't be had here.
        log.warning(
            "%d threads asked for (%s) but this host has %d cores; timing with %d",
            threads,
            "--threads"
            if request.threads
            else f"[bench].threads of {profile.name if profile else '?'}",
            host_cores,
            host_cores,
        )
        threads = host_cores
    length = profile.export.sequence_length if profile else inputs.DEFAULT_SEQUENCE_LENGTH
    with tempfile.TemporaryDirectory(prefix="edgedistil-inputs-") as directory:
        job, expected = _job(request, artifact, length, threads, Path(directory))
        outcomes = fleet.run_all(
            boards, lambda b: _checked(b, runners[b.runner].run(job, b), expected)
        )
    return _store(request, artifact, profile.name if profile else None, threads, outcomes)


def _job(
    request: Request, artifact: Path, length: int, threads: int, directory: Path
) -> tuple[Job, list[str] | str]:
    """The job, its ids written to ``directory``; and the digests of the host's ids that a board
    tokenising the text must reproduce, or why the board is fed ids only."""
    sentences = inputs.read_sentences(inputs.locate_text(request.text), request.rows)
    tokenizer = inputs.locate_tokenizer(artifact, request.tokenizer)
    tokens = inputs.tokenize(tokenizer, sentences, length)
    refusal = inputs.text_mode_refusal(artifact, tokenizer, request.tokenizer, sentences)
    job = Job(
        model=artifact,
        inputs=inputs.write_inputs(tokens, directory),
        runs=request.runs,
        warmup=request.warmup,
        threads=threads,
        cpus=request.cpus,
        timeout_s=request.timeout_s,
        text=None if refusal else inputs.write_text(sentences, tokenizer, directory),
        sequence_length=length,
    )
    return job, refusal or inputs.digests(tokens)


def _checked(board: Board, result: dict[str, Any], expected: list[str] | str) -> dict[str, Any]:
    """A board's result whose tokenisation agrees with the host's, or says why it was not run."""
    if isinstance(expected, str):
        return inputs.not_measured(result, expected)
    return inputs.check_tokenized(board.label, result, expected)


def _check_artifact(path: Path) -> Path:
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise BenchError(f"Artifact {path} {what}; give an .onnx or .tflite file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise BenchError(
            f"Artifact {path}: {path.suffix or 'no suffix'} is not a format a board runs; "
            f"give one of {', '.join(MODEL_SUFFIXES)}"
        )
    return path.resolve()


def _store(
    request: Request,
    artifact: Path,
    target: str | None,
    threads: int,
    outcomes: list[fleet.Outcome],
) -> Report:
    # Hash only when something is stored: the bytes are read once, after the boards are done.
    sha = _sha256(artifact) if any(o.result for o in outcomes) else None
    reports = []
    for outcome in outcomes:
        if outcome.result is None or sha is None:
            reports.append(BoardReport(board=outcome.board, error=outcome.error))
            continue
        entry = results.record(
            artifact=artifact,
            sha256=sha,
            board=outcome.board.label,
            runner=outcome.board.runner,
            target=target,
            result=outcome.result,
            ran_on=machine.ran_on(
                runner=outcome.board.runner,
                address=outcome.board.address,
                label=outcome.board.label,
                result=outcome.result,
                host_is_target=request.host_is_target,
            ),
        )
        before = results.previous(artifact, outcome.board.label, sha)
        try:
            saved = results.store(artifact, entry)
        except OSError as exc:
            raise BenchError(
                f"Cannot store results in {results.results_dir(artifact)}: {exc.strerror}; "
                "make the artifact's directory writable"
            ) from None
        comparison = None
        if request.compare:
            comparison = results.compare(outcome.board.label, entry, before, request.threshold)
        reports.append(
            BoardReport(board=outcome.board, result=entry, saved=saved, comparison=comparison)
        )
    return Report(
        artifact=artifact, sha256=sha, target=target, threads=threads, boards=tuple(reports)
    )


def _sha256(path: Path) -> str:
    from edgedistil.teacher import sha256_of

    return sha256_of(path)
