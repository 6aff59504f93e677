"""How well does an embedding student follow its teacher, and at which learning rate?

Distils students of the default teacher (all-MiniLM-L6-v2) on a text file (default: the shipped
sample text) at several learning rates and prints, per epoch, the mean cosine between the
student's and the teacher's sentence embeddings on the held-out 10%, with the wall time.

    .venv/bin/python benchmarks/distill_embedding.py [--text FILE] [--layers 3] [--epochs 6] \\
        [--lr 2e-4 5e-4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from edgedistil.data import SAMPLE_TEXT
from edgedistil.distill.job import Job, distill
from edgedistil.distill.train import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, default=SAMPLE_TEXT)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--lr", type=float, nargs="+", default=[2e-4, 5e-4])
    args = parser.parse_args()
    settings = Settings(task="", epochs=args.epochs, seq_len=args.seq_len, patience=None)
    print(
        f"{args.layers}-layer students of the default teacher on {args.text.name}, "
        f"{args.epochs} epochs, sequence {args.seq_len}; eval cosine to the teacher per epoch"
    )
    print(
        "| lr | " + " | ".join(f"epoch {e}" for e in range(1, args.epochs + 1)) + " | wall time |"
    )
    print("|---:|" + "---:|" * (args.epochs + 1))
    for lr in args.lr:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            outcome = distill(
                Job(
                    teacher="default",
                    data=args.text,
                    out=Path(tmp) / "s",
                    settings=settings,
                    layers=args.layers,
                    lr=lr,
                )
            )
            minutes = (time.perf_counter() - started) / 60
        cosines = " | ".join(f"{h['cosine']:.4f}" for h in outcome.state.history)
        print(f"| {lr:g} | {cosines} | {minutes:.1f} min |", flush=True)


if __name__ == "__main__":
    main()
