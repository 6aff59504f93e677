"""Every ONNX int8 path on both of x86's integer branches, whatever CPU runs the suite (issue 14).

ONNX Runtime picks its u8s8 kernels by CPUID: with VNNI (or on ARM) they accumulate in 32 bits;
on AVX2 without VNNI they add pairs of products in saturating 16-bit lanes. The suite passed on
the VNNI hosts it was written on and failed on AVX2 ones. Here each artifact is built once on
this host, then verified twice: natively (this host's branch) and under ``qemu-x86_64 -cpu
Haswell`` (AVX2 without VNNI: QEMU's TCG emulates no AVX-512), where ORT's CPUID check really
takes the saturating branch. The two must agree with each other and with the float model.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgedistil.data import SAMPLE_TEXT
from edgedistil.export.onnx import ExportSpec, export_onnx
from edgedistil.quantize import onnx as q
from edgedistil.quantize.job import Job, quantize
from tests.conftest import write_word_lines

EMULATED_CPU = "Haswell"  # AVX2, FMA, no AVX-512 and no VNNI: the branch that saturates
TIMEOUT_S = 900  # an emulated Python is ~30x slower; ORT's import dominates
VARIANTS = {
    "dynamic-fused": ("fused", q.Settings(scheme="dynamic-int8")),
    "dynamic-plain": ("plain", q.Settings(scheme="dynamic-int8")),
    "qdq-u8s8": ("fused", q.Settings(scheme="static-int8", fmt="qdq")),
    "qdq-s8s8": ("fused", q.Settings(scheme="static-int8", fmt="qdq", activations="int8")),
    "qoperator-u8s8": ("fused", q.Settings(scheme="static-int8", fmt="qoperator")),
    "qoperator-s8s8": (
        "fused",
        q.Settings(scheme="static-int8", fmt="qoperator", activations="int8"),
    ),
    "qdq-u8s8-plain": ("plain", q.Settings(scheme="static-int8", fmt="qdq")),
}

# Run in a fresh interpreter, natively or emulated: the outputs of each model through the
# product's verification sessions, and what the product's probe says about this CPU.
_VERIFY = """
import json, sys
from pathlib import Path
import numpy as np
from edgedistil.verify import kernels
root = Path(sys.argv[1])
batch = dict(np.load(root / "inputs.npz"))
found = {"saturates": kernels.u8s8_saturates(), "path": kernels.host_path().to_dict()}
for model in sorted(root.glob("*.onnx")):
    session = kernels.session(model)
    names = {i.name for i in session.get_inputs()}
    out = session.run(None, {k: v for k, v in batch.items() if k in names})[0]
    np.save(root / f"{model.stem}.{sys.argv[2]}.npy", out)
print(json.dumps(found))
"""


def _qemu() -> str:
    if platform.machine() != "x86_64":
        pytest.skip(f"qemu-x86_64 emulates an x86 branch; this host is {platform.machine()}")
    found = shutil.which("qemu-x86_64")
    if found is None:
        pytest.skip("qemu-x86_64 not installed (Debian: apt-get install qemu-user; .ci/run does)")
    return found


def _run(command: list[str]) -> dict[str, object]:
    root = Path(__file__).resolve().parents[2]  # the repository root: tests/quantize/ is two down
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _emulated(qemu: str, *args: str) -> list[str]:
    return [qemu, "-cpu", EMULATED_CPU, sys.executable, *args]


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_word_lines(tmp_path_factory.mktemp("branch-text") / "text.txt", 48, seed=1)


@pytest.fixture(scope="module")
def models(tiny_classifier: Path, text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every variant quantized here, with no fallback, in one folder beside the float graphs."""
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("branches")
    exports = {}
    for graph in ("fused", "plain"):
        exports[graph] = root / f"export-{graph}"
        export_onnx(
            ExportSpec(
                student=tiny_classifier,
                out=exports[graph],
                sequence_length=16,
                parity_text=SAMPLE_TEXT,
                graph=graph,
            )
        )
        shutil.copyfile(exports[graph] / "model.onnx", root / f"float-{graph}.onnx")
    for name, (graph, settings) in VARIANTS.items():
        work = Path(shutil.copytree(exports[graph], root / f"work-{name}"))
        job = Job(
            export_dir=work,
            settings=settings,
            calibration=text,
            eval_path=text,
            max_accuracy_drop=1.0,
            batch_size=8,
            fallback=False,
        )
        shutil.copyfile(quantize(job).path, root / f"{name}.onnx")
    tokenizer = AutoTokenizer.from_pretrained(str(exports["fused"]))
    texts = text.read_text(encoding="utf-8").splitlines()
    batch = tokenizer(
        texts, padding="max_length", max_length=16, truncation=True, return_tensors="np"
    )
    np.savez(root / "inputs.npz", **{k: v.astype(np.int64) for k, v in batch.items()})
    return root


