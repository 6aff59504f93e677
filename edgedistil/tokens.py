"""What a WordPiece vocabulary can spell: the single-character pieces every pruned vocabulary
keeps, and the share of a text that becomes [UNK].

WordPiece cuts a word into the longest pieces its vocabulary holds and, when some part of the
word matches no piece, turns the *whole word* into [UNK]. A vocabulary that holds each character
of a word as a piece (the first as ``c``, the others as ``##c``) can always spell it, one
character at a time if nothing longer survived pruning. So a pruned vocabulary keeps the
teacher's single-character pieces, and a word of the teacher's alphabet that the pruning text
never showed splits into pieces instead of vanishing.

Only pieces the teacher's own normaliser and pre-tokeniser can produce are kept. BERT splits
punctuation and CJK ideographs into words of their own, so their ``##`` forms are never matched:
of all-MiniLM-L6-v2's 997 single characters and 997 ``##`` forms, 1,658 can occur (the 997 and
661 ``##`` forms); the other 336 rows would cost bytes and spell nothing.

Every script's pieces are kept, not only those of the scripts the pruning text uses: a rule
keyed on that text would again let the text a build happened to get decide what the device can
read, which is the failure the pieces exist to end. The price, measured by
benchmarks/heldout_unk.py: 1,658 embedding rows, 636,672 int8 bytes at hidden 384 (9.3% of the
esp32-s3 budget) and 212,224 at hidden 128 (11.6% of cortex-m7's), against 181 rows for Latin
pieces alone. They count within the vocabulary size, so where the budget binds they displace
whole words and English spells more of its words in pieces: SST-2 dev pruned on SST-2 train to
3,133 tokens takes 17.0 tokens a sentence with every piece, 13.9 with Latin pieces only, 11.4
under the teacher; [UNK] is 0.00% either way on English, and only every piece keeps it there for
the teacher's other scripts.

A byte-level BPE (RoBERTa) needs no such rule: it spells any text from its 256 byte symbols,
which every pruned vocabulary keeps. A unigram model (XLM-R) keeps its one-character pieces, so
any text of its alphabet has a path through the pruned lattice (``single_pieces``).

This module sits below both ``plan`` (which prices the pieces) and ``distill.vocab`` (which
keeps them), and needs only the ``tokenizers`` library, so ``edgedistil plan`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.errors import EdgedistilError, TeacherError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"
# The files a model folder's tokenizer can be built from (transformers' fast and slow
# tokenizers of the BERT, RoBERTa and XLM-R families): without one of them transformers quietly
# builds a tokenizer of the special tokens alone, and every word becomes [UNK].
BPE_FILES = ("vocab.json", "merges.txt")  # a GPT-2 / RoBERTa BPE saved by its slow tokenizer
VOCABULARIES = (
    (TOKENIZER_FILE,),
    (VOCAB_FILE,),
    BPE_FILES,
    ("sentencepiece.bpe.model",),
    ("spiece.model",),
    ("tokenizer.model",),
)
# Every file of a model folder that a tokenizer is read from: its vocabulary files (above) and
# the settings transformers keeps beside them. They travel from the student into every artifact
# folder (``copy_tokenizer``), so whatever reads an artifact finds its own tokenizer there.
TOKENIZER_FILES = (
    *dict.fromkeys(name for files in VOCABULARIES for name in files),
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
BATCH = 256  # sentences tokenised at a time: constant memory on a long text


@dataclass(frozen=True, kw_only=True)
class UnkRate:
    """How much of a text a tokenizer turns into [UNK]."""

    tokens: int
    unk_tokens: int
    sentences: int
    unk_sentences: int  # sentences with at least one [UNK]

    @property
    def token_share(self) -> float:
        return self.unk_tokens / self.tokens if self.tokens else 0.0

    @property
    def sentence_share(self) -> float:
        return self.unk_sentences / self.sentences if self.sentences else 0.0


def model_type(backend: Tokenizer) -> str:
    """The tokenizer model's name in tokenizers' words: WordPiece, BPE, Unigram, WordLevel."""
    return type(backend.model).__name__


def single_pieces(backend: Tokenizer) -> list[str]:
    """The tokens every pruned vocabulary keeps so that any text of the teacher's alphabet can
    still be spelt, in vocabulary order, special tokens left out ([] for a model that is not
    pruned): WordPiece's single characters and ``##`` forms (``_wordpiece_pieces``), a BPE's
    alphabet (``_bpe_alphabet``: the 256 byte symbols of a byte-level BPE) and a unigram
    model's one-character pieces (``_unigram_pieces``)."""
    pieces = _PIECES.get(model_type(backend))
    if pieces is None:
        return []
    specials = set(backend.get_added_tokens_decoder().values())
    special = {t.content for t in specials}
    return [t for t in pieces(backend) if t not in special]


