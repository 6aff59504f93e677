"""Latency against thread count, on this host, for the ONNX and LiteRT artifacts of one student.

The student is the default teacher cut to 3 layers (as in plan_vs_artifact.py), exported four
ways: ONNX fp32 (torch), ONNX Runtime dynamic int8 (quantize_dynamic), LiteRT fp32 and LiteRT
dynamic-range int8 (the same weights written as a TensorFlow graph, then TFLiteConverter; onnx2tf
is not used). Each (artifact, threads) pair runs the real board script through the local runner
``--repeats`` times, each a fresh process with ``--runs`` timed runs on real token ids of the
shipped sample text; the table gives the median over repeats of each run's p50 and p95, and the
spread (min-max) of the p50s.

    .venv/bin/python benchmarks/bench_threads.py [--layers 3] [--seq 128] [--runs 50]
                                                 [--repeats 5] [--threads 1 2 4]

It measures this host, not a board: use it to see how a runtime scales, then confirm on the
board with `edgedistil bench --target ...`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic

from edgedistil import teacher
from edgedistil.bench import inputs, stats
from edgedistil.bench.base import Board, Job, Options, make_runner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_vs_artifact import build_student, export  # noqa: E402  (a sibling script)

SAMPLE_ROWS = 32


def tf_student(state: dict[str, torch.Tensor], config: dict[str, Any], layers: int) -> Any:
    """The student's forward pass written in TensorFlow over its own weights, mean-pooled."""
    import tensorflow as tf

    w = {k: tf.constant(v.detach().numpy()) for k, v in state.items()}
    heads, hidden = config["num_attention_heads"], config["hidden_size"]
    size, eps = hidden // heads, config.get("layer_norm_eps", 1e-12)

    def norm(x: Any, prefix: str) -> Any:
        mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) / tf.sqrt(var + eps) * w[prefix + ".weight"] + w[prefix + ".bias"]

    def dense(x: Any, prefix: str) -> Any:
        return tf.matmul(x, w[prefix + ".weight"], transpose_b=True) + w[prefix + ".bias"]

    def split(x: Any) -> Any:
        return tf.transpose(tf.reshape(x, [1, -1, heads, size]), [0, 2, 1, 3])

    def forward(ids: Any, mask: Any) -> Any:
        seq = ids.shape[1]
        e = "embeddings."
        x = tf.gather(w[e + "word_embeddings.weight"], ids)
        x = x + w[e + "position_embeddings.weight"][:seq] + w[e + "token_type_embeddings.weight"][0]
        x = norm(x, e + "LayerNorm")
        maskf = tf.cast(mask, tf.float32)
        bias = (1.0 - maskf[:, None, None, :]) * -1e9
        for i in range(layers):
            p = f"encoder.layer.{i}."
            q, k, v = (
                split(dense(x, p + f"attention.self.{n}")) for n in ("query", "key", "value")
            )
            scores = tf.matmul(q, k, transpose_b=True) / float(np.sqrt(size)) + bias
            context = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
            context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [1, -1, hidden])
            x = norm(
                x + dense(context, p + "attention.output.dense"), p + "attention.output.LayerNorm"
            )
            inner = tf.nn.gelu(dense(x, p + "intermediate.dense"), approximate=False)
            x = norm(x + dense(inner, p + "output.dense"), p + "output.LayerNorm")
        weights = maskf[..., None]
        return tf.reduce_sum(x * weights, 1) / tf.reduce_sum(weights, 1)

    return forward


def export_litert(model: torch.nn.Module, layers: int, seq: int, work: Path) -> list[Path]:
    """fp32 and dynamic-range int8 .tflite files of the same student; parity checked."""
    import tensorflow as tf

    config = teacher.resolve_teacher("default").config
    forward = tf_student(model.encoder.state_dict(), config, layers)
    spec = [
        tf.TensorSpec([1, seq], tf.int32, "input_ids"),
        tf.TensorSpec([1, seq], tf.int32, "attention_mask"),
    ]
    fn = tf.function(
        lambda input_ids, attention_mask: {"embedding": forward(input_ids, attention_mask)},
        input_signature=spec,
    )
    ids = torch.randint(1000, 2000, (1, seq))
    mask = torch.ones_like(ids)
    mask[0, seq // 2 :] = 0
    with torch.no_grad():
        expected = model(ids, mask).numpy()
    got = fn(tf.constant(ids.numpy(), tf.int32), tf.constant(mask.numpy(), tf.int32))["embedding"]
    gap = float(np.abs(got.numpy() - expected).max())
    print(f"TensorFlow student vs torch: max |difference| {gap:.2e}", file=sys.stderr)
    assert gap < 1e-3, gap
    paths = []
    for name, optimize in (("litert-fp32", False), ("litert-dynamic-int8", True)):
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [fn.get_concrete_function()], fn
        )
        if optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]  # int8 weights, float activations
        path = work / f"{name}.tflite"
        path.write_bytes(converter.convert())
        paths.append(path)
    return paths


def export_onnx(model: torch.nn.Module, seq: int, work: Path) -> list[Path]:
    fp32, dyn = work / "onnx-fp32.onnx", work / "onnx-dynamic-int8.onnx"
    export(model, seq, fp32)
    quantize_dynamic(str(fp32), str(dyn), per_channel=True, weight_type=QuantType.QInt8)
    return [fp32, dyn]


def measure(artifact: Path, threads: int, args: argparse.Namespace, work: Path) -> dict[str, float]:
    runner = make_runner("local", Options())
    job = Job(
        model=artifact, inputs=work / "inputs", runs=args.runs, warmup=args.warmup, threads=threads
    )
    p50s, p95s = [], []
    for _ in range(args.repeats):
        result = runner.run(job, Board(label="local", runner="local"))
        p50s.append(result["latency_ms"]["p50"])
        p95s.append(result["latency_ms"]["p95"])
    return {
        "p50": stats.median(p50s),
        "p95": stats.median(p95s),
        "low": min(p50s),
        "high": max(p50s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=list(range(1, (os.cpu_count() or 1) + 1))
    )
    args = parser.parse_args()
    vocab = teacher.resolve_teacher("default").config["vocab_size"]
    model = build_student(args.layers, args.seq, vocab)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sentences = inputs.read_sentences(inputs.locate_text(None), SAMPLE_ROWS)
        arrays = inputs.tokenize(teacher.default_teacher_dir(), sentences, args.seq)
        (work / "inputs").mkdir()
        inputs.write_inputs(arrays, work / "inputs")
        artifacts = export_onnx(model, args.seq, work) + export_litert(
            model, args.layers, args.seq, work
        )
        print(
            f"Student: default teacher, {args.layers} layers, seq {args.seq}; host: "
            f"{os.cpu_count()} CPUs; {args.repeats} processes x {args.runs} timed runs each\n"
        )
        print("| artifact | MiB | threads | p50 ms (median) | p50 spread (min-max) | p95 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for artifact in artifacts:
            for threads in args.threads:
                m = measure(artifact, threads, args, work)
                print(
                    f"| {artifact.stem} | {artifact.stat().st_size / (1 << 20):.1f} | {threads} "
                    f"| {m['p50']:.2f} | {m['low']:.2f}-{m['high']:.2f} | {m['p95']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
