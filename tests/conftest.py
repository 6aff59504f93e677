"""Shared fixtures: a CLI runner, tiny random BERT-family models built from configs (no network)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from edgedistil.bench.sysroot import cache_home

# The user's cache folder as the session found it: the qemu runner's arm64 root lives there
# (`make qemu`). Only tests that ask for it (tests/bench/test_qemu.py) see it.
USER_CACHE = cache_home()


@pytest.fixture(scope="session", autouse=True)
def _empty_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An empty cache folder for the whole session: a build for an arm64 target runs its
    arm-fidelity stage wherever the qemu root is prepared, and the suite must run the same
    stages on every machine. Session-wide and autouse, so set before any session fixture's
    build."""
    import os

    before = os.environ.get("EDGEDISTIL_CACHE")
    os.environ["EDGEDISTIL_CACHE"] = str(tmp_path_factory.getbasetemp() / "empty-cache")
    yield
    if before is None:
        os.environ.pop("EDGEDISTIL_CACHE", None)
    else:
        os.environ["EDGEDISTIL_CACHE"] = before


# The shape transformers' own BERT tests use: every code path, milliseconds to build.
TINY = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
}
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "the",
    "a",
    "is",
    "was",
    "good",
    "bad",
    "movie",
    "phone",
    "battery",
    "watch",
    "fast",
    "slow",
    "timer",
    "set",
    "for",
    "minutes",
    "light",
    "off",
    "on",
    "##s",
    "##ing",
    "##ed",
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def error_line(result: Result) -> str:
    """The single ``Error: ...`` line a failed command must print, and nothing else."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr!r}"
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def write_vocab(directory: Path, size: int) -> None:
    tokens = SPECIALS + WORDS
    tokens += [f"tok{i}" for i in range(size - len(tokens))]
    (directory / "vocab.txt").write_text("\n".join(tokens[:size]) + "\n", encoding="utf-8")


def write_word_lines(path: Path, count: int, seed: int) -> Path:
    """``count`` lines of 2-11 words from the tiny vocabulary's words: calibration and eval
    text every tokenizer of these tests reads without [UNK]."""
    import numpy as np

    words = "the movie was good bad phone battery fast slow timer set for minutes light off on"
    rng = np.random.default_rng(seed)
    vocab = words.split()
    lines = [" ".join(rng.choice(vocab, size=rng.integers(2, 12))) for _ in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def save_tiny(directory: Path, architecture: str = "BertModel", **overrides: Any) -> Path:
    """A tiny random model saved as a real Hugging Face directory (safetensors + tokenizer)."""
    import torch
    import transformers

    torch.manual_seed(0)
    model_class = getattr(transformers, architecture)
    config_class = model_class.config_class
    model = model_class(config_class(**{**TINY, **overrides}))
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory), safe_serialization=True)
    write_vocab(directory, model.config.vocab_size)
    return directory


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(
        tmp_path_factory.mktemp("tiny-cls"), "BertForSequenceClassification", num_labels=3
    )


def mask_filter_values(model: Any) -> dict[str, list[float | None]]:
    """op type -> mask_filter_value of each (Q)Attention node of an ONNX model (None: unset)."""
    from onnx import helper

    found: dict[str, list[float | None]] = {}
    for node in model.graph.node:
        if node.op_type in ("Attention", "QAttention"):
            values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            found.setdefault(node.op_type, []).append(values.get("mask_filter_value"))
    return found


def write_profile(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read_json(text: str) -> Any:
    return json.loads(text)


# ---- bench: tiny artifacts and a real OpenSSH server on 127.0.0.1 ----


@pytest.fixture(scope="session")
def tiny_onnx(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT as an fp32 ONNX file (dynamic batch and length), its vocab.txt beside it."""
    import shutil

    import torch
    import transformers

    model = transformers.BertModel.from_pretrained(str(tiny_bert), attn_implementation="eager")

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    wrapper = Encoder().eval()  # eval() on the wrapper too: export keeps its training flag
    directory = tmp_path_factory.mktemp("tiny-onnx")
    ids = torch.randint(5, TINY["vocab_size"], (1, 16))
    dynamic = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        wrapper,
        (ids, torch.ones_like(ids)),
        str(directory / "model.onnx"),
        dynamo=False,
        opset_version=17,
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic},
    )
    shutil.copyfile(tiny_bert / "vocab.txt", directory / "vocab.txt")
    return directory / "model.onnx"


