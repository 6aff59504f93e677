"""The build's text: what the student learns from, and the held-out text its verdict is
measured on.

Every verdict (fidelity against the float student and the teacher, the [UNK] share) must describe
text the student never learned from: distillation, vocabulary pruning and int8 calibration read
the train part, the verify stages the eval part. Without ``--eval`` the data is split here:
each distinct line is ranked by the sha256 of the seed and the line, and the first ``SHARE`` of
the ranking (within ``MIN_EVAL``..``MAX_EVAL`` lines) is held out. A line's rank depends on the
line alone, so the split is the same on every machine and run, a repeated line never lands on
both sides, and adding lines to the data moves no other line across. With ``--eval`` that file
is the eval text, less any line the train or calibration text also holds (see ``_drop_seen``).
A line of pair data is its text and second text together: the pair is what the student sees.

Both parts are written into the build folder (``split/train.txt`` and ``split/eval.txt``, or
``.jsonl`` for TSV/CSV/JSONL data, which keeps the labels), under temporary names then renamed,
so the stages read plain files and their keys change with the split. The manifest's ``split``
entry records the files, their line counts and sha256, and the rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil.data import Examples, read_examples
from edgedistil.errors import BuildError, DataError
from edgedistil.files import write_atomic

log = logging.getLogger(__name__)

SPLIT_DIR = "split"
# A tenth held out: the usual dev share, and the distill job's own; the other 90% stays for
# training, pruning and calibration (the 9,256-line sample text: 926 eval, 8,330 train lines).
SHARE = 0.1
# At least 50 eval lines: below that one sentence moves agreement by more than the 2-point
# budgets of the microcontroller and watch targets. Never more than half the data: the student
# needs the text more than the verdict does.
MIN_EVAL = 50
# At most 1,000: a 95% agreement measured on 1,000 sentences is known to about +-1.4 points,
# finer than any budget; more would only take lines from training and slow the verify stages.
MAX_EVAL = 1_000
RULE = (
    f"distinct lines ranked by sha256(seed, line); the first {SHARE:.0%} "
    f"(at least {MIN_EVAL}, at most {MAX_EVAL:,}, at most half) are eval, the rest train"
)


@dataclass(frozen=True, kw_only=True)
class Texts:
    """The files each stage reads, and the manifest's record of them."""

    train: Path  # distillation and vocabulary pruning
    eval: Path  # fidelity, parity, the [UNK] share
    calibration: Path  # int8 ranges: the user's --calibration, else the train part
    record: dict[str, Any]

    @property
    def summary(self) -> str:
        r = self.record
        dropped = r["eval_lines_dropped"]
        return (
            f"{r['train']['lines']:,} train / {r['eval']['lines']:,} eval lines"
            + (" held out of the data" if r["eval"]["from"] == r["data"]["path"] else "")
            + (f" ({dropped:,} eval lines seen in training left out)" if dropped else "")
        )


@dataclass(frozen=True, kw_only=True)
class Split:
    """The build's text read and split in memory: nothing is written yet (``write``)."""

    data: Path
    eval_path: Path | None
    calibration: Path | None
    seed: int
    examples: int  # of the data
    train: Examples
    held: Examples
    dropped: int  # eval lines the train or calibration text also held


def split(*, data: Path, eval_path: Path | None, calibration: Path | None, seed: int) -> Split:
    """Read every text file the build reads (data, eval, calibration) and split the data: a file
    that cannot serve is refused here, before anything in the build folder changes."""
    examples = read_examples(data)
    if eval_path is None:
        train, held = split_examples(examples, seed)
    else:
        train, held = examples, read_examples(eval_path)
    seen = set(_keys(train)) | _calibration_texts(calibration)
    held, dropped = _drop_seen(held, seen, data=data, eval_path=eval_path)
    return Split(
        data=data,
        eval_path=eval_path,
        calibration=calibration,
        seed=seed,
        examples=len(examples),
        train=train,
        held=held,
        dropped=dropped,
    )


def write(out: Path, texts: Split) -> Texts:
    """Both parts of ``texts`` under ``out/split``, each written whole, and their record."""
    data, eval_path, calibration = texts.data, texts.eval_path, texts.calibration
    folder = out / SPLIT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    train_path = folder / f"train{_suffix(data)}"
    eval_file = folder / f"eval{_suffix(eval_path or data)}"
    for stale in [*folder.glob("train.*"), *folder.glob("eval.*")]:
        if stale.suffix in (".txt", ".jsonl") and stale not in (train_path, eval_file):
            stale.unlink()  # an earlier build's split, of data in the other format
    _write(train_path, texts.train)
    _write(eval_file, texts.held)
    record = {
        "rule": RULE if eval_path is None else "the eval text given with --eval",
        "seed": texts.seed,
        "data": {**_describe(out, data), "lines": texts.examples},
        "train": {**_describe(out, train_path), "lines": len(texts.train)},
        "eval": {
            **_describe(out, eval_file),
            "lines": len(texts.held),
            "from": str(eval_path or data),
        },
        "calibration": _describe(out, calibration or train_path),
        "eval_lines_dropped": texts.dropped,
    }
    return Texts(
        train=train_path, eval=eval_file, calibration=calibration or train_path, record=record
    )


