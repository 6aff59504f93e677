from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edgedistil import profiles
from edgedistil.cli import cli
from edgedistil.errors import ProfileError
from tests.conftest import error_line, write_profile

TARGETS = Path(__file__).resolve().parent.parent / "targets"
TARGET_FILES = sorted(TARGETS.glob("*.toml"))


def test_the_built_in_targets_are_the_files_in_targets() -> None:
    # The package ships targets/ through the edgedistil/_targets link: both must list the same.
    assert TARGET_FILES, f"no target files in {TARGETS}"
    assert profiles.builtin_names() == [path.stem for path in TARGET_FILES]


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_every_target_file_loads(path: Path) -> None:
    by_name = profiles.load_profile(path.stem)
    by_path = profiles.load_profile(str(path))
    assert by_name == profiles.load_profile(path.stem)
    assert by_name.name == path.stem == by_path.name
    assert by_name.device == by_path.device and by_name.budgets == by_path.budgets
    assert by_name.budgets.max_model_bytes > 0
    assert by_name.bench.threads <= by_name.device.cores


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_every_number_in_a_target_carries_its_reason(path: Path) -> None:
    data = tomllib.loads(path.read_text())
    numeric = {
        k
        for t in data.values()
        if isinstance(t, dict)
        for k, v in t.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    lines = path.read_text().splitlines()
    for key in numeric:
        line = next(x for x in lines if x.split("=")[0].strip() == key)
        assert "#" in line, f"{path.name}: {key} has no comment giving its reason"


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_every_target_judges_what_ships_against_the_teacher(path: Path) -> None:
    budget = profiles.load_profile(path.stem).budgets.max_drop_vs_teacher
    # Set, and no looser than what a one-epoch demo student reaches (cosine ~0.6: drop ~0.4).
    assert budget is not None and 0 < budget < 0.4


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_the_drop_vs_teacher_has_a_meaning_for_every_kind(tmp_path: Path, path: Path) -> None:
    mine = write_profile(
        tmp_path / "mine.toml", f'extends = "{path.stem}"\n[budgets]\nmax_drop_vs_teacher = 0.5\n'
    )
    assert profiles.load_profile(str(mine)).budgets.max_drop_vs_teacher == 0.5


def test_a_profile_of_ones_own_may_leave_the_drop_vs_teacher_unset(tmp_path: Path) -> None:
    text = profiles.load_profile("raspberry-pi-4").source.read_text()
    lines = [line for line in text.splitlines() if not line.startswith("max_drop_vs_teacher")]
    path = write_profile(tmp_path / "own.toml", "\n".join(lines).replace("raspberry-pi-4", "own"))
    assert profiles.load_profile(str(path)).budgets.max_drop_vs_teacher is None


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_microcontrollers_carry_flash_and_arena_budgets(path: Path) -> None:
    p = profiles.load_profile(path.stem)
    assert p.device.is_microcontroller == ("tflite-micro" in p.export.formats)
    if p.device.is_microcontroller:
        assert p.export.formats == ("tflite-micro",) and p.quantize.scheme == "full-int8"
        assert p.budgets.max_arena_bytes and p.budgets.max_flash_bytes


def _error(tmp_path: Path, text: str, name: str = "mine.toml") -> str:
    path = write_profile(tmp_path / name, text)
    with pytest.raises(ProfileError) as info:
        profiles.load_profile(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert name in message
    return message


PI4 = 'extends = "raspberry-pi-4"\n'


def test_extends_overrides_one_key_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write_profile(tmp_path / "fast-pi.toml", PI4 + "[export]\nsequence_length = 64\n")
    p = profiles.load_profile(str(path))
    base = profiles.load_profile("raspberry-pi-4")
    assert p.name == "fast-pi" and p.extends == "raspberry-pi-4"
    assert p.export.sequence_length == 64
    assert p.export.formats == base.export.formats and p.budgets == base.budgets


def test_extends_a_file_by_relative_path(tmp_path: Path) -> None:
    write_profile(tmp_path / "base.toml", PI4 + "[budgets]\nmax_model_bytes = 5_000_000\n")
    child = write_profile(tmp_path / "child.toml", 'extends = "base.toml"\n[bench]\nthreads = 2\n')
    p = profiles.load_profile(str(child))
    assert p.budgets.max_model_bytes == 5_000_000 and p.bench.threads == 2


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    message = _error(tmp_path, PI4 + "[export]\nsequence_lenght = 64\n")
    assert 'unknown key "sequence_lenght" in [export]' in message
    assert 'did you mean "sequence_length"' in message
    assert "allowed: runtimes, formats, sequence_length, input_dtype" in message


def test_unknown_section(tmp_path: Path) -> None:
    message = _error(tmp_path, PI4 + "[budget]\nmax_model_bytes = 1\n")
    assert 'unknown key "budget" at the top level (did you mean "budgets"?)' in message


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        (
            "export",
            "sequence_length = 0",
            "[export].sequence_length = 0: must be an integer from 1 to 8192",
        ),
        ("export", 'sequence_length = "64"', '[export].sequence_length = "64": must be an integer'),
        (
            "budgets",
            "max_model_bytes = -5",
            "[budgets].max_model_bytes = -5: must be an integer >= 1",
        ),
        (
            "budgets",
            "max_accuracy_drop = 1.5",
            "[budgets].max_accuracy_drop = 1.5: must be a number from 0.0 to 1.0",
        ),
        (
            "budgets",
            "max_drop_vs_teacher = 1.5",
            "[budgets].max_drop_vs_teacher = 1.5: must be a number from 0.0 to 1.0",
        ),
        (
            "budgets",
            "max_drop_vs_teacher = -0.1",
            "[budgets].max_drop_vs_teacher = -0.1: must be a number from 0.0 to 1.0",
        ),
        (
            "budgets",
            'max_drop_vs_teacher = "20%"',
            '[budgets].max_drop_vs_teacher = "20%": must be a number from 0.0 to 1.0',
        ),
        ("bench", "threads = true", "[bench].threads = true: must be an integer"),
        (
            "quantize",
            'scheme = "int4"',
            '[quantize].scheme = "int4": must be one of float32, float16, dynamic-int8',
        ),
        ("quantize", 'scheme = "dynamic_int8"', 'did you mean "dynamic-int8"'),
        ("export", 'formats = ["onnx", "tflit"]', 'unknown "tflit" (did you mean "tflite"?)'),
        ("export", "formats = []", "[export].formats = []: must name at least one of"),
        (
            "bench",
            'runner = "sssh"',
            '[bench].runner = "sssh": must be one of adb, local, none, qemu, ssh '
            '(did you mean "ssh"?)',
        ),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(
    tmp_path: Path, section: str, line: str, expected: str
) -> None:
    assert expected in _error(tmp_path, PI4 + f"[{section}]\n{line}\n")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('runtime_versions = ["litert>=1.4"]', '"litert>=1.4": expected runtime==version'),
        ('runtime_versions = ["tensorrt==10.0"]', '"tensorrt==10.0": expected runtime==version'),
        (
            'runtime_versions = ["litert==1.4.0", "litert==1.3.0"]',
            '"litert==1.3.0": named twice',
        ),
    ],
)
def test_runtime_versions_name_each_runtime_once(tmp_path: Path, line: str, expected: str) -> None:
    assert expected in _error(tmp_path, PI4 + f"[export]\n{line}\n")


