from __future__ import annotations

from typing import Any

import pytest
import torch
import transformers

from edgedistil.distill import losses
from edgedistil.distill.student import (
    build_student,
    default_layer_map,
    layer_list,
    parse_layer_map,
    target_layers,
)
from edgedistil.errors import DistillError
from tests.conftest import TINY


def test_default_layer_maps() -> None:
    assert default_layer_map(12, 6) == [0, 2, 4, 7, 9, 11]  # DistilBERT's own
    assert default_layer_map(6, 3) == [0, 2, 4]
    assert default_layer_map(6, 2) == [1, 4]
    assert default_layer_map(6, 6) == list(range(6))
    assert target_layers(6, 3) == [1, 3, 5] and target_layers(12, 6)[-1] == 11


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,2,9", "layer 9 is out of range; the teacher's layers are 0 to 5"),
        ("0,1,2,3,4,5,5", "7 layers, but the teacher has only 6"),
        ("2,1", "must be strictly increasing"),
        ("0,0", "must be strictly increasing"),
        ("a,b", "must be comma-separated layer numbers"),
        ("-1,2", "layer -1 is out of range"),
    ],
)
def test_bad_layer_maps(text: str, message: str) -> None:
    with pytest.raises(DistillError, match=message):
        parse_layer_map(text, 6)
    assert parse_layer_map("0,2,4", 6) == [0, 2, 4]


def _tiny(architecture: str, **extra: Any) -> Any:
    cls = getattr(transformers, architecture)
    config = cls.config_class(**{**TINY, "num_hidden_layers": 4, **extra})
    torch.manual_seed(0)
    return cls(config).eval()


@pytest.mark.parametrize(
    "architecture",
    ["BertModel", "BertForSequenceClassification", "RobertaModel", "DistilBertModel"],
)
def test_student_copies_mapped_layers_and_everything_else(architecture: str) -> None:
    extra = (
        {"dim": 32, "n_layers": 4, "n_heads": 4, "hidden_dim": 37}
        if "Distil" in architecture
        else {}
    )
    teacher = _tiny(architecture, **extra)
    student = build_student(teacher, [1, 3])
    _, t_layers = layer_list(teacher)
    _, s_layers = layer_list(student)
    assert len(s_layers) == 2 and len(t_layers) == 4
    for s, t in zip(s_layers, (t_layers[1], t_layers[3]), strict=True):
        for (_, a), (_, b) in zip(s.state_dict().items(), t.state_dict().items(), strict=True):
            assert torch.equal(a, b)
    t_state, s_state = teacher.state_dict(), student.state_dict()
    for name, value in s_state.items():
        if ".layer." not in name:
            assert torch.equal(value, t_state[name]), name
    key = "n_layers" if "Distil" in architecture else "num_hidden_layers"
    assert getattr(student.config, key) == 2 and getattr(teacher.config, key) == 4
    ids = torch.tensor([[2, 10, 11, 3]])
    out = student(input_ids=ids)
    if architecture.endswith("ForSequenceClassification"):
        assert out.logits.shape == (1, 2)
    else:
        assert out.last_hidden_state.shape == (1, 4, 32)


def test_kd_loss_is_zero_for_equal_logits_and_scaled_by_t_squared() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert float(losses.kd_loss(logits, logits, 2.0)) == pytest.approx(0.0, abs=1e-7)
    other = torch.tensor([[0.0, 1.0, 0.0]])
    p = torch.softmax(other / 4, -1)
    manual = (p * (torch.log(p) - torch.log_softmax(logits / 4, -1))).sum() * 16
    assert float(losses.kd_loss(logits, other, 4.0)) == pytest.approx(float(manual), rel=1e-5)


def test_masked_cosine_ignores_padding() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    before = losses.masked_cosine_loss(a, b, mask)
    a[0, 3:], b[1, 4] = 100.0, -7.0  # change only padded positions
    assert torch.allclose(before, losses.masked_cosine_loss(a, b, mask))
    assert float(losses.masked_cosine_loss(a, a, mask)) == pytest.approx(0.0, abs=1e-6)


def test_pooling_modes_respect_the_mask() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert losses.pool(hidden, mask, "mean").tolist() == [[2.0, 3.0]]
    assert losses.pool(hidden, mask, "max").tolist() == [[3.0, 4.0]]
    assert losses.pool(hidden, mask, "cls").tolist() == [[1.0, 2.0]]
