"""The qemu runner (issue 21): the board script on an emulated arm64 core, in the root that
``edgedistil runners prepare qemu`` makes.

The slow test runs a tiny BERT's ONNX dynamic-int8, ONNX static-int8 (fused graph) and LiteRT
dynamic-int8 artifacts on the emulated Pi 5 core (the aarch64 wheels' NEON / dot-product
kernels) and compares what they compute with PyTorch's float model and with this host's x86
run of the same bytes. It needs the prepared root in the user's cache (``.ci/run`` prepares it:
``make qemu``), which the session hides from every test but those taking the ``prepared``
fixture; without one they skip, saying so, unless EDGEDISTIL_REQUIRE_QEMU=1 (CI): then they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgedistil.bench import qemu, sysroot
from edgedistil.bench.base import Board, Job, Options, make_runner
from edgedistil.data import SAMPLE_TEXT
from edgedistil.errors import BenchError
from tests.conftest import USER_CACHE, error_line, write_word_lines

LENGTH = 16
ROWS = 24  # enough sentences for an argmax agreement, few enough for an emulated Python


@pytest.fixture
def prepared(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's prepared root, seen by this test (the session hides it: ``conftest``); else a
    skip, or a failure where CI requires it (EDGEDISTIL_REQUIRE_QEMU=1)."""
    monkeypatch.setenv("EDGEDISTIL_CACHE", str(USER_CACHE))
    missing = shutil.which(qemu.QEMU) is None
    where = sysroot.prepared(sysroot.Spec())
    if missing or where is None:
        why = (
            f"no {qemu.QEMU}"
            if missing
            else f"no prepared root at {sysroot.folder(sysroot.Spec())}"
        )
        message = f"{why}; run: {sysroot.PREPARE_COMMAND} (.ci/run does)"
        if os.environ.get("EDGEDISTIL_REQUIRE_QEMU") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return where


def test_each_named_core_maps_to_a_qemu_model_with_its_instructions() -> None:
    assert qemu.core_for("Cortex-A72").qemu == "cortex-a72"  # Pi 4: ARMv8.0, no dot product
    assert qemu.core_for("Cortex-A76").qemu == "cortex-a76"  # Pi 5: the dot product
    phone = qemu.core_for("Cortex-A78 x2 + Cortex-A55 x6")  # the big core, shown as itself
    assert (phone.name, phone.qemu, phone.part) == ("Cortex-A78", "cortex-a76", 0xD41)
    assert qemu.core_for(None).name == qemu.DEFAULT_CPU
    with pytest.raises(BenchError, match='cannot emulate CPU "Xtensa LX7"; known cores: Cortex'):
        qemu.core_for("Xtensa LX7")


