"""What every benchmark times with: one ONNX Runtime session factory and one interleaved timer.

- ``session``: an ORT CPU session as an application runs a model (ORT's own kernels), on
  explicit threads. Accuracy that must match the target's int8 arithmetic is computed on the
  product's verifying session, ``edgedistil.verify.kernels.session``, never on this one.
- ``time_interleaved``: any callables (ORT sessions, LiteRT interpreters, subprocesses), timed
  round-robin in the same run; every run's milliseconds come back per candidate.
- ``Timed.percentile`` / ``Timed.median``: ``edgedistil.bench.stats``, the definitions the bench
  and the board script use, so a benchmark's p95 is the product's p95.

The scripts beside this file import it as ``_timing`` (a script's own folder is first on
``sys.path``); the tests import it as ``benchmarks._timing``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil.bench import stats

# Untimed calls of every candidate, all before the first timed round. The first calls of a
# session or interpreter allocate its buffers, pack weights (MLAS, XNNPACK) and fault pages in;
# ten are past that for every runtime timed here, and ten is what the board script does too.
WARMUP = 10


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One thing to time. ``call(i)`` is its i-th run (0 <= i < ``runs``): a candidate that
    walks a list of inputs feeds input i, so all candidates see the same input in a round."""

    name: str
    call: Callable[[int], object]
    runs: int


@dataclass(frozen=True, kw_only=True)
class Timed:
    """Every timed run of one candidate, in milliseconds, in run order."""

    name: str
    ms: tuple[float, ...]

    def percentile(self, q: float) -> float:
        return stats.percentile(self.ms, q)

    @property
    def median(self) -> float:
        return stats.median(self.ms)


def time_interleaved(
    candidates: Sequence[Candidate],
    *,
    rounds: int,
    warmup: int = WARMUP,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Timed]:
    """Every run of every candidate, timed round-robin in ``rounds`` rounds.

    In round r each candidate in turn times its r-th share of its runs, the order rotated by one
    each round: a burst of load from another process, or a change of clock frequency, then lands
    on every candidate alike instead of on whichever ran during it, and the ratios between them
    stay fair. ``rounds`` is capped at the fewest runs of any candidate, so every candidate runs
    in every round. ``progress(r, rounds)`` is called after round r (from 1).
    """
    _check(candidates, rounds, warmup)
    rounds = min(rounds, *(c.runs for c in candidates))
    for c in candidates:
        for i in range(warmup):
            c.call(i % c.runs)
    ms: dict[str, list[float]] = {c.name: [] for c in candidates}
    for r in range(rounds):
        shift = r % len(candidates)
        for c in [*candidates[shift:], *candidates[:shift]]:
            for i in range(r * c.runs // rounds, (r + 1) * c.runs // rounds):
                start = clock()
                c.call(i)
                ms[c.name].append((clock() - start) * 1000)
        if progress is not None:
            progress(r + 1, rounds)
    return {name: Timed(name=name, ms=tuple(values)) for name, values in ms.items()}


def _check(candidates: Sequence[Candidate], rounds: int, warmup: int) -> None:
    problems = []
    if not candidates:
        problems.append("no candidates")
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        problems.append(f"duplicate candidate names in {names}")
    problems += [f"{c.name!r} has runs={c.runs}; at least 1" for c in candidates if c.runs < 1]
    if rounds < 1:
        problems.append(f"rounds={rounds}; at least 1")
    if warmup < 0:
        problems.append(f"warmup={warmup}; at least 0")
    if problems:
        raise ValueError("time_interleaved: " + "; ".join(problems))


def session(
    model: Path | str | bytes,
    *,
    threads: int,
    level: str = "all",
    optimized_to: Path | None = None,
) -> Any:
    """An ORT CPU session for timing: ORT's default kernels, as an application runs the model.

    ``threads`` intra-op threads, one inter-op thread, sequential execution: a BERT graph is a
    chain, so parallel branches buy nothing, and every candidate of a benchmark runs on the same
    threads. ``level`` is ORT's graph optimization level: "all" (its default), "basic" (what an
    ``.ort`` file is saved with; no fusions) or "none". ``optimized_to`` saves the graph ORT
    actually runs after those optimizations.
    """
    import onnxruntime as ort  # type: ignore[import-untyped]

    from edgedistil.verify.kernels import optimization_level

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = optimization_level(level)
    if optimized_to is not None:
        options.optimized_model_filepath = str(optimized_to)
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def optimized_graph(path: Path, *, threads: int, out: Path) -> Path:
    """The graph ORT actually runs for ``path`` at its default level, written to ``out``."""
    session(path, threads=threads, optimized_to=out)
    return out
