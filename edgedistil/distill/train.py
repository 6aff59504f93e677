"""The training loop shared by ``distill`` and ``finetune``.

One loop serves CPU, one GPU and many: under ``torchrun`` (WORLD_SIZE > 1) it joins the process
group (gloo on CPU, nccl on GPU), wraps the student in DistributedDataParallel and gives each
rank its share of every epoch's shuffled order; only rank 0 writes. Each epoch ends in an
atomic checkpoint (a temporary directory renamed into place), so a killed run resumes from its
last finished epoch, with the same data order and random state as if it had never stopped.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgedistil.data import TextInput, is_words
from edgedistil.distill import checkpoint, losses, relations, teacher_cache, width
from edgedistil.verify import tags

if TYPE_CHECKING:
    import torch

    from edgedistil.distill import fake_quant

log = logging.getLogger(__name__)
TOKEN_TASK = tags.TASK  # a label a word, on the word's first sub-token
LOGIT_TASKS = ("classification", TOKEN_TASK)  # the student learns the teacher's logits
IGNORE = -100  # no label here: a word's later sub-tokens, special tokens, padding (HF's value)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every hyper-parameter of a run; saved with checkpoints and the final model."""

    task: str  # "classification", "token-classification", "embedding" or "finetune"
    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-5  # distill/finetune pick it per task when the user gives none (LR_BY_TASK)
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of optimizer steps spent warming up
    grad_accum: int = 1
    seq_len: int = 128
    seed: int = 42
    patience: int | None = 2  # epochs without improvement before stopping; None: never
    pooling: str = "mean"
    layer_map: list[int] = field(default_factory=list)  # teacher layers the student started from
    target_layers: list[int] = field(
        default_factory=list
    )  # teacher layer each student layer matches
    # teacher hidden dimensions a narrow student kept (distill.width); empty: all of them
    hidden_dims: list[int] = field(default_factory=list)
    weights: losses.Weights = field(default_factory=losses.Weights)
    cache_teacher: str = "auto"  # "auto", "on" (RAM), "off" or "disk" (teacher_cache.storage)
    # relation heads each side splits its Q, K and V into (weights.att); None: the student's heads
    relation_heads: int | None = None
    # the examples are text pairs: what later stages read back to feed pairs (records.hf)
    pairs: bool = False
    # new sentences per training text from the teacher's word neighbours (distill.augment);
    # they and any unlabelled text feed the teacher's terms only, never the hard labels.
    # None: the task's default (augment.DEFAULT_FACTOR); the job records the factor it used
    augment: int | None = None
    # quantization-aware epochs after the ordinary ones (distill.qat); None: none
    qat: fake_quant.QuantAware | None = None


@dataclass(frozen=True, kw_only=True)
class Encoded:
    """Token ids per example (unpadded) and labels, ready for batching."""

    ids: list[list[int]]
    labels: list[int] | list[list[int]] | None  # a label an example, or a label a token
    truncated: int
    pad_id: int
    # token type (segment) ids per example, for a family that has them; None: none fed
    types: list[list[int]] | None = None


class Progress(Protocol):
    def phase(self, name: str, steps: int) -> None: ...  # work before training, e.g. the cache
    def start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def advance(self, loss: float, examples: int) -> None: ...
    def end(self, epoch: int, metrics: dict[str, float]) -> None: ...


class _Silent:
    def phase(self, name: str, steps: int) -> None:
        log.info("%s: %d steps", name, steps)

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        log.info("epoch %d/%d: %d steps", epoch, epochs, steps)

    def advance(self, loss: float, examples: int) -> None:
        pass

    def end(self, epoch: int, metrics: dict[str, float]) -> None:
        log.info("epoch %d: %s", epoch, metrics)


