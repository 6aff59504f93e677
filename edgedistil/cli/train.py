"""``edgedistil distill`` and ``edgedistil finetune``: students and teachers."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from edgedistil.cli._app import cli, make_console
from edgedistil.cli._choices import RegistryChoice
from edgedistil.cli._paths import OutputDir
from edgedistil.schemes import scheme_names

# Options shared by distill and finetune (the training loop is the same).
_TRAINING_OPTIONS = (
    click.option(
        "--data",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Training text: .txt (one per line), .tsv/.csv with a header, .jsonl.",
    ),
    click.option("--text-column", default=None, help="Column holding the text."),
    click.option("--label-column", default=None, help="Column holding the label."),
    click.option(
        "--pair-column",
        default=None,
        help="Column holding the second text of text pairs (NLI, paraphrase, question and "
        "passage). Default: text_pair, text_b, sentence2, hypothesis, question2... when present.",
    ),
    click.option(
        "--eval",
        "eval_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Evaluation file (same format). Default: a held-out fraction.",
    ),
    click.option(
        "--eval-fraction",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=0.1,
        show_default=True,
    ),
    click.option(
        "--out",
        type=OutputDir(),
        required=True,
        help="Output model directory (checkpoints go in OUT/checkpoints).",
    ),
    click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True),
    click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True),
    click.option(
        "--lr",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Peak learning rate. Default: 5e-5 for classification, 5e-4 for "
        "embedding distillation.",
    ),
    click.option(
        "--warmup",
        type=click.FloatRange(0, 1),
        default=0.1,
        show_default=True,
        help="Fraction of steps spent warming up the learning rate.",
    ),
    click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True),
    click.option(
        "--seq-len",
        type=click.IntRange(min=2),
        default=128,
        show_default=True,
        help="Longer texts are truncated (and counted).",
    ),
    click.option("--seed", type=int, default=42, show_default=True),
    click.option(
        "--patience",
        type=click.IntRange(min=0),
        default=2,
        show_default=True,
        help="Stop after this many epochs without improvement (0: never).",
    ),
    click.option("--resume", is_flag=True, help="Continue from OUT/checkpoints."),
)


def _training_options(f: Any) -> Any:
    for option in reversed(_TRAINING_OPTIONS):
        f = option(f)
    return f


def _settings(kw: dict[str, Any], **extra: Any) -> Any:
    from edgedistil.distill.train import Settings

    return Settings(
        task="",
        epochs=kw["epochs"],
        batch_size=kw["batch_size"],
        warmup=kw["warmup"],
        grad_accum=kw["grad_accum"],
        seq_len=kw["seq_len"],
        seed=kw["seed"],
        patience=kw["patience"] or None,
        **extra,
    )


def _job(kw: dict[str, Any], teacher: str, settings: Any, **extra: Any) -> Any:
    from edgedistil.distill.job import Job

    return Job(
        teacher=teacher,
        data=kw["data"],
        out=kw["out"],
        settings=settings,
        text_column=kw["text_column"],
        label_column=kw["label_column"],
        pair_column=kw["pair_column"],
        eval_path=kw["eval_path"],
        eval_fraction=kw["eval_fraction"],
        resume=kw["resume"],
        lr=kw["lr"],
        **extra,
    )


@cli.command()
@click.option(
    "--teacher",
    default="default",
    show_default=True,
    help='"default" (all-MiniLM-L6-v2) or a local model directory.',
)
@click.option(
    "--task",
    type=click.Choice(["classification", "token-classification", "embedding"]),
    default=None,
    help="Default: classification for a teacher with a classifier, token-classification for "
    "one with a token classifier (NER; JSONL of tokens and tags), else embedding.",
)
@click.option(
    "--layers",
    type=click.IntRange(min=1),
    default=None,
    help="Student layers. Default: half the teacher's.",
)
@click.option("--layer-map", default=None, help="Teacher layers to start from, e.g. 0,2,4.")
@click.option(
    "--vocab-size",
    type=click.IntRange(min=1),
    default=None,
    help="Prune the vocabulary to the most frequent tokens of the text.",
)
@click.option("--prune-vocab", is_flag=True, help="Keep only the tokens the text uses.")
@click.option(
    "--hidden",
    type=click.IntRange(min=1),
    default=None,
    help="Narrow the student to this hidden size (a multiple of the teacher's head size), "
    "keeping the teacher's most active dimensions, heads and neurons. Default: the teacher's.",
)
@click.option(
    "--temperature", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True
)
@click.option(
    "--alpha-kd",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Weight of the soft-target KL term.",
)
@click.option(
    "--alpha-ce",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Weight of the hard-label cross-entropy.",
)
@click.option(
    "--alpha-cos",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Weight of the cosine between each student layer's hidden states and its mapped "
    "teacher layer's (Patient-KD/DistilBERT), and, for embedding, of the pooled cosine; "
    "0 turns them off.",
)
@click.option(
    "--alpha-mse",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Weight of the pooled-embedding MSE (embedding task).",
)
@click.option(
    "--augment",
    type=click.IntRange(min=0),
    default=None,
    help="New sentences per training text, made by swapping words for the teacher's nearest "
    "words (TinyBERT's augmentation); they train on the teacher's outputs only. 0: none. "
    "Default: 2 for classification with a WordPiece teacher, else 0.",
)
@click.option(
    "--unlabelled",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="In-domain text without labels (.txt, .tsv, .csv, .jsonl) for the teacher to label.",
)
@click.option(
    "--alpha-att",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Weight of the self-attention relation term (MiniLMv2): KL between the teacher's and "
    "the student's last-layer query-query, key-key and value-value relations; 0 turns it off.",
)
@click.option(
    "--relation-heads",
    type=click.IntRange(min=1),
    default=None,
    help="Relation heads each side splits its queries, keys and values into for --alpha-att; "
    "must divide the student's and the teacher's widths. Default: the student's attention heads.",
)
@click.option(
    "--qat-scheme",
    type=RegistryChoice(scheme_names),
    default=None,
    help="End with quantization-aware epochs through the integer graph of this scheme's "
    "LiteRT/TFLite Micro file (static-int8, full-int8 or int16x8; see `edgedistil schemes`).",
)
@click.option(
    "--qat-epochs",
    type=click.FloatRange(min=0),
    default=None,
    help="Quantization-aware epochs with --qat-scheme (a fraction: that share of one). "
    "Default: the scheme's (0.25).",
)
@click.option(
    "--qat-micro",
    is_flag=True,
    help="With --qat-scheme: the file is for TFLite Micro (its graph's sigmoid GELU).",
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The converter's calibration text, read by quantization-aware epochs for their "
    "ranges. Default: the training data.",
)
@_training_options
def distill(
    teacher: str,
    task: str | None,
    layers: int | None,
    layer_map: str | None,
    vocab_size: int | None,
    prune_vocab: bool,
    hidden: int | None,
    temperature: float,
    alpha_kd: float,
    alpha_ce: float,
    alpha_cos: float,
    alpha_mse: float,
    augment: int | None,
    unlabelled: Path | None,
    alpha_att: float,
    relation_heads: int | None,
    qat_scheme: str | None,
    qat_epochs: float | None,
    qat_micro: bool,
    calibration: Path | None,
    **kw: Any,
) -> None:
    """Distil a student from TEACHER: fewer layers (and optionally a narrower width),
    initialised from the teacher's own."""
    from edgedistil.distill import job as jobs
    from edgedistil.distill.losses import Weights

    weights = Weights(
        kd=alpha_kd,
        ce=alpha_ce,
        cos=alpha_cos,
        mse=alpha_mse,
        att=alpha_att,
        temperature=temperature,
    )
    qat = _quant_aware(qat_scheme, qat_epochs, qat_micro)
    settings = _settings(
        kw, weights=weights, augment=augment, relation_heads=relation_heads, qat=qat
    )
    job = _job(
        kw,
        teacher,
        settings,
        task=task,
        layers=layers,
        layer_map=layer_map,
        vocab_size=vocab_size,
        prune_vocab=prune_vocab,
        hidden=hidden,
        unlabelled=unlabelled,
        calibration=calibration or kw["data"],
    )
    with _TrainingProgress(make_console()) as progress:
        outcome = jobs.distill(job, progress)
    _print_outcome(outcome)


