"""The generated C tokenizer gives exactly the ids and mask the Hugging Face fast tokenizer of the
same folder gives: compiled with the host gcc (C99, every warning an error) into a driver that
reads every sentence from one pipe, and compared on the shipped sample text and on generated
sentences that reach each step (accents, CJK, emoji, controls, punctuation, long words, special
tokens in the text, code points of every plane, malformed UTF-8)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from edgedistil.errors import ExportError
from edgedistil.export.c_tokenizer import refusal, write_c_tokenizer
from edgedistil.export.c_tokenizer_check import DRIVER
from tests.conftest import write_vocab
from tests.tiny_families import save_tiny_family

GCC = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1"]
LENGTHS = (128, 16, 5)  # the profile's length, and two that truncate most sentences

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="no host gcc to compile C")


def compile_driver(source: Path, out: Path) -> Path:
    binary = out / "tokenizer_driver"
    done = subprocess.run(
        [*GCC, f"-I{source}", "-o", str(binary), str(source / "tokenizer.c"), str(DRIVER)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return binary


def run_driver(
    binary: Path, cases: list[tuple[int, bytes]]
) -> list[tuple[int, list[int], list[int]]]:
    """(real count, ids, mask) for each (max_len, UTF-8 bytes), all through one process."""
    stdin = b"".join(b"%d %d\n%s" % (length, len(raw), raw) for length, raw in cases)
    done = subprocess.run([str(binary)], input=stdin, capture_output=True, check=True)
    rows = []
    for line in done.stdout.decode("ascii").splitlines():
        real, ids, mask = line.split(":")
        rows.append((int(real), [int(x) for x in ids.split()], [int(x) for x in mask.split()]))
    assert len(rows) == len(cases)
    return rows


def reference(
    folder: Path, cases: list[tuple[int, bytes]]
) -> list[tuple[int, list[int], list[int]]]:
    """What transformers' AutoTokenizer of ``folder`` gives (malformed bytes read with
    errors="replace", as the C reads them)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    found: dict[int, tuple[int, list[int], list[int]]] = {}
    for length in sorted({n for n, _ in cases}):
        index = [i for i, (n, _) in enumerate(cases) if n == length]
        texts = [cases[i][1].decode("utf-8", errors="replace") for i in index]
        encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=length)
        for i, ids, mask in zip(
            index, encoded["input_ids"], encoded["attention_mask"], strict=True
        ):
            found[i] = (sum(mask), list(ids), list(mask))
    return [found[i] for i in range(len(cases))]


def _chars(rng: random.Random, ranges: list[tuple[int, int]], count: int) -> str:
    out = []
    for _ in range(count):
        low, high = rng.choice(ranges)
        cp = rng.randint(low, high)
        out.append(chr(cp) if not 0xD800 <= cp <= 0xDFFF else "?")
    return "".join(out)


ACCENTED = [(0xC0, 0x17F), (0x180, 0x24F), (0x1E00, 0x1EFF), (0x300, 0x36F), (0x370, 0x3FF)]
CJK = [(0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0x20000, 0x2A6DF)]
EMOJI = [(0x1F300, 0x1FAFF), (0x2600, 0x27BF), (0xFE00, 0xFE0F), (0x200D, 0x200D)]
CONTROLS = [(0x0, 0x1F), (0x7F, 0x9F), (0x200B, 0x200F), (0xFEFF, 0xFEFF), (0xE000, 0xE010)]
SPACES = [(0x20, 0x20), (0xA0, 0xA0), (0x2000, 0x200A), (0x3000, 0x3000), (0x1680, 0x1680)]
PUNCT = [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E), (0x2010, 0x205E), (0x3001, 0x3011)]
EVERYWHERE = [(0x0, 0x10FFFF), (0x0, 0xFFFF), (0x10000, 0x3FFFF), (0xE0000, 0xE01EF)]
WORDS = [
    "the",
    "movie",
    "was",
    "good",
    "bad",
    "phone",
    "battery",
    "fast",
    "slow",
    "timer",
    "set",
    "unaffable",
    "running",
]


