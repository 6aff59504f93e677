"""Model families: what each stage needs to know about one ``model_type`` of teacher.

One registered ``Family`` per transformers ``model_type``: the config keys of its sizes, where
its positions start, whether ``distill --hidden`` can narrow it, and where its state dict keeps
each tensor of the encoder and of its heads (``Layout``, ``ClassifierHead``, ``token_head``),
which is all the LiteRT / TFLite Micro graph needs to write it (``export.tf_weights``) and
``distill.width`` to narrow it. ``plan``, ``distill.student``, ``distill.width``,
``export.model`` and ``export.tf_weights`` read these entries instead of comparing model types.
A new family of BERT's post-norm shape is one ``register_family`` call here; another shape
(ELECTRA's embedding projection, a pre-norm encoder) needs code in ``export.tf_weights``,
``export.tf_bert`` and ``distill.width``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgedistil._registry import Registry

# The encoder's pieces that ``export.tf_weights`` reads, by their short names in the graph.
LINEARS = ("q", "k", "v", "o", "up", "down")
NORMS = ("ln1", "ln2")


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Where the base model's state dict keeps each tensor of the encoder.

    Every family here is BERT's post-norm encoder under its own names; ``layer`` is the prefix
    of layer ``{i}``, ``linears`` and ``norms`` the modules under it (``.weight``/``.bias``)."""

    word: str = "embeddings.word_embeddings.weight"
    position: str = "embeddings.position_embeddings.weight"
    segment: str | None = "embeddings.token_type_embeddings.weight"  # None: no segment table
    embed_norm: str = "embeddings.LayerNorm"
    layer: str = "encoder.layer.{i}."
    linears: Mapping[str, str] = field(
        default_factory=lambda: {
            "q": "attention.self.query",
            "k": "attention.self.key",
            "v": "attention.self.value",
            "o": "attention.output.dense",
            "up": "intermediate.dense",
            "down": "output.dense",
        }
    )
    norms: Mapping[str, str] = field(
        default_factory=lambda: {"ln1": "attention.output.LayerNorm", "ln2": "output.LayerNorm"}
    )
    activation_key: str = "hidden_act"  # config attribute naming the feed-forward activation
    eps_key: str | None = "layer_norm_eps"  # None: the family's LayerNorm eps is fixed
    eps: float = 1e-12  # the eps when the config names none


@dataclass(frozen=True, kw_only=True)
class ClassifierHead:
    """A sequence classifier's head on the first token, as names in the whole model's state
    dict (``{base}`` is the model's ``base_model_prefix``): ``out(activation(pool(x)))``, or
    ``out(x)`` when the checkpoint has no ``pool`` tensors (a BERT built without its pooler)."""

    pool: str | None
    activation: str  # "tanh" (BERT's pooler, RoBERTa's head) or "relu" (DistilBERT)
    out: str


@dataclass(frozen=True, kw_only=True)
class Family:
    model_type: str
    # config.json keys of the sizes a plan reads (DistilBERT names them its own way)
    layers_key: str = "num_hidden_layers"
    hidden_key: str = "hidden_size"
    intermediate_key: str = "intermediate_size"
    heads_key: str = "num_attention_heads"
    offset_positions: bool = False  # positions numbered from padding_idx + 1 (RoBERTa)
    narrowable: bool = False  # distill.width can narrow its hidden size (by ``layout``)
    layout: Layout = field(default_factory=Layout)
    classifier: ClassifierHead = ClassifierHead(
        pool="{base}.pooler.dense", activation="tanh", out="classifier"
    )
    token_head: str = "classifier"  # a token classifier's Linear on every token (all of HF's)
    litert: bool = True  # export.tf_weights reads it by ``layout`` for the LiteRT graph

    @property
    def token_types(self) -> bool:
        """Whether it has a token-type (segment) embedding table."""
        return self.layout.segment is not None

    def attention_projections(self, layer: int) -> tuple[str, str, str]:
        """The query, key and value Linear modules of encoder layer ``layer``, as names under
        the base model (what ``distill.relations`` hooks to read each layer's Q, K and V)."""
        prefix = self.layout.layer.format(i=layer)
        q, k, v = (prefix + self.layout.linears[name] for name in ("q", "k", "v"))
        return q, k, v

    def position_offset(self, config: Mapping[str, Any]) -> int:
        """Rows of the position table before the first position."""
        pad = config.get("pad_token_id")
        return (1 if pad is None else int(pad)) + 1 if self.offset_positions else 0


