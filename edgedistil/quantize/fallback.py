"""Accuracy-aware fallback: keep the int8 nodes that hurt most in float, step by step.

Nodes are ranked by role first (``roles``: the name without its numbers, so every layer's FFN
down-projection is one group): each group alone is made int8, the rest float, and the drop of
the model's output is measured; groups are then kept float one at a time, most harmful first.
That is the drop the budget is on. The error a node adds to its own output missed what costs:
on a MiniLM student's static int8 (issue 20) the three FFN down-projections, which read the
GELU's long-tailed output, carried 0.0226 of the 0.0272 drop, yet ranked below the rest, and
the fallback ended with every node float where those three float gave 0.0044.

Where the names give no groups (one role, or more than ``MEASURED_GROUPS``), each node is
scored by the error it adds: the relative squared error of its output against the float model,
minus that of its activation input (the error it inherited), and nodes are excluded 1, 2, 4,
... at a time. Either way each step requantizes with the same calibration ranges, until the
drop fits the budget or every node is float. QOperator graphs rename tensors, so they are
ranked on a QDQ graph of the same ranges.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistil.verify import kernels
from edgedistil.verify.fidelity import Fidelity
from edgedistil.verify.text import Batch

log = logging.getLogger(__name__)

TOLERANCE = 1e-6  # float rounding: a drop this small against a budget of 0.0 still fits
# Past half of its weights in float, an "int8" file is a float model under an int8 name (issue 14:
# a fallback that excluded every node shipped 68 MB as int8): the stage fails instead.
MOSTLY_FLOAT = 0.5
# Each group ranked end to end costs a requantization and a pass over the ranking text; past
# this many roles the names say little about layers, and the per-node error ranks them instead.
MEASURED_GROUPS = 16
BY_GROUP = "drop of the output with only that role int8"
BY_NODE = "error each node adds to its own output"


@dataclass(frozen=True, kw_only=True)
class Step:
    excluded: tuple[str, ...]
    drop: float
    bytes: int


@dataclass(frozen=True, kw_only=True)
class Outcome:
    ranking: tuple[tuple[str, float], ...]
    steps: tuple[Step, ...]
    chosen: Step
    fits: bool
    ranked_by: str = BY_NODE


def candidates(model: Any, op_types: tuple[str, ...]) -> list[Any]:
    """Nodes the quantizer turns int8; a Gather counts only when it looks up a float table."""
    tables = {i.name for i in model.graph.initializer if i.data_type == 1}  # 1: FLOAT
    return [
        n
        for n in model.graph.node
        if n.op_type in op_types and (n.op_type != "Gather" or n.input[0] in tables)
    ]


@dataclass(frozen=True, kw_only=True)
class FloatShare:
    """How much of what the scheme would make int8 stays float: nodes and weight elements."""

    nodes: int
    of_nodes: int
    weights: int
    of_weights: int

    @property
    def fraction(self) -> float:
        return self.weights / self.of_weights if self.of_weights else 0.0

    def describe(self) -> str:
        return f"{self.nodes} of {self.of_nodes} node(s) float ({self.fraction:.0%} of the weights)"


def float_share(model: Any, op_types: tuple[str, ...], excluded: tuple[str, ...]) -> FloatShare:
    """The share of the candidate nodes' float weights (elements) that ``excluded`` keeps float."""
    sizes = {
        i.name: math.prod(i.dims)
        for i in model.graph.initializer
        if i.data_type == 1  # FLOAT
    }
    nodes = candidates(model, op_types)
    weights = {n.name: sum(sizes.get(name, 0) for name in n.input) for n in nodes}
    floats = set(excluded)
    kept = [n.name for n in nodes if n.name in floats]
    return FloatShare(
        nodes=len(kept),
        of_nodes=len(nodes),
        weights=sum(weights[name] for name in kept),
        of_weights=sum(weights.values()),
    )


def rank_nodes(
    float_path: Path, int8_path: Path, op_types: tuple[str, ...], data: Iterator[Batch]
) -> list[tuple[str, float]]:
    """(node name, error it adds), most harmful first."""
    import onnx

    model = onnx.load(str(float_path))
    weights = {i.name for i in model.graph.initializer}
    nodes = [n for n in candidates(model, op_types) if n.name]
    produced = {o for n in onnx.load(str(int8_path)).graph.node for o in n.output}
    watch: set[str] = set()
    for node in nodes:
        inputs = [i for i in node.input if i and i not in weights]
        watch.update(t for t in (*inputs[:1], node.output[0]) if t in produced or t in inputs)
    errors = _tensor_errors(float_path, int8_path, sorted(watch), data)
    scores = []
    for node in nodes:
        inputs = [i for i in node.input if i and i not in weights]
        inherited = errors.get(inputs[0], 0.0) if inputs else 0.0
        # a node whose output the int8 graph renamed is unknown: ranked after the measured ones
        scores.append((node.name, errors.get(node.output[0], -1.0) - inherited))
    return sorted(scores, key=lambda s: -s[1])


