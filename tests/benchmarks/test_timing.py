"""The benchmarks' shared timer: its order, its sample counts and its percentiles, never a time."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from benchmarks import _timing
from edgedistil.bench import stats


def recorder(log: list[tuple[str, int]], name: str) -> _timing.Candidate:
    return _timing.Candidate(name=name, call=lambda i: log.append((name, i)), runs=4)


def test_warm_up_first_then_round_robin_rotated_each_round() -> None:
    log: list[tuple[str, int]] = []
    _timing.time_interleaved([recorder(log, "a"), recorder(log, "b")], rounds=2, warmup=5)
    warm = [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("a", 0)]
    warm += [("b", 0), ("b", 1), ("b", 2), ("b", 3), ("b", 0)]
    timed = [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2), ("b", 3), ("a", 2), ("a", 3)]
    assert log == warm + timed


def test_every_run_is_one_sample_and_rounds_are_capped_at_the_fewest_runs() -> None:
    calls: dict[str, list[int]] = {"few": [], "many": []}
    candidates = [
        _timing.Candidate(name="few", call=calls["few"].append, runs=3),
        _timing.Candidate(name="many", call=calls["many"].append, runs=10),
    ]
    rounds: list[tuple[int, int]] = []
    timed = _timing.time_interleaved(
        candidates, rounds=50, warmup=0, progress=lambda r, n: rounds.append((r, n))
    )
    assert [len(timed["few"].ms), len(timed["many"].ms)] == [3, 10]
    assert calls == {"few": [0, 1, 2], "many": list(range(10))}
    assert rounds == [(1, 3), (2, 3), (3, 3)]


def test_samples_are_milliseconds_and_percentiles_are_the_bench_stats() -> None:
    ticks = itertools.count()  # each call to the clock is one second later than the last
    timed = _timing.time_interleaved(
        [_timing.Candidate(name="x", call=lambda i: None, runs=7)],
        rounds=3,
        warmup=2,
        clock=lambda: float(next(ticks)),
    )["x"]
    assert timed.ms == (1000.0,) * 7
    uneven = _timing.Timed(name="y", ms=(5.0, 1.0, 4.0, 2.0, 3.0, 100.0))
    assert uneven.median == stats.median(uneven.ms) == 3.5
    assert uneven.percentile(95) == stats.percentile(uneven.ms, 95)


@pytest.mark.parametrize(
    ("candidates", "rounds", "warmup", "message"),
    [
        ([], 1, 0, "no candidates"),
        ([_timing.Candidate(name="a", call=print, runs=0)], 1, 0, "'a' has runs=0"),
        ([_timing.Candidate(name="a", call=print, runs=1)] * 2, 1, 0, "duplicate"),
        ([_timing.Candidate(name="a", call=print, runs=1)], 0, 0, "rounds=0"),
        ([_timing.Candidate(name="a", call=print, runs=1)], 1, -1, "warmup=-1"),
    ],
)
def test_bad_arguments_are_one_error(
    candidates: list[_timing.Candidate], rounds: int, warmup: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _timing.time_interleaved(candidates, rounds=rounds, warmup=warmup)


def add_model(path: Path) -> Path:
    """y = x + x: the smallest graph a session can load."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "add", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_sessions_take_the_threads_and_level_asked_for(tmp_path: Path) -> None:
    model = add_model(tmp_path / "add.onnx")
    options = _timing.session(model, threads=1, level="basic").get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert "BASIC" in str(options.graph_optimization_level)
    assert "SEQUENTIAL" in str(options.execution_mode)
    out = _timing.optimized_graph(model, threads=1, out=tmp_path / "ran.onnx")
    assert out.is_file()
    with pytest.raises(ValueError, match="known: all, basic, none"):
        _timing.session(model, threads=1, level="max")
