"""Does an embedding student keep what its embeddings are used for? Cosine to the teacher beside
nearest-neighbour and linear-probe accuracy on labelled text, student against teacher.

Distils students of the default teacher (all-MiniLM-L6-v2) on unlabelled text with each recipe
(today's losses; + augmentation; + attention relations) and prints the record every ``distill``
writes (``edgedistil.json`` ``vs_teacher``) with the wall time. The figures are measured on the
--eval file, which no student trains on; ``distill --eval`` picks the best epoch on it, so with
more than one epoch they are a little optimistic (the default, one epoch, picks nothing).

    .venv/bin/python benchmarks/embedding_probe.py UNLABELLED.txt LABELLED_EVAL.tsv \\
        [--rows 10000] [--layers 3] [--epochs 1] [--recipes plain aug att] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.distill_sst2 import trained
from edgedistil.distill.job import Job, distill
from edgedistil.distill.train import Settings

RECIPES = ("plain", "aug", "att")


def main() -> None:
    args = _args()
    work = args.work or Path(tempfile.mkdtemp(prefix="embedding-probe-"))
    work.mkdir(parents=True, exist_ok=True)
    lines = [t for t in args.text.read_text(encoding="utf-8").splitlines() if t.strip()]
    text = work / f"text-{args.rows}.txt"
    text.write_text("\n".join(lines[: args.rows]) + "\n", encoding="utf-8")
    base = Settings(task="", epochs=args.epochs, seq_len=args.seq_len, patience=None)
    print(f"work folder {work}", flush=True)
    rows = []
    for recipe in args.recipes:
        settings = base
        if recipe == "aug":
            settings = replace(base, augment=args.augment)
        if recipe == "att":
            settings = replace(base, weights=replace(base.weights, att=args.alpha_att))
        name = f"{args.layers}l-{recipe}"
        job = Job(
            teacher="default",
            data=text,
            out=work / name,
            settings=settings,
            layers=args.layers,
            eval_path=args.eval,
        )
        _, _, seconds = trained(name, distill, job, work)
        record = json.loads((work / name / "edgedistil.json").read_text())["vs_teacher"]
        rows.append((recipe, record, seconds))
    _table(args, rows)


def _table(args: argparse.Namespace, rows: list[tuple[str, dict, float | None]]) -> None:  # type: ignore[type-arg]
    print()
    print(
        f"{args.layers}-layer students of all-MiniLM-L6-v2 on the first {args.rows} lines of "
        f"{args.text.name}, {args.epochs} epoch(s), sequence {args.seq_len}; measured on "
        f"{args.eval.name}"
    )
    print(
        "| recipe | cosine | 1-NN student / teacher | retention | probe student / teacher "
        "| retention | wall time |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for recipe, r, seconds in rows:
        nn, probe = r.get("nearest_neighbour", {}), r.get("linear_probe", {})
        print(
            f"| {recipe} | {r['cosine']:.4f} | {_pair(nn)} | {_share(nn)} | {_pair(probe)} "
            f"| {_share(probe)} | {'-' if seconds is None else f'{seconds / 60:.1f} min'} |"
        )


def _pair(m: dict) -> str:  # type: ignore[type-arg]
    if "student_accuracy" not in m:
        return m.get("left_out", "-")
    return f"{100 * m['student_accuracy']:.2f} / {100 * m['teacher_accuracy']:.2f}"


def _share(m: dict) -> str:  # type: ignore[type-arg]
    return f"{100 * m['retention']:.2f}%" if m.get("retention") is not None else "-"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", type=Path, help="unlabelled text, one sentence a line")
    parser.add_argument("eval", type=Path, help="labelled eval text (TSV/CSV/JSONL)")
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--augment", type=int, default=2)
    parser.add_argument("--alpha-att", type=float, default=1.0)
    parser.add_argument("--work", type=Path, default=None)
    return parser.parse_args()


if __name__ == "__main__":
    main()
