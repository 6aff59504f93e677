"""The shipped sample text: enough, clean, and covered by the default teacher's vocabulary."""

from __future__ import annotations

from pathlib import Path

from edgedistil import teacher

SENTENCES = Path(__file__).resolve().parent.parent / "calibration" / "sentences.txt"


def test_enough_clean_lines() -> None:
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 500
    assert all(line.strip() == line and line for line in lines)
    assert len(set(lines)) == len(lines)
    words = sorted(len(line.split()) for line in lines)
    assert words[0] <= 3 and words[-1] >= 40  # short commands and long texts both present


def test_few_unknown_tokens_for_the_default_teacher() -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(teacher.default_teacher_dir() / "tokenizer.json"))
    encodings = tok.encode_batch(SENTENCES.read_text(encoding="utf-8").splitlines())
    ids = [i for e in encodings for i in e.ids]
    unk = tok.token_to_id("[UNK]")
    assert sum(i == unk for i in ids) / len(ids) < 0.05
