"""Vocabulary pruning: keep the tokens the text uses, drop the embedding rows nobody reads.

A MiniLM student spends 11.7M of its 17M parameters on 30,522 embedding rows; a watch or a
microcontroller cannot carry them. Pruning keeps the special tokens and the tokens that occur in
the given text (most frequent first, up to a size), slices the embedding table to those rows,
and writes the same tokenizer over the kept tokens. Because WordPiece matches the longest
piece first and every piece it used on the text survives, the pruned tokenizer gives the same
tokens on that text; ids differ only by the remapping. A byte-level BPE (RoBERTa) keeps, with
each token, the tokens its merges are made of (``_rebuild_bpe`` argues why the text's tokens
stay the same), and a unigram model (XLM-R) keeps its pieces' scores (``_rebuild_unigram``).

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


# the special tokens a transformers tokenizer names, carried over to the pruned one
SPECIAL_NAMES = (
    *("unk_token", "sep_token", "pad_token", "cls_token", "mask_token"),
    *("bos_token", "eos_token"),  # RoBERTa's and XLM-R's <s> and </s>
)


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
    """Special tokens, the single-character pieces, then the text's tokens by frequency (each
    with the tokens its BPE merges need), ``size`` in all at most."""
    from edgedistil.tokens import single_pieces

    backend = tokenizer.backend_tokenizer
    spec: dict[str, Any] = json.loads(backend.to_str())
    _check_prunable(spec["model"])
    counts: Counter[int] = Counter()
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        counts.update(ids)
    # the added tokens too, special or not: they stand outside the model's vocabulary (a token
    # added after training has an id past it) and are matched before the model runs
    special = sorted(set(tokenizer.all_special_ids) | set(backend.get_added_tokens_decoder()))
    vocab = backend.get_vocab()
    pieces = [vocab[t] for t in single_pieces(backend) if vocab[t] not in special]
    floor = len(special) + len(pieces)
    if size is not None and size < floor:
        raise DistillError(
            f"--vocab-size {size}: below the {floor:,} tokens every pruned vocabulary keeps: "
            f"{len(special)} special ({', '.join(tokenizer.convert_ids_to_tokens(special))}) and "
            f"{len(pieces):,} single-character pieces, so that no word of the teacher's "
            f"alphabet becomes [UNK]; use --vocab-size {floor:,} or more"
        )
    parts = _merge_parts(spec["model"], vocab)
    keep = set(special) | set(pieces)
    for token, _ in counts.most_common():
        needed = _closure(token, parts) - keep
        if size is None or len(keep) + len(needed) <= size:
            keep |= needed
    kept = sorted(keep)  # old order kept: [PAD]=0, [UNK]=... stay where BERT code expects them
    return Pruning(
        kept=kept,
        old_to_new={old: new for new, old in enumerate(kept)},
        tokens_seen=len(counts),
        pieces=len(pieces),
    )


def _check_prunable(model: dict[str, Any]) -> None:
    """Only a model whose pruned form gives the same tokens on the pruning text (the module's
    docstring argues each) is pruned; any other is one line, not a tokenizer that drifts."""
    kind = model.get("type")
    why = None
    if kind not in _REBUILD:
        why = "its model cannot be pruned exactly"
    elif kind == "BPE" and model.get("dropout"):  # a random split: no pruning keeps it
        why = f"its BPE has dropout {model['dropout']}"
    if why is not None:
        raise DistillError(
            f"vocabulary pruning: the teacher's tokenizer is {kind} and {why}; pruning supports "
            f"{', '.join(_REBUILD)} (BERT's WordPiece, RoBERTa's byte-level BPE, XLM-R's "
            "unigram); keep its whole vocabulary (no --vocab-size or --prune-vocab)"
        )


def _merge_parts(model: dict[str, Any], vocab: dict[str, int]) -> dict[int, set[int]]:
    """Token id -> the ids of the parts of every BPE merge that makes it (none for WordPiece
    and unigram: a token there needs no other)."""
    from edgedistil.tokens import bpe_merges

    if model.get("type") != "BPE":
        return {}
    parts: dict[int, set[int]] = {}
    for left, right, result in bpe_merges(model):
        if result in vocab and left in vocab and right in vocab:
            parts.setdefault(vocab[result], set()).update((vocab[left], vocab[right]))
    return parts


def _closure(token: int, parts: dict[int, set[int]]) -> set[int]:
    """``token`` and, recursively, the parts of every merge that makes it."""
    found, todo = {token}, [token]
    while todo:
        for part in parts.get(todo.pop(), ()):
            if part not in found:
                found.add(part)
                todo.append(part)
    return found


def prune_embeddings(model: Any, pruning: Pruning) -> None:
    """Slice the word-embedding table to the kept rows and fix the config to match."""
    import torch

    embeddings = model.get_input_embeddings()
    _check_positions_keep(model, pruning)
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


def _check_positions_keep(model: Any, pruning: Pruning) -> None:
    """RoBERTa and XLM-R count positions from the pad id (``embeddings.padding_idx``): a pad
    token renumbered would shift every position row. Kept ids stay in old order and the tokens
    before <pad> are special, so it keeps its id; a tokenizer where it would not is refused."""
    base = getattr(model, "base_model", model)
    counted = getattr(getattr(base, "embeddings", None), "padding_idx", None)
    if counted is not None and _remap(counted, pruning) != counted:
        raise DistillError(
            f"vocabulary pruning: the model counts positions from the pad id {counted}, which "
            f"pruning would renumber {_remap(counted, pruning)}; keep the whole vocabulary"
        )


def _remap(old: int | None, pruning: Pruning) -> int | None:
    return None if old is None else pruning.old_to_new.get(old, 0)


def prune_tokenizer(
    tokenizer: PreTrainedTokenizerFast, pruning: Pruning
) -> PreTrainedTokenizerFast:
    """The same tokenizer (normaliser, pre-tokeniser, post-processor, decoder) over the kept
    tokens only, every id it carries remapped."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec: dict[str, Any] = json.loads(tokenizer.backend_tokenizer.to_str())
    _check_prunable(spec["model"])
    _REBUILD[spec["model"]["type"]](spec["model"], pruning)
    for added in spec.get("added_tokens", []):
        added["id"] = pruning.old_to_new[added["id"]]
    if spec.get("post_processor"):
        _remap_processor(spec["post_processor"], pruning.old_to_new)
    backend = Tokenizer.from_str(json.dumps(spec))
    kwargs = {k: v for k in SPECIAL_NAMES if (v := getattr(tokenizer, k, None)) is not None}
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend, model_max_length=tokenizer.model_max_length, **kwargs
    )


