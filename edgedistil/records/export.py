"""``export.json``: what ``edgedistil export`` recorded about the ONNX file beside it
(``edgedistil.export.onnx._publish`` writes it; ``quantize`` and the build's runtimes read it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgedistil.records._base import Record


class Parity(Record):
    """``verify.parity.Parity`` as ``asdict`` writes it."""

    sentences: int
    max_abs_diff: float
    agreement: float | None
    min_cosine: float | None


class TextModel(Record):
    """``export --text-input``: the text-input model beside the float one and how it matched
    the host path (``export.onnx_text``)."""

    path: str
    bytes: int = Field(ge=0)
    extra_bytes: int
    task: str
    sentences: int = Field(ge=1)
    agreement: float | None = None
    cosine_mean: float | None = None
    cosine_min: float | None = None


class ExportRecord(Record):
    """Every key ``_publish`` writes. ``sequence_length`` is null for a dynamic-length graph."""

    student: str
    target: str | None
    task: Literal["classification", "token-classification", "embedding"]
    pairs: bool  # the model takes text pairs: its calibration and eval text are pairs too
    inputs: list[str] = Field(min_length=1)
    output: str
    input_dtype: Literal["int32", "int64"]  # [export].input_dtype's choices
    sequence_length: int | None = Field(gt=0)
    graph: Literal["fused", "plain"]  # export.graph.GRAPHS
    fused_operators: dict[str, int]
    pooling: str | None
    normalize: bool
    dense: list[int] | None
    opset: int
    parity: Parity
    bytes: int = Field(ge=0)
    text_model: TextModel | None = None  # export --text-input
