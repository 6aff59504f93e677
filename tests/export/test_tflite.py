"""LiteRT export: the TF graph against PyTorch, each scheme verified in the real LiteRT
interpreter, refusals that leave nothing behind, the op check, and the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from edgedistil.data import SAMPLE_TEXT
from edgedistil.errors import ExportError
from edgedistil.records import read_json
from edgedistil.records.tflite import TFLiteRecord
from tests.conftest import error_line, write_profile

LENGTH = 16  # every code path at a tenth of the work of 128
EVAL = 48  # sentences: enough to catch a flipped class, cheap on two cores


def _spec(student: Path, out: Path, scheme: str, **overrides: Any) -> Any:
    from edgedistil.export.tflite import TFLiteSpec

    settings: dict[str, Any] = {
        "student": student,
        "out": out,
        "scheme": scheme,
        "sequence_length": LENGTH,
        "calibration": SAMPLE_TEXT,
        "eval_text": SAMPLE_TEXT,
        "max_drop": 0.02,
        "calibration_sentences": 64,
        "eval_sentences": EVAL,
    }
    return TFLiteSpec(**(settings | overrides))


def _reference(student: Path) -> tuple[Any, Any, dict[str, np.ndarray], np.ndarray]:
    from transformers import AutoTokenizer

    from edgedistil.export import model as model_mod
    from edgedistil.teacher import load_teacher_model, resolve_teacher
    from edgedistil.verify import parity, text

    model = load_teacher_model(resolve_teacher(str(student)))
    model.set_attn_implementation("eager")  # type: ignore[operator]
    head = model_mod.read_head(model, student)
    tokenizer = AutoTokenizer.from_pretrained(str(student))
    texts = parity.parity_texts(SAMPLE_TEXT)
    arrays = text.encode(tokenizer, texts, LENGTH, ("input_ids", "attention_mask"), "int32")
    reference = parity.torch_outputs(model_mod.wrap(model, head, False), arrays)
    return model, head, arrays, reference


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["tiny_classifier", "tiny_bert"])
@pytest.mark.parametrize("gelu", ["exact", "tanh", "sigmoid"])
@pytest.mark.parametrize("outliers", [(), (3, 17, 30)])
def test_tf_graph_computes_what_pytorch_computes(
    fixture: str, gelu: str, outliers: tuple[int, ...], request: pytest.FixtureRequest
) -> None:
    from edgedistil.export import tf_bert, tf_weights
    from edgedistil.export.tflite import GRAPH_LIMIT

    model, head, arrays, reference = _reference(request.getfixturevalue(fixture))
    weights = tf_weights.read_weights(model, head, LENGTH)
    fn = tf_bert.build(weights, length=LENGTH, gelu=gelu, mask_bias=1000.0, outliers=outliers)
    rows = [
        fn(**{name: a[i : i + 1] for name, a in arrays.items()})[head.output].numpy()
        for i in range(len(reference))
    ]
    # on tiny random weights erf and tanh GELU differ below 1e-4; sigmoid approximates
    limit = GRAPH_LIMIT["sigmoid"] if gelu == "sigmoid" else 1e-4
    assert np.max(np.abs(np.concatenate(rows) - reference)) < limit


def _with_outlier(source: Path, out: Path, dim: int, size: float) -> Path:
    """The tiny model with one hidden dimension held at ``size`` in the residual stream by the
    LayerNorms' biases, as BERT's outlier dimensions are (MiniLM-L6: 223 in one dimension, the
    rest within 4.5), and zeroed by the last LayerNorm so the output's direction is the rest's."""
    import shutil

    from edgedistil.teacher import load_teacher_model, resolve_teacher

    model = load_teacher_model(resolve_teacher(str(source)))
    last = f"encoder.layer.{model.config.num_hidden_layers - 1}.output.LayerNorm"
    for name, tensor in model.state_dict().items():
        if "LayerNorm" in name:
            tensor[dim] = 0.0 if name.startswith(last) else size if name.endswith("bias") else 1.0
    model.save_pretrained(str(out), safe_serialization=True)
    shutil.copy(source / "vocab.txt", out / "vocab.txt")
    return out


@pytest.mark.slow
def test_full_int8_carries_an_outlier_dimension_in_its_own_tensor(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgedistil.export import tf_bert
    from edgedistil.export.tflite import convert_tflite

    student = _with_outlier(tiny_bert, tmp_path / "outlier", dim=5, size=60.0)
    split = convert_tflite(_spec(student, tmp_path / "split", "full-int8", max_drop=1.0))
    monkeypatch.setattr(tf_bert, "OUTLIERS", 0)
    whole = convert_tflite(_spec(student, tmp_path / "whole", "full-int8", max_drop=1.0))
    assert 5 in split.outliers and whole.outliers == ()
    assert json.loads(split.record.read_text())["outlier_dims"] == list(split.outliers)
    # measured: 1 - cosine 0.00025 split, 0.00096 in one tensor
    assert 1 - split.fidelity.mean_cosine < (1 - whole.fidelity.mean_cosine) / 2


@pytest.fixture(scope="module")
def converted(tiny_classifier: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from edgedistil.export.tflite import convert_tflite

    out = tmp_path_factory.mktemp("tflite")
    schemes = ("float32", "float16", "dynamic-int8", "full-int8", "int16x8")
    return {s: convert_tflite(_spec(tiny_classifier, out, s)) for s in schemes}


@pytest.mark.slow
def test_only_8_bit_activations_split_the_stream(converted: dict[str, Any]) -> None:
    assert converted["full-int8"].outliers
    for scheme in ("float32", "float16", "dynamic-int8", "int16x8"):
        assert converted[scheme].outliers == ()


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["float32", "float16", "dynamic-int8", "full-int8", "int16x8"])
def test_each_scheme_is_verified_in_litert_and_recorded(
    converted: dict[str, Any], scheme: str
) -> None:
    result = converted[scheme]
    data = result.path.read_bytes()
    assert result.path.name == f"model.{scheme}.tflite"
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.bytes == len(data)
    assert result.fidelity.sentences == EVAL and result.fidelity.metric == "agreement"
    assert result.fidelity.agreement == 1.0
    assert result.ops.passed and "GELU" in result.ops.ops  # LiteRT keeps the exact GELU
    record = read_json(result.record, TFLiteRecord, error=ExportError)  # the record's model
    assert record.sha256 == result.sha256 and record.scheme == scheme
    assert record.fidelity.drop <= 0.02
    assert not list(result.path.parent.glob(".*.tmp"))


@pytest.mark.slow
def test_float32_matches_pytorch_and_integer_schemes_shrink(converted: dict[str, Any]) -> None:
    assert converted["float32"].fidelity.max_abs_diff < 1e-3
    assert converted["dynamic-int8"].bytes < 0.6 * converted["float32"].bytes
    assert converted["full-int8"].output_quantization is not None  # int8 out, as TFLM wants
    assert converted["int16x8"].output_quantization is not None
    assert "DEQUANTIZE" not in converted["full-int8"].ops.ops  # integer kernels only


@pytest.mark.slow
def test_full_int8_embedding_keeps_its_direction(tiny_bert: Path, tmp_path: Path) -> None:
    from edgedistil.export.tflite import convert_tflite

    result = convert_tflite(_spec(tiny_bert, tmp_path, "full-int8"))
    assert result.task == "embedding" and result.fidelity.mean_cosine is not None
    assert result.fidelity.mean_cosine > 0.99


@pytest.mark.slow
def test_a_model_that_loses_too_much_is_not_written(tiny_bert: Path, tmp_path: Path) -> None:
    from edgedistil.export.tflite import convert_tflite

    with pytest.raises(ExportError, match=r"full-int8 .tflite loses .* cosine .*not written"):
        convert_tflite(_spec(tiny_bert, tmp_path, "full-int8", max_drop=0.0))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_litert_static_int8_over_its_budget_keeps_the_operators_between_matmuls_float(
    tiny_bert: Path, tmp_path: Path
) -> None:
    """Issue 20: the Pi 5 student's LiteRT static int8 lost 0.0115 against 0.01, spread over
    every operator's rounding; with only the fully connected layers and lookups int8, 0.0075."""
    from edgedistil.export.tflite import convert_tflite

    def spec(out: str, **kw: Any) -> Any:
        return _spec(tiny_bert, tmp_path / out, "static-int8", metadata=False, **kw)

    all_int8 = convert_tflite(spec("all", max_drop=1.0))
    assert all_int8.fallback is None
    # a tiny random model rounds little either way (all int8: 0.00021), so the budget is a
    # share of what all int8 loses: over it, the file must fall back to fit
    budget = 0.8 * all_int8.fidelity.drop
    with pytest.raises(ExportError, match=r"static-int8 .tflite loses .*not written"):
        convert_tflite(spec("refused", max_drop=budget, fallback=False))
    assert not (tmp_path / "refused" / "model.static-int8.tflite").exists()
    result = convert_tflite(spec("kept", max_drop=budget))
    outcome = result.fallback
    assert outcome is not None and outcome.fits and outcome.steps[0].drop > budget
    assert result.fidelity.drop <= budget  # measured again on the file as written
    assert {"ADD", "MUL", "SOFTMAX", "BATCH_MATMUL"} <= set(outcome.chosen.kept_float)
    assert "FULLY_CONNECTED" not in outcome.chosen.kept_float
    dequantized = result.ops.ops["DEQUANTIZE"]  # float operators between int8 ones
    assert dequantized > all_int8.ops.ops.get("DEQUANTIZE", 0) and result.ops.passed
    assert _fc_weight_types(result.path) == {np.dtype(np.int8)}  # the weights stay int8
    record = read_json(result.record, TFLiteRecord, error=ExportError)  # the record's model
    assert record.fallback is not None and record.fallback.fits
    assert record.fallback.kept_float == list(outcome.chosen.kept_float)
    assert read_json(all_int8.record, TFLiteRecord, error=ExportError).fallback is None


