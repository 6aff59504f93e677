"""``distill`` and ``finetune`` from options to a Hugging Face model directory.

The teacher is resolved and verified, the data read and split, the student built from the
teacher's layers (and its vocabulary pruned when asked), trained by ``train.fit``, and written
as config.json + model.safetensors + tokenizer files + ``edgedistil.json`` (the record of the
run: time, seed, every hyper-parameter, the layer map, the metrics, and the student measured
against its teacher on the eval set, ``distill.versus``). The files are written
under temporary names and renamed, ``edgedistil.json`` last, so a model directory with that
file is complete.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil import __version__
from edgedistil.data import SAMPLE_TEXT, Examples, TextInput, read_examples, split_holdout
from edgedistil.distill import augment, checkpoint, relations, train, versus, width
from edgedistil.distill import student as student_mod
from edgedistil.distill.vocab import choose_tokens, prune_embeddings, prune_tokenizer
from edgedistil.errors import DistillError
from edgedistil.families import require_family, uses_token_types
from edgedistil.files import move_into, write_json
from edgedistil.plan import default_layers
from edgedistil.teacher import (
    DENSE_MODULE,
    NORMALIZE_MODULE,
    Teacher,
    is_token_classifier,
    load_teacher_model,
    load_tokenizer,
    read_modules,
    read_pooling,
    resolve_teacher,
)

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
TOKEN = train.TOKEN_TASK

# Classification follows BERT fine-tuning's 5e-5. Embedding distillation measured better at 5e-4
# (benchmarks/distill_embedding.py, 3-layer MiniLM on the sample text, 6 epochs: eval cosine to
# the teacher 0.717 against 0.687 at 2e-4).
LR_BY_TASK = {
    "classification": 5e-5,
    "token-classification": 5e-5,  # BERT's NER fine-tuning rate too
    "finetune": 5e-5,
    "embedding": 5e-4,
}
DENSE_PATH = "2_Dense"
POOLING_KEYS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
}


@dataclass(frozen=True, kw_only=True)
class Job:
    """What the user asked for; ``settings`` holds the training hyper-parameters."""

    teacher: str
    data: Path | None
    out: Path
    settings: train.Settings
    task: str | None = None
    lr: float | None = None  # None: LR_BY_TASK
    layers: int | None = None
    layer_map: str | None = None
    hidden: int | None = None  # None: the teacher's width
    vocab_size: int | None = None
    prune_vocab: bool = False
    text_column: str | None = None
    label_column: str | None = None
    pair_column: str | None = None  # the second text of pair data; None: found by name, if any
    eval_path: Path | None = None
    eval_fraction: float = 0.1
    resume: bool = False
    unlabelled: Path | None = None  # in-domain text without labels, for the teacher's terms
    # the augmentation when settings.augment is None; None: the task's (augment.DEFAULT_FACTOR).
    # A default either way: a tokenizer it cannot serve gets a warning, not an error.
    augment_default: int | None = None
    # the converter's calibration text, read by quantization-aware epochs (settings.qat)
    calibration: Path | None = None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    out: Path
    task: str
    layer_map: list[int]
    parameters: int
    vocab_size: int
    hidden: int
    train_examples: int
    extra_examples: int  # unlabelled and augmented rows, beside the labelled train_examples
    eval_examples: int
    truncated: int
    state: train.State
    # the student against its teacher on the eval set (distill.versus); None: finetune, or a
    # rank other than 0 under torchrun
    vs_teacher: dict[str, Any] | None = None


def distill(job: Job, progress: train.Progress | None = None) -> Outcome:
    teacher = resolve_teacher(job.teacher)
    _check_seq_len(job, teacher)
    model = load_teacher_model(teacher)
    task = _task(job, model, teacher)
    _check_weights(job.settings, task)
    layers = _teacher_layers(model)
    layer_map = _layer_map(job, layers)
    tokenizer = _tokenizer(teacher)
    train_set, eval_set = _data(job, need_labels=task in train.LOGIT_TASKS, words=task == TOKEN)
    _check_tags(task, train_set, eval_set)
    if task in train.LOGIT_TASKS:
        train_set, eval_set = (_align_labels(x, model) for x in (train_set, eval_set))
    student = student_mod.build_student(model, layer_map)
    student, hidden_dims, probe = _narrowed(
        job, teacher, model, student, tokenizer, train_set, layer_map
    )
    if task == "embedding" and getattr(student, "pooler", None) is not None:
        # Mean pooling never reads the pooler: frozen, it stays the teacher's, and DDP does not
        # wait for gradients that never come.
        student.pooler.requires_grad_(False)
    _check_relation_heads(job.settings, student, model)
    unlabelled = _unlabelled(job, train_set, task)
    pruning = _pruning(job, tokenizer, train_set, eval_set, unlabelled)
    student_tokenizer, id_map = _pruned(student, tokenizer, pruning)
    factor = _augment_factor(job, task, tokenizer, teacher)
    new = _augmented(job, teacher, tokenizer, model, train_set, pruning, factor, progress)
    extra = unlabelled + new
    if probe is not None and task == "embedding":
        setattr(student, width.PROJECTION, _projection(student, model, probe, teacher, id_map))
    settings = dataclasses.replace(
        job.settings,
        task=task,
        layer_map=layer_map,
        pooling=_pooling(teacher),
        lr=job.lr or LR_BY_TASK[task],
        target_layers=student_mod.target_layers(layers, len(layer_map)),
        hidden_dims=hidden_dims,
        pairs=train_set.pairs is not None,
        augment=factor,
    )
    _check_extra(extra, settings)
    run = _run(
        job, settings, student, model, tokenizer, train_set, eval_set, progress, id_map, extra
    )
    then = _quant_aware(job, run, tokenizer, teacher, train_set)
    state = train.fit(run, resume=job.resume, then=then)
    measured = _vs_teacher(job, run, eval_set)  # before _save moves the student to the CPU
    _save(job, run, student_tokenizer, teacher, state, measured)
    train.leave_group()
    return _outcome(job, run, state, train_set, eval_set, measured)


def _layer_map(job: Job, layers: int) -> list[int]:
    """The teacher layers the student starts from: as given, else spread over the teacher."""
    if job.layer_map:
        return student_mod.parse_layer_map(job.layer_map, layers)
    return student_mod.default_layer_map(layers, job.layers or default_layers(layers))


def _narrowed(
    job: Job,
    teacher: Teacher,
    model: Any,
    student: Any,
    tokenizer: Any,
    train_set: Examples,
    layer_map: list[int],
) -> tuple[Any, list[int], list[dict[str, torch.Tensor]] | None]:
    """The student narrowed to ``--hidden`` (distill.width): (student, the teacher dimensions it
    kept, the probe batches that chose them); as it is, ([], None), at the teacher's width."""
    config: Any = model.config
    if job.hidden is None or job.hidden == config.hidden_size:
        return student, [], None
    width.check_width(config, job.hidden)
    _check_no_dense(teacher)
    probe = _probe_batches(tokenizer, train_set, job.settings, model)
    chosen = width.choose(config, job.hidden, width.importance(model, layer_map, probe))
    ratios = width.norm_ratios(model, layer_map, probe, chosen.dims)
    return width.narrow(student, chosen, ratios), chosen.dims, probe


