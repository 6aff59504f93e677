"""Text and labelled examples from plain text, TSV/CSV or JSONL files.

The format follows the extension: ``.txt`` (one text per line, no labels), ``.tsv`` and ``.csv``
(a header row; columns chosen by name), ``.jsonl`` (one object per line). Labels may be strings
or integers; they are numbered in sorted order and the mapping travels with the examples, so a
trained model's config says which id means which label.

An example may be a text pair (NLI, paraphrase, question and passage): a second text column,
named with ``--pair-column`` or found among the usual names (``PAIR_COLUMNS``). ``Examples.inputs``
gives each example as the tokenizer takes it: a string, or a (text, pair) tuple, which a
transformers or ``tokenizers`` tokenizer encodes as one sequence with two segments.

Token classification (NER, slot filling) reads JSONL rows of words and one tag a word
(``{"tokens": [...], "tags": [...]}``, ``WORD_COLUMNS`` and ``TAG_COLUMNS``); such an example's
input is its list of words, tokenised with ``is_split_into_words`` (``is_words``), and its text
the words joined by spaces, for the stages that only count or time tokens.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgedistil._schema import did_you_mean
from edgedistil.errors import DataError

# The sample text shipped in the repository (not inside the package): the default for
# distillation, parity checks, calibration and benchmarks in a source checkout.
SAMPLE_TEXT = Path(__file__).resolve().parent.parent / "calibration" / "sentences.txt"
FORMATS = {".txt": "text", ".text": "text", ".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl"}
TEXT_COLUMNS = ("text", "sentence", "content")  # tried in order when --text-column is not given
LABEL_COLUMNS = ("label", "labels", "class")
# (first, second) text columns of pair data, tried in order when --pair-column is not given:
# HF's own argument name (what the build's split files use), then GLUE's and SQuAD-style names.
PAIR_COLUMNS = (
    ("text", "text_pair"),
    ("text_a", "text_b"),
    ("text", "text_b"),
    ("sentence1", "sentence2"),
    ("premise", "hypothesis"),
    ("question1", "question2"),
    ("question", "sentence"),
    ("question", "passage"),
    ("question", "context"),
    ("query", "passage"),
)
WORD_COLUMNS = ("tokens", "words")  # JSONL lists of words, one tag each
TAG_COLUMNS = ("tags", "ner_tags", "labels", "slots")
# One model input: a text, a text pair (the tokenizer joins the two with its separator), or
# the words of a token-classification example (the tokenizer keeps each word's sub-tokens).
TextInput = str | tuple[str, str] | list[str]


def is_words(inputs: Sequence[TextInput]) -> bool:
    """Whether ``inputs`` are lists of words: tokenizers must be told (``is_split_into_words``
    in transformers, ``is_pretokenized`` in tokenizers), or they read two words as a pair."""
    return bool(inputs) and isinstance(inputs[0], list)


@dataclass(frozen=True, kw_only=True)
class Examples:
    """Texts (each with its second text when the data is pairs), optional integer labels, and
    the label names those integers stand for."""

    texts: list[str]
    labels: list[int] | None
    label_names: list[str] | None
    source: str
    pairs: list[str] | None = None  # the second text of each example; None: single texts
    words: list[list[str]] | None = None  # token classification: each example's words
    tags: list[list[int]] | None = None  # and each word's tag (numbers of label_names)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def inputs(self) -> list[TextInput]:
        """Each example as the tokenizer takes it: the text, (text, pair), or its words."""
        if self.words is not None:
            return list(self.words)
        if self.pairs is None:
            return list(self.texts)
        return list(zip(self.texts, self.pairs, strict=True))

    def all_texts(self) -> list[str]:
        """Every text the examples hold, second texts too (vocabulary, [UNK] share)."""
        return self.texts + (self.pairs or [])

    def subset(self, indices: list[int]) -> Examples:
        labels = None if self.labels is None else [self.labels[i] for i in indices]
        return Examples(
            texts=[self.texts[i] for i in indices],
            labels=labels,
            label_names=self.label_names,
            source=self.source,
            pairs=None if self.pairs is None else [self.pairs[i] for i in indices],
            words=None if self.words is None else [self.words[i] for i in indices],
            tags=None if self.tags is None else [self.tags[i] for i in indices],
        )


def read_examples(
    path: Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    pair_column: str | None = None,
    pairs: bool | None = None,
    need_labels: bool = False,
    words: bool = False,
) -> Examples:
    """Examples from ``path``; ``need_labels`` refuses a file without a usable label column.

    ``pairs``: None reads a second text when the file has one (``--pair-column`` or a name in
    ``PAIR_COLUMNS``); True refuses a file without one (a pair model's eval text); False reads
    the first text alone (a single-text model given pair data). JSONL rows of words and tags
    are read as token-classification examples; ``words`` reads any other text as words split
    at white space, without tags (a token classifier's eval text: agreement, not F1)."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unknown format {path.suffix!r}; use one of {', '.join(FORMATS)}")
    text = _read_text(path)
    if kind == "text":
        if need_labels or pairs or pair_column is not None:
            what = "labels" if need_labels else "second text (the model takes text pairs)"
            raise DataError(
                f"{path}: a plain text file has no {what}; use TSV, CSV or JSONL "
                f"with a {'label' if need_labels else 'second text'} column"
            )
        rows: list[dict[str, Any]] = [{"text": line} for line in text.splitlines() if line.strip()]
        columns = ["text"]
    elif kind == "jsonl":
        rows = _jsonl_rows(path, text)
        columns = sorted({k for row in rows for k in row})
    else:
        rows, columns = _table_rows(path, text, "\t" if kind == "tsv" else ",")
    if not rows:
        raise DataError(f"{path}: no examples (the file is empty or holds only a header)")
    word_key = next((k for k in WORD_COLUMNS if isinstance(rows[0].get(k), list)), None)
    if word_key is not None and kind == "jsonl":
        return _tagged(
            path,
            rows,
            word_key,
            _label_key(path, columns, label_column, need_labels, TAG_COLUMNS, ("tags", "them")),
        )
    text_key, pair_key = _text_keys(path, columns, text_column, pair_column, pairs)
    label_key = _label_key(path, columns, label_column, need_labels)
    examples = _examples(path, rows, text_key, label_key)
    if words:  # untagged text for a token classifier: its words, no tags
        return replace(examples, words=[t.split() for t in examples.texts])
    if pair_key is None:
        return examples
    return replace(examples, pairs=_second_texts(path, rows, pair_key))


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line}; "
            "convert it to UTF-8"
        ) from None
    if "\x00" in text:  # valid UTF-8 can hold NULs; no text file does (UTF-16 text does)
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(
            f"{path}: a binary file (or UTF-16 text), not UTF-8 text: a NUL byte on line "
            f"{line}; convert it to UTF-8 text"
        )
    return text


