"""Run under torchrun by test_teacher_cache: distils a tiny embedding student and records, per
process, which rows it ran the teacher on and the "teacher outputs" phase it reported.

    python -m torch.distributed.run --nproc_per_node 2 teacher_rows_worker.py TEACHER DATA OUT MODE
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from edgedistil.distill import train
from edgedistil.distill.job import Job, distill


class _Recorder:
    """A train.Progress that keeps the phases it is told about."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, int]] = []

    def phase(self, name: str, steps: int) -> None:
        self.phases.append((name, steps))

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def advance(self, loss: float, examples: int) -> None:
        pass

    def end(self, epoch: int, metrics: dict[str, float]) -> None:
        pass


def main() -> None:
    teacher, data, out, mode = sys.argv[1:5]
    rows: list[int] = []
    run_teacher = train._run_teacher

    def counting(run: Any, batch: Any) -> Any:
        rows.extend(batch["index"].tolist())
        return run_teacher(run, batch)

    train._run_teacher = counting  # type: ignore[assignment]  # counts each teacher forward
    progress = _Recorder()
    settings = train.Settings(
        task="", epochs=2, batch_size=8, seq_len=16, patience=None, cache_teacher=mode
    )
    distill(
        Job(teacher=teacher, data=Path(data), out=Path(out), settings=settings, layers=1),
        progress,
    )
    record = {"rows": rows, "phase": progress.phases[0] if progress.phases else None}
    rank = os.environ["RANK"]
    (Path(out) / f"teacher-rows-{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
