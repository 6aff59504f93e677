"""The microcontroller latency estimate (``export.mcu_latency``): for a ``.tflite``, and against
latencies published for comparable int8 models.

    .venv/bin/python benchmarks/mcu_estimate.py [--tflite FILE.tflite --target esp32-s3]
    .venv/bin/python benchmarks/mcu_estimate.py --target cortex-m7 --shape 128,4,3,512,6937

With ``--tflite``: the estimate of that file under the target's ``[estimate]``, per operator.
With ``--shape HIDDEN,HEADS,LAYERS,FFN,VOCAB``: a BERT student of that shape with random weights
(the estimate reads shapes only), converted by edgedistil's own TFLite Micro path at the
target's sequence length (about a minute at hidden 384), then estimated the same way.
Always: the published whole-network latencies below beside what the estimate gives for the same
model's MAC count. Those models are convolutional: every MAC (depthwise included) is priced at
the profile's ``fully_connected_cycles_per_mac`` at the reported board's clock, which is how a
matrix-product-bound network fares under the estimate. The MAC counts are derived from the
reference models' layers (below), not copied.

What a comparison can and cannot say: the ESP32-S3 row is independent of the profile (its
ranges come from ESP-NN's kernel table, the latency from Espressif's TFLite Micro example); the
Cortex-M7 rows are not, since the profile's high end was read off these same MLPerf Tiny
results (no CMSIS-NN whole-model latency on a Cortex-M7 was found to test it against). It
reads files and counts; it times nothing, and takes about a second.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgedistil import profiles
from edgedistil.export.mcu_latency import estimate_file


def ds_cnn_macs() -> int:
    """MLPerf Tiny keyword spotting (mlcommons/tiny, training/keyword_spotting/keras_model.py):
    49x10x1 MFCCs, a 10x4 stride-2 conv to 25x5x64, four depthwise 3x3 + pointwise 64 blocks,
    average pooling, a 64 -> 12 dense layer."""
    pixels = 25 * 5
    block = pixels * 64 * 9 + pixels * 64 * 64
    return pixels * 64 * 10 * 4 + 4 * block + 64 * 12


def mobilenet_v1_025_macs(channels: int) -> int:
    """MobileNetV1 at width 0.25 on 96x96 images (MLPerf Tiny visual wake words with RGB input;
    TFLite Micro's person_detection example with one grey channel), two classes."""
    size, macs, width = 48, 48 * 48 * 8 * 9 * channels, 8  # the first 3x3 stride-2 conv
    blocks = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), *[(128, 1)] * 5]
    for out, stride in [*blocks, (256, 2), (256, 1)]:
        size //= stride
        macs += size * size * width * 9 + size * size * width * out  # depthwise + pointwise
        width = out
    return macs + 256 * 2


@dataclass(frozen=True)
class Published:
    model: str
    macs: int
    target: str  # the profile whose [estimate] prices it
    board: str
    clock_mhz: int
    latency_ms: float
    source: str


PUBLISHED = (
    Published(
        "keyword spotting DS-CNN (MLPerf Tiny)",
        ds_cnn_macs(),
        "cortex-m7",
        "STM32H7A3ZI-Q, Cortex-M7",
        280,
        1000 / 59.667,
        "MLPerf Tiny v1.0, STMicroelectronics NUCLEO-H7A3ZI-Q, X-CUBE-AI 7.3: "
        "median 59.667 inf./sec (mlcommons/tiny_results_v1.0, kws/performance/results.txt)",
    ),
    Published(
        "visual wake words MobileNetV1-0.25 (MLPerf Tiny)",
        mobilenet_v1_025_macs(3),
        "cortex-m7",
        "STM32H7A3ZI-Q, Cortex-M7",
        280,
        1000 / 19.722,
        "MLPerf Tiny v1.0, same system: median 19.722 inf./sec (vww/performance/results.txt)",
    ),
    Published(
        "person detection MobileNetV1-0.25, 96x96x1 (TFLite Micro example)",
        mobilenet_v1_025_macs(1),
        "esp32-s3",
        "ESP32-S3, ESP-NN",
        240,
        54.0,
        "espressif/esp-tflite-micro README, 'Performance Comparison': 54 ms with ESP-NN, "
        "2300 ms without, at 240 MHz (the invoke() call, internal memory)",
    ),
)


