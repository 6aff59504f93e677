"""LiteRT's ``benchmark_model`` binary: its flags, its input files, and its output as our JSON.

For an Android device without Python, the user pushes the prebuilt ``benchmark_model`` (from
the LiteRT releases) with ``--benchmark-model PATH``. It takes raw tensor bytes per input, so the
host reads the model's inputs with its own LiteRT and writes one batch of the real token ids.
Its printout has no p90/p99 (those stay null) and its memory figure is the tool's own delta.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from edgedistil.errors import BenchError

# One statistics line per phase: warmup first, then the timed runs (microseconds).
_STATS = re.compile(r"count=(?P<count>\d+)(?P<rest>.*)")
_FIELD = re.compile(r"(\w+)=([-+0-9.eE]+)")
_TIMINGS = re.compile(
    r"Inference timings in us: Init: (?P<init>[0-9.eE+]+), First inference: "
    r"(?P<first>[0-9.eE+]+), Warmup \(avg\): [0-9.eE+]+, Inference \(avg\): (?P<avg>[0-9.eE+]+)"
)
_MEMORY_DELTA = re.compile(
    r"(?:Memory footprint delta|Peak memory footprint)[^:]*\(MB\): "
    r"init=(?P<init>[0-9.eE+]+) overall=(?P<overall>[0-9.eE+]+)"
)
_MEMORY_PEAK = re.compile(r"Overall peak memory footprint \(MB\)[^:]*: (?P<peak>[0-9.eE+]+)")
_THREADS = re.compile(r"(?:#threads used for CPU inference|Num threads): \[(?P<n>\d+)\]")
_MB = 1 << 20


def tool_inputs(model: Path, arrays: dict[str, Any], stage: Path) -> list[dict[str, Any]]:
    """Raw input files for ``model`` from the token arrays: name, shape, file, one batch."""
    import numpy as np

    details = _input_details(model)
    inputs = []
    for i, item in enumerate(details):
        name = str(item["name"])
        if "," in name:
            raise BenchError(
                f"{model.name}: input {name!r} has a comma, which benchmark_model's "
                "--input_layer cannot carry; rename it at export"
            )
        shape = [int(d) if int(d) > 0 else 0 for d in item.get("shape_signature", item["shape"])]
        source = arrays[_array_for(name, len(details))]
        batch = shape[0] or 1
        length = shape[1] if len(shape) > 1 and shape[1] else source.shape[1]
        block = np.zeros((batch, length), dtype=item["dtype"])
        rows = source[:batch, :length]
        block[: rows.shape[0], : rows.shape[1]] = rows
        path = stage / f"input{i}.bin"
        path.write_bytes(block.tobytes())
        inputs.append(
            {
                "name": name,
                "shape": [batch, length],
                "file": path.name,
                "dtype": np.dtype(item["dtype"]).name,
            }
        )
    return inputs


def _input_details(model: Path) -> list[dict[str, Any]]:
    try:
        interpreter_module = importlib.import_module("ai_edge_litert.interpreter")
    except ImportError:
        raise BenchError(
            "Reading the .tflite inputs for benchmark_model needs LiteRT on this host; "
            "install it with: pip install ai-edge-litert"
        ) from None
    details: list[dict[str, Any]] = interpreter_module.Interpreter(
        model_path=str(model)
    ).get_input_details()
    return details


def _array_for(name: str, count: int) -> str:
    key = name.lower()
    for array, hints in (("attention_mask", ("mask",)), ("token_type_ids", ("type", "segment"))):
        if any(h in key for h in hints):
            return array
    if "ids" in key or "input" in key or count == 1:
        return "input_ids"
    raise BenchError(f"model input {name!r} is not input_ids, attention_mask or token_type_ids")


def tool_flags(
    model: str, inputs: list[dict[str, Any]], threads: int, runs: int, warmup: int
) -> list[str]:
    """benchmark_model's flags; a ':' in an input name is written '::', as the tool asks."""
    names = [str(i["name"]) for i in inputs]
    return [
        f"--graph={model}",
        f"--num_threads={threads}",
        f"--num_runs={runs}",
        f"--warmup_runs={warmup}",
        "--min_secs=0",  # exactly --runs timed runs, not "at least one second's worth"
        "--warmup_min_secs=0",
        f"--input_layer={','.join(names)}",
        "--input_layer_shape=" + ":".join(",".join(map(str, i["shape"])) for i in inputs),
        "--input_layer_value_files="
        + ",".join(
            f"{n.replace(':', '::')}:{i['file']}" for n, i in zip(names, inputs, strict=True)
        ),
    ]


def parse_tool_output(text: str) -> dict[str, Any]:
    """benchmark_model's printout -> the board script's fields it can fill (or BenchError)."""
    stats = [dict(_FIELD.findall(m["rest"]), count=m["count"]) for m in _STATS.finditer(text)]
    timings = _TIMINGS.search(text)
    if not stats or timings is None:
        raise ValueError("no 'count=...' statistics or 'Inference timings' line")
    timed = {k: float(v) / 1000.0 for k, v in stats[-1].items() if k != "count"}
    latency = {
        "min": timed.get("min"),
        "mean": float(timings["avg"]) / 1000.0,
        "max": timed.get("max"),
        "std": timed.get("std"),
        "p50": timed.get("median"),
        "p90": None,
        "p95": timed.get("p95"),
        "p99": None,
    }
    delta, peak = _MEMORY_DELTA.search(text), _MEMORY_PEAK.search(text)
    threads = _THREADS.search(text)
    return {
        "runs": int(stats[-1]["count"]),
        "threads": int(threads["n"]) if threads else None,
        "load_ms": float(timings["init"]) / 1000.0,
        "first_inference_ms": float(timings["first"]) / 1000.0,
        "latency_ms": latency,
        "memory": {
            "peak_rss_bytes": int(float(peak["peak"]) * _MB) if peak else None,
            "peak_rss_growth_bytes": int(float(delta["overall"]) * _MB) if delta else None,
            "rss_before_load_bytes": None,
            "rss_after_bytes": None,
            "source": "benchmark_model (the tool's own estimate)",
        },
    }
