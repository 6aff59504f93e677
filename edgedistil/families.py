"""Model families: what each stage needs to know about one ``model_type`` of teacher.

One registered ``Family`` per transformers ``model_type``: the config keys of its sizes, where
its positions start, whether it has token types, whether ``distill --hidden`` can narrow it and
whether the LiteRT / TFLite Micro graph (``export.tf_bert``) writes it. ``plan``,
``distill.student``, ``distill.width``, ``export.model`` and ``export.tf_bert`` read these
entries instead of comparing model types. A new family is one ``register_family`` call here
(plus, for narrowing or LiteRT, the code that does it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgedistil._registry import Registry


@dataclass(frozen=True, kw_only=True)
class Family:
    model_type: str
    # config.json keys of the sizes a plan reads (DistilBERT names them its own way)
    layers_key: str = "num_hidden_layers"
    hidden_key: str = "hidden_size"
    intermediate_key: str = "intermediate_size"
    heads_key: str = "num_attention_heads"
    offset_positions: bool = False  # positions numbered from padding_idx + 1 (RoBERTa)
    token_types: bool = True  # a token-type embedding table
    narrowable: bool = False  # distill.width can narrow its hidden size
    litert: bool = False  # export.tf_bert writes its LiteRT / TFLite Micro graph

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


register_family(Family(model_type="bert", narrowable=True, litert=True))
register_family(
    Family(
        model_type="distilbert",
        layers_key="n_layers",
        hidden_key="dim",
        intermediate_key="hidden_dim",
        heads_key="n_heads",
        token_types=False,
    )
)
register_family(Family(model_type="roberta", offset_positions=True, narrowable=True))
register_family(Family(model_type="xlm-roberta", offset_positions=True))
