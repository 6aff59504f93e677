"""The build's held-out eval text (``edgedistil.heldout``): a deterministic, disjoint split that
the manifest records, an explicit --eval checked against the training text, and a build whose
training, pruning and calibration never read an eval line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edgedistil import heldout, tokens
from edgedistil.cli import cli
from edgedistil.data import SAMPLE_TEXT, read_examples
from edgedistil.errors import BuildError, DataError
from edgedistil.teacher import sha256_of
from tests.conftest import error_line, save_tiny


def _prepare(
    out: Path,
    data: Path = SAMPLE_TEXT,
    *,
    eval_path: Path | None = None,
    calibration: Path | None = None,
    seed: int = 42,
) -> heldout.Texts:
    # As the build does it: read and split (``build.inputs.check``), then write.
    parts = heldout.split(data=data, eval_path=eval_path, calibration=calibration, seed=seed)
    return heldout.write(out, parts)


def _lines(path: Path) -> list[str]:
    return read_examples(path).texts


# ---- the split ----


def test_the_split_is_deterministic_disjoint_and_covers_the_data(tmp_path: Path) -> None:
    first, second = _prepare(tmp_path / "a"), _prepare(tmp_path / "b")
    for name in ("train", "eval"):
        a, b = getattr(first, name), getattr(second, name)
        assert a.read_bytes() == b.read_bytes()  # same bytes on every run: stage keys hold
    train, held = _lines(first.train), _lines(first.eval)
    data = _lines(SAMPLE_TEXT)
    assert not set(train) & set(held)
    assert sorted(train + held) == sorted(data)
    assert (len(held), len(train)) == (926, 8_330)  # a tenth of the sample text's 9,256 lines
    assert first.calibration == first.train  # no --calibration: the train part calibrates
    other = _lines(_prepare(tmp_path / "c", seed=7).eval)
    assert other != held and len(other) == 926


def test_a_line_depends_on_itself_alone_and_repeats_stay_on_one_side(tmp_path: Path) -> None:
    lines = [f"the phone number {i}" for i in range(600)]
    (tmp_path / "a.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(lines[:580] + lines[:20]) + "\n")
    a = set(_lines(_prepare(tmp_path / "out-a", tmp_path / "a.txt").eval))
    b = _lines(_prepare(tmp_path / "out-b", tmp_path / "b.txt").eval)
    assert set(b) <= a  # fewer lines: the same lines stay held out (they rank by their hash)
    train_b = _lines(_prepare(tmp_path / "out-c", tmp_path / "b.txt").train)
    assert not set(b) & set(train_b)  # a repeated line is never on both sides


@pytest.mark.parametrize(
    ("distinct", "held"),
    [(10, 5), (100, 50), (661, 66), (5_000, 500), (100_000, 1_000)],
)
def test_eval_size_is_a_tenth_within_its_bounds(distinct: int, held: int) -> None:
    assert heldout.eval_count(distinct, "data.txt") == held


def test_data_of_one_line_cannot_be_split(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("set a timer\nset a timer\n")
    with pytest.raises(
        DataError, match=r"one.txt: 1 distinct line\(s\); .* at least 2 \(or give the eval"
    ):
        _prepare(tmp_path / "out", tmp_path / "one.txt")


def test_labelled_data_keeps_its_labels_on_both_sides(tmp_path: Path) -> None:
    rows = [f"sentence number {i}\t{'pos' if i % 3 else 'neg'}" for i in range(200)]
    data = tmp_path / "data.tsv"
    data.write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    texts = _prepare(tmp_path / "out", data)
    assert texts.train.name == "train.jsonl" and texts.eval.name == "eval.jsonl"
    truth = {r.split("\t")[0]: r.split("\t")[1] for r in rows}
    for path in (texts.train, texts.eval):
        examples = read_examples(path)
        assert examples.label_names == ["neg", "pos"] and examples.labels is not None
        for text, label in zip(examples.texts, examples.labels, strict=True):
            assert truth[text] == examples.label_names[label]


def test_pair_data_is_split_by_pair_and_keeps_both_texts_and_labels(tmp_path: Path) -> None:
    # 100 premises, each with two hypotheses: a premise may land on both sides, a pair on one
    rows = [(f"premise {i // 2}", f"hypothesis {i}", "yes" if i % 3 else "no") for i in range(200)]
    rows += rows[:20]  # repeated pairs stay on the side of their first copy
    data = tmp_path / "data.tsv"
    data.write_text("premise\thypothesis\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows))
    texts = _prepare(tmp_path / "out", data)
    truth = {(a, b): label for a, b, label in rows}
    sides = []
    for path in (texts.train, texts.eval):
        examples = read_examples(path, pairs=True)
        assert examples.labels is not None and examples.label_names == ["no", "yes"]
        for pair, label in zip(examples.inputs, examples.labels, strict=True):
            assert truth[pair] == examples.label_names[label]  # type: ignore[index]
        sides.append(set(examples.inputs))
    assert not sides[0] & sides[1] and len(sides[0] | sides[1]) == 200
    train_premises = {a for a, _ in sides[0]}  # type: ignore[misc]
    assert any(a in train_premises for a, _ in sides[1])  # type: ignore[misc]


def test_the_record_names_files_counts_hashes_and_the_rule(tmp_path: Path) -> None:
    out = tmp_path / "out"
    record = _prepare(out).record
    assert record["rule"] == heldout.RULE and "sha256(seed, line)" in record["rule"]
    assert record["seed"] == 42 and record["eval_lines_dropped"] == 0
    assert record["data"] == {
        "path": str(SAMPLE_TEXT),
        "sha256": sha256_of(SAMPLE_TEXT),
        "lines": 9_256,
    }
    assert record["train"]["path"] == "split/train.txt" and record["train"]["lines"] == 8_330
    assert record["eval"]["path"] == "split/eval.txt" and record["eval"]["lines"] == 926
    assert record["calibration"]["path"] == "split/train.txt"
    for side in ("train", "eval"):
        assert record[side]["sha256"] == sha256_of(out / record[side]["path"])
    assert not list((out / "split").glob(".*"))  # no temporary file left behind


# ---- an explicit --eval ----


def test_eval_lines_seen_in_training_are_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen = _lines(SAMPLE_TEXT)[:3]
    given = tmp_path / "eval.txt"
    given.write_text("\n".join([*seen, "a sentence nobody trained on", "nor this one"]) + "\n")
    with caplog.at_level(logging.WARNING, logger="edgedistil.heldout"):
        texts = _prepare(tmp_path / "out", eval_path=given)
    assert _lines(texts.eval) == ["a sentence nobody trained on", "nor this one"]
    assert _lines(texts.train) == _lines(SAMPLE_TEXT)  # --eval given: all the data trains
    assert texts.record["eval_lines_dropped"] == 3 and texts.record["eval"]["lines"] == 2
    assert texts.record["eval"]["from"] == str(given)
    assert texts.record["rule"] == "the eval text given with --eval"
    (message,) = caplog.messages
    assert "3 of its 5 eval lines also occur in the training or calibration text" in message


def test_eval_lines_in_the_calibration_text_are_left_out_too(tmp_path: Path) -> None:
    held = _lines(_prepare(tmp_path / "first").eval)
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("\n".join(held[:4]) + "\n")
    texts = _prepare(tmp_path / "out", calibration=calibration)
    assert _lines(texts.eval) == held[4:] and texts.calibration == calibration
    assert texts.record["calibration"] == {
        "path": str(calibration),
        "sha256": sha256_of(calibration),
    }


def test_an_eval_text_that_is_all_training_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"--eval .*sentences.txt: all 9,256 of its lines also"):
        _prepare(tmp_path / "out", eval_path=SAMPLE_TEXT)


def test_a_calibration_text_holding_every_eval_line_is_refused(tmp_path: Path) -> None:
    held = _lines(_prepare(tmp_path / "first").eval)
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("\n".join(held) + "\n")
    with pytest.raises(
        BuildError,
        match=r"sentences.txt: all 926 eval lines held out of it also occur in the training or "
        r"calibration text, .* leave out --calibration to use its train part",
    ):
        _prepare(tmp_path / "out", calibration=calibration)


def test_a_split_of_other_data_replaces_the_last_ones_files(tmp_path: Path) -> None:
    data = tmp_path / "data.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"line {i}\t{i % 2}\n" for i in range(100)))
    out = tmp_path / "out"
    _prepare(out, data)
    _prepare(out)
    assert sorted(p.name for p in (out / "split").iterdir()) == ["eval.txt", "train.txt"]


# ---- a build ----

PROFILE = """extends = "raspberry-pi-4"
name = "pi4-onnx"
description = "the Raspberry Pi 4 profile, ONNX only"
[export]
runtimes = ["onnxruntime"]
formats = ["onnx"]
"""
# Lines of the tiny teacher's words (its vocabulary holds tok0..tok71); "tokN" appears in one
# line only, so the tokN of an eval line is a word that only the eval text holds.
LINES = [f"the phone tok{i}" for i in range(72)]


def _build(*args: str | Path) -> Result:
    return CliRunner().invoke(
        cli,
        [
            "build",
            "--epochs",
            "1",
            "--skip-bench",
            "--allow-unmeasured",
            "--augment",
            "0",
            *map(str, args),
        ],
        catch_exceptions=False,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(teacher, profile, build folder): a pruned tiny student built on ``LINES``."""
    root = tmp_path_factory.mktemp("heldout-build")
    teacher = save_tiny(root / "teacher")
    profile = root / "pi4.toml"
    profile.write_text(PROFILE)
    data = root / "data.txt"
    data.write_text("\n".join(LINES) + "\n")
    out = root / "out"
    result = _build("--target", profile, "--teacher", teacher, "--data", data, "--out", out,
                    "--vocab-size", "60")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert "✓ split: 36 train / 36 eval lines held out of the data" in result.output
    return teacher, profile, out


