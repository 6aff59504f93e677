"""``edgedistil targets`` and ``edgedistil plan``: profiles and student sizes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgedistil.cli._app import _Group, cli, format_size, make_console
from edgedistil.plan import Plan
from edgedistil.profiles import Profile


@cli.group(cls=_Group, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def targets(ctx: click.Context, as_json: bool) -> None:
    """List the built-in target profiles (targets/*.toml)."""
    if ctx.invoked_subcommand is not None:
        return
    from edgedistil.profiles import load_builtin_profiles

    profiles = load_builtin_profiles()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in profiles], indent=2))
        return
    make_console().print(_targets_table(profiles))


@targets.command("show")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
def targets_show(target: str, as_json: bool) -> None:
    """Show one profile as resolved (TARGET is a built-in name or a path to a .toml file)."""
    from edgedistil.profiles import load_profile

    profile = load_profile(target)
    if as_json:
        click.echo(json.dumps(profile.to_dict(), indent=2))
        return
    click.echo(_profile_toml(profile))


def _targets_table(profiles: Iterable[Profile]) -> Table:
    table = Table(title="Built-in targets", title_justify="left")
    for column in (
        "target",
        "device",
        "cpu",
        "cores",
        "RAM",
        "formats",
        "scheme",
        "seq",
        "runner",
        "model budget",
        "p95 budget",
    ):
        right = "budget" in column or column in ("seq", "cores")
        table.add_column(column, justify="right" if right else "left", no_wrap=column == "target")
    for p in profiles:
        d, b = p.device, p.budgets
        ram = format_size(d.memory_bytes) + (
            f" + {format_size(d.psram_bytes)} PSRAM" if d.psram_bytes else ""
        )
        table.add_row(
            p.name,
            d.kind,
            d.cpu,
            str(d.cores),
            ram,
            ", ".join(p.export.formats),
            p.quantize.scheme,
            str(p.export.sequence_length),
            p.bench.runner,
            format_size(b.max_model_bytes),
            "-" if b.max_p95_latency_ms is None else f"{b.max_p95_latency_ms:g} ms",
        )
    return table


def _profile_toml(profile: Profile) -> str:
    data = profile.to_dict()
    lines = [f"# {data.pop('source')} (resolved)"]
    if data.get("extends") is None:
        data.pop("extends")
    for key in ("name", "description", "extends"):
        if key in data:
            lines.append(f"{key} = {json.dumps(data.pop(key))}")
    for section, table in data.items():
        lines.append(f"\n[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}"
    return json.dumps(value)


# ---- plan ----


@cli.command()
@click.option(
    "--teacher",
    default="default",
    show_default=True,
    help='"default" (the embedded all-MiniLM-L6-v2) or a local model directory.',
)
@click.option(
    "--target",
    "target_names",
    multiple=True,
    help="A built-in target or a .toml path; repeat it. Default: every built-in target.",
)
@click.option(
    "--layers",
    type=click.IntRange(min=1),
    default=None,
    help="Student layers. Default: half the teacher's.",
)
@click.option(
    "--vocab-size",
    type=click.IntRange(min=1),
    default=None,
    help="Prune the vocabulary to this many tokens. Default: the teacher's.",
)
@click.option(
    "--hidden",
    type=click.IntRange(min=1),
    default=None,
    help="Narrow the student to this hidden size (a multiple of the head size). "
    "Default: the teacher's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def plan(
    target_names: tuple[str, ...],
    teacher: str,
    layers: int | None,
    vocab_size: int | None,
    hidden: int | None,
    as_json: bool,
) -> None:
    """Size a student from the teacher's config alone, against each target's budget."""
    from edgedistil.plan import plan_student, read_shape, with_pieces
    from edgedistil.profiles import builtin_names, load_profile
    from edgedistil.teacher import resolve_teacher

    profiles = [load_profile(t) for t in (target_names or builtin_names())]
    resolved = resolve_teacher(teacher)
    shape = with_pieces(
        read_shape(resolved.config, str(resolved.path / "config.json")), resolved.path
    )
    plans = [
        plan_student(
            shape=shape,
            teacher=teacher,
            profile=p,
            layers=layers,
            vocab_size=vocab_size,
            hidden=hidden,
        )
        for p in profiles
    ]
    if as_json:
        click.echo(json.dumps([_plan_dict(p) for p in plans], indent=2))
        return
    _print_plans(plans, shape.pieces)


def _plan_dict(plan: Plan) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(plan)
    data.update(
        parameters=plan.parameters,
        artifact_bytes=plan.artifact_bytes,
        fits=plan.fits,
        over_by=plan.over_by,
        formats=list(plan.formats),
    )
    return data


_PLAN_COLUMNS = (
    "target",
    "scheme",
    "layers",
    "hidden",
    "vocab",
    "seq",
    "params",
    "embeddings",
    "encoder",
    "head",
    "graph",
    "tokenizer",
    "artifact",
    "budget",
    "verdict",
)


def _plan_table(plans: list[Plan]) -> Table:
    table = Table(title="Student plan (estimated artifact bytes)", title_justify="left")
    for column in _PLAN_COLUMNS:
        left = column in ("target", "scheme", "verdict")
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "target")
    for p in plans:
        verdict = "[green]fits[/]" if p.fits else f"[red]over by {format_size(p.over_by)}[/]"
        table.add_row(
            p.target,
            p.scheme,
            str(p.layers),
            str(p.student_hidden),
            f"{p.vocab_size:,}",
            str(p.sequence_length),
            f"{p.parameters / 1e6:.2f}M",
            format_size(p.embeddings.bytes),
            format_size(p.encoder.bytes),
            format_size(p.head.bytes),
            format_size(p.graph.bytes),
            format_size(p.tokenizer.bytes),
            format_size(p.artifact_bytes),
            format_size(p.limit_bytes),
            verdict,
        )
    return table


def _print_suggestions(console: Console, p: Plan) -> None:
    console.print(
        f"[bold]{p.target}[/]: {format_size(p.artifact_bytes)} exceeds "
        f"{escape(p.limit_name)} ({format_size(p.limit_bytes)}) by {format_size(p.over_by)}. "
        "What would fit:"
    )
    for s in p.suggestions:
        size = "" if s.bytes > p.limit_bytes else f" ({format_size(s.bytes)})"
        console.print(f"  - {escape(s.text)}{size}")


def _print_plans(plans: list[Plan], pieces: int) -> None:
    console = make_console()
    first = plans[0]
    console.print(
        f"Teacher {first.teacher}: {first.teacher_layers} layers, hidden {first.hidden_size}, "
        f"vocabulary {first.teacher_vocab_size:,}, {first.teacher_parameters / 1e6:.2f}M "
        f"parameters (as shipped: no unused pooler); task: {first.task}"
    )
    console.print(_plan_table(plans))
    for p in plans:
        if not p.fits:
            _print_suggestions(console, p)
    pruned = any(p.pieces for p in plans) or any(
        s.vocab_size < p.teacher_vocab_size for p in plans for s in p.suggestions
    )
    if pruned and pieces:
        console.print(
            f"A pruned vocabulary counts the teacher's {pieces:,} single-character pieces within "
            "its size: a word the training text never showed splits into them, not [UNK]."
        )


# ---- bench ----
