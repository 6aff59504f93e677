"""The LiteRT stage: the profile's scheme converted from the student and verified in the LiteRT
interpreter against PyTorch (``export.tflite``); a file that fails is never written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistil.build.artifact import FormatStage
from edgedistil.formats import get_format
from edgedistil.manifest import key_of, tree_sha256


class TFLiteStage(FormatStage):
    name = "tflite"
    folder = "tflite"

    @property
    def runtime(self) -> str:
        """The runtime that loads the format (its registration): converted for and verified in."""
        return get_format(self.name).runtime

    @property
    def stage_name(self) -> str:
        return f"{self.name}-verify"

    def run(self, student: Path) -> None:
        ctx = self.ctx
        key = key_of(
            self.stage_name,
            tree_sha256(student),
            ctx.profile.to_dict(),
            tree_sha256(ctx.texts.calibration),
            tree_sha256(ctx.texts.eval),
        )
        ctx.stage(self.stage_name, key, lambda: self._verify(student))

    def convert(self, student: Path, out: Path) -> Any:
        """The profile's scheme converted into ``out`` (the stage's temporary folder)."""
        from edgedistil.export.tflite import TFLiteSpec, convert_tflite

        ctx = self.ctx
        return convert_tflite(
            TFLiteSpec(
                student=student,
                out=out,
                scheme=ctx.profile.quantize.scheme,
                sequence_length=ctx.profile.export.sequence_length,
                runtime=self.runtime,
                calibration=ctx.texts.calibration,
                eval_text=ctx.texts.eval,
                max_drop=ctx.profile.budgets.max_accuracy_drop,
                target=ctx.profile.name,
            )
        )

    def release(self, result: Any, **extra: Any) -> str:
        """The converted file as what ships, with its drop against PyTorch and where it was
        measured."""
        f = result.fidelity
        rel = self.relative(result.path)
        self.add_release(
            rel,
            stage=self.stage_name,
            scheme=result.scheme,
            accuracy_drop=f.drop,
            accuracy_drop_source=(
                f"{f.metric} of {result.scheme} in {self.runtime} vs PyTorch on {f.sentences} "
                f"sentences of {self.ctx.texts.eval.name}"
            ),
            **extra,
        )
        return rel

    def _verify(self, student: Path) -> dict[str, Any]:
        with self.fresh_folder() as staging:
            result = self.convert(student, staging)
            tokenizer = self.tokenizer_beside(student, staging)
        rel = self.release(result, **_metadata_facts(result.mediapipe))
        summary = f"{result.scheme}, {result.fidelity.metric} drop {result.fidelity.drop:.4f}"
        if result.fallback is not None:  # the file as written: over the budget all int8
            kept = ", ".join(result.fallback.chosen.kept_float)
            summary += f" (fallback: {kept} float; {result.fallback.steps[0].drop:.4f} all int8)"
        return {"outputs": [rel, self.relative(result.record), *tokenizer], "summary": summary}


def _metadata_facts(mediapipe: Any) -> dict[str, Any]:
    """The MediaPipe metadata's bytes (counted in the model size) and what MediaPipe did with
    it, in words for the reports; or why the file carries none."""
    facts: dict[str, Any] = {"notes": [mediapipe.describe()]}
    if mediapipe.written is not None:
        facts["metadata_bytes"] = mediapipe.written.bytes
    return facts
