"""``edgedistil build`` of a token classifier (NER) end to end on a tiny BERT teacher with BIO
tags: distil, ONNX export with logits a token, int8, bench and gate, each artifact scored by the
entity F1 of its words' tags against the PyTorch student's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.build._device import (
    MIN_AGREEMENT,
    TINY_LOGITS_DROP,
    agreement,
    build_for,
    build_onnx,
    release,
    tflite_record,
)
from tests.distill.test_tokens import save_tagger, write_tagged

LENGTH = 128  # the Raspberry Pi 4 profile's sequence length


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ner")
    # initializer_range 0.5: logits that differ from token to token (0.02 tags every word alike)
    teacher = save_tagger(root / "teacher", initializer_range=0.5)
    return build_onnx(teacher, write_tagged(root / "ner.jsonl", n=200), root / "out")


def _eval(out: Path) -> tuple[list[list[str]], list[list[str]]]:
    rows = [json.loads(line) for line in (out / "split" / "eval.jsonl").read_text().splitlines()]
    return [row["tokens"] for row in rows], [row["tags"] for row in rows]


@pytest.mark.slow
def test_a_token_classifier_build_scores_entities_and_passes_its_gate(built: Path) -> None:
    import onnx

    record = json.loads((built / "onnx" / "export.json").read_text())
    assert record["task"] == "token-classification" and record["output"] == "logits"
    graph = onnx.load(str(built / "onnx" / "model.onnx")).graph
    dims = [d.dim_value or d.dim_param for d in graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["batch", LENGTH, 4]  # [batch, L, C]: a row of logits a token
    words, _ = _eval(built)
    fidelity = json.loads((built / "onnx" / "fidelity.json").read_text())["fidelity"]
    assert fidelity["metric"] == "entity-f1" and fidelity["sentences"] == len(words)
    release = json.loads((built / "manifest.json").read_text())["artifacts"]["onnx/model.int8.onnx"]
    assert release["vs_teacher"]["metric"] == "entity-f1"
    assert release["vs_teacher"]["sentences"] == len(words)
    assert "with gold tags" in release["drop_vs_teacher_source"]
    assert json.loads((built / "gate.json").read_text())["passed"] is True


@pytest.mark.slow
def test_the_artifacts_tag_as_the_pytorch_student_does(built: Path) -> None:
    import torch
    import transformers

    from edgedistil.verify.fidelity import score_tags
    from edgedistil.verify.kernels import session
    from edgedistil.verify.tags import entity_f1, word_starts, word_tags

    student = built / "student"
    model = transformers.AutoModelForTokenClassification.from_pretrained(str(student)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(student))
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    words, gold = _eval(built)
    batch = tokenizer(
        words, is_split_into_words=True, padding="max_length", truncation=True,
        max_length=LENGTH, return_tensors="np",
    )  # fmt: skip
    feed = {k: batch[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        reference = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.numpy()
    starts = word_starts(tokenizer, words, LENGTH)
    ours = word_tags(reference, starts, names)
    assert sum(len(t) for t in ours) == sum(len(w) for w in words)  # every word tagged once
    assert len({t for row in ours for t in row}) > 1  # not one tag for every word
    exported = session(built / "onnx" / "model.onnx").run(None, feed)[0]
    assert float(np.abs(exported - reference).max()) < 1e-4  # measured 7.6e-06
    assert word_tags(exported, starts, names) == ours
    release = session(built / "onnx" / "model.int8.onnx").run(None, feed)[0]
    int8 = score_tags(ours, word_tags(release, starts, names), gold, 0.0)
    # what the build recorded (int8 against the float graph, on the same kernels)
    recorded = json.loads((built / "onnx" / "fidelity.json").read_text())["fidelity"]
    assert int8.float_score == pytest.approx(recorded["float_score"]) == entity_f1(gold, ours)
    assert int8.int8_score == pytest.approx(recorded["int8_score"])
    assert int8.agreement is not None and int8.agreement >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize(("target", "runtime"), [("wear-os-watch", "litert"),
                                                 ("esp32-s3", "tflite-micro")])  # fmt: skip
def test_a_litert_and_a_micro_token_classifier_score_entities(
    built: Path, target: str, runtime: str, tmp_path: Path
) -> None:
    """The .tflite ends in logits a token; LiteRT (and TFLite Micro) are scored by the entity F1
    of each word's tag on the eval words, against the gold tags."""
    folder = build_for(
        target, built / "student", built.parent / "ner.jsonl", tmp_path / "b", TINY_LOGITS_DROP
    )
    record = tflite_record(folder)
    assert record["task"] == "token-classification"
    assert record["fidelity"]["metric"] == "entity-f1"
    _, entry, checks = release(folder)
    assert (agreement(folder) or 0.0) >= MIN_AGREEMENT
    accuracy = checks["max_accuracy_drop"]
    assert accuracy["status"] == "pass" and f"in {runtime} vs PyTorch" in accuracy["source"]
    assert checks["max_drop_vs_teacher"]["status"] == "pass"
    words, _ = _eval(folder)
    assert entry["vs_teacher"]["metric"] == "entity-f1"
    assert entry["vs_teacher"]["sentences"] == len(words)
