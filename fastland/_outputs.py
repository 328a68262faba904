"""Output files other than HDF5 (JSON, Markdown, PNG): written only where nothing is lost.

The rule is the one :mod:`fastland._h5` applies to HDF5 files: an existing
file is replaced only when the caller passed ``overwrite=True`` (the CLI's
``--overwrite``). Writers that produce several files claim them all first
(:func:`claim`), so a refusal happens before the first byte of a long
computation's results is written, not halfway through.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ._h5 import OutputExistsError, as_path, check_new_path

__all__: list[str] = []  # private module


def claim(paths: Iterable, *, overwrite: bool = False, argname: str = "out_dir") -> list[str]:
    """Check that every path in ``paths`` may be written; return them as str.

    Raises
    ------
    FileExistsError
        Naming every file that exists already, unless ``overwrite`` is True.
    """
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite: expected True or False, got {overwrite!r}")
    paths = [as_path(p, argname) for p in paths]
    existing = [p for p in paths if os.path.lexists(p)]
    if existing and not overwrite:
        shown = ", ".join(repr(p) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise OutputExistsError(
            f"{argname}: {len(existing)} result file(s) exist already ({shown}); fastland never replaces "
            f"results unless asked: pass overwrite=True (--overwrite), or choose a new folder"
        )
    for p in paths:
        check_new_path(p, overwrite=True, argname=argname)
    return paths


def write_text(path, text: str, *, overwrite: bool = False, argname: str = "path") -> str:
    """Write ``text`` to a new file (or replace one when ``overwrite``), atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(text)

    return _write_via_temp(path, write, overwrite, argname)


def save_figure(fig, path, *, overwrite: bool = False, argname: str = "path", **savefig_kw) -> str:
    """``fig.savefig(path)`` that never replaces an existing file unless ``overwrite``."""
    return _write_via_temp(path, lambda tmp: fig.savefig(tmp, **savefig_kw), overwrite, argname)


def _write_via_temp(path, write, overwrite: bool, argname: str) -> str:
    """Claim ``path``, let ``write`` fill a fresh temporary file beside it, then publish it."""
    (path,) = claim([path], overwrite=overwrite, argname=argname)
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp-{os.getpid()}{ext}"  # same extension: savefig picks the format from it
    if os.path.lexists(tmp):
        raise OutputExistsError(f"{argname}: a temporary file {tmp!r} is in the way; remove it")
    try:
        write(tmp)
        _publish(tmp, path, overwrite)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def _publish(tmp: str, path: str, overwrite: bool) -> None:
    """Move a finished temporary file to ``path``; without ``overwrite`` never replace a file."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and fails if someone created ``path`` meanwhile
    except FileExistsError:
        raise OutputExistsError(f"{path!r} was created by someone else meanwhile; nothing was replaced") from None
    except OSError:  # no hard links on this file system
        if os.path.lexists(path):
            raise OutputExistsError(f"{path!r} was created by someone else meanwhile; nothing was replaced") from None
        os.rename(tmp, path)
