from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from edgedistil import teacher, tokens
from edgedistil.distill.vocab import choose_tokens, prune_embeddings, prune_tokenizer
from edgedistil.errors import DistillError

SAMPLE = Path(__file__).resolve().parents[2] / "calibration" / "sentences.txt"


@pytest.fixture(scope="module")
def minilm_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(teacher.default_teacher_dir()), local_files_only=True)


def _texts() -> list[str]:
    return SAMPLE.read_text(encoding="utf-8").splitlines()


def test_pruned_tokenizer_gives_remapped_ids_on_covered_text(minilm_tokenizer: Any) -> None:
    texts = _texts()
    pruning = choose_tokens(minilm_tokenizer, texts[:300], size=None)
    pruned = prune_tokenizer(minilm_tokenizer, pruning)
    assert len(pruned) == len(pruning.kept) < 5000
    for text in texts[:300]:
        original = minilm_tokenizer(text)["input_ids"]
        assert pruned(text)["input_ids"] == [pruning.old_to_new[i] for i in original]


def _ids(tokenizer: Any, pruning: Any, pieces: list[str]) -> list[int]:
    return [pruning.old_to_new[tokenizer.convert_tokens_to_ids(t)] for t in pieces]


def test_an_unseen_word_of_known_letters_splits_into_pieces_not_unk(minilm_tokenizer: Any) -> None:
    pruning = choose_tokens(minilm_tokenizer, ["set a timer for ten minutes"], size=None)
    pruned = prune_tokenizer(minilm_tokenizer, pruning)
    ids = pruned("set a xylophone timer")["input_ids"]
    assert ids[0] == pruned.cls_token_id and ids[-1] == pruned.sep_token_id
    spelt = ["x", "##y", "##l", "##o", "##p", "##h", "##o", "##n", "##e"]
    assert ids[1:-1] == _ids(minilm_tokenizer, pruning, ["set", "a", *spelt, "timer"])
    # beyond Latin too: every script of the teacher's alphabet keeps its pieces
    assert pruned.unk_token_id not in pruned("москва δέλτα 東京")["input_ids"]


def test_only_a_character_the_teacher_lacks_becomes_unk(minilm_tokenizer: Any) -> None:
    snowman = "\u2603"
    assert minilm_tokenizer.convert_tokens_to_ids(snowman) == minilm_tokenizer.unk_token_id
    pruning = choose_tokens(minilm_tokenizer, ["set a timer"], size=None)
    pruned = prune_tokenizer(minilm_tokenizer, pruning)
    ids = pruned(f"set a {snowman} timer")["input_ids"][1:-1]
    set_a = _ids(minilm_tokenizer, pruning, ["set", "a"])
    timer = _ids(minilm_tokenizer, pruning, ["timer"])
    assert ids == [*set_a, pruned.unk_token_id, *timer]


def test_the_pieces_are_those_the_teachers_tokenizer_can_produce(minilm_tokenizer: Any) -> None:
    pieces = tokens.single_pieces(minilm_tokenizer.backend_tokenizer)
    vocab = minilm_tokenizer.get_vocab()
    singles = [t for t in vocab if len(t) == 1]
    assert set(singles) <= set(pieces)  # every single character, CJK and punctuation included
    assert {"x", "##x", "ж", "##ж", "!", "学"} <= set(pieces)
    # BERT splits punctuation and CJK ideographs off as words: their ## forms never match
    assert "##!" in vocab and "##!" not in pieces
    assert "##学" in vocab and "##学" not in pieces
    assert len(pieces) == 1_658  # all-MiniLM-L6-v2: 997 characters + 661 reachable ## forms


def test_pieces_counted_from_files_match_the_loaded_tokenizer(
    tiny_bert: Path, tmp_path: Path
) -> None:
    import shutil

    import transformers

    assert tokens.count_pieces(teacher.default_teacher_dir()) == 1_658
    # a teacher with vocab.txt only: built as transformers builds its fast tokenizer
    only_vocab = tmp_path / "vocab-only"
    only_vocab.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copyfile(teacher.default_teacher_dir() / name, only_vocab / name)
    assert tokens.count_pieces(only_vocab) == 1_658
    tiny = transformers.AutoTokenizer.from_pretrained(str(tiny_bert))
    assert tokens.single_pieces(tiny.backend_tokenizer) == ["a", "##s"]
    assert tokens.count_pieces(tiny_bert) == 2
    assert tokens.count_pieces(tmp_path) == 0  # no tokenizer: nothing to prune


def test_unk_rate_counts_tokens_and_sentences(minilm_tokenizer: Any) -> None:
    pruning = choose_tokens(minilm_tokenizer, ["the cat"], size=None)
    pruned = prune_tokenizer(minilm_tokenizer, pruning)
    rate = tokens.unk_rate(pruned.backend_tokenizer, ["the cat", "the \u2603 \u2603", "cat"])
    assert (rate.tokens, rate.unk_tokens, rate.sentences, rate.unk_sentences) == (6, 2, 3, 1)
    assert rate.token_share == 2 / 6 and rate.sentence_share == 1 / 3
    # the teacher's tokenizer pads to 128: only real tokens count, not the padding
    assert tokens.unk_rate(minilm_tokenizer.backend_tokenizer, ["the cat"]).tokens == 2


def test_vocab_size_keeps_specials_pieces_and_the_most_frequent(minilm_tokenizer: Any) -> None:
    texts = ["the the the cat", "the dog", "a cat"]
    floor = 5 + 1_658
    pruning = choose_tokens(minilm_tokenizer, texts, size=floor + 2)
    kept = set(minilm_tokenizer.convert_ids_to_tokens(pruning.kept))
    assert len(kept) == floor + 2 and pruning.pieces == 1_658
    assert {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat"} <= kept
    assert "dog" not in kept and "a" in kept  # "a" is a single-character piece
    assert pruning.tokens_seen == 4  # the, cat, dog, a
    with pytest.raises(
        DistillError,
        match=r"--vocab-size 1000: below the 1,663 tokens every pruned vocabulary keeps: 5 "
        r"special .* and 1,658 single-character pieces.*use --vocab-size 1,663 or more",
    ):
        choose_tokens(minilm_tokenizer, texts, size=1000)


def test_embedding_rows_follow_the_tokens(minilm_tokenizer: Any, tiny_bert: Path) -> None:
    import transformers

    model = transformers.BertModel.from_pretrained(str(tiny_bert))
    tok = transformers.AutoTokenizer.from_pretrained(str(tiny_bert))
    old = model.get_input_embeddings().weight.detach().clone()
    pruning = choose_tokens(tok, ["the phone battery was good", "set a timer"], size=None)
    prune_embeddings(model, pruning)
    new = model.get_input_embeddings().weight
    assert model.config.vocab_size == new.shape[0] == len(pruning.kept)
    for old_id, new_id in pruning.old_to_new.items():
        assert torch.equal(new[new_id], old[old_id])
    pruned_tok = prune_tokenizer(tok, pruning)
    out = model(**pruned_tok(["the battery"], return_tensors="pt"))
    assert out.last_hidden_state.shape[-1] == 32


def test_a_tokenizer_model_that_cannot_be_pruned_exactly_is_refused() -> None:
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    model = models.WordLevel(vocab={"a": 0, "[UNK]": 1}, unk_token="[UNK]")
    words = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(model))
    with pytest.raises(
        DistillError,
        match=r"tokenizer is WordLevel and its model cannot be pruned exactly; pruning supports "
        r"WordPiece, BPE, Unigram",
    ):
        choose_tokens(words, ["a"], size=None)
