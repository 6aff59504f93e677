"""Teacher, student and every int8 scheme of the student, side by side: size, speed, accuracy.

Each model is exported twice through edgedistil's own API (the code behind `edgedistil export`):
static shape at the profile's sequence length, and dynamic axes. Each student export is then
quantized through the code behind `edgedistil quantize`: dynamic int8, static QDQ U8S8, static
QDQ S8S8, static QOperator (each with --no-fallback), and the profile's scheme with the
accuracy-aware fallback (a row only when the fallback kept some node in float). With
`--peer-python`, a peer row comes from optimum-onnx's own export and ORTQuantizer preset, run in
that separate virtual environment by benchmarks/_optimum_peer.py; its file is timed here, in this
process, like every other row.

Every row runs in ONNX Runtime on this host's CPU, batch 1, with the same thread count. Sizes and
accuracies come first; then the timings, by benchmarks/_timing.py's interleaved timer in
`--rounds` rounds: each round, every row in turn (the order rotated round by round) times its
share of the runs, so a burst of load from another process lands on all rows alike and the ratios
between rows stay fair:
- p50/p95 at the fixed length: the static export, `--runs` runs over a seeded sample of DEV
  sentences padded to the profile's length (the peer's dynamic file gets the same padded ids);
- p50/p95 at real lengths: the dynamic export, each sampled sentence once at its own length;
- accuracy on every row of DEV, batch 1, each sentence at its own length (dynamic export), on
  the session that computes int8 as the target does (`edgedistil.verify.kernels.session`).
The fallback's eval set is `--eval`, or `--eval-rows` seeded rows of `--eval-pool` that are in
none of the models' training files (read from their edgedistil.json) and not in DEV.

    .venv/bin/python benchmarks/onnx_latency.py --teacher RUN/teacher \\
        --student RUN/student-3l-kd [RUN/student-2l-kd ...] --dev ../shared/data/sst2/dev.tsv \\
        (--eval FILE | --eval-pool ../shared/data/sst2/train.tsv [--eval-rows 1000]) \\
        [--target raspberry-pi-4] [--max-drop F] [--sample 500] [--runs 300] [--warmup 10] \\
        [--rounds 10] [--threads N] [--peer-python PEER_VENV/bin/python] [--work DIR]

RUN is the `--work` folder of benchmarks/distill_sst2.py. Setting up the peer environment
(never edgedistil's .venv), anywhere outside the repository:

    python3.11 -m venv PEER_VENV
    PEER_VENV/bin/pip install torch==2.13.0 "optimum-onnx[onnxruntime]"

It measures this host, not the board: a ratio between rows carries over better than a time.
About 15 minutes on 2 CPU cores for a teacher and one 3-layer student.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _timing
import numpy as np

from edgedistil.data import SAMPLE_TEXT, read_examples
from edgedistil.export.onnx import MODEL_FILE, ExportSpec, export_onnx
from edgedistil.profiles import load_profile
from edgedistil.quantize import onnx as q
from edgedistil.quantize.job import INT8_FILE, REPORT_FILE, Job, quantize
from edgedistil.verify import kernels

PEER_SCRIPT = Path(__file__).resolve().parent / "_optimum_peer.py"
# The int8 schemes edgedistil makes, as (row label, settings changes); all --no-fallback.
SCHEMES = (
    ("dynamic int8", {"scheme": "dynamic-int8"}),
    ("static QDQ U8S8", {"scheme": "static-int8", "fmt": "qdq", "activations": "uint8"}),
    ("static QDQ S8S8", {"scheme": "static-int8", "fmt": "qdq", "activations": "int8"}),
    (
        "static QOperator U8S8",
        {"scheme": "static-int8", "fmt": "qoperator", "activations": "uint8"},
    ),
)
QUANT_OPS = re.compile(r"Integer|QLinear|^Q[A-Z]|QuantizeLinear|DynamicQuantize")
FUSED_OPS = ("Attention", "SkipLayerNormalization", "EmbedLayerNormalization", "BiasGelu")


@dataclass(kw_only=True)
class Row:
    label: str
    group: str  # the float model this row is measured against ("teacher" or a student's name)
    fixed: Path  # timed at the fixed length
    dynamic: Path  # timed at real lengths; accuracy
    tokenizer: Path
    note: str = ""
    m: dict[str, Any] = field(default_factory=dict)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- data ----


def training_files(models: list[Path]) -> list[Path]:
    """The training data each model's edgedistil.json names (teacher and students)."""
    found = []
    for model in models:
        record = model / "edgedistil.json"
        if record.is_file():
            data = json.loads(record.read_text(encoding="utf-8")).get("data")
            if data and Path(data).is_file() and Path(data) not in found:
                found.append(Path(data))
    return found


