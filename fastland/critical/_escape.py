"""Leaving saddles: :func:`escape` (seed 004's perturb-and-refine loop) and :func:`eps_sweep`.

Both perturb a point along unit Gaussian directions, :func:`~fastland.critical.refine`
the perturbed points and :func:`~fastland.critical.classify` the results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import check_finite_array, check_int, check_params, check_positive
from ..landscape import Landscape
from ._classify import Classification, classify
from ._common import _MINIMA, SAFETY, _check_land
from ._refine import refine


@dataclass
class EscapeResult:
    """Every try of the seed's perturb-and-refine loop (:func:`escape`).

    Attributes
    ----------
    start : Classification
        The starting point's classification.
    success : bool
        Whether a try (or the start itself) reached a minimum ("local_min" or
        "global_min").
    index : int
        The first successful try, -1 if the start was already a minimum, None if
        no try succeeded.
    point : ndarray, shape (p,)
        The minimum reached (the start when it was one; the last try otherwise).
    eps : float
    perturbations : ndarray, shape (T, p)
        ``eps`` times a unit-norm Gaussian direction, one row per try.
    points, loss, grad_norm, lambda_min, margin : ndarray, leading axis T
        Each try's refined point and its classification.
    label : ndarray of str, shape (T,)
    tries : Classification
        Full classification of the tries (batched), or None without tries.
    """

    start: Classification
    success: bool
    index: int | None
    point: np.ndarray
    eps: float
    perturbations: np.ndarray
    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    lambda_min: np.ndarray
    label: np.ndarray
    margin: np.ndarray
    tries: Classification | None = None


def _directions(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    z = rng.standard_normal((n, p))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def escape(
    land: Landscape,
    point,
    *,
    eps: float = 0.1,
    max_tries: int = 20,
    seed: int = 0,
    method: str = "trust-exact",
    polish: bool = True,
    global_loss: float | None = None,
    expected_null="auto",
    options: dict | None = None,
    safety: float = SAFETY,
) -> EscapeResult:
    """Seed 004's loop: perturb, re-refine, repeat until a minimum is reached.

    Each try adds ``eps * d`` to the *starting* point, with ``d`` a standard
    Gaussian vector normalised to length 1, refines with ``method`` (a
    minimiser, so that it leaves saddles; polished with Newton by default) and
    classifies the result. The loop stops at the first try labelled
    "local_min" or "global_min" (smallest eigenvalue positive apart from
    symmetry-explained zeros) or after ``max_tries``.

    Parameters
    ----------
    land : Landscape
    point : array_like, shape (p,)
    eps : float, default 0.1
        Perturbation length (> 0).
    max_tries : int, default 20
    seed : int, default 0
        Seed of the NumPy ``default_rng`` drawing the directions; try ``t``
        uses the ``t``-th draw, whatever happened before.
    method : str, default "trust-exact"
        Passed to :func:`refine` ("slsqp" is the seed's; "newton" converges
        to the nearest critical point and so tends to return to the saddle).
    polish : bool, default True
        Newton-polish each try after the minimiser.
    global_loss, expected_null, safety
        Passed to :func:`classify`.
    options : dict, optional
        Passed to :func:`refine`.

    Returns
    -------
    EscapeResult

    Notes
    -----
    The tries run one after another, because the loop stops at the first
    success; :func:`eps_sweep` runs a fixed set of tries as one batch. If the
    start is already a minimum no try is made.
    """
    land = _check_land(land)
    w0 = check_params("point", getattr(point, "points", point), land.n_params)
    if w0.ndim != 1:
        raise ValueError(f"point: expected one parameter vector ({land.n_params},), got shape {w0.shape}")
    eps = check_positive("eps", eps)
    max_tries = check_int("max_tries", max_tries, 1)
    ckw = {"global_loss": global_loss, "expected_null": expected_null, "safety": safety}
    start = classify(land, w0, **ckw)
    p = land.n_params
    if start.label in _MINIMA:
        empty = np.zeros((0, p))
        return EscapeResult(
            start,
            True,
            -1,
            w0.copy(),
            eps,
            empty,
            empty,
            np.zeros(0),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0, dtype=str),
            np.zeros(0),
        )
    dirs = _directions(np.random.default_rng(seed), max_tries, p)
    pts, index = [], None
    for t in range(max_tries):
        r = refine(land, w0 + eps * dirs[t], method=method, polish=polish, options=options, safety=safety)
        c = classify(land, r.points, **ckw)
        pts.append(r.points)
        if c.label in _MINIMA:
            index = t
            break
    T = len(pts)
    tries = classify(land, np.array(pts), **ckw)
    point_out = tries.points[index if index is not None else T - 1].copy()
    return EscapeResult(
        start,
        index is not None,
        index,
        point_out,
        eps,
        eps * dirs[:T],
        tries.points,
        tries.loss,
        tries.grad_norm,
        tries.eigenvalues[:, 0],
        tries.label,
        tries.margin,
        tries,
    )


@dataclass
class EpsSweep:
    """Loss and curvature after perturb-and-refine, per perturbation size (:func:`eps_sweep`).

    Attributes
    ----------
    eps : ndarray, shape (E,)
    start_loss : float
    directions : ndarray, shape (T, p)
        Unit directions, shared by every ``eps`` (common random numbers).
    points : ndarray, shape (E, T, p)
    loss, grad_norm, lambda_min, margin : ndarray, shape (E, T)
    label : ndarray of str, shape (E, T)
    """

    eps: np.ndarray
    start_loss: float
    directions: np.ndarray
    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    lambda_min: np.ndarray
    label: np.ndarray
    margin: np.ndarray

    def escaped(self) -> np.ndarray:
        """Fraction of tries per ``eps`` that reached a minimum, shape (E,)."""
        return np.isin(self.label, _MINIMA).mean(axis=1)


def eps_sweep(
    land: Landscape,
    point,
    *,
    eps,
    tries: int = 8,
    seed: int = 0,
    method: str = "trust-exact",
    polish: bool = True,
    global_loss: float | None = None,
    expected_null="auto",
    options: dict | None = None,
    safety: float = SAFETY,
) -> EpsSweep:
    """Perturb a point by ``eps * d`` for several ``eps``, refine, and record the outcome.

    A sharp change of the refined loss (or of the fraction of tries reaching a
    minimum) as ``eps`` grows is seed 004's sign of a saddle: small
    perturbations fall back, larger ones escape.

    Parameters
    ----------
    land : Landscape
    point : array_like, shape (p,)
    eps : array_like, shape (E,)
        Perturbation lengths (> 0).
    tries : int, default 8
        Directions per ``eps``; the same ``tries`` unit Gaussian directions
        (from ``seed``) are used for every ``eps``.
    seed : int, default 0
    method, polish, options
        Passed to :func:`refine`.
    global_loss, expected_null, safety
        Passed to :func:`classify`.

    Returns
    -------
    EpsSweep
    """
    land = _check_land(land)
    w0 = check_params("point", getattr(point, "points", point), land.n_params)
    if w0.ndim != 1:
        raise ValueError(f"point: expected one parameter vector ({land.n_params},), got shape {w0.shape}")
    e = check_finite_array("eps", eps, (0, 1)).ravel()
    if e.size == 0 or np.any(e <= 0):
        raise ValueError(f"eps: expected one or more numbers > 0, got {e.tolist()}")
    tries = check_int("tries", tries, 1)
    p = land.n_params
    dirs = _directions(np.random.default_rng(seed), tries, p)
    starts = (w0[None, None, :] + e[:, None, None] * dirs[None, :, :]).reshape(-1, p)
    r = refine(land, starts, method=method, polish=polish, options=options, safety=safety)
    c = classify(land, r.points, global_loss=global_loss, expected_null=expected_null, safety=safety)
    E = e.size
    return EpsSweep(
        e,
        float(land.loss(w0)),
        dirs,
        c.points.reshape(E, tries, p),
        c.loss.reshape(E, tries),
        c.grad_norm.reshape(E, tries),
        c.eigenvalues[:, 0].reshape(E, tries),
        c.label.reshape(E, tries),
        c.margin.reshape(E, tries),
    )
