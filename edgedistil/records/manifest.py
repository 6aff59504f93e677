"""A build folder's ``manifest.json`` (``edgedistil.manifest.Manifest`` writes it after every
stage; ``check``, ``summary``, ``report`` and the next build read it).

Partial on purpose (``extra="allow"``) at three levels, and strict on every key a reader uses:
the top level carries the build's description (inputs, versions, split) that only people read;
a stage's record carries what that stage chose to note (summary, drop, kept_float); an
artifact's entry carries whatever its stage passed to ``add_artifact`` (scheme, vs_teacher).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from edgedistil.records._base import Record

SHA256 = r"^[0-9a-f]{64}$"
# A measured quantity an artifact may carry, each with the ``<quantity>_source`` saying how it
# was measured: the gate shows that source beside the number.
MEASURED = ("arena_bytes", "accuracy_drop", "drop_vs_teacher")


class _Partial(Record):
    model_config = ConfigDict(extra="allow")


class OpEstimate(Record):
    """One operator type's share of a latency estimate (``export.mcu_latency.OpLine``)."""

    nodes: int = Field(ge=1)
    work: int = Field(ge=0)
    unit: Literal["MACs", "elements"]
    key: str  # the [estimate] key of the profile that priced it
    low_ms: float = Field(ge=0)
    high_ms: float = Field(ge=0)


class LatencyEstimate(Record):
    """A latency estimated from op counts, never measured (``export.mcu_latency``)."""

    low_ms: float = Field(ge=0)
    high_ms: float = Field(ge=0)
    clock_mhz: int = Field(ge=1)
    macs: int = Field(ge=0)
    elements: int = Field(ge=0)
    breakdown: str
    source: str
    ops: dict[str, OpEstimate]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low_ms > self.high_ms:
            raise ValueError(f"low_ms {self.low_ms} above high_ms {self.high_ms}")
        return self


class ArmFigure(_Partial):
    """A release on the target's arm64 kernels under emulation (``bench.arm``): the accuracy
    budget reads ``accuracy_drop`` with ``source``."""

    accuracy_drop: float = Field(ge=0)
    source: str
    host_accuracy_drop: float
    vs_host: float  # argmax agreement or mean cosine with the host's run of the same bytes
    metric: Literal["agreement", "cosine"]
    sentences: int = Field(ge=1)
    core: str
    runtime: str


class Artifact(_Partial):
    """``Manifest.add_artifact``: a verified file, by its path under the build folder."""

    sha256: str = Field(pattern=SHA256)
    bytes: int = Field(ge=0)
    stage: str
    format: str | None = None
    # "release": what the gate judges; "text": the release with its tokenizer in the graph
    role: Literal["release", "float", "copy", "text"] | None = None
    arena_bytes: float | None = None
    arena_bytes_source: str | None = None
    accuracy_drop: float | None = None
    accuracy_drop_source: str | None = None
    drop_vs_teacher: float | None = None
    drop_vs_teacher_source: str | None = None
    drop_vs_teacher_unmeasured: str | None = None
    tokenizer_flash_bytes: int | None = None  # the C tokenizer beside a C array (build.micro)
    metadata_bytes: int | None = None  # MediaPipe metadata inside the file (build.tflite)
    notes: list[str] | None = None  # what the build verified beyond the budgets, in words
    eval_unk_rate: float | None = None
    eval_unk_sentences: float | None = None
    eval_unk_source: str | None = None
    # A microcontroller's latency estimated in the build (build.micro), or why none was made
    latency_estimate: LatencyEstimate | None = None
    latency_estimate_unavailable: str | None = None
    # The release on the target's arm64 kernels (build.arm), or why it could not be run there
    arm: ArmFigure | None = None
    arm_unmeasured: str | None = None

    @model_validator(mode="after")
    def _measured_with_source(self) -> Self:
        """A quantity present is a number with its source: the gate reads both."""
        for quantity in MEASURED:
            if quantity not in self.model_fields_set:
                continue
            if getattr(self, quantity) is None:
                raise ValueError(f"{quantity} is null; expected a number")
            if getattr(self, f"{quantity}_source") is None:
                raise ValueError(f"{quantity} without {quantity}_source")
        return self


class Stage(_Partial):
    """``Manifest.finish``: a stage done with ``key``, and the sha256 of each file it wrote.
    "redoing" (``Manifest.withdraw``): a redo began and has not finished; the old outputs are
    still there and its artifacts wait in ``withdrawn_artifacts``, seen by no gate."""

    key: str
    status: Literal["done", "redoing"]
    outputs: dict[str, str]
    withdrawn_artifacts: dict[str, Artifact] = {}


class ManifestRecord(_Partial):
    """The keys ``check``, ``summary`` and the build read; ``schema`` is checked before this
    model (``edgedistil.manifest.load``), so another version's manifest says so first."""

    schema_: Literal[1] = Field(alias="schema")  # "schema" shadows a BaseModel attribute
    stages: dict[str, Stage]
    artifacts: dict[str, Artifact]
    target: str | None = None
    profile: dict[str, Any] | None = None
