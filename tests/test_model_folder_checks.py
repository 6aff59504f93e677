"""Every command that reads a model folder checks its tokenizer as it checks its weights
(issue 16): no tokenizer files, a tokenizer that does not load, or one with more tokens than
the model's vocab_size rows is one ``Error:`` line naming the folder, before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistil import teacher, tokens
from edgedistil.cli import cli
from edgedistil.errors import BenchError, DistillError, TeacherError
from tests.conftest import error_line


@pytest.fixture(scope="module")
def no_tokenizer(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = shutil.copytree(tiny_bert, tmp_path_factory.mktemp("no-tok") / "model")
    (folder / "vocab.txt").unlink()
    return folder


@pytest.fixture(scope="module")
def too_many_tokens(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = shutil.copytree(tiny_bert, tmp_path_factory.mktemp("big-tok") / "model")
    with (folder / "vocab.txt").open("a", encoding="utf-8") as fh:
        fh.write("".join(f"extra{i}\n" for i in range(10)))  # 109 tokens, 99 rows
    return folder


def _refused(result: object, folder: Path, what: str) -> None:
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    line = error_line(result)  # type: ignore[arg-type]
    assert str(folder) in line and what in line, line


# ---- the check itself ----


def test_no_tokenizer_files(no_tokenizer: Path) -> None:
    with pytest.raises(TeacherError, match="no tokenizer files; expected one of tokenizer.json"):
        tokens.check_tokenizer(no_tokenizer, 99)


def test_a_tokenizer_json_that_does_not_load(tiny_bert: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_bert, tmp_path / "m")
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": 3}')
    with pytest.raises(TeacherError, match="tokenizer.json: the tokenizer does not load"):
        teacher.resolve_teacher(str(folder))


def test_a_tokenizer_config_that_does_not_load(tiny_bert: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_bert, tmp_path / "m")
    (folder / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(TeacherError, match="tokenizer_config.json is not valid JSON"):
        teacher.resolve_teacher(str(folder))


def test_a_tokenizer_config_of_older_transformers_loads(tiny_bert: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_bert, tmp_path / "m")
    unk = {"__type": "AddedToken", "content": "[UNK]", "lstrip": False, "rstrip": False}
    (folder / "tokenizer_config.json").write_text(json.dumps({"unk_token": unk}))
    backend = tokens.load_backend(folder)
    assert backend is not None and backend.encode("zzz").tokens == ["[UNK]"]


def test_an_empty_vocabulary(tiny_bert: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_bert, tmp_path / "m")
    (folder / "vocab.txt").write_text("")
    with pytest.raises(TeacherError, match="vocabulary is empty"):
        teacher.resolve_teacher(str(folder))


def test_more_tokens_than_rows(too_many_tokens: Path) -> None:
    with pytest.raises(TeacherError, match="has 109 tokens but config.json's vocab_size is 99"):
        teacher.resolve_teacher(str(too_many_tokens))
    with pytest.raises(TeacherError, match="ids 99 to 108 have no embedding row"):
        teacher.load_tokenizer(too_many_tokens)


def test_the_default_teacher_and_the_tiny_models_pass(
    tiny_bert: Path, tiny_classifier: Path
) -> None:
    assert len(teacher.load_tokenizer(teacher.resolve_teacher("default").path)) == 30522
    for folder in (tiny_bert, tiny_classifier):
        assert len(teacher.load_tokenizer(teacher.resolve_teacher(str(folder)).path)) == 99


# ---- each command ----


def test_plan(runner: CliRunner, no_tokenizer: Path) -> None:
    result = runner.invoke(cli, ["plan", "--teacher", str(no_tokenizer), "--target", "esp32-s3"])
    _refused(result, no_tokenizer, "no tokenizer files")


@pytest.mark.parametrize("command", ["distill", "finetune"])
def test_distill_and_finetune(
    runner: CliRunner, too_many_tokens: Path, tmp_path: Path, command: str
) -> None:
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\nthe phone\tpos\nthe watch\tneg\n")
    out = tmp_path / "out"
    result = runner.invoke(
        cli, [command, "--teacher", str(too_many_tokens), "--data", str(data), "--out", str(out)]
    )
    _refused(result, too_many_tokens, "vocab_size is 99")
    assert not out.exists()


def test_convert(runner: CliRunner, no_tokenizer: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(cli, ["convert", str(no_tokenizer), "--out", str(out)])
    _refused(result, no_tokenizer, "no tokenizer files")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("option", ["--student", "--teacher"])
def test_build(runner: CliRunner, no_tokenizer: Path, tmp_path: Path, option: str) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        cli, ["build", option, str(no_tokenizer), "--target", "esp32-s3", "--out", str(out)]
    )
    _refused(result, no_tokenizer, "no tokenizer files")


def test_bench_tokenises_only_within_the_rows(too_many_tokens: Path) -> None:
    from edgedistil.bench.inputs import tokenize

    with pytest.raises(BenchError, match="vocab_size is 99"):
        tokenize(too_many_tokens, ["the phone"], 8)


def test_vs_teacher_with_a_teacher_without_tokenizer(
    no_tokenizer: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    from edgedistil import vs_teacher

    text = tmp_path / "eval.txt"
    text.write_text("the phone\n")
    with pytest.raises(Exception, match="no tokenizer files") as info:
        vs_teacher.teacher_reference(str(no_tokenizer), tiny_bert, text, 4)
    assert type(info.value).__name__ == "_Unmeasured"
    assert "no tokenizer files" in vs_teacher.teacher_key(str(no_tokenizer))


def test_quantize_and_bench_read_an_export_tokenizer_checked(too_many_tokens: Path) -> None:
    from edgedistil.runtimes import tokenizer_of

    with pytest.raises(TeacherError, match="vocab_size is 99"):
        tokenizer_of(too_many_tokens)


# ---- --seq-len beyond the position table ----


@pytest.mark.parametrize("command", ["distill", "finetune"])
def test_a_seq_len_beyond_the_positions(
    runner: CliRunner, tiny_bert: Path, tmp_path: Path, command: str
) -> None:
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\nthe phone\tpos\nthe watch\tneg\n")
    out = tmp_path / "out"
    args = ["--teacher", str(tiny_bert), "--data", str(data), "--out", str(out)]
    result = runner.invoke(cli, [command, *args, "--seq-len", "600"])
    assert result.exit_code == 1, result.output
    assert "--seq-len 600: longer than the teacher" in error_line(result)
    assert "allows 512" in result.stderr and not out.exists()


def test_the_seq_len_check_counts_the_offset_of_roberta(tmp_path: Path) -> None:
    from edgedistil.distill.job import Job, _check_seq_len
    from edgedistil.distill.train import Settings

    fake = teacher.Teacher(
        name="r",
        path=tmp_path,
        config={"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1},
    )
    job = Job(teacher="r", data=None, out=tmp_path, settings=Settings(task="", seq_len=512))
    _check_seq_len(job, fake)  # rows 0 and 1 come before the first position: 512 fit
    shifted = teacher.Teacher(name="r", path=tmp_path, config={**fake.config, "pad_token_id": 2})
    with pytest.raises(DistillError, match="allows 511"):
        _check_seq_len(job, shifted)