@cli.command()
@click.option(
    "--teacher",
    required=True,
    help='The encoder to fine-tune: "default" or a local model directory.',
)
@_training_options
def finetune(teacher: str, **kw: Any) -> None:
    """Fine-tune an encoder into a classification teacher on labelled data: texts (or text
    pairs) with a label each, or JSONL words with a tag each (a token classifier)."""
    from edgedistil.distill import job as jobs

    if kw["data"] is None:
        raise click.UsageError("--data is required: fine-tuning needs labelled examples")
    job = _job(kw, teacher, _settings(kw))
    with _TrainingProgress(make_console()) as progress:
        outcome = jobs.finetune(job, progress)
    _print_outcome(outcome, role="teacher")


def _quant_aware(scheme: str | None, epochs: float | None, micro: bool) -> Any:
    """The quantization-aware epochs asked for with --qat-scheme (None: none). Named, the
    scheme is asked for: its default length, and never none."""
    from edgedistil.distill.qat import quant_aware
    from edgedistil.schemes import get_scheme

    if scheme is None:
        if epochs or micro:
            raise click.UsageError("--qat-epochs and --qat-micro need --qat-scheme")
        return None
    asked = epochs if epochs is not None else get_scheme(scheme).qat_epochs or 1.0
    return quant_aware(scheme, micro=micro, epochs=asked)


