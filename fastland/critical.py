"""Critical points: refine, classify, escape saddles, certify local minima.

Seed 004 trains many students with Adam and asks which end points are saddles,
local minima or global minima. That needs three things this module provides:

- :func:`refine` polishes points to critical points (batched damped Newton with
  the exact Hessian, or SciPy's trust-exact / SLSQP / BFGS);
- :func:`classify` labels each point from its gradient and full Hessian
  spectrum, with tolerances derived from an error estimate at that point, and
  reports the margin each label was decided with;
- :func:`escape` / :func:`eps_sweep` run the seed's perturb-and-refine loop;
  :func:`certify` proves, Safran-Shamir style, that a true local minimum lies
  within a computed radius and bounds its loss from below.

Error model (used by :func:`refine` and :func:`classify`)
---------------------------------------------------------
Labels depend on the Hessian's inertia (how many eigenvalues are negative,
zero, positive), which a congruence does not change (Sylvester). Decisions are
therefore made on the Jacobi-scaled Hessian ``S = D H D``, ``D = diag(|H_kk|^-1/2)``,
whose small eigenvalues float64 resolves even when parameters live on very
different scales (Demmel & Veselic 1992), and which does not change when a
parameter is rescaled. A row whose diagonal is within the row's rounding noise
(measured as below) is scaled by its largest entry instead, so that the noise
is not amplified. With ``eps`` the machine epsilon of the landscape's dtype,
``p`` the number of parameters, ``L`` the loss and ``w`` the point:

- gradient, per component: ``grad_tol_k = safety * eps * ((abs(H) abs(w))_k +
  sqrt(p L |H_kk|))`` -- the change of gradient that rounding each coordinate of
  ``w`` causes, plus the rounding of the sums over data -- and a point is
  critical when ``grad_ratio = max_k |g_k| / grad_tol_k <= 1``;
- Hessian noise: ``N = abs(H(w') - H(w))`` with ``w'`` equal to ``w`` moved by
  four ulps (alternating signs): the rounding noise of the computed Hessian,
  measured rather than bounded (More & Wild 2011);
- eigenvalues of ``S = V diag(lam) V^T``: the rounding level is ``r = p * eps *
  |S| + |D N D|_F`` (LAPACK's backward error plus the Hessian's noise). The
  Newton step to the nearby critical point is ``sigma_k = -(V^T D g)_k / lam_k``
  in scaled coordinates (dropping ``|lam_k| <= safety * r``), and ``rho = |D (H(w
  + s) - H(w)) D|_F / |sigma|`` is the change of ``S`` per unit of scaled distance,
  measured along the step (first the whole step, then its resolved part; the
  larger is kept). A direction is *resolved* when ``|lam_k| > safety * rho *
  |sigma_k|``: moving along it to the critical point cannot change the
  eigenvalue's sign. ``eig_tol = safety * (r + rho * |sigma_R|)``, ``sigma_R``
  the resolved part of the step -- the rounding level plus Weyl's bound on how
  far the scaled spectrum at the nearby critical point is from the computed
  one. Unresolved eigenvalues count as zero: such a point is too far from its
  critical point along a very flat direction for second order to decide;
- loss: ``loss_tol = safety * (eps |L| + eps^2 abs(w) . abs(H) abs(w) / 2 +
  sum_k |c_k sigma_k|)``, ``c = V^T D g`` -- the loss's rounding, the rounding of
  ``w``, and the first-order change of loss on the way to the nearby critical
  point (``g . s``, termwise), unresolved directions included: along a quartic
  valley ``c_k^2 / lam_k`` is 4/3 of the loss still to lose.

Multiplying the loss by ``c`` multiplies the gradient and loss tolerances by
``c`` and leaves ``S`` and ``eig_tol`` unchanged, so labels do not depend on the
loss's units; rescaling single parameters leaves them unchanged too. No
tolerance is a fixed constant; ``safety`` (default 10) is the one factor by
which the estimates are inflated.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from . import _activations as _act
from . import symmetry
from ._validate import check_choice, check_finite_array, check_int, check_params, check_positive
from .landscape import Landscape
from .sharpness import Sharpness, sharpness  # re-exported as fl.critical.sharpness

__all__ = [
    "LABELS",
    "Certificate",
    "Classification",
    "EpsSweep",
    "EscapeResult",
    "RefineResult",
    "Sharpness",
    "certify",
    "classify",
    "eps_sweep",
    "escape",
    "hessian_lipschitz",
    "refine",
    "sharpness",
]

#: the labels :func:`classify` assigns
LABELS = ("not_critical", "strict_saddle", "global_min", "degenerate", "local_min")
_MINIMA = ("local_min", "global_min")
_METHODS = ("newton", "descent", "trust-exact", "slsqp", "bfgs")
_SCIPY = {"trust-exact": "trust-exact", "slsqp": "SLSQP", "bfgs": "BFGS"}
SAFETY = 10.0


# ------------------------------------------------------------------------- helpers
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


def _grad_tol(land: Landscape, loss, H: np.ndarray, P: np.ndarray, gtol, safety: float) -> np.ndarray:
    """Per-component gradient tolerance (B, p): ``gtol``, or the rounding floor times ``safety``."""
    if gtol is not None:
        return np.full(P.shape, float(gtol))
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


# --------------------------------------------------------------------------- refine
@dataclass
class RefineResult:
    """Points polished by :func:`refine`.

    Per-point arrays have a leading batch axis of length B, dropped when a
    single point (p,) was refined.

    Attributes
    ----------
    points : ndarray, shape (B, p)
    loss : ndarray, shape (B,)
    grad_norm : ndarray, shape (B,)
        Infinity norm of the gradient at ``points``.
    grad_tol : ndarray, shape (B, p)
        Per-component gradient tolerance (see the module notes, or ``gtol``).
    grad_ratio : ndarray, shape (B,)
        ``max_k |g_k| / grad_tol_k``.
    iterations : ndarray of int, shape (B,)
        Newton steps tried (accepted or not), or SciPy's iteration count (plus
        Newton steps when polished).
    converged : ndarray of bool, shape (B,)
        ``grad_ratio <= 1``.
    status : ndarray of str, shape (B,)
        "converged", "stalled" (no step reduces the gradient any more: the
        rounding floor, or a minimum of ``|grad|`` that is not a critical
        point) or "max_iter"; for SciPy methods, SciPy's message.
    method : str
    """

    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    grad_tol: np.ndarray
    grad_ratio: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    method: str


def _newton(land: Landscape, P: np.ndarray, gtol, max_iter: int, safety: float):
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
            tol[idx] = _grad_tol(land, L[idx], H, P[idx], gtol, safety)
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
    return P, L, np.abs(G).max(axis=1), tol, ratio, iters, ratio <= 1.0, status


def _lm(land: Landscape, P: np.ndarray, gtol, max_iter: int, safety: float, mu0: float = 1e-3):
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
        tol[idx] = _grad_tol(land, L[idx], H, P[idx], gtol, safety)
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
    return P, L, np.abs(G).max(axis=1), tol, ratio, iters, conv, status


_REDUCTION_TRIES = 4  # distinct narrower widths tried per point
_REDUCTION_DESCENT = 150  # "descent" iterations on a narrow network (refine's jump)


def _reduction_candidates(land: Landscape, P: np.ndarray, idx, gtol, safety: float, descend: bool = False):
    """Exactly symmetric critical points near ``P[idx]``, found by reduction.

    Per point: :func:`fastland.symmetry.reduce` at its ascending
    :func:`fastland.symmetry.merge_heights`, keeping the first
    ``_REDUCTION_TRIES`` that give distinct narrower widths; the narrow points
    are refined with "newton" (batched per narrow width) and the converged
    ones mapped back with :meth:`fastland.symmetry.Reduction.expand`. With
    ``descend``, narrow points where "newton" does not converge, or converges
    to a strict saddle, are refined with "descent" instead (the minimum of the
    narrow network below them).
    Returns (point index, level, w*) triples.
    """
    by_width: dict[int, list] = {}
    for i in idx:
        w = P[i]
        if not np.isfinite(w).all():
            continue
        tried: set[int] = set()
        for h in symmetry.merge_heights(land.net, w):
            red = symmetry.reduce(land.net, w, tol=float(h))
            if red.level == 0 or red.width in tried:
                continue
            tried.add(red.width)
            by_width.setdefault(red.width, []).append((int(i), red))
            if len(tried) >= _REDUCTION_TRIES:
                break
    out = []
    for items in by_width.values():
        net = items[0][1].net
        nl = Landscape(net, land.data, dtype=land.dtype, weight_decay=land.weight_decay)
        starts = np.array([red.point for _, red in items])
        rr = refine(nl, starts, "newton", max_iter=50, gtol=gtol, safety=safety)
        redo = ~rr.converged
        if descend and rr.converged.any():
            # a jump that descends wants minima: a strict saddle Newton found is a reason to
            # descend too, not a result
            ok = np.flatnonzero(rr.converged)
            redo[ok[classify(nl, rr.points[ok]).label == "strict_saddle"]] = True
        if descend and redo.any():
            bad = np.flatnonzero(redo)
            rd = refine(nl, starts[bad], "descent", max_iter=_REDUCTION_DESCENT, gtol=gtol, safety=safety)
            rr.points[bad], rr.converged[bad] = rd.points, rd.converged
        for k, (i, red) in enumerate(items):
            if rr.converged[k]:
                out.append((i, red.level, red.expand(rr.points[k])))
    return out


def _reduction_jump(land: Landscape, P, L, tol_loss_factor: float, gtol, safety: float):
    """For each point, the lowest exactly symmetric critical point reachable by reduction.

    Candidates from :func:`_reduction_candidates`; a candidate is taken when it
    is critical in ``land`` and its loss is not above the point's (within
    ``tol_loss_factor * eps * |U|``). Returns (index, new point) pairs.
    """
    cands = _reduction_candidates(land, P, range(P.shape[0]), gtol, safety, descend=True)
    if not cands:
        return []
    eps = _eps(land)
    W = np.array([w for _, _, w in cands])
    Lw, Gw = land.loss_and_grad(W)
    ratio = _grad_ratio(Gw, _grad_tol(land, Lw, land.hessian(W), W, gtol, safety))
    best: dict[int, tuple[float, np.ndarray]] = {}
    for k, (i, _, w) in enumerate(cands):
        if ratio[k] <= 1.0 and Lw[k] <= L[i] + tol_loss_factor * eps * abs(L[i]):
            if i not in best or Lw[k] < best[i][0]:
                best[i] = (float(Lw[k]), w)
    return [(i, w) for i, (_, w) in sorted(best.items())]


def refine(
    land: Landscape,
    points,
    method: str = "newton",
    *,
    gtol: float | None = None,
    max_iter: int | None = None,
    polish: bool = False,
    options: dict | None = None,
    safety: float = SAFETY,
    reduce: bool = False,
) -> RefineResult:
    """Polish points to nearby critical points of ``land``.

    Parameters
    ----------
    land : Landscape
    points : array_like, shape (p,) or (B, p), or a result with ``.points``
    method : {"newton", "descent", "trust-exact", "slsqp", "bfgs"}, default "newton"
        Batched over points (one Hessian kernel call and one stacked ``eigh``
        per iteration for all active points):

        - "newton": damped Newton on ``grad U = 0`` with the exact Hessian,
          Levenberg-Marquardt regularised by the squared gradient norm so that on
          a manifold of critical points (split neurons) it stops near the start
          instead of drifting along it; it converges to the nearest critical
          point of any kind (saddles included), from close by.
        - "descent": saddle-free Levenberg-Marquardt minimisation of ``U``
          (steps along ``|lam|``): leaves saddles whose escape direction float64
          can see, so it finds minima.

        The SciPy methods minimise ``U`` with :func:`scipy.optimize.minimize`
        (trust-exact with the exact Hessian; "slsqp" is the seed's choice), one
        point after another, and so move away from saddles.
    gtol : float, optional
        Absolute tolerance on every gradient component. Default: per point and
        component, ``safety`` times the gradient's rounding floor (see the
        module notes); 1e-15 to 1e-13 for seed 004's students.
    max_iter : int, optional
        Newton iterations (default 100) or SciPy's ``maxiter`` (default 1000).
    polish : bool, default False
        After a SciPy method, continue with "newton" from its result.
    options : dict, optional
        Extra options for :func:`scipy.optimize.minimize` (SciPy methods only).
    safety : float, default 10
        Factor applied to the error estimates.
    reduce : bool, default False
        Afterwards, for points that did not converge (one-hidden-layer
        networks): try the exactly symmetric critical points that
        :func:`fastland.symmetry.reduce` leads to (merge the closest copies and
        drop the smallest outgoing weights -- up to four narrower widths per
        point, at its ascending :func:`fastland.symmetry.merge_heights` --
        refine the narrow points with "newton", or with "descent" (150
        iterations) where "newton" does not converge, map them back) and move
        a point there when that point is critical and its loss is not higher
        (within ``4 eps |U|``); status "reduced". Near the zero-loss manifolds
        of split neurons, where the loss is quartic in the copies' spread and
        second-order methods converge only linearly, this reaches the
        manifold in a few Newton steps of the narrow network; farther from it
        (copies 1e-2 to 0.3 apart, as after seed 004's Adam runs), descent in
        the narrow network finds the minimum that the wide descent is still
        sliding towards.

    Returns
    -------
    RefineResult

    Notes
    -----
    "descent" works in the Jacobi-scaled eigenbasis ``S = D H D = V diag(lam)
    V^T``, ``c = V^T D g``, with steps ``sigma = -c / (|lam| + mu)`` (saddle-free
    Levenberg-Marquardt), accepted when ``U`` decreases (or stays within ``4 eps
    |U|`` while the gradient's largest component shrinks); ``mu`` follows
    Nielsen's rule from the ratio of actual to predicted decrease (divided by
    up to 3 after a good step, doubled with a doubling factor after a
    rejection). It stops like "newton" (``grad_ratio <= 0.1``; "stalled" when a
    rejected step is below the rounding of ``w`` or ``mu > 1e20``); default 150
    iterations. (Levenberg-Marquardt on ``grad U = 0``, a trust-region
    minimisation of ``|grad U|^2``, was tried as a saddle-preserving
    alternative: from seed 004's width-5 Adam end points it converged for 2 of
    100 points in 100 iterations where "newton" converged for 15, 14 of them
    strict saddles, so "newton" is the saddle-preserving method.)

    "newton" solves ``grad U(w) = 0`` by Newton's method with the exact
    Hessian. The correction is ``-D S^+ D g`` with the Jacobi-scaled Hessian
    ``S = D H D = V diag(lam) V^T`` (module notes; ``D S^+ D = H^-1`` when ``H`` is
    invertible); the pseudo-inverse drops eigenvalues at the rounding level
    (``|lam| <= safety * p * eps * |S|``), so flat symmetry directions of a
    singular Hessian get no step. For the scaling, diagonal entries below
    ``sqrt(eps)`` times their row's largest entry count as zero.

    Steps are damped by a step length ``t``, accepted when the step shrinks
    either the simplified Newton correction ``|S^+ D g(w + t s)|`` with the
    current ``S`` (Deuflhard's natural monotonicity test: affine invariant, so
    not misled by the ill-conditioned Hessians of teacher-student problems,
    condition numbers ~1e6) or the gradient. Either test alone converges less
    often (from seed 004's teacher perturbed by 1e-3 to 1e-2: 1 to 8 of 12
    points against 12 of 12). ``t`` is quartered on failure and doubled (up to
    1) on success; near a non-degenerate critical point ``t = 1`` and the
    convergence is quadratic. Iterations go on until ``grad_ratio <= 0.1`` (one
    more step is cheap and usually reaches the rounding floor); a point with
    ``grad_ratio <= 1`` counts as converged; one whose step falls below the
    rounding of ``w`` is "stalled". Newton converges to the critical point whose
    basin the start lies in, which for ill-conditioned problems is small; to
    reach minima from far, use a minimiser with ``polish=True``.

    Gradients, Hessians and eigendecompositions are computed for all active
    points at once (Hessians by the compiled batch kernel, ``np.linalg.eigh`` on
    the stack); there is no Python loop over points. The SciPy methods are
    necessarily a loop over points.

    Examples
    --------
    >>> import fastland as fl
    >>> from fastland import critical
    >>> ts = fl.datasets.teacher_student(step=1.0)
    >>> land = fl.Landscape(ts.teacher, ts.data)
    >>> res = critical.refine(land, ts.teacher_params + 1e-3)
    >>> bool(res.converged), res.grad_norm < 1e-13
    (True, True)
    """
    land = _check_land(land)
    check_choice("method", method, _METHODS)
    P, single = _as_points(land, points)
    if gtol is not None:
        gtol = check_positive("gtol", gtol, allow_zero=True)
    safety = _check_safety(safety)
    if not isinstance(polish, (bool, np.bool_)):
        raise ValueError(f"polish: expected True or False, got {polish!r}")
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"options: expected a dict of scipy.optimize.minimize options, got {options!r}")
    if not isinstance(reduce, (bool, np.bool_)):
        raise ValueError(f"reduce: expected True or False, got {reduce!r}")
    if reduce and len(land.net.hidden) != 1:
        raise ValueError(f"reduce: needs a network with one hidden layer, got {land.net!r}")
    res = _refine(land, P, method, gtol, max_iter, polish, options, safety)
    if reduce:
        todo = np.flatnonzero(~res.converged)
        if todo.size:
            for i, w in _reduction_jump(land, res.points[todo], res.loss[todo], 4.0, gtol, safety):
                j = todo[i]
                res.points[j] = w
                res.status[j] = "reduced"
            Lr, Gr = land.loss_and_grad(res.points[todo])
            tr = _grad_tol(land, Lr, land.hessian(res.points[todo]), res.points[todo], gtol, safety)
            res.loss[todo], res.grad_norm[todo], res.grad_tol[todo] = Lr, np.abs(Gr).max(axis=1), tr
            res.grad_ratio[todo] = _grad_ratio(Gr, tr)
            res.converged[todo] = res.grad_ratio[todo] <= 1.0
    res.status = np.asarray(res.status).astype(str)
    return _squeeze(res, single)


def _refine(land, P, method, gtol, max_iter, polish, options, safety) -> RefineResult:
    if method in ("newton", "descent"):
        default = {"newton": 100, "descent": 150}[method]
        n_it = default if max_iter is None else check_int("max_iter", max_iter, 0)
        if method == "newton":
            P, L, gn, tol, ratio, iters, conv, status = _newton(land, P, gtol, n_it, safety)
        else:
            P, L, gn, tol, ratio, iters, conv, status = _lm(land, P, gtol, n_it, safety)
        return RefineResult(P, L, gn, tol, ratio, iters, conv, status.astype(object), method)

    n_it = 1000 if max_iter is None else check_int("max_iter", max_iter, 1)
    L0 = land.loss(P)
    # SciPy's tests are on a norm: ask for the smallest positive component tolerance
    tol0 = _grad_tol(land, L0, land.hessian(P), P, gtol, safety)
    target = np.where(tol0 > 0, tol0, np.inf).min(axis=1)
    target[~np.isfinite(target)] = 0.0
    out = np.empty_like(P)
    iters = np.zeros(P.shape[0], dtype=np.int64)
    status = np.empty(P.shape[0], dtype=object)
    eps = _eps(land)
    for i in range(P.shape[0]):  # SciPy's optimisers take one point at a time
        if method == "trust-exact":
            opts = {"gtol": float(target[i]), "maxiter": n_it}
            kw = {"hess": land.hessian}
        elif method == "bfgs":
            opts = {"gtol": float(target[i]), "maxiter": n_it, "norm": np.inf}
            kw = {}
        else:
            opts = {"ftol": eps * max(abs(float(L0[i])), np.finfo(float).tiny), "maxiter": n_it}
            kw = {}
        opts.update(options or {})
        r = minimize(land.loss, P[i], jac=land.grad, method=_SCIPY[method], options=opts, **kw)
        out[i] = r.x
        iters[i] = int(getattr(r, "nit", 0))
        status[i] = str(r.message)
    if polish:
        P2, L, gn, tol, ratio, it2, conv, st2 = _newton(land, out, gtol, 100, safety)
        return RefineResult(P2, L, gn, tol, ratio, iters + it2, conv, st2.astype(object), method)
    L, G = land.loss_and_grad(out)
    tol = _grad_tol(land, L, land.hessian(out), out, gtol, safety)
    ratio = _grad_ratio(G, tol)
    return RefineResult(out, L, np.abs(G).max(axis=1), tol, ratio, iters, ratio <= 1.0, status.astype(object), method)


# ------------------------------------------------------------------------- classify
@dataclass
class Classification:
    """Labels and the evidence behind them, from :func:`classify`.

    Per-point arrays have a leading batch axis of length B, dropped when a
    single point (p,) was classified.

    Attributes
    ----------
    points : ndarray, shape (B, p)
    label : ndarray of str, shape (B,)
        One of :data:`LABELS`.
    margin : ndarray, shape (B,)
        The factor by which the decisive quantities cleared their thresholds:
        the smallest of the ratios (value / tolerance for a "larger than"
        decision, tolerance / value for a "within" decision) behind the label.
        Always >= 1; a margin near 1 is a close call, a large one a safe call.
    loss : ndarray, shape (B,)
    grad_norm : ndarray, shape (B,)
        Infinity norm of the gradient.
    eigenvalues : ndarray, shape (B, p)
        Hessian spectrum, ascending.
    scaled_eigenvalues : ndarray, shape (B, p)
        Spectrum of the Jacobi-scaled Hessian ``D H D``, ``D = diag(|H_kk|^-1/2)``
        (module notes): it has the same numbers of negative, zero and positive
        eigenvalues (Sylvester's law of inertia), is unchanged when individual
        parameters are rescaled, and is the spectrum the labels, ``eig_tol``,
        ``n_zero`` and ``n_negative`` refer to.
    hessian_norm : ndarray, shape (B,)
        Largest absolute eigenvalue.
    grad_tol : ndarray, shape (B, p)
        Per-component gradient tolerance (module notes, or ``gtol``).
    grad_ratio : ndarray, shape (B,)
        ``max_k |g_k| / grad_tol_k``; critical when <= 1.
    eig_tol, loss_tol : ndarray, shape (B,)
        The tolerances on ``scaled_eigenvalues`` and on the loss (module notes).
    step_norm : ndarray, shape (B,)
        Length of the resolved Newton step ``s = D V sigma_R`` (module notes):
        the estimated distance to the nearby critical point.
    n_zero : ndarray of int, shape (B,)
        Scaled eigenvalues with ``|lam| <= eig_tol``, unresolved ones included.
    n_negative : ndarray of int, shape (B,)
        Resolved scaled eigenvalues below ``-eig_tol``.
    n_unresolved : ndarray of int, shape (B,)
        Eigenvalues the point is not close enough to its critical point to
        resolve (module notes); they count as zero.
    expected_null : ndarray of int, shape (B,)
        Zero eigenvalues that known symmetries explain.
    level : ndarray of int, shape (B,)
        Seed 004's level: the width the point loses when reduced to the
        narrowest network realising its function (:func:`fastland.symmetry.reduce`
        at the symmetry tolerance, kept when the narrow point's loss equals the
        point's within ``loss_tol``, else at reduce's default tolerance, which
        recognises exact copies only); -1 for points that are not critical, 0
        for networks without exactly one hidden layer.
    reduced : ndarray of bool, shape (B,)
        The label was decided at an exactly symmetric point ``w*`` found by
        reduction (see :func:`classify`, step 6).
    distance : ndarray, shape (B,)
        ``|w* - w|`` for ``reduced`` points, else 0.
    global_loss : float or None
        The known global minimum value, if one was given.
    eigenvectors : ndarray, shape (B, p, p), or None
        Columns are eigenvectors (when ``return_vectors=True``).
    """

    points: np.ndarray
    label: np.ndarray
    margin: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    eigenvalues: np.ndarray
    scaled_eigenvalues: np.ndarray
    hessian_norm: np.ndarray
    grad_tol: np.ndarray
    grad_ratio: np.ndarray
    eig_tol: np.ndarray
    loss_tol: np.ndarray
    step_norm: np.ndarray
    n_zero: np.ndarray
    n_negative: np.ndarray
    n_unresolved: np.ndarray
    expected_null: np.ndarray
    level: np.ndarray
    reduced: np.ndarray
    distance: np.ndarray
    global_loss: float | None = None
    eigenvectors: np.ndarray | None = None

    @property
    def lambda_min(self):
        """Smallest Hessian eigenvalue per point (unscaled)."""
        return self.eigenvalues[..., 0]

    def counts(self) -> dict[str, int]:
        """Number of points per label (all labels, zeros included)."""
        lab = np.atleast_1d(self.label)
        return {name: int(np.count_nonzero(lab == name)) for name in LABELS}


def _expected_null(land, P, expected_null, sym_tol, zero_loss) -> np.ndarray:
    B, p = P.shape
    if isinstance(expected_null, str):
        if expected_null == "none":
            return np.zeros(B, dtype=np.int64)
        if expected_null != "auto":
            raise ValueError(f"expected_null: expected 'auto', 'none', an int or B ints, got {expected_null!r}")
        if not land.net.hidden:
            return np.zeros(B, dtype=np.int64)
        return np.array(
            [symmetry.flat_directions(land.net, P[i], float(sym_tol[i]), bool(zero_loss[i])) for i in range(B)],
            dtype=np.int64,
        )
    k = np.asarray(expected_null)
    if k.ndim == 0:
        k = np.full(B, k)
    if k.shape != (B,) or not np.issubdtype(k.dtype, np.integer) or np.any(k < 0):
        raise ValueError(f"expected_null: expected 'auto', 'none', an int >= 0 or {B} of them, got {expected_null!r}")
    return k.astype(np.int64)


def _levels(land: Landscape, P, L, crit, sym_tol, loss_tol) -> np.ndarray:
    """Level of each critical point (-1 for non-critical points).

    Reduce at ``sym_tol``, kept when the narrow point's loss equals the point's within
    ``loss_tol`` (the same function on the data, as far as the loss can tell); otherwise the
    exact reduction (reduce's default tolerance).
    """
    B = P.shape[0]
    level = np.full(B, -1, dtype=np.int64)
    by_width: dict[int, list] = {}
    for i in np.flatnonzero(crit):
        red = symmetry.reduce(land.net, P[i], tol=float(sym_tol[i]))
        level[i] = red.level
        if red.level:
            by_width.setdefault(red.width, []).append((int(i), red))
    for items in by_width.values():
        nl = Landscape(items[0][1].net, land.data, dtype=land.dtype, weight_decay=land.weight_decay)
        Ln = nl.loss(np.array([red.point for _, red in items]))
        for k, (i, _) in enumerate(items):
            if not abs(Ln[k] - L[i]) <= loss_tol[i]:
                level[i] = symmetry.reduce(land.net, P[i]).level
    return level


def classify(
    land: Landscape,
    points,
    *,
    global_loss: float | None = None,
    expected_null="auto",
    gtol: float | None = None,
    safety: float = SAFETY,
    return_vectors: bool = False,
    reduce: bool = True,
) -> Classification:
    """Label points as saddles, minima or neither from the exact Hessian spectrum.

    Parameters
    ----------
    land : Landscape
    points : array_like, shape (p,) or (B, p), or a result with ``.points``
    global_loss : float, optional
        The known global minimum of ``land`` (0 for seed 004's teacher-student
        problem). Default: unknown; every fastland loss is >= 0, so a point whose
        loss is 0 within ``loss_tol`` is still provably a global minimum.
    expected_null : "auto", "none", int or array of int, default "auto"
        How many zero eigenvalues known symmetries explain. "auto" counts them
        with :func:`fastland.symmetry.flat_directions` (duplicated, sign-flipped,
        zero or dead neurons; rescalings) with a tolerance derived from the
        step to the nearby critical point: ``safety * (|s| + eps)`` (relative).
    gtol : float, optional
        Absolute tolerance on every gradient component; default derived from
        the error model (module notes).
    safety : float, default 10
        Factor applied to every error estimate.
    return_vectors : bool, default False
        Also return the Hessian eigenvectors.
    reduce : bool, default True
        Decide "degenerate" points of one-hidden-layer networks at an exactly
        symmetric point found by reduction when that is justified (step 6
        below).

    Returns
    -------
    Classification

    Notes
    -----
    Decisions, in order (the first that applies gives the label):

    1. ``grad_ratio > 1`` (some ``|g_k| > grad_tol_k``): "not_critical";
    2. ``lam_min < -eig_tol``: "strict_saddle";
    3. ``|loss - global| <= loss_tol`` (``global`` is ``global_loss``, or the
       lower bound 0): "global_min" -- any critical point at the global value is
       a global minimum, however degenerate its Hessian;
    4. more than ``expected_null`` eigenvalues with ``|lam| <= eig_tol``:
       "degenerate" (second order cannot decide);
    5. otherwise "local_min": the Hessian is positive definite apart from the
       symmetry-explained flat directions, and by the Morse-Bott lemma a point
       on a critical manifold whose Hessian is positive definite across it is a
       local minimum.

    The eigenvalues explained by symmetry are the ``expected_null`` smallest in
    absolute value. At a point of zero loss (``global_loss`` 0 or not given,
    loss "mse", no weight decay, ``|loss| <= loss_tol``) the Hessian equals the
    Gauss-Newton matrix, and the copies of a split neuron add ``(k - 1)(n_in +
    bias)`` zero eigenvalues (:func:`fastland.symmetry.flat_directions` with
    ``zero_loss=True``). The ``level`` of every point is the width
    :func:`fastland.symmetry.reduce` removes at the symmetry tolerance.

    6. **Reduction** (``reduce=True``, one hidden layer, "auto" null count): a
       point labelled "degenerate" may be a point *near* a symmetric critical
       set -- for example near the zero-loss manifold of a split teacher, where
       the loss is quartic in the copies' spread, so that copies 1e-5 apart
       already have a gradient at the rounding floor, and their flat
       directions are not recognised at the symmetry tolerance. Such a point
       gets candidate reductions (:func:`fastland.symmetry.merge_heights`, the
       four smallest that give distinct narrower widths), each narrow point is refined with
       Newton in the narrow network and mapped back
       (:meth:`fastland.symmetry.Reduction.expand`) to an exactly symmetric
       point ``w*``. If ``w*`` is critical and the loss ``w`` has above it is
       explained by ``w``'s unresolved gradient on the way, ``|U(w) - U(w*)| <=
       sum_k max(|g_k|, grad_tol_k) |w*_k - w_k| + loss_tol(w) + loss_tol(w*)``
       (first order: ``U(w) - U(w*) <= g . (w - w*)`` when ``U`` is convex on the
       segment; in a quartic valley ``U - U* = g . (w - w*) / 4``), then ``w``
       and ``w*`` cannot be told apart in float64 and the label, margin, null
       count and level are those of ``w*`` (the margin is also at most
       ``allowed / |U(w) - U(w*)|``); ``reduced`` is set and ``distance`` is
       ``|w* - w|``. This is the function-space test for
       global minima: ``w*`` realises the same function as its narrow point,
       whose loss is zero to rounding when it realises the teacher.

    A point with a loss below ``global_loss - loss_tol`` is a contradiction
    and raises ValueError.
    """
    land = _check_land(land)
    P, single = _as_points(land, points)
    safety = _check_safety(safety)
    if gtol is not None:
        gtol = check_positive("gtol", gtol, allow_zero=True)
    if not isinstance(return_vectors, (bool, np.bool_)):
        raise ValueError(f"return_vectors: expected True or False, got {return_vectors!r}")
    if not isinstance(reduce, (bool, np.bool_)):
        raise ValueError(f"reduce: expected True or False, got {reduce!r}")
    if global_loss is not None:
        if isinstance(global_loss, bool) or not isinstance(global_loss, numbers.Real) or not np.isfinite(global_loss):
            raise ValueError(f"global_loss: expected a finite number or None, got {global_loss!r}")
        global_loss = float(global_loss)
    B, p = P.shape
    eps = _eps(land)
    L, G = land.loss_and_grad(P)
    H = land.hessian(P)
    if return_vectors:
        lam, V = _eigh(H)
    else:
        lam, V = np.linalg.eigvalsh(H), None
    hn = np.abs(lam).max(axis=1)
    gmax = np.abs(G).max(axis=1)
    grad_tol = _grad_tol(land, L, H, P, gtol, safety)
    gratio = _grad_ratio(G, grad_tol)
    # rounding noise of the Hessian, measured: H at w moved by a few ulps (More & Wild 2011)
    signs = np.where(np.arange(p) % 2 == 0, 1.0, -1.0)
    noise = np.abs(land.hessian(P * (1.0 + 4.0 * eps * signs)) - H)
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
    lam_eff = np.where(unresolved, 0.0, lamS)  # unresolved eigenvalues count as zero
    wHw = np.einsum("bi,bij,bj->b", np.abs(P), np.abs(H), np.abs(P))
    # first-order loss change to the nearby critical point, g . s = sum_k c_k sigma_k, counting
    # unresolved directions too (for a quartic valley c^2 / lam is 4/3 of the excess loss)
    loss_tol = safety * (eps * np.abs(L) + 0.5 * eps**2 * wHw + np.abs(c * sigma).sum(axis=1))
    # reduce / flat_directions compare vectors relative to their norms: the rounding term is eps
    sym_tol = safety * (step_norm + eps)
    ref = 0.0 if global_loss is None else global_loss
    gap = L - ref
    # at zero loss (MSE, no weight decay) the Hessian is the Gauss-Newton matrix: more null directions
    interpolates = (ref == 0.0) & (np.abs(gap) <= loss_tol) & (land.net.loss == "mse") & (land.weight_decay == 0)
    k = np.minimum(_expected_null(land, P, expected_null, sym_tol, interpolates & crit), p)
    level = np.zeros(B, dtype=np.int64)
    if len(land.net.hidden) == 1:
        level = _levels(land, P, L, crit, sym_tol, loss_tol)

    abs_sorted = np.sort(np.abs(lam_eff), axis=1)
    lam_k = np.where(k < p, abs_sorted[np.arange(B), np.minimum(k, p - 1)], np.inf)
    lam0 = lam_eff.min(axis=1)
    n_zero = np.count_nonzero(np.abs(lam_eff) <= eig_tol[:, None], axis=1)
    n_neg = np.count_nonzero(lam_eff < -eig_tol[:, None], axis=1)
    if global_loss is not None:
        below = crit & (gap < -loss_tol)
        if below.any():
            i = int(np.flatnonzero(below)[0])
            raise ValueError(
                f"global_loss: point {i} has loss {L[i]!r}, below the given global minimum "
                f"{global_loss!r} by more than its error estimate {loss_tol[i]:.3g}"
            )

    m_grad = _ratio(1.0, gratio)
    m_not_saddle = _ratio(eig_tol, -lam0)
    label = np.full(B, "local_min", dtype=object)
    margin = np.minimum.reduce([m_grad, m_not_saddle, _ratio(lam_k, eig_tol), _ratio(gap, loss_tol)])
    is_deg = lam_k <= eig_tol
    label[is_deg] = "degenerate"
    margin[is_deg] = np.minimum.reduce([m_grad, m_not_saddle, _ratio(eig_tol, lam_k)])[is_deg]
    is_glob = np.abs(gap) <= loss_tol
    label[is_glob] = "global_min"
    margin[is_glob] = np.minimum.reduce([m_grad, m_not_saddle, _ratio(loss_tol, np.abs(gap))])[is_glob]
    is_saddle = lam0 < -eig_tol
    label[is_saddle] = "strict_saddle"
    margin[is_saddle] = np.minimum(m_grad, _ratio(-lam0, eig_tol))[is_saddle]
    label[~crit] = "not_critical"
    margin[~crit] = gratio[~crit]

    res = Classification(
        points=P,
        label=label.astype(str),
        margin=margin,
        loss=L,
        grad_norm=gmax,
        eigenvalues=lam,
        scaled_eigenvalues=lamS,
        hessian_norm=hn,
        grad_tol=grad_tol,
        grad_ratio=gratio,
        eig_tol=eig_tol,
        loss_tol=loss_tol,
        step_norm=step_norm,
        n_zero=n_zero,
        n_negative=n_neg,
        n_unresolved=np.count_nonzero(unresolved, axis=1),
        expected_null=k,
        level=level,
        reduced=np.zeros(B, dtype=bool),
        distance=np.zeros(B),
        global_loss=global_loss,
        eigenvectors=V,
    )
    if reduce and len(land.net.hidden) == 1 and isinstance(expected_null, str) and expected_null == "auto":
        _classify_by_reduction(land, res, global_loss, gtol, safety)
    return _squeeze(res, single)


def _classify_by_reduction(land: Landscape, res: Classification, global_loss, gtol, safety: float) -> None:
    """Step 6 of :func:`classify`, in place on the batched result ``res``."""
    idx = np.flatnonzero(res.label == "degenerate")
    if idx.size == 0:
        return
    cands = _reduction_candidates(land, res.points, idx, gtol, safety)
    cand_i = [i for i, _, _ in cands]
    cand_level = [lv for _, lv, _ in cands]
    cand_w = [w for _, _, w in cands]
    if not cand_i:
        return
    W0 = res.points[cand_i]
    Ws = np.array(cand_w)
    ci = np.array(cand_i)
    star = classify(land, Ws, global_loss=global_loss, gtol=gtol, safety=safety, reduce=False)
    # the loss w has above w* must be explained by w's unresolved gradient along the way:
    # L(w) - L(w*) <= g . (w - w*) when the loss is convex on the segment, with each |g_k|
    # replaced by its tolerance when smaller (the computed g is rounding noise there)
    G0 = land.grad(W0)
    allowed = (np.maximum(np.abs(G0), res.grad_tol[ci]) * np.abs(Ws - W0)).sum(axis=1)
    allowed += res.loss_tol[ci] + star.loss_tol
    excess = np.abs(res.loss[ci] - star.loss)
    m_red = _ratio(allowed, excess)
    good = (m_red >= 1.0) & (star.grad_ratio <= 1.0)
    done: set[int] = set()
    # prefer the candidate reaching a global minimum, then the narrowest
    order = sorted(range(len(cand_i)), key=lambda c: (star.label[c] != "global_min", -cand_level[c]))
    for c in order:
        i = cand_i[c]
        if not good[c] or i in done:
            continue
        done.add(i)
        res.label[i] = star.label[c]
        res.margin[i] = min(float(star.margin[c]), float(m_red[c]))
        res.expected_null[i] = star.expected_null[c]
        res.level[i] = max(int(star.level[c]), cand_level[c])
        res.reduced[i] = True
        res.distance[i] = float(np.linalg.norm(Ws[c] - res.points[i]))


# --------------------------------------------------------------------------- escape
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
    eps: float = 0.1,
    max_tries: int = 20,
    seed: int = 0,
    *,
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
        r = refine(land, w0 + eps * dirs[t], method, polish=polish, options=options, safety=safety)
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
    eps,
    tries: int = 8,
    seed: int = 0,
    *,
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
    r = refine(land, starts, method, polish=polish, options=options, safety=safety)
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


# -------------------------------------------------------------------------- certify
_CERT_ACTIVATIONS = _act.SMOOTH  # the certificates bound derivatives up to the third


def _check_certifiable(land: Landscape) -> None:
    net = land.net
    if len(net.hidden) != 1 or net.loss != "mse" or net.activation not in _CERT_ACTIVATIONS:
        raise ValueError(
            f"land: certify supports one-hidden-layer networks with loss 'mse' and activation in "
            f"{_CERT_ACTIVATIONS}, got {net!r}"
        )


def _parts(net, w):
    (W, b), (A, c) = net.unflatten(w)
    return W, b, A, c


def hessian_lipschitz(land: Landscape, point, radius: float) -> float:
    """A bound on the Lipschitz constant of the Hessian on a ball around ``point``.

    Returns ``rho`` with ``|H(u) - H(v)|_2 <= rho |u - v|`` for all ``u, v`` within
    ``radius`` of ``point``, for one-hidden-layer networks with loss "mse" and
    activation sigmoid, tanh, softplus, linear or quadratic (biases and weight
    decay allowed). See :func:`certify` for the derivation.

    Parameters
    ----------
    land : Landscape
    point : array_like, shape (p,)
    radius : float
        Ball radius R >= 0.

    Returns
    -------
    float
    """
    land = _check_land(land)
    _check_certifiable(land)
    w = check_params("point", point, land.n_params)
    if w.ndim != 1:
        raise ValueError(f"point: expected one parameter vector ({land.n_params},), got shape {w.shape}")
    R = check_positive("radius", radius, allow_zero=True)
    return _lipschitz(land, w, R)


def _lipschitz(land: Landscape, w: np.ndarray, R: float) -> float:
    net = land.net
    W, b, A, c = _parts(net, w)
    X = np.asarray(land._X, dtype=float)
    T = np.asarray(land._T, dtype=float)
    xi = np.sqrt((X * X).sum(axis=1) + (1.0 if net.bias else 0.0))  # |x~_i|
    Z = X @ W.T + (0.0 if b is None else b)
    F0, F1, F2, F3 = _act.derivative_bounds(net.activation, Z - R * xi[:, None], Z + R * xi[:, None])
    Ahat = np.linalg.norm(A, axis=0) + R  # (m,): bound on |a_j| over the ball
    x1, x2, x3 = xi[:, None], xi[:, None] ** 2, xi[:, None] ** 3
    B1 = np.sqrt((F0**2 + (Ahat * F1 * x1) ** 2).sum(axis=1) + (1.0 if net.bias else 0.0))
    alpha, beta = F1 * x1, Ahat * F2 * x2
    B2 = (0.5 * (beta + np.sqrt(beta**2 + 4.0 * alpha**2))).max(axis=1)
    B3 = ((2.0 / math.sqrt(3.0)) * F2 * x2 + Ahat * F3 * x3).max(axis=1)
    f = expit(Z) if net.activation == "sigmoid" else _act.derivatives(net.activation, Z)[0]
    out = f @ A.T + (0.0 if c is None else c)
    r0 = np.linalg.norm(out - T, axis=1)
    rho = np.mean(2.0 * (3.0 * B1 * B2 + (r0 + R * B1) * B3))
    return float(rho * (1.0 + 1e-12))


def _ld_derivatives(land: Landscape, w: np.ndarray):
    """Loss, gradient, Hessian (long double) and rounding estimates, independent of the kernels."""
    ld = np.longdouble
    net = land.net
    n_in, m, n_out = net.n_in, net.hidden[0], net.n_out
    p = net.n_params
    iW, ib, iA, ic = _parts(net, np.arange(p))
    wl = w.astype(ld)
    W, A = wl[iW], wl[iA]
    b = None if ib is None else wl[ib]
    c = None if ic is None else wl[ic]
    X = np.asarray(land._X).astype(ld)
    T = np.asarray(land._T).astype(ld)
    N = X.shape[0]
    Xt = X if b is None else np.column_stack([X, np.ones(N, dtype=ld)])
    iV = iW if ib is None else np.column_stack([iW, ib])  # (m, n_in + bias) indices of v_j
    Z = X @ W.T + (0 if b is None else b)
    with np.errstate(over="ignore"):
        d0, d1, d2, _ = _act.derivatives(net.activation, Z)
    out = d0 @ A.T + (0 if c is None else c)
    Rs = out - T
    lam_wd = ld(land.weight_decay)
    loss = (Rs * Rs).sum() / N + lam_wd / 2 * (wl * wl).sum()
    J = np.zeros((N, n_out, p), dtype=ld)
    for o in range(n_out):
        for j in range(m):
            J[:, o, iV[j]] = (A[o, j] * d1[:, j])[:, None] * Xt
            J[:, o, iA[o, j]] = d0[:, j]
        if ic is not None:
            J[:, o, ic[o]] = 1
    grad = (2 / ld(N)) * np.einsum("no,nop->p", Rs, J) + lam_wd * wl
    H = (2 / ld(N)) * np.einsum("nop,noq->pq", J, J)
    for o in range(n_out):
        for j in range(m):
            rv = (2 / ld(N)) * Rs[:, o]
            blk = np.einsum("n,nk,nl->kl", rv * A[o, j] * d2[:, j], Xt, Xt)
            H[np.ix_(iV[j], iV[j])] += blk
            cross = np.einsum("n,nk->k", rv * d1[:, j], Xt)
            H[iV[j], iA[o, j]] += cross
            H[iA[o, j], iV[j]] += cross
    H += lam_wd * np.eye(p, dtype=ld)
    # first-order rounding estimates of the long-double sums
    fabs = np.abs(d0) @ np.abs(A).T + (0 if c is None else np.abs(c))
    mag = np.abs(Rs) + fabs + np.abs(T)
    K = 2.0 * (math.log2(N + 1) + m + n_in + 10)
    eps_ld = float(np.finfo(ld).eps)
    g_err = K * eps_ld * float(np.linalg.norm((2.0 / N) * np.einsum("no,nop->p", mag, np.abs(J)).astype(float)))
    g_err += eps_ld * float(land.weight_decay) * float(np.linalg.norm(w))
    loss_err = K * eps_ld * float((np.abs(Rs) * mag).sum() / N) + eps_ld * float(abs(loss))
    return float(loss), grad, H, g_err, loss_err


@dataclass
class Certificate:
    """A certificate that a true local minimum is near a point (:func:`certify`).

    Per-point fields have a leading batch axis, dropped for a single point.

    Attributes
    ----------
    certified : bool
        A local minimum ``w*`` exists with ``|w* - w| <= radius``.
    radius : float
        The certified radius (nan when not certified).
    loss_lower, loss_upper : float
        ``loss_lower <= U(w*) <= loss_upper`` (nan when not certified).
    not_global : bool
        ``loss_lower > global_loss``: the minimum is provably not global.
    loss : float
        ``U(w)`` (long double evaluation).
    grad_norm : float
        Euclidean norm of the gradient (long double), plus its rounding estimate.
    lambda_min : float
        Smallest Hessian eigenvalue, minus its error estimate.
    lipschitz : float
        The Hessian's Lipschitz bound on the ball of radius ``ball``.
    ball : float
        Radius of the ball the Lipschitz bound holds on (>= ``radius``).
    grad_err, eig_err, loss_err : float
        The rounding estimates that were added or subtracted.
    reason : str
        Why the certificate failed (empty when certified).
    """

    certified: np.ndarray
    radius: np.ndarray
    loss_lower: np.ndarray
    loss_upper: np.ndarray
    not_global: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    lambda_min: np.ndarray
    lipschitz: np.ndarray
    ball: np.ndarray
    grad_err: np.ndarray
    eig_err: np.ndarray
    loss_err: np.ndarray
    reason: np.ndarray


def _certify_one(land: Landscape, w: np.ndarray, global_loss: float) -> tuple:
    p = land.n_params
    eps64 = float(np.finfo(float).eps)
    loss, grad, H_ld, g_err, loss_err = _ld_derivatives(land, w)
    H = H_ld.astype(float)
    lam = np.linalg.eigvalsh(H)
    hn = float(np.abs(lam).max())
    eig_err = 4.0 * p * eps64 * hn + float(np.linalg.norm((H_ld - H.astype(np.longdouble)).astype(float)))
    g = float(np.sqrt((grad * grad).sum())) + g_err
    lmin = float(lam[0]) - eig_err
    nan = float("nan")
    base = (loss, g, lmin, g_err, eig_err, loss_err)

    def fail(reason, rho=nan, R=nan):
        return (False, nan, nan, nan, False, *base[:3], rho, R, *base[3:], reason)

    if not lmin > 0:
        return fail(f"smallest Hessian eigenvalue {lam[0]:.3g} is not above its error estimate {eig_err:.3g}")
    R = 4.0 * g / lmin
    best = None
    for _ in range(8):  # shrink the ball: rho(R) decreases with R, and r(rho) <= R stays valid
        rho = _lipschitz(land, w, R)
        disc = lmin * lmin - 8.0 * rho * g
        if disc <= 0:
            break
        r = 4.0 * g / (lmin + math.sqrt(disc))
        best = (rho, R, r)
        if r >= 0.999 * R:
            break
        R = r
    if best is None:
        return fail(
            f"gradient {g:.3g} too large for the curvature: need lambda_min^2 = {lmin**2:.3g} > "
            f"8 rho |g| = {8 * rho * g:.3g} (rho = {rho:.3g})",
            rho,
            R,
        )
    rho, R, r = best
    mu = lmin - rho * r
    lower = loss - loss_err - g * g / (2.0 * mu)
    upper = loss + loss_err
    return (True, r, lower, upper, bool(lower > global_loss), loss, g, lmin, rho, R, g_err, eig_err, loss_err, "")


def certify(land: Landscape, point, *, global_loss: float = 0.0) -> Certificate:
    """Prove that a true local minimum lies near ``point`` and bound its loss.

    A certificate in the style of Safran & Shamir (Spurious local minima are
    common in two-layer ReLU neural networks, ICML 2018, Lemmas 1-2), made
    quantitative for seed 004's networks: one hidden layer, loss "mse",
    activation sigmoid, tanh, softplus, linear or quadratic (with or without
    biases and weight decay).

    Parameters
    ----------
    land : Landscape
    point : array_like, shape (p,) or (B, p), or a result with ``.points``
    global_loss : float, default 0.0
        The global minimum value (0 for teacher-student); ``not_global`` is
        ``loss_lower > global_loss``.

    Returns
    -------
    Certificate

    Notes
    -----
    **Lemma.** Let ``U`` be twice differentiable, ``g = |grad U(w)|``,
    ``lam = lambda_min(H(w)) > 0``, and ``|H(u) - H(v)| <= rho |u - v|`` on the ball
    ``B(w, R)``. If ``lam^2 > 8 rho g`` and ``r = 4 g / (lam + sqrt(lam^2 - 8 rho g))
    <= R``, then ``U`` has a local minimum ``w*`` with ``|w* - w| <= r`` and
    ``U(w) - g^2 / (2 mu) <= U(w*) <= U(w)``, ``mu = lam - rho r``.

    *Proof.* On ``B(w, r)``, ``lambda_min(H(u)) >= lam - rho |u - w| >= mu > 0``,
    so ``U`` is ``mu``-strongly convex there and, on the sphere ``|u - w| = r``,
    ``U(u) >= U(w) - g r + mu r^2 / 2``. The choice of ``r`` is the smaller root
    of ``rho r^2 - lam r + 2 g = 0``, i.e. ``mu r = 2 g``, so ``U(u) >= U(w)`` on the
    sphere (strictly for any slightly larger radius), and the minimum of ``U``
    over the closed ball is attained inside it: a local minimum ``w*``, unique
    in the ball by strict convexity. Strong convexity also gives ``U(w*) >=
    U(w) + grad U(w) . (w* - w) + mu |w* - w|^2 / 2 >= U(w) - g^2 / (2 mu)``. If that
    lower bound exceeds the global minimum (0), ``w*`` is not a global minimum.

    **Lipschitz bound on the Hessian.** ``rho`` bounds the third derivative:
    ``|H(u) - H(v)| <= sup |D^3 U| |u - v|`` on the convex ball, and for a
    symmetric trilinear form the norm is ``sup_{|e| = 1} |D^3 U[e, e, e]|``
    (Banach). With ``f`` the outputs, ``r = f - y`` and ``U = mean_i |r_i|^2 +
    wd |w|^2 / 2``, along a unit direction ``e``: ``(|r|^2)''' = 2 (3 f' . f'' +
    r . f''')`` (weight decay has no third derivative). For
    ``f_o = sum_j a_oj act(z_j) + c_o``, ``z_j = v_j . x~`` (``x~ = (x, 1)`` with
    biases), and ``e`` moving ``v_j`` by ``u_j``, ``a_.j`` by ``alpha_.j`` and ``c``
    by ``gamma``, with ``zeta_j = u_j . x~``:

    - ``f' = sum_j alpha_j act(z_j) + a_j act'(z_j) zeta_j + gamma``
    - ``f'' = sum_j 2 alpha_j act'(z_j) zeta_j + a_j act''(z_j) zeta_j^2``
    - ``f''' = sum_j 3 alpha_j act''(z_j) zeta_j^2 + a_j act'''(z_j) zeta_j^3``

    On the ball ``|z_j - z_j(w)| <= R |x~|`` and ``|a_.j| <= |a_.j(w)| + R =: A_j``;
    ``Phi_k`` is the supremum of ``|act^(k)|`` on that interval, computed exactly
    from the endpoints and the interior extrema of ``act^(k)`` (for sigmoid at
    0, +-ln(2 + sqrt 3), +-ln(5 + 2 sqrt 6); tanh at half those; softplus
    shifted by one order). With ``s_j = |u_j|``, ``t_j = |alpha_.j|``,
    ``sum s_j^2 + t_j^2 + |gamma|^2 = 1`` and ``xi = |x~|``, Cauchy-Schwarz gives per
    data point

    - ``|f'| <= B1 = sqrt(sum_j Phi0^2 + (A_j Phi1 xi)^2 (+ 1 with biases))``
    - ``|f''| <= B2 = max_j (beta_j + sqrt(beta_j^2 + 4 alpha_j^2)) / 2``, the largest
      eigenvalue of the form ``2 alpha_j s t + beta_j s^2`` with
      ``alpha_j = Phi1 xi``, ``beta_j = A_j Phi2 xi^2``
    - ``|f'''| <= B3 = max_j (2 / sqrt 3) Phi2 xi^2 + A_j Phi3 xi^3``
      (``3 t s^2 <= 2 / sqrt 3`` on the unit circle)
    - ``|r| <= |r(w)| + R B1`` on the ball,

    and ``rho = mean_i 2 (3 B1 B2 + (|r_i(w)| + R B1) B3)``.

    **Numbers.** Loss, gradient and Hessian are recomputed in long double
    (independently of the compiled kernels); ``g`` is inflated and ``lam``
    deflated by rounding estimates (first order for the sums; ``4 p eps |H|``
    for the eigenvalues), so the certificate holds up to those estimates, not
    in interval arithmetic. ``R`` starts at ``4 g / lam`` (an upper bound of
    ``r``) and shrinks to ``r`` a few times, each step keeping ``r <= R``.
    """
    land = _check_land(land)
    _check_certifiable(land)
    P, single = _as_points(land, point, "point")
    if isinstance(global_loss, bool) or not isinstance(global_loss, numbers.Real) or not np.isfinite(global_loss):
        raise ValueError(f"global_loss: expected a finite number, got {global_loss!r}")
    rows = [_certify_one(land, P[i], float(global_loss)) for i in range(P.shape[0])]
    cols = list(zip(*rows, strict=True))
    names = [f.name for f in fields(Certificate)]
    kw = {}
    for name, col in zip(names, cols, strict=True):
        if name in ("certified", "not_global"):
            kw[name] = np.array(col, dtype=bool)
        elif name == "reason":
            kw[name] = np.array(col, dtype=str)
        else:
            kw[name] = np.array(col, dtype=float)
    return _squeeze(Certificate(**kw), single)