@pytest.mark.slow
def test_training_pruning_and_calibration_never_see_an_eval_line(
    built: tuple[Path, Path, Path],
) -> None:
    _, _, out = built
    manifest = json.loads((out / "manifest.json").read_text())
    split = manifest["split"]
    train, held = _lines(out / split["train"]["path"]), _lines(out / split["eval"]["path"])
    assert (len(train), len(held)) == (36, 36) and not set(train) & set(held)
    # distillation read the train part only
    record = json.loads((out / "student" / "edgedistil.json").read_text())
    assert Path(record["data"]) == out / "split" / "train.txt"
    # the pruned vocabulary: specials, pieces and the train part's words, no eval-only word
    vocab = set((out / "student" / "vocab.txt").read_text().split())
    eval_only = {line.split()[-1] for line in held}
    assert vocab == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##s", "the", "phone"} | {
        line.split()[-1] for line in train
    }
    assert not vocab & eval_only
    # calibration: the train part (no --calibration given)
    assert split["calibration"] == {"path": "split/train.txt", "sha256": split["train"]["sha256"]}
    assert manifest["inputs"]["eval"] is None and manifest["inputs"]["calibration"] is None


@pytest.mark.slow
def test_each_release_records_the_unk_share_of_the_eval_text(
    built: tuple[Path, Path, Path],
) -> None:
    _, _, out = built
    manifest = json.loads((out / "manifest.json").read_text())
    (release,) = [a for a in manifest["artifacts"].values() if a["role"] == "release"]
    # every eval line is "the phone tokN" with a tokN only eval lines hold: 1 token in 3
    assert release["eval_unk_rate"] == round(1 / 3, 6)
    assert release["eval_unk_sentences"] == 1.0
    assert release["eval_unk_source"] == (
        "36 of 108 tokens, in 36 of 36 sentences of eval.txt, under the student's "
        f"{_vocab_size(out / 'student')}-token vocabulary"
    )
    assert "eval.txt" in release["accuracy_drop_source"]
    # and every report of the gate shows it beside the budgets
    gate = json.loads((out / "gate.json").read_text())
    assert gate["artifacts"][0]["eval_unk"]["unk_rate"] == release["eval_unk_rate"]
    line = "[UNK] on the eval text: 33.33% of tokens, 100.0% of sentences"
    for report in ("gate.md", "gate.junit.xml", "report.html"):
        assert line in (out / report).read_text(), report


