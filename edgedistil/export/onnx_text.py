"""An ONNX model that takes raw text: the student's WordPiece tokenizer as onnxruntime-extensions'
``BertTokenizer`` operator (domain ``ai.onnx.contrib``) in front of the ids model, so that ORT, or
ORT Mobile built with the extensions library, runs ``text -> logits / embedding`` and an app
writes no tokenizer of its own.

The graph: input ``text`` (string, shape [1]: one sentence per run, as an app calls it) ->
``BertTokenizer`` with the folder's own (possibly pruned) vocabulary and its lower-casing,
accent-stripping and CJK settings, truncated to the model's length (the operator keeps
``max_length - 2`` pieces and adds [CLS] and [SEP]) -> each output padded to that length (ids
with the [PAD] id, mask and segments with 0; not for a dynamic-length export) -> [1, L] ->
cast to the model's input dtype -> the ids model unchanged. The output keeps its name.

The operator follows Hugging Face's BERT tokenizer but is its own C++, and differs where a
word cannot be spelt from the vocabulary: Hugging Face makes the whole word one [UNK], the
operator keeps the pieces it found and adds an [UNK] (a pruned student keeps every single
character and ``##`` form of the teacher's, ``tokens.single_pieces``, so only characters the
teacher never had, an emoji inside a word, reach this). Accents are stripped character by
character, not by NFD (a letter with two marks, Vietnamese "ộ", keeps them: 1 of the 926
held-out sample sentences, none of 6,735 SST-2 dev ones, ``benchmarks/onnx_text.py``), and
added tokens such as "[MASK]" written in the text are not matched
as one token. So the file is verified, not assumed: ``write_text_model`` runs it in ORT with
the extensions library on the eval sentences and compares it with the host path (the Hugging
Face tokenizer feeding the ids model): a classifier must give the same class on >= 99.5% of
them, an embedding a mean cosine >= 0.999. Only a verified file is renamed into place.

Refused with one line (``refusal``): a tokenizer that is not BERT's WordPiece (the operator is
BertTokenizer: a BPE or unigram student has no text graph), a model that takes text pairs or
classifies tokens (the graph takes one string and returns the model's output for it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgedistil.errors import ExportError
from edgedistil.files import staged_file
from edgedistil.verify.parity import RAW_TEXT_AGREEMENT, RAW_TEXT_COSINE
from edgedistil.verify.tags import TASK as TOKEN_TASK

if TYPE_CHECKING:
    import onnx

    from edgedistil.records.export import ExportRecord

TEXT_INPUT = "text"
DOMAIN = "ai.onnx.contrib"
MIN_AGREEMENT = RAW_TEXT_AGREEMENT  # classifier: share of sentences with the host path's class
MIN_COSINE = RAW_TEXT_COSINE  # embedding: mean cosine to the host path's embedding
_PREFIX = "text_tokenizer/"  # the tokenizer's own tensor names: none of the model's
_BATCH = 64  # host-path sentences per ORT run


@dataclass(frozen=True, kw_only=True)
class BertSettings:
    """What the BertTokenizer operator needs of a folder's tokenizer."""

    vocab: list[str]  # tokens by id: the operator numbers them by line
    lowercase: bool
    strip_accents: bool
    chinese: bool
    prefix: str
    unk: str
    cls: str
    sep: str
    pad: str
    mask: str
    pad_id: int


@dataclass(frozen=True, kw_only=True)
class TextFidelity:
    """The text model against the host path on the same sentences."""

    task: str
    sentences: int
    agreement: float | None = None  # classifier
    cosine_mean: float | None = None  # embedding
    cosine_min: float | None = None

    @property
    def passed(self) -> bool:
        if self.agreement is not None:
            return self.agreement >= MIN_AGREEMENT
        return self.cosine_mean is not None and self.cosine_mean >= MIN_COSINE

    def describe(self) -> str:
        if self.agreement is not None:
            return (
                f"same class as the host path on {self.agreement:.2%} of {self.sentences} "
                f"sentences (needs >= {MIN_AGREEMENT:.1%})"
            )
        return (
            f"cosine to the host path's embedding mean {self.cosine_mean:.5f}, min "
            f"{self.cosine_min:.5f} on {self.sentences} sentences (mean needs >= {MIN_COSINE})"
        )

    def to_dict(self) -> dict[str, Any]:
        figures = {
            "agreement": self.agreement,
            "cosine_mean": self.cosine_mean,
            "cosine_min": self.cosine_min,
        }
        kept = {k: round(v, 6) for k, v in figures.items() if v is not None}
        return {"task": self.task, "sentences": self.sentences, **kept}


