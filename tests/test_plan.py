from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgedistil import plan, profiles, teacher
from edgedistil.errors import PlanError
from edgedistil.schemes import get_scheme
from tests.conftest import TINY, write_profile


def _profile(tmp_path: Path, base: str, seq: int, scheme: str | None = None) -> profiles.Profile:
    text = f'extends = "{base}"\n[export]\nsequence_length = {seq}\n'
    if scheme:
        text += f'[quantize]\nscheme = "{scheme}"\n'
    return profiles.load_profile(str(write_profile(tmp_path / f"{base}-{seq}.toml", text)))


def _real_parameters(architecture: str, **config: Any) -> int:
    import transformers

    model_class = getattr(transformers, architecture)
    kwargs = {"add_pooling_layer": False} if architecture in ("BertModel", "RobertaModel") else {}
    model = model_class(model_class.config_class(**config), **kwargs)
    return sum(p.numel() for p in model.parameters())


CASES = [
    # (architecture, config overrides, usable positions)
    ("BertModel", {}, 512),
    ("BertForSequenceClassification", {"num_labels": 3}, 512),
    ("BertModel", {"type_vocab_size": 1, "max_position_embeddings": 64}, 64),
    ("RobertaModel", {"max_position_embeddings": 66, "pad_token_id": 1}, 64),
    ("RobertaForSequenceClassification", {"max_position_embeddings": 34, "num_labels": 5}, 32),
]


