"""``edgedistil convert``: a student directory -> a verified ``.tflite`` file for a LiteRT or
TFLite Micro target, in any scheme the tflite format carries (``schemes.py``).

The path: PyTorch weights -> the encoder rewritten as a plain ``tf.function`` (``tf_bert``),
checked against PyTorch -> ``tf.lite.TFLiteConverter.from_concrete_functions`` with a
representative dataset from the calibration text -> the LiteRT interpreter on eval text against
PyTorch -> the op check for the target runtime (``tflite_ops``). Not onnx2tf: it needs five more
packages and hands the converter a graph (LayerNorm with DIV, int64 ids, a mask made of
comparisons and SELECT_V2) on which full-integer int8 crashed at invoke and 16x8 did not convert.
Writing the graph here is what makes full-integer int8 run (see ``tf_bert``).

The converter is set from the scheme's facts: its weight type (float16 storage, or int8), its
calibrated activations (a representative dataset), its integer output (integer kernels only:
int8, or 16x8 under int16 activations; ids and mask are int32 in every scheme), and whether the
residual stream is split (``tf_bert.outlier_dims``).

The file is written as ``.model.<scheme>.tflite.tmp`` and renamed only when it matches PyTorch
within the budget and passes the op check; ``model.<scheme>.json`` beside it records it.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgedistil.errors import ExportError
from edgedistil.export import tflite_fallback, tflite_metadata, tflite_ops
from edgedistil.families import uses_token_types
from edgedistil.files import staged_file, write_json
from edgedistil.schemes import Scheme, get_scheme, scheme_names
from edgedistil.verify import kernels, tags
from edgedistil.verify.fidelity import Fidelity, compare, compare_words
from edgedistil.verify.mediapipe import MediaPipeCheck

if TYPE_CHECKING:
    from edgedistil.data import Examples

log = logging.getLogger(__name__)

# The converter's op set for a graph with integer inputs and outputs, by its activation type
INTEGER_OPS = {
    "int8": "TFLITE_BUILTINS_INT8",
    "int16": "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8",
}
NAMES = ("input_ids", "attention_mask")
PAIR_NAMES = (*NAMES, "token_type_ids")  # a pair model of a family with segments
# The tf.function must be PyTorch's model before any conversion: fp32 summation order only,
# or, with a GELU approximation (TFLite Micro has no GELU kernel), the approximation's own error.
GRAPH_LIMIT = {"exact": 1e-4, "tanh": 2e-2, "sigmoid": 5e-2}  # sigmoid: its ~0.02 per unit
FLOAT_LIMIT = 1e-3  # a float32 .tflite must pass the ONNX path's parity limit
CALIBRATION_SENTENCES = 200  # ranges of 200 sentences of the sample text settle to ~1%
EVAL_SENTENCES = 200
# One disagreement in 1,000 is the 99.9% step; 200 could not tell 99.5% from 100%.
MEDIAPIPE_SENTENCES = 1_000


@dataclass(frozen=True, kw_only=True)
class TFLiteSpec:
    student: Path
    out: Path
    scheme: str
    sequence_length: int
    runtime: str = "litert"  # or "tflite-micro": sigmoid GELU and the TFLite Micro op check
    calibration: Path
    eval_text: Path
    max_drop: float  # the budget on 1 - agreement, accuracy points, or 1 - mean cosine
    target: str | None = None
    calibration_sentences: int = CALIBRATION_SENTENCES
    eval_sentences: int = EVAL_SENTENCES
    # MediaPipe Tasks metadata (tokenizer, labels) in a LiteRT file; TFLite Micro has no reader
    metadata: bool = True
    mediapipe_sentences: int = MEDIAPIPE_SENTENCES
    # over the budget, keep every LiteRT operator but the fully connected layers and lookups float
    # (``tflite_fallback``); False: the all-int8 file or nothing
    fallback: bool = True


@dataclass(frozen=True, kw_only=True)
class Reference:
    """The eval text as int32 arrays, PyTorch's outputs on it, and its labels if any (for a
    token classifier, its words): what the LiteRT file and later TFLite Micro are scored by."""

    arrays: dict[str, np.ndarray]
    outputs: np.ndarray
    task: str
    labels: list[int] | None
    words: tags.Words | None = None

    def score(self, candidate: np.ndarray, rows: int | None = None) -> Fidelity:
        """``candidate``'s outputs on the first ``rows`` sentences (all: None) against
        PyTorch's. A token classifier is scored on its real tokens only: the graph gives a
        padding token another position than RoBERTa's PyTorch does (which nothing reads)."""
        rows = len(candidate) if rows is None else rows
        reference = self.outputs[:rows]
        if self.words is None:
            labels = self.labels[:rows] if self.labels is not None else None
            return compare(reference, candidate, self.task, labels)
        real = self.arrays["attention_mask"][:rows, :, None] > 0
        words = tags.first(self.words, rows)
        return compare_words(reference * real, candidate * real, words, words)