def _exposed(path: Path, names: list[str], work: Path) -> Any:
    import onnx

    model = onnx.load(str(path))
    present = {o.name for o in model.graph.output}
    produced = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    for name in names:
        if name in produced and name not in present:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    exposed = work / f"exposed-{path.stem}.onnx"
    onnx.save(model, str(exposed))
    # ORT's full optimisations: its exact int8 kernels for x86 without VNNI exist only after
    # them (``kernels``); a tensor made a graph output keeps its name through every fusion.
    return kernels.session(exposed, level="all")


def _tensor_errors(
    float_path: Path, int8_path: Path, names: list[str], data: Iterator[Batch]
) -> dict[str, float]:
    """Relative squared error of each named tensor, summed over the batches as they stream."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgedistil-rank-") as tmp:
        f_sess, q_sess = (_exposed(p, names, Path(tmp)) for p in (float_path, int8_path))
        f_names = [o.name for o in f_sess.get_outputs()]
        q_names = [o.name for o in q_sess.get_outputs()]
        noise: dict[str, float] = {}
        signal: dict[str, float] = {}
        for batch in data:
            f_out = dict(zip(f_names, f_sess.run(None, batch), strict=True))
            q_out = dict(zip(q_names, q_sess.run(None, batch), strict=True))
            for name in set(names) & f_out.keys() & q_out.keys():
                f, q = f_out[name].astype(np.float64), q_out[name].astype(np.float64)
                if f.shape != q.shape or not np.issubdtype(f_out[name].dtype, np.floating):
                    continue
                noise[name] = noise.get(name, 0.0) + float(np.sum((f - q) ** 2))
                signal[name] = signal.get(name, 0.0) + float(np.sum(f**2))
    return {n: noise[n] / max(signal[n], 1e-12) for n in noise}


@dataclass(frozen=True, kw_only=True)
class Group:
    role: str
    nodes: tuple[str, ...]
    drop: float  # the output's drop with only these nodes int8


def roles(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Nodes by role: the name with its numbers taken out (torch.onnx names a node by its module's
    path, so ``layer.0/output/dense/MatMul`` and ``layer.2/...`` are one role), in graph order."""
    found: dict[str, list[str]] = {}
    for name in names:
        found.setdefault(re.sub(r"\d+", "#", name), []).append(name)
    return {role: tuple(nodes) for role, nodes in found.items()}


def rank_groups(
    names: Sequence[str], alone: Callable[[tuple[str, ...]], float]
) -> list[Group] | None:
    """Each role's drop with only its nodes int8 (``alone`` gets the nodes to keep float), most
    harmful first; None where the names give fewer than two roles or too many to measure."""
    groups = roles(names)
    if not 2 <= len(groups) <= MEASURED_GROUPS:
        return None
    ranked = []
    for role, nodes in groups.items():
        drop = alone(tuple(n for n in names if n not in nodes))
        log.info("fallback: %s (%d node(s)) alone int8: drop %.4f", role, len(nodes), drop)
        ranked.append(Group(role=role, nodes=nodes, drop=drop))
    return sorted(ranked, key=lambda g: -g.drop)


def by_groups(groups: list[Group]) -> tuple[list[tuple[str, float]], list[int]]:
    """The node ranking and the step sizes that keep whole groups float, one more each step."""
    ranking = [(node, g.drop) for g in groups for node in g.nodes]
    counts = list(itertools.accumulate(len(g.nodes) for g in groups))
    return ranking, counts


def search(
    ranking: list[tuple[str, float]],
    budget: float,
    first: Fidelity,
    first_bytes: int,
    attempt: Callable[[tuple[str, ...]], tuple[Fidelity, int]],
    counts: Sequence[int] | None = None,
    ranked_by: str = BY_NODE,
) -> Outcome:
    """Exclude the top ``counts`` nodes (default 1, 2, 4, ...) until the drop fits the budget or
    none are left."""
    steps = [Step(excluded=(), drop=first.drop, bytes=first_bytes)]
    order = [name for name, _ in ranking]
    for count in counts or _counts(len(order)):
        excluded = tuple(order[:count])
        fidelity, size = attempt(excluded)
        steps.append(Step(excluded=excluded, drop=fidelity.drop, bytes=size))
        log.info("fallback: %d node(s) in float, drop %.4f", count, fidelity.drop)
        if fidelity.drop <= budget + TOLERANCE:
            return Outcome(
                ranking=tuple(ranking),
                steps=tuple(steps),
                chosen=steps[-1],
                fits=True,
                ranked_by=ranked_by,
            )
    best = min(steps, key=lambda s: (s.drop, len(s.excluded)))
    return Outcome(
        ranking=tuple(ranking), steps=tuple(steps), chosen=best, fits=False, ranked_by=ranked_by
    )


def _counts(total: int) -> Iterator[int]:
    """1, 2, 4, ... and finally every node: few requantizations for a long ranking."""
    for power in itertools.count():
        count = 1 << power
        if count >= total:
            if total:
                yield total
            return
        yield count
