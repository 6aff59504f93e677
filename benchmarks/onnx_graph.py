"""Two choices in edgedistil's ONNX graphs, measured: no SkipLayerNormalization, and the
attention mask's padding value (``edgedistil.export.graph``).

1. One residual LayerNorm at [1, LENGTH, HIDDEN], three ways, each in its own ORT session:
   SkipLayerNormalization (what ORT fuses Add + LayerNormalization into), Add + LayerNormalization
   with ORT's fusions off (basic level), and Sum + LayerNormalization with ORT's defaults (the form
   edgedistil writes).
2. A whole student at LENGTH tokens, fused and plain graphs, float and dynamic int8: the graph
   edgedistil wrote before (Adds; for "fused" the optimizer's SkipLayerNormalization and BiasGelu,
   and Attention's default mask_filter_value; for "plain" the float minimum in the mask) against
   the graph it writes now ("LayerNorm only": now, but Attention at the default), all loaded with
   ORT's default session options, as an application would. Each is timed on one real sentence
   padded to LENGTH (the fixed-length case: padding keys in every attention row) and on LENGTH
   real tokens (no padding). "SkipLN as loaded" counts SkipLayerNormalization nodes in the graph
   ORT actually runs (its optimized model).

Every row runs batch 1 on this host's CPU with the same thread count, timed by
benchmarks/_timing.py's interleaved timer in `--rounds` rounds of `--runs` runs per row (each
round every row in turn, the order rotated), so a burst of load from another process lands on all
rows alike; each row's median is over all its runs.

    .venv/bin/python benchmarks/onnx_graph.py STUDENT [--length 128] [--threads 1] \\
        [--rounds 10] [--runs 20] [--work DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import _timing
import numpy as np

from edgedistil.data import SAMPLE_TEXT
from edgedistil.export.graph import (
    MASK_FILTER_VALUE,
    _infer_shapes,  # the same shape pass export runs
)
from edgedistil.export.onnx import ExportSpec, export_onnx
from edgedistil.quantize import onnx as q


def op_graphs(length: int, hidden: int) -> dict[str, tuple[bytes, str]]:
    """The three forms of one residual LayerNorm: name -> (model bytes, ORT's optimization
    level: "basic" keeps Add + LayerNormalization unfused)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32), name)
        for name in ("gamma", "beta")
    ]
    shape = [1, length, hidden]
    io_ = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "skip")]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)]
    norm = helper.make_node("LayerNormalization", ["r", "gamma", "beta"], ["y"], epsilon=1e-12)
    forms = {
        "SkipLayerNormalization": [
            helper.make_node(
                "SkipLayerNormalization",
                ["x", "skip", "gamma", "beta"],
                ["y"],
                domain="com.microsoft",
                epsilon=1e-12,
            )
        ],
        "Add + LayerNormalization (unfused)": [helper.make_node("Add", ["x", "skip"], ["r"]), norm],
        "Sum + LayerNormalization": [helper.make_node("Sum", ["x", "skip"], ["r"]), norm],
    }
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return {
        name: (
            helper.make_model(
                helper.make_graph(nodes, name, io_, out, weights), opset_imports=opsets
            ).SerializeToString(),
            "basic" if "unfused" in name else "all",
        )
        for name, nodes in forms.items()
    }


def plain_as_before(plain: Path, target: Path) -> Path:
    """The plain graph as edgedistil wrote it before: its Sums back to Adds, and the padding
    value of the attention mask's Where back to the float minimum the exporter wrote."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(plain))
    for node in model.graph.node:
        if node.op_type == "Sum" and len(node.input) == 2:
            node.op_type = "Add"
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            array = numpy_helper.to_array(node.attribute[0].t)
            if array.size == 1 and array.dtype == np.float32 and array.item() == MASK_FILTER_VALUE:
                minimum = np.full_like(array, np.finfo(np.float32).min)
                name = node.attribute[0].t.name
                node.attribute[0].t.CopyFrom(numpy_helper.from_array(minimum, name))
    onnx.save(model, str(target))
    return target


def fused_before(plain_before: Path, target: Path, heads: int, hidden: int) -> Path:
    """The fused graph as edgedistil wrote it before: the optimizer's default fusions
    (SkipLayerNormalization, BiasGelu) on the plain graph, Attention at ORT's default
    mask_filter_value."""
    from onnxruntime.transformers import optimizer  # type: ignore[import-untyped]

    with contextlib.redirect_stdout(io.StringIO()):
        fused = optimizer.optimize_model(
            str(plain_before), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
        )
        fused.save_model_to_file(str(target))
    _infer_shapes(target)
    return target


def default_mask(fused: Path, target: Path) -> Path:
    """``fused`` with its Attention back at ORT's default mask_filter_value (-10000)."""
    import onnx

    model = onnx.load(str(fused))
    for node in model.graph.node:
        kept = [a for a in node.attribute if a.name != "mask_filter_value"]
        del node.attribute[:]
        node.attribute.extend(kept)
    onnx.save(model, str(target))
    return target


def skip_ln_as_loaded(path: Path, threads: int, work: Path) -> int:
    """SkipLayerNormalization nodes in the graph ORT's default session makes of ``path``."""
    import onnx

    loaded = _timing.optimized_graph(path, threads=threads, out=work / f"{path.stem}.loaded.onnx")
    return sum(n.op_type == "SkipLayerNormalization" for n in onnx.load(str(loaded)).graph.node)