def compare() -> None:
    print("published latency vs the estimate for the same MAC count")
    for row in PUBLISHED:
        costs = profiles.load_profile(row.target).estimate
        assert costs is not None, f"{row.target} has no [estimate]"
        low, high = costs.fully_connected_cycles_per_mac
        est_low = row.macs * low / (row.clock_mhz * 1e3)
        est_high = row.macs * high / (row.clock_mhz * 1e3)
        cycles = row.latency_ms * row.clock_mhz * 1e3 / row.macs
        inside = "inside" if est_low <= row.latency_ms <= est_high else "OUTSIDE"
        print(
            f"- {row.model}: {row.macs:,} MACs on {row.board} at {row.clock_mhz} MHz\n"
            f"  reported {row.latency_ms:.2f} ms ({cycles:.2f} cycles/MAC); "
            f"estimated {est_low:.2f}-{est_high:.2f} ms: {inside} the range\n"
            f"  source: {row.source}"
        )


def show(path: Path, target: str) -> None:
    profile = profiles.load_profile(target)
    clock = profile.device.clock_mhz
    if profile.estimate is None or clock is None:
        raise SystemExit(f"{target} has no [estimate] (or no [device].clock_mhz)")
    made = estimate_file(path, profile.estimate, clock)
    if made.unpriced:
        raise SystemExit(f"{path}: no [estimate] price for {', '.join(made.unpriced)}")
    print(f"{path} on {target} at {clock} MHz: estimated {made.low_ms:.1f}-{made.high_ms:.1f} ms")
    print(f"  {made.total('MACs'):,} MACs, {made.total('elements'):,} elements")
    for line in made.lines:
        print(
            f"  {line.op:16} {line.nodes:4} nodes {line.work:>13,} {line.unit:8} "
            f"{line.low_ms:9.2f}-{line.high_ms:9.2f} ms  ({line.key})"
        )


def random_student(shape: str, target: str, folder: Path) -> Path:
    """The ``.tflite`` of a random-weight BERT of ``shape``, converted as a build would."""
    import transformers

    from edgedistil.data import SAMPLE_TEXT
    from edgedistil.export.tflite import TFLiteSpec, convert_tflite

    hidden, heads, layers, ffn, vocab = (int(x) for x in shape.split(","))
    config = transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_hidden_layers=layers,
        intermediate_size=ffn,
    )
    student = folder / "student"
    transformers.BertModel(config).save_pretrained(str(student), safe_serialization=True)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [f"tok{i}" for i in range(vocab - len(tokens))]
    (student / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    spec = TFLiteSpec(
        student=student,
        out=folder / "tflite-micro",
        scheme="full-int8",
        sequence_length=profiles.load_profile(target).export.sequence_length,
        runtime="tflite-micro",
        calibration=SAMPLE_TEXT,
        eval_text=SAMPLE_TEXT,
        max_drop=1.0,  # random weights: the file's shapes are what counts, not its fidelity
        calibration_sentences=16,
        eval_sentences=8,
    )
    path: Path = convert_tflite(spec).path
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tflite", type=Path, help="A TFLite Micro .tflite to estimate.")
    parser.add_argument("--target", default="esp32-s3", help="A profile with [estimate].")
    parser.add_argument("--shape", help="HIDDEN,HEADS,LAYERS,FFN,VOCAB of a random student.")
    args = parser.parse_args()
    if args.tflite:
        show(args.tflite, args.target)
        print()
    if args.shape:
        with tempfile.TemporaryDirectory() as folder:
            show(random_student(args.shape, args.target, Path(folder)), args.target)
        print()
    compare()


if __name__ == "__main__":
    main()
