"""The teacher cache (``edgedistil.distill.teacher_cache``): RAM and disk hold the same rows as
the teacher computed them, a training run is the same with either, a stale shard is never read,
and under torchrun each process runs the teacher on its own half of the rows."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch

from edgedistil.distill import teacher_cache, train
from edgedistil.distill.job import Job, distill
from edgedistil.distill.train import Settings
from edgedistil.errors import DistillError
from tests.conftest import torchrun_command

WORDS = ["the", "phone", "battery", "was", "good", "bad", "fast", "slow", "watch", "timer"]
WORKER = Path(__file__).with_name("teacher_rows_worker.py")


class _Steps:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int]] = []
        self.examples = 0

    def phase(self, name: str, steps: int) -> None:
        self.phases.append((name, steps))

    def advance(self, loss: float, examples: int) -> None:
        self.examples += examples


def _texts(n: int = 23) -> list[str]:
    return [" ".join(WORDS[(i * 7 + k) % 10] for k in range(2 + i % 6)) for i in range(n)]


def _teacher(tiny_bert: Path, per_token_head: bool) -> tuple[Any, train.Encoded]:
    """A real tiny BERT and its tokenised texts; ``compute`` returns what ``_run_teacher`` does
    for the two head shapes (pooled: a vector a row; token logits: a vector a token), plus a
    second list-valued key, as the attention losses add."""
    import transformers

    model = transformers.AutoModel.from_pretrained(str(tiny_bert)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_bert))
    enc = train.encode(tokenizer, _texts(), None, seq_len=16)

    def compute(indices: list[int]) -> tuple[dict[str, Any], list[int]]:
        batch = train.collate(enc, indices)
        with torch.no_grad():
            out = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                output_hidden_states=True,
            )
        states = out.hidden_states
        head = states[-1] if per_token_head else states[-1][:, 0]
        result = {"head": head, "hidden": [states[1], states[2]], "attention": [states[0][..., :8]]}
        return result, batch["attention_mask"].sum(1).tolist()

    return compute, enc


def _fill(compute: Any, enc: train.Encoded, how: str, folder: Path) -> teacher_cache.TeacherCache:
    lengths = [len(ids) for ids in enc.ids]
    return teacher_cache.fill(compute, lengths, 4, how, folder, _Steps())


@pytest.mark.parametrize("per_token_head", [False, True], ids=["pooled-head", "token-head"])
def test_ram_and_disk_hold_each_row_as_the_teacher_computed_it(
    tiny_bert: Path, tmp_path: Path, per_token_head: bool
) -> None:
    compute, enc = _teacher(tiny_bert, per_token_head)
    ram = _fill(compute, enc, "ram", tmp_path / "ram")
    disk = _fill(compute, enc, "disk", tmp_path / "disk")
    assert ram.own is None and not (tmp_path / "ram").exists()
    assert disk.own is not None and (disk.own / "meta.json").is_file()
    shuffled = [13, 2, 22, 7, 0, 19]  # rows of different fixed batches, in a training order
    width = max(len(enc.ids[i]) for i in shuffled) + 1  # one more column than any row needs
    from_ram = ram.batch(shuffled, width, torch.device("cpu"))
    from_disk = disk.batch(shuffled, width, torch.device("cpu"))
    assert set(from_ram) == {"head", "hidden", "attention"}
    assert len(from_ram["hidden"]) == 2 and len(from_ram["attention"]) == 1
    for key in ("head", "hidden", "attention"):
        a, b = from_ram[key], from_disk[key]
        pairs = zip(a, b, strict=True) if key != "head" else [(a, b)]
        assert all(torch.equal(x, y) for x, y in pairs)
    for n, i in enumerate(shuffled):  # the values of the row's own fixed batch, padding zero
        fixed, lengths = compute(list(range(i - i % 4, min(i - i % 4 + 4, len(enc.ids)))))
        row, real = i % 4, lengths[i % 4]
        want = fixed["head"][row, :real] if per_token_head else fixed["head"][row]
        got = from_disk["head"][n, :real] if per_token_head else from_disk["head"][n]
        assert torch.equal(got, want)
        assert torch.equal(from_disk["hidden"][1][n, :real], fixed["hidden"][1][row, :real])
        assert not from_disk["hidden"][1][n, real:].any()
    disk.close()
    assert not (tmp_path / "disk").exists()


def test_auto_streams_to_disk_what_does_not_fit(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compute, enc = _teacher(tiny_bert, per_token_head=False)
    steps = _Steps()
    lengths = [len(ids) for ids in enc.ids]
    fits = teacher_cache.fill(compute, lengths, 4, "auto", tmp_path / "a", steps)
    assert fits.own is None  # a few kilobytes: RAM
    assert steps.phases == [("teacher outputs", 6)] and steps.examples == len(lengths)
    monkeypatch.setattr(teacher_cache, "CACHE_LIMIT_BYTES", 1000)
    streamed = teacher_cache.fill(compute, lengths, 4, "auto", tmp_path / "b", _Steps())
    assert streamed.own == tmp_path / "b" / "shard-0-of-1"
    assert isinstance(streamed.shards[0].data["hidden.0"], teacher_cache.np.memmap)
    forced = teacher_cache.fill(compute, lengths, 4, "ram", tmp_path / "c", _Steps())
    assert forced.own is None  # "on" is RAM whatever the size
    indices = list(range(len(lengths)))
    a = fits.batch(indices, 16, torch.device("cpu"))
    b = streamed.batch(indices, 16, torch.device("cpu"))
    assert torch.equal(a["head"], b["head"]) and torch.equal(a["hidden"][0], b["hidden"][0])
    streamed.close()


def test_a_stale_cache_is_not_read(tiny_bert: Path, tmp_path: Path) -> None:
    """A killed run's shard of this world size is rewritten; one of another size is removed."""
    compute, enc = _teacher(tiny_bert, per_token_head=False)
    folder = tmp_path / teacher_cache.FOLDER
    reference = _fill(compute, enc, "ram", tmp_path / "r")
    stale = _fill(lambda idx: _doubled(compute, idx), enc, "disk", folder)
    assert stale.own is not None
    (folder / "shard-1-of-3").mkdir()
    (folder / ".shard-0-of-3.tmp").mkdir()
    fresh = _fill(compute, enc, "disk", folder)
    assert sorted(p.name for p in folder.iterdir()) == ["shard-0-of-1"]
    rows = list(range(len(enc.ids)))
    want = reference.batch(rows, 16, torch.device("cpu"))["head"]
    assert torch.equal(fresh.batch(rows, 16, torch.device("cpu"))["head"], want)
    fresh.close()
    assert not folder.exists()


