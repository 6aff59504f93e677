"""A verified ``.tflite`` -> what a TFLite Micro firmware compiles in, with its memory measured.

- ``model_data.cc`` / ``model_data.h``: the model as a ``const`` byte array aligned to 16 bytes
  (TFLite Micro reads tensors in place from flash; its flatbuffer asks for 16-byte alignment),
  its length, and a comment with the model's sha256 so a board can be matched to its file.
- The tensor arena, MEASURED in the real TFLite Micro interpreter (the ``tflite-micro`` wheel):
  the smallest ``arena_size`` with which it allocates and runs the model, found by bisection to
  16 bytes (its allocation alignment). The Python wrapper has no ``arena_used_bytes``; the
  bisection is what a firmware engineer does by hand, done exactly (``micro_interpreter.py``).
- Flash: model bytes + the profile's ``[device].runtime_overhead_bytes`` + the generated C
  tokenizer's (``c_tokenizer``) when the build writes one beside the C array.
- Both against ``[budgets]``: a part that does not fit is data (the result says by how much),
  not an exception, as the release gate wants it.
- TFLite Micro's own output on eval text against the PyTorch reference.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistil import __version__
from edgedistil.errors import ExportError
from edgedistil.export import tflite_ops
from edgedistil.export.micro_interpreter import ALIGNMENT, measure_arena, sample_inputs
from edgedistil.export.tflite import Reference, _input_name, dequantize
from edgedistil.files import write_atomic, write_json
from edgedistil.verify import kernels
from edgedistil.verify.fidelity import Fidelity

# TFLite Micro's reference kernels run ~100x slower than LiteRT on a host: the first 64 eval
# sentences catch a TFLite Micro kernel that differs from LiteRT's; LiteRT saw all of them.
MICRO_SENTENCES = 64
C_FILE, H_FILE, RECORD_FILE = "model_data.cc", "model_data.h", "model_data.json"


@dataclass(frozen=True, kw_only=True)
class BudgetCheck:
    name: str  # "model", "flash" or "arena"
    value: int
    limit: int | None  # None: the profile sets no budget for it

    @property
    def passed(self) -> bool:
        return self.limit is None or self.value <= self.limit

    @property
    def over_by(self) -> int:
        return 0 if self.limit is None else max(0, self.value - self.limit)


@dataclass(frozen=True, kw_only=True)
class MCUResult:
    c_path: Path
    h_path: Path
    record: Path
    sha256: str
    model_bytes: int
    arena_bytes: int
    flash_bytes: int
    tokenizer_bytes: int  # the C tokenizer's flash, in flash_bytes (0: none shipped)
    checks: tuple[BudgetCheck, ...]
    fidelity: Fidelity | None

    @property
    def fits(self) -> bool:
        return all(c.passed for c in self.checks)


def microcontroller_artifacts(
    tflite_path: Path,
    profile: Any,
    *,
    out: Path | None = None,
    reference: Reference | None = None,
    sentences: int = MICRO_SENTENCES,
    symbol: str = "g_model",
    tokenizer_bytes: int = 0,
) -> MCUResult:
    """C array, measured arena and flash for ``profile`` (a ``profiles.Profile``).

    ``reference``: ``TFLiteResult.reference``, to compare TFLite Micro's output with PyTorch's.
    ``tokenizer_bytes``: the flash of the C tokenizer shipped beside it (0: none).
    """
    if not tflite_path.is_file():
        raise ExportError(f"{tflite_path}: no such .tflite file")
    data = tflite_path.read_bytes()
    ops = tflite_ops.check_ops(data, "tflite-micro")
    if not ops.passed:
        raise ExportError(f"{tflite_path}: TFLite Micro cannot run it: {ops.describe()}")
    try:
        arena = measure_arena(data, sample_inputs(data))
    except ExportError as exc:
        raise ExportError(f"{tflite_path}: {exc}") from None
    fidelity = None
    if reference is not None:
        arrays = {name: a[:sentences] for name, a in reference.arrays.items()}
        fidelity = reference.score(run_micro(data, arrays, arena), sentences)
    out = out or tflite_path.parent
    digest = hashlib.sha256(data).hexdigest()
    c_path, h_path = write_c_array(data, out, symbol=symbol, arena=arena, source=tflite_path.name)
    flash = len(data) + profile.device.runtime_overhead_bytes + tokenizer_bytes
    budgets = profile.budgets
    checks = (
        BudgetCheck(name="model", value=len(data), limit=budgets.max_model_bytes),
        BudgetCheck(name="flash", value=flash, limit=budgets.max_flash_bytes),
        BudgetCheck(name="arena", value=arena, limit=budgets.max_arena_bytes),
    )
    result = MCUResult(
        c_path=c_path,
        h_path=h_path,
        record=out / RECORD_FILE,
        sha256=digest,
        model_bytes=len(data),
        arena_bytes=arena,
        flash_bytes=flash,
        tokenizer_bytes=tokenizer_bytes,
        checks=checks,
        fidelity=fidelity,
    )
    write_json(result.record, _record(result, profile, tflite_path))
    return result


def _record(result: MCUResult, profile: Any, source: Path) -> dict[str, Any]:
    return {
        "target": profile.name,
        "tflite": source.name,
        "sha256": result.sha256,
        "model_bytes": result.model_bytes,
        "arena_bytes": result.arena_bytes,
        "runtime_overhead_bytes": profile.device.runtime_overhead_bytes,
        "tokenizer_flash_bytes": result.tokenizer_bytes,
        "flash_bytes": result.flash_bytes,
        "budgets": [asdict(c) | {"passed": c.passed, "over_by": c.over_by} for c in result.checks],
        "fits": result.fits,
        "fidelity": None
        if result.fidelity is None
        else asdict(result.fidelity) | {"drop": result.fidelity.drop},
        "c_file": result.c_path.name,
        "h_file": result.h_path.name,
        "verified_on": kernels.host_facts(),
    }


def _input_order(data: bytes) -> list[str]:
    """Input names in the model's order, read with LiteRT (TFLite Micro's wrapper gives none)."""
    from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]

    details = Interpreter(model_content=data).get_input_details()
    return [_input_name(d["name"]) for d in details]


def run_micro(data: bytes, arrays: dict[str, np.ndarray], arena: int) -> np.ndarray:
    """TFLite Micro's outputs, one row at a time, dequantized when integer."""
    from tflite_micro.python.tflite_micro import runtime  # type: ignore[import-untyped]

    interpreter = runtime.Interpreter.from_bytes(data, arena_size=arena)
    order = _input_order(data)
    detail = interpreter.get_output_details(0)
    params = detail["quantization_parameters"]
    quant = None
    if detail["dtype"] in (np.int8, np.int16) and len(params["scales"]):
        quant = (float(params["scales"][0]), int(params["zero_points"][0]))
    rows = []
    for i in range(len(next(iter(arrays.values())))):
        for index, name in enumerate(order):
            interpreter.set_input(arrays[name][i : i + 1], index)
        interpreter.invoke()
        rows.append(dequantize(interpreter.get_output(0), quant))
        interpreter.reset()  # variables and scratch back to their initial state
    return np.concatenate(rows)