def test_an_unprepared_root_names_the_prepare_command(
    runner: CliRunner, tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgedistil.cli import cli

    monkeypatch.setenv("EDGEDISTIL_CACHE", str(tmp_path / "empty-cache"))
    if shutil.which(qemu.QEMU) is None:
        pytest.skip(f"no {qemu.QEMU}: the qemu check comes first")
    result = runner.invoke(cli, ["bench", str(tiny_onnx), "--runner", "qemu", "--runs", "1"])
    assert result.exit_code == 1
    line = error_line(result)
    assert "qemu runner's arm64 root is not prepared" in line
    assert line.endswith("run: edgedistil runners prepare qemu")


def test_a_host_without_qemu_is_told_what_to_install(
    tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no qemu-aarch64 on it
    runner = make_runner("qemu", Options())
    job = Job(model=tiny_onnx, inputs=tmp_path, runs=1, warmup=0, threads=1)
    with pytest.raises(BenchError, match="needs qemu-aarch64 .*apt-get install qemu-user"):
        runner.run(job, Board(label="qemu", runner="qemu"))


def test_a_root_of_other_versions_names_the_command_that_prepares_it(tmp_path: Path) -> None:
    spec = sysroot.Spec.of(("litert==1.3.0",))
    with pytest.raises(BenchError) as caught:
        sysroot.require(spec, tmp_path)
    assert str(caught.value).endswith(
        "run: edgedistil runners prepare qemu --versions onnxruntime==1.32.0 litert==1.3.0"
    )


def test_a_runtime_with_no_wheel_for_the_board_names_both(tmp_path: Path) -> None:
    """pip's own resolver for the board's Python and architecture, one line naming both."""
    spec = sysroot.Spec(onnxruntime="1.0.0")  # no aarch64 wheel of it was ever published
    with pytest.raises(BenchError) as caught:
        sysroot._fetch_wheels(spec, tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "onnxruntime==1.0.0" in message and "CPython 3.11 on Linux aarch64" in message


def test_a_profile_s_runtime_versions_are_what_the_root_installs() -> None:
    spec = sysroot.Spec.of(("onnxruntime==1.31.0", "litert==1.3.0"))
    assert "onnxruntime==1.31.0" in spec.requirements()
    assert "ai-edge-litert==1.3.0" in spec.requirements()
    assert spec.name != sysroot.Spec().name  # another set of versions, another root
    assert sysroot.Spec.of(()) == sysroot.Spec()


def test_the_runtimes_own_words_for_a_file_newer_than_they_are() -> None:
    ort = (
        "Fail: [ONNXRuntimeError] : 1 : FAIL : Load model failed:/x/model.cc:256 "
        "Unsupported model IR version: 99, max supported IR version: 11"
    )
    assert qemu.too_new(ort) == "Unsupported model IR version: 99, max supported IR version: 11"
    litert = "ValueError: Didn't find op for builtin opcode 'STRIDED_SLICE' version '99'. An older"
    assert (qemu.too_new(litert) or "").startswith("Didn't find op for builtin opcode")
    assert qemu.too_new("ValueError: Cannot set tensor: Got value of type INT64") is None


def _with_op_version(model: Path, out: Path, version: int) -> Path:
    """``model`` with its first operator's version raised: what a newer converter writes."""
    import flatbuffers  # type: ignore[import-untyped]
    from tensorflow.lite.python import schema_py_generated as schema  # type: ignore[import-untyped]

    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model.read_bytes(), 0))
    tree.operatorCodes[0].version = version
    builder = flatbuffers.Builder(1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    out.write_bytes(builder.Output())
    return out


@pytest.mark.slow  # the runtimes' imports under an emulated CPU, and a TensorFlow conversion
def test_a_file_newer_than_the_target_s_runtime_is_refused_in_one_line(
    runner: CliRunner, tiny_onnx: Path, tiny_tflite: Path, tmp_path: Path, prepared: Path
) -> None:
    import onnx

    from edgedistil.cli import cli

    model = onnx.load(str(tiny_onnx))
    model.ir_version = 99  # no ONNX Runtime reads it yet
    newer = {tmp_path / "ir99.onnx": "needs a newer onnxruntime than the target installs"}
    onnx.save(model, str(tmp_path / "ir99.onnx"))
    _with_op_version(tiny_tflite, tmp_path / "op99.tflite", 99)
    newer[tmp_path / "op99.tflite"] = "needs a newer ai-edge-litert than the target installs"
    for name in ("vocab.txt",):
        shutil.copyfile(tiny_tflite.parent / name, tmp_path / name)
    for path, expected in newer.items():
        result = runner.invoke(
            cli,
            ["bench", str(path), "--runner", "qemu", "--target", "raspberry-pi-5", "--runs", "1"],
        )
        assert result.exit_code == 1, result.output
        line = error_line(result)
        assert f"{path.name} {expected}" in line
        assert "==1.32.0, [export].runtime_versions)" in line or "==1.4.0, [export]" in line


# ---- the artifacts, on the emulated core ----


def _pytorch_logits(student: Path, arrays: dict[str, np.ndarray]) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(student)).eval()
    with torch.no_grad():
        feed = {k: torch.from_numpy(v) for k, v in arrays.items()}
        return model(**feed).logits.numpy()  # type: ignore[no-any-return]


def _artifacts(student: Path, text: Path, root: Path) -> dict[str, Path]:
    """ONNX dynamic and static int8 (fused graph) and LiteRT dynamic int8, as a build makes them."""
    from edgedistil.export.onnx import ExportSpec, export_onnx
    from edgedistil.export.tflite import TFLiteSpec, convert_tflite
    from edgedistil.quantize import onnx as q
    from edgedistil.quantize.job import Job as QuantizeJob
    from edgedistil.quantize.job import quantize

    export = root / "export"
    export_onnx(
        ExportSpec(
            student=student,
            out=export,
            sequence_length=LENGTH,
            parity_text=SAMPLE_TEXT,
            graph="fused",  # the Pi's profile: ORT's Attention / EmbedLayerNorm / Gelu kernels
        )
    )
    found = {}
    for scheme in ("dynamic-int8", "static-int8"):
        work = Path(shutil.copytree(export, root / f"onnx-{scheme}"))
        job = QuantizeJob(
            export_dir=work,
            settings=q.Settings(scheme=scheme),
            calibration=text,
            eval_path=text,
            max_accuracy_drop=1.0,
            batch_size=8,
            fallback=False,
        )
        found[f"onnx {scheme}"] = quantize(job).path
    spec = TFLiteSpec(
        student=student,
        out=root / "tflite",
        scheme="dynamic-int8",
        sequence_length=LENGTH,
        calibration=text,
        eval_text=text,
        max_drop=1.0,
        calibration_sentences=32,
        eval_sentences=ROWS,
    )
    found["litert dynamic-int8"] = convert_tflite(spec).path
    return found


def _host_outputs(model: Path, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The same bytes on this host's x86 kernels, as the build verifies them."""
    if model.suffix == ".tflite":
        from edgedistil.export.tflite import run_litert

        ints = {k: v.astype(np.int32) for k, v in arrays.items() if k != "token_type_ids"}
        return run_litert(model, ints)[0]
    from edgedistil.verify import kernels

    session = kernels.session(model)
    names = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v for k, v in arrays.items() if k in names})[0]  # type: ignore[no-any-return]


