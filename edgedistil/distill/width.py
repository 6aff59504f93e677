"""A narrower student: the teacher's most important hidden dimensions, heads and FFN neurons.

Fewer layers alone cannot reach a microcontroller: at MiniLM's hidden size 384 even one layer
with a 1,000-token vocabulary is over a 2 MB board's flash. ``narrow`` keeps ``width`` of the
hidden dimensions (the residual stream), ``width / head size`` heads per layer and the same
share of each FFN's neurons, ranked by how much they carry on sample text (activation-based
importance, as NVIDIA's Minitron prunes widths before distilling), and slices every weight to
match, so training starts from the teacher's own numbers rather than from noise.

- dimension: mean |x| over real tokens of every layer's output (BERT's LayerNorm outputs),
  summed over the embedding output and each layer the student keeps;
- head: mean norm of its contribution to the attention output (its context times its slice of
  the output projection);
- FFN neuron: mean |activation| times the norm of its column in the down projection.

An embedding student that is narrower than its teacher ends in a linear map back to the
teacher's size (sentence-transformers' Dense module, no bias), so its embeddings live in the
teacher's space: an index built with the teacher still answers the student's queries. The map
starts as the least-squares fit from the narrowed student's pooled output to the teacher's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgedistil.distill import losses
from edgedistil.distill.student import layer_list
from edgedistil.errors import DistillError
from edgedistil.families import family_of, narrowable_names

if TYPE_CHECKING:
    import torch

PROBE_TEXTS = 256  # sentences for the importance and projection estimates; enough to rank
PROJECTION = "edgedistil_projection"  # the attribute a narrow embedding student trains it under


@dataclass(frozen=True, kw_only=True)
class Narrowing:
    """What the student keeps, in the teacher's numbering (sorted)."""

    dims: list[int]
    heads: list[list[int]]  # per student layer
    neurons: list[list[int]]  # per student layer


