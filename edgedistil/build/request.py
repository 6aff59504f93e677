"""What the user asked ``build`` for, and the same request with every default resolved once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgedistil.profiles import Profile

STUDENT_DIR = "student"


@dataclass(frozen=True, kw_only=True)
class Request:
    target: str
    out: Path
    teacher: str = "default"
    data: Path | None = None  # training text; default: the shipped sample text
    student: Path | None = None  # reuse a student instead of distilling one
    eval_path: Path | None = None  # fidelity text; default: held out from the data (heldout)
    calibration: Path | None = None  # int8 calibration text; default: the data's train part
    layers: int | None = None
    vocab_size: int | None = None
    hidden: int | None = None  # narrow the student (distill.width); None: the plan's
    epochs: int | None = None  # None: the profile's [distill].epochs (profiles.DEFAULT_EPOCHS)
    batch_size: int = 32
    augment: int | None = None  # new sentences per training text; None: distill's default
    qat_epochs: float | None = None  # quantization-aware epochs; None: the scheme's default
    seed: int = 42
    runner: str | None = None  # default: the profile's [bench].runner
    boards: tuple[str, ...] = ()
    bench_runs: int = 50
    skip_bench: bool = False
    host_is_target: bool = False  # --runner local on the target device itself (bench.machine)
    allow_unmeasured: bool = False  # the gate skips a budget with no measurement (fails it else)
    allow_estimates: bool = False  # the latency budget may judge an estimate's high end


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """The request with the defaults that depend on the profile or the package filled in: the
    stages read these and never fall back on their own."""

    request: Request
    profile: Profile
    data: Path  # the training text: the user's, else the sample text
    runner: str  # the user's runner, else the profile's
    runner_where: str  # where the runner name came from, for an error about it
    student_dir: Path  # the user's student, else the one distil writes in the folder

    @property
    def root(self) -> Path:
        return self.request.out


def resolve(request: Request, profile: Profile) -> Resolved:
    from edgedistil.data import SAMPLE_TEXT

    return Resolved(
        request=request,
        profile=profile,
        data=request.data or SAMPLE_TEXT,
        runner=request.runner or profile.bench.runner,
        runner_where="" if request.runner else f" ([bench].runner of {profile.name})",
        student_dir=request.student or request.out / STUDENT_DIR,
    )
