from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from edgedistil import teacher
from edgedistil.distill.vocab import choose_tokens, prune_embeddings, prune_tokenizer
from edgedistil.errors import DistillError

SAMPLE = Path(__file__).resolve().parent.parent / "calibration" / "sentences.txt"


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


def test_words_outside_the_pruned_vocabulary_become_unk(minilm_tokenizer: Any) -> None:
    pruning = choose_tokens(minilm_tokenizer, ["set a timer for ten minutes"], size=None)
    pruned = prune_tokenizer(minilm_tokenizer, pruning)
    ids = pruned("set a xylophone timer")["input_ids"]
    unk = pruned.unk_token_id
    assert ids[0] == pruned.cls_token_id and ids[-1] == pruned.sep_token_id
    assert ids[1:-1] == [
        pruning.old_to_new[minilm_tokenizer.convert_tokens_to_ids("set")],
        pruning.old_to_new[minilm_tokenizer.convert_tokens_to_ids("a")],
        unk,
        pruning.old_to_new[minilm_tokenizer.convert_tokens_to_ids("timer")],
    ]


def test_vocab_size_keeps_specials_and_the_most_frequent(minilm_tokenizer: Any) -> None:
    texts = ["the the the cat", "the dog", "a cat"]
    pruning = choose_tokens(minilm_tokenizer, texts, size=7)
    tokens = minilm_tokenizer.convert_ids_to_tokens(pruning.kept)
    assert set(tokens) == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat"}
    assert pruning.tokens_seen == 4  # the, cat, dog, a
    with pytest.raises(DistillError, match="--vocab-size 3: below the 5 special tokens"):
        choose_tokens(minilm_tokenizer, texts, size=3)


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


def test_non_wordpiece_tokenizers_are_refused(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    bpe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE(vocab={"a": 0}, merges=[])))
    with pytest.raises(DistillError, match="needs a WordPiece tokenizer"):
        choose_tokens(bpe, ["a"], size=None)
