"""Bench inputs of text pairs and of words: the host tokenises them as the model takes them."""

from __future__ import annotations

from pathlib import Path

from edgedistil.bench.inputs import read_sentences, tokenize
from tests.distill.test_pairs import write_pairs
from tests.distill.test_tokens import write_tagged


def test_pairs_are_one_sequence_with_two_segments(tiny_classifier: Path, tmp_path: Path) -> None:
    sentences = read_sentences(write_pairs(tmp_path / "nli.tsv", 4), 2)
    assert sentences[0] == ("the phone battery", "the phone")
    arrays = tokenize(tiny_classifier, sentences, 16)
    # [CLS] the phone battery [SEP] the phone [SEP]: the second text is segment 1
    assert arrays["token_type_ids"][0].tolist() == [0] * 5 + [1] * 3 + [0] * 8
    assert arrays["attention_mask"][0].sum() == 8


def test_words_are_tokenised_word_by_word(tiny_classifier: Path, tmp_path: Path) -> None:
    sentences = read_sentences(write_tagged(tmp_path / "ner.jsonl", 1), 1)
    assert isinstance(sentences[0], list) and sentences[0][-1] == "batteryed"
    words = tokenize(tiny_classifier, sentences, 16)
    text = tokenize(tiny_classifier, [" ".join(sentences[0])], 16)  # type: ignore[arg-type]
    assert words["input_ids"].tolist() == text["input_ids"].tolist()
    assert words["attention_mask"][0].sum() == 2 + len(sentences[0]) + 1  # ##ed: one more