def _sentence(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.randrange(9)
        if kind == 0:
            parts.append(rng.choice(WORDS).capitalize() + _chars(rng, ACCENTED, rng.randint(0, 3)))
        elif kind == 1:
            parts.append(_chars(rng, CJK, rng.randint(1, 6)))
        elif kind == 2:
            parts.append(_chars(rng, EMOJI + CONTROLS + SPACES, rng.randint(1, 4)))
        elif kind == 3:
            parts.append(rng.choice(WORDS) + _chars(rng, PUNCT, rng.randint(1, 3)))
        elif kind == 4:
            parts.append(rng.choice(WORDS) * rng.randint(8, 30))  # 24-360 characters
        elif kind == 5:
            parts.append(rng.choice(["[MASK]", "[CLS]", "x[SEP]y", "[mask]", "[UNK", "[PAD]]"]))
        elif kind == 6:
            parts.append(_chars(rng, EVERYWHERE, rng.randint(1, 5)))
        elif kind == 7:
            parts.append(rng.choice(["İstanbul", "ΑΣ", "Straße", "ǅemal", "ﬁne", "Ωhm", "Ⅻ"]))
        else:
            parts.append(rng.choice(WORDS))
    return rng.choice(["", " ", "\t", "\n"]).join(parts)


MALFORMED = [
    b"\x80",
    b"\xbf",
    b"\xc0\xaf",
    b"\xc1",
    b"\xc3",
    b"\xe0\x80\x80",
    b"\xe0\xa0",
    b"\xed\xa0\x80",
    b"\xef\xbf",
    b"\xf0\x80\x80\x80",
    b"\xf0\x9f\x98",
    b"\xf4\x90\x80\x80",
    b"\xf5",
    b"\xfe",
    b"\xff",
]


def _malformed(rng: random.Random) -> bytes:
    raw = bytearray(_sentence(rng).encode("utf-8"))
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(raw))
        bad = (
            rng.choice(MALFORMED)
            if rng.random() < 0.7
            else bytes(rng.randrange(256) for _ in range(3))
        )
        raw[at:at] = bad
    return bytes(raw)


