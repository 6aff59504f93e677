"""The generated C tokenizer run on the build's own eval text, against the student's tokenizer.

``tokenizer.c`` is compiled with the host's C compiler (C99, every warning an error) into a
driver (``c_tokenizer_driver.c``) that reads every sentence from one pipe and prints its ids and
mask; they must equal what the Hugging Face tokenizer of the student folder gives
(``padding="max_length"``, ``truncation=True``) on every sentence, or the tokenizer is not
shipped. The C is the same on the board: only the compiler differs, and the code has no
arithmetic whose result depends on it (integers of fixed width, no floating point).

Without a C compiler on the host the check cannot run; the build says so in its notes rather
than claiming a match it did not see.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.errors import ExportError

if TYPE_CHECKING:
    from edgedistil.export.c_tokenizer import CTokenizer

DRIVER = Path(__file__).with_name("c_tokenizer_driver.c")
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1"]
COMPILERS = ("cc", "gcc", "clang")


@dataclass(frozen=True, kw_only=True)
class CTokenizerCheck:
    sentences: int
    same: int  # sentences whose ids and mask equal the student's tokenizer's
    compiler: str | None  # None: no C compiler on this host, nothing compared

    def describe(self) -> str:
        if self.compiler is None:
            return "not run on this host (no C compiler: cc, gcc or clang)"
        if self.sentences == 0:  # it takes one text: pairs and word lists are not its input
            return "not compared (the eval text holds text pairs or word lists, not sentences)"
        return (
            f"ids and mask identical to the student's tokenizer on {self.same:,} of "
            f"{self.sentences:,} eval sentences (compiled with {self.compiler})"
        )


@dataclass(frozen=True, kw_only=True)
class CheckedCTokenizer:
    """What a microcontroller artifact gets beside its C array: the C tokenizer and its check,
    or why it has none."""

    written: CTokenizer | None
    check: CTokenizerCheck | None
    reason: str | None  # why there is none

    @property
    def files(self) -> list[Path]:
        return [self.written.c_path, self.written.h_path] if self.written else []

    @property
    def flash_bytes(self) -> int:
        return self.written.flash_bytes if self.written else 0

    def describe(self) -> str:
        if self.written is None or self.check is None:
            return f"No C tokenizer: {self.reason}."
        return (
            f"C tokenizer (tokenizer.c/.h, {self.flash_bytes:,} bytes of flash): "
            f"{self.check.describe()}."
        )


def write_checked(student: Path, result: Any, length: int) -> CheckedCTokenizer:
    """tokenizer.c/.h beside ``result``'s .tflite (an ``export.tflite.TFLiteResult``) for a
    WordPiece student, checked on the result's eval sentences; none, and why, for another."""
    from edgedistil.export import c_tokenizer

    if (why := c_tokenizer.refusal(student)) is not None:
        return CheckedCTokenizer(written=None, check=None, reason=why)
    out = result.path.parent
    written = c_tokenizer.write_c_tokenizer(student, out, length)
    texts = [t for t in result.eval_texts if isinstance(t, str)]  # it takes one text
    check = check_c_tokenizer(out, student, texts, length)
    return CheckedCTokenizer(written=written, check=check, reason=None)


def check_c_tokenizer(c_dir: Path, student: Path, texts: list[str], length: int) -> CTokenizerCheck:
    """``c_dir``'s tokenizer.c on ``texts`` against ``student``'s tokenizer at ``length``; a
    sentence that differs is an ExportError."""
    compiler = next((c for c in COMPILERS if shutil.which(c)), None)
    if compiler is None or not texts:
        return CTokenizerCheck(sentences=len(texts), same=0, compiler=compiler)
    raw = [text.encode("utf-8") for text in texts]
    with tempfile.TemporaryDirectory(prefix="edgedistil-ctok-") as tmp:
        got = _run(_compile(compiler, c_dir, Path(tmp)), raw, length)
    want = _reference(student, texts, length)
    same = sum(a == b for a, b in zip(got, want, strict=True))
    if same < len(texts):
        first = next(t for t, a, b in zip(texts, got, want, strict=True) if a != b)
        raise ExportError(
            f"{c_dir / 'tokenizer.c'}: gives other ids than the student's tokenizer on "
            f"{len(texts) - same} of {len(texts)} eval sentences (first: {first[:80]!r}); "
            "not shipped"
        )
    return CTokenizerCheck(sentences=len(texts), same=same, compiler=compiler)


def _compile(compiler: str, c_dir: Path, out: Path) -> Path:
    binary = out / "tokenizer_driver"
    done = subprocess.run(
        [compiler, *FLAGS, f"-I{c_dir}", "-o", str(binary), str(c_dir / "tokenizer.c"),
         str(DRIVER)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise ExportError(f"{c_dir / 'tokenizer.c'}: {compiler} cannot compile it: {first}")
    return binary


def _run(binary: Path, texts: list[bytes], length: int) -> list[tuple[list[int], list[int]]]:
    """(ids, mask) of each text, all through one process."""
    stdin = b"".join(b"%d %d\n%s" % (length, len(raw), raw) for raw in texts)
    done = subprocess.run([str(binary)], input=stdin, capture_output=True, check=True)
    rows = []
    for line in done.stdout.decode("ascii").splitlines():
        _, ids, mask = line.split(":")
        rows.append(([int(x) for x in ids.split()], [int(x) for x in mask.split()]))
    return rows


def _reference(student: Path, texts: list[str], length: int) -> list[tuple[list[int], list[int]]]:
    from edgedistil.teacher import load_tokenizer

    tokenizer = load_tokenizer(student, error=ExportError)
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=length)
    return [
        (list(ids), list(mask))
        for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"], strict=True)
    ]
