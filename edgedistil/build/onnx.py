"""The ONNX Runtime stages: a float graph verified against PyTorch (onnx-export), then the
profile's scheme quantized, measured against it and released (onnx-verify)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistil.build.artifact import FormatStage
from edgedistil.errors import BuildError
from edgedistil.manifest import key_of, tree_sha256


class OnnxStage(FormatStage):
    name = "onnx"
    folder = "onnx"

    def run(self, student: Path) -> None:
        ctx = self.ctx
        key = key_of("onnx-export", tree_sha256(student), ctx.profile.to_dict()["export"])
        ctx.stage("onnx-export", key, lambda: self._export(student))
        key = key_of(
            "onnx-verify",
            ctx.manifest.data["stages"]["onnx-export"]["outputs"],
            ctx.profile.to_dict()["quantize"],
            ctx.profile.budgets.max_accuracy_drop,
            tree_sha256(ctx.texts.calibration),
            tree_sha256(ctx.texts.eval),
            ctx.profile.export.sequence_length,
            # only when on: the keys of builds that never set it stay as they were
            *(["text_input"] if ctx.profile.export.text_input else []),
        )
        ctx.stage("onnx-verify", key, self._verify)

    def _export(self, student: Path) -> dict[str, Any]:
        from edgedistil.export.onnx import ExportSpec, export_onnx

        ctx = self.ctx
        with self.fresh_folder() as staging:
            exported = export_onnx(
                ExportSpec(
                    student=student,
                    out=staging,
                    sequence_length=ctx.profile.export.sequence_length,
                    input_dtype=ctx.profile.export.input_dtype,
                    graph=ctx.profile.export.onnx_graph,
                    dynamic=False,
                    parity_text=ctx.texts.eval,
                    target=ctx.profile.name,
                )
            )
            if ctx.profile.export.text_input:  # refused now, not after quantizing
                from edgedistil.export.onnx_text import check_text_input

                check_text_input(staging, pairs=exported.pairs, task=exported.task)
        # The files, not the folder: later stages add their own files beside them.
        files = [f"{self.folder}/{p.name}" for p in sorted(self.out.iterdir()) if p.is_file()]
        return {
            "outputs": files,
            "graph": exported.graph,
            "parity": exported.parity.describe(),
            "summary": f"{exported.graph} graph, parity {exported.parity.describe()}",
        }

    def _verify(self) -> dict[str, Any]:
        from edgedistil.export.onnx import MODEL_FILE
        from edgedistil.quantize import onnx as q
        from edgedistil.schemes import get_scheme

        ctx = self.ctx
        rel = f"{self.folder}/{MODEL_FILE}"
        ctx.manifest.add_artifact(rel, stage="onnx-verify", format="onnx", role="float")
        scheme = ctx.profile.quantize.scheme
        if scheme in q.ort_schemes():
            return self._with_text(self._quantized(rel))
        if not get_scheme(scheme).exact:  # float16 is not made yet: say so
            raise BuildError(
                f'target "{ctx.profile.name}": [quantize].scheme "{scheme}" for onnx is not '
                f"built yet; build makes float32, {', '.join(q.ort_schemes())}"
            )
        ctx.manifest.data["artifacts"][rel].update(
            role="release",
            accuracy_drop=0.0,
            accuracy_drop_source="float32 export, parity-checked against PyTorch",
            **ctx.unk_fields(),
        )
        return self._with_text({"outputs": [rel], "summary": "float32 release"})

    def _with_text(self, result: dict[str, Any]) -> dict[str, Any]:
        """With ``[export].text_input``: the release again as ``model.<scheme>.text.onnx``, raw
        text in (``export.onnx_text``), verified against the host path on the eval text and
        listed as its own artifact (role "text"); the release's entry names it and its figure."""
        from edgedistil.data import read_examples
        from edgedistil.export.onnx_text import write_text_model

        ctx = self.ctx
        if not ctx.profile.export.text_input:
            return result
        (release,) = [r for r in ctx.manifest.releases() if r.startswith(f"{self.folder}/")]
        texts = [str(t) for t in read_examples(ctx.texts.eval).inputs]
        made = write_text_model(ctx.root / release, self.out, texts)
        rel = self.relative(made.path)
        figures = made.fidelity.to_dict()
        source = f"text model vs the host path on {len(texts)} sentences of {ctx.texts.eval.name}"
        ctx.manifest.add_artifact(
            rel, stage="onnx-verify", format="onnx", role="text", text_fidelity=figures
        )
        text_model = {"path": rel, **figures, "extra_bytes": made.extra_bytes, "source": source}
        ctx.manifest.data["artifacts"][release]["text_model"] = text_model
        return result | {
            "outputs": [*result["outputs"], rel],
            "text_model": text_model,
            "summary": f"{result['summary']}; text model: {made.fidelity.describe()}",
        }

    def _moved(self, result: Any) -> Any:
        """The quantize result with the paths its files have in the folder, and its
        ``fidelity.json`` written again to name them (it named the temporary folder)."""
        from dataclasses import replace

        from edgedistil.quantize.job import write_report

        ort = None if result.ort_path is None else self.final(result.ort_path)
        moved = replace(
            result, path=self.final(result.path), ort_path=ort, report=self.final(result.report)
        )
        write_report(moved)
        return moved

    def _quantized(self, float_rel: str) -> dict[str, Any]:
        """The profile's int8 scheme, with the fallback that keeps nodes float within the
        budget (``quantize.job``), released beside the float graph it was measured against."""
        from edgedistil.quantize import onnx as q
        from edgedistil.quantize.job import Job, quantize

        ctx = self.ctx
        exported = [ctx.root / rel for rel in ctx.manifest.data["stages"]["onnx-export"]["outputs"]]
        with self.beside(exported) as staging:
            result = quantize(
                Job(
                    export_dir=staging,
                    settings=q.settings_for(ctx.profile),
                    calibration=ctx.texts.calibration,
                    eval_path=ctx.texts.eval,
                    max_accuracy_drop=ctx.profile.budgets.max_accuracy_drop,
                    ort=ctx.profile.device.kind == "phone",  # ORT Mobile on Android loads .ort
                )
            )
        result = self._moved(result)
        f = result.fidelity
        release = self.relative(result.path)
        self.add_release(
            release,
            stage="onnx-verify",
            scheme=result.settings.describe(),
            accuracy_drop=f.drop,
            accuracy_drop_source=(
                f"{f.metric} of int8 vs the float student on {f.sentences} sentences of "
                f"{ctx.texts.eval.name}"
            ),
        )
        outputs = [float_rel, release, f"{self.folder}/fidelity.json"]
        if result.ort_path is not None:
            ort = self.relative(result.ort_path)
            ctx.manifest.add_artifact(ort, stage="onnx-verify", format="ort", role="copy")
            outputs.append(ort)
        share = result.float_share
        kept = f", fallback: {share.describe()}" if share.nodes else ""
        summary = (
            f"{result.settings.describe()}{kept}, {f.metric} drop {f.drop:.4f}, "
            f"verified on {result.verified_on.machine} ({result.verified_on.u8s8} u8s8 kernels)"
        )
        return {
            "outputs": outputs,
            "drop": f.drop,
            "summary": summary,
            "kept_float": {"nodes": share.nodes, "weight_fraction": round(share.fraction, 4)},
            "verified_on": result.verified_on.to_dict(),
        }
