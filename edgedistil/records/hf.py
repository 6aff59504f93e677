"""The files of a Hugging Face / sentence-transformers model folder that edgedistil reads.

Other tools write them, so every model is ``Foreign``: the keys edgedistil uses are typed
strictly (``"num_hidden_layers": "6"`` is refused, not coerced), every other key is kept and
ignored. A key edgedistil reads may be absent where transformers has a default for it; when it
is there it must be what transformers would build from. Sizes are positive integers: a
``vocab_size`` of -1 or a ``hidden_size`` of 0 is refused here rather than inside torch.

    HFConfig     config.json                 (teacher.read_config, plan.read_shape, families,
                                              export.model, distill)
    Modules      modules.json                (a list of sentence-transformers modules)
    Pooling      1_Pooling/config.json       (the pooling mode)
    DenseConfig  2_Dense/config.json         (a Dense module's sizes and activation)
    StudentNote  edgedistil.json, the keys read back from a student (its teacher, its width)
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated

from pydantic import Field, RootModel, ValidationInfo, field_validator

from edgedistil.records._base import Foreign

Size = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]  # a size that may be 0 (no token types)
Eps = Annotated[float, Field(gt=0)]
# Keys whose absence means transformers' default but whose null would reach int() or torch.
NOT_NULL = (
    "model_type",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
    "num_labels",
    "hidden_act",
    "layer_norm_eps",
    "dim",
    "n_layers",
    "n_heads",
    "hidden_dim",
)


def _refuse_null(cls: type, value: object) -> object:
    # absent takes transformers' default; null is a value, and not one of this key's type
    if value is None:
        raise ValueError("expected a value, not null")
    return value


class HFConfig(Foreign):
    """``config.json``: the keys edgedistil reads (BERT names, and DistilBERT's own)."""

    model_type: str | None = None
    architectures: list[str] | None = None
    vocab_size: Size | None = None
    hidden_size: Size | None = None
    num_hidden_layers: Size | None = None
    num_attention_heads: Size | None = None
    intermediate_size: Size | None = None
    max_position_embeddings: Size | None = None
    type_vocab_size: Count | None = None
    pad_token_id: Count | None = None
    num_labels: Size | None = None
    id2label: dict[str, str] | None = None
    label2id: dict[str, Count] | None = None
    hidden_act: str | None = None
    layer_norm_eps: Eps | None = None
    # DistilBERT's names for the same sizes
    dim: Size | None = None
    n_layers: Size | None = None
    n_heads: Size | None = None
    hidden_dim: Size | None = None

    _not_null = field_validator(*NOT_NULL, mode="before")(_refuse_null)

    @field_validator("id2label")
    @classmethod
    def _ids(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        # transformers turns each key into int(key); a key that is not one fails there
        for key in value or {}:
            if not key.strip().lstrip("-").isdigit() or int(key) < 0:
                raise ValueError(f"key {key!r} is not a class id (0, 1, ...)")
        return value

    # Checks across keys sit on the later key (fields validate in order), so the one line names
    # a field rather than the whole file.
    @field_validator("num_attention_heads", "n_heads")
    @classmethod
    def _divides(cls, heads: int | None, info: ValidationInfo) -> int | None:
        hidden = info.data.get("hidden_size" if info.field_name == "num_attention_heads" else "dim")
        if heads and hidden and hidden % heads:
            raise ValueError(f"the hidden size {hidden} is not a multiple of {heads} heads")
        return heads

    @field_validator("pad_token_id")
    @classmethod
    def _a_row(cls, pad: int | None, info: ValidationInfo) -> int | None:
        rows = info.data.get("vocab_size")
        if pad is not None and rows and pad >= rows:
            raise ValueError(f"not a row of the vocabulary (vocab_size {rows})")
        return pad


class Module(Foreign):
    """One entry of ``modules.json``: a sentence-transformers module and its subfolder."""

    type: str
    path: str = ""

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        # the folder of a module is read as model_dir / path: it stays inside the model folder
        parts = PurePosixPath(value.replace("\\", "/")).parts
        if value.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise ValueError("expected a folder inside the model folder")
        return value


class Modules(RootModel[list[Module]]):
    """``modules.json``: the sentence-transformers pipeline, in order."""

    model_config = {"strict": True}


class Pooling(Foreign):
    """``1_Pooling/config.json``: which pooling the embedding uses."""

    pooling_mode_cls_token: bool = False
    pooling_mode_mean_tokens: bool = False
    pooling_mode_max_tokens: bool = False
    word_embedding_dimension: Size | None = None

    _not_null = field_validator("word_embedding_dimension", mode="before")(_refuse_null)

    def modes(self) -> list[str]:
        """The pooling modes edgedistil reads that are switched on."""
        keys = ("pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens")
        return [key for key in keys if getattr(self, key)]


class DenseConfig(Foreign):
    """``2_Dense/config.json``: a Dense module's sizes, bias and activation."""

    in_features: Size
    out_features: Size
    bias: bool = True
    activation_function: str = "torch.nn.modules.linear.Identity"


class StudentSettings(Foreign):
    hidden_dims: list[Count] | None = None
    pairs: bool = False  # trained on text pairs: every later stage feeds it pairs


class StudentNote(Foreign):
    """The keys of a student's ``edgedistil.json`` that are read back: the teacher it was
    distilled from, whether ``--hidden`` narrowed it, and whether it takes text pairs."""

    teacher: str | None = None
    settings: StudentSettings | None = None