def held_out_eval(pool: Path, exclude: list[Path], rows: int, seed: int, out: Path) -> Path:
    """``rows`` seeded lines of ``pool`` whose text is in none of ``exclude``: an eval file."""
    seen = {t for path in exclude for t in read_examples(path).texts}
    lines = pool.read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    texts = read_examples(pool).texts
    free = [line for line, text in zip(body, texts, strict=True) if text not in seen]
    random.Random(seed).shuffle(free)
    if len(free) < rows:
        raise SystemExit(f"{pool}: only {len(free)} rows are outside the training files")
    out.write_text("\n".join([header, *free[:rows]]) + "\n", encoding="utf-8")
    log(f"fallback eval: {rows} rows of {pool} outside {len(seen)} excluded texts -> {out}")
    return out


# ---- edgedistil's export and quantize ----


def export_pair(model: Path, work: Path, profile: Any, target: str) -> tuple[Path, Path]:
    """The static (profile length) and dynamic exports of ``model``, as `edgedistil export`."""
    dirs = []
    for shape in ("static", "dynamic"):
        out = work / shape
        spec = ExportSpec(
            student=model,
            out=out,
            sequence_length=profile.export.sequence_length,
            input_dtype=profile.export.input_dtype,
            graph=profile.export.onnx_graph,
            dynamic=shape == "dynamic",
            parity_text=SAMPLE_TEXT,
            target=target,
        )
        result = export_onnx(spec)
        log(f"export {model.name} {shape}: fused {result.fused}; {result.parity.describe()}")
        dirs.append(out)
    return dirs[0], dirs[1]


def run_quantize(
    export_dir: Path, settings: q.Settings, slug: str, args: argparse.Namespace, fallback: bool
) -> tuple[Path, dict[str, Any]]:
    """`edgedistil quantize` on ``export_dir``; the int8 file and report kept under ``slug``."""
    job = Job(
        export_dir=export_dir,
        settings=settings,
        calibration=args.calibration,
        eval_path=args.eval,
        max_accuracy_drop=args.max_drop,
        ort=False,
        fallback=fallback,
    )
    quantize(job)
    kept = export_dir / f"{slug}.onnx"
    os.replace(export_dir / INT8_FILE, kept)
    report = json.loads((export_dir / REPORT_FILE).read_text(encoding="utf-8"))
    shutil.copyfile(export_dir / REPORT_FILE, export_dir / f"{slug}.fidelity.json")
    return kept, report


def student_rows(
    student: Path, static: Path, dynamic: Path, profile: Any, args: argparse.Namespace
) -> tuple[list[Row], list[str]]:
    name = student.name
    rows = [
        Row(
            label=f"{name} fp32",
            group=name,
            fixed=static / MODEL_FILE,
            dynamic=dynamic / MODEL_FILE,
            tokenizer=static,
        )
    ]
    notes = []
    for label, changes in SCHEMES:
        slug = re.sub(r"\W+", "-", label.lower())
        settings = q.settings_for(profile, **changes)
        paths = [run_quantize(d, settings, slug, args, False)[0] for d in (static, dynamic)]
        log(f"quantized {name}: {settings.describe()}")
        rows.append(
            Row(
                label=f"{name} {label}",
                group=name,
                fixed=paths[0],
                dynamic=paths[1],
                tokenizer=static,
                note=settings.describe(),
            )
        )
    settings = q.settings_for(profile)
    results = [run_quantize(d, settings, "fallback", args, True) for d in (static, dynamic)]
    kept = [r[1]["fallback"]["kept_float"] if r[1]["fallback"] else [] for r in results]
    drops = [r[1]["drop_before_fallback"] for r in results]
    summary = (
        f"{name}: fallback for {settings.describe()} at max drop {args.max_drop:.4f} on "
        f"{args.eval.name}: drop before {drops[0]:.4f} (static) / {drops[1]:.4f} (dynamic); "
        f"kept float: {kept[0] or 'none'} (static) / {kept[1] or 'none'} (dynamic)"
    )
    notes.append(summary)
    log(summary)
    if kept[0] or kept[1]:
        rows.append(
            Row(
                label=f"{name} fallback",
                group=name,
                fixed=results[0][0],
                dynamic=results[1][0],
                tokenizer=static,
                note=f"{settings.describe()}, {len(kept[0])}/{len(kept[1])} node(s) float",
            )
        )
    return rows, notes


