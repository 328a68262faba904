"""The batched second-order solvers behind :func:`~fastland.critical.refine`.

- :func:`_newton`: damped Newton (Levenberg-Marquardt regularised by the
  squared gradient) on ``grad U = 0`` -- method "newton", which converges to
  the nearest critical point of any kind;
- :func:`_lm`: saddle-free Levenberg-Marquardt minimisation of ``U`` --
  method "descent", which leaves saddles.

Both work on a batch of points at once in the Jacobi-scaled eigenbasis (the
package notes) and return a :class:`_Solved`; :func:`~fastland.critical.refine`
documents the algorithms.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..landscape import Landscape
from ._common import _eigh, _eps, _jacobi, _scaled
from ._errors import _grad_ratio, _grad_tol


class _Solved(NamedTuple):
    """What :func:`_newton` and :func:`_lm` return for a batch of B points (fields as in ``RefineResult``)."""

    points: np.ndarray  # (B, p)
    loss: np.ndarray  # (B,)
    grad_norm: np.ndarray  # (B,) infinity norm of the gradient
    grad_tol: np.ndarray  # (B, p)
    grad_ratio: np.ndarray  # (B,)
    iterations: np.ndarray  # (B,) int
    converged: np.ndarray  # (B,) bool: grad_ratio <= 1
    status: np.ndarray  # (B,) object: "converged", "stalled", "max_iter" (or "non-finite" for _lm)


def _newton(land: Landscape, P: np.ndarray, tol_grad, max_iter: int, safety: float) -> _Solved:
    """Batched damped Newton on grad U = 0 with the exact Hessian (see :func:`refine`)."""
    P = P.copy()
    B, p = P.shape
    eps = _eps(land)
    L, G = land.loss_and_grad(P)
    lam = np.zeros((B, p))  # spectrum of the Jacobi-scaled Hessian D H D
    V = np.zeros((B, p, p))
    D = np.ones((B, p))
    hn = np.zeros(B)
    t = np.ones(B)  # step length
    need = np.ones(B, dtype=bool)
    active = np.ones(B, dtype=bool)
    iters = np.zeros(B, dtype=np.int64)
    status = np.full(B, "max_iter", dtype=object)
    tol = np.zeros((B, p))
    for it in range(max_iter + 1):
        idx = np.flatnonzero(active & need)
        if idx.size:
            H = land.hessian(P[idx])
            D[idx] = _jacobi(H)
            lam[idx], V[idx] = _eigh(_scaled(H, D[idx]))
            hn[idx] = np.abs(lam[idx]).max(axis=1)
            tol[idx] = _grad_tol(land, L[idx], H, P[idx], tol_grad, safety)
            need[idx] = False
        a = np.flatnonzero(active)
        # aim below the tolerance: one more Newton step is cheap and usually reaches the
        # rounding floor, so converged points do not sit at the threshold
        done = _grad_ratio(G[a], tol[a]) <= 0.1
        status[a[done]] = "converged"
        active[a[done]] = False
        a = a[~done]
        if a.size == 0 or it == max_iter:
            break
        la, Va, Da = lam[a], V[a], D[a]
        # Levenberg-Marquardt on grad U = 0 with mu = |D g|^2 (Yamashita & Fukushima 2001):
        # quadratic convergence where critical points are not isolated (split neurons, flat
        # valleys), landing near the start; a plain pseudo-inverse step divides by
        # eigenvalues that vanish only on the critical set and drifts far along it. Far from
        # a critical point mu is capped at (1e-2 |S|)^2, so the step stays Newton's
        cg = np.einsum("bij,bi->bj", Va, Da * G[a])
        mu = np.minimum(np.einsum("bj,bj->b", cg, cg), (1e-2 * hn[a]) ** 2)[:, None]
        pinv = np.zeros_like(la)
        np.divide(la, la * la + mu, out=pinv, where=np.abs(la) > (safety * p * eps * hn[a])[:, None])
        # correction -D (S^2 + mu)^-1 S D g, S = D H D, in the scaled eigenbasis
        corr = pinv * cg
        merit = np.abs(corr).max(axis=1)  # max-norms: 2-norms underflow near 0
        step = -t[a][:, None] * Da * np.einsum("bij,bj->bi", Va, corr)
        trial = P[a] + step
        finite = np.isfinite(trial).all(axis=1)
        ok = np.zeros(a.size, dtype=bool)
        if finite.any():
            f = np.flatnonzero(finite)
            Lt, Gt = land.loss_and_grad(trial[f])
            # accept when the simplified Newton correction H^+ g(trial), with the current H,
            # shrinks (Deuflhard's natural monotonicity test) or |g| shrinks
            new = np.abs(pinv[f] * np.einsum("bij,bi->bj", Va[f], Da[f] * Gt)).max(axis=1)
            better = (new < merit[f]) | (np.abs(Gt).max(axis=1) < np.abs(G[a[f]]).max(axis=1))
            better &= np.isfinite(Lt) & np.isfinite(Gt).all(axis=1)
            ok[f] = better
            acc = a[f][better]
            P[acc] = trial[f][better]
            L[acc] = Lt[better]
            G[acc] = Gt[better]
        iters[a] += 1
        acc, rej = a[ok], a[~ok]
        need[acc] = True
        t[acc] = np.minimum(1.0, 2.0 * t[acc])
        t[rej] /= 4.0
        small = np.abs(step[~ok]).max(axis=1) <= eps * np.abs(P[rej]).max(axis=1)
        small |= t[rej] < 1e-12
        status[rej[small]] = "stalled"
        active[rej[small]] = False
    ratio = _grad_ratio(G, tol)
    status[ratio <= 1.0] = "converged"
    return _Solved(P, L, np.abs(G).max(axis=1), tol, ratio, iters, ratio <= 1.0, status)


def _lm(land: Landscape, P: np.ndarray, tol_grad, max_iter: int, safety: float, mu0: float = 1e-3) -> _Solved:
    """Batched saddle-free Levenberg-Marquardt minimisation with the exact Hessian (see :func:`refine`)."""
    P = np.array(P, dtype=np.float64, copy=True)
    B, p = P.shape
    eps = _eps(land)
    L, G = land.loss_and_grad(P)
    mu = np.full(B, mu0)
    nu = np.full(B, 2.0)
    lam = np.zeros((B, p))
    V = np.zeros((B, p, p))
    D = np.ones((B, p))
    tol = np.zeros((B, p))
    need = np.ones(B, dtype=bool)
    active = np.isfinite(P).all(axis=1) & np.isfinite(L) & np.isfinite(G).all(axis=1)
    iters = np.zeros(B, dtype=np.int64)
    status = np.full(B, "max_iter", dtype=object)
    status[~active] = "non-finite"

    def curvature(idx):
        H = land.hessian(P[idx])
        D[idx] = _jacobi(H)
        lam[idx], V[idx] = _eigh(_scaled(H, D[idx]))
        tol[idx] = _grad_tol(land, L[idx], H, P[idx], tol_grad, safety)
        need[idx] = False

    for _ in range(max_iter + 1):
        idx = np.flatnonzero(active & need)
        if idx.size:
            curvature(idx)
        a = np.flatnonzero(active)
        done = _grad_ratio(G[a], tol[a]) <= 0.1
        status[a[done]] = "converged"
        active[a[done]] = False
        a = a[~done & (iters[a] < max_iter)]
        if a.size == 0:
            break
        c = np.einsum("bij,bi->bj", V[a], D[a] * G[a])
        al = np.abs(lam[a])
        sigma = -c / (al + mu[a][:, None])
        predicted = -(c * sigma).sum(axis=1) - 0.5 * (al * sigma * sigma).sum(axis=1)
        step = D[a] * np.einsum("bij,bj->bi", V[a], sigma)
        trial = P[a] + step
        ok = np.isfinite(trial).all(axis=1)
        Lt = np.full(a.size, np.inf)
        Gt = np.zeros((a.size, p))
        if ok.any():
            Lt[ok], Gt[ok] = land.loss_and_grad(trial[ok])
        ok &= np.isfinite(Lt) & np.isfinite(Gt).all(axis=1)
        gmax, gmax_t = np.abs(G[a]).max(axis=1), np.abs(Gt).max(axis=1)
        actual = L[a] - Lt
        flat = (Lt <= L[a] + 4.0 * eps * np.abs(L[a])) & (gmax_t < gmax)
        ok &= (actual > 0) | flat
        gain = np.zeros(a.size)
        np.divide(actual, predicted, out=gain, where=predicted > 0)
        acc, rej = a[ok], a[~ok]
        P[acc], L[acc], G[acc] = trial[ok], Lt[ok], Gt[ok]
        need[acc] = True
        rr = np.clip(gain[ok], 0.0, 1.0)
        mu[acc] = np.maximum(mu[acc] * np.maximum(1.0 / 3.0, 1.0 - (2.0 * rr - 1.0) ** 3), 1e-20)
        nu[acc] = 2.0
        mu[rej] *= nu[rej]
        nu[rej] *= 2.0
        iters[a] += 1
        tiny = np.abs(step[~ok]).max(axis=1) <= 4.0 * eps * np.abs(P[rej]).max(axis=1)
        tiny |= mu[rej] > 1e20
        status[rej[tiny]] = "stalled"
        active[rej[tiny]] = False
    idx = np.flatnonzero(need & np.isfinite(L))
    if idx.size:
        curvature(idx)
    ratio = _grad_ratio(G, tol)
    conv = ratio <= 1.0
    status[conv] = "converged"
    return _Solved(P, L, np.abs(G).max(axis=1), tol, ratio, iters, conv, status)
