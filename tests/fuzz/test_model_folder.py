"""Fuzz the JSON files of a model folder (issue 16): config.json, modules.json and
1_Pooling/config.json of a tiny sentence-transformers folder, each mutated and read by
``edgedistil plan --teacher DIR`` (the cheapest command that checks a whole model folder).

A broken file ends in exit 1 and one ``Error:`` line naming it; a key nobody wrote (these are
other tools' files) is harmless: exit 0, or one ``Error:`` line, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgedistil.cli import cli
from tests.conftest import error_line
from tests.fuzz._mutate import broken, extra_key

CONFIG = "config.json"
MODULES = "modules.json"
POOLING = "1_Pooling/config.json"
VALID_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {
        "idx": 2,
        "name": "2",
        "path": "2_Normalize",
        "type": "sentence_transformers.models.Normalize",
    },
]
VALID_POOLING = {
    "word_embedding_dimension": 32,
    "pooling_mode_cls_token": False,
    "pooling_mode_mean_tokens": True,
    "pooling_mode_max_tokens": False,
}
# config.json keys whose type edgedistil fixes (pad_token_id and architectures may be null)
CONFIG_TYPED = [
    ("model_type",),
    ("vocab_size",),
    ("hidden_size",),
    ("num_hidden_layers",),
    ("num_attention_heads",),
    ("intermediate_size",),
    ("max_position_embeddings",),
    ("type_vocab_size",),
    ("hidden_act",),
    ("layer_norm_eps",),
    ("architectures", 0),
]
CONFIG_REQUIRED = (
    ("model_type",),
    ("vocab_size",),
    ("hidden_size",),
    ("num_hidden_layers",),
    ("intermediate_size",),
    ("max_position_embeddings",),
    ("num_attention_heads",),
)
POOLING_TYPED = [(k,) for k in VALID_POOLING]
MODULES_TYPED = [(i, k) for i in range(len(VALID_MODULES)) for k in ("path", "type")]
MODULES_REQUIRED = tuple((i, "type") for i in range(len(VALID_MODULES)))
SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def folder(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT as a sentence-transformers folder (modules.json, 1_Pooling)."""
    model = shutil.copytree(tiny_bert, tmp_path_factory.mktemp("st") / "model")
    (model / MODULES).write_text(json.dumps(VALID_MODULES))
    (model / "1_Pooling").mkdir()
    (model / POOLING).write_text(json.dumps(VALID_POOLING))
    return model


def valid(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text())


@contextmanager
def mutated(folder: Path, name: str, text: str) -> Iterator[None]:
    original = (folder / name).read_text()
    (folder / name).write_text(text)
    try:
        yield
    finally:
        (folder / name).write_text(original)


def plan(runner: CliRunner, folder: Path) -> Any:
    return runner.invoke(
        cli, ["plan", "--teacher", str(folder), "--target", "android-phone", "--json"]
    )


def test_the_valid_folder_plans(runner: CliRunner, folder: Path) -> None:
    result = plan(runner, folder)
    assert result.exit_code == 0, result.output


def _refused(runner: CliRunner, folder: Path, name: str, text: str) -> None:
    with mutated(folder, name, text):
        result = plan(runner, folder)
    assert result.exit_code == 1, (text, result.output)
    assert name in error_line(result)


def _harmless(runner: CliRunner, folder: Path, name: str, text: str) -> None:
    with mutated(folder, name, text):
        result = plan(runner, folder)
    assert result.exit_code in (0, 1), result.output
    if result.exit_code:
        error_line(result)


@SETTINGS
@given(data=st.data())
def test_a_broken_config_json(runner: CliRunner, folder: Path, data: st.DataObject) -> None:
    config = valid(folder, CONFIG)
    text = data.draw(broken(config, required=CONFIG_REQUIRED, typed=CONFIG_TYPED))
    _refused(runner, folder, CONFIG, text)


@SETTINGS
@given(data=st.data())
def test_a_broken_modules_json(runner: CliRunner, folder: Path, data: st.DataObject) -> None:
    text = data.draw(broken(VALID_MODULES, required=MODULES_REQUIRED, typed=MODULES_TYPED))
    _refused(runner, folder, MODULES, text)


@SETTINGS
@given(data=st.data())
def test_a_broken_pooling_config(runner: CliRunner, folder: Path, data: st.DataObject) -> None:
    _refused(runner, folder, POOLING, data.draw(broken(VALID_POOLING, typed=POOLING_TYPED)))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_extra_keys_are_harmless(runner: CliRunner, folder: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from([CONFIG, MODULES, POOLING]))
    if name == MODULES:  # a key inside one entry: the file itself is a list
        at = data.draw(st.integers(0, len(VALID_MODULES) - 1))
        entry = json.loads(data.draw(extra_key(VALID_MODULES[at])))
        text = json.dumps([entry if i == at else m for i, m in enumerate(VALID_MODULES)])
    else:
        text = data.draw(extra_key(valid(folder, name)))
    _harmless(runner, folder, name, text)
