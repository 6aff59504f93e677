"""Vocabulary pruning: keep the tokens the text uses, drop the embedding rows nobody reads.

A MiniLM student spends 11.7M of its 17M parameters on 30,522 embedding rows; a watch or a
microcontroller cannot carry them. Pruning keeps the special tokens and the tokens that occur in
the given text (most frequent first, up to a size), slices the embedding table to those rows,
and writes a WordPiece tokenizer over the kept tokens. Because WordPiece matches the longest
piece first and every piece it used on the text survives, the pruned tokenizer gives the same
tokens on that text; ids differ only by the remapping.

Every pruned vocabulary also keeps the teacher's single-character pieces (``tokens.single_pieces``,
1,658 for all-MiniLM-L6-v2), so a word the text never showed splits into the longest pieces that
survived, down to single characters, instead of becoming [UNK]: only a character the teacher
itself lacks is [UNK]. The pieces count within ``size``: the size is the embedding table's rows,
the number ``edgedistil plan`` prices, and a size below them is refused rather than grown. On
SST-2 dev sentences, a vocabulary pruned on the sample text's train part turned 9.8% of tokens
(72% of sentences) into [UNK] before the pieces, and none after (benchmarks/heldout_unk.py).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgedistil.errors import DistillError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast


@dataclass(frozen=True, kw_only=True)
class Pruning:
    """Old ids kept, in new-id order; ``old_to_new`` maps each kept old id to its new id."""

    kept: list[int]
    old_to_new: dict[int, int]
    tokens_seen: int
    pieces: int = 0  # single-character pieces kept whether the text used them or not


def choose_tokens(
    tokenizer: PreTrainedTokenizerFast, texts: list[str], size: int | None
) -> Pruning:
    """Special tokens, the single-character pieces, then the text's tokens by frequency,
    ``size`` in all at most."""
    from edgedistil.tokens import is_wordpiece, single_pieces

    backend = tokenizer.backend_tokenizer
    if not is_wordpiece(backend):
        raise DistillError(
            "vocabulary pruning needs a WordPiece tokenizer (BERT family); this "
            f"teacher's is {backend.model.__class__.__name__}"
        )
    counts: Counter[int] = Counter()
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        counts.update(ids)
    special = sorted(set(tokenizer.all_special_ids))
    vocab = backend.get_vocab()
    pieces = [vocab[t] for t in single_pieces(backend) if vocab[t] not in special]
    floor = len(special) + len(pieces)
    if size is not None and size < floor:
        raise DistillError(
            f"--vocab-size {size}: below the {floor:,} tokens every pruned vocabulary keeps: "
            f"{len(special)} special ({', '.join(tokenizer.all_special_tokens)}) and "
            f"{len(pieces):,} single-character pieces, so that no word of the teacher's "
            f"alphabet becomes [UNK]; use --vocab-size {floor:,} or more"
        )
    always = set(special) | set(pieces)
    frequent = [i for i, _ in counts.most_common() if i not in always]
    keep = special + pieces + frequent[: None if size is None else size - floor]
    kept = sorted(keep)  # old order kept: [PAD]=0, [UNK]=... stay where BERT code expects them
    return Pruning(
        kept=kept,
        old_to_new={old: new for new, old in enumerate(kept)},
        tokens_seen=len(counts),
        pieces=len(pieces),
    )


def prune_embeddings(model: Any, pruning: Pruning) -> None:
    """Slice the word-embedding table to the kept rows and fix the config to match."""
    import torch

    embeddings = model.get_input_embeddings()
    rows = torch.tensor(pruning.kept, dtype=torch.long)
    table = embeddings.weight.detach()[rows].clone()
    replacement = torch.nn.Embedding(
        len(pruning.kept), table.shape[1], padding_idx=_remap(embeddings.padding_idx, pruning)
    )
    replacement.weight = torch.nn.Parameter(table)
    model.set_input_embeddings(replacement)
    config = model.config
    config.vocab_size = len(pruning.kept)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id"):
        if getattr(config, key, None) is not None:
            setattr(config, key, _remap(getattr(config, key), pruning))


def _remap(old: int | None, pruning: Pruning) -> int | None:
    return None if old is None else pruning.old_to_new.get(old, 0)


def prune_tokenizer(
    tokenizer: PreTrainedTokenizerFast, pruning: Pruning
) -> PreTrainedTokenizerFast:
    """The same tokenizer (normaliser, pre-tokeniser, templates) over the kept tokens only."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec: dict[str, Any] = json.loads(tokenizer.backend_tokenizer.to_str())
    old_vocab: dict[str, int] = spec["model"]["vocab"]
    by_id = {i: token for token, i in old_vocab.items()}
    spec["model"]["vocab"] = {by_id[old]: new for new, old in enumerate(pruning.kept)}
    for added in spec.get("added_tokens", []):
        added["id"] = pruning.old_to_new[added["id"]]
    for token in (spec.get("post_processor") or {}).get("special_tokens", {}).values():
        token["ids"] = [pruning.old_to_new[i] for i in token["ids"]]
    backend = Tokenizer.from_str(json.dumps(spec))
    kwargs = {
        k: getattr(tokenizer, k)
        for k in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
    }
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend, model_max_length=tokenizer.model_max_length, **kwargs
    )
