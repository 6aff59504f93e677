"""The ``edgedistil`` command: the only module that prints or chooses an exit code.

Exit codes: 0 success, 1 an error (``Error: ...`` on stderr, one line), 2 bad usage (click's own),
3 a failed release gate.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgedistil import __version__
from edgedistil.errors import EdgedistilError
from edgedistil.plan import Plan
from edgedistil.profiles import Profile


class _Group(click.Group):
    """Turns every ``EdgedistilError`` into ``Error: <one line>`` on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgedistilError as exc:
            message = " ".join(str(exc).split("\n"))
            raise click.ClickException(message) from None


def _console() -> Console:
    # Created per command so click's test runner sees the output; wide enough that tables
    # are not wrapped when piped to a file or CI log.
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160, highlight=False)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="edgedistil")
def cli() -> None:
    """Distil a BERT-class teacher into an int8 student that fits a named small device."""


# ---- targets ----


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
    _console().print(_targets_table(profiles))


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
        ram = _size(d.memory_bytes) + (f" + {_size(d.psram_bytes)} PSRAM" if d.psram_bytes else "")
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
            _size(b.max_model_bytes),
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def plan(
    target_names: tuple[str, ...],
    teacher: str,
    layers: int | None,
    vocab_size: int | None,
    as_json: bool,
) -> None:
    """Size a student from the teacher's config alone, against each target's budget."""
    from edgedistil.plan import plan_student, read_shape
    from edgedistil.profiles import builtin_names, load_profile
    from edgedistil.teacher import resolve_teacher

    profiles = [load_profile(t) for t in (target_names or builtin_names())]
    resolved = resolve_teacher(teacher)
    shape = read_shape(resolved.config, str(resolved.path / "config.json"))
    plans = [
        plan_student(shape=shape, teacher=teacher, profile=p, layers=layers, vocab_size=vocab_size)
        for p in profiles
    ]
    if as_json:
        click.echo(json.dumps([_plan_dict(p) for p in plans], indent=2))
        return
    _print_plans(plans)


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


def _print_plans(plans: list[Plan]) -> None:
    console = _console()
    first = plans[0]
    console.print(
        f"Teacher {first.teacher}: {first.teacher_layers} layers, hidden {first.hidden_size}, "
        f"vocabulary {first.teacher_vocab_size:,}, {first.teacher_parameters / 1e6:.2f}M "
        f"parameters (as shipped: no unused pooler); task: {first.task}"
    )
    table = Table(title="Student plan (estimated artifact bytes)", title_justify="left")
    for column in (
        "target",
        "scheme",
        "layers",
        "vocab",
        "seq",
        "params",
        "embeddings",
        "encoder",
        "head",
        "graph",
        "artifact",
        "budget",
        "verdict",
    ):
        left = column in ("target", "scheme", "verdict")
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "target")
    for p in plans:
        verdict = "[green]fits[/]" if p.fits else f"[red]over by {_size(p.over_by)}[/]"
        table.add_row(
            p.target,
            p.scheme,
            str(p.layers),
            f"{p.vocab_size:,}",
            str(p.sequence_length),
            f"{p.parameters / 1e6:.2f}M",
            _size(p.embeddings.bytes),
            _size(p.encoder.bytes),
            _size(p.head.bytes),
            _size(p.graph.bytes),
            _size(p.artifact_bytes),
            _size(p.limit_bytes),
            verdict,
        )
    console.print(table)
    for p in plans:
        if p.fits:
            continue
        console.print(
            f"[bold]{p.target}[/]: {_size(p.artifact_bytes)} exceeds "
            f"{escape(p.limit_name)} ({_size(p.limit_bytes)}) by {_size(p.over_by)}. "
            "What would fit:"
        )
        for s in p.suggestions:
            size = "" if s.bytes > p.limit_bytes else f" ({_size(s.bytes)})"
            console.print(f"  - {escape(s.text)}{size}")


# ---- bench ----


