"""Datasets: user arrays, seed 001's random labels, seed 004's teacher-student grid."""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from ._validate import check_finite_array, check_int, check_positive

__all__ = ["Dataset", "TeacherStudent", "random_labels", "teacher_student"]


class Dataset:
    """Inputs ``X`` (N, d) and labels or targets ``y``.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Finite inputs, N >= 1.
    y : array_like, shape (N,) or (N, k)
        Class labels (integers 0..C-1) for classification losses, or real
        targets for the squared error. Which values are allowed is checked
        against the model's loss when a :class:`~fastland.Landscape` is built.

    Examples
    --------
    >>> import fastland as fl
    >>> d = fl.datasets.random_labels(n=10, seed=0).rotate(120)
    >>> d.X.shape
    (10, 2)
    """

    def __init__(self, X, y) -> None:
        X = check_finite_array("X", X, 2)
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X: expected at least one point and one feature, got shape {X.shape}")
        y = check_finite_array("y", y, (1, 2))
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y: expected {X.shape[0]} rows to match X, got shape {y.shape}")
        # own copies: freezing the caller's arrays (or sharing them) would be a side effect
        self.X = X.copy()
        self.y = y.copy()
        self.X.setflags(write=False)
        self.y.setflags(write=False)

    @property
    def n(self) -> int:
        """Number of data points."""
        return self.X.shape[0]

    @property
    def dim(self) -> int:
        """Number of input features."""
        return self.X.shape[1]

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"Dataset(n={self.n}, dim={self.dim}, y shape={self.y.shape})"

    # ------------------------------------------------------------------ transforms
    def transform(self, A, b=None) -> Dataset:
        """Apply the affine map x -> A x + b to every input.

        Parameters
        ----------
        A : array_like, shape (d_out, d)
        b : array_like, shape (d_out,), optional
        """
        A = check_finite_array("A", A, 2)
        if A.shape[1] != self.dim:
            raise ValueError(f"A: expected {self.dim} columns to match the inputs, got shape {A.shape}")
        X = self.X @ A.T
        if b is not None:
            b = check_finite_array("b", b, 1)
            if b.shape != (A.shape[0],):
                raise ValueError(f"b: expected shape ({A.shape[0]},), got {b.shape}")
            X = X + b
        return Dataset(X, self.y)

    def rotate(self, degrees: float) -> Dataset:
        """Rotate 2-D inputs counter-clockwise about the origin by ``degrees``."""
        if self.dim != 2:
            raise ValueError(f"rotate: expected 2-D inputs, got {self.dim} features")
        t = np.deg2rad(check_finite_array("degrees", degrees, 0).item())
        c, s = np.cos(t), np.sin(t)
        return self.transform([[c, -s], [s, c]])

    def shift(self, b) -> Dataset:
        """Translate every input by the vector ``b`` (d,)."""
        return self.transform(np.eye(self.dim), b)

    def flip_labels(self, fraction: float, seed: int = 0, n_classes: int | None = None) -> Dataset:
        """Replace the labels of a random ``fraction`` of points by another class.

        Each chosen point gets a label drawn uniformly from the other classes.
        Labels must be integers 0..C-1 (C from ``n_classes`` or the data).
        """
        fraction = check_positive("fraction", fraction, allow_zero=True)
        if fraction > 1:
            raise ValueError(f"fraction: expected a number in [0, 1], got {fraction}")
        labels = self.class_labels()
        C = int(labels.max()) + 1 if n_classes is None else check_int("n_classes", n_classes, 2)
        if labels.max() >= C:
            raise ValueError(f"n_classes: expected more than the largest label {labels.max()}, got {C}")
        C = max(C, 2)
        rng = np.random.default_rng(seed)
        k = int(round(fraction * self.n))
        idx = rng.choice(self.n, size=k, replace=False)
        new = labels.copy()
        new[idx] = (labels[idx] + rng.integers(1, C, size=k)) % C
        return Dataset(self.X, new.astype(float))

    def add_noise(self, std: float, seed: int = 0) -> Dataset:
        """Add Gaussian noise of standard deviation ``std`` to real-valued targets."""
        std = check_positive("std", std, allow_zero=True)
        rng = np.random.default_rng(seed)
        return Dataset(self.X, self.y + rng.normal(0.0, std, size=self.y.shape))

    def split(self, fraction: float = 0.5, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Random train / held-out split; ``fraction`` of the points go to the first part."""
        fraction = check_positive("fraction", fraction)
        if not 0 < fraction < 1:
            raise ValueError(f"fraction: expected a number strictly between 0 and 1, got {fraction}")
        k = int(round(fraction * self.n))
        if not 0 < k < self.n:
            raise ValueError(f"fraction: {fraction} of {self.n} points leaves one part empty")
        perm = np.random.default_rng(seed).permutation(self.n)
        a, b = np.sort(perm[:k]), np.sort(perm[k:])
        return Dataset(self.X[a], self.y[a]), Dataset(self.X[b], self.y[b])

    def class_labels(self) -> np.ndarray:
        """Labels as a 1-D int64 array; ValueError if they are not integers >= 0."""
        y = self.y.ravel() if self.y.ndim == 2 and self.y.shape[1] == 1 else self.y
        if y.ndim != 1 or np.any(y < 0) or np.any(y != np.round(y)):
            raise ValueError("y: expected integer class labels 0..C-1 in a 1-D array")
        return y.astype(np.int64)

    # ----------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        """``{"X": ..., "y": ...}`` as arrays (for run files)."""
        return {"X": np.asarray(self.X), "y": np.asarray(self.y)}


# ------------------------------------------------------------------- generators
def random_labels(
    n: int = 10, seed: int = 0, low: float = -1.0, high: float = 1.0, dim: int = 2, n_classes: int = 2
) -> Dataset:
    """Seed 001's data: ``n`` points uniform in ``[low, high]^dim`` with random labels.

    Parameters
    ----------
    n : int, default 10
    seed : int, default 0
        Seed of a NumPy ``default_rng``: first the points, then the labels.
    low, high : float
        The box the points are drawn from.
    dim : int, default 2
    n_classes : int, default 2
        Labels are drawn uniformly from 0..n_classes-1.
    """
    n = check_int("n", n, 1)
    dim = check_int("dim", dim, 1)
    n_classes = check_int("n_classes", n_classes, 2)
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name}: expected a finite real number, got {value!r}")
    if not high > low:
        raise ValueError(f"high: expected a number > low={low}, got {high}")
    rng = np.random.default_rng(seed)
    X = rng.uniform(low, high, size=(n, dim))
    y = rng.integers(0, n_classes, size=n).astype(float)
    return Dataset(X, y)


def _data_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "data", here.parent / "data"):
        if (candidate / "teacher_4.json").exists():
            return candidate
    raise FileNotFoundError("fastland's data folder (teacher_4.json) is missing from the install")


class TeacherStudent(NamedTuple):
    """Seed 004's teacher-student problem: data, teacher network and its parameters."""

    data: Dataset
    teacher: object  # fastland.MLP; typed loosely to avoid an import cycle
    teacher_params: np.ndarray

    def student(self, width: int):
        """The student network of the given hidden width (sigmoid, mse, no biases)."""
        from .model import MLP

        return MLP(2, [check_int("width", width, 1)], 1, activation="sigmoid", loss="mse", bias=False)


def teacher_student(spacing: float | None = None, extent: float | None = None) -> TeacherStudent:
    """Seed 004's grid and teacher.

    Inputs are the grid ``{-5, -4.75, ..., 5}^2`` (1681 points); labels are
    ``y = sum_i a_i sigmoid(w_i . x)`` with the teacher of ``data/teacher_4.json``
    (four neurons, outgoing weights 1, -1, 1, -1, no biases).

    Parameters
    ----------
    spacing : float, optional
        Grid spacing (default 0.25, the seed's).
    extent : float, optional
        Half-width of the square grid (default 5, the seed's).

    Returns
    -------
    TeacherStudent
        ``(data, teacher, teacher_params)``; the teacher is
        ``MLP(2, [4], 1, activation="sigmoid", loss="mse", bias=False)`` and its
        parameters are W (4 x 2, row-major) then a (4).
    """
    from .model import MLP

    spec = json.loads((_data_dir() / "teacher_4.json").read_text())
    spacing = spec["grid"]["step"] if spacing is None else check_positive("spacing", spacing)
    extent = spec["grid"]["high"] if extent is None else check_positive("extent", extent)
    n_side = int(round(2 * extent / spacing)) + 1
    axis = np.linspace(-extent, extent, n_side)
    x1, x2 = np.meshgrid(axis, axis, indexing="ij")
    X = np.column_stack([x1.ravel(), x2.ravel()])
    W = np.asarray(spec["incoming"], dtype=float)
    a = np.asarray(spec["outgoing"], dtype=float)
    teacher = MLP(2, [len(a)], 1, activation=spec["activation"], loss="mse", bias=False)
    params = teacher.flatten([(W, None), (a[None, :], None)])
    y = expit(X @ W.T) @ a  # computed with SciPy, independently of the kernels
    return TeacherStudent(Dataset(X, y), teacher, params)
