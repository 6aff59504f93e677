"""Plan a student before training: its parameters and artifact bytes, from the teacher's config.

The student takes fewer layers (and optionally a pruned vocabulary and a narrower hidden size,
see ``distill.width``). Its tensors are listed by shape exactly as transformers builds them,
then priced at the target's quantization scheme. Two decisions shape the numbers:

- the artifact keeps only the position rows its static sequence length can reach (a 64-token
  model ships 64 of BERT's 512 position rows); export slices the table to match;
- an embedding student pools by mean inside the graph, so the teacher's pooler is not shipped;
  a classification student ships the pooler (or pre-classifier) and the classifier;
- a pruned vocabulary always holds the teacher's single-character pieces (``tokens``), and they
  count within its size: ``vocab_size`` is the embedding table's rows, whatever fills them, so
  the bytes priced here are the bytes the artifact has.

Graph structure (node metadata, activation scales) is added per layer as measured on real
ONNX Runtime files; ``benchmarks/plan_vs_artifact.py`` compares the plan with real artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil.errors import PlanError
from edgedistil.families import family_of, narrowable_names, require_family
from edgedistil.formats import get_format
from edgedistil.profiles import Profile
from edgedistil.schemes import get_scheme
from edgedistil.verify.tags import TASK as TOKEN_TASK

# Bytes per parameter and per graph come from the scheme (``schemes.py``); which model types
# a plan reads, and their config keys, from their family (``families.py``).
MIN_SPECIAL_TOKENS = 5  # [PAD], [UNK], [CLS], [SEP], [MASK] survive any pruning
# Whole tokens a suggestion keeps beyond the special tokens and the single-character pieces.
# The pieces spell any word, but one spelt letter by letter takes a position per letter: on
# SST-2 dev with a vocabulary pruned on SST-2 train (benchmarks/heldout_unk.py), 0 whole tokens
# make sentences 3.9x the teacher's length (24% over a 64-token model's 62), 500 make 2.1x
# (5.7%), 1,000 make 1.7x (2.5%), 2,000 1.4x (0.8%). No suggestion goes below 1,000.
MIN_USEFUL_VOCAB = 1_000
# A narrow suggestion first keeps this many tokens, when some width allows it: narrowing costs
# every sentence a little, a small vocabulary costs the sentences it cannot spell a lot. Measured
# for the cortex-m7 budget (benchmarks/narrow_init.py, 8,000 SST-2 sentences, 3 epochs, cosine to
# the teacher): 3 layers at hidden 128 / 7,715 tokens 0.676, at 96 / 13,214 tokens 0.652, at
# 192 / 1,064 tokens 0.602; 2 layers at 160 / 6,254 tokens 0.688, at 128 / 9,700 tokens 0.678.
BROAD_VOCAB = 6_000

# (role, shape); role is "table", "linear", "stream" (a linear that reads the residual stream:
# the split an integer .tflite makes of it doubles its channels' parameters) or "vector"
Tensor = tuple[str, tuple[int, ...]]


@dataclass(frozen=True, kw_only=True)
class Shape:
    """The architecture numbers a plan needs, read from a teacher's config.json."""

    model_type: str
    task: str  # "classification", "token-classification" or "embedding"
    vocab_size: int
    hidden_size: int
    num_layers: int
    intermediate_size: int
    max_positions: int
    position_offset: int  # RoBERTa numbers positions from padding_idx + 1
    type_vocab_size: int
    num_labels: int
    num_heads: int = 1
    projection: int = 0  # a narrow embedding student's map back to the teacher's size
    pieces: int = 0  # single-character pieces a pruned vocabulary keeps (0: not known)


@dataclass(frozen=True, kw_only=True)
class Component:
    parameters: int
    bytes: int


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    layers: int
    vocab_size: int
    bytes: int
    text: str
    hidden: int  # the student's hidden size (the teacher's unless the suggestion narrows it)


