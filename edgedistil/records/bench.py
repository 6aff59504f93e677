"""A bench result: ``<artifact>.bench/<board>-<time>.json`` and each line of ``history.jsonl``
(``edgedistil.bench.results.record`` writes both; ``check --bench``, the gate and
``bench --compare`` read them).

The board's own report (``result``) is partial (``extra="allow"``): the gate and ``--compare``
read p95 latency and peak RSS; the rest (runtime, inputs, every quantile) is for people.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from edgedistil.records._base import Record


class _Partial(Record):
    model_config = ConfigDict(extra="allow")


class Latency(_Partial):
    """``board_script.summarize``, or ``litert_tool.parse_tool_output`` where a quantile is
    null when the board's benchmark_model does not report it: the gate judges p95, the HTML
    report draws the six."""

    min: float | None = Field(ge=0)
    p50: float | None = Field(ge=0)
    p90: float | None = Field(ge=0)
    p95: float | None = Field(ge=0)
    p99: float | None = Field(ge=0)
    max: float | None = Field(ge=0)


class Memory(_Partial):
    peak_rss_bytes: int | None = Field(ge=0)  # None: the board could not measure it


class Tokenize(_Partial):
    """Tokenisation timed on the board, per sentence, apart from inference
    (``board_script.tokenize_text``, checked by ``bench.inputs.check_tokenized``); where it was
    not measured, ``reason`` says why. Shown beside latency; no budget reads it."""

    measured: bool
    tokenizer: str | None = None  # "tokenizers" or "builtin-wordpiece"
    latency_ms: Latency | None = None
    reason: str | None = None


class BoardResult(_Partial):
    """The board script's JSON object (``bench.board_script``), as stored; ``tokenize`` absent
    in results from before the board could tokenise."""

    latency_ms: Latency
    memory: Memory
    tokenize: Tokenize | None = None


class RanOnRecord(Record):
    """``bench.machine.RanOn.to_dict``; only ``runner`` is needed to judge where it ran."""

    runner: str
    board: str | None = None
    machine: str | None = None
    architecture: str | None = None
    cpu_model: str | None = None
    cores: int | None = None
    os: str | None = None
    host_is_target: bool = False


class BenchResult(Record):
    """One run of one board on one artifact's bytes. Results from before ``ran_on`` (schema 1)
    have none and count as unmeasured for latency and RSS; the keys the gate does not read
    (schema, artifact_bytes, target) are optional so such older files still read."""

    schema_: int | None = Field(default=None, alias="schema")
    timestamp: str
    artifact: str
    artifact_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    artifact_bytes: int | None = Field(default=None, ge=0)
    board: str
    runner: str
    target: str | None = None
    result: BoardResult
    ran_on: RanOnRecord | None = None

    @field_validator("schema_", "artifact_bytes", "ran_on", mode="before")
    @classmethod
    def _absent_not_null(cls, value: Any) -> Any:
        """Older results leave these keys out; ``record`` never writes them as null."""
        if value is None:
            raise ValueError("the key is left out when unknown, never null")
        return value

    def ran_on_dict(self) -> dict[str, Any] | None:
        return None if self.ran_on is None else self.ran_on.model_dump()