def _pruned(student: Any, tokenizer: Any, pruning: Any) -> tuple[Any, torch.Tensor | None]:
    """The student's embeddings cut to the pruned vocabulary: (its tokenizer, teacher id ->
    student id); the teacher's tokenizer and no map when nothing is pruned."""
    if pruning is None:
        return tokenizer, None
    prune_embeddings(student, pruning)
    id_map = _id_map(pruning.old_to_new, len(tokenizer), tokenizer.unk_token_id)
    return prune_tokenizer(tokenizer, pruning), id_map


def _vs_teacher(job: Job, run: train.Run, eval_set: Examples) -> dict[str, Any] | None:
    """The trained student against its teacher on the eval set; rank 0 alone measures (the
    others' figures would be the same), as it alone writes."""
    if train.world()[0] != 0:
        return None
    return versus.measure(
        run, eval_set, versus.HELD_OUT if job.eval_path is None else versus.EVAL_FILE
    )


def _pruning(
    job: Job, tokenizer: Any, train_set: Examples, eval_set: Examples, unlabelled: list[TextInput]
) -> Any:
    """The pruned vocabulary asked for, chosen on the text the student trains on, or None."""
    if not (job.prune_vocab or job.vocab_size is not None):
        return None
    # The data file only (its train part and the share held out for picking the best epoch)
    # and the user's unlabelled text, never an --eval text: a vocabulary chosen on the eval
    # text would make its [UNK] share, and every score on it, look better than on text the
    # student never saw. Augmented text is drawn from this vocabulary, so it is not needed.
    seen = train_set.all_texts() + (eval_set.all_texts() if job.eval_path is None else [])
    seen += [side for item in unlabelled for side in augment.sides(item)]
    return choose_tokens(tokenizer, seen, job.vocab_size)


