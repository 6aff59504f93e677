"""Quantization schemes: every fact about one, in one registered ``Scheme``.

Profile validation (which formats carry it, which activation types it takes), ``plan`` (its
bytes per parameter and per graph), the CLI's ``--scheme`` choices, the LiteRT conversion and
ONNX Runtime's quantizer all read these entries; none keeps its own list. A new scheme is one
``register_scheme`` call here, plus the stage code that makes it.

No heavy import here: ``edgedistil --help`` reads this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgedistil._registry import Registry


@dataclass(frozen=True, kw_only=True)
class Scheme:
    name: str
    description: str
    formats: tuple[str, ...]  # the export formats that can carry it (``formats.py`` names)
    weights: str  # the type of weight matrices and embedding tables: float32, float16, int8
    # Activation types taken from calibration text, the default first; empty: the scheme is not
    # calibrated (float, or activations quantized on the fly at run time).
    activations: tuple[str, ...] = ()
    integer_output: str | None = None  # the output's integer type when the I/O is integer too
    # The residual stream's outlier dimensions in their own tensor (``export.tf_bert``)
    split_residual: bool = False
    matrix_bytes: int  # bytes per element of weight matrices and embedding tables
    # Bytes per element of embedding tables where they differ: under int16x8 the converter keeps
    # a table in the activations' int16, since GATHER's output is the table's own type.
    tables: int | None = None
    vector_bytes: int  # bytes per element of 1-D vectors (biases, LayerNorm)
    graph_bytes: tuple[int, int]  # bytes of graph structure (per artifact, per layer)
    # Quantization-aware epochs a build adds by default (``distill.qat``); calibrated schemes
    # only, the others have no rounding of activations to train through.
    qat_epochs: float = 0.0

    @property
    def table_bytes(self) -> int:
        return self.matrix_bytes if self.tables is None else self.tables

    @property
    def calibrated(self) -> bool:
        return bool(self.activations)

    @property
    def quantized(self) -> bool:
        """Integer weights: each table or output channel carries a scale and a zero point."""
        return self.weights.startswith("int")

    @property
    def exact(self) -> bool:
        """Computes in float32 as PyTorch does, so parity, not a drop, is what to check."""
        return self.weights == "float32" and not self.calibrated

    @property
    def int8_activations(self) -> bool:
        return self.calibrated and self.activations[0] in ("int8", "uint8")


_SCHEMES: Registry[Scheme] = Registry("scheme")


def register_scheme(scheme: Scheme) -> Scheme:
    return _SCHEMES.add(scheme.name, scheme)


def unregister_scheme(name: str) -> None:
    _SCHEMES.remove(name)


def get_scheme(name: str) -> Scheme:
    """The scheme ``name``; an unknown name lists the known ones."""
    return _SCHEMES.get(name)


def is_scheme(name: str) -> bool:
    return name in _SCHEMES


def all_schemes() -> tuple[Scheme, ...]:
    return _SCHEMES.entries()


def scheme_names(fmt: str | None = None) -> tuple[str, ...]:
    """Every scheme in registration order, or those that ``fmt`` can carry."""
    return tuple(s.name for s in all_schemes() if fmt is None or fmt in s.formats)


def activation_types() -> tuple[str, ...]:
    """Every activation type some calibrated scheme takes (``[quantize].activations``)."""
    return tuple(dict.fromkeys(a for s in all_schemes() for a in s.activations))


def weight_types() -> tuple[str, ...]:
    """The integer weight types (``[quantize].weights``; a float scheme sets none)."""
    return tuple(dict.fromkeys(s.weights for s in all_schemes() if s.quantized))


# ONNX Runtime has no integer-I/O or 16x8 path for transformers; TFLite Micro has no
# float32/float16 transformer kernels worth shipping and no dynamic-range (hybrid) kernels at all.
#
# Bytes per element: vectors (biases, LayerNorm) stay float32 in ORT's int8 graphs; TFLite's
# integer biases are int32 (same 4 bytes) or int64 under 16-bit activations.
#
# Graph bytes beyond the tensors, (per artifact, per layer): node and tensor metadata, plus
# activation scales in calibrated graphs. Measured on ONNX Runtime artifacts of default-teacher
# students by benchmarks/plan_vs_artifact.py (rounded up, so the plan never promises a fit the
# real file misses). A .tflite's structure is smaller (46 KB beside the parameters of the watch's
# 3-layer static-int8 file); its weights' quantization parameters are larger, and priced by format
# (``formats.Format.channel_bytes``).
_FLOAT_GRAPH = (16_384, 12_288)
_CALIBRATED_GRAPH = (28_672, 45_056)

# A quarter epoch through the rounding: benchmarks/qat.py closed a third to a half of a 3-layer
# student's full-int8 loss in 29-63 steps (ESP32-S3: 0.0212 -> 0.0141 at weight 3); a quarter of
# the sample text's augmented epoch is ~195 steps, at about three times an ordinary step's cost.
QAT_EPOCHS = 0.25
# What the quantization-aware epochs pull the rounded output to (distill.fake_quant.QuantAware):
# the float student's output (the default), or the teacher's (a profile's [distill].qat_toward).
QAT_TARGETS = ("float", "teacher")


register_scheme(
    Scheme(
        name="float32",
        description="float32 weights and activations: the student as trained",
        formats=("onnx", "tflite"),
        weights="float32",
        matrix_bytes=4,
        vector_bytes=4,
        graph_bytes=_FLOAT_GRAPH,
    )
)
register_scheme(
    Scheme(
        name="float16",
        description="weights stored as float16, computed in float32",
        formats=("onnx", "tflite"),
        weights="float16",
        matrix_bytes=2,
        vector_bytes=2,
        graph_bytes=_FLOAT_GRAPH,
    )
)
register_scheme(
    Scheme(
        name="dynamic-int8",
        description="int8 weights; float activations quantized on the fly",
        formats=("onnx", "tflite"),
        weights="int8",
        matrix_bytes=1,
        vector_bytes=4,
        graph_bytes=(20_480, 24_576),
    )
)
register_scheme(
    Scheme(
        name="static-int8",
        description="int8 activations from calibration text around float inputs and outputs",
        formats=("onnx", "tflite", "tflite-micro"),
        weights="int8",
        activations=("uint8", "int8"),  # u8/s8 first: ORT's fast pair on CPUs without i8mm
        split_residual=True,
        matrix_bytes=1,
        vector_bytes=4,
        graph_bytes=_CALIBRATED_GRAPH,
        qat_epochs=QAT_EPOCHS,
    )
)
register_scheme(
    Scheme(
        name="full-int8",
        description="only int8 kernels, integer inputs and output (what TFLite Micro boards want)",
        formats=("tflite", "tflite-micro"),
        weights="int8",
        activations=("int8",),
        integer_output="int8",
        split_residual=True,
        matrix_bytes=1,
        vector_bytes=4,
        graph_bytes=_CALIBRATED_GRAPH,
        qat_epochs=QAT_EPOCHS,
    )
)
# No split residual stream: under int16x8 it measured worse than one tensor (a 2-layer MiniLM
# student in LiteRT: cosine 0.9599 split, 0.9887 one tensor), where 16 bits already resolve the
# ordinary dimensions beside the outliers.
register_scheme(
    Scheme(
        name="int16x8",
        description="int16 activations, int8 weights: for when int8 loses too much",
        formats=("tflite", "tflite-micro"),
        weights="int8",
        activations=("int16",),
        integer_output="int16",
        matrix_bytes=1,
        tables=2,
        vector_bytes=8,
        graph_bytes=_CALIBRATED_GRAPH,
        qat_epochs=QAT_EPOCHS,
    )
)
