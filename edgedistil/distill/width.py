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
from edgedistil.families import Family, family_of, narrowable_names

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


def _family(config: Any, width: int) -> Family:
    family = family_of(config.model_type)
    if family is None or not family.narrowable:
        raise DistillError(
            f"--hidden {width}: narrowing handles model_type {' and '.join(narrowable_names())}; "
            f'the teacher is "{config.model_type}" (leave out --hidden to keep its width)'
        )
    return family


def intermediate_size(config: Any) -> int:
    """The FFN's width under the family's own name (DistilBERT: ``hidden_dim``)."""
    family = family_of(config.model_type) or Family(model_type="")
    return int(getattr(config, family.intermediate_key))


def check_width(config: Any, width: int) -> None:
    """A width the teacher can give: a multiple of its head size, from 2 heads to its own."""
    _family(config, width)
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
    neurons = [torch.zeros(intermediate_size(teacher.config)) for _ in layer_map]
    linears = _family(teacher.config, hidden).layout.linears
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
        attn_out = layer.get_submodule(linears["o"])
        ffn_out = layer.get_submodule(linears["down"])
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
    n_neurons = intermediate_size(config) * width // config.hidden_size

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
    family = _family(config, len(narrowing.dims))
    size = head_size(config)
    setattr(config, family.hidden_key, len(narrowing.dims))
    setattr(config, family.heads_key, len(narrowing.heads[0]))
    setattr(config, family.intermediate_key, len(narrowing.neurons[0]))
    d = torch.tensor(narrowing.dims)
    cut = _Cut(family, student.base_model_prefix, d, narrowing, size)
    sliced = {name: cut(name, value) for name, value in student.state_dict().items()}
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
    layout = _family(model.config, model.config.hidden_size).layout
    norms = [model.base_model.get_submodule(layout.embed_norm)]
    for i in layer_indices:
        layer: Any = layers[i]
        norms += [layer.get_submodule(layout.norms[k]) for k in ("ln1", "ln2")]
    return norms


@dataclass(frozen=True)
class _Cut:
    """Cuts each tensor of the wide student to the narrow one by its role, which the family's
    ``Layout`` and ``ClassifierHead`` name."""

    family: Family
    base: str  # the model's base_model_prefix
    d: torch.Tensor  # kept hidden dimensions
    narrowing: Narrowing
    size: int  # head size

    def __call__(self, name: str, value: torch.Tensor) -> torch.Tensor:
        module = name.rsplit(".", 1)[0]
        parts = name.split(".")
        if "layer" in parts and parts[parts.index("layer") + 1].isdigit():
            j = int(parts[parts.index("layer") + 1])
            return self.layer(".".join(parts[parts.index("layer") + 2 : -1]), j, value)
        if "embeddings" in parts:
            return (
                value if name.endswith(("position_ids", "token_type_ids")) else value[..., self.d]
            )
        head = self.family.classifier
        pool = None if head.pool is None else head.pool.format(base=self.base)
        # a base model's pooler is "pooler.dense" in every family that has one
        if module in (pool, "pooler.dense"):  # [H, H]
            return self.both(value, self.d, self.d)
        if module == head.out:  # [labels, H]
            return value[:, self.d] if value.dim() == 2 else value
        raise DistillError(
            f"{name}: no rule to narrow this weight of a {self.family.model_type} model"
        )

    def layer(self, module: str, j: int, value: torch.Tensor) -> torch.Tensor:
        """A tensor of layer ``j``, by the module (under the layer) it belongs to."""
        import torch

        size, d, linears = self.size, self.d, self.family.layout.linears
        h = torch.tensor(
            [i for head in self.narrowing.heads[j] for i in range(head * size, (head + 1) * size)]
        )
        n = torch.tensor(self.narrowing.neurons[j])
        rows_cols = {
            linears["q"]: (h, d),
            linears["k"]: (h, d),
            linears["v"]: (h, d),
            linears["o"]: (d, h),
            linears["up"]: (n, d),
            linears["down"]: (d, n),
        }
        if module in rows_cols:
            return self.both(value, *rows_cols[module])
        if module in self.family.layout.norms.values():
            return value[d]
        raise DistillError(f"{module}: no rule to narrow this part of a layer")

    @staticmethod
    def both(value: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """A Linear's weight cut to ``rows`` x ``cols``, its bias to ``rows``."""
        return value[rows][:, cols] if value.dim() == 2 else value[rows]


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