def write_c_array(
    data: bytes, out: Path, *, symbol: str, arena: int, source: str
) -> tuple[Path, Path]:
    """``model_data.cc`` and ``model_data.h``; the .cc includes the header, so the ``const``
    array has external linkage in C++ as well."""
    if not symbol.isidentifier():
        raise ExportError(f'symbol "{symbol}": a C identifier is needed, e.g. g_model')
    digest = hashlib.sha256(data).hexdigest()
    guard = f"EDGEDISTIL_{symbol.upper()}_DATA_H_"
    banner = (
        f"// {source} for TFLite Micro, written by edgedistil {__version__}.\n"
        f"// sha256: {digest}\n// bytes: {len(data)}\n"
    )
    header = (
        f"{banner}#ifndef {guard}\n#define {guard}\n\n"
        f"extern const unsigned char {symbol}[];\n"
        f"extern const unsigned int {symbol}_len;\n"
        f"// Measured in the TFLite Micro interpreter: the smallest arena that runs the model.\n"
        f"#define {symbol.upper()}_ARENA_BYTES {arena}\n\n#endif  // {guard}\n"
    )
    rows = (
        "  " + ", ".join(f"0x{b:02x}" for b in data[start : start + 12])
        for start in range(0, len(data), 12)
    )
    source_text = (
        f'{banner}#include "{H_FILE}"\n\n'
        f"__attribute__((aligned({ALIGNMENT}))) const unsigned char {symbol}[] = {{\n"
        + ",\n".join(rows)
        + f"\n}};\nconst unsigned int {symbol}_len = {len(data)};\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, text in ((H_FILE, header), (C_FILE, source_text)):
        write_atomic(out / name, text)
    return out / C_FILE, out / H_FILE