def head_size(config: Any) -> int:
    return int(config.hidden_size // config.num_attention_heads)


def check_width(config: Any, width: int) -> None:
    """A width the teacher can give: a multiple of its head size, from 2 heads to its own."""
    family = family_of(config.model_type)
    if family is None or not family.narrowable:
        raise DistillError(
            f"--hidden {width}: narrowing handles model_type {' and '.join(narrowable_names())}; "
            f'the teacher is "{config.model_type}" (leave out --hidden to keep its width)'
        )
    size = head_size(config)
    if width % size or not 2 * size <= width <= config.hidden_size:
        raise DistillError(
            f"--hidden {width}: must be a multiple of the teacher's head size {size} from "
            f"{2 * size} to its hidden size {config.hidden_size}"
        )


def importance(
    teacher: Any, layer_map: list[int], batches: list[dict[str, torch.Tensor]]
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """(per dimension, per head of each mapped layer, per neuron of each mapped layer)."""
    import torch

    _, layers = layer_list(teacher)
    hidden = teacher.config.hidden_size
    size = head_size(teacher.config)
    dims = torch.zeros(hidden)
    heads = [torch.zeros(hidden // size) for _ in layer_map]
    neurons = [torch.zeros(teacher.config.intermediate_size) for _ in layer_map]
    mask: list[torch.Tensor] = []

    def on_context(j: int, dense: torch.nn.Linear) -> Any:
        def hook(_: Any, args: tuple[torch.Tensor, ...]) -> None:
            context, keep = args[0], mask[0].unsqueeze(-1).to(args[0].dtype)
            for h in range(len(heads[j])):
                part = slice(h * size, (h + 1) * size)
                out = context[..., part] @ dense.weight[:, part].T
                heads[j][h] += float((out.norm(dim=-1, keepdim=True) * keep).sum())

        return hook

    def on_activation(j: int, dense: torch.nn.Linear) -> Any:
        def hook(_: Any, args: tuple[torch.Tensor, ...]) -> None:
            keep = mask[0].unsqueeze(-1).to(args[0].dtype)
            neurons[j] += (args[0].abs() * keep).sum((0, 1)) * dense.weight.norm(dim=0)

        return hook

    handles = []
    for j, m in enumerate(layer_map):
        layer: Any = layers[m]
        attn_out, ffn_out = layer.attention.output.dense, layer.output.dense
        handles.append(attn_out.register_forward_pre_hook(on_context(j, attn_out)))
        handles.append(ffn_out.register_forward_pre_hook(on_activation(j, ffn_out)))
    teacher.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                mask[:] = [batch["attention_mask"]]
                out = teacher(**losses.model_inputs(batch), output_hidden_states=True)
                keep = batch["attention_mask"].unsqueeze(-1).float()
                for k in [0, *(m + 1 for m in layer_map)]:
                    dims += (out.hidden_states[k].abs() * keep).sum((0, 1))
    finally:
        for handle in handles:
            handle.remove()
    return dims, heads, neurons


def choose(
    config: Any,
    width: int,
    scores: tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]],
) -> Narrowing:
    """The top-scoring ``width`` dimensions, heads and neurons, each kept in teacher order."""
    dims, heads, neurons = scores
    n_heads = width // head_size(config)
    n_neurons = config.intermediate_size * width // config.hidden_size

    def top(values: Any, k: int) -> list[int]:
        return sorted(int(i) for i in values.topk(k).indices)

    return Narrowing(
        dims=top(dims, width),
        heads=[top(h, n_heads) for h in heads],
        neurons=[top(n, n_neurons) for n in neurons],
    )


def norm_ratios(
    teacher: Any, layer_map: list[int], batches: list[dict[str, torch.Tensor]], dims: list[int]
) -> list[float]:
    """Per LayerNorm the student keeps (the embeddings', then two per kept layer), how much
    larger the teacher's normalised output is on the kept dimensions than the narrow
    LayerNorm's on the same input: the narrow one centres and scales by the kept dimensions
    alone (where BERT's large dimensions weigh more), so its weight times this ratio starts it
    at the teacher's scale. The mean over real tokens of |g (x - mean) / std| on the kept
    dimensions, teacher over narrow."""
    import torch
    import torch.nn.functional as F

    norms = _layer_norms(teacher, layer_map)
    sums = [0.0] * len(norms)
    count = [0.0]
    keep: list[torch.Tensor] = []
    d = torch.tensor(dims)

    def hook(k: int, norm: torch.nn.LayerNorm) -> Any:
        def record(_: Any, args: tuple[torch.Tensor, ...]) -> None:
            x, real = args[0], keep[0].to(args[0].dtype)
            g = norm.weight[d]
            wide = F.layer_norm(x, x.shape[-1:], eps=norm.eps)[..., d] * g
            narrow = F.layer_norm(x[..., d], (len(dims),), eps=norm.eps) * g
            ratio = wide.norm(dim=-1) / narrow.norm(dim=-1).clamp(min=1e-6)
            sums[k] += float((ratio * real).sum())

        return record

    handles = [n.register_forward_pre_hook(hook(k, n)) for k, n in enumerate(norms)]
    try:
        with torch.no_grad():
            for batch in batches:
                keep[:] = [batch["attention_mask"]]
                count[0] += float(batch["attention_mask"].sum())
                teacher(**losses.model_inputs(batch))
    finally:
        for handle in handles:
            handle.remove()
    return [total / max(count[0], 1.0) for total in sums]


def narrow(student: Any, narrowing: Narrowing, ratios: list[float] | None = None) -> Any:
    """A new model of the student's class at the narrower size, holding the sliced weights."""
    import copy

    import torch

    config = copy.deepcopy(student.config)
    size = head_size(config)
    config.hidden_size = len(narrowing.dims)
    config.num_attention_heads = len(narrowing.heads[0])
    config.intermediate_size = len(narrowing.neurons[0])
    d = torch.tensor(narrowing.dims)
    sliced = {}
    for name, value in student.state_dict().items():
        sliced[name] = _slice(name, value, d, narrowing, size)
    model = type(student)(config)
    model.load_state_dict(sliced, strict=True)
    if ratios is not None:
        norms = _layer_norms(model, list(range(len(layer_list(model)[1]))))
        with torch.no_grad():
            for norm, ratio in zip(norms, ratios, strict=True):
                norm.weight.mul_(ratio)
    model.train()
    return model


def _layer_norms(model: Any, layer_indices: list[int]) -> list[torch.nn.LayerNorm]:
    """The embeddings' LayerNorm, then the two of each listed layer (attention, FFN): the order
    ``norm_ratios`` measures in and ``narrow`` scales in."""
    _, layers = layer_list(model)
    norms = [model.base_model.embeddings.LayerNorm]
    for i in layer_indices:
        layer: Any = layers[i]
        norms += [layer.attention.output.LayerNorm, layer.output.LayerNorm]
    return norms


def _slice(
    name: str, value: torch.Tensor, d: torch.Tensor, narrowing: Narrowing, size: int
) -> torch.Tensor:
    """One tensor of the wide student cut to the narrow one, by its role in BERT."""
    import torch

    parts = name.split(".")
    if "layer" in parts and parts[parts.index("layer") + 1].isdigit():
        j = int(parts[parts.index("layer") + 1])
        h = torch.tensor(
            [i for head in narrowing.heads[j] for i in range(head * size, (head + 1) * size)]
        )
        n = torch.tensor(narrowing.neurons[j])
        if any(k in name for k in (".query.", ".key.", ".value.")):
            return value[h][:, d] if value.dim() == 2 else value[h]
        if "attention.output.dense" in name:
            return value[d][:, h] if value.dim() == 2 else value[d]
        if "intermediate.dense" in name:
            return value[n][:, d] if value.dim() == 2 else value[n]
        if "output.dense" in name:
            return value[d][:, n] if value.dim() == 2 else value[d]
        return value[d]  # the two LayerNorms
    if "embeddings" in parts:
        return value if name.endswith(("position_ids", "token_type_ids")) else value[..., d]
    if "pooler" in parts:
        return value[d][:, d] if value.dim() == 2 else value[d]
    if name.startswith("classifier.dense."):  # RoBERTa's head: dense [H, H], then out_proj
        return value[d][:, d] if value.dim() == 2 else value[d]
    if parts[0] == "classifier":  # BERT's classifier, RoBERTa's out_proj: [labels, H]
        return value[:, d] if value.dim() == 2 else value
    raise DistillError(f"{name}: no rule to narrow this weight; narrowing handles BERT's weights")


def fit_projection(
    student: Any,
    teacher: Any,
    batches: list[dict[str, torch.Tensor]],
    pooling: str,
    map_ids: Any,
) -> torch.nn.Linear:
    """The no-bias linear map from the student's pooled output to the teacher's, fitted by
    ridge-regularised least squares on the probe text."""
    import torch

    xs, ys = [], []
    student.eval()
    with torch.no_grad():
        for batch in batches:
            mask = batch["attention_mask"]
            s = student(**losses.model_inputs(batch, map_ids(batch["input_ids"])))
            t = teacher(**losses.model_inputs(batch))
            xs.append(losses.pool(s.last_hidden_state, mask, pooling))
            ys.append(losses.pool(t.last_hidden_state, mask, pooling))
    student.train()
    x, y = torch.cat(xs).double(), torch.cat(ys).double()
    ridge = 1e-3 * float((x * x).sum()) / x.shape[1]
    gram = x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype)
    solution = torch.linalg.solve(gram, x.T @ y)  # [width, teacher hidden]
    layer = torch.nn.Linear(x.shape[1], y.shape[1], bias=False)
    layer.weight.data = solution.T.float().contiguous()
    return layer


def projection_of(model: Any) -> torch.nn.Linear | None:
    return getattr(model, PROJECTION, None)
