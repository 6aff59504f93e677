"""A BERT student rewritten as a plain TensorFlow function that LiteRT and TFLite Micro can run.

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
  into the position table (one GATHER fewer, one input fewer);
- 1/sqrt(head size) is folded into the query weights; the batch is 1 (a device answers one text).

The weights come from the PyTorch module ``edgedistil.teacher`` loaded (safetensors, checked), and
``build`` is compared with PyTorch before anything is converted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgedistil.errors import ExportError
from edgedistil.export.model import Head

GELUS = ("exact", "tanh")  # exact: LiteRT's GELU builtin; tanh: MUL/ADD/TANH, for TFLite Micro
HIDDEN_ACTS = ("gelu", "gelu_new", "gelu_pytorch_tanh")
SOFTMAX_FLOOR = 16.0  # a masked score this far below the row's lowest keeps < e^-16 = 1e-7 weight


@dataclass(frozen=True, kw_only=True)
class Weights:
    """Numpy arrays of a BERT encoder and its head, named as in the graph below."""

    arrays: dict[str, np.ndarray]
    layers: int
    heads: int
    eps: float
    head: Head
    exact_gelu: bool  # trained with erf GELU: the tanh form is then a rewrite (~1e-3 per unit)


def read_weights(model: Any, head: Head, length: int) -> Weights:
    """Arrays of a transformers BERT module, the position table cut to ``length`` rows."""
    config = model.config
    if config.model_type != "bert":
        raise ExportError(
            f'model_type "{config.model_type}": the LiteRT export writes the BERT graph only; '
            "allowed: bert (use `edgedistil export` for ONNX of other families)"
        )
    if config.hidden_act not in HIDDEN_ACTS:
        raise ExportError(f'hidden_act "{config.hidden_act}": allowed {", ".join(HIDDEN_ACTS)}')
    if head.pooling not in (None, "mean", "cls"):
        raise ExportError(f'pooling "{head.pooling}": the LiteRT graph pools mean or cls only')
    sd = {k: v.detach().float().numpy() for k, v in model.base_model.state_dict().items()}
    a: dict[str, np.ndarray] = {
        "word": sd["embeddings.word_embeddings.weight"],
        "position": sd["embeddings.position_embeddings.weight"][:length]
        + sd["embeddings.token_type_embeddings.weight"][0],
        "ln_g": sd["embeddings.LayerNorm.weight"],
        "ln_b": sd["embeddings.LayerNorm.bias"],
    }
    scale = 1.0 / math.sqrt(config.hidden_size // config.num_attention_heads)
    for i in range(config.num_hidden_layers):
        p = f"encoder.layer.{i}."
        for short, name, factor in (
            ("q", "attention.self.query", scale),
            ("k", "attention.self.key", 1.0),
            ("v", "attention.self.value", 1.0),
            ("o", "attention.output.dense", 1.0),
            ("up", "intermediate.dense", 1.0),
            ("down", "output.dense", 1.0),
        ):
            a[f"{i}.{short}.w"] = np.ascontiguousarray(sd[p + name + ".weight"].T) * factor
            a[f"{i}.{short}.b"] = sd[p + name + ".bias"] * factor
        for short, name in (("ln1", "attention.output.LayerNorm"), ("ln2", "output.LayerNorm")):
            a[f"{i}.{short}_g"] = sd[p + name + ".weight"]
            a[f"{i}.{short}_b"] = sd[p + name + ".bias"]
    if head.task == "classification":
        full = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
        pooler = {k: v for k, v in sd.items() if k.startswith("pooler.")}
        if pooler:
            a["pool.w"] = np.ascontiguousarray(pooler["pooler.dense.weight"].T)
            a["pool.b"] = pooler["pooler.dense.bias"]
        a["cls.w"] = np.ascontiguousarray(full["classifier.weight"].T)
        a["cls.b"] = full["classifier.bias"]
    return Weights(
        arrays=a,
        layers=config.num_hidden_layers,
        heads=config.num_attention_heads,
        eps=float(config.layer_norm_eps),
        head=head,
        exact_gelu=config.hidden_act == "gelu",
    )


def build(
    weights: Weights,
    *,
    length: int,
    gelu: str,
    mask_bias: float,
    probe: bool = False,
) -> Any:
    """A concrete ``tf.function``: int32 ``input_ids``, ``attention_mask`` [1, length] -> output."""
    import tensorflow as tf  # type: ignore[import-untyped]

    if gelu not in GELUS:
        raise ExportError(f'gelu "{gelu}": allowed {", ".join(GELUS)}')
    c = {k: tf.constant(v.astype(np.float32)) for k, v in weights.arrays.items()}
    bias_table = tf.constant([-mask_bias, 0.0], tf.float32)  # row 0 masked, row 1 attended
    keep_table = tf.constant([[0.0], [1.0]], tf.float32)
    spec = [
        tf.TensorSpec([1, length], tf.int32, name="input_ids"),
        tf.TensorSpec([1, length], tf.int32, name="attention_mask"),
    ]
    output = weights.head.output

    def norm(x: Any, g: str, b: str) -> Any:
        centred = x - tf.reduce_mean(x, axis=-1, keepdims=True)
        var = tf.reduce_mean(centred * centred, axis=-1, keepdims=True)
        return centred * tf.math.rsqrt(var + weights.eps) * c[g] + c[b]

    def act(x: Any) -> Any:
        if gelu == "exact":
            return tf.nn.gelu(x, approximate=False)
        inner = x * (0.7978845608 + 0.0356774081 * x * x)  # sqrt(2/pi) * (x + 0.044715 x^3)
        return 0.5 * x * (1.0 + tf.math.tanh(inner))

    scores: list[Any] = []  # probe: each layer's q.k^T, returned as extra outputs

    def attention(x: Any, i: int, bias: Any) -> Any:
        heads = weights.heads
        size = x.shape[-1] // heads

        def split(t: Any) -> Any:
            return tf.transpose(tf.reshape(t, [length, heads, size]), [1, 0, 2])

        q = split(tf.matmul(x, c[f"{i}.q.w"]) + c[f"{i}.q.b"])
        kt = tf.transpose(
            tf.reshape(tf.matmul(x, c[f"{i}.k.w"]) + c[f"{i}.k.b"], [length, heads, size]),
            [1, 2, 0],
        )
        v = split(tf.matmul(x, c[f"{i}.v.w"]) + c[f"{i}.v.b"])
        raw = tf.matmul(q, kt)
        scores.append(raw)
        probs = tf.nn.softmax(raw + bias, axis=-1)
        context = tf.reshape(tf.transpose(tf.matmul(probs, v), [1, 0, 2]), [length, heads * size])
        return tf.matmul(context, c[f"{i}.o.w"]) + c[f"{i}.o.b"]

    @tf.function(input_signature=spec)  # type: ignore[untyped-decorator]
    def encode(input_ids: Any, attention_mask: Any) -> Any:
        ids, mask = input_ids[0], attention_mask[0]
        x = norm(tf.gather(c["word"], ids) + c["position"], "ln_g", "ln_b")
        bias = tf.reshape(tf.gather(bias_table, mask), [1, 1, length])
        for i in range(weights.layers):
            x = norm(x + attention(x, i, bias), f"{i}.ln1_g", f"{i}.ln1_b")
            up = act(tf.matmul(x, c[f"{i}.up.w"]) + c[f"{i}.up.b"])
            x = norm(x + tf.matmul(up, c[f"{i}.down.w"]) + c[f"{i}.down.b"], *_ln2(i))
        result = {output: _head(x, mask, c, weights.head, keep_table)}
        if probe:
            result |= {f"scores{i}": s for i, s in enumerate(scores)}
        return result

    return encode.get_concrete_function()


def _ln2(i: int) -> tuple[str, str]:
    return f"{i}.ln2_g", f"{i}.ln2_b"


def _head(x: Any, mask: Any, c: dict[str, Any], head: Head, keep: Any) -> Any:
    import tensorflow as tf

    if head.task == "classification":
        cls = x[0:1]
        if "pool.w" in c:
            cls = tf.math.tanh(tf.matmul(cls, c["pool.w"]) + c["pool.b"])
        return tf.matmul(cls, c["cls.w"]) + c["cls.b"]
    if head.pooling == "cls":
        pooled = x[0:1]
    else:
        weights = tf.gather(keep, mask)  # [L, 1]: 1.0 where attended
        pooled = tf.reduce_sum(x * weights, axis=0, keepdims=True)
        if not head.normalize:
            # the mean without DIV (which crashed int8) or an int32 SUM (TFLite Micro has none):
            # 1/count as rsqrt(count) squared, the count summed from the float weights
            inverse = tf.math.rsqrt(tf.maximum(tf.reduce_sum(weights, axis=0, keepdims=True), 1.0))
            pooled = pooled * (inverse * inverse)
    if head.normalize:
        squared = tf.reduce_sum(pooled * pooled, axis=-1, keepdims=True)
        pooled = pooled * tf.math.rsqrt(tf.maximum(squared, 1e-12))
    return pooled


def score_span(weights: Weights, batches: list[dict[str, np.ndarray]], length: int) -> float:
    """The additive mask size for this model: its widest attention-score row seen on the text,
    plus ``SOFTMAX_FLOOR``. Large enough that a masked key keeps a weight below 1e-7, and no
    larger, so int8 keeps the resolution of the real scores (-10000 would take all 256 levels)."""
    probe = build(weights, length=length, gelu="exact", mask_bias=0.0, probe=True)
    widest = 0.0
    for batch in batches:
        for row in range(len(batch["input_ids"])):
            out = probe(
                input_ids=batch["input_ids"][row : row + 1],
                attention_mask=batch["attention_mask"][row : row + 1],
            )
            for name, value in out.items():
                if name.startswith("scores"):
                    v = value.numpy()
                    widest = max(widest, float(np.max(v.max(-1) - v.min(-1))))
    return widest + SOFTMAX_FLOOR
