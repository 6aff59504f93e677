"""The student through the integer graph it will be converted to, in PyTorch, with fake
quantization: what quantization-aware distillation (``distill.qat``) trains against.

It mirrors ``export.tf_bert``'s graph op for op, because the rounding a student suffers is the
rounding of that graph, not of a generic int8 BERT (Q8BERT, Zafrir et al. 2019; I-BERT, Kim et al.
2021, for integer LayerNorm, GELU and softmax):

- every op's output is rounded to a per-tensor int8 (asymmetric) or int16 (symmetric) grid whose
  range is the min/max seen on the calibration text in the float graph, as the TFLite converter's
  representative dataset sets it; softmax and the sigmoid have the converter's fixed output grids;
- FULLY_CONNECTED weights are int8 per output channel, the constants that MUL/ADD/GATHER read
  (position table, LayerNorm gains and shifts, the mask bias) int8 per tensor;
- the residual stream is carried as two tensors when the scheme splits it: the outlier dimensions
  and the rest, each on its own grid, chosen on the calibration text as the export chooses them;
- LayerNorm is the graph's mean, subtract, square, mean, rsqrt, multiply, each step rounded;
- GELU is x * sigmoid(1.702 x) for TFLite Micro (no GELU kernel there), the exact GELU else;
- gradients pass straight through the rounding (and stop outside a clipped range).

With ``mode`` "float" nothing is rounded and the output equals the Hugging Face module's (the
tests hold it to that), so the same code gives the target the quantized output is pulled to.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from edgedistil import integer_graph
from edgedistil.errors import DistillError
from edgedistil.families import LINEARS, NORMS, family_of

RSQRT_FLOOR = 1e-12  # the smallest sum an rsqrt takes (see _rsqrt)


@dataclass(frozen=True, kw_only=True)
class Graph:
    """What the converted graph does that rounding depends on (from the scheme and runtime)."""

    bits: int  # 8: int8 activations; 16: int16 (int16x8)
    gelu: str  # "sigmoid" (TFLite Micro) or "exact" (LiteRT)
    split: bool  # the residual stream's outliers in their own tensor (int8 schemes)


@dataclass(frozen=True, kw_only=True)
class QuantAware:
    """The phase's settings, from the scheme and runtime the student will be converted for."""

    scheme: str
    epochs: float  # a fraction is that share of one epoch
    bits: int  # 8 or 16 (int16x8)
    gelu: str  # "sigmoid" for TFLite Micro, "exact" for LiteRT
    split: bool  # the residual stream's outliers in their own tensor
    # of the rounded-vs-float term beside the distillation loss. benchmarks/qat.py (ESP32-S3,
    # 3 layers): weight 3 took the file's loss from 0.0212 to 0.0141 with the float student's
    # cosine to the teacher unchanged (0.4435 -> 0.4471 drop); 10 reached 0.0120 but moved the
    # float student away from the teacher (0.6481); 1 gained little (Cortex-M7: 0.0282 -> 0.0245).
    weight: float = 3.0
    # what the rounded output is pulled to (schemes.QAT_TARGETS): "float", the student's own
    # float output (the gate's max_accuracy_drop), or "teacher", the teacher's output as the
    # distillation loss has it (what ships against max_drop_vs_teacher). benchmarks/qat.py on the
    # Cortex-M7 (3 epochs): what ships 0.3525 from the teacher towards float, 0.3397 towards the
    # teacher; the file's drop against the float student 0.0147 and 0.0194. One target measured,
    # so the default stays and a profile chooses ([distill].qat_toward)
    toward: str = "float"

    @property
    def graph(self) -> Graph:
        return Graph(bits=self.bits, gelu=self.gelu, split=self.split)


@dataclass(frozen=True, kw_only=True)
class Head:
    """The student's output: "embedding" (pooled, maybe projected, maybe normalized),
    "classification" or "token-classification"."""

    task: str
    pooling: str = "mean"
    normalize: bool = False
    projection: torch.nn.Linear | None = None
    # a pair model reads token type ids; a single-text graph folds segment row 0 into the
    # positions (as the export does), whatever ids the batch carries
    pairs: bool = False


