from __future__ import annotations

from pathlib import Path

import pytest

from edgedistil.data import read_examples, split_holdout
from edgedistil.errors import DataError


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_plain_text_one_per_line_skips_blank_lines(tmp_path: Path) -> None:
    ex = read_examples(_write(tmp_path / "a.txt", "hello there\n\n  set a timer  \n"))
    assert ex.texts == ["hello there", "set a timer"] and ex.labels is None


def test_tsv_with_string_labels_numbered_in_sorted_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.tsv", 'sentence\tlabel\nit "rocks"\tpos\nmeh\tneg\nfine\tpos\n')
    ex = read_examples(path)
    assert ex.texts == ['it "rocks"', "meh", "fine"]  # bare quotes survive in TSV
    assert ex.label_names == ["neg", "pos"] and ex.labels == [1, 0, 1]


def test_csv_with_named_columns_and_int_labels(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", 'id,body,y\n1,"a, b",10\n2,c,2\n3,d,10\n')
    ex = read_examples(path, text_column="body", label_column="y")
    assert ex.texts == ["a, b", "c", "d"]
    assert ex.label_names == ["2", "10"] and ex.labels == [1, 0, 1]  # numeric order, not text


def test_jsonl(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "a.jsonl", '{"text": "one", "label": 0}\n\n{"text": "two", "label": 1}\n'
    )
    ex = read_examples(path, need_labels=True)
    assert ex.texts == ["one", "two"] and ex.labels == [0, 1] and ex.label_names == ["0", "1"]


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "message"),
    [
        ("e.txt", "", {}, "no examples"),
        ("h.tsv", "sentence\tlabel\n", {}, "no examples"),
        (
            "m.tsv",
            "sentence\tlabel\na\t1\n",
            {"text_column": "sentense"},
            "no column 'sentense' (--text-column) (did you mean \"sentence\"?)",
        ),
        ("l.tsv", "sentence\tlabel\na\t1\n", {"label_column": "lable"}, 'did you mean "label"'),
        ("o.tsv", "sentence\tlabel\na\t1\nb\t1\n", {}, "holds one class ('1')"),
        ("u.bin", "x", {}, "unknown format '.bin'"),
        ("j.jsonl", '{"text": "a"}\n[1]\n', {}, "line 2 must be a JSON object"),
        ("k.jsonl", '{"text": "a"}\n{oops\n', {}, "line 2 is not JSON"),
        ("n.txt", "a\n", {"need_labels": True}, "a plain text file has no labels"),
        ("x.tsv", "text\n a \n", {"need_labels": True}, "no label column among text"),
        ("y.tsv", "text\tlabel\na\tx\tz\n", {}, "line 2 has more fields than the header"),
        ("z.tsv", "text\tlabel\na\t\nb\t1\n", {}, "example 1 has no label in 'label'"),
        # text pairs
        ("e.tsv", "text\ttext_b\na\tb\nc\t \n", {}, "example 2 has no second text in 'text_b'"),
        ("m.jsonl", '{"premise": "a", "hypothesis": "b"}\n{"premise": "c"}\n', {},
         "example 2 has no second text in 'hypothesis'"),
        ("n.tsv", "text\tlabel\na\t0\n", {"pairs": True},
         "no second text column among text, label (the model takes text pairs); name it with "
         "--pair-column"),
        ("t.txt", "a\n", {"pairs": True}, "a plain text file has no second text"),
        ("c.tsv", "text\tlabel\na\t0\n", {"pair_column": "hypothesys"},
         "no column 'hypothesys' (--pair-column)"),
    ],
)  # fmt: skip
def test_bad_files_give_one_clear_error(
    tmp_path: Path, name: str, content: str, kwargs: dict[str, object], message: str
) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        read_examples(path, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value) and name in str(info.value)
    assert "\n" not in str(info.value)


def test_nul_bytes_are_binary_or_utf16_not_text(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("good film\nbad film\n".encode("utf-16-le"))  # no BOM: valid UTF-8
    with pytest.raises(DataError, match=r"a binary file \(or UTF-16 text\), not UTF-8 text: a NUL"):
        read_examples(path)


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "latin1.txt", "fine\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 text: byte 0xe9 on line 2"):
        read_examples(path)


def test_holdout_is_seeded_and_disjoint(tmp_path: Path) -> None:
    ex = read_examples(_write(tmp_path / "a.txt", "\n".join(f"t{i}" for i in range(50))))
    train, held = split_holdout(ex, 0.2, seed=1)
    again, _ = split_holdout(ex, 0.2, seed=1)
    assert len(held) == 10 and len(train) == 40 and train.texts == again.texts
    assert not set(train.texts) & set(held.texts)
    with pytest.raises(DataError, match="--eval-fraction 1.5"):
        split_holdout(ex, 1.5, seed=1)


@pytest.mark.parametrize(("suffix", "sep"), [(".tsv", "\t"), (".csv", ",")])
def test_a_field_longer_than_the_csv_default_limit(tmp_path: Path, suffix: str, sep: str) -> None:
    long = "word " * 40_000  # 200,000 characters: past the csv module's 131,072
    path = tmp_path / f"long{suffix}"
    path.write_text(f"text{sep}label\n{long}{sep}a\nshort{sep}b\n", encoding="utf-8")
    examples = read_examples(path)
    assert examples.texts == [long.strip(), "short"] and examples.labels == [0, 1]


# ---- text pairs ----


@pytest.mark.parametrize(
    ("header", "first", "second"),
    [
        ("sentence1\tsentence2\tlabel", "sentence1", "sentence2"),
        ("premise\thypothesis\tlabel", "premise", "hypothesis"),
        ("question1\tquestion2\tlabel", "question1", "question2"),
        ("text\ttext_b\tlabel", "text", "text_b"),
        ("question\tsentence\tlabel", "question", "sentence"),
    ],
)
def test_pair_columns_are_found_by_their_usual_names(
    tmp_path: Path, header: str, first: str, second: str
) -> None:
    path = _write(tmp_path / "p.tsv", f"{header}\na b\tc d\tyes\ne\tf g\tno\n")
    ex = read_examples(path, need_labels=True)
    assert ex.texts == ["a b", "e"] and ex.pairs == ["c d", "f g"]
    assert ex.inputs == [("a b", "c d"), ("e", "f g")]
    assert ex.label_names == ["no", "yes"] and ex.labels == [1, 0]
    assert ex.subset([1]).inputs == [("e", "f g")]


def test_pair_column_named_on_the_command_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "id,left,right,y\n1,a,b,0\n2,c,d,1\n")
    ex = read_examples(path, text_column="left", pair_column="right", label_column="y")
    assert ex.inputs == [("a", "b"), ("c", "d")]
    # a named second column alone: its usual partner, else the usual text names
    other = _write(tmp_path / "q.jsonl", '{"text": "a", "b2": "x"}\n{"text": "c", "b2": "y"}\n')
    assert read_examples(other, pair_column="b2").inputs == [("a", "x"), ("c", "y")]


def test_single_text_data_has_no_pairs_and_pairs_can_be_ignored(tmp_path: Path) -> None:
    assert read_examples(_write(tmp_path / "s.tsv", "text\tlabel\na\t0\nb\t1\n")).pairs is None
    path = _write(tmp_path / "p.tsv", "sentence1\tsentence2\na\tb\n")
    with pytest.raises(DataError, match="no text column"):  # sentence1 is not a single text name
        read_examples(path, pairs=False)
    ex = read_examples(path, text_column="sentence1", pairs=False)
    assert ex.inputs == ["a"] and ex.pairs is None