def text_path(ids_model: Path) -> Path:
    """``model.int8.onnx`` -> ``model.int8.text.onnx``, beside it."""
    return ids_model.with_name(ids_model.name.removesuffix(".onnx") + ".text.onnx")


def refusal(directory: Path, *, pairs: bool, task: str) -> str | None:
    """Why the folder's model cannot take raw text through BertTokenizer, or None."""
    if pairs:
        return (
            f"{directory}: the model takes text pairs, and the text-input ONNX graph takes one "
            "string per run; build it without [export].text_input"
        )
    if task == TOKEN_TASK:
        return (
            f"{directory}: a token classifier's logits are per token, and the text-input ONNX "
            "graph takes one string and returns no tokens to align them with; build it without "
            "[export].text_input"
        )
    try:
        read_settings(directory)
    except ExportError as exc:
        return str(exc)
    return None


def check_text_input(directory: Path, *, pairs: bool, task: str) -> None:
    if why := refusal(directory, pairs=pairs, task=task):
        raise ExportError(why)


def read_settings(directory: Path) -> BertSettings:
    """The folder's WordPiece tokenizer as the operator's attributes; else one ExportError."""
    from edgedistil.export.c_tokenizer import special_name, tokenizer_config, vocab_lines
    from edgedistil.tokens import load_backend

    backend = load_backend(directory, error=ExportError)
    if backend is None:
        raise ExportError(f"{directory}: no tokenizer (tokenizer.json or vocab.txt) to put in ONNX")
    spec: dict[str, Any] = json.loads(backend.to_str())
    _check_bert(directory, spec)
    vocab = vocab_lines(directory, spec["model"]["vocab"])
    normalizer = spec.get("normalizer") or {}
    lowercase = bool(normalizer.get("lowercase", False))
    strip = normalizer.get("strip_accents")
    config = tokenizer_config(directory)
    names = {k: special_name(config, k, f"[{k.upper()}]") for k in ("unk", "cls", "sep", "pad")}
    names["mask"] = special_name(config, "mask", "[MASK]")
    for key in ("unk", "cls", "sep", "pad"):  # the operator looks these up when it loads
        if names[key] not in spec["model"]["vocab"]:
            raise ExportError(f"{directory}: the vocabulary has no {names[key]} token")
    if names["mask"] not in spec["model"]["vocab"]:
        names["mask"] = names["unk"]  # looked up too, never used for a sentence
    return BertSettings(
        vocab=vocab,
        lowercase=lowercase,
        strip_accents=lowercase if strip is None else bool(strip),  # BERT's rule for None
        chinese=bool(normalizer.get("handle_chinese_chars", True)),
        prefix=str(spec["model"].get("continuing_subword_prefix", "##")),
        pad_id=int(spec["model"]["vocab"][names["pad"]]),
        **names,
    )


def _check_bert(directory: Path, spec: dict[str, Any]) -> None:
    kind = (spec.get("model") or {}).get("type") or "unknown"
    normalizer = (spec.get("normalizer") or {}).get("type")
    pre = (spec.get("pre_tokenizer") or {}).get("type")
    if kind != "WordPiece":
        why = f"the tokenizer is {kind}"
    elif normalizer != "BertNormalizer" or pre != "BertPreTokenizer":
        why = f"its normalizer is {normalizer} and its pre-tokenizer {pre}, not BERT's"
    else:
        return
    raise ExportError(
        f"{directory}: {why}; the text-input ONNX graph tokenizes with onnxruntime-extensions' "
        "BertTokenizer operator, which needs a BERT WordPiece tokenizer (vocab.txt); build it "
        "without [export].text_input"
    )


