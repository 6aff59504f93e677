"""The student as the graph a device runs: a torch module with the device's inputs and outputs.

A classifier ends in its logits. An embedding student ends in the sentence embedding, pooled as
its ``1_Pooling/config.json`` says and L2-normalised when ``modules.json`` lists a Normalize
module, so the device does no post-processing. Token ids arrive as the profile's integer type and
are widened to int64 inside the graph, where torch's embedding lookup wants them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgedistil.errors import ExportError
from edgedistil.families import family_of, require_family
from edgedistil.families import uses_token_types as uses_token_types  # where it used to live
from edgedistil.teacher import (
    DENSE_MODULE,
    NORMALIZE_MODULE,
    Teacher,
    read_dense_config,
    read_modules,
    read_pooling,
)
from edgedistil.verify.tags import TASK as TOKEN_TASK

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
}
# Dense activations the graph can carry, by sentence-transformers' class name
DENSE_ACTIVATIONS = {
    "torch.nn.modules.linear.Identity": "identity",
    "torch.nn.modules.activation.Tanh": "tanh",
}


@dataclass(frozen=True, kw_only=True, eq=False)
class Dense:
    """A sentence-transformers Dense module after pooling: y = act(x W^T + b)."""

    weight: np.ndarray  # [out, in]
    bias: np.ndarray | None
    activation: str  # "identity" or "tanh"


@dataclass(frozen=True, kw_only=True)
class Head:
    """What the graph ends in: logits, or an embedding pooled, projected by a Dense module (a
    narrow student's map back to its teacher's size) and normalised, all in the graph."""

    task: str  # "classification", "token-classification" (logits a token) or "embedding"
    pooling: str | None  # "mean", "cls", "max" for an embedding
    normalize: bool
    dense: Dense | None = None

    @property
    def output(self) -> str:
        return "embedding" if self.task == "embedding" else "logits"


def check_family(teacher: Teacher) -> str:
    return require_family(teacher.config, teacher.path / "config.json", ExportError).model_type


def position_offset(config: dict[str, Any]) -> int:
    """Rows before the first position: RoBERTa numbers positions from padding_idx + 1."""
    family = family_of(config.get("model_type"))
    return 0 if family is None else family.position_offset(config)


def check_length(teacher: Teacher, length: int) -> None:
    rows = int(teacher.config.get("max_position_embeddings", 512))
    usable = rows - position_offset(teacher.config)
    if length > usable:
        raise ExportError(
            f"sequence length {length} is longer than the model at {teacher.path} can take: "
            f"max_position_embeddings allows {usable}; choose a length from 1 to {usable}"
        )


def read_head(model: Any, path: Path) -> Head:
    if type(model).__name__.endswith("ForTokenClassification"):
        return Head(task=TOKEN_TASK, pooling=None, normalize=False)
    if hasattr(model, "classifier"):
        return Head(task="classification", pooling=None, normalize=False)
    pooling = "mean"  # sentence-transformers' default, and what `distill` trains against
    config = path / "1_Pooling" / "config.json"
    settings = read_pooling(path, error=ExportError)
    if settings is not None:
        chosen = [mode for key, mode in POOLING_KEYS.items() if getattr(settings, key)]
        if len(chosen) != 1:
            raise ExportError(
                f"{config}: exactly one of {', '.join(POOLING_KEYS)} must be true; found "
                f"{len(chosen)}"
            )
        pooling = chosen[0]
    else:
        log.warning("%s has no 1_Pooling/config.json; the embedding is mean-pooled", path)
    modules = read_modules(path, error=ExportError)
    normalize = any(m.get("type") == NORMALIZE_MODULE for m in modules)
    dense = [m for m in modules if m.get("type") == DENSE_MODULE]
    if len(dense) > 1:
        raise ExportError(
            f"{path / 'modules.json'}: {len(dense)} Dense modules; export handles one"
        )
    return Head(
        task="embedding",
        pooling=pooling,
        normalize=normalize,
        dense=read_dense(path / dense[0].get("path", "")) if dense else None,
    )


def dense_outputs(path: Path) -> int:
    """The output size of the model directory's Dense module (config only), 0 without one."""
    for m in read_modules(path):
        if m.get("type") == DENSE_MODULE:
            folder = path / m.get("path", "")
            if (folder / "config.json").is_file():
                return read_dense_config(folder).out_features
    return 0


