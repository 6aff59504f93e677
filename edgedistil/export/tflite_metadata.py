"""MediaPipe Tasks metadata in a phone or watch ``.tflite``: the student's tokenizer and labels
inside the file, so an app hands raw text to MediaPipe's ``TextClassifier`` / ``TextEmbedder``
(the same C++ task on Android, iOS, Web and Python) and gets the host pipeline's answer.

What MediaPipe's BERT text tasks require (read from its C++ and checked against mediapipe 1.2.3):
three int32 ``[1, L]`` inputs, described in the metadata as ``ids``, ``mask`` and
``segment_ids``; a ``BertTokenizer`` input process unit naming a WordPiece vocabulary file; for a
classifier a float output with a ``labels.txt`` (one label a class, in index order); for an
embedder a float output. The associated files are appended to the ``.tflite`` as a zip archive,
which LiteRT and every flatbuffer reader ignore.

The metadata is written here from the flatbuffer schemas directly: ``metadata_schema`` from the
mediapipe wheel and LiteRT's own ``schema_py_generated`` for the model. MediaPipe's Python
``metadata_writers`` do the same, but they do not import in mediapipe 1.2.x (its native
``_pywrap_metadata_version`` module is missing from the wheel); the files are equal to what the
writers of 0.10.21 write, and ``verify.mediapipe`` proves each one by loading it in MediaPipe.

A single-text student has two inputs (segment row 0 is folded into the position table, see
``tf_weights``); MediaPipe insists on the third, so an int32 ``token_type_ids`` input that no
operator reads is added: MediaPipe fills it with zeros, which is the segment folded in.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistil.errors import ExportError

METADATA_NAME = "TFLITE_METADATA"  # the Model.metadata entry every metadata reader looks up
# BertTokenizer process units appeared in metadata parser 1.1.0 (metadata_version.cc)
MIN_PARSER_VERSION = "1.1.0"
SEGMENT_INPUT = "token_type_ids"
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "labels.txt"
# MediaPipe's WordPiece hard-codes these (bert_tokenizer.h); another vocabulary's names would be
# looked up under these and fail.
MEDIAPIPE_SPECIALS = {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unk": "[UNK]"}
# The metadata's names for the three inputs, by the graph's names for them.
ROLES = {"input_ids": "ids", "attention_mask": "mask", SEGMENT_INPUT: "segment_ids"}
TASKS = {"classification": "TextClassifier", "embedding": "TextEmbedder"}


@dataclass(frozen=True, kw_only=True)
class Metadata:
    """What ``with_metadata`` put into the file."""

    task: str  # the MediaPipe task that loads it: TASKS' values
    bytes: int  # what the metadata and its files added to the .tflite
    vocab_tokens: int
    labels: tuple[str, ...] | None
    added_input: bool  # token_type_ids was added for MediaPipe (read by no operator)


def refusal(student: Path, task: str, pairs: bool, integer_output: bool) -> str | None:
    """Why MediaPipe's text tasks cannot take this student's ``.tflite``, or None when they can.
    A file without metadata still ships, with its tokenizer files beside it; the reason is
    recorded and shown, never silent."""
    from edgedistil.export import c_tokenizer

    if task not in TASKS:
        return f"MediaPipe has text tasks for {' and '.join(TASKS)} only, not {task}"
    if pairs:
        return "MediaPipe's text tasks take one text, and this model takes text pairs"
    if integer_output:
        return "MediaPipe's text tasks read float outputs, and this scheme's output is integer"
    try:
        spec = c_tokenizer.read_spec(student)
    except ExportError as exc:  # not WordPiece, or not BERT's normalizer: the same refusal
        return f"MediaPipe's BertTokenizer cannot express it: {exc}"
    if not spec.lowercase:
        return "MediaPipe's BertTokenizer lower-cases all text, and this vocabulary is cased"
    names = {key: name for key, name in MEDIAPIPE_SPECIALS.items() if spec.vocab.get(name) is None}
    if names or spec.prefix != "##":
        return (
            "MediaPipe's BertTokenizer needs BERT's special tokens "
            f"({', '.join(MEDIAPIPE_SPECIALS.values())}) and the ## prefix"
        )
    return None


def with_metadata(data: bytes, student: Path, task: str, labels: list[str] | None) -> tuple[
    bytes, Metadata
]:  # fmt: skip
    """``data`` (a converted .tflite) with the metadata MediaPipe's ``TASKS[task]`` loads."""
    from ai_edge_litert import schema_py_generated as schema  # type: ignore[import-untyped]

    from edgedistil.export import c_tokenizer

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    added = _add_segment_input(model, schema)
    names = _input_names(model)
    vocab = c_tokenizer.read_spec(student).vocab
    files = {VOCAB_FILE: _vocab_text(student, vocab)}
    if task == "classification":
        if not labels:
            raise ExportError(f"{student}: a classifier's metadata needs its labels (id2label)")
        files[LABELS_FILE] = "".join(f"{label}\n" for label in labels).encode()
    meta = _metadata(names, task)
    _attach(model, meta, schema)
    out = _zip_append(_pack(model, schema), files)
    return out, Metadata(
        task=TASKS[task],
        bytes=len(out) - len(data),
        vocab_tokens=len(vocab),
        labels=tuple(labels) if task == "classification" and labels else None,
        added_input=added,
    )