@pytest.mark.slow  # a TensorFlow conversion, and the runtimes' imports under an emulated CPU
def test_arm64_kernels_compute_what_pytorch_does(
    tiny_classifier: Path, tmp_path: Path, prepared: Path
) -> None:
    from transformers import AutoTokenizer

    text = write_word_lines(tmp_path / "text.txt", ROWS, seed=3)
    models = _artifacts(tiny_classifier, text, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_classifier))
    batch = tokenizer(
        text.read_text(encoding="utf-8").splitlines(),
        padding="max_length",
        max_length=LENGTH,
        truncation=True,
        return_tensors="np",
    )
    arrays = {k: v.astype(np.int64) for k, v in batch.items()}
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name, array in arrays.items():
        np.save(inputs / f"{name}.npy", array)
    reference = _pytorch_logits(tiny_classifier, arrays)
    runner = make_runner("qemu", Options(emulated_cpu="Cortex-A76"))
    assert isinstance(runner, qemu.QemuRunner)
    problems = []
    for name, model in models.items():
        job = Job(model=model, inputs=inputs, runs=2, warmup=0, threads=2, timeout_s=600)
        saved = tmp_path / f"{model.stem}.arm64.npz"
        result = runner.run_saving(job, Board(label="pi5", runner="qemu"), saved)
        assert result["board"]["machine"] == "aarch64", name
        assert "Cortex-A76" in result["board"]["device_model"], name
        with np.load(saved) as outputs:
            arm = next(iter(outputs.values()))
        assert arm.shape == reference.shape, name
        host = _host_outputs(model, arrays)
        # The scheme's tolerance is int8's own error on this model, as the build measures it on
        # x86 (x86 against PyTorch). The ARM kernels round elsewhere (ORT's aarch64 dynamic int8
        # lands 3e-4 from x86's, on the other side of float), so ARM against PyTorch must stay
        # within twice it; a saturating or wrong kernel is ten times that and more.
        int8_error = float(np.max(np.abs(host - reference)))
        arm_error = float(np.max(np.abs(arm - reference)))
        agreement = float(np.mean(arm.argmax(-1) == reference.argmax(-1)))
        if agreement < 0.9:
            problems.append(f"{name}: ARM agreement {agreement:.2f} with PyTorch")
        if arm_error > max(1e-5, 2 * int8_error):
            problems.append(f"{name}: ARM {arm_error:.3g} from PyTorch (x86: {int8_error:.3g})")
    assert not problems, problems