def _kept_tokens(pruning: Pruning, vocab: dict[str, int]) -> list[str]:
    """The kept tokens of the model's own vocabulary, in new-id order. A token added after
    training has an id past the model's, so the model's kept tokens take new ids 0, 1, ... and
    the added ones follow them, as ``old_to_new`` numbers them."""
    by_id = {i: token for token, i in vocab.items()}
    kept = [by_id[old] for old in pruning.kept if old in by_id]
    if any(old not in by_id for old in pruning.kept[: len(kept)]):
        raise DistillError(
            "vocabulary pruning: the teacher's tokenizer.json gives an added token an id among "
            "its model's own; pruning keeps ids only of tokenizers whose added tokens follow them"
        )
    return kept


def _rebuild_wordpiece(model: dict[str, Any], pruning: Pruning) -> None:
    """WordPiece matches the longest piece first: every piece it used on the text survives, so
    the text gives the same pieces (the module's docstring)."""
    kept = _kept_tokens(pruning, model["vocab"])
    model["vocab"] = {token: new for new, token in enumerate(kept)}


def _rebuild_bpe(model: dict[str, Any], pruning: Pruning) -> None:
    """The kept tokens, and the merges whose two parts and result are all kept, in their
    original order.

    Why the pruning text's tokens are unchanged: BPE starts a word from its alphabet symbols
    (all kept) and applies, again and again, the lowest-ranked merge among the adjacent pairs.
    Each token of the text is kept, and so are the parts of every merge that makes a kept token
    (``_closure``); going back from the final tokens, every token that existed while the word
    was merged is kept, so every merge applied on the text has its parts and result kept, and
    survives. The kept merges keep their relative order, so at each step the pair the original
    chose is still present and still ranked lowest (a pair ranked lower in the pruned list was
    ranked lower in the original too, which would have chosen it). When the original stops,
    no original merge applies, so no kept one does: the same merges, the same tokens. On other
    text a merge whose result was dropped is not made, and the word stays in smaller kept
    tokens, down to the byte symbols: nothing becomes unknown."""
    from edgedistil.tokens import bpe_merges

    kept = _kept_tokens(pruning, model["vocab"])
    new_vocab = {token: new for new, token in enumerate(kept)}
    pairs = model["merges"] and isinstance(model["merges"][0], list)  # the file's own form
    model["merges"] = [
        [left, right] if pairs else f"{left} {right}"
        for left, right, result in bpe_merges(model)
        if left in new_vocab and right in new_vocab and result in new_vocab
    ]
    model["vocab"] = new_vocab


def _rebuild_unigram(model: dict[str, Any], pruning: Pruning) -> None:
    """The kept pieces with their original scores. Unigram takes the segmentation of highest
    total score (Viterbi over the lattice of pieces); the text's pieces are kept, so its best
    segmentation is still in the pruned lattice, and no path the pruning removed could beat
    it: the same pieces. Other text falls back to the kept pieces, down to single characters."""
    pieces = model["vocab"]
    model["vocab"] = [pieces[old] for old in pruning.kept if old < len(pieces)]
    if model.get("unk_id") is not None:
        model["unk_id"] = pruning.old_to_new[model["unk_id"]]


# tokenizer model -> how its pruned form is written (``_check_prunable`` refuses any other)
_REBUILD = {"WordPiece": _rebuild_wordpiece, "BPE": _rebuild_bpe, "Unigram": _rebuild_unigram}


def _remap_processor(processor: dict[str, Any], old_to_new: dict[int, int]) -> None:
    """The special-token ids a post-processor adds ([CLS]/<s>, [SEP]/</s>), in the pruned ids:
    BERT's and RoBERTa's processors hold (token, id) pairs, a template holds id lists, and a
    sequence of processors holds processors."""
    for key in ("cls", "sep"):
        if isinstance(processor.get(key), list):
            processor[key][1] = old_to_new[processor[key][1]]
    for token in (processor.get("special_tokens") or {}).values():
        token["ids"] = [old_to_new[i] for i in token["ids"]]
    for inner in processor.get("processors") or []:
        _remap_processor(inner, old_to_new)