@dataclass(frozen=True, kw_only=True)
class TFLiteResult:
    path: Path
    record: Path
    scheme: str
    task: str
    bytes: int
    sha256: str
    fidelity: Fidelity
    ops: tflite_ops.OpCheck
    rewrites: tuple[str, ...]
    output_quantization: tuple[float, int] | None  # (scale, zero point) of an integer output
    mask_bias: float
    outliers: tuple[int, ...]  # hidden dimensions carried in their own int8 tensor
    sequence_length: int
    inputs: tuple[str, ...] = NAMES
    reference: Reference = field(repr=False, compare=False)
    mediapipe: MediaPipeMetadata
    fallback: tflite_fallback.Outcome | None = field(default=None, repr=False)
    # the raw eval inputs (up to mediapipe_sentences): what a tokenizer beside the file is
    # checked on (the C tokenizer of a microcontroller build)
    eval_texts: tuple[Any, ...] = field(repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class MediaPipeMetadata:
    """The metadata in the file and MediaPipe's run of it, or why the file carries none."""

    written: tflite_metadata.Metadata | None
    check: MediaPipeCheck | None
    reason: str | None  # why there is no metadata

    def describe(self) -> str:
        """One line for a person: what the file carries and how MediaPipe ran it, or why not."""
        if self.written is None or self.check is None:
            return f"No MediaPipe metadata: {self.reason}."
        w = self.written
        labels = f", labels {', '.join(w.labels)}" if w.labels else ""
        return (
            f"MediaPipe metadata ({w.task}: {w.vocab_tokens:,}-token WordPiece vocabulary"
            f"{labels}; {w.bytes:,} bytes): {self.check.describe()}."
        )

    def record(self) -> dict[str, Any]:
        return {
            "written": self.written is not None,
            "reason": self.reason,
            **(asdict(self.written) if self.written else {}),
            "check": asdict(self.check) if self.check else None,
        }


@dataclass(frozen=True, kw_only=True)
class _Prepared:
    fn: Any
    reference: Reference
    tokenizer: Any
    texts: list[Any]  # the eval inputs MediaPipe is run on, raw
    labels: list[str] | None  # the classifier's labels by index (id2label)
    pairs: bool
    calibration: list[dict[str, np.ndarray]]
    inputs: tuple[str, ...]
    mask_bias: float
    outliers: tuple[int, ...]
    rewrites: tuple[str, ...]


def convert_tflite(spec: TFLiteSpec) -> TFLiteResult:
    """Convert, verify in LiteRT, check the ops (and MediaPipe's run of its metadata); only a
    file that passes all of them is written."""
    if spec.scheme not in tflite_schemes():
        raise ExportError(f'scheme "{spec.scheme}": allowed {", ".join(tflite_schemes())}')
    if spec.runtime not in tflite_ops.RUNTIMES:
        raise ExportError(f'runtime "{spec.runtime}": allowed {", ".join(tflite_ops.RUNTIMES)}')
    prepared = _prepare(spec)
    data = _convert(prepared, spec.scheme)
    fallback = _fall_back(spec, prepared, data)
    data = data if fallback is None else fallback.data
    data, written, reason = _with_metadata(spec, prepared, data)
    spec.out.mkdir(parents=True, exist_ok=True)
    final = spec.out / f"model.{spec.scheme}.tflite"
    record = spec.out / f"model.{spec.scheme}.json"
    with staged_file(final) as staging:
        staging.write_bytes(data)
        outputs, quant = run_litert(staging, prepared.reference.arrays)
        fidelity = prepared.reference.score(outputs)
        _check_fidelity(spec, fidelity, fallback)
        ops = _check_runtime(data, spec)
        check = _check_mediapipe(spec, prepared, staging, written) if written else None
        record.unlink(missing_ok=True)  # a file without its record is unfinished, never mismatched
    result = TFLiteResult(
        path=final,
        record=record,
        scheme=spec.scheme,
        task=prepared.reference.task,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        fidelity=fidelity,
        ops=ops,
        rewrites=prepared.rewrites,
        output_quantization=quant,
        mask_bias=prepared.mask_bias,
        outliers=prepared.outliers,
        sequence_length=spec.sequence_length,
        inputs=prepared.inputs,
        reference=prepared.reference,
        mediapipe=MediaPipeMetadata(written=written, check=check, reason=reason),
        fallback=fallback,
        eval_texts=tuple(prepared.texts),
    )
    write_json(result.record, record_of(result, spec))
    return result


def _fall_back(
    spec: TFLiteSpec, prepared: _Prepared, data: bytes
) -> tflite_fallback.Outcome | None:
    """Where the all-int8 file misses the budget and LiteRT can run float operators, the
    conversion that keeps all but the fully connected layers and lookups float (None: not needed,
    not asked for, or not possible)."""
    scheme = get_scheme(spec.scheme)
    if not spec.fallback or not tflite_fallback.applies(scheme, spec.runtime):
        return None

    def drop(candidate: bytes) -> float:
        def score(path: Path) -> Fidelity:
            return prepared.reference.score(run_litert(path, prepared.reference.arrays)[0])

        return tflite_fallback.scored(candidate, score).drop

    def convert(kept_float: tuple[str, ...]) -> bytes:
        converter = _converter(prepared.fn, scheme, prepared.calibration)
        calibration = lambda: _representative(prepared.calibration)  # noqa: E731
        return tflite_fallback.converted_keeping_float(converter, calibration, kept_float)

    first = drop(data)
    if first <= spec.max_drop + 1e-9:
        return None
    log.info(
        "the %s .tflite loses %.4f (allowed %.4f): falling back", spec.scheme, first, spec.max_drop
    )
    return tflite_fallback.search(data, first, drop, convert, spec.max_drop)


def _with_metadata(
    spec: TFLiteSpec, prepared: _Prepared, data: bytes
) -> tuple[bytes, tflite_metadata.Metadata | None, str | None]:
    """The file with MediaPipe metadata when it can carry it, else as it is and why not."""
    if spec.runtime != "litert":
        return data, None, f"{spec.runtime} reads no metadata"
    if not spec.metadata:
        return data, None, "left out on request"
    task = prepared.reference.task
    integer = get_scheme(spec.scheme).integer_output is not None
    reason = tflite_metadata.refusal(spec.student, task, prepared.pairs, integer)
    if reason is not None:
        log.warning(
            "the %s .tflite carries no MediaPipe metadata: %s; its tokenizer files are beside it",
            spec.scheme,
            reason,
        )
        return data, None, reason
    out, written = tflite_metadata.with_metadata(data, spec.student, task, prepared.labels)
    return out, written, None


def _check_mediapipe(
    spec: TFLiteSpec, prepared: _Prepared, path: Path, written: tflite_metadata.Metadata
) -> MediaPipeCheck:
    """MediaPipe's task on the raw eval text against LiteRT on the Hugging Face tokenizer's ids
    (the host pipeline); a file it refuses, or that misses the bar, is not written."""
    from edgedistil.verify import mediapipe
    from edgedistil.verify.text import encode

    texts = [str(t) for t in prepared.texts]
    arrays = encode(prepared.tokenizer, texts, spec.sequence_length, PAIR_NAMES, "int32")
    host, _ = run_litert(path, arrays)
    probe = tflite_metadata.tokenizer_probe(spec.student, spec.sequence_length)
    ids = arrays["input_ids"] * 2 + arrays["attention_mask"]
    try:
        check = mediapipe.check(path.read_bytes(), probe, written.task, texts, host, ids)
    except mediapipe.MediaPipeError as exc:
        raise ExportError(f"{spec.student}: the {spec.scheme} .tflite: {exc}") from None
    where = f"{check.sentences} sentences of {spec.eval_text}"
    if not check.passed:
        raise ExportError(
            f"{spec.student}: the {spec.scheme} .tflite's metadata, on {where}: "
            f"{check.describe()}; not written (convert --no-metadata writes it without)"
        )
    if check.same_tokens < check.sentences:
        log.warning(
            "MediaPipe's BertTokenizer reads %d of %s otherwise than the student's tokenizer "
            "(it lower-cases ASCII only and keeps accents): apps on MediaPipe get other tokens "
            "for such text",
            check.sentences - check.same_tokens,
            where,
        )
    return check


def _check_runtime(data: bytes, spec: TFLiteSpec) -> tflite_ops.OpCheck:
    ops = tflite_ops.check_ops(data, spec.runtime)
    if not ops.passed:
        raise ExportError(
            f"{spec.student}: the {spec.scheme} .tflite uses what {spec.runtime} cannot run: "
            f"{ops.describe()}"
        )
    if spec.runtime == "tflite-micro":  # the op list is not all: kernels exist per type
        from edgedistil.export.micro_interpreter import check_micro_runs

        try:
            check_micro_runs(data)
        except ExportError as exc:
            raise ExportError(f"{spec.student}: the {spec.scheme} .tflite: {exc}") from None
    return ops


def _prepare(spec: TFLiteSpec) -> _Prepared:
    from edgedistil.export import model as model_mod
    from edgedistil.export import tf_bert, tf_weights
    from edgedistil.teacher import load_teacher_model, resolve_teacher, takes_pairs

    teacher = resolve_teacher(str(spec.student))
    model_mod.check_family(teacher)
    model_mod.check_length(teacher, spec.sequence_length)
    model = load_teacher_model(teacher)
    model.set_attn_implementation("eager")  # type: ignore[operator]
    head = model_mod.read_head(model, teacher.path)  # "default" resolves to the shipped teacher
    tokenizer = _tokenizer(teacher.path)
    pairs = takes_pairs(spec.student)
    # a pair model of a family with segments tells its two texts apart by segment ids
    segments = pairs and uses_token_types(teacher.config, tokenizer)
    names = PAIR_NAMES if segments else NAMES
    text, calibration = _text(spec, tokenizer, names, pairs, head.task == tags.TASK)
    reference = _reference(spec, model, head, text, tokenizer, names, segments)
    weights = tf_weights.read_weights(model, head, spec.sequence_length, segments=segments)
    found = tf_bert.ranges(weights, calibration, spec.sequence_length)
    gelu = "sigmoid" if spec.runtime == "tflite-micro" else "exact"
    # int8 activations need the outliers apart; float, dynamic-range and 16-bit schemes do not
    outliers = tf_bert.outlier_dims(found) if get_scheme(spec.scheme).split_residual else ()
    fn = tf_bert.build(
        weights, length=spec.sequence_length, gelu=gelu, mask_bias=found.mask_bias,
        outliers=outliers,
    )  # fmt: skip
    _check_graph(fn, reference, head.output, gelu, spec.student)
    return _Prepared(
        fn=fn,
        reference=reference,
        tokenizer=tokenizer,
        texts=list(text.inputs[: spec.mediapipe_sentences]),
        labels=_labels(model.config),
        pairs=pairs,
        calibration=calibration,
        inputs=names,
        mask_bias=found.mask_bias,
        outliers=outliers,
        rewrites=_rewrites(outliers, gelu),
    )


def _reference(
    spec: TFLiteSpec,
    model: Any,
    head: Any,
    text: Examples,
    tokenizer: Any,
    names: tuple[str, ...],
    segments: bool,
) -> Reference:
    """PyTorch on the first eval examples: what the converted file is scored against."""
    from edgedistil.export import model as model_mod
    from edgedistil.verify.parity import torch_outputs
    from edgedistil.verify.text import encode

    text = text.subset(list(range(min(spec.eval_sentences, len(text)))))
    arrays = encode(tokenizer, text.inputs, spec.sequence_length, names, "int32")
    tagger = head.task == tags.TASK
    return Reference(
        arrays=arrays,
        outputs=torch_outputs(model_mod.wrap(model, head, segments), arrays),
        task=head.task,
        labels=text.labels,
        words=tags.words_of(model.config.to_dict(), text, tokenizer, spec.sequence_length)
        if tagger
        else None,
    )


def _labels(config: Any) -> list[str] | None:
    """A classifier's label names by class index; None without names."""
    id2label = getattr(config, "id2label", None) or {}
    return [str(id2label[i]) for i in sorted(id2label)] or None


def _text(
    spec: TFLiteSpec, tokenizer: Any, names: tuple[str, ...], pairs: bool, words: bool
) -> tuple[Examples, list[dict[str, np.ndarray]]]:
    """The eval examples, and the calibration text as int32 batches: (text, pair) inputs for a
    pair model, words for a token classifier."""
    from edgedistil.verify.text import batches, read_text

    text = read_text(spec.eval_text, tokenizer, warn=False, pairs=pairs, words=words).examples
    calib = read_text(spec.calibration, tokenizer, pairs=pairs, words=words).examples.inputs
    calibration = list(
        batches(
            tokenizer,
            calib[: spec.calibration_sentences],
            length=spec.sequence_length,
            names=list(names),
            dtype="int32",
            batch_size=32,
        )  # fmt: skip
    )
    return text, calibration


def _rewrites(outliers: tuple[int, ...], gelu: str) -> tuple[str, ...]:
    """What the graph does differently from PyTorch's, for the record."""
    rewrites = [
        "LayerNorm as FULLY_CONNECTED sums/SUB/MUL/RSQRT (no DIV)",
        "attention mask as GATHER + ADD",
    ]
    if outliers:
        rewrites.append(f"residual stream split: dimensions {list(outliers)} in their own tensor")
    if gelu == "sigmoid":
        rewrites.insert(0, "GELU -> x*sigmoid(1.702x) GELU (TFLite Micro has no GELU kernel)")
    return tuple(rewrites)


def _tokenizer(path: Path) -> Any:
    from edgedistil.teacher import load_tokenizer

    return load_tokenizer(path, error=ExportError)


def _check_graph(fn: Any, reference: Reference, output: str, gelu: str, student: Path) -> None:
    arrays = reference.arrays
    rows = [
        fn(**{n: a[i : i + 1] for n, a in arrays.items()})[output].numpy()
        for i in range(len(reference.outputs))
    ]
    diff = reference.score(np.concatenate(rows)).max_abs_diff
    # an approximated GELU errs in proportion to what it is given: outputs of order 10 (logits
    # of a confident classifier) differ ten times as much as unit-sized ones
    scale = 1.0 if gelu == "exact" else max(1.0, float(np.max(np.abs(reference.outputs))))
    if diff > GRAPH_LIMIT[gelu] * scale:
        raise ExportError(
            f"{student}: the TensorFlow graph differs from PyTorch by {diff:.2e} (allowed "
            f"{GRAPH_LIMIT[gelu] * scale:.1e} with {gelu} GELU on outputs up to {scale:.1f}); "
            "the model is not its family's plain encoder"
        )


def tflite_schemes() -> tuple[str, ...]:
    """What this conversion makes: every scheme the tflite format carries (TFLite Micro's are
    among them)."""
    return scheme_names("tflite")


def _converter(fn: Any, scheme: Scheme, calibration: list[dict[str, np.ndarray]]) -> Any:
    """The converter set up for ``scheme``, from the facts the scheme carries."""
    import tensorflow as tf  # type: ignore[import-untyped]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    if not scheme.exact:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if scheme.weights == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if scheme.calibrated:
        converter.representative_dataset = lambda: _representative(calibration)
    if scheme.integer_output is not None:
        ops = INTEGER_OPS[scheme.activations[0]]
        converter.target_spec.supported_ops = [getattr(tf.lite.OpsSet, ops)]
        converter.inference_output_type = getattr(tf, scheme.integer_output)
    return converter


def _convert(prepared: _Prepared, scheme: str) -> bytes:
    converter = _converter(prepared.fn, get_scheme(scheme), prepared.calibration)
    try:
        with warnings.catch_warnings():
            # full-int8 with int32 ids: "Statistics for quantized inputs were expected" is about
            # the float inputs it would quantize, and there are none
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            data: bytes = converter.convert()
    except Exception as exc:  # the converter raises ConverterError and plain RuntimeErrors
        first = next((line for line in str(exc).splitlines() if "error" in line.lower()), str(exc))
        raise ExportError(f"the {scheme} conversion failed: {first.strip()[:300]}") from None
    return data


def _representative(calibration: list[dict[str, np.ndarray]]) -> Any:
    for batch in calibration:
        for row in range(len(batch["input_ids"])):
            yield [batch[name][row : row + 1] for name in batch]


def run_litert(
    path: Path, arrays: dict[str, np.ndarray], threads: int = 1
) -> tuple[np.ndarray, tuple[float, int] | None]:
    """Outputs of the LiteRT interpreter, one row at a time, dequantized when integer."""
    from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    inputs = {_input_name(d["name"]): d["index"] for d in interpreter.get_input_details()}
    out = interpreter.get_output_details()[0]
    scale, zero = out["quantization"]
    quant = (float(scale), int(zero)) if out["dtype"] in (np.int8, np.int16) else None
    if tflite_metadata.SEGMENT_INPUT in inputs and tflite_metadata.SEGMENT_INPUT not in arrays:
        # the input added for MediaPipe, which no operator reads: it gets MediaPipe's zeros
        zeros = np.zeros_like(arrays["input_ids"])
        arrays = {**arrays, tflite_metadata.SEGMENT_INPUT: zeros}
    rows = []
    for i in range(len(next(iter(arrays.values())))):
        for name, index in inputs.items():
            interpreter.set_tensor(index, arrays[name][i : i + 1])
        interpreter.invoke()
        rows.append(dequantize(interpreter.get_tensor(out["index"]), quant))
    return np.concatenate(rows), quant


def _input_name(name: str) -> str:
    for known in PAIR_NAMES:
        if known in name:
            return known
    raise ExportError(f'input "{name}" of the .tflite: expected {", ".join(PAIR_NAMES)}')


def input_names(path: Path) -> tuple[str, ...]:
    """A .tflite's inputs by name (``PAIR_NAMES``), in the file's order."""
    from ai_edge_litert.interpreter import Interpreter

    return tuple(
        _input_name(d["name"]) for d in Interpreter(model_path=str(path)).get_input_details()
    )


def dequantize(values: np.ndarray, quant: tuple[float, int] | None) -> np.ndarray:
    if quant is None:
        return values.astype(np.float32)
    result: np.ndarray = (values.astype(np.float32) - quant[1]) * quant[0]
    return result


def _check_fidelity(
    spec: TFLiteSpec, fidelity: Fidelity, fallback: tflite_fallback.Outcome | None = None
) -> None:
    exact = get_scheme(spec.scheme).exact and spec.runtime == "litert"
    if exact and fidelity.max_abs_diff > FLOAT_LIMIT:
        raise ExportError(
            f"{spec.student}: the {spec.scheme} .tflite differs from PyTorch by "
            f"{fidelity.max_abs_diff:.2e} (allowed {FLOAT_LIMIT:.0e}); not written"
        )
    if fidelity.drop > spec.max_drop + 1e-9:
        raise ExportError(
            f"{spec.student}: the {spec.scheme} .tflite loses {fidelity.drop:.4f} "
            f"{fidelity.metric} against PyTorch on {fidelity.sentences} sentences of "
            f"{spec.eval_text} (allowed {spec.max_drop:.4f})"
            + ("" if fallback is None else f" with the least loss of: {fallback.describe()}")
            + "; not written"
            + _hint(spec)
        )


def _hint(spec: TFLiteSpec) -> str:
    if not get_scheme(spec.scheme).int8_activations:
        return ""
    more_text = ""
    if _narrow(spec.student):  # measured: 0.016 after 60k sentences, 0.029 after 600
        more_text = " or train the narrow student on more text (an undertrained one rounds worse)"
    if spec.runtime == "tflite-micro":  # no int16 GATHER there: fewer layers round fewer times
        return f"; try a student with fewer layers (build --layers){more_text}"
    return f"; try --scheme int16x8 or dynamic-int8{more_text}"


def _narrow(student: Path) -> bool:
    """Whether ``distill --hidden`` made this student (its record lists the kept dimensions)."""
    from edgedistil.teacher import read_student_note

    note = read_student_note(student)
    return bool(note and note.settings and note.settings.hidden_dims)


def record_of(result: TFLiteResult, spec: TFLiteSpec) -> dict[str, Any]:
    return {
        "student": str(spec.student),
        "target": spec.target,
        "runtime": spec.runtime,
        "file": result.path.name,
        "scheme": result.scheme,
        "task": result.task,
        "inputs": {name: ["int32", [1, spec.sequence_length]] for name in result.inputs},
        "output_quantization": result.output_quantization,
        "sequence_length": spec.sequence_length,
        "mask_bias": result.mask_bias,
        "outlier_dims": list(result.outliers),
        "rewrites": list(result.rewrites),
        "bytes": result.bytes,
        "sha256": result.sha256,
        "fidelity": asdict(result.fidelity) | {"drop": result.fidelity.drop},
        "max_drop": spec.max_drop,
        "ops": result.ops.ops,
        "xnnpack_fallback": list(result.ops.fallback),
        # operators kept float to meet the budget (tflite_fallback); None: not needed
        "fallback": None if result.fallback is None else result.fallback.record(),
        "mediapipe": result.mediapipe.record(),
        "verified_on": kernels.host_facts(),
    }
