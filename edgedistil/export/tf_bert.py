"""A BERT-family student rewritten as a plain TensorFlow function that LiteRT and TFLite Micro
can run. BERT, DistilBERT, RoBERTa and XLM-R are one encoder under different names: the family's
``families.Layout`` says where each tensor is, ``families.ClassifierHead`` what its classifier is.

Why not ONNX -> onnx2tf, or the Keras model from transformers: measured on this project, both
hand the converter graphs that full-integer quantization breaks (LayerNorm's DIV crashed at
invoke, int64 ids, a mask built from comparisons and SELECT_V2) and need five more packages.
Writing the ~100 lines of the encoder here gives full control over what reaches the converter:

- token ids and the mask are int32 ``[1, L]`` (TFLite Micro's GATHER takes no int64);
- LayerNorm is mean, subtract, square, mean, rsqrt, multiply: no DIV;
- the attention mask becomes an additive bias by a GATHER from a two-row table, not by
  comparisons or SELECT, and its size is a finite number fitted to the model (see ``mask_bias``)
  so an int8 ADD still resolves the real scores;
- segments: a single-sentence device input has segment 0 everywhere, so segment row 0 is folded
  into the position table (one GATHER fewer, one input fewer); only a pair model of a family with
  segments takes ``token_type_ids``;
- positions start after the family's offset (RoBERTa's padding index + 1); a padding token gets
  a position of its own rather than RoBERTa's padding row, which changes only outputs at padding
  (masked as keys, left out of pooling, not read for a token's tag);
- 1/sqrt(head size) is folded into the query weights; the batch is 1 (a device answers one text);
- for the calibrated schemes, the residual stream is carried as two tensors: BERT's few outlier
  dimensions (MiniLM-L6: one dimension reaches 223 where the other 383 stay within 4.5) and the
  rest, so that each gets its own int8 scale. One scale for all 384 rounded the ordinary
  dimensions to steps of 0.8 and kept a cosine of 0.70 to PyTorch on the 6-layer MiniLM; split,
  0.95 (see ``outlier_dims``). LayerNorm's sums are FULLY_CONNECTED against a 1/H column, so the
  two parts add up in int32.

The weights come from the PyTorch module ``edgedistil.teacher`` loaded (safetensors, checked),
read by the family's layout (``export.tf_weights``), and ``build`` is compared with PyTorch
before anything is converted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgedistil import integer_graph
from edgedistil.errors import ExportError
from edgedistil.export.model import Head
from edgedistil.export.tf_weights import Weights
from edgedistil.verify.tags import TASK as TOKEN_TASK

# exact: LiteRT's GELU builtin; tanh: the tanh form (exact for gelu_new) as MUL/ADD/LOGISTIC;
# sigmoid: x * sigmoid(1.702 x) (Hendrycks & Gimpel), for TFLite Micro, which has no GELU kernel:
# two int8 steps, not five, and each int8 step rounds. Measured full-int8 on a 2-layer MiniLM
# student in TFLite Micro's graph: cosine to PyTorch 0.970 with tanh, 0.984 with sigmoid.
GELUS = ("exact", "tanh", "sigmoid")
SOFTMAX_FLOOR = integer_graph.SOFTMAX_FLOOR


def build(
    weights: Weights,
    *,
    length: int,
    gelu: str,
    mask_bias: float,
    outliers: tuple[int, ...] = (),
    probe: bool = False,
) -> Any:
    """A concrete ``tf.function``: int32 ``input_ids``, ``attention_mask`` [1, length] -> output.

    ``outliers``: hidden dimensions carried apart from the rest (none: one stream tensor).
    ``probe``: also return every q.k^T (``scores<i>``) and every LayerNorm's input and output
    (``stream<i>``, in the original dimension order when unsplit)."""
    import tensorflow as tf  # type: ignore[import-untyped]

    if gelu not in GELUS:
        raise ExportError(f'gelu "{gelu}": allowed {", ".join(GELUS)}')
    encoder = _Encoder.of(weights, length=length, gelu=gelu, outliers=outliers)
    bias_table = tf.constant([-mask_bias, 0.0], tf.float32)  # row 0 masked, row 1 attended
    keep_table = tf.constant([[0.0], [1.0]], tf.float32)
    spec = [tf.TensorSpec([1, length], tf.int32, name=name) for name in input_names(weights)]

    if "segment" in weights.arrays:

        @tf.function(input_signature=spec)  # type: ignore[untyped-decorator]
        def encode_pair(input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return encoder.outputs(
                input_ids[0], attention_mask[0], bias_table, keep_table, probe, token_type_ids[0]
            )

        return encode_pair.get_concrete_function()

    @tf.function(input_signature=spec)  # type: ignore[untyped-decorator]
    def encode(input_ids: Any, attention_mask: Any) -> Any:
        return encoder.outputs(input_ids[0], attention_mask[0], bias_table, keep_table, probe)

    return encode.get_concrete_function()


def input_names(weights: Weights) -> tuple[str, ...]:
    """The graph's inputs: ids and mask, and segment ids when the segment table is kept."""
    if "segment" in weights.arrays:
        return ("input_ids", "attention_mask", "token_type_ids")
    return ("input_ids", "attention_mask")


