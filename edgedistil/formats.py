"""Export formats: the artifact kinds a build makes, each with the runtime that loads it.

One registered ``Format`` per ``[export].formats`` name. The runtime names a profile lists in
``[export].runtimes`` come from here, and so does the label reports give them; the schemes a
format carries are the schemes that name it (``schemes.py``), so that fact lives once. Each
format names by dotted path its build stage and the function that runs one of its files on
texts (for the comparison with the teacher, ``runtimes.runtime_of``): they are imported when
used, so nothing heavy is imported to validate a profile. A new format is therefore its own
modules plus one ``register_format`` here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgedistil._registry import Registry, load_object
from edgedistil.schemes import scheme_names

# The first 1,000 eval sentences at most: an agreement of 95% on 1,000 is known to about +-1.4
# points, and a mean cosine (its spread over sentences: 0.08-0.15 for make demo's students) to
# about +-0.01, finer than any budget.
EVAL_SENTENCES = 1_000


@dataclass(frozen=True, kw_only=True)
class Format:
    name: str
    description: str
    runtime: str  # what a profile lists in [export].runtimes for the runtime that loads it
    runtime_label: str  # that runtime as reports name it
    stage: str  # "package.module:Class" of its build stage
    # "package.module:function" that runs a file of the format on texts, one output row a text:
    # (file, its manifest entry, the student directory, texts) -> array (``runtimes.Runner``)
    evaluate: str
    eval_sentences: int = EVAL_SENTENCES  # eval sentences it is compared with the teacher on
    microcontroller: bool = False  # its runtime runs on microcontrollers, and only there
    refusal: str = ""  # why a scheme it cannot carry is refused, when there is one reason
    # What the plan prices beside the weights. Bytes of one quantization channel's parameters in
    # its files: ONNX's float32 scale and 8-bit zero point; a .tflite's float32 scale and int64
    # zero point (the flatbuffer schema's QuantizationParameters.zero_point is [long]).
    channel_bytes: int = 5
    # Its integer graphs (calibrated schemes) give each int32 bias its own scale and zero point
    # per channel, and where the scheme splits the residual stream (``export.tf_bert``) every
    # linear reading it is two, each with its channels' parameters. Measured on a LiteRT
    # static-int8 file of a 3-layer student: 349,008 bytes of parameters, 115,200 a layer.
    integer_graph_channels: bool = False
    # Its dynamic-range converter keeps a weight of fewer elements float32 (TFLite's
    # min_elements_for_weights); 0: every weight is quantized.
    hybrid_min_elements: int = 0

    @property
    def schemes(self) -> tuple[str, ...]:
        """The schemes this format can carry, in registration order."""
        return scheme_names(self.name)

    def has_stage(self) -> bool:
        """Whether the build stage's module exists (found, not imported)."""
        module = self.stage.partition(":")[0]
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # its package is missing too
            return False

    def load_stage(self) -> type[Any]:
        """The build stage class, imported now."""
        stage: type[Any] = load_object(self.stage)
        return stage

    def load_evaluate(self) -> Callable[..., Any]:
        """The function that runs a file of this format on texts, imported now."""
        run: Callable[..., Any] = load_object(self.evaluate)
        return run


_FORMATS: Registry[Format] = Registry("format")


def register_format(fmt: Format) -> Format:
    return _FORMATS.add(fmt.name, fmt)


def unregister_format(name: str) -> None:
    _FORMATS.remove(name)


def get_format(name: str) -> Format:
    """The format ``name``; an unknown name lists the known ones."""
    return _FORMATS.get(name)


def is_format(name: str) -> bool:
    return name in _FORMATS


def all_formats() -> tuple[Format, ...]:
    return _FORMATS.entries()


def format_names() -> tuple[str, ...]:
    return _FORMATS.names()


def runtime_names(*, microcontroller: bool | None = None) -> tuple[str, ...]:
    """The runtimes that load some format (``[export].runtimes``), optionally only those for
    microcontrollers (True) or for the other kinds of device (False)."""
    return tuple(
        dict.fromkeys(
            f.runtime
            for f in all_formats()
            if microcontroller is None or f.microcontroller == microcontroller
        )
    )


def formats_loaded_by(runtime: str) -> tuple[str, ...]:
    return tuple(f.name for f in all_formats() if f.runtime == runtime)


register_format(
    Format(
        name="onnx",
        description="an ONNX graph for ONNX Runtime (and .ort for ORT Mobile on phones)",
        runtime="onnxruntime",
        runtime_label="ONNX Runtime",
        stage="edgedistil.build.onnx:OnnxStage",
        evaluate="edgedistil.runtimes:run_onnx",
    )
)
register_format(
    Format(
        name="tflite",
        description="a .tflite flatbuffer for LiteRT on phones, watches and Linux boards",
        runtime="litert",
        runtime_label="LiteRT",
        stage="edgedistil.build.tflite:TFLiteStage",
        evaluate="edgedistil.runtimes:run_litert",
        channel_bytes=12,
        integer_graph_channels=True,
        hybrid_min_elements=1024,
    )
)
register_format(
    Format(
        name="tflite-micro",
        description="a .tflite and its C array for TFLite Micro, with the tensor arena measured",
        runtime="tflite-micro",
        runtime_label="TFLite Micro",
        stage="edgedistil.build.micro:MicroStage",
        evaluate="edgedistil.runtimes:run_micro",
        # TFLite Micro's reference kernels run ~40x slower than LiteRT on a host (make demo's
        # 2-layer ESP32-S3 student at length 64: 0.19 s a sentence against 0.0045 s, 2 shared
        # x86 cores), so 200 sentences: ~40 s, and a mean cosine known to about +-0.02.
        eval_sentences=200,
        microcontroller=True,
        refusal="TFLite Micro has no dynamic-range kernels",
        channel_bytes=12,
        integer_graph_channels=True,
    )
)
