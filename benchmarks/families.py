"""One trained encoder under every family's names: what each export path measures, side by side.

There is no DistilBERT, RoBERTa or XLM-R checkpoint on this machine, and a tiny random one says
little about int8 (no outlier dimensions, no real score spread). So this takes the shipped,
trained all-MiniLM-L6-v2 (a BERT) and writes the very same function in each family's layout,
which ``edgedistil.families`` describes: DistilBERT's key names with BERT's segment row 0 folded
into its position table; RoBERTa and XLM-R with the position table moved to start after the
padding index and one segment row. PyTorch confirms each copy computes what the BERT does (the
``torch`` column, max |diff| of the sentence embeddings), then each goes through the library's
own paths, fidelity against PyTorch on held-out text:

- ONNX (fused graph, as the Pi profiles ship it): fp32 parity, then dynamic int8 (cosine);
- LiteRT static-int8 (the watch's scheme, split residual stream): cosine in LiteRT;
- TFLite Micro full-int8 (the boards' scheme, sigmoid GELU): cosine in the TFLite Micro
  interpreter.

    .venv/bin/python benchmarks/families.py [--eval FILE] [--sentences 100] [--layers 3]

``--layers N`` keeps the first N layers (the TFLite Micro interpreter takes ~minutes for all six
at length 64 on two cores); every family keeps the same ones. The same figure in every row of a
path is the result: the family adapters add nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgedistil.data import SAMPLE_TEXT  # noqa: E402
from edgedistil.families import LINEARS, NORMS, Family, family_names, family_of  # noqa: E402
from edgedistil.teacher import default_teacher_dir  # noqa: E402

BERT = family_of("bert")
LENGTH = 64
SST2_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2" / "dev.tsv"
TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def _bert_state(source: Path, layers: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from safetensors.numpy import load_file

    state = load_file(str(source / "model.safetensors"))
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    config = json.loads((source / "config.json").read_text())
    state = {
        k: v
        for k, v in state.items()
        if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < layers
    }
    return state, {**config, "num_hidden_layers": layers}


def _renamed(
    state: dict[str, np.ndarray], config: dict[str, Any], family: Family
) -> dict[str, np.ndarray]:
    """BERT's tensors under ``family``'s names; positions moved past its offset; segment row 0
    folded into the positions where the family has no segment table."""
    assert BERT is not None
    src, dst = BERT.layout, family.layout
    position = state[src.position]
    segment = state[src.segment]  # type: ignore[index]
    offset = family.position_offset(config)
    out = {dst.word: state[src.word]}
    if dst.segment is None:
        position = position + segment[0]
    else:
        out[dst.segment] = segment[:1] if offset else segment
    if offset:
        position = np.concatenate([np.zeros((offset, position.shape[1]), np.float32), position])
    out[dst.position] = position
    for suffix in (".weight", ".bias"):
        out[dst.embed_norm + suffix] = state[src.embed_norm + suffix]
    for i in range(config["num_hidden_layers"]):
        a, b = src.layer.format(i=i), dst.layer.format(i=i)
        for short in LINEARS:
            for suffix in (".weight", ".bias"):
                out[b + dst.linears[short] + suffix] = state[a + src.linears[short] + suffix]
        for short in NORMS:
            for suffix in (".weight", ".bias"):
                out[b + dst.norms[short] + suffix] = state[a + src.norms[short] + suffix]
    return out


def _config(config: dict[str, Any], family: Family) -> dict[str, Any]:
    sizes = {
        family.layers_key: config["num_hidden_layers"],
        family.hidden_key: config["hidden_size"],
        family.heads_key: config["num_attention_heads"],
        family.intermediate_key: config["intermediate_size"],
    }
    common = {"model_type": family.model_type, "vocab_size": config["vocab_size"], **sizes}
    if family.model_type == "distilbert":
        return {**common, "activation": config["hidden_act"], "max_position_embeddings": 512}
    offset = family.position_offset(config)
    return {
        **{k: v for k, v in config.items() if k not in ("architectures", "model_type")},
        **common,
        "max_position_embeddings": config["max_position_embeddings"] + offset,
        "type_vocab_size": 1 if offset else config["type_vocab_size"],
    }


def write_family(source: Path, family: Family, out: Path, layers: int) -> Path:
    """``source``'s first ``layers`` layers as a ``family`` model directory (``config.json``,
    ``model.safetensors``, the tokenizer and sentence-transformers' pooling files)."""
    from safetensors.numpy import save_file

    state, config = _bert_state(source, layers)
    if family.position_offset(config):
        config = {**config, "pad_token_id": 0}  # [PAD]: RoBERTa's positions start after it
    out.mkdir(parents=True)
    renamed = _renamed(state, config, family)
    written = _config(config, family)
    if _has_pooler(written):  # unused by an embedding, but the base model has one
        renamed |= {k: v for k, v in state.items() if k.startswith("pooler.")}
    save_file(renamed, str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps(written, indent=2))
    for name in (*TOKENIZER_FILES, "modules.json", "1_Pooling", "2_Normalize"):
        path = source / name
        if path.is_dir():
            shutil.copytree(path, out / name)
        elif path.is_file():
            shutil.copy(path, out / name)
    return out


