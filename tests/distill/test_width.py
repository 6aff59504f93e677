"""Narrow students (distill --hidden): what importance keeps, how weights are sliced, the Dense
map back to the teacher's size, and that export carries it into ONNX and LiteRT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from edgedistil.data import SAMPLE_TEXT
from edgedistil.distill import width
from edgedistil.distill.job import Job, distill
from edgedistil.distill.student import build_student
from edgedistil.distill.train import Settings, collate, encode
from edgedistil.errors import DistillError, ExportError
from tests.conftest import save_tiny
from tests.tiny_families import FAMILIES, save_tiny_family

NORMALIZE = "sentence_transformers.models.Normalize"
WORDS = ["the", "phone", "battery", "was", "good", "bad", "fast", "slow", "watch", "timer"]


def _text(path: Path, n: int = 40) -> Path:
    path.write_text(
        "\n".join(" ".join(WORDS[(i + k) % 10] for k in range(3 + i % 5)) for i in range(n)) + "\n"
    )
    return path


def _one_epoch(teacher: Path, tmp_path: Path, hidden: int, **kw: Any) -> Job:
    """A one-epoch narrowing job on a short text, for the refusals."""
    settings = Settings(task="", epochs=1, batch_size=8, seq_len=16)
    return Job(
        teacher=str(teacher),
        data=_text(tmp_path / "t.txt"),
        out=tmp_path / "s",
        settings=settings,
        hidden=hidden,
        **kw,
    )


def _model(path: Path) -> Any:
    import transformers

    return transformers.AutoModel.from_pretrained(str(path)).eval()


def _batches(teacher_dir: Path) -> list[dict[str, torch.Tensor]]:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(teacher_dir))
    texts = SAMPLE_TEXT.read_text().splitlines()[:24]
    enc = encode(tokenizer, texts, None, 16)
    return [collate(enc, list(range(i, i + 8))) for i in range(0, 24, 8)]


def test_importance_keeps_what_the_teacher_uses_and_drops_what_it_does_not(
    tiny_bert: Path,
) -> None:
    teacher = _model(tiny_bert)
    with torch.no_grad():
        for name, p in teacher.named_parameters():
            if name.endswith("LayerNorm.bias"):
                p[5] = 8.0  # dimension 5 is large after every LayerNorm
        layer = teacher.encoder.layer[1]
        layer.attention.output.dense.weight[:, 16:24] = 0  # head 2 of layer 1 writes nothing
        layer.output.dense.weight[:, :19] = 0  # neurons 0..18 of layer 1 write nothing
    scores = width.importance(teacher, [0, 1], _batches(tiny_bert))
    chosen = width.choose(teacher.config, 16, scores)
    assert 5 in chosen.dims and len(chosen.dims) == 16 and chosen.dims == sorted(chosen.dims)
    assert [len(h) for h in chosen.heads] == [2, 2] and 2 not in chosen.heads[1]
    assert len(chosen.neurons[1]) == 37 * 16 // 32
    assert not set(chosen.neurons[1]) & set(range(19))


def test_narrowing_slices_each_weight_by_its_role(tiny_bert: Path) -> None:
    teacher = _model(tiny_bert)
    keep = width.Narrowing(
        dims=list(range(0, 32, 2)), heads=[[1, 3], [0, 2]], neurons=[list(range(18))] * 2
    )
    narrow = width.narrow(build_student(teacher, [0, 1]), keep)
    assert (narrow.config.hidden_size, narrow.config.num_attention_heads) == (16, 2)
    assert narrow.config.intermediate_size == 18
    d = torch.tensor(keep.dims)
    rows = torch.tensor([*range(8, 16), *range(24, 32)])  # heads 1 and 3 of size 8
    t, n = teacher.encoder.layer[0], narrow.encoder.layer[0]
    assert torch.equal(n.attention.self.query.weight, t.attention.self.query.weight[rows][:, d])
    assert torch.equal(n.attention.output.dense.weight, t.attention.output.dense.weight[d][:, rows])
    assert torch.equal(n.output.dense.weight, t.output.dense.weight[d][:, :18])
    assert torch.equal(
        narrow.embeddings.word_embeddings.weight, teacher.embeddings.word_embeddings.weight[:, d]
    )


def test_keeping_every_dimension_head_and_neuron_changes_nothing(tiny_bert: Path) -> None:
    teacher = _model(tiny_bert)
    everything = width.Narrowing(
        dims=list(range(32)), heads=[[0, 1, 2, 3]] * 2, neurons=[list(range(37))] * 2
    )
    narrow = width.narrow(build_student(teacher, [0, 1]), everything).eval()
    ids = torch.tensor([[2, 7, 9, 11, 3]])
    with torch.no_grad():
        a = teacher(input_ids=ids).last_hidden_state
        b = narrow(input_ids=ids).last_hidden_state
    assert torch.allclose(a, b, atol=1e-6)


@pytest.fixture(scope="module")
def narrow_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("narrow")
    teacher = save_tiny(root / "teacher")
    # a sentence-transformers teacher: mean pooling, then Normalize
    (teacher / "1_Pooling").mkdir()
    (teacher / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True})
    )
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": NORMALIZE},
    ]
    (teacher / "modules.json").write_text(json.dumps(modules))
    out = root / "student"
    settings = Settings(task="", epochs=2, batch_size=8, seq_len=16, patience=None)
    outcome = distill(
        Job(
            teacher=str(teacher),
            data=_text(root / "t.txt"),
            out=out,
            settings=settings,
            layers=1,
            hidden=16,
            prune_vocab=True,
        )
    )
    assert outcome.hidden == 16
    return out


@pytest.mark.slow
def test_a_narrow_embedding_student_ends_in_a_dense_map_to_the_teacher_size(
    narrow_student: Path,
) -> None:
    config = json.loads((narrow_student / "config.json").read_text())
    assert (config["hidden_size"], config["num_attention_heads"]) == (16, 2)
    modules = json.loads((narrow_student / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[1] for m in modules]
    assert kinds == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert [m["idx"] for m in modules] == [0, 1, 2, 3]
    dense = json.loads((narrow_student / "2_Dense" / "config.json").read_text())
    assert (dense["in_features"], dense["out_features"], dense["bias"]) == (16, 32, False)
    weights = load_file(str(narrow_student / "2_Dense" / "model.safetensors"))
    assert list(weights) == ["linear.weight"] and weights["linear.weight"].shape == (32, 16)
    pooling = json.loads((narrow_student / "1_Pooling" / "config.json").read_text())
    assert pooling["word_embedding_dimension"] == 16
    # the BERT weights hold no projection: transformers loads them without leftovers
    bert = load_file(str(narrow_student / "model.safetensors"))
    assert not any(width.PROJECTION in k for k in bert)
    record = json.loads((narrow_student / "edgedistil.json").read_text())
    assert len(record["settings"]["hidden_dims"]) == 16
    assert 0 < record["best"] <= 1  # cosine to the teacher's own 32-dimensional embedding


def test_the_projection_starts_as_the_least_squares_fit(tiny_bert: Path) -> None:
    teacher = _model(tiny_bert)
    batches = _batches(tiny_bert)
    keep = width.choose(teacher.config, 16, width.importance(teacher, [0, 1], batches))
    student = width.narrow(build_student(teacher, [0, 1]), keep)
    fitted = width.fit_projection(student, teacher, batches, "mean", lambda ids: ids)
    from edgedistil.distill import losses

    with torch.no_grad():
        b = batches[0]
        s = losses.pool(student.eval()(**_inputs(b)).last_hidden_state, b["attention_mask"], "mean")
        t = losses.pool(teacher(**_inputs(b)).last_hidden_state, b["attention_mask"], "mean")
        cos = torch.nn.functional.cosine_similarity(fitted(s), t).mean()
        zero_map = torch.nn.functional.cosine_similarity(s, t[:, keep.dims]).mean()
    assert fitted.bias is None and fitted.weight.shape == (32, 16)
    assert cos > 0.9 and cos > zero_map  # better than reading the kept dimensions as they are


def _inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


@pytest.mark.slow
def test_onnx_export_carries_the_dense_map(narrow_student: Path, tmp_path: Path) -> None:
    import onnxruntime

    from edgedistil.export.onnx import ExportSpec, export_onnx

    spec = ExportSpec(
        student=narrow_student, out=tmp_path / "x", sequence_length=16, parity_text=SAMPLE_TEXT
    )
    exported = export_onnx(spec)
    session = onnxruntime.InferenceSession(str(exported.path))
    ids = np.array([[2, 6, 7, 3] + [0] * 12], dtype=np.int64)
    (out,) = session.run(None, {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int64)})
    assert out.shape == (1, 32)
    assert exported.parity.passed


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["float32", "full-int8"])
def test_litert_graph_carries_the_dense_map(
    narrow_student: Path, tmp_path: Path, scheme: str
) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from edgedistil.export.tflite import TFLiteSpec, convert_tflite

    spec = TFLiteSpec(
        student=narrow_student,
        out=tmp_path / scheme,
        scheme=scheme,
        sequence_length=16,
        calibration=SAMPLE_TEXT,
        eval_text=SAMPLE_TEXT,
        max_drop=0.02,
        calibration_sentences=64,
        eval_sentences=32,
    )
    converted = convert_tflite(spec)
    interpreter = Interpreter(model_path=str(converted.path))
    assert list(interpreter.get_output_details()[0]["shape"]) == [1, 32]


@pytest.mark.slow
def test_a_dense_with_bias_and_tanh_is_computed_as_pytorch_does(
    narrow_student: Path, tmp_path: Path
) -> None:
    import shutil

    from edgedistil.export import model as model_mod
    from edgedistil.export import tf_bert, tf_weights
    from edgedistil.verify.parity import torch_outputs
    from edgedistil.verify.text import encode as encode_arrays

    student = tmp_path / "tanh"
    shutil.copytree(narrow_student, student)
    config_path = student / "2_Dense" / "config.json"
    config = json.loads(config_path.read_text())
    config |= {"bias": True, "activation_function": "torch.nn.modules.activation.Tanh"}
    config_path.write_text(json.dumps(config))
    weights = load_file(str(student / "2_Dense" / "model.safetensors"))
    weights["linear.bias"] = torch.linspace(-0.5, 0.5, 32)
    save_file(weights, str(student / "2_Dense" / "model.safetensors"))

    model = _model(student)
    head = model_mod.read_head(model, student)
    assert head.dense is not None and head.dense.activation == "tanh"
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(student))
    texts = ["the phone was good", "slow watch"]
    arrays = encode_arrays(tokenizer, texts, 16, ("input_ids", "attention_mask"), "int32")
    reference = torch_outputs(model_mod.wrap(model, head, False), arrays)
    fn = tf_bert.build(
        tf_weights.read_weights(model, head, 16),
        length=16,
        gelu="exact",
        mask_bias=1000.0,
        outliers=(1, 7),
    )
    rows = [
        fn(**{k: a[i : i + 1] for k, a in arrays.items()})["embedding"].numpy() for i in range(2)
    ]
    assert np.max(np.abs(np.concatenate(rows) - reference)) < 1e-4

    config["activation_function"] = "torch.nn.modules.activation.ReLU"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ExportError, match='activation_function "torch.nn.modules.activation.ReLU"'):
        model_mod.read_head(model, student)


@pytest.mark.parametrize(
    ("hidden", "message"),
    [
        (
            12,
            "--hidden 12: must be a multiple of the teacher's head size 8 from 16 to its hidden "
            "size 32",
        ),
        (8, "--hidden 8: must be a multiple"),
        (64, "--hidden 64: must be a multiple"),
    ],
)
def test_widths_the_teacher_cannot_give(
    tiny_bert: Path, tmp_path: Path, hidden: int, message: str
) -> None:
    job = _one_epoch(tiny_bert, tmp_path, hidden, layers=1)
    with pytest.raises(DistillError, match=message.replace("(", r"\(")):
        distill(job)
    assert not (tmp_path / "s" / "edgedistil.json").exists()


def test_layernorm_weights_start_the_narrow_student_at_the_teachers_scale(
    tiny_bert: Path,
) -> None:
    teacher = _model(tiny_bert)
    batches = _batches(tiny_bert)
    everything = list(range(32))
    assert width.norm_ratios(teacher, [0, 1], batches, everything) == pytest.approx([1.0] * 5)
    keep = width.choose(teacher.config, 16, width.importance(teacher, [0, 1], batches))
    ratios = width.norm_ratios(teacher, [0, 1], batches, keep.dims)
    assert len(ratios) == 5  # the embeddings' LayerNorm and two per layer
    b = batches[0]
    real = b["attention_mask"].bool()

    def embedding_scale(model: Any, dims: list[int] | None) -> float:
        with torch.no_grad():
            out = model.eval()(**_inputs(b), output_hidden_states=True).hidden_states[0]
            centred = out - model.embeddings.LayerNorm.bias  # the normalised part, weight included
            return float(centred[..., dims or slice(None)].norm(dim=-1)[real].mean())

    target = embedding_scale(teacher, keep.dims)
    plain = embedding_scale(width.narrow(build_student(teacher, [0, 1]), keep), None)
    scaled = embedding_scale(width.narrow(build_student(teacher, [0, 1]), keep, ratios), None)
    assert abs(scaled - target) < abs(plain - target)
    assert scaled == pytest.approx(target, rel=0.1)


@pytest.mark.slow
def test_a_narrow_classifier_keeps_its_head_and_matches_the_teacher_on_kept_dimensions(
    tiny_classifier: Path, tmp_path: Path
) -> None:
    import transformers

    rows = ["sentence\tlabel"] + [
        f"{' '.join(WORDS[(i + k) % 10] for k in range(4))}\t{'LABEL_' + str(i % 3)}"
        for i in range(36)
    ]
    data = tmp_path / "train.tsv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "cls"
    settings = Settings(task="", epochs=1, batch_size=8, seq_len=16, patience=None)
    outcome = distill(
        Job(teacher=str(tiny_classifier), data=data, out=out, settings=settings, hidden=16)
    )
    assert outcome.task == "classification" and outcome.hidden == 16
    assert not (out / "2_Dense").exists()  # logits need no map back
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(out))
    assert model.classifier.weight.shape == (3, 16) and model.bert.pooler.dense.weight.shape == (
        16,
        16,
    )


def test_a_teacher_that_ends_in_a_dense_module_is_not_narrowed(
    tiny_bert: Path, tmp_path: Path
) -> None:
    import shutil

    teacher = Path(shutil.copytree(tiny_bert, tmp_path / "teacher"))
    dense = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    (teacher / "modules.json").write_text(json.dumps([dense]))
    job = _one_epoch(teacher, tmp_path, 16)
    with pytest.raises(DistillError, match="ends in a Dense module; --hidden narrows"):
        distill(job)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("architecture", ["ForSequenceClassification", "Model"])
def test_narrowing_serves_every_family_and_its_head(
    family: str, architecture: str, tmp_path: Path
) -> None:
    from edgedistil.teacher import load_teacher_model, resolve_teacher

    extra = {"num_labels": 3} if architecture != "Model" else {}
    path = save_tiny_family(tmp_path / family, family, architecture, **extra)
    teacher = load_teacher_model(resolve_teacher(str(path)))
    keep = width.Narrowing(
        dims=list(range(1, 32, 2)), heads=[[0, 3], [1, 2]], neurons=[list(range(18))] * 2
    )
    narrow = width.narrow(build_student(teacher, [0, 1]), keep).eval()
    with torch.no_grad():
        out = narrow(input_ids=torch.tensor([[0, 5, 6, 7, 2]]))
    assert narrow.config.hidden_size == 16 and width.intermediate_size(narrow.config) == 18
    first = out.logits if hasattr(out, "logits") else out.last_hidden_state
    assert first.shape[-1] == (3 if extra else 16)
