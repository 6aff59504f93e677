"""``edgedistil build``: teacher -> plan -> distil -> export -> quantize/verify -> bench -> gate,
everything in one output folder with a manifest.

Each stage has a key, the hash of everything it reads (files by content, settings by value). A
stage whose key is unchanged and whose outputs still have their recorded sha256 is not redone, so
a build that was killed, or is run again, starts at the first stage that has something new to
do. The manifest is rewritten after every stage, and only the verify stages list artifacts: a
gate never sees bytes that nothing verified. A stage that fails leaves the earlier stages'
outputs and records as they were.

Formats plug in through ``FORMATS``: one class per artifact format, with the stages it adds.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edgedistil import manifest as manifest_mod
from edgedistil.errors import BuildError
from edgedistil.manifest import Manifest, key_of, tree_sha256
from edgedistil.profiles import Profile

log = logging.getLogger(__name__)

STUDENT_DIR = "student"
PLAN_FILE = "plan.json"


@dataclass(frozen=True, kw_only=True)
class Request:
    target: str
    out: Path
    teacher: str = "default"
    data: Path | None = None  # training text; default: the shipped sample text
    student: Path | None = None  # reuse a student instead of distilling one
    eval_path: Path | None = None  # fidelity text; default: held out from the data (heldout)
    calibration: Path | None = None  # int8 calibration text; default: the data's train part
    layers: int | None = None
    vocab_size: int | None = None
    hidden: int | None = None  # narrow the student (distill.width); None: the plan's
    epochs: int = 3
    batch_size: int = 32
    seed: int = 42
    runner: str | None = None  # default: the profile's [bench].runner
    boards: tuple[str, ...] = ()
    bench_runs: int = 50
    skip_bench: bool = False
    host_is_target: bool = False  # --runner local on the target device itself (bench.machine)


class Events(Protocol):
    """What the CLI shows: a line per stage, and training progress."""

    def stage(self, name: str, state: str, detail: str = "") -> None: ...
    def training(self) -> Any: ...  # a distill.train.Progress, or None for silence


@dataclass
class Context:
    request: Request
    profile: Profile
    manifest: Manifest
    events: Events
    texts: Any  # heldout.Texts: the train, eval and calibration files the stages read

    @property
    def root(self) -> Path:
        return self.request.out


def build(request: Request, events: Events) -> Manifest:
    """Run every stage that has something to do; the manifest as it stands at the end."""
    from edgedistil.profiles import load_profile

    profile = load_profile(request.target)
    _check_formats(profile)
    _check_boards(request, profile)
    manifest = Manifest.open(request.out)
    _describe(manifest, request, profile)
    texts = _split(manifest, request, events)
    ctx = Context(request=request, profile=profile, manifest=manifest, events=events, texts=texts)
    plan = stage(ctx, "plan", _plan_key(ctx), lambda: _plan(ctx))
    student = _student(ctx, plan)
    for fmt in profile.export.formats:
        FORMATS[fmt](ctx).run(student)
    _vs_teacher(ctx, student)
    if not request.skip_bench:
        _bench(ctx)
    return manifest


def stage(ctx: Context, name: str, key: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` unless the manifest holds this stage done with this key; ``work`` returns
    the stage's record: ``outputs`` (paths under the folder, hashed here) and anything else."""
    done = ctx.manifest.done(name, key)
    if done is not None:
        ctx.events.stage(name, "skipped", "inputs unchanged")
        return done
    ctx.manifest.forget(name)
    ctx.events.stage(name, "start")
    started = time.perf_counter()
    try:
        record = work()
    except BaseException:
        ctx.events.stage(name, "failed")
        raise
    outputs = record.pop("outputs", [])
    record["seconds"] = round(time.perf_counter() - started, 1)
    ctx.manifest.finish(name, key, outputs, record)
    ctx.events.stage(name, "done", record.get("summary", ""))
    return ctx.manifest.data["stages"][name]  # type: ignore[no-any-return]


# ---- the description of the build ----