def _vocab_size(student: Path) -> int:
    backend = tokens.load_backend(student)
    assert backend is not None
    return backend.get_vocab_size()


@pytest.mark.slow
def test_a_changed_eval_text_redoes_the_verdict_not_the_training(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import shutil

    teacher, profile, out = built
    folder = Path(shutil.copytree(out, tmp_path / "copy"))
    data = out.parent / "data.txt"
    # a calibration text holding two eval lines: they leave the eval text, the train part stays
    held = _lines(out / "split" / "eval.txt")
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("\n".join([*held[:2], "the battery was good"]) + "\n")
    args: list[str | Path] = ["--target", profile, "--teacher", teacher, "--data", data]
    args += ["--out", folder, "--vocab-size", "60", "--calibration", calibration]
    result = _build(*args)
    assert result.exit_code == 0, result.output + result.stderr
    lines = result.output.splitlines()
    assert "✓ split: 36 train / 34 eval lines held out of the data (2 eval lines seen in " \
        "training left out)" in lines  # fmt: skip
    assert "= distill: inputs unchanged" in lines and "= onnx-export: inputs unchanged" in lines
    assert any(line.startswith("✓ onnx-verify") for line in lines)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["split"]["eval"]["lines"] == 34 and manifest["split"]["eval_lines_dropped"] == 2
    again = _build(*args)  # the same inputs: the same split files, nothing redone
    assert again.exit_code == 0
    assert "= onnx-verify: inputs unchanged" in again.output.splitlines()


@pytest.mark.slow
def test_build_refuses_an_eval_text_it_learned_from(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    teacher, profile, out = built
    data = out.parent / "data.txt"
    folder = tmp_path / "refused"
    result = _build("--target", profile, "--teacher", teacher, "--data", data, "--out", folder,
                    "--eval", data)  # fmt: skip
    assert result.exit_code == 1
    assert "all 72 of its lines also occur in the training" in error_line(result)
    assert not folder.exists()  # refused with the other inputs, before anything is written
