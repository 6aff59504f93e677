"""The teacher's outputs, computed once per row across every process and kept for all epochs.

What is kept is whatever ``train._run_teacher`` returns for a batch: ``"head"`` (logits, a pooled
embedding, or a row of logits a token) and any other key holding a list of ``[batch, tokens,
dim]`` tensors (hidden states, attention inputs...). Each row is cut to its real tokens and stored
as one *entry* per tensor: a flat, token-major ``[tokens or 1, dim]`` float32 block per row,
found by per-row offsets. The rows are computed in fixed batches in index order, so a row's
values are the same whatever the epoch's shuffle and whatever the number of processes: a
resumed run trains on exactly what an unbroken one did.

One process keeps the cache in RAM when it fits ``CACHE_LIMIT_BYTES``, else streams it to disk
shard files (written batch by batch) that each training batch reads back memory-mapped. Under
``torchrun`` rank ``r`` computes batches ``r::world`` and writes them as its shard under
``OUT/.teacher-cache`` (atomically: a staged folder renamed into place); after a barrier every
rank reads every shard, into RAM when the whole cache fits, else memory-mapped. The shards are
removed when training ends; a shard left by a killed run is never read (each rank rewrites its
own before the barrier, and shards of another world size are deleted).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgedistil.errors import DistillError
from edgedistil.files import staged_dir, write_json

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
CACHE_LIMIT_BYTES = 1 << 30  # the whole cache is held in RAM when it fits in 1 GiB (per process)
FOLDER = ".teacher-cache"  # under the output folder: hidden, and removed when the run ends
MODES = ("auto", "on", "off", "disk")  # Settings.cache_teacher
DTYPE = np.float32  # what the teacher returns on the CPU; numpy has no bfloat16

# indices of one fixed batch -> (the teacher's outputs for it, each row's real token count)
Compute = Callable[[list[int]], tuple[dict[str, Any], list[int]]]


class Phase(Protocol):
    """The part of ``train.Progress`` the cache reports to."""

    def phase(self, name: str, steps: int) -> None: ...
    def advance(self, loss: float, examples: int) -> None: ...


def storage(mode: str, epochs_left: int) -> str | None:
    """Where ``Settings.cache_teacher`` puts the outputs: "ram", "disk", "auto" (RAM when the
    whole cache fits, else disk) or None (the teacher runs on every batch). "auto" caches only
    when more than one epoch remains: for a single epoch the cache would cost as much as it
    saves."""
    if mode not in MODES:
        raise DistillError(f'Unknown cache_teacher "{mode}"; allowed: {", ".join(MODES)}.')
    if mode == "off" or (mode == "auto" and epochs_left <= 1):
        return None
    return {"on": "ram"}.get(mode, mode)


@dataclass(frozen=True)
class _Entry:
    """One tensor of the teacher's outputs: ``key`` and its position in the key's list (-1: the
    key holds the tensor itself); ``per_token``: a block of tokens a row, else one vector."""

    key: str
    slot: int
    per_token: bool

    @property
    def name(self) -> str:
        return self.key if self.slot < 0 else f"{self.key}.{self.slot}"


def _entries(result: dict[str, Any]) -> list[_Entry]:
    found = []
    for key, value in result.items():
        tensors = list(enumerate(value)) if isinstance(value, list | tuple) else [(-1, value)]
        for slot, t in tensors:
            if t.dim() not in (2, 3):  # a loss author's mistake, not the user's: said plainly
                raise DistillError(
                    f"teacher output {key!r} has shape {tuple(t.shape)}; the teacher cache holds "
                    "[batch, dim] or [batch, tokens, dim] tensors"
                )
            found.append(_Entry(key, slot, t.dim() == 3))
    return found


def _tensor(result: dict[str, Any], entry: _Entry) -> torch.Tensor:
    value = result[entry.key]
    tensor: torch.Tensor = value if entry.slot < 0 else value[entry.slot]
    return tensor


@dataclass
class _Shard:
    """The rows one process computed: global row ids, and per entry a flat ``[sum k, dim]``
    array (in RAM or memory-mapped) with the rows' offsets into it."""

    rows: np.ndarray
    entries: list[_Entry]
    data: dict[str, np.ndarray]
    offsets: dict[str, np.ndarray]