def test_a_profile_narrowing_the_runtimes_keeps_the_versions_it_inherits(tmp_path: Path) -> None:
    """TOML cannot unset the Pi's litert==1.4.0; an ONNX-only Pi just does not use it."""
    path = write_profile(
        tmp_path / "onnx.toml", PI4 + '[export]\nruntimes = ["onnxruntime"]\nformats = ["onnx"]\n'
    )
    assert "litert==1.4.0" in profiles.load_profile(str(path)).export.runtime_versions


def test_the_pi_names_the_runtimes_its_os_installs() -> None:
    """Raspberry Pi OS bookworm pip-installs ai-edge-litert 1.4.0 at most (no 2.x aarch64 wheel)."""
    for name in ("raspberry-pi-4", "raspberry-pi-5", "raspberry-pi-zero-2w"):
        versions = profiles.load_profile(name).export.runtime_versions
        assert versions == ("onnxruntime==1.32.0", "litert==1.4.0"), name
    assert "runtime_versions" not in profiles.load_profile("android-phone").to_dict()["export"]


def test_a_format_the_runtimes_cannot_load(tmp_path: Path) -> None:
    message = _error(tmp_path, PI4 + '[export]\nruntimes = ["onnxruntime"]\n')
    assert '"tflite" cannot be loaded by the runtimes ["onnxruntime"]' in message


