"""``edgedistil build`` (teacher to gated release, one folder) and ``edgedistil check`` (the
release gate alone, for CI: exit 0 when every budget passes, 3 when any fails or is unmeasured)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgedistil.cli._app import cli, make_console
from edgedistil.cli._paths import OutputDir
from edgedistil.cli.train import _TrainingProgress

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)
_DIR = click.Path(path_type=Path, file_okay=False)
_OUT = OutputDir()
_STATUS_STYLE = {"pass": "green", "fail": "red", "unmeasured": "red", "skipped": "yellow"}
_TEACHER = (
    '"default" or a directory. Default: "default"; with --student, the teacher its '
    "edgedistil.json names (the gate compares each release artifact with it)."
)
_ALLOW_ESTIMATES = (
    "Let the latency budget judge the build's estimate (a microcontroller's, from op counts and "
    "published kernel throughputs) by its high end where no latency was measured on the target."
)
_HOST_IS_TARGET = (
    "With --runner local: this host is the target device (e.g. edgedistil run on the Pi), so "
    "its latency and RSS count. Without it they are shown but count as unmeasured."
)


class _Events:
    """One line per stage (started, skipped, done, failed) and the training bar while distilling."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: _TrainingProgress | None = None

    def stage(self, name: str, state: str, detail: str = "") -> None:
        if state == "start" and name == "distill":
            self.progress = _TrainingProgress(self.console).__enter__()
        if state in ("done", "failed") and self.progress is not None:
            self.progress.__exit__(None, None, None)
            self.progress = None
        mark = {"start": "…", "skipped": "=", "done": "✓", "failed": "✗"}[state]
        self.console.print(f"{mark} {name}{': ' + detail if detail else ''}", markup=False)

    def training(self) -> Any:
        return self.progress


