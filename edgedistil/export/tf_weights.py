"""A BERT-family module's weights as the numpy arrays ``export.tf_bert`` builds its graph from.

BERT, DistilBERT, RoBERTa and XLM-R are one post-norm encoder under different names: the
family's ``families.Layout`` says where its state dict keeps each tensor, its ``ClassifierHead``
what its sequence classifier is, and ``token_head`` its token classifier. The arrays get one
set of short names (``word``, ``position``, ``{i}.q.w``, ``ln_g``, ``pool.w``, ``cls.w`` ...),
matrices transposed for ``x @ w`` and 1/sqrt(head size) folded into the query's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgedistil.errors import ExportError
from edgedistil.export.model import Head
from edgedistil.families import (
    LINEARS,
    NORMS,
    ClassifierHead,
    Family,
    Layout,
    family_of,
    litert_names,
)
from edgedistil.verify.tags import TASK as TOKEN_TASK

HIDDEN_ACTS = ("gelu", "gelu_new", "gelu_pytorch_tanh")


@dataclass(frozen=True, kw_only=True)
class Weights:
    """Numpy arrays of a BERT encoder and its head, named as in the graph below."""

    arrays: dict[str, np.ndarray]
    layers: int
    heads: int
    eps: float
    head: Head
    exact_gelu: bool  # trained with erf GELU: the tanh form is then a rewrite (~1e-3 per unit)
    pool_activation: str = "tanh"  # the classifier's activation after its pooling layer


def read_weights(model: Any, head: Head, length: int, *, segments: bool = False) -> Weights:
    """Arrays of a transformers BERT-family module, the position table cut to ``length`` rows
    after the family's offset, named as ``families.Layout`` maps them.

    ``segments``: keep the segment table for a ``token_type_ids`` input (text pairs); without
    it, segment 0 is folded into the position table."""
    config = model.config
    family = _family(config)
    layout = family.layout
    activation = getattr(config, layout.activation_key, None)
    if activation not in HIDDEN_ACTS:
        raise ExportError(
            f'{layout.activation_key} "{activation}": allowed {", ".join(HIDDEN_ACTS)}'
        )
    if head.pooling not in (None, "mean", "cls"):
        raise ExportError(f'pooling "{head.pooling}": the LiteRT graph pools mean or cls only')
    sd = {k: v.detach().float().numpy() for k, v in model.base_model.state_dict().items()}
    a = _embeddings(sd, layout, family.position_offset(config.to_dict()), length, segments)
    scale = 1.0 / math.sqrt(config.hidden_size // config.num_attention_heads)
    for i in range(config.num_hidden_layers):
        a |= _layer(sd, layout.layer.format(i=i), layout, i, scale)
    if head.task == "classification":
        a |= _classifier(model, family.classifier)
    elif head.task == TOKEN_TASK:
        a |= _linear(model, family.token_head, "cls")
    elif head.dense is not None:
        a["proj.w"] = np.ascontiguousarray(head.dense.weight.T)
        if head.dense.bias is not None:
            a["proj.b"] = head.dense.bias.astype(np.float32)
    eps = getattr(config, layout.eps_key) if layout.eps_key is not None else layout.eps
    return Weights(
        arrays=a,
        layers=config.num_hidden_layers,
        heads=config.num_attention_heads,
        eps=float(eps),
        head=head,
        exact_gelu=activation == "gelu",
        pool_activation=family.classifier.activation,
    )


def _family(config: Any) -> Family:
    family = family_of(config.model_type)
    if family is None or not family.litert:
        raise ExportError(
            f'model_type "{config.model_type}": the LiteRT graph is written for '
            f"{', '.join(litert_names())} (use `edgedistil export` for ONNX of other families)"
        )
    return family


def _embeddings(
    sd: dict[str, np.ndarray], layout: Layout, offset: int, length: int, segments: bool
) -> dict[str, np.ndarray]:
    """Word rows, position rows ``offset`` to ``offset + length`` and the embedding norm; the
    segment table kept apart for a pair input, else its row 0 folded into the positions."""
    position = sd[layout.position][offset : offset + length]
    table = sd[layout.segment] if layout.segment is not None else None
    a = {
        "word": sd[layout.word],
        "ln_g": sd[layout.embed_norm + ".weight"],
        "ln_b": sd[layout.embed_norm + ".bias"],
    }
    if segments and table is not None:
        a["segment"] = table
        a["position"] = position
    else:
        a["position"] = position + table[0] if table is not None else position
    return a


def _layer(
    sd: dict[str, np.ndarray], prefix: str, layout: Layout, i: int, scale: float
) -> dict[str, np.ndarray]:
    """Layer ``i``'s matrices transposed for ``x @ w`` (1/sqrt(head size) folded into the
    query's) and its two LayerNorms."""
    a: dict[str, np.ndarray] = {}
    for short in LINEARS:
        name = prefix + layout.linears[short]
        factor = scale if short == "q" else 1.0
        a[f"{i}.{short}.w"] = np.ascontiguousarray(sd[name + ".weight"].T) * factor
        a[f"{i}.{short}.b"] = sd[name + ".bias"] * factor
    for short in NORMS:
        name = prefix + layout.norms[short]
        a[f"{i}.{short}_g"] = sd[name + ".weight"]
        a[f"{i}.{short}_b"] = sd[name + ".bias"]
    return a


def _classifier(model: Any, head: ClassifierHead) -> dict[str, np.ndarray]:
    """The classification head's matrices: ``pool`` (when the checkpoint has it) and ``cls``."""
    pool = None if head.pool is None else head.pool.format(base=model.base_model_prefix)
    names = {k for k, _ in model.named_parameters()}
    a = _linear(model, pool, "pool") if pool is not None and pool + ".weight" in names else {}
    return a | _linear(model, head.out, "cls")


def _linear(model: Any, module: str, short: str) -> dict[str, np.ndarray]:
    """A Linear of the whole model, transposed for ``x @ w``, as ``short.w`` and ``short.b``."""
    layer = model.get_submodule(module)
    weight = layer.weight.detach().float().numpy()
    return {
        f"{short}.w": np.ascontiguousarray(weight.T),
        f"{short}.b": layer.bias.detach().float().numpy(),
    }