@dataclass(frozen=True, kw_only=True)
class _Encoder:
    """The encoder's pieces as TensorFlow constants, and the ops that ``build``'s function is
    traced from. ``scores`` and ``streams`` collect what a probe graph also returns."""

    weights: Weights
    length: int
    gelu: str
    hidden: int
    split: _Split
    c: dict[str, Any]  # arrays used whole
    parts: dict[str, tuple[Any, ...]]  # arrays that read or write the stream, split with it
    ones: tuple[Any, ...]  # 1/H columns: a row's mean over every part, summed by FC kernels
    scores: list[Any] = field(default_factory=list)
    streams: list[Any] = field(default_factory=list)

    @classmethod
    def of(cls, weights: Weights, *, length: int, gelu: str, outliers: tuple[int, ...]) -> _Encoder:
        a = _fold_sigmoid_gelu(weights) if gelu == "sigmoid" else weights.arrays
        hidden = a["ln_g"].shape[0]
        split = _Split(hidden, outliers)
        c = {k: _const(v) for k, v in a.items() if not _is_hidden(k, a)}
        parts = {
            k: tuple(_const(p) for p in split.cut(k, v)) for k, v in a.items() if _is_hidden(k, a)
        }
        ones = tuple(_const(np.full((n, 1), 1.0 / hidden)) for n in split.sizes)
        return cls(
            weights=weights,
            length=length,
            gelu=gelu,
            hidden=hidden,
            split=split,
            c=c,
            parts=parts,
            ones=ones,
        )

    def outputs(
        self,
        ids: Any,
        mask: Any,
        bias_table: Any,
        keep_table: Any,
        probe: bool,
        segments: Any | None = None,
    ) -> dict[str, Any]:
        """The head's output for one row of ids and mask (and segment ids for a pair graph);
        with ``probe``, the probes too."""
        import tensorflow as tf

        x = self.norm(self.embed(ids, segments), "ln_g", "ln_b")
        bias = tf.reshape(tf.gather(bias_table, mask), [1, 1, self.length])
        for i in range(self.weights.layers):
            x = self.layer(x, i, bias)
        head = self.weights.head
        pool_act = self.weights.pool_activation
        result = {
            head.output: _head(x, mask, self.c, self.parts, head, keep_table, self.split, pool_act)
        }
        if probe:
            result |= {f"scores{i}": s for i, s in enumerate(self.scores)}
            result |= {f"stream{i}": self.split.join(s) for i, s in enumerate(self.streams)}
        return result

    def embed(self, ids: Any, segments: Any | None = None) -> tuple[Any, ...]:
        """Word plus position rows (segment 0 folded into the position table), plus the segment
        rows for a pair graph."""
        import tensorflow as tf

        word, position = self.parts["word"], self.parts["position"]
        x = tuple(tf.gather(w, ids) + p for w, p in zip(word, position, strict=True))
        if segments is None:
            return x
        return tuple(
            p + tf.gather(t, segments) for p, t in zip(x, self.parts["segment"], strict=True)
        )

    def layer(self, x: tuple[Any, ...], i: int, bias: Any) -> tuple[Any, ...]:
        """One encoder layer: attention, add and norm; feed-forward, add and norm."""
        x = self.norm(_add(x, self.attention(x, i, bias)), f"{i}.ln1_g", f"{i}.ln1_b")
        up = self.act(self.linear_in(x, f"{i}.up"))
        return self.norm(_add(x, self.linear_out(up, f"{i}.down")), f"{i}.ln2_g", f"{i}.ln2_b")

    def total(self, x: tuple[Any, ...], bias: float | None = None) -> Any:
        """Each row's sum over all hidden dimensions / H (+ ``bias``), accumulated in int32 by
        FC kernels."""
        import tensorflow as tf

        return _read(x, self.ones, None if bias is None else tf.constant([bias], tf.float32))

    def norm(self, x: tuple[Any, ...], g: str, b: str) -> tuple[Any, ...]:
        # no DIV (full-int8 DIV crashed at invoke): mean, subtract, square, mean, rsqrt, multiply
        import tensorflow as tf

        mean = self.total(x)
        centred = tuple(p - mean for p in x)
        inverse = tf.math.rsqrt(self.total(tuple(p * p for p in centred), bias=self.weights.eps))
        gains, shifts = self.parts[g], self.parts[b]
        y = tuple(p * inverse * gp + bp for p, gp, bp in zip(centred, gains, shifts, strict=True))
        self.streams.extend((x, y))
        return y

    def linear_in(self, x: tuple[Any, ...], name: str) -> Any:
        """A layer reading the stream (see ``_read``)."""
        return _read(x, self.parts[f"{name}.w"], self.c[f"{name}.b"])

    def linear_out(self, h: Any, name: str) -> tuple[Any, ...]:
        """A layer writing the stream: one FC per part."""
        import tensorflow as tf

        pairs = zip(self.parts[f"{name}.w"], self.parts[f"{name}.b"], strict=True)
        return tuple(tf.matmul(h, w) + b for w, b in pairs)

    def act(self, x: Any) -> Any:
        import tensorflow as tf

        if self.gelu == "exact":
            return tf.nn.gelu(x, approximate=False)
        if self.gelu == "sigmoid":  # 1.702 is folded into the FFN's weights (_fold_sigmoid_gelu)
            return x * tf.math.sigmoid(x)
        # the tanh form as 0.5 x (1 + tanh(z)) = x sigmoid(2z), z = sqrt(2/pi) (x + 0.044715 x^3):
        # LOGISTIC and four int8 steps where 1 + tanh took seven
        return x * tf.math.sigmoid(x * (1.5957691216 + 0.0713548163 * x * x))

    def attention(self, x: tuple[Any, ...], i: int, bias: Any) -> tuple[Any, ...]:
        import tensorflow as tf

        heads, length = self.weights.heads, self.length
        size = self.hidden // heads
        q = self.split_heads(self.linear_in(x, f"{i}.q"))
        kt = tf.transpose(tf.reshape(self.linear_in(x, f"{i}.k"), [length, heads, size]), [1, 2, 0])
        v = self.split_heads(self.linear_in(x, f"{i}.v"))
        raw = tf.matmul(q, kt)
        self.scores.append(raw)
        probs = tf.nn.softmax(raw + bias, axis=-1)
        context = tf.reshape(tf.transpose(tf.matmul(probs, v), [1, 0, 2]), [length, self.hidden])
        return self.linear_out(context, f"{i}.o")

    def split_heads(self, t: Any) -> Any:
        """[L, H] -> [heads, L, H / heads]."""
        import tensorflow as tf

        heads = self.weights.heads
        size = self.hidden // heads
        return tf.transpose(tf.reshape(t, [self.length, heads, size]), [1, 0, 2])


