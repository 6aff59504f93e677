"""The arm64 root folder the ``qemu`` runner runs the board script in: a board's Python, numpy and
runtimes, as a Raspberry Pi OS (Debian bookworm, arm64) board installs them.

Built from the registries this host reaches: Debian bookworm's arm64 packages (Python 3.11, the
Python Raspberry Pi OS bookworm ships, and the C libraries it and the wheels load), unpacked with
``dpkg-deb -x``; and the runtimes' aarch64 wheels with their dependencies, as ``pip download
--platform`` resolves them for that Python, unzipped into its ``dist-packages``. One root per set
of runtime versions (``Spec``), under the user's cache folder:

    ~/.cache/edgedistil/qemu/<spec.name>/
        root/               the board's files (usr/bin/python3.11, lib/aarch64-linux-gnu, ...)
        cpus/<model>/       what ``qemu-aarch64 -L`` sees for one emulated core: links to root/
                            plus the /proc/cpuinfo and device-tree model of that core
        prepared.json       the spec, the packages and wheels, the size and the time it took

The runtimes read the CPU's name from /proc/cpuinfo (ONNX Runtime's cpuinfo crashes on the x86
one qemu-user 7.2 passes through), so each emulated core gets its own; the instructions are
qemu's ``-cpu`` model's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from edgedistil.errors import BenchError
from edgedistil.files import staged_dir, write_json

PREPARE_COMMAND = "edgedistil runners prepare qemu"
PYTHON = "3.11"  # Raspberry Pi OS bookworm's, and Debian bookworm's
DEBIAN_SUITES = ("bookworm", "bookworm-updates")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# python3.11-minimal and libpython3.11-stdlib with what they load (apt-cache depends --recurse,
# less dpkg, perl, tar and mailcap: packaging tools the interpreter never runs), and libstdc++6,
# which the runtimes' C++ extensions link against.
DEBIAN_PACKAGES = (
    "gcc-12-base",
    "libbz2-1.0",
    "libc6",
    "libcom-err2",
    "libcrypt1",
    "libdb5.3",
    "libexpat1",
    "libffi8",
    "libgcc-s1",
    "libgdbm6",
    "libgssapi-krb5-2",
    "libk5crypto3",
    "libkeyutils1",
    "libkrb5-3",
    "libkrb5support0",
    "liblzma5",
    "libncursesw6",
    "libnsl2",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libreadline8",
    "libsqlite3-0",
    "libssl3",
    "libstdc++6",
    "libtinfo6",
    "libtirpc-common",
    "libtirpc3",
    "libuuid1",
    "media-types",
    "python3.11-minimal",
    "readline-common",
    "zlib1g",
)
# What a manylinux aarch64 wheel may be tagged for glibc 2.36 (bookworm's), newest first.
PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
SITE = "usr/lib/python3/dist-packages"  # Debian's python3.11 puts it on sys.path
# Kept empty so that the host's own folder of that name (x86 modules) is never seen through.
SHADOWED = ("usr/local/lib/python3.11/dist-packages", "usr/lib/python3.11/site-packages")
Progress = Callable[[str, str, str], None]  # (step, "start" or "done", detail)
_V80 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"
_V82_DOT = f"{_V80} atomics fphp asimdhp asimdrdm lrcpc dcpop asimddp"


@dataclass(frozen=True, kw_only=True)
class Core:
    """An arm64 core as the runtimes see it: qemu's ``-cpu`` model gives the instructions (and
    the HWCAP bits they choose kernels by), ``part`` the MIDR name /proc/cpuinfo shows."""

    name: str  # as a profile's [device].cpu says it
    qemu: str
    part: int
    features: str


# qemu 7.2 models no A55 or A78: both are ARMv8.2 with the dot product, as the A76 it has.
CORES = {
    core.name.lower(): core
    for core in (
        Core(name="Cortex-A53", qemu="cortex-a53", part=0xD03, features=_V80),
        Core(name="Cortex-A55", qemu="cortex-a76", part=0xD05, features=_V82_DOT),
        Core(name="Cortex-A72", qemu="cortex-a72", part=0xD08, features=_V80),
        Core(name="Cortex-A76", qemu="cortex-a76", part=0xD0B, features=_V82_DOT),
        Core(name="Cortex-A78", qemu="cortex-a76", part=0xD41, features=_V82_DOT),
    )
}


# The runtimes a root pins a version of, as [export].runtime_versions names them (Spec's fields)
RUNTIMES = ("onnxruntime", "litert")


@dataclass(frozen=True, kw_only=True)
class Spec:
    """The runtimes a board can install: exact pins, the wheels ``pip download`` fetches."""

    numpy: str = "2.4.6"
    onnxruntime: str = "1.32.0"
    litert: str = "1.4.0"  # ai-edge-litert: the newest with a Linux aarch64 wheel

    @property
    def name(self) -> str:
        return f"bookworm-py{PYTHON}-ort{self.onnxruntime}-litert{self.litert}-np{self.numpy}"

    @classmethod
    def of(cls, runtime_versions: tuple[str, ...]) -> Spec:
        """The spec of a profile's [export].runtime_versions ("litert==1.4.0", checked there);
        a runtime it does not name keeps the default pin."""
        pins = dict(item.split("==", 1) for item in runtime_versions)
        return cls(**{name: version for name, version in pins.items() if name in RUNTIMES})

    def runtime_versions(self) -> tuple[str, ...]:
        """As a profile's [export].runtime_versions says them."""
        return (f"onnxruntime=={self.onnxruntime}", f"litert=={self.litert}")

    def prepare_command(self) -> str:
        """The command that prepares this root (the default one needs no versions)."""
        if self == Spec():
            return PREPARE_COMMAND
        return f"{PREPARE_COMMAND} --versions {' '.join(self.runtime_versions())}"

    def version_of(self, package: str) -> str | None:
        """The pinned version of a board-script runtime package (its ``runtime.name``)."""
        return {"onnxruntime": self.onnxruntime, "ai-edge-litert": self.litert}.get(package)

    def requirements(self) -> list[str]:
        return [
            f"numpy=={self.numpy}",
            f"onnxruntime=={self.onnxruntime}",
            f"ai-edge-litert=={self.litert}",
        ]