_FAMILIES: Registry[Family] = Registry("model family")


def register_family(family: Family) -> Family:
    return _FAMILIES.add(family.model_type, family)


def unregister_family(model_type: str) -> None:
    _FAMILIES.remove(model_type)


def family_of(model_type: object) -> Family | None:
    """The family of ``model_type``, or None; each stage says in its own words what it handles."""
    return (
        _FAMILIES.get(model_type)
        if isinstance(model_type, str) and model_type in _FAMILIES
        else None
    )


def require_family(config: Mapping[str, Any], source: object, error: type[Exception]) -> Family:
    """The family of a ``config.json``, or ``error`` naming the file, its model type and the
    supported ones: what plan, distill and export each refuse in the same words."""
    model_type = config.get("model_type")
    family = family_of(model_type)
    if family is None:
        raise error(
            f"{source}: model_type {model_type!r} is not a BERT-family encoder edgedistil "
            f"handles; supported: {', '.join(family_names())}"
        )
    return family


def size_of(config: Mapping[str, Any], which: str) -> int:
    """A size from config.json under its family's key (``which``: layers, hidden, heads or
    intermediate; BERT's keys for a model type no family describes), 0 when absent."""
    family = family_of(config.get("model_type")) or Family(model_type="")
    return int(config.get(getattr(family, f"{which}_key"), 0))


def family_names() -> tuple[str, ...]:
    return _FAMILIES.names()


def narrowable_names() -> tuple[str, ...]:
    return tuple(f.model_type for f in _FAMILIES.entries() if f.narrowable)


def litert_names() -> tuple[str, ...]:
    return tuple(f.model_type for f in _FAMILIES.entries() if f.litert)


def uses_token_types(config: Mapping[str, Any], tokenizer: Any) -> bool:
    """A segment input only where the model has segments and its tokenizer produces them: what
    distillation feeds, what the graph takes, and what tells the two texts of a pair apart."""
    return int(config.get("type_vocab_size", 0)) > 1 and "token_type_ids" in getattr(
        tokenizer, "model_input_names", ()
    )


# RoBERTa's sequence classifier: a tanh dense layer and an output projection on <s>
_ROBERTA_HEAD = ClassifierHead(
    pool="classifier.dense", activation="tanh", out="classifier.out_proj"
)

register_family(Family(model_type="bert", narrowable=True))
register_family(
    Family(
        model_type="distilbert",
        layers_key="n_layers",
        hidden_key="dim",
        intermediate_key="hidden_dim",
        heads_key="n_heads",
        narrowable=True,
        layout=Layout(
            segment=None,
            layer="transformer.layer.{i}.",
            linears={
                "q": "attention.q_lin",
                "k": "attention.k_lin",
                "v": "attention.v_lin",
                "o": "attention.out_lin",
                "up": "ffn.lin1",
                "down": "ffn.lin2",
            },
            norms={"ln1": "sa_layer_norm", "ln2": "output_layer_norm"},
            activation_key="activation",
            eps_key=None,  # DistilBERT's LayerNorms are built with eps=1e-12
        ),
        classifier=ClassifierHead(pool="pre_classifier", activation="relu", out="classifier"),
    )
)
register_family(
    Family(model_type="roberta", offset_positions=True, narrowable=True, classifier=_ROBERTA_HEAD)
)
register_family(
    Family(
        model_type="xlm-roberta", offset_positions=True, narrowable=True, classifier=_ROBERTA_HEAD
    )
)