def tokenizer_graph(
    settings: BertSettings, record: ExportRecord, opset: int, ir_version: int
) -> onnx.ModelProto:
    """``text`` -> the model's inputs, named as the model names them (padded and cast)."""
    from onnx import TensorProto, helper

    length = record.sequence_length
    nodes = [
        helper.make_node(
            "BertTokenizer",
            [TEXT_INPUT],
            [f"{_PREFIX}{n}" for n in ("input_ids", "token_type_ids", "attention_mask")],
            domain=DOMAIN,
            name=f"{_PREFIX}BertTokenizer",
            **_attributes(settings, length),
        )
    ]
    inits = [helper.make_tensor(f"{_PREFIX}axes", TensorProto.INT64, [1], [0])]
    if length is not None:
        nodes += _pad_nodes(length)
        inits += _pad_constants(length, settings.pad_id)
    for name in record.inputs:
        nodes += _finish_nodes(name, padded=length is not None, dtype=record.input_dtype)
    elem = TensorProto.INT32 if record.input_dtype == "int32" else TensorProto.INT64
    graph = helper.make_graph(
        nodes,
        "text_tokenizer",
        [helper.make_tensor_value_info(TEXT_INPUT, TensorProto.STRING, [1])],
        [helper.make_tensor_value_info(n, elem, [1, length]) for n in record.inputs],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid(DOMAIN, 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=ir_version)


def _attributes(settings: BertSettings, length: int | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "vocab_file": "\n".join(settings.vocab),
        "do_lower_case": int(settings.lowercase),
        "strip_accents": int(settings.strip_accents),
        "tokenize_chinese_chars": int(settings.chinese),
        "suffix_indicator": settings.prefix,
        **{f"{k}_token": getattr(settings, k) for k in ("unk", "cls", "sep", "pad", "mask")},
    }
    if length is not None:
        attrs["max_length"] = length  # [CLS] + at most length - 2 pieces + [SEP]
    return attrs


def _pad_nodes(length: int) -> list[onnx.NodeProto]:
    """pads = [0, length - n] for the operator's 1-D outputs of n ids."""
    from onnx import helper

    p = _PREFIX
    return [
        helper.make_node("Shape", [f"{p}input_ids"], [f"{p}n"]),
        helper.make_node("Sub", [f"{p}length", f"{p}n"], [f"{p}gap"]),
        helper.make_node("Concat", [f"{p}zero", f"{p}gap"], [f"{p}pads"], axis=0),
    ]


def _pad_constants(length: int, pad_id: int) -> list[onnx.TensorProto]:
    from onnx import TensorProto, helper

    p = _PREFIX
    return [
        helper.make_tensor(f"{p}length", TensorProto.INT64, [1], [length]),
        helper.make_tensor(f"{p}zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor(f"{p}pad_id", TensorProto.INT64, [], [pad_id]),
        helper.make_tensor(f"{p}pad_zero", TensorProto.INT64, [], [0]),
    ]


def _finish_nodes(name: str, *, padded: bool, dtype: str) -> list[onnx.NodeProto]:
    """One model input from the operator's output of the same name: padded, [1, L], cast."""
    from onnx import TensorProto, helper

    p = _PREFIX
    value = f"{p}{name}"  # the operator's output of that name
    nodes = []
    if padded:
        fill = f"{p}pad_id" if name == "input_ids" else f"{p}pad_zero"
        nodes.append(helper.make_node("Pad", [value, f"{p}pads", fill], [f"{p}{name}_padded"]))
        value = f"{p}{name}_padded"
    row = name if dtype == "int64" else f"{p}{name}_row"
    nodes.append(helper.make_node("Unsqueeze", [value, f"{p}axes"], [row]))
    if dtype != "int64":
        nodes.append(helper.make_node("Cast", [row], [name], to=TensorProto.INT32))
    return nodes


def text_model(ids_model: Path, export_dir: Path) -> onnx.ModelProto:
    """The ids model with the folder's tokenizer in front of it."""
    import onnx

    from edgedistil.export.onnx import read_record

    record = read_record(export_dir)
    check_text_input(export_dir, pairs=record.pairs, task=record.task)
    model = onnx.load(str(ids_model))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    front = tokenizer_graph(read_settings(export_dir), record, opset, model.ir_version)
    io_map = [(n, n) for n in record.inputs]
    merged = onnx.compose.merge_models(front, model, io_map=io_map)
    merged.graph.name = model.graph.name
    return merged


def text_session(path: Path | bytes) -> Any:
    """An ORT session with the extensions library's operators registered."""
    import onnxruntime as ort  # type: ignore[import-untyped]
    import onnxruntime_extensions  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
    source = str(path) if isinstance(path, Path) else path
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_text(session: Any, texts: list[str]) -> np.ndarray:
    """The text model's output for each sentence, one run each, stacked."""
    rows = [session.run(None, {TEXT_INPUT: np.array([t], dtype=object)})[0] for t in texts]
    return np.concatenate(rows, axis=0)


def host_outputs(ids_model: Path, export_dir: Path, texts: list[str]) -> np.ndarray:
    """The host path: the folder's Hugging Face tokenizer, then ORT on the ids model."""
    import onnxruntime as ort

    from edgedistil.export.onnx import read_record
    from edgedistil.teacher import load_tokenizer
    from edgedistil.verify.text import encode

    record = read_record(export_dir)
    tokenizer = load_tokenizer(export_dir, error=ExportError)
    session = ort.InferenceSession(str(ids_model), providers=["CPUExecutionProvider"])
    names, length = tuple(record.inputs), record.sequence_length
    rows = []
    for start in range(0, len(texts), _BATCH):
        chunk = texts[start : start + _BATCH]
        if length is None:  # dynamic length: one at a time, unpadded, as the text model runs
            for text in chunk:
                arrays = encode(tokenizer, [text], None, names, record.input_dtype)
                rows.append(session.run(None, arrays)[0])
            continue
        arrays = encode(tokenizer, chunk, length, names, record.input_dtype)
        rows.append(session.run(None, arrays)[0])
    return np.concatenate(rows, axis=0)


def compare(host: np.ndarray, text: np.ndarray, task: str) -> TextFidelity:
    n = int(host.shape[0])
    if task == "classification":
        same = float(np.mean(host.argmax(-1) == text.argmax(-1)))
        return TextFidelity(task=task, sentences=n, agreement=same)
    a, b = host.reshape(n, -1).astype(np.float64), text.reshape(n, -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = (a * b).sum(axis=1) / np.maximum(norms, 1e-12)
    return TextFidelity(
        task=task, sentences=n, cosine_mean=float(cosine.mean()), cosine_min=float(cosine.min())
    )


@dataclass(frozen=True, kw_only=True)
class TextModel:
    path: Path
    fidelity: TextFidelity
    bytes: int
    extra_bytes: int  # over the ids model: the vocabulary and the few nodes around it
    seconds: float  # to run the eval sentences through the text model, one at a time


def write_text_model(ids_model: Path, export_dir: Path, texts: list[str]) -> TextModel:
    """``text_path(ids_model)``, written only once it matches the host path on ``texts``."""
    import onnx

    from edgedistil.export.onnx import read_record

    if not texts:
        raise ExportError(f"{export_dir}: no eval sentences to verify the text-input model on")
    task = read_record(export_dir).task
    merged = text_model(ids_model, export_dir)
    final = text_path(ids_model)
    with staged_file(final) as staging:
        onnx.save(merged, str(staging))
        started = time.perf_counter()
        text = run_text(text_session(staging), texts)
        seconds = time.perf_counter() - started
        fidelity = compare(host_outputs(ids_model, export_dir, texts), text, task)
        if not fidelity.passed:
            raise ExportError(
                f"{final}: the text-input model does not match the host path: {fidelity.describe()}"
            )
        size = staging.stat().st_size
    return TextModel(
        path=final,
        fidelity=fidelity,
        bytes=size,
        extra_bytes=size - ids_model.stat().st_size,
        seconds=seconds,
    )
