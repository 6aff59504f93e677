"""The text-input ONNX model (``edgedistil.export.onnx_text``) of the default teacher: how close
to the host path, how many bytes more, and what share of a run the in-graph tokenizer takes.

The default teacher (all-MiniLM-L6-v2, an embedding model) is exported as ``edgedistil export``
does (static, the profile's sequence length, float32), then its text model is written and
verified by ``write_text_model`` on the held-out tenth of ``calibration/sentences.txt`` (the
split a build without ``--data`` makes, ``heldout.split_examples``, seed 42). Printed:

- cosine of the text model's embedding to the host path's (Hugging Face tokenizer + the ids
  model in ORT), mean and min, and the share of sentences whose in-graph ids equal the Hugging
  Face tokenizer's exactly, on the held-out text, on ``--sst2`` dev sentences when the file is
  there, and on a few hand-written hard lines (accents, CJK, emoji, punctuation runs);
- the same ids check for the vocabulary pruned as distil prunes it (``--vocab-size`` tokens);
- the text model's bytes over the ids model's (the vocabulary in the operator's attribute);
- p50 of the tokenizer-only graph, the whole text graph and the ids model alone, timed
  interleaved (``_timing``) over ``--runs`` held-out sentences on ``--threads`` threads, and
  the tokenizer's share of the whole graph's time.

    .venv/bin/python benchmarks/onnx_text.py [--sst2 ../shared/data/sst2/dev.tsv] \\
        [--target raspberry-pi-4] [--vocab-size 2000] [--runs 300] [--rounds 10] [--threads 1]

About 20 minutes on 2 shared CPU cores, most of it the 6,735 SST-2 dev sentences run one at a
time through both paths (without the file: a few minutes).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import _timing
import numpy as np

from edgedistil.data import SAMPLE_TEXT, read_examples
from edgedistil.export import onnx_text
from edgedistil.export.onnx import ExportSpec, export_onnx, read_record
from edgedistil.heldout import split_examples
from edgedistil.profiles import load_profile
from edgedistil.teacher import default_teacher_dir, load_tokenizer
from edgedistil.verify.text import encode

HARD = [
    "Café NAÏVE über déjà vu, crème brûlée!",
    "我看电影, 电影很好看。",
    "東京タワーに行きました",
    "the movie ... was good?!?! (really)",
    "Ünïcödé çàfé — “quotes” and ‘apostrophes’",
    "I love it 😀👍 so much",
    "tab\tseparated\u00a0nbsp line",
    "ALL CAPS SHOUTING ABOUT THE BATTERY",
    "",
    "word " * 200,
]


def held_out() -> list[str]:
    _, eval_part = split_examples(read_examples(SAMPLE_TEXT), 42)
    return [str(t) for t in eval_part.inputs]


def ext_session(model: Any, threads: int) -> Any:
    """An ORT session on ``threads`` threads with the extensions library registered."""
    import onnxruntime as ort
    import onnxruntime_extensions

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def same_ids(front: Any, tokenizer: Any, record: Any, texts: list[str]) -> float:
    """Share of ``texts`` whose in-graph arrays equal the Hugging Face tokenizer's exactly."""
    same = 0
    for text in texts:
        got = front.run(None, {"text": np.array([text], dtype=object)})
        want = encode(tokenizer, [text], record.sequence_length, tuple(record.inputs), "int64")
        same += all(np.array_equal(g, want[n]) for n, g in zip(record.inputs, got, strict=True))
    return same / len(texts)


def agreement(ids: Path, export: Path, text_model: Any, texts: list[str]) -> str:
    host = onnx_text.host_outputs(ids, export, texts)
    got = onnx_text.run_text(text_model, texts)
    f = onnx_text.compare(host, got, "embedding")
    return f"cosine mean {f.cosine_mean:.6f}, min {f.cosine_min:.6f}"


