"""The stages of one build in the order they run."""

from __future__ import annotations

import importlib

from edgedistil.build import bench, inputs
from edgedistil.build.artifact import FormatStage
from edgedistil.build.cache import Events
from edgedistil.build.context import Context
from edgedistil.build.gate import forget_reports
from edgedistil.build.request import Request, resolve
from edgedistil.build.student import student as make_student
from edgedistil.build.teacher import against_teacher
from edgedistil.errors import BuildError
from edgedistil.manifest import Manifest

# Each export format's stage class, imported only when a profile lists the format.
STAGES = {
    "onnx": "edgedistil.build.onnx:OnnxStage",
    "tflite": "edgedistil.build.tflite:TFLiteStage",
    "tflite-micro": "edgedistil.build.micro:MicroStage",
}


def build(request: Request, events: Events) -> Manifest:
    """Run every stage that has something to do; the manifest as it stands at the end. The
    folder's old reports go first: the gate (``build.gate.judge``) writes this build's."""
    from edgedistil.profiles import load_profile

    forget_reports(request.out)
    resolved = resolve(request, load_profile(request.target))
    _check_formats(resolved.profile.name, resolved.profile.export.formats)
    bench.check_boards(resolved)
    manifest = Manifest.open(request.out)
    inputs.describe(manifest, resolved)
    texts = inputs.split(manifest, resolved, events)
    ctx = Context(resolved=resolved, manifest=manifest, events=events, texts=texts)
    student = make_student(ctx)
    for fmt in resolved.profile.export.formats:
        format_stage(fmt)(ctx).run(student)
    against_teacher(ctx, student)
    if not request.skip_bench:
        bench.bench_releases(ctx)
    return manifest


def format_stage(fmt: str) -> type[FormatStage]:
    module, name = STAGES[fmt].split(":")
    stage: type[FormatStage] = getattr(importlib.import_module(module), name)
    return stage


def _check_formats(target: str, formats: tuple[str, ...]) -> None:
    missing = [f for f in formats if f not in STAGES]
    if missing:
        raise BuildError(
            f'target "{target}" lists [export].formats {list(formats)}; '
            f"build makes {', '.join(sorted(STAGES))} so far, not {', '.join(missing)}"
        )