def _unlabelled(job: Job, train_set: Examples, task: str) -> list[TextInput]:
    """The user's unlabelled in-domain text, as the training text's kind of input."""
    if job.unlabelled is None:
        return []
    found = read_examples(
        job.unlabelled,
        text_column=job.text_column,
        pair_column=job.pair_column,
        pairs=train_set.pairs is not None,
        words=task == TOKEN,
    )
    return found.inputs


def _augment_factor(job: Job, task: str, tokenizer: Any, teacher: Teacher) -> int:
    """The augmentation asked for, else the task's default (``augment.DEFAULT_FACTOR``). Asked
    for a tokenizer it cannot serve, it is an error; by default, a warning and no augmentation,
    as it is when only hard labels train (nothing would learn from the new text)."""
    asked = job.settings.augment
    what = f"--augment {asked} with teacher {teacher.path}"
    reason = augment.check_tokenizer(tokenizer, what if asked else f"teacher {teacher.path}")
    if asked is not None:
        if asked and reason is not None:
            raise DistillError(f"{reason}; leave out --augment (or set it to 0)")
        return asked
    factor = job.augment_default
    if factor is None:
        factor = augment.DEFAULT_FACTOR.get(task, 0)
    if factor and not train.uses_teacher(dataclasses.replace(job.settings, task=task)):
        return 0
    if factor and reason is not None:
        log.warning("%s; training on the text as given", reason)
        return 0
    return factor


def _augmented(
    job: Job,
    teacher: Teacher,
    tokenizer: Any,
    model: Any,
    train_set: Examples,
    pruning: Any,
    factor: int,
    progress: train.Progress | None,
) -> list[TextInput]:
    """``factor`` new sentences per training text (``distill.augment``)."""
    if factor == 0:
        return []
    options = augment.Options(factor=factor, seed=job.settings.seed)
    keep = None if pruning is None else set(pruning.old_to_new)
    mlm = augment.load_mlm(teacher.path, teacher.config)
    done = augment.augment(train_set.inputs, tokenizer, model, options, mlm, keep, progress)
    log.info(
        "augmented %d texts into %d more (%s, %d words with neighbours)",
        done.originals,
        len(done.inputs),
        done.source,
        done.eligible_words,
    )
    return done.inputs


def _quant_aware(
    job: Job, run: train.Run, tokenizer: Any, teacher: Teacher, train_set: Examples
) -> train.Phase | None:
    """What quantization-aware epochs read: the calibration text (as the converter reads it)
    and the student's head as the converted graph computes it; the phase to run after the
    ordinary epochs (None: none)."""
    s = run.settings
    if s.qat is None or not s.qat.epochs:
        return None
    from edgedistil.distill import qat
    from edgedistil.distill.fake_quant import Head, Mirror

    if job.calibration is None:
        raise DistillError("quantization-aware epochs need the calibration text (--calibration)")
    found = read_examples(
        job.calibration,
        text_column=job.text_column,
        pair_column=job.pair_column,
        pairs=train_set.pairs is not None,
        words=s.task == TOKEN,
    )
    segments = _segments(tokenizer, run.student)
    run.calibration = train.encode(tokenizer, found.inputs, None, s.seq_len, segments)
    modules = read_modules(teacher.path, error=DistillError) or []
    normalize = any(m.get("type") == NORMALIZE_MODULE for m in modules)
    run.qat_head = Head(task=s.task, pooling=s.pooling, normalize=normalize, pairs=s.pairs)
    Mirror.of(run.student, s.qat.graph, run.qat_head)  # a graph it cannot mirror: refused now
    return qat.fit