def test_a_microcontroller_asking_for_dynamic_quantization(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        'extends = "cortex-m7"\n[quantize]\nscheme = "dynamic-int8"\nactivations = "int8"\n',
    )
    assert '[quantize].scheme = "dynamic-int8": format tflite-micro cannot carry it' in message
    assert "no dynamic-range kernels" in message


def test_a_microcontroller_cannot_run_onnx_runtime(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        'extends = "cortex-m7"\n[export]\nruntimes = ["onnxruntime"]\nformats = ["onnx"]\n',
    )
    assert '"onnxruntime" does not run on a microcontroller' in message


def test_activations_must_suit_the_scheme(tmp_path: Path) -> None:
    message = _error(tmp_path, 'extends = "cortex-m7"\n[quantize]\nactivations = "uint8"\n')
    assert '[quantize].activations = "uint8": scheme full-int8 allows int8' in message


def test_ssh_runner_needs_an_environment_variable_not_an_address(tmp_path: Path) -> None:
    message = _error(tmp_path, PI4 + '[bench]\nhost_env = "pi@192.168.1.20"\n')
    assert "must be an environment variable name" in message


def test_threads_beyond_the_cores(tmp_path: Path) -> None:
    assert "more than the device's 4 cores" in _error(tmp_path, PI4 + "[bench]\nthreads = 8\n")


def test_a_budget_the_device_cannot_hold(tmp_path: Path) -> None:
    message = _error(tmp_path, 'extends = "cortex-m7"\n[budgets]\nmax_arena_bytes = 4_000_000\n')
    assert "[budgets].max_arena_bytes = 4_000_000: more than the device has" in message


@pytest.mark.parametrize(
    ("parent", "key", "kind"),
    [
        ("android-phone", "max_arena_bytes", "phone"),
        ("raspberry-pi-4", "max_flash_bytes", "linux-board"),
        ("wear-os-watch", "max_arena_bytes", "watch"),
        ("esp32-s3", "max_peak_rss_bytes", "microcontroller"),
    ],
)
def test_a_budget_with_no_meaning_for_the_kind(
    tmp_path: Path, parent: str, key: str, kind: str
) -> None:
    message = _error(tmp_path, f'extends = "{parent}"\n[budgets]\n{key} = 524_288\n')
    assert f'[budgets].{key} = 524_288: no meaning for kind "{kind}"' in message
    allowed = message.split(f"budgets allowed for a {kind}: ")[1].split(", ")
    assert key not in allowed and "max_model_bytes" in allowed


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = _error(
        tmp_path, PI4 + "[export]\nsequence_length = 0\n[budgets]\nmax_model_bytes = -1\n"
    )
    assert "2 problems" in message
    assert "sequence_length = 0" in message and "max_model_bytes = -1" in message


def test_missing_sections_and_keys(tmp_path: Path) -> None:
    message = _error(tmp_path, 'description = "half a profile"\n[device]\nkind = "phone"\n')
    assert "[device].cpu is missing" in message
    assert "[export] is missing" in message


def test_problem_in_the_parent_is_blamed_on_the_parent(tmp_path: Path) -> None:
    write_profile(tmp_path / "parent.toml", PI4 + "[bench]\nthreds = 2\n")
    write_profile(tmp_path / "child.toml", 'extends = "parent.toml"\n')
    with pytest.raises(ProfileError, match=r"parent\.toml: unknown key \"threds\""):
        profiles.load_profile(str(tmp_path / "child.toml"))


