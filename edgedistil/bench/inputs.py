"""Real token inputs for a benchmark: text tokenised on the host, shipped as ``.npy`` files.

The host turns the text into ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64,
one row per sentence, padded to the sequence length) and the board script casts them to what the
model declares. Where the artifact carries its tokenizer (its files beside it, or --tokenizer),
the text and those files travel too (``write_text``): the board tokenises the sentences itself,
timed apart from inference, and returns a sha256 of each sentence's ids that ``check_tokenized``
compares with the host's, so a board that fed other tokens is an error, not a measurement.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.data import SAMPLE_TEXT, TextInput, is_words, read_examples
from edgedistil.errors import BenchError
from edgedistil.tokens import VOCABULARIES, copy_tokenizer

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_ROWS = 32  # enough distinct sentences that no one input's length shapes the timing
DEFAULT_SEQUENCE_LENGTH = 128  # without a target: sentence-level text fits in 128 tokens
TEXT_FILE = "sentences.jsonl"  # one JSON string a line: any character of a sentence survives


def default_text() -> Path | None:
    """``calibration/sentences.txt`` beside the package (a source checkout), or None."""
    return SAMPLE_TEXT if SAMPLE_TEXT.is_file() else None


def locate_text(text: Path | None) -> Path:
    if text is not None:
        return text
    found = default_text()
    if found is None:
        raise BenchError(
            "No text to tokenise: calibration/sentences.txt is not beside this installation "
            "of edgedistil; give --text FILE (one sentence a line)"
        )
    return found


def locate_tokenizer(artifact: Path, explicit: Path | None) -> Path:
    """--tokenizer, else a tokenizer beside the artifact, else the default teacher's."""
    if explicit is not None:
        if not _has_tokenizer(explicit):
            raise BenchError(
                f"--tokenizer {explicit}: no tokenizer files there (one of {_expected()}); give "
                "the directory of the student's (or teacher's) tokenizer"
            )
        return explicit
    if _has_tokenizer(artifact.parent):
        return artifact.parent
    from edgedistil.teacher import default_teacher_dir

    return default_teacher_dir()


def _has_tokenizer(directory: Path) -> bool:
    return any(all((directory / f).is_file() for f in files) for files in VOCABULARIES)


def _expected() -> str:
    return ", ".join(" + ".join(files) for files in VOCABULARIES)


def read_sentences(path: Path, rows: int) -> list[TextInput]:
    """The first ``rows`` texts of a .txt, .tsv/.csv or .jsonl file (edgedistil.data's rules):
    (text, pair) tuples when the file holds text pairs, tokenised as one sequence each."""
    return read_examples(path).inputs[:rows]


def tokenize(
    tokenizer_dir: Path, sentences: list[TextInput], sequence_length: int
) -> dict[str, np.ndarray]:
    """int64 ``input_ids``, ``attention_mask``, ``token_type_ids`` of shape (rows, length)."""
    import numpy as np

    tokenizer = _load_tokenizer(tokenizer_dir)
    _check_fits(tokenizer_dir, tokenizer.get_vocab_size(with_added_tokens=True))
    pad_id = next((i for t in ("[PAD]", "<pad>") if (i := tokenizer.token_to_id(t)) is not None), 0)
    tokenizer.enable_truncation(max_length=sequence_length)
    tokenizer.enable_padding(length=sequence_length, pad_id=pad_id)
    encoded = tokenizer.encode_batch(sentences, is_pretokenized=is_words(sentences))
    return {
        "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
    }


def _load_tokenizer(directory: Path) -> Any:
    from tokenizers import BertWordPieceTokenizer, Tokenizer

    try:
        if (directory / "tokenizer.json").is_file():
            return Tokenizer.from_file(str(directory / "tokenizer.json"))
        if (directory / "vocab.txt").is_file():
            config = _tokenizer_config(directory)
            return BertWordPieceTokenizer(
                str(directory / "vocab.txt"),
                lowercase=bool(config.get("do_lower_case", True)),
                strip_accents=config.get("strip_accents"),
                handle_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
            )
        if _has_tokenizer(directory):  # BPE or SentencePiece files: transformers reads them
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(
                str(directory), local_files_only=True
            ).backend_tokenizer
    # tokenizers raises its own Exception subclass on a bad file, transformers any of several
    except Exception as exc:
        raise BenchError(f"Tokenizer in {directory} cannot be loaded: {exc}") from None
    raise BenchError(
        f"No tokenizer in {directory}: expected one of {_expected()}; give --tokenizer DIR"
    )