@pytest.fixture(scope="session")
def tiny_tflite(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LiteRT model: embedding lookup, masked mean, dense; int32 ids of fixed length 16."""
    import shutil

    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    table = tf.constant(rng.standard_normal((TINY["vocab_size"], 16)).astype("float32"))
    dense = tf.constant(rng.standard_normal((16, 8)).astype("float32"))
    spec = [
        tf.TensorSpec([1, 16], tf.int32, name="input_ids"),
        tf.TensorSpec([1, 16], tf.int32, name="attention_mask"),
    ]

    @tf.function(input_signature=spec)
    def embed(input_ids: Any, attention_mask: Any) -> Any:
        mask = tf.cast(attention_mask, tf.float32)[..., None]
        pooled = tf.reduce_sum(tf.gather(table, input_ids) * mask, 1) / tf.reduce_sum(mask, 1)
        return {"embedding": tf.matmul(pooled, dense)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [embed.get_concrete_function()], embed
    )
    directory = tmp_path_factory.mktemp("tiny-tflite")
    (directory / "model.tflite").write_bytes(converter.convert())
    shutil.copyfile(tiny_bert / "vocab.txt", directory / "vocab.txt")
    return directory / "model.tflite"


@dataclass(frozen=True, kw_only=True)
class SshServer:
    """An sshd on 127.0.0.1 for this test session, and an ssh_config (``ssh -F``) to reach it."""

    port: int
    user: str
    root: Path
    config: Path
    board_tmp: Path  # the board's $TMPDIR (sent with SetEnv): every run's mktemp -d lands here

    @property
    def address(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def client_config(self, name: str, *, key: Path, known_hosts: Path) -> Path:
        path = self.root / name
        path.write_text(
            "Host *\n"
            f"  IdentityFile {key}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known_hosts}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            f"  SetEnv TMPDIR={self.board_tmp}\n",
            encoding="utf-8",
        )
        return path


def _sshd_binary() -> str | None:
    import shutil

    return shutil.which("sshd") or next(
        (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if Path(p).is_file()), None
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real OpenSSH server on a free port, with a host key and a user key made for this run.

    Skipped, with the reason shown, only when there is no sshd binary (.ci/run installs
    Debian's openssh-server). Anything else that stops it from starting fails the tests.
    """
    yield from _serve_ssh(tmp_path_factory.mktemp("sshd"), "Subsystem sftp internal-sftp\n")


@pytest.fixture(scope="session")
def sshd_without_sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """Like ``sshd``, without the SFTP subsystem (as on Dropbear or a minimal sshd)."""
    yield from _serve_ssh(tmp_path_factory.mktemp("sshd-no-sftp"), "")


def _serve_ssh(root: Path, extra: str) -> Iterator[SshServer]:
    import getpass
    import os
    import socket
    import subprocess
    import time

    binary = _sshd_binary()
    if binary is None:
        pytest.skip("no sshd binary: install openssh-server (apt-get install openssh-server)")
    for key in ("host_key", "user_key", "stranger_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)], check=True
        )
    (root / "authorized_keys").write_text((root / "user_key.pub").read_text())
    port = _free_port()
    (root / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPidFile {root / 'sshd.pid'}\n"
        "StrictModes no\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "AcceptEnv TMPDIR\n" + extra,
        encoding="utf-8",
    )
    if os.geteuid() == 0:  # root's sshd wants its privilege separation directory
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = (root / "sshd.log").open("w")
    process = subprocess.Popen(
        [binary, "-D", "-e", "-f", str(root / "sshd_config")], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            pytest.fail(f"sshd exited {process.returncode}: {(root / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"sshd did not listen: {(root / 'sshd.log').read_text()}")
            time.sleep(0.05)
    host_key = (root / "host_key.pub").read_text().split()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    board_tmp = root / "board-tmp"
    board_tmp.mkdir()
    server = SshServer(
        port=port, user=getpass.getuser(), root=root, config=root / "unused", board_tmp=board_tmp
    )
    config = server.client_config(
        "ssh_config", key=root / "user_key", known_hosts=root / "known_hosts"
    )
    yield dataclasses.replace(server, config=config)
    process.terminate()
    process.wait(timeout=10)
    log.close()


def torchrun_command(processes: int, *args: str) -> list[str]:
    """torch's own launcher for ``processes`` CPU processes on a free local port (torchrun's own
    --master_port=0 hangs here), running ``args`` (a script or an executable, and its options)."""
    import socket
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={processes}",
        f"--master_port={port}",
        "--master_addr=127.0.0.1",
        *args,
    ]
