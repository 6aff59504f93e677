"""Token classification measured as its users measure it: entities, not sub-tokens.

A token classifier gives logits for every sub-token; a word's tag is the one on its first
sub-token (as training aligned it, ``distill.train.first_sub_tokens``). Entities are the spans
of a BIO (IOB2) tagging, read as seqeval reads them by default: a span starts at ``B-X``, or at
an ``I-X`` that does not continue an ``X`` span, and runs over the ``I-X`` that follow; ``O``
and the end close it. Entity F1 is the micro F1 of exact (type, start, end) matches over all
sentences, computed here in a few lines rather than with seqeval as a dependency.

Two tokenizations of the same words (the teacher's and a pruned student's, at two lengths) give
other sub-tokens but the same words, so tags compare word by word. A word past the length the
model takes has no tag; a sentence is compared on the words both sides tagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TASK = "token-classification"  # the task's name in records, heads and settings
Span = tuple[str, int, int]  # (entity type, first word, last word + 1)


@dataclass(frozen=True, kw_only=True)
class Words:
    """What scoring a token classifier needs besides its logits: where each word starts in the
    token arrays, the gold tags (by name) when the eval text has them, and the class names."""

    starts: np.ndarray  # [sentences, length] bool: the first sub-token of each word
    gold: list[list[str]] | None
    names: list[str]  # the model's tag names, by class id


def words_of(config: dict[str, Any], eval_set: Any, tokenizer: Any, length: int | None) -> Words:
    """Where the eval text's words (``data.Examples`` of words) start in the token arrays,
    their gold tags (when the text has them) and the model's tag names (its ``config.json``)."""
    id2label = config.get("id2label") or {}
    names = [str(id2label[k]) for k in sorted(id2label, key=int)]
    gold = None
    if eval_set.tags is not None and eval_set.label_names is not None:
        gold = [[eval_set.label_names[t] for t in row] for row in eval_set.tags]
    return Words(starts=word_starts(tokenizer, eval_set.inputs, length), gold=gold, names=names)


def first(words: Words, rows: int) -> Words:
    """The first ``rows`` sentences' words."""
    gold = None if words.gold is None else words.gold[:rows]
    return Words(starts=words.starts[:rows], gold=gold, names=words.names)


def word_starts(tokenizer: Any, words: Sequence[Any], length: int | None) -> np.ndarray:
    """[sentences, length] bool: True on each word's first sub-token, padded and truncated as
    ``verify.text.encode`` pads and truncates (to ``length``, or to the longest)."""
    batch = tokenizer(
        [list(w) for w in words],
        is_split_into_words=True,
        padding="max_length" if length is not None else True,
        truncation=True,
        max_length=length or 512,
    )
    return starts_of(batch, len(words))


def starts_of(batch: Any, rows: int) -> np.ndarray:
    """[rows, length] bool from a transformers ``BatchEncoding`` of words (its ``word_ids``)."""
    width = len(batch["input_ids"][0]) if rows else 0
    starts = np.zeros((rows, width), dtype=bool)
    for row in range(rows):
        previous = None
        for column, word in enumerate(batch.word_ids(row)):
            starts[row, column] = word is not None and word != previous
            previous = word
    return starts


def word_tags(logits: np.ndarray, starts: np.ndarray, names: list[str]) -> list[list[str]]:
    """Each sentence's tags, a word at a time: the argmax on the word's first sub-token."""
    ids = logits.argmax(-1)
    return [[names[int(i)] for i in ids[row][starts[row]]] for row in range(len(ids))]


def spans(tags: Sequence[str]) -> set[Span]:
    """The entities of one sentence's BIO tags."""
    found: set[Span] = set()
    kind, start = None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and name == kind
        if kind is not None and not continues:
            found.add((kind, start, i))
            kind = None
        if prefix in ("B", "I") and name and not continues:
            kind, start = name, i
    return found


def entity_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Micro F1 of exact entity matches; each sentence compared on the words both sides tag.
    No entity on either side is agreement (1.0), not a division by zero."""
    hits = wanted = offered = 0
    for g, p in zip(gold, predicted, strict=True):
        n = min(len(g), len(p))
        a, b = spans(g[:n]), spans(p[:n])
        hits, wanted, offered = hits + len(a & b), wanted + len(a), offered + len(b)
    if wanted + offered == 0:
        return 1.0
    return 2 * hits / (wanted + offered)