def _check_fits(directory: Path, size: int) -> None:
    """A student folder's tokenizer gives only ids its embedding table has rows for."""
    from edgedistil.teacher import read_config
    from edgedistil.tokens import check_size

    if (directory / "config.json").is_file():
        check_size(directory, size, read_config(directory).get("vocab_size"), error=BenchError)


def _tokenizer_config(directory: Path) -> dict[str, Any]:
    """tokenizer_config.json (do_lower_case, strip_accents ...), {} when absent or unreadable:
    uncased BERT's defaults. The board script reads the same keys the same way."""
    try:
        config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def write_inputs(arrays: dict[str, np.ndarray], directory: Path) -> Path:
    import numpy as np

    for name, array in arrays.items():
        np.save(directory / f"{name}.npy", array, allow_pickle=False)
    return directory


def text_mode_refusal(
    artifact: Path, tokenizer_dir: Path, explicit: Path | None, sentences: list[TextInput]
) -> str | None:
    """Why the board cannot be fed the raw text, or None when it can: the artifact carries its
    tokenizer (or --tokenizer names one) and every input is one plain sentence."""
    if explicit is None and tokenizer_dir != artifact.parent:
        return f"the artifact carries no tokenizer (none beside {artifact.name}; give --tokenizer)"
    if not all(isinstance(s, str) for s in sentences):
        return "the text holds sentence pairs or word lists; only plain sentences go as text"
    return None


def write_text(sentences: list[TextInput], tokenizer_dir: Path, directory: Path) -> str:
    """The sentences as ``sentences.jsonl`` and the tokenizer's files, under their own fixed
    names, in ``directory`` (shipped with the ids); the text file's name."""
    lines = [json.dumps(s, ensure_ascii=False) for s in sentences]
    (directory / TEXT_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    copy_tokenizer(tokenizer_dir, directory)
    return TEXT_FILE


def digests(arrays: dict[str, np.ndarray]) -> list[str]:
    """Per sentence, sha256 of its ids then its mask as little-endian int32: what the board
    script's ``digest`` computes from the ids it made."""
    import hashlib

    import numpy as np

    out = []
    for ids, mask in zip(arrays["input_ids"], arrays["attention_mask"], strict=True):
        data = np.asarray(ids, dtype="<i4").tobytes() + np.asarray(mask, dtype="<i4").tobytes()
        out.append(hashlib.sha256(data).hexdigest())
    return out


def check_tokenized(label: str, result: dict[str, Any], expected: list[str]) -> dict[str, Any]:
    """The board's result with its tokenisation checked against the host's ids: a sentence whose
    ids differ is a ``BenchError`` (the board timed the model on other tokens); the digests give
    way to how many sentences agreed. Not measured: one warning saying why."""
    report = result.get("tokenize")
    if not isinstance(report, dict):
        return not_measured(result, "the board reported no tokenisation")
    if not report.get("measured"):
        log.warning("Board %s: tokenisation not measured: %s", label, report.get("reason"))
        return result
    found = report.get("digests")
    if not isinstance(found, list) or len(found) != len(expected):
        raise BenchError(
            f"Board {label}: returned {len(found) if isinstance(found, list) else 'no'} "
            f"token digests for {len(expected)} sentences; is board_script.py from another "
            "edgedistil version?"
        )
    differ = sum(a != b for a, b in zip(found, expected, strict=True))
    if differ:
        raise BenchError(
            f"Board {label}: its tokenizer ({report.get('tokenizer')}) gave other ids than the "
            f"host's on {differ} of {len(expected)} sentences; a benchmark fed other tokens does "
            "not measure the model: check the tokenizer files on the board"
        )
    checked = {k: v for k, v in report.items() if k != "digests"}
    return {**result, "tokenize": {**checked, "ids_match_host": len(expected)}}


def not_measured(result: dict[str, Any], reason: str) -> dict[str, Any]:
    """A result that did not tokenise on the board says so, once, in the same key."""
    if "tokenize" in result:
        return result
    return {**result, "tokenize": {"measured": False, "reason": reason}}