def peer_row(student: Path, work: Path, args: argparse.Namespace) -> tuple[Row | None, str]:
    """optimum-onnx's export + ORTQuantizer preset, in the other venv; None and why on failure."""
    python = Path(args.peer_python)
    if not python.is_file():
        return None, f"peer row left out: {python} does not exist (see the docstring to make it)"
    command = [str(python), str(PEER_SCRIPT), str(student), str(work), "--config", args.peer_config]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return None, f"peer row left out: {' '.join(command)} exited {done.returncode}: {tail}"
    info = json.loads(done.stdout.strip().splitlines()[-1])
    int8 = Path(info["int8"])
    s = info["settings"]
    note = (
        f"optimum {info['versions']['optimum']} / optimum-onnx {info['versions']['optimum-onnx']}"
        f" (its own ORT {info['versions']['onnxruntime']}), AutoQuantizationConfig."
        f"{info['config']}(is_static=False): {s['format']} {s['mode']}, activations "
        f"{s['activations']}, weights {s['weights']}, per_channel={s['per_channel']}, "
        f"reduce_range={s['reduce_range']}; dynamic axes (timed at the fixed length on padded ids)"
    )
    row = Row(
        label=f"{student.name} optimum {args.peer_config} int8",
        group=student.name,
        fixed=int8,
        dynamic=int8,
        tokenizer=Path(info["float"]).parent,
        note=note,
    )
    return row, note


# ---- measuring ----


class Encoder:
    """Single-row feeds for a session: real length, or padded/truncated to ``length``."""

    def __init__(self, tokenizer_dir: Path) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)

    def encode(self, texts: list[str], length: int | None) -> list[dict[str, np.ndarray]]:
        padding: str | bool = "max_length" if length else False
        batch = self.tokenizer(texts, padding=padding, truncation=True, max_length=length or 512)
        rows = []
        for i, ids in enumerate(batch["input_ids"]):
            row = {
                "input_ids": np.array([ids]),
                "attention_mask": np.array([batch["attention_mask"][i]]),
            }
            types = batch.get("token_type_ids")
            row["token_type_ids"] = (
                np.array([types[i]]) if types else np.zeros_like(row["input_ids"])
            )
            rows.append(row)
        return rows