def test_extends_cycle(tmp_path: Path) -> None:
    write_profile(tmp_path / "a.toml", 'extends = "b.toml"\n')
    write_profile(tmp_path / "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(ProfileError, match="extends forms a cycle"):
        profiles.load_profile(str(tmp_path / "a.toml"))


def test_extends_unknown_target(tmp_path: Path) -> None:
    message = _error(tmp_path, 'extends = "raspberry-pi-3"\n')
    assert 'Unknown target "raspberry-pi-3"' in message and "did you mean" in message


def test_misspelt_target_name_gets_did_you_mean() -> None:
    with pytest.raises(ProfileError) as info:
        profiles.load_profile("raspbery-pi-4")
    assert 'Unknown target "raspbery-pi-4" (did you mean "raspberry-pi-4"?)' in str(info.value)
    assert "known targets: android-phone, cortex-m7" in str(info.value)


def test_missing_file_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="Profile file not found"):
        profiles.load_profile(str(tmp_path / "nope.toml"))
    assert "not valid TOML" in _error(tmp_path, "[device\nkind = 1\n")


def test_a_new_scheme_does_not_inherit_the_parents_quantize_keys(tmp_path: Path) -> None:
    path = write_profile(
        tmp_path / "dyn.toml", 'extends = "raspberry-pi-5"\n[quantize]\nscheme = "dynamic-int8"\n'
    )
    p = profiles.load_profile(str(path))
    assert p.quantize.scheme == "dynamic-int8" and p.quantize.activations is None
    assert profiles.load_profile("raspberry-pi-5").quantize.activations == "uint8"


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_every_onnx_target_says_which_graph_it_runs(path: Path) -> None:
    profile = profiles.load_profile(str(path))
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    if "onnx" in profile.export.formats:
        assert raw["export"]["onnx_graph"] in ("fused", "plain")
    else:
        assert "onnx_graph" not in raw["export"]


def test_onnx_graph_only_with_the_onnx_format(tmp_path: Path) -> None:
    message = _error(tmp_path, 'extends = "wear-os-watch"\n[export]\nonnx_graph = "fused"\n')
    assert '[export].onnx_graph = "fused": only allowed when [export].formats lists "onnx"' in (
        message
    )


def test_onnx_graph_takes_fused_or_plain(tmp_path: Path) -> None:
    message = _error(tmp_path, PI4 + '[export]\nonnx_graph = "fast"\n')
    assert '[export].onnx_graph = "fast": must be one of fused, plain' in message


def test_text_input_is_a_bool_for_onnx_targets_only(tmp_path: Path) -> None:
    on = write_profile(tmp_path / "on.toml", PI4 + "[export]\ntext_input = true\n")
    assert profiles.load_profile(str(on)).export.text_input is True
    # Off (the default), the key stays out of the profile's dict: stage keys and the profile a
    # build folder recorded do not change for a profile that never set it.
    assert "text_input" not in profiles.load_profile("raspberry-pi-4").to_dict()["export"]
    assert profiles.load_profile(str(on)).to_dict()["export"]["text_input"] is True
    message = _error(tmp_path, PI4 + '[export]\ntext_input = "yes"\n')
    assert '[export].text_input = "yes": must be true or false' in message
    message = _error(tmp_path, 'extends = "wear-os-watch"\n[export]\ntext_input = true\n')
    assert "[export].text_input = true: only allowed when [export].formats lists" in message


# ---- a device of another kind (issue 16): every pair of kinds, one Error line each ----

KIND_OF = {
    "linux-board": "raspberry-pi-4",
    "phone": "android-phone",
    "watch": "wear-os-watch",
    "microcontroller": "cortex-m7",
}
KIND_PAIRS = [(old, new) for old in KIND_OF for new in KIND_OF if old != new]
MCU = "microcontroller"


def _needed_by(old: str, new: str) -> list[str]:
    """What a profile of kind ``old`` lacks once it says ``kind = new``."""
    if new == MCU:
        return [
            f"[{section}].{key} is missing: required for a microcontroller"
            for section, key in (
                ("device", "flash_bytes"),
                ("device", "runtime_overhead_bytes"),
                ("budgets", "max_flash_bytes"),
                ("budgets", "max_arena_bytes"),
            )
        ]
    if old == MCU:
        return [
            f'[device].storage_bytes is missing: required for kind "{new}"',
            f'[budgets].max_peak_rss_bytes is missing: required for kind "{new}"',
            f'"tflite-micro" does not run on a {new}',
        ]
    return []  # a board, a phone and a watch need the same keys