def _is_rank0() -> bool:
    """Under torchrun every rank runs the command; only rank 0 talks to the user."""
    return int(os.environ.get("RANK", "0")) == 0


class _TrainingProgress:
    """A rich progress bar per epoch with the loss and examples/s (train.Progress)."""

    def __init__(self, console: Console) -> None:
        self.quiet = not _is_rank0()
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TextColumn("{task.fields[rate]:.0f} ex/s"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=self.quiet,
        )
        self.task: Any = None
        self.started = 0.0
        self.seen = 0
        self.loss = True

    def __enter__(self) -> _TrainingProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def phase(self, name: str, steps: int) -> None:
        self._add(name, steps, loss=False)

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        self._add(f"epoch {epoch}/{epochs}", steps, loss=True)

    def _add(self, name: str, steps: int, *, loss: bool) -> None:
        self.task = self.bar.add_task(name, total=steps, note="", rate=0.0)
        self.started, self.seen, self.loss = time.perf_counter(), 0, loss

    def advance(self, loss: float, examples: int) -> None:
        self.seen += examples
        rate = self.seen / max(1e-9, time.perf_counter() - self.started)
        note = f"loss {loss:.4f}" if self.loss else ""
        self.bar.update(self.task, advance=1, note=note, rate=rate)

    def end(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.quiet:
            return
        shown = ", ".join(
            f"{k} {v:.1f}" if k == "seconds" else f"{k} {v:.4f}"
            for k, v in metrics.items()
            if k != "epoch"
        )
        self.bar.console.print(f"epoch {epoch}: {shown}")


def _print_outcome(outcome: Any, role: str = "student") -> None:
    if not _is_rank0():
        return
    console = make_console()
    best = outcome.state.best
    metric = "cosine" if outcome.task == "embedding" else "accuracy"
    task = "classification" if outcome.task == "finetune" else outcome.task
    console.print(
        f"Wrote {outcome.out}: {task} {role}, layers {outcome.layer_map or '-'}, "
        f"hidden {outcome.hidden}, {outcome.parameters / 1e6:.2f}M parameters, "
        f"vocabulary {outcome.vocab_size:,}; "
        f"best eval {metric} {best:.4f} after {outcome.state.epoch} epoch(s); "
        f"{outcome.train_examples} train{_extra(outcome)} / {outcome.eval_examples} eval examples, "
        f"{outcome.truncated} truncated to the sequence length",
        soft_wrap=True,  # one line: scripts grep it
    )
    if outcome.vs_teacher is not None:  # distill's: the student against its teacher
        from edgedistil.distill.versus import describe

        console.print(describe(outcome.vs_teacher), soft_wrap=True)


def _extra(outcome: Any) -> str:
    extra = outcome.extra_examples
    return f" (+{extra:,} unlabelled or augmented)" if extra else ""
