"""Bench runners by name: the ways to reach a board, known without importing them.

Profile validation (``[bench].runner``) and ``bench`` read these entries. A runner's class, a
``bench.base.Runner``, is named by its dotted path and imported only when a benchmark runs. A
new runner is its class in ``bench/`` plus one ``register_runner`` call here; a runner written
elsewhere (a plug-in, a test's fake) registers its class with ``bench.base.register_runner``.

``"none"`` is no runner: what a profile says for a target nothing reaches yet (build then skips
the bench). It is a valid ``[bench].runner``, never a registered runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgedistil._registry import Registry, load_object

NONE = "none"


@dataclass(frozen=True, kw_only=True)
class RunnerEntry:
    name: str
    description: str
    # "package.module:Class", or the class itself when it was registered in-process
    runner: str | type[Any]
    # Reaches a board at an address, which lives in the environment variable that
    # [bench].host_env names (addresses never live in the repository).
    address: bool = False
    # "package.module:function" that prepares what the runner needs on this host (progress) ->
    # its record; None when there is nothing to prepare (``edgedistil runners prepare NAME``).
    prepare: str | None = None
    # Runs on an emulated CPU: what it computes is the target's, its latency and memory are not.
    emulated: bool = False

    def load(self) -> type[Any]:
        """The runner class, imported now."""
        if not isinstance(self.runner, str):
            return self.runner
        cls: type[Any] = load_object(self.runner)
        return cls


_RUNNERS: Registry[RunnerEntry] = Registry("runner")


def register_runner(entry: RunnerEntry) -> RunnerEntry:
    return _RUNNERS.add(entry.name, entry)


def unregister_runner(name: str) -> None:
    _RUNNERS.remove(name)


def get_runner(name: str) -> RunnerEntry:
    """The runner ``name``; an unknown name lists the known ones."""
    return _RUNNERS.get(name)


def is_runner(name: str) -> bool:
    return name in _RUNNERS


def all_runners() -> tuple[RunnerEntry, ...]:
    return _RUNNERS.entries()


def runner_names() -> tuple[str, ...]:
    """The registered runners, sorted."""
    return tuple(sorted(_RUNNERS.names()))


def profile_runners() -> tuple[str, ...]:
    """What ``[bench].runner`` allows: every runner, and "none", sorted."""
    return tuple(sorted((*_RUNNERS.names(), NONE)))


def preparable() -> tuple[str, ...]:
    """The runners ``edgedistil runners prepare`` knows, sorted."""
    return tuple(sorted(e.name for e in _RUNNERS.entries() if e.prepare))


def is_emulated(name: str) -> bool:
    return name in _RUNNERS and _RUNNERS.get(name).emulated


def needs_address(name: str) -> bool:
    return name != NONE and name in _RUNNERS and _RUNNERS.get(name).address


register_runner(
    RunnerEntry(
        name="local",
        description="this host, through a subprocess",
        runner="edgedistil.bench.local:LocalRunner",
    )
)
register_runner(
    RunnerEntry(
        name="ssh",
        description="a Linux board over ssh",
        runner="edgedistil.bench.ssh:SshRunner",
        address=True,
    )
)
register_runner(
    RunnerEntry(
        name="adb",
        description="an Android device over adb",
        runner="edgedistil.bench.adb:AdbRunner",
        address=True,
    )
)
register_runner(
    RunnerEntry(
        name="qemu",
        description="an emulated arm64 core on this host (qemu-aarch64): ARM kernels, not speed",
        runner="edgedistil.bench.qemu:QemuRunner",
        prepare="edgedistil.bench.qemu:prepare",
        emulated=True,
    )
)