def _shown(runner: CliRunner, path: Path) -> Result:
    return runner.invoke(cli, ["targets", "show", str(path)])


@pytest.mark.parametrize(("old", "new"), KIND_PAIRS, ids=[f"{o}->{n}" for o, n in KIND_PAIRS])
def test_extends_into_another_kind_of_device(
    runner: CliRunner, tmp_path: Path, old: str, new: str
) -> None:
    path = write_profile(
        tmp_path / "mine.toml", f'extends = "{KIND_OF[old]}"\n[device]\nkind = "{new}"\n'
    )
    result = _shown(runner, path)
    needed = _needed_by(old, new)
    if not needed:
        assert result.exit_code == 0, result.output
        assert profiles.load_profile(str(path)).device.kind == new
        return
    assert result.exit_code == 1
    line = error_line(result)
    assert "mine.toml" in line and all(n in line for n in needed), line


@pytest.mark.parametrize(("old", "new"), KIND_PAIRS, ids=[f"{o}->{n}" for o, n in KIND_PAIRS])
def test_a_profile_edited_into_another_kind_of_device(
    runner: CliRunner, tmp_path: Path, old: str, new: str
) -> None:
    text = (TARGETS / f"{KIND_OF[old]}.toml").read_text(encoding="utf-8")
    text = text.replace(f'kind = "{old}"', f'kind = "{new}"').replace(KIND_OF[old], "edited")
    result = _shown(runner, write_profile(tmp_path / "edited.toml", text))
    needed = _needed_by(old, new)
    if not needed:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1
    line = error_line(result)
    assert "edited.toml" in line and all(n in line for n in needed), line
    # What the old kind had and the new one cannot use is named too: the file still holds it.
    kept = "[device].storage_bytes = " if new == MCU else "[device].flash_bytes = "
    assert kept in line and "only allowed" in line


BOARD = """description = "a board of one's own, measured on the host"
[device]
kind = "linux-board"
cpu = "Cortex-A53"
architecture = "arm64"
cores = 4
memory_bytes = 1_073_741_824
storage_bytes = 16_000_000_000
[export]
runtimes = ["litert"]
formats = ["tflite"]
sequence_length = 64
[quantize]
scheme = "dynamic-int8"
[bench]
runner = "local"
threads = 4
[budgets]
max_model_bytes = 1_500_000
max_peak_rss_bytes = 100_000_000
max_accuracy_drop = 0.02
"""


def test_a_new_kind_inherits_none_of_the_keys_only_the_old_kind_has(tmp_path: Path) -> None:
    # TOML cannot unset a key: a board's storage and resident-set budget would otherwise stay on
    # a microcontroller that extends it, and no such file could ever load.
    write_profile(tmp_path / "board.toml", BOARD)
    text = (
        'extends = "board.toml"\n[device]\nkind = "microcontroller"\narchitecture = "armv7e-m"\n'
        "cores = 1\nmemory_bytes = 1_048_576\nflash_bytes = 2_097_152\n"
        "runtime_overhead_bytes = 196_608\n"
        '[export]\nruntimes = ["tflite-micro"]\nformats = ["tflite-micro"]\n'
        '[quantize]\nscheme = "full-int8"\n[bench]\nrunner = "none"\nthreads = 1\n'
        "[budgets]\nmax_flash_bytes = 2_000_000\nmax_arena_bytes = 500_000\n"
    )
    p = profiles.load_profile(str(write_profile(tmp_path / "mcu.toml", text)))
    assert p.device.kind == MCU and p.device.storage_bytes is None
    assert p.budgets.max_peak_rss_bytes is None and p.budgets.max_model_bytes == 1_500_000
    # A key of the old kind that the file writes itself is its own mistake, and is named.
    message = _error(tmp_path, text + "max_peak_rss_bytes = 100_000_000\n")
    assert '[budgets].max_peak_rss_bytes = 100_000_000: no meaning for kind "micro' in message