@dataclass(frozen=True, kw_only=True)
class Plan:
    target: str
    teacher: str
    task: str
    scheme: str
    formats: tuple[str, ...]
    teacher_layers: int
    teacher_parameters: int
    layers: int
    vocab_size: int
    teacher_vocab_size: int
    pieces: int  # single-character pieces within vocab_size (0 when nothing is pruned)
    hidden_size: int  # the teacher's
    student_hidden: int
    sequence_length: int
    position_rows: int
    embeddings: Component
    encoder: Component
    head: Component
    graph: Component
    # the tokenizer the artifact carries: a microcontroller's C tokenizer beside the model, the
    # MediaPipe metadata inside a phone's or watch's .tflite (0 bytes elsewhere)
    tokenizer: Component
    limit_bytes: int
    limit_name: str
    flash_bytes: int | None
    suggestions: tuple[Suggestion, ...]

    @property
    def parameters(self) -> int:
        return self.embeddings.parameters + self.encoder.parameters + self.head.parameters

    @property
    def artifact_bytes(self) -> int:
        """What the build ships into the budgets: the model, and its tokenizer (the C tokenizer
        that goes into flash beside it, or the metadata inside a .tflite)."""
        model = self.embeddings.bytes + self.encoder.bytes + self.head.bytes + self.graph.bytes
        return model + self.tokenizer.bytes

    @property
    def fits(self) -> bool:
        return self.artifact_bytes <= self.limit_bytes

    @property
    def over_by(self) -> int:
        return max(0, self.artifact_bytes - self.limit_bytes)


def read_shape(config: dict[str, Any], source: str) -> Shape:
    """A ``Shape`` from config.json, or one clear error naming the file and the missing key."""
    family = require_family(config, source, PlanError)
    keys = {
        "vocab_size": "vocab_size",
        "hidden_size": family.hidden_key,
        "num_layers": family.layers_key,
        "intermediate_size": family.intermediate_key,
        "max_positions": "max_position_embeddings",
        "num_heads": family.heads_key,
    }
    values = {}
    for field, key in keys.items():
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PlanError(f"{source}: {key} = {value!r}; a positive integer is required")
        values[field] = value
    architectures = config.get("architectures") or []
    classifier = any(str(a).endswith("ForSequenceClassification") for a in architectures)
    tagger = any(str(a).endswith("ForTokenClassification") for a in architectures)
    task = "classification" if classifier else TOKEN_TASK if tagger else "embedding"
    return Shape(
        model_type=family.model_type,
        task=task,
        position_offset=family.position_offset(config),
        type_vocab_size=int(config.get("type_vocab_size", 2)) if family.token_types else 0,
        num_labels=_num_labels(config) if classifier or tagger else 0,
        **values,
    )


def _num_labels(config: dict[str, Any]) -> int:
    labels = config.get("id2label")
    return len(labels) if isinstance(labels, dict) and labels else int(config.get("num_labels", 2))


def with_pieces(shape: Shape, model_dir: Path) -> Shape:
    """``shape`` with the single-character pieces the tokenizer in ``model_dir`` makes every
    pruned vocabulary keep (``tokens.count_pieces``)."""
    from dataclasses import replace

    from edgedistil.tokens import count_pieces

    return replace(shape, pieces=count_pieces(model_dir))


def vocab_floor(shape: Shape) -> int:
    """The smallest pruned vocabulary: the special tokens and the single-character pieces."""
    return MIN_SPECIAL_TOKENS + shape.pieces


def useful_vocab(shape: Shape) -> int:
    """The smallest vocabulary a suggestion offers: the floor plus ``MIN_USEFUL_VOCAB``."""
    return vocab_floor(shape) + MIN_USEFUL_VOCAB