def _wordpiece_pieces(backend: Tokenizer) -> list[str]:
    """The one-character tokens and one-character ``##`` forms that the normaliser and
    pre-tokeniser can produce."""
    prefix: str = backend.model.continuing_subword_prefix
    words = _word_splitter(backend)
    vocab = backend.get_vocab()
    kept = []
    for token in sorted(vocab, key=vocab.__getitem__):
        if len(token) == 1 and words(token) == [token]:
            kept.append(token)
        elif len(token) == len(prefix) + 1 and token.startswith(prefix):
            c = token[-1]
            if words(c + c) == [c + c]:  # c stays inside a word, so ##c can be matched
                kept.append(token)
    return kept


def _bpe_alphabet(backend: Tokenizer) -> list[str]:
    """The symbols BPE starts every word from: one character (with the model's word-inner
    prefix or word-end suffix, if it has them) that no merge makes; a byte-level BPE's are its
    256 byte symbols. With all of them and only merges whose result is kept, BPE never meets a
    symbol it lacks: nothing becomes unknown that was not before. Tokens of several characters
    that no merge makes (special tokens written into vocab.json) are no part of it."""
    model = json.loads(backend.to_str())["model"]
    made = {result for _, _, result in bpe_merges(model)}
    prefix = model.get("continuing_subword_prefix") or ""
    suffix = model.get("end_of_word_suffix") or ""

    def symbol(token: str) -> bool:
        bare = token.removeprefix(prefix) if prefix else token
        bare = bare.removesuffix(suffix) if suffix else bare
        return len(bare) == 1 and token not in made

    vocab: dict[str, int] = model["vocab"]
    return [t for t in sorted(vocab, key=vocab.__getitem__) if symbol(t)]


def _unigram_pieces(backend: Tokenizer) -> list[str]:
    """Every one-character piece (and, with byte fallback, the ``<0xNN>`` byte pieces): the
    unigram lattice then has a path through any text of those characters."""
    model = json.loads(backend.to_str())["model"]
    pieces = [str(piece) for piece, _ in model["vocab"]]
    fallback = bool(model.get("byte_fallback"))
    return [p for p in pieces if len(p) == 1 or (fallback and _is_byte_piece(p))]


def _is_byte_piece(piece: str) -> bool:
    return len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">")


def bpe_merges(model: dict[str, Any]) -> list[tuple[str, str, str]]:
    """A BPE model's merges as (left, right, result), in rank order; tokenizer.json writes a
    merge as a pair (tokenizers 0.20 on) or as one "left right" string (before)."""
    prefix = model.get("continuing_subword_prefix") or ""
    merges = []
    for merge in model["merges"]:
        left, right = merge if isinstance(merge, list) else str(merge).split(" ", 1)
        # tokenizers joins a continuing right part without its prefix
        joined = left + (right[len(prefix) :] if prefix and right.startswith(prefix) else right)
        merges.append((left, right, joined))
    return merges


# tokenizer model -> the pieces every pruned vocabulary of it keeps (``single_pieces``)
_PIECES: dict[str, Callable[[Tokenizer], list[str]]] = {
    "WordPiece": _wordpiece_pieces,
    "BPE": _bpe_alphabet,
    "Unigram": _unigram_pieces,
}


def _word_splitter(backend: Tokenizer) -> Callable[[str], list[str]]:
    """text -> the words WordPiece sees: normalised, then pre-tokenised."""
    normalizer, pre = backend.normalizer, backend.pre_tokenizer

    def words(text: str) -> list[str]:
        normalized = normalizer.normalize_str(text) if normalizer is not None else text
        if pre is None:
            return [normalized]
        return [word for word, _ in pre.pre_tokenize_str(normalized)]

    return words


def copy_tokenizer(source: Path, destination: Path) -> list[Path]:
    """The tokenizer files of the folder ``source`` (``TOKENIZER_FILES``, whichever it has)
    copied into ``destination``; the copies' paths."""
    import shutil

    copied = []
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            copied.append(Path(shutil.copyfile(source / name, destination / name)))
    return copied


def check_tokenizer(
    directory: Path, vocab_size: int | None, *, error: type[EdgedistilError] = TeacherError
) -> None:
    """Refuse a model folder whose tokenizer is missing, does not load, or gives ids beyond the
    model's ``vocab_size`` embedding rows (torch would index past the table, or, quieter, a
    tokenizer of another model would feed it wrong rows). Only the ``tokenizers`` library is
    needed, so ``plan`` stays fast; ``teacher.load_tokenizer`` checks what transformers loads."""
    if not any(all((directory / f).is_file() for f in files) for files in VOCABULARIES):
        expected = ", ".join(" + ".join(files) for files in VOCABULARIES)
        raise error(
            f"{directory}: no tokenizer files; expected one of {expected} (copy them from the "
            "model this one was made from)"
        )
    backend = load_backend(directory, error=error)
    if backend is None:  # a BPE or SentencePiece vocabulary: transformers loads it, and checks
        return
    size = backend.get_vocab_size(with_added_tokens=True)
    if size == 0:
        raise error(f"{directory}: the tokenizer's vocabulary is empty")
    check_size(directory, size, vocab_size, error=error)