def _add(x: tuple[Any, ...], y: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(p + q for p, q in zip(x, y, strict=True))


@dataclass(frozen=True)
class _Split:
    """The hidden dimensions as one part, or as (ordinary, outliers)."""

    hidden: int
    outliers: tuple[int, ...]

    @property
    def index(self) -> tuple[np.ndarray, ...]:
        if not self.outliers:
            return (np.arange(self.hidden),)
        chosen = np.asarray(sorted(self.outliers))
        return np.setdiff1d(np.arange(self.hidden), chosen), chosen

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(i) for i in self.index)

    def cut(self, name: str, v: np.ndarray) -> tuple[np.ndarray, ...]:
        """A hidden-sized array in parts: along its last axis, or its rows for layers that
        read the stream."""
        if name.endswith(_READERS) or name in ("pool.w", "cls.w", "proj.w"):
            return tuple(v[i] for i in self.index)
        return tuple(v[..., i] for i in self.index)

    def join(self, x: tuple[Any, ...]) -> Any:
        """The parts as one tensor in the original dimension order."""
        import tensorflow as tf

        if len(x) == 1:
            return x[0]
        order = np.argsort(np.concatenate(self.index)).astype(np.int32)
        return tf.gather(tf.concat(x, axis=-1), order, axis=-1)