def test_keys_foreign_to_the_kind_in_the_parent_itself_are_still_refused(tmp_path: Path) -> None:
    # Only a child that changes the kind drops what the old kind had; restating it drops nothing.
    write_profile(tmp_path / "base.toml", BOARD.replace("storage_bytes", "flash_bytes"))
    message = _error(tmp_path, 'extends = "base.toml"\n[device]\nkind = "linux-board"\n')
    assert "[device].flash_bytes = 16_000_000_000: only allowed for a microcontroller" in message


def test_a_microcontroller_extended_into_a_phone_loads_once_it_says_what_a_phone_needs(
    tmp_path: Path,
) -> None:
    text = (
        'extends = "esp32-s3"\n[device]\nkind = "phone"\narchitecture = "arm64"\n'
        "memory_bytes = 6_442_450_944\nstorage_bytes = 128_000_000_000\n"
        '[export]\nruntimes = ["litert"]\nformats = ["tflite"]\n'
        '[quantize]\nscheme = "static-int8"\n'
        "[budgets]\nmax_peak_rss_bytes = 250_000_000\n"
    )
    p = profiles.load_profile(str(write_profile(tmp_path / "phone.toml", text)))
    assert p.device.kind == "phone" and p.device.flash_bytes is None
    assert p.device.psram_bytes == 0 and p.budgets.max_arena_bytes is None


# ---- a key the device's kind needs, dropped from a whole profile (issue 16) ----

KIND_KEYS = [
    (path.stem, key)
    for path in TARGET_FILES
    for key in ("storage_bytes", "flash_bytes", "runtime_overhead_bytes")
    if f"\n{key} = " in path.read_text(encoding="utf-8")
]


@pytest.mark.parametrize(("target", "key"), KIND_KEYS, ids=[f"{t}-{k}" for t, k in KIND_KEYS])
def test_a_key_the_kind_needs_dropped_from_a_target(
    runner: CliRunner, tmp_path: Path, target: str, key: str
) -> None:
    lines = (TARGETS / f"{target}.toml").read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.startswith(f"{key} ="))
    result = _shown(runner, write_profile(tmp_path / "mine.toml", text.replace(target, "mine")))
    assert result.exit_code == 1
    assert f"[device].{key} is missing: required for " in error_line(result)


def test_the_runtime_must_leave_flash_for_the_model(tmp_path: Path) -> None:
    message = _error(
        tmp_path, 'extends = "cortex-m7"\n[device]\nruntime_overhead_bytes = 3_000_000\n'
    )
    assert message.endswith(
        "mine.toml: [device].runtime_overhead_bytes = 3_000_000: not less than "
        "[device].flash_bytes = 2_097_152; the runtime must leave flash for the model"
    )


# ---- values TOML reads and no profile can hold ----


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("max_accuracy_drop = nan", "max_accuracy_drop = nan: must be a number from 0.0 to 1.0"),
        ("max_p95_latency_ms = inf", "max_p95_latency_ms = inf: must be a number >= 0.001"),
        ("max_drop_vs_teacher = -inf", "max_drop_vs_teacher = -inf: must be a number from"),
        (
            f"max_model_bytes = {2**63}",
            "max_model_bytes = 9_223_372_036_854_775_808: must be an integer >= 1; "
            "TOML integers are 64-bit",
        ),
    ],
)
def test_numbers_no_budget_can_hold(tmp_path: Path, line: str, expected: str) -> None:
    assert f"[budgets].{expected}" in _error(tmp_path, f"{PI4}[budgets]\n{line}\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PI4 + "[device]\ncores = " + "9" * 5000 + "\n", "not valid TOML: Exceeds the limit"),
        (PI4 + "x = " + "[" * 3000 + "]" * 3000 + "\n", "not valid TOML: nested too deeply"),
    ],
    ids=["an integer of 5000 digits", "arrays 3000 deep"],
)
def test_toml_past_the_readers_limits(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, text)


