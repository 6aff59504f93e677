"""Real boards, when the environment names them: the ``board`` tier.

Each built-in target with a board runner names, in ``[bench].host_env``, the variable that holds
its board's address or adb serial (``EDGEDISTIL_PI4_HOST=pi@raspberrypi.local``,
``EDGEDISTIL_ANDROID_SERIAL=...``). With that variable set, its test benches a tiny model in the
target's first format on that board through the target's own runner, exactly as
``edgedistil bench --target NAME`` does, and checks that the result counts as evidence for the
target's device. Without it the test skips, naming the variable: no board is reachable here or on
CI, so ``pytest -m board`` is run by hand beside the boards. An Android device without Python
needs LiteRT's ``benchmark_model`` on this host: ``EDGEDISTIL_BENCHMARK_MODEL=/path/to/it``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgedistil.bench import machine
from edgedistil.cli import cli
from edgedistil.profiles import load_profile

# A board bench needs the tiny LiteRT model, a TensorFlow conversion: slow as well as board.
pytestmark = [pytest.mark.board, pytest.mark.slow]

TARGETS = Path(__file__).resolve().parents[2] / "targets"
BOARD_TARGETS = [
    path.stem
    for path in sorted(TARGETS.glob("*.toml"))
    if load_profile(path.stem).bench.host_env is not None
]
FIXTURES = {"onnx": "tiny_onnx", "tflite": "tiny_tflite"}  # the conftest model of each format


def bench_on_board(runner: CliRunner, target: str, model: Path, *extra: str) -> dict[str, Any]:
    """``edgedistil bench --target TARGET`` of a copy of ``model`` (vocab beside it); its entry."""
    args = ["bench", str(model), "--target", target, "--runs", "5", "--warmup", "1", "--json"]
    tool = os.environ.get("EDGEDISTIL_BENCHMARK_MODEL")
    result = runner.invoke(cli, [*args, *(["--benchmark-model", tool] if tool else []), *extra])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["boards"]
    return entry  # type: ignore[no-any-return]


@pytest.mark.parametrize("target", BOARD_TARGETS)
def test_a_tiny_model_runs_on_the_board_and_counts(
    runner: CliRunner, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    profile = load_profile(target)
    variable = str(profile.bench.host_env)
    if not os.environ.get(variable):
        pytest.skip(f"no {target} board: set {variable} to run this test on it")
    fmt = profile.export.formats[0]
    source: Path = request.getfixturevalue(FIXTURES[fmt])  # built only when a board is there
    model = Path(shutil.copy(source, tmp_path / source.name))
    shutil.copy(source.parent / "vocab.txt", tmp_path / "vocab.txt")
    entry = bench_on_board(runner, target, model)
    assert entry["ok"] and entry["runner"] == profile.bench.runner
    ran_on = machine.parse(entry["result"]["ran_on"])
    assert ran_on is not None and machine.off_target(ran_on, profile) is None, ran_on
    assert entry["result"]["result"]["latency_ms"]["p95"] > 0
