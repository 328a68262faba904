"""Refinement to critical points: :class:`RefineResult`, :func:`refine`.

:func:`refine` dispatches to the batched solvers of :mod:`._solvers` ("newton",
"descent") or to :func:`scipy.optimize.minimize` (one point at a time), and
with ``reduce=True`` afterwards tries the reduction jump
(:func:`_reduction_jump`: exactly symmetric critical points from
:mod:`._reduction`, descending in the narrow network where Newton does not
find a minimum).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .._validate import check_choice, check_int, check_positive
from ..landscape import Landscape
from ._classify import classify
from ._common import SAFETY, _as_points, _check_land, _check_safety, _eps, _squeeze
from ._errors import _grad_ratio, _grad_tol
from ._reduction import _REDUCTION_NEWTON, _expanded, _narrow_starts
from ._solvers import _lm, _newton

_METHODS = ("newton", "descent", "trust-exact", "slsqp", "bfgs")
_SCIPY = {"trust-exact": "trust-exact", "slsqp": "SLSQP", "bfgs": "BFGS"}
_REDUCTION_DESCENT = 150  # "descent" iterations on a narrow network (refine's jump)


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
        Per-component gradient tolerance (see the module notes, or ``tol_grad``).
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
        point), "max_iter" (the iteration budget ran out) or "reduced" (see
        ``reduce``); the same words for every method.
    method : str
    message : ndarray of str, shape (B,)
        SciPy's own message per point for the SciPy methods ("" for the others).
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
    message: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.message is None:
            self.message = np.full(np.shape(self.status), "", dtype=object)

    def __repr__(self) -> str:
        st = np.atleast_1d(self.status)
        names, counts = np.unique(st.astype(str), return_counts=True)
        summary = ", ".join(f"{c} {n}" for n, c in zip(names, counts, strict=True))
        return f"RefineResult(points={st.size}, method={self.method!r}, status: {summary})"


def _descending_candidates(land: Landscape, P: np.ndarray, tol_grad, safety: float) -> list:
    """Exactly symmetric critical points near every point of ``P``, preferring minima.

    As :func:`._reduction._reduction_candidates`, except that narrow points
    where "newton" does not converge, or converges to a strict saddle, are
    refined with "descent" instead (the minimum of the narrow network below
    them). Returns (point index, level, w*) triples.
    """
    out = []
    for nl, items, starts in _narrow_starts(land, P, range(P.shape[0])):
        rr = _newton(nl, starts, tol_grad, _REDUCTION_NEWTON, safety)
        redo = ~rr.converged
        if rr.converged.any():
            # a jump that descends wants minima: a strict saddle Newton found is a reason to
            # descend too, not a result
            ok = np.flatnonzero(rr.converged)
            redo[ok[classify(nl, rr.points[ok]).label == "strict_saddle"]] = True
        if redo.any():
            bad = np.flatnonzero(redo)
            rd = _lm(nl, starts[bad], tol_grad, _REDUCTION_DESCENT, safety)
            rr.points[bad], rr.converged[bad] = rd.points, rd.converged
        out += _expanded(items, rr)
    return out


def _reduction_jump(land: Landscape, P, L, tol_loss_factor: float, tol_grad, safety: float):
    """For each point, the lowest exactly symmetric critical point reachable by reduction.

    Candidates from :func:`_descending_candidates`; a candidate is taken when it
    is critical in ``land`` and its loss is not above the point's (within
    ``tol_loss_factor * eps * |U|``). Returns (index, new point) pairs.
    """
    cands = _descending_candidates(land, P, tol_grad, safety)
    if not cands:
        return []
    eps = _eps(land)
    W = np.array([w for _, _, w in cands])
    Lw, Gw = land.loss_and_grad(W)
    ratio = _grad_ratio(Gw, _grad_tol(land, Lw, land.hessian(W), W, tol_grad, safety))
    best: dict[int, tuple[float, np.ndarray]] = {}
    for k, (i, _, w) in enumerate(cands):
        if ratio[k] <= 1.0 and Lw[k] <= L[i] + tol_loss_factor * eps * abs(L[i]):
            if i not in best or Lw[k] < best[i][0]:
                best[i] = (float(Lw[k]), w)
    return [(i, w) for i, (_, w) in sorted(best.items())]


def refine(
    land: Landscape,
    points,
    *,
    method: str = "newton",
    tol_grad: float | None = None,
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
    tol_grad : float, optional
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
    >>> ts = fl.datasets.teacher_student(spacing=1.0)
    >>> land = fl.Landscape(ts.teacher, ts.data)
    >>> res = critical.refine(land, ts.teacher_params + 1e-3)
    >>> bool(res.converged), res.grad_norm < 1e-13
    (True, True)
    """
    land = _check_land(land)
    check_choice("method", method, _METHODS)
    P, single = _as_points(land, points)
    if tol_grad is not None:
        tol_grad = check_positive("tol_grad", tol_grad, allow_zero=True)
    safety = _check_safety(safety)
    if not isinstance(polish, (bool, np.bool_)):
        raise ValueError(f"polish: expected True or False, got {polish!r}")
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"options: expected a dict of scipy.optimize.minimize options, got {options!r}")
    if not isinstance(reduce, (bool, np.bool_)):
        raise ValueError(f"reduce: expected True or False, got {reduce!r}")
    if reduce and len(land.net.hidden) != 1:
        raise ValueError(f"reduce: needs a network with one hidden layer, got {land.net!r}")
    res = _refine(land, P, method, tol_grad, max_iter, polish, options, safety)
    if reduce:
        todo = np.flatnonzero(~res.converged)
        if todo.size:
            for i, w in _reduction_jump(land, res.points[todo], res.loss[todo], 4.0, tol_grad, safety):
                j = todo[i]
                res.points[j] = w
                res.status[j] = "reduced"
            Lr, Gr = land.loss_and_grad(res.points[todo])
            tr = _grad_tol(land, Lr, land.hessian(res.points[todo]), res.points[todo], tol_grad, safety)
            res.loss[todo], res.grad_norm[todo], res.grad_tol[todo] = Lr, np.abs(Gr).max(axis=1), tr
            res.grad_ratio[todo] = _grad_ratio(Gr, tr)
            res.converged[todo] = res.grad_ratio[todo] <= 1.0
    res.status = np.asarray(res.status).astype(str)
    return _squeeze(res, single)


