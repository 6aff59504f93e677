"""``edgedistil bench``: an artifact timed where it will live."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgedistil.cli._app import cli, format_size, make_console
from edgedistil.runners import is_emulated, runner_names


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
    help=f"{', '.join(runner_names())}. Default: the target's [bench].runner, else local.",
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
@click.option(
    "--host-is-target",
    is_flag=True,
    help="With --runner local: this host is the --target device itself (e.g. run on the Pi), "
    "so the gate counts its latency and RSS. Checked against [device].architecture.",
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
        host_is_target=kw["host_is_target"],
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
    console = make_console()
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
        if b.result is not None:
            console.print(f"{escape(b.board.label)}: {escape(tokenize_text(b.result['result']))}")
        if b.result is not None and is_emulated(b.board.runner):
            console.print(
                f"{escape(b.board.label)}: an emulated core ({b.board.runner}): these times and "
                "memory are the emulator's, not the device's; what it computes is the device's"
            )
    for b in report.boards:
        if b.error:
            console.print(f"[bold]{escape(b.board.label)}[/]: [red]{escape(b.error)}[/]")
        elif b.comparison is not None:
            _print_comparison(console, b.comparison)
    for b in report.boards:
        if b.saved:
            console.print(f"Saved {escape(str(b.saved))}")


def tokenize_text(result: dict[str, Any]) -> str:
    """Tokenisation on the board beside inference, per sentence, both labelled; or why not."""
    tokenize = result.get("tokenize") or {}
    if not tokenize.get("measured"):
        return f"tokenisation not measured ({tokenize.get('reason') or 'ids shipped by the host'})"
    tok, inference = tokenize["latency_ms"], result["latency_ms"]
    return (
        f"tokenisation on the board ({tokenize.get('tokenizer')}) p50 {_ms(tok.get('p50'))} ms, "
        f"p95 {_ms(tok.get('p95'))} ms per sentence; inference p50 {_ms(inference.get('p50'))} "
        f"ms, p95 {_ms(inference.get('p95'))} ms"
    )


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
    return "-" if value is None else format_size(int(value))
