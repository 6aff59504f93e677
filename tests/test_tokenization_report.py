"""Tokenisation on the board in the gate's reports: beside the latency, labelled, never a budget.

Build folders and bench results made as in tests/test_evidence.py, with the ``tokenize`` a bench
in text mode stores (``bench.inputs.check_tokenized``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgedistil import report, report_html
from edgedistil.gate import Gate
from tests.test_evidence import QUANTILES, _bench, _build, _check, _gate

MEASURED = {
    "measured": True,
    "tokenizer": "builtin-wordpiece",
    "load_ms": 40.0,
    "latency_ms": {**{q: 0.25 for q in QUANTILES}, "p50": 0.125, "p95": 0.5},
    "ids_match_host": 32,
}


def _with_tokenize(tmp_path: Path, tokenize: dict[str, Any] | None) -> Gate:
    folder = _build(tmp_path)
    path = _bench(folder, p95=12.5)
    if tokenize is not None:
        entry = json.loads(path.read_text())
        entry["result"]["tokenize"] = tokenize
        path.write_text(json.dumps(entry))
    return _gate(folder)


def test_the_tokenisation_is_shown_beside_the_latency_and_judged_by_no_budget(
    tmp_path: Path,
) -> None:
    gate = _with_tokenize(tmp_path, MEASURED)
    latency = _check(gate, "max_p95_latency_ms")
    assert latency.measured is not None and latency.measured.value == 12.5  # inference alone
    assert latency.status == "pass"
    (artifact,) = gate.artifacts
    assert artifact.tokenization is not None
    assert artifact.tokenization.tokenizer == "builtin-wordpiece"
    assert (artifact.tokenization.p50_ms, artifact.tokenization.p95_ms) == (0.125, 0.5)
    line = (
        "Tokenisation on the board (builtin-wordpiece), per sentence, apart from inference: "
        "p50 0.125 ms, p95 0.500 ms (bench on arm64 board pi@board"
    )
    assert line in report.to_markdown(gate)
    assert report.to_dict(gate)["artifacts"][0]["tokenization"]["p95_ms"] == 0.5
    assert 'name="tokenization" value="Tokenisation on the board' in report.to_junit(gate)
    assert "p50 0.125 ms" in report_html._tokenization(gate)


def test_a_tokenisation_not_measured_says_why(tmp_path: Path) -> None:
    reason = "the artifact carries no tokenizer (none beside model.onnx; give --tokenizer)"
    gate = _with_tokenize(tmp_path, {"measured": False, "reason": reason})
    assert f"Tokenisation on the board: not measured ({reason}; bench on" in report.to_markdown(
        gate
    )


def test_a_result_from_before_text_mode_shows_nothing(tmp_path: Path) -> None:
    gate = _with_tokenize(tmp_path, None)
    assert gate.artifacts[0].tokenization is None
    assert "Tokenisation" not in report.to_markdown(gate)
    assert report_html._tokenization(gate) == ""