def report_sets(ids: Path, export: Path, made: Any, sets: dict[str, list[str]]) -> None:
    record = read_record(export)
    tokenizer = load_tokenizer(export)
    model = onnx_text.text_session(made.path)
    front = front_session(export, export, 1)
    for name, texts in sets.items():
        print(
            f"  {name} ({len(texts)} sentences): {agreement(ids, export, model, texts)}; "
            f"ids equal HF's on {same_ids(front, tokenizer, record, texts):.2%}"
        )


def front_session(vocab_folder: Path, export: Path, threads: int) -> Any:
    record = read_record(export)
    settings = onnx_text.read_settings(vocab_folder)
    front = onnx_text.tokenizer_graph(settings, record, 17, 8)
    return ext_session(front.SerializeToString(), threads)


def pruned(export: Path, work: Path, size: int, sets: dict[str, list[str]]) -> None:
    """The in-graph ids against Hugging Face's for the vocabulary pruned as distil prunes it."""
    from c_tokenizer import pruned_folder

    folder = pruned_folder(work / "pruned", size)
    tokenizer = load_tokenizer(folder)
    record = read_record(export)
    front = front_session(folder, export, 1)
    for name, texts in sets.items():
        share = same_ids(front, tokenizer, record, texts)
        print(f"  pruned to {size:,} tokens, {name}: ids equal HF's on {share:.2%}")


def timing(ids: Path, export: Path, made: Any, texts: list[str], args: Any) -> None:
    record = read_record(export)
    tokenizer = load_tokenizer(export)
    front = front_session(export, export, args.threads)
    whole = ext_session(made.path, args.threads)
    plain = _timing.session(ids, threads=args.threads)

    def host(text: str) -> Any:
        return encode(tokenizer, [text], record.sequence_length, tuple(record.inputs), "int64")

    feeds = [host(t) for t in texts]
    strings = [{"text": np.array([t], dtype=object)} for t in texts]
    calls = {
        "tokenizer": lambda i: front.run(None, strings[i]),
        "text model": lambda i: whole.run(None, strings[i]),
        "ids model": lambda i: plain.run(None, feeds[i]),
        "HF tokenizer (host)": lambda i: host(texts[i]),
    }
    candidates = [_timing.Candidate(name=k, call=c, runs=len(texts)) for k, c in calls.items()]
    timed = _timing.time_interleaved(candidates, rounds=args.rounds)
    for name, t in timed.items():
        print(f"  {name:<20} p50 {t.median:8.3f} ms  p95 {t.percentile(95):8.3f} ms")
    share = timed["tokenizer"].median / timed["text model"].median
    print(f"  tokenizer's share of the text model's p50: {share:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sst2", type=Path, default=Path("../shared/data/sst2/dev.tsv"))
    parser.add_argument("--target", default="raspberry-pi-4")
    parser.add_argument("--vocab-size", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    length = load_profile(args.target).export.sequence_length
    texts = held_out()
    sets = {"held-out sample text": texts, "hard lines": HARD}
    if args.sst2.is_file():
        sets["SST-2 dev"] = [str(t) for t in read_examples(args.sst2).inputs]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export = work / "export"
        export_onnx(
            ExportSpec(
                student=default_teacher_dir(),
                out=export,
                sequence_length=length,
                parity_text=SAMPLE_TEXT,
                target=args.target,
            )
        )
        ids = export / "model.onnx"
        made = onnx_text.write_text_model(ids, export, texts)
        print(f"\ndefault teacher, {args.target} ({length} tokens), float32: {made.path.name}")
        print(f"  verified: {made.fidelity.describe()}")
        size, extra = ids.stat().st_size, made.extra_bytes
        print(f"  bytes: ids model {size:,}, text model {made.bytes:,} (+{extra:,})")
        report_sets(ids, export, made, sets)
        pruned(export, work, args.vocab_size, sets)
        timing(ids, export, made, texts[: args.runs], args)


if __name__ == "__main__":
    main()
