"""The release gate: every budget of a profile against what was measured. Pure: no files, no
printing; a broken budget is data (a ``Check`` with status ``fail``), not an exception.

Fail closed: a budget with no measurement fails, unless the caller allows unmeasured budgets,
when it is ``skipped`` and said so in every report. A measurement taken off the target (a bench
on the build host for a phone) is kept on its check, so every report shows it, labelled, but the
check's status is that of an unmeasured budget. A quantity the build tried and could not measure
(no teacher to compare with) carries the reason instead, shown where the source would be.

An estimate is not a measurement: a microcontroller's latency estimated from op counts
(``export.mcu_latency``) is kept on its artifact and shown in every report as an estimate with
its range; the latency budget counts it only when the caller allows estimates, and then judges
its high end (the conservative one), the check saying it judged an estimate. A measurement on
the target always wins over an estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgedistil.profiles import Budgets

PASS, FAIL, UNMEASURED, SKIPPED = "pass", "fail", "unmeasured", "skipped"


@dataclass(frozen=True)
class Budget:
    key: str  # the [budgets] key
    quantity: str  # the measurement it is checked against
    label: str
    unit: str  # "bytes", "ms" or "fraction"


BUDGETS = (
    Budget("max_model_bytes", "model_bytes", "model size", "bytes"),
    Budget("max_flash_bytes", "flash_bytes", "flash (model + runtime + C tokenizer)", "bytes"),
    Budget("max_arena_bytes", "arena_bytes", "tensor arena", "bytes"),
    Budget("max_peak_rss_bytes", "peak_rss_bytes", "peak RSS", "bytes"),
    Budget("max_p95_latency_ms", "p95_latency_ms", "p95 latency", "ms"),
    Budget("max_accuracy_drop", "accuracy_drop", "accuracy drop", "fraction"),
    Budget("max_drop_vs_teacher", "drop_vs_teacher", "drop vs teacher", "fraction"),
)


@dataclass(frozen=True, kw_only=True)
class LatencyEstimate:
    """A per-inference time estimated in the build, not measured: a range, its source, and the
    operator types that take most of it."""

    low_ms: float
    high_ms: float
    source: str
    breakdown: str  # e.g. "FULLY_CONNECTED 57%, ADD 13%, BATCH_MATMUL 11%"


ESTIMATED = "p95_latency_ms"  # the one quantity an estimate may stand in for


@dataclass(frozen=True)
class Measurement:
    value: float
    source: str  # where the number comes from, so a reader can judge it
    # Why the number is no evidence of the target (measured on another machine); None when it is.
    off_target: str | None = None
    # Set when the value is an estimate's high end, counted because estimates were allowed.
    estimate: LatencyEstimate | None = None


@dataclass(frozen=True, kw_only=True)
class BudgetChange:
    """A budget of the profile checked now that differs from the build's (None: unset)."""

    budget: Budget
    built: float | None
    now: float | None


@dataclass(frozen=True)
class Check:
    budget: Budget
    limit: float
    measured: Measurement | None
    status: str
    # Why nothing was measured, when the build said (no teacher to compare with); else None.
    unmeasured_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (PASS, SKIPPED)

    @property
    def off_target(self) -> str | None:
        """Why the measurement shown does not count, when it was taken off the target."""
        return None if self.measured is None else self.measured.off_target

    @property
    def estimate(self) -> LatencyEstimate | None:
        """The estimate the check judged (its high end), when it judged one."""
        return None if self.measured is None else self.measured.estimate


@dataclass(frozen=True)
class Coverage:
    """How the shipped tokenizer reads the eval text the verdict was measured on: a pruned
    vocabulary turns words it lacks into [UNK], and a verdict on text the device reads that way
    says less. Reported beside the budgets, not a budget itself."""

    unk_rate: float  # share of the eval text's tokens that are [UNK]
    sentences_with_unk: float  # share of its sentences with at least one
    source: str


@dataclass(frozen=True)
class Tokenization:
    """Tokenisation timed on the board, per sentence, in the bench run whose inference figures
    the latency budget judges (``bench`` in text mode). Reported beside the latency, not a
    budget: latency budgets stay on inference. ``tokenizer`` None: not measured, ``reason``."""

    tokenizer: str | None  # "tokenizers" or "builtin-wordpiece"
    p50_ms: float | None
    p95_ms: float | None
    source: str
    reason: str | None = None