def _doubled(compute: Any, indices: list[int]) -> tuple[dict[str, Any], list[int]]:
    result, lengths = compute(indices)
    return {"head": result["head"] * 2, "hidden": result["hidden"]}, lengths


def test_modes() -> None:
    assert teacher_cache.storage("auto", 2) == "auto"
    assert teacher_cache.storage("auto", 1) is None  # one epoch: caching saves nothing
    assert teacher_cache.storage("on", 1) == "ram"
    assert teacher_cache.storage("disk", 1) == "disk"
    assert teacher_cache.storage("off", 5) is None
    with pytest.raises(DistillError, match='Unknown cache_teacher "yes"; allowed: auto, on, off'):
        teacher_cache.storage("yes", 2)
    with pytest.raises(DistillError, match=r"'attention' has shape \(2, 4, 8, 8\); the teacher"):
        teacher_cache.fill(
            lambda idx: ({"attention": [torch.zeros(2, 4, 8, 8)]}, [8, 8]),
            [8, 8],
            2,
            "ram",
            Path("unused"),
            _Steps(),
        )


def _plain(path: Path, n: int = 40) -> Path:
    path.write_text("\n".join(_texts(n)) + "\n")
    return path


def _settings(cache: str) -> Settings:
    return Settings(task="", epochs=2, batch_size=8, seq_len=16, patience=None, cache_teacher=cache)


def test_training_is_the_same_from_ram_disk_or_the_teacher(tiny_bert: Path, tmp_path: Path) -> None:
    data = _plain(tmp_path / "t.txt")
    histories = {}
    for cache in ("on", "disk", "off"):
        out = tmp_path / cache
        outcome = distill(
            Job(teacher=str(tiny_bert), data=data, out=out, settings=_settings(cache), layers=1)
        )
        histories[cache] = [h["train_loss"] for h in outcome.state.history]
        assert not (out / teacher_cache.FOLDER).exists()
    assert histories["on"] == histories["disk"]
    # the teacher run on each training batch (other padding): equal to float rounding
    assert histories["off"] == pytest.approx(histories["on"], rel=1e-5)


@pytest.mark.slow
def test_two_processes_each_run_the_teacher_on_half_the_rows(
    tiny_bert: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ddp"
    cmd = torchrun_command(
        2, str(WORKER), str(tiny_bert), str(_plain(tmp_path / "t.txt", 50)), str(out), "disk"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "edgedistil.json").read_text())
    assert len(record["history"]) == 2 and (out / "model.safetensors").is_file()
    counts = [json.loads((out / f"teacher-rows-{r}.json").read_text()) for r in (0, 1)]
    rows = [set(c["rows"]) for c in counts]
    train_rows = 45  # 50 texts less the 10% held out for evaluation
    assert not rows[0] & rows[1] and rows[0] | rows[1] == set(range(train_rows))
    assert [len(r) for r in rows] == [29, 16]  # batches of 16: 0, 2 on rank 0; 1 on rank 1
    assert [c["phase"] for c in counts] == [["teacher outputs", 2], ["teacher outputs", 1]]
    assert not (out / teacher_cache.FOLDER).exists()
