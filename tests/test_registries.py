"""One registration is enough: a new scheme, format, runner or family shows up everywhere it must
(profile validation, plan, the CLI, the stages' checks), and every built-in entry agrees with the
others. Each fixture registers an entry and removes it again, whatever the test did."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from edgedistil import families, formats, plan, profiles, runners, schemes
from edgedistil.bench import base
from edgedistil.cli import cli
from edgedistil.errors import BenchError, DistillError, EdgedistilError, ProfileError
from tests.conftest import TINY, write_profile

# ---- fixtures: one entry each, registered for one test ----


@pytest.fixture
def mixed_int8() -> Iterator[schemes.Scheme]:
    """A made-up scheme that ONNX and LiteRT carry, with graph bytes no built-in has."""
    scheme = schemes.register_scheme(
        schemes.Scheme(
            name="mixed-int8",
            description="a test's scheme",
            formats=("onnx", "tflite"),
            weights="int8",
            activations=("int8",),
            matrix_bytes=1,
            vector_bytes=2,
            graph_bytes=(1_000, 100),
        )
    )
    try:
        yield scheme
    finally:
        schemes.unregister_scheme(scheme.name)


class FakeStage:
    """What build would import for the test's format."""


def fake_evaluate(path: Path, info: dict[str, Any], student: Path, texts: list[str]) -> Any:
    """What the comparison with the teacher would run a file of the test's format with."""
    return [[float(len(t))] for t in texts]


@pytest.fixture
def coreml() -> Iterator[formats.Format]:
    """A made-up format, its runtime, and the one scheme that names it."""
    fmt = formats.register_format(
        formats.Format(
            name="coreml",
            description="a test's format",
            runtime="coreml",
            runtime_label="Core ML",
            stage=f"{__name__}:FakeStage",
            evaluate=f"{__name__}:fake_evaluate",
            eval_sentences=7,
        )
    )
    schemes.register_scheme(
        schemes.Scheme(
            name="coreml-float16",
            description="a test's scheme",
            formats=("coreml",),
            weights="float16",
            matrix_bytes=2,
            vector_bytes=2,
            graph_bytes=(0, 0),
        )
    )
    try:
        yield fmt
    finally:
        schemes.unregister_scheme("coreml-float16")
        formats.unregister_format(fmt.name)


class SerialRunner(base.Runner):
    """A board on a serial line."""

    def run(self, job: base.Job, board: base.Board) -> dict[str, Any]:
        return {"ok": True}


@pytest.fixture
def serial() -> Iterator[runners.RunnerEntry]:
    entry = runners.register_runner(
        runners.RunnerEntry(
            name="serial",
            description="a test's runner",
            runner=f"{__name__}:SerialRunner",
            address=True,
        )
    )
    try:
        yield entry
    finally:
        runners.unregister_runner(entry.name)


@pytest.fixture
def electra() -> Iterator[families.Family]:
    """A made-up family entry: BERT's config keys, positions from padding_idx + 1, narrowable."""
    family = families.register_family(
        families.Family(model_type="electra", offset_positions=True, narrowable=True)
    )
    try:
        yield family
    finally:
        families.unregister_family(family.model_type)


def _profile(tmp_path: Path, text: str) -> profiles.Profile:
    return profiles.load_profile(str(write_profile(tmp_path / "mine.toml", text)))


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ProfileError) as info:
        _profile(tmp_path, text)
    return str(info.value)


PI5 = 'extends = "raspberry-pi-5"\n'


