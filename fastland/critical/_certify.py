"""Certificates of local minima: :class:`Certificate`, :func:`certify`, :func:`hessian_lipschitz`.

A Safran-Shamir style proof that a true local minimum lies within a computed
radius of a point, with a lower bound on its loss: a Lipschitz bound on the
Hessian (:func:`_lipschitz`, from the activation derivative bounds of
:mod:`fastland._activations`) and loss, gradient and Hessian recomputed in long
double independently of the compiled kernels (:func:`_ld_derivatives`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

import numpy as np
from scipy.special import expit

from .. import _activations as _act
from .._validate import check_params, check_positive
from ..landscape import Landscape
from ._common import _as_points, _check_land, _squeeze

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


def hessian_lipschitz(land: Landscape, point, *, radius: float) -> float:
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