def _refine(land, P, method, tol_grad, max_iter, polish, options, safety) -> RefineResult:
    if method in ("newton", "descent"):
        default = {"newton": 100, "descent": 150}[method]
        n_it = default if max_iter is None else check_int("max_iter", max_iter, 0)
        r = (_newton if method == "newton" else _lm)(land, P, tol_grad, n_it, safety)
        return _from_solver(r, r.iterations, method)

    n_it = 1000 if max_iter is None else check_int("max_iter", max_iter, 1)
    L0 = land.loss(P)
    # SciPy's tests are on a norm: ask for the smallest positive component tolerance
    tol0 = _grad_tol(land, L0, land.hessian(P), P, tol_grad, safety)
    target = np.where(tol0 > 0, tol0, np.inf).min(axis=1)
    target[~np.isfinite(target)] = 0.0
    out = np.empty_like(P)
    iters = np.zeros(P.shape[0], dtype=np.int64)
    messages = np.empty(P.shape[0], dtype=object)
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
        messages[i] = str(r.message)
    if polish:
        r = _newton(land, out, tol_grad, 100, safety)
        res = _from_solver(r, iters + r.iterations, method)
        res.message = messages
        return res
    L, G = land.loss_and_grad(out)
    tol = _grad_tol(land, L, land.hessian(out), out, tol_grad, safety)
    ratio = _grad_ratio(G, tol)
    # SciPy's outcome in fastland's words (its message is kept in ``message``)
    status = np.where(ratio <= 1.0, "converged", np.where(iters >= n_it, "max_iter", "stalled")).astype(object)
    return RefineResult(out, L, np.abs(G).max(axis=1), tol, ratio, iters, ratio <= 1.0, status, method, messages)


def _from_solver(r, iterations: np.ndarray, method: str) -> RefineResult:
    """A :class:`RefineResult` from a solver's :class:`._solvers._Solved`, with ``iterations`` given."""
    return RefineResult(
        r.points,
        r.loss,
        r.grad_norm,
        r.grad_tol,
        r.grad_ratio,
        iterations,
        r.converged,
        r.status.astype(object),
        method,
    )
