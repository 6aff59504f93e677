"""Where a release's ARM-vs-x86 difference comes from: the runtime's version or its kernels.

The qemu runner runs the board's runtime version (ai-edge-litert 1.4.0 on a Pi) on arm64; the
host verifies with its own (2.3.0). This runs one release of a build folder three ways on the
build's first eval sentences, with the same ids: x86 with the host's runtime, x86 with the
board's version (its x86 wheel unzipped in SITE: ``pip download --no-deps --only-binary=:all:
--platform manylinux_2_17_x86_64 --python-version 3.11 ai-edge-litert==1.4.0``, then unzip), and
the emulated arm64 core; and prints each pair's mean and worst cosine.

    .venv/bin/python benchmarks/qemu_versions.py BUILD RELEASE --site SITE --student DIR \
        [--cpu Cortex-A76] [--versions onnxruntime==1.32.0 litert==1.4.0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgedistil.bench import arm  # noqa: E402
from edgedistil.bench.base import SCRIPT, Options, qemu_options  # noqa: E402
from edgedistil.bench.qemu import QemuRunner  # noqa: E402
from edgedistil.data import read_examples  # noqa: E402
from edgedistil.verify.parity import cosines  # noqa: E402


def host_run(path: Path, inputs: Path, site: Path | None) -> np.ndarray:
    """The board script on this host: the host's runtime, or the one unzipped in ``site``."""
    saved = inputs / "host.npz"
    env = {"PATH": "/usr/bin:/bin", **({"PYTHONPATH": str(site)} if site else {})}
    command = [sys.executable, str(SCRIPT), "--model", str(path), "--inputs", str(inputs)]
    command += ["--runs", "1", "--warmup", "0", "--save-outputs", str(saved)]
    subprocess.run(command, env=env, check=True, capture_output=True)
    with np.load(saved) as outputs:
        return np.asarray(outputs[outputs.files[0]], dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path)
    parser.add_argument("release", help="e.g. tflite/model.static-int8.tflite")
    parser.add_argument("--site", type=Path, required=True, help="the board version's x86 wheel")
    parser.add_argument("--student", type=Path, required=True)
    parser.add_argument("--cpu", default="Cortex-A76")
    parser.add_argument("--versions", nargs="+", default=["onnxruntime==1.32.0", "litert==1.4.0"])
    args = parser.parse_args()
    path = args.build / args.release
    texts = read_examples(args.build / "split" / "eval.txt").inputs[: arm.SENTENCES]
    ids = arm._ids(path, args.student, texts)
    with tempfile.TemporaryDirectory() as directory:
        inputs = Path(directory)
        for name, value in ids.items():
            np.save(inputs / f"{name}.npy", value)
        runs = {"x86 host version": host_run(path, inputs, None)}
        runs["x86 board version"] = host_run(path, inputs, args.site)
    options = qemu_options(Options(), args.cpu, tuple(args.versions))
    runs[f"arm64 board version ({args.cpu})"] = arm._emulated(QemuRunner(options), path, ids, 4)[0]
    names = list(runs)
    found = {}
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            c = cosines(runs[first], runs[second])
            found[f"{first} vs {second}"] = {
                "mean": round(float(c.mean()), 6),
                "worst": round(float(c.min()), 4),
            }
    print(json.dumps({"release": args.release, "sentences": len(texts), **found}, indent=2))


if __name__ == "__main__":
    main()
