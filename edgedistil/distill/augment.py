"""More text for the teacher to label: TinyBERT's data augmentation (Jiao et al., 2020, sec. 3.3).

Each new sentence is an original with some of its whole words swapped for words the teacher
itself finds close: with probability ``replace`` a word that is one whole-word token of the
teacher's WordPiece vocabulary becomes one of its ``candidates`` nearest neighbours. The
neighbours come from the teacher's masked-LM head where its checkpoint has one (the word masked
in its sentence, the head's top proposals: words that fit the context), else from its input
embedding table (cosine between token embeddings: words the teacher treats alike). TinyBERT used
BERT's MLM for single-piece words and GloVe for the rest; here every proposal comes from the
teacher, so nothing is downloaded and the new words are ones it has representations for.

The new sentences carry no labels: they feed the soft-target, hidden-state and attention terms
only (``train``), so the teacher, not a guessed label, says what each one means.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgedistil.data import TextInput

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

CHUNK = 1024  # words whose neighbours are ranked at once: bounds the similarity matrix's memory
MLM_BATCH = 64  # masked sentences a forward pass of the teacher's MLM head
ATTEMPTS = 4  # draws per wanted sentence before giving up on a sentence with few choices
# New sentences per training text when --augment is not given, by task, as measured by
# benchmarks/distill_recipes.py (SST-2, 2,000 labelled rows): a classifier student gains over
# hard labels alone only with it, at under 3x the wall time. Embedding students gained too
# (benchmarks/embedding_probe.py) but stay off by default until every profile's build is
# re-verified with it (the integer profiles' gates pass by a hair); token classification was
# not measured.
DEFAULT_FACTOR = {"classification": 2}


@dataclass(frozen=True, kw_only=True)
class Options:
    """TinyBERT's settings: replace 0.4 of the eligible words, from 15 candidates each."""

    factor: int  # new sentences wanted per original (fewer when a sentence allows fewer)
    replace: float = 0.4
    candidates: int = 15
    seed: int = 42


@dataclass(frozen=True, kw_only=True)
class Augmented:
    inputs: list[TextInput]  # the new sentences, in the originals' order
    source: str  # "masked-LM head" or "input embeddings": where the proposals came from
    originals: int
    eligible_words: int  # distinct words that had candidates


def check_tokenizer(tokenizer: Any, what: str) -> str | None:
    """Why augmentation cannot serve this tokenizer (None: it can). Word replacement needs
    whole words as single tokens, which WordPiece spells plainly; BPE and unigram vocabularies
    mark word starts in model-specific ways not handled here."""
    from edgedistil.tokens import model_type

    kind = model_type(tokenizer.backend_tokenizer)
    if kind == "WordPiece":
        return None
    return (
        f"{what}: augmentation replaces whole words of a WordPiece vocabulary (BERT's, "
        f"DistilBERT's); this tokenizer is {kind}"
    )


def augment(
    texts: Sequence[TextInput],
    tokenizer: Any,
    teacher: Any,
    options: Options,
    mlm: Any = None,
    keep: set[int] | None = None,
    progress: Any = None,
) -> Augmented:
    """Up to ``options.factor`` new sentences per text (a text, a pair: both sides, or a list of
    words), none equal to its original or to each other. ``teacher`` gives the input
    embeddings; ``mlm``, a masked-LM model of the same vocabulary, gives context-aware
    proposals instead when the teacher has that head (``progress``, a ``train.Progress``, counts
    its batches). ``keep``: the token ids a pruned student
    keeps; a word is only replaced by one of them, so the student can spell every new word."""
    vocab = _whole_words(tokenizer, keep)
    splitter = _splitter(tokenizer)
    found = {key for item in texts for side in sides(item) for _, key in splitter(side)}
    eligible = sorted(word for word in found if word in vocab)
    choices: dict[Any, list[str]]
    if mlm is not None:
        choices = _mlm_choices(texts, tokenizer, mlm, vocab, splitter, options, progress)
        source = "masked-LM head"
    else:
        choices = _embedding_choices(eligible, vocab, teacher, options.candidates)
        source = "input embeddings"
    rng = random.Random(options.seed)
    new: list[TextInput] = []
    for index, item in enumerate(texts):
        new.extend(_variants(item, index, choices, splitter, options, rng))
    return Augmented(inputs=new, source=source, originals=len(texts), eligible_words=len(eligible))