_READERS = (".q.w", ".k.w", ".v.w", ".up.w")  # weights whose rows are hidden dimensions
_WRITERS = (".o.w", ".o.b", ".down.w", ".down.b", "_g", "_b")  # outputs along hidden


def _is_hidden(name: str, a: dict[str, np.ndarray]) -> bool:
    """Whether an array is split with the stream: it reads or writes hidden dimensions."""
    if name in ("word", "position", "segment") or name.endswith(_READERS + _WRITERS):
        return True
    # the pooler (or a Dense projection) reads the stream; without a pooler the classifier does
    return name in ("pool.w", "proj.w") or (name == "cls.w" and "pool.w" not in a)


def _const(v: np.ndarray) -> Any:
    import tensorflow as tf

    return tf.constant(np.ascontiguousarray(v).astype(np.float32))


def _read(x: tuple[Any, ...], w: tuple[Any, ...], bias: Any | None) -> Any:
    """A layer reading the stream: one FC per part, summed. The bias rides on the first FC
    (fused in its kernel), so the sum costs one int8 ADD, not two: measured full-int8 in TFLite
    Micro's graph, a 2-layer student's cosine to PyTorch went from 0.9840 to 0.9891."""
    import tensorflow as tf

    first = tf.matmul(x[0], w[0])
    if bias is not None:
        first = first + bias
    return first if len(x) == 1 else first + tf.matmul(x[1], w[1])


def _fold_sigmoid_gelu(weights: Weights) -> dict[str, np.ndarray]:
    """x * sigmoid(1.702 x) with the 1.702 in the FFN's weights: the up projection makes
    u = 1.702 x, the graph takes u * sigmoid(u) = 1.702 GELU(x), and the down projection's
    weights divide it out. Exact in float; one int8 MUL fewer per layer."""
    a = dict(weights.arrays)
    for i in range(weights.layers):
        a[f"{i}.up.w"] = a[f"{i}.up.w"] * integer_graph.SIGMOID_GELU
        a[f"{i}.up.b"] = a[f"{i}.up.b"] * integer_graph.SIGMOID_GELU
        a[f"{i}.down.w"] = a[f"{i}.down.w"] / integer_graph.SIGMOID_GELU
    return a


