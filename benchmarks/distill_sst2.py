"""Does distillation keep the teacher's accuracy? The DistilBERT experiment, on any labelled TSV.

1. fine-tune the teacher encoder (default: the embedded MiniLM) into a classifier;
2. distil 3-layer and 2-layer students from it, with knowledge distillation (soft targets +
   hidden-state cosine + hard labels) and without (hard labels only, same initial layers);
3. print parameters, accuracy on the dev file, retention (student / teacher) and wall time.

Best epochs are chosen on a held-out 10% of the training rows; the dev file is only read for the
final accuracy of each finished model, so nothing is tuned on it.

    .venv/bin/python benchmarks/distill_sst2.py ../shared/data/sst2/train.tsv \\
        ../shared/data/sst2/dev.tsv [--subset 6000] [--epochs 2] [--seq-len 64] \\
        [--layer-maps 0,5 0,2] [--narrow 2:256] [--only student-3l-kd ...]

On a CPU the defaults train on a seeded subset of the training file to finish within an hour on
2 cores; on a GPU pass --subset 0 --epochs 3 for the full recipe. Everything goes through the
same code as `edgedistil finetune` and `edgedistil distill`.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from edgedistil.data import read_examples
from edgedistil.distill.job import Job, distill, finetune
from edgedistil.distill.losses import Weights
from edgedistil.distill.train import Settings


def subset(train: Path, n: int, seed: int, work: Path) -> Path:
    """A seeded random subset of a TSV, header kept (0: the whole file)."""
    if n <= 0:
        return train
    lines = train.read_text(encoding="utf-8").splitlines()
    rows = lines[1:]
    random.Random(seed).shuffle(rows)
    out = work / f"train-{n}.tsv"
    out.write_text("\n".join([lines[0], *rows[:n]]) + "\n", encoding="utf-8")
    return out


def dev_accuracy(model_dir: Path, dev: Path, seq_len: int) -> float:
    """Accuracy of a finished model directory on every row of ``dev``. The dev file is read
    only here: best epochs are chosen on a held-out 10% of the training rows, never on dev."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    examples = read_examples(dev, need_labels=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval().to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    ids = {str(name): int(i) for name, i in model.config.label2id.items()}
    truth = [ids[examples.label_names[y]] for y in examples.labels or []]  # type: ignore[index]
    hits = 0
    with torch.no_grad():
        for start in range(0, len(examples.texts), 64):
            batch = tokenizer(
                examples.texts[start : start + 64],
                padding=True,
                truncation=True,
                max_length=seq_len,
                return_tensors="pt",
            )
            predicted = model(**batch.to(device)).logits.argmax(-1).tolist()
            hits += sum(p == t for p, t in zip(predicted, truth[start : start + 64], strict=True))
    return hits / len(truth)


def trained(name: str, fn, job: Job, work: Path) -> tuple[list[int], int, float | None]:  # type: ignore[no-untyped-def]
    """Train ``name`` unless ``work`` already holds it finished (a restarted run with the same
    --work reuses it): (layer map, parameters, wall seconds or None when not recorded)."""
    import json

    from safetensors import safe_open

    folder = work / name
    seconds_file = folder / "bench-seconds.txt"
    if (folder / "edgedistil.json").exists():
        print(f"  {name}: reused from {folder}", flush=True)
    else:
        started = time.perf_counter()
        fn(job)
        seconds_file.write_text(f"{time.perf_counter() - started:.1f}\n")
        print(f"  {name}: {float(seconds_file.read_text()) / 60:.1f} min", flush=True)
    record = json.loads((folder / "edgedistil.json").read_text())
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        parameters = sum(_numel(weights.get_slice(key).get_shape()) for key in weights.keys())  # noqa: SIM118  # safe_open is not iterable
    seconds = float(seconds_file.read_text()) if seconds_file.exists() else None
    return list(record["settings"].get("layer_map", [])), parameters, seconds