@dataclass(frozen=True)
class TextModel:
    """The release again with its tokenizer in the graph (``[export].text_input``): the file and
    how it matched the host path on the eval text. Reported beside the budgets, not a budget."""

    path: str
    sentences: int
    agreement: float | None  # a classifier: share of sentences with the host path's class
    cosine_mean: float | None  # an embedding model: cosine to the host path's embedding
    cosine_min: float | None


@dataclass(frozen=True)
class ArtifactGate:
    """One artifact's checks: the file, its sha256 and each budget of the profile."""

    artifact: str
    sha256: str
    checks: tuple[Check, ...]
    coverage: Coverage | None = None  # None: a build from before the split recorded none
    tokenization: Tokenization | None = None  # None: no bench result (or one from before it)
    # What the build verified about the file beyond the budgets, in words (the MediaPipe run of
    # its metadata): shown with the verdict, not judged by it.
    notes: tuple[str, ...] = ()
    text_model: TextModel | None = None
    # The build's latency estimate (a microcontroller with [estimate]), shown whether or not
    # the gate counted it; None: none was made.
    latency_estimate: LatencyEstimate | None = None

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def estimate_counted(self) -> bool:
        return any(c.estimate is not None for c in self.checks)


@dataclass(frozen=True)
class Gate:
    target: str
    allow_unmeasured: bool
    artifacts: tuple[ArtifactGate, ...]
    # Budgets that differ from the profile the build used: the gate checks the new values.
    budget_changes: tuple[BudgetChange, ...] = ()
    allow_estimates: bool = False  # the latency budget may judge an estimate's high end

    @property
    def passed(self) -> bool:
        return bool(self.artifacts) and all(a.passed for a in self.artifacts)

    def count(self, status: str) -> int:
        return sum(c.status == status for a in self.artifacts for c in a.checks)


def check_artifact(
    budgets: Budgets,
    measured: Mapping[str, Measurement],
    *,
    artifact: str,
    sha256: str,
    allow_unmeasured: bool = False,
    reasons: Mapping[str, str] | None = None,
    coverage: Coverage | None = None,
    tokenization: Tokenization | None = None,
    notes: tuple[str, ...] = (),
    text_model: TextModel | None = None,
    latency_estimate: LatencyEstimate | None = None,
    allow_estimates: bool = False,
) -> ArtifactGate:
    """Every budget the profile sets, in the order of ``BUDGETS``; budgets it leaves unset are
    not checked. ``reasons``: quantity -> why the build could not measure it.
    ``latency_estimate``: judged, by its high end, where no latency was measured on the target
    and ``allow_estimates`` is set."""
    reasons = reasons or {}
    measured = dict(measured)
    found = measured.get(ESTIMATED)
    if latency_estimate and allow_estimates and (found is None or found.off_target is not None):
        measured[ESTIMATED] = Measurement(
            latency_estimate.high_ms, latency_estimate.source, estimate=latency_estimate
        )
    checks = [
        _check(budget, limit, measured.get(budget.quantity), allow_unmeasured, reasons)
        for budget in BUDGETS
        if (limit := getattr(budgets, budget.key)) is not None
    ]
    return ArtifactGate(
        artifact=artifact,
        sha256=sha256,
        checks=tuple(checks),
        coverage=coverage,
        tokenization=tokenization,
        notes=notes,
        text_model=text_model,
        latency_estimate=latency_estimate,
    )


def _check(
    budget: Budget,
    limit: float,
    value: Measurement | None,
    allow_unmeasured: bool,
    reasons: Mapping[str, str],
) -> Check:
    if value is None or value.off_target is not None:
        status = SKIPPED if allow_unmeasured else UNMEASURED
    else:
        # A small tolerance for the accuracy drop only: it is a ratio of counts printed with
        # four decimals, and 0.01 must pass a budget of 0.01.
        slack = 1e-9 if budget.unit == "fraction" else 0.0
        status = PASS if value.value <= limit + slack else FAIL
    return Check(
        budget=budget,
        limit=float(limit),
        measured=value,
        status=status,
        unmeasured_reason=reasons.get(budget.quantity) if value is None else None,
    )


def budget_named(key: str) -> Budget:
    """The gate's budget ``key``; a key it does not know (a newer manifest's) by its name."""
    known = {b.key: b for b in BUDGETS}
    return known.get(key) or Budget(key, key, key.removeprefix("max_").replace("_", " "), "")


def exit_code(gate: Gate) -> int:
    """0 when every budget of every artifact passes, 3 otherwise (the CLI's gate code)."""
    return 0 if gate.passed else 3
