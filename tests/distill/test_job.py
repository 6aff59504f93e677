"""distill and finetune end to end on tiny random BERTs: outputs, resume, bad input, torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from edgedistil.distill import checkpoint
from edgedistil.distill.job import Job, distill, finetune
from edgedistil.distill.train import Settings
from edgedistil.errors import DistillError, TeacherError
from tests.conftest import save_tiny, torchrun_command

WORDS = ["the", "phone", "battery", "was", "good", "bad", "fast", "slow", "watch", "timer"]


def _labelled(path: Path, n: int = 48) -> Path:
    rows = ["sentence\tlabel"]
    for i in range(n):
        good = i % 2 == 0
        words = [WORDS[(i * 3 + k) % len(WORDS)] for k in range(4)]
        rows.append(" ".join([*words, "good" if good else "bad"]) + f"\t{'pos' if good else 'neg'}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _plain(path: Path, n: int = 40) -> Path:
    path.write_text(
        "\n".join(" ".join(WORDS[(i + k) % 10] for k in range(3 + i % 5)) for i in range(n)) + "\n"
    )
    return path


def _settings(**kw: Any) -> Settings:
    return Settings(
        task="", epochs=kw.pop("epochs", 2), batch_size=8, seq_len=16, patience=None, **kw
    )


@pytest.mark.slow
def test_embedding_student_is_a_loadable_model_directory(tiny_bert: Path, tmp_path: Path) -> None:
    import transformers

    out = tmp_path / "student"
    outcome = distill(
        Job(
            teacher=str(tiny_bert),
            data=_plain(tmp_path / "t.txt"),
            out=out,
            settings=_settings(),
            layers=1,
        )
    )
    assert outcome.task == "embedding" and outcome.layer_map == [0]
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "edgedistil.json",
    } <= {p.name for p in out.iterdir()}
    assert not (out / "checkpoints").exists() and not (out / ".model.tmp").exists()
    model = transformers.AutoModel.from_pretrained(str(out))
    assert model.config.num_hidden_layers == 1
    record = json.loads((out / "edgedistil.json").read_text())
    assert record["settings"]["seed"] == 42 and record["settings"]["layer_map"] == [0]
    assert len(record["history"]) == 2 and "cosine" in record["history"][0]
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    model(**tok(["the phone"], return_tensors="pt"))


@pytest.mark.slow
def test_classification_distillation_and_label_mapping(
    tiny_classifier: Path, tmp_path: Path
) -> None:
    data = _labelled(tmp_path / "train.tsv")
    two = save_tiny(tmp_path / "two", "BertForSequenceClassification", num_labels=2)
    # the teacher's classes are LABEL_0, LABEL_1: the data's two labels map by position
    outcome = distill(
        Job(teacher=str(two), data=data, out=tmp_path / "s", settings=_settings(), layers=1)
    )
    assert outcome.task == "classification"
    assert "accuracy" in outcome.state.history[-1]
    with pytest.raises(
        DistillError,
        match=r"labels \['neg', 'pos'\] do not match the teacher's "
        r"classes \['LABEL_0', 'LABEL_1', 'LABEL_2'\]",
    ):
        distill(
            Job(teacher=str(tiny_classifier), data=data, out=tmp_path / "s3", settings=_settings())
        )


@pytest.mark.slow
def test_pruned_student_has_a_matching_tokenizer(tiny_bert: Path, tmp_path: Path) -> None:
    import transformers

    out = tmp_path / "pruned"
    distill(
        Job(
            teacher=str(tiny_bert),
            data=_plain(tmp_path / "t.txt"),
            out=out,
            settings=_settings(epochs=1),
            layers=1,
            prune_vocab=True,
        )
    )
    model = transformers.AutoModel.from_pretrained(str(out))
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    # the specials, the text's words, and the tiny vocabulary's single-character pieces
    # ("a" and "##s": a word the text never showed can still be spelt)
    assert model.config.vocab_size == len(tok) == 5 + len(WORDS) + 2
    assert {"a", "##s"} <= set(tok.get_vocab())
    vocab = (out / "vocab.txt").read_text().split()
    assert vocab[:2] == ["[PAD]", "[UNK]"] and len(vocab) == len(tok)


def test_classification_needs_a_trained_head(tiny_bert: Path, tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="no trained classification head.*edgedistil finetune"):
        distill(
            Job(
                teacher=str(tiny_bert),
                data=_labelled(tmp_path / "t.tsv"),
                out=tmp_path / "o",
                settings=_settings(),
                task="classification",
            )
        )


@pytest.mark.slow
def test_finetune_makes_a_classification_teacher(tiny_bert: Path, tmp_path: Path) -> None:
    import transformers

    out = tmp_path / "teacher"
    finetune(
        Job(
            teacher=str(tiny_bert),
            data=_labelled(tmp_path / "t.tsv"),
            out=out,
            settings=_settings(epochs=2),
            lr=1e-3,
        )
    )
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(out))
    assert model.config.id2label == {0: "neg", 1: "pos"}
    outcome = distill(
        Job(
            teacher=str(out),
            data=_labelled(tmp_path / "t.tsv"),
            out=tmp_path / "student",
            settings=_settings(epochs=1),
        )
    )
    assert outcome.task == "classification" and outcome.layer_map == [0]


class _KillAfterFirstEpoch:
    """Stands in for a kill: the checkpoint of epoch 1 is on disk when end() is called."""

    def phase(self, name: str, steps: int) -> None:
        pass

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def advance(self, loss: float, examples: int) -> None:
        pass

    def end(self, epoch: int, metrics: dict[str, float]) -> None:
        raise KeyboardInterrupt


@pytest.mark.slow
@pytest.mark.parametrize("hidden", [None, 16], ids=["full-width", "narrow"])
def test_resume_continues_exactly_where_the_run_stopped(
    tiny_bert: Path, tmp_path: Path, hidden: int | None
) -> None:
    data = _plain(tmp_path / "t.txt")
    whole = tmp_path / "whole"

    def job(out: Path, resume: bool = False) -> Job:
        return Job(
            teacher=str(tiny_bert),
            data=data,
            out=out,
            settings=_settings(epochs=3),
            hidden=hidden,
            resume=resume,
        )

    distill(job(whole))
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        distill(job(part), _KillAfterFirstEpoch())
    assert checkpoint.latest_checkpoint(part) == part / "checkpoints" / "epoch-1"
    (part / "checkpoints" / ".epoch-2.tmp").mkdir()  # a kill mid-write leaves only this behind
    with pytest.raises(DistillError, match="holds checkpoints of an unfinished run; add --resume"):
        distill(job(part))
    distill(job(part, resume=True))
    names = ["model.safetensors"] + (["2_Dense/model.safetensors"] if hidden else [])
    for name in names:
        a, b = load_file(str(whole / name)), load_file(str(part / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resume_refuses_other_settings(tiny_bert: Path, tmp_path: Path) -> None:
    data, out = _plain(tmp_path / "t.txt"), tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        distill(
            Job(teacher=str(tiny_bert), data=data, out=out, settings=_settings()),
            _KillAfterFirstEpoch(),
        )
    with pytest.raises(DistillError, match=r"other settings \(lr 0.0005 -> 0.001\)"):
        distill(
            Job(
                teacher=str(tiny_bert),
                data=data,
                out=out,
                settings=_settings(),
                lr=1e-3,
                resume=True,
            )
        )


@pytest.mark.slow
def test_an_existing_model_is_not_overwritten(tiny_bert: Path, tmp_path: Path) -> None:
    data, out = _plain(tmp_path / "t.txt"), tmp_path / "o"
    distill(Job(teacher=str(tiny_bert), data=data, out=out, settings=_settings(epochs=1)))
    with pytest.raises(DistillError, match="already holds a model"):
        distill(Job(teacher=str(tiny_bert), data=data, out=out, settings=_settings(epochs=1)))


def test_a_teacher_without_weights(tiny_bert: Path, tmp_path: Path) -> None:
    empty = tmp_path / "noweights"
    empty.mkdir()
    (empty / "config.json").write_text((tiny_bert / "config.json").read_text())
    with pytest.raises(TeacherError, match="has no weights"):
        distill(
            Job(
                teacher=str(empty),
                data=_plain(tmp_path / "t.txt"),
                out=tmp_path / "o",
                settings=_settings(),
            )
        )


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--hidden", "16"]], ids=["full-width", "narrow"])
def test_two_cpu_processes_with_torchrun(tiny_bert: Path, tmp_path: Path, extra: list[str]) -> None:
    """torch's own launcher, gloo backend, 2 processes: no code change from the 1-process run;
    a narrow student's Dense map, used outside the wrapped forward, is reduced as well."""
    out = tmp_path / "ddp"
    exe = Path(sys.executable).parent / "edgedistil"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = torchrun_command(
        2,
        str(exe),
        "distill",
        "--teacher",
        str(tiny_bert),
        "--data",
        str(_plain(tmp_path / "t.txt")),
        "--out",
        str(out),
        "--layers",
        "1",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--seq-len",
        "16",
        *extra,
    )
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "edgedistil.json").read_text())
    assert len(record["history"]) == 2
    assert (out / "2_Dense").is_dir() == bool(extra)
    # rank 0 alone measures the student against the teacher (a narrow one through its map),
    # writes it and says it
    assert record["vs_teacher"]["eval_source"] == "held-out share of the data"
    assert -1 <= record["vs_teacher"]["cosine"] <= 1
    assert done.stdout.count("Against the teacher on 4 eval examples") == 1
