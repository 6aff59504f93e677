"""What every stage of one build reads: the resolved request, the profile, the manifest, the
events the CLI shows and the split text files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistil.build.cache import Events, run_stage
from edgedistil.build.request import Request, Resolved
from edgedistil.manifest import Manifest
from edgedistil.profiles import Profile


@dataclass
class Context:
    resolved: Resolved
    manifest: Manifest
    events: Events
    texts: Any  # heldout.Texts: the train, eval and calibration files the stages read

    @property
    def request(self) -> Request:
        return self.resolved.request

    @property
    def profile(self) -> Profile:
        return self.resolved.profile

    @property
    def root(self) -> Path:
        return self.resolved.root

    def stage(self, name: str, key: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return run_stage(self.manifest, self.events, name, key, work)

    def unk_fields(self) -> dict[str, Any]:
        """The [UNK] share of the eval text under the tokenizer a release ships with."""
        from edgedistil.heldout import unk_fields

        return unk_fields(self.resolved.student_dir, self.texts.eval)
