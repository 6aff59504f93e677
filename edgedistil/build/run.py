"""The stages of one build in the order they run."""

from __future__ import annotations

from edgedistil.build import arm, bench, inputs
from edgedistil.build.artifact import FormatStage
from edgedistil.build.cache import Events
from edgedistil.build.context import Context
from edgedistil.build.gate import Verdict, forget_reports, judge
from edgedistil.build.request import Request, resolve
from edgedistil.build.student import student as make_student
from edgedistil.build.teacher import against_teacher
from edgedistil.errors import BuildError
from edgedistil.formats import all_formats, get_format
from edgedistil.manifest import Manifest


def build(request: Request, events: Events) -> Verdict:
    """Run every stage that has something to do, then the gate; its verdict, whose reports are
    written in the folder. Every input is checked first: a build refused then leaves the folder
    as it was. Then the folder's old reports go, so a build that fails leaves no verdict behind."""
    from edgedistil.profiles import load_profile

    resolved = resolve(request, load_profile(request.target))
    _check_formats(resolved.profile.name, resolved.profile.export.formats)
    bench.check_boards(resolved)
    arm.check(resolved)
    manifest, checked = inputs.check(resolved)  # nothing in the folder has changed before this
    forget_reports(request.out)
    inputs.describe(manifest, resolved)
    _withdraw_all(manifest)
    texts = inputs.split(manifest, resolved, checked, events)
    ctx = Context(resolved=resolved, manifest=manifest, events=events, texts=texts)
    student = make_student(ctx)
    for fmt in resolved.profile.export.formats:
        format_stage(fmt)(ctx).run(student)
    against_teacher(ctx, student)
    arm.on_arm(ctx, student)
    if not request.skip_bench:
        bench.bench_releases(ctx)
    return judge(
        request.out,
        resolved.profile,
        allow_unmeasured=request.allow_unmeasured,
        allow_estimates=request.allow_estimates,
    )


def _withdraw_all(manifest: Manifest) -> None:
    """Every stage the last build left is withdrawn (``Manifest.withdraw``) until this build
    takes it up again (same key, outputs intact: ``run_stage`` restores it) or redoes it. The
    manifest now describes this build's inputs, so a build that stops at an early stage (a
    distillation that fails) must not leave the last build's releases listed as verified:
    ``check`` would vouch for them under inputs that did not make them."""
    for name in list(manifest.data["stages"]):
        manifest.withdraw(name)


def format_stage(fmt: str) -> type[FormatStage]:
    """The format's build stage, named in its registration and imported only when a profile
    lists the format."""
    stage: type[FormatStage] = get_format(fmt).load_stage()
    return stage


def _check_formats(target: str, formats: tuple[str, ...]) -> None:
    """Profile validation already refused unregistered names; a registered format whose stage
    is not written yet is refused here, before any stage runs."""
    missing = [f for f in formats if not get_format(f).has_stage()]
    if missing:
        made = sorted(f.name for f in all_formats() if f.has_stage())
        raise BuildError(
            f'target "{target}" lists [export].formats {list(formats)}; '
            f"build makes {', '.join(made)} so far, not {', '.join(missing)}"
        )
