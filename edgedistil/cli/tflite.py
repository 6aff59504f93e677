"""``edgedistil convert`` and ``edgedistil ops``: verified ``.tflite`` files, TFLite Micro
artifacts with measured memory, and the operator check against a target's runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from edgedistil.cli._app import cli, format_size, make_console
from edgedistil.cli._choices import RegistryChoice
from edgedistil.cli._paths import OutputDir
from edgedistil.errors import ExportError
from edgedistil.formats import get_format
from edgedistil.schemes import scheme_names

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)
# The formats `convert` makes, the one a profile lists first winning: TFLite Micro's file is a
# LiteRT file with TFLite Micro's rewrites, so a profile with both gets the stricter one.
_FORMATS = ("tflite-micro", "tflite")


def _schemes() -> tuple[str, ...]:
    """Every scheme some format of ``convert`` carries, in registration order."""
    return tuple(s for s in scheme_names() if any(s in scheme_names(f) for f in _FORMATS))


def _tflite_profile(target: str) -> tuple[Any, str]:
    """The profile and its runtime: tflite-micro when it lists that format, else litert."""
    from edgedistil.profiles import load_profile

    profile = load_profile(target)
    for fmt in _FORMATS:
        if fmt in profile.export.formats:
            return profile, get_format(fmt).runtime
    formats = profile.export.formats
    raise ExportError(
        f'target "{profile.name}" lists neither tflite nor tflite-micro ([export].formats = '
        f"{list(formats)}); choose a LiteRT or TFLite Micro target, e.g. wear-os-watch, cortex-m7"
    )


@cli.command("convert")
@click.argument("student", type=click.Path(path_type=Path, file_okay=False))
@click.option("--target", default="wear-os-watch", show_default=True, help="Profile or path.")
@click.option("--out", type=OutputDir(), required=True)
@click.option("--scheme", type=RegistryChoice(_schemes), help="Default: [quantize].scheme.")
@click.option("--calibration", type=_FILE, help="Text/TSV/CSV/JSONL. Default: the sample text.")
@click.option("--eval", "eval_path", type=_FILE, help="Eval text (labels optional).")
@click.option("--sequence-length", type=click.IntRange(min=1), help="Default: the profile's.")
@click.option("--max-drop", type=click.FloatRange(0, 1), help="Default: the profile's budget.")
@click.option(
    "--metadata/--no-metadata",
    default=True,
    show_default=True,
    help="MediaPipe Tasks metadata (tokenizer, labels) in a LiteRT file, checked in MediaPipe.",
)
@click.option(
    "--no-fallback",
    is_flag=True,
    help="LiteRT static int8 over its budget: refuse, rather than keep all but the fully "
    "connected layers and lookups float.",
)
@click.pass_context
def convert_command(
    ctx: click.Context,
    student: Path,
    target: str,
    out: Path,
    scheme: str | None,
    calibration: Path | None,
    eval_path: Path | None,
    sequence_length: int | None,
    max_drop: float | None,
    metadata: bool,
    no_fallback: bool,
) -> None:
    """Convert STUDENT to OUT/model.SCHEME.tflite, verified in LiteRT against PyTorch; for a
    LiteRT target with MediaPipe metadata that MediaPipe's text tasks run on raw text; for a
    TFLite Micro target also OUT/model_data.cc/.h with the arena measured in TFLite Micro, and
    OUT/tokenizer.c/.h for a WordPiece student. Exits 3 when the model, flash or arena exceeds
    the target's budget."""
    from edgedistil.data import SAMPLE_TEXT
    from edgedistil.export.tflite import TFLiteSpec, convert_tflite
    from edgedistil.tokens import copy_tokenizer

    console = make_console()
    profile, runtime = _tflite_profile(target)
    chosen = scheme or profile.quantize.scheme
    micro = get_format("tflite-micro")
    if runtime == micro.runtime and chosen not in micro.schemes:
        raise ExportError(
            f'scheme "{chosen}" for TFLite Micro target "{profile.name}": allowed '
            f"{', '.join(micro.schemes)}"
        )
    spec = TFLiteSpec(
        student=student,
        out=out,
        scheme=chosen,
        sequence_length=sequence_length or profile.export.sequence_length,
        runtime=runtime,
        calibration=calibration or SAMPLE_TEXT,
        eval_text=eval_path or SAMPLE_TEXT,
        max_drop=profile.budgets.max_accuracy_drop if max_drop is None else max_drop,
        target=str(target),
        metadata=metadata,
        fallback=not no_fallback,
    )
    result = convert_tflite(spec)
    copy_tokenizer(student, out)  # what reads the .tflite finds its tokenizer beside it
    _print_conversion(console, result, spec)
    if runtime == "tflite-micro":
        from edgedistil.export.microcontroller import microcontroller_artifacts

        tokenizer_bytes = _c_tokenizer(console, student, result, spec.sequence_length)
        mcu = microcontroller_artifacts(
            result.path, profile, reference=result.reference, tokenizer_bytes=tokenizer_bytes
        )
        _print_mcu(console, mcu, profile.name)
        if not mcu.fits:
            ctx.exit(3)


