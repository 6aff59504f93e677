"""The TFLite Micro stage: the LiteRT conversion with TFLite Micro's rewrites, then the C array
and the tensor arena measured in the real TFLite Micro interpreter (``export.microcontroller``),
and for a WordPiece student its tokenizer as C beside the array (``export.c_tokenizer``), its
flash counted in the flash budget. Where the profile has ``[estimate]``, the latency estimated
from the file's op counts (``export.mcu_latency``) is recorded with the release, as an
estimate: no runner measures a microcontroller's latency yet."""

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
            estimated = latency_fields(result.path, ctx.profile)
        rel = self.release(
            result,
            arena_bytes=mcu.arena_bytes,
            arena_bytes_source="measured in the TFLite Micro interpreter on this host",
            tokenizer_flash_bytes=c_tok.flash_bytes,
            notes=[c_tok.describe()],
            **estimated,
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
        if "latency_estimate" in estimated:
            made = estimated["latency_estimate"]
            summary += f", estimated latency {made['low_ms']:.1f}-{made['high_ms']:.1f} ms"
        return {"outputs": outputs, "summary": summary}


def latency_fields(path: Path, profile: Any) -> dict[str, Any]:
    """The release's latency estimate for the manifest, or why there is none; nothing for a
    profile without ``[estimate]`` (the schema requires [device].clock_mhz with it)."""
    from edgedistil.export.mcu_latency import estimate_file, source_text

    if profile.estimate is None:
        return {}
    clock = profile.device.clock_mhz
    made = estimate_file(path, profile.estimate, clock)
    if made.unpriced:
        return {
            "latency_estimate_unavailable": (
                f"{path.name} uses {', '.join(made.unpriced)}, which [estimate] of "
                f"{profile.name} prices no kernel for (export.mcu_latency.COSTS)"
            )
        }
    return {"latency_estimate": made.to_record(source=source_text(path.name, profile.name, clock))}
