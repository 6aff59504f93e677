"""MediaPipe Tasks metadata in a LiteRT file: the real MediaPipe ``TextEmbedder`` and
``TextClassifier`` load it and, on raw strings, give what the host pipeline (the Hugging Face
tokenizer + LiteRT) gives; files MediaPipe cannot serve say why; a file whose metadata MediaPipe
refuses or misreads is never written."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from edgedistil.errors import ExportError
from edgedistil.records import read_json
from edgedistil.records.tflite import TFLiteRecord
from tests.conftest import save_tiny, write_word_lines
from tests.distill.test_tokens import write_tagged
from tests.tiny_families import save_tiny_family

pytestmark = pytest.mark.slow  # each conversion runs TensorFlow's converter and MediaPipe

LENGTH = 16
# Raw strings an app would pass: case, punctuation, spacing, truncation past LENGTH, unknown
# words; none with accents (MediaPipe keeps them: see test_accents_are_counted_not_hidden).
TEXTS = [
    "the movie was good",
    "The Movie Was GOOD!",
    "  the   phone battery ,was;slow  ",
    "timer set for minutes, light off on the watch and the phone and the movie again",
    "unknownword the bad movie?",
]


def _convert(student: Path, out: Path, eval_text: Path, **overrides: Any) -> Any:
    from edgedistil.export.tflite import TFLiteSpec, convert_tflite

    settings: dict[str, Any] = {
        "student": student,
        "out": out,
        "scheme": "dynamic-int8",
        "sequence_length": LENGTH,
        "calibration": eval_text,
        "eval_text": eval_text,
        "max_drop": 0.5,  # a tiny random model: the tests judge MediaPipe against LiteRT
        "calibration_sentences": 32,
        "eval_sentences": 32,
        "mediapipe_sentences": 100,
    }
    return convert_tflite(TFLiteSpec(**(settings | overrides)))


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("text") / "eval.txt"
    lines = write_word_lines(path, 60, seed=3).read_text().splitlines()
    path.write_text("\n".join(lines + TEXTS) + "\n", encoding="utf-8")
    return path


def _host(path: Path, student: Path, texts: list[str]) -> np.ndarray:
    """The host pipeline: the student's own tokenizer, then LiteRT on the same file."""
    from edgedistil.export.tflite import run_litert
    from edgedistil.runtimes import int32_inputs

    outputs, _ = run_litert(path, int32_inputs(path, student, texts))
    return outputs


def _mediapipe(path: Path, task: str) -> Any:
    from mediapipe.tasks.python.core import base_options
    from mediapipe.tasks.python.text import text_classifier, text_embedder

    options = base_options.BaseOptions(model_asset_path=str(path))
    if task == "classifier":
        return text_classifier.TextClassifier.create_from_options(
            text_classifier.TextClassifierOptions(base_options=options)
        )
    return text_embedder.TextEmbedder.create_from_options(
        text_embedder.TextEmbedderOptions(base_options=options)
    )


