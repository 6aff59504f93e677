"""Verification shared by the export and quantize stages: below both, importing neither.

    text.py      calibration and eval text -> token arrays (one tokenisation for every stage)
    parity.py    a float graph against PyTorch: the limits an export must meet
    fidelity.py  a reference against a candidate on eval text: accuracy, agreement or cosine
    kernels.py   which int8 kernels ONNX Runtime runs here, and sessions that verify exactly

A later pipeline stage may import an earlier one or this package; nothing here imports
``export``, ``quantize``, ``distill`` or ``bench`` (``tests/test_imports.py`` checks it).
"""
