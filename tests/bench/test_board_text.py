"""Bench from text: the board tokenises the raw sentences itself, timed apart from inference.

The builtin WordPiece of board_script.py against Hugging Face's fast BertTokenizer, id for id;
the board script in text mode against id mode on a tiny exported model; the host's check of the
board's ids; and the ssh runner in text mode against the real OpenSSH server of tests/conftest.py.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgedistil.bench import board_script, inputs
from edgedistil.bench.base import SCRIPT, Board, Job, Options, make_runner
from edgedistil.bench.run import Request, bench
from edgedistil.cli import cli
from edgedistil.errors import BenchError
from tests.conftest import SPECIALS, SshServer, error_line, write_word_lines

# A cased vocabulary with accented and CJK entries, emoji, punctuation and single-letter pieces,
# so that sentences cut into many pieces and some words fall to [UNK].
WORDS = (  # noqa: SIM905 (a sentence of words reads better than a column of them)
    "the a is was good bad movie phone battery watch fast slow timer set for minutes light off "
    "on café naïve résumé Café Über über élan hello world Hello WORLD 你 好 世 界 日 本 😀 🥲 "
    "! . , ? ' \" ( ) - $ + 1 2 3 10"
).split()
PIECES = ["##s", "##ing", "##ed", "##é", "##1", "##0"]
LETTERS = [*"abcdefghijklmnopqrstuvwxyzé", *[f"##{c}" for c in "abcdefghijklmnopqrstuvwxyzé"]]
# Cases each chosen for a rule: final sigma, dotted I, zero-width and control characters, tabs
# and newlines, the replacement character, full-width and ligature forms, combining accents,
# CJK in and just outside the padded blocks, added tokens in the text, ASCII symbols that BERT
# counts as punctuation, a word over 100 characters, an unassigned code point.
EDGES = [
    "Ωmega ΣΑΣ σας",
    "İstanbul ISTANBUL",
    "\u200bzero\u200bwidth\ufeff",
    "tab\tnew\nline\r\nend",
    "ctl\x00\x01\x7f\x1c\x85x",
    "\ufffdrepl",
    "ｆｕｌｌ ﬁne ﬀ ŒUVRE",
    "e\u0301 combining Ä Å ǅ ẞ",
    "日本語のテキスト 你好世界",
    "𫠠𠀀 \U0002b820",
    "a[MASK]b [SEP] [cls] [UNK]x",
    "$5+3=8 <tag> a|b ^~` @#%&*",
    "«quoted» — dash… ¿qué? ¡sí!",
    "x" * 150,
    "emoji 😀🥲🤩👍🏽 mix \u0378",
    "HELLO World, Café über naïve résumé!",
]


def sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pool = [*WORDS, *EDGES, "CAFÉ", "Movies", "phones!", "timers,", "ﬀ", "hellos"]
    out = list(EDGES)
    while len(out) < count:
        words = [rng.choice(pool) for _ in range(rng.randint(1, 40))]
        out.append("".join(w + rng.choice([" ", " ", "", "  ", "\t", ","]) for w in words))
    return out


def write_cased_vocab(directory: Path) -> Path:
    tokens = [*SPECIALS, *dict.fromkeys([*WORDS, *PIECES, *LETTERS, *(w.lower() for w in WORDS)])]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return directory / "vocab.txt"


CONFIGS = [(True, None), (False, None), (True, False), (False, True)]


@pytest.mark.parametrize(("lowercase", "strip_accents"), CONFIGS)
def test_builtin_wordpiece_equals_the_fast_bert_tokenizer(
    tmp_path: Path, lowercase: bool, strip_accents: bool | None
) -> None:
    """Id for id and mask for mask, from tokenizer.json and from vocab.txt + its config."""
    from transformers import BertTokenizerFast

    vocab = write_cased_vocab(tmp_path / "vocab")
    fast = BertTokenizerFast(str(vocab), do_lower_case=lowercase, strip_accents=strip_accents)
    fast.save_pretrained(str(tmp_path / "json"))
    assert (tmp_path / "json" / "tokenizer.json").is_file()
    (tmp_path / "vocab" / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": lowercase, "strip_accents": strip_accents})
    )
    texts = sentences(300, seed=int(lowercase) * 2 + (strip_accents is None))
    for folder in ("json", "vocab"):
        builtin = board_script.load_wordpiece(str(tmp_path / folder))
        for length in (12, 128):  # 12: most sentences are cut; 128: most are padded
            differ = []
            for text in texts:
                want = fast(text, truncation=True, max_length=length, padding="max_length")
                if builtin.encode(text, length) != (want["input_ids"], want["attention_mask"]):
                    differ.append(text)
            assert differ == [], f"{folder}, length {length}: {len(differ)} differ: {differ[:3]}"


def test_a_tokenizer_that_is_not_wordpiece_is_refused_with_the_reason(tmp_path: Path) -> None:
    from tests.tiny_families import save_tiny_family

    folder = save_tiny_family(tmp_path / "roberta", "roberta")
    with pytest.raises(board_script.Unsupported, match="BPE tokenizer, not WordPiece"):
        board_script.load_wordpiece(str(folder))


def run_script(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )
    result: dict[str, object] = json.loads(done.stdout)
    assert done.returncode == 0, result
    return result


@pytest.fixture
def shipped(tiny_onnx: Path, tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    """What the host ships in text mode: ids, text and tokenizer; and the host's digests."""
    text = write_word_lines(tmp_path / "text.txt", 6, seed=3)
    # U+2028 and U+0085 end a line for str.splitlines, and JSON leaves them as they are.
    lines = [*text.read_text().splitlines(), "Café MOVIE, the timer!", "the\u2028light\x85on"]
    arrays = inputs.tokenize(tiny_onnx.parent, lines, 16)
    folder = tmp_path / "ship"
    folder.mkdir()
    inputs.write_inputs(arrays, folder)
    inputs.write_text(lines, tiny_onnx.parent, folder)
    return folder, lines, inputs.digests(arrays)