@dataclass(kw_only=True)
class State:
    """What a checkpoint restores besides the weights."""

    epoch: int = 0
    best: float = -math.inf
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def encode(
    tokenizer: Any,
    texts: Sequence[TextInput],
    labels: list[int] | list[list[int]] | None,
    seq_len: int,
    segments: bool = False,
) -> Encoded:
    """Tokenise texts, (text, pair) tuples or lists of words, truncating to ``seq_len``
    (counted, not an error; a pair loses tokens from its longer text first). ``labels``: a
    label a text, or a tag a word (``_encode_words`` aligns them to tokens). ``segments`` keeps
    the token type ids, which tell a BERT the two texts of a pair apart."""
    full = tokenizer(list(texts), is_split_into_words=is_words(texts), add_special_tokens=True)
    ids, types = full["input_ids"], full.get("token_type_ids") if segments else None
    long = [i for i, row in enumerate(ids) if len(row) > seq_len]
    if is_words(texts):
        return _encode_words(tokenizer, texts, labels, seq_len, segments, len(long))
    if long:
        cut = tokenizer([texts[i] for i in long], truncation=True, max_length=seq_len)
        for n, i in enumerate(long):
            ids[i] = cut["input_ids"][n]
            if types is not None:
                types[i] = cut["token_type_ids"][n]
    return Encoded(
        ids=ids,
        labels=labels,
        truncated=len(long),
        pad_id=tokenizer.pad_token_id or 0,
        types=types,
    )


def _encode_words(
    tokenizer: Any,
    words: Sequence[TextInput],
    tags: Any,
    seq_len: int,
    segments: bool,
    truncated: int,
) -> Encoded:
    """Token classification: each word's tag on its first sub-token, ``IGNORE`` on the others
    and on special tokens (as transformers' token-classification examples align them)."""
    cut = tokenizer(list(words), is_split_into_words=True, truncation=True, max_length=seq_len)
    labels = None
    if tags is not None:
        labels = [first_sub_tokens(cut.word_ids(i), tags[i]) for i in range(len(words))]
    return Encoded(
        ids=cut["input_ids"],
        labels=labels,
        truncated=truncated,
        pad_id=tokenizer.pad_token_id or 0,
        types=cut.get("token_type_ids") if segments else None,
    )


def first_sub_tokens(word_ids: list[int | None], tags: list[int]) -> list[int]:
    """A label a token: the word's tag on its first sub-token, ``IGNORE`` elsewhere."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(IGNORE if word is None or word == previous else tags[word])
        previous = word
    return labels


def collate(enc: Encoded, indices: list[int]) -> dict[str, torch.Tensor]:
    import torch

    width = max(len(enc.ids[i]) for i in indices)
    ids = torch.full((len(indices), width), enc.pad_id, dtype=torch.long)
    mask = torch.zeros((len(indices), width), dtype=torch.long)
    for row, i in enumerate(indices):
        ids[row, : len(enc.ids[i])] = torch.tensor(enc.ids[i])
        mask[row, : len(enc.ids[i])] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "index": torch.tensor(indices)}
    if enc.types is not None:
        types = torch.zeros((len(indices), width), dtype=torch.long)
        for row, i in enumerate(indices):
            types[row, : len(enc.types[i])] = torch.tensor(enc.types[i])
        batch["token_type_ids"] = types
    if enc.labels is not None:
        batch["labels"] = _label_tensor(enc.labels, indices, width)
    return batch


def _label_tensor(labels: Any, indices: list[int], width: int) -> torch.Tensor:
    import torch

    if not isinstance(labels[0], list):
        return torch.tensor([labels[i] for i in indices])
    padded = torch.full((len(indices), width), IGNORE, dtype=torch.long)
    for row, i in enumerate(indices):
        padded[row, : len(labels[i])] = torch.tensor(labels[i])
    return padded


def epoch_order(n: int, seed: int, epoch: int, rank: int, world: int) -> list[int]:
    """This rank's share of a seeded shuffle; every rank gets the same count (DDP needs it)."""
    import torch

    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    per_rank = math.ceil(n / world)
    order += order[: per_rank * world - n]  # pad by wrapping, as DistributedSampler does
    return order[rank::world]


def set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass(kw_only=True)
class Run:
    """A student (and teacher, unless fine-tuning) with data, settings and an output folder."""

    # transformers models: typed Any because their outputs and config are dynamic attributes
    student: Any
    teacher: Any
    train: Encoded
    eval: Encoded | None
    settings: Settings
    out: Path
    progress: Progress = field(default_factory=_Silent)
    cache: teacher_cache.TeacherCache | None = None  # filled before epoch 1
    # old id -> student id when the student's vocabulary was pruned; the teacher keeps old ids
    id_map: torch.Tensor | None = None
    # quantization-aware epochs (settings.qat): the converter's calibration text and the head
    calibration: Encoded | None = None
    qat_head: fake_quant.Head | None = None

    def student_ids(self, ids: torch.Tensor) -> torch.Tensor:
        if self.id_map is None:
            return ids
        if self.id_map.device != ids.device:  # moved once, on the first batch
            self.id_map = self.id_map.to(ids.device)
        return self.id_map[ids]


