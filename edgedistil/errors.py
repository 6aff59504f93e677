"""Every error edgedistil raises on purpose, under one root.

    EdgedistilError            an input or artifact that edgedistil refuses; one line for the user
     ├── ProfileError          a target profile that is unknown or does not validate
     ├── TeacherError          a teacher that is missing, tampered with, or unsafe to load
     ├── PlanError             a student the teacher cannot give (layers, vocabulary, length)
     ├── BenchError            a benchmark that cannot reach its board, run there, or report
     ├── DataError             a text/TSV/CSV/JSONL file that cannot serve as examples
     ├── DistillError          a run that cannot start or resume (task, layer map, checkpoint)
     ├── ExportError           a student that cannot become a verified ONNX file (family, length)
     ├── QuantizeError         an artifact or calibration text that int8 quantization cannot use
     └── BuildError            a build folder that is missing, half-written, or not what its
                               manifest says (a changed file, a bench result of other bytes)

The message of each is complete on its own: what failed, where, the value received and
what is allowed. Only ``edgedistil.cli`` turns them into ``Error: ...`` and an exit code.
"""

from __future__ import annotations


class EdgedistilError(Exception):
    """Root of every error edgedistil raises on purpose."""


class ProfileError(EdgedistilError):
    """A target profile is unknown, unreadable, or fails validation."""


class TeacherError(EdgedistilError):
    """A teacher model directory is missing, incomplete, tampered with, or unsafe."""


class PlanError(EdgedistilError):
    """A student cannot be planned from this teacher for this target."""


class BenchError(EdgedistilError):
    """A benchmark cannot reach its board, run there, or bring back a result."""


class DataError(EdgedistilError):
    """An examples file is unreadable, empty, mislabelled, or lacks the columns asked for."""


class DistillError(EdgedistilError):
    """A distillation or fine-tuning run cannot start or resume as asked."""


class ExportError(EdgedistilError):
    """A student cannot be exported to, or verified as, an ONNX artifact."""


class QuantizeError(EdgedistilError):
    """An artifact cannot be quantized as asked, or its calibration text cannot be used."""


class BuildError(EdgedistilError):
    """A build cannot go on, or a build folder cannot be gated as it stands."""
