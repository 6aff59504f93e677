"""What quantization-aware distillation saves: the integer file's loss against its own float
student, with and without the quantization-aware epochs, per integer profile, side by side in
one run.

For each TARGET[:LAYERS], the student the build would plan for the profile (its layers, width
and vocabulary; LAYERS overrides the layers) is distilled from the default teacher on the sample
text's build split (``heldout``: 8,330 train / 926 eval lines) for --epochs epochs, then given
the scheme's quantization-aware epochs (``distill.qat``). The weights from just before those
epochs are kept aside, so "without" and "with" share everything before them. Both students are
converted by the library's own conversion (``export.tflite``: the profile's scheme, runtime and
sequence length, calibrated on the train split) and the file runs in LiteRT (or TFLite Micro's
graph in LiteRT) against PyTorch on eval text neither saw: drop = 1 - mean cosine (embedding).
The mirror's own prediction of that drop (``quant_cosine`` on the eval share) is printed beside.

What ships is the file, so the last columns are end to end: the float student against the
teacher, and the mirror's rounded output against the teacher (1 - mean cosine on the distill's
held-out share), for the student without the phase and after each variant. A variant is a gap
weight, a learning-rate scale (``qat.LR_SCALE``) and what the rounded output is pulled to
(``--toward``: the float student, or the teacher); weight 0 is the phase's restart alone.
``--no-files`` leaves the conversion out (a machine with a GPU and no TensorFlow), and
``--augment`` trains on the augmented text as a build does (2 on the sample text).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/qat.py cortex-m7 cortex-m7:2 esp32-s3 \
        wear-os-watch raspberry-pi-5 [--epochs 1] [--subset N] [--sentences 200] [--work DIR] \
        [--weights 1 3] [--lr-scales 0.5] [--toward float teacher] [--augment 2] [--no-files]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgedistil import heldout, plan  # noqa: E402
from edgedistil.data import SAMPLE_TEXT  # noqa: E402
from edgedistil.distill import qat, width  # noqa: E402
from edgedistil.distill.job import DENSE_PATH, Job, distill  # noqa: E402
from edgedistil.distill.train import Settings  # noqa: E402
from edgedistil.export.tflite import TFLiteSpec, convert_tflite  # noqa: E402
from edgedistil.profiles import load_profile  # noqa: E402
from edgedistil.schemes import QAT_TARGETS  # noqa: E402
from edgedistil.teacher import resolve_teacher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="+", help="profile[:layers]")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--sentences", type=int, default=200, help="eval sentences per file")
    parser.add_argument("--work", type=Path, default=Path("qat-bench"))
    parser.add_argument(
        "--subset", type=int, default=None, help="train on the split's first N train lines"
    )
    parser.add_argument(
        "--weights", type=float, nargs="+", default=[1.0], help="QAT gap weights to compare"
    )
    parser.add_argument("--lr-scales", type=float, nargs="+", default=[qat.LR_SCALE])
    parser.add_argument(
        "--toward",
        nargs="+",
        default=["float"],
        choices=QAT_TARGETS,
        help="what the rounded output is pulled to (QuantAware.toward)",
    )
    parser.add_argument("--augment", type=int, default=0, help="distill --augment")
    parser.add_argument("--no-files", action="store_true", help="no conversion (no TensorFlow)")
    args = parser.parse_args()
    texts = heldout.write(
        args.work / "split",
        heldout.split(data=SAMPLE_TEXT, eval_path=None, calibration=None, seed=42),
    )
    if args.subset is not None:  # fewer lines to train on; calibration and eval unchanged
        lines = texts.train.read_text(encoding="utf-8").splitlines()[: args.subset]
        subset = args.work / "subset.txt"
        subset.write_text("\n".join(lines) + "\n", encoding="utf-8")
        texts = dataclasses.replace(texts, train=subset)
    print("| target | scheme | runtime | student | variant | file's drop | mirror's drop | "
          "float vs teacher | mirror vs teacher | QAT time |")  # fmt: skip
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|")
    for target in args.targets:
        for row in measure(target, texts, args):
            print(row, flush=True)


def measure(target: str, texts: Any, args: argparse.Namespace) -> list[str]:
    """One row per variant: without quantization-aware epochs, then with each weight."""
    name, _, layers = target.partition(":")
    profile = load_profile(name)
    teacher = resolve_teacher("default")
    shape = plan.with_pieces(plan.read_shape(teacher.config, teacher.name), teacher.path)
    planned = plan.plan_to_fit(
        shape=shape,
        teacher=teacher.name,
        profile=profile,
        layers=int(layers) if layers else None,
    )
    formats = profile.export.formats
    runtime = "tflite-micro" if "tflite-micro" in formats else "litert"
    spec = qat.quant_aware(profile.quantize.scheme, micro=runtime == "tflite-micro", epochs=None)
    assert spec is not None, f"{name}: {profile.quantize.scheme} has no quantization-aware path"
    out = args.work / target.replace(":", "-")
    shutil.rmtree(out, ignore_errors=True)
    kept = _distill(out, texts, profile, planned, spec, args)
    width = (
        f", hidden {planned.student_hidden}" if planned.student_hidden < shape.hidden_size else ""
    )
    head = (
        f"| {name} | {profile.quantize.scheme} | {runtime} | "
        f"{planned.layers} layers{width}, vocab {planned.vocab_size:,} |"
    )
    rows = []
    for label, (student, metrics, seconds) in kept.items():
        drop = "-"
        if not args.no_files:
            folder = out / label.replace(" ", "-")
            shutil.copytree(out / "student", folder)
            _save(student, folder)
            tflite = folder.with_name(f"tflite-{folder.name}")
            found = _convert(folder, tflite, profile, runtime, texts, args.sentences)
            drop = f"{found:.4f}"
        mirror = 1 - metrics["quant_cosine_before" if label == "without" else "quant_cosine"]
        rows.append(
            f"{head} {label} | {drop} | {mirror:.4f} | {1 - metrics['cosine']:.4f} | "
            f"{1 - metrics['quant_teacher']:.4f} | {seconds:.0f} s |"
        )
    return rows


def _distill(
    out: Path, texts: Any, profile: Any, planned: Any, spec: Any, args: argparse.Namespace
) -> dict[str, tuple[Any, dict[str, float], float]]:
    """label -> (student, its eval metrics, seconds of quantization-aware epochs): the student
    from just before those epochs ("without"), then after them at each weight, every variant
    from the same weights."""
    kept: dict[str, tuple[Any, dict[str, float], float]] = {}
    original = qat.fit

    def fit(run: Any, model: Any, state: Any, rank: int, size: int) -> None:
        base = copy.deepcopy(run.student.state_dict())
        without = _vs_teacher(run, spec)
        for weight, scale, toward in itertools.product(args.weights, args.lr_scales, args.toward):
            run.student.load_state_dict(base)
            run.settings = dataclasses.replace(
                run.settings, qat=dataclasses.replace(spec, weight=weight, toward=toward)
            )
            qat.LR_SCALE = scale
            started = time.perf_counter()
            original(run, model, state, rank, size)
            seconds = time.perf_counter() - started
            if not kept:  # the mirror's before-figure comes with the first variant's record
                before = copy.deepcopy(run.student)
                before.load_state_dict(base)
                kept["without"] = (before, _before(state.history) | without, 0.0)
            kept[f"QAT toward {toward}, weight {weight:g}, lr x{scale:g}"] = (
                copy.deepcopy(run.student),
                state.history[-1] | _vs_teacher(run, spec),
                seconds,
            )

    qat.fit = fit  # type: ignore[assignment]
    try:
        distill(
            Job(
                teacher="default",
                data=texts.train,
                out=out / "student",
                settings=Settings(
                    task="",
                    epochs=args.epochs,
                    seq_len=profile.export.sequence_length,
                    augment=args.augment,
                    qat=spec,
                ),
                layers=planned.layers,
                vocab_size=planned.vocab_size
                if planned.vocab_size < planned.teacher_vocab_size
                else None,
                hidden=planned.student_hidden
                if planned.student_hidden < planned.hidden_size
                else None,
                calibration=texts.calibration,
            )
        )
    finally:
        qat.fit = original  # type: ignore[assignment]
    return kept


def _vs_teacher(run: Any, spec: Any) -> dict[str, float]:
    """The mirror's rounded output (ranges read on the calibration text, as the phase reads
    them) against the teacher's pooled output, on the distill's held-out share: mean cosine."""
    import torch
    import torch.nn.functional as F

    from edgedistil.distill import losses, train

    student = train.unwrap(run.student)
    mirror, _ = qat.calibrated_mirror(run, student, spec)
    device = next(student.parameters()).device
    hits = 0.0
    with torch.no_grad():
        for start in range(0, len(run.eval.ids), 64):
            idx = list(range(start, min(start + 64, len(run.eval.ids))))
            batch = {k: v.to(device) for k, v in train.collate(run.eval, idx).items()}
            rounded = mirror.run("quant", batch, run.student_ids(batch["input_ids"]))
            ref = run.teacher(**losses.model_inputs(batch)).last_hidden_state
            pooled = losses.pool(ref, batch["attention_mask"], run.settings.pooling)
            hits += float(F.cosine_similarity(rounded, pooled.float(), dim=-1).sum())
    return {"quant_teacher": hits / len(run.eval.ids)}


def _before(history: list[dict[str, float]]) -> dict[str, float]:
    """The ordinary epochs' last eval figures and the mirror's agreement before the phase."""
    plain = [h for h in history if "qat" not in h][-1]
    first = next(h for h in history if "qat" in h)
    return {"cosine": plain["cosine"], "quant_cosine_before": first["quant_cosine_before"]}


def _save(student: Any, directory: Path) -> None:
    """The weights from before the quantization-aware epochs over the copy of the final
    student; a narrow student's projection into the Dense module (2_Dense) the copy has."""
    from safetensors.torch import save_file

    projection = width.projection_of(student)
    if projection is not None:
        delattr(student, width.PROJECTION)
        weight = projection.weight.detach().contiguous()
        save_file({"linear.weight": weight}, str(directory / DENSE_PATH / "model.safetensors"))
    student.save_pretrained(str(directory), safe_serialization=True)


def _convert(
    student: Path, out: Path, profile: Any, runtime: str, texts: Any, sentences: int
) -> float:
    result = convert_tflite(
        TFLiteSpec(
            student=student,
            out=out,
            scheme=profile.quantize.scheme,
            sequence_length=profile.export.sequence_length,
            runtime=runtime,
            calibration=texts.calibration,
            eval_text=texts.eval,
            max_drop=1.0,  # measure, do not refuse
            eval_sentences=sentences,
            metadata=False,
        )
    )
    return float(result.fidelity.drop)


if __name__ == "__main__":
    main()