@pytest.mark.parametrize(("architecture", "overrides", "usable"), CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("layers", [1, 2])
def test_parameters_match_a_real_model_built_from_the_config(
    tmp_path: Path, architecture: str, overrides: dict[str, Any], usable: int, layers: int
) -> None:
    import transformers

    config = transformers.AutoConfig.for_model(
        "roberta" if "Roberta" in architecture else "bert",
        **{**TINY, **overrides},
        architectures=[architecture],
    ).to_dict()
    shape = plan.read_shape(config, "config.json")
    result = plan.plan_student(
        shape=shape,
        teacher="tiny",
        profile=_profile(tmp_path, "raspberry-pi-4", usable),
        layers=layers,
    )
    real = _real_parameters(architecture, **{**TINY, **overrides, "num_hidden_layers": layers})
    assert result.parameters == real
    assert result.teacher_parameters == _real_parameters(architecture, **{**TINY, **overrides})


def test_distilbert_parameters_match(tmp_path: Path) -> None:
    import transformers

    cfg = transformers.DistilBertConfig(
        vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64
    )
    shape = plan.read_shape({**cfg.to_dict(), "architectures": ["DistilBertModel"]}, "config.json")
    result = plan.plan_student(
        shape=shape, teacher="t", profile=_profile(tmp_path, "raspberry-pi-4", 64)
    )
    real = sum(
        p.numel()
        for p in transformers.DistilBertModel(
            transformers.DistilBertConfig(**{**cfg.to_dict(), "n_layers": 1})
        ).parameters()
    )
    assert result.parameters == real


def test_pruned_vocabulary_and_sliced_positions(tmp_path: Path) -> None:
    shape = plan.read_shape({**TINY, "model_type": "bert", "max_position_embeddings": 512}, "c")
    p = _profile(tmp_path, "raspberry-pi-4", 16)
    result = plan.plan_student(shape=shape, teacher="t", profile=p, layers=2, vocab_size=40)
    h = TINY["hidden_size"]
    assert result.position_rows == 16
    assert result.embeddings.parameters == 40 * h + 16 * h + 2 * h + 2 * h
    assert result.parameters == _real_parameters(
        "BertModel", **{**TINY, "vocab_size": 40, "max_position_embeddings": 16}
    )


def test_bytes_per_scheme(tmp_path: Path) -> None:
    shape = plan.read_shape({**TINY, "model_type": "bert", "max_position_embeddings": 512}, "c")
    fp32 = plan.plan_student(
        shape=shape, teacher="t", profile=_profile(tmp_path, "raspberry-pi-4", 64, "float32")
    )
    int8 = plan.plan_student(
        shape=shape, teacher="t", profile=_profile(tmp_path, "raspberry-pi-5", 64)
    )
    assert fp32.artifact_bytes == 4 * fp32.parameters + fp32.graph.bytes + fp32.tokenizer.bytes
    # its .tflite carries the vocabulary as MediaPipe metadata
    per_token = plan.METADATA_PER_TOKEN
    assert fp32.tokenizer.bytes == plan.METADATA_FIXED + per_token * fp32.vocab_size
    base, per_layer = get_scheme("float32").graph_bytes
    assert fp32.graph.bytes == base + fp32.layers * per_layer
    # int8: one byte per weight, float32 vectors. Priced as the larger of the Pi 5's files, its
    # .tflite: per output channel a float32 scale and an int64 zero point for the weight, again
    # for its int32 bias, and again for the outlier half of a linear reading the split residual
    # stream; one pair per table.
    tensors = plan.student_tensors(shape, int8.layers, int8.vocab_size, 64)
    flat = [t for part in tensors.values() for t in part]
    weights = sum(d[0] * d[1] for role, d in flat if role != "vector")
    vectors = sum(d[0] for role, d in flat if role == "vector")
    per_channel = {"linear": 24, "stream": 36}
    params = sum(
        12 if role == "table" else d[0] * per_channel[role] for role, d in flat if role != "vector"
    )
    model = weights + 4 * vectors + params + int8.graph.bytes
    assert int8.artifact_bytes == model + int8.tokenizer.bytes


@pytest.fixture(scope="module")
def minilm() -> plan.Shape:
    t = teacher.resolve_teacher("default")
    return plan.read_shape(t.config, "config.json")


def test_default_teacher_shape(minilm: plan.Shape) -> None:
    assert (minilm.num_layers, minilm.hidden_size, minilm.vocab_size) == (6, 384, 30522)
    assert minilm.task == "embedding"
    assert plan.default_layers(minilm.num_layers) == 3


def test_a_three_layer_minilm_does_not_fit_a_cortex_m7(minilm: plan.Shape) -> None:
    p = profiles.load_profile("cortex-m7")
    result = plan.plan_student(shape=minilm, teacher="default", profile=p, layers=3)
    assert not result.fits
    assert result.over_by == result.artifact_bytes - p.budgets.max_model_bytes > 14_000_000
    assert result.flash_bytes == result.artifact_bytes + p.device.runtime_overhead_bytes
    # nothing at hidden 384 fits: the suggestions narrow the student, widest first per floor
    broad, useful = result.suggestions
    assert broad.hidden < useful.hidden < 384
    least = plan.useful_vocab(minilm)
    assert broad.vocab_size >= plan.BROAD_VOCAB and useful.vocab_size >= least
    for s, floor in ((broad, plan.BROAD_VOCAB), (useful, least)):
        fitted = plan.plan_student(
            shape=minilm, teacher="d", profile=p, layers=3, vocab_size=s.vocab_size, hidden=s.hidden
        )
        assert fitted.fits and fitted.artifact_bytes == s.bytes and s.layers == 3
        wider = plan.plan_student(
            shape=minilm, teacher="d", profile=p, layers=3, vocab_size=floor, hidden=s.hidden + 32
        )
        assert not wider.fits


def test_a_narrow_plan_prices_the_real_model_and_its_map_back(
    minilm: plan.Shape, tmp_path: Path
) -> None:
    import transformers

    p = profiles.load_profile("cortex-m7")
    result = plan.plan_student(
        shape=minilm, teacher="d", profile=p, layers=2, vocab_size=9_000, hidden=128
    )
    assert (result.student_hidden, result.hidden_size) == (128, 384)
    config = transformers.BertConfig(
        vocab_size=9_000,
        hidden_size=128,
        num_attention_heads=4,
        intermediate_size=512,
        num_hidden_layers=2,
        max_position_embeddings=32,
    )
    real = sum(
        x.numel() for x in transformers.BertModel(config, add_pooling_layer=False).parameters()
    )
    assert result.parameters == real + 384 * 128  # the Dense back to the teacher's 384
    assert result.head.parameters == 384 * 128


@pytest.mark.parametrize(
    ("hidden", "message"),
    [
        (
            100,
            "--hidden 100: must be a multiple of the teacher's head size 32 from 64 to its "
            "hidden size 384",
        ),
        (32, "--hidden 32: must be a multiple"),
        (416, "--hidden 416: must be a multiple"),
    ],
)
def test_widths_a_plan_refuses(minilm: plan.Shape, hidden: int, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan.plan_student(
            shape=minilm, teacher="d", profile=profiles.load_profile("cortex-m7"), hidden=hidden
        )


def test_suggestions_fit_and_are_the_largest_that_do(minilm: plan.Shape) -> None:
    p = profiles.load_profile("wear-os-watch")
    result = plan.plan_student(shape=minilm, teacher="default", profile=p)
    assert not result.fits and result.suggestions
    for s in result.suggestions:
        fitted = plan.plan_student(
            shape=minilm, teacher="d", profile=p, layers=s.layers, vocab_size=s.vocab_size
        )
        assert fitted.fits and fitted.artifact_bytes == s.bytes
        bigger = plan.plan_student(
            shape=minilm, teacher="d", profile=p, layers=s.layers, vocab_size=s.vocab_size + 1
        )
        assert not bigger.fits


def test_fewer_layers_suggested_when_they_suffice(minilm: plan.Shape, tmp_path: Path) -> None:
    p = profiles.load_profile(
        str(
            write_profile(
                tmp_path / "tight.toml",
                'extends = "raspberry-pi-4"\n[budgets]\nmax_model_bytes = 16_000_000\n',
            )
        )
    )
    result = plan.plan_student(shape=minilm, teacher="default", profile=p, layers=6)
    assert result.suggestions[0].layers == 2 and result.suggestions[0].vocab_size == 30522


def test_a_fitting_plan_has_no_suggestions(minilm: plan.Shape) -> None:
    result = plan.plan_student(
        shape=minilm, teacher="default", profile=profiles.load_profile("raspberry-pi-4")
    )
    assert result.fits and result.suggestions == () and result.flash_bytes is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": 0}, "--layers 0: the teacher has 6 layers; a student takes 1 to 6"),
        ({"layers": 7}, "--layers 7"),
        ({"vocab_size": 40_000}, "--vocab-size 40000: must be from 5"),
        ({"vocab_size": 3}, "--vocab-size 3"),
    ],
)
def test_impossible_requests(minilm: plan.Shape, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("(", r"\(")):
        plan.plan_student(
            shape=minilm, teacher="d", profile=profiles.load_profile("raspberry-pi-4"), **kwargs
        )