def _help(*command: str) -> str:
    result = CliRunner().invoke(cli, [*command, "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    return result.output


# ---- a new scheme ----


def test_a_new_scheme_is_a_valid_profile_value(tmp_path: Path, mixed_int8: Any) -> None:
    p = _profile(tmp_path, PI5 + '[quantize]\nscheme = "mixed-int8"\nactivations = "int8"\n')
    assert p.quantize.scheme == "mixed-int8"
    message = _error(tmp_path, PI5 + '[quantize]\nscheme = "mixed-int8"\nactivations = "uint8"\n')
    assert '[quantize].activations = "uint8": scheme mixed-int8 allows int8' in message


def test_a_new_scheme_is_refused_where_its_formats_do_not_carry_it(
    tmp_path: Path, mixed_int8: Any
) -> None:
    message = _error(tmp_path, 'extends = "cortex-m7"\n[quantize]\nscheme = "mixed-int8"\n')
    assert '[quantize].scheme = "mixed-int8": format tflite-micro cannot carry it' in message
    assert "mixed-int8" not in message.split("allowed for tflite-micro:")[1]


def test_a_new_scheme_is_listed_when_a_scheme_is_unknown(tmp_path: Path, mixed_int8: Any) -> None:
    message = _error(tmp_path, PI5 + '[quantize]\nscheme = "int4"\n')
    assert "full-int8, int16x8, mixed-int8" in message
    assert "mixed-int8" in _error(tmp_path, PI5 + '[quantize]\nscheme = "mixed-int9"\n')


def test_plan_prices_a_new_scheme(tmp_path: Path, mixed_int8: Any) -> None:
    profile = _profile(tmp_path, PI5 + '[quantize]\nscheme = "mixed-int8"\n')
    shape = plan.read_shape({**TINY, "model_type": "bert", "max_position_embeddings": 512}, "c")
    result = plan.plan_student(shape=shape, teacher="t", profile=profile)
    assert result.scheme == "mixed-int8"
    assert result.graph.bytes == 1_000 + 100 * result.layers
    tensors = [
        t for part in plan.student_tensors(shape, result.layers, 99, 128).values() for t in part
    ]
    vectors = sum(d[0] for role, d in tensors if role == "vector")
    weights = sum(d[0] * d[1] for role, d in tensors if role != "vector")
    # priced as its .tflite, the larger of the Pi 5's files: a float32 scale and an int64 zero
    # point per table, and per output channel of a weight and of its integer bias (no split
    # stream under this scheme)
    params = sum(12 if role == "table" else 24 * d[0] for role, d in tensors if role != "vector")
    model = weights + 2 * vectors + params + result.graph.bytes
    assert result.artifact_bytes == model + result.tokenizer.bytes  # its .tflite's metadata


def test_the_cli_offers_a_new_scheme(mixed_int8: Any) -> None:
    assert "mixed-int8" in _help("convert").split("--scheme")[1].split("--")[0]
    assert "mixed-int8" in _help("quantize").split("--scheme")[1].split("--")[0]


def test_the_cli_parses_a_new_scheme(tmp_path: Path, mixed_int8: Any) -> None:
    args = ["quantize", str(tmp_path / "missing"), "--target", "raspberry-pi-5", "--scheme"]
    assert CliRunner().invoke(cli, [*args, "mixed-int9"]).exit_code == 2  # click's usage error
    result = CliRunner().invoke(cli, [*args, "mixed-int8"])
    assert result.exit_code == 1 and "is not a finished export" in result.output  # past the choice


def test_the_stages_accept_a_new_scheme(mixed_int8: Any) -> None:
    from edgedistil.export.tflite import tflite_schemes
    from edgedistil.quantize.onnx import Settings, ort_schemes

    assert "mixed-int8" in tflite_schemes()
    assert "mixed-int8" in ort_schemes()
    assert Settings(scheme="mixed-int8").calibrated


# ---- a new format ----


def _board(export: str, scheme: str) -> str:
    """A whole Linux-board profile (nothing inherited) with this [export] and scheme."""
    return (
        'description = "a phone"\n'
        '[device]\nkind = "phone"\ncpu = "A78"\narchitecture = "arm64"\ncores = 8\n'
        "memory_bytes = 8_000_000_000\nstorage_bytes = 128_000_000_000\n"
        f"[export]\n{export}sequence_length = 64\n"
        f'[quantize]\nscheme = "{scheme}"\n'
        '[bench]\nrunner = "none"\nthreads = 1\n'
        "[budgets]\nmax_model_bytes = 25_000_000\nmax_peak_rss_bytes = 300_000_000\n"
        "max_accuracy_drop = 0.01\n"
    )


def test_a_new_format_and_its_runtime_are_valid_profile_values(
    tmp_path: Path, coreml: formats.Format
) -> None:
    p = _profile(
        tmp_path, _board('runtimes = ["coreml"]\nformats = ["coreml"]\n', "coreml-float16")
    )
    assert p.export.formats == ("coreml",) and p.export.runtimes == ("coreml",)
    assert formats.formats_loaded_by("coreml") == ("coreml",)
    assert coreml.has_stage() and coreml.load_stage() is FakeStage
    from edgedistil.runtimes import runtime_of

    runtime = runtime_of("coreml")
    assert runtime is not None and runtime.name == "Core ML" and runtime.sentences == 7
    assert runtime.run is fake_evaluate
    assert not replace(coreml, stage="edgedistil.nowhere.coreml:Stage").has_stage()


def test_a_new_format_carries_the_schemes_that_name_it(tmp_path: Path, coreml: Any) -> None:
    assert coreml.schemes == ("coreml-float16",)
    assert "coreml" not in schemes.get_scheme("float32").formats
    message = _error(tmp_path, _board('runtimes = ["coreml"]\nformats = ["coreml"]\n', "float32"))
    assert (
        '[quantize].scheme = "float32": format coreml cannot carry it; allowed for coreml: '
        "coreml-float16"
    ) in message


def test_a_new_format_is_checked_against_its_runtime(tmp_path: Path, coreml: Any) -> None:
    message = _error(
        tmp_path, _board('runtimes = ["onnxruntime"]\nformats = ["coreml"]\n', "coreml-float16")
    )
    assert '"coreml" cannot be loaded by the runtimes ["onnxruntime"]' in message
    message = _error(tmp_path, 'extends = "cortex-m7"\n[export]\nruntimes = ["coreml"]\n')
    assert '"coreml" does not run on a microcontroller; allowed: tflite-micro only' in message
    message = _error(tmp_path, PI5 + '[export]\nformats = ["onnx", "coremll"]\n')
    assert 'unknown "coremll" (did you mean "coreml"?)' in message
    message = _error(tmp_path, PI5 + '[export]\nruntimes = ["coremll"]\n')
    assert "allowed: one of onnxruntime, litert, tflite-micro, coreml" in message


# ---- a new runner ----


def test_a_new_runner_is_a_valid_profile_runner(tmp_path: Path, serial: Any) -> None:
    message = _error(tmp_path, PI5 + '[bench]\nrunner = "serial"\nhost_env = "pi"\n')
    assert '[bench].host_env = "pi": must be an environment variable name' in message
    p = _profile(tmp_path, PI5 + '[bench]\nrunner = "serial"\nhost_env = "SERIAL_PORT"\n')
    assert p.bench.runner == "serial"
    message = _error(tmp_path, PI5 + '[bench]\nrunner = "serail"\n')
    assert 'must be one of adb, local, none, qemu, serial, ssh (did you mean "serial"?)' in message


def test_a_new_runner_without_an_address_refuses_host_env(tmp_path: Path, serial: Any) -> None:
    message = _error(tmp_path, PI5 + '[bench]\nrunner = "local"\n')
    assert 'only allowed with runner "ssh" or "adb" or "serial"' in message


def test_bench_makes_a_new_runner(serial: Any) -> None:
    runner = base.make_runner("serial", base.Options())
    assert isinstance(runner, SerialRunner) and runner.name == "serial"
    assert base.runner_names() == ["adb", "local", "qemu", "serial", "ssh"]
    with pytest.raises(BenchError, match="known: adb, local, qemu, serial, ssh"):
        base.make_runner("seriall", base.Options())


def test_a_runner_class_registers_itself() -> None:
    @base.register_runner("pigeon")
    class PigeonRunner(base.Runner):
        """Carries the model by hand."""

        def run(self, job: base.Job, board: base.Board) -> dict[str, Any]:
            return {}

    try:
        assert isinstance(base.make_runner("pigeon", base.Options()), PigeonRunner)
        assert runners.get_runner("pigeon").description == "Carries the model by hand."
        with pytest.raises(ValueError, match="registered twice"):
            base.register_runner("pigeon")(PigeonRunner)
    finally:
        runners.unregister_runner("pigeon")
    with pytest.raises(BenchError, match='Unknown runner "pigeon"; known: adb, local, qemu, ssh'):
        base.make_runner("pigeon", base.Options())


# ---- a new family ----


def test_plan_reads_a_new_family(electra: Any) -> None:
    config = {**TINY, "model_type": "electra", "max_position_embeddings": 512, "pad_token_id": 0}
    shape = plan.read_shape(config, "c")
    assert shape.model_type == "electra" and shape.position_offset == 1
    assert shape.type_vocab_size == 2
    assert plan.narrowed(shape, 16).hidden_size == 16
    with pytest.raises(EdgedistilError, match="supported: bert, distilbert, roberta, xlm-roberta"):
        plan.read_shape({**config, "model_type": "gpt2"}, "c")


def test_the_stages_handle_a_new_family(electra: Any) -> None:
    from edgedistil.distill.width import check_width
    from edgedistil.export.model import position_offset

    assert position_offset({"model_type": "electra"}) == 2
    config = SimpleNamespace(model_type="electra", hidden_size=32, num_attention_heads=4)
    check_width(config, 16)  # narrowable: no error
    with pytest.raises(
        DistillError,
        match="narrowing handles model_type bert and distilbert and roberta and xlm-roberta and "
        "electra",
    ):
        check_width(SimpleNamespace(**{**vars(config), "model_type": "gpt2"}), 16)


def test_export_refuses_an_unregistered_family(tmp_path: Path) -> None:
    from edgedistil.errors import ExportError
    from edgedistil.export.model import check_family

    teacher = SimpleNamespace(config={"model_type": "electra"}, path=tmp_path)
    with pytest.raises(ExportError, match="supported: bert, distilbert, roberta, xlm-roberta"):
        check_family(teacher)  # type: ignore[arg-type]


# ---- the built-in entries agree with each other ----


def test_every_scheme_names_registered_formats() -> None:
    for scheme in schemes.all_schemes():
        assert scheme.formats, scheme.name
        for name in scheme.formats:
            assert formats.is_format(name), f"{scheme.name} names an unknown format {name}"
        if scheme.integer_output is not None:
            assert scheme.integer_output in scheme.activations, scheme.name
        if scheme.split_residual:
            assert scheme.int8_activations, scheme.name
        assert scheme.quantized == (scheme.matrix_bytes == 1), scheme.name


def test_every_format_carries_a_scheme_and_has_a_runtime() -> None:
    from edgedistil.export.tflite_ops import RUNTIMES as OP_SETS
    from edgedistil.runtimes import runtime_of

    for fmt in formats.all_formats():
        assert fmt.schemes, fmt.name
        assert fmt.stage.count(":") == 1 and fmt.stage.startswith("edgedistil.build."), fmt.stage
    for fmt in formats.all_formats():
        runtime = runtime_of(fmt.name)
        assert runtime is not None and callable(runtime.run), fmt.name
        assert runtime.name == fmt.runtime_label
    assert runtime_of("coreml") is None  # not registered outside its fixture
    assert set(OP_SETS) <= set(formats.runtime_names())
    assert formats.runtime_names() == ("onnxruntime", "litert", "tflite-micro")


def test_litert_makes_every_integer_scheme_it_carries() -> None:
    from edgedistil.export.tflite import INTEGER_OPS, tflite_schemes

    for name in tflite_schemes():
        scheme = schemes.get_scheme(name)
        if scheme.integer_output is not None:
            assert scheme.activations[0] in INTEGER_OPS, name


def test_every_runner_loads_and_none_is_no_runner() -> None:
    for entry in runners.all_runners():
        cls = entry.load()
        assert issubclass(cls, base.Runner), entry.name
    assert not runners.is_runner(runners.NONE)
    assert runners.profile_runners() == ("adb", "local", "none", "qemu", "ssh")
    with pytest.raises(BenchError, match="the target has no board runner"):
        base.make_runner("none", base.Options())


def test_every_family_plans() -> None:
    for family in families.family_names():
        f = families.family_of(family)
        assert f is not None
        config = {
            "model_type": family,
            "vocab_size": 99,
            f.hidden_key: 32,
            f.layers_key: 2,
            f.intermediate_key: 37,
            f.heads_key: 4,
            "max_position_embeddings": 512,
        }
        assert plan.read_shape(config, "c").num_layers == 2
    assert families.litert_names() == families.family_names()  # one layout serves them all


def test_every_builtin_profile_uses_registered_names() -> None:
    for p in profiles.load_builtin_profiles():
        scheme = schemes.get_scheme(p.quantize.scheme)
        for name in p.export.formats:
            fmt = formats.get_format(name)
            assert fmt.runtime in p.export.runtimes and name in scheme.formats
        assert p.bench.runner in runners.profile_runners()


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(
        EdgedistilError,
        match='Unknown scheme "full-int9" \\(did you mean "full-int8"\\?\\); known: float32',
    ):
        schemes.get_scheme("full-int9")
    with pytest.raises(
        EdgedistilError, match='Unknown format "onx".*; known: onnx, tflite, tflite-micro'
    ):
        formats.get_format("onx")
    with pytest.raises(ValueError, match="registered twice"):
        schemes.register_scheme(schemes.get_scheme("float32"))
