"""The base every record model shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """A file edgedistil writes itself: strict types (``"64"`` is not an integer), no unknown
    keys (a file from another edgedistil, or edited by hand, is refused rather than half-read),
    frozen once read."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Foreign(BaseModel):
    """A file another tool wrote (a Hugging Face ``config.json``, sentence-transformers' module
    configs): strict types for the keys edgedistil uses, every other key kept and ignored."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)
