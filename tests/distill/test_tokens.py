"""Token classification (NER, slot filling): JSONL words with a tag each, tags aligned to each
word's first sub-token, distilled from a tiny BERT ``ForTokenClassification`` teacher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgedistil.data import read_examples
from edgedistil.distill import train
from edgedistil.distill.job import Job, distill
from edgedistil.distill.train import IGNORE, Settings
from edgedistil.errors import DataError, DistillError
from edgedistil.teacher import load_tokenizer
from tests.conftest import save_tiny

TAGS = ["O", "B-DEV", "I-DEV", "B-TIME"]
DEVICES = [["phone"], ["watch"], ["phone", "battery"], ["light"]]
TIMES = ["minutes", "timer"]


def write_tagged(path: Path, n: int = 60) -> Path:
    """``n`` rows of the tiny vocabulary's words: devices (B-DEV I-DEV), times, the rest O;
    "batteryed" is split into sub-tokens (battery ##ed) to exercise the alignment."""
    lines = []
    for i in range(n):
        device = DEVICES[i % len(DEVICES)]
        words = ["the", *device, "was", "good" if i % 2 else "slow", "for", TIMES[i % 2]]
        tags = ["O", "B-DEV", *["I-DEV"] * (len(device) - 1), "O", "O", "O", "B-TIME"]
        if i % 5 == 0:
            words, tags = [*words, "batteryed"], [*tags, "B-DEV"]
        lines.append(json.dumps({"tokens": words, "tags": tags}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def save_tagger(directory: Path, **overrides: Any) -> Path:
    return save_tiny(
        directory,
        "BertForTokenClassification",
        num_labels=len(TAGS),
        id2label=dict(enumerate(TAGS)),
        label2id={t: i for i, t in enumerate(TAGS)},
        **overrides,
    )


def _settings(**kw: Any) -> Settings:
    return Settings(
        task="", **{"epochs": 1, "batch_size": 8, "seq_len": 16, "patience": None, **kw}
    )


def test_tagged_jsonl_and_its_errors(tmp_path: Path) -> None:
    ex = read_examples(write_tagged(tmp_path / "ner.jsonl", 5), need_labels=True)
    assert ex.words is not None and ex.tags is not None and ex.labels is None
    assert ex.words[0] == ["the", "phone", "was", "slow", "for", "minutes", "batteryed"]
    assert ex.texts[0] == "the phone was slow for minutes batteryed"
    assert ex.label_names == ["B-DEV", "B-TIME", "I-DEV", "O"]
    assert [ex.label_names[t] for t in ex.tags[2]] == ["O", "B-DEV", "I-DEV", "O", "O", "O",
                                                       "B-TIME"]  # fmt: skip
    assert ex.subset([2]).inputs == [ex.words[2]]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"tokens": ["a", "b"], "tags": ["O", "O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n'
    )
    with pytest.raises(DataError, match=r"bad.jsonl: example 2 has 1 tags in 'tags' for 2 words"):
        read_examples(bad)
    plain = tmp_path / "plain.txt"
    plain.write_text("the  phone was\n")  # untagged text, as words: agreement, not F1
    as_words = read_examples(plain, words=True)
    assert as_words.inputs == [["the", "phone", "was"]] and as_words.tags is None


def test_tags_go_on_each_words_first_sub_token(tmp_path: Path) -> None:
    teacher = save_tagger(tmp_path / "t")
    tokenizer = load_tokenizer(teacher)
    words = [["the", "batteryed", "phone"]]
    enc = train.encode(tokenizer, words, [[0, 1, 3]], 16)
    pieces = tokenizer.convert_ids_to_tokens(enc.ids[0])
    assert pieces == ["[CLS]", "the", "battery", "##ed", "phone", "[SEP]"]
    assert enc.labels == [[IGNORE, 0, 1, IGNORE, 3, IGNORE]]
    batch = train.collate(enc, [0])
    assert batch["labels"].tolist() == enc.labels


@pytest.mark.slow
def test_distill_a_bert_token_classifier(tmp_path: Path) -> None:
    import transformers

    teacher = save_tagger(tmp_path / "teacher")
    data = write_tagged(tmp_path / "ner.jsonl")
    out = tmp_path / "student"
    outcome = distill(
        Job(teacher=str(teacher), data=data, out=out, settings=_settings(epochs=2), layers=1)
    )
    assert outcome.task == "token-classification"
    assert 0 <= outcome.state.history[-1]["accuracy"] <= 1
    model = transformers.AutoModelForTokenClassification.from_pretrained(str(out))
    assert model.config.num_hidden_layers == 1 and model.config.id2label[1] == "B-DEV"
    # the teacher's outputs cached (two epochs) and recomputed each batch train the same
    again = distill(
        Job(
            teacher=str(teacher),
            data=data,
            out=tmp_path / "uncached",
            settings=_settings(epochs=2, cache_teacher="off"),
            layers=1,
        )
    )
    history = [h["train_loss"] for h in outcome.state.history]
    assert history == pytest.approx([h["train_loss"] for h in again.state.history], rel=1e-4)
    labelled = tmp_path / "labelled.tsv"
    labelled.write_text("text\tlabel\nthe phone\tO\nthe watch\tB-DEV\n")
    with pytest.raises(DistillError, match="labelled.tsv: no words with tags; a token classifier"):
        distill(Job(teacher=str(teacher), data=labelled, out=tmp_path / "y", settings=_settings()))
    with pytest.raises(
        DistillError,
        match=r"no trained classification head \(architectures: BertForTokenClassification\); "
        "it can be distilled with --task embedding or token-classification",
    ):
        distill(
            Job(
                teacher=str(teacher),
                data=data,
                out=tmp_path / "x",
                settings=_settings(),
                task="classification",
            )
        )


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_finetune_makes_a_token_classifier_teacher_that_distills(
    family: str, tmp_path: Path
) -> None:
    """An encoder (here a masked-LM checkpoint, as users have them) and tagged words: finetune
    puts a fresh token-classification head on it, trained on the tags alone, and saves a
    teacher that loads as the tagger it is and distils with --task token-classification."""
    import torch
    import transformers

    from edgedistil.distill.job import finetune
    from tests.tiny_families import save_tiny_family

    encoder = save_tiny_family(tmp_path / "encoder", family, "ForMaskedLM")
    data = write_tagged(tmp_path / "ner.jsonl", n=120)
    out = tmp_path / "teacher"
    outcome = finetune(Job(teacher=str(encoder), data=data, out=out,
                           settings=_settings(epochs=3), lr=1e-3))  # fmt: skip
    assert outcome.task == train.TOKEN_TASK
    # word accuracy (measured 0.95-0.96): learnt, where tagging every word O scores ~0.57
    assert outcome.state.best > 0.8
    model = transformers.AutoModelForTokenClassification.from_pretrained(str(out))
    assert sorted(model.config.id2label.values()) == sorted(TAGS)
    mlm = transformers.AutoModelForMaskedLM.from_pretrained(str(encoder))
    # the encoder's embeddings started the teacher: fine-tuned from them, not from noise
    diff = (
        model.base_model.embeddings.word_embeddings.weight
        - mlm.base_model.embeddings.word_embeddings.weight
    )
    assert float(diff.abs().max()) < 0.1 and torch.isfinite(diff).all()
    student = distill(Job(teacher=str(out), data=data, out=tmp_path / "s", settings=_settings()))
    assert student.task == train.TOKEN_TASK
