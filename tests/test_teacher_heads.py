"""Checkpoints as users have them: a stock BERT-family checkpoint saved with a pre-training or
token-classification head loads as its encoder (issue 17)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistil import teacher
from edgedistil.cli import cli
from tests.conftest import error_line, write_word_lines
from tests.tiny_families import PREFIX, save_tiny_family

HEADED = [
    ("bert", "ForMaskedLM"),
    ("bert", "ForPreTraining"),
    ("distilbert", "ForMaskedLM"),
    ("roberta", "ForMaskedLM"),
    ("xlm-roberta", "ForMaskedLM"),
    ("bert", "ForNextSentencePrediction"),
]  # a ForTokenClassification checkpoint loads as the token classifier it is (tests/distill)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("headed")
    return {
        PREFIX[family] + arch: save_tiny_family(root / f"{family}-{arch}", family, arch)
        for family, arch in HEADED
    }


def _headed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "edgedistil.teacher" and "loaded as its encoder" in r.getMessage()
    ]


@pytest.mark.parametrize("architecture", [PREFIX[f] + a for f, a in HEADED])
def test_a_headed_checkpoint_loads_as_its_encoder(
    checkpoints: dict[str, Path], architecture: str, caplog: pytest.LogCaptureFixture
) -> None:
    import torch
    import transformers

    path = checkpoints[architecture]
    with caplog.at_level(logging.WARNING, logger="edgedistil.teacher"):
        model = teacher.load_teacher_model(teacher.resolve_teacher(str(path)))
    assert model.base_model is model  # the encoder, not the headed model
    # transformers' own reading of the same file, its encoder taken out of the headed model
    reference = getattr(transformers, architecture).from_pretrained(str(path)).base_model.eval()
    ids = torch.tensor([[0, 7, 8, 9, 10, 2], [0, 11, 12, 2, 1, 1]])
    mask = (ids != 1).long()
    with torch.no_grad():
        ours = model(input_ids=ids, attention_mask=mask).last_hidden_state
        theirs = reference(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-6)
    lines = _headed_lines(caplog)
    assert len(lines) == 1, lines
    head = {"ForMaskedLM": 5, "ForPreTraining": 7, "ForNextSentencePrediction": 2}
    count = head[architecture.removeprefix(architecture.split("For")[0])]
    assert f"is a {architecture} checkpoint: loaded as its encoder" in lines[0]
    assert f"{count} head tensor(s) dropped" in lines[0]
    # MaskedLM checkpoints are saved without BERT's pooler; PreTraining and NSP have one
    has_pooler = architecture in ("BertForPreTraining", "BertForNextSentencePrediction") or (
        architecture.startswith("DistilBert")
    )
    assert ("no pooler" in lines[0]) == (not has_pooler)


def test_the_pooler_of_a_pretraining_checkpoint_is_its_own(checkpoints: dict[str, Path]) -> None:
    import torch
    import transformers

    path = checkpoints["BertForPreTraining"]
    model = teacher.load_teacher_model(teacher.resolve_teacher(str(path)))
    reference = transformers.BertForPreTraining.from_pretrained(str(path)).bert
    assert torch.equal(model.pooler.dense.weight, reference.pooler.dense.weight)


def test_a_classifier_still_loads_as_a_classifier(
    tiny_classifier: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edgedistil.teacher"):
        model = teacher.load_teacher_model(teacher.resolve_teacher(str(tiny_classifier)))
    assert type(model).__name__ == "BertForSequenceClassification"
    assert not _headed_lines(caplog)


def test_a_tensor_of_the_wrong_shape_is_one_error_line(
    checkpoints: dict[str, Path], tmp_path: Path, runner: CliRunner
) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    path = shutil.copytree(checkpoints["BertForMaskedLM"], tmp_path / "bad")
    state = load_file(str(path / "model.safetensors"))
    name = "bert.encoder.layer.0.attention.self.query.weight"
    state[name] = state[name][:, :31].contiguous()
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    data = write_word_lines(tmp_path / "t.txt", 8, seed=0)
    result = runner.invoke(
        cli, ["distill", "--teacher", str(path), "--data", str(data), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert "do not match its config.json" in line and "attention.self.query.weight" in line


@pytest.mark.slow
def test_distill_an_embedding_student_from_an_mlm_checkpoint(
    checkpoints: dict[str, Path], tmp_path: Path, runner: CliRunner
) -> None:
    import transformers

    out = tmp_path / "student"
    data = write_word_lines(tmp_path / "t.txt", 24, seed=1)
    args = ["distill", "--teacher", str(checkpoints["RobertaForMaskedLM"]), "--task", "embedding"]
    args += ["--data", str(data), "--out", str(out), "--layers", "1", "--epochs", "1"]
    result = runner.invoke(cli, [*args, "--batch-size", "8", "--seq-len", "16"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "loaded as its encoder" in line]
    assert len(warnings) == 1 and warnings[0].startswith("Warning: ")
    model = transformers.AutoModel.from_pretrained(str(out))
    assert model.config.num_hidden_layers == 1
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    assert model(**tok(["the phone"], return_tensors="pt")).last_hidden_state.shape[-1] == 32


def test_the_cli_says_a_repeated_warning_once(
    checkpoints: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A build loads its teacher in more than one stage (distil, compare): one line for it."""
    from edgedistil.cli._app import _warnings_shown

    spec = teacher.resolve_teacher(str(checkpoints["BertForMaskedLM"]))
    with _warnings_shown():
        teacher.load_teacher_model(spec)
        teacher.load_teacher_model(spec)
        logging.getLogger("edgedistil.teacher").warning("another note")
    lines = capsys.readouterr().err.splitlines()
    assert len([line for line in lines if "loaded as its encoder" in line]) == 1
    assert lines[-1] == "Warning: another note"


