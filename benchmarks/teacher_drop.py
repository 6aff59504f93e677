"""How far from its teacher is what ships? Each release artifact of some build folders, end to end.

Reads what ``edgedistil build`` recorded (``vs-teacher`` stage: the artifact in its own runtime
with its own tokenizer against the teacher in PyTorch on the held-out eval text) and prints one
Markdown row per release artifact: the student's shape, its distillation eval cosine (on a share of
its own training text), the drop against the float student (``max_accuracy_drop``) and against the
teacher (``max_drop_vs_teacher``), and the eval text's [UNK] share. The builds behind the
profiles' ``max_drop_vs_teacher`` (the default teacher; 2 shared x86 cores):

    B=".venv/bin/edgedistil build --skip-bench --allow-unmeasured"
    S="--data train20k.txt --eval dev1k.txt"
    $B --target android-phone --out runs/android-phone --epochs 1       # make demo's students
    $B --target wear-os-watch --out runs/wear-os-watch --epochs 1 --layers 2
    $B --target esp32-s3 --out runs/esp32-s3 --epochs 1 --layers 2
    $B --target android-phone --out runs/phone-e10 --epochs 10          # 10 epochs
    $B --target esp32-s3 --out runs/esp-e10 --epochs 10 --layers 2
    $B --target wear-os-watch --out runs/watch-e10 --student runs/esp-e10/student
    $B --target android-phone --out runs/phone-sst2 $S --epochs 2       # real text
    $B --target wear-os-watch --out runs/watch-sst2 $S --epochs 2 --layers 2
    $B --target esp32-s3 --out runs/esp-sst2 $S --student runs/watch-sst2/student
    $B --target cortex-m7 --out runs/m7-2l-sst2 $S --epochs 4 --layers 2
    $B --target cortex-m7 --out runs/m7-sst2 $S --epochs 4   # its full int8 fails (0.0228), so:
    $B --target m7-loose.toml --out runs/m7-sst2-loose $S --student runs/m7-sst2/student
    .venv/bin/python benchmarks/teacher_drop.py runs/*

train20k.txt: 20,000 sentences of ../shared/data/sst2/train.tsv (its rows shuffled by
``random.Random(0).shuffle``), dev1k.txt: the first 1,000 of ../shared/data/sst2/dev.tsv, one
sentence a line; m7-loose.toml: ``extends = "cortex-m7"`` with ``max_accuracy_drop = 0.05``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def rows(folder: Path) -> list[str]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    plan = manifest["stages"].get("plan", {})
    distill = manifest["stages"].get("distill", {})
    shape = f"{plan.get('layers')}L h{plan.get('hidden')} v{plan.get('vocab_size'):,}"
    found = []
    for rel, info in sorted(manifest["artifacts"].items()):
        if info.get("role") != "release":
            continue
        found.append(
            f"| {folder.name} | {manifest['target']} | {rel} | {shape} | "
            f"{_number(distill.get('eval_best'))} | {_number(info.get('accuracy_drop'))} | "
            f"{_teacher(info)} | {_number(info.get('eval_unk_rate'))} |"
        )
    return found


def _teacher(info: dict[str, Any]) -> str:
    if "drop_vs_teacher" not in info:
        return f"unmeasured: {info.get('drop_vs_teacher_unmeasured')}"
    scores = info["vs_teacher"]
    return (
        f"{info['drop_vs_teacher']:.4f} ({scores['metric']} {scores['artifact_score']:.4f}, "
        f"{scores['sentences']} sentences)"
    )


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args()
    print(
        "| build | target | artifact | student | distill eval cosine | drop vs float student "
        "| drop vs teacher | eval [UNK] |"
    )
    print("|---|---|---|---|---:|---:|---|---:|")
    for folder in args.folders:
        if (folder / "manifest.json").is_file():
            for row in rows(folder):  # none for a build that stopped before its verify stages
                print(row)


if __name__ == "__main__":
    main()