def split_examples(examples: Examples, seed: int) -> tuple[Examples, Examples]:
    """(train, eval) by ``RULE``; every copy of a line goes to the side of its first."""
    keys = _keys(examples)
    distinct = list(dict.fromkeys(keys))
    count = eval_count(len(distinct), examples.source)
    ranked = sorted(distinct, key=lambda text: _rank(seed, text))
    held = set(ranked[:count])
    train = [i for i, text in enumerate(keys) if text not in held]
    return examples.subset(train), examples.subset(
        [i for i, text in enumerate(keys) if text in held]
    )


def _keys(examples: Examples) -> list[str]:
    """One string a line: the text, or a pair's two texts joined by a newline, which no line
    of text holds (so a pair never equals a single text)."""
    return [x if isinstance(x, str) else "\n".join(x) for x in examples.inputs]


def eval_count(distinct: int, source: str) -> int:
    if distinct < 2:
        raise DataError(
            f"{source}: {distinct} distinct line(s); holding out eval text needs at least 2 "
            "(or give the eval text with --eval)"
        )
    return min(max(round(SHARE * distinct), MIN_EVAL), MAX_EVAL, distinct // 2)


def _rank(seed: int, text: str) -> bytes:
    return hashlib.sha256(f"{seed}\n{text}".encode()).digest()


def _calibration_texts(path: Path | None) -> set[str]:
    """The user's calibration lines: a file that cannot serve as examples (unreadable, empty)
    is refused here, before any stage, rather than by the verify stage after the distillation."""
    if path is None:
        return set()
    try:
        return set(_keys(read_examples(path)))
    except DataError as exc:
        raise DataError(f"--calibration {exc}") from None


def _drop_seen(
    held: Examples, seen: set[str], *, data: Path, eval_path: Path | None
) -> tuple[Examples, int]:
    """The eval lines the train or calibration text does not hold, and how many it did.

    Overlapping lines are dropped with a warning rather than the build refused: real corpora
    share stock phrases (75 of SST-2's 6,735 dev sentences occur verbatim in its training
    split), so refusing any overlap would refuse standard splits, while keeping the lines would
    let the verdict score text the student learned. An eval text with nothing left is refused.
    """
    keep = [i for i, text in enumerate(_keys(held)) if text not in seen]
    dropped = len(held) - len(keep)
    source = eval_path or data
    if not keep:
        what, advice = (
            (f"--eval {eval_path}: all {len(held):,} of its lines", "give eval text the student "
             "does not learn from, or leave out --eval to split the data")
            if eval_path is not None
            else (f"{data}: all {len(held):,} eval lines held out of it", "calibrate on text "
                  "other than the data, or leave out --calibration to use its train part")
        )  # fmt: skip
        raise BuildError(
            f"{what} also occur in the training or calibration text, so nothing is held out "
            f"to measure on; {advice}"
        )
    if dropped:
        log.warning(
            "%s: %d of its %d eval lines also occur in the training or calibration text; they "
            "are left out of the eval text, which keeps %d",
            source,
            dropped,
            len(held),
            len(keep),
        )
    return held.subset(keep), dropped


def _suffix(path: Path) -> str:
    return ".txt" if path.suffix.lower() in (".txt", ".text") else ".jsonl"


def _write(path: Path, examples: Examples) -> None:
    """``examples`` as one text per line (.txt) or JSON objects with their label names."""
    lines = examples.texts
    if path.suffix != ".txt":
        rows: list[dict[str, Any]] = [{"text": t} for t in examples.texts]
        for row, pair in zip(rows, examples.pairs or [], strict=False):
            row["text_pair"] = pair  # data.PAIR_COLUMNS' first names: read back as pairs
        if examples.words is not None:  # read back as words and tags (data.WORD_COLUMNS)
            rows = [_tagged_row(examples, i) for i in range(len(examples))]
        if examples.labels is not None and examples.label_names is not None:
            for row, label in zip(rows, examples.labels, strict=True):
                row["label"] = examples.label_names[label]
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    write_atomic(path, "".join(line + "\n" for line in lines))


def _tagged_row(examples: Examples, i: int) -> dict[str, Any]:
    assert examples.words is not None
    row: dict[str, Any] = {"tokens": examples.words[i]}
    if examples.tags is not None and examples.label_names is not None:
        row["tags"] = [examples.label_names[t] for t in examples.tags[i]]
    return row


def _describe(out: Path, path: Path) -> dict[str, str]:
    """Path (relative to the build folder when inside it) and sha256."""
    from edgedistil.manifest import tree_sha256

    shown = path.relative_to(out) if path.is_relative_to(out) else path
    return {"path": str(shown), "sha256": tree_sha256(path)}


def unk_fields(tokenizer_dir: Path, eval_path: Path) -> dict[str, Any]:
    """The manifest's [UNK] entries for a release artifact: the share of the eval text's tokens,
    and of its sentences, that the tokenizer in ``tokenizer_dir`` turns into [UNK]."""
    from edgedistil.tokens import load_backend, unk_rate

    backend = load_backend(tokenizer_dir)
    if backend is None:
        raise BuildError(f"{tokenizer_dir}: no tokenizer (tokenizer.json or vocab.txt)")
    rate = unk_rate(backend, read_examples(eval_path).all_texts())
    return {
        "eval_unk_rate": round(rate.token_share, 6),
        "eval_unk_sentences": round(rate.sentence_share, 6),
        "eval_unk_source": (
            f"{rate.unk_tokens:,} of {rate.tokens:,} tokens, in {rate.unk_sentences:,} of "
            f"{rate.sentences:,} sentences of {eval_path.name}, under the student's "
            f"{backend.get_vocab_size():,}-token vocabulary"
        ),
    }