def medians(rows: list[tuple[Any, dict[str, np.ndarray]]], args: Any) -> list[float]:
    """Median milliseconds per (session, feed), timed interleaved: ``args.rounds`` rounds of
    ``args.runs`` runs of every row."""
    timed = _timing.time_interleaved(
        [
            _timing.Candidate(
                name=str(i),
                call=lambda _, s=sess, f=feed: s.run(None, f),
                runs=args.rounds * args.runs,
            )
            for i, (sess, feed) in enumerate(rows)
        ],
        rounds=args.rounds,
    )
    return [timed[str(i)].median for i in range(len(rows))]


PADDED_SENTENCE = "a fine , funny film that never quite gets where it wants to go ."


def model_feeds(path: Path, student: Path, length: int) -> dict[str, dict[str, np.ndarray]]:
    """ "padded": one sentence padded to ``length``; "full": ``length`` real tokens."""
    import onnx
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(student), local_files_only=True)
    padded = tokenizer([PADDED_SENTENCE], padding="max_length", max_length=length)
    ids = np.random.default_rng(0).integers(1000, 2000, (1, length))
    full = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": 0 * ids}
    inputs = onnx.load(str(path), load_external_data=False).graph.input
    dtype = {onnx.TensorProto.INT32: np.int32, onnx.TensorProto.INT64: np.int64}
    feeds = {}
    for name, values in (("padded", padded), ("full", full)):
        feeds[name] = {
            i.name: np.asarray(values.get(i.name, 0 * ids)).astype(
                dtype[i.type.tensor_type.elem_type]
            )
            for i in inputs
        }
    return feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("student", type=Path)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20, help="runs per row per round")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # not the "optimized model" notice for every row
    logging.getLogger().setLevel(logging.ERROR)  # nor ORT's pre-processing hint per quantization
    work = args.work or Path(tempfile.mkdtemp(prefix="onnx-graph-"))
    work.mkdir(parents=True, exist_ok=True)
    config = json.loads((args.student / "config.json").read_text())
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])

    ops = op_graphs(args.length, hidden)
    x = np.random.default_rng(1).standard_normal((2, 1, args.length, hidden)).astype(np.float32)
    op_ms = medians(
        [
            (_timing.session(m, threads=args.threads, level=level), {"x": x[0], "skip": x[1]})
            for m, level in ops.values()
        ],
        args,
    )
    print(f"One residual LayerNorm at [1, {args.length}, {hidden}], {args.threads} thread(s):\n")
    print("| form | median ms |\n|---|---:|")
    for name, ms in zip(ops, op_ms, strict=True):
        print(f"| {name} | {ms:.3f} |")

    rows: list[tuple[str, str, Path]] = []
    settings = q.Settings(scheme="dynamic-int8", fmt="qdq", activations="uint8", per_channel=True)
    now = {}
    for graph in ("plain", "fused"):
        spec = ExportSpec(
            student=args.student,
            out=work / graph,
            sequence_length=args.length,
            graph=graph,
            parity_text=SAMPLE_TEXT,
        )
        now[graph] = export_onnx(spec).path
    plain_before = plain_as_before(now["plain"], work / "plain-before.onnx")
    variants = [
        ("fused", "before", fused_before(plain_before, work / "fused-before.onnx", heads, hidden)),
        ("fused", "LayerNorm only", default_mask(now["fused"], work / "fused-ln-only.onnx")),
        ("fused", "now", now["fused"]),
        ("plain", "before", plain_before),
        ("plain", "now", now["plain"]),
    ]
    for graph, label, path in variants:
        int8 = q.quantize_file(path, path.with_suffix(".int8.onnx"), settings, None)
        rows += [(graph, f"{label}, float32", path), (graph, f"{label}, dynamic int8", int8)]
    timed_rows = []
    for _, _, path in rows:
        sess = _timing.session(path, threads=args.threads)
        feeds = model_feeds(path, args.student, args.length)
        timed_rows += [(sess, feeds["padded"]), (sess, feeds["full"])]
    ms = medians(timed_rows, args)
    padded, full = ms[0::2], ms[1::2]
    print(
        f"\n{args.student}: {args.length} tokens, batch 1, {args.threads} thread(s), ORT's default "
        f"session options, {args.rounds} rounds x {args.runs} runs per row; padded: one "
        f"{len(PADDED_SENTENCE.split())}-word sentence padded to {args.length}; full: "
        f"{args.length} real tokens:\n"
    )
    print(
        "| graph | variant | SkipLN as loaded | padded ms | full ms | vs before, padded | full |\n"
        "|---|---|---:|---:|---:|---:|---:|"
    )
    for i, (graph, label, path) in enumerate(rows):
        # against "before" of the same graph and precision, the first row of its group
        precision = label.split(", ")[1]
        base = next(j for j, r in enumerate(rows) if r[:2] == (graph, f"before, {precision}"))
        print(
            f"| {graph} | {label} | {skip_ln_as_loaded(path, args.threads, work)} | "
            f"{padded[i]:.2f} | {full[i]:.2f} | {padded[base] / padded[i]:.2f}x | "
            f"{full[base] / full[i]:.2f}x |"
        )


if __name__ == "__main__":
    main()