def feed(sess: Any, row: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    kinds = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
    return {i.name: row[i.name].astype(kinds[i.type]) for i in sess.get_inputs()}


def accuracy(sess: Any, rows: list[dict[str, np.ndarray]], gold: list[str], id2label: Any) -> float:
    right = 0
    for row, label in zip(rows, gold, strict=True):
        logits = sess.run(None, feed(sess, row))[0]
        right += id2label(int(np.argmax(logits[0]))) == label
    return right / len(gold)


@dataclass(kw_only=True)
class Timing:
    """One row's sessions and feeds, ready to be timed."""

    row: Row
    fixed: Any
    dynamic: Any
    fixed_feeds: list[dict[str, np.ndarray]]
    real_feeds: list[dict[str, np.ndarray]]


def prepare(row: Row, data: dict[str, Any], args: argparse.Namespace) -> Timing:
    """Sessions and feeds for ``row``; its size, accuracy and operators, untimed."""
    cache = data["cache"].setdefault(row.tokenizer, {})
    if not cache:
        enc = Encoder(row.tokenizer)
        cache["fixed"] = enc.encode(data["sample"], args.length)
        cache["real"] = enc.encode(data["sample"], None)
        cache["dev"] = enc.encode(data["dev"].texts, None)
    config = json.loads((row.tokenizer / "config.json").read_text(encoding="utf-8"))
    names = config.get("id2label") or {}

    def id2label(i: int) -> str:
        return str(names.get(str(i), i))

    fixed = _timing.session(row.fixed, threads=args.threads)
    dynamic = _timing.session(row.dynamic, threads=args.threads)
    gold = [data["dev"].label_names[i] for i in data["dev"].labels]
    # Accuracy on the session that computes int8 as the target does (exact kernels where this
    # host's default u8s8 kernel saturates); latency on ORT's defaults, as an app runs the file.
    exact = kernels.session(row.dynamic)
    ran = _timing.optimized_graph(
        row.fixed,
        threads=args.threads,
        out=row.fixed.with_name(f"{row.fixed.stem}.ort-optimized.onnx"),
    )
    row.m = {
        "bytes": row.fixed.stat().st_size,
        "acc": accuracy(exact, cache["dev"], gold, id2label),
        "providers": fixed.get_providers(),
        "ops": op_summary(row.fixed),
        "ran": op_summary(ran),
    }
    log(f"prepared {row.label}: acc {row.m['acc']:.4f}")
    return Timing(
        row=row,
        fixed=fixed,
        dynamic=dynamic,
        fixed_feeds=[feed(fixed, r) for r in cache["fixed"]],
        real_feeds=[feed(dynamic, r) for r in cache["real"]],
    )


def candidates(t: Timing, runs: int, length: int) -> list[_timing.Candidate]:
    """Two candidates per row: ``runs`` runs at the fixed length, cycling over the padded
    sample, and each sampled sentence once at its own length. Run i feeds sentence i to every
    row, so every row sees the same inputs in the same round."""
    fixed, real = t.fixed_feeds, t.real_feeds
    return [
        _timing.Candidate(
            name=f"{t.row.label} @{length}",
            call=lambda i: t.fixed.run(None, fixed[i % len(fixed)]),
            runs=runs,
        ),
        _timing.Candidate(
            name=f"{t.row.label} real",
            call=lambda i: t.dynamic.run(None, real[i]),
            runs=len(real),
        ),
    ]


def measure(timings: list[Timing], args: argparse.Namespace) -> None:
    """Every row's p50/p95 at the fixed length and at real lengths, timed interleaved."""
    timed = _timing.time_interleaved(
        [c for t in timings for c in candidates(t, args.runs, args.length)],
        rounds=args.rounds,
        warmup=args.warmup,
        progress=lambda r, n: log(f"timing round {r}/{n} done"),
    )
    for t in timings:
        at_length, real = timed[f"{t.row.label} @{args.length}"], timed[f"{t.row.label} real"]
        t.row.m.update(
            p50=at_length.percentile(50),
            p95=at_length.percentile(95),
            rp50=real.percentile(50),
            rp95=real.percentile(95),
        )
        log(f"measured {t.row.label}: {t.row.m['p50']:.2f} ms, real {t.row.m['rp50']:.2f} ms")


def op_summary(path: Path) -> str:
    """The quantized and fused operators of a graph: the kernels a row asks ORT for."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    shown = {
        k: v
        for k, v in counts.items()
        if QUANT_OPS.search(k) or k in FUSED_OPS or "Dequantize" in k
    }
    return ", ".join(f"{k} x{v}" for k, v in sorted(shown.items())) or "plain float operators"


# ---- environment and report ----


def environment(threads: int) -> list[str]:
    import onnxruntime as ort

    cpu = "unknown"
    flags: list[str] = []
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        cpu = re.search(r"model name\s*:\s*(.*)", info).group(1)  # type: ignore[union-attr]
        flags = re.search(r"flags\s*:\s*(.*)", info).group(1).split()  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    lines = [
        f"host: {cpu}, {os.cpu_count()} CPUs, ISA flags {', '.join(isa) or 'none of note'}; "
        f"threads: {threads} for every row (intra_op_num_threads, inter_op 1, sequential)",
        f"ONNX Runtime {ort.__version__}, available providers {ort.get_available_providers()}, "
        f"device {ort.get_device()}",
    ]
    try:
        import threadpoolctl  # type: ignore[import-not-found]

        pools = threadpoolctl.threadpool_info()
        lines.append(
            "threadpoolctl: "
            + "; ".join(f"{p['internal_api']} {p['version']} x{p['num_threads']}" for p in pools)
        )
    except ImportError:
        lines.append(
            "threadpoolctl: not installed in this environment (ORT's MLAS kernels do not use it)"
        )
    busy = subprocess.run(["pgrep", "-af", "distill_sst2"], capture_output=True, text=True)
    others = [ln for ln in busy.stdout.splitlines() if "pgrep" not in ln]
    lines.append(
        f"load average at start {os.getloadavg()[0]:.2f}; distill_sst2 running: "
        + ("yes" if others else "no")
    )
    return lines


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    teacher = next(r for r in rows if r.group == "teacher")
    floats = {r.group: r for r in rows if r.label.endswith(" fp32")}
    print(
        f"| model | bytes | MiB | p50 ms @{args.length} | p95 ms @{args.length} | p50 ms real | "
        f"p95 ms real | accuracy (dev, {len(args.dev_examples)}) | drop vs fp32 student (pt) | "
        f"speed-up @{args.length} | speed-up real |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        m, base = r.m, floats[r.group].m
        drop = "-" if r.group == "teacher" else f"{100 * (base['acc'] - m['acc']):+.2f}"
        print(
            f"| {r.label} | {m['bytes']:,} | {m['bytes'] / 2**20:.2f} | {m['p50']:.2f} | "
            f"{m['p95']:.2f} | {m['rp50']:.2f} | {m['rp95']:.2f} | {100 * m['acc']:.2f} | {drop} | "
            f"{teacher.m['p50'] / m['p50']:.2f}x | {teacher.m['rp50'] / m['rp50']:.2f}x |"
        )
    print(
        "\n| model | providers | quantized / fused operators in the file | what ORT runs after "
        "its graph optimizations | scheme |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.label} | {', '.join(r.m['providers'])} | {r.m['ops']} | {r.m['ran']} | "
            f"{r.note or '-'} |"
        )


def print_targets(rows: list[Row], args: argparse.Namespace) -> None:
    teacher = next(r for r in rows if r.group == "teacher")
    print("\nTargets (int8 rows): >= 8x the fp32 teacher at equal length; >= 1.3x the peer at")
    print("equal or better accuracy; <= 0.3 point drop against the fp32 student.\n")
    print(
        f"| int8 row | vs teacher @{args.length} | vs peer @{args.length} | vs peer real | "
        "acc - peer (pt) | drop (pt) | met |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        if r.group == "teacher" or r.label.endswith(" fp32") or "optimum" in r.label:
            continue
        base = next(x for x in rows if x.group == r.group and x.label.endswith(" fp32"))
        peer = next((x for x in rows if x.group == r.group and "optimum" in x.label), None)
        speed = teacher.m["p50"] / r.m["p50"]
        drop = 100 * (base.m["acc"] - r.m["acc"])
        met = [f"8x {'yes' if speed >= 8 else 'no'}", f"drop {'yes' if drop <= 0.3 else 'no'}"]
        cells = ["-", "-", "-"]
        if peer is not None:
            vs, vs_real = peer.m["p50"] / r.m["p50"], peer.m["rp50"] / r.m["rp50"]
            gap = 100 * (r.m["acc"] - peer.m["acc"])
            cells = [f"{vs:.2f}x", f"{vs_real:.2f}x", f"{gap:+.2f}"]
            met.append(f"peer {'yes' if vs >= 1.3 and gap >= 0 else 'no'}")
        print(
            f"| {r.label} | {speed:.2f}x | {cells[0]} | {cells[1]} | {cells[2]} | {drop:+.2f} | "
            f"{', '.join(met)} |"
        )


# ---- main ----


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True, help="fine-tuned teacher folder")
    parser.add_argument(
        "--student", type=Path, nargs="+", required=True, help="student folders, one row group each"
    )
    parser.add_argument(
        "--dev",
        type=Path,
        required=True,
        help="labelled DEV file, e.g. ../shared/data/sst2/dev.tsv",
    )
    parser.add_argument("--target", default="raspberry-pi-4")
    parser.add_argument("--calibration", type=Path, default=SAMPLE_TEXT)
    held_out = parser.add_mutually_exclusive_group(required=True)
    held_out.add_argument("--eval", type=Path, help="labelled fallback eval file")
    held_out.add_argument(
        "--eval-pool",
        type=Path,
        help="labelled file to draw the fallback eval from, e.g. ../shared/data/sst2/train.tsv",
    )
    parser.add_argument("--eval-rows", type=int, default=1000, help="rows drawn from --eval-pool")
    parser.add_argument("--max-drop", type=float, default=None, help="default: the profile's")
    parser.add_argument("--sample", type=int, default=500, help="DEV sentences for timing")
    parser.add_argument("--runs", type=int, default=300, help="timed runs at the fixed length")
    parser.add_argument(
        "--warmup",
        type=int,
        default=_timing.WARMUP,
        help="untimed runs of every row before the first round (default: %(default)s, the "
        "benchmarks' shared warm-up)",
    )
    parser.add_argument(
        "--rounds", type=int, default=10, help="interleaved timing rounds over all the rows"
    )
    parser.add_argument("--threads", type=int, default=None, help="default: profile's, capped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev-limit", type=int, default=0, help="smoke tests only (0: all rows)")
    parser.add_argument(
        "--peer-python",
        type=Path,
        default=None,
        help="python of a venv holding optimum-onnx (see above); no peer row without it",
    )
    parser.add_argument("--peer-config", default=None, help="default: from the architecture")
    parser.add_argument("--work", type=Path, default=None, help="keep the models here")
    return parser.parse_args()


def build_rows(args: argparse.Namespace, profile: Any, work: Path) -> tuple[list[Row], list[str]]:
    """Export and quantize the teacher and every student; the rows to measure, and notes."""
    static, dynamic = export_pair(args.teacher, work / "teacher", profile, args.target)
    rows = [
        Row(
            label="teacher fp32",
            group="teacher",
            fixed=static / MODEL_FILE,
            dynamic=dynamic / MODEL_FILE,
            tokenizer=static,
        )
    ]
    notes = []
    for student in args.student:
        static, dynamic = export_pair(student, work / student.name, profile, args.target)
        more, why = student_rows(student, static, dynamic, profile, args)
        rows += more
        notes += why
        if args.peer_python is not None:
            peer, note = peer_row(student, work / f"{student.name}-optimum", args)
            rows += [peer] if peer else []
            notes.append(note)
    return rows, notes


def main() -> None:
    args = parse()
    profile = load_profile(args.target)
    args.length = profile.export.sequence_length
    args.threads = args.threads or min(profile.bench.threads, os.cpu_count() or 1)
    args.max_drop = profile.budgets.max_accuracy_drop if args.max_drop is None else args.max_drop
    # The preset for the target's CPU: arm64 (u8/s8) for ARM boards, avx512_vnni on x86.
    args.peer_config = args.peer_config or (
        "arm64" if profile.device.architecture == "arm64" else "avx512_vnni"
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="onnx-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"work folder {work}; students {[str(s) for s in args.student]}")
    args.dev_examples = read_examples(args.dev)
    if args.dev_limit:
        args.dev_examples = args.dev_examples.subset(list(range(args.dev_limit)))
    if args.eval is None:
        exclude = [*training_files([args.teacher, *args.student]), args.dev]
        args.eval = held_out_eval(
            args.eval_pool, exclude, args.eval_rows, args.seed, work / "eval.tsv"
        )
    rows, notes = build_rows(args, profile, work)
    dev = args.dev_examples
    sample = random.Random(args.seed).sample(dev.texts, min(args.sample, len(dev.texts)))
    data = {"dev": dev, "sample": sample, "cache": {}}
    env = environment(args.threads)
    measure([prepare(row, data, args) for row in rows], args)
    print(
        f"Target {profile.name} ({profile.device.cpu}): {args.length} tokens static / real lengths "
        f"dynamic, batch 1, {profile.export.onnx_graph} graph, {profile.export.input_dtype} ids; "
        f"{args.runs} runs at {args.length} and {len(sample)} sentences at real length (seed "
        f"{args.seed}) after {args.warmup} warm-up runs, timed in {args.rounds} interleaved "
        f"rounds (every row in turn, order rotated each round); accuracy on all {len(dev)} rows of "
        f"{args.dev}; calibration {args.calibration}; fallback eval {args.eval} (max drop "
        f"{args.max_drop})\n"
    )
    for line in env + [f"load average at end {os.getloadavg()[0]:.2f}", *notes]:
        print(f"- {line}")
    print()
    print_table(rows, args)
    print_targets(rows, args)


if __name__ == "__main__":
    main()