@cli.command("build")
@click.option("--target", required=True, help="Profile name or path.")
@click.option("--teacher", help=_TEACHER)
@click.option("--data", type=_FILE, help="Training text (.txt/.tsv/.csv/.jsonl). Default: sample.")
@click.option("--student", type=_DIR, help="Reuse this student directory instead of distilling.")
@click.option("--eval", "eval_path", type=_FILE, help="Fidelity text. Default: the sample text.")
@click.option("--calibration", type=_FILE, help="int8 calibration text. Default: the sample.")
@click.option("--out", type=_OUT, required=True, help="The build folder (reused stage by stage).")
@click.option("--layers", type=click.IntRange(min=1), help="Default: the plan's.")
@click.option("--vocab-size", type=click.IntRange(min=1), help="Default: the plan's.")
@click.option(
    "--hidden", type=click.IntRange(min=1), help="Narrow the student. Default: the plan's."
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Default: the profile's [distill].epochs, else 3.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--augment",
    type=click.IntRange(min=0),
    default=None,
    help="New sentences per training text from the teacher's nearest words (distill --augment). "
    "Default: 2 on the sample text (no --data), else distill's.",
)
@click.option(
    "--qat-epochs",
    type=click.FloatRange(min=0),
    default=None,
    help="Quantization-aware epochs after training, through the int8 (or int16) graph the "
    "LiteRT/TFLite Micro file will have; a fraction is that share of an epoch. Default: the "
    "scheme's (0.25 for static-int8, full-int8 and int16x8 with a .tflite format; 0 otherwise).",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--runner", help="Bench runner. Default: the profile's [bench].runner.")
@click.option("--board", "boards", multiple=True, help="Board address (ssh) or serial (adb).")
@click.option("--runs", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--skip-bench", is_flag=True, help="Leave latency and RSS unmeasured.")
@click.option("--host-is-target", is_flag=True, help=_HOST_IS_TARGET)
@click.option("--allow-unmeasured", is_flag=True, help="Skip budgets with no measurement.")
@click.option("--allow-estimates", is_flag=True, help=_ALLOW_ESTIMATES)
def build_command(**kw: Any) -> None:
    """Distil, export, quantize, verify, bench and gate a student for TARGET in one folder."""
    from edgedistil.build import Request, build
    from edgedistil.teacher import teacher_of

    console = make_console()
    request = Request(
        target=kw["target"],
        out=kw["out"],
        teacher=teacher_of(kw["teacher"], kw["student"]),
        data=kw["data"],
        student=kw["student"],
        eval_path=kw["eval_path"],
        calibration=kw["calibration"],
        layers=kw["layers"],
        vocab_size=kw["vocab_size"],
        hidden=kw["hidden"],
        epochs=kw["epochs"],
        batch_size=kw["batch_size"],
        augment=kw["augment"],
        qat_epochs=kw["qat_epochs"],
        seed=kw["seed"],
        runner=kw["runner"],
        boards=tuple(kw["boards"]),
        bench_runs=kw["runs"],
        skip_bench=kw["skip_bench"],
        host_is_target=kw["host_is_target"],
        allow_unmeasured=kw["allow_unmeasured"],
        allow_estimates=kw["allow_estimates"],
    )
    _show_verdict(console, build(request, _Events(console)))


@cli.command("check")
@click.argument("folder", type=_DIR)
@click.option("--target", required=True, help="Profile name or path (the build's).")
@click.option("--bench", "bench_files", type=_FILE, multiple=True, help="A bench result JSON.")
@click.option("--allow-unmeasured", is_flag=True, help="Skip budgets with no measurement.")
@click.option("--allow-estimates", is_flag=True, help=_ALLOW_ESTIMATES)
@click.option(
    "--report-dir", type=OutputDir(), help="Where gate.json/.md/.xml go. Default: FOLDER."
)
def check_command(
    folder: Path,
    target: str,
    bench_files: tuple[Path, ...],
    allow_unmeasured: bool,
    allow_estimates: bool,
    report_dir: Path | None,
) -> None:
    """The release gate: every budget of TARGET against what FOLDER's build measured."""
    from edgedistil.build.gate import judge
    from edgedistil.profiles import load_profile

    verdict = judge(
        folder,
        load_profile(target),
        allow_unmeasured=allow_unmeasured,
        bench_files=bench_files,
        report_dir=report_dir,
        allow_estimates=allow_estimates,
    )
    _show_verdict(make_console(), verdict)


def _show_verdict(console: Console, verdict: Any) -> None:
    """The gate's table, where its reports went, and exit 3 when it failed."""
    from edgedistil import gate as gate_mod

    _print_gate(console, verdict.gate)
    console.print("reports: " + ", ".join(str(p) for p in verdict.reports), markup=False)
    code = gate_mod.exit_code(verdict.gate)
    if code:
        raise SystemExit(code)


def _print_gate(console: Console, gate: Any) -> None:
    from edgedistil.report import (
        change_text,
        coverage_text,
        estimate_text,
        measured_text,
        result_text,
        source_text,
    )
    from edgedistil.units import format_value

    table = Table(title=f"gate: {gate.target}")
    for column in ("artifact", "budget", "limit", "measured", "result", "source"):
        right = column in ("limit", "measured")
        # The measured value stays on one line with its "(off target)" mark; the source wraps.
        table.add_column(column, justify="right" if right else "left", no_wrap=right)
    for artifact in gate.artifacts:
        for c in artifact.checks:
            style = _STATUS_STYLE[c.status]
            table.add_row(
                artifact.artifact,
                c.budget.label,
                format_value(c.limit, c.budget.unit),
                "-" if c.measured is None else escape(measured_text(c)),
                f"[{style}]{escape(result_text(c))}[/{style}]",
                escape(source_text(c)),
            )
    console.print(table)
    for artifact in gate.artifacts:
        if artifact.coverage is not None:
            line = f"{artifact.artifact}: {coverage_text(artifact.coverage)}"
            console.print(line, markup=False, soft_wrap=True)
        if artifact.latency_estimate is not None:
            line = f"{artifact.artifact}: {estimate_text(artifact)}"
            console.print(line, markup=False, soft_wrap=True)
    for change in gate.budget_changes:
        line = f"budget changed since the build: {change_text(change)}"
        console.print(line, markup=False, soft_wrap=True)
    console.print("PASSED" if gate.passed else "FAILED", style="green" if gate.passed else "red")


@cli.command("summary")
@click.argument("folders", nargs=-1, required=True, type=_DIR)
def summary_command(folders: tuple[Path, ...]) -> None:
    """One table of the gates of several build FOLDERS (each one's gate.json).

    Exit 0 when every gate passed, 3 when one failed, 1 when a folder has no current gate."""
    from edgedistil import summary

    rows = summary.summarize(folders)
    console = make_console()
    table = Table(title="gates")
    columns = ("folder", "target", "artifacts", *summary.STATUSES, "verdict", "why")
    for column in (*columns, "latency estimate"):
        table.add_column(column, justify="right" if column in summary.STATUSES else "left")
    for row in rows:
        style = {"passed": "green", "failed": "red"}.get(row.verdict, "red")
        table.add_row(
            escape(str(row.folder)),
            escape(row.target or "-"),
            str(row.artifacts),
            *(str(row.counts.get(s, "-")) for s in summary.STATUSES),
            f"[{style}]{row.verdict}[/{style}]",
            escape(row.reason),
            escape(row.estimates or "-"),
        )
    console.print(table)
    code = summary.exit_code(rows)
    console.print(
        {0: "PASSED", 1: "INCOMPLETE", 3: "FAILED"}[code], style="green" if not code else "red"
    )
    if code:
        raise SystemExit(code)