def tokenizer_probe(student: Path, length: int) -> bytes:
    """A ``.tflite`` with the same tokenizer metadata whose embedding is the token ids and mask
    MediaPipe fed it (``2 * id + mask`` as floats, exact below 2**24): MediaPipe's tokenizer
    measured against the student's, apart from the model."""
    import tensorflow as tf  # type: ignore[import-untyped]

    spec = [tf.TensorSpec([1, length], tf.int32, name=name) for name in ROLES]

    @tf.function(input_signature=spec)  # type: ignore[untyped-decorator]
    def probe(input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        del token_type_ids  # zeros for one text, as in the student's file
        return {"ids": tf.cast(input_ids * 2 + attention_mask, tf.float32)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([probe.get_concrete_function()])
    data, _ = with_metadata(converter.convert(), student, "embedding", None)
    return data


def _add_segment_input(model: Any, schema: Any) -> bool:
    """Give a two-input graph the third int32 input MediaPipe feeds; False when it has one."""
    graph = model.subgraphs[0]
    if len(graph.inputs) != 2:
        return False
    ids = graph.tensors[graph.inputs[0]]
    tensor = schema.TensorT()
    tensor.shape = np.array(ids.shape, np.int32)
    tensor.type = schema.TensorType.INT32
    tensor.buffer = 0  # buffer 0 is the model's empty sentinel: no data, as for every input
    tensor.name = SEGMENT_INPUT
    graph.tensors.append(tensor)
    index = len(graph.tensors) - 1
    graph.inputs = np.append(np.asarray(graph.inputs, np.int32), np.int32(index))
    for signature in model.signatureDefs or []:  # LiteRT's signature runner sees it too
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = SEGMENT_INPUT, index
        signature.inputs.append(entry)
    return True


def _input_names(model: Any) -> list[str]:
    """The graph's inputs in order, by the names ``ROLES`` knows."""
    graph = model.subgraphs[0]
    names = []
    for index in graph.inputs:
        raw = graph.tensors[index].name
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        known = next((role for role in ROLES if role in name), None)
        if known is None:
            raise ExportError(f'input "{name}" of the .tflite: expected {", ".join(ROLES)}')
        names.append(known)
    return names


def _vocab_text(directory: Path, vocab: dict[str, int]) -> bytes:
    """vocab.txt: token i on line i, as MediaPipe numbers them."""
    from edgedistil.export.c_tokenizer import vocab_lines

    return "".join(f"{token}\n" for token in vocab_lines(directory, vocab)).encode("utf-8")


def _metadata(inputs: list[str], task: str) -> bytes:
    """The ModelMetadata flatbuffer (file identifier M001)."""
    import flatbuffers  # type: ignore[import-untyped]
    from mediapipe.tasks.metadata import (  # type: ignore[import-untyped]
        metadata_schema_py_generated as md,
    )

    tokenizer = md.ProcessUnitT()
    tokenizer.optionsType = md.ProcessUnitOptions.BertTokenizerOptions
    tokenizer.options = md.BertTokenizerOptionsT()
    tokenizer.options.vocabFile = [_file(md, VOCAB_FILE, md.AssociatedFileType.VOCABULARY)]
    graph = md.SubGraphMetadataT()
    graph.inputTensorMetadata = [_tensor(md, ROLES[name]) for name in inputs]
    graph.outputTensorMetadata = [_output(md, task)]
    graph.inputProcessUnits = [tokenizer]
    meta = md.ModelMetadataT()
    meta.name = "edgedistil student"
    meta.description = f"A distilled {task} student with its WordPiece tokenizer, by edgedistil."
    meta.subgraphMetadata = [graph]
    meta.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(0)
    builder.Finish(meta.Pack(builder), b"M001")
    return bytes(builder.Output())


def _output(md: Any, task: str) -> Any:
    if task != "classification":
        return _tensor(md, "embedding")
    scores = _tensor(md, "score")
    scores.associatedFiles = [_file(md, LABELS_FILE, md.AssociatedFileType.TENSOR_AXIS_LABELS)]
    return scores


def _tensor(md: Any, name: str) -> Any:
    tensor = md.TensorMetadataT()
    tensor.name = name
    tensor.content = md.ContentT()
    tensor.content.contentPropertiesType = md.ContentProperties.FeatureProperties
    tensor.content.contentProperties = md.FeaturePropertiesT()
    tensor.stats = md.StatsT()
    return tensor


def _file(md: Any, name: str, kind: int) -> Any:
    entry = md.AssociatedFileT()
    entry.name, entry.type = name, kind
    return entry


def _attach(model: Any, meta: bytes, schema: Any) -> None:
    """The metadata as Model.metadata[TFLITE_METADATA], in a buffer of its own."""
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(meta, np.uint8)
    model.buffers = list(model.buffers or []) + [buffer]
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    kept = [m for m in model.metadata or [] if _name(m.name) != METADATA_NAME]
    model.metadata = [*kept, entry]


def _name(raw: bytes | str | None) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _pack(model: Any, schema: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def _zip_append(data: bytes, files: dict[str, bytes]) -> bytes:
    """The associated files as a zip after the flatbuffer (stored, dated 1980: the same input
    gives the same bytes)."""
    out = io.BytesIO(data)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return out.getvalue()
