"""The TFLite Micro stage: the LiteRT conversion with TFLite Micro's rewrites, then the C array
and the tensor arena measured in the real TFLite Micro interpreter (``export.microcontroller``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistil.build.tflite import TFLiteStage


class MicroStage(TFLiteStage):
    name = "tflite-micro"
    folder = "tflite-micro"

    def _verify(self, student: Path) -> dict[str, Any]:
        from edgedistil.export.microcontroller import microcontroller_artifacts

        ctx = self.ctx
        with self.fresh_folder() as staging:
            result = self.convert(student, staging)
            mcu = microcontroller_artifacts(result.path, ctx.profile, reference=result.reference)
            tokenizer = self.tokenizer_beside(student, staging)
        rel = self.release(
            result,
            arena_bytes=mcu.arena_bytes,
            arena_bytes_source="measured in the TFLite Micro interpreter on this host",
        )
        outputs = [rel, self.relative(result.record)]
        outputs += [self.relative(p) for p in (mcu.c_path, mcu.h_path, mcu.record)]
        outputs += tokenizer
        summary = (
            f"{result.scheme}, {result.fidelity.metric} drop {result.fidelity.drop:.4f}, "
            f"arena {mcu.arena_bytes:,} bytes"
        )
        return {"outputs": outputs, "summary": summary}
