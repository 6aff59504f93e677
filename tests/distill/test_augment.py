"""TinyBERT-style augmentation (distill.augment) and the distillation that learns from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from edgedistil.cli import cli
from edgedistil.distill import augment
from edgedistil.distill.job import Job, distill
from edgedistil.distill.losses import Weights
from edgedistil.distill.train import IGNORE, Settings, hard_loss
from edgedistil.errors import DistillError
from edgedistil.teacher import load_teacher_model, load_tokenizer, resolve_teacher
from tests.conftest import error_line, save_tiny, write_word_lines
from tests.tiny_families import save_tiny_family

TEXTS = ["the movie was good", "the phone battery was bad , slow", "set the timer for minutes"]


def _teacher(path: Path) -> tuple[object, object]:
    teacher = resolve_teacher(str(path))
    return load_tokenizer(teacher.path), load_teacher_model(teacher)


def _words_of(text: str) -> list[str]:
    return text.split()


def test_new_sentences_swap_whole_words_only(tiny_bert: Path) -> None:
    tokenizer, model = _teacher(tiny_bert)
    vocab = set(augment._whole_words(tokenizer, None))
    done = augment.augment(TEXTS, tokenizer, model, augment.Options(factor=3))
    assert done.source == "input embeddings" and done.originals == 3
    assert 0 < len(done.inputs) <= 9
    originals = {len(_words_of(t)): t for t in TEXTS}
    for new in done.inputs:
        assert isinstance(new, str) and new not in TEXTS
        old = _words_of(originals[len(_words_of(new))])  # a swap keeps the word count
        changed = [(a, b) for a, b in zip(old, _words_of(new), strict=True) if a != b]
        assert changed and all(a in vocab and b in vocab for a, b in changed)
        assert "," in new or "," not in " ".join(old)  # punctuation is never a candidate
    again = augment.augment(TEXTS, tokenizer, model, augment.Options(factor=3))
    assert again.inputs == done.inputs  # seeded
    other = augment.augment(TEXTS, tokenizer, model, augment.Options(factor=3, seed=7))
    assert other.inputs != done.inputs


def test_neighbours_are_the_teachers_nearest_embeddings(tiny_bert: Path) -> None:
    tokenizer, model = _teacher(tiny_bert)
    vocab = tokenizer.get_vocab()
    table = model.get_input_embeddings().weight
    with torch.no_grad():  # "phone" made a near copy of "watch": its first neighbour
        table[vocab["phone"]] = table[vocab["watch"]] + 1e-3
    choices = augment._embedding_choices(["watch"], augment._whole_words(tokenizer, None), model, 3)
    assert choices["watch"][0] == "phone" and "watch" not in choices["watch"]
    assert len(choices["watch"]) == 3


def test_a_pruned_student_only_gets_words_it_keeps(tiny_bert: Path) -> None:
    tokenizer, model = _teacher(tiny_bert)
    vocab = tokenizer.get_vocab()
    keep = {vocab[w] for w in ("the", "movie", "was", "good", "bad", "fast")}
    done = augment.augment(TEXTS[:1], tokenizer, model, augment.Options(factor=4), keep=keep)
    assert done.inputs
    for new in done.inputs:
        assert set(new.split()) <= {"the", "movie", "was", "good", "bad", "fast"}


def test_pairs_and_words_keep_their_shape(tiny_bert: Path) -> None:
    tokenizer, model = _teacher(tiny_bert)
    pairs = [("the movie was good", "the phone was bad")]
    words = [["set", "the", "timer", "for", "minutes"]]
    new_pairs = augment.augment(pairs, tokenizer, model, augment.Options(factor=2, replace=0.9))
    new_words = augment.augment(words, tokenizer, model, augment.Options(factor=2, replace=0.9))
    assert new_pairs.inputs and all(isinstance(p, tuple) and len(p) == 2 for p in new_pairs.inputs)
    assert new_words.inputs and all(isinstance(w, list) and len(w) == 5 for w in new_words.inputs)


def test_masked_lm_head_proposes_when_the_teacher_has_one(tmp_path: Path) -> None:
    mlm_dir = save_tiny(tmp_path / "mlm", "BertForMaskedLM")
    teacher = resolve_teacher(str(mlm_dir))
    mlm = augment.load_mlm(teacher.path, teacher.config)
    assert mlm is not None
    tokenizer = load_tokenizer(teacher.path)
    with torch.no_grad():  # the head now proposes "battery" wherever it is asked
        mlm.cls.predictions.bias[tokenizer.get_vocab()["battery"]] = 100.0
    done = augment.augment(
        TEXTS[:1],
        tokenizer,
        load_teacher_model(teacher),
        augment.Options(factor=2, candidates=1),
        mlm,
    )
    assert done.source == "masked-LM head"
    assert done.inputs and all("battery" in new.split() for new in done.inputs)
    plain = resolve_teacher(str(save_tiny(tmp_path / "plain")))
    assert augment.load_mlm(plain.path, plain.config) is None


def test_a_bpe_tokenizer_is_refused_with_its_kind(tmp_path: Path) -> None:
    roberta = save_tiny_family(tmp_path / "roberta", "roberta")
    reason = augment.check_tokenizer(load_tokenizer(roberta), "--augment 2")
    assert reason is not None and "WordPiece" in reason and "BPE" in reason


def test_hard_loss_skips_rows_without_labels() -> None:
    logits = torch.randn(3, 2, requires_grad=True)
    none = hard_loss(logits, torch.full((3,), IGNORE))
    assert none.detach().item() == 0.0
    some = hard_loss(logits, torch.tensor([1, IGNORE, IGNORE]))
    full = torch.nn.functional.cross_entropy(logits[:1], torch.tensor([1]))
    assert torch.allclose(some, full)


def _labelled(path: Path) -> Path:
    rows = ["sentence\tlabel"]
    for i, line in enumerate(
        write_word_lines(path.with_suffix(".txt"), 40, 3).read_text().split("\n")
    ):
        if line:
            rows.append(f"{line}\t{'pos' if i % 2 else 'neg'}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.slow
def test_distillation_trains_on_augmented_and_unlabelled_text(tmp_path: Path) -> None:
    two = save_tiny(tmp_path / "two", "BertForSequenceClassification", num_labels=2)
    unlabelled = write_word_lines(tmp_path / "more.txt", 30, 5)
    settings = Settings(task="", epochs=1, batch_size=8, seq_len=16, patience=None, augment=2)
    job = Job(
        teacher=str(two),
        data=_labelled(tmp_path / "train.tsv"),
        out=tmp_path / "s",
        settings=settings,
        layers=1,
        unlabelled=unlabelled,
        vocab_size=40,
    )
    outcome = distill(job)
    assert outcome.train_examples == 36  # 40 rows less the 10% held out
    assert 30 + 36 < outcome.train_examples + outcome.extra_examples <= 30 + 36 * 3
    record = json.loads((tmp_path / "s" / "edgedistil.json").read_text())
    assert record["train_rows"] == outcome.train_examples + outcome.extra_examples
    assert record["settings"]["augment"] == 2 and record["unlabelled"] == str(unlabelled)
    hard_only = Settings(
        task="",
        epochs=1,
        batch_size=8,
        seq_len=16,
        augment=2,
        weights=settings.weights.__class__(kd=0.0, cos=0.0),
    )
    with pytest.raises(DistillError, match="without labels, which only the teacher"):
        distill(Job(**{**job.__dict__, "settings": hard_only, "out": tmp_path / "h"}))


def _distill_cli(teacher: Path, data: Path, out: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["distill", "--teacher", str(teacher), "--data", str(data), "--out", str(out),
         "--layers", "1", "--epochs", "1", "--seq-len", "16", *extra],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no examples"),
        (b"the movie\x00\x01\x02", "a binary file (or UTF-16 text), not UTF-8 text"),
    ],
    ids=["empty", "binary"],
)
def test_bad_unlabelled_text_is_one_line(
    tiny_bert: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "more.txt"
    bad.write_bytes(content)
    data = write_word_lines(tmp_path / "train.txt", 20, 1)
    result = _distill_cli(tiny_bert, data, tmp_path / "s", "--unlabelled", str(bad))
    assert result.exit_code != 0
    line = error_line(result)
    assert str(bad) in line and message in line


def test_augmenting_for_a_bpe_teacher_is_one_line(tmp_path: Path) -> None:
    roberta = save_tiny_family(tmp_path / "roberta", "roberta")
    data = write_word_lines(tmp_path / "train.txt", 20, 1)
    result = _distill_cli(roberta, data, tmp_path / "s", "--augment", "3")
    assert result.exit_code != 0
    line = error_line(result)
    assert "--augment 3" in line and "BPE" in line and "leave out --augment" in line


@pytest.mark.slow
def test_by_default_a_classifier_trains_on_augmented_text_unless_it_cannot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = _labelled(tmp_path / "train.tsv")

    def run(teacher: Path, out: str, **weights: float) -> dict[str, object]:
        settings = Settings(task="", epochs=1, batch_size=8, seq_len=16, patience=None)
        if weights:
            settings = Settings(
                task="", epochs=1, batch_size=8, seq_len=16, weights=Weights(**weights)
            )
        distill(Job(teacher=str(teacher), data=data, out=tmp_path / out, settings=settings))
        return json.loads((tmp_path / out / "edgedistil.json").read_text())

    two = save_tiny(
        tmp_path / "two", "BertForSequenceClassification", num_labels=2, num_hidden_layers=2
    )
    record = run(two, "default")
    assert record["settings"]["augment"] == augment.DEFAULT_FACTOR["classification"] == 2
    assert record["train_rows"] > 36
    hard = run(two, "hard", kd=0.0, cos=0.0)  # nothing would learn from unlabelled text
    assert hard["settings"]["augment"] == 0 and hard["train_rows"] == 36
    roberta = save_tiny_family(
        tmp_path / "roberta", "roberta", "ForSequenceClassification", num_labels=2
    )
    with caplog.at_level("WARNING"):
        bpe = run(roberta, "bpe")
    assert bpe["settings"]["augment"] == 0 and bpe["train_rows"] == 36
    assert "this tokenizer is BPE; training on the text as given" in caplog.text