class Rounding:
    """Per-tensor ranges, observed on calibration text or applied as fake quantization."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.mode = "float"  # "float", "observe" or "quant"
        self.ranges: dict[str, tuple[float, float]] = {}

    def __call__(self, x: Tensor, name: str) -> Tensor:
        if self.mode == "float":
            return x
        if self.mode == "observe":
            lo, hi = float(x.detach().min()), float(x.detach().max())
            old = self.ranges.get(name, (lo, hi))
            self.ranges[name] = (min(old[0], lo), max(old[1], hi))
            return x
        if name not in self.ranges:
            raise DistillError(f"fake quantization: no calibrated range for {name}")
        return fake(x, *self.ranges[name], self.bits)

    def fixed(self, x: Tensor, lo: float, hi: float) -> Tensor:
        """An op whose output grid the converter fixes (softmax, logistic, tanh)."""
        return fake(x, lo, hi, self.bits) if self.mode == "quant" else x

    def weight(self, w: Tensor) -> Tensor:
        """A FULLY_CONNECTED weight [out, in]: int8 per output channel, symmetric."""
        if self.mode != "quant":
            return w
        scale = w.detach().abs().amax(dim=1).clamp_min(1e-12) / 127.0
        zero = torch.zeros(len(scale), dtype=torch.int32, device=w.device)
        return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -127, 127)

    def constant(self, c: Tensor) -> Tensor:
        """A constant operand of GATHER, ADD or MUL: int8 per tensor."""
        if self.mode != "quant":
            return c
        return fake(c, float(c.detach().min()), float(c.detach().max()), 8)


def fake(x: Tensor, lo: float, hi: float, bits: int) -> Tensor:
    """``x`` rounded to the grid of [lo, hi] (0 always on it, as TFLite keeps it), with a
    straight-through gradient inside the range and none outside it (torch's fused op)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0.0:
        return x
    if bits == 16:  # int16 activations are symmetric, zero point 0
        return torch.fake_quantize_per_tensor_affine(x, max(-lo, hi) / 32767.0, 0, -32767, 32767)
    scale = (hi - lo) / 255.0
    zero = int(min(127, max(-128, round(-128 - lo / scale))))
    return torch.fake_quantize_per_tensor_affine(x, scale, zero, -128, 127)


Parts = tuple[Tensor, ...]


@dataclass(kw_only=True)
class Mirror:
    """The integer graph of one student, reading its live parameters (gradients reach them)."""

    model: Any  # the transformers module (its base model is the encoder)
    graph: Graph
    head: Head
    rounding: Rounding
    mask_bias: float = 0.0
    index: tuple[Tensor, ...] = ()  # the stream's parts: (all,) or (ordinary, outliers)
    offset: int = 0  # position rows before the first (RoBERTa's padding index + 1)
    eps: float = 1e-12  # LayerNorm's
    spans: list[Tensor] = field(default_factory=list)  # each layer's score-row widths
    _p: dict[str, Tensor] = field(default_factory=dict)

    @classmethod
    def of(cls, model: Any, graph: Graph, head: Head) -> Mirror:
        family = family_of(model.config.model_type)
        if family is None or not family.litert:
            raise DistillError(
                f'model_type "{model.config.model_type}": quantization-aware training mirrors '
                "the LiteRT graph, written for BERT-family encoders"
            )
        if head.task == "embedding" and head.pooling not in ("mean", "cls"):
            raise DistillError(
                f'pooling "{head.pooling}": the LiteRT graph (and so quantization-aware '
                "training) pools mean or cls only"
            )
        layout = family.layout
        return cls(
            model=model,
            graph=graph,
            head=head,
            rounding=Rounding(graph.bits),
            index=(torch.arange(int(model.config.hidden_size)),),
            offset=family.position_offset(model.config.to_dict()),
            eps=float(getattr(model.config, layout.eps_key) if layout.eps_key else layout.eps),
        )

    def __call__(self, batch: dict[str, Tensor], ids: Tensor) -> Tensor:
        """The head's output for a batch (``ids``: the student's token ids)."""
        self._p = self._parameters()
        self.index = tuple(i.to(ids.device) for i in self.index)
        mask = batch["attention_mask"]
        types = batch.get("token_type_ids") if self.head.pairs else None
        x = self.norm(self.embed(ids, types), "embed")
        bias = self.q(self.q.constant(self._bias_table(ids)).index_select(0, mask.flatten()), "mb")
        bias = bias.view(mask.shape[0], 1, 1, mask.shape[1])
        for i in range(int(self.model.config.num_hidden_layers)):
            x = self.layer(x, i, bias)
        return self.output(x, mask)

    @property
    def q(self) -> Rounding:
        return self.rounding

    def _parameters(self) -> dict[str, Tensor]:
        """The encoder's tensors by the family's layout, as named in ``export.tf_weights``."""
        family = family_of(self.model.config.model_type)
        assert family is not None
        layout, base = family.layout, self.model.base_model
        p = dict(base.named_parameters())
        out = {"word": p[layout.word], "position": p[layout.position]}
        if layout.segment is not None:
            out["segment"] = p[layout.segment]
        out |= {
            "embed_g": p[layout.embed_norm + ".weight"],
            "embed_b": p[layout.embed_norm + ".bias"],
        }
        for i in range(int(self.model.config.num_hidden_layers)):
            prefix = layout.layer.format(i=i)
            for short in LINEARS:
                out[f"{i}.{short}.w"] = p[prefix + layout.linears[short] + ".weight"]
                out[f"{i}.{short}.b"] = p[prefix + layout.linears[short] + ".bias"]
            for short in NORMS:
                out[f"{i}.{short}_g"] = p[prefix + layout.norms[short] + ".weight"]
                out[f"{i}.{short}_b"] = p[prefix + layout.norms[short] + ".bias"]
        return out

    def _bias_table(self, ids: Tensor) -> Tensor:
        return torch.tensor([-self.mask_bias, 0.0], device=ids.device)

    # --- the stream and the ops that read or write it ---------------------------------------

    def cut(self, v: Tensor) -> Parts:
        """A hidden-sized tensor in the stream's parts (along its last axis)."""
        return tuple(v.index_select(-1, i) for i in self.index)

    def embed(self, ids: Tensor, types: Tensor | None) -> Parts:
        p, length = self._p, ids.shape[1]
        position = p["position"][self.offset : self.offset + length]
        if "segment" in p and types is None:  # segment row 0 folded into the positions
            position = position + p["segment"][0]
        out = []
        for k, (w, pos) in enumerate(zip(self.cut(p["word"]), self.cut(position), strict=True)):
            x = self.q.constant(w)[ids] + self.q.constant(pos)
            if types is not None and "segment" in p:
                x = self.q(x, f"embed.pos{k}") + self.q.constant(self.cut(p["segment"])[k])[types]
            out.append(self.q(x, f"embed.{k}"))
        return tuple(out)

    def read(self, x: Parts, w: Tensor, b: Tensor | None, name: str) -> Tensor:
        """A layer reading the stream (``w`` [out, hidden]): one FC per part, the bias on the
        first, summed (as ``export.tf_bert._read``)."""
        parts = self.cut(w)
        first = x[0] @ self.q.weight(parts[0]).T
        if b is not None:
            first = first + b
        first = self.q(first, f"{name}.0")
        if len(x) == 1:
            return first
        second = self.q(x[1] @ self.q.weight(parts[1]).T, f"{name}.1")
        return self.q(first + second, name)

    def write(self, h: Tensor, w: Tensor, b: Tensor, name: str) -> Parts:
        """A layer writing the stream: one FC per part."""
        rows = tuple(w.index_select(0, i) for i in self.index)
        return tuple(
            self.q(h @ self.q.weight(r).T + c, f"{name}.{k}")
            for k, (r, c) in enumerate(zip(rows, self.cut(b), strict=True))
        )

    def add(self, x: Parts, y: Parts, name: str) -> Parts:
        return tuple(
            self.q(a + c, f"{name}.{k}") for k, (a, c) in enumerate(zip(x, y, strict=True))
        )

    def total(self, x: Parts, name: str, bias: float | None = None) -> Tensor:
        """Each row's sum over the hidden dimensions / H (FC against a 1/H column)."""
        hidden = sum(int(i.numel()) for i in self.index)
        sums = [p.sum(-1, keepdim=True) / hidden for p in x]
        if bias is not None:
            sums[0] = sums[0] + bias
        first = self.q(sums[0], f"{name}.0")
        if len(x) == 1:
            return first
        return self.q(first + self.q(sums[1], f"{name}.1"), name)

    def norm(self, x: Parts, name: str) -> Parts:
        g, b = self._p[f"{name}_g"], self._p[f"{name}_b"]
        mean = self.total(x, f"{name}.mean")
        centred = tuple(self.q(p - mean, f"{name}.c{k}") for k, p in enumerate(x))
        squares = tuple(self.q(p * p, f"{name}.sq{k}") for k, p in enumerate(centred))
        inverse = self.q(_rsqrt(self.total(squares, f"{name}.var", self.eps)), f"{name}.rs")
        out = []
        for k, (p, gp, bp) in enumerate(zip(centred, self.cut(g), self.cut(b), strict=True)):
            y = self.q(p * inverse, f"{name}.n{k}")
            y = self.q(y * self.q.constant(gp), f"{name}.g{k}")
            out.append(self.q(y + self.q.constant(bp), f"{name}.b{k}"))
        return tuple(out)

    def layer(self, x: Parts, i: int, bias: Tensor) -> Parts:
        x = self.norm(self.add(x, self.attention(x, i, bias), f"{i}.res1"), f"{i}.ln1")
        up = self.act(self.linear_up(x, i), i)
        down = self.write(up, self._down(i), self._p[f"{i}.down.b"], f"{i}.down")
        return self.norm(self.add(x, down, f"{i}.res2"), f"{i}.ln2")

    def linear_up(self, x: Parts, i: int) -> Tensor:
        w, b = self._p[f"{i}.up.w"], self._p[f"{i}.up.b"]
        if self.graph.gelu == "sigmoid":  # 1.702 folded into the weights, as the export does
            w, b = w * integer_graph.SIGMOID_GELU, b * integer_graph.SIGMOID_GELU
        return self.read(x, w, b, f"{i}.up")

    def _down(self, i: int) -> Tensor:
        w = self._p[f"{i}.down.w"]
        return w / integer_graph.SIGMOID_GELU if self.graph.gelu == "sigmoid" else w

    def act(self, u: Tensor, i: int) -> Tensor:
        if self.graph.gelu == "sigmoid":
            return self.q(u * self.q.fixed(torch.sigmoid(u), 0.0, 255 / 256), f"{i}.gelu")
        return self.q(F.gelu(u), f"{i}.gelu")

    def attention(self, x: Parts, i: int, bias: Tensor) -> Parts:
        cfg = self.model.config
        heads = int(cfg.num_attention_heads)
        size = int(cfg.hidden_size) // heads
        scale = 1.0 / math.sqrt(size)  # folded into the query's weights, as the export does
        p = self._p
        q = self.read(x, p[f"{i}.q.w"] * scale, p[f"{i}.q.b"] * scale, f"{i}.q")
        k = self.read(x, p[f"{i}.k.w"], p[f"{i}.k.b"], f"{i}.k")
        v = self.read(x, p[f"{i}.v.w"], p[f"{i}.v.b"], f"{i}.v")
        n, length = q.shape[0], q.shape[1]

        def split(t: Tensor) -> Tensor:
            return t.view(n, length, heads, size).transpose(1, 2)

        raw = self.q(split(q) @ split(k).transpose(-1, -2), f"{i}.scores")
        self.spans.append(raw.detach().amax(-1) - raw.detach().amin(-1))
        probs = self.q.fixed(torch.softmax(self.q(raw + bias, f"{i}.masked"), -1), 0.0, 255 / 256)
        context = self.q(probs @ split(v), f"{i}.context").transpose(1, 2).reshape(n, length, -1)
        return self.write(context, p[f"{i}.o.w"], p[f"{i}.o.b"], f"{i}.o")

    def output(self, x: Parts, mask: Tensor) -> Tensor:
        if self.head.task == "embedding":
            return self.embedding(x, mask)
        return self.logits(x)

    def logits(self, x: Parts) -> Tensor:
        family = family_of(self.model.config.model_type)
        assert family is not None
        out = self.model.get_submodule(
            family.token_head if self.head.task != "classification" else family.classifier.out
        )
        if self.head.task != "classification":
            return self.read(x, out.weight, out.bias, "cls")
        first = tuple(p[:, 0] for p in x)
        pool = _pool_module(self.model, family.classifier.pool)
        if pool is None:
            return self.read(first, out.weight, out.bias, "cls")
        pooled = self.read(first, pool.weight, pool.bias, "pool")
        if family.classifier.activation == "tanh":
            pooled = self.q.fixed(torch.tanh(pooled), -1.0, 127 / 128)
        else:
            pooled = self.q(F.relu(pooled), "pool.relu")
        return self.q(pooled @ self.q.weight(out.weight).T + out.bias, "cls")

    def embedding(self, x: Parts, mask: Tensor) -> Tensor:
        head = self.head
        if head.pooling == "cls":
            pooled = tuple(p[:, 0] for p in x)
        else:
            keep = mask.unsqueeze(-1).to(x[0].dtype)
            pooled = tuple(
                self.q((self.q(p * keep, f"pool.m{k}")).sum(1), f"pool.s{k}")
                for k, p in enumerate(x)
            )
            # as the export: normalizing cancels the mean's 1/count unless a bias comes between
            if not head.normalize or (
                head.projection is not None and head.projection.bias is not None
            ):
                count = self.q(keep.sum(1).clamp_min(1.0), "pool.count")
                inverse = self.q(torch.rsqrt(count), "pool.rs")
                inverse = self.q(inverse * inverse, "pool.inv")
                pooled = tuple(self.q(p * inverse, f"pool.mean{k}") for k, p in enumerate(pooled))
        if head.projection is not None:
            proj = head.projection
            pooled = (self.read(pooled, proj.weight, proj.bias, "proj"),)
            return self.normalized(pooled, whole=True)
        return self.normalized(pooled, whole=False)

    def normalized(self, pooled: Parts, *, whole: bool) -> Tensor:
        index = (
            (torch.arange(pooled[0].shape[-1], device=pooled[0].device),) if whole else self.index
        )
        if self.head.normalize:
            squares = tuple(self.q(p * p, f"norm.sq{k}") for k, p in enumerate(pooled))
            sums = [s.sum(-1, keepdim=True) for s in squares]
            sums[0] = sums[0] + 1e-12
            total = self.q(sums[0], "norm.t0")
            if len(sums) > 1:
                total = self.q(total + self.q(sums[1], "norm.t1"), "norm.t")
            inverse = self.q(_rsqrt(total), "norm.rs")
            pooled = tuple(self.q(p * inverse, f"norm.{k}") for k, p in enumerate(pooled))
        return self.q(_join(pooled, index), "out")

    # --- calibration: what the export chooses on the same text --------------------------------

    def calibrate(
        self, batches: list[dict[str, Tensor]], ids_of: Callable[[Tensor], Tensor]
    ) -> None:
        """The float graph over the calibration text twice: first the outliers and mask size
        (as ``export.tf_bert.ranges``), then every tensor's range with them in place."""
        with torch.no_grad(), self._mode("float"):
            self.index, self.mask_bias = (torch.arange(self._hidden()),), 0.0
            peak, widest = self._scan(batches, ids_of)
        self.mask_bias = widest + integer_graph.SOFTMAX_FLOOR
        if self.graph.split:
            self.index = _parts(peak)
        self.rounding.ranges = {}
        with torch.no_grad(), self._mode("observe"):
            for batch in batches:
                self(batch, ids_of(batch["input_ids"]))

    def _hidden(self) -> int:
        return int(self.model.config.hidden_size)

    def _scan(
        self, batches: list[dict[str, Tensor]], ids_of: Callable[[Tensor], Tensor]
    ) -> tuple[Tensor, float]:
        """Per hidden dimension, the largest |value| on real tokens in every LayerNorm's input
        and output; and the widest attention-score row."""
        peak = torch.zeros(self._hidden())
        widest = 0.0
        with self._streams() as streams:
            for batch in batches:
                self.spans = []
                self(batch, ids_of(batch["input_ids"]))
                real = batch["attention_mask"].bool().cpu()
                for s in streams:
                    peak = torch.maximum(peak, s.detach().cpu()[real].abs().amax(0))
                streams.clear()
                widest = max([widest] + [float(s.max()) for s in self.spans])
        return peak, widest

    @contextmanager
    def _streams(self) -> Iterator[list[Tensor]]:
        """Collects every LayerNorm's input and output (joined) while open."""
        seen: list[Tensor] = []
        plain = self.norm

        def norm(x: Parts, name: str) -> Parts:
            y = plain(x, name)
            seen.extend((_join(x, self.index), _join(y, self.index)))
            return y

        self.norm = norm  # type: ignore[method-assign]
        try:
            yield seen
        finally:
            del self.norm

    @contextmanager
    def _mode(self, mode: str) -> Iterator[None]:
        """Rounding set to ``mode``, in float32 whatever autocast the training runs under (the
        grids are float32's, and torch's fake quantization takes float32 only)."""
        old, self.rounding.mode = self.rounding.mode, mode
        device = next(self.model.parameters()).device.type
        try:
            with torch.autocast(device, enabled=False):
                yield
        finally:
            self.rounding.mode = old

    def run(self, mode: str, batch: dict[str, Tensor], ids: Tensor) -> Tensor:
        with self._mode(mode):
            self.spans = []
            return self(batch, ids)


def _rsqrt(x: Tensor) -> Tensor:
    """1/sqrt of a rounded sum, which rounding can make 0: floored at ``RSQRT_FLOOR`` so that
    the result is finite (the next rounding clips it to its range, as the integer RSQRT
    saturates) and no inf or NaN reaches the weights through the gradient."""
    return torch.rsqrt(x.clamp_min(RSQRT_FLOOR))


def _pool_module(model: Any, pool: str | None) -> Any:
    if pool is None:
        return None
    name = pool.format(base=model.base_model_prefix)
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None


def _parts(peak: Tensor) -> tuple[Tensor, ...]:
    """(ordinary, outliers): the export's outlier dimensions (``integer_graph.largest``)."""
    chosen = torch.tensor(
        integer_graph.largest(peak.numpy(), integer_graph.OUTLIERS), dtype=torch.long
    )
    keep = torch.ones(len(peak), dtype=torch.bool)
    keep[chosen] = False
    return torch.arange(len(peak))[keep], chosen


def _join(parts: Parts, index: tuple[Tensor, ...]) -> Tensor:
    """The parts as one tensor in the original dimension order."""
    if len(parts) == 1:
        return parts[0]
    order = torch.argsort(torch.cat(index)).to(parts[0].device)
    return torch.cat(parts, -1).index_select(-1, order)