def _jsonl_rows(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number} is not JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise DataError(
                f"{path}: line {number} must be a JSON object, not {type(row).__name__}"
            )
        rows.append(row)
    return rows


def _table_rows(path: Path, text: str, delimiter: str) -> tuple[list[dict[str, Any]], list[str]]:
    # A field cannot be longer than the file it is in: the limit follows the file, so a long
    # document reads whole instead of failing at the csv module's default of 131,072 characters.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    # QUOTE_NONE for TSV: tab-separated corpora (GLUE among them) carry bare quotes in the text.
    if delimiter == "\t":
        reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = list(reader.fieldnames or [])
    rows = []
    for row in reader:
        if None in row:
            raise DataError(
                f"{path}: line {reader.line_num} has more fields than the header "
                f"({len(columns)}: {', '.join(columns)})"
            )
        rows.append(row)
    return rows, columns


def _pick(
    path: Path, columns: list[str], wanted: str | None, defaults: tuple[str, ...], option: str
) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(
                f"{path}: no column {wanted!r} ({option}){did_you_mean(wanted, columns)};"
                f" columns: {', '.join(columns)}"
            )
        return wanted
    for name in defaults:
        if name in columns:
            return name
    raise DataError(f"{path}: no text column among {', '.join(columns)}; name it with {option}")


def _text_keys(
    path: Path,
    columns: list[str],
    text_column: str | None,
    pair_column: str | None,
    pairs: bool | None,
) -> tuple[str, str | None]:
    """The column of the text and of the second text (None: single texts)."""
    if pairs is False:
        return _pick(path, columns, text_column, TEXT_COLUMNS, "--text-column"), None
    if pair_column is not None:
        second = _pick(path, columns, pair_column, (), "--pair-column")
        partners = tuple(a for a, b in PAIR_COLUMNS if b == second) + TEXT_COLUMNS
        return _pick(path, columns, text_column, partners, "--text-column"), second
    for first, second in PAIR_COLUMNS:
        if second in columns and (text_column is not None or first in columns):
            return _pick(path, columns, text_column, (first,), "--text-column"), second
    if pairs:
        raise DataError(
            f"{path}: no second text column among {', '.join(columns)} (the model takes text "
            f"pairs); name it with --pair-column, or use one of "
            f"{', '.join(dict.fromkeys(b for _, b in PAIR_COLUMNS))}"
        )
    return _pick(path, columns, text_column, TEXT_COLUMNS, "--text-column"), None


