"""Each release artifact against the teacher, end to end (``vs_teacher``)."""

from __future__ import annotations

from pathlib import Path

from edgedistil.build.context import Context
from edgedistil.manifest import key_of, tree_sha256


def against_teacher(ctx: Context, student: Path) -> None:
    """Each release, in its own runtime with its own tokenizer, against the teacher in PyTorch on
    the eval text; recorded on the artifact beside its drop against the float student. A teacher
    that cannot be had leaves the figure unmeasured with the reason, and the build goes on."""
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
    record = ctx.stage(
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
