"""Entity spans and F1 of BIO tags (``verify.tags``), against cases worked by hand and seqeval's
documented example, and where words start in a tokenization."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgedistil.teacher import load_tokenizer
from edgedistil.verify.tags import entity_f1, spans, word_starts, word_tags


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], {("PER", 0, 2), ("LOC", 3, 4)}),
        (["I-PER", "I-PER"], {("PER", 0, 2)}),  # an I- that continues nothing starts a span
        (["B-PER", "I-LOC"], {("PER", 0, 1), ("LOC", 1, 2)}),  # another type: another span
        (["B-PER", "B-PER", "I-PER"], {("PER", 0, 1), ("PER", 1, 3)}),
        (["O", "O"], set()),
        (["B-DATE", "I-DATE", "I-DATE"], {("DATE", 0, 3)}),  # runs to the end
    ],
)
def test_spans_read_bio_as_seqeval_does(
    tags: list[str], expected: set[tuple[str, int, int]]
) -> None:
    assert spans(tags) == expected


def test_entity_f1_is_micro_over_sentences() -> None:
    # seqeval's README example: one of two entities found exactly on each side, F1 0.5
    gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    assert entity_f1(gold, pred) == 0.5
    assert entity_f1(gold, gold) == 1.0
    assert entity_f1([["O"]], [["O"]]) == 1.0  # no entity on either side: agreement
    assert entity_f1([["B-PER"]], [["O"]]) == 0.0
    # a truncated prediction is compared on the words it tagged
    assert entity_f1([["B-PER", "O", "B-LOC"]], [["B-PER", "O"]]) == 1.0


def test_word_starts_and_word_tags(tmp_path: Path) -> None:
    from tests.distill.test_tokens import save_tagger

    tokenizer = load_tokenizer(save_tagger(tmp_path / "t"))
    words = [["the", "batteryed", "phone"], ["timer"]]
    starts = word_starts(tokenizer, words, 8)
    # [CLS] the battery ##ed phone [SEP] [PAD] [PAD]; [CLS] timer [SEP] ...
    assert starts.tolist() == [
        [False, True, True, False, True, False, False, False],
        [False, True, False, False, False, False, False, False],
    ]
    logits = np.zeros((2, 8, 2))
    logits[0, 2, 1] = logits[0, 3, 0] = logits[1, 1, 1] = 1.0  # ##ed's class is not read
    assert word_tags(logits, starts, ["O", "B-DEV"]) == [["O", "B-DEV", "O"], ["B-DEV"]]
    cut = word_starts(tokenizer, words, 4)  # the third word is past the length: no tag
    assert word_tags(logits[:, :4], cut, ["O", "B-DEV"])[0] == ["O", "B-DEV"]