def _tagged(path: Path, rows: list[dict[str, Any]], word_key: str, tag_key: str | None) -> Examples:
    """Token-classification examples: each row's words and, when the file has them, a tag a
    word; a row whose count of tags is not its count of words is refused by its number."""
    all_words, raw = [], []
    for number, row in enumerate(rows, 1):
        words = row.get(word_key)
        if (
            not isinstance(words, list)
            or not words
            or not all(isinstance(w, str) and w.strip() for w in words)
        ):
            raise DataError(f"{path}: example {number} has no list of words in {word_key!r}")
        all_words.append([w.strip() for w in words])
        if tag_key is not None:
            tags = row.get(tag_key)
            if not isinstance(tags, list) or len(tags) != len(words):
                count = len(tags) if isinstance(tags, list) else "no list of"
                raise DataError(
                    f"{path}: example {number} has {count} tags in {tag_key!r} for "
                    f"{len(words)} words; give one tag a word"
                )
            raw.append([str(t).strip() for t in tags])
    texts = [" ".join(w) for w in all_words]
    if tag_key is None:
        return Examples(texts=texts, labels=None, label_names=None, source=str(path),
                        words=all_words)  # fmt: skip
    names = _label_names([t for tags in raw for t in tags])
    index = {name: i for i, name in enumerate(names)}
    return Examples(
        texts=texts,
        labels=None,
        label_names=names,
        source=str(path),
        words=all_words,
        tags=[[index[t] for t in tags] for tags in raw],
    )


def _second_texts(path: Path, rows: list[dict[str, Any]], key: str) -> list[str]:
    seconds = []
    for number, row in enumerate(rows, 1):
        value = row.get(key)
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{path}: example {number} has no second text in {key!r}")
        seconds.append(value.strip())
    return seconds


def _label_key(
    path: Path,
    columns: list[str],
    wanted: str | None,
    need: bool,
    names: tuple[str, ...] = LABEL_COLUMNS,
    what: tuple[str, str] = ("label column", "it"),
) -> str | None:
    """The column of the labels (or, with ``TAG_COLUMNS``, of a token classifier's tags):
    ``wanted``, else one of ``names``; None when the file has none and none is needed."""
    if wanted is None and not any(name in columns for name in names):
        if need:
            raise DataError(
                f"{path}: no {what[0]} among {', '.join(columns)}; name {what[1]} with "
                "--label-column"
            )
        return None
    return _pick(path, columns, wanted, names, "--label-column")


def _examples(
    path: Path, rows: list[dict[str, Any]], text_key: str, label_key: str | None
) -> Examples:
    texts, raw = [], []
    for number, row in enumerate(rows, 1):
        value = row.get(text_key)
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{path}: example {number} has no text in {text_key!r}")
        texts.append(value.strip())
        if label_key is not None:
            label = row.get(label_key)
            if label is None or (isinstance(label, str) and not label.strip()):
                raise DataError(f"{path}: example {number} has no label in {label_key!r}")
            raw.append(label)
    if label_key is None:
        return Examples(texts=texts, labels=None, label_names=None, source=str(path))
    names = _label_names(raw)
    if len(names) < 2:
        raise DataError(
            f"{path}: the label column {label_key!r} holds one class ({names[0]!r}); "
            "classification needs at least two"
        )
    index = {name: i for i, name in enumerate(names)}
    return Examples(
        texts=texts,
        labels=[index[str(v).strip()] for v in raw],
        label_names=names,
        source=str(path),
    )


def _label_names(raw: list[Any]) -> list[str]:
    names = {str(v).strip() for v in raw}
    if all(_is_int(n) for n in names):
        return sorted(names, key=int)  # 0, 1, 2 ... keep their own order
    return sorted(names)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def split_holdout(examples: Examples, fraction: float, seed: int) -> tuple[Examples, Examples]:
    """A seeded random split into (train, eval); eval gets at least one example."""
    if not 0 < fraction < 1:
        raise DataError(f"--eval-fraction {fraction}: must be between 0 and 1")
    if len(examples) < 2:
        raise DataError(f"{examples.source}: {len(examples)} example(s) cannot be split for eval")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    cut = max(1, round(len(order) * fraction))
    return examples.subset(sorted(order[cut:])), examples.subset(sorted(order[:cut]))
