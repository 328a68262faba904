"""A user's own data from a file: ``fl.datasets.load(path)``.

Formats, by the file's ending:

- ``.npz``: arrays named ``x`` and ``y`` (default ``"X"`` and ``"y"``), as ``np.savez``
  writes them;
- ``.csv``: one row per point, comma-separated; the last column is ``y`` (or the last
  ``y_columns`` columns), the others are ``X``; a first row that is not numeric is taken
  as a header and skipped;
- ``.h5``, ``.hdf5``, ``.nc``: datasets (HDF5) or variables (netCDF-4) named ``x`` and
  ``y``, paths such as ``"data/X"`` allowed.

``X`` must be 2-d (points x features) and ``y`` 1-d or 2-d with one row per point; all
values finite. Class labels for "softmax_xent" and "bce" are integers 0..C-1.
"""

from __future__ import annotations

import os

import numpy as np

from .data import Dataset

__all__ = ["load"]

_SUFFIXES = (".npz", ".csv", ".h5", ".hdf5", ".nc")


def load(path, *, x: str = "X", y: str = "y", y_columns: int = 1) -> Dataset:
    """Read a :class:`~fastland.Dataset` from a .npz, .csv, .h5/.hdf5 or .nc file.

    Parameters
    ----------
    path : str or os.PathLike
    x, y : str, default "X", "y"
        Names of the inputs and targets (.npz keys, HDF5 dataset paths).
    y_columns : int, default 1
        For .csv: how many trailing columns are targets.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file and what is missing or malformed.

    Examples
    --------
    >>> import numpy as np, fastland as fl
    >>> np.savez("my.npz", X=np.random.rand(20, 2), y=np.arange(20) % 2)   # doctest: +SKIP
    >>> fl.datasets.load("my.npz")                                         # doctest: +SKIP
    Dataset(n=20, dim=2, y shape=(20,))
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: {path!r} does not exist")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"path: {path!r}: expected a file ending in one of {_SUFFIXES}")
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in (x, y) if k not in f.files]
            if missing:
                raise ValueError(f"path: {path!r} has no array {missing[0]!r} (it has {sorted(f.files)}); pass x=, y=")
            X, Y = f[x], f[y]
    elif suffix == ".csv":
        X, Y = _read_csv(path, y_columns)
    else:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                missing = [k for k in (x, y) if k not in f]
                if missing:
                    raise ValueError(f"path: {path!r} has no dataset {missing[0]!r}; pass x=, y=")
                X, Y = f[x][()], f[y][()]
        except OSError as exc:
            raise ValueError(f"path: {path!r} is not an HDF5 / netCDF-4 file ({exc})") from None
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    try:
        return Dataset(X, Y)
    except ValueError as exc:
        raise ValueError(f"path: {path!r}: {exc}") from None


def _read_csv(path: str, y_columns: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(y_columns, bool) or not isinstance(y_columns, int) or y_columns < 1:
        raise ValueError(f"y_columns: expected an integer >= 1, got {y_columns!r}")
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        [float(v) for v in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1  # a header
    try:
        a = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"path: {path!r} is not a numeric CSV table ({exc})") from None
    if a.shape[1] <= y_columns:
        raise ValueError(f"path: {path!r} has {a.shape[1]} columns; expected inputs and {y_columns} target column(s)")
    Y = a[:, -y_columns:]
    return a[:, :-y_columns], Y[:, 0] if y_columns == 1 else Y
