"""Flash bytes of the generated C tokenizer (``edgedistil.export.c_tokenizer``) on a Cortex-M7.

For the default teacher's (all-MiniLM-L6-v2) full 30,522-token vocabulary and for the same
vocabulary pruned as distil prunes it (``distill.vocab.choose_tokens`` on the shipped sample
text, 2,000 tokens by default), it writes tokenizer.c, then prints:

- the static tables as the generator counts them (vocabulary: sorted array, and the byte trie
  it measures but does not write; Unicode: class runs, accent stripping, lower-casing);
- ``arm-none-eabi-gcc -std=c99 -mcpu=cortex-m7 -mthumb -Os -c tokenizer.c`` then
  ``arm-none-eabi-size``: text + data, what the tokenizer adds to flash (bss is 0: no heap, no
  globals), and the code alone (text + data less the tables);
- with ``--check``: the ids of the host-compiled C against transformers' on the sample text.

    .venv/bin/python benchmarks/c_tokenizer.py [--vocab-size 2000] [--check]

Without arm-none-eabi-gcc (``apt-get install gcc-arm-none-eabi``) it says so and prints the
table bytes only. About 20 seconds on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgedistil.data import SAMPLE_TEXT
from edgedistil.export.c_tokenizer import CTokenizer, write_c_tokenizer
from edgedistil.teacher import default_teacher_dir

ARM_GCC, ARM_SIZE = "arm-none-eabi-gcc", "arm-none-eabi-size"
ARM_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m7", "-mthumb", "-Os"]
SEQ = 64  # the esp32-s3 profile's sequence length (only EDT_SEQ_LEN in tokenizer.h depends on it)


def pruned_folder(out: Path, size: int) -> Path:
    """The default teacher's tokenizer pruned to ``size`` tokens on the sample text, saved."""
    from transformers import AutoTokenizer

    from edgedistil.distill.vocab import choose_tokens, prune_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(default_teacher_dir()), local_files_only=True)
    texts = SAMPLE_TEXT.read_text(encoding="utf-8").splitlines()
    pruned = prune_tokenizer(tokenizer, choose_tokens(tokenizer, texts, size))
    pruned.save_pretrained(str(out))
    return out


def arm_flash(c_path: Path) -> tuple[int, int, int] | None:
    """(text, data, bss) of the Cortex-M7 object; None without the ARM toolchain."""
    if shutil.which(ARM_GCC) is None or shutil.which(ARM_SIZE) is None:
        return None
    obj = c_path.with_suffix(".o")
    subprocess.run([ARM_GCC, *ARM_FLAGS, "-c", str(c_path), "-o", str(obj)], check=True)
    row = subprocess.run([ARM_SIZE, str(obj)], check=True, capture_output=True, text=True)
    text, data, bss = (int(x) for x in row.stdout.splitlines()[1].split()[:3])
    return text, data, bss


def host_agreement(folder: Path, result: CTokenizer) -> tuple[int, int]:
    """(agreeing, all) sample lines: the host-compiled C's ids against transformers'."""
    from tests.export.test_c_tokenizer import compile_driver, reference, run_driver

    lines = SAMPLE_TEXT.read_text(encoding="utf-8").splitlines()
    cases = [(SEQ, line.encode("utf-8")) for line in lines]
    got = run_driver(compile_driver(result.c_path.parent, result.c_path.parent), cases)
    want = reference(folder, cases)
    return sum(g == w for g, w in zip(got, want, strict=True)), len(cases)


def report(name: str, folder: Path, out: Path, check: bool) -> None:
    result = write_c_tokenizer(folder, out, SEQ)
    tables = result.vocab_bytes + result.unicode_bytes
    print(f"\n{name}: {folder}")
    print(f"  vocabulary, sorted array (written): {result.sorted_bytes:>9,} bytes")
    print(f"  vocabulary, byte trie (measured):   {result.trie_bytes:>9,} bytes")
    print(f"  Unicode tables:                     {result.unicode_bytes:>9,} bytes")
    for table, size in result.table_bytes.items():
        if not table.startswith("edt_vocab"):
            print(f"    {table:<30} {size:>9,}")
    print(f"  code points reconciled with the tokenizers library: {result.reconciled:,}")
    flash = arm_flash(result.c_path)
    if flash is None:
        print(
            f"  Cortex-M7 flash: skipped, {ARM_GCC} is not installed "
            "(apt-get install gcc-arm-none-eabi)"
        )
    else:
        text, data, bss = flash
        print(
            f"  Cortex-M7 -Os: text {text:,} + data {data:,} = {text + data:,} bytes of flash "
            f"(bss {bss}); code alone {text + data - tables:,} bytes"
        )
    if check:
        agree, total = host_agreement(folder, result)
        print(f"  host C vs transformers on the sample text: {agree:,} of {total:,} lines agree")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=2000)
    parser.add_argument("--check", action="store_true", help="compare ids with transformers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report("default teacher, full vocabulary", default_teacher_dir(), work / "full", args.check)
        pruned = pruned_folder(work / "pruned-model", args.vocab_size)
        report(f"pruned to {args.vocab_size:,} tokens", pruned, work / "pruned", args.check)


if __name__ == "__main__":
    main()
