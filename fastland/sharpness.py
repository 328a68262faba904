"""Sharpness of points of a landscape: top Hessian eigenvalue, trace, SAM's worst case.

:func:`sharpness` measures, for a batch of points ``w`` of ``U``:

- ``top_eig``: the largest eigenvalue of the exact Hessian ``H(w)`` (the
  "sharpness" of the edge-of-stability literature: gradient descent with
  learning rate ``lr`` is linearly stable at a minimum only if
  ``top_eig <= 2 / lr``), and ``min_eig``;
- ``trace``: ``tr H(w)``;
- the worst-case loss increase within a ball of radius ``rho``, the quantity
  sharpness-aware minimisation (SAM, Foret et al. 2021) targets,
  ``S_rho(w) = max_{|e|_2 <= rho} U(w + e) - U(w)``, at three levels of
  approximation:

  * ``first_order = rho |g|_2``: the maximum of the linear model
    ``g . e`` (SAM's own estimate, which picks ``e = rho g / |g|``);
    ``sam_step`` is the true increase ``U(w + rho g/|g|) - U(w)`` at that
    point (0 where ``g = 0``);
  * ``quadratic``: the exact maximum of the second-order model
    ``g . e + e^T H e / 2`` over the ball -- a trust-region subproblem, solved
    in the eigenbasis of ``H`` (Moré & Sorensen 1983): ``e = (mu I - H)^-1 g``
    with ``mu >= max(top_eig, 0)`` chosen by bisection so that ``|e| = rho``
    (or ``mu = 0`` inside the ball when ``H`` is negative definite and the
    unconstrained maximiser is inside; the "hard case", ``g`` orthogonal to the
    top eigenspace, is handled by adding the top eigenvector). At a critical
    point it is ``rho^2 max(top_eig, 0) / 2``;
  * ``refined``: the largest true increase ``U(w + e) - U(w)`` found by
    ascent on the sphere ``|e| = rho`` from both points above: ``ascent_steps``
    iterations of ``e <- rho grad U(w + e) / |grad U(w + e)|`` (the update of
    multi-step SAM; a fixed point satisfies the first-order conditions of the
    maximum on the sphere), keeping the best point visited. Every value is the
    loss at a feasible point, so ``refined`` is a lower bound on ``S_rho`` and
    is at least ``max(sam_step, U(w + e_quadratic) - U(w))``; ``direction`` is
    the maximising ``e``.

Everything is batched over points: Hessians come from the compiled batch
kernel (in chunks that bound the memory), eigendecompositions from
``np.linalg.eigh`` on the stack; there is no loop over points.

Two methods
-----------
``method="exact"`` forms the Hessian (p up to a few thousand). ``"lanczos"``
needs only Hessian-vector products (any p): ``top_eig`` and ``min_eig`` are the
extreme Ritz values of ``lanczos_steps`` Lanczos steps with full
reorthogonalisation from a random start (they converge to the extreme
eigenvalues from inside: ``top_eig`` is a lower bound); ``trace`` is
Hutchinson's estimate ``mean z^T H z`` over ``probes`` Rademacher vectors, with
its standard error in ``trace_stderr``; ``quadratic`` is the trust-region
maximum of the model restricted to the Krylov space of ``H`` started from
``g`` (the GLTR method of Gould, Lucidi, Roma & Toint 1999; a lower bound of
the full model's maximum, exact once the space contains the maximiser).
``"auto"`` (default) takes "exact" for p <= 2000.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_choice, check_int, check_params, check_positive
from .landscape import Landscape

__all__ = ["Sharpness", "sharpness"]

_HESSIAN_BYTES = 256 * 2**20  # Hessians held at once
_EXACT_MAX = 2000  # "auto" forms the Hessian up to this many parameters


@dataclass
class Sharpness:
    """What :func:`sharpness` returns (arrays over the B points; scalars for one point).

    Attributes
    ----------
    loss : ndarray, shape (B,)
        U at the points.
    grad_norm : ndarray, shape (B,)
        Euclidean norm of the gradient.
    top_eig, min_eig : ndarray, shape (B,)
        Largest and smallest Hessian eigenvalue.
    trace : ndarray, shape (B,)
        Trace of the Hessian.
    trace_stderr : ndarray, shape (B,)
        Standard error of ``trace`` (0 for the exact method).
    first_order : ndarray, shape (B,)
        ``rho |g|``: the linear model's maximum increase within the ball.
    sam_step : ndarray, shape (B,)
        ``U(w + rho g/|g|) - U(w)``: the true increase at SAM's ascent point.
    quadratic : ndarray, shape (B,)
        Maximum of ``g . e + e^T H e / 2`` over ``|e| <= rho`` (exact).
    refined : ndarray, shape (B,)
        Largest true increase found within the ball (a lower bound of the
        exact worst case; see the module notes).
    direction : ndarray, shape (B, p)
        The ``e`` that gave ``refined``.
    rho : float
        The radius.
    method : str
        "exact" or "lanczos".
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    top_eig: np.ndarray
    min_eig: np.ndarray
    trace: np.ndarray
    first_order: np.ndarray
    sam_step: np.ndarray
    quadratic: np.ndarray
    refined: np.ndarray
    direction: np.ndarray
    rho: float
    trace_stderr: np.ndarray | float = 0.0
    method: str = "exact"

    def to_dict(self) -> dict:
        """The per-point numbers as lists (JSON-able), without ``direction``."""
        out = {}
        for name in (
            "loss",
            "grad_norm",
            "top_eig",
            "min_eig",
            "trace",
            "first_order",
            "sam_step",
            "quadratic",
            "refined",
        ):
            v = np.asarray(getattr(self, name), dtype=float)
            out[name] = v.tolist()
        out["trace_stderr"] = np.asarray(self.trace_stderr, dtype=float).tolist()
        out["rho"] = self.rho
        out["method"] = self.method
        return out


