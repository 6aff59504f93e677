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
        from edgedistil.export.microcontroller import microcontroller_artifacts

        ctx = self.ctx
        with self.fresh_folder() as staging:
            result = self.convert(student, staging)
            c_files, c_bytes, c_note = self._c_tokenizer(student, result.path.parent)
            mcu = microcontroller_artifacts(
                result.path, ctx.profile, reference=result.reference, tokenizer_bytes=c_bytes
            )
            tokenizer = self.tokenizer_beside(student, staging)
        rel = self.release(
            result,
            arena_bytes=mcu.arena_bytes,
            arena_bytes_source="measured in the TFLite Micro interpreter on this host",
            tokenizer_flash_bytes=c_bytes,
        )
        outputs = [rel, self.relative(result.record)]
        outputs += [self.relative(p) for p in (mcu.c_path, mcu.h_path, mcu.record, *c_files)]
        outputs += tokenizer
        summary = (
            f"{result.scheme}, {result.fidelity.metric} drop {result.fidelity.drop:.4f}, "
            f"arena {mcu.arena_bytes:,} bytes, {c_note}"
        )
        return {"outputs": outputs, "summary": summary}

    def _c_tokenizer(self, student: Path, out: Path) -> tuple[list[Path], int, str]:
        """tokenizer.c/.h beside the C array, their flash bytes and a note for the summary; a
        tokenizer the C cannot express (BPE, unigram) gets none: the firmware tokenizes."""
        from edgedistil.export import c_tokenizer

        if c_tokenizer.refusal(student) is not None:
            return [], 0, "no C tokenizer (not BERT's WordPiece)"
        length = self.ctx.profile.export.sequence_length
        written = c_tokenizer.write_c_tokenizer(student, out, length)
        note = f"C tokenizer {written.flash_bytes:,} bytes of flash"
        return [written.c_path, written.h_path], written.flash_bytes, note
