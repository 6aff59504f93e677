"""Real token inputs for a benchmark: text tokenised on the host, shipped as ``.npy`` files.

Boards get no tokenizer: the host turns the text into ``input_ids``, ``attention_mask`` and
``token_type_ids`` (int64, one row per sentence, padded to the sequence length) and the board
script casts them to what the model declares.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.data import SAMPLE_TEXT, TextInput, is_words, read_examples
from edgedistil.errors import BenchError
from edgedistil.tokens import VOCABULARIES

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_ROWS = 32  # enough distinct sentences that no one input's length shapes the timing
DEFAULT_SEQUENCE_LENGTH = 128  # without a target: sentence-level text fits in 128 tokens


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
            return BertWordPieceTokenizer(
                str(directory / "vocab.txt"), lowercase=_lowercase(directory)
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


def _lowercase(directory: Path) -> bool:
    """tokenizer_config.json's do_lower_case; True (uncased BERT) when it does not say."""
    try:
        config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return bool(config.get("do_lower_case", True)) if isinstance(config, dict) else True


def write_inputs(arrays: dict[str, np.ndarray], directory: Path) -> Path:
    import numpy as np

    for name, array in arrays.items():
        np.save(directory / f"{name}.npy", array, allow_pickle=False)
    return directory
