"""``edgedistil build`` of a text-pair classifier (NLI) end to end on a tiny BERT teacher with
3 classes: the student learns pairs, the ONNX graph takes their segments, every verify stage
feeds pairs, and the artifact's outputs match the PyTorch student's on the eval pairs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from tests.build._device import (
    MIN_AGREEMENT,
    TINY_LOGITS_DROP,
    agreement,
    build_for,
    build_onnx,
    release,
    tflite_record,
)
from tests.conftest import error_line, save_tiny
from tests.distill.test_pairs import write_pairs


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    # initializer_range 0.5: logits of order 1 that differ between pairs (0.02 gives ~0.01 for
    # every input, where any two graphs agree)
    teacher = save_tiny(
        root / "teacher", "BertForSequenceClassification", num_labels=3, initializer_range=0.5
    )
    return build_onnx(teacher, write_pairs(root / "nli.tsv", n=200), root / "out")


def _eval_pairs(out: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (out / "split" / "eval.jsonl").read_text().splitlines()]
    return [(row["text"], row["text_pair"]) for row in rows]


@pytest.mark.slow
def test_a_pair_build_records_pairs_at_every_stage_and_passes_its_gate(built: Path) -> None:
    assert json.loads((built / "student" / "edgedistil.json").read_text())["settings"]["pairs"]
    record = json.loads((built / "onnx" / "export.json").read_text())
    assert record["pairs"] is True and record["task"] == "classification"
    assert record["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert record["parity"]["agreement"] == 1.0
    manifest = json.loads((built / "manifest.json").read_text())
    release = manifest["artifacts"]["onnx/model.int8.onnx"]
    assert release["vs_teacher"]["metric"] == "accuracy"  # the eval pairs' labels
    assert release["vs_teacher"]["sentences"] == len(_eval_pairs(built))
    assert json.loads((built / "gate.json").read_text())["passed"] is True


@pytest.mark.slow
def test_the_artifacts_compute_what_the_pytorch_student_does_on_pairs(built: Path) -> None:
    import onnxruntime as ort
    import torch
    import transformers

    from edgedistil.verify.fidelity import compare
    from edgedistil.verify.kernels import session

    student = built / "student"
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(student)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(student))
    pairs = _eval_pairs(built)
    batch = tokenizer(
        pairs, padding="max_length", truncation=True, max_length=128, return_tensors="np"
    )
    assert batch["token_type_ids"].any()  # the second texts are segment 1
    with torch.no_grad():
        reference = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    names = ("input_ids", "attention_mask", "token_type_ids")
    feed = {name: batch[name].astype(np.int64) for name in names}
    float_graph = ort.InferenceSession(str(built / "onnx" / "model.onnx"))
    exported = compare(reference, float_graph.run(None, feed)[0], "classification", None)
    # measured: 4.6e-06 on logits up to 3.8, every class kept
    assert exported.sentences == len(pairs) == 101
    assert exported.max_abs_diff < 1e-4 and exported.agreement == 1.0
    # the release on the kernels its verify stage used: what the build recorded (0.96 measured)
    release = session(built / "onnx" / "model.int8.onnx").run(None, feed)[0]
    int8 = compare(reference, release, "classification", None)
    recorded = json.loads((built / "onnx" / "fidelity.json").read_text())["fidelity"]
    assert int8.agreement == pytest.approx(recorded["agreement"], abs=1 / len(pairs))
    assert int8.agreement is not None and int8.agreement >= 0.9
    # the segments matter: one segment for both texts gives other classes (0.43 agree)
    flat = float_graph.run(None, {**feed, "token_type_ids": np.zeros_like(feed["token_type_ids"])})
    assert compare(reference, flat[0], "classification", None).agreement < 0.8  # type: ignore[operator]


@pytest.mark.slow
def test_a_pair_student_refuses_single_text_to_verify_on(
    built: Path, tmp_path: Path, runner: CliRunner
) -> None:
    single = tmp_path / "single.txt"
    single.write_text("the phone was good\n", encoding="utf-8")
    result = runner.invoke(
        cli,
        ["export", str(built / "student"), "--target", str(built.parent / "pi4.toml"),
         "--out", str(tmp_path / "x"), "--parity-text", str(single)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "single.txt: a plain text file has no second text" in error_line(result)
    # quantize a copy: static int8 calibrates on pairs (the train part), never on single text
    export = Path(shutil.copytree(built / "onnx", tmp_path / "onnx"))
    quantize = ["quantize", str(export), "--target", str(built.parent / "pi4.toml"), "--scheme",
                "static-int8", "--eval", str(built / "split" / "eval.jsonl"),
                "--calibration"]  # fmt: skip
    result = runner.invoke(cli, [*quantize, str(single)])
    assert result.exit_code == 1
    assert "single.txt: a plain text file has no second text" in error_line(result)
    result = runner.invoke(cli, [*quantize, str(built / "split" / "train.jsonl")])
    assert result.exit_code == 0, result.output + result.stderr
    fidelity = json.loads((export / "fidelity.json").read_text())
    assert fidelity["scheme"].startswith("static-int8")
    assert fidelity["calibration"]["sentences"] == len(
        (built / "split" / "train.jsonl").read_text().splitlines()
    )
    assert fidelity["fidelity"]["sentences"] == len(_eval_pairs(built))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["wear-os-watch", "esp32-s3"])
def test_a_litert_and_a_micro_pair_graph_take_segment_ids(
    built: Path, target: str, tmp_path: Path
) -> None:
    """BERT tells a pair's texts apart by segment: the .tflite takes token_type_ids, and its
    outputs on the eval pairs are compared with the PyTorch student's (the gate's accuracy)."""
    folder = build_for(
        target, built / "student", built.parent / "nli.tsv", tmp_path / "b", TINY_LOGITS_DROP
    )
    record = tflite_record(folder)
    assert list(record["inputs"]) == ["input_ids", "attention_mask", "token_type_ids"]
    assert record["fidelity"]["metric"] == "accuracy"  # the eval pairs' labels
    _, _, checks = release(folder)
    assert (agreement(folder) or 0.0) >= MIN_AGREEMENT
    assert checks["max_accuracy_drop"]["status"] == "pass"
    assert checks["max_drop_vs_teacher"]["status"] == "pass"
