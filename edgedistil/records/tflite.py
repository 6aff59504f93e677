"""``model.<scheme>.json`` beside each ``.tflite`` (``edgedistil.export.tflite.record_of`` writes
it once the file passed LiteRT, the fidelity budget and the op check).

Nothing in edgedistil reads it back yet (the build lists the ``.tflite`` in its manifest and
bench reads the file itself): the model is the record's definition, checked against what the
writer writes by ``tests/export/test_tflite.py``, for the first reader to parse it with."""

from __future__ import annotations

from pydantic import Field

from edgedistil.records._base import Record


class Fidelity(Record):
    """``verify.fidelity.Fidelity`` as ``asdict`` writes it, with its ``drop``."""

    task: str
    sentences: int
    metric: str  # "accuracy", "agreement" or "cosine"
    float_score: float
    int8_score: float
    max_abs_diff: float
    agreement: float | None
    mean_cosine: float | None
    drop: float


class MediaPipeCheck(Record):
    """``verify.mediapipe.MediaPipeCheck``: MediaPipe's task on raw text against the host's."""

    task: str
    sentences: int = Field(gt=0)
    same_tokens: int = Field(ge=0)  # sentences MediaPipe's tokenizer gave the host's ids
    agreement: float | None
    agreement_same_tokens: float | None
    mean_cosine: float | None
    min_cosine: float | None
    mean_cosine_same_tokens: float | None


class MediaPipe(Record):
    """The MediaPipe Tasks metadata in the file (``export.tflite_metadata``), or why none."""

    written: bool
    reason: str | None
    task: str | None = None  # "TextClassifier" or "TextEmbedder"
    bytes: int | None = Field(default=None, ge=0)  # what the metadata added to the file
    vocab_tokens: int | None = None
    labels: list[str] | None = None
    added_input: bool | None = None  # token_type_ids added for MediaPipe, read by no operator
    check: MediaPipeCheck | None = None


class FallbackStep(Record):
    kept_float: list[str]  # operator types left float ([]: all int8)
    drop: float


class Fallback(Record):
    """``export.tflite_fallback.Outcome.record``: what a file over its budget kept float."""

    fits: bool
    kept_float: list[str]
    steps: list[FallbackStep] = Field(min_length=2)  # all int8 first, then each step tried


class TFLiteRecord(Record):
    student: str
    target: str | None
    runtime: str  # export.tflite_ops.RUNTIMES
    file: str
    scheme: str
    task: str
    inputs: dict[str, list[str | list[int]]]  # name -> ["int32", [1, length]]
    # (scale, zero point) of an integer output; JSON has no tuple, so a list of the two.
    output_quantization: list[float] | None = Field(min_length=2, max_length=2)
    sequence_length: int = Field(gt=0)
    mask_bias: float
    outlier_dims: list[int]
    rewrites: list[str]
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    fidelity: Fidelity
    max_drop: float
    ops: dict[str, int]  # operator -> number of nodes
    xnnpack_fallback: list[str]
    fallback: Fallback | None  # None: the all-int8 file fitted, or none was tried
    mediapipe: MediaPipe
    verified_on: dict[str, str]  # verify.kernels.host_facts