def _c_tokenizer(console: Console, student: Path, result: Any, length: int) -> int:
    """tokenizer.c/.h beside the .tflite for a WordPiece student, checked on the eval text
    against its tokenizer, and their flash bytes (0 without)."""
    from edgedistil.export.c_tokenizer_check import write_checked

    checked = write_checked(student, result, length)
    console.print(checked.describe())
    return checked.flash_bytes


def _print_conversion(console: Console, result: Any, spec: Any) -> None:
    from edgedistil.export.tflite import input_names

    f = result.fidelity
    inputs = "/".join(input_names(result.path))
    console.print(
        f"{result.path}: {result.task}, {result.scheme}, int32 {inputs} "
        f"[1, {spec.sequence_length}], {format_size(result.bytes)}, sha256 {result.sha256[:16]}"
    )
    console.print(
        f"LiteRT against PyTorch on {f.sentences} sentences: {f.metric} {f.int8_score:.4f} "
        f"(PyTorch {f.float_score:.4f}, drop {f.drop:.4f}, allowed {spec.max_drop:.4f}), "
        f"max abs difference {f.max_abs_diff:.3g}"
    )
    console.print("ops: " + ", ".join(f"{op} x{n}" for op, n in result.ops.ops.items()))
    console.print("rewrites: " + "; ".join(result.rewrites))
    if result.fallback is not None:
        console.print(
            f"fallback: {', '.join(result.fallback.chosen.kept_float)} kept float "
            f"(drop {result.fallback.steps[0].drop:.4f} all int8; {result.fallback.describe()})"
        )
    if result.ops.fallback:
        console.print(
            "outside XNNPACK (LiteRT's CPU kernels run them): " + ", ".join(result.ops.fallback)
        )
    console.print(result.mediapipe.describe())
    console.print(f"record: {result.record}")


def _print_mcu(console: Console, mcu: Any, target: str) -> None:
    table = Table(title=f"{target}: measured in TFLite Micro")
    for column in ("part", "bytes", "budget", "verdict"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for check in mcu.checks:
        limit = "-" if check.limit is None else format_size(check.limit)
        verdict = "fits" if check.passed else f"over by {format_size(check.over_by)}"
        table.add_row(check.name, f"{check.value:,}", limit, verdict)
    console.print(table)
    if mcu.fidelity is not None:
        f = mcu.fidelity
        console.print(
            f"TFLite Micro against PyTorch on {f.sentences} sentences: {f.metric} "
            f"{f.int8_score:.4f} (PyTorch {f.float_score:.4f}), max abs difference "
            f"{f.max_abs_diff:.3g}"
        )
    console.print(f"C array: {mcu.c_path}, {mcu.h_path}; record: {mcu.record}")
    for check in mcu.checks:
        if not check.passed:
            console.print(
                f"{target}: the {check.name} ({check.value:,} bytes) exceeds the budget "
                f"({check.limit:,}) by {check.over_by:,} bytes"
            )


@cli.command("ops")
@click.argument("model", type=_FILE)
@click.option("--target", default="wear-os-watch", show_default=True, help="Profile or path.")
def ops_command(model: Path, target: str) -> None:
    """List the operators of MODEL (.tflite) and check them against the target's runtime."""
    from edgedistil.export.tflite_ops import REWRITES, check_file

    console = make_console()
    profile, runtime = _tflite_profile(target)
    check = check_file(model, runtime)
    table = Table(title=f"{model.name} against {runtime} ({profile.name})")
    for column in ("operator", "nodes", "status"):
        table.add_column(column, justify="right" if column == "nodes" else "left")
    for op, count in check.ops.items():
        status = "supported"
        if (op if ":" not in op else "CUSTOM") in check.unsupported:
            status = "UNSUPPORTED" + (f" (rewrite: {REWRITES[op]})" if op in REWRITES else "")
        elif op in check.fallback:
            status = "supported, outside XNNPACK"
        table.add_row(op, str(count), status)
    console.print(table)
    if not check.passed:
        raise ExportError(f"{model}: {runtime} cannot run it: {check.describe()}")
