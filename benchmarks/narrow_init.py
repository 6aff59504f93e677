"""Does starting a narrow student from the teacher's most important dimensions pay off?

Distils hidden-128 students of the default teacher (all-MiniLM-L6-v2) three ways, on the same
text with the same settings, and prints the eval cosine to the teacher's sentence embedding
after each epoch:

- importance: what ``distill --hidden`` does (distill.width: the dimensions, heads and FFN
  neurons that carry most on the text, weights sliced from the teacher, each LayerNorm's weight
  scaled by the kept dimensions' share of the teacher's standard deviation);
- importance, no LayerNorm scaling: the same without that last step;
- first: the teacher's weights sliced at the first dimensions, heads and neurons (no ranking);
- random: the narrow architecture from a fresh random initialisation.

All three end in the same least-squares Dense map back to the teacher's 384 dimensions.

    .venv/bin/python benchmarks/narrow_init.py --text ../shared/data/sst2/train.tsv \\
        --eval ../shared/data/sst2/dev.tsv [--sentences 8000] [--eval-sentences 1000] \\
        [--hidden 128] [--layers 2] [--vocab-size 9700] [--epochs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from edgedistil.data import read_examples
from edgedistil.distill import width
from edgedistil.distill.job import Job, distill
from edgedistil.distill.train import Settings

ORIGINAL_CHOOSE = width.choose
ORIGINAL_NARROW = width.narrow
ORIGINAL_RATIOS = width.norm_ratios


def _first(config: Any, hidden: int, scores: Any) -> width.Narrowing:
    ranked = ORIGINAL_CHOOSE(config, hidden, scores)  # for the counts only
    return width.Narrowing(
        dims=list(range(hidden)),
        heads=[list(range(len(h))) for h in ranked.heads],
        neurons=[list(range(len(n))) for n in ranked.neurons],
    )


def _no_ratios(*args: Any) -> None:
    return None


def _random(student: Any, narrowing: width.Narrowing, ratios: Any = None) -> Any:
    model = ORIGINAL_NARROW(student, narrowing)
    model.apply(model._init_weights)
    return model


def _head(path: Path, n: int, out: Path) -> Path:
    examples = read_examples(path, text_column=None, label_column=None, need_labels=False)
    out.write_text("\n".join(t.replace("\n", " ") for t in examples.texts[:n]) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, required=True)
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=8000)
    parser.add_argument("--eval-sentences", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=9700)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--only", nargs="*", help="Run only these starts (by name).")
    args = parser.parse_args()
    settings = Settings(task="", epochs=args.epochs, seq_len=args.seq_len, patience=None)
    print(
        f"hidden-{args.hidden}, {args.layers}-layer students of the default teacher, vocabulary "
        f"{args.vocab_size:,}: {args.sentences:,} sentences of {args.text.name}, eval cosine to "
        f"the teacher on {args.eval_sentences:,} of {args.eval.name}, sequence {args.seq_len}"
    )
    print("| start | " + " | ".join(f"epoch {e}" for e in range(1, args.epochs + 1)) + " | wall |")
    print("|---|" + "---:|" * (args.epochs + 1))
    with tempfile.TemporaryDirectory() as tmp:
        text = _head(args.text, args.sentences, Path(tmp) / "train.txt")
        held = _head(args.eval, args.eval_sentences, Path(tmp) / "eval.txt")
        for name, choose, narrow, ratios in (
            ("importance", ORIGINAL_CHOOSE, ORIGINAL_NARROW, ORIGINAL_RATIOS),
            ("importance, no LayerNorm scaling", ORIGINAL_CHOOSE, ORIGINAL_NARROW, _no_ratios),
            ("first", _first, ORIGINAL_NARROW, _no_ratios),
            ("random", ORIGINAL_CHOOSE, _random, _no_ratios),
        ):
            if args.only and name not in args.only:
                continue
            width.choose, width.narrow = choose, narrow  # type: ignore[assignment]
            width.norm_ratios = ratios  # type: ignore[assignment]
            started = time.perf_counter()
            outcome = distill(
                Job(
                    teacher="default",
                    data=text,
                    eval_path=held,
                    out=Path(tmp) / name,
                    settings=settings,
                    layers=args.layers,
                    hidden=args.hidden,
                    vocab_size=args.vocab_size,
                )
            )
            minutes = (time.perf_counter() - started) / 60
            cosines = " | ".join(f"{h['cosine']:.4f}" for h in outcome.state.history)
            print(f"| {name} | {cosines} | {minutes:.1f} min |", flush=True)


if __name__ == "__main__":
    main()