class _Writer:
    """Appends batches of teacher outputs to a shard, in RAM or to files in ``folder``."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.rows: list[int] = []
        self.entries: list[_Entry] = []
        self.sizes: dict[str, list[int]] = {}  # entry -> rows' block sizes
        self.blocks: dict[str, list[np.ndarray]] = {}  # RAM only
        self.dims: dict[str, int] = {}

    def add(self, indices: list[int], result: dict[str, Any], lengths: list[int]) -> None:
        if not self.entries:
            self.entries = _entries(result)
            self.sizes = {e.name: [] for e in self.entries}
            self.blocks = {e.name: [] for e in self.entries}
        self.rows += indices
        for entry in self.entries:
            tensor = _tensor(result, entry).detach().float().cpu()
            if entry.per_token:  # padding dropped: each row's real tokens, end to end
                parts = [tensor[row, :n] for row, n in enumerate(lengths)]
                block = np.concatenate([p.numpy() for p in parts]).astype(DTYPE, copy=False)
                self.sizes[entry.name] += lengths
            else:
                block = tensor.numpy().astype(DTYPE, copy=False)
                self.sizes[entry.name] += [1] * len(indices)
            self.dims[entry.name] = int(block.shape[-1])
            if self.folder is None:
                self.blocks[entry.name].append(block)
            else:
                with open(self.folder / f"{entry.name}.f32", "ab") as fh:
                    fh.write(np.ascontiguousarray(block).tobytes())

    def finish(self) -> _Shard:
        offsets = {
            k: np.concatenate([[0], np.cumsum(v)]).astype(np.int64) for k, v in self.sizes.items()
        }
        shard = _Shard(np.array(self.rows, dtype=np.int64), self.entries, {}, offsets)
        if self.folder is None:
            shard.data = {k: np.concatenate(v) for k, v in self.blocks.items()}
            return shard
        arrays = {"rows": shard.rows, **{f"offsets.{k}": v for k, v in offsets.items()}}
        np.savez(self.folder / "offsets.npz", **arrays)  # type: ignore[arg-type]  # numpy stubs
        dims = {e.name: self.dims[e.name] for e in self.entries}
        meta = {"entries": [[e.key, e.slot, e.per_token] for e in self.entries], "dims": dims}
        write_json(self.folder / "meta.json", meta)
        return shard


def _read_shard(folder: Path, in_ram: bool) -> _Shard:
    """A shard written by ``_Writer``: copied into RAM, or memory-mapped read-only."""
    if not (folder / "meta.json").is_file():
        raise DistillError(
            f"teacher cache shard {folder} is missing after every process wrote its own: "
            "processes on several hosts need an --out folder that every host sees"
        )
    meta = json.loads((folder / "meta.json").read_text())
    saved = np.load(folder / "offsets.npz")
    entries = [_Entry(key, slot, per_token) for key, slot, per_token in meta["entries"]]
    shard = _Shard(
        saved["rows"], entries, {}, {e.name: saved[f"offsets.{e.name}"] for e in entries}
    )
    for e in entries:
        shape = (int(shard.offsets[e.name][-1]), int(meta["dims"][e.name]))
        mapped = np.memmap(folder / f"{e.name}.f32", dtype=DTYPE, mode="r", shape=shape)
        shard.data[e.name] = np.array(mapped) if in_ram else mapped
    return shard


@dataclass
class TeacherCache:
    """Every row's teacher outputs; ``batch`` pads them back to a training batch."""

    shards: list[_Shard]
    where: np.ndarray  # [rows, 2]: shard, position in the shard
    own: Path | None = None  # this process's shard folder, removed by ``close``
    entries: list[_Entry] = field(init=False)

    def __post_init__(self) -> None:
        self.entries = next((s.entries for s in self.shards if s.entries), [])

    def row(self, index: int, entry: _Entry) -> np.ndarray:
        shard_id, position = self.where[index]
        shard = self.shards[shard_id]
        offsets = shard.offsets[entry.name]
        block: np.ndarray = shard.data[entry.name][offsets[position] : offsets[position + 1]]
        return block

    def batch(self, indices: list[int], width: int, device: torch.device) -> dict[str, Any]:
        """The outputs for ``indices`` as ``train._run_teacher`` returns them, padded with zeros
        to ``width`` tokens."""
        import torch

        result: dict[str, Any] = {}
        for entry in self.entries:
            blocks = [self.row(i, entry) for i in indices]
            if entry.per_token:
                padded = np.zeros((len(indices), width, blocks[0].shape[-1]), dtype=DTYPE)
                for n, block in enumerate(blocks):
                    padded[n, : len(block)] = block
            else:
                padded = np.concatenate(blocks)
            tensor = torch.from_numpy(padded).to(device)
            if entry.slot < 0:
                result[entry.key] = tensor
            else:
                result.setdefault(entry.key, []).append(tensor)
        return result

    def close(self) -> None:
        """Remove this process's shard, and the cache folder once it is empty."""
        if self.own is None:
            return
        shutil.rmtree(self.own, ignore_errors=True)
        with contextlib.suppress(OSError):  # another process's shard is still there: it will
            self.own.parent.rmdir()


