"""Each release on the target's own arm64 kernels, under emulation (``bench.arm``).

Runs for a target whose [device].architecture is arm64 when the qemu runner is asked for
(``--runner qemu``), or when the profile names the runtime versions its device installs
([export].runtime_versions: the Raspberry Pis) and ``edgedistil runners prepare qemu`` has made
the root for them. Otherwise the build's fidelity figures stay the host's, as before: a phone's
LiteRT comes with its app or Play services, not at a version the emulated Linux wheels give.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgedistil.build.context import Context
from edgedistil.build.request import Resolved
from edgedistil.manifest import key_of, tree_sha256

STAGE = "arm-fidelity"
QEMU = "qemu"


def wanted(resolved: Resolved) -> bool:
    """Whether this build measures its releases on emulated arm64 kernels."""
    from edgedistil.bench import sysroot

    profile = resolved.profile
    if profile.device.architecture != "arm64":
        return False
    if resolved.runner == QEMU:
        return True
    if not profile.export.runtime_versions:  # which runtime the device runs is not known
        return False
    spec = sysroot.Spec.of(profile.export.runtime_versions)
    return shutil.which("qemu-aarch64") is not None and sysroot.prepared(spec) is not None


def check(resolved: Resolved) -> None:
    """``--runner qemu`` on a target it cannot emulate, or with no prepared root, is refused
    before minutes of distillation, not after."""
    from edgedistil.bench import qemu, sysroot

    if resolved.runner != QEMU:
        return
    profile = resolved.profile
    qemu.qemu_binary()
    qemu.core_for(profile.device.cpu)
    sysroot.require(sysroot.Spec.of(profile.export.runtime_versions))


def on_arm(ctx: Context, student: Path) -> None:
    """The ``arm-fidelity`` stage: every release's figures on the emulated core, recorded on its
    manifest entry (the gate's accuracy budget reads them there)."""
    from edgedistil.bench import arm
    from edgedistil.bench.base import Options, qemu_options

    if not wanted(ctx.resolved):
        return
    profile = ctx.profile
    options = qemu_options(Options(), profile.device.cpu, profile.export.runtime_versions)
    releases = ctx.manifest.releases()
    key = key_of(
        STAGE,
        {rel: a["sha256"] for rel, a in releases.items()},
        {rel: a.get("accuracy_drop") for rel, a in releases.items()},
        tree_sha256(ctx.texts.eval),
        options.emulated_cpu,
        options.runtimes.name,
        arm.SENTENCES,
    )
    record = ctx.stage(STAGE, key, lambda: _record(ctx, student, releases, options))
    artifacts = ctx.manifest.data["artifacts"]
    for rel, fields in record["artifacts"].items():
        if rel in artifacts:  # replaced whole: a stage redone to the same bytes wrote it afresh
            for name in arm.FIELDS:
                artifacts[rel].pop(name, None)
            artifacts[rel].update(fields)
    ctx.manifest.save()


def _record(
    ctx: Context, student: Path, releases: dict[str, dict[str, Any]], options: Any
) -> dict[str, Any]:
    from edgedistil.bench import arm
    from edgedistil.data import read_examples
    from edgedistil.teacher import is_classifier, is_token_classifier, read_config, takes_pairs

    config = read_config(student)
    fields: dict[str, dict[str, Any]] = {}
    if is_token_classifier(config):
        why = "a token classifier's entities are not compared on ARM yet"
        fields = {rel: {"arm_unmeasured": why} for rel in releases}
    else:
        examples = read_examples(ctx.texts.eval, pairs=takes_pairs(student))
        texts = examples.inputs[: arm.SENTENCES]
        task = "classification" if is_classifier(config) else "embedding"
        for rel, info in sorted(releases.items()):
            found = arm.measure(
                ctx.root / rel,
                info,
                student=student,
                texts=texts,
                task=task,
                options=options,
                threads=ctx.profile.bench.threads,
            )
            fields[rel] = _with_source(found, ctx.texts.eval.name)
    return {"artifacts": fields, "outputs": [], "summary": _summary(fields)}


def _with_source(fields: dict[str, Any], eval_name: str) -> dict[str, Any]:
    """The ARM figure's source, in the gate's words: the host's drop, and what ARM changes."""
    a = fields.get("arm")
    if a is None:
        return fields
    a["source"] = (
        f"host (x86) drop {a['host_accuracy_drop']:.4f} + what the arm64 kernels change on "
        f"{a['sentences']} sentences of {eval_name} ({a['metric']} with x86 {a['vs_host']:.4f}; "
        f"{a['runtime']} on an emulated {a['core']})"
    )
    return fields


def _summary(fields: dict[str, dict[str, Any]]) -> str:
    parts = []
    for rel, f in sorted(fields.items()):
        a = f.get("arm")
        if a is None:
            parts.append(f"{rel} unmeasured ({f.get('arm_unmeasured')})")
        else:
            parts.append(
                f"{rel} {a['metric']} with x86 {a['vs_host']:.4f} on {a['sentences']} sentences, "
                f"drop {a['accuracy_drop']:.4f} (host {a['host_accuracy_drop']:.4f}), "
                f"{a['emulated_ms_per_sentence']:.0f} ms a sentence emulated"
            )
    return "; ".join(parts) or "no release"
