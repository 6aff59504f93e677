"""``edgedistil build`` stopped once its student is distilled: the split, plan and distill stages
of a build, run as the build runs them (the same request, stage keys and folder). A machine with a
GPU trains the students this way (``benchmarks/profiles.py --students-only``); this host's
``benchmarks/profiles.py`` then takes each student up from its folder through the stage cache
(the distill stage's key is unchanged, so it prints as reused) and does the rest.

    python benchmarks/_students.py build --target NAME --out FOLDER [build options]
"""

from __future__ import annotations

import sys
from typing import Any

import edgedistil.build.run as build_run
from edgedistil.cli import cli

_MAKE_STUDENT = build_run.make_student


class _Distilled(Exception):
    """The student is made and recorded: the build goes no further."""


def _student_then_stop(ctx: Any) -> Any:
    _MAKE_STUDENT(ctx)
    raise _Distilled


def main() -> int:
    build_run.make_student = _student_then_stop
    try:
        cli.main(sys.argv[1:], prog_name="edgedistil", standalone_mode=False)
    except _Distilled:
        print("student distilled and recorded; the build stops here", flush=True)
        return 0
    return 1  # the build ended before its student: its Error line is above


if __name__ == "__main__":
    sys.exit(main())
