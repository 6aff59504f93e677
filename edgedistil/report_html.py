"""report.html: the gate table and three plots, as static files that open from disk.

- where the bytes go (embeddings, encoder, head, other) in each ONNX artifact, read from its
  initializers; other formats show their total only;
- the latency quantiles of each release artifact's newest bench result on its bytes;
- the accuracy drop against size across the build's artifacts: against the float student, and
  each release's drop against the teacher beside it.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from edgedistil.bench.machine import parse as parse_ran_on
from edgedistil.bench.results import read_result, results_dir
from edgedistil.errors import BuildError
from edgedistil.gate import Gate
from edgedistil.manifest import read as read_manifest
from edgedistil.report import (
    change_text,
    coverage_text,
    estimate_text,
    measured_text,
    result_text,
    source_text,
    text_model_text,
    tokenization_text,
)
from edgedistil.units import format_value

if TYPE_CHECKING:
    from edgedistil.records.manifest import Artifact

PLOTS = ("bytes.png", "latency.png", "accuracy.png")
_QUANTILES = ("min", "p50", "p90", "p95", "p99", "max")


def render(gate: Gate, folder: Path, out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    artifacts = read_manifest(folder).artifacts
    figures = [
        _bytes_plot(folder, artifacts, out / PLOTS[0]),
        _latency_plot(folder, artifacts, out / PLOTS[1]),
        _accuracy_plot(artifacts, out / PLOTS[2]),
    ]
    images = "\n".join(
        f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(title)}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for p, title in figures
        if p is not None
    )
    verdict = "passed" if gate.passed else "FAILED"
    title = f"edgedistil gate: {html.escape(gate.target)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}.pass{{color:#070}}
.fail,.unmeasured{{color:#b00;font-weight:bold}}.skipped{{color:#a60}}img{{max-width:100%}}</style>
</head><body>
<h1>{title} {verdict}</h1>
{_table(gate)}
{_coverage(gate)}
{_tokenization(gate)}
{_changes(gate)}
{images}
</body></html>
"""


def _table(gate: Gate) -> str:
    rows = []
    for artifact in gate.artifacts:
        for c in artifact.checks:
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(str(v))}</td>"
                    for v in (
                        artifact.artifact,
                        c.budget.label,
                        format_value(c.limit, c.budget.unit),
                        measured_text(c),
                    )
                )
                + f'<td class="{c.status}">{html.escape(result_text(c))}</td>'
                + f"<td>{html.escape(source_text(c))}</td></tr>"
            )
    head = "".join(
        f"<th>{h}</th>" for h in ("artifact", "budget", "limit", "measured", "result", "source")
    )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _coverage(gate: Gate) -> str:
    """How each artifact's tokenizer reads the eval text the verdict was measured on, and what
    else the build verified about it."""
    texts = [
        (a.artifact, text)
        for a in gate.artifacts
        for text in ([coverage_text(a.coverage)] if a.coverage is not None else [])
        + ([estimate_text(a)] if a.latency_estimate is not None else [])
        + ([text_model_text(a.text_model)] if a.text_model is not None else [])
        + list(a.notes)
    ]
    items = "".join(f"<li>{html.escape(name)}: {html.escape(text)}</li>" for name, text in texts)
    return f"<ul>{items}</ul>" if items else ""


def _tokenization(gate: Gate) -> str:
    """Tokenisation on the board beside each artifact's latency, where bench measured it."""
    items = "".join(
        f"<li>{html.escape(a.artifact)}: {html.escape(tokenization_text(a.tokenization))}</li>"
        for a in gate.artifacts
        if a.tokenization is not None
    )
    return f"<ul>{items}</ul>" if items else ""


def _changes(gate: Gate) -> str:
    """The budgets that differ from the build's profile, checked at their new values."""
    if not gate.budget_changes:
        return ""
    items = "".join(f"<li>{html.escape(change_text(c))}</li>" for c in gate.budget_changes)
    return f"<p>Budgets changed since the build (checked at the new values):</p><ul>{items}</ul>"


