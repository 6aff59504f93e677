"""Every built-in profile builds green (issue 20): ``edgedistil build --target NAME`` for each
profile the package ships, on a tiny random BERT teacher, with the options a new user passes on
this host (``benchmarks/profiles.py``'s own), and its gate PASSED with every budget this host can
measure counted. The profiles come from the registry of built-in targets, so a new one is built
here without a line changed."""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import string
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.profiles import Built, new_user_options, table
from edgedistil.cli import cli
from edgedistil.data import SAMPLE_TEXT
from edgedistil.formats import get_format
from edgedistil.profiles import builtin_names, load_profile
from edgedistil.release import REPORTS
from edgedistil.runners import needs_address
from edgedistil.teacher import sha256_of
from tests.conftest import SPECIALS, save_tiny

# The figures only the device itself gives (``bench.machine.off_target``): benched on this host
# they are shown but count as unmeasured, and --allow-unmeasured skips them. Every other budget
# (size, flash, arena, the drops against the float student and the teacher) is measured here
# and must pass.
ON_THE_BOARD = {"max_p95_latency_ms", "max_peak_rss_bytes"}
# Words of the teacher's vocabulary, beside single characters: the sample text's most frequent
# ones. 1,000 tokens keep the teacher tiny (32k embedding parameters) and cover 68% of the
# sample text's words whole; the characters spell the rest, so nothing is [UNK].
VOCAB = 1_000
# Short for a new user's defaults (3 epochs, 50 runs): what is checked is that each stage runs
# and the gate passes, not how well a tiny random student learns or how fast it runs.
SHORT = ("--epochs", "1", "--runs", "5")

BuildOf = Callable[[str], Built]