@pytest.mark.slow  # ORT's import and runs under qemu, ~30x slower than native
def test_each_onnx_int8_path_computes_the_same_on_both_x86_branches(models: Path) -> None:
    _run([sys.executable, "-c", _VERIFY, str(models), "native"])
    emulated = _run(_emulated(_qemu(), "-c", _VERIFY, str(models), "emulated"))
    # The control: without it a host whose emulation fell back to another CPU proves nothing.
    assert emulated["saturates"] is True
    assert emulated["path"]["u8s8"] == "saturating"  # type: ignore[index]
    assert "x64quantprecision" in emulated["path"]["verified_with"]  # type: ignore[index]
    problems = []
    for name, (graph, _) in VARIANTS.items():
        reference = np.load(models / f"float-{graph}.native.npy").argmax(-1)
        for branch in ("native", "emulated"):
            out = np.load(models / f"{name}.{branch}.npy")
            agreement = float(np.mean(out.argmax(-1) == reference))
            if agreement < 0.9:
                problems.append(f"{name} {branch}: agreement {agreement:.2f} with fp32")
        native_out = np.load(models / f"{name}.native.npy")
        emulated_out = np.load(models / f"{name}.emulated.npy")
        # Both branches compute the same int32 products; requantizing them may round one step
        # apart, which is int8's own error at most. Saturation was ten times that.
        int8_error = float(
            np.max(np.abs(native_out - np.load(models / f"float-{graph}.native.npy")))
        )
        apart = float(np.max(np.abs(native_out - emulated_out)))
        if apart > max(1e-4, int8_error):
            problems.append(f"{name}: branches differ by {apart:.2g} (int8 error {int8_error:.2g})")
    assert not problems, problems


@pytest.mark.slow  # ORT's import and runs under qemu, ~30x slower than native
def test_quantize_on_an_avx2_cpu_writes_a_verified_int8_model_and_says_so(
    models: Path, text: Path, tmp_path: Path
) -> None:
    """The whole command on the saturating branch: the report it writes is the truth there."""
    qemu = _qemu()
    work = Path(shutil.copytree(models / "export-fused", tmp_path / "export"))
    command = (
        "import json, sys; from edgedistil.cli import cli; "
        "sys.argv = ['edgedistil', 'quantize', sys.argv[1], '--scheme', 'static-int8', "
        "'--target', 'raspberry-pi-5', '--calibration', sys.argv[2], '--eval', sys.argv[2], "
        "'--max-drop', '0.1', '--no-fallback']\n"
        "try:\n    cli()\nexcept SystemExit as e:\n    print(json.dumps({'code': e.code}))"
    )
    done = _run(_emulated(qemu, "-c", command, str(work), str(text)))
    assert done["code"] in (0, None)
    report = json.loads((work / "fidelity.json").read_text())
    assert report["verified_on"]["u8s8"] == "saturating"
    assert report["settings"]["reduce_range"] is False  # an arm64 target keeps 8-bit weights
    assert report["fidelity"]["agreement"] >= 0.9
    assert report["kept_float"]["nodes"] == 0


_VERIFY_TFLITE = """
import sys
from pathlib import Path
import numpy as np
from edgedistil.export.microcontroller import run_micro
from edgedistil.export.tflite import run_litert
root = Path(sys.argv[1])
arrays = {k: v.astype(np.int32) for k, v in np.load(root / "inputs.npz").items()}
arrays = {k: arrays[k] for k in ("input_ids", "attention_mask")}
for model in sorted(root.glob("litert-*.tflite")):
    np.save(root / f"{model.stem}.{sys.argv[2]}.npy", run_litert(model, arrays)[0])
micro = (root / "micro-full-int8.tflite").read_bytes()
np.save(root / f"micro.{sys.argv[2]}.npy", run_micro(micro, arrays, 8 << 20))
print("{}")
"""


@pytest.mark.slow
def test_litert_and_tflite_micro_int8_compute_the_same_on_both_x86_branches(
    tiny_classifier: Path, models: Path, tmp_path: Path
) -> None:
    """XNNPACK's and TFLite Micro's int8 kernels widen to 16 or 32 bits before adding (measured
    bit-identical here); this keeps them so, as ORT's were not."""
    from edgedistil.export.tflite import TFLiteSpec, convert_tflite, tflite_schemes
    from edgedistil.schemes import get_scheme

    qemu = _qemu()
    shutil.copyfile(models / "inputs.npz", tmp_path / "inputs.npz")
    integer = [("litert", s) for s in tflite_schemes() if get_scheme(s).quantized]
    for runtime, scheme in [*integer, ("tflite-micro", "full-int8")]:
        spec = TFLiteSpec(
            student=tiny_classifier,
            out=tmp_path / f"{runtime}-{scheme}",
            scheme=scheme,
            sequence_length=16,
            runtime=runtime,
            calibration=SAMPLE_TEXT,
            eval_text=SAMPLE_TEXT,
            max_drop=1.0,
            calibration_sentences=64,
            eval_sentences=48,
        )
        name = "micro" if runtime == "tflite-micro" else "litert"
        shutil.copyfile(convert_tflite(spec).path, tmp_path / f"{name}-{scheme}.tflite")
    _run([sys.executable, "-c", _VERIFY_TFLITE, str(tmp_path), "native"])
    _run(_emulated(qemu, "-c", _VERIFY_TFLITE, str(tmp_path), "emulated"))
    outputs = sorted(tmp_path.glob("*.native.npy"))
    assert len(outputs) == 5  # four LiteRT schemes and TFLite Micro
    for native in outputs:
        emulated = np.load(str(native).replace(".native.", ".emulated."))
        assert np.allclose(np.load(native), emulated, atol=1e-6), native.name