def _check_extra(extra: list[TextInput], settings: train.Settings) -> None:
    """Augmented and unlabelled text carries no label: it teaches through the teacher only."""
    if extra and not train.uses_teacher(settings):
        raise DistillError(
            "--augment and --unlabelled add text without labels, which only the teacher's "
            "terms learn from; set --alpha-kd, --alpha-cos or --alpha-att above 0, or leave "
            "them out for hard labels alone"
        )


def finetune(job: Job, progress: train.Progress | None = None) -> Outcome:
    """An encoder plus a fresh head trained on hard labels: a sequence classifier on labelled
    texts (or pairs), a token classifier on words with a tag each."""
    teacher = resolve_teacher(job.teacher)
    _check_seq_len(job, teacher)
    encoder = load_teacher_model(teacher)
    train_set, eval_set = _data(job, need_labels=True)
    tagger = train_set.words is not None
    train.set_seed(job.settings.seed)  # the new head's initial weights follow the seed
    model = _with_head(teacher, encoder, train_set.label_names or [], tagger)
    settings = dataclasses.replace(
        job.settings,
        # a tagger trains on its tags alone: no teacher, so no soft targets and no cosine
        task=TOKEN if tagger else "finetune",
        weights=dataclasses.replace(job.settings.weights, kd=0.0, cos=0.0, att=0.0),
        layer_map=[],
        lr=job.lr or LR_BY_TASK["finetune"],
        pairs=train_set.pairs is not None,
    )
    tokenizer = _tokenizer(teacher)
    run = _run(job, settings, model, None, tokenizer, train_set, eval_set, progress, None)
    state = train.fit(run, resume=job.resume)
    _save(job, run, tokenizer, teacher, state)
    train.leave_group()
    return _outcome(job, run, state, train_set, eval_set)


def _with_head(teacher: Teacher, encoder: Any, names: list[str], tagger: bool) -> Any:
    """The teacher's encoder under a fresh classification head (a token classifier's for
    ``tagger``) with ``names`` as its labels."""
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    config = AutoConfig.from_pretrained(
        str(teacher.path),
        local_files_only=True,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        architectures=None,
    )
    factory: Any = AutoModelForTokenClassification if tagger else AutoModelForSequenceClassification
    model = factory.from_config(config)
    base = getattr(encoder, "base_model", encoder)
    model.base_model.load_state_dict(base.state_dict(), strict=False)
    return model


def _check_seq_len(job: Job, teacher: Teacher) -> None:
    """Before any training: a family edgedistil cannot export, and a length beyond the position
    table (which ends inside torch otherwise), are one line each."""
    family = require_family(teacher.config, teacher.path / "config.json", DistillError)
    offset = family.position_offset(teacher.config)
    usable = int(teacher.config.get("max_position_embeddings", 512)) - offset
    if job.settings.seq_len > usable:
        raise DistillError(
            f"--seq-len {job.settings.seq_len}: longer than the teacher {teacher.path} can "
            f"take (its config.json max_position_embeddings allows {usable}); choose a length "
            f"from 1 to {usable}"
        )


def _task(job: Job, model: Any, teacher: Teacher) -> str:
    """The task asked for, or the one the teacher's head does; a task its head cannot do is
    one line naming the architecture and the tasks this teacher can be distilled for."""
    tagger = is_token_classifier(teacher.config)
    classifier = hasattr(model, "classifier") and not tagger
    own = TOKEN if tagger else "classification" if classifier else "embedding"
    task = job.task or own
    if task in train.LOGIT_TASKS and task != own:
        kinds = {TOKEN: "a token-classification", "classification": "a classification"}
        architectures = teacher.config.get("architectures") or ["none named"]
        can = sorted({own, "embedding"})
        raise DistillError(
            f'--task {task}: the teacher "{job.teacher}" has no trained {kinds[task][2:]} head '
            f"(architectures: {', '.join(map(str, architectures))}); it can be distilled with "
            f"--task {' or '.join(can)}" + _make_head_hint(task)
        )
    return task


def _make_head_hint(task: str) -> str:
    if task != "classification":
        return ""
    return "; make a classifier first with `edgedistil finetune --teacher ENCODER --data TRAIN.tsv`"


def _tokenizer(teacher: Teacher) -> Any:
    return load_tokenizer(teacher.path, error=DistillError)


