"""``edgedistil export``: a student directory -> a verified ONNX file for a target.

The student is loaded through ``edgedistil.teacher`` (safetensors or a weights-only pickle),
wrapped with the device's inputs and outputs (``model.py``), exported by torch's TorchScript
exporter at opset 17, fused or left plain for the target's runtime (``graph.py``), and compared
with PyTorch on sample text (``verify/parity.py``). Everything is written in ``OUT/.export.tmp``
and moved into ``OUT`` only after parity passes, ``export.json`` last: a directory with that file
is complete. The tokenizer files travel with the model so ``quantize`` and ``bench`` can encode
text.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.errors import ExportError
from edgedistil.export import graph as graph_mod
from edgedistil.export import model as model_mod
from edgedistil.families import size_of, uses_token_types
from edgedistil.files import move_into, write_json
from edgedistil.teacher import load_teacher_model, load_tokenizer, resolve_teacher, takes_pairs
from edgedistil.tokens import copy_tokenizer
from edgedistil.verify import parity as parity_mod
from edgedistil.verify.tags import TASK as TOKEN_TASK
from edgedistil.verify.text import encode

if TYPE_CHECKING:
    from edgedistil.records.export import ExportRecord

log = logging.getLogger(__name__)

OPSET = 17  # LayerNormalization became a standard operator at 17; every ORT since 1.14 runs it
MODEL_FILE = "model.onnx"
RECORD_FILE = "export.json"


@dataclass(frozen=True, kw_only=True)
class ExportSpec:
    student: Path
    out: Path
    sequence_length: int
    input_dtype: str = "int64"
    graph: str = "plain"
    dynamic: bool = False  # dynamic batch and length; the position table is then kept whole
    parity_text: Path
    target: str | None = None


@dataclass(frozen=True, kw_only=True)
class Exported:
    path: Path
    task: str
    pairs: bool  # the model takes text pairs: quantize and the runtimes feed it pairs
    inputs: tuple[str, ...]
    output: str
    graph: str
    fused: dict[str, int]
    parity: parity_mod.Parity
    bytes: int


def export_onnx(spec: ExportSpec) -> Exported:
    if spec.graph not in graph_mod.GRAPHS:
        raise ExportError(f'graph "{spec.graph}": allowed {", ".join(graph_mod.GRAPHS)}')
    teacher = resolve_teacher(str(spec.student))
    model_mod.check_family(teacher)
    model_mod.check_length(teacher, spec.sequence_length)
    pairs = takes_pairs(spec.student)
    texts = parity_mod.parity_texts(spec.parity_text, pairs)
    model = load_teacher_model(teacher)
    # Eager attention: the TorchScript exporter writes it as MatMul/Softmax, the pattern ORT's
    # Attention fusion recognises; parity is measured either way.
    model.set_attn_implementation("eager")  # type: ignore[operator]
    head = model_mod.read_head(model, spec.student)
    tokenizer = _tokenizer(spec.student)
    names: tuple[str, ...] = ("input_ids", "attention_mask")
    if uses_token_types(teacher.config, tokenizer):
        names += ("token_type_ids",)
    length = None if spec.dynamic else spec.sequence_length
    arrays = encode(tokenizer, texts, length, names, spec.input_dtype)
    wrapped = model_mod.wrap(model, head, "token_type_ids" in names)
    reference = parity_mod.torch_outputs(wrapped, arrays)  # before slicing: the student as trained
    if not spec.dynamic:
        offset = model_mod.position_offset(teacher.config)
        model_mod.slice_positions(model, spec.sequence_length + offset)
    staging = spec.out / ".export.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    path, fused = _write_graph(wrapped, arrays, head, staging, spec, teacher.config)
    result = parity_mod.compare(reference, parity_mod.onnx_outputs(path, arrays), head.task)
    if not result.passed:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"{spec.student}: the ONNX graph fails parity: {result.describe()}")
    exported = Exported(
        path=spec.out / MODEL_FILE,
        task=head.task,
        pairs=pairs,
        inputs=names,
        output=head.output,
        graph=spec.graph,
        fused=fused,
        parity=result,
        bytes=path.stat().st_size,
    )
    _publish(staging, spec, exported, head)
    return exported


def _tokenizer(path: Path) -> Any:
    return load_tokenizer(path, error=ExportError)


def _write_graph(
    wrapped: Any,
    arrays: dict[str, Any],
    head: model_mod.Head,
    staging: Path,
    spec: ExportSpec,
    config: dict[str, Any],
) -> tuple[Path, dict[str, int]]:
    import torch

    names = tuple(arrays)
    sample = tuple(torch.from_numpy(a[:1]) for a in arrays.values())
    axes = {0: "batch"} if not spec.dynamic else {0: "batch", 1: "sequence"}
    plain = staging / ("plain.onnx" if spec.graph == "fused" else MODEL_FILE)
    torch.onnx.export(
        wrapped,
        sample,
        str(plain),
        dynamo=False,  # the dynamo exporter needs onnxscript, which edgedistil does not ship
        opset_version=OPSET,
        input_names=list(names),
        output_names=[head.output],
        dynamic_axes={name: axes for name in names} | {head.output: _output_axes(head, axes)},
    )
    if spec.graph == "plain":
        graph_mod.rewrite_for_ort_cpu(plain)
        _check_loads(plain)
        return plain, {}
    _check_loads(plain)
    fused_path = staging / MODEL_FILE
    counts = graph_mod.fuse(
        plain,
        fused_path,
        num_heads=size_of(config, "heads"),
        hidden_size=size_of(config, "hidden"),
    )
    plain.unlink()
    _check_loads(fused_path)
    return fused_path, counts


def _output_axes(head: model_mod.Head, axes: dict[int, str]) -> dict[int, str]:
    """A token classifier's logits have the inputs' axes; a sentence's output the batch's."""
    return axes if head.task == TOKEN_TASK else {0: "batch"}


def _check_loads(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ExportError(f"{path}: the exported graph does not validate: {first}") from None


def _publish(staging: Path, spec: ExportSpec, exported: Exported, head: model_mod.Head) -> None:
    copy_tokenizer(spec.student, staging)
    # config.json too: its vocab_size is what a tokenizer read here is checked against
    shutil.copyfile(spec.student / "config.json", staging / "config.json")
    record = {
        "student": str(spec.student),
        "target": spec.target,
        "task": exported.task,
        "pairs": exported.pairs,
        "inputs": list(exported.inputs),
        "output": exported.output,
        "input_dtype": spec.input_dtype,
        "sequence_length": None if spec.dynamic else spec.sequence_length,
        "graph": exported.graph,
        "fused_operators": exported.fused,
        "pooling": head.pooling,
        "normalize": head.normalize,
        "dense": None if head.dense is None else list(head.dense.weight.shape),
        "opset": OPSET,
        "parity": asdict(exported.parity),
        "bytes": exported.bytes,
    }
    (spec.out / RECORD_FILE).unlink(missing_ok=True)  # the directory is incomplete until the end
    move_into(staging, spec.out)
    write_json(spec.out / RECORD_FILE, record)


def read_record(directory: Path) -> ExportRecord:
    """The ``export.json`` of an export directory: what quantize needs to know about the model,
    typed (``records.export``), or one ``ExportError`` naming the file and the field."""
    from edgedistil.records import read_json
    from edgedistil.records.export import ExportRecord

    path = directory / RECORD_FILE
    if not path.is_file():
        raise ExportError(
            f"{directory} is not a finished export: {RECORD_FILE} is missing; run "
            "`edgedistil export STUDENT --target X --out DIR` first"
        )
    return read_json(path, ExportRecord, error=ExportError, what="the export's record")