def _describe(manifest: Manifest, request: Request, profile: Profile) -> None:
    from edgedistil.data import SAMPLE_TEXT

    data = request.data or SAMPLE_TEXT
    manifest.data.update(
        target=profile.name,
        profile=profile.to_dict(),
        seed=request.seed,
        versions=manifest_mod.versions(),
        inputs={
            "teacher": request.teacher,
            "student": str(request.student) if request.student else None,
            "data": {"path": str(data), "sha256": tree_sha256(data)},
            "eval": _file_input(request.eval_path) if request.eval_path else None,
            "calibration": _file_input(request.calibration) if request.calibration else None,
            "layers": request.layers,
            "vocab_size": request.vocab_size,
            "hidden": request.hidden,
            "epochs": request.epochs,
            "batch_size": request.batch_size,
        },
    )
    manifest.save()


def _split(manifest: Manifest, request: Request, events: Events) -> Any:
    """The train / eval / calibration files (``heldout``), recorded under the manifest's
    ``split``: cheap and deterministic, so redone on every build, and the stages' keys hash
    the files it writes."""
    from edgedistil.data import SAMPLE_TEXT
    from edgedistil.heldout import prepare

    texts = prepare(
        request.out,
        data=request.data or SAMPLE_TEXT,
        eval_path=request.eval_path,
        calibration=request.calibration,
        seed=request.seed,
    )
    manifest.data["split"] = texts.record
    manifest.save()
    events.stage("split", "done", texts.summary)
    return texts


def _unk_fields(ctx: Context) -> dict[str, Any]:
    """The [UNK] share of the eval text under the tokenizer a release ships with."""
    from edgedistil.heldout import unk_fields

    return unk_fields(ctx.request.student or ctx.root / STUDENT_DIR, ctx.texts.eval)