def _data(job: Job, need_labels: bool, words: bool = False) -> tuple[Examples, Examples]:
    path = job.data
    if path is None:
        if need_labels:
            raise DistillError("--data is required: classification needs labelled examples")
        if not SAMPLE_TEXT.is_file():
            raise DistillError(
                f"--data is required: the sample text {SAMPLE_TEXT} is not "
                "installed with this copy of edgedistil"
            )
        path = SAMPLE_TEXT

    def read(p: Path, pairs: bool | None) -> Examples:
        return read_examples(
            p,
            text_column=job.text_column,
            label_column=job.label_column,
            pair_column=job.pair_column,
            pairs=pairs,
            need_labels=need_labels,
            words=words,
        )

    examples = read(path, None)
    if job.eval_path is not None:  # text pairs to learn from, text pairs to score on
        return examples, read(job.eval_path, examples.pairs is not None)
    return split_holdout(examples, job.eval_fraction, job.settings.seed)


def _align_labels(examples: Examples, model: Any) -> Examples:
    """Data labels as the teacher's class ids: by name, or by position for LABEL_i names."""
    id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
    names = examples.label_names or []
    teacher_names = [id2label[i] for i in sorted(id2label)]
    if set(names) <= set(teacher_names):
        index = {n: teacher_names.index(n) for n in names}
    elif len(names) == len(teacher_names) and all(
        n == f"LABEL_{i}" for i, n in enumerate(teacher_names)
    ):
        index = {n: i for i, n in enumerate(names)}
    else:
        raise DistillError(
            f"{examples.source}: labels {names} do not match the teacher's classes {teacher_names}"
        )
    labels = [index[names[i]] for i in examples.labels or []]
    if examples.tags is not None:  # token classification: each word's tag, the same way
        tags = [[index[names[t]] for t in row] for row in examples.tags]
        return dataclasses.replace(examples, tags=tags, label_names=teacher_names)
    return dataclasses.replace(examples, labels=labels, label_names=teacher_names)


def _check_no_dense(teacher: Teacher) -> None:
    """A teacher that ends in its own Dense module: its embedding is not the pooled output that
    distillation matches, and a second map would stack on it."""
    if any(m.get("type") == DENSE_MODULE for m in read_modules(teacher.path, error=DistillError)):
        raise DistillError(
            f"{teacher.path / 'modules.json'}: the teacher ends in a Dense module; --hidden "
            "narrows teachers whose embedding is the pooled output only (leave out --hidden to "
            "keep its width)"
        )


def _probe_batches(
    tokenizer: Any, examples: Examples, settings: train.Settings, model: Any
) -> list[dict[str, torch.Tensor]]:
    """The first sentences of the training text, batched, for width.importance and the
    projection's fit."""
    texts = examples.inputs[: width.PROBE_TEXTS]
    enc = train.encode(tokenizer, texts, None, settings.seq_len, _segments(tokenizer, model))
    size = settings.batch_size
    return [
        train.collate(enc, list(range(i, min(i + size, len(texts)))))
        for i in range(0, len(texts), size)
    ]


def _projection(
    student: Any, model: Any, probe: list[dict[str, torch.Tensor]], teacher: Teacher, id_map: Any
) -> torch.nn.Linear:
    def map_ids(ids: torch.Tensor) -> torch.Tensor:
        return ids if id_map is None else id_map[ids]

    return width.fit_projection(student, model, probe, _pooling(teacher), map_ids)


def _teacher_layers(model: Any) -> int:
    return len(student_mod.layer_list(model)[1])


def _pooling(teacher: Teacher) -> str:
    config = read_pooling(teacher.path, error=DistillError)
    if config is None:
        return "mean"
    return next((mode for key, mode in POOLING_KEYS.items() if getattr(config, key)), "mean")


def _id_map(old_to_new: dict[int, int], size: int, unk: int) -> torch.Tensor:
    """Teacher id -> student id; tokens the pruned vocabulary dropped become its [UNK]."""
    import torch

    return torch.tensor([old_to_new.get(i, old_to_new[unk]) for i in range(size)])


