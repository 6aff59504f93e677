"""``edgedistil export`` and ``edgedistil quantize``: verified float and int8 ONNX artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from edgedistil.cli._app import cli, format_size, make_console
from edgedistil.cli._choices import RegistryChoice
from edgedistil.cli._paths import OutputDir
from edgedistil.errors import ExportError, QuantizeError

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


def _ort_schemes() -> tuple[str, ...]:
    from edgedistil.quantize.onnx import ort_schemes

    return ort_schemes()


def _onnx_profile(target: str) -> Any:
    from edgedistil.profiles import load_profile

    profile = load_profile(target)
    if "onnx" not in profile.export.formats:
        raise ExportError(
            f'target "{profile.name}" does not list the onnx format ([export].formats = '
            f"{list(profile.export.formats)}); choose a target whose runtime is onnxruntime"
        )
    return profile


@cli.command("export")
@click.argument("student", type=click.Path(path_type=Path, file_okay=False))
@click.option("--target", default="raspberry-pi-4", show_default=True, help="Profile name or path.")
@click.option("--out", type=OutputDir(), required=True)
@click.option("--sequence-length", type=click.IntRange(min=1), help="Default: the profile's.")
@click.option(
    "--graph", type=click.Choice(["fused", "plain"]), help="Default: [export].onnx_graph."
)
@click.option("--dynamic", is_flag=True, help="Dynamic batch and length (whole position table).")
@click.option("--parity-text", type=_FILE, help="Text for the parity check. Default: the sample.")
@click.option(
    "--text-input",
    is_flag=True,
    help="Also OUT/model.text.onnx: raw text in, the tokenizer in the graph "
    "(onnxruntime-extensions' BertTokenizer). Default: [export].text_input.",
)
def export_command(
    student: Path,
    target: str,
    out: Path,
    sequence_length: int | None,
    graph: str | None,
    dynamic: bool,
    parity_text: Path | None,
    text_input: bool,
) -> None:
    """Export STUDENT (a Hugging Face directory) to OUT/model.onnx, verified against PyTorch."""
    from edgedistil.data import SAMPLE_TEXT
    from edgedistil.export.onnx import ExportSpec, export_onnx

    console = make_console()
    profile = _onnx_profile(target)
    spec = ExportSpec(
        student=student,
        out=out,
        sequence_length=sequence_length or profile.export.sequence_length,
        input_dtype=profile.export.input_dtype,
        graph=graph or profile.export.onnx_graph,
        dynamic=dynamic,
        parity_text=parity_text or SAMPLE_TEXT,
        target=str(target),
    )
    if text_input or profile.export.text_input:  # a tokenizer BertTokenizer cannot run: now
        from edgedistil.export.onnx_text import read_settings

        read_settings(student)
    result = export_onnx(spec)
    shape = "dynamic" if dynamic else f"static {spec.sequence_length}"
    console.print(
        f"{result.path}: {result.task}, {result.graph} graph, {shape}, {spec.input_dtype} "
        f"inputs {', '.join(result.inputs)} -> {result.output}, {format_size(result.bytes)}"
    )
    if result.fused:
        console.print("fused: " + ", ".join(f"{k} x{v}" for k, v in result.fused.items()))
    console.print(f"parity: {result.parity.describe()}")
    if text_input or profile.export.text_input:
        _text_model(console, result.path, out, spec.parity_text)


def _text_model(console: Console, ids_model: Path, out: Path, texts: Path) -> None:
    """The text-input model beside the float one, verified on the parity sentences."""
    from edgedistil.export.onnx import RECORD_FILE
    from edgedistil.export.onnx_text import write_text_model
    from edgedistil.files import write_json
    from edgedistil.verify.parity import parity_texts

    made = write_text_model(ids_model, out, [str(t) for t in parity_texts(texts)])
    record = json.loads((out / RECORD_FILE).read_text(encoding="utf-8"))
    record["text_model"] = {
        "path": made.path.name,
        "bytes": made.bytes,
        "extra_bytes": made.extra_bytes,
        **made.fidelity.to_dict(),
    }
    write_json(out / RECORD_FILE, record)
    console.print(
        f"{made.path}: text in, BertTokenizer in the graph, +{format_size(made.extra_bytes)}; "
        f"{made.fidelity.describe()}"
    )


@cli.command("quantize")
@click.argument("export_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--target", help="Profile name or path. Default: the one export used.")
@click.option("--scheme", type=RegistryChoice(_ort_schemes))
@click.option("--format", "fmt", type=click.Choice(["qdq", "qoperator"]), default="qdq")
@click.option("--calibration", type=_FILE, help="Text/TSV/CSV/JSONL. Default: the sample text.")
@click.option("--method", type=click.Choice(["minmax", "entropy", "percentile"]))
@click.option("--eval", "eval_path", type=_FILE, help="Eval text (labels optional).")
@click.option("--max-drop", type=click.FloatRange(0, 1), help="Default: the profile's budget.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--ort", "ort", is_flag=True, help="Also write model.int8.ort for ORT Mobile.")
@click.option("--no-fallback", is_flag=True, help="Keep every node int8 whatever the drop.")
def quantize_command(
    export_dir: Path,
    target: str | None,
    scheme: str | None,
    fmt: str,
    calibration: Path | None,
    method: str | None,
    eval_path: Path | None,
    max_drop: float | None,
    batch_size: int,
    ort: bool,
    no_fallback: bool,
) -> None:
    """Quantize EXPORT_DIR/model.onnx to int8; measure it and write fidelity.json."""
    from edgedistil.data import SAMPLE_TEXT
    from edgedistil.export.onnx import read_record
    from edgedistil.quantize import onnx as q
    from edgedistil.quantize.job import Job, quantize

    console = make_console()
    profile = _onnx_profile(target or read_record(export_dir).target or "raspberry-pi-4")
    chosen = scheme or profile.quantize.scheme
    if chosen not in q.ort_schemes():
        raise QuantizeError(
            f'target "{profile.name}" asks for [quantize].scheme = "{chosen}"; quantize makes '
            f"{', '.join(q.ort_schemes())} (give --scheme)"
        )
    settings = q.settings_for(profile, scheme=chosen, fmt=fmt, method=method)
    job = Job(
        export_dir=export_dir,
        settings=settings,
        calibration=calibration or SAMPLE_TEXT,
        eval_path=eval_path or SAMPLE_TEXT,
        max_accuracy_drop=profile.budgets.max_accuracy_drop if max_drop is None else max_drop,
        batch_size=batch_size,
        ort=ort,
        fallback=not no_fallback,
    )
    result = quantize(job)
    _print_report(console, result, job)


def _print_report(console: Console, result: Any, job: Any) -> None:
    f = result.fidelity
    table = Table(title=f"{result.settings.describe()} on {f.sentences} eval sentences")
    for column in ("model", "bytes", f.metric, "median ms (1 row)"):
        table.add_column(column, justify="right" if column != "model" else "left")
    table.add_row(
        "float32",
        format_size(result.float_bytes),
        f"{f.float_score:.4f}",
        f"{result.latency_ms['float']:.2f}",
    )
    table.add_row(
        "int8",
        format_size(result.int8_bytes),
        f"{f.int8_score:.4f}",
        f"{result.latency_ms['int8']:.2f}",
    )
    console.print(table)
    verdict = "fits" if f.drop <= job.max_accuracy_drop + 1e-6 else "EXCEEDS"
    console.print(
        f"drop {f.drop:.4f} against a budget of {job.max_accuracy_drop:.4f}: {verdict}; "
        f"max abs difference {f.max_abs_diff:.3g}"
    )
    if result.fallback is not None:
        kept = result.fallback.chosen.excluded
        console.print(
            f"fallback (ranked by {result.fallback.ranked_by}): drop {result.first_drop:.4f} "
            f"before; {result.float_share.describe()}, "
            f"+{format_size(max(0, result.int8_bytes - result.fallback.steps[0].bytes))}, "
            f"{result.latency_ms['int8'] - result.latency_ms['int8_first']:+.2f} ms: "
            + (", ".join(kept) or "none")
        )
    if result.ort_path is not None:
        console.print(
            f"ORT format: {result.ort_path} ({format_size(result.ort_path.stat().st_size)})"
        )
    on = result.verified_on
    console.print(f"verified on {on.machine} ({on.cpu}): {on.verified_with}", markup=False)
    console.print(f"report: {result.report}")