def _files(path: Path) -> dict[str, str]:
    """The files appended to the .tflite (MediaPipe reads them as a zip)."""
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_mediapipe_embeds_raw_text_as_the_host_pipeline(text: Path, tmp_path: Path) -> None:
    student = save_tiny(tmp_path / "student")
    result = _convert(student, tmp_path / "out", text)
    written, check = result.mediapipe.written, result.mediapipe.check
    assert written.task == "TextEmbedder" and written.added_input
    assert written.bytes == result.bytes - len(_without_metadata(student, text, tmp_path))
    assert check.passed and check.same_tokens == check.sentences == 65
    assert _files(result.path)["vocab.txt"] == (student / "vocab.txt").read_text()
    with _mediapipe(result.path, "embedder") as embedder:
        ours = np.stack([embedder.embed(t).embeddings[0].embedding for t in TEXTS])
    host = _host(result.path, student, TEXTS)
    cos = np.sum(ours * host, -1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(host, axis=-1)
    assert cos.min() > 0.9999
    record = read_json(result.record, TFLiteRecord, error=ExportError)
    assert record.mediapipe.written and record.mediapipe.check is not None
    assert record.inputs.keys() == {"input_ids", "attention_mask"}  # what the graph reads


def _without_metadata(student: Path, text: Path, tmp_path: Path) -> bytes:
    result = _convert(student, tmp_path / "plain", text, metadata=False)
    assert result.mediapipe.written is None
    assert result.mediapipe.reason == "left out on request"
    return bytes(result.path.read_bytes())


def test_mediapipe_classifies_raw_text_with_the_labels(text: Path, tmp_path: Path) -> None:
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    student = save_tiny(
        tmp_path / "student", "BertForSequenceClassification", num_labels=3, id2label=labels
    )
    result = _convert(student, tmp_path / "out", text, scheme="static-int8")
    assert result.mediapipe.written.labels == tuple(labels.values())
    assert _files(result.path)["labels.txt"] == "negative\nneutral\npositive\n"
    assert result.mediapipe.check.agreement == 1.0
    with _mediapipe(result.path, "classifier") as classifier:
        found = [classifier.classify(t).classifications[0].categories for t in TEXTS]
    host = _host(result.path, student, TEXTS)
    for categories, row in zip(found, host, strict=True):
        top = max(categories, key=lambda c: c.score)
        assert top.index == int(np.argmax(row))
        assert top.category_name == labels[top.index]
        assert top.score == pytest.approx(float(row[top.index]), abs=1e-5)


def test_accents_are_counted_not_hidden(tmp_path: Path, caplog: Any) -> None:
    """MediaPipe's BertTokenizer keeps accents that the student's tokenizer strips: such
    sentences are measured as tokenized otherwise, warned about, and (under 5%) allowed."""
    student = save_tiny(tmp_path / "student")
    text = write_word_lines(tmp_path / "eval.txt", 40, seed=4)
    text.write_text(text.read_text() + "the movié was good\n", encoding="utf-8")
    result = _convert(student, tmp_path / "out", text)
    check = result.mediapipe.check
    assert (check.sentences, check.same_tokens) == (41, 40)
    assert "reads 1 of 41 sentences" in caplog.text
    text.write_text(text.read_text() + "bàd movié\n" * 3, encoding="utf-8")
    with pytest.raises(ExportError, match="host's ids on 40 of 44 sentences"):
        _convert(student, tmp_path / "out2", text)
    assert not (tmp_path / "out2" / "model.dynamic-int8.tflite").exists()


def test_metadata_mediapipe_misreads_is_not_written(
    text: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault injected into the writer (the vocabulary in the wrong order): MediaPipe runs the
    file, its ids are not the student's, and the file is refused, not shipped."""
    from edgedistil.export import tflite_metadata

    student = save_tiny(tmp_path / "student")
    real = tflite_metadata._vocab_text
    monkeypatch.setattr(
        tflite_metadata, "_vocab_text", lambda d, v: real(d, v).replace(b"movie", b"x")
    )
    with pytest.raises(ExportError, match="metadata.*not written"):
        _convert(student, tmp_path / "out", text)
    assert not list((tmp_path / "out").glob("*.tflite*"))


def test_metadata_mediapipe_refuses_is_an_error(
    text: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metadata that describes two inputs for a graph of three: MediaPipe refuses to load it."""
    from edgedistil.export import tflite_metadata

    student = save_tiny(tmp_path / "student")
    real = tflite_metadata._metadata
    monkeypatch.setattr(tflite_metadata, "_metadata", lambda names, task: real(names[:2], task))
    with pytest.raises(ExportError, match="MediaPipe TextEmbedder refused the file"):
        _convert(student, tmp_path / "out", text)
    assert not list((tmp_path / "out").glob("*.tflite*"))


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("bpe", "BertTokenizer cannot express it"),
        ("cased", "this vocabulary is cased"),
        ("full-int8", "this scheme's output is integer"),
        ("tokens", "not token-classification"),
    ],
)
def test_a_file_mediapipe_cannot_serve_says_why(
    case: str, reason: str, tmp_path: Path, caplog: Any
) -> None:
    text = write_word_lines(tmp_path / "eval.txt", 40, seed=5)
    scheme = "full-int8" if case == "full-int8" else "dynamic-int8"
    if case == "bpe":
        student = save_tiny_family(tmp_path / "student", "roberta")
    elif case == "tokens":
        student = save_tiny(tmp_path / "student", "BertForTokenClassification", num_labels=5)
        text = write_tagged(tmp_path / "eval.jsonl", 20)
    else:
        student = save_tiny(tmp_path / "student")
    if case == "cased":
        (student / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    result = _convert(student, tmp_path / "out", text, scheme=scheme, max_drop=1.0)
    assert result.mediapipe.written is None
    assert reason in result.mediapipe.reason
    assert "carries no MediaPipe metadata" in caplog.text
    record = json.loads(result.record.read_text())["mediapipe"]
    assert record["written"] is False and reason in record["reason"]


def test_convert_without_metadata(text: Path, tmp_path: Path) -> None:
    student = save_tiny(tmp_path / "student")
    result = CliRunner().invoke(
        cli,
        ["convert", str(student), "--target", "android-phone", "--out", str(tmp_path / "out"),
         "--sequence-length", str(LENGTH), "--eval", str(text), "--calibration", str(text),
         "--max-drop", "0.5", "--no-metadata"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert "No MediaPipe metadata: left out on request." in result.output
    assert "int32 input_ids/attention_mask [1, 16]" in result.output
