"""Self-attention relation distillation (distill.relations, MiniLMv2) on tiny random BERTs and
DistilBERTs: the loss itself, its gradient, narrow students, padding, and the teacher cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from edgedistil.distill import relations, train, width
from edgedistil.distill.losses import Weights
from edgedistil.distill.student import build_student
from edgedistil.distill.train import Run, Settings, collate, compute_loss, encode
from edgedistil.errors import DistillError
from tests.tiny_families import FAMILIES, save_tiny_family

TEXTS = [
    "the movie was good",
    "set a timer for ten minutes",
    "the phone battery was bad",
    "light off",
    "the battery was fast and the phone was slow",
    "timer on",
    "the movie was slow",
    "set the light on for five minutes",
]
LABELS = [1, 0, 0, 1, 0, 1, 0, 1]
ONLY_ATT = Weights(kd=0.0, ce=0.0, cos=0.0, att=1.0)
# layer 0's attention output projection, by family
OUTPUT = {
    "bert": "encoder.layer.0.attention.output.dense",
    "distilbert": "transformer.layer.0.attention.out_lin",
}


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def teacher_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    family = request.param
    return save_tiny_family(
        tmp_path_factory.mktemp(family), family, "ForSequenceClassification", num_labels=2
    )


def _load(path: Path) -> tuple[Any, Any]:
    import transformers

    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    return model, transformers.AutoTokenizer.from_pretrained(str(path))


def _run(teacher: Any, student: Any, tokenizer: Any, weights: Weights, **kw: Any) -> Run:
    # a 1-layer student from teacher layer 0 that matches teacher layer 1 (target_layers(2, 1))
    settings = Settings(
        task="classification",
        batch_size=4,
        seq_len=16,
        layer_map=[0],
        target_layers=[1],
        weights=weights,
        **kw,
    )
    enc = encode(tokenizer, TEXTS, LABELS, 16)
    student.eval()  # no dropout: the comparisons below are of the same computation
    return Run(
        student=student, teacher=teacher, train=enc, eval=None, settings=settings, out=Path(".")
    )


def _narrow(teacher: Any, tokenizer: Any, hidden: int) -> tuple[Any, list[int]]:
    """A 1-layer student narrowed as ``distill --hidden`` does: fewer dimensions and heads."""
    enc = encode(tokenizer, TEXTS, None, 16)
    probe = [collate(enc, list(range(len(TEXTS))))]
    chosen = width.choose(teacher.config, hidden, width.importance(teacher, [0], probe))
    return width.narrow(build_student(teacher, [0]), chosen), chosen.dims


def _qkv_grads(student: Any) -> list[float]:
    return [float(m.weight.grad.norm()) for m in relations.projections(student, 0)]  # type: ignore[union-attr]


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_identical_queries_keys_and_values_give_zero(heads: int) -> None:
    torch.manual_seed(0)
    x = [torch.randn(3, 7, 32) for _ in range(3)]
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    assert float(relations.relation_loss(x, x, mask, heads)) == pytest.approx(0.0, abs=1e-6)
    other = [t + torch.randn_like(t) for t in x]
    assert float(relations.relation_loss(other, x, mask, heads)) > 0.01


def test_a_relation_is_a_distribution_over_the_real_keys_only() -> None:
    torch.manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    probs = relations.relation_log_probs(torch.randn(1, 5, 8), mask, 2).exp()
    assert probs.shape == (1, 2, 5, 5)
    assert torch.allclose(probs.sum(-1), torch.ones(1, 2, 5))
    assert float(probs[..., 3:].abs().max()) == 0.0


def test_the_loss_is_positive_and_its_gradient_reaches_the_last_query_key_and_value(
    teacher_dir: Path,
) -> None:
    teacher, tokenizer = _load(teacher_dir)
    run = _run(teacher, build_student(teacher, [0]), tokenizer, ONLY_ATT)
    loss = compute_loss(run, run.student, collate(run.train, [0, 1, 2, 3]))
    assert float(loss.detach()) > 0
    loss.backward()  # type: ignore[no-untyped-call]
    assert all(g > 0 for g in _qkv_grads(run.student))
    # the layer's output projection, after the relations, learns nothing from them (the 0 *
    # cross-entropy in the graph gives it a gradient of zeros)
    output = run.student.base_model.get_submodule(OUTPUT[run.student.config.model_type])
    assert output.weight.grad is None or not output.weight.grad.any()


def test_a_narrow_student_learns_the_relations_of_a_wider_teacher(teacher_dir: Path) -> None:
    teacher, tokenizer = _load(teacher_dir)
    student, dims = _narrow(teacher, tokenizer, 16)
    assert (student.config.hidden_size, student.config.num_attention_heads) == (16, 2)
    for heads in (None, 4):  # the student's own 2 heads, and more than it has
        run = _run(teacher, student, tokenizer, ONLY_ATT, relation_heads=heads, hidden_dims=dims)
        student.zero_grad()
        loss = compute_loss(run, student, collate(run.train, [4, 5, 6, 7]))
        assert torch.isfinite(loss) and float(loss.detach()) > 0
        loss.backward()  # type: ignore[no-untyped-call]
        assert all(g > 0 for g in _qkv_grads(student))


def test_padding_does_not_change_the_loss(teacher_dir: Path) -> None:
    teacher, tokenizer = _load(teacher_dir)
    run = _run(teacher, build_student(teacher, [0]), tokenizer, ONLY_ATT)
    alone = collate(run.train, [3])  # "light off": 4 tokens
    padded = {k: v.clone() for k, v in alone.items()}
    extra = 9
    padded["input_ids"] = torch.cat(
        [alone["input_ids"], torch.full((1, extra), run.train.pad_id)], dim=1
    )
    padded["attention_mask"] = torch.cat(
        [alone["attention_mask"], torch.zeros(1, extra, dtype=torch.long)], dim=1
    )
    with torch.no_grad():
        expected = float(compute_loss(run, run.student, alone))
        assert float(compute_loss(run, run.student, padded)) == pytest.approx(expected, rel=1e-3)
        # and beside a longer sentence, whose length pads it in the batch
        beside = collate(run.train, [3, 4])
        with relations.capture(run.student, 0) as s, relations.capture(teacher, 1) as t:
            run.student(input_ids=beside["input_ids"], attention_mask=beside["attention_mask"])
            teacher(input_ids=beside["input_ids"], attention_mask=beside["attention_mask"])
        first = [x[:1] for x in s], [x[:1] for x in t]
        heads = relations.heads_for(None, run.student)
        mask = beside["attention_mask"][:1]
        assert float(relations.relation_loss(*first, mask, heads)) == pytest.approx(
            expected, rel=1e-3
        )


def test_the_cached_teacher_gives_the_uncached_loss(teacher_dir: Path) -> None:
    teacher, tokenizer = _load(teacher_dir)
    weights = Weights(kd=1.0, ce=1.0, cos=1.0, att=2.0)
    run = _run(teacher, build_student(teacher, [0]), tokenizer, weights)
    batch = collate(run.train, [6, 1, 3])  # three lengths: every cached row is padded back
    with torch.no_grad():
        uncached = float(compute_loss(run, run.student, batch))
        train._fill_cache(run, "ram", 0, 1)
        cached = float(compute_loss(run, run.student, batch))
    n = len(run.train.ids[3])
    entry = run.cache.batch([3], n, torch.device("cpu"))
    assert [tuple(t.shape) for t in entry["attention"]] == [(1, n, 32)] * 3
    assert cached == pytest.approx(uncached, rel=1e-5)


class _Untouchable(torch.nn.Module):
    def forward(self, **_: Any) -> Any:
        raise AssertionError("the teacher ran")


def test_hard_labels_alone_never_run_the_teacher(teacher_dir: Path) -> None:
    teacher, tokenizer = _load(teacher_dir)
    alone = Weights(kd=0.0, ce=1.0, cos=0.0, att=0.0)
    run = _run(_Untouchable(), build_student(teacher, [0]), tokenizer, alone)
    assert not train.uses_teacher(run.settings)
    assert float(compute_loss(run, run.student, collate(run.train, [0, 1])).detach()) > 0
    assert train.uses_teacher(dataclasses.replace(run.settings, weights=ONLY_ATT))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_names_its_query_key_and_value(family: str, tmp_path: Path) -> None:
    import transformers

    model = transformers.AutoModel.from_pretrained(str(save_tiny_family(tmp_path, family)))
    for layer in (0, 1):
        found = relations.projections(model, layer)
        assert [type(m) for m in found] == [torch.nn.Linear] * 3
        assert len({id(m) for m in found}) == 3
        assert all(m.out_features == 32 for m in found)  # type: ignore[attr-defined]


def _sized(hidden: int, heads: int) -> Any:
    return SimpleNamespace(config=SimpleNamespace(hidden_size=hidden, num_attention_heads=heads))


def test_a_count_that_does_not_divide_both_widths_is_one_line() -> None:
    relations.check_heads(4, _sized(256, 8), _sized(384, 12))  # 64 and 96 per head
    with pytest.raises(DistillError) as bad:
        relations.check_heads(3, _sized(256, 8), _sized(384, 12))
    assert str(bad.value) == (
        "--relation-heads 3: the student's width 256 and the teacher's 384 must both divide into "
        "that many relation heads; counts that work: 1, 2, 4, 8, 16, 32, 64"
    )
    # the default, the student's heads, can fail too: 5 heads of 32 under a 384-wide teacher
    with pytest.raises(DistillError, match=r"^--relation-heads \(default 5, the student's"):
        relations.check_heads(None, _sized(160, 5), _sized(384, 12))


@pytest.mark.parametrize(
    ("task", "architecture"),
    [
        ("classification", "ForSequenceClassification"),
        (train.TOKEN_TASK, "ForTokenClassification"),
        ("embedding", "Model"),
    ],
)
def test_every_task_adds_the_weighted_relation_loss(
    task: str, architecture: str, tmp_path: Path
) -> None:
    import transformers

    path = save_tiny_family(tmp_path, "bert", architecture, num_labels=2)
    factory = getattr(transformers, "AutoModel" + architecture.removeprefix("Model"))
    teacher = factory.from_pretrained(str(path)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    student = build_student(teacher, [0]).eval()
    batch = collate(encode(tokenizer, TEXTS, None, 16), [0, 1, 2, 3])
    if task == "classification":
        batch["labels"] = torch.tensor(LABELS[:4])
    elif task == train.TOKEN_TASK:  # a tag a real token, none on padding
        tags = torch.arange(batch["input_ids"].numel()).reshape(batch["input_ids"].shape) % 2
        batch["labels"] = tags.masked_fill(batch["attention_mask"] == 0, train.IGNORE)

    def loss(att: float) -> float:
        run = _run(teacher, student, tokenizer, Weights(att=att))
        run.settings = dataclasses.replace(run.settings, task=task)
        with torch.no_grad():
            return float(compute_loss(run, student, batch))

    with torch.no_grad(), relations.capture(student, 0) as s, relations.capture(teacher, 1) as t:
        student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    relation = float(relations.relation_loss(s, t, batch["attention_mask"], 4))
    assert relation > 0
    # a large weight: random tiny models relate tokens almost alike, the term alone is ~1e-4
    assert loss(1000.0) - loss(0.0) == pytest.approx(1000.0 * relation, rel=1e-3)


def test_relations_are_float32_under_autocast() -> None:
    # what a GPU's bf16 autocast does to the matmul, shown with the CPU's: the relation is still
    # computed in float32, from the (bf16) projections it is given
    torch.manual_seed(0)
    x = torch.randn(2, 6, 32).to(torch.bfloat16)
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3])
    exact = relations.relation_log_probs(x.float(), mask, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        found = relations.relation_log_probs(x, mask, 4)
    assert found.dtype == torch.float32
    assert torch.equal(found, exact)


def test_relation_heads_without_the_term_are_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from edgedistil.distill import job

    unused = Settings(task="classification", relation_heads=3)  # 3 would not divide 32
    with caplog.at_level("WARNING"):
        job._check_relation_heads(unused, _sized(32, 4), _sized(32, 4))
    assert caplog.messages == [
        "--relation-heads 3 has no effect: the attention-relation term is off "
        "(give it a weight with --alpha-att)"
    ]
    with pytest.raises(DistillError, match="--relation-heads 3: "):
        job._check_relation_heads(
            dataclasses.replace(unused, weights=ONLY_ATT), _sized(32, 4), _sized(32, 4)
        )
