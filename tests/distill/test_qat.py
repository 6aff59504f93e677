"""Quantization-aware distillation: the PyTorch mirror of the converted integer graph
(``distill.fake_quant``) and the epochs that train through it (``distill.qat``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from edgedistil.cli import cli
from edgedistil.data import SAMPLE_TEXT
from edgedistil.distill import fake_quant, qat
from edgedistil.errors import DistillError
from tests.conftest import error_line, save_tiny, write_word_lines
from tests.tiny_families import save_tiny_family

LENGTH = 16
HEADS = {"Model": "embedding", "ForSequenceClassification": "classification"}
HEADS["ForTokenClassification"] = "token-classification"


def _batches(model_dir: Path, lines: list[str], length: int = LENGTH) -> list[dict[str, Any]]:
    from edgedistil.teacher import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    out = []
    for start in range(0, len(lines), 8):
        enc = tokenizer(
            lines[start : start + 8],
            padding="max_length",
            truncation=True,
            max_length=length,
            return_tensors="pt",
        )
        out.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})
    return out


def _reference(model: Any, task: str, batch: dict[str, Any], normalize: bool) -> torch.Tensor:
    out = model(**batch)
    if task != "embedding":
        return out.logits
    keep = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (out.last_hidden_state * keep).sum(1) / keep.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled


def _mirror(model: Any, task: str, normalize: bool, graph: fake_quant.Graph) -> Any:
    head = fake_quant.Head(task=task, pooling="mean", normalize=normalize)
    return fake_quant.Mirror.of(model, graph, head)


@pytest.mark.parametrize("family", ["bert", "distilbert", "roberta"])
@pytest.mark.parametrize("architecture", sorted(HEADS))
def test_the_float_mirror_computes_what_the_module_computes(
    family: str, architecture: str, tmp_path: Path
) -> None:
    import transformers

    kwargs = {"num_labels": 3} if architecture != "Model" else {}
    directory = save_tiny_family(tmp_path / family, family, architecture, **kwargs)
    model = transformers.AutoModel if architecture == "Model" else None
    model = getattr(transformers, f"AutoModel{architecture.removeprefix('Model')}")
    model = model.from_pretrained(directory).eval()
    model.set_attn_implementation("eager")
    task = HEADS[architecture]
    lines = write_word_lines(tmp_path / "t.txt", 24, 1).read_text().splitlines()
    batches = _batches(directory, lines)
    for normalize in (False, True) if task == "embedding" else (False,):
        mirror = _mirror(model, task, normalize, fake_quant.Graph(bits=8, gelu="exact", split=True))
        mirror.calibrate(batches, lambda ids: ids)
        with torch.no_grad():
            for batch in batches:
                got = mirror.run("float", batch, batch["input_ids"])
                want = _reference(model, task, batch, normalize)
                if task == "token-classification":
                    keep = batch["attention_mask"].bool()
                    got, want = got[keep], want[keep]
                assert torch.allclose(got, want, atol=2e-5), (got - want).abs().max()


def _cosine_loss(a: Any, b: Any) -> float:
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return float(1.0 - cos.mean())


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["BertModel", "BertForSequenceClassification"])
def test_the_mirror_predicts_what_the_converted_file_loses(
    architecture: str, tmp_path: Path
) -> None:
    """The real full-int8 LiteRT file against the float student loses what the fake-quantized
    mirror loses, to within a factor of two (the kernels' own fixed-point steps differ); the
    float graph would predict no loss at all. Larger weights than the tiny default
    (initializer_range 0.3) give a loss well above float noise."""
    import transformers

    from edgedistil.export.tflite import TFLiteSpec, convert_tflite, run_litert

    task = "embedding" if architecture == "BertModel" else "classification"
    labels = {} if task == "embedding" else {"num_labels": 3}
    student = save_tiny(tmp_path / "s", architecture, initializer_range=0.3, **labels)
    calibration = write_word_lines(tmp_path / "c.txt", 64, 2)
    spec = TFLiteSpec(
        student=student,
        out=tmp_path / "out",
        scheme="full-int8",
        sequence_length=LENGTH,
        calibration=calibration,
        eval_text=write_word_lines(tmp_path / "e.txt", 32, 3),
        max_drop=1.0,
        calibration_sentences=64,
        eval_sentences=32,
        metadata=False,
    )
    result = convert_tflite(spec)
    arrays = result.reference.arrays
    converted, _ = run_litert(result.path, arrays)
    model = getattr(transformers, architecture).from_pretrained(student).eval()
    model.set_attn_implementation("eager")
    mirror = _mirror(model, task, False, fake_quant.Graph(bits=8, gelu="exact", split=True))
    mirror.calibrate(_batches(student, calibration.read_text().splitlines()), lambda ids: ids)
    assert mirror.mask_bias == pytest.approx(result.mask_bias, rel=1e-5)  # as the export chose
    batch = {k: torch.tensor(arrays[k]).long() for k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        float_out = mirror.run("float", batch, batch["input_ids"]).numpy()
        rounded = mirror.run("quant", batch, batch["input_ids"]).numpy()
    real, predicted = _cosine_loss(converted, float_out), _cosine_loss(rounded, float_out)
    assert real > 1e-4  # the file rounds visibly ...
    assert 0.5 < predicted / real < 2.0, (predicted, real)  # ... and the mirror foresees it


def test_training_through_the_rounding_closes_its_gap(tmp_path: Path) -> None:
    """Straight-through gradients reach the weights: optimizing the gap alone shrinks it."""
    import transformers

    directory = save_tiny(tmp_path / "s", initializer_range=0.3)
    model = transformers.BertModel.from_pretrained(directory)
    model.set_attn_implementation("eager")
    mirror = _mirror(model, "embedding", True, fake_quant.Graph(bits=8, gelu="sigmoid", split=True))
    batches = _batches(
        directory, write_word_lines(tmp_path / "t.txt", 32, 1).read_text().splitlines()
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def total_gap() -> float:
        with torch.no_grad():
            return sum(float(qat.gap("embedding", *_pair(mirror, b))) for b in batches)

    mirror.calibrate(batches, lambda ids: ids)
    before = total_gap()
    for step in range(30):
        if step % 10 == 0:
            mirror.calibrate(batches, lambda ids: ids)
        batch = batches[step % len(batches)]
        rounded, target, mask = _pair(mirror, batch)
        loss = qat.gap("embedding", rounded, target.detach(), mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    mirror.calibrate(batches, lambda ids: ids)
    assert total_gap() < 0.5 * before


def _pair(mirror: Any, batch: dict[str, Any]) -> tuple[Any, Any, Any]:
    ids = batch["input_ids"]
    with torch.no_grad():
        target = mirror.run("float", batch, ids)
    return mirror.run("quant", batch, ids), target, batch["attention_mask"]


def test_a_scheme_without_rounded_activations_has_no_quantization_aware_epochs() -> None:
    assert qat.quant_aware("dynamic-int8", micro=False, epochs=None) is None
    assert qat.quant_aware("dynamic-int8", micro=False, epochs=0) is None
    with pytest.raises(DistillError) as info:
        qat.quant_aware("float16", micro=False, epochs=2)
    message = str(info.value)
    assert 'scheme "float16" has no fake-quantization path' in message
    assert "static-int8, full-int8, int16x8" in message


def test_each_calibrated_scheme_gets_its_graph() -> None:
    micro = qat.quant_aware("full-int8", micro=True, epochs=None)
    assert micro is not None and (micro.bits, micro.gelu, micro.split, micro.epochs) == (
        8,
        "sigmoid",
        True,
        0.25,
    )
    wide = qat.quant_aware("int16x8", micro=False, epochs=3)
    assert wide is not None and (wide.bits, wide.gelu, wide.split, wide.epochs) == (
        16,
        "exact",
        False,
        3,
    )
    assert qat.quant_aware("static-int8", micro=False, epochs=0) is None


@pytest.mark.slow
def test_distillation_ends_with_quantization_aware_epochs(tmp_path: Path) -> None:
    from edgedistil.distill.job import Job, distill
    from edgedistil.distill.train import Settings

    teacher = save_tiny(tmp_path / "t", initializer_range=0.3)
    spec = qat.quant_aware("full-int8", micro=True, epochs=0.5)  # half an epoch
    settings = Settings(task="", epochs=1, batch_size=8, seq_len=LENGTH, patience=None, qat=spec)
    data = write_word_lines(tmp_path / "d.txt", 60, 1)
    job = Job(teacher=str(teacher), data=data, out=tmp_path / "s", settings=settings, layers=1)
    with pytest.raises(DistillError, match="need the calibration text"):
        distill(job)
    calibration = write_word_lines(tmp_path / "c.txt", 40, 2)
    job = Job(**{**job.__dict__, "out": tmp_path / "s2", "calibration": calibration})
    steps = _Steps()
    outcome = distill(job, steps)
    assert steps.per_epoch == [7, 4]  # 54 training rows in batches of 8; then half of them
    first, last = outcome.state.history
    assert "qat" not in first and last["qat"] == 1.0 and last["epoch"] == 2.0
    assert 0.0 < last["quant_cosine"] <= 1.0
    record = json.loads((tmp_path / "s2" / "edgedistil.json").read_text())
    assert record["settings"]["qat"]["gelu"] == "sigmoid"


@pytest.mark.slow
def test_quantization_aware_epochs_toward_the_teacher_pull_the_rounded_output_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``toward="teacher"``: each quantization-aware step reads the teacher's output a second
    time, as the rounded output's target, where ``"float"`` reads the student's float one."""
    import dataclasses

    from edgedistil.distill import train
    from edgedistil.distill.job import Job, distill
    from edgedistil.distill.train import Settings

    teacher = save_tiny(tmp_path / "t", initializer_range=0.3)
    data = write_word_lines(tmp_path / "d.txt", 60, 1)
    calibration = write_word_lines(tmp_path / "c.txt", 40, 2)
    spec = qat.quant_aware("full-int8", micro=True, epochs=0.5)
    assert spec is not None and spec.toward == "float"  # the default
    reads = {}
    original = train.teacher_outputs
    for toward in ("float", "teacher"):
        calls = [0]

        def counted(run: Any, batch: Any, calls: list[int] = calls) -> Any:
            calls[0] += 1
            return original(run, batch)

        monkeypatch.setattr(train, "teacher_outputs", counted)
        settings = Settings(
            task="", epochs=1, batch_size=8, seq_len=LENGTH, patience=None,
            qat=dataclasses.replace(spec, toward=toward),
        )  # fmt: skip
        out = tmp_path / toward
        job = Job(teacher=str(teacher), data=data, out=out, settings=settings, layers=1,
                  calibration=calibration)  # fmt: skip
        outcome = distill(job)
        assert outcome.state.history[-1]["qat"] == 1.0
        reads[toward] = calls[0]
        record = json.loads((out / "edgedistil.json").read_text())
        assert record["settings"]["qat"]["toward"] == toward
    assert reads["teacher"] - reads["float"] == 4  # one more read in each of the 4 steps


class _Steps:
    """A train.Progress that keeps each epoch's batch count."""

    def __init__(self) -> None:
        self.per_epoch: list[int] = []

    def phase(self, name: str, steps: int) -> None:
        pass

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        self.per_epoch.append(steps)

    def advance(self, loss: float, examples: int) -> None:
        pass

    def end(self, epoch: int, metrics: dict[str, float]) -> None:
        pass


def test_build_refuses_quantization_aware_epochs_for_a_float_scheme(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "build", "--target", "raspberry-pi-4", "--out", str(tmp_path / "b"),
            "--data", str(SAMPLE_TEXT), "--qat-epochs", "1", "--skip-bench",
        ],
    )  # fmt: skip
    assert result.exit_code != 0
    assert 'scheme "dynamic-int8" has no fake-quantization path' in error_line(result)