# ---- the build: each release on the target's arm64 kernels ----


def test_a_file_the_emulated_board_cannot_run_is_unmeasured_with_the_reason(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One release's failure on the emulated core is that release's (the build goes on)."""
    from edgedistil.bench import arm
    from edgedistil.export.onnx import ExportSpec, export_onnx

    if shutil.which(qemu.QEMU) is None:
        pytest.skip(f"no {qemu.QEMU}: the qemu check comes first")
    spec = ExportSpec(
        student=tiny_bert, out=tmp_path / "onnx", sequence_length=LENGTH, parity_text=SAMPLE_TEXT
    )
    export_onnx(spec)
    monkeypatch.setenv("EDGEDISTIL_CACHE", str(tmp_path / "empty-cache"))
    info = {"format": "onnx", "accuracy_drop": 0.001}
    fields = arm.measure(
        tmp_path / "onnx" / "model.onnx",
        info,
        student=tiny_bert,
        texts=["the movie was good"],
        task="embedding",
        options=Options(emulated_cpu="Cortex-A76"),
        threads=1,
    )
    assert list(fields) == ["arm_unmeasured"]
    assert "run: edgedistil runners prepare qemu" in fields["arm_unmeasured"]


def test_a_build_measures_on_arm_where_the_profile_names_its_board_s_runtimes(
    tmp_path: Path, prepared: Path
) -> None:
    """Automatically for a Pi (its runtime versions are named, their root prepared); for a
    phone, whose LiteRT comes with its app, only when --runner qemu asks; never for x86."""
    from edgedistil.build import arm as build_arm
    from edgedistil.build.request import Request, resolve
    from edgedistil.profiles import load_profile

    def wanted(target: str, runner: str | None = None) -> bool:
        request = Request(target=target, out=tmp_path, runner=runner)
        return build_arm.wanted(resolve(request, load_profile(target)))

    assert wanted("raspberry-pi-4") and wanted("raspberry-pi-5")
    assert not wanted("android-phone") and wanted("android-phone", runner="qemu")
    x86 = tmp_path / "x86.toml"
    x86.write_text('extends = "raspberry-pi-4"\n[device]\narchitecture = "x86_64"\n')
    assert not wanted(str(x86), runner="qemu")


@pytest.mark.slow  # a one-epoch build of a tiny BERT, its release run on the emulated core
def test_a_pi5_build_with_the_qemu_runner_gates_on_the_arm_figure(
    runner: CliRunner, tmp_path: Path, prepared: Path
) -> None:
    import json

    from edgedistil.cli import cli
    from tests.conftest import save_tiny

    teacher = save_tiny(tmp_path / "teacher")
    profile = tmp_path / "pi5-onnx.toml"
    profile.write_text(
        'extends = "raspberry-pi-5"\nname = "pi5-onnx"\ndescription = "the Pi 5, ONNX only"\n'
        '[export]\nruntimes = ["onnxruntime"]\nformats = ["onnx"]\n'
        'runtime_versions = ["onnxruntime==1.32.0"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ["build", "--target", str(profile), "--teacher", str(teacher), "--out", str(out)]
    args += ["--epochs", "1", "--augment", "0", "--runner", "qemu", "--skip-bench"]
    result = runner.invoke(cli, [*args, "--allow-unmeasured"], catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    assert "arm-fidelity: onnx/model.int8.onnx cosine with x86" in result.output
    release = json.loads((out / "manifest.json").read_text())["artifacts"]["onnx/model.int8.onnx"]
    a = release["arm"]
    assert (a["core"], a["runtime"], a["metric"]) == ("Cortex-A76", "onnxruntime 1.32.0", "cosine")
    assert a["vs_host"] > 0.999  # the same int8 products on both; a wrong kernel is far below
    assert a["host_accuracy_drop"] == round(release["accuracy_drop"], 6)
    assert a["accuracy_drop"] >= a["host_accuracy_drop"]  # what ARM changes, added
    gate = json.loads((out / "gate.json").read_text())
    drops = [
        c for art in gate["artifacts"] for c in art["checks"] if c["budget"] == "max_accuracy_drop"
    ]
    assert drops and "what the arm64 kernels change on 48 sentences" in drops[0]["source"]
    assert drops[0]["measured"] == a["accuracy_drop"]


# sdot v0.4s, v1.16b, v2.16b; ret: the dot-product instruction the A76 has and the A72 lacks.
_SDOT = """
import ctypes, mmap
code = bytes.fromhex("2094824e" "c0035fd6")
buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
buf.write(code)
ctypes.CFUNCTYPE(None)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))()
print("ran")
"""


@pytest.mark.slow  # two emulated Pythons
def test_an_instruction_the_core_lacks_is_an_illegal_instruction_named_as_such(
    tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prepared: Path
) -> None:
    """The emulated core has the target's instructions only: the Pi 4's A72 has no sdot, so a
    kernel using it crashes there as on the board, and the run says so (the script run here in
    place of the board script is the one thing swapped)."""
    script = tmp_path / "sdot.py"
    script.write_text(_SDOT, encoding="utf-8")
    monkeypatch.setattr(qemu, "SCRIPT", script)
    job = Job(model=tiny_onnx, inputs=tmp_path, runs=1, warmup=0, threads=1)
    with pytest.raises(BenchError, match="returned no JSON result"):  # ran, printed "ran"
        make_runner("qemu", Options(emulated_cpu="Cortex-A76")).run(
            job, Board(label="pi5", runner="qemu")
        )
    pi4 = make_runner("qemu", Options(emulated_cpu="Cortex-A72"))
    with pytest.raises(BenchError, match="illegal instruction on the emulated Cortex-A72"):
        pi4.run(job, Board(label="pi4", runner="qemu"))


@pytest.mark.slow  # an emulated Python with ONNX Runtime
def test_bench_on_the_emulated_pi5_says_its_times_are_the_emulator_s(
    runner: CliRunner, tiny_onnx: Path, tmp_path: Path, prepared: Path
) -> None:
    import json

    from edgedistil.cli import cli

    for item in tiny_onnx.parent.iterdir():  # results are stored beside the artifact: a copy
        if item.is_file():
            shutil.copyfile(item, tmp_path / item.name)
    model = tmp_path / tiny_onnx.name
    args = ["bench", str(model), "--runner", "qemu", "--target", "raspberry-pi-5"]
    result = runner.invoke(cli, [*args, "--runs", "2", "--warmup", "0"])
    assert result.exit_code == 0, result.output + result.stderr
    assert (
        "qemu: an emulated core (qemu): these times and memory are the emulator's" in result.output
    )
    saved = json.loads(next(Path(f"{model}.bench").glob("qemu-*.json")).read_text())
    assert saved["ran_on"]["runner"] == "qemu" and saved["ran_on"]["architecture"] == "arm64"
    assert "Cortex-A76" in saved["result"]["board"]["device_model"]
