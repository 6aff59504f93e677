"""The TFLite Micro stage: the LiteRT conversion with TFLite Micro's rewrites, then the C array
and the tensor arena measured in the real TFLite Micro interpreter (``export.microcontroller``),
and for a WordPiece student its tokenizer as C beside the array (``export.c_tokenizer``), its
flash counted in the flash budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistil.build.tflite import TFLiteStage


class MicroStage(TFLiteStage):
    name = "tflite-micro"
    folder = "tflite-micro"

    def _verify(self, student: Path) -> dict[str, Any]:
        from edgedistil.export.c_tokenizer_check import write_checked
        from edgedistil.export.microcontroller import microcontroller_artifacts

        ctx = self.ctx
        with self.fresh_folder() as staging:
            result = self.convert(student, staging)
            c_tok = write_checked(student, result, ctx.profile.export.sequence_length)
            mcu = microcontroller_artifacts(
                result.path,
                ctx.profile,
                reference=result.reference,
                tokenizer_bytes=c_tok.flash_bytes,
            )
            tokenizer = self.tokenizer_beside(student, staging)
        rel = self.release(
            result,
            arena_bytes=mcu.arena_bytes,
            arena_bytes_source="measured in the TFLite Micro interpreter on this host",
            tokenizer_flash_bytes=c_tok.flash_bytes,
            notes=[c_tok.describe()],
        )
        outputs = [rel, self.relative(result.record)]
        outputs += [self.relative(p) for p in (mcu.c_path, mcu.h_path, mcu.record, *c_tok.files)]
        outputs += tokenizer
        c_summary = (
            f"C tokenizer {c_tok.flash_bytes:,} bytes of flash" if c_tok.files else "no C tokenizer"
        )
        summary = (
            f"{result.scheme}, {result.fidelity.metric} drop {result.fidelity.drop:.4f}, "
            f"arena {mcu.arena_bytes:,} bytes, {c_summary}"
        )
        return {"outputs": outputs, "summary": summary}
