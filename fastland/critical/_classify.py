"""Classification of points: :class:`Classification`, :func:`classify`.

The labels are decided from the gradient and the Jacobi-scaled Hessian
spectrum with the tolerances of :mod:`._errors`; the null directions that
symmetries explain (:func:`_expected_null`) and seed 004's levels
(:func:`_levels`) come from :mod:`fastland.symmetry`; step 6, the decision at
an exactly symmetric point found by reduction, is
:func:`_classify_by_reduction` (candidates from :mod:`._reduction`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .. import symmetry
from .._validate import check_positive
from ..landscape import Landscape
from ._common import LABELS, SAFETY, _as_points, _check_land, _check_safety, _eigh, _ratio, _squeeze
from ._errors import _estimate_errors
from ._reduction import _reduction_candidates


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
        Per-component gradient tolerance (module notes, or ``tol_grad``).
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

    def __repr__(self) -> str:
        counts = {k: v for k, v in self.counts().items() if v}
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        return f"Classification(points={np.atleast_1d(self.label).size}, labels: {summary})"

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
    tol_grad: float | None = None,
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
    tol_grad : float, optional
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
    if tol_grad is not None:
        tol_grad = check_positive("tol_grad", tol_grad, allow_zero=True)
    if not isinstance(return_vectors, (bool, np.bool_)):
        raise ValueError(f"return_vectors: expected True or False, got {return_vectors!r}")
    if not isinstance(reduce, (bool, np.bool_)):
        raise ValueError(f"reduce: expected True or False, got {reduce!r}")
    if global_loss is not None:
        if isinstance(global_loss, bool) or not isinstance(global_loss, numbers.Real) or not np.isfinite(global_loss):
            raise ValueError(f"global_loss: expected a finite number or None, got {global_loss!r}")
        global_loss = float(global_loss)
    B, p = P.shape
    L, G = land.loss_and_grad(P)
    H = land.hessian(P)
    if return_vectors:
        lam, V = _eigh(H)
    else:
        lam, V = np.linalg.eigvalsh(H), None
    hn = np.abs(lam).max(axis=1)
    gmax = np.abs(G).max(axis=1)
    err = _estimate_errors(land, P, L, G, H, tol_grad, safety)
    grad_tol, gratio, eig_tol, loss_tol, sym_tol = err.grad_tol, err.grad_ratio, err.eig_tol, err.loss_tol, err.sym_tol
    crit = gratio <= 1.0
    lam_eff = np.where(err.unresolved, 0.0, err.scaled_eigenvalues)  # unresolved eigenvalues count as zero
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
        scaled_eigenvalues=err.scaled_eigenvalues,
        hessian_norm=hn,
        grad_tol=grad_tol,
        grad_ratio=gratio,
        eig_tol=eig_tol,
        loss_tol=loss_tol,
        step_norm=err.step_norm,
        n_zero=n_zero,
        n_negative=n_neg,
        n_unresolved=np.count_nonzero(err.unresolved, axis=1),
        expected_null=k,
        level=level,
        reduced=np.zeros(B, dtype=bool),
        distance=np.zeros(B),
        global_loss=global_loss,
        eigenvectors=V,
    )
    if reduce and len(land.net.hidden) == 1 and isinstance(expected_null, str) and expected_null == "auto":
        _classify_by_reduction(land, res, global_loss, tol_grad, safety)
    return _squeeze(res, single)


def _classify_by_reduction(land: Landscape, res: Classification, global_loss, tol_grad, safety: float) -> None:
    """Step 6 of :func:`classify`, in place on the batched result ``res``."""
    idx = np.flatnonzero(res.label == "degenerate")
    if idx.size == 0:
        return
    cands = _reduction_candidates(land, res.points, idx, tol_grad, safety)
    cand_i = [i for i, _, _ in cands]
    cand_level = [lv for _, lv, _ in cands]
    cand_w = [w for _, _, w in cands]
    if not cand_i:
        return
    W0 = res.points[cand_i]
    Ws = np.array(cand_w)
    ci = np.array(cand_i)
    star = classify(land, Ws, global_loss=global_loss, tol_grad=tol_grad, safety=safety, reduce=False)
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
