"""Which bench results may stand for a target's device: pure rules on hand-made facts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgedistil import profiles
from edgedistil.bench import machine
from edgedistil.bench.machine import RanOn
from edgedistil.errors import BenchError
from tests.conftest import write_profile

PHONE = profiles.load_profile("android-phone")  # arm64, runner adb
PI4 = profiles.load_profile("raspberry-pi-4")  # arm64, runner ssh


def _ran_on(**kw: object) -> RanOn:
    facts: dict[str, object] = {
        "runner": "adb",
        "board": "R58M12ABCDE",
        "machine": "aarch64",
        "architecture": "arm64",
        "cpu_model": "Cortex-A78",
        "cores": 8,
        "os": "Android 5.10",
    }
    return RanOn(**{**facts, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("machine_name", "architecture"),
    [("x86_64", "x86_64"), ("AMD64", "x86_64"), ("aarch64", "arm64"), ("arm64", "arm64"),
     ("armv7l", "armv7"), ("armv8l", "armv7"), ("", None)],
)  # fmt: skip
def test_machine_names_in_the_profiles_words(machine_name: str, architecture: str | None) -> None:
    assert machine.architecture_of(machine_name) == architecture


def test_the_profiles_own_runner_on_its_architecture_counts() -> None:
    assert machine.off_target(_ran_on(), PHONE) is None
    assert machine.off_target(_ran_on(runner="ssh", board="pi@10.0.0.7"), PI4) is None


def test_a_build_host_is_not_the_phone() -> None:
    host = _ran_on(runner="local", board="localhost", machine="x86_64", architecture="x86_64")
    why = machine.off_target(host, PHONE)
    assert why == "not on the target (arm64 Cortex-A78 x2 + Cortex-A55 x6): counts as unmeasured"
    # Declaring it the target does not make an x86 host a phone.
    assert machine.off_target(dataclasses.replace(host, host_is_target=True), PHONE) == why


def test_a_local_host_of_the_targets_architecture_counts_only_when_declared() -> None:
    host = _ran_on(runner="local", board="localhost", cpu_model="Cortex-A72", cores=4)
    assert "not declared to be the target" in str(machine.off_target(host, PI4))
    assert machine.off_target(dataclasses.replace(host, host_is_target=True), PI4) is None


def test_another_runner_is_another_kind_of_device() -> None:
    # A Pi over ssh is arm64 too, but it is not the phone that the adb profile names.
    pi = _ran_on(runner="ssh", board="pi@10.0.0.7")
    assert "not through the target's runner (adb)" in str(machine.off_target(pi, PHONE))


def test_a_profile_whose_runner_is_local_counts_a_host_of_its_architecture(
    tmp_path: Path,
) -> None:
    # The Pi's profile with the local runner: the target is the machine running edgedistil.
    # (Written whole: host_env, inherited through extends, is only allowed with ssh or adb.)
    pi4 = (Path(profiles.__file__).parent / "_targets" / "raspberry-pi-4.toml").read_text()
    text = pi4.replace('name = "raspberry-pi-4"', 'name = "arm-server"')
    text = text.replace('runner = "ssh"', 'runner = "local"')
    text = text.replace('host_env = "EDGEDISTIL_PI4_HOST"', "")
    profile = profiles.load_profile(str(write_profile(tmp_path / "arm-server.toml", text)))
    host = _ran_on(runner="local", board="localhost")
    assert machine.off_target(host, profile) is None
    x86 = dataclasses.replace(host, machine="x86_64", architecture="x86_64")
    assert "not on the target" in str(machine.off_target(x86, profile))


def test_facts_come_from_the_board_scripts_report() -> None:
    result = {
        "board": {
            "machine": "aarch64",
            "cpu_model": "ARM implementer 0x41 part 0xd41",
            "cores": 8,
            "system": "Android",
            "kernel": "5.10.43",
        }
    }
    ran_on = machine.ran_on(
        runner="adb", address=None, label="adb-default", result=result, host_is_target=False
    )
    assert ran_on.board == "adb-default" and ran_on.architecture == "arm64"
    assert ran_on.os == "Android 5.10.43" and ran_on.cores == 8
    assert machine.parse(ran_on.to_dict()) == ran_on
    assert machine.parse(None) is None and machine.parse({"board": "x"}) is None


def test_host_is_target_needs_the_local_runner_and_the_architecture() -> None:
    with pytest.raises(BenchError, match='needs --runner local, not "ssh"'):
        machine.check_host_is_target("ssh", PI4)
    with pytest.raises(BenchError, match=r"this host is x86_64 .*architecture is arm64"):
        machine.check_host_is_target("local", PI4, machine="x86_64")
    machine.check_host_is_target("local", PI4, machine="aarch64")
    machine.check_host_is_target("local", None, machine="x86_64")