def test_sequence_longer_than_the_teacher_positions(tmp_path: Path) -> None:
    shape = plan.read_shape({**TINY, "model_type": "bert", "max_position_embeddings": 64}, "c")
    with pytest.raises(PlanError, match="sequence_length = 128, but the teacher has only 64"):
        plan.plan_student(shape=shape, teacher="t", profile=profiles.load_profile("raspberry-pi-4"))


def test_configs_that_are_not_bert_family() -> None:
    with pytest.raises(PlanError, match="model_type 'gpt2' is not a BERT-family encoder"):
        plan.read_shape({"model_type": "gpt2"}, "config.json")
    with pytest.raises(PlanError, match="config.json: hidden_size = None"):
        plan.read_shape({"model_type": "bert", "vocab_size": 9}, "config.json")


# ---- the single-character pieces every pruned vocabulary keeps ----


@pytest.fixture(scope="module")
def minilm_pieces(minilm: plan.Shape) -> plan.Shape:
    return plan.with_pieces(minilm, teacher.default_teacher_dir())


def test_a_pruned_plan_prices_the_pieces_within_its_size(minilm_pieces: plan.Shape) -> None:
    assert minilm_pieces.pieces == 1_658
    p = profiles.load_profile("esp32-s3")
    result = plan.plan_student(shape=minilm_pieces, teacher="d", profile=p, vocab_size=3_000)
    # the size is the embedding rows, pieces included: 3,000 int8 rows of 384, and a .tflite's
    # float32 scale and int64 zero point per table
    assert result.vocab_size == 3_000 and result.pieces == 1_658
    positions = p.export.sequence_length
    tables = (3_000 + positions + 2) * 384 + 3 * 12
    assert result.embeddings.bytes == tables + 2 * 384 * 4  # + the LayerNorm, float32
    unpruned = plan.plan_student(shape=minilm_pieces, teacher="d", profile=p)
    assert unpruned.pieces == 0  # nothing pruned, nothing to keep


def test_suggestions_keep_room_for_whole_tokens_beyond_the_pieces(
    minilm_pieces: plan.Shape,
) -> None:
    least = plan.useful_vocab(minilm_pieces)
    assert least == 5 + 1_658 + plan.MIN_USEFUL_VOCAB
    for target in ("esp32-s3", "wear-os-watch", "cortex-m7"):
        p = profiles.load_profile(target)
        result = plan.plan_student(shape=minilm_pieces, teacher="d", profile=p)
        assert result.suggestions and all(s.vocab_size >= least for s in result.suggestions)
        for s in result.suggestions:
            fitted = plan.plan_student(
                shape=minilm_pieces,
                teacher="d",
                profile=p,
                layers=s.layers,
                vocab_size=s.vocab_size,
                hidden=s.hidden,
            )
            assert fitted.fits and fitted.pieces == 1_658


def test_a_vocab_size_below_the_pieces_is_refused(minilm_pieces: plan.Shape) -> None:
    with pytest.raises(
        PlanError,
        match=r"--vocab-size 1000: a pruned vocabulary keeps the 5 special tokens and the "
        r"teacher's 1,658 single-character pieces \(so that no word of its alphabet becomes "
        r"\[UNK\]\); use 1,663 to 30,522 tokens",
    ):
        plan.plan_student(
            shape=minilm_pieces,
            teacher="d",
            profile=profiles.load_profile("esp32-s3"),
            vocab_size=1000,
        )
    plan.plan_student(  # the floor itself is a valid, if short-spelling, vocabulary
        shape=minilm_pieces, teacher="d", profile=profiles.load_profile("esp32-s3"), vocab_size=1663
    )


def test_plan_cli_prices_the_pieces_and_refuses_a_size_below_them() -> None:
    from click.testing import CliRunner

    from edgedistil.cli import cli
    from tests.conftest import error_line

    result = CliRunner().invoke(cli, ["plan", "--target", "esp32-s3", "--vocab-size", "1000"])
    assert result.exit_code == 1
    assert "1,658 single-character pieces" in error_line(result)
    result = CliRunner().invoke(
        cli, ["plan", "--target", "esp32-s3", "--vocab-size", "3000", "--json"]
    )
    (entry,) = json.loads(result.output)
    assert entry["pieces"] == 1_658 and entry["vocab_size"] == 3_000
    result = CliRunner().invoke(cli, ["plan", "--target", "esp32-s3"])
    assert "1,658 single-character pieces within its size" in " ".join(result.output.split())