@cli.command()
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.option(
    "--target",
    default=None,
    help="A built-in target or a .toml path: its runner, threads, sequence length.",
)
@click.option(
    "--runner",
    default=None,
    help="local, ssh or adb. Default: the target's [bench].runner, else local.",
)
@click.option(
    "--board",
    "boards",
    multiple=True,
    help="user@host[:port] (ssh) or a device serial (adb); repeat it for a fleet.",
)
@click.option(
    "--fleet",
    type=click.Path(dir_okay=False),
    default=None,
    help="A file of boards: TOML [[boards]] tables, or one address a line.",
)
@click.option(
    "--runs", type=click.IntRange(min=1), default=100, show_default=True, help="Timed runs."
)
@click.option(
    "--warmup",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Untimed runs after the first inference.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Runtime threads. Default: the target's [bench].threads, else every CPU.",
)
@click.option("--cpus", default="", help="Pin the run to these CPUs, e.g. 0-3 or 0,2.")
@click.option(
    "--tokenizer",
    type=click.Path(file_okay=False),
    default=None,
    help="Tokenizer directory. Default: beside the artifact, else the default teacher's.",
)
@click.option(
    "--text",
    type=click.Path(dir_okay=False),
    default=None,
    help="Sentences to feed, one a line. Default: calibration/sentences.txt.",
)
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="How many sentences of the text to feed.",
)
@click.option(
    "--python",
    "board_python",
    default=None,
    help="The board's Python command. Default: python3 (this Python for local).",
)
@click.option(
    "--ssh-config",
    type=click.Path(dir_okay=False),
    default=None,
    help="An ssh_config file (ssh -F). Default: ssh's own, ~/.ssh/config.",
)
@click.option(
    "--benchmark-model",
    type=click.Path(dir_okay=False),
    default=None,
    help="LiteRT's benchmark_model binary, for an Android device without Python.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=900.0,
    show_default=True,
    help="Seconds one board may take.",
)
@click.option(
    "--compare",
    is_flag=True,
    help="Compare with each board's previous run on the same bytes; exit 3 if worse.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Percent worse p95 latency or peak RSS that --compare calls a regression.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def bench(ctx: click.Context, /, artifact: str, as_json: bool, **kw: Any) -> None:
    """Time ARTIFACT (.onnx or .tflite) here, over SSH or over adb; store the result beside it."""
    from edgedistil.bench.run import bench as run_bench

    report = run_bench(_bench_request(artifact, kw))
    if as_json:
        click.echo(json.dumps(_bench_dict(report), indent=2, default=str))
    elif len(report.failed) < len(report.boards) or len(report.boards) > 1:
        _print_bench(report)
    if report.failed:
        errors = [b.error or "" for b in report.failed]
        if len(report.boards) == 1:
            raise click.ClickException(errors[0])
        raise click.ClickException(
            f"{len(errors)} of {len(report.boards)} boards failed: " + " | ".join(errors)
        )
    if report.regressed:
        ctx.exit(3)


def _bench_request(artifact: str, kw: dict[str, Any]) -> Any:
    from pathlib import Path as _Path

    from edgedistil.bench.base import Options
    from edgedistil.bench.run import Request

    def path(key: str) -> Any:
        return _Path(kw[key]) if kw[key] is not None else None

    return Request(
        artifact=_Path(artifact),
        target=kw["target"],
        runner=kw["runner"],
        boards=tuple(kw["boards"]),
        fleet=path("fleet"),
        runs=kw["runs"],
        warmup=kw["warmup"],
        threads=kw["threads"],
        cpus=kw["cpus"],
        tokenizer=path("tokenizer"),
        text=path("text"),
        rows=kw["rows"],
        timeout_s=kw["timeout"],
        options=Options(
            python=kw["board_python"],
            ssh_config=path("ssh_config"),
            benchmark_model=path("benchmark_model"),
        ),
        compare=kw["compare"],
        threshold=kw["threshold"] / 100.0,
    )


def _bench_dict(report: Any) -> dict[str, Any]:
    from dataclasses import asdict

    boards = []
    for b in report.boards:
        boards.append(
            {
                "board": b.board.label,
                "runner": b.board.runner,
                "ok": b.error is None,
                "error": b.error,
                "saved": str(b.saved) if b.saved else None,
                "result": b.result,
                "comparison": None
                if b.comparison is None
                else {
                    **asdict(b.comparison),
                    "regressed": b.comparison.regressed,
                    "changes": {m.name: m.change for m in b.comparison.metrics},
                },
            }
        )
    return {
        "artifact": str(report.artifact),
        "sha256": report.sha256,
        "target": report.target,
        "boards": boards,
    }


def _print_bench(report: Any) -> None:
    console = _console()
    table = Table(title=f"Benchmark of {escape(report.artifact.name)}", title_justify="left")
    columns = (
        "board",
        "runtime",
        "threads",
        "load ms",
        "first ms",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "std ms",
        "peak RSS",
        "growth",
        "throttled",
    )
    for column in columns:
        left = column in ("board", "runtime")
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "board")
    for b in report.boards:
        if b.result is None:
            table.add_row(escape(b.board.label), "[red]failed[/]", *[""] * (len(columns) - 2))
            continue
        r = b.result["result"]
        lat, mem = r["latency_ms"], r["memory"]
        runtime = r["runtime"]
        table.add_row(
            escape(b.board.label),
            escape(f"{runtime['name']} {runtime.get('version') or ''}".strip()),
            str(r.get("threads")),
            *(_ms(v) for v in (r.get("load_ms"), r.get("first_inference_ms"))),
            *(_ms(lat.get(k)) for k in ("p50", "p95", "p99", "max", "std")),
            *(_bytes(mem.get(k)) for k in ("peak_rss_bytes", "peak_rss_growth_bytes")),
            {True: "[red]yes[/]", False: "no"}.get(r["board"]["throttling"]["throttled"], "?"),
        )
    console.print(table)
    for b in report.boards:
        if b.error:
            console.print(f"[bold]{escape(b.board.label)}[/]: [red]{escape(b.error)}[/]")
        elif b.comparison is not None:
            _print_comparison(console, b.comparison)
    for b in report.boards:
        if b.saved:
            console.print(f"Saved {escape(str(b.saved))}")