@pytest.mark.parametrize("kind", ["builtin", "tokenizers"])
def test_text_mode_feeds_the_same_ids_as_id_mode_and_times_tokenisation(
    tiny_onnx: Path, shipped: tuple[Path, list[str], list[str]], kind: str
) -> None:
    folder, lines, digests = shipped
    common = ["--model", str(tiny_onnx), "--inputs", str(folder), "--runs", "20", "--warmup", "1"]
    ids_mode = run_script(*common)
    text = ["--text", str(folder / inputs.TEXT_FILE), "--tokenizer", str(folder)]
    text_mode = run_script(*common, *text, "--length", "16", "--tokenize-with", kind)
    assert "tokenize" not in ids_mode
    tokenize = text_mode["tokenize"]
    assert isinstance(tokenize, dict)
    expected = "builtin-wordpiece" if kind == "builtin" else "tokenizers"
    assert tokenize["measured"] is True and tokenize["tokenizer"] == expected
    assert tokenize["digests"] == digests  # the board's ids are the host's, sentence by sentence
    assert tokenize["sentences"] == len(lines) and tokenize["samples"] >= 20
    lat = tokenize["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p95"] <= lat["max"]
    for key in ("rows", "inputs", "model"):
        assert text_mode[key] == ids_mode[key], key


def test_a_tokenizer_the_board_cannot_run_falls_back_to_the_shipped_ids(
    tiny_onnx: Path, shipped: tuple[Path, list[str], list[str]]
) -> None:
    folder, _, _ = shipped
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"type": "Unigram"}}))
    result = run_script(
        *["--model", str(tiny_onnx), "--inputs", str(folder), "--runs", "2"],
        *["--text", str(folder / inputs.TEXT_FILE), "--tokenizer", str(folder)],
        *["--tokenize-with", "builtin"],
    )
    assert result["tokenize"] == {
        "measured": False,
        "reason": "a Unigram tokenizer, not WordPiece",
    }
    assert result["rows"] == 8  # the shipped ids were fed


def test_the_host_warns_once_when_the_board_did_not_tokenise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = {"ok": True, "tokenize": {"measured": False, "reason": "no tokenizers package"}}
    with caplog.at_level(logging.WARNING):
        assert inputs.check_tokenized("pi", result, ["x"]) == result
    assert [r.getMessage() for r in caplog.records] == [
        "Board pi: tokenisation not measured: no tokenizers package"
    ]