def default_layers(teacher_layers: int) -> int:
    """DistilBERT's ratio: half the teacher's layers (12 -> 6, 6 -> 3), at least one."""
    return max(1, teacher_layers // 2)


def student_tensors(
    shape: Shape, layers: int, vocab: int, positions: int
) -> dict[str, list[Tensor]]:
    """Every tensor of the student by component, with the shapes transformers gives them."""
    h, i = shape.hidden_size, shape.intermediate_size
    embeddings: list[Tensor] = [("table", (vocab, h)), ("table", (positions, h))]
    if shape.type_vocab_size:
        embeddings.append(("table", (shape.type_vocab_size, h)))
    embeddings += [("vector", (h,)), ("vector", (h,))]  # LayerNorm weight, bias
    layer: list[Tensor] = []
    linears = (("stream", h, h),) * 3 + (("linear", h, h), ("stream", i, h), ("linear", h, i))
    for role, out, inp in linears:  # q, k, v, attention out, up, down
        layer += [(role, (out, inp)), ("vector", (out,))]
    layer += [("vector", (h,))] * 4  # two LayerNorms, weight and bias each
    head: list[Tensor] = []
    if shape.task == "classification":
        c = shape.num_labels
        head = [("linear", (h, h)), ("vector", (h,)), ("linear", (c, h)), ("vector", (c,))]
    elif shape.task == TOKEN_TASK:  # no pooler: a linear map of each token's hidden state
        head = [("linear", (shape.num_labels, h)), ("vector", (shape.num_labels,))]
    elif shape.projection:
        head = [("linear", (shape.projection, h))]
    return {"embeddings": embeddings, "encoder": layer * layers, "head": head}


def price(tensors: list[Tensor], scheme: str, per_channel: bool, fmt: str = "onnx") -> Component:
    """Parameters and bytes of a list of tensors under a quantization scheme, in the files of
    format ``fmt``: each quantized table takes one scale, each linear weight one per output
    channel (``channel_params``)."""
    chosen = get_scheme(scheme)
    parameters = total = 0
    for role, dims in tensors:
        n = _numel(dims)
        parameters += n
        if role == "vector":
            total += n * chosen.vector_bytes
        elif _kept_float(chosen, fmt, n):
            total += n * 4
        else:
            total += n * (chosen.table_bytes if role == "table" else chosen.matrix_bytes)
            channels = dims[0] if role != "table" and per_channel else 1
            total += channels * channel_params(scheme, fmt, role) if chosen.quantized else 0
    return Component(parameters=parameters, bytes=total)


def _kept_float(scheme: Any, fmt: str, elements: int) -> bool:
    """A small weight a dynamic-range converter leaves in float32."""
    smallest = get_format(fmt).hybrid_min_elements
    return scheme.quantized and not scheme.calibrated and elements < smallest


def channel_params(scheme: str, fmt: str, role: str) -> int:
    """Bytes of quantization parameters per channel of a ``role`` tensor: its weight's, and in a
    format's integer graph its bias's and, where the stream is split, its second half's
    (``Format.integer_graph_channels``)."""
    chosen, form = get_scheme(scheme), get_format(fmt)
    copies = 1
    if form.integer_graph_channels and chosen.calibrated and role != "table":
        copies += 1 + (role == "stream" and chosen.split_residual)
    return copies * form.channel_bytes


def _layers(n: int) -> str:
    return f"{n} layer" if n == 1 else f"{n} layers"


def _numel(dims: tuple[int, ...]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def plan_student(
    *,
    shape: Shape,
    teacher: str,
    profile: Profile,
    layers: int | None = None,
    vocab_size: int | None = None,
    hidden: int | None = None,
) -> Plan:
    """The student of ``shape`` for ``profile``: sizes, the verdict, and what would fit instead."""
    layers = default_layers(shape.num_layers) if layers is None else layers
    vocab = shape.vocab_size if vocab_size is None else vocab_size
    _check_request(shape, profile, layers, vocab)
    teacher_shape, shape = shape, narrowed(shape, hidden)
    positions = profile.export.sequence_length + shape.position_offset
    parts = _price_parts(shape, profile, layers, vocab, positions)
    limit, limit_name = _limit(profile)
    teacher_parts = student_tensors(
        teacher_shape, shape.num_layers, shape.vocab_size, shape.max_positions
    )
    plan = Plan(
        target=profile.name,
        teacher=teacher,
        task=shape.task,
        scheme=profile.quantize.scheme,
        formats=profile.export.formats,
        teacher_layers=shape.num_layers,
        teacher_parameters=sum(_numel(d) for part in teacher_parts.values() for _, d in part),
        layers=layers,
        vocab_size=vocab,
        teacher_vocab_size=shape.vocab_size,
        pieces=shape.pieces if vocab < shape.vocab_size else 0,
        hidden_size=teacher_shape.hidden_size,
        student_hidden=shape.hidden_size,
        sequence_length=profile.export.sequence_length,
        position_rows=positions,
        limit_bytes=limit,
        limit_name=limit_name,
        flash_bytes=None,
        suggestions=(),
        **parts,
    )
    overhead = profile.device.runtime_overhead_bytes if profile.device.is_microcontroller else None
    flash = None if overhead is None else plan.artifact_bytes + overhead
    suggestions: tuple[Suggestion, ...] = ()
    if not plan.fits:
        suggestions = _suggest(shape, profile, layers, vocab, positions, limit)
        if not suggestions and hidden is None:
            suggestions = _suggest_narrow(teacher_shape, profile, layers, vocab, positions, limit)
        if not suggestions:
            suggestions = (_nothing_fits(shape, profile, positions, limit),)
    return _replace(plan, flash_bytes=flash, suggestions=suggestions)


def head_size(shape: Shape) -> int:
    return shape.hidden_size // shape.num_heads


def narrowed(shape: Shape, hidden: int | None) -> Shape:
    """The shape of a student narrowed to ``hidden`` (``distill --hidden``): heads of the
    teacher's size, the FFN in the teacher's ratio, and an embedding's map back to the
    teacher's size."""
    from dataclasses import replace

    if hidden is None or hidden == shape.hidden_size:
        return shape
    size = head_size(shape)
    if not _narrowable(shape):
        raise PlanError(
            f"--hidden {hidden}: narrowing handles model_type {' and '.join(narrowable_names())}; "
            f'the teacher is "{shape.model_type}"'
        )
    if hidden % size or not 2 * size <= hidden <= shape.hidden_size:
        raise PlanError(
            f"--hidden {hidden}: must be a multiple of the teacher's head size {size} from "
            f"{2 * size} to its hidden size {shape.hidden_size}"
        )
    return replace(
        shape,
        hidden_size=hidden,
        num_heads=hidden // size,
        intermediate_size=shape.intermediate_size * hidden // shape.hidden_size,
        projection=shape.hidden_size if shape.task == "embedding" else 0,
    )


def _narrowable(shape: Shape) -> bool:
    family = family_of(shape.model_type)
    return family is not None and family.narrowable


def _replace(plan: Plan, **changes: Any) -> Plan:
    from dataclasses import replace

    return replace(plan, **changes)


def _check_request(shape: Shape, profile: Profile, layers: int, vocab: int) -> None:
    if not 1 <= layers <= shape.num_layers:
        raise PlanError(
            f"--layers {layers}: the teacher has {shape.num_layers} layers; "
            f"a student takes 1 to {shape.num_layers}"
        )
    if not MIN_SPECIAL_TOKENS <= vocab <= shape.vocab_size:
        raise PlanError(
            f"--vocab-size {vocab}: must be from {MIN_SPECIAL_TOKENS} (the special tokens) "
            f"to the teacher's {shape.vocab_size:,} tokens"
        )
    if vocab < shape.vocab_size and vocab < vocab_floor(shape):
        # Refused, not grown: a size that silently became larger would break the budget the
        # user sized it for, and one the pieces ate would prune every word of the text.
        raise PlanError(
            f"--vocab-size {vocab}: a pruned vocabulary keeps the {MIN_SPECIAL_TOKENS} special "
            f"tokens and the teacher's {shape.pieces:,} single-character pieces (so that no word "
            f"of its alphabet becomes [UNK]); use {vocab_floor(shape):,} to "
            f"{shape.vocab_size:,} tokens"
        )
    usable = shape.max_positions - shape.position_offset
    if profile.export.sequence_length > usable:
        raise PlanError(
            f"Target {profile.name} ({profile.source}) asks for [export].sequence_length = "
            f"{profile.export.sequence_length}, but the teacher has only {usable} positions"
        )


def _price_parts(
    shape: Shape, profile: Profile, layers: int, vocab: int, positions: int
) -> dict[str, Component]:
    q = profile.quantize
    tensors = student_tensors(shape, layers, vocab, positions)
    # the largest of the profile's artifacts: a budget holds for each of them
    parts = max(
        (
            {name: price(part, q.scheme, q.per_channel, fmt) for name, part in tensors.items()}
            for fmt in profile.export.formats
        ),
        key=lambda priced: sum(c.bytes for c in priced.values()),
    )
    base, per_layer = get_scheme(q.scheme).graph_bytes
    parts["graph"] = Component(parameters=0, bytes=base + per_layer * layers)
    parts["tokenizer"] = Component(parameters=0, bytes=_tokenizer_bytes(profile, vocab))
    return parts


# The C tokenizer a microcontroller build writes beside the model (export.c_tokenizer), measured
# for Cortex-M7 -Os by benchmarks/c_tokenizer.py: its Unicode tables (7,979 bytes) and code
# (~1,440) whatever the vocabulary, and the vocabulary's sorted table, 12.6 bytes a token for
# BERT's 30,522 (9.6 for 2,000 pruned ones): priced at the larger, so a plan that fits does.
C_TOKENIZER_FIXED = 9_419
C_TOKENIZER_PER_TOKEN = 13


# The MediaPipe metadata a LiteRT file carries (export.tflite_metadata): the vocabulary as
# vocab.txt, 7.6 bytes a token for BERT's 30,522 (6.4 for make demo's 7,600 pruned ones), and
# ~800 bytes of metadata, zip headers and the added input: priced at 8 a token and 1 KiB.
METADATA_FIXED = 1_024
METADATA_PER_TOKEN = 8


def _tokenizer_bytes(profile: Profile, vocab: int) -> int:
    """What the artifact's tokenizer adds (an upper estimate): a microcontroller's C tokenizer
    in flash, or the MediaPipe metadata in a LiteRT file; 0 elsewhere. A BPE or unigram student
    gets neither, so for one this is an overestimate."""
    if profile.device.is_microcontroller:
        return C_TOKENIZER_FIXED + C_TOKENIZER_PER_TOKEN * vocab
    if any(get_format(name).runtime == "litert" for name in profile.export.formats):
        return METADATA_FIXED + METADATA_PER_TOKEN * vocab
    return 0


def _limit(profile: Profile) -> tuple[int, str]:
    """The tightest byte limit on the artifact, and which budget sets it."""
    b, d = profile.budgets, profile.device
    limit, name = b.max_model_bytes, "[budgets].max_model_bytes"
    if d.is_microcontroller and b.max_flash_bytes is not None:
        room = b.max_flash_bytes - d.runtime_overhead_bytes
        if room < limit:
            limit, name = room, "[budgets].max_flash_bytes - [device].runtime_overhead_bytes"
    return limit, name


def _bytes_at(shape: Shape, profile: Profile, layers: int, vocab: int, positions: int) -> int:
    parts = _price_parts(shape, profile, layers, vocab, positions)
    return sum(c.bytes for c in parts.values())


def _max_vocab(shape: Shape, profile: Profile, layers: int, positions: int, limit: int) -> int:
    """The largest vocabulary that fits ``limit`` at ``layers`` (may be below any useful size)."""
    row = get_scheme(profile.quantize.scheme).matrix_bytes * shape.hidden_size
    row += _tokenizer_bytes(profile, 1) - _tokenizer_bytes(profile, 0)  # its table's share
    without_rows = _bytes_at(shape, profile, layers, 0, positions)
    return max(0, (limit - without_rows) // row)


def _suggest(
    shape: Shape, profile: Profile, layers: int, vocab: int, positions: int, limit: int
) -> tuple[Suggestion, ...]:
    """Fewer layers with the same vocabulary, and a pruned vocabulary at the most layers that
    fit, plus one layer fewer with the larger vocabulary that buys: depth against coverage is
    the user's call, so both are shown."""
    found: list[Suggestion] = []
    for fewer in range(layers - 1, 0, -1):
        size = _bytes_at(shape, profile, fewer, vocab, positions)
        if size <= limit:
            text = f"{_layers(fewer)} with the same vocabulary"
            found.append(
                Suggestion(
                    layers=fewer, vocab_size=vocab, bytes=size, text=text, hidden=shape.hidden_size
                )
            )
            break
    pruned = 0
    for n in range(layers, 0, -1):
        v = min(_max_vocab(shape, profile, n, positions, limit), vocab - 1)
        if v < useful_vocab(shape):
            if pruned:
                break
            continue
        size = _bytes_at(shape, profile, n, v, positions)
        text = f"{_layers(n)} with the vocabulary pruned to {v:,} tokens"
        found.append(
            Suggestion(layers=n, vocab_size=v, bytes=size, text=text, hidden=shape.hidden_size)
        )
        pruned += 1
        if pruned == 2 or v == vocab - 1:
            break
    return tuple(found)


def _suggest_narrow(
    shape: Shape, profile: Profile, layers: int, vocab: int, positions: int, limit: int
) -> tuple[Suggestion, ...]:
    """Nothing fits at the teacher's width: the widest narrow students with ``layers`` layers
    that fit, keeping a broad vocabulary first, then the widest with a useful one."""
    if not _narrowable(shape):
        return ()
    size = head_size(shape)
    found: list[Suggestion] = []
    useful = useful_vocab(shape)
    for floor in (max(BROAD_VOCAB, useful), useful):
        for width in range(shape.hidden_size - size, 2 * size - 1, -size):
            narrow = narrowed(shape, width)
            v = min(_max_vocab(narrow, profile, layers, positions, limit), vocab)
            if v < min(floor, vocab):
                continue
            if not any(s.hidden == width for s in found):
                size_bytes = _bytes_at(narrow, profile, layers, v, positions)
                text = (
                    f"{_layers(layers)} at hidden size {width} (narrowed) with the vocabulary "
                    f"pruned to {v:,} tokens"
                )
                found.append(
                    Suggestion(
                        layers=layers, vocab_size=v, bytes=size_bytes, text=text, hidden=width
                    )
                )
            break
    return tuple(found)


def _nothing_fits(shape: Shape, profile: Profile, positions: int, limit: int) -> Suggestion:
    vocab = min(useful_vocab(shape), shape.vocab_size)
    smallest = _bytes_at(shape, profile, 1, vocab, positions)
    return Suggestion(
        layers=1,
        vocab_size=vocab,
        bytes=smallest,
        hidden=shape.hidden_size,
        text=(
            f"nothing at hidden size {shape.hidden_size} fits: 1 layer with a "
            f"{vocab:,}-token vocabulary is still {smallest - limit:,} bytes over; "
            "a narrower student (--hidden) is needed"
        ),
    )


def plan_to_fit(
    *,
    shape: Shape,
    teacher: str,
    profile: Profile,
    layers: int | None = None,
    vocab_size: int | None = None,
    hidden: int | None = None,
) -> Plan:
    """The student ``build`` makes: the user's when they gave a vocabulary size or the default
    fits, else the first suggestion that fits and keeps the layers and width the user gave.
    Nothing that fits is an error naming the overshoot and the first suggestion."""
    plan = plan_student(
        shape=shape,
        teacher=teacher,
        profile=profile,
        layers=layers,
        vocab_size=vocab_size,
        hidden=hidden,
    )
    if plan.fits or vocab_size is not None:
        return plan
    chosen = first_fitting(plan, layers=layers, hidden=hidden)
    if chosen is None:
        advice = plan.suggestions[0].text if plan.suggestions else ""
        raise PlanError(
            f"{profile.name}: the planned student is {plan.artifact_bytes:,} bytes, "
            f"{plan.over_by:,} over {plan.limit_name} ({plan.limit_bytes:,}); {advice}"
        )
    return plan_student(
        shape=shape,
        teacher=teacher,
        profile=profile,
        layers=chosen.layers,
        vocab_size=chosen.vocab_size if chosen.vocab_size < shape.vocab_size else None,
        hidden=chosen.hidden,
    )


def first_fitting(plan: Plan, *, layers: int | None, hidden: int | None) -> Suggestion | None:
    """The first of ``plan``'s suggestions within its limit that keeps the layers and width
    asked for (None: any), in the order the plan gives them."""
    for s in plan.suggestions:
        if (
            s.bytes <= plan.limit_bytes
            and layers in (None, s.layers)
            and hidden in (None, s.hidden)
        ):
            return s
    return None