def cache_home() -> Path:
    """The user's cache folder for edgedistil: $EDGEDISTIL_CACHE, else $XDG_CACHE_HOME/edgedistil,
    else ~/.cache/edgedistil (the XDG default)."""
    explicit = os.environ.get("EDGEDISTIL_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "edgedistil"


def folder(spec: Spec, cache: Path | None = None) -> Path:
    return (cache or cache_home()) / "qemu" / spec.name


def prepared(spec: Spec, cache: Path | None = None) -> Path | None:
    """The root's folder when it is complete (its ``prepared.json`` written last), else None."""
    where = folder(spec, cache)
    return where if (where / "prepared.json").is_file() else None


def require(spec: Spec, cache: Path | None = None) -> Path:
    """The prepared folder, or one line naming the command that prepares it."""
    where = prepared(spec, cache)
    if where is None:
        raise BenchError(
            f"The qemu runner's arm64 root is not prepared ({folder(spec, cache)} is missing); "
            f"run: {spec.prepare_command()}"
        )
    return where


def prepare(
    spec: Spec, progress: Progress, cache: Path | None = None, force: bool = False
) -> dict[str, object]:
    """Download and unpack the root for ``spec``; its record. A root already prepared is kept
    (``force``: made again, replacing it only once the new one is complete)."""
    done = prepared(spec, cache)
    if done is not None and not force:
        progress("cached", "done", str(done))
        return {**read_record(done), "cached": True}
    _check_tools()
    started = time.monotonic()
    target = folder(spec, cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="edgedistil-qemu-") as scratch,
        staged_dir(target) as staging,
    ):
        root = staging / "root"
        # The wheels first: a version with no aarch64 wheel is refused before any download.
        wheels = _step(progress, "wheels", lambda: _fetch_wheels(spec, Path(scratch) / "wheels"))
        debs = _step(progress, "debian", lambda: _fetch_debs(Path(scratch)))
        _step(progress, "unpack", lambda: _unpack_debs(debs, root))
        _step(progress, "install", lambda: _install_wheels(wheels, root))
        _step(progress, "cores", lambda: [_core_view(staging, core) for core in CORES.values()])
        record = {
            "spec": asdict(spec),
            "python": PYTHON,
            "debian": sorted(p.name for p in debs),
            "wheels": sorted(p.name for p in wheels),
            "bytes": _size(root),
            "seconds": round(time.monotonic() - started, 1),
            "folder": str(target),
            "cached": False,
        }
        write_json(staging / "prepared.json", record)
    return record


def _step(progress: Progress, name: str, work: Callable[[], list[Path]]) -> list[Path]:
    progress(name, "start", "")
    out = work()
    progress(name, "done", f"{len(out)} files")
    return out


def _check_tools() -> None:
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing or not KEYRING.is_file():
        what = ", ".join(missing + ([str(KEYRING)] if not KEYRING.is_file() else []))
        raise BenchError(
            f"Preparing the qemu runner needs Debian's apt-get, dpkg-deb and archive keyring; "
            f"missing: {what} (on Debian or Ubuntu: apt-get install apt dpkg "
            "debian-archive-keyring)"
        )


