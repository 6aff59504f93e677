"""The LiteRT / TFLite Micro graph of every family computes what the family's PyTorch module
computes: BERT, DistilBERT (its own layer and norm names, no segments), RoBERTa and XLM-R
(positions after the padding index), as an encoder, as a sequence classifier (BERT's tanh
pooler, DistilBERT's ReLU pre-classifier, RoBERTa's dense + out_proj head) and as a token
classifier (logits a token), and BERT with a segment input for text pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.tiny_families import FAMILIES, save_tiny_family

LENGTH = 12
PAIRS = [("the movie was good", "the phone was bad"), ("set a timer", "light off")]
TEXTS = ["the movie was good", "set a timer for minutes", "light", "the watch is fast and slow"]


def _load(path: Path) -> tuple[Any, Any, Any]:
    from transformers import AutoTokenizer

    from edgedistil.export import model as model_mod
    from edgedistil.teacher import load_teacher_model, resolve_teacher

    model = load_teacher_model(resolve_teacher(str(path)))
    model.set_attn_implementation("eager")  # type: ignore[operator]
    return model, model_mod.read_head(model, path), AutoTokenizer.from_pretrained(str(path))


def _graph_rows(fn: Any, arrays: dict[str, np.ndarray], output: str) -> np.ndarray:
    count = len(arrays["input_ids"])
    rows = [
        fn(**{n: a[i : i + 1] for n, a in arrays.items()})[output].numpy() for i in range(count)
    ]
    return np.concatenate(rows)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "architecture", ["Model", "ForSequenceClassification", "ForTokenClassification"]
)
@pytest.mark.parametrize("outliers", [(), (3, 17)])
def test_the_graph_of_each_family_computes_what_pytorch_computes(
    family: str, architecture: str, outliers: tuple[int, ...], tmp_path: Path
) -> None:
    from edgedistil.export import tf_bert, tf_weights
    from edgedistil.export.model import wrap
    from edgedistil.verify.parity import torch_outputs
    from edgedistil.verify.text import encode

    extra = {"num_labels": 3} if architecture != "Model" else {}
    model, head, tokenizer = _load(
        save_tiny_family(tmp_path / family, family, architecture, **extra)
    )
    arrays = encode(tokenizer, TEXTS, LENGTH, ("input_ids", "attention_mask"), "int32")
    reference = torch_outputs(wrap(model, head, False), arrays)
    weights = tf_weights.read_weights(model, head, LENGTH)
    fn = tf_bert.build(weights, length=LENGTH, gelu="exact", mask_bias=1000.0, outliers=outliers)
    got = _graph_rows(fn, arrays, head.output)
    assert got.shape == reference.shape  # a token classifier's: [sentences, length, classes]
    if got.ndim == 3:  # real tokens: RoBERTa's PyTorch gives padding the padding position
        real = arrays["attention_mask"][:, :, None] > 0
        got, reference = got * real, reference * real
    assert np.max(np.abs(got - reference)) < 1e-4


def test_a_pair_graph_takes_segment_ids_and_matches_pytorch(tmp_path: Path) -> None:
    import torch

    from edgedistil.export import tf_bert, tf_weights

    model, head, tokenizer = _load(
        save_tiny_family(tmp_path / "bert", "bert", "ForSequenceClassification", num_labels=2)
    )
    names = ("input_ids", "attention_mask", "token_type_ids")
    enc = tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS], padding="max_length",
                    max_length=LENGTH, truncation=True, return_tensors="np")  # fmt: skip
    arrays = {n: enc[n].astype(np.int32) for n in names}
    assert arrays["token_type_ids"].max() == 1  # the second text is segment 1
    # random segment rows are too alike to tell apart (and a constant shift is what LayerNorm
    # removes): give segment 1 a row of its own
    torch.manual_seed(1)
    model.base_model.embeddings.token_type_embeddings.weight.data[1] = torch.randn(32)
    with torch.no_grad():
        reference = model(**{n: torch.from_numpy(a).long() for n, a in arrays.items()}).logits
    weights = tf_weights.read_weights(model, head, LENGTH, segments=True)
    assert tf_bert.input_names(weights) == names
    fn = tf_bert.build(weights, length=LENGTH, gelu="exact", mask_bias=1000.0)
    got = _graph_rows(fn, arrays, head.output)
    error = np.max(np.abs(got - reference.numpy()))
    assert error < 1e-4
    # segment 1 matters: the same ids read as one text give other logits
    single = _graph_rows(
        fn, arrays | {"token_type_ids": np.zeros_like(arrays["input_ids"])}, "logits"
    )
    assert np.max(np.abs(single - got)) > 100 * error


def test_a_family_without_segments_keeps_two_inputs_even_for_pairs(tmp_path: Path) -> None:
    from edgedistil.export import tf_bert, tf_weights

    model, head, _ = _load(save_tiny_family(tmp_path / "d", "distilbert"))
    weights = tf_weights.read_weights(model, head, LENGTH, segments=True)
    assert tf_bert.input_names(weights) == ("input_ids", "attention_mask")