def _whole_words(tokenizer: Any, keep: set[int] | None) -> dict[str, int]:
    """Vocabulary entries that are whole alphabetic words (no ``##`` continuation, no special
    or ``[unused]`` token, no digit or punctuation) and kept: what a word may become."""
    specials = set(tokenizer.all_special_tokens)
    return {
        token: i
        for token, i in tokenizer.get_vocab().items()
        if token.isalpha()
        and token not in specials
        and len(token) > 1
        and (keep is None or i in keep)
    }


Splitter = Callable[[str], list[tuple[tuple[int, int], str]]]


def _splitter(tokenizer: Any) -> Splitter:
    """text -> each word's (start, end) in the text and its normalised form (what the vocabulary
    is looked up with), by the tokenizer's own pre-tokenizer, so a word is what it would see."""
    backend = tokenizer.backend_tokenizer
    normalizer, pre = backend.normalizer, backend.pre_tokenizer

    def words(text: str) -> list[tuple[tuple[int, int], str]]:
        found = pre.pre_tokenize_str(text) if pre is not None else [(text, (0, len(text)))]
        out = []
        for word, span in found:
            key = normalizer.normalize_str(word) if normalizer is not None else word
            out.append((span, key))
        return out

    return words


def sides(item: TextInput) -> list[str]:
    """The texts of one input: a text, both texts of a pair, or each word of a word list."""
    if isinstance(item, str):
        return [item]
    return list(item)


def _embedding_choices(
    words: list[str], vocab: dict[str, int], teacher: Any, k: int
) -> dict[str, list[str]]:
    """Each word's ``k`` nearest whole words by cosine of the teacher's input embeddings."""
    import torch

    table = teacher.get_input_embeddings().weight.detach().float()
    pool = sorted(vocab, key=vocab.__getitem__)
    pool_ids = torch.tensor([vocab[w] for w in pool])
    normed = torch.nn.functional.normalize(table[pool_ids], dim=-1)
    choices: dict[str, list[str]] = {}
    for start in range(0, len(words), CHUNK):
        chunk = words[start : start + CHUNK]
        rows = torch.nn.functional.normalize(table[[vocab[w] for w in chunk]], dim=-1)
        sims = rows @ normed.T
        best = sims.topk(min(k + 1, len(pool)), dim=-1).indices.tolist()
        for word, ranked in zip(chunk, best, strict=True):
            choices[word] = [pool[j] for j in ranked if pool[j] != word][:k]
    return choices