def _run(
    job: Job,
    settings: train.Settings,
    student: Any,
    teacher: Any,
    tokenizer: Any,
    train_set: Examples,
    eval_set: Examples,
    progress: train.Progress | None,
    id_map: torch.Tensor | None,
    extra: list[TextInput] | None = None,
) -> train.Run:
    _check_out(job)
    segments = _segments(tokenizer, student)
    extra = extra or []
    enc_train = train.encode(
        tokenizer,
        train_set.inputs + extra,
        _with_unlabelled(_targets(train_set), extra),
        settings.seq_len,
        segments,
    )
    enc_eval = train.encode(
        tokenizer, eval_set.inputs, _targets(eval_set), settings.seq_len, segments
    )
    run = train.Run(
        student=student,
        teacher=teacher,
        train=enc_train,
        eval=enc_eval,
        settings=settings,
        out=job.out,
        id_map=id_map,
    )
    if progress is not None:
        run.progress = progress
    return run


def _check_tags(task: str, *sets: Examples) -> None:
    if task != TOKEN:
        return
    for examples in sets:
        if examples.tags is None:
            raise DistillError(
                f"{examples.source}: no words with tags; a token classifier learns from JSONL "
                'rows such as {"tokens": ["set", "a", "timer"], "tags": ["O", "O", "B-ALARM"]}'
            )


def _with_unlabelled(targets: Any, extra: list[TextInput]) -> Any:
    """Labels for the training rows then ``train.IGNORE`` for each extra row (a tag a word
    for token classification), so the hard-label loss skips them."""
    if targets is None or not extra:
        return targets
    if targets and isinstance(targets[0], list):
        return targets + [[train.IGNORE] * len(words) for words in extra]
    return targets + [train.IGNORE] * len(extra)


# The loss weights each task reads, by their option names (--alpha-NAME)
_TASK_WEIGHTS = {
    "classification": ("kd", "ce", "cos", "att"),
    TOKEN: ("kd", "ce", "cos", "att"),
    "embedding": ("cos", "mse", "att"),
}


def _check_weights(settings: train.Settings, task: str) -> None:
    """Weights that sum to zero would train on a loss of 0: the student would not change."""
    names = _TASK_WEIGHTS[task]
    if sum(getattr(settings.weights, name) for name in names) > 0:
        return
    options = ", ".join(f"--alpha-{name}" for name in names)
    hint = " (hard labels alone: --alpha-ce above 0, the others 0)" if "ce" in names else ""
    raise DistillError(
        f"{options}: the {task} loss weights are all 0, so the student would learn nothing; "
        f"give at least one of them a weight above 0{hint}"
    )


def _check_relation_heads(settings: train.Settings, student: Any, teacher: Any) -> None:
    """The relation heads must split both widths; unread (and so unchecked) without --alpha-att."""
    if settings.weights.att > 0:
        relations.check_heads(settings.relation_heads, student, teacher)
    elif settings.relation_heads is not None:
        log.warning(
            "--relation-heads %d has no effect: the attention-relation term is off "
            "(give it a weight with --alpha-att)",
            settings.relation_heads,
        )


def _targets(examples: Examples) -> Any:
    """What ``train.encode`` aligns: a label an example, or a tag a word."""
    return examples.tags if examples.tags is not None else examples.labels


def _segments(tokenizer: Any, model: Any) -> bool:
    """Whether batches carry token type ids: where the family has segments (a BERT tells the
    two texts of a pair apart by them; for single texts they are all 0, its default)."""
    return uses_token_types(model.config.to_dict(), tokenizer)


def _check_out(job: Job) -> None:
    has_checkpoint = checkpoint.latest_checkpoint(job.out) is not None
    if job.resume and not has_checkpoint:
        raise DistillError(f"--resume: no checkpoint in {checkpoint.checkpoint_dir(job.out)}")
    if not job.resume and has_checkpoint:
        raise DistillError(
            f"{job.out} holds checkpoints of an unfinished run; add --resume to "
            "continue it, or choose another --out"
        )
    if not job.resume and (job.out / "edgedistil.json").exists():
        raise DistillError(f"{job.out} already holds a model; choose another --out or remove it")


def _save(
    job: Job,
    run: train.Run,
    tokenizer: Any,
    teacher: Teacher,
    state: train.State,
    vs_teacher: dict[str, Any] | None = None,
) -> None:
    if train.world()[0] != 0:
        return
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # the library does not print; the CLI shows progress
    staging = job.out / ".model.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model = train.unwrap(run.student).cpu()
    projection = width.projection_of(model)
    if projection is not None:  # not a BERT weight: it ships as sentence-transformers' Dense
        delattr(model, width.PROJECTION)
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    _write_vocab(tokenizer, staging)
    if run.settings.task == "embedding":
        _copy_pooling(teacher, staging, model.config.hidden_size)
    if projection is not None:
        _write_dense(projection, staging)
        setattr(model, width.PROJECTION, projection)
    record = _record(job, run, teacher, state)
    if vs_teacher is not None:
        record["vs_teacher"] = vs_teacher
    move_into(staging, job.out)
    write_json(job.out / "edgedistil.json", record)  # last: a folder with it is complete
    shutil.rmtree(checkpoint.checkpoint_dir(job.out), ignore_errors=True)