def _reading_teacher(directory: Path) -> Path:
    """A tiny random BERT (``save_tiny``) whose WordPiece vocabulary reads the sample text.

    With the tests' usual vocabulary the default text is 86% [UNK]: every sentence nearly the
    same ids, so int8 ranges and both drops would be measured on nothing but [UNK] embeddings,
    and calibration warns that the text does not fit the model. With words a user's teacher
    knows, the int8 ranges and the C tokenizer are those of real text."""
    words = re.findall(r"[a-z]+", SAMPLE_TEXT.read_text(encoding="utf-8").lower())
    pieces = [*SPECIALS, *string.ascii_lowercase, *string.digits, *string.punctuation]
    pieces += ["##" + c for c in string.ascii_lowercase + string.digits]
    known = set(pieces)
    frequent = [w for w, _ in collections.Counter(words).most_common() if w not in known]
    tokens = pieces + frequent[: VOCAB - len(pieces)]
    save_tiny(directory, vocab_size=len(tokens))
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def build_of(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildOf]:
    """Each profile built once, when a test first asks for it, on one shared teacher.

    PyTorch on one thread while they build: a 56k-parameter student gains nothing from a
    second, and on a shared 2-core host its spinning threads made the same distillation take
    7 s on one thread and 17-59 s on two (cortex-m7's build, load average 5)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("profiles")
    teacher = _reading_teacher(root / "teacher")
    builds: dict[str, Built] = {}

    def build_of(name: str) -> Built:
        if name not in builds:
            folder = root / name
            options = [*new_user_options(load_profile(name)), *SHORT]
            start = time.monotonic()
            result = CliRunner().invoke(
                cli,
                ["build", "--target", name, "--teacher", str(teacher), "--out", str(folder)]
                + options,
                catch_exceptions=False,
            )
            builds[name] = Built(
                target=name,
                folder=folder,
                exit_code=result.exit_code,
                seconds=time.monotonic() - start,
                output=result.output,  # stdout and stderr as they came
            )
        return builds[name]

    yield build_of
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_profile_builds_green_on_this_host(name: str, build_of: BuildOf) -> None:
    built = build_of(name)
    assert built.exit_code == 0, built.output
    profile = load_profile(name)
    manifest = json.loads((built.folder / "manifest.json").read_text())
    releases = {rel: a for rel, a in manifest["artifacts"].items() if a["role"] == "release"}
    # one release per format the profile names, in the profile's scheme (no fallback to another)
    assert sorted(a["format"] for a in releases.values()) == sorted(profile.export.formats)
    for rel, artifact in releases.items():
        assert artifact["scheme"].startswith(profile.quantize.scheme), (rel, artifact["scheme"])
        assert sha256_of(built.folder / rel) == artifact["sha256"]
    for fmt in profile.export.formats:
        if get_format(fmt).microcontroller:  # what firmware compiles: the model as a C array
            outputs = manifest["stages"][f"{fmt}-verify"]["outputs"]
            assert {Path(rel).suffix for rel in outputs} >= {".cc", ".h"}, outputs
    for report in REPORTS:
        assert (built.folder / report).is_file(), report
    _assert_gate_passed_on_what_this_host_measures(built, set(releases))


def _assert_gate_passed_on_what_this_host_measures(built: Built, releases: set[str]) -> None:
    profile = load_profile(built.target)
    gate = json.loads((built.folder / "gate.json").read_text())
    assert gate["passed"] and gate["target"] == built.target
    assert {a["artifact"] for a in gate["artifacts"]} == releases
    budgets = {k for k, v in dataclasses.asdict(profile.budgets).items() if v is not None}
    benched = needs_address(profile.bench.runner)  # new_user_options benched it on this host
    for artifact in gate["artifacts"]:
        checks = {c["budget"]: c for c in artifact["checks"]}
        assert set(checks) == budgets  # every budget the profile sets is judged
        for budget, check in checks.items():
            if budget not in ON_THE_BOARD:
                assert check["status"] == "pass" and check["measured"] is not None, check
            elif benched:  # measured here and shown, but counted only from the device
                assert check["status"] == "skipped" and check["off_target"], check
                assert check["measured"] > 0, check
            else:  # no runner reaches the device: nothing to show
                assert check["status"] == "skipped", check


@pytest.mark.slow
def test_the_benchmark_table_has_a_passed_row_per_release(build_of: BuildOf) -> None:
    builds = [build_of(name) for name in builtin_names()]
    text = table(builds)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    releases = sum(len(load_profile(b.target).export.formats) for b in builds)
    assert len(rows) == releases + 1, text  # the header, then one row per release artifact
    for row in rows[1:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[4] == "PASSED", row
        # each drop as measured, its budget beside it: "0.0004 (0.02)"
        assert re.fullmatch(r"\d\.\d{4} \(0\.\d+\)", cells[5]), row
        assert re.fullmatch(r"\d\.\d{4} \(0\.\d+\)", cells[6]), row
    assert f"{len(builds)} builds" in text


@pytest.mark.slow
def test_the_benchmark_table_names_what_failed_and_why_a_build_broke(
    build_of: BuildOf, tmp_path: Path
) -> None:
    import shutil

    built = build_of("raspberry-pi-4")
    folder = Path(shutil.copytree(built.folder, tmp_path / "pi4"))
    tight = tmp_path / "tight.toml"
    tight.write_text('extends = "raspberry-pi-4"\n[budgets]\nmax_drop_vs_teacher = 0.00001\n')
    checked = CliRunner().invoke(cli, ["check", str(folder), "--target", str(tight)])
    assert checked.exit_code == 3, checked.output
    failed = dataclasses.replace(built, folder=folder, exit_code=3)
    broke = Built(target="x", folder=tmp_path / "x", exit_code=1, seconds=61.0,
                  output="✓ split\nError: distill: out of memory\n")  # fmt: skip
    text = table([failed, broke])
    for row in [line for line in text.splitlines() if line.startswith("| raspberry-pi-4 |")]:
        assert "| **FAILED**: peak RSS unmeasured (off target), p95 latency unmeasured (off " in row
        assert "drop vs teacher 0.0" in row and " > 1e-05 |" in row, row
        assert re.search(r"\| \*\*\d\.\d{4} \(1e-05\)\*\* \|", row), row
    assert "| x | - | - | - | broke: Error: distill: out of memory | - | - | 1:01 |" in text


@pytest.mark.parametrize(("asked", "expected"), [(None, 6), (2, 2)])
def test_the_build_distils_as_the_profile_says_unless_told(
    asked: int | None, expected: int
) -> None:
    """--epochs, else the profile's [distill].epochs; the quantization-aware epochs pull the
    rounded output where [distill].qat_toward says (the Cortex-M7: to the teacher)."""
    from types import SimpleNamespace

    from edgedistil.build import student
    from edgedistil.build.request import Request
    from edgedistil.profiles import load_profile

    request = Request(target="cortex-m7", out=Path("unused"), epochs=asked)
    ctx = SimpleNamespace(request=request, profile=load_profile("cortex-m7"))
    settings = student._train_settings(ctx)
    assert settings.epochs == expected
    assert settings.qat is not None and settings.qat.toward == "teacher"
    ctx.profile = load_profile("wear-os-watch")  # no [distill]: the build's defaults
    settings = student._train_settings(ctx)
    assert settings.epochs == (3 if asked is None else asked)
    assert settings.qat is not None and settings.qat.toward == "float"