@pytest.fixture
def onnx_copy(tiny_onnx: Path, tmp_path: Path) -> Path:
    for name in ("model.onnx", "vocab.txt"):
        shutil.copyfile(tiny_onnx.parent / name, tmp_path / name)
    write_word_lines(tmp_path / "text.txt", 8, seed=5)
    return tmp_path / "model.onnx"


def test_bench_stores_the_tokenisation_beside_inference(onnx_copy: Path) -> None:
    report = bench(
        Request(artifact=onnx_copy, runs=5, warmup=1, rows=8, text=onnx_copy.parent / "text.txt")
    )
    (board,) = report.boards
    assert board.error is None and board.result is not None
    tokenize = board.result["result"]["tokenize"]
    assert tokenize["measured"] is True and tokenize["ids_match_host"] == 8
    assert "digests" not in tokenize and tokenize["latency_ms"]["p95"] > 0
    assert board.saved is not None
    stored = json.loads(board.saved.read_text())["result"]["tokenize"]
    assert stored == tokenize


def test_text_goes_to_the_board_only_with_the_artifacts_own_tokenizer(tmp_path: Path) -> None:
    artifact = tmp_path / "model.onnx"
    elsewhere = tmp_path / "teacher"
    assert inputs.text_mode_refusal(artifact, tmp_path, None, ["a"]) is None
    assert inputs.text_mode_refusal(artifact, elsewhere, elsewhere, ["a"]) is None  # --tokenizer
    reason = inputs.text_mode_refusal(artifact, elsewhere, None, ["a"])
    assert reason is not None and "carries no tokenizer" in reason
    reason = inputs.text_mode_refusal(artifact, tmp_path, None, [("a", "b")])
    assert reason is not None and "sentence pairs" in reason


