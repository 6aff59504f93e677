"""``edgedistil runners``: the ways to reach a board, and ``runners prepare`` for those that need
something on this host first (qemu: an arm64 root with the board's Python and runtimes)."""

from __future__ import annotations

import json
from typing import Any

import click

from edgedistil.cli._app import _Group, cli, format_size, make_console
from edgedistil.runners import all_runners, get_runner, preparable


@cli.group(cls=_Group, invoke_without_command=True)
@click.pass_context
def runners(ctx: click.Context) -> None:
    """List the bench runners (local, ssh, adb, qemu ...)."""
    if ctx.invoked_subcommand is not None:
        return
    console = make_console()
    for entry in sorted(all_runners(), key=lambda e: e.name):
        extra = f"  (prepare: edgedistil runners prepare {entry.name})" if entry.prepare else ""
        console.print(f"{entry.name:8} {entry.description}{extra}", markup=False)


@runners.command("prepare")
@click.argument("name", type=click.Choice(preparable()))
@click.option("--json", "as_json", is_flag=True, help="Print the preparation's record as JSON.")
@click.option("--force", is_flag=True, help="Prepare again, even if it was done before.")
@click.option(
    "--versions",
    multiple=True,
    help='qemu: a runtime version the board installs, e.g. "litert==1.4.0" (repeat it); as a '
    "profile's [export].runtime_versions. Default: the Raspberry Pi profiles' versions.",
)
def runners_prepare(name: str, as_json: bool, force: bool, versions: tuple[str, ...]) -> None:
    """Prepare what runner NAME needs on this host (qemu: downloads Debian's arm64 Python and
    the runtimes' aarch64 wheels into the user's cache folder, once)."""
    from edgedistil._registry import load_object

    console = make_console()

    def progress(step: str, state: str, detail: str) -> None:
        mark = "…" if state == "start" else "✓"
        console.print(f"{mark} {step}{': ' + detail if detail else ''}", markup=False)

    prepare = load_object(get_runner(name).prepare or "")
    record: dict[str, Any] = prepare(progress, force=force, versions=_versions(versions))
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    how = "already prepared" if record["cached"] else f"prepared in {record['seconds']} s"
    size = format_size(int(record["bytes"]))
    console.print(f"{name}: {how}, {size} at {record['folder']}", markup=False)


def _versions(items: tuple[str, ...]) -> tuple[str, ...]:
    """``--versions``, each "runtime==version" as a profile's [export].runtime_versions writes
    it, of a runtime the root pins (``sysroot.RUNTIMES``)."""
    from edgedistil._schema import RUNTIME_VERSION
    from edgedistil.bench.sysroot import RUNTIMES

    words = tuple(w for item in items for w in item.split())
    for word in words:
        match = RUNTIME_VERSION.match(word)
        if match is None or match.group(1) not in RUNTIMES:
            raise click.BadParameter(
                f'"{word}": expected onnxruntime==VERSION or litert==VERSION',
                param_hint="--versions",
            )
    return words
