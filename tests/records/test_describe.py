"""One line for any bad file (``edgedistil.records``): the file, each field with its value and
what was expected, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgedistil.errors import BuildError, ExportError
from edgedistil.records import read_json
from edgedistil.records._base import Foreign, Record


class Entry(Record):
    bytes: int
    role: str = "release"


class Folder(Record):
    length: int
    artifacts: dict[str, Entry] = {}
    scores: list[float] = []


class Config(Foreign):
    vocab_size: int


def _write(tmp_path: Path, text: str, name: str = "record.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_is_read_into_its_model(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"length": 64, "artifacts": {"a/m.onnx": {"bytes": 3}}}')
    folder = read_json(path, Folder, error=BuildError)
    assert folder.length == 64 and folder.artifacts["a/m.onnx"].bytes == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"length": "64"}', 'length = "64": expected a valid integer'),
        ('{"length": true}', "length = true: expected a valid integer"),
        ("{}", "length is missing"),
        ('{"length": 1, "extra": 2}', "unknown key extra"),
        ("[1, 2]", "expected a JSON object, found a list"),
        (
            '{"length": 1, "artifacts": {"a/m.onnx": {"bytes": "3"}}}',
            'artifacts["a/m.onnx"].bytes = "3": expected a valid integer',
        ),
        ('{"length": 1, "scores": [0.5, "x"]}', 'scores[1] = "x": expected a valid number'),
        ('{"length": 1, "artifacts": []}', "artifacts = a list: expected a valid dictionary"),
    ],
)
def test_each_problem_names_the_file_the_field_and_the_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BuildError) as caught:
        read_json(path, Folder, error=BuildError)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message
    assert "\n" not in message


def test_every_problem_is_in_the_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"length": "x", "scores": ["a", "b", "c", "d", "e"]}')
    with pytest.raises(BuildError) as caught:
        read_json(path, Folder, error=BuildError)
    assert str(caught.value).endswith("; and 2 more")  # 6 problems, 4 named


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"length": 1', "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_unreadable_files_are_one_line_too(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ExportError, match=expected):
        read_json(path, Folder, error=ExportError, what="the export record")
    with pytest.raises(ExportError, match="no such file"):
        read_json(tmp_path / "gone.json", Folder, error=ExportError)
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ExportError, match="not UTF-8"):
        read_json(tmp_path / "bin.json", Folder, error=ExportError)


def test_a_foreign_file_keeps_keys_it_does_not_use_and_checks_those_it_does(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, '{"vocab_size": 99, "torch_dtype": "float32"}', "config.json")
    assert read_json(path, Config, error=BuildError).vocab_size == 99
    path = _write(tmp_path, '{"vocab_size": 99.5}', "config.json")
    with pytest.raises(BuildError, match=r"vocab_size = 99\.5: expected a valid integer"):
        read_json(path, Config, error=BuildError)