def _print_comparison(console: Console, comparison: Any) -> None:
    label = escape(comparison.board)
    if comparison.previous_timestamp is None:
        console.print(f"{label}: no previous run of this board on these bytes to compare with")
        return
    for m in comparison.metrics:
        if m.change is None:
            console.print(f"{label}: {m.name}: not measured in both runs")
            continue
        bad = m in comparison.regressions
        verdict = f"[red]REGRESSION (> {comparison.threshold:.0%})[/]" if bad else "ok"
        show = _bytes if m.unit == "bytes" else (lambda v: f"{v:.2f} ms")
        console.print(
            f"{label}: {m.name} {show(m.current)} against {show(m.previous)} on "
            f"{comparison.previous_timestamp} ({m.change:+.1%}) {verdict}"
        )


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def _bytes(value: Any) -> str:
    return "-" if value is None else _size(int(value))


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{n} B"


# ---- distill and finetune ----


def _training_options(f: Any) -> Any:
    """Options shared by distill and finetune (the training loop is the same)."""
    options = [
        click.option(
            "--data",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Training text: .txt (one per line), .tsv/.csv with a header, .jsonl.",
        ),
        click.option("--text-column", default=None, help="Column holding the text."),
        click.option("--label-column", default=None, help="Column holding the label."),
        click.option(
            "--eval",
            "eval_path",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Evaluation file (same format). Default: a held-out fraction.",
        ),
        click.option(
            "--eval-fraction",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.1,
            show_default=True,
        ),
        click.option(
            "--out",
            type=click.Path(path_type=Path, file_okay=False),
            required=True,
            help="Output model directory (checkpoints go in OUT/checkpoints).",
        ),
        click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True),
        click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True),
        click.option(
            "--lr",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Peak learning rate. Default: 5e-5 for classification, 5e-4 for "
            "embedding distillation.",
        ),
        click.option(
            "--warmup",
            type=click.FloatRange(0, 1),
            default=0.1,
            show_default=True,
            help="Fraction of steps spent warming up the learning rate.",
        ),
        click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True),
        click.option(
            "--seq-len",
            type=click.IntRange(min=2),
            default=128,
            show_default=True,
            help="Longer texts are truncated (and counted).",
        ),
        click.option("--seed", type=int, default=42, show_default=True),
        click.option(
            "--patience",
            type=click.IntRange(min=0),
            default=2,
            show_default=True,
            help="Stop after this many epochs without improvement (0: never).",
        ),
        click.option("--resume", is_flag=True, help="Continue from OUT/checkpoints."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _settings(kw: dict[str, Any], **extra: Any) -> Any:
    from edgedistil.distill.train import Settings

    return Settings(
        task="",
        epochs=kw["epochs"],
        batch_size=kw["batch_size"],
        warmup=kw["warmup"],
        grad_accum=kw["grad_accum"],
        seq_len=kw["seq_len"],
        seed=kw["seed"],
        patience=kw["patience"] or None,
        **extra,
    )


def _job(kw: dict[str, Any], teacher: str, settings: Any, **extra: Any) -> Any:
    from edgedistil.distill.job import Job

    return Job(
        teacher=teacher,
        data=kw["data"],
        out=kw["out"],
        settings=settings,
        text_column=kw["text_column"],
        label_column=kw["label_column"],
        eval_path=kw["eval_path"],
        eval_fraction=kw["eval_fraction"],
        resume=kw["resume"],
        lr=kw["lr"],
        **extra,
    )


@cli.command()
@click.option(
    "--teacher",
    default="default",
    show_default=True,
    help='"default" (all-MiniLM-L6-v2) or a local model directory.',
)
@click.option(
    "--task",
    type=click.Choice(["classification", "embedding"]),
    default=None,
    help="Default: classification for a teacher with a classifier, else embedding.",
)
@click.option(
    "--layers",
    type=click.IntRange(min=1),
    default=None,
    help="Student layers. Default: half the teacher's.",
)
@click.option("--layer-map", default=None, help="Teacher layers to start from, e.g. 0,2,4.")
@click.option(
    "--vocab-size",
    type=click.IntRange(min=1),
    default=None,
    help="Prune the vocabulary to the most frequent tokens of the text.",
)
@click.option("--prune-vocab", is_flag=True, help="Keep only the tokens the text uses.")
@click.option(
    "--temperature", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True
)
@click.option(
    "--alpha-kd",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Weight of the soft-target KL term.",
)
@click.option(
    "--alpha-ce",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Weight of the hard-label cross-entropy.",
)
@click.option(
    "--alpha-cos",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Weight of the hidden-state (and pooled) cosine terms.",
)
@click.option(
    "--alpha-mse",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Weight of the pooled-embedding MSE (embedding task).",
)
@_training_options
def distill(
    teacher: str,
    task: str | None,
    layers: int | None,
    layer_map: str | None,
    vocab_size: int | None,
    prune_vocab: bool,
    temperature: float,
    alpha_kd: float,
    alpha_ce: float,
    alpha_cos: float,
    alpha_mse: float,
    **kw: Any,
) -> None:
    """Distil a student from TEACHER: fewer layers, initialised from the teacher's own."""
    from edgedistil.distill import job as jobs
    from edgedistil.distill.losses import Weights

    weights = Weights(
        kd=alpha_kd, ce=alpha_ce, cos=alpha_cos, mse=alpha_mse, temperature=temperature
    )
    settings = _settings(kw, weights=weights)
    job = _job(
        kw,
        teacher,
        settings,
        task=task,
        layers=layers,
        layer_map=layer_map,
        vocab_size=vocab_size,
        prune_vocab=prune_vocab,
    )
    with _TrainingProgress(_console()) as progress:
        outcome = jobs.distill(job, progress)
    _print_outcome(outcome)


@cli.command()
@click.option(
    "--teacher",
    required=True,
    help='The encoder to fine-tune: "default" or a local model directory.',
)
@_training_options
def finetune(teacher: str, **kw: Any) -> None:
    """Fine-tune an encoder into a classification teacher on labelled data."""
    from edgedistil.distill import job as jobs

    if kw["data"] is None:
        raise click.UsageError("--data is required: fine-tuning needs labelled examples")
    job = _job(kw, teacher, _settings(kw))
    with _TrainingProgress(_console()) as progress:
        outcome = jobs.finetune(job, progress)
    _print_outcome(outcome)


class _TrainingProgress:
    """A rich progress bar per epoch with the loss and examples/s (train.Progress)."""

    def __init__(self, console: Console) -> None:
        # Under torchrun every rank runs this command; only rank 0 shows progress.
        self.quiet = int(os.environ.get("RANK", "0")) != 0
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[rate]:.0f} ex/s"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=self.quiet,
        )
        self.task: Any = None
        self.started = 0.0
        self.seen = 0

    def __enter__(self) -> _TrainingProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        import time

        self.task = self.bar.add_task(f"epoch {epoch}/{epochs}", total=steps, loss=0.0, rate=0.0)
        self.started, self.seen = time.perf_counter(), 0

    def advance(self, loss: float, examples: int) -> None:
        import time

        self.seen += examples
        rate = self.seen / max(1e-9, time.perf_counter() - self.started)
        self.bar.update(self.task, advance=1, loss=loss, rate=rate)

    def end(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.quiet:
            return
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k not in ("epoch",))
        self.bar.console.print(f"epoch {epoch}: {shown}")


def _print_outcome(outcome: Any) -> None:
    if int(os.environ.get("RANK", "0")) != 0:
        return
    console = _console()
    best = outcome.state.best
    metric = "cosine" if outcome.task == "embedding" else "accuracy"
    console.print(
        f"Wrote {outcome.out}: {outcome.task} student, layers {outcome.layer_map or '-'}, "
        f"{outcome.parameters / 1e6:.2f}M parameters, vocabulary {outcome.vocab_size:,}; "
        f"best eval {metric} {best:.4f} after {outcome.state.epoch} epoch(s); "
        f"{outcome.train_examples} train / {outcome.eval_examples} eval examples, "
        f"{outcome.truncated} truncated to the sequence length"
    )


def main() -> None:
    cli(prog_name="edgedistil")
