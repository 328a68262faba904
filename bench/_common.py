"""Helpers shared by the comparison scripts in bench/ (imported from the same folder)."""

from __future__ import annotations

import os
import subprocess


def source_version() -> str:
    """``git describe --dirty`` of the fastland checkout being benchmarked, if any."""
    import fastland as fl

    root = os.path.dirname(os.path.dirname(os.path.abspath(fl.__file__)))
    try:
        out = subprocess.run(
            ["git", "--no-optional-locks", "-C", root, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"