def check_size(
    directory: Path, size: int, vocab_size: int | None, *, error: type[EdgedistilError]
) -> None:
    """A tokenizer of ``size`` tokens gives ids up to ``size - 1``: each needs its row."""
    if vocab_size is not None and size > vocab_size:
        raise error(
            f"{directory}: the tokenizer has {size:,} tokens but config.json's vocab_size is "
            f"{vocab_size:,}, so ids {vocab_size:,} to {size - 1:,} have no embedding row; "
            "use the tokenizer the model was trained with"
        )


def load_backend(
    directory: Path, *, error: type[EdgedistilError] = TeacherError
) -> Tokenizer | None:
    """The tokenizer of a model directory: its tokenizer.json, else a BERT WordPiece tokenizer
    over its vocab.txt built as transformers builds one (tokenizer_config.json's lower-casing,
    accents and CJK settings); None when it has neither file. A file that does not load is one
    ``error`` line."""
    from tokenizers import Tokenizer

    path = directory / TOKENIZER_FILE
    if not path.is_file():
        path = directory / VOCAB_FILE
        if not path.is_file():
            return None
    try:
        if path.name == TOKENIZER_FILE:
            return Tokenizer.from_file(str(path))
        return _bert_from_vocab(directory)
    except EdgedistilError:
        raise
    # tokenizers raises a bare Exception for a file it cannot read, and a TypeError for a
    # setting of the wrong type: whatever it is, the folder's tokenizer cannot be used.
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise error(
            f"{path}: the tokenizer does not load ({first or type(exc).__name__})"
        ) from None


def _bert_from_vocab(directory: Path) -> Tokenizer:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    config_path = directory / "tokenizer_config.json"
    try:
        config = (
            json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        )
    except ValueError as exc:
        raise ValueError(f"{config_path.name} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise TypeError(f"{config_path.name} holds {type(config).__name__}, not an object")
    vocab = models.WordPiece.read_file(str(directory / VOCAB_FILE))
    unk = config.get("unk_token", "[UNK]")
    if isinstance(unk, dict):  # older transformers save special tokens as AddedToken objects
        unk = unk.get("content", "[UNK]")
    backend = Tokenizer(models.WordPiece(vocab, unk_token=unk))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=config.get("tokenize_chinese_chars", True),
        strip_accents=config.get("strip_accents"),
        lowercase=config.get("do_lower_case", True),
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return backend


def count_pieces(directory: Path) -> int:
    """How many single-character pieces a pruned vocabulary of this model keeps (0 when the
    directory holds no tokenizer.json, vocab.txt or vocab.json + merges.txt to read them from:
    a SentencePiece model needs transformers, and ``plan`` stays fast)."""
    backend = load_backend(directory)
    if backend is None and all((directory / f).is_file() for f in BPE_FILES):
        from tokenizers import Tokenizer, models

        vocab, merges = (str(directory / f) for f in BPE_FILES)
        try:
            backend = Tokenizer(models.BPE.from_file(vocab, merges))
        except Exception as exc:  # tokenizers' own error: the files are not a BPE vocabulary
            raise TeacherError(
                f"{directory}: vocab.json + merges.txt do not load ({exc})"
            ) from None
    return 0 if backend is None else len(single_pieces(backend))


def unk_rate(backend: Tokenizer, texts: list[str]) -> UnkRate:
    """The tokens and sentences of ``texts`` that ``backend`` turns into [UNK] (special tokens
    left out: they are never [UNK] and only dilute the share)."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(backend.to_str())  # a copy: padding and truncation off, the
    backend.no_padding()  # every token of every sentence counted
    backend.no_truncation()
    unk = unk_id(backend)
    tokens = unk_tokens = unk_sentences = 0
    for start in range(0, len(texts), BATCH):
        for encoding in backend.encode_batch(
            texts[start : start + BATCH], add_special_tokens=False
        ):
            found = sum(1 for i in encoding.ids if i == unk)
            tokens += len(encoding.ids)
            unk_tokens += found
            unk_sentences += found > 0
    return UnkRate(
        tokens=tokens, unk_tokens=unk_tokens, sentences=len(texts), unk_sentences=unk_sentences
    )


def unk_id(backend: Tokenizer) -> int | None:
    """The id a tokenizer gives what it cannot spell: WordPiece and BPE name the token, a
    unigram model holds the id (None: it has no unknown token, as a byte-level BPE)."""
    unk_token = getattr(backend.model, "unk_token", None)
    if unk_token:
        return backend.token_to_id(unk_token)
    found = json.loads(backend.to_str())["model"].get("unk_id")
    return int(found) if found is not None else None