def _write_vocab(tokenizer: Any, directory: Path) -> None:
    """vocab.txt beside tokenizer.json: what embedded WordPiece tokenisers read."""
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    if model.get("type") != "WordPiece":
        return
    tokens = sorted(model["vocab"], key=model["vocab"].get)
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")


def _copy_pooling(teacher: Teacher, directory: Path, hidden: int) -> None:
    """The sentence-transformers files, so the student loads there as the teacher did."""
    for name in ("modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        if (teacher.path / name).is_file():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(teacher.path / name, directory / name)
    pooling = directory / "1_Pooling" / "config.json"
    if pooling.is_file():  # a narrow student pools its own width
        config = json.loads(pooling.read_text())
        config["word_embedding_dimension"] = hidden
        pooling.write_text(json.dumps(config, indent=2))


def _write_dense(projection: torch.nn.Linear, directory: Path) -> None:
    """The projection as sentence-transformers' Dense module (2_Dense), listed in modules.json
    after pooling and before any Normalize, which is where sentence-transformers applies it."""
    from safetensors.torch import save_file

    folder = directory / DENSE_PATH
    folder.mkdir()
    config = {
        "in_features": projection.in_features,
        "out_features": projection.out_features,
        "bias": False,
        "activation_function": "torch.nn.modules.linear.Identity",
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_file(
        {"linear.weight": projection.weight.detach().contiguous()},
        str(folder / "model.safetensors"),
    )
    pooling = directory / "1_Pooling" / "config.json"
    if not pooling.is_file():  # the teacher had none: training pooled by mean, so say that
        pooling.parent.mkdir(exist_ok=True)
        config = {
            "word_embedding_dimension": projection.in_features,
            "pooling_mode_mean_tokens": True,
        }
        pooling.write_text(json.dumps(config, indent=2))
    modules = read_modules(directory) or _plain_modules()
    at = next((i for i, m in enumerate(modules) if m.get("type") == NORMALIZE_MODULE), len(modules))
    modules.insert(at, {"path": DENSE_PATH, "type": DENSE_MODULE})
    for i, m in enumerate(modules):
        m["idx"], m["name"] = i, str(i)
    (directory / "modules.json").write_text(json.dumps(modules, indent=2))


def _plain_modules() -> list[dict[str, Any]]:
    return [
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]


def _record(job: Job, run: train.Run, teacher: Teacher, state: train.State) -> dict[str, Any]:
    from edgedistil.teacher import find_weights, sha256_of

    return {
        "edgedistil": __version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "teacher": job.teacher,
        "teacher_weights_sha256": sha256_of(find_weights(teacher.path)),
        "data": str(job.data) if job.data else str(SAMPLE_TEXT),
        "unlabelled": str(job.unlabelled) if job.unlabelled else None,
        # every row trained on: the data's train part, the unlabelled text, the augmented text
        "train_rows": len(run.train.ids),
        "settings": train.settings_dict(run.settings),
        "truncated": {"train": run.train.truncated, "eval": run.eval.truncated if run.eval else 0},
        "history": state.history,
        "best": state.best,
    }


def _outcome(
    job: Job,
    run: train.Run,
    state: train.State,
    train_set: Examples,
    eval_set: Examples,
    vs_teacher: dict[str, Any] | None = None,
) -> Outcome:
    model = train.unwrap(run.student)
    return Outcome(
        out=job.out,
        task=run.settings.task,
        layer_map=run.settings.layer_map,
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=model.config.vocab_size,
        hidden=model.config.hidden_size,
        train_examples=len(train_set),
        extra_examples=len(run.train.ids) - len(train_set),
        eval_examples=len(eval_set),
        truncated=run.train.truncated,
        state=state,
        vs_teacher=vs_teacher,
    )