def read_dense(folder: Path) -> Dense:
    """A Dense module's weights (safetensors only: no pickle is loaded) and activation."""
    config_path, weights = folder / "config.json", folder / "model.safetensors"
    if not config_path.is_file() or not weights.is_file():
        raise ExportError(
            f"{folder}: a Dense module needs config.json and model.safetensors; "
            "convert pytorch_model.bin with sentence-transformers first"
        )
    config = read_dense_config(folder, error=ExportError)
    name = config.activation_function
    if name not in DENSE_ACTIVATIONS:
        raise ExportError(
            f'{config_path}: activation_function "{name}"; export handles '
            f"{', '.join(DENSE_ACTIVATIONS)}"
        )
    tensors = _dense_tensors(weights)
    weight = tensors.get("linear.weight")
    shape = (config.out_features, config.in_features)
    if weight is None or tuple(weight.shape) != shape:
        raise ExportError(
            f"{weights}: linear.weight must be [out_features, in_features] = {list(shape)}; "
            f"found {None if weight is None else list(weight.shape)}"
        )
    bias = tensors.get("linear.bias") if config.bias else None
    if bias is not None and tuple(bias.shape) != (config.out_features,):
        raise ExportError(
            f"{weights}: linear.bias must be [out_features] = [{config.out_features}]; "
            f"found {list(bias.shape)}"
        )
    return Dense(weight=weight.astype(np.float32), bias=bias, activation=DENSE_ACTIVATIONS[name])


def _dense_tensors(weights: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(str(weights)))
    except SafetensorError as exc:
        raise ExportError(f"{weights} is not a readable safetensors file: {exc}") from None


def slice_positions(model: Any, rows: int) -> None:
    """Keep the first ``rows`` position rows, as the plan prices the artifact."""
    import torch

    embeddings = model.base_model.embeddings
    table = embeddings.position_embeddings
    sliced = torch.nn.Embedding(rows, table.embedding_dim, padding_idx=table.padding_idx)
    sliced.weight.data = table.weight.data[:rows].clone()
    embeddings.position_embeddings = sliced
    for name in ("position_ids", "token_type_ids"):
        buffer = getattr(embeddings, name, None)
        if isinstance(buffer, torch.Tensor) and buffer.dim() == 2:
            embeddings.register_buffer(name, buffer[:, :rows].clone(), persistent=False)
    model.config.max_position_embeddings = rows


def wrap(model: Any, head: Head, token_types: bool) -> torch.nn.Module:
    """A module whose forward takes the device's inputs by position and calls HF by keyword."""
    import torch

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.dense = _dense_module(head.dense)

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            kwargs = {"input_ids": input_ids.long(), "attention_mask": attention_mask.long()}
            if token_types and token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids.long()
            out = self.model(**kwargs)
            if head.task != "embedding":  # [batch, classes], or [batch, length, classes]
                logits: torch.Tensor = out.logits
                return logits
            return pool(out.last_hidden_state, attention_mask, head, self.dense)

    # eval() on the wrapper itself: export restores the wrapper's training flag afterwards,
    # and a wrapper left in training mode would switch dropout back on.
    return Graph().eval()


def _dense_module(dense: Dense | None) -> torch.nn.Module | None:
    import torch

    if dense is None:
        return None
    out, inp = dense.weight.shape
    linear = torch.nn.Linear(inp, out, bias=dense.bias is not None)
    linear.weight.data = torch.from_numpy(dense.weight.copy())
    if dense.bias is not None:
        linear.bias.data = torch.from_numpy(dense.bias.astype(np.float32))
    if dense.activation == "tanh":
        return torch.nn.Sequential(linear, torch.nn.Tanh())
    return linear


def pool(
    hidden: torch.Tensor, mask: torch.Tensor, head: Head, dense: torch.nn.Module | None = None
) -> torch.Tensor:
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if head.pooling == "cls":
        pooled = hidden[:, 0]
    elif head.pooling == "max":
        pooled = hidden.masked_fill(weights == 0, -1e9).max(dim=1).values
    else:
        # clamp: an all-padding row would divide by zero; sentence-transformers clamps at 1e-9 too
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    if dense is not None:
        pooled = dense(pooled)
    if head.normalize:
        pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
    return pooled
