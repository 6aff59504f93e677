"""Plan and distil: the student's layers, vocabulary and width, then the student itself (or the
user's own student, planned as it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistil.build.context import Context
from edgedistil.build.request import STUDENT_DIR
from edgedistil.files import staged_dir, write_json
from edgedistil.manifest import key_of, tree_sha256

PLAN_FILE = "plan.json"
# New sentences per sample sentence when the build trains on the shipped sample text (no
# --data): its 8,330 training lines are few for a narrow or integer student (issue 20), and the
# teacher labels what augmentation makes (distill.augment).
SAMPLE_AUGMENT = 2


def student(ctx: Context) -> Path:
    """The student every format stage starts from: planned, then distilled unless given."""
    plan = ctx.stage("plan", _plan_key(ctx), lambda: _plan(ctx))
    r = ctx.request
    if r.student is not None:  # a model directory: checked with the other inputs
        return r.student
    teacher = _teacher(ctx)
    settings = _train_settings(ctx)
    key = key_of(
        "distill",
        tree_sha256(teacher.path),
        tree_sha256(ctx.texts.train),  # the train part only: the eval text never reaches it
        plan["layers"],
        plan["vocab_size"],
        plan.get("hidden"),
        settings,
        # quantization-aware epochs read their ranges on the calibration text
        tree_sha256(ctx.texts.calibration) if settings.qat is not None else None,
        _augment_default(ctx),
    )
    ctx.stage("distill", key, lambda: _distill(ctx, plan, settings))
    return ctx.root / STUDENT_DIR


def _teacher(ctx: Context) -> Any:
    from edgedistil.teacher import resolve_teacher

    return resolve_teacher(ctx.request.teacher)


def _plan_key(ctx: Context) -> str:
    from edgedistil.tokens import count_pieces

    r = ctx.request
    source = r.student if r.student else _teacher(ctx).path
    return key_of(
        "plan",
        tree_sha256(source / "config.json"),
        count_pieces(source),  # the pieces every pruned vocabulary keeps: priced in the plan
        ctx.profile.to_dict(),
        r.layers,
        r.vocab_size,
        r.hidden,
    )


def _plan(ctx: Context) -> dict[str, Any]:
    """The student's layers, vocabulary and width (``plan.plan_to_fit``), written to plan.json."""
    given = ctx.request.student
    plan = _given_plan(ctx, given) if given is not None else _teacher_plan(ctx)
    record = {
        "layers": plan.layers,
        "hidden": plan.student_hidden,
        "narrow": plan.student_hidden < plan.hidden_size,
        "vocab_size": plan.vocab_size,
        "vocab_pieces": plan.pieces,  # single-character pieces within vocab_size
        "prune_vocab": plan.vocab_size < plan.teacher_vocab_size,
        "planned_bytes": plan.artifact_bytes,
        "limit_bytes": plan.limit_bytes,
        "parts": {
            "embeddings": plan.embeddings.bytes,
            "encoder": plan.encoder.bytes,
            "head": plan.head.bytes,
            "graph": plan.graph.bytes,
        },
    }
    write_json(ctx.root / PLAN_FILE, record)
    layers = f"{plan.layers} layer{'' if plan.layers == 1 else 's'}"
    width = f", hidden {plan.student_hidden}" if plan.student_hidden < plan.hidden_size else ""
    summary = (
        f"{layers}{width}, vocabulary {plan.vocab_size:,}, ~{plan.artifact_bytes:,} bytes planned"
    )
    return {**record, "outputs": [PLAN_FILE], "summary": summary}


def _given_plan(ctx: Context, given: Path) -> Any:
    """The user's student as it is: its own layers and vocabulary, priced for the target."""
    from dataclasses import replace

    from edgedistil import plan as plan_mod
    from edgedistil.export.model import dense_outputs
    from edgedistil.teacher import read_config

    shape = plan_mod.read_shape(read_config(given), str(given))
    if shape.task == "embedding":  # a narrow student's map back to its teacher's size
        shape = replace(shape, projection=dense_outputs(given))
    return plan_mod.plan_student(
        shape=shape,
        teacher=str(given),
        profile=ctx.profile,
        layers=shape.num_layers,
        vocab_size=shape.vocab_size,
    )