def _numel(shape: list[int]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("dev", type=Path)
    parser.add_argument("--teacher", default="default")
    parser.add_argument("--subset", type=int, default=6000, help="training rows (0: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=None, help="keep models here")
    parser.add_argument(
        "--layer-maps",
        nargs="*",
        default=[],
        help="extra KD students from these teacher layers, e.g. 0,5 0,2: the layer-map question",
    )
    parser.add_argument(
        "--narrow",
        nargs="*",
        default=[],
        help="extra KD students LAYERS:HIDDEN, narrowed to HIDDEN dimensions (distill --hidden), "
        "e.g. 2:256: the speed question",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="train only these students (folder names, e.g. student-2l-kd), so that several "
        "processes can share one GPU; a last run without --only reuses them all for the table",
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="distill-sst2-"))
    work.mkdir(parents=True, exist_ok=True)
    train = subset(args.train, args.subset, args.seed, work)
    dev_rows = len(read_examples(args.dev))
    settings = Settings(
        task="",
        epochs=args.epochs,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        seed=args.seed,
        patience=None,
    )

    def job(out: str, teacher: str, **kw: object) -> Job:
        return Job(teacher=teacher, data=train, out=work / out, settings=settings, **kw)  # type: ignore[arg-type]

    print(f"work folder {work}", flush=True)
    rows = []
    _, parameters, seconds = trained("teacher", finetune, job("teacher", args.teacher), work)
    teacher_acc = dev_accuracy(work / "teacher", args.dev, args.seq_len)
    rows.append(("teacher (fine-tuned)", "-", parameters, teacher_acc, seconds))
    teacher_dir = str(work / "teacher")
    no_kd = Weights(kd=0.0, ce=1.0, cos=0.0)
    students: list[tuple[str, Job]] = []
    for layers in (3, 2):
        for kd in (True, False):
            chosen = job(f"student-{layers}l-{'kd' if kd else 'hard'}", teacher_dir, layers=layers)
            if not kd:
                chosen = replace(chosen, settings=replace(settings, weights=no_kd))
            students.append((f"{layers} layers, {'KD' if kd else 'hard labels only'}", chosen))
    for layer_map in args.layer_maps:
        name = f"student-map-{layer_map.replace(',', '-')}-kd"
        students.append(
            (
                f"{len(layer_map.split(','))} layers, KD",
                job(name, teacher_dir, layer_map=layer_map),
            )
        )
    for shape in args.narrow:
        layers, hidden = (int(x) for x in shape.split(":"))
        students.append(
            (
                f"{layers} layers, hidden {hidden}, KD",
                job(f"student-{layers}l-h{hidden}-kd", teacher_dir, layers=layers, hidden=hidden),
            )
        )
    if args.only is not None:
        students = [(label, chosen) for label, chosen in students if chosen.out.name in args.only]
    for label, chosen in students:
        layer_map_used, parameters, seconds = trained(chosen.out.name, distill, chosen, work)
        accuracy = dev_accuracy(chosen.out, args.dev, args.seq_len)
        rows.append((label, ",".join(map(str, layer_map_used)), parameters, accuracy, seconds))
    print()
    print(
        f"Training rows: {args.subset or 'all'} of {args.train.name}, {args.epochs} epochs, "
        f"sequence {args.seq_len}, batch {args.batch_size}, seed {args.seed}; best epoch chosen "
        f"on a held-out 10% of those rows; accuracy on all {dev_rows} rows of {args.dev.name}"
    )
    print("| model | layers from | parameters | accuracy | retention | wall time |")
    print("|---|---|---:|---:|---:|---:|")
    for label, layer_map, params, acc, seconds in rows:
        print(
            f"| {label} | {layer_map} | {params / 1e6:.1f}M | {100 * acc:.2f} | "
            f"{100 * acc / teacher_acc:.1f}% | "
            f"{'-' if seconds is None else f'{seconds / 60:.1f} min'} |"
        )


if __name__ == "__main__":
    main()
