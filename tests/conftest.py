"""Shared fixtures: a CLI runner, tiny random BERT-family models built from configs (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

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


def write_profile(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read_json(text: str) -> Any:
    return json.loads(text)