def _has_pooler(config: dict[str, Any]) -> bool:
    from transformers import AutoConfig, AutoModel

    made = AutoConfig.for_model(**config)
    return "pooler.dense.weight" in AutoModel.from_config(made).state_dict()


def _embeddings(path: Path, texts: list[str]) -> np.ndarray:
    from transformers import AutoTokenizer

    from edgedistil.export.model import read_head, wrap
    from edgedistil.teacher import load_teacher_model, resolve_teacher
    from edgedistil.verify.parity import torch_outputs
    from edgedistil.verify.text import encode

    model = load_teacher_model(resolve_teacher(str(path)))
    arrays = encode(AutoTokenizer.from_pretrained(str(path)), texts, LENGTH,
                    ("input_ids", "attention_mask"), "int64")  # fmt: skip
    return torch_outputs(wrap(model, read_head(model, path), False), arrays)


def _onnx(path: Path, out: Path, eval_text: Path, texts: list[str], ref: np.ndarray) -> str:
    from edgedistil.export.onnx import ExportSpec, export_onnx
    from edgedistil.quantize.onnx import Settings, quantize_file
    from edgedistil.runtimes import run_onnx

    spec = ExportSpec(student=path, out=out, sequence_length=LENGTH, graph="fused",
                      parity_text=eval_text)  # fmt: skip
    exported = export_onnx(spec)
    target = out / "model.dynamic-int8.onnx"
    quantize_file(exported.path, target, Settings(scheme="dynamic-int8"), None)
    got = run_onnx(target, {}, path, texts)
    return f"{exported.parity.max_abs_diff:.1e} / {_cosine(got, ref):.4f}"


def _tflite(path: Path, out: Path, scheme: str, runtime: str, eval_text: Path, n: int) -> str:
    from edgedistil.export.tflite import TFLiteSpec, convert_tflite

    spec = TFLiteSpec(student=path, out=out, scheme=scheme, sequence_length=LENGTH,
                      runtime=runtime, calibration=SAMPLE_TEXT, eval_text=eval_text,
                      max_drop=1.0, eval_sentences=n)  # fmt: skip
    result = convert_tflite(spec)
    return f"{result.fidelity.mean_cosine:.4f}"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.mean(np.sum(a * b, axis=1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=SST2_DEV)
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--layers", type=int, default=3)
    args = parser.parse_args()
    eval_text = args.eval if args.eval.is_file() else SAMPLE_TEXT
    from transformers import AutoTokenizer

    from edgedistil.verify.text import read_text

    tok = AutoTokenizer.from_pretrained(str(default_teacher_dir()))
    texts = read_text(eval_text, tok, warn=False).examples.texts[: args.sentences]
    print(f"all-MiniLM-L6-v2, first {args.layers} layers, length {LENGTH}, "
          f"{len(texts)} sentences of {eval_text}")  # fmt: skip
    print("| family | torch max diff | ONNX fused fp32 max diff / dynamic-int8 cosine "
          "| LiteRT static-int8 cosine | TFLite Micro full-int8 cosine | seconds |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        reference = None
        for name in family_names():
            family = family_of(name)
            assert family is not None
            start = time.perf_counter()
            path = write_family(default_teacher_dir(), family, root / name, args.layers)
            ref = _embeddings(path, texts)
            reference = ref if reference is None else reference
            cells = [
                f"{float(np.max(np.abs(ref - reference))):.1e}",
                _onnx(path, root / f"{name}-onnx", eval_text, texts, ref),
                _tflite(
                    path, root / f"{name}-lite", "static-int8", "litert", eval_text, args.sentences
                ),  # fmt: skip
                _tflite(
                    path,
                    root / f"{name}-micro",
                    "full-int8",
                    "tflite-micro",
                    eval_text,
                    args.sentences,
                ),  # fmt: skip
            ]
            print(f"| {name} | " + " | ".join(cells) + f" | {time.perf_counter() - start:.0f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
