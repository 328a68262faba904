"""The error model of :mod:`fastland.critical`: every tolerance a decision is made with.

The formulas and their reasons are in the package notes (``fastland.critical``,
"Error model"); here they are computed:

- :func:`_grad_tol`, :func:`_grad_ratio`: the per-component gradient
  tolerance and the ratio that makes a point critical (used by
  :func:`~fastland.critical.refine` and :func:`~fastland.critical.classify`);
- :func:`_hessian_noise`: the Hessian's rounding noise, measured by moving the
  point a few ulps;
- :func:`_estimate_errors`: the Jacobi-scaled spectrum, the Newton step to
  the nearby critical point and the curvature change along it, and from them
  ``eig_tol``, ``loss_tol`` and the relative symmetry tolerance ``sym_tol``
  that :func:`~fastland.critical.classify` decides its labels with.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..landscape import Landscape
from ._common import _eigh, _eps, _jacobi, _scaled


def _grad_tol(land: Landscape, loss, H: np.ndarray, P: np.ndarray, tol_grad, safety: float) -> np.ndarray:
    """Per-component gradient tolerance (B, p): ``tol_grad``, or the rounding floor times ``safety``."""
    if tol_grad is not None:
        return np.full(P.shape, float(tol_grad))
    hw = np.einsum("bij,bj->bi", np.abs(H), np.abs(P))  # |H| |w|: the effect of rounding w
    diag = np.abs(np.einsum("bii->bi", H))
    sums = np.sqrt(land.n_params * np.abs(loss)[:, None] * diag)  # rounding of the data sums
    return safety * _eps(land) * (hw + sums)


def _grad_ratio(G: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """max_k |g_k| / tol_k (0 / 0 counts as 0): the point is critical when <= 1."""
    g = np.abs(G)
    r = np.zeros_like(g)
    np.divide(g, tol, out=r, where=tol > 0)
    r[(tol <= 0) & (g > 0)] = np.inf
    return r.max(axis=1)


def _hessian_noise(land: Landscape, P: np.ndarray, H: np.ndarray) -> np.ndarray:
    """``abs(H(w') - H(w))``, ``w'`` = ``w`` moved by four ulps with alternating signs, (B, p, p)."""
    # rounding noise of the Hessian, measured: H at w moved by a few ulps (More & Wild 2011)
    signs = np.where(np.arange(P.shape[1]) % 2 == 0, 1.0, -1.0)
    return np.abs(land.hessian(P * (1.0 + 4.0 * _eps(land) * signs)) - H)


class _Errors(NamedTuple):
    """The error estimates at a batch of B points (:func:`_estimate_errors`)."""

    grad_tol: np.ndarray  # (B, p) per-component gradient tolerance
    grad_ratio: np.ndarray  # (B,) max_k |g_k| / grad_tol_k: critical when <= 1
    scaled_eigenvalues: np.ndarray  # (B, p) spectrum of S = D H D, ascending
    unresolved: np.ndarray  # (B, p) bool: eigenvalues too flat to decide (they count as zero)
    eig_tol: np.ndarray  # (B,) tolerance on the scaled eigenvalues
    loss_tol: np.ndarray  # (B,) tolerance on the loss
    sym_tol: np.ndarray  # (B,) relative tolerance for symmetry.reduce / flat_directions
    step_norm: np.ndarray  # (B,) length of the resolved Newton step to the nearby critical point


def _estimate_errors(
    land: Landscape, P: np.ndarray, L: np.ndarray, G: np.ndarray, H: np.ndarray, tol_grad, safety: float
):
    """The :class:`_Errors` at points ``P`` with loss ``L``, gradient ``G`` and Hessian ``H`` (package notes)."""
    B, p = P.shape
    eps = _eps(land)
    grad_tol = _grad_tol(land, L, H, P, tol_grad, safety)
    gratio = _grad_ratio(G, grad_tol)
    noise = _hessian_noise(land, P, H)
    # decisions use the Jacobi-scaled Hessian S = D H D (same inertia, by Sylvester's law);
    # a diagonal entry within the noise of its row counts as zero (scaling the row by it
    # would amplify that noise)
    d = _jacobi(H, np.maximum(safety * noise.max(axis=2), eps * np.abs(H).max(axis=2)))
    lamS, VS = _eigh(_scaled(H, d))
    eig_round = p * eps * np.abs(lamS).max(axis=1) + np.linalg.norm(_scaled(noise, d), axis=(1, 2))
    crit = gratio <= 1.0
    # Newton step to the nearby critical point in scaled coordinates, sigma_k = -c_k / lam_k,
    # with eigenvalues at the rounding level dropped
    c = np.einsum("bij,bi->bj", VS, d * G)
    keep = np.abs(lamS) > (safety * eig_round)[:, None]
    sigma = np.zeros_like(lamS)
    np.divide(-c, lamS, out=sigma, where=keep)
    resolved = keep.copy()
    rho = np.zeros(B)  # change of S per unit of scaled distance, measured along the step
    for _ in range(2):  # probe the full step, then the step restricted to resolved directions
        sig = np.where(resolved, sigma, 0.0)
        length = np.linalg.norm(sig, axis=1)
        target = P + d * np.einsum("bij,bj->bi", VS, sig)
        ok = crit & (length > 0) & np.isfinite(target).all(axis=1)
        if ok.any():
            dS = np.linalg.norm(_scaled(land.hessian(target[ok]) - H[ok], d[ok]), axis=(1, 2))
            rho[ok] = np.maximum(rho[ok], dS / length[ok])
        # a direction is resolved when its eigenvalue outweighs the curvature change that
        # the step along it alone causes
        resolved = keep & (np.abs(lamS) > safety * rho[:, None] * np.abs(sigma))
    sig = np.where(resolved, sigma, 0.0)
    s = d * np.einsum("bij,bj->bi", VS, sig)
    step_norm = np.linalg.norm(s, axis=1)
    eig_tol = safety * (eig_round + rho * np.linalg.norm(sig, axis=1))
    unresolved = keep & ~resolved
    wHw = np.einsum("bi,bij,bj->b", np.abs(P), np.abs(H), np.abs(P))
    # first-order loss change to the nearby critical point, g . s = sum_k c_k sigma_k, counting
    # unresolved directions too (for a quartic valley c^2 / lam is 4/3 of the excess loss)
    loss_tol = safety * (eps * np.abs(L) + 0.5 * eps**2 * wHw + np.abs(c * sigma).sum(axis=1))
    # reduce / flat_directions compare vectors relative to their norms: the rounding term is eps
    sym_tol = safety * (step_norm + eps)
    return _Errors(grad_tol, gratio, lamS, unresolved, eig_tol, loss_tol, sym_tol, step_norm)