def byte_parts(path: Path) -> dict[str, int]:
    """Bytes of an artifact by part of the model; ONNX from its initializers' names."""
    size = path.stat().st_size
    if path.suffix != ".onnx":
        return {"model (not broken down)": size}
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf's DecodeError and onnx's own: a report draws, it does not judge
        return {"model (not readable as ONNX)": size}
    parts = {"embeddings": 0, "encoder": 0, "head": 0}
    for tensor in model.graph.initializer:
        nbytes = numpy_helper.to_array(tensor).nbytes
        name = tensor.name.lower()
        part = (
            "embeddings"
            if "embedding" in name
            else "head"
            if any(k in name for k in ("classifier", "pooler", "head"))
            else "encoder"
        )
        parts[part] += nbytes
    parts["graph and other"] = max(0, size - sum(parts.values()))
    return parts


def _bytes_plot(folder: Path, artifacts: dict[str, Artifact], path: Path) -> tuple[Path, str]:
    import matplotlib.pyplot as plt

    # The gate judges the release artifacts only: another file the manifest lists (the float
    # graph, an .ort copy) may be gone by now. It is drawn, empty and named so, not raised.
    present = {n: (folder / n).is_file() for n in sorted(artifacts)}
    breakdown = [byte_parts(folder / n) if here else {} for n, here in present.items()]
    names = [n if here else f"{n} (missing)" for n, here in present.items()]
    labels = sorted({k for b in breakdown for k in b})
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(names) + 1.5))
    left = [0.0] * len(names)
    for label in labels:
        widths = [b.get(label, 0) / 2**20 for b in breakdown]
        ax.barh(names, widths, left=left, label=label)
        left = [a + w for a, w in zip(left, widths, strict=True)]
    ax.set_xlabel("MiB")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path, "Where the bytes go, per artifact"


def _latency_plot(
    folder: Path, artifacts: dict[str, Artifact], path: Path
) -> tuple[Path | None, str]:
    import matplotlib.pyplot as plt

    series = {}
    for rel, info in sorted(artifacts.items()):
        entries = [
            read_result(p, error=BuildError)
            for p in sorted(results_dir(folder / rel).glob("*.json"))
        ]
        mine = [e for e in entries if e.artifact_sha256 == info.sha256]
        if mine:
            latest = max(mine, key=lambda e: e.timestamp)
            ran_on = parse_ran_on(latest.ran_on_dict())
            where = latest.board if ran_on is None else f"{ran_on.architecture} {ran_on.board}"
            series[f"{rel} ({where})"] = latest.result.latency_ms.model_dump()
    title = "Latency quantiles from the newest bench of each artifact's bytes"
    if not series:
        path.unlink(missing_ok=True)
        return None, title
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, latency in series.items():
        ax.plot(_QUANTILES, [latency[q] for q in _QUANTILES], marker="o", label=label)
    ax.set_ylabel("ms")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path, title


def _accuracy_plot(artifacts: dict[str, Artifact], path: Path) -> tuple[Path | None, str]:
    import matplotlib.pyplot as plt

    points = [
        (rel, info.bytes, 0.0 if info.role == "float" else info.accuracy_drop)
        for rel, info in sorted(artifacts.items())
        if info.role in ("float", "release")
    ]
    drops = [(rel, size, drop) for rel, size, drop in points if drop is not None]
    teacher = [
        (rel, info.bytes, info.drop_vs_teacher)
        for rel, info in sorted(artifacts.items())
        if info.drop_vs_teacher is not None
    ]
    title = "Accuracy drop (points) against size: vs the float student (o), vs the teacher (x)"
    if not drops and not teacher:
        path.unlink(missing_ok=True)
        return None, title
    fig, ax = plt.subplots(figsize=(8, 4))
    for marker, series in (("o", drops), ("x", teacher)):
        for rel, size, drop in series:
            ax.scatter(size / 2**20, 100 * drop, marker=marker)
            ax.annotate(rel, (size / 2**20, 100 * drop), fontsize="small")
    ax.set_xlabel("MiB")
    ax.set_ylabel("accuracy drop (points)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path, title