def _file_input(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise BuildError(f"{path}: no such file")
    return {"path": str(path), "sha256": tree_sha256(path)}


def _check_formats(profile: Profile) -> None:
    missing = [f for f in profile.export.formats if f not in FORMATS]
    if missing:
        raise BuildError(
            f'target "{profile.name}" lists [export].formats {list(profile.export.formats)}; '
            f"build makes {', '.join(sorted(FORMATS))} so far, not {', '.join(missing)}"
        )


# ---- plan and student ----


def _teacher(ctx: Context) -> Any:
    from edgedistil.teacher import resolve_teacher

    return resolve_teacher(ctx.request.teacher)


def _plan_key(ctx: Context) -> str:
    r = ctx.request
    source = r.student if r.student else _teacher(ctx).path
    from edgedistil.tokens import count_pieces

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
    """The student's layers, vocabulary and width: the user's, else the default when it fits,
    else the first suggestion that fits (with the user's layers and width, when given); nothing
    that fits is an error naming the overshoot."""
    import json

    from edgedistil import plan as plan_mod
    from edgedistil.teacher import read_config

    r = ctx.request
    if r.student is not None:
        from dataclasses import replace

        from edgedistil.export.model import dense_outputs

        config = read_config(r.student)
        shape = plan_mod.read_shape(config, str(r.student))
        if shape.task == "embedding":  # a narrow student's map back to its teacher's size
            shape = replace(shape, projection=dense_outputs(r.student))
        plan = plan_mod.plan_student(  # the student as it is
            shape=shape,
            teacher=str(r.student),
            profile=ctx.profile,
            layers=shape.num_layers,
            vocab_size=shape.vocab_size,
        )
    else:
        teacher = _teacher(ctx)
        shape = plan_mod.read_shape(teacher.config, teacher.name)
        shape = plan_mod.with_pieces(shape, teacher.path)
        plan = plan_mod.plan_student(
            shape=shape,
            teacher=teacher.name,
            profile=ctx.profile,
            layers=r.layers,
            vocab_size=r.vocab_size,
            hidden=r.hidden,
        )
        if not plan.fits and r.vocab_size is None:
            fitting = [
                s
                for s in plan.suggestions
                if s.bytes <= plan.limit_bytes
                and r.layers in (None, s.layers)
                and r.hidden in (None, s.hidden)
            ]
            if not fitting:
                advice = plan.suggestions[0].text if plan.suggestions else ""
                raise BuildError(
                    f"{ctx.profile.name}: the planned student is {plan.artifact_bytes:,} bytes, "
                    f"{plan.over_by:,} over [budgets].{plan.limit_name} ({plan.limit_bytes:,}); "
                    f"{advice}"
                )
            chosen = fitting[0]
            plan = plan_mod.plan_student(
                shape=shape,
                teacher=teacher.name,
                profile=ctx.profile,
                layers=chosen.layers,
                vocab_size=chosen.vocab_size if chosen.vocab_size < shape.vocab_size else None,
                hidden=chosen.hidden,
            )
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
    (ctx.root / PLAN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    layers = f"{plan.layers} layer{'' if plan.layers == 1 else 's'}"
    width = f", hidden {plan.student_hidden}" if plan.student_hidden < plan.hidden_size else ""
    summary = (
        f"{layers}{width}, vocabulary {plan.vocab_size:,}, ~{plan.artifact_bytes:,} bytes planned"
    )
    return {**record, "outputs": [PLAN_FILE], "summary": summary}


def _student(ctx: Context, plan: dict[str, Any]) -> Path:
    r = ctx.request
    if r.student is not None:
        if not (r.student / "config.json").is_file():
            raise BuildError(f"--student {r.student}: not a model directory (no config.json)")
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
    )
    stage(ctx, "distill", key, lambda: _distill(ctx, plan, settings))
    return ctx.root / STUDENT_DIR


def _train_settings(ctx: Context) -> Any:
    from edgedistil.distill.train import Settings

    r = ctx.request
    return Settings(
        task="",
        epochs=r.epochs,
        batch_size=r.batch_size,
        seq_len=ctx.profile.export.sequence_length,  # train at the length the device will see
        seed=r.seed,
    )


def _distill(ctx: Context, plan: dict[str, Any], settings: Any) -> dict[str, Any]:
    from edgedistil.distill.job import Job, distill

    out = ctx.root / STUDENT_DIR
    shutil.rmtree(out, ignore_errors=True)  # what a killed run left: the key says it is stale
    r = ctx.request
    job = Job(
        teacher=r.teacher,
        data=ctx.texts.train,
        out=out,
        settings=settings,
        layers=plan["layers"],
        vocab_size=plan["vocab_size"] if plan["prune_vocab"] else None,
        hidden=plan["hidden"] if plan.get("narrow") else None,
        # None: the job picks its best epoch on a share of the train part, so not even model
        # selection sees the text the verdict is measured on.
        eval_path=None,
    )
    outcome = distill(job, ctx.events.training())
    last = outcome.state.history[-1] if outcome.state.history else {}
    summary = (
        f"{outcome.task}, layers {','.join(map(str, outcome.layer_map))}, "
        f"hidden {outcome.hidden}, {outcome.parameters / 1e6:.1f}M parameters, "
        f"vocabulary {outcome.vocab_size:,}"
    )
    return {
        "outputs": [STUDENT_DIR],
        "task": outcome.task,
        "layer_map": outcome.layer_map,
        "parameters": outcome.parameters,
        "eval_best": round(outcome.state.best, 4),
        "eval_last_epoch": {k: round(v, 4) for k, v in last.items()},
        "summary": summary,
    }


# ---- formats ----


class Format:
    """One artifact format: the stages that make and verify its artifacts."""

    name = ""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def run(self, student: Path) -> None:
        raise NotImplementedError


FORMATS: dict[str, type[Format]] = {}


def register(cls: type[Format]) -> type[Format]:
    FORMATS[cls.name] = cls
    return cls


@register
class OnnxFormat(Format):
    """ONNX Runtime: a float graph verified against PyTorch, then the profile's scheme."""

    name = "onnx"
    folder = "onnx"

    def run(self, student: Path) -> None:
        ctx = self.ctx
        export = ctx.profile.export
        key = key_of("onnx-export", tree_sha256(student), ctx.profile.to_dict()["export"])
        stage(ctx, "onnx-export", key, lambda: self._export(student))
        key = key_of(
            "onnx-verify",
            ctx.manifest.data["stages"]["onnx-export"]["outputs"],
            ctx.profile.to_dict()["quantize"],
            ctx.profile.budgets.max_accuracy_drop,
            tree_sha256(ctx.texts.calibration),
            tree_sha256(ctx.texts.eval),
            export.sequence_length,
        )
        stage(ctx, "onnx-verify", key, self._verify)

    def _export(self, student: Path) -> dict[str, Any]:
        from edgedistil.export.onnx import ExportSpec, export_onnx

        ctx = self.ctx
        out = ctx.root / self.folder
        shutil.rmtree(out, ignore_errors=True)
        exported = export_onnx(
            ExportSpec(
                student=student,
                out=out,
                sequence_length=ctx.profile.export.sequence_length,
                input_dtype=ctx.profile.export.input_dtype,
                graph=ctx.profile.export.onnx_graph,
                dynamic=False,
                parity_text=ctx.texts.eval,
                target=ctx.profile.name,
            )
        )
        # The files, not the folder: later stages add their own files beside them.
        files = [f"{self.folder}/{p.name}" for p in sorted(out.iterdir()) if p.is_file()]
        return {
            "outputs": files,
            "graph": exported.graph,
            "parity": exported.parity.describe(),
            "summary": f"{exported.graph} graph, parity {exported.parity.describe()}",
        }

    def _verify(self) -> dict[str, Any]:
        from edgedistil.export.onnx import MODEL_FILE
        from edgedistil.quantize import onnx as q
        from edgedistil.quantize.job import Job, quantize

        ctx = self.ctx
        folder = ctx.root / self.folder
        rel = f"{self.folder}/{MODEL_FILE}"
        scheme = ctx.profile.quantize.scheme
        ctx.manifest.add_artifact(rel, stage="onnx-verify", format="onnx", role="float")
        if scheme not in q.SCHEMES:  # float32 (float16 is not made yet: say so)
            if scheme != "float32":
                raise BuildError(
                    f'target "{ctx.profile.name}": [quantize].scheme "{scheme}" for onnx is not '
                    f"built yet; build makes float32, {', '.join(q.SCHEMES)}"
                )
            ctx.manifest.data["artifacts"][rel].update(
                role="release",
                accuracy_drop=0.0,
                accuracy_drop_source="float32 export, parity-checked against PyTorch",
                **_unk_fields(ctx),
            )
            return {"outputs": [rel], "summary": "float32 release"}
        result = quantize(
            Job(
                export_dir=folder,
                settings=q.settings_for(ctx.profile),
                calibration=ctx.texts.calibration,
                eval_path=ctx.texts.eval,
                max_accuracy_drop=ctx.profile.budgets.max_accuracy_drop,
                ort=ctx.profile.device.kind == "phone",  # ORT Mobile on Android loads .ort
            )
        )
        f = result.fidelity
        release = str(result.path.relative_to(ctx.root))
        ctx.manifest.add_artifact(
            release,
            stage="onnx-verify",
            format="onnx",
            role="release",
            scheme=result.settings.describe(),
            accuracy_drop=f.drop,
            accuracy_drop_source=(
                f"{f.metric} of int8 vs the float student on {f.sentences} sentences of "
                f"{ctx.texts.eval.name}"
            ),
            **_unk_fields(ctx),
        )
        outputs = [rel, release, f"{self.folder}/fidelity.json"]
        if result.ort_path is not None:
            ort = str(result.ort_path.relative_to(ctx.root))
            ctx.manifest.add_artifact(ort, stage="onnx-verify", format="ort", role="copy")
            outputs.append(ort)
        share = result.float_share
        kept = f", fallback: {share.describe()}" if share.nodes else ""
        summary = (
            f"{result.settings.describe()}{kept}, {f.metric} drop {f.drop:.4f}, "
            f"verified on {result.verified_on.machine} ({result.verified_on.u8s8} u8s8 kernels)"
        )
        return {
            "outputs": outputs,
            "drop": f.drop,
            "summary": summary,
            "kept_float": {"nodes": share.nodes, "weight_fraction": round(share.fraction, 4)},
            "verified_on": result.verified_on.to_dict(),
        }


@register
class TFLiteFormat(Format):
    """LiteRT: the profile's scheme converted from the student and verified in the LiteRT
    interpreter against PyTorch (``export.tflite``); a file that fails is never written."""

    name = "tflite"
    folder = "tflite"
    runtime = "litert"

    def run(self, student: Path) -> None:
        ctx = self.ctx
        key = key_of(
            f"{self.name}-verify",
            tree_sha256(student),
            ctx.profile.to_dict(),
            tree_sha256(ctx.texts.calibration),
            tree_sha256(ctx.texts.eval),
        )
        stage(ctx, f"{self.name}-verify", key, lambda: self._verify(student))

    def _convert(self, student: Path) -> Any:
        from edgedistil.export.tflite import TFLiteSpec, convert_tflite

        ctx = self.ctx
        out = ctx.root / self.folder
        shutil.rmtree(out, ignore_errors=True)
        return convert_tflite(
            TFLiteSpec(
                student=student,
                out=out,
                scheme=ctx.profile.quantize.scheme,
                sequence_length=ctx.profile.export.sequence_length,
                runtime=self.runtime,
                calibration=ctx.texts.calibration,
                eval_text=ctx.texts.eval,
                max_drop=ctx.profile.budgets.max_accuracy_drop,
                target=ctx.profile.name,
            )
        )

    def _release(self, result: Any, **extra: Any) -> str:
        ctx = self.ctx
        f = result.fidelity
        rel = str(result.path.relative_to(ctx.root))
        ctx.manifest.add_artifact(
            rel,
            stage=f"{self.name}-verify",
            format=self.name,
            role="release",
            scheme=result.scheme,
            accuracy_drop=f.drop,
            accuracy_drop_source=(
                f"{f.metric} of {result.scheme} in {self.runtime} vs PyTorch on {f.sentences} "
                f"sentences of {ctx.texts.eval.name}"
            ),
            **_unk_fields(ctx),
            **extra,
        )
        return rel

    def _verify(self, student: Path) -> dict[str, Any]:
        result = self._convert(student)
        rel = self._release(result)
        summary = f"{result.scheme}, {result.fidelity.metric} drop {result.fidelity.drop:.4f}"
        return {"outputs": [rel, str(result.record.relative_to(self.ctx.root))], "summary": summary}


@register
class MicroFormat(TFLiteFormat):
    """TFLite Micro: the same conversion with TFLite Micro's rewrites, then the C array and the
    tensor arena measured in the real TFLite Micro interpreter (``export.microcontroller``)."""

    name = "tflite-micro"
    folder = "tflite-micro"
    runtime = "tflite-micro"

    def _verify(self, student: Path) -> dict[str, Any]:
        from edgedistil.export.microcontroller import microcontroller_artifacts

        ctx = self.ctx
        result = self._convert(student)
        mcu = microcontroller_artifacts(result.path, ctx.profile, reference=result.reference)
        rel = self._release(
            result,
            arena_bytes=mcu.arena_bytes,
            arena_bytes_source="measured in the TFLite Micro interpreter on this host",
        )
        outputs = [rel, str(result.record.relative_to(ctx.root))]
        for path in (mcu.c_path, mcu.h_path, mcu.record):
            outputs.append(str(path.relative_to(ctx.root)))
        summary = (
            f"{result.scheme}, {result.fidelity.metric} drop {result.fidelity.drop:.4f}, "
            f"arena {mcu.arena_bytes:,} bytes"
        )
        return {"outputs": outputs, "summary": summary}


# ---- against the teacher ----


def _vs_teacher(ctx: Context, student: Path) -> None:
    """Each release artifact against the teacher, end to end (``vs_teacher``), recorded on the
    artifact beside its drop against the float student. A teacher that cannot be had leaves the
    figure unmeasured with the reason, and the build goes on."""
    from edgedistil import vs_teacher

    releases = ctx.manifest.releases()
    teacher, eval_path = ctx.request.teacher, ctx.texts.eval
    key = key_of(
        "vs-teacher",
        {rel: a["sha256"] for rel, a in releases.items()},
        tree_sha256(student),  # the tokenizer the artifacts ship with, and their task
        vs_teacher.teacher_key(teacher),
        tree_sha256(eval_path),
    )
    record = stage(
        ctx,
        "vs-teacher",
        key,
        lambda: vs_teacher.stage_record(
            releases=releases, root=ctx.root, student=student, teacher=teacher, eval_path=eval_path
        ),
    )
    # On the entries even when the stage is skipped: a verify stage redone to the same bytes
    # wrote its artifact's entry afresh.
    vs_teacher.record_on(ctx.manifest.data["artifacts"], record["artifacts"])
    ctx.manifest.save()


# ---- bench ----


def _check_boards(request: Request, profile: Profile) -> None:
    """A bench that cannot start (no board named, a runner that does not exist) is refused
    before minutes of distillation, not after."""
    from edgedistil.bench.base import Options, make_runner
    from edgedistil.bench.fleet import resolve_boards

    runner = request.runner or profile.bench.runner
    if request.host_is_target:
        from edgedistil.bench.machine import check_host_is_target

        check_host_is_target(runner, profile)
    if request.skip_bench or runner == "none":
        return
    where = "" if request.runner else f" ([bench].runner of {profile.name})"
    make_runner(runner, Options(), where)
    resolve_boards(
        runner=runner, addresses=request.boards, fleet=None, host_env=profile.bench.host_env
    )


def _bench(ctx: Context) -> None:
    runner = ctx.request.runner or ctx.profile.bench.runner
    releases = ctx.manifest.releases()
    if runner == "none":
        ctx.events.stage("bench", "skipped", f"{ctx.profile.name} has no board runner")
        return
    for rel, info in sorted(releases.items()):
        key = key_of(
            "bench",
            info["sha256"],
            runner,
            ctx.request.boards,
            ctx.request.bench_runs,
            ctx.profile.to_dict()["bench"],
            # Stored in each result: declaring the host the target later must bench again.
            ctx.request.host_is_target,
        )
        stage(ctx, f"bench {rel}", key, lambda rel=rel: _bench_one(ctx, rel, runner))  # type: ignore[misc]


def _bench_one(ctx: Context, rel: str, runner: str) -> dict[str, Any]:
    from edgedistil.bench.run import Request as BenchRequest
    from edgedistil.bench.run import bench

    report = bench(
        BenchRequest(
            artifact=ctx.root / rel,
            target=str(ctx.profile.source),
            runner=runner,
            boards=ctx.request.boards,
            runs=ctx.request.bench_runs,
            text=ctx.request.eval_path,
            # The student's own tokenizer: a .tflite folder holds no tokenizer files.
            tokenizer=ctx.request.student or ctx.root / STUDENT_DIR,
            host_is_target=ctx.request.host_is_target,
        )
    )
    if report.failed:
        failed = report.failed[0]
        raise BuildError(f"bench of {rel} on {failed.board.label}: {failed.error}")
    p95 = [b.result["result"]["latency_ms"]["p95"] for b in report.boards if b.result]
    return {
        # The stored results are the stage's outputs: if they go, the bench is run again.
        "outputs": [str(b.saved.relative_to(ctx.root.resolve())) for b in report.boards if b.saved],
        "boards": [b.board.label for b in report.boards],
        "summary": f"p95 {max(p95):.2f} ms on {len(p95)} board(s) ({runner})",
    }