def test_distill_asks_quantization_aware_epochs_by_scheme(tmp_path: Path) -> None:
    data = str(write_word_lines(tmp_path / "d.txt", 20, 1))
    base = ["distill", "--teacher", str(save_tiny(tmp_path / "t")), "--data", data]
    runner = CliRunner()
    float_scheme = runner.invoke(
        cli, [*base, "--out", str(tmp_path / "a"), "--qat-scheme", "dynamic-int8"]
    )
    assert 'scheme "dynamic-int8" has no fake-quantization path' in error_line(float_scheme)
    # click's usage errors (exit 2): a flag without the scheme, a scheme that does not exist
    alone = runner.invoke(cli, [*base, "--out", str(tmp_path / "b"), "--qat-epochs", "2"])
    assert alone.exit_code == 2 and "--qat-epochs and --qat-micro need --qat-scheme" in alone.output
    unknown = runner.invoke(cli, [*base, "--out", str(tmp_path / "c"), "--qat-scheme", "int4"])
    assert unknown.exit_code == 2 and "'int4' is not one of" in unknown.output


def test_a_variance_rounded_to_zero_gives_finite_outputs_and_gradients(tmp_path: Path) -> None:
    """Rows whose spread is below the variance's int8 step round it to 0: the integer RSQRT
    saturates, and the mirror must neither return inf nor send NaN to the weights."""
    import transformers

    directory = save_tiny(tmp_path / "s")
    model = transformers.BertModel.from_pretrained(directory)
    mirror = _mirror(model, "embedding", True, fake_quant.Graph(bits=8, gelu="sigmoid", split=True))
    batches = _batches(
        directory, write_word_lines(tmp_path / "t.txt", 16, 1).read_text().splitlines()
    )
    mirror.calibrate(batches, lambda ids: ids)
    # one calibrated range widened a thousandfold: every variance now rounds to 0
    lo, hi = mirror.rounding.ranges["embed.var"]
    mirror.rounding.ranges["embed.var"] = (lo, hi * 1000)
    out = mirror.run("quant", batches[0], batches[0]["input_ids"])
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_a_pooling_the_integer_graph_lacks_is_refused(tmp_path: Path) -> None:
    import transformers

    model = transformers.BertModel.from_pretrained(save_tiny(tmp_path / "s"))
    head = fake_quant.Head(task="embedding", pooling="max")
    with pytest.raises(DistillError, match='pooling "max": the LiteRT graph'):
        fake_quant.Mirror.of(model, fake_quant.Graph(bits=8, gelu="exact", split=True), head)