def world() -> tuple[int, int]:
    """(rank, world size), joining the process group when launched by torchrun."""
    import torch
    import torch.distributed as dist

    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), size


def leave_group() -> None:
    """Close the process group joined by ``world`` (torch warns when a run exits without)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # rank 0 has finished writing the model before anyone exits
        dist.destroy_process_group()


def device_for(rank: int) -> torch.device:
    import torch

    if torch.cuda.is_available():
        return torch.device(
            "cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count()
        )
    return torch.device("cpu")


def settings_dict(settings: Settings) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(asdict(settings)))
    return plain


def unwrap(model: Any) -> Any:
    inner = getattr(model, "module", None)
    return inner if inner is not None else model


def teacher_outputs(run: Run, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Teacher logits or pooled embedding ("head"), its target layers' hidden states ("hidden")
    and, with an attention-relation weight, its last target layer's [q, k, v] ("attention");
    every key but "head" is a list of [batch, tokens, dim] tensors."""

    if run.cache is not None:
        width = batch["attention_mask"].shape[1]
        return run.cache.batch(batch["index"].tolist(), width, batch["input_ids"].device)
    return _run_teacher(run, batch)


def uses_teacher(s: Settings) -> bool:
    """Whether the loss reads the teacher at all (hard labels alone do not)."""
    w = s.weights
    return s.task == "embedding" or (s.task in LOGIT_TASKS and (w.kd > 0 or w.cos > 0 or w.att > 0))