def _apt_options(scratch: Path) -> list[str]:
    """apt-get on a private package index of Debian bookworm's arm64 packages: the host's
    sources, state and lock are never read or touched."""
    sources = scratch / "sources.list"
    lines = [f"deb [signed-by={KEYRING}] {DEBIAN_MIRROR} {s} main" for s in DEBIAN_SUITES]
    lines.append(f"deb [signed-by={KEYRING}] {DEBIAN_SECURITY} bookworm-security main")
    sources.write_text("\n".join(lines) + "\n", encoding="ascii")
    for sub in ("lists/partial", "cache/archives/partial"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    (scratch / "status").write_text("", encoding="ascii")
    settings = {
        "APT::Architecture": "arm64",
        "APT::Architectures": "arm64",
        "Dir::Etc::SourceList": str(sources),
        "Dir::Etc::SourceParts": str(scratch / "no-parts"),
        "Dir::State::Lists": str(scratch / "lists"),
        "Dir::State::status": str(scratch / "status"),
        "Dir::Cache": str(scratch / "cache"),
        "Debug::NoLocking": "1",
        "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
    }
    return [f"-o{key}={value}" for key, value in settings.items() if value]


def _fetch_debs(scratch: Path) -> list[Path]:
    options = _apt_options(scratch)
    _call(["apt-get", "-q", *options, "update"], "apt-get update (Debian bookworm, arm64)")
    debs = scratch / "debs"
    debs.mkdir()
    _call(["apt-get", "-q", *options, "download", *DEBIAN_PACKAGES], "apt-get download", debs)
    return sorted(debs.glob("*.deb"))


def _unpack_debs(debs: list[Path], root: Path) -> list[Path]:
    root.mkdir()
    for deb in debs:
        _call(["dpkg-deb", "-x", str(deb), str(root)], f"dpkg-deb -x {deb.name}")
    for name in SHADOWED:
        (root / name).mkdir(parents=True, exist_ok=True)
    if not (root / f"usr/bin/python{PYTHON}").is_file():
        raise BenchError(f"Debian's python{PYTHON}-minimal left no usr/bin/python{PYTHON}")
    return debs


def _fetch_wheels(spec: Spec, into: Path) -> list[Path]:
    """The runtimes' aarch64 wheels and their dependencies, resolved by pip for the board's
    Python and architecture; a version with no such wheel is one line naming both."""
    platforms = [word for p in PLATFORMS for word in ("--platform", p)]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
    command += [*platforms, "--python-version", PYTHON, "--implementation", "cp"]
    command += ["--dest", str(into), *spec.requirements()]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        missing = _unresolved(done.stderr)
        raise BenchError(
            f"No wheel of {missing or ' '.join(spec.requirements())} for CPython {PYTHON} on "
            f"Linux aarch64 ({', '.join(PLATFORMS)}): pip download said: {_last(done.stderr)}"
        )
    return sorted(into.glob("*.whl"))


def _unresolved(stderr: str) -> str:
    """What pip could not find, from its 'No matching distribution found for X' line."""
    marker = "No matching distribution found for "
    for line in stderr.splitlines():
        if marker in line:
            return line.split(marker, 1)[1].strip()
    return ""


def _install_wheels(wheels: list[Path], root: Path) -> list[Path]:
    """Each wheel unzipped into the root's dist-packages, as pip installs a wheel (its scripts,
    which the board script never runs, left out)."""
    site = root / SITE
    site.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if ".data/scripts/" not in m]
            archive.extractall(site, members)
    return wheels


def view(where: Path, core: Core) -> Path:
    """The folder ``qemu-aarch64 -L`` takes for ``core``."""
    return where / "cpus" / core.name.lower()


def _core_view(where: Path, core: Core) -> Path:
    """Links to the root's folders, and this core's /proc/cpuinfo and device-tree model (qemu
    looks a path up under -L first, so these hide the host's)."""
    folder = view(where, core)
    folder.mkdir(parents=True)
    for name in sorted(p.name for p in (where / "root").iterdir()):
        (folder / name).symlink_to(Path("..", "..", "root", name))
    blocks = [
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {core.features}\n"
        f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n"
        f"CPU part\t: {core.part:#x}\nCPU revision\t: 0\n"
        for i in range(os.cpu_count() or 1)
    ]
    (folder / "proc/device-tree").mkdir(parents=True)
    (folder / "proc/cpuinfo").write_text("\n".join(blocks), encoding="ascii")
    model = f"qemu-aarch64 -cpu {core.qemu} emulating a {core.name} (user mode)\x00"
    (folder / "proc/device-tree/model").write_text(model, encoding="ascii")
    return folder


def _call(command: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)
    except OSError as exc:
        raise BenchError(f"{what}: cannot start {command[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}): {_last(done.stderr)}")


def _last(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("E:", "ERROR:", "error:"))]
    return (errors or lines or ["no message"])[-1][:300]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def read_record(where: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((where / "prepared.json").read_text(encoding="utf-8"))
    return data
