"""Text-pair classification (NLI, paraphrase, question and passage): distill and finetune read
two text columns, feed the pair as one sequence with its segments, and record that the student
takes pairs, for BERT (token types) and RoBERTa (none) teachers alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgedistil.distill import train
from edgedistil.distill.job import Job, distill, finetune
from edgedistil.distill.train import Settings
from edgedistil.errors import DataError
from edgedistil.teacher import load_tokenizer, takes_pairs
from tests.conftest import save_tiny
from tests.tiny_families import save_tiny_family

WORDS = ["the", "phone", "battery", "was", "good", "bad", "fast", "slow", "watch", "timer"]
LABELS = ("entailment", "neutral", "contradiction")


def write_pairs(path: Path, n: int = 48, header: str = "premise\thypothesis\tlabel") -> Path:
    """``n`` premise / hypothesis rows of the tiny vocabulary's words, three classes."""
    rows = [header]
    for i in range(n):
        premise = " ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(3 + i % 4))
        hypothesis = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(2 + i % 3))
        rows.append(f"{premise}\t{hypothesis}\t{LABELS[i % 3]}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _settings(**kw: Any) -> Settings:
    return Settings(task="", epochs=1, batch_size=8, seq_len=16, patience=None, **kw)


def test_a_pair_is_one_sequence_with_its_segments(tiny_classifier: Path) -> None:
    tokenizer = load_tokenizer(tiny_classifier)
    enc = train.encode(tokenizer, [("the phone", "was good"), "fast"], [0, 1], 16, segments=True)
    # [CLS] the phone [SEP] was good [SEP]: the second text is segment 1
    assert enc.types == [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0]]
    batch = train.collate(enc, [0, 1])
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0]]
    assert batch["attention_mask"].tolist()[1] == [1, 1, 1, 0, 0, 0, 0]
    # too long for seq_len: the pair is cut, its longer text first, and counted
    long = train.encode(tokenizer, [("the " * 20, "was good")], None, 8, segments=True)
    assert long.truncated == 1 and len(long.ids[0]) == 8 and long.types is not None
    assert long.types[0][-3:] == [1, 1, 1]  # the short second text survives whole
    assert train.encode(tokenizer, [("a", "b")], None, 8).types is None  # no segments asked


@pytest.mark.slow
def test_distill_a_bert_pair_classifier(tmp_path: Path) -> None:
    import torch
    import transformers

    teacher = save_tiny(tmp_path / "teacher", "BertForSequenceClassification", num_labels=3)
    data = write_pairs(tmp_path / "nli.tsv")
    out = tmp_path / "student"
    outcome = distill(Job(teacher=str(teacher), data=data, out=out, settings=_settings(), layers=1))
    assert outcome.task == "classification" and "accuracy" in outcome.state.history[-1]
    record = json.loads((out / "edgedistil.json").read_text())
    assert record["settings"]["pairs"] is True and takes_pairs(out)
    assert not takes_pairs(teacher)
    # the student reads the segments: the same ids as one segment give other logits
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    batch = transformers.AutoTokenizer.from_pretrained(str(out))(
        [("the phone was", "good fast")], return_tensors="pt"
    )
    with torch.no_grad():
        pair = model(**batch).logits
        flat = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert batch["token_type_ids"].sum() == 3 and not torch.allclose(pair, flat)
    # and training fed them: segment 1's row moved by gradient steps (decay alone moves it
    # by ~1e-7 at this learning rate), as it cannot when every token is segment 0
    before = transformers.AutoModel.from_pretrained(str(teacher)).embeddings.requires_grad_(False)
    after = model.base_model.embeddings.token_type_embeddings.weight[1].detach()
    assert float((after - before.token_type_embeddings.weight[1]).abs().max()) > 1e-5


@pytest.mark.slow
def test_distill_a_roberta_pair_classifier(tmp_path: Path) -> None:
    teacher = save_tiny_family(
        tmp_path / "teacher", "roberta", "ForSequenceClassification", num_labels=3
    )
    data = write_pairs(tmp_path / "qqp.tsv", header="question1\tquestion2\tlabel")
    out = tmp_path / "student"
    distill(Job(teacher=str(teacher), data=data, out=out, settings=_settings(), layers=1))
    assert takes_pairs(out)
    tokenizer = load_tokenizer(out)
    enc = train.encode(tokenizer, [("the phone", "was good")], None, 32, segments=False)
    text = tokenizer.decode(enc.ids[0])
    assert text.startswith("<s>") and "</s></s>" in text  # RoBERTa's own pair template


@pytest.mark.slow
def test_finetune_on_pairs_and_an_eval_file_without_them(tmp_path: Path) -> None:
    encoder = save_tiny(tmp_path / "encoder")
    data = write_pairs(tmp_path / "train.tsv", header="sentence1\tsentence2\tlabel")
    out = tmp_path / "teacher"
    finetune(Job(teacher=str(encoder), data=data, out=out, settings=_settings()))
    assert takes_pairs(out)
    single = tmp_path / "eval.tsv"
    single.write_text("sentence\tlabel\nthe phone\tneutral\nbad\tentailment\n", encoding="utf-8")
    with pytest.raises(DataError, match="no second text column among sentence, label"):
        finetune(
            Job(
                teacher=str(encoder),
                data=data,
                out=tmp_path / "t2",
                settings=_settings(),
                eval_path=single,
            )
        )
