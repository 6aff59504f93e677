"""Teacher outputs and one epoch: 1 or 2 processes, the teacher cache in RAM or on disk.

Distils an embedding student (``--layers`` of the default teacher, all-MiniLM-L6-v2) on the first
``N`` sentences of an SST-2 ``train.tsv`` (column ``sentence``), one epoch: 1 and 2 processes
under torch's launcher (gloo on the CPU), with the teacher cache forced into RAM
(``cache_teacher="on"``) or onto disk memory-mapped (``"disk"``). Each process gets an equal
share of the cores (``OMP_NUM_THREADS``); a 1-process, 1-thread run is the control. Prints, side
by side, the wall seconds of the "teacher outputs" phase (rank 0: its share of the rows, the
wait for the other rank, reading every shard) and of the epoch's training steps, with ratios to
1 process in RAM.

    .venv/bin/python benchmarks/teacher_cache.py --n 2000 [--data /work/shared/data/sst2/train.tsv]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (processes, cache_teacher, threads a process; 0: the cores shared equally). The 1-thread single
# process is the control: on busy cores two OpenMP threads of one process wait on each other, which
# alone can make 2 one-thread processes look faster than 1 process.
SETUPS = [(1, "on", 0), (1, "disk", 0), (1, "on", 1), (2, "on", 0), (2, "disk", 0)]


class _Clock:
    """A train.Progress that notes when the teacher phase starts and the epoch's steps end."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def phase(self, name: str, steps: int) -> None:
        self.marks["phase"] = time.perf_counter()

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        self.marks["start"] = time.perf_counter()

    def advance(self, loss: float, examples: int) -> None:
        self.marks["last_step"] = time.perf_counter()

    def end(self, epoch: int, metrics: dict[str, float]) -> None:
        pass


def worker(args: argparse.Namespace) -> None:
    """One process of one setup (launched by torchrun): distils, writes rank 0's timings."""
    from edgedistil.distill.job import Job, distill
    from edgedistil.distill.train import Settings

    clock = _Clock()
    settings = Settings(
        task="", epochs=1, seq_len=args.seq_len, patience=None, cache_teacher=args.cache
    )
    job = Job(
        teacher="default",
        data=args.text,
        out=args.out / "student",
        settings=settings,
        layers=args.layers,
    )
    distill(job, clock)
    if os.environ.get("RANK", "0") == "0":
        m = clock.marks
        seconds = {"teacher": m["start"] - m["phase"], "epoch": m["last_step"] - m["start"]}
        (args.out / "seconds.json").write_text(json.dumps(seconds))


def _sentences(path: Path, n: int, into: Path) -> Path:
    with path.open(newline="") as fh:
        rows = [r["sentence"].strip() for r in csv.DictReader(fh, delimiter="\t")]
    into.write_text("\n".join(rows[:n]) + "\n")
    return into


def _launch(
    processes: int, cache: str, threads: int, text: Path, args: argparse.Namespace
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))  # a free port for the rendezvous
        port = probe.getsockname()[1]
        probe.close()
        cores = len(os.sched_getaffinity(0))
        env = {**os.environ, "OMP_NUM_THREADS": str(threads or max(1, cores // processes))}
        cmd = [
            sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
            f"--master_port={port}", "--master_addr=127.0.0.1", __file__, "--worker",
            "--text", str(text), "--out", tmp, "--cache", cache,
            "--layers", str(args.layers), "--seq-len", str(args.seq_len),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        seconds: dict[str, float] = json.loads((Path(tmp) / "seconds.json").read_text())
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/sst2/train.tsv"))
    parser.add_argument("--n", type=int, default=2000, help="sentences read from --data")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--seq-len", type=int, default=64)  # SST-2 sentences fit in 64 tokens
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--text", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", default="on", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    cores = len(os.sched_getaffinity(0))
    print(
        f"{args.layers}-layer embedding student of the default teacher, {args.n} sentences of "
        f"{args.data} (90% trained on), 1 epoch, sequence {args.seq_len}, {cores} cores"
    )
    print(
        "| processes | threads each | cache | teacher outputs s | epoch s | teacher ratio "
        "| epoch ratio |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        text = _sentences(args.data, args.n, Path(tmp) / "sentences.txt")
        base: dict[str, float] = {}
        for processes, cache, threads in SETUPS:
            s = _launch(processes, cache, threads, text, args)
            base = base or s
            where = "RAM" if cache == "on" else "disk"
            ratios = [s[k] / base[k] for k in ("teacher", "epoch")]
            print(
                f"| {processes} | {threads or max(1, cores // processes)} | {where} | "
                f"{s['teacher']:.1f} | {s['epoch']:.1f} | "
                f"{ratios[0]:.2f} | {ratios[1]:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
