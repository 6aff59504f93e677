"""Latency and memory of each release on the profile's runner (``bench.run``)."""

from __future__ import annotations

from typing import Any

from edgedistil.build.context import Context
from edgedistil.build.request import Resolved
from edgedistil.errors import BuildError
from edgedistil.manifest import BENCH_STAGE, key_of
from edgedistil.runners import NONE


def check_boards(resolved: Resolved) -> None:
    """A bench that cannot start (no board named, a runner that does not exist) is refused
    before minutes of distillation, not after."""
    from edgedistil.bench.base import Options, make_runner
    from edgedistil.bench.fleet import resolve_boards

    request, runner = resolved.request, resolved.runner
    if request.host_is_target:
        from edgedistil.bench.machine import check_host_is_target

        check_host_is_target(runner, resolved.profile)
    if request.skip_bench or runner == NONE:
        return
    make_runner(runner, Options(), resolved.runner_where)
    resolve_boards(
        runner=runner,
        addresses=request.boards,
        fleet=None,
        host_env=resolved.profile.bench.host_env,
    )


def bench_releases(ctx: Context) -> None:
    """One cached bench stage per release: a result of other bytes, runs or boards is redone."""
    runner = ctx.resolved.runner
    if runner == NONE:
        ctx.events.stage("bench", "skipped", f"{ctx.profile.name} has no board runner")
        return
    r = ctx.request
    for rel, info in sorted(ctx.manifest.releases().items()):
        key = key_of(
            "bench",
            info["sha256"],
            runner,
            r.boards,
            r.bench_runs,
            ctx.profile.to_dict()["bench"],
            # Stored in each result: declaring the host the target later must bench again.
            r.host_is_target,
        )
        ctx.stage(f"{BENCH_STAGE}{rel}", key, lambda rel=rel: _bench_one(ctx, rel))  # type: ignore[misc]


def _bench_one(ctx: Context, rel: str) -> dict[str, Any]:
    from edgedistil.bench.run import Request as BenchRequest
    from edgedistil.bench.run import bench

    runner = ctx.resolved.runner
    report = bench(
        BenchRequest(
            artifact=ctx.root / rel,
            target=str(ctx.profile.source),
            runner=runner,
            boards=ctx.request.boards,
            runs=ctx.request.bench_runs,
            text=ctx.request.eval_path,
            # The student's own tokenizer (each artifact folder carries a copy of its files).
            tokenizer=ctx.resolved.student_dir,
            host_is_target=ctx.request.host_is_target,
        )
    )
    if report.failed:
        failed = report.failed[0]
        raise BuildError(f"bench of {rel} on {failed.board.label}: {failed.error}")
    p95 = [b.result["result"]["latency_ms"]["p95"] for b in report.boards if b.result]
    return {
        # The stored results are the stage's outputs: if they go, the bench is run again.
        "outputs": [str(b.saved.relative_to(ctx.root.resolve())) for b in report.boards if b.saved],
        "boards": [b.board.label for b in report.boards],
        "summary": f"p95 {max(p95):.2f} ms on {len(p95)} board(s) ({runner})",
    }
