"""Every error edgedistil raises on purpose, under one root.

    EdgedistilError            an input or artifact that edgedistil refuses; one line for the user
     ├── ProfileError          a target profile that is unknown or does not validate
     ├── TeacherError          a teacher that is missing, tampered with, or unsafe to load
     └── PlanError             a student the teacher cannot give (layers, vocabulary, length)

The message of each is complete on its own: what failed, where, the value received and
what is allowed. Only ``edgedistil.cli`` turns them into ``Error: ...`` and an exit code.
"""

from __future__ import annotations


class EdgedistilError(Exception):
    """Root of every error edgedistil raises on purpose."""


class ProfileError(EdgedistilError):
    """A target profile is unknown, unreadable, or fails validation."""


class TeacherError(EdgedistilError):
    """A teacher model directory is missing, incomplete, tampered with, or unsafe."""


class PlanError(EdgedistilError):
    """A student cannot be planned from this teacher for this target."""