def _teacher_plan(ctx: Context) -> Any:
    from edgedistil import plan as plan_mod

    r, teacher = ctx.request, _teacher(ctx)
    shape = plan_mod.with_pieces(plan_mod.read_shape(teacher.config, teacher.name), teacher.path)
    return plan_mod.plan_to_fit(
        shape=shape,
        teacher=teacher.name,
        profile=ctx.profile,
        layers=r.layers,
        vocab_size=r.vocab_size,
        hidden=r.hidden,
    )


def _train_settings(ctx: Context) -> Any:
    from edgedistil.distill.train import Settings

    r = ctx.request
    return Settings(
        task="",
        epochs=ctx.profile.distill.epochs if r.epochs is None else r.epochs,
        batch_size=r.batch_size,
        augment=r.augment,
        seq_len=ctx.profile.export.sequence_length,  # train at the length the device will see
        seed=r.seed,
        qat=_quant_aware(ctx),
    )


def _quant_aware(ctx: Context) -> Any:
    """Quantization-aware epochs through the graph the profile's LiteRT or TFLite Micro file
    will have; by default only when the profile has one (an ONNX-only profile's int8 graph is
    ONNX Runtime's own), asked for explicitly for any calibrated scheme."""
    from edgedistil.distill.qat import quant_aware

    formats, epochs = ctx.profile.export.formats, ctx.request.qat_epochs
    if epochs is None and not any(f.startswith("tflite") for f in formats):
        epochs = 0
    return quant_aware(
        ctx.profile.quantize.scheme,
        micro="tflite-micro" in formats,
        epochs=epochs,
        toward=ctx.profile.distill.qat_toward,
    )


def _augment_default(ctx: Context) -> int | None:
    return SAMPLE_AUGMENT if ctx.request.data is None else None


def _sentences(outcome: Any) -> str:
    """The training text before and after augmentation (or unlabelled text), when it grew."""
    if not outcome.extra_examples:
        return ""
    before, after = outcome.train_examples, outcome.train_examples + outcome.extra_examples
    return f", {before:,} training sentences, {after:,} with augmentation"


def _distill(ctx: Context, plan: dict[str, Any], settings: Any) -> dict[str, Any]:
    from edgedistil.distill.job import Job, distill

    # Trained beside the old student, which stays until the new one is saved whole: a run that
    # fails or is killed leaves it, and its record, as they were (``build.cache``).
    with staged_dir(ctx.root / STUDENT_DIR) as out:
        job = Job(
            teacher=ctx.request.teacher,
            data=ctx.texts.train,
            out=out,
            settings=settings,
            layers=plan["layers"],
            vocab_size=plan["vocab_size"] if plan["prune_vocab"] else None,
            hidden=plan["hidden"] if plan.get("narrow") else None,
            # None: the job picks its best epoch on a share of the train part, so not even
            # model selection sees the text the verdict is measured on.
            eval_path=None,
            calibration=ctx.texts.calibration,
            augment_default=_augment_default(ctx),
        )
        outcome = distill(job, ctx.events.training())
    last = outcome.state.history[-1] if outcome.state.history else {}
    summary = (
        f"{outcome.task}, layers {','.join(map(str, outcome.layer_map))}, "
        f"hidden {outcome.hidden}, {outcome.parameters / 1e6:.1f}M parameters, "
        f"vocabulary {outcome.vocab_size:,}" + _sentences(outcome)
    )
    if outcome.vs_teacher is not None:  # a weak student shows here, before any export
        from edgedistil.distill.versus import describe

        summary += f"; {describe(outcome.vs_teacher)}"
    return {
        "outputs": [STUDENT_DIR],
        "task": outcome.task,
        "layer_map": outcome.layer_map,
        "parameters": outcome.parameters,
        "train_examples": outcome.train_examples,
        "augmented_examples": outcome.extra_examples,
        "eval_best": round(outcome.state.best, 4),
        "eval_last_epoch": {k: round(v, 4) for k, v in last.items()},
        "vs_teacher": outcome.vs_teacher,
        "summary": summary,
    }