def cases(sample: list[str], generated: int, seed: int = 0) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    texts = [line.encode("utf-8") for line in sample]
    texts += [_sentence(rng).encode("utf-8") for _ in range(generated // 2)]
    texts += [_malformed(rng) for _ in range(generated - generated // 2)]
    texts += [b"", b" ", b"\xff", b"a" * 100, b"a" * 101, b"\x00", b"[CLS]"]
    return [
        (LENGTHS[i % len(LENGTHS)] if i % 4 == 0 else LENGTHS[0], t) for i, t in enumerate(texts)
    ]


def assert_agrees(folder: Path, out: Path, cases_: list[tuple[int, bytes]]) -> None:
    write_c_tokenizer(folder, out, sequence_length=LENGTHS[0])
    got = run_driver(compile_driver(out, out), cases_)
    want = reference(folder, cases_)
    wrong = [(cases_[i], got[i][1], want[i][1]) for i in range(len(cases_)) if got[i] != want[i]]
    assert not wrong, f"{len(wrong)} of {len(cases_)} differ; first: {wrong[:3]}"


def tiny_folder(directory: Path, **config: object) -> Path:
    """A vocab.txt-only BERT tokenizer folder (conftest's tiny vocabulary), with ``config`` as
    its tokenizer_config.json (lower-casing, accents, CJK)."""
    directory.mkdir(parents=True, exist_ok=True)
    write_vocab(directory, 99)
    settings = {"tokenizer_class": "BertTokenizer", **config}
    (directory / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return directory


def sample_lines() -> list[str]:
    from edgedistil.data import SAMPLE_TEXT

    return SAMPLE_TEXT.read_text(encoding="utf-8").splitlines()


@needs_gcc
def test_the_tiny_vocabulary_agrees_with_transformers_on_every_sentence(tmp_path: Path) -> None:
    folder = tiny_folder(tmp_path / "tiny")
    all_cases = cases(sample_lines(), 4000)
    assert len(all_cases) >= 10_000
    assert_agrees(folder, tmp_path / "c", all_cases)


@needs_gcc
@pytest.mark.parametrize(
    "config",
    [
        {"do_lower_case": False},  # cased: no lower-casing, no accent stripping
        {"do_lower_case": True, "strip_accents": False},  # lower-cased, accents kept
        {"do_lower_case": False, "strip_accents": True},
        {"tokenize_chinese_chars": False},
    ],
    ids=["cased", "lower-keep-accents", "cased-strip-accents", "no-cjk-split"],
)
def test_each_normalizer_setting_agrees_with_transformers(
    tmp_path: Path, config: dict[str, object]
) -> None:
    folder = tiny_folder(tmp_path / "tiny", **config)
    assert_agrees(folder, tmp_path / "c", cases(sample_lines()[:300], 1500, seed=1))


@needs_gcc
@pytest.mark.slow
def test_the_default_teachers_vocabulary_agrees_with_transformers(tmp_path: Path) -> None:
    from edgedistil.teacher import default_teacher_dir

    all_cases = cases(sample_lines(), 4000, seed=2)
    assert len(all_cases) >= 10_000
    assert_agrees(default_teacher_dir(), tmp_path / "c", all_cases)


@needs_gcc
def test_an_invalid_byte_is_read_as_a_dropped_replacement_character(tmp_path: Path) -> None:
    """Python's errors="replace" makes each maximal ill-formed subpart one U+FFFD, and BERT's
    clean_text drops U+FFFD: inside a word an invalid byte vanishes, and it never swallows the
    ASCII byte after it."""
    folder = tiny_folder(tmp_path / "tiny")
    write_c_tokenizer(folder, tmp_path / "c", sequence_length=8)
    binary = compile_driver(tmp_path / "c", tmp_path / "c")
    raw = [b"go\xffod", b"good", b"\xe2\x82good", b"\xf0\x9f\x98 good", b"\xe2 good\xed\xa0\x80"]
    got = run_driver(binary, [(8, r) for r in raw])
    assert got[0] == got[1] == got[2]  # "good" either way
    assert got[3] == got[4] == got[1]
    assert got == reference(folder, [(8, r) for r in raw])


@pytest.mark.parametrize("family", ["roberta", "xlm-roberta"])
def test_a_tokenizer_that_is_not_wordpiece_is_one_clear_refusal(
    tmp_path: Path, family: str
) -> None:
    folder = save_tiny_family(tmp_path / family, family)
    with pytest.raises(ExportError) as caught:
        write_c_tokenizer(folder, tmp_path / "c", sequence_length=16)
    message = str(caught.value)
    assert refusal(folder) == message  # what a build notes when it writes no C tokenizer
    assert refusal(tiny_folder(tmp_path / "tiny")) is None
    assert "\n" not in message
    assert str(folder) in message and "only WordPiece" in message
    assert not (tmp_path / "c" / "tokenizer.c").exists()


def test_a_vocabulary_holding_a_mark_nfd_reorders_is_refused(tmp_path: Path) -> None:
    """HF puts U+1D16D U+1D165 (classes 226, 216) in canonical order, the C in text order: only
    a vocabulary that holds one of them could see the difference."""
    folder = tiny_folder(tmp_path / "tiny")
    with (folder / "vocab.txt").open("a", encoding="utf-8") as vocab:
        vocab.write("\U0001d165\n")
    with pytest.raises(ExportError, match=r"combining marks that NFD reorders \(U\+1D165\)"):
        write_c_tokenizer(folder, tmp_path / "c", sequence_length=8)
    cased = tiny_folder(tmp_path / "cased", do_lower_case=False)  # no NFD: nothing to reorder
    with (cased / "vocab.txt").open("a", encoding="utf-8") as vocab:
        vocab.write("\U0001d165\n")
    assert refusal(cased) is None


def test_the_tables_are_measured_and_both_vocabulary_layouts_are_named(tmp_path: Path) -> None:
    result = write_c_tokenizer(tiny_folder(tmp_path / "tiny"), tmp_path / "c", sequence_length=8)
    assert result.vocab_layout == "sorted"
    text = result.c_path.read_text(encoding="utf-8")
    assert f"{result.sorted_bytes:,} bytes" in text and f"{result.trie_bytes:,} bytes" in text
    assert result.vocab_bytes == result.sorted_bytes
    assert 0 < result.unicode_bytes < 40_000
    assert "#define EDT_SEQ_LEN 8" in result.h_path.read_text(encoding="utf-8")


ARM_GCC = "arm-none-eabi-gcc"


def test_it_compiles_for_a_cortex_m7(tmp_path: Path) -> None:
    if shutil.which(ARM_GCC) is None:
        pytest.skip(f"{ARM_GCC} is not installed (apt-get install gcc-arm-none-eabi)")
    result = write_c_tokenizer(tiny_folder(tmp_path / "tiny"), tmp_path / "c", sequence_length=8)
    obj = tmp_path / "tokenizer.o"
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m7", "-mthumb", "-Os"]
    subprocess.run([ARM_GCC, *flags, "-c", str(result.c_path), "-o", str(obj)], check=True)
    size = subprocess.run(["arm-none-eabi-size", str(obj)], check=True, capture_output=True)
    text, data, bss = (int(x) for x in size.stdout.decode().splitlines()[1].split()[:3])
    # the flash the build counts holds the tables it wrote and the code the compiler made
    assert bss == 0  # no globals, no heap
    assert sum(result.table_bytes.values()) < text + data <= result.flash_bytes


@needs_gcc
def test_the_build_check_compares_the_c_with_the_students_tokenizer(tmp_path: Path) -> None:
    from edgedistil.export.c_tokenizer_check import check_c_tokenizer

    folder = tiny_folder(tmp_path / "tiny")
    write_c_tokenizer(folder, tmp_path / "c", sequence_length=16)
    texts = sample_lines()[:200] + ["the movie was good", "Café, 中文 and [CLS] here"]
    check = check_c_tokenizer(tmp_path / "c", folder, texts, 16)
    assert (check.sentences, check.same) == (len(texts), len(texts))
    assert f"on {len(texts)} of {len(texts)} eval sentences" in check.describe()
    # the C of one vocabulary against a folder whose vocabulary numbers the words otherwise
    other = tiny_folder(tmp_path / "other")
    lines = (other / "vocab.txt").read_text().splitlines()
    (other / "vocab.txt").write_text("\n".join(lines[:5] + lines[5:][::-1]) + "\n")
    with pytest.raises(ExportError, match=r"other ids than the student's tokenizer on \d+ of"):
        check_c_tokenizer(tmp_path / "c", other, texts, 16)


def test_without_a_c_compiler_the_check_says_it_did_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgedistil.export import c_tokenizer_check

    monkeypatch.setattr(c_tokenizer_check.shutil, "which", lambda name: None)
    check = c_tokenizer_check.check_c_tokenizer(tmp_path, tmp_path, ["a"], 8)
    assert check.compiler is None and "not run on this host" in check.describe()
