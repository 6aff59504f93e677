"""ONNX export of tiny random students: parity, inputs, outputs, positions, bad input, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from edgedistil.data import SAMPLE_TEXT
from edgedistil.errors import ExportError
from edgedistil.export.onnx import ExportSpec, export_onnx
from tests.conftest import error_line, mask_filter_values, save_tiny


def _spec(student: Path, out: Path, **kw: object) -> ExportSpec:
    return ExportSpec(
        student=student,
        out=out,
        sequence_length=int(kw.pop("sequence_length", 16)),  # type: ignore[call-overload]
        parity_text=SAMPLE_TEXT,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("graph", ["plain", "fused"])
def test_classifier_passes_parity_and_ends_in_logits(
    tiny_classifier: Path, tmp_path: Path, graph: str
) -> None:
    import onnx

    result = export_onnx(_spec(tiny_classifier, tmp_path, graph=graph, input_dtype="int32"))
    assert result.parity.passed and result.parity.agreement == 1.0
    model = onnx.load(str(result.path))
    assert model.opset_import[0].version >= 17
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert list(inputs) == ["input_ids", "attention_mask", "token_type_ids"]
    assert all(t.elem_type == onnx.TensorProto.INT32 for t in inputs.values())
    assert inputs["input_ids"].shape.dim[1].dim_value == 16  # static length
    assert [o.name for o in model.graph.output] == ["logits"]
    ops = {n.op_type for n in model.graph.node}
    assert ("Attention" in ops) == (graph == "fused")
    record = json.loads((tmp_path / "export.json").read_text())
    assert record["task"] == "classification" and record["graph"] == graph
    assert (tmp_path / "vocab.txt").is_file()


@pytest.mark.parametrize("graph", ["plain", "fused"])
def test_ort_does_not_turn_layer_norms_into_skip_layer_norms(
    tiny_classifier: Path, tmp_path: Path, graph: str
) -> None:
    """ORT's SkipLayerNormalization CPU kernel is ~7x slower than LayerNormalization (issue 4):
    neither the file nor the graph a default ORT session makes from it may hold one."""
    import onnx
    import onnxruntime as ort

    result = export_onnx(_spec(tiny_classifier, tmp_path / "out", graph=graph))
    options = ort.SessionOptions()  # ORT's defaults, as a user's application loads the file
    options.optimized_model_filepath = str(tmp_path / "as-loaded.onnx")
    ort.InferenceSession(str(result.path), options, providers=["CPUExecutionProvider"])
    for path in (result.path, tmp_path / "as-loaded.onnx"):
        model = onnx.load(str(path))
        ops = [n.op_type for n in model.graph.node]
        assert "SkipLayerNormalization" not in ops
        assert ops.count("LayerNormalization") >= 4  # one per residual of the 2 layers, at least
    exported = onnx.load(str(result.path))
    producer = {o: n.op_type for n in exported.graph.node for o in n.output}
    residual_inputs = [
        producer.get(n.input[0]) for n in exported.graph.node if n.op_type == "LayerNormalization"
    ]
    # the attention and FFN residuals of each layer, and in the plain graph the embedding sum
    # (the fused graph has EmbedLayerNormalization there)
    assert residual_inputs == ["Sum"] * (4 + (graph == "plain"))


@pytest.mark.parametrize("graph", ["plain", "fused"])
def test_padding_keys_are_masked_with_a_normal_float(
    tiny_classifier: Path, tmp_path: Path, graph: str
) -> None:
    """Issue 4: a padding key at -10000 (fused Attention's default) or the float minimum (the
    exported Where) gets a subnormal probability, which x86 multiplies slowly."""
    import onnx
    from onnx import numpy_helper

    from edgedistil.export.graph import MASK_FILTER_VALUE

    result = export_onnx(_spec(tiny_classifier, tmp_path, graph=graph))
    assert result.parity.passed  # same logits as PyTorch on padded sample sentences
    model = onnx.load(str(result.path))
    constants = [
        numpy_helper.to_array(n.attribute[0].t)
        for n in model.graph.node
        if n.op_type == "Constant" and n.attribute[0].name == "value"
    ]
    assert not [c for c in constants if c.dtype == np.float32 and c.min() < -1e30]
    if graph == "fused":
        assert mask_filter_values(model) == {"Attention": [MASK_FILTER_VALUE] * 2}
    else:
        assert [c.item() for c in constants if c.size == 1 and c.item() == MASK_FILTER_VALUE]


def test_a_bias_add_before_a_layer_norm_stays_an_add() -> None:
    import onnx
    from onnx import TensorProto, helper

    from edgedistil.export.graph import residuals_as_sum

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4])
    bias = onnx.numpy_helper.from_array(np.ones(4, np.float32), "bias")
    gamma = onnx.numpy_helper.from_array(np.ones(4, np.float32), "gamma")
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "bias"], ["b"]),
            helper.make_node("LayerNormalization", ["b", "gamma"], ["n"]),
            helper.make_node("Add", ["n", "x"], ["r"]),
            helper.make_node("LayerNormalization", ["r", "gamma"], ["y"]),
        ],
        "g",
        [x],
        [y],
        [bias, gamma],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert residuals_as_sum(model) == 1
    assert [n.op_type for n in model.graph.node] == [
        "Add",
        "LayerNormalization",
        "Sum",
        "LayerNormalization",
    ]


def test_positions_are_sliced_to_the_sequence_length(tiny_bert: Path, tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    result = export_onnx(_spec(tiny_bert, tmp_path, sequence_length=12))
    tables = [
        numpy_helper.to_array(i)
        for i in onnx.load(str(result.path)).graph.initializer
        if "position_embeddings" in i.name
    ]
    assert [t.shape[0] for t in tables] == [12]


def test_embedding_is_pooled_and_normalised_in_the_graph(tmp_path: Path) -> None:
    import onnxruntime as ort

    student = save_tiny(tmp_path / "enc")
    (student / "1_Pooling").mkdir()
    (student / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    (student / "modules.json").write_text(
        json.dumps([{"type": "sentence_transformers.models.Normalize"}])
    )
    result = export_onnx(_spec(student, tmp_path / "out"))
    assert result.output == "embedding" and result.parity.min_cosine is not None
    session = ort.InferenceSession(str(result.path))
    ids = np.full((2, 16), 7, dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    feeds["token_type_ids"] = np.zeros_like(ids)
    out = session.run(None, feeds)[0]
    assert out.shape == (2, 32)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_dynamic_axes_take_any_length(tiny_bert: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    result = export_onnx(_spec(tiny_bert, tmp_path, dynamic=True))
    session = ort.InferenceSession(str(result.path))
    for length in (5, 40):
        ids = np.full((1, length), 7, dtype=np.int64)
        feeds = {
            i.name: (ids if i.name == "input_ids" else np.ones_like(ids))
            for i in session.get_inputs()
        }
        assert session.run(None, feeds)[0].shape == (1, 32)


def test_a_model_that_is_not_bert_family(tiny_bert: Path, tmp_path: Path) -> None:
    # a whole folder (weights, tokenizer) so that the family is what export refuses
    shutil.copytree(tiny_bert, tmp_path / "gpt")
    config = json.loads((tmp_path / "gpt" / "config.json").read_text())
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(
        ExportError, match="model_type 'gpt2' is not a BERT-family encoder edgedistil handles"
    ):
        export_onnx(_spec(tmp_path / "gpt", tmp_path / "out"))


def test_a_length_beyond_the_positions(tiny_bert: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="sequence length 600 is longer .* allows 512"):
        export_onnx(_spec(tiny_bert, tmp_path, sequence_length=600))
    assert not (tmp_path / "model.onnx").exists()


def test_a_graph_that_fails_parity_is_not_written(
    tiny_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgedistil.verify import parity

    monkeypatch.setattr(parity, "MAX_ABS_DIFF", -1.0)  # nothing can pass: the refusal path
    with pytest.raises(ExportError, match="fails parity"):
        export_onnx(_spec(tiny_classifier, tmp_path))
    assert not (tmp_path / "model.onnx").exists() and not (tmp_path / "export.json").exists()


def test_cli_export_and_its_errors(tiny_bert: Path, tmp_path: Path, runner: CliRunner) -> None:
    ok = runner.invoke(
        cli, ["export", str(tiny_bert), "--target", "android-phone", "--out", str(tmp_path / "a")]
    )
    assert ok.exit_code == 0, ok.output
    assert "parity: max abs difference" in ok.output
    assert json.loads((tmp_path / "a" / "export.json").read_text())["graph"] == "plain"
    bad = runner.invoke(
        cli, ["export", str(tiny_bert), "--out", str(tmp_path / "b"), "--sequence-length", "9999"]
    )
    assert bad.exit_code == 1
    assert "longer than the model" in error_line(bad)
    watch = runner.invoke(
        cli, ["export", str(tiny_bert), "--target", "wear-os-watch", "--out", str(tmp_path / "c")]
    )
    assert watch.exit_code == 1
    assert "does not list the onnx format" in error_line(watch)


def test_the_student_directory_is_left_untouched(tiny_bert: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_bert, tmp_path / "student")
    before = sorted(p.name for p in copy.iterdir())
    export_onnx(_spec(copy, tmp_path / "out"))
    assert sorted(p.name for p in copy.iterdir()) == before
