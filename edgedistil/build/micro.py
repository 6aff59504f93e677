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
            c_files, c_bytes, c_note = self._c_tokenizer(student, result)
            mcu = microcontroller_artifacts(
                result.path, ctx.profile, reference=result.reference, tokenizer_bytes=c_bytes
            )
            tokenizer = self.tokenizer_beside(student, staging)
        rel = self.release(
            result,
            arena_bytes=mcu.arena_bytes,
            arena_bytes_source="measured in the TFLite Micro interpreter on this host",
            tokenizer_flash_bytes=c_bytes,
            notes=[c_note],
        )
        outputs = [rel, self.relative(result.record)]
        outputs += [self.relative(p) for p in (mcu.c_path, mcu.h_path, mcu.record, *c_files)]
        outputs += tokenizer
        c_summary = f"C tokenizer {c_bytes:,} bytes of flash" if c_files else "no C tokenizer"
        summary = (
            f"{result.scheme}, {result.fidelity.metric} drop {result.fidelity.drop:.4f}, "
            f"arena {mcu.arena_bytes:,} bytes, {c_summary}"
        )
        return {"outputs": outputs, "summary": summary}

    def _c_tokenizer(self, student: Path, result: Any) -> tuple[list[Path], int, str]:
        """tokenizer.c/.h beside the C array, checked on the eval text against the student's
        tokenizer; their flash bytes and a note for the reports. A tokenizer the C cannot
        express (BPE, unigram) gets none: the firmware tokenizes."""
        from edgedistil.export import c_tokenizer
        from edgedistil.export.c_tokenizer_check import check_c_tokenizer

        if (why := c_tokenizer.refusal(student)) is not None:
            return [], 0, f"No C tokenizer: {why}."
        length = self.ctx.profile.export.sequence_length
        written = c_tokenizer.write_c_tokenizer(student, result.path.parent, length)
        texts = [t for t in result.eval_texts if isinstance(t, str)]  # one text a sentence
        check = check_c_tokenizer(result.path.parent, student, texts, length)
        note = (
            f"C tokenizer (tokenizer.c/.h, {written.flash_bytes:,} bytes of flash): "
            f"{check.describe()}."
        )
        return [written.c_path, written.h_path], written.flash_bytes, note