def _fc_weight_types(path: Path) -> set[np.dtype]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    types = {t["index"]: np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    return {types[op["inputs"][1]] for op in ops if op["op_name"] == "FULLY_CONNECTED"}


def test_only_litert_files_with_float_inputs_fall_back() -> None:
    from edgedistil.export import tflite_fallback
    from edgedistil.schemes import get_scheme

    assert tflite_fallback.applies(get_scheme("static-int8"), "litert")
    assert not tflite_fallback.applies(get_scheme("static-int8"), "tflite-micro")
    for scheme in ("full-int8", "int16x8", "dynamic-int8", "float32"):
        assert not tflite_fallback.applies(get_scheme(scheme), "litert")


def test_the_litert_fallback_stops_at_the_first_step_that_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edgedistil.export import tflite_fallback

    counts = {"FULLY_CONNECTED": 4, "BATCH_MATMUL": 2, "GATHER": 1, "ADD": 3, "RESHAPE": 2}
    monkeypatch.setattr(tflite_fallback.tflite_ops, "read_ops", lambda data: (counts, ()))
    assert tflite_fallback.float_types(b"", tflite_fallback.STEPS[-1]) == ("BATCH_MATMUL", "ADD")
    # a finer first step, as STEPS allows: the attention's products int8 too
    steps = (("FULLY_CONNECTED", "BATCH_MATMUL", "GATHER"), ("FULLY_CONNECTED", "GATHER"))
    monkeypatch.setattr(tflite_fallback, "STEPS", steps)
    tried: list[tuple[str, ...]] = []

    def search(drops: dict[str, float], budget: float) -> Any:
        tried.clear()

        def convert(kept: tuple[str, ...]) -> bytes:
            tried.append(kept)
            return ",".join(kept).encode()

        return tflite_fallback.search(b"all", 0.03, lambda d: drops[d.decode()], convert, budget)

    # the matrix products int8 is enough: one conversion, moves (RESHAPE) never kept float
    first = search({"ADD": 0.005, "BATCH_MATMUL,ADD": 0.001}, budget=0.01)
    assert tried == [("ADD",)] and first.fits and first.data == b"ADD"
    # then the attention's matrix products float too
    second = search({"ADD": 0.02, "BATCH_MATMUL,ADD": 0.005}, budget=0.01)
    assert tried == [("ADD",), ("BATCH_MATMUL", "ADD")] and second.fits
    assert second.chosen.kept_float == ("BATCH_MATMUL", "ADD") and len(second.steps) == 3
    # nothing fits: the conversion that lost least, and the verdict is left to the caller
    neither = search({"ADD": 0.02, "BATCH_MATMUL,ADD": 0.025}, budget=0.01)
    assert not neither.fits and neither.data == b"ADD" and neither.chosen.drop == 0.02
    assert "ADD float: drop 0.0200" in neither.describe()


def test_bad_scheme_and_runtime_are_refused(tiny_bert: Path, tmp_path: Path) -> None:
    from edgedistil.export.tflite import convert_tflite

    with pytest.raises(ExportError, match='scheme "int4": allowed float32, float16'):
        convert_tflite(_spec(tiny_bert, tmp_path, "int4"))
    with pytest.raises(ExportError, match='runtime "coreml": allowed litert, tflite-micro'):
        convert_tflite(_spec(tiny_bert, tmp_path, "float32", runtime="coreml"))


def test_an_activation_the_graph_lacks_is_refused_under_its_familys_key(tmp_path: Path) -> None:
    from edgedistil.export.tflite import convert_tflite
    from tests.tiny_families import save_tiny_family

    student = save_tiny_family(tmp_path / "distil", "distilbert", activation="relu")
    with pytest.raises(ExportError, match='activation "relu": allowed gelu, gelu_new'):
        convert_tflite(_spec(student, tmp_path / "out", "float32"))


# ---- the op check ----


def _int64_gather_model() -> bytes:
    import tensorflow as tf  # type: ignore[import-untyped]

    table = tf.constant(np.arange(12, dtype=np.float32).reshape(6, 2))

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.int64, name="input_ids")])  # type: ignore[untyped-decorator]
    def lookup(input_ids: Any) -> Any:
        return tf.gather(table, input_ids)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([lookup.get_concrete_function()])
    data: bytes = converter.convert()
    return data


