"""A student made from its teacher: fewer layers chosen by a layer map, everything else copied.

The student is a deep copy of the teacher whose list of layers keeps only the mapped ones, so
embeddings, pooler and classifier come along unchanged and any BERT-family model whose layers
sit in one ``nn.ModuleList`` (BERT, RoBERTa, DistilBERT) is served by the same code.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from edgedistil.errors import DistillError
from edgedistil.families import family_of

if TYPE_CHECKING:
    import torch


def default_layer_map(teacher_layers: int, student_layers: int) -> list[int]:
    """Which teacher layers initialise the student.

    Four or more: spread evenly keeping the first and the last, DistilBERT's rule
    (12 -> 6 gives 0,2,4,7,9,11). Three or fewer: the centre of each equal block of teacher
    layers (6 -> 3 gives 0,2,4; 6 -> 2 gives 1,4), because with so few layers the last teacher
    layer, specialised for the teacher's own output, measured worse as a starting point
    (a 2-layer SST-2 student from layers 1,4 kept 97.0% of its teacher, from 0,5 only 94.3%).
    """
    if not 1 <= student_layers <= teacher_layers:
        raise DistillError(
            f"--layers {student_layers}: the teacher has {teacher_layers} layers; "
            f"a student takes 1 to {teacher_layers}"
        )
    if student_layers >= 4:
        step = (teacher_layers - 1) / (student_layers - 1)
        return [int(i * step + 0.5) for i in range(student_layers)]
    block = teacher_layers / student_layers
    return [int(i * block + (block - 1) / 2) for i in range(student_layers)]


def target_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """The teacher layer whose output each student layer learns to reproduce.

    Each student layer stands for an equal block of teacher layers and matches the block's last
    output (6 -> 3: layers 1, 3, 5), so the student's last layer always meets the teacher's last,
    as DistilBERT's cosine on the final hidden states does; the layer map only picks the
    starting weights.
    """
    return [(j + 1) * teacher_layers // student_layers - 1 for j in range(student_layers)]


def parse_layer_map(text: str, teacher_layers: int) -> list[int]:
    """``"0,2,4"`` -> ``[0, 2, 4]``, refusing maps the teacher cannot give."""
    try:
        layers = [int(part) for part in text.split(",")]
    except ValueError:
        raise DistillError(
            f"--layer-map {text!r}: must be comma-separated layer numbers, e.g. 0,2,4"
        ) from None
    if len(layers) > teacher_layers:
        raise DistillError(
            f"--layer-map {text}: {len(layers)} layers, but the teacher has only {teacher_layers}"
        )
    bad = [i for i in layers if not 0 <= i < teacher_layers]
    if bad:
        raise DistillError(
            f"--layer-map {text}: layer {bad[0]} is out of range; the teacher's "
            f"layers are 0 to {teacher_layers - 1}"
        )
    if any(b <= a for a, b in zip(layers, layers[1:], strict=False)):
        raise DistillError(f"--layer-map {text}: must be strictly increasing")
    return layers


def layer_list(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """The model's transformer layers: the one ModuleList named ``layer`` (BERT, RoBERTa,
    DistilBERT all use that name)."""
    import torch

    found = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.ModuleList) and name.split(".")[-1] == "layer"
    ]
    if len(found) != 1:
        raise DistillError(f"{type(model).__name__}: cannot find its list of transformer layers")
    return found[0]


def build_student(teacher: Any, layer_map: list[int]) -> Any:
    """A deep copy of ``teacher`` keeping only the layers in ``layer_map``, in that order."""
    import torch

    student = copy.deepcopy(teacher)
    name, layers = layer_list(student)
    parent = student.get_submodule(name.rsplit(".", 1)[0]) if "." in name else student
    setattr(parent, name.split(".")[-1], torch.nn.ModuleList([layers[i] for i in layer_map]))
    config = student.config
    family = family_of(config.model_type)
    key = family.layers_key if family is not None else "num_hidden_layers"
    setattr(config, key, len(layer_map))
    student.train()
    return student