def _run_teacher(run: Run, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    import torch

    s = run.settings
    attention = s.weights.att > 0
    layer = s.target_layers[-1] if attention else -1  # the one the student's last layer meets
    with torch.no_grad(), relations.capture(run.teacher, layer, attention) as qkv:
        out = run.teacher(**losses.model_inputs(batch), output_hidden_states=True)
    states = [out.hidden_states[m + 1] for m in s.target_layers]
    if s.hidden_dims:  # a narrow student matches the teacher on the dimensions it kept
        states = [h[..., s.hidden_dims] for h in states]
    result: dict[str, Any] = {"hidden": states}
    if attention:
        result["attention"] = list(qkv)
    if s.task in LOGIT_TASKS:
        result["head"] = out.logits
    else:
        result["head"] = losses.pool(out.last_hidden_state, batch["attention_mask"], s.pooling)
    return result


def _fill_cache(run: Run, how: str, rank: int, size: int) -> None:
    """Teacher outputs for every example, each computed once across the processes
    (``teacher_cache``), in batches twice the training batch: no gradients to keep."""
    device = next(run.teacher.parameters()).device

    def compute(indices: list[int]) -> tuple[dict[str, Any], list[int]]:
        batch = {k: v.to(device) for k, v in collate(run.train, indices).items()}
        return _run_teacher(run, batch), batch["attention_mask"].sum(1).tolist()

    lengths = [len(ids) for ids in run.train.ids]
    folder, rows = run.out / teacher_cache.FOLDER, run.settings.batch_size * 2
    run.cache = teacher_cache.fill(
        compute, lengths, rows, how, folder, run.progress, rank=rank, world=size
    )


def compute_loss(run: Run, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    import torch.nn.functional as F

    s, w = run.settings, run.settings.weights
    mask, student = batch["attention_mask"], unwrap(model)
    # the student's last layer meets the teacher's last target layer (student.target_layers)
    with relations.capture(student, len(s.target_layers) - 1, w.att > 0) as qkv:
        out = model(
            **losses.model_inputs(batch, run.student_ids(batch["input_ids"])),
            output_hidden_states=s.task != "finetune",
        )
    if s.task == "finetune":
        return F.cross_entropy(out.logits, batch["labels"])
    if s.task in LOGIT_TASKS:
        logits, labels = out.logits, batch["labels"]
        if s.task == TOKEN_TASK:  # each real token is one example of the same two losses
            keep = mask.bool()
            logits, labels = logits[keep], labels[keep]
        loss = w.ce * hard_loss(logits, labels)
        if not uses_teacher(s):
            return loss
        teacher = teacher_outputs(run, batch)
        soft = teacher["head"][mask.bool()] if s.task == TOKEN_TASK else teacher["head"]
        if w.kd:
            loss = loss + w.kd * losses.kd_loss(logits, soft, w.temperature)
    else:
        teacher = teacher_outputs(run, batch)
        pooled = sentence_embedding(model, out.last_hidden_state, mask, s.pooling)
        loss = losses.embedding_loss(pooled, teacher["head"], w)
    if w.cos:
        student_states = [out.hidden_states[j + 1] for j in range(len(s.target_layers))]
        loss = loss + w.cos * losses.hidden_loss(student_states, teacher["hidden"], mask)
    if w.att:
        heads = relations.heads_for(s.relation_heads, student)
        loss = loss + w.att * relations.relation_loss(qkv, teacher["attention"], mask, heads)
    return loss


def hard_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the labelled rows (or tokens); 0 for a batch with none, such as one
    of augmented or unlabelled text only, where torch's mean over no rows would be NaN."""
    import torch.nn.functional as F

    if not bool((labels != IGNORE).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=IGNORE)


def sentence_embedding(model: Any, hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> Any:
    """The student's pooled embedding, mapped back to the teacher's size when it is narrower."""
    pooled = losses.pool(hidden, mask, mode)
    projection = width.projection_of(unwrap(model))
    return pooled if projection is None else projection(pooled)


def evaluate(run: Run) -> dict[str, float]:
    """Accuracy (classification, finetune) or mean cosine to the teacher (embedding)."""
    import torch

    if run.eval is None:
        return {}
    model, enc, s = unwrap(run.student), run.eval, run.settings
    device = next(model.parameters()).device
    model.eval()
    hits, total = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(enc.ids), s.batch_size * 2):
            idx = list(range(start, min(start + s.batch_size * 2, len(enc.ids))))
            batch = {k: v.to(device) for k, v in collate(enc, idx).items()}
            out = model(**losses.model_inputs(batch, run.student_ids(batch["input_ids"])))
            if s.task == "embedding":
                assert run.teacher is not None
                ref = run.teacher(**losses.model_inputs(batch))
                mask = batch["attention_mask"]
                a = sentence_embedding(model, out.last_hidden_state, mask, s.pooling)
                b = losses.pool(ref.last_hidden_state, mask, s.pooling)
                hits += float(torch.nn.functional.cosine_similarity(a, b, dim=-1).sum())
            elif s.task == TOKEN_TASK:  # the share of words whose tag is right
                labelled = batch["labels"] != IGNORE
                hits += float((out.logits.argmax(-1) == batch["labels"])[labelled].sum())
                total += int(labelled.sum())
                continue
            else:
                hits += float((out.logits.argmax(-1) == batch["labels"]).sum())
            total += len(idx)
    model.train()
    return {"cosine" if s.task == "embedding" else "accuracy": hits / max(1, total)}


def optimizer(model: Any, s: Settings, steps: int) -> tuple[Any, Any]:
    """AdamW without decay on biases and LayerNorm, linear warm-up then linear decay."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    decay: list[torch.nn.Parameter] = []
    plain: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (plain if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": s.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=s.lr)
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimizer, int(s.warmup * steps), steps
    )
    return optimizer, scheduler


Loss = Callable[[Run, Any, dict[str, Any]], Any]


def train_epoch(
    run: Run,
    model: torch.nn.Module,
    stepper: tuple[Any, Any],
    epoch: int,
    rank: int,
    size: int,
    loss_fn: Loss | None = None,
    limit: int | None = None,
) -> float:
    """One epoch (its first ``limit`` batches when given); the mean loss."""
    import torch

    s, (opt, sched) = run.settings, stepper
    loss_fn = loss_fn or compute_loss
    order = epoch_order(len(run.train.ids), s.seed, epoch, rank, size)
    batches = [order[i : i + s.batch_size] for i in range(0, len(order), s.batch_size)]
    batches = batches[:limit]
    device = next(model.parameters()).device
    dtype = _autocast_dtype(device)
    # fp16 needs loss scaling against underflow; bf16 and fp32 do not (the scaler is then a no-op)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    run.progress.start(epoch, s.epochs, len(batches))
    model.train()
    total = 0.0
    for step, indices in enumerate(batches):
        batch = {k: v.to(device) for k, v in collate(run.train, indices).items()}
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_fn(run, model, batch)
        scaler.scale(loss / s.grad_accum).backward()
        if (step + 1) % s.grad_accum == 0 or step == len(batches) - 1:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
            sched.step()
            opt.zero_grad(set_to_none=True)
        value = loss.item()
        total += value
        run.progress.advance(value, len(indices) * size)
    return total / max(1, len(batches))


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on GPUs that have it, fp16 (with loss scaling) on older ones, none on the CPU."""
    import torch

    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


Phase = Callable[[Run, Any, "State", int, int], None]


def fit(run: Run, *, resume: bool = False, then: Phase | None = None) -> State:
    """Train for ``settings.epochs`` (or until early stopping); the student ends on its best,
    or on what ``then`` (a further phase, from the best weights: ``distill.qat.fit``) makes."""
    import torch

    s = run.settings
    rank, size = world()
    set_seed(s.seed)
    device = device_for(rank)
    run.student.to(device)
    if run.teacher is not None:
        run.teacher.to(device).eval()
    model = run.student
    if size > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            run.student, device_ids=[device.index] if device.type == "cuda" else None
        )
    opt, sched = optimizer(run.student, s, steps_per_epoch(run, size) * s.epochs)
    state, best = State(), _copy_weights(run.student)
    if resume:
        state, best = _restore(run, opt, sched)
    how = teacher_cache.storage(s.cache_teacher, s.epochs - state.epoch)
    if run.teacher is not None and uses_teacher(s) and how is not None:
        _fill_cache(run, how, rank, size)
    try:
        best = _epochs(run, model, (opt, sched), state, best, rank, size)
        run.student.load_state_dict(best)
        if then is not None:  # inside the try: it reads the teacher cache too
            then(run, model, state, rank, size)
    finally:  # the disk cache is removed whether training ends or fails
        if run.cache is not None:
            run.cache.close()
    return state


def steps_per_epoch(run: Run, size: int) -> int:
    """Optimizer steps in one epoch of this process's share."""
    s = run.settings
    return math.ceil(math.ceil(math.ceil(len(run.train.ids) / size) / s.batch_size) / s.grad_accum)


def _epochs(
    run: Run,
    model: Any,
    stepper: tuple[Any, Any],
    state: State,
    best: dict[str, torch.Tensor],
    rank: int,
    size: int,
) -> dict[str, torch.Tensor]:
    """The remaining epochs; returns the best weights (the eval metric's, else the loss's)."""
    s, (opt, sched) = run.settings, stepper
    for epoch in range(state.epoch + 1, s.epochs + 1):
        started = time.perf_counter()
        train_loss = train_epoch(run, model, (opt, sched), epoch, rank, size)
        metrics = {
            "epoch": float(epoch),
            "train_loss": train_loss,
            **evaluate(run),
            "seconds": time.perf_counter() - started,
        }
        _record(state, metrics, run)
        if state.bad_epochs == 0:
            best = _copy_weights(run.student)
        state.epoch = epoch
        if rank == 0:
            _save_checkpoint(run, state, opt, sched, best)
        run.progress.end(epoch, metrics)
        if s.patience is not None and state.bad_epochs >= s.patience:
            log.info("early stop after epoch %d: no gain for %d epochs", epoch, s.patience)
            break
    return best


def _save_checkpoint(
    run: Run, state: State, optimizer: Any, scheduler: Any, best: dict[str, torch.Tensor]
) -> None:
    import torch

    student = unwrap(run.student).state_dict().items()
    checkpoint.save_checkpoint(
        run.out,
        state.epoch,
        state=asdict(state),
        settings=settings_dict(run.settings),
        student={k: v.detach().cpu().contiguous() for k, v in student},
        best={k: v.contiguous() for k, v in best.items()},
        trainer={
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        },
    )


def _restore(run: Run, optimizer: Any, scheduler: Any) -> tuple[State, dict[str, torch.Tensor]]:
    """The last finished epoch's weights, optimizer, scheduler and random state, put back."""
    import torch

    saved = checkpoint.load_checkpoint(run.out, settings_dict(run.settings))
    unwrap(run.student).load_state_dict(saved.student)
    optimizer.load_state_dict(saved.trainer["optimizer"])
    scheduler.load_state_dict(saved.trainer["scheduler"])
    torch.set_rng_state(saved.trainer["rng"])
    log.info("resumed from %s", saved.path)
    return State(**saved.state), saved.best


def _record(state: State, metrics: dict[str, float], run: Run) -> None:
    """Append the epoch; best is the eval metric (or minus the training loss without eval)."""
    state.history.append(metrics)
    key = "cosine" if run.settings.task == "embedding" else "accuracy"
    score = metrics.get(key, -metrics["train_loss"])
    if score > state.best:
        state.best, state.bad_epochs = score, 0
    else:
        state.bad_epochs += 1


def _copy_weights(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in unwrap(model).state_dict().items()}