def _index(shards: list[_Shard], rows: int) -> np.ndarray:
    where = np.full((rows, 2), -1, dtype=np.int64)
    for n, shard in enumerate(shards):
        where[shard.rows, 0] = n
        where[shard.rows, 1] = np.arange(len(shard.rows))
    return where


def fill(
    compute: Compute,
    lengths: list[int],
    batch_size: int,
    how: str,
    folder: Path,
    progress: Phase,
    rank: int = 0,
    world: int = 1,
) -> TeacherCache:
    """Every row's teacher outputs, in fixed batches of ``batch_size`` in index order, of which
    this process computes batches ``rank::world``. ``how``: "ram", "disk" or "auto" (see
    ``storage``); ``lengths``: every row's token count; ``folder``: where shards go."""
    starts = range(0, len(lengths), batch_size)
    batches = [list(range(s, min(s + batch_size, len(lengths)))) for s in starts]
    mine = batches[rank::world]
    progress.phase("teacher outputs", len(mine))  # minutes on a CPU for a large text
    if world == 1 and how != "disk":
        limit = None if how == "ram" else CACHE_LIMIT_BYTES
        shard = _fill_ram(compute, mine, lengths, progress, limit)
        if shard is not None:
            return TeacherCache([shard], _index([shard], len(lengths)))
    own = folder / f"shard-{rank}-of-{world}"
    _clear_stale(folder, rank, world)
    with staged_dir(own) as staging:
        writer = _Writer(staging)
        for indices in mine:
            writer.add(indices, *compute(indices))
            progress.advance(0.0, len(indices))
        writer.finish()
    _barrier(world)
    folders = [folder / f"shard-{r}-of-{world}" for r in range(world)]
    in_ram = how == "ram" or (how == "auto" and _bytes(folders) <= CACHE_LIMIT_BYTES)
    shards = [_read_shard(f, in_ram) for f in folders]
    kept = "in RAM" if in_ram else "memory-mapped"
    log.info("teacher outputs: %d rows in %d shards, %s", len(lengths), world, kept)
    return TeacherCache(shards, _index(shards, len(lengths)), own)


def _fill_ram(
    compute: Compute,
    mine: list[list[int]],
    lengths: list[int],
    progress: Phase,
    limit: int | None,
) -> _Shard | None:
    """One process: the shard in RAM, or None when the first batch shows that the whole cache
    would not fit ``limit`` bytes (the caller then streams it to disk)."""
    writer = _Writer(None)
    for n, indices in enumerate(mine):
        writer.add(indices, *compute(indices))
        if n == 0 and limit is not None and _estimate(writer, lengths) > limit:
            # the disk writer computes this first batch again: one batch of very many
            log.info("teacher outputs do not fit in %d bytes of RAM: streamed to disk", limit)
            return None
        progress.advance(0.0, len(indices))
    return writer.finish()


def _estimate(writer: _Writer, lengths: list[int]) -> int:
    """Bytes of the whole cache, extrapolated from the first batch's dimensions."""
    total = 0
    for entry in writer.entries:
        dim = writer.dims[entry.name]
        total += DTYPE().itemsize * dim * (sum(lengths) if entry.per_token else len(lengths))
    return total


def _bytes(folders: list[Path]) -> int:
    return sum(p.stat().st_size for f in folders if f.is_dir() for p in f.glob("*.f32"))


def _clear_stale(folder: Path, rank: int, world: int) -> None:
    """Rank 0 deletes what a killed run of another world size left (this world size's shards
    are each rewritten by their own process before any is read)."""
    folder.mkdir(parents=True, exist_ok=True)
    if rank != 0:
        return
    ours = re.compile(rf"^\.?shard-\d+-of-{world}(\.old)?(\.tmp)?$")
    for item in folder.iterdir():
        if ours.match(item.name):
            continue
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
