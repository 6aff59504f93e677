"""The last stage, and ``edgedistil check`` on its own: every budget of the profile against what
the folder's build measured (``evidence``, ``gate``), written as the four reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgedistil.gate import Gate
from edgedistil.profiles import Profile


@dataclass(frozen=True, kw_only=True)
class Verdict:
    gate: Gate
    reports: tuple[Path, ...]


def judge(
    folder: Path,
    profile: Profile,
    *,
    allow_unmeasured: bool,
    bench_files: tuple[Path, ...] = (),
    report_dir: Path | None = None,
    allow_estimates: bool = False,
) -> Verdict:
    """The gate of the build in ``folder``, its reports written to ``report_dir`` (default: the
    folder itself). A failed budget is in the result, not raised."""
    from edgedistil.evidence import gate_folder
    from edgedistil.release import write_reports

    gate = gate_folder(
        folder,
        profile,
        allow_unmeasured=allow_unmeasured,
        bench_files=bench_files,
        allow_estimates=allow_estimates,
    )
    written = write_reports(gate, folder, report_dir or folder)
    return Verdict(gate=gate, reports=tuple(written))


def forget_reports(folder: Path) -> None:
    """The last gate's reports describe the last build: gone before this one changes anything,
    so a build that fails leaves no verdict behind that ``summary`` could take for its own."""
    from edgedistil.release import REPORTS

    for name in REPORTS:
        (folder / name).unlink(missing_ok=True)
