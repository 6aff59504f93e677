"""`edgedistil distill` and `finetune` through the CLI: output, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from tests.conftest import error_line


def _args(teacher: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "distill",
        "--teacher",
        str(teacher),
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--seq-len",
        "16",
        *extra,
    ]


@pytest.mark.slow
def test_distill_prints_the_outcome(runner: CliRunner, tiny_bert: Path, tmp_path: Path) -> None:
    data = tmp_path / "t.txt"
    data.write_text("the phone\nset a timer for ten minutes\nthe battery was good\n" * 5)
    result = runner.invoke(cli, _args(tiny_bert, data, tmp_path / "o", "--layers", "1"))
    assert result.exit_code == 0, result.output
    assert "embedding student, layers [0]" in result.output
    assert "best eval cosine" in result.output and (tmp_path / "o" / "edgedistil.json").exists()
    # one line more: the student against its teacher on the 2 held-out rows of the 15
    line = next(x for x in result.output.splitlines() if x.startswith("Against the teacher"))
    assert line.startswith("Against the teacher on 2 eval examples (held-out share of the data):")
    assert "cosine" in line and "1-NN accuracy left out (the eval text has no labels)" in line


@pytest.mark.parametrize(
    ("content", "extra", "expected"),
    [
        ("", [], "no examples"),
        (
            "sentence\tlabel\na\t0\n",
            ["--task", "embedding", "--text-column", "sentense"],
            'did you mean "sentence"',
        ),
        ("x\ny\nz\n", ["--layer-map", "0,5"], "--layer-map 0,5: layer 5 is out of range"),
        ("x\ny\nz\n", ["--layer-map", "1,0"], "must be strictly increasing"),
        ("x\ny\nz\n", ["--layer-map", "0,1,1"], "3 layers, but the teacher has only 2"),
        ("x\ny\nz\n", ["--layers", "3"], "--layers 3: the teacher has 2 layers"),
    ],
)
def test_bad_input_is_one_line(
    runner: CliRunner,
    tiny_bert: Path,
    tmp_path: Path,
    content: str,
    extra: list[str],
    expected: str,
) -> None:
    data = tmp_path / ("d.tsv" if "\t" in content else "d.txt")
    data.write_text(content)
    result = runner.invoke(cli, _args(tiny_bert, data, tmp_path / "o", *extra))
    assert result.exit_code == 1, result.output
    assert expected in error_line(result)
    assert not (tmp_path / "o" / "edgedistil.json").exists()


def test_one_class_and_non_utf8(runner: CliRunner, tiny_bert: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.tsv"
    one.write_text("sentence\tlabel\na\tpos\nb\tpos\n")
    result = runner.invoke(
        cli,
        ["finetune", "--teacher", str(tiny_bert), "--data", str(one), "--out", str(tmp_path / "o")],
    )
    assert "holds one class ('pos')" in error_line(result)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"ok\n\xff\xfe\n")
    assert "not UTF-8 text" in error_line(
        runner.invoke(cli, _args(tiny_bert, latin, tmp_path / "p"))
    )


def test_finetune_needs_data(runner: CliRunner, tiny_bert: Path, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["finetune", "--teacher", str(tiny_bert), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--data is required" in result.output


def test_classification_without_a_head_points_at_finetune(
    runner: CliRunner, tiny_bert: Path, tmp_path: Path
) -> None:
    data = tmp_path / "d.tsv"
    data.write_text("sentence\tlabel\na b\t0\nb a\t1\n" * 4)
    result = runner.invoke(cli, _args(tiny_bert, data, tmp_path / "o", "--task", "classification"))
    assert "edgedistil finetune" in error_line(result)


@pytest.mark.parametrize(
    ("name", "content", "extra", "expected"),
    [
        ("p.tsv", "premise\thypothesis\tlabel\na\tb\t0\nc\t\t1\n", [],
         "p.tsv: example 2 has no second text in 'hypothesis'"),
        ("q.tsv", "text\tlabel\na\t0\nc\t1\n", ["--pair-column", "text_b"],
         "q.tsv: no column 'text_b' (--pair-column)"),
        ("n.jsonl", '{"tokens": ["a", "b"], "tags": ["O", "B-X"]}\n{"tokens": ["c"], "tags": []}\n',
         [], "n.jsonl: example 2 has 0 tags in 'tags' for 1 words; give one tag a word"),
    ],
)  # fmt: skip
def test_a_bad_pair_or_tag_row_is_one_line_naming_it(
    runner: CliRunner,
    tiny_classifier: Path,
    tmp_path: Path,
    name: str,
    content: str,
    extra: list[str],
    expected: str,
) -> None:
    data = tmp_path / name
    data.write_text(content)
    result = runner.invoke(cli, _args(tiny_classifier, data, tmp_path / "o", *extra))
    assert result.exit_code == 1, result.output
    assert expected in error_line(result)


@pytest.mark.parametrize(
    ("teacher", "extra", "expected"),
    [
        ("tiny_classifier", ["--alpha-kd", "0", "--alpha-ce", "0", "--alpha-cos", "0"],
         "--alpha-kd, --alpha-ce, --alpha-cos, --alpha-att: the classification loss weights are "
         "all 0"),
        ("tiny_bert", ["--alpha-cos", "0", "--alpha-mse", "0"],
         "--alpha-cos, --alpha-mse, --alpha-att: the embedding loss weights are all 0"),
        ("tiny_bert", ["--alpha-att", "1", "--relation-heads", "3"],
         "--relation-heads 3: the student's width 32 and the teacher's 32 must both divide into "
         "that many relation heads; counts that work: 1, 2, 4, 8, 16, 32"),
    ],
)  # fmt: skip
def test_zero_loss_weights_and_a_bad_relation_head_count_are_one_line(
    runner: CliRunner,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    teacher: str,
    extra: list[str],
    expected: str,
) -> None:
    data = tmp_path / "d.tsv"
    data.write_text("sentence\tlabel\n" + "the phone was good\t0\nthe battery was bad\t1\n" * 4)
    result = runner.invoke(
        cli, _args(request.getfixturevalue(teacher), data, tmp_path / "o", *extra)
    )
    assert result.exit_code == 1, result.output
    assert expected in error_line(result)
    assert not (tmp_path / "o" / "edgedistil.json").exists()


@pytest.mark.slow
def test_distill_with_attention_relations_records_the_weight(
    runner: CliRunner, tmp_path: Path
) -> None:
    import json

    from tests.tiny_families import save_tiny_family

    # a DistilBERT teacher and a student narrowed to 2 heads of its 4, learning 4 relation heads
    teacher = save_tiny_family(
        tmp_path / "teacher", "distilbert", "ForSequenceClassification", num_labels=2
    )
    data = tmp_path / "d.tsv"
    data.write_text("sentence\tlabel\n" + "the phone was good\tpos\nthe battery was bad\tneg\n" * 8)
    extra = ["--layers", "1", "--hidden", "16", "--alpha-att", "3", "--relation-heads", "4"]
    result = runner.invoke(cli, _args(teacher, data, tmp_path / "o", *extra))
    assert result.exit_code == 0, result.output
    assert "classification student, layers [0], hidden 16" in result.output
    settings = json.loads((tmp_path / "o" / "edgedistil.json").read_text())["settings"]
    assert (settings["weights"]["att"], settings["relation_heads"]) == (3.0, 4)
    assert (tmp_path / "o" / "model.safetensors").is_file()
