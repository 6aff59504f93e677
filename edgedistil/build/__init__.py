"""``edgedistil build``: teacher -> plan -> distil -> export -> quantize/verify -> vs teacher ->
bench -> gate, everything in one output folder with a manifest.

The stages in the order they run, one module each:

    request.py   the user's request, and its defaults resolved once against the profile
    cache.py     the stage cache: a stage whose key and outputs are unchanged is not redone
    inputs.py    the build's description and the train / eval / calibration split
    student.py   plan and distill
    artifact.py  what every format stage shares; onnx.py, tflite.py, micro.py: one per format
    teacher.py   each release artifact against the teacher
    bench.py     latency and memory on the profile's runner
    gate.py      the budgets against what the folder holds, and the reports

Each stage has a key, the hash of everything it reads (files by content, settings by value). A
stage whose key is unchanged and whose outputs still have their recorded sha256 is not redone, so
a build that was killed, or is run again, starts at the first stage that has something new to
do. The manifest is rewritten after every stage, and only the verify stages list artifacts: a
gate never sees bytes that nothing verified. A stage that fails leaves the earlier stages'
outputs and records as they were.

Nothing built is lost: every input is checked (``inputs.check``) before the folder changes, and a
stage being redone writes beside its old outputs and swaps them in only once complete and
verified (``artifact.FormatStage``, ``student._distill``); until then its old record stays,
marked ``redoing``, with its artifacts withdrawn from the gate (``cache.run_stage``).
"""

from edgedistil.build.request import Request
from edgedistil.build.run import build

__all__ = ["Request", "build"]