def _head(
    x: tuple[Any, ...],
    mask: Any,
    c: dict[str, Any],
    parts: dict[str, tuple[Any, ...]],
    head: Head,
    keep: Any,
    split: _Split,
    activation: str,
) -> Any:
    import tensorflow as tf

    if head.task == TOKEN_TASK:  # every token's logits, [1, L, classes] as the ONNX graph's
        return tf.expand_dims(_read(x, parts["cls.w"], c["cls.b"]), 0)
    if head.task == "classification":
        cls = tuple(p[0:1] for p in x)
        reader = "pool" if "pool.b" in c else "cls"
        first = _read(cls, parts[f"{reader}.w"], c[f"{reader}.b"])
        if reader == "cls":
            return first
        pooled = tf.math.tanh(first) if activation == "tanh" else tf.nn.relu(first)
        return tf.matmul(pooled, c["cls.w"]) + c["cls.b"]
    dense = head.dense
    if head.pooling == "cls":
        pooled = tuple(p[0:1] for p in x)
    else:
        weights = tf.gather(keep, mask)  # [L, 1]: 1.0 where attended
        pooled = tuple(tf.reduce_sum(p * weights, axis=0, keepdims=True) for p in x)
        # normalising cancels the 1/count of the mean, unless a bias or activation comes between
        if not head.normalize or (
            dense is not None and (dense.bias is not None or dense.activation != "identity")
        ):
            # the mean without DIV (which crashed int8) or an int32 SUM (TFLite Micro has none):
            # 1/count as rsqrt(count) squared, the count summed from the float weights
            inverse = tf.math.rsqrt(tf.maximum(tf.reduce_sum(weights, axis=0, keepdims=True), 1.0))
            pooled = tuple(p * (inverse * inverse) for p in pooled)
    if dense is not None:
        # the Dense reads the stream's parts and ends the split
        projected = _read(pooled, parts["proj.w"], c.get("proj.b"))
        if dense.activation == "tanh":
            projected = tf.math.tanh(projected)
        pooled, split = (projected,), _Split(int(dense.weight.shape[0]), ())
    if head.normalize:
        # |p|^2 by FC kernels against a ones column (int32 sums), 1e-12 as the fused bias that
        # keeps rsqrt finite
        ones = tuple(_const(np.ones((n, 1))) for n in split.sizes)
        squared = _read(tuple(p * p for p in pooled), ones, tf.constant([1e-12], tf.float32))
        inverse = tf.math.rsqrt(squared)
        pooled = tuple(p * inverse for p in pooled)
    return split.join(pooled)


def _probe_rows(
    weights: Weights, batches: list[dict[str, np.ndarray]], length: int
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Each text row's count of real tokens and the float probe graph's outputs on it."""
    probe = build(weights, length=length, gelu="exact", mask_bias=0.0, probe=True)
    for batch in batches:
        for row in range(len(batch["input_ids"])):
            out = probe(**{n: batch[n][row : row + 1] for n in input_names(weights)})
            yield int(batch["attention_mask"][row].sum()), {k: v.numpy() for k, v in out.items()}


@dataclass(frozen=True, kw_only=True)
class Ranges:
    """What the float graph shows on calibration text, for the integer graph's design."""

    score_span: float  # the widest attention-score row (max - min)
    peak: np.ndarray  # per hidden dimension, the largest |value| in the residual stream

    @property
    def mask_bias(self) -> float:
        """The additive mask size: the widest score row plus ``SOFTMAX_FLOOR``. Large enough
        that a masked key keeps a weight below 1e-7, and no larger, so int8 keeps the
        resolution of the real scores (-10000 would take all 256 levels)."""
        return self.score_span + SOFTMAX_FLOOR


def ranges(weights: Weights, batches: list[dict[str, np.ndarray]], length: int) -> Ranges:
    """One float pass over the text: the real tokens' score rows and stream magnitudes."""
    widest = 0.0
    peak = np.zeros(weights.arrays["ln_g"].shape[0])
    for real, out in _probe_rows(weights, batches, length):
        for name, v in out.items():
            if name.startswith("scores"):
                widest = max(widest, float(np.max(v.max(-1) - v.min(-1))))
            elif name.startswith("stream"):
                peak = np.maximum(peak, np.abs(v[:real]).max(axis=0))
    return Ranges(score_span=widest, peak=peak)


OUTLIERS = integer_graph.OUTLIERS  # a module attribute: benchmarks and tests set it to 0


def outlier_dims(found: Ranges, count: int | None = None) -> tuple[int, ...]:
    """The ``count`` hidden dimensions that reach the largest magnitude anywhere in the residual
    stream (every LayerNorm's input and output) on the text's real tokens."""
    return integer_graph.largest(found.peak, OUTLIERS if count is None else count)
