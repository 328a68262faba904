"""The result folder of an experiment: claimed before the computation, filled without replacing.

Every experiment that writes to ``out_dir`` follows the same two steps:

1. :func:`claim_outputs` before the long computation: the folder is made and
   every file the call will write is checked, so an existing result refuses
   the call at once (``OutputExistsError``, naming the files) unless
   ``overwrite=True`` was passed, and nothing is lost.
2. The files are written by :mod:`fastland._outputs` (JSON, Markdown, PNG) and
   :func:`result_file` (HDF5), which again never replace a file unless
   ``overwrite`` (someone may have created one meanwhile).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .._h5 import create_file
from .._outputs import claim

__all__: list[str] = []  # private module


def claim_outputs(out_dir, names: Iterable[str], overwrite: bool) -> Path:
    """Make ``out_dir`` and check that the files ``names`` in it may be written; return it as a Path.

    Raises
    ------
    FileExistsError
        (an ``OutputExistsError``, also a ValueError) naming the files that
        exist already, unless ``overwrite`` is True.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"out_dir: {str(out)!r} exists and is not a folder") from None
    except OSError as exc:
        raise ValueError(f"out_dir: cannot create the folder {str(out)!r}: {exc.strerror}") from None
    claim([out / n for n in names], overwrite=overwrite, argname="out_dir")
    return out


@contextmanager
def result_file(path, kind: str, format_version: int, overwrite: bool) -> Iterator:
    """Create the HDF5 result file ``path`` (stamped ``kind``/``format_version``) and yield its h5py.File.

    The file is closed at the end; if filling it fails, the incomplete file is removed.
    """
    handle = create_file(path, kind=kind, format_version=format_version, overwrite=overwrite, argname="out_dir")
    try:
        yield handle.file
    except BaseException:
        handle.close()
        os.unlink(handle.path)
        raise
    handle.close()


def save_series(out: Path, name: str, overwrite: bool, *args, **kwargs) -> str:
    """:func:`fastland.plot.series` saved as ``out / name`` (never replacing unless ``overwrite``); its path."""
    from .. import plot

    path = Path(out) / name
    plot.series(*args, path=path, overwrite=overwrite, **kwargs)
    return str(path)
