"""The files of a model folder read through records.hf (issue 16): a wrongly typed value in
config.json, modules.json, 1_Pooling/config.json, 2_Dense/config.json or a student's
edgedistil.json is one TeacherError line naming the file and the field, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from edgedistil import teacher
from edgedistil.errors import ExportError, TeacherError
from edgedistil.export.model import read_dense


@pytest.fixture
def folder(tiny_bert: Path, tmp_path: Path) -> Path:
    return shutil.copytree(tiny_bert, tmp_path / "model")


def _config(folder: Path, **changes: Any) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"num_hidden_layers": "6"}, 'num_hidden_layers = "6": expected a valid integer'),
        ({"id2label": []}, "id2label = a list: expected a valid dictionary"),
        ({"vocab_size": -1}, "vocab_size = -1: expected greater than or equal to 1"),
        ({"hidden_size": 0}, "hidden_size = 0"),
        ({"max_position_embeddings": None}, "max_position_embeddings = null"),
        ({"type_vocab_size": 1.5}, "type_vocab_size = 1.5"),
        ({"architectures": "BertModel"}, "architectures"),
        ({"id2label": {"positive": "1"}}, "is not a class id"),
        ({"num_attention_heads": 5}, "not a multiple of 5 heads"),
        ({"pad_token_id": 99}, "pad_token_id = 99: not a row of the vocabulary"),
        ({"num_labels": True}, "num_labels = true"),
    ],
)
def test_a_wrongly_typed_config_value(folder: Path, changes: Any, expected: str) -> None:
    _config(folder, **changes)
    with pytest.raises(TeacherError) as info:
        teacher.resolve_teacher(str(folder))
    assert str(folder / "config.json") in str(info.value) and expected in str(info.value)


def test_other_keys_of_a_config_are_kept(folder: Path) -> None:
    _config(folder, some_future_key={"a": [1]}, pad_token_id=None, architectures=None)
    assert teacher.resolve_teacher(str(folder)).config["some_future_key"] == {"a": [1]}


def test_a_config_that_is_not_an_object(folder: Path) -> None:
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(TeacherError, match="config.json: expected a JSON object, found a list"):
        teacher.resolve_teacher(str(folder))


@pytest.mark.parametrize(
    ("modules", "expected"),
    [
        ({"path": ""}, "expected a JSON list of modules, found dict"),
        ([], "found an empty list"),
        ([{"path": ""}], "[0].type is missing"),
        ([{"type": "x", "path": 3}], "[0].path = 3"),
        ([{"type": "x", "path": "../elsewhere"}], "expected a folder inside the model folder"),
        ([{"type": "x", "path": "/etc"}], "expected a folder inside the model folder"),
        ([7], "[0] = 7"),
    ],
)
def test_a_broken_modules_json(folder: Path, modules: Any, expected: str) -> None:
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(TeacherError) as info:
        teacher.resolve_teacher(str(folder))
    assert "modules.json" in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize(
    ("pooling", "expected"),
    [
        ({"pooling_mode_mean_tokens": "true"}, 'pooling_mode_mean_tokens = "true"'),
        ({"pooling_mode_mean_tokens": False}, "no pooling_mode_... key is true"),
        ({"pooling_mode_mean_tokens": True, "word_embedding_dimension": "32"}, '= "32"'),
        ("mean", "expected a JSON object, found a string"),
    ],
)
def test_a_broken_pooling_config(folder: Path, pooling: Any, expected: str) -> None:
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(TeacherError) as info:
        teacher.resolve_teacher(str(folder))
    assert "1_Pooling/config.json" in str(info.value) and expected in str(info.value)


def test_a_pooling_mode_edgedistil_does_not_read_is_a_mode(folder: Path) -> None:
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_sqrt_len_tokens": true}')
    teacher.resolve_teacher(str(folder))


def _dense(folder: Path, config: Any) -> Path:
    (folder / "2_Dense").mkdir()
    (folder / "2_Dense" / "config.json").write_text(json.dumps(config))
    modules = [
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "2_Dense", "type": teacher.DENSE_MODULE},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    return folder / "2_Dense"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"in_features": 32}, "out_features is missing"),
        ({"in_features": 32, "out_features": "16"}, 'out_features = "16"'),
        ({"in_features": 32, "out_features": 16, "bias": "no"}, 'bias = "no"'),
        ({"in_features": 0, "out_features": 16}, "in_features = 0"),
    ],
)
def test_a_broken_dense_config(folder: Path, config: Any, expected: str) -> None:
    _dense(folder, config)
    with pytest.raises(TeacherError) as info:
        teacher.resolve_teacher(str(folder))
    assert "2_Dense/config.json" in str(info.value) and expected in str(info.value)
    with pytest.raises(ExportError, match="2_Dense"):
        read_dense(folder / "2_Dense")


def test_dense_weights_that_are_not_safetensors(folder: Path) -> None:
    dense = _dense(folder, {"in_features": 32, "out_features": 16})
    (dense / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ExportError, match="not a readable safetensors file"):
        read_dense(dense)


@pytest.mark.parametrize(
    "record",
    ['{"teacher": 3}', '{"settings": {"hidden_dims": "0,1"}}', "[]", '{"teacher": "def'],
)
def test_a_broken_student_record(folder: Path, record: str) -> None:
    (folder / "edgedistil.json").write_text(record)
    with pytest.raises(TeacherError, match="edgedistil.json"):
        teacher.teacher_of(None, folder)


def test_a_broken_student_record_is_refused_with_its_folder(folder: Path) -> None:
    (folder / "edgedistil.json").write_text('{"settings": {"hidden_dims": [1, "2"]}}')
    with pytest.raises(TeacherError, match=r'edgedistil.json: settings.hidden_dims\[1\] = "2"'):
        teacher.resolve_teacher(str(folder))


def test_the_teacher_a_student_record_names(folder: Path) -> None:
    assert teacher.teacher_of(None, folder) == "default"  # no record: a student from elsewhere
    (folder / "edgedistil.json").write_text('{"teacher": "/t", "settings": {}, "other": 1}')
    assert teacher.teacher_of(None, folder) == "/t"


def test_weights_of_another_shape_than_the_config(folder: Path) -> None:
    _config(folder, intermediate_size=40)  # the saved weights are 37 wide
    with pytest.raises(TeacherError, match="Weights in .* do not match its config.json: .*size"):
        teacher.load_teacher_model(teacher.resolve_teacher(str(folder)))


def test_a_config_transformers_refuses(folder: Path) -> None:
    _config(folder, model_type="no-such-model")
    with pytest.raises(TeacherError, match="transformers cannot build a model from it"):
        teacher.load_teacher_model(teacher.resolve_teacher(str(folder)))