def test_a_headed_checkpoint_whose_config_names_no_architecture(
    checkpoints: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import shutil

    path = shutil.copytree(checkpoints["DistilBertForMaskedLM"], tmp_path / "unnamed")
    config = json.loads((path / "config.json").read_text())
    del config["architectures"]
    (path / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING, logger="edgedistil.teacher"):
        teacher.load_teacher_model(teacher.resolve_teacher(str(path)))
    (line,) = _headed_lines(caplog)
    assert "is a checkpoint saved under distilbert.*: loaded as its encoder" in line


@pytest.mark.parametrize(
    ("architecture", "sizes"),
    [
        ("ElectraModel", {"embedding_size": 16, "hidden_size": 32}),  # an encoder, another shape
        ("GPT2Model", {"n_embd": 32, "n_layer": 2, "n_head": 4}),  # no encoder at all
    ],
)
def test_a_family_edgedistil_does_not_handle_is_one_line_naming_the_supported(
    architecture: str, sizes: dict[str, int], tmp_path: Path
) -> None:
    """Refused before training, in the words plan and export use: training a student that no
    path can export would waste the run."""
    from tests.conftest import save_tiny

    overrides = {"num_hidden_layers": 2, "num_attention_heads": 4, **sizes}
    if architecture == "GPT2Model":
        overrides = sizes
    path = save_tiny(tmp_path / "teacher", architecture, **overrides)
    data = write_word_lines(tmp_path / "words.txt", 40, seed=1)
    for args in (["distill", "--data", str(data), "--out", str(tmp_path / "s")],
                 ["plan", "--target", "esp32-s3"]):  # fmt: skip
        result = CliRunner().invoke(cli, [*args, "--teacher", str(path)])
        assert result.exit_code != 0
        line = error_line(result)
        assert "is not a BERT-family encoder edgedistil handles" in line
        assert "supported: bert, distilbert, roberta, xlm-roberta" in line
    assert not (tmp_path / "s").exists()