def _mlm_choices(
    texts: Sequence[TextInput],
    tokenizer: Any,
    mlm: Any,
    vocab: dict[str, int],
    splitter: Splitter,
    options: Options,
    progress: Any,
) -> dict[tuple[int, int, int], list[str]]:
    """Per word occurrence (text, side, word), the MLM head's top whole words for it, masked in
    its own sentence: a proposal that fits the context, as TinyBERT's BERT-MLM ones do."""
    masked, where = [], []
    for index, item in enumerate(texts):
        for side, text in enumerate(sides(item)):
            for n, (span, key) in enumerate(splitter(text)):
                if key in vocab:
                    masked.append(text[: span[0]] + tokenizer.mask_token + text[span[1] :])
                    where.append((index, side, n, key))
    allowed = _vocab_mask(vocab, mlm)
    if progress is not None:  # a forward pass of the teacher a batch: minutes on a CPU
        progress.phase("augmenting: masked-LM proposals", -(-len(masked) // MLM_BATCH))
    choices: dict[tuple[int, int, int], list[str]] = {}
    names = {i: w for w, i in vocab.items()}
    for start in range(0, len(masked), MLM_BATCH):
        ranked = _mlm_top(masked[start : start + MLM_BATCH], tokenizer, mlm, allowed, options)
        for (index, side, n, key), ids in zip(
            where[start : start + MLM_BATCH], ranked, strict=True
        ):
            choices[(index, side, n)] = [names[i] for i in ids if names[i] != key][
                : options.candidates
            ]
        if progress is not None:
            progress.advance(0.0, len(ranked))
    return choices


def _vocab_mask(vocab: dict[str, int], mlm: Any) -> torch.Tensor:
    import torch

    size = mlm.get_output_embeddings().weight.shape[0]
    allowed = torch.zeros(size, dtype=torch.bool)
    allowed[list(vocab.values())] = True
    return allowed


def _mlm_top(
    masked: list[str], tokenizer: Any, mlm: Any, allowed: torch.Tensor, options: Options
) -> list[list[int]]:
    import torch

    batch = tokenizer(masked, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        logits = mlm(**batch).logits
    at = batch["input_ids"] == tokenizer.mask_token_id
    rows: list[list[int]] = []
    for row in range(len(masked)):
        positions = at[row].nonzero()
        if len(positions) == 0:  # the mask fell beyond the truncation: no proposal
            rows.append([])
            continue
        scores = logits[row, positions[0, 0]].masked_fill(~allowed, float("-inf"))
        rows.append(scores.topk(options.candidates + 1).indices.tolist())
    return rows


def _variants(
    item: TextInput,
    index: int,
    choices: dict[Any, list[str]],
    splitter: Splitter,
    options: Options,
    rng: random.Random,
) -> list[TextInput]:
    """Up to ``factor`` distinct new versions of ``item``; a word keeps its place and spacing."""
    texts = sides(item)
    split = [splitter(text) for text in texts]
    seen = {tuple(texts)}
    out: list[TextInput] = []
    for _ in range(options.factor * ATTEMPTS):
        new = tuple(
            _replaced(text, words, index, s, choices, options.replace, rng)
            for s, (text, words) in enumerate(zip(texts, split, strict=True))
        )
        if new in seen:
            continue
        seen.add(new)
        out.append(_as_input(item, new))
        if len(out) == options.factor:
            break
    return out


def _replaced(
    text: str,
    words: list[tuple[tuple[int, int], str]],
    index: int,
    side: int,
    choices: dict[Any, list[str]],
    replace: float,
    rng: random.Random,
) -> str:
    parts, last = [], 0
    for n, (span, key) in enumerate(words):
        options = choices.get((index, side, n)) or choices.get(key)
        if options and rng.random() < replace:
            parts.append(text[last : span[0]])
            parts.append(rng.choice(options))
            last = span[1]
    parts.append(text[last:])
    return "".join(parts)


def _as_input(item: TextInput, sides: Iterable[str]) -> TextInput:
    new = list(sides)
    if isinstance(item, str):
        return new[0]
    if isinstance(item, tuple):
        return (new[0], new[1])
    return new


MLM_ARCHITECTURES = ("ForMaskedLM", "ForPreTraining")  # checkpoints that carry an MLM head


def load_mlm(path: Any, config: dict[str, Any]) -> Any:
    """The teacher checkpoint as a masked-LM model when it was saved with that head (its
    ``architectures`` say so), else None: the embedding table serves instead. Weights go
    through ``teacher.load_state_dict`` (safetensors, or a pickle read with weights_only)."""
    from transformers import AutoConfig, AutoModelForMaskedLM

    from edgedistil.teacher import load_state_dict

    names = config.get("architectures") or []
    if not any(str(name).endswith(MLM_ARCHITECTURES) for name in names):
        return None
    model = AutoModelForMaskedLM.from_config(  # type: ignore[no-untyped-call]
        AutoConfig.from_pretrained(str(path))
    )
    result = model.load_state_dict(load_state_dict(path), strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    missing = [k for k in result.missing_keys if k not in tied and not k.endswith("position_ids")]
    if missing:  # saved without its head after all: proposals from the embeddings instead
        log.info("%s: no masked-LM head weights (%s); using input embeddings", path, missing[:2])
        return None
    model.tie_weights()
    return model.eval()
