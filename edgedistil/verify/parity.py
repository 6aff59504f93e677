"""Does the ONNX file compute what the PyTorch student computes? Measured on real text.

The same token ids go through both; the largest absolute difference is reported with argmax
agreement (a classifier) or the lowest cosine (an embedding). A file that misses the limits
below is refused, never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgedistil.data import TextInput, read_examples

if TYPE_CHECKING:
    import torch

# fp32 kernels differ in summation order: 1e-5 is typical, 1e-3 still means the same model.
MAX_ABS_DIFF = 1e-3
MIN_COSINE = 0.9999  # an embedding may not turn by more than ~0.8 degrees
MIN_AGREEMENT = 1.0  # every parity sentence must keep its class
# A file that takes raw text (MediaPipe metadata in a .tflite, the ONNX text model) against the
# host path (the Hugging Face tokenizer's ids into the same model), on eval sentences: its
# tokenizer may part from Hugging Face's on rare text, so the bars are on the outputs.
RAW_TEXT_AGREEMENT = 0.995  # a classifier: share of sentences with the host path's class
RAW_TEXT_COSINE = 0.999  # an embedding: mean cosine to the host path's embedding
PARITY_SENTENCES = 32  # enough to cover short and long lines of the sample text; cheap to run


@dataclass(frozen=True, kw_only=True)
class Parity:
    sentences: int
    max_abs_diff: float
    agreement: float | None  # classification
    min_cosine: float | None  # embedding

    @property
    def passed(self) -> bool:
        if self.max_abs_diff > MAX_ABS_DIFF:
            return False
        if self.agreement is not None and self.agreement < MIN_AGREEMENT:
            return False
        return self.min_cosine is None or self.min_cosine >= MIN_COSINE

    def describe(self) -> str:
        extra = (
            f"argmax agreement {self.agreement:.4f} (needs {MIN_AGREEMENT})"
            if self.agreement is not None
            else f"min cosine {self.min_cosine:.6f} (needs >= {MIN_COSINE})"
        )
        return (
            f"max abs difference {self.max_abs_diff:.2e} (needs <= {MAX_ABS_DIFF:.0e}), {extra} "
            f"on {self.sentences} sentences"
        )


def parity_texts(path: Path, pairs: bool = False) -> list[TextInput]:
    """The first sentences of ``path``: (text, pair) tuples for a model that takes pairs."""
    return read_examples(path, pairs=pairs).inputs[:PARITY_SENTENCES]


def torch_outputs(graph: torch.nn.Module, arrays: dict[str, np.ndarray]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        result = graph(*(torch.from_numpy(a) for a in arrays.values()))
    out: np.ndarray = result.numpy()
    return out


def onnx_outputs(path: Path, arrays: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort  # type: ignore[import-untyped]

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(None, arrays)[0]
    return out


def compare(reference: np.ndarray, candidate: np.ndarray, task: str) -> Parity:
    diff = float(np.max(np.abs(reference - candidate)))
    if task != "embedding":  # logits: a class a sentence, or a class a token
        agree = float(np.mean(reference.argmax(-1) == candidate.argmax(-1)))
        return Parity(sentences=len(reference), max_abs_diff=diff, agreement=agree, min_cosine=None)
    return Parity(
        sentences=len(reference),
        max_abs_diff=diff,
        agreement=None,
        min_cosine=float(np.min(cosines(reference, candidate))),
    )


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    # max: a zero vector against a zero vector counts as identical, not as a division by zero
    result: np.ndarray = np.sum(a * b, axis=-1) / np.maximum(norms, 1e-12)
    return result