def test_a_key_that_would_break_the_line_is_escaped(runner: CliRunner, tmp_path: Path) -> None:
    path = write_profile(tmp_path / "mine.toml", PI4 + '"a\\u2028b\\u001e" = 1\n')
    result = _shown(runner, path)
    assert result.exit_code == 1
    assert 'unknown key "a\\u2028b\\u001e" at the top level' in error_line(result)


def test_a_value_too_long_to_read_is_cut(tmp_path: Path) -> None:
    message = _error(tmp_path, PI4 + f'[bench]\nrunner = "{"x" * 500}"\n')
    assert f'[bench].runner = "{"x" * 78}…: must be one of adb' in message


def test_extends_a_name_too_long_for_a_file(tmp_path: Path) -> None:
    message = _error(tmp_path, f'extends = "{"a" * 300}.toml"\n')
    assert "Profile file not found: " in message


def test_every_file_of_the_chain_is_reported_at_once(tmp_path: Path) -> None:
    write_profile(tmp_path / "parent.toml", PI4 + "[bench]\nthreds = 2\n")
    message = _error(tmp_path, 'extends = "parent.toml"\n[export]\nsequence_length = 0\n')
    assert "mine.toml: [export].sequence_length = 0: must be an integer from 1 to 8192; " in message
    assert 'parent.toml: unknown key "threds" in [bench] (did you mean "threads"?)' in message


def test_a_missing_parent_and_the_files_own_problems_at_once(tmp_path: Path) -> None:
    message = _error(tmp_path, 'extends = "nope.toml"\n[bench]\nthreads = 0\n')
    assert "mine.toml: [bench].threads = 0: must be an integer from 1 to 256" in message
    assert "Profile file not found: " in message and "nope.toml" in message


def test_extends_itself(tmp_path: Path) -> None:
    assert "extends forms a cycle" in _error(tmp_path, 'extends = "mine.toml"\n')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("extends = 5\n", "extends = 5: must be a string"),
        ("[device.kind]\nx = 1\n", "[device].kind = a table: must be one of linux-board"),
        ("device = 3\n", "device = 3: must be a table [device]"),
        ('[[device]]\nkind = "phone"\n', 'device = [{"kind": "phone"}]: must be a table [device]'),
        ("[export]\nformats = [1, 2]\n", "[export].formats = [1, 2]: must be one of onnx"),
        ("[bench]\nthreads = 1979-05-27\n", '[bench].threads = "1979-05-27": must be an integer'),
    ],
)
def test_a_value_of_the_wrong_shape(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, ("" if text.startswith("extends") else PI4) + text)


# ---- [estimate]: a microcontroller's per-kernel cycle ranges ----

M7 = 'extends = "cortex-m7"\n'
RANGE = "[low, high]: two numbers from 0.01 to 10_000, low <= high"


@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_every_microcontroller_prices_its_kernels_and_cites_each_figure(path: Path) -> None:
    p = profiles.load_profile(path.stem)
    assert (p.estimate is not None) == p.device.is_microcontroller
    if p.estimate is None:
        return
    lines = path.read_text().splitlines()
    for key, (low, high) in vars(p.estimate).items():
        assert 0 < low <= high
        at = next(i for i, x in enumerate(lines) if x.split("=")[0].strip() == key)
        # the comment above the key says where its figures come from, or how they are derived
        assert lines[at - 1].startswith("#"), f"{path.name}: {key} has no source above it"


def test_an_estimate_range_must_be_low_then_high(tmp_path: Path) -> None:
    for value in ("[2.0, 1.0]", "[1.0]", '["1", "2"]', "1.5", "[0.0, 1.0]", "[1.0, 1e9]"):
        message = _error(tmp_path, M7 + f"[estimate]\nmul_cycles_per_element = {value}\n")
        assert "[estimate].mul_cycles_per_element = " in message
        assert f"must be {RANGE}" in message


def test_an_estimate_key_nobody_knows_is_named(tmp_path: Path) -> None:
    message = _error(tmp_path, M7 + "[estimate]\nfully_conected_cycles_per_mac = [1, 2]\n")
    assert 'unknown key "fully_conected_cycles_per_mac" in [estimate]' in message
    assert 'did you mean "fully_connected_cycles_per_mac"' in message


