"""The peer row of onnx_latency.py: a student through optimum-onnx's own export and quantization.

Runs in a separate virtual environment that holds optimum-onnx (never edgedistil's .venv), at
any PEER_VENV outside the repository; onnx_latency.py runs it when given
`--peer-python PEER_VENV/bin/python`:

    python3.11 -m venv PEER_VENV
    PEER_VENV/bin/pip install torch==2.13.0 "optimum-onnx[onnxruntime]"
    PEER_VENV/bin/python benchmarks/_optimum_peer.py STUDENT OUT [--config arm64]

It exports STUDENT with ``optimum.exporters.onnx.main_export`` (task text-classification,
dynamic batch and sequence axes), quantizes it with ``ORTQuantizer`` and the named
``AutoQuantizationConfig`` preset (dynamic), and prints one JSON line on stdout: the quantized
file, the float file, the preset's settings and the library versions. onnx_latency.py times the
file in its own process, beside edgedistil's rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import version
from pathlib import Path

CONFIGS = ("arm64", "avx512_vnni", "avx2", "avx512")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("student", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--config", choices=CONFIGS, default="arm64")
    # Default: optimum's own choice of opset for the model (its export, as a user would run it).
    parser.add_argument("--opset", type=int, default=None)
    args = parser.parse_args()

    from optimum.exporters.onnx import main_export  # type: ignore[import-not-found]
    from optimum.onnxruntime import ORTQuantizer  # type: ignore[import-not-found]
    from optimum.onnxruntime.configuration import AutoQuantizationConfig  # type: ignore[import-not-found]

    exported = args.out / "export"
    main_export(
        str(args.student),
        output=str(exported),
        task="text-classification",
        **({"opset": args.opset} if args.opset else {}),
        device="cpu",
        local_files_only=True,  # no hub: the student is a local directory
    )
    preset = getattr(AutoQuantizationConfig, args.config)(is_static=False)
    quantizer = ORTQuantizer.from_pretrained(str(exported), file_name="model.onnx")
    quantized = args.out / "quantized"
    quantizer.quantize(save_dir=str(quantized), quantization_config=preset)
    files = sorted(quantized.glob("*.onnx"))
    if not files:
        sys.exit(f"ORTQuantizer wrote no .onnx file in {quantized}")
    settings = {
        "format": str(preset.format),
        "mode": str(preset.mode),
        "activations": str(preset.activations_dtype),
        "weights": str(preset.weights_dtype),
        "per_channel": preset.per_channel,
        "reduce_range": preset.reduce_range,
        "operators": list(preset.operators_to_quantize),
    }
    print(
        json.dumps(
            {
                "float": str(exported / "model.onnx"),
                "int8": str(files[0]),
                "config": args.config,
                "settings": settings,
                "versions": {
                    name: version(name)
                    for name in ("optimum", "optimum-onnx", "onnxruntime", "transformers", "torch")
                },
            }
        )
    )


if __name__ == "__main__":
    main()
