"""How close is `edgedistil plan` to the bytes of real artifacts?

For students of the default teacher (its first N layers, positions sliced to the sequence length,
optionally a pruned vocabulary), this exports a float ONNX graph with torch, quantizes it with
ONNX Runtime's own `quantize_dynamic` and `quantize_static` (QDQ, per-channel, calibrated on the
shipped sample text), and prints the plan's estimate beside each real file size.

    .venv/bin/python benchmarks/plan_vs_artifact.py [--layers 1 3] [--seq 128] [--vocab 30522 8000]

It measures sizes, not speed; it takes about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from transformers import AutoTokenizer

from edgedistil import plan, profiles, teacher

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "calibration" / "sentences.txt"


class _Pooled(torch.nn.Module):
    """The embedding artifact: mean pooling inside the graph, so the pooler is not shipped."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1)


def build_student(layers: int, seq: int, vocab: int) -> torch.nn.Module:
    """The default teacher cut to ``layers`` layers, ``seq`` positions and ``vocab`` rows."""
    from transformers import BertConfig, BertModel

    t = teacher.resolve_teacher("default")
    state = teacher.load_state_dict(t.path)
    config = BertConfig(
        **{
            **t.config,
            "num_hidden_layers": layers,
            "vocab_size": vocab,
            "max_position_embeddings": seq,
            "attn_implementation": "eager",
        }
    )
    student = BertModel(config, add_pooling_layer=False)
    own = student.state_dict()
    for name in own:
        source = state[name]
        own[name] = (
            source[: own[name].shape[0]] if "embeddings" in name and source.dim() == 2 else source
        )
    student.load_state_dict(own)
    return _Pooled(student).eval()


def export(model: torch.nn.Module, seq: int, path: Path) -> None:
    ids = torch.randint(1000, 2000, (1, seq))
    torch.onnx.export(
        model,
        (ids, torch.ones_like(ids)),
        str(path),
        dynamo=False,
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        opset_version=17,
    )


class _Sample(CalibrationDataReader):
    def __init__(self, seq: int, vocab: int, count: int = 32) -> None:
        tok = AutoTokenizer.from_pretrained(
            str(teacher.default_teacher_dir()), local_files_only=True
        )
        lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:count]
        batch = tok(
            lines, padding="max_length", truncation=True, max_length=seq, return_tensors="np"
        )
        ids = np.minimum(batch["input_ids"], vocab - 1)  # size matters here, not accuracy
        self.items = iter(
            [
                {"input_ids": ids[i : i + 1], "attention_mask": batch["attention_mask"][i : i + 1]}
                for i in range(len(lines))
            ]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)


def planned(shape: plan.Shape, base: str, scheme: str, layers: int, seq: int, vocab: int) -> int:
    p = profiles.load_profile(base)
    p = dataclasses.replace(
        p,
        export=dataclasses.replace(p.export, sequence_length=seq),
        quantize=dataclasses.replace(p.quantize, scheme=scheme),
    )
    return plan.plan_student(
        shape=shape, teacher="default", profile=p, layers=layers, vocab_size=vocab
    ).artifact_bytes


def measure(
    layers: int, seq: int, vocab: int, shape: plan.Shape, work: Path
) -> list[tuple[str, int, int]]:
    fp32 = work / f"student-{layers}-{vocab}.onnx"
    export(build_student(layers, seq, vocab), seq, fp32)
    dyn, static = fp32.with_suffix(".dyn.onnx"), fp32.with_suffix(".qdq.onnx")
    quantize_dynamic(str(fp32), str(dyn), per_channel=True, weight_type=QuantType.QInt8)
    quantize_static(
        str(fp32),
        str(static),
        _Sample(seq, vocab),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return [
        (
            "float32",
            planned(shape, "raspberry-pi-4", "float32", layers, seq, vocab),
            fp32.stat().st_size,
        ),
        (
            "dynamic-int8",
            planned(shape, "raspberry-pi-4", "dynamic-int8", layers, seq, vocab),
            dyn.stat().st_size,
        ),
        (
            "static-int8",
            planned(shape, "raspberry-pi-5", "static-int8", layers, seq, vocab),
            static.stat().st_size,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--vocab", type=int, nargs="+", default=[30522, 8000])
    args = parser.parse_args()
    shape = plan.read_shape(teacher.resolve_teacher("default").config, "config.json")
    print("| layers | vocab | seq | scheme | plan bytes | real bytes | real / plan |")
    print("|---:|---:|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for layers in args.layers:
            for vocab in args.vocab:
                for scheme, estimate, real in measure(layers, args.seq, vocab, shape, Path(tmp)):
                    print(
                        f"| {layers} | {vocab:,} | {args.seq} | {scheme} | {estimate:,} | {real:,} "
                        f"| {real / estimate:.3f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
