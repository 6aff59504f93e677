"""Which distillation recipe earns its name? Hard labels alone against knowledge distillation,
with and without augmentation (``distill --augment``) and attention-relation transfer
(``--alpha-att``), for several student shapes, over several seeds, on one labelled set.

1. fine-tune the teacher encoder into a classifier on the training rows (or take --teacher-dir);
2. distil each student shape with each recipe and seed, all from the same teacher and rows;
3. print, per shape and recipe, dev accuracy as mean and spread over the seeds, retention
   (student / teacher), the gain over hard labels alone, and the wall time against today's KD.

Best epochs are picked on a held-out 10% of the training rows; the dev file is read only for the
final accuracy of each finished model. Everything goes through ``edgedistil distill``'s code.

    .venv/bin/python benchmarks/distill_recipes.py ../shared/data/sst2/train.tsv \\
        ../shared/data/sst2/dev.tsv --subset 2000 --teacher-dir TEACHER \\
        [--shapes 3 2 2:256] [--recipes hard kd kd+aug kd+att kd+aug+att] [--seeds 1 2 3] \\
        [--augment 4] [--alpha-att 1.0] [--work DIR]

A restarted run with the same --work reuses every model it finished.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.distill_sst2 import dev_accuracy, subset, trained
from edgedistil.data import read_examples
from edgedistil.distill.job import Job, distill, finetune
from edgedistil.distill.losses import Weights
from edgedistil.distill.train import Settings

RECIPES = ("hard", "kd", "kd+aug", "kd+att", "kd+aug+att")


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int | None

    @property
    def name(self) -> str:
        return f"{self.layers}l" + (f"-h{self.hidden}" if self.hidden else "")

    @property
    def label(self) -> str:
        return f"{self.layers} layers" + (f", hidden {self.hidden}" if self.hidden else "")


def parse_shape(text: str) -> Shape:
    layers, _, hidden = text.partition(":")
    return Shape(int(layers), int(hidden) if hidden else None)


def recipe_settings(recipe: str, base: Settings, augment: int, alpha_att: float) -> Settings:
    """The recipe's losses on top of today's defaults (DistilBERT's 5 / 2 / 1 at T=2)."""
    if recipe == "hard":
        return replace(base, weights=Weights(kd=0.0, ce=1.0, cos=0.0))
    weights = base.weights
    if "att" in recipe:
        weights = replace(weights, att=alpha_att)
    return replace(base, weights=weights, augment=augment if "aug" in recipe else 0)


def main() -> None:
    args = _args()
    work = args.work or Path(tempfile.mkdtemp(prefix="distill-recipes-"))
    work.mkdir(parents=True, exist_ok=True)
    train = subset(args.train, args.subset, 0, work)
    base = Settings(task="", epochs=args.epochs, batch_size=32, seq_len=args.seq_len, patience=None)
    print(f"work folder {work}", flush=True)
    teacher = args.teacher_dir
    if teacher is None:
        job = Job(teacher=args.teacher, data=train, out=work / "teacher", settings=base)
        trained("teacher", finetune, job, work)
        teacher = work / "teacher"
    teacher_acc = _dev_accuracy(teacher, args.dev, args.seq_len)
    results: dict[tuple[str, str], list[tuple[float, float | None, int]]] = {}
    # seeds outermost: a run stopped early still has every recipe side by side for its seeds
    for seed in args.seeds:
        for shape in map(parse_shape, args.shapes):
            for recipe in args.recipes:
                name = f"{shape.name}-{recipe}-s{seed}"
                settings = replace(
                    recipe_settings(recipe, base, args.augment, args.alpha_att), seed=seed
                )
                job = Job(
                    teacher=str(teacher),
                    data=train,
                    out=work / name,
                    settings=settings,
                    layers=shape.layers,
                    hidden=shape.hidden,
                )
                _, parameters, seconds = trained(name, distill, job, work)
                accuracy = _dev_accuracy(work / name, args.dev, args.seq_len)
                results.setdefault((shape.label, recipe), []).append(
                    (accuracy, seconds, parameters)
                )
    _table(args, results, teacher_acc, len(read_examples(args.dev)))


def _dev_accuracy(folder: Path, dev: Path, seq_len: int) -> float:
    """The dev accuracy, kept in the model's folder so a restarted run does not score it again."""
    kept = folder / "bench-dev-accuracy.txt"
    if not kept.exists():
        kept.write_text(f"{dev_accuracy(folder, dev, seq_len)!r}\n")
    return float(kept.read_text())


def _table(
    args: argparse.Namespace,
    results: dict[tuple[str, str], list[tuple[float, float | None, int]]],
    teacher_acc: float,
    dev_rows: int,
) -> None:
    print()
    print(
        f"Students distilled on {args.subset or 'all'} rows of {args.train.name}, {args.epochs} "
        f"epochs, sequence {args.seq_len}, seeds {' '.join(map(str, args.seeds))}, augment "
        f"factor {args.augment}, attention weight {args.alpha_att}; teacher accuracy "
        f"{100 * teacher_acc:.2f} on all {dev_rows} rows of {args.dev.name}"
    )
    print(
        "| student | recipe | parameters | accuracy (mean ± sd) | retention | vs hard labels "
        "| wall time | vs KD time |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (shape, recipe), runs in results.items():
        accs = [a for a, _, _ in runs]
        times = [s for _, s, _ in runs if s is not None]
        mean, sd = statistics.mean(accs), statistics.stdev(accs) if len(accs) > 1 else 0.0
        hard = results.get((shape, "hard"))
        kd = results.get((shape, "kd"))
        gain = f"{100 * (mean - statistics.mean(a for a, _, _ in hard)):+.2f}" if hard else "-"
        kd_times = [s for _, s, _ in kd or [] if s is not None]
        wall = statistics.mean(times) if times else None
        ratio = f"{wall / statistics.mean(kd_times):.2f}x" if wall and kd_times else "-"
        print(
            f"| {shape} | {recipe} | {runs[0][2] / 1e6:.1f}M | {100 * mean:.2f} ± {100 * sd:.2f} "
            f"| {100 * mean / teacher_acc:.2f}% | {gain} | "
            f"{'-' if wall is None else f'{wall / 60:.1f} min'} | {ratio} |"
        )


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("dev", type=Path)
    parser.add_argument("--teacher", default="default", help="encoder to fine-tune")
    parser.add_argument("--teacher-dir", type=Path, default=None, help="a fine-tuned teacher")
    parser.add_argument("--subset", type=int, default=2000, help="training rows (0: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--shapes", nargs="+", default=["3", "2", "2:256"])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--augment", type=int, default=4, help="new sentences per row")
    parser.add_argument("--alpha-att", type=float, default=1.0)
    parser.add_argument("--work", type=Path, default=None, help="keep models here")
    return parser.parse_args()


if __name__ == "__main__":
    main()
