"""A build folder's ``manifest.json``: what went in, what came out, and the sha256 of each.

It is rewritten (whole, under a temporary name, then renamed) after every stage, so a build killed
at any point leaves a manifest that names exactly the stages that finished. A stage is skipped on
the next build when its key (a hash of everything it reads) is unchanged and every file it wrote
still has the recorded sha256.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.errors import BuildError
from edgedistil.files import write_json
from edgedistil.teacher import sha256_of

if TYPE_CHECKING:
    from edgedistil.records.manifest import ManifestRecord

MANIFEST = "manifest.json"
SCHEMA = 1
# A stage record's status: done, or being redone (``Manifest.withdraw``) and not finished.
DONE_OR_REDOING = ("done", "redoing")
# The build's bench stage of each release is named BENCH_STAGE + its path.
BENCH_STAGE = "bench "
# The libraries whose versions decide the bytes of an artifact.
LIBRARIES = (
    "edgedistil",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "numpy",
    "onnx",
    "onnxruntime",
    "tensorflow-cpu",
    "ai-edge-litert",
    "tflite-micro",
)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def tree_sha256(path: Path) -> str:
    """One hash for a file, or for a directory's files (relative names and contents, sorted), so
    that renaming the folder does not change it."""
    if path.is_file():
        return sha256_of(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode() + b"\0")
        digest.update(sha256_of(item).encode() + b"\n")
    return digest.hexdigest()


def key_of(*parts: Any) -> str:
    """A stage key: the sha256 of its inputs written as canonical JSON, and of edgedistil's own
    code, so a build folder made by another edgedistil redoes its stages rather than reusing
    what older code made."""
    text = json.dumps([code_sha256(), *parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def code_sha256() -> str:
    """The sha256 over edgedistil's Python sources (path and bytes), read once per process."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass
class Manifest:
    root: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path) -> Manifest:
        """The folder's manifest, or a new empty one (written at the first ``save``)."""
        path = root / MANIFEST
        if not path.exists():
            return cls(root, {"schema": SCHEMA, "stages": {}, "artifacts": {}})
        return cls(root, load(root))

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.root / MANIFEST, self.data, sort_keys=True)

    # ---- stages ----

    def done(self, stage: str, key: str) -> dict[str, Any] | None:
        """The stage's record when it finished with this key and its outputs are intact.

        A record withdrawn while its stage was being redone (``withdraw``) counts too when the
        key is its own: a redo that failed left its outputs and record as they were, so a build
        back on the earlier inputs takes them up again (``restore``) instead of redoing them."""
        record: dict[str, Any] | None = self.data["stages"].get(stage)
        if not record or record.get("key") != key or record.get("status") not in DONE_OR_REDOING:
            return None
        for rel, digest in record.get("outputs", {}).items():
            path = self.root / rel
            if not path.exists() or tree_sha256(path) != digest:
                return None
        return record

    def finish(self, stage: str, key: str, outputs: list[str], info: dict[str, Any]) -> None:
        """The stage's new record; it replaces the old one, withdrawn artifacts and all."""
        self.data["stages"][stage] = {
            "key": key,
            "status": "done",
            "outputs": {rel: tree_sha256(self.root / rel) for rel in outputs},
            **info,
        }
        self.save()

    def withdraw(self, stage: str) -> None:
        """A stage about to be redone: its record is marked ``redoing`` and what it verified
        leaves the artifact list (kept in the record), before anything changes. Its outputs stay
        listed with their sha256: the redo writes beside them and swaps only when complete, so a
        redo that fails or is killed leaves them, and this record, true to each other, while no
        gate sees an artifact of a stage that is not done."""
        record = self.data["stages"].get(stage)
        if not record or record.get("status") != "done":
            return
        artifacts = self.data["artifacts"]
        mine = {rel: a for rel, a in artifacts.items() if a.get("stage") == stage}
        for rel in mine:
            del artifacts[rel]
        record.update(status="redoing", withdrawn_artifacts=mine)
        self.save()

    def restore(self, stage: str) -> None:
        """A withdrawn record whose key is wanted again (``done``): done, its artifacts listed."""
        record = self.data["stages"][stage]
        if record.get("status") == "done":
            return
        record["status"] = "done"
        self.data["artifacts"].update(record.pop("withdrawn_artifacts", {}))
        self.save()

    # ---- artifacts ----

    def add_artifact(self, rel: str, **info: Any) -> None:
        path = self.root / rel
        self.data["artifacts"][rel] = {
            "sha256": sha256_of(path),
            "bytes": path.stat().st_size,
            **info,
        }

    def artifacts(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["artifacts"])

    def releases(self) -> dict[str, dict[str, Any]]:
        return releases(self.data["artifacts"])


def releases(artifacts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The artifacts a build ships (role "release"), by path: what the gate judges."""
    return {
        rel: info
        for rel, info in artifacts.items()
        if isinstance(info, dict) and info.get("role") == "release"
    }


def done_outputs(stages: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each stage that is done, with its outputs by path and their recorded sha256 (a file's,
    or a folder's ``tree_sha256``). A stage being redone is left out: its outputs are the ones
    it replaces."""
    return {
        name: dict(record.get("outputs") or {})
        for name, record in stages.items()
        if isinstance(record, dict) and record.get("status") == "done"
    }


def load(root: Path) -> dict[str, Any]:
    """A build folder's manifest, refused with one line when missing, unreadable, of another
    schema, or not what ``Manifest`` writes (``records.manifest``); the validated data itself,
    which the build goes on changing and saving."""
    data, _ = _read(root)
    return data


def read(root: Path) -> ManifestRecord:
    """A build folder's manifest as its typed record, for readers that only read it."""
    _, record = _read(root)
    return record


def _read(root: Path) -> tuple[dict[str, Any], ManifestRecord]:
    from edgedistil.records import parse
    from edgedistil.records.manifest import ManifestRecord

    if not root.is_dir():
        raise BuildError(f"{root}: no such build folder; make one with: edgedistil build")
    path = root / MANIFEST
    if not path.is_file():
        raise BuildError(
            f"{root} is not a build folder: it has no {MANIFEST}; make one with: edgedistil build"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path} is not valid JSON ({exc}); rebuild the folder") from None
    except OSError as exc:
        raise BuildError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    # type() too: JSON's true equals 1 in Python (and in pydantic's Literal[1], strict or not)
    if type(schema) is not int or schema != SCHEMA:
        found = schema if isinstance(data, dict) else type(data).__name__
        raise BuildError(f"{path}: manifest schema {found!r}; this edgedistil reads {SCHEMA}")
    return data, parse(ManifestRecord, data, str(path), error=BuildError)