def test_a_profile_of_ones_own_sets_every_estimate_key_or_none(tmp_path: Path) -> None:
    text = profiles.load_profile("cortex-m7").source.read_text()
    head, _, _ = text.partition("[estimate]")
    own = write_profile(tmp_path / "own.toml", head.replace('"cortex-m7"', '"own"'))
    assert profiles.load_profile(str(own)).estimate is None  # no section: no estimate
    partial = head + "[estimate]\nmul_cycles_per_element = [8, 20]\n"
    message = _error(tmp_path, partial.replace('"cortex-m7"', '"own"'), "partial.toml")
    assert "[estimate].fully_connected_cycles_per_mac is missing" in message


def test_an_estimate_needs_a_clock_and_a_microcontroller(tmp_path: Path) -> None:
    text = profiles.load_profile("cortex-m7").source.read_text()
    no_clock = "\n".join(x for x in text.splitlines() if not x.startswith("clock_mhz"))
    message = _error(tmp_path, no_clock.replace('"cortex-m7"', '"mine"'))
    assert "[device].clock_mhz is missing: required to turn [estimate]'s cycles into a time" in (
        message
    )
    pi = _error(tmp_path, PI4 + "[estimate]\nmul_cycles_per_element = [8, 20]\n", "pi.toml")
    assert '[estimate]: no meaning for kind "linux-board"' in pi


def test_a_child_keeps_or_overrides_the_parents_estimate(tmp_path: Path) -> None:
    base = profiles.load_profile("cortex-m7").estimate
    assert base is not None
    child = write_profile(
        tmp_path / "m7.toml", M7 + "[estimate]\nmul_cycles_per_element = [9, 9]\n"
    )
    p = profiles.load_profile(str(child))
    assert p.estimate is not None and p.estimate.mul_cycles_per_element == (9.0, 9.0)
    assert p.estimate.fully_connected_cycles_per_mac == base.fully_connected_cycles_per_mac
    assert p.to_dict()["estimate"]["mul_cycles_per_element"] == [9.0, 9.0]
    # another kind of device inherits no kernel costs of a microcontroller's
    phone = write_profile(
        tmp_path / "phone.toml",
        M7
        + '[device]\nkind = "phone"\nstorage_bytes = 1_000_000_000\nmemory_bytes = 4_000_000_000\n'
        '[export]\nruntimes = ["litert"]\nformats = ["tflite"]\n'
        '[quantize]\nscheme = "dynamic-int8"\n[budgets]\nmax_peak_rss_bytes = 100_000_000\n',
    )
    assert profiles.load_profile(str(phone)).estimate is None
    assert "estimate" not in profiles.load_profile("raspberry-pi-4").to_dict()


def test_a_target_may_say_how_its_student_is_distilled(tmp_path: Path) -> None:
    """[distill]: the build's epochs and the quantization-aware target when the command line
    does not say; a profile without it keeps the build's defaults and its recorded dict."""
    m7 = profiles.load_profile("cortex-m7")
    assert (m7.distill.epochs, m7.distill.qat_toward) == (6, "teacher")
    assert m7.to_dict()["distill"] == {"epochs": 6, "qat_toward": "teacher"}
    pi4 = profiles.load_profile("raspberry-pi-4")
    assert pi4.distill == profiles.Distill(epochs=profiles.DEFAULT_EPOCHS, qat_toward="float")
    assert "distill" not in pi4.to_dict()  # the build keys of such profiles stay as they were
    child = write_profile(tmp_path / "m7.toml", 'extends = "cortex-m7"\n[distill]\nepochs = 2\n')
    inherited = profiles.load_profile(str(child)).distill
    assert (inherited.epochs, inherited.qat_toward) == (2, "teacher")
    line = _error(tmp_path, PI4 + '[distill]\nqat_toward = "student"\n')
    assert '[distill].qat_toward = "student"' in line and "float, teacher" in line
    assert "[distill].epochs = 0" in _error(tmp_path, PI4 + "[distill]\nepochs = 0\n")
