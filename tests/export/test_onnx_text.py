"""The text-input ONNX model (export/onnx_text.py): raw strings through onnxruntime-extensions'
BertTokenizer in real ORT give the host path's ids and outputs; what it cannot run is refused
with one line; a model that does not match is never left behind."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from edgedistil.data import SAMPLE_TEXT
from edgedistil.errors import ExportError
from edgedistil.export import onnx_text
from edgedistil.export.onnx import ExportSpec, export_onnx, read_record
from edgedistil.verify.text import encode
from tests.conftest import SPECIALS, WORDS, error_line, save_tiny
from tests.tiny_families import save_tiny_family

EXTRA = ["café", "cafe", "naive", "über", "电", "影", "é", "##é", "##ü", "°", "##°"]
# Accents (stripped by the lower-casing BERT tokenizer), CJK (one token a character),
# punctuation runs, blank text, a sentence longer than the length, words the vocabulary spells
# only letter by letter.
HARD = [
    "Café NAÏVE über!",
    "我看电影, 电影好",
    "the movie ... was good?!",
    "",
    "   ",
    "the phone battery " * 12,
    "Ünïcödé çàfé, déjà vu (really).",
    "Set a timer for 10 minutes: 'now' -- ok?",
]


def _student(directory: Path, architecture: str, **overrides: object) -> Path:
    """A tiny random BERT whose WordPiece vocabulary holds the alphabet, as a pruned student's
    keeps it (``tokens.single_pieces``): any English word can be spelt."""
    alphabet = list(string.ascii_lowercase + string.digits)
    tokens = SPECIALS + WORDS + EXTRA + list(string.punctuation) + alphabet
    tokens = list(dict.fromkeys(tokens + ["##" + c for c in alphabet]))
    save_tiny(directory, architecture, vocab_size=len(tokens), **overrides)  # type: ignore[arg-type]
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return directory


def _texts() -> list[str]:
    lines = [line.strip() for line in SAMPLE_TEXT.read_text().splitlines() if line.strip()]
    return lines[:40] + HARD


def _export(student: Path, out: Path, **kw: object) -> Path:
    export_onnx(
        ExportSpec(
            student=student,
            out=out,
            sequence_length=16,
            parity_text=SAMPLE_TEXT,
            **kw,  # type: ignore[arg-type]
        )
    )
    return out


@pytest.mark.parametrize(
    ("architecture", "kw"),
    [
        ("BertModel", {}),
        ("BertForSequenceClassification", {"input_dtype": "int32"}),
        ("BertModel", {"dynamic": True}),
    ],
    ids=["embedding", "classifier-int32", "embedding-dynamic"],
)
def test_the_text_model_gives_the_host_paths_ids_and_outputs(
    architecture: str, kw: dict[str, object], tmp_path: Path
) -> None:
    overrides = {"num_labels": 3} if "Classification" in architecture else {}
    out = _export(_student(tmp_path / "student", architecture, **overrides), tmp_path / "out", **kw)
    texts = _texts()
    made = onnx_text.write_text_model(out / "model.onnx", out, texts)
    assert made.path == out / "model.text.onnx" and made.path.is_file()
    assert made.fidelity.passed and made.fidelity.sentences == len(texts)
    if made.fidelity.task == "classification":
        assert made.fidelity.agreement == 1.0
    else:
        # Same ids (below); the dynamic graph's kernels differ from the host run's by ~1e-4
        assert made.fidelity.cosine_min is not None and made.fidelity.cosine_min > 0.999
    assert made.extra_bytes > 0
    # The tokenizer part alone gives the Hugging Face tokenizer's arrays exactly.
    record = read_record(out)
    front = onnx_text.tokenizer_graph(onnx_text.read_settings(out), record, 17, 8)
    session = onnx_text.text_session(front.SerializeToString())
    from edgedistil.teacher import load_tokenizer

    tokenizer = load_tokenizer(out)
    for text in texts:
        got = session.run(None, {"text": np.array([text], dtype=object)})
        want = encode(tokenizer, [text], record.sequence_length, tuple(record.inputs), "int64")
        for name, array in zip(record.inputs, got, strict=True):
            assert array.dtype == np.dtype(record.input_dtype)
            assert array.tolist() == want[name].tolist(), (text, name)


def test_a_text_model_that_does_not_match_is_not_left_behind(tmp_path: Path) -> None:
    """The tests' usual 99-token vocabulary has no alphabet: a word it cannot spell is one [UNK]
    to Hugging Face, but its spelt prefix and an [UNK] to BertTokenizer, so the embeddings of
    the sample text part (mean cosine ~0.997, measured)."""
    out = _export(save_tiny(tmp_path / "student"), tmp_path / "out")
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ExportError) as info:
        onnx_text.write_text_model(out / "model.onnx", out, _texts())
    message = str(info.value)
    assert "\n" not in message and "model.text.onnx" in message
    assert "does not match the host path: cosine" in message and "needs >= 0.999" in message
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_bpe_tokenizer_is_refused_in_one_line(tmp_path: Path, runner: CliRunner) -> None:
    student = save_tiny_family(tmp_path / "roberta", "roberta")
    result = runner.invoke(
        cli, ["export", str(student), "--out", str(tmp_path / "out"), "--text-input"]
    )
    line = error_line(result)
    assert "the tokenizer is BPE" in line and "BertTokenizer" in line and "WordPiece" in line
    assert not (tmp_path / "out" / "model.onnx").exists()  # refused before the export


@pytest.mark.parametrize(
    ("pairs", "task", "words"),
    [
        (True, "classification", "takes text pairs"),
        (False, "token-classification", "token classifier"),
    ],
)
def test_pairs_and_token_classifiers_are_refused(
    pairs: bool, task: str, words: str, tmp_path: Path
) -> None:
    student = _student(tmp_path / "student", "BertModel")
    why = onnx_text.refusal(student, pairs=pairs, task=task)
    assert why is not None and "\n" not in why
    assert words in why and "takes one string" in why
    assert onnx_text.refusal(student, pairs=False, task="classification") is None


def test_cli_export_writes_the_text_model(tmp_path: Path, runner: CliRunner) -> None:
    student = _student(tmp_path / "student", "BertModel")
    out = tmp_path / "out"
    result = runner.invoke(cli, ["export", str(student), "--out", str(out), "--text-input"])
    assert result.exit_code == 0, result.output + result.stderr
    assert (out / "model.text.onnx").is_file()
    assert "model.text.onnx: text in, BertTokenizer in the graph" in result.output
    assert "cosine to the host path's" in result.output
    text = read_record(out).text_model  # recorded in export.json, read back strictly
    assert text is not None and text.path == "model.text.onnx" and text.sentences == 32
    assert text.cosine_mean is not None and text.cosine_mean >= onnx_text.MIN_COSINE