def _check_land(land) -> Landscape:
    if not isinstance(land, Landscape):
        raise ValueError(f"land: expected a fastland.Landscape, got {type(land).__name__}")
    return land


def _hessian_chunks(land: Landscape, P: np.ndarray):
    """Yield (slice, Hessians) in chunks that keep the stack below _HESSIAN_BYTES."""
    p = P.shape[1]
    step = max(1, _HESSIAN_BYTES // (8 * p * p))
    for i in range(0, P.shape[0], step):
        sl = slice(i, min(P.shape[0], i + step))
        yield sl, land.hessian(P[sl]).reshape(-1, p, p)


def trust_region_max(lam: np.ndarray, V: np.ndarray, g: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Maximise ``g . e + e^T H e / 2`` over ``|e| <= rho`` for a stack of eigendecomposed H.

    Parameters
    ----------
    lam : ndarray, shape (B, p)
        Eigenvalues of H, ascending (as ``np.linalg.eigh`` returns them).
    V : ndarray, shape (B, p, p)
        Eigenvectors (columns).
    g : ndarray, shape (B, p)
        Linear terms.
    rho : float
        Radius (> 0).

    Returns
    -------
    value : ndarray, shape (B,)
        The maximum.
    e : ndarray, shape (B, p)
        A maximiser.
    """
    B, p = g.shape
    c = np.einsum("bij,bi->bj", V, g)  # components of g in the eigenbasis
    top = lam[:, -1]
    scale = np.maximum(np.abs(lam).max(axis=1), np.abs(c).max(axis=1) / rho)
    scale = np.where(scale > 0, scale, 1.0)
    tiny = 64 * np.finfo(float).eps * scale

    def norm_at(mu):
        d = mu[:, None] - lam
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(np.abs(c) > 0, c / d, 0.0)
        return x, np.sqrt(np.sum(x * x, axis=1))

    # interior solution (mu = 0) when H is negative definite and -H^-1 g lies in the ball
    x0, n0 = norm_at(np.zeros(B))
    interior = (top < -tiny) & (n0 <= rho)
    # boundary: mu in (max(top, 0), top + |c|/rho] with |x(mu)| = rho, by bisection
    lo = np.maximum(top, 0.0)
    hi = lo + np.sqrt(np.sum(c * c, axis=1)) / rho + tiny
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        _, n = norm_at(mid)
        big = n > rho
        lo = np.where(big, mid, lo)
        hi = np.where(big, hi, mid)
        if np.all(hi - lo <= 4 * np.finfo(float).eps * np.maximum(np.abs(hi), tiny)):
            break
    x, n = norm_at(hi)
    # hard case: even at mu -> top the norm stays below rho (g has ~no component on the top
    # eigenspace); fill the rest of the radius along the top eigenvector
    hard = ~interior & (hi - np.maximum(top, 0.0) <= 1e-10 * np.maximum(scale, 1.0)) & (top >= 0) & (n < rho)
    if np.any(hard):
        in_top = lam >= (top - tiny)[:, None]
        xh, _ = norm_at(top)
        xh = np.where(in_top, 0.0, xh)
        nh = np.sqrt(np.sum(xh * xh, axis=1))
        tau = np.sqrt(np.maximum(rho**2 - nh**2, 0.0))
        xh[:, -1] = np.where(c[:, -1] < 0, -tau, tau)
        x = np.where(hard[:, None], xh, x)
    x = np.where(interior[:, None], x0, x)
    value = np.sum(c * x, axis=1) + 0.5 * np.sum(lam * x * x, axis=1)
    e = np.einsum("bij,bj->bi", V, x)
    return value, e


def _lanczos(land: Landscape, P: np.ndarray, V0: np.ndarray, k: int):
    """Batched Lanczos with full reorthogonalisation: (Ritz values (B, k), Ritz vectors in R^p (B, k, p), Q).

    Rows that break down early (an invariant subspace) get padding Ritz values
    below their spectrum and zero Ritz vectors, so they never count as the top.
    """
    B, p = P.shape
    k = min(k, p)
    Q = np.zeros((B, k, p))
    alpha = np.zeros((B, k))
    beta = np.zeros((B, k))
    size = np.full(B, k)
    q = V0 / np.linalg.norm(V0, axis=1)[:, None]
    alive = np.ones(B, dtype=bool)
    scale = np.zeros(B)
    for j in range(k):
        Q[:, j] = q
        z = land.hvp(P, q) if alive.any() else np.zeros_like(q)
        alpha[:, j] = np.where(alive, np.sum(q * z, axis=1), 0.0)
        for _ in range(2):  # full reorthogonalisation, twice is enough
            z -= np.einsum("bjp,bj->bp", Q[:, : j + 1], np.einsum("bjp,bp->bj", Q[:, : j + 1], z))
        b = np.linalg.norm(z, axis=1)
        scale = np.maximum(scale, np.abs(alpha[:, j]) + b)
        broke = alive & (b <= 1e-12 * np.maximum(scale, np.finfo(float).tiny))
        size[broke] = j + 1
        alive &= ~broke
        beta[:, j] = np.where(alive, b, 0.0)
        q = np.where(alive[:, None], z / np.where(b > 0, b, 1.0)[:, None], 0.0)
    T = np.zeros((B, k, k))
    idx = np.arange(k)
    T[:, idx, idx] = alpha
    T[:, idx[:-1], idx[1:]] = beta[:, :-1]
    T[:, idx[1:], idx[:-1]] = beta[:, :-1]
    pad = idx[None, :] >= size[:, None]
    if pad.any():  # below the Gershgorin interval of the valid block
        low = np.min(np.where(pad, np.inf, alpha - 2 * np.abs(beta)), axis=1) - 1.0
        T[:, idx, idx] = np.where(pad, low[:, None], alpha)
    lam, S = np.linalg.eigh(T)
    return lam, np.einsum("bjp,bji->bip", Q, S), Q, T


def sharpness(
    land: Landscape,
    points,
    *,
    rho: float = 0.05,
    ascent_steps: int = 20,
    method: str = "auto",
    lanczos_steps: int = 30,
    probes: int = 30,
    seed: int = 0,
) -> Sharpness:
    """Top Hessian eigenvalue, trace and SAM's worst-case loss increase at a batch of points.

    Parameters
    ----------
    land : Landscape
    points : array_like, shape (p,) or (B, p), or an object with ``.points`` or ``.params``
    rho : float, default 0.05
        Radius of the ball of the worst-case increase (SAM's rho).
    ascent_steps : int, default 20
        Iterations of the ascent on the sphere behind ``refined`` (0: only the
        two starting points are evaluated).
    method : {"auto", "exact", "lanczos"}
        See the module notes; "auto" is "exact" for p <= 2000.
    lanczos_steps : int, default 30
        Lanczos steps (Hessian-vector products per point and run; "lanczos" only).
    probes : int, default 30
        Rademacher vectors of Hutchinson's trace estimate ("lanczos" only).
    seed : int, default 0
        Seed of the Lanczos starts and the probes.

    Returns
    -------
    Sharpness
        Arrays over the points; for one point (p,) the per-point arrays are
        scalars and ``direction`` is (p,).

    Examples
    --------
    >>> import numpy as np, fastland as fl
    >>> from fastland.sharpness import sharpness
    >>> data = fl.Dataset(np.array([[1.0, 0.0], [0.0, 2.0]]), np.zeros(2))
    >>> land = fl.Landscape(fl.MLP(2, [], 1, activation="linear", loss="mse", bias=False), data)
    >>> s = sharpness(land, np.zeros(2), rho=0.1)   # U = (w0^2 + 4 w1^2) / 2: H = diag(1, 4)
    >>> float(s.top_eig), float(s.trace), round(float(s.refined), 12)
    (4.0, 5.0, 0.02)
    """
    land = _check_land(land)
    src = getattr(points, "points", getattr(points, "params", points))
    P = check_params("points", src, land.n_params)
    single = P.ndim == 1
    P = np.atleast_2d(P)
    rho = check_positive("rho", rho)
    ascent_steps = check_int("ascent_steps", ascent_steps, 0)
    check_choice("method", method, ("auto", "exact", "lanczos"))
    lanczos_steps = check_int("lanczos_steps", lanczos_steps, 1)
    probes = check_int("probes", probes, 1)
    seed = check_int("seed", seed, 0)
    B, p = P.shape
    if method == "auto":
        method = "exact" if p <= _EXACT_MAX else "lanczos"
    L, G = land.loss_and_grad(P)
    gn = np.sqrt(np.sum(G * G, axis=1))
    top = np.empty(B)
    bottom = np.empty(B)
    trace = np.empty(B)
    trace_se = np.zeros(B)
    quad = np.empty(B)
    e_quad = np.empty((B, p))
    if method == "exact":
        for sl, H in _hessian_chunks(land, P):
            lam, V = np.linalg.eigh(H)
            top[sl] = lam[:, -1]
            bottom[sl] = lam[:, 0]
            trace[sl] = np.trace(H, axis1=1, axis2=2)
            quad[sl], e_quad[sl] = trust_region_max(lam, V, G[sl], rho)
    else:
        rng = np.random.default_rng(seed)
        lam, _, _, _ = _lanczos(land, P, rng.standard_normal((B, p)), lanczos_steps)
        top, bottom = lam[:, -1].copy(), lam[:, 0].copy()
        # the quadratic model in the Krylov space of g (a random start where g = 0)
        start = np.where(gn[:, None] > 0, G, rng.standard_normal((B, p)))
        lk, Vk, Qk, _ = _lanczos(land, P, start, lanczos_steps)
        gk = np.einsum("bjp,bp->bj", Qk, G)  # g in the Lanczos basis
        Sk = np.einsum("bjp,bip->bji", Qk, Vk)  # Ritz vectors in that basis
        quad, xk = trust_region_max(lk, Sk, gk, rho)
        e_quad = np.einsum("bjp,bj->bp", Qk, xk)
        top = np.maximum(top, lk[:, -1])
        bottom = np.minimum(bottom, lk[:, 0])
        Z = rng.choice([-1.0, 1.0], size=(B, probes, p))
        hz = land.hvp(np.repeat(P, probes, axis=0), Z.reshape(B * probes, p)).reshape(B, probes, p)
        est = np.sum(Z * hz, axis=2)
        trace = est.mean(axis=1)
        trace_se = est.std(axis=1, ddof=1) / np.sqrt(probes) if probes > 1 else np.full(B, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        e_sam = np.where(gn[:, None] > 0, rho * G / np.where(gn > 0, gn, 1.0)[:, None], 0.0)
    sam_step = land.loss(P + e_sam) - L
    # ascent on the sphere from both starting points (stacked), keeping the best point visited
    E = np.concatenate([e_sam, e_quad])
    P2 = np.concatenate([P, P])
    L2 = np.concatenate([L, L])
    moved = np.concatenate([gn > 0, np.ones(B, dtype=bool)])  # e_sam = 0 where g = 0: skip it
    val, grad = land.loss_and_grad(P2 + E)
    val = np.where(moved, val - L2, -np.inf)
    best, best_e = val.copy(), E.copy()
    for _ in range(ascent_steps):
        n = np.sqrt(np.sum(grad * grad, axis=1))
        ok = moved & (n > 0) & np.isfinite(n)
        if not ok.any():
            break
        E = np.where(ok[:, None], rho * grad / np.where(n > 0, n, 1.0)[:, None], E)
        val, grad = land.loss_and_grad(P2 + E)
        val = np.where(ok, val - L2, -np.inf)
        up = val > best
        best = np.where(up, val, best)
        best_e = np.where(up[:, None], E, best_e)
    pick = best[B:] >= best[:B]
    refined = np.where(pick, best[B:], best[:B])
    direction = np.where(pick[:, None], best_e[B:], best_e[:B])
    res = Sharpness(
        trace_stderr=trace_se,
        method=method,
        loss=L,
        grad_norm=gn,
        top_eig=top,
        min_eig=bottom,
        trace=trace,
        first_order=rho * gn,
        sam_step=sam_step,
        quadratic=quad,
        refined=refined,
        direction=direction,
        rho=rho,
    )
    if single:
        for name in (
            "loss",
            "grad_norm",
            "top_eig",
            "min_eig",
            "trace",
            "first_order",
            "sam_step",
            "quadratic",
            "refined",
            "trace_stderr",
        ):
            setattr(res, name, float(getattr(res, name)[0]))
        res.direction = res.direction[0]
    return res