def test_a_board_whose_ids_differ_is_one_error_line(runner: CliRunner, onnx_copy: Path) -> None:
    """The 'board' edits its copy of vocab.txt before it runs: its ids are no longer the host's
    on every sentence with 'movie'."""
    lines = (onnx_copy.parent / "text.txt").read_text().splitlines()
    differ = sum("movie" in line.split() for line in lines)
    assert 0 < differ < len(lines)
    board_python = onnx_copy.parent / "board-python"
    board_python.write_text(
        f'#!/bin/sh\nsed -i "s/^movie$/film/" "$TMPDIR/vocab.txt"\nexec "{sys.executable}" "$@"\n'
    )
    board_python.chmod(0o755)
    args = ["bench", str(onnx_copy), "--text", str(onnx_copy.parent / "text.txt")]
    args += ["--runs", "2", "--warmup", "0", "--python", str(board_python)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    line = error_line(result)
    assert f"other ids than the host's on {differ} of {len(lines)} sentences" in line


def test_ssh_runs_text_mode_with_the_builtin_wordpiece(
    sshd: SshServer, tiny_onnx: Path, tmp_path: Path
) -> None:
    """A board without Hugging Face's tokenizers (hidden by a sitecustomize): the builtin runs,
    and its ids are the host's."""
    assert list(sshd.board_tmp.iterdir()) == []
    folder, lines = tmp_path / "ship", ["set a timer for five minutes", "the light is on"]
    folder.mkdir()
    arrays = inputs.tokenize(tiny_onnx.parent, lines, 16)
    inputs.write_inputs(arrays, folder)
    name = inputs.write_text(lines, tiny_onnx.parent, folder)
    job = Job(
        model=tiny_onnx, inputs=folder, runs=5, warmup=1, threads=1, text=name, sequence_length=16
    )
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['tokenizers'] = None\n")
    options = Options(python=f"env PYTHONPATH={hide} {sys.executable}", ssh_config=sshd.config)
    board = Board(label="pi", runner="ssh", address=sshd.address)
    result = make_runner("ssh", options).run(job, board)
    checked = inputs.check_tokenized("pi", result, inputs.digests(arrays))
    assert checked["tokenize"]["tokenizer"] == "builtin-wordpiece"
    assert checked["tokenize"]["ids_match_host"] == 2
    assert list(sshd.board_tmp.iterdir()) == [], "the run left files on the board"
    with pytest.raises(BenchError, match="on 1 of 2 sentences"):
        inputs.check_tokenized("pi", result, [inputs.digests(arrays)[0], "0" * 64])


def test_digests_match_the_board_scripts_own(tiny_onnx: Path) -> None:
    arrays = inputs.tokenize(tiny_onnx.parent, ["the movie", "a phone"], 8)
    ids, mask = arrays["input_ids"], arrays["attention_mask"]
    assert inputs.digests(arrays) == [board_script.digest(np, ids[i], mask[i]) for i in (0, 1)]


def test_the_builtin_wordpiece_runs_on_python_3_8(tmp_path: Path) -> None:
    """Python 3.8's own unicodedata (Unicode 12.1), on the board's oldest Python: same ids."""
    from transformers import BertTokenizerFast

    from tests.bench.test_board_script import PYTHON38_CANDIDATES, python38

    python = python38()
    if python is None:
        pytest.skip(f"no Python 3.8 here (looked for {', '.join(PYTHON38_CANDIDATES)})")
    fast = BertTokenizerFast(str(write_cased_vocab(tmp_path / "vocab")), do_lower_case=True)
    fast.save_pretrained(str(tmp_path / "json"))
    texts = sentences(150, seed=8)
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import board_script as b; "
        "w = b.load_wordpiece(sys.argv[2]); texts = json.load(open(sys.argv[3], encoding='utf-8'));"
        "print(json.dumps([w.encode(t, 24) for t in texts]))"
    )
    done = subprocess.run(
        [
            python,
            "-c",
            code,
            str(SCRIPT.parent),
            str(tmp_path / "json"),
            str(tmp_path / "texts.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    board = [tuple(pair) for pair in json.loads(done.stdout)]
    encoded = [fast(t, truncation=True, max_length=24, padding="max_length") for t in texts]
    assert board == [(e["input_ids"], e["attention_mask"]) for e in encoded]


def test_the_cli_shows_tokenisation_beside_inference(runner: CliRunner, onnx_copy: Path) -> None:
    args = ["bench", str(onnx_copy), "--text", str(onnx_copy.parent / "text.txt")]
    result = runner.invoke(cli, [*args, "--runs", "3", "--warmup", "0", "--threads", "1"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("local: tokenisation"))
    assert line.startswith("local: tokenisation on the board (tokenizers) p50 ")
    assert " ms per sentence; inference p50 " in line


def test_a_board_that_cannot_run_the_tokenizer_is_a_warning_not_a_failure(
    runner: CliRunner, onnx_copy: Path
) -> None:
    """A word-level tokenizer.json (not WordPiece) on a board without Hugging Face's tokenizers:
    the board feeds the host's ids and the result says why tokenisation was not measured."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    folder = onnx_copy.parent
    tokens = (folder / "vocab.txt").read_text().split()
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, "[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "vocab.txt").unlink()
    hide = folder / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['tokenizers'] = None\n")
    args = ["bench", str(onnx_copy), "--text", str(folder / "text.txt"), "--json"]
    args += ["--runs", "2", "--warmup", "0", "--python", f"env PYTHONPATH={hide} {sys.executable}"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    reason = (
        "no tokenizers package on this board and a WordLevel tokenizer, not WordPiece; "
        "install tokenizers there (pip install tokenizers) to time it"
    )
    assert result.stderr.strip() == f"Warning: Board local: tokenisation not measured: {reason}"
    (entry,) = json.loads(result.stdout)["boards"]
    assert entry["result"]["result"]["tokenize"] == {"measured": False, "reason": reason}
    assert entry["result"]["result"]["rows"] == 8


def test_the_board_script_splits_the_cjk_blocks_the_c_tokenizer_splits() -> None:
    """The board script cannot import edgedistil, so it carries its own copy of the blocks."""
    from edgedistil.bench import board_script
    from edgedistil.export.c_tokenizer import CJK_RANGES

    assert board_script.CJK == CJK_RANGES
