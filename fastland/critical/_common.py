"""Shared helpers of :mod:`fastland.critical`: argument checks, batching, Jacobi scaling.

Checks of the arguments every public function takes (``land``, ``points``,
``safety``), the batch-axis helpers (:func:`_as_points`, :func:`_squeeze`), and
the linear algebra behind the Jacobi-scaled Hessian ``S = D H D`` of the error
model (:func:`_jacobi`, :func:`_scaled`, :func:`_eigh`).
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from .._validate import check_params, check_positive
from ..landscape import Landscape

#: the labels :func:`classify` assigns
LABELS = ("not_critical", "strict_saddle", "global_min", "degenerate", "local_min")
_MINIMA = ("local_min", "global_min")
SAFETY = 10.0


def _check_land(land) -> Landscape:
    if not isinstance(land, Landscape):
        raise ValueError(f"land: expected a fastland.Landscape, got {type(land).__name__}")
    return land


def _as_points(land: Landscape, points, name: str = "points") -> tuple[np.ndarray, bool]:
    if hasattr(points, "points") and not isinstance(points, np.ndarray):
        points = points.points  # a RefineResult, Classification, ...
    P = check_params(name, points, land.n_params)
    return np.atleast_2d(P).copy(), P.ndim == 1


def _eps(land: Landscape) -> float:
    return float(np.finfo(land.dtype).eps)


def _ratio(num, den) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.inf)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _squeeze(res, single: bool):
    """Drop the batch axis of every per-point field when one point (p,) was given."""
    if not single:
        return res
    kw = {}
    for f in fields(res):
        v = getattr(res, f.name)
        if isinstance(v, np.ndarray) and v.ndim >= 1:
            v = v[0]
            if isinstance(v, np.ndarray) and v.ndim == 0 or not isinstance(v, np.ndarray):
                v = v.item() if hasattr(v, "item") else v
        kw[f.name] = v
    return replace(res, **kw)


def _check_safety(safety) -> float:
    safety = check_positive("safety", safety)
    if safety < 1:
        raise ValueError(f"safety: expected a factor >= 1, got {safety}")
    return safety


def _eigh(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.linalg.eigh(H)  # LAPACK syevd, batched over the leading axis


def _jacobi(H: np.ndarray, zero: np.ndarray | None = None) -> np.ndarray:
    """Scaling d (B, p) that gives d_i H_ij d_j a unit diagonal.

    A diagonal entry at or below ``zero`` (default sqrt(eps) times the largest
    entry of its row) counts as zero; that row is scaled by its largest entry
    instead (by 1 if it is all zero), so that noise in it is not amplified.
    """
    diag = np.abs(np.einsum("bii->bi", H))
    row = np.abs(H).max(axis=2)
    if zero is None:
        zero = np.sqrt(np.finfo(float).eps) * row
    ref = np.where(row > 0, row, 1.0)
    return 1.0 / np.sqrt(np.where(diag > zero, diag, ref))


def _scaled(H: np.ndarray, d: np.ndarray) -> np.ndarray:
    return d[:, :, None] * H * d[:, None, :]
