"""Tiny random teachers of every supported family, saved as real Hugging Face directories.

Each is the shape of ``conftest.TINY`` (hidden 32, 2 layers, 4 heads, intermediate 37) with the
tokenizer its family ships: WordPiece over a written ``vocab.txt`` (BERT, DistilBERT), a byte-level
BPE (RoBERTa) and a unigram model (XLM-R), each trained here in milliseconds on the tests' words,
so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import TINY, WORDS, write_vocab

FAMILIES = ("bert", "distilbert", "roberta", "xlm-roberta")
# transformers' class-name prefix of each family
PREFIX = {
    "bert": "Bert",
    "distilbert": "DistilBert",
    "roberta": "Roberta",
    "xlm-roberta": "XLMRoberta",
}
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0-4, pad 1 as RoBERTa's
_PLAIN = [w for w in WORDS if not w.startswith("##")]
# what the BPE and unigram tokenizers are trained on: every word alone and in short phrases
_TRAINING = _PLAIN + [" ".join(_PLAIN[i : i + 4]) for i in range(len(_PLAIN))]


def _roberta_tokenizer(size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import RobertaTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=size,
        special_tokens=ROBERTA_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_TRAINING, trainer)
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return RobertaTokenizerFast(tokenizer_object=backend, **_special_names())


def _xlmr_tokenizer(size: int) -> Any:
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import XLMRobertaTokenizerFast

    backend = Tokenizer(models.Unigram())
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=size, special_tokens=ROBERTA_SPECIALS, unk_token="<unk>", show_progress=False
    )
    backend.train_from_iterator(_TRAINING, trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    return XLMRobertaTokenizerFast(tokenizer_object=backend, **_special_names())


def _special_names() -> dict[str, str]:
    return {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }


def _config(family: str, vocab: int, overrides: dict[str, Any]) -> Any:
    import transformers

    config_class = getattr(transformers, PREFIX[family] + "Config")
    if family == "distilbert":  # DistilBERT names its sizes its own way and has no segments
        sizes = {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37}
        return config_class(**{"vocab_size": vocab, **sizes, **overrides})
    if family == "bert":
        return config_class(**{**TINY, "vocab_size": vocab, **overrides})
    ids = {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "type_vocab_size": 1}
    return config_class(**{**TINY, "vocab_size": vocab, "max_position_embeddings": 130, **ids,
                           **overrides})  # fmt: skip


def save_tiny_family(
    directory: Path, family: str, architecture: str = "Model", **overrides: Any
) -> Path:
    """A tiny random ``family`` model of ``PREFIX[family] + architecture`` (``"Model"``,
    ``"ForSequenceClassification"``, ``"ForMaskedLM"``, ...) with its family's tokenizer."""
    import torch
    import transformers

    tokenizer = None
    if family == "roberta":
        tokenizer = _roberta_tokenizer(360)
    elif family == "xlm-roberta":
        tokenizer = _xlmr_tokenizer(120)
    vocab = 99 if tokenizer is None else len(tokenizer)
    torch.manual_seed(0)
    model = getattr(transformers, PREFIX[family] + architecture)(_config(family, vocab, overrides))
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory), safe_serialization=True)
    if tokenizer is None:
        write_vocab(directory, vocab)
    else:
        tokenizer.save_pretrained(str(directory))
    return directory
