"""Calibration and eval text -> token arrays, as every stage that runs a model on text reads it.

ONNX parity, ONNX calibration and fidelity, the LiteRT conversion and the runtimes comparison
all tokenise the same way, so a figure measured in one stage means the same in the next.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistil.data import Examples, TextInput, is_words, read_examples
from edgedistil.errors import DataError, QuantizeError

log = logging.getLogger(__name__)

Batch = dict[str, np.ndarray]  # token arrays by input name, one row per sentence
UNK_WARNING = 0.05  # above 5% [UNK] the text is not in the model's language or vocabulary


@dataclass(frozen=True, kw_only=True)
class Text:
    examples: Examples
    unk_ratio: float
    tokens: int


def read_text(
    path: Path, tokenizer: Any, *, warn: bool = True, pairs: bool = False, words: bool = False
) -> Text:
    """Calibration or eval examples, with the share of their tokens the vocabulary lacks;
    ``pairs``: text pairs, for a model that takes them (a file without them is refused);
    ``words``: words with tags, for a token classifier's eval text."""
    try:
        examples = read_examples(path, pairs=pairs, words=words)
    except DataError as exc:
        raise QuantizeError(f"calibration text: {exc}") from None
    unk, total = 0, 0
    texts = examples.all_texts()
    for start in range(0, len(texts), 256):  # in chunks: constant memory
        for ids in tokenizer(texts[start : start + 256], add_special_tokens=False)["input_ids"]:
            total += len(ids)
            unk += sum(1 for i in ids if i == tokenizer.unk_token_id)
    ratio = unk / total if total else 0.0
    if warn and ratio > UNK_WARNING:
        log.warning(
            "%s: %.1f%% of its %d tokens are [UNK] (more than %.0f%%): the text does not match "
            "the model's vocabulary, so its ranges may not fit real input",
            path,
            100 * ratio,
            total,
            100 * UNK_WARNING,
        )
    return Text(examples=examples, unk_ratio=ratio, tokens=total)


def encode(
    tokenizer: Any,
    texts: Sequence[TextInput],
    length: int | None,
    names: tuple[str, ...],
    dtype: str,
) -> Batch:
    """Token arrays by input name, of texts or (text, pair) tuples (one sequence with two
    segments); padded to ``length`` (static) or to the longest (dynamic)."""
    padding: str | bool = "max_length" if length is not None else True
    batch = tokenizer(
        list(texts),
        is_split_into_words=is_words(texts),
        padding=padding,
        truncation=True,
        max_length=length or 512,
        return_tensors="np",
    )
    arrays = {}
    for name in names:
        values = batch.get(name)
        if values is None:  # a tokenizer without segments: one segment
            values = np.zeros_like(batch["input_ids"])
        arrays[name] = np.asarray(values).astype(dtype)
    return arrays


def batches(
    tokenizer: Any,
    texts: Sequence[TextInput],
    *,
    length: int | None,
    names: list[str],
    dtype: str,
    batch_size: int,
) -> Iterator[Batch]:
    """Token arrays a batch at a time; tokenised only when asked for."""
    for start in range(0, len(texts), batch_size):
        yield encode(tokenizer, texts[start : start + batch_size], length, tuple(names), dtype)
