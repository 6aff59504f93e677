"""Vocabulary pruning of RoBERTa's byte-level BPE and XLM-R's unigram tokenizers (issue 17): on
the text it was pruned on, the pruned tokenizer gives the teacher's ids remapped; on other text
it spells the words in kept pieces, never [UNK] where the teacher had none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from edgedistil import tokens
from edgedistil.distill.vocab import choose_tokens, prune_embeddings, prune_tokenizer
from tests.tiny_families import save_tiny_family

PRUNING_TEXT = [
    "the movie was good",
    "set a timer for minutes",
    "the phone was slow",
    "light on, light off!",
    "the movie was bad",
]
# words and phrasings the pruning text never showed, of the tokenizers' training alphabet
UNSEEN = ["battery watch fast", "phones timers settings", "a good fast watch was on"]


@pytest.fixture(scope="module", params=["roberta", "xlm-roberta"])
def family_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_family(tmp_path_factory.mktemp(request.param), request.param)


def _tokenizer(directory: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)


def test_the_pruning_text_keeps_its_tokens(family_dir: Path) -> None:
    tokenizer = _tokenizer(family_dir)
    pruning = choose_tokens(tokenizer, PRUNING_TEXT, size=None)
    pruned = prune_tokenizer(tokenizer, pruning)
    assert len(pruned) == len(pruning.kept) < len(tokenizer)
    for text in PRUNING_TEXT:  # with <s> ... </s>: the post-processor's ids are remapped too
        original = tokenizer(text)["input_ids"]
        assert pruned(text)["input_ids"] == [pruning.old_to_new[i] for i in original], text
    pair = tokenizer(PRUNING_TEXT[0], PRUNING_TEXT[1])["input_ids"]
    assert pruned(PRUNING_TEXT[0], PRUNING_TEXT[1])["input_ids"] == [
        pruning.old_to_new[i] for i in pair
    ]
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        assert getattr(pruned, name) == pruning.old_to_new[getattr(tokenizer, name)], name


def test_unseen_text_never_becomes_unknown(family_dir: Path) -> None:
    tokenizer = _tokenizer(family_dir)
    pruning = choose_tokens(tokenizer, PRUNING_TEXT, size=None)
    pruned = prune_tokenizer(tokenizer, pruning)
    for text in UNSEEN:
        assert tokenizer.unk_token_id not in tokenizer(text)["input_ids"]
        ids = pruned(text)["input_ids"]
        assert pruned.unk_token_id not in ids, text
        # the same text back, only in smaller pieces than the teacher's
        assert pruned.decode(ids, skip_special_tokens=True).strip() == text
    unseen = {i for t in UNSEEN for i in tokenizer(t)["input_ids"]}
    assert unseen - set(pruning.kept), "the unseen text needs a token the pruning dropped"


def test_the_pieces_every_pruned_vocabulary_keeps(family_dir: Path) -> None:
    from tokenizers import pre_tokenizers

    tokenizer = _tokenizer(family_dir)
    pieces = tokens.single_pieces(tokenizer.backend_tokenizer)
    assert not set(pieces) & set(tokenizer.all_special_tokens)
    if tokens.model_type(tokenizer.backend_tokenizer) == "BPE":
        assert sorted(pieces) == sorted(pre_tokenizers.ByteLevel.alphabet())  # all 256 bytes
    else:
        vocab = tokenizer.get_vocab()
        singles = {t for t in vocab if len(t) == 1}
        assert set(pieces) == singles and "\u2581" in singles  # the word-start mark too
    assert tokens.count_pieces(family_dir) == len(pieces)
    pruning = choose_tokens(tokenizer, ["the"], size=None)
    assert pruning.pieces == len(pieces)
    kept = set(tokenizer.convert_ids_to_tokens(pruning.kept))
    assert set(pieces) | set(tokenizer.all_special_tokens) <= kept


def test_a_size_keeps_the_most_frequent_with_what_they_are_made_of(family_dir: Path) -> None:
    tokenizer = _tokenizer(family_dir)
    floor = len(set(tokenizer.all_special_ids)) + len(
        tokens.single_pieces(tokenizer.backend_tokenizer)
    )
    texts = ["the the the the movie", "the movie", "timer"]
    pruning = choose_tokens(tokenizer, texts, size=floor + 4)
    assert floor < len(pruning.kept) <= floor + 4
    pruned = prune_tokenizer(tokenizer, pruning)
    the = tokenizer(" the", add_special_tokens=False)["input_ids"]
    assert pruned(" the", add_special_tokens=False)["input_ids"] == [
        pruning.old_to_new[i] for i in the
    ]
    for text in texts:  # what did not fit is spelt in kept pieces, never unknown
        assert pruned.unk_token_id not in pruned(text)["input_ids"]
        ids = pruned(text)["input_ids"]
        assert pruned.decode(ids, skip_special_tokens=True).strip() == text


def test_embedding_rows_follow_the_tokens(family_dir: Path) -> None:
    import transformers

    tokenizer = _tokenizer(family_dir)
    teacher = transformers.AutoModel.from_pretrained(str(family_dir)).eval()
    student = transformers.AutoModel.from_pretrained(str(family_dir)).eval()
    old = student.get_input_embeddings().weight.detach().clone()
    pruning = choose_tokens(tokenizer, PRUNING_TEXT, size=None)
    prune_embeddings(student, pruning)
    new = student.get_input_embeddings().weight
    assert student.config.vocab_size == new.shape[0] == len(pruning.kept)
    for old_id, new_id in pruning.old_to_new.items():
        assert torch.equal(new[new_id], old[old_id])
    pruned = prune_tokenizer(tokenizer, pruning)
    with torch.no_grad():  # the pruned pair reads the pruning text as the teacher pair does
        ours = student(**pruned(PRUNING_TEXT, padding=True, return_tensors="pt"))
        theirs = teacher(**tokenizer(PRUNING_TEXT, padding=True, return_tensors="pt"))
    assert torch.allclose(ours.last_hidden_state, theirs.last_hidden_state, atol=1e-6)


def test_the_pruned_tokenizer_saves_and_loads(family_dir: Path, tmp_path: Path) -> None:
    tokenizer = _tokenizer(family_dir)
    pruning = choose_tokens(tokenizer, PRUNING_TEXT, size=None)
    pruned = prune_tokenizer(tokenizer, pruning)
    pruned.save_pretrained(str(tmp_path))
    loaded = _tokenizer(tmp_path)
    for text in PRUNING_TEXT + UNSEEN:
        assert loaded(text)["input_ids"] == pruned(text)["input_ids"]


def test_unk_rate_finds_the_unknown_token_of_every_model(family_dir: Path) -> None:
    tokenizer = _tokenizer(family_dir)
    rate = tokens.unk_rate(tokenizer.backend_tokenizer, ["the movie", "the \u2603 movie"])
    # a byte-level BPE spells the snowman in bytes; the unigram model has no piece for it
    byte_level = tokens.model_type(tokenizer.backend_tokenizer) == "BPE"
    assert (rate.unk_tokens, rate.unk_sentences) == ((0, 0) if byte_level else (1, 1))


def _trained(kind: str, texts: list[str]) -> Any:
    """A RoBERTa-style byte-level BPE or an XLM-R-style unigram of 2,000 tokens trained on the
    sample text: merges and scores of a real size, where ties and long merge chains occur. Its
    special tokens come after the trained ones (as RoBERTa's <mask> does), so the ids its
    post-processor adds change when the vocabulary is pruned."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from tests.tiny_families import ROBERTA_SPECIALS, _special_names

    if kind == "bpe":
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        trainer: Any = trainers.BpeTrainer(
            vocab_size=2_000, initial_alphabet=alphabet, show_progress=False
        )
    else:
        backend = Tokenizer(models.Unigram())
        backend.pre_tokenizer = pre_tokenizers.Metaspace()
        backend.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=2_000, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False
        )
    backend.train_from_iterator(texts, trainer)
    backend.add_special_tokens([t for t in ROBERTA_SPECIALS if t != "<unk>" or kind == "bpe"])
    ids = {t: backend.token_to_id(t) for t in ("<s>", "</s>")}
    assert min(ids.values()) >= 1_990  # after the trained tokens
    if kind == "bpe":
        post: Any = processors.RobertaProcessing(("</s>", ids["</s>"]), ("<s>", ids["<s>"]))
    else:
        post = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=list(ids.items()))
    backend.post_processor = post
    return PreTrainedTokenizerFast(tokenizer_object=backend, **_special_names())


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_a_tokenizer_of_real_size_keeps_every_sentence_it_was_pruned_on(kind: str) -> None:
    from edgedistil.data import SAMPLE_TEXT

    lines = SAMPLE_TEXT.read_text(encoding="utf-8").splitlines()
    tokenizer = _trained(kind, lines[:4_000])
    pruning_text, other = lines[4_000:4_100], lines[4_400:4_800]
    pruning = choose_tokens(tokenizer, pruning_text, size=None)
    pruned = prune_tokenizer(tokenizer, pruning)
    assert len(pruned) < 0.6 * len(tokenizer)  # BPE: 1,149 of 2,000 with the merge closure
    mapped = [[pruning.old_to_new[i] for i in ids] for ids in tokenizer(pruning_text)["input_ids"]]
    assert pruned(pruning_text)["input_ids"] == mapped
    unk = tokenizer.unk_token_id
    for text, original, ids in zip(
        other, tokenizer(other)["input_ids"], pruned(other)["input_ids"], strict=True
    ):
        if unk not in original:
            assert pruned.unk_token_id not in ids, text
    # the cheapest vocabulary too: what did not fit is spelt in kept pieces, never unknown
    floor = choose_tokens(tokenizer, pruning_text, size=len(pruning.kept) // 2)
    small = prune_tokenizer(tokenizer, floor)
    assert len(small) <= len(pruning.kept) // 2
    for original, ids in zip(tokenizer(other)["input_ids"], small(other)["input_ids"], strict=True):
        assert (unk in original) or small.unk_token_id not in ids


def test_a_pad_id_that_positions_count_from_is_never_renumbered(tmp_path: Path) -> None:
    """RoBERTa's positions start after the pad id: a pruning that would move <pad> (one that
    dropped a token before it, which choose_tokens never does with RoBERTa's <s> at 0) is
    refused rather than shifting every position."""
    import transformers

    from edgedistil.distill.vocab import Pruning
    from edgedistil.errors import DistillError

    directory = save_tiny_family(tmp_path / "roberta", "roberta")
    model = transformers.AutoModel.from_pretrained(str(directory))
    size = model.config.vocab_size
    without_first = Pruning(
        kept=list(range(1, size)), old_to_new={i: i - 1 for i in range(1, size)}, tokens_seen=0
    )
    with pytest.raises(DistillError, match=r"counts positions from the pad id 1, which pruning "
                       r"would renumber 0"):  # fmt: skip
        prune_embeddings(model, without_first)


def test_pieces_are_counted_from_bpe_files_without_tokenizer_json(tmp_path: Path) -> None:
    """What ``plan`` prices for a RoBERTa checkpoint that carries vocab.json + merges.txt only
    (its special tokens written into vocab.json, where no merge makes them)."""
    roberta = save_tiny_family(tmp_path / "roberta", "roberta")
    slow = tmp_path / "slow"
    slow.mkdir()
    _tokenizer(roberta).backend_tokenizer.model.save(str(slow))
    assert sorted(p.name for p in slow.iterdir()) == ["merges.txt", "vocab.json"]
    assert tokens.count_pieces(slow) == tokens.count_pieces(roberta) == 256
