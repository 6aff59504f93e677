"""How much held-out text does a pruned vocabulary turn into [UNK], and what do the
single-character pieces cost?

The default teacher's (all-MiniLM-L6-v2) vocabulary is pruned as a build prunes it, on the train
part of a pruning text (`heldout.split_examples`, seed 42: 595 of the shipped sample text's 661
lines, as `edgedistil build` does by default, or SST-2's training sentences), to a size (3,133:
the plan for esp32-s3 at 3 layers; 7,715: cortex-m7's narrow suggestion), three ways:

- before: the special tokens and the pruning text's tokens by frequency (edgedistil before the
  pieces);
- latin: plus the single-character pieces of characters below U+0250 only (a script rule);
- pieces: plus every single-character piece the teacher's tokenizer can produce (what
  `distill.vocab.choose_tokens` keeps now);

then each tokenizer reads held-out sentences (SST-2 dev by default), giving the share of tokens
and of sentences that become [UNK], the tokens per sentence against the teacher's own (words
spelt in pieces are longer), and the sentences over 62 tokens (a 64-token model truncates them).
A second table sweeps the whole tokens kept beyond the pieces, and the last the bytes the
pieces take in an int8 embedding table.

    .venv/bin/python benchmarks/heldout_unk.py \
        --pruning-text calibration/sentences.txt ../shared/data/sst2/train.tsv \
        --heldout ../shared/data/sst2/dev.tsv

It counts tokens only (no model runs); about half a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from edgedistil import profiles, teacher, tokens
from edgedistil.data import read_examples
from edgedistil.distill.vocab import Pruning, choose_tokens, prune_tokenizer
from edgedistil.heldout import split_examples

ROOT = Path(__file__).resolve().parent.parent
SEQ = 64  # the esp32-s3 and watch profiles' sequence length
LATIN_END = 0x250  # ASCII, Latin-1 and Latin Extended-A/B: the "latin" script rule


def _pruning(tokenizer: Any, texts: list[str], size: int, pieces: list[str]) -> Pruning:
    """Specials + ``pieces`` + the text's tokens by frequency, ``size`` in all."""
    counts: Counter[int] = Counter()
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        counts.update(ids)
    special = sorted(set(tokenizer.all_special_ids))
    piece_ids = [i for i in tokenizer.convert_tokens_to_ids(pieces) if i not in special]
    always = set(special) | set(piece_ids)
    frequent = [i for i, _ in counts.most_common() if i not in always]
    kept = sorted(special + piece_ids + frequent[: size - len(always)])
    return Pruning(
        kept=kept, old_to_new={o: n for n, o in enumerate(kept)}, tokens_seen=len(counts)
    )


def _lengths(backend: Any, texts: list[str]) -> list[int]:
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())
    copy.no_padding()
    copy.no_truncation()
    return [len(e.ids) for e in copy.encode_batch(texts, add_special_tokens=False)]


def _measure(pruned: Any, heldout: list[str], teacher_tokens: int) -> str:
    rate = tokens.unk_rate(pruned.backend_tokenizer, heldout)
    lengths = _lengths(pruned.backend_tokenizer, heldout)
    over = sum(1 for n in lengths if n > SEQ - 2)
    return (
        f"{100 * rate.token_share:.2f}% | {100 * rate.sentence_share:.1f}% | "
        f"{sum(lengths) / len(lengths):.2f} ({sum(lengths) / teacher_tokens:.3f}x) | "
        f"{100 * over / len(lengths):.2f}%"
    )


def _train_part(path: Path) -> list[str]:
    """What a build prunes on: the data less its held-out eval lines."""
    return split_examples(read_examples(path), seed=42)[0].texts


def _latin(pieces: list[str]) -> list[str]:
    return [p for p in pieces if ord(p[-1]) < LATIN_END]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pruning-text", type=Path, nargs="+", default=[ROOT / "calibration" / "sentences.txt"]
    )
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3_133, 7_715])
    args = parser.parse_args()
    from transformers import AutoTokenizer

    path = teacher.default_teacher_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    pieces = tokens.single_pieces(tokenizer.backend_tokenizer)
    heldout = read_examples(args.heldout).texts
    teacher_tokens = sum(_lengths(tokenizer.backend_tokenizer, heldout))
    teacher_rate = tokens.unk_rate(tokenizer.backend_tokenizer, heldout)
    print(
        f"held out: {len(heldout):,} sentences of {args.heldout}, {teacher_tokens:,} teacher "
        f"tokens ({100 * teacher_rate.token_share:.2f}% [UNK] under the full teacher vocabulary)"
    )
    print(f"pieces: {len(pieces):,} ({len(_latin(pieces))} below U+{LATIN_END:04X})\n")
    print("| pruning text | size | rule | [UNK] tokens | sentences with [UNK] | tokens/sentence "
          "| over 62 |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|")
    rules = {"before": [], "latin": _latin(pieces), "pieces": pieces}
    for text_path in args.pruning_text:
        texts = _train_part(text_path)
        for size in args.sizes:
            for rule, kept in rules.items():
                pruning = (  # "pieces" is the product's own choice
                    choose_tokens(tokenizer, texts, size)
                    if rule == "pieces"
                    else _pruning(tokenizer, texts, size, kept)
                )
                pruned = prune_tokenizer(tokenizer, pruning)
                print(
                    f"| {text_path.name} ({len(texts):,}) | {len(pruned):,} | {rule} | "
                    f"{_measure(pruned, heldout, teacher_tokens)} |",
                    flush=True,
                )
    _sweep(tokenizer, _train_part(args.pruning_text[-1]), pieces, heldout, teacher_tokens)
    _bytes(len(pieces), len(_latin(pieces)))


def _sweep(
    tokenizer: Any, texts: list[str], pieces: list[str], heldout: list[str], teacher_tokens: int
) -> None:
    """Whole tokens beyond the pieces: how long held-out sentences get with few of them."""
    print("\n| whole tokens beyond specials + pieces | size | [UNK] tokens | sentences with [UNK] "
          "| tokens/sentence | over 62 |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    floor = len(set(tokenizer.all_special_ids)) + len(pieces)
    for extra in (0, 250, 500, 1_000, 2_000, 4_000, 8_000):
        pruned = prune_tokenizer(tokenizer, _pruning(tokenizer, texts, floor + extra, pieces))
        print(f"| {extra:,} | {len(pruned):,} | {_measure(pruned, heldout, teacher_tokens)} |")


def _bytes(pieces: int, latin: int) -> None:
    """An int8 embedding row is one byte per hidden unit (one scale for the whole table)."""
    print("\n| student | rule | rows | int8 bytes | share of the budget |")
    print("|---|---|---:|---:|---:|")
    for label, hidden, target in (
        ("hidden 384 (esp32-s3, 3 layers)", 384, "esp32-s3"),
        ("hidden 128 (cortex-m7, narrowed)", 128, "cortex-m7"),
    ):
        budget = profiles.load_profile(target).budgets.max_model_bytes
        for rule, rows in (("pieces", pieces), ("latin", latin)):
            cost = rows * hidden
            print(f"| {label} | {rule} | {rows:,} | {cost:,} | {100 * cost / budget:.1f}% |")


if __name__ == "__main__":
    main()