@pytest.mark.slow
def test_op_check_reads_the_flatbuffer_and_refuses_what_the_runtime_lacks(
    converted: dict[str, Any],
) -> None:
    from edgedistil.export.tflite_ops import check_ops

    data = converted["float32"].path.read_bytes()
    litert = check_ops(data, "litert")
    assert litert.passed and litert.ops["GELU"] == 2 and litert.fallback == ("GATHER",)
    micro = check_ops(data, "tflite-micro")
    assert not micro.passed and micro.unsupported == ("GELU",)
    assert "sigmoid(1.702x) GELU" in micro.describe()
    int64 = check_ops(_int64_gather_model(), "tflite-micro")
    assert int64.ops == {"GATHER": 1} and not int64.passed
    assert "no int64 kernels (token ids must be int32" in int64.describe()


def test_op_check_refuses_what_is_not_a_flatbuffer(tmp_path: Path) -> None:
    from edgedistil.export.tflite_ops import check_file

    path = tmp_path / "x.tflite"
    path.write_bytes(b"not a model at all")
    with pytest.raises(ExportError, match=r"x.tflite: not a .tflite flatbuffer"):
        check_file(path, "litert")


# ---- CLI ----


@pytest.mark.slow
def test_cli_convert_writes_a_verified_file(
    runner: CliRunner, tiny_classifier: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        cli,
        ["convert", str(tiny_classifier), "--target", "wear-os-watch", "--out", str(tmp_path),
         "--scheme", "dynamic-int8", "--sequence-length", "16"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "LiteRT against PyTorch on 200 sentences: agreement 1.0000" in result.stdout
    assert (tmp_path / "model.dynamic-int8.tflite").is_file()
    assert (tmp_path / "model.dynamic-int8.json").is_file()
    assert (tmp_path / "vocab.txt").read_bytes() == (tiny_classifier / "vocab.txt").read_bytes()


@pytest.mark.slow
def test_cli_ops_lists_and_refuses(runner: CliRunner, converted: dict[str, Any]) -> None:
    path = str(converted["float32"].path)
    ok = runner.invoke(cli, ["ops", path, "--target", "android-phone"])
    assert ok.exit_code == 0 and "supported, outside XNNPACK" in ok.stdout
    bad = runner.invoke(cli, ["ops", path, "--target", "cortex-m7"])
    assert bad.exit_code == 1
    assert "tflite-micro cannot run it: GELU (rewrite: x*sigmoid(1.702x) GELU" in error_line(bad)


def test_cli_refuses_an_onnx_only_target(
    runner: CliRunner, tiny_bert: Path, tmp_path: Path
) -> None:
    profile = write_profile(
        tmp_path / "onnx-only.toml",
        'extends = "raspberry-pi-4"\n[export]\nformats = ["onnx"]\nruntimes = ["onnxruntime"]\n',
    )
    result = runner.invoke(
        cli, ["convert", str(tiny_bert), "--target", str(profile), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "lists neither tflite nor tflite-micro" in error_line(result)


def test_cli_refuses_float32_for_a_microcontroller(
    runner: CliRunner, tiny_bert: Path, tmp_path: Path
) -> None:
    args = ["convert", str(tiny_bert), "--target", "cortex-m7", "--out", str(tmp_path)]
    result = runner.invoke(cli, [*args, "--scheme", "float32"])
    assert result.exit_code == 1
    line = error_line(result)
    assert 'scheme "float32" for TFLite Micro target "cortex-m7"' in line
    assert "static-int8, full-int8, int16x8" in line


def test_cli_ops_refuses_garbage(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x00" * 8)
    result = runner.invoke(cli, ["ops", str(path), "--target", "wear-os-watch"])
    assert result.exit_code == 1
    assert "not a .tflite flatbuffer" in error_line(result)


def _constant_bytes(path: Path) -> int:
    """What a .tflite holds in constants: their buffers and their quantization parameters (a
    float32 scale and an int64 zero point each)."""
    from ai_edge_litert import schema_py_generated as schema  # type: ignore[import-untyped]

    data = path.read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    total = 0
    for tensor in model.subgraphs[0].tensors:
        buffer = model.buffers[tensor.buffer].data
        if buffer is None or len(buffer) == 0:
            continue  # an activation: its one scale is the graph's share
        total += len(buffer)
        q = tensor.quantization
        if q is not None and q.scale is not None:
            total += 4 * len(q.scale) + 8 * len(q.zeroPoint)
    return total


@pytest.fixture(scope="module")
def trained_looking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny classifier whose biases and LayerNorms are not their initial 0 and 1: the
    converter drops a zero bias, and a trained student has none."""
    import torch
    from transformers import BertForSequenceClassification

    from tests.conftest import save_tiny

    directory = save_tiny(
        tmp_path_factory.mktemp("trained"), "BertForSequenceClassification", num_labels=3
    )
    model = BertForSequenceClassification.from_pretrained(str(directory))
    torch.manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 1:
                param.add_(0.1 * torch.randn_like(param))
    model.save_pretrained(str(directory), safe_serialization=True)
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["float32", "dynamic-int8", "full-int8", "int16x8"])
def test_the_plan_prices_what_the_file_holds(
    trained_looking: Path, tmp_path: Path, scheme: str
) -> None:
    """The plan's weights, vectors and quantization parameters cover the real file's constants,
    closely: a plan that fits promises a file that fits, and wastes little of the budget."""
    from edgedistil import plan
    from edgedistil.export.tflite import convert_tflite
    from edgedistil.teacher import read_config

    shape = plan.read_shape(read_config(trained_looking), "tiny")
    tensors = plan.student_tensors(shape, shape.num_layers, shape.vocab_size, LENGTH)
    priced = sum(plan.price(part, scheme, True, "tflite").bytes for part in tensors.values())
    spec = _spec(trained_looking, tmp_path, scheme, max_drop=1.0, eval_sentences=8)
    held = _constant_bytes(convert_tflite(spec).path)
    assert held <= priced <= 1.15 * held
