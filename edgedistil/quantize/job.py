"""``quantize`` end to end: an export directory -> ``model.int8.onnx``, ``fidelity.json``, ``.ort``.

Order: check the float file, read the calibration and eval text (warning on [UNK]), collect
ranges in bounded memory (static), quantize, measure fidelity, fall back node by node when the
drop exceeds the budget, write the ORT format when asked, and write ``fidelity.json`` last.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgedistil.data import TextInput
from edgedistil.errors import QuantizeError
from edgedistil.export.onnx import MODEL_FILE, read_record
from edgedistil.files import write_json
from edgedistil.quantize import calibration, fallback
from edgedistil.quantize import onnx as q
from edgedistil.quantize.fallback import FloatShare
from edgedistil.quantize.latency import latency_ms
from edgedistil.verify import fidelity, kernels, tags
from edgedistil.verify.text import Batch, batches, read_text

log = logging.getLogger(__name__)

INT8_FILE = "model.int8.onnx"
ORT_FILE = "model.int8.ort"
REPORT_FILE = "fidelity.json"
RANKING_ROWS = 64  # eval sentences the fallback ranks nodes on: a ranking, not the verdict


@dataclass(frozen=True, kw_only=True)
class Job:
    export_dir: Path
    settings: q.Settings
    calibration: Path
    eval_path: Path
    max_accuracy_drop: float
    batch_size: int = 16
    ort: bool = False
    fallback: bool = True


@dataclass(frozen=True, kw_only=True)
class Result:
    path: Path
    ort_path: Path | None
    settings: q.Settings
    float_bytes: int
    int8_bytes: int
    fidelity: fidelity.Fidelity
    first_drop: float
    fallback: fallback.Outcome | None
    latency_ms: dict[str, float]
    unk_ratio: float
    calibration_sentences: int
    report: Path
    float_share: FloatShare
    verified_on: kernels.Int8Path


class _Context:
    """What every requantization in the fallback shares: paths, tokenizer, eval text."""

    def __init__(self, job: Job, work: Path) -> None:
        from edgedistil.teacher import load_tokenizer, read_config

        self.job, self.work = job, work
        self.record = read_record(job.export_dir)
        self.source = job.export_dir / MODEL_FILE
        q.check_model(self.source)
        self.tokenizer = load_tokenizer(job.export_dir, error=QuantizeError)
        tagger = self.record.task == tags.TASK
        self.eval = read_text(
            job.eval_path, self.tokenizer, warn=False, pairs=self.record.pairs, words=tagger
        ).examples
        self.words = (
            tags.words_of(
                read_config(job.export_dir), self.eval, self.tokenizer, self.record.sequence_length
            )
            if tagger
            else None
        )
        self.cache: Path | None = None

    def data(self, texts: Sequence[TextInput]) -> Iterator[Batch]:
        return batches(
            self.tokenizer,
            texts,
            length=self.record.sequence_length,
            names=self.record.inputs,
            dtype=self.record.input_dtype,
            batch_size=self.job.batch_size,
        )

    def attempt(self, excluded: tuple[str, ...]) -> tuple[fidelity.Fidelity, int]:
        target = self._quantized(excluded, f"try-{len(excluded)}.onnx")
        return self.measure(target), target.stat().st_size

    def alone(self, excluded: tuple[str, ...]) -> float:
        """The drop on the ranking text with ``excluded`` float as well (``fallback``)."""
        return self.measure(self._quantized(excluded, "alone.onnx"), rows=RANKING_ROWS).drop

    def _quantized(self, excluded: tuple[str, ...], name: str) -> Path:
        """The source quantized into the scratch folder with ``excluded`` kept float as well."""
        target = self.work / name
        q.quantize_file(
            self.source, target, q.with_excluded(self.job.settings, excluded), self.cache
        )
        return target

    def measure(self, path: Path, rows: int | None = None) -> fidelity.Fidelity:
        labels = self.eval.labels if self.record.task == "classification" else None
        texts = self.eval.inputs[:rows]
        return fidelity.measure(
            self.source,
            path,
            lambda: self.data(texts),
            None if labels is None else labels[:rows],
            self.record.task,
            self.words if self.words is None or rows is None else tags.first(self.words, rows),
        )


def quantize(job: Job) -> Result:
    with q.scratch() as tmp:
        ctx = _Context(job, Path(tmp))
        unk, sentences = 0.0, 0
        if job.settings.calibrated:
            text = read_text(job.calibration, ctx.tokenizer, pairs=ctx.record.pairs)
            unk, sentences = text.unk_ratio, len(text.examples)
            ranges, _ = calibration.collect_ranges(
                ctx.source,
                ctx.data(text.examples.inputs),
                method=job.settings.method,
                op_types=q.OP_TYPES,
            )
            ctx.cache = calibration.write_cache(ranges, Path(tmp) / "ranges.json")
        first, first_bytes = ctx.attempt(())
        chosen_excluded: tuple[str, ...] = ()
        outcome: fallback.Outcome | None = None
        if first.drop > job.max_accuracy_drop + fallback.TOLERANCE and job.fallback:
            outcome = _fall_back(ctx, first, first_bytes)
            chosen_excluded = outcome.chosen.excluded
        settings = q.with_excluded(job.settings, chosen_excluded)
        share = _float_share(ctx, settings, first.drop)
        final = job.export_dir / INT8_FILE
        q.quantize_file(ctx.source, final, settings, ctx.cache)
        result_fidelity = ctx.measure(final)
        sample = next(ctx.data(ctx.eval.inputs[:1]))
        latency = {
            "float": latency_ms(ctx.source, sample),
            "int8_first": latency_ms(Path(tmp) / "try-0.onnx", sample),
            "int8": latency_ms(final, sample),
        }
    ort_path = _ort(job, final, sample) if job.ort else None
    result = Result(
        path=final,
        ort_path=ort_path,
        settings=settings,
        float_bytes=ctx.source.stat().st_size,
        int8_bytes=final.stat().st_size,
        fidelity=result_fidelity,
        first_drop=first.drop,
        fallback=outcome,
        latency_ms=latency,
        unk_ratio=unk,
        calibration_sentences=sentences,
        report=job.export_dir / REPORT_FILE,
        float_share=share,
        verified_on=kernels.host_path(),
    )
    write_report(result)
    return result


def _float_share(ctx: _Context, settings: q.Settings, first_drop: float) -> fallback.FloatShare:
    """What stays float; a mostly float result fails here, before any file is written."""
    import onnx

    share = fallback.float_share(
        onnx.load(str(ctx.source), load_external_data=False),
        q.OP_TYPES,
        settings.nodes_to_exclude,
    )
    if share.fraction > fallback.MOSTLY_FLOAT:
        raise QuantizeError(
            f"{settings.describe()}: {share.describe()} to meet the accuracy budget "
            f"{ctx.job.max_accuracy_drop:.4g} (drop {first_drop:.4g} all int8); more than "
            f"{fallback.MOSTLY_FLOAT:.0%} float is a float model, not an int8 artifact: distil "
            "longer, calibrate on more text or allow a larger [budgets].max_accuracy_drop"
        )
    return share


def _fall_back(ctx: _Context, first: fidelity.Fidelity, first_bytes: int) -> fallback.Outcome:
    budget = ctx.job.max_accuracy_drop
    groups = fallback.rank_groups(_candidates(ctx), ctx.alone)
    if groups is not None:
        ranking, counts = fallback.by_groups(groups)
        return fallback.search(
            ranking, budget, first, first_bytes, ctx.attempt, counts, fallback.BY_GROUP
        )
    ranked_on = ctx.work / "try-0.onnx"
    if ctx.job.settings.calibrated and ctx.job.settings.fmt == "qoperator":
        ranked_on = ctx.work / "rank-qdq.onnx"
        qdq = q.Settings(**{**asdict(ctx.job.settings), "fmt": "qdq"})
        q.quantize_file(ctx.source, ranked_on, qdq, ctx.cache)
    rows = ctx.eval.inputs[:RANKING_ROWS]
    ranking = fallback.rank_nodes(ctx.source, ranked_on, q.OP_TYPES, ctx.data(rows))
    return fallback.search(ranking, budget, first, first_bytes, ctx.attempt)


def _candidates(ctx: _Context) -> list[str]:
    """The named nodes the scheme makes int8 and the caller left to the fallback."""
    import onnx

    model = onnx.load(str(ctx.source), load_external_data=False)
    kept = set(ctx.job.settings.nodes_to_exclude)
    nodes = fallback.candidates(model, q.OP_TYPES)
    return [n.name for n in nodes if n.name and n.name not in kept]


def _ort(job: Job, final: Path, sample: Batch) -> Path:
    import numpy as np

    from edgedistil.errors import QuantizeError

    path = q.to_ort(final, job.export_dir / ORT_FILE)
    # Against the .onnx at the same optimisation level: fusing QDQ pairs changes the rounding.
    want = fidelity.session(final, basic=True).run(None, sample)[0]
    got = fidelity.session(path, basic=True).run(None, sample)[0]
    if not np.allclose(want, got, atol=1e-4):
        path.unlink()
        raise QuantizeError(f"{path}: the ORT-format file does not compute what {final} does")
    return path


def report_dict(result: Result) -> dict[str, Any]:
    outcome = result.fallback
    return {
        "scheme": result.settings.describe(),
        "settings": asdict(result.settings),
        "model": str(result.path),
        "ort_model": str(result.ort_path) if result.ort_path else None,
        "float_bytes": result.float_bytes,
        "int8_bytes": result.int8_bytes,
        "fidelity": {**asdict(result.fidelity), "drop": result.fidelity.drop},
        "drop_before_fallback": result.first_drop,
        "fallback": None
        if outcome is None
        else {
            "fits": outcome.fits,
            "ranked_by": outcome.ranked_by,
            "kept_float": list(outcome.chosen.excluded),
            "steps": [asdict(s) for s in outcome.steps],
            "ranking": [list(r) for r in outcome.ranking],
        },
        "kept_float": {
            **asdict(result.float_share),
            "weight_fraction": result.float_share.fraction,
        },
        # the host's int8 kernels: fidelity on x86 without VNNI comes from ORT's exact ones
        "verified_on": result.verified_on.to_dict(),
        "latency_ms": result.latency_ms,
        "calibration": {"sentences": result.calibration_sentences, "unk_ratio": result.unk_ratio},
    }


def write_report(result: Result) -> None:
    """``fidelity.json``: what was quantized, how, and what it measured."""
    write_json(result.report, report_dict(result), default=str)
