"""Seed 003's Bezout argument: zero-loss minima are degenerate, other minima are not.

The seed's reasoning, for the square loss of a network with M parameters on N
data points (n_out outputs each):

- **Zero-loss (global) minima.** ``f(x_i; w) = y_i`` for i = 1..N is a system
  of N n_out equations in M unknowns; with M > N n_out its solutions, if any,
  form a set of dimension at least M - N n_out (for a polynomial network, such
  as the "quadratic" activation, Bezout's theorem is the algebraic version of
  this count). There the Hessian equals the Gauss-Newton matrix
  ``(2/N) J^T J`` (the residual term vanishes), whose rank is at most
  ``rank J <= N n_out``, so the Hessian's nullity is at least M - N n_out,
  and exactly ``M - rank J``.
- **Other minima** (non-zero loss) solve grad U = 0: M equations in M
  unknowns, whose solutions are generically isolated, i.e. non-degenerate --
  modulo the network's own continuous symmetries (rescalings of "quadratic"
  and "relu" neurons, duplicated, dead or zero neurons; counted by
  :func:`fastland.symmetry.flat_directions`), which make whole manifolds of
  equivalent points.

What the experiment does, for every activation and every (width m, N):
N inputs uniform in [-1, 1]^dim, targets standard normal ("random") or the
outputs of the same network at random parameters ("teacher", so that zero
loss is always reachable); ``runs`` random starts of
``MLP(dim, [m], n_out, activation, "mse", bias)`` trained with Adam (one
:func:`fastland.train` call), then polished by batched Levenberg-Marquardt
steps on the Gauss-Newton matrix (quadratic convergence to zero loss when it
is reachable) and by :func:`fastland.critical.refine` (Newton on grad U = 0);
then :func:`fastland.critical.classify` (``global_loss=0``) labels each end
point and :func:`hessian_nullity` measures its Hessian's numerical nullity.

Numerical nullity (:func:`hessian_nullity`)
-------------------------------------------
With ``lam`` the Hessian's eigenvalues, ``eps`` float64's machine epsilon and
``M`` the dimension, an eigenvalue counts as zero when ``|lam| <= tol``::

    tol = M eps ||H||  +  ||H(w') - H(w)||  +  ||H(w + s) - H(w)||  [+ ||H - G||]

-- LAPACK's backward error, the Hessian's rounding noise measured by moving
``w`` by four ulps (``w'``), and the change of the Hessian on the way to the
exact critical point (``s = -H^+ grad U``, the Newton step); at zero-loss
points the residual term ``H - G`` (G the Gauss-Newton matrix), which vanishes
at the exact minimum, is added. The *spectral gap* is the ratio of the
smallest eigenvalue above ``tol`` to the largest at or below it (in decades):
a gap of many decades means the count does not depend on the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import critical, symmetry
from .._validate import check_choice, check_int, check_positive
from ..data import Dataset
from ..landscape import Landscape
from ..model import ACTIVATIONS, MLP
from ..train import train
from ._files import save_series
from ._json import finite_or_none
from ._result import Check, ExperimentResult, Verdict, check_seed, protocol_doc, say

FORMAT_VERSION = 1

__all__ = ["ConfigResult", "DegeneracyResult", "Nullity", "degeneracy", "function_null", "hessian_nullity", "jacobian"]


# ------------------------------------------------------------------------------ nullity
@dataclass
class Nullity:
    """Numerical nullity of the Hessian at a batch of points (see the module notes).

    Attributes
    ----------
    nullity : ndarray of int, shape (B,)
        Eigenvalues with ``|lam| <= tol``.
    tol : ndarray, shape (B,)
        The tolerance from the error estimate.
    gap : ndarray, shape (B,)
        Decades between the smallest ``|lam|`` above ``tol`` and the largest at
        or below it (``log10`` of their ratio; against ``tol`` when the nullity
        is 0, against ``eps ||H||`` when nothing is above; inf when the
        null eigenvalues are exactly 0).
    hessian_norm : ndarray, shape (B,)
        Largest ``|lam|``.
    rank_gn : ndarray of int, shape (B,)
        Rank of the Gauss-Newton matrix (eigenvalues above ``M eps ||G||``):
        ``rank J`` for the square loss.
    symmetry : ndarray of int, shape (B,)
        Flat directions known symmetries explain
        (:func:`fastland.symmetry.flat_directions`).
    function_null : ndarray of int, shape (B,)
        Directions that leave the network function unchanged on generic
        inputs (:func:`function_null`): the continuous symmetries, measured.
        At least ``symmetry``; more where the known list misses some (for
        "quadratic" neurons the mixings ``W -> R W`` with
        ``R^T diag(a) R = diag(a)``).
    eigenvalues : ndarray, shape (B, M)
        Hessian spectrum, ascending.
    zero_loss : ndarray of bool, shape (B,)
        Whether the residual term was included (zero-loss points).
    """

    nullity: np.ndarray
    tol: np.ndarray
    gap: np.ndarray
    hessian_norm: np.ndarray
    rank_gn: np.ndarray
    symmetry: np.ndarray
    function_null: np.ndarray
    eigenvalues: np.ndarray
    zero_loss: np.ndarray

    @property
    def excess(self) -> np.ndarray:
        """``nullity - function_null``: null directions that no symmetry explains."""
        return self.nullity - self.function_null


def _spec_norm(A: np.ndarray) -> np.ndarray:
    return np.abs(np.linalg.eigvalsh(A)).max(axis=-1)


def hessian_nullity(land: Landscape, points, zero_loss=None, probes: int | None = None, seed: int = 0) -> Nullity:
    """Measure the Hessian's numerical nullity and spectral gap at each point.

    Parameters
    ----------
    land : Landscape
    points : array_like, shape (p,) or (B, p)
    zero_loss : bool or array of bool, optional
        Which points are zero-loss minima (their residual term ``H - G`` counts
        as error). Default: the points whose loss is at most ``p eps`` times
        the sum of squared targets' mean (for "mse"), otherwise none.
    probes, seed
        Passed to :func:`function_null`.

    Returns
    -------
    Nullity
        One entry per point (a batch of one for a single point).
    """
    if not isinstance(land, Landscape):
        raise ValueError(f"land: expected a fastland.Landscape, got {type(land).__name__}")
    P = np.atleast_2d(np.asarray(points, dtype=float))
    if P.ndim != 2 or P.shape[1] != land.n_params or not np.all(np.isfinite(P)):
        raise ValueError(f"points: expected finite points of shape (B, {land.n_params}), got {np.shape(points)}")
    B, M = P.shape
    eps = float(np.finfo(float).eps)
    L, g = land.loss_and_grad(P)
    H = land.hessian(P)
    G = land.gauss_newton(P)
    lam, V = np.linalg.eigh(H)
    hn = np.abs(lam).max(axis=1)
    if zero_loss is None:
        scale = float(np.mean(np.asarray(land.data.y, dtype=float) ** 2)) if land.net.loss == "mse" else 1.0
        zero_loss = L <= M * eps * max(scale, eps)
    zero = np.broadcast_to(np.asarray(zero_loss, dtype=bool), (B,)).copy()
    base = M * eps * hn
    signs = np.where(np.arange(M) % 2 == 0, 1.0, -1.0)
    noise = _spec_norm(land.hessian(P * (1.0 + 4.0 * eps * signs)) - H)
    # Newton step to the exact critical point, with eigenvalues at the rounding level dropped
    c = np.einsum("bij,bi->bj", V, g)
    keep = np.abs(lam) > (base + noise)[:, None]
    sigma = np.zeros_like(lam)
    np.divide(-c, lam, out=sigma, where=keep)
    step = np.einsum("bij,bj->bi", V, sigma)
    moved = np.zeros(B)
    nz = np.linalg.norm(step, axis=1) > 0
    if nz.any():
        moved[nz] = _spec_norm(land.hessian(P[nz] + step[nz]) - H[nz])
    tol = base + noise + moved
    resid = _spec_norm(H - G)
    tol = np.where(zero, tol + resid, tol)
    absl = np.abs(lam)
    null = absl <= tol[:, None]
    nullity = null.sum(axis=1)
    gap = np.empty(B)
    for b in range(B):
        above = absl[b][~null[b]]
        below = absl[b][null[b]]
        hi = above.min() if above.size else eps * max(hn[b], eps)
        lo = below.max() if below.size else tol[b]
        gap[b] = math.inf if lo == 0 else math.log10(hi / lo) if hi > 0 else 0.0
    lg = np.linalg.eigvalsh(G)
    gn = np.abs(lg).max(axis=1)
    rank_gn = (lg > (M * eps * gn)[:, None]).sum(axis=1)
    sym = (
        np.asarray(symmetry.flat_directions(land.net, P), dtype=np.int64).reshape(B)
        if land.net.hidden
        else np.zeros(B, dtype=np.int64)
    )
    return Nullity(
        nullity=nullity.astype(np.int64),
        tol=tol,
        gap=gap,
        hessian_norm=hn,
        rank_gn=rank_gn.astype(np.int64),
        symmetry=sym,
        function_null=function_null(land.net, P, probes, seed),
        eigenvalues=lam,
        zero_loss=zero,
    )


# ------------------------------------------------------------------------------ polishing
def _lm_polish(land: Landscape, W: np.ndarray, iters: int) -> np.ndarray:
    """Batched Levenberg-Marquardt on the Gauss-Newton matrix: s = -(G + mu I)^-1 grad U."""
    W = W.copy()
    L, g = land.loss_and_grad(W)
    B, M = W.shape
    mu = np.full(B, 1e-3)
    active = np.isfinite(L)
    floor = M * np.finfo(float).eps
    for _ in range(iters):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        G = land.gauss_newton(W[a])
        lam, V = np.linalg.eigh(G)
        top = np.maximum(np.abs(lam).max(axis=1), 1e-300)
        c = np.einsum("bij,bi->bj", V, g[a])
        step = -np.einsum("bij,bj->bi", V, c / (np.maximum(lam, 0.0) + (mu[a] * top)[:, None]))
        trial = W[a] + step
        Lt, gt = land.loss_and_grad(trial)
        ok = np.isfinite(Lt) & (Lt < L[a])
        stalled = ok & (L[a] - Lt <= 1e-13 * L[a])  # a minimum with non-zero loss: Newton takes over
        acc = a[ok]
        W[acc], L[acc], g[acc] = trial[ok], Lt[ok], gt[ok]
        mu[acc] = np.maximum(mu[acc] / 3.0, 1e-15)
        mu[a[~ok]] *= 10.0
        # stop where the loss reached the rounding floor or no damping helps any more
        active[a[~ok & (mu[a] > 1e8)]] = False
        active[a[ok & (Lt <= floor * np.finfo(float).eps)]] = False
        active[a[stalled]] = False
    return W


def jacobian(net: MLP, w, X) -> np.ndarray:
    """Exact Jacobian of the network's outputs on ``X`` in the parameters.

    Parameters
    ----------
    net : MLP
    w : array_like, shape (p,) or (B, p)
    X : array_like, shape (P, n_in)

    Returns
    -------
    ndarray, shape (P * n_out, p) or (B, P * n_out, p)
        Row ``i * n_out + o`` is the gradient of output ``o`` at point ``i``.

    Notes
    -----
    Computed with the exact gradient kernel, batched over the points ``w``:
    for the squared error on the one point ``x_i``, the gradients with targets
    0 and ``e_o`` differ by ``2 grad f_o(x_i)`` (the loss is
    ``sum_o (f_o - t_o)^2``), whatever ``w``.
    """
    W = np.asarray(w, dtype=float)
    batch = np.atleast_2d(W)
    X = np.atleast_2d(np.asarray(X, dtype=float))
    sq = MLP(net.n_in, list(net.hidden), net.n_out, activation=net.activation, loss="mse", bias=net.bias)
    k = net.n_out
    out = np.empty((batch.shape[0], X.shape[0] * k, net.n_params))
    zero = np.zeros((1, k))
    for i in range(X.shape[0]):
        base = Landscape(sq, Dataset(X[i : i + 1], zero)).grad(batch)
        for o in range(k):
            t = zero.copy()
            t[0, o] = 1.0
            out[:, i * k + o] = 0.5 * (base - Landscape(sq, Dataset(X[i : i + 1], t)).grad(batch))
    return out if W.ndim == 2 else out[0]


def function_null(net: MLP, points, probes: int | None = None, seed: int = 0) -> np.ndarray:
    """Directions in which the network function does not change at all, to first order.

    The nullity of the Jacobian of the outputs on ``probes`` random inputs
    (uniform in [-1, 1]^n_in, default ``4 p``, at least 64): for generic
    inputs, these are the directions of the network's continuous symmetries
    (rescalings, mixings, dead neurons, ...), whether
    :func:`fastland.symmetry.flat_directions` knows them or not. Singular
    values at most ``max(rows, p) eps sigma_max`` count as zero.

    Parameters
    ----------
    net : MLP
    points : array_like, shape (p,) or (B, p)
    probes : int, optional
    seed : int, default 0

    Returns
    -------
    ndarray of int, shape (B,)
    """
    P = np.atleast_2d(np.asarray(points, dtype=float))
    p = net.n_params
    k = max(64, 4 * p) if probes is None else check_int("probes", probes, 1)
    Xp = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(k, net.n_in))
    sv = np.linalg.svd(jacobian(net, P, Xp), compute_uv=False)  # (B, min(rows, p))
    tol = max(k * net.n_out, p) * np.finfo(float).eps * sv.max(axis=1, initial=0.0)
    return (p - np.count_nonzero(sv > tol[:, None], axis=1)).astype(np.int64)


# ------------------------------------------------------------------------------ results
@dataclass
class ConfigResult:
    """One (activation, width, N) configuration.

    Attributes
    ----------
    activation : str
    width : int
        Hidden width m.
    n_points : int
        Data points N.
    n_params : int
        Parameters M.
    n_out : int
    bezout : int
        ``M - N n_out``: the seed's lower bound on the nullity at zero loss.
    points : ndarray, shape (runs, M)
        End points after training and polishing.
    loss : ndarray, shape (runs,)
    label : ndarray of str, shape (runs,)
        :func:`fastland.critical.classify` labels (``global_loss=0``).
    kind : ndarray of str, shape (runs,)
        "zero_loss" (label "global_min"), "minimum" (label "local_min" or
        "degenerate" with non-zero loss, or "not_critical" with a gradient
        within :data:`NEAR_CRITICAL` times the rounding floor, no
        eigenvalue below ``-tol`` and ``tol <= sqrt(eps) ||H||``: Newton stalls
        short of the floor on some degenerate minima), "saddle" or
        "not_critical" (this includes points drifting along valleys to
        infinity, e.g. saturated tanh neurons, whose tiny curvatures would
        otherwise count as null).
    nullity : Nullity
        :func:`hessian_nullity` at every end point.
    """

    activation: str
    width: int
    n_points: int
    n_params: int
    n_out: int
    bezout: int
    points: np.ndarray
    loss: np.ndarray
    label: np.ndarray
    kind: np.ndarray
    nullity: Nullity

    def _sel(self, kind: str) -> np.ndarray:
        return self.kind == kind

    def summary(self) -> dict:
        """Counts and nullity statistics per kind of end point (JSON-able)."""
        out = {
            "activation": self.activation,
            "width": self.width,
            "n_points": self.n_points,
            "n_params": self.n_params,
            "n_out": self.n_out,
            "bezout": self.bezout,
            "counts": {k: int(np.count_nonzero(self.kind == k)) for k in _KINDS},
            "labels": {k: int(np.count_nonzero(self.label == k)) for k in critical.LABELS},
        }
        nl = self.nullity
        for k in ("zero_loss", "minimum"):
            s = self._sel(k)
            if not s.any():
                out[k] = None
                continue
            out[k] = {
                "nullity": [int(v) for v in nl.nullity[s]],
                "rank_gn": [int(v) for v in nl.rank_gn[s]],
                "symmetry": [int(v) for v in nl.symmetry[s]],
                "function_null": [int(v) for v in nl.function_null[s]],
                "excess": [int(v) for v in nl.excess[s]],
                "gap_decades": [finite_or_none(v) for v in nl.gap[s]],
                "loss": [finite_or_none(v) for v in self.loss[s]],
            }
        return out


_KINDS = ("zero_loss", "minimum", "saddle", "not_critical")
#: a "not_critical" end point within this factor of the gradient's rounding floor counts as critical
NEAR_CRITICAL = 1e3


@dataclass
class DegeneracyResult(ExperimentResult):
    """Result of :func:`degeneracy`.

    Attributes
    ----------
    configs : list of ConfigResult
        One per (activation, width, N), in the order run.
    consistent : bool
        Whether every zero-loss point had nullity >= M - N n_out (a theorem:
        False means the measurement failed).
    bezout_exact : int
        Zero-loss points whose nullity equals ``M - N n_out`` exactly.
    zero_loss_points : int
        Zero-loss points in total.
    minima_points : int
        Minima with non-zero loss in total.
    minima_excess : int
        Of those, how many have more null directions than the network's
        continuous symmetries explain (``Nullity.excess > 0``).

    The verdict (:meth:`assess`): "measurement_failure" when a zero-loss point
    had a nullity below M - N n_out; else "mixed" when some minimum with
    non-zero loss had null directions no symmetry explains; else "supported"
    when both claims were tested (zero-loss points and other minima found);
    else "incomplete". Settings, files and the rest of the protocol:
    :class:`~fastland.experiments.ExperimentResult`.
    """

    configs: list
    consistent: bool
    bezout_exact: int
    zero_loss_points: int
    minima_points: int
    minima_excess: int

    TITLE = "Degeneracy of minima: the Bezout argument (seed 003)"
    DATA_FILE = "degeneracy.h5"
    FORMAT = "fastland.degeneracy"
    FORMAT_VERSION = FORMAT_VERSION
    JSON_FILE = "degeneracy.json"
    VERDICT_LABELS = ("supported", "mixed", "incomplete", "measurement_failure")

    def table(self) -> str:
        """Markdown table: one row per configuration."""
        rows = [
            "| act | m | N | M | M-N·k | zero-loss | nullity | rank G | sym | fn-null | gap (dec) "
            "| minima L>0 | nullity | sym | fn-null | excess | gap (dec) | saddle | not crit |",
            "|---|---:|---:|---:|---:|---:|---|---|---|---|---:|---:|---|---|---|---|---:|---:|---:|",
        ]
        for c in self.configs:
            nl = c.nullity
            z, m = c.kind == "zero_loss", c.kind == "minimum"
            rows.append(
                f"| {c.activation} | {c.width} | {c.n_points} | {c.n_params} | {c.bezout} | {int(z.sum())} | "
                f"{_span(nl.nullity[z])} | {_span(nl.rank_gn[z])} | {_span(nl.symmetry[z])} | "
                f"{_span(nl.function_null[z])} | {_min_gap(nl.gap[z])} | {int(m.sum())} | {_span(nl.nullity[m])} | "
                f"{_span(nl.symmetry[m])} | {_span(nl.function_null[m])} | {_span(nl.excess[m])} | "
                f"{_min_gap(nl.gap[m])} | {int((c.kind == 'saddle').sum())} | "
                f"{int((c.kind == 'not_critical').sum())} |"
            )
        return "\n".join(rows)

    def _intro(self) -> str:
        s = self.settings
        return (
            f"Square loss; N inputs uniform in [-1, 1]^{s['dim']}, {s['targets']} targets; "
            f"MLP({s['dim']}, [m], {s['n_out']}, act, 'mse', bias={s['bias']}); {s['runs']} random starts per row, "
            f"Adam ({s['steps']} steps, lr {s['lr']:g}), then Levenberg-Marquardt and Newton polishing; "
            "end points classified by `fastland.critical.classify`.\n\n"
            "Columns: M parameters, M-N·k the seed's lower bound on the nullity at zero loss, 'nullity' the "
            "Hessian's numerical nullity (tolerance M eps ||H|| plus measured error terms), 'rank G' the rank of "
            "the Gauss-Newton matrix, 'sym' the flat directions known symmetries explain "
            "(`fastland.symmetry.flat_directions`), 'fn-null' the directions that leave the network function "
            "unchanged on generic inputs (measured: all continuous symmetries), 'gap' the smallest spectral gap "
            "in decades around the tolerance, 'excess' = nullity - fn-null at minima with non-zero loss (the "
            "seed predicts 0). Ranges are min-max over the points."
        )

    def _summary(self) -> dict:
        return {
            "configs": [c.summary() for c in self.configs],
            "consistent": self.consistent,
            "bezout_exact": self.bezout_exact,
            "zero_loss_points": self.zero_loss_points,
            "minima_points": self.minima_points,
            "minima_excess": self.minima_excess,
        }

    def assess(self) -> Verdict:
        """The verdict on the seed's two claims (class notes)."""
        zl = [(c, i) for c in self.configs for i in np.flatnonzero(c.kind == "zero_loss")]
        mins = [(c, i) for c in self.configs for i in np.flatnonzero(c.kind == "minimum")]
        evidence, checks = [], []
        if zl:
            over = sum(int(c.nullity.nullity[i] > c.bezout) for c, i in zl)
            rank_eq = sum(int(c.nullity.nullity[i] == c.n_params - c.nullity.rank_gn[i]) for c, i in zl)
            beyond = sum(int(c.nullity.excess[i] > 0) for c, i in zl)
            margin = min(int(c.nullity.nullity[i] - c.bezout) for c, i in zl)
            checks.append(
                Check(
                    "zero_loss_nullity",
                    "smallest nullity - (M - N·k) at the zero-loss points",
                    self.consistent,
                    margin,
                    0,
                    ">=",
                )
            )
            detail = (
                "all exactly M - N·k"
                if over == 0
                else f"{self.bezout_exact} exactly M - N·k; {over} more, where the network's functions span fewer "
                "than N·k directions at the data"
            )
            evidence.append(
                f"zero-loss points: {len(zl)}, nullity at least M - N·k at "
                f"{sum(int(c.nullity.nullity[i] >= c.bezout) for c, i in zl)} ({detail}); it equalled "
                f"M - rank(Gauss-Newton) at {rank_eq} and exceeded what the network's symmetries explain at {beyond}; "
                f"smallest spectral gap {min(float(c.nullity.gap[i]) for c, i in zl):.1f} decades"
            )
        missed = []
        for c in self.configs:
            if not np.any(c.kind == "zero_loss"):
                rank = int(c.nullity.rank_gn.max())
                why = f", rank J <= {rank} < N·k at every end point" if rank < c.n_points * c.n_out else ""
                missed.append(f"{c.activation} m={c.width} N={c.n_points}{why}")
        if zl and missed:
            evidence.append("no zero-loss point in: " + "; ".join(missed))
        if mins:
            checks.append(
                Check(
                    "minima_excess",
                    "minima with non-zero loss with null directions beyond the symmetries",
                    self.minima_excess == 0,
                    self.minima_excess,
                    0,
                    "==",
                )
            )
            evidence.append(
                f"minima with non-zero loss: {len(mins)}, non-degenerate modulo the network's continuous symmetries "
                f"(nullity = directions that leave the function unchanged) at {len(mins) - self.minima_excess}; "
                f"smallest spectral gap {min(float(c.nullity.gap[i]) for c, i in mins):.1f} decades"
            )
        tested = [*zl, *mins]
        if tested:
            gap = min(float(c.nullity.gap[i]) for c, i in tested)
            fuzzy = sum(int(c.nullity.gap[i] < 2) for c, i in tested)
            checks.append(
                Check("spectral_gap", "smallest spectral gap around the tolerance (decades)", fuzzy == 0, gap, 2, ">=")
            )
        caveats = []
        if tested and fuzzy:
            caveats.append(
                f"{fuzzy} of these points had a spectral gap under 2 decades around the tolerance: their counts "
                "depend on it and are not sharp"
            )
        if zl and not self.consistent:
            bad = sum(int(c.nullity.nullity[i] < c.bezout) for c, i in zl)
            label = "measurement_failure"
            headline = (
                f"Measurement failure: {bad} of {len(zl)} zero-loss points had a Hessian nullity below M - N·k, "
                "which the theory excludes."
            )
        elif self.minima_excess:
            label = "mixed"
            first = (
                f"zero-loss minima are degenerate as the seed argues ({len(zl)} points)"
                if zl
                else "no run reached zero loss"
            )
            headline = (
                f"Mixed: {first}, but {self.minima_excess} of {len(mins)} minima with non-zero loss had null "
                "directions no symmetry of the network explains."
            )
        elif zl and mins:
            label = "supported"
            headline = (
                f"Supported: all {len(zl)} zero-loss minima are degenerate (nullity >= M - N·k) and all {len(mins)} "
                "minima with non-zero loss are non-degenerate modulo the network's symmetries, as the seed argues."
            )
        else:
            label = "incomplete"
            parts = []
            if zl:
                parts.append(f"all {len(zl)} zero-loss minima are degenerate (nullity >= M - N·k)")
            else:
                parts.append("no run reached zero loss, so the degeneracy of global minima was not measured")
            if mins:
                parts.append(f"all {len(mins)} minima with non-zero loss are non-degenerate modulo symmetries")
            else:
                parts.append("no minimum with non-zero loss was found, so the second claim was not tested")
            headline = "Incomplete: " + "; ".join(parts) + "."
        s = self.settings
        settings = {
            "near_critical": NEAR_CRITICAL,
            "runs": s["runs"],
            "steps": s["steps"],
            "polish_iter": s["polish_iter"],
            "targets": s["targets"],
        }
        return Verdict(label, headline, tuple(evidence), tuple(checks), tuple(caveats), settings)


def _span(a) -> str:
    a = np.asarray(a)
    if a.size == 0:
        return "-"
    lo, hi = int(a.min()), int(a.max())
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def _min_gap(a) -> str:
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        return "-"
    v = float(a.min())
    return "inf" if math.isinf(v) else f"{v:.1f}"


# ------------------------------------------------------------------------------ experiment
def _configs(configs) -> list[tuple[int, int]]:
    out = []
    try:
        for i, pair in enumerate(configs):
            m, n = pair
            out.append((check_int(f"configs[{i}] width", m, 1), check_int(f"configs[{i}] N", n, 1)))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("configs"):
            raise
        raise ValueError(f"configs: expected (width, N) pairs such as ((3, 8), (6, 16)), got {configs!r}") from None
    if not out:
        raise ValueError("configs: expected at least one (width, N) pair")
    return out


@protocol_doc(DegeneracyResult, seed="Data, targets and starts of configuration k use ``default_rng([seed, k])``.")
def degeneracy(
    configs=((2, 4), (3, 8), (4, 12), (6, 16)),
    activations=("quadratic", "tanh", "sigmoid"),
    dim: int = 3,
    n_out: int = 1,
    bias: bool = True,
    targets: str = "random",
    runs: int = 8,
    steps: int = 2000,
    lr: float = 1e-2,
    init_scale: float = 1.0,
    polish_iter: int = 100,
    *,
    seed: int = 0,
    out_dir: str | Path | None = None,
    figures: bool = False,
    progress: bool = False,
    overwrite: bool = False,
) -> DegeneracyResult:
    """Measure the Hessian's nullity at zero-loss minima and at other minima (seed 003).

    Parameters
    ----------
    configs : sequence of (int, int), default ((2, 4), (3, 8), (4, 12), (6, 16))
        (hidden width m, data points N) pairs.
    activations : sequence of str, default ("quadratic", "tanh", "sigmoid")
        Hidden activations ("quadratic" is the polynomial case; "linear" works too).
    dim : int, default 3
        Input dimension.
    n_out : int, default 1
        Outputs per point.
    bias : bool, default True
        Biases in every layer.
    targets : {"random", "teacher"}, default "random"
        Standard normal targets, or the outputs of the same network at random
        normal parameters (zero loss then always exists).
    runs : int, default 8
        Random starts per configuration (normal, standard deviation ``init_scale``).
    steps, lr : int, float
        Adam training before polishing.
    init_scale : float, default 1.0
    polish_iter : int, default 100
        Levenberg-Marquardt iterations (then up to 50 Newton iterations).
    {protocol}

    Returns
    -------
    DegeneracyResult

    Notes
    -----
    ``degeneracy.h5`` has one group per configuration: end points, labels,
    spectra and every :class:`Nullity` field. Figures: the Hessian spectra
    (|eigenvalue| against index, the tolerance marked) per configuration.
    """
    pairs = _configs(configs)
    acts = list(activations)
    if not acts:
        raise ValueError("activations: expected at least one activation")
    for a in acts:
        check_choice("activations", a, tuple(ACTIVATIONS))
    dim = check_int("dim", dim, 1)
    n_out = check_int("n_out", n_out, 1)
    check_choice("targets", targets, ("random", "teacher"))
    runs = check_int("runs", runs, 1)
    steps = check_int("steps", steps, 1)
    lr = check_positive("lr", lr)
    init_scale = check_positive("init_scale", init_scale)
    polish_iter = check_int("polish_iter", polish_iter, 0)
    seed = check_seed(seed)
    say(progress)  # checks it; the progress bars are train's
    spectra = [_spectrum_name(a, m, N) for a in acts for m, N in pairs]
    out = DegeneracyResult.claim(out_dir, figures, overwrite, figure_names=spectra)  # before the computation
    results = []
    k = 0
    for act in acts:
        for m, N in pairs:
            rng = np.random.default_rng([seed, k])
            k += 1
            net = MLP(dim, [m], n_out, activation=act, loss="mse", bias=bias)
            X = rng.uniform(-1.0, 1.0, size=(N, dim))
            if targets == "random":
                y = rng.normal(size=(N, n_out))
            else:
                y = net.predict(rng.normal(0.0, init_scale, size=net.n_params), X)
            land = Landscape(net, Dataset(X, y if n_out > 1 else y.ravel()))
            starts = rng.normal(0.0, init_scale, size=(runs, net.n_params))
            fit = train(land, starts, optimizer="adam", lr=lr, steps=steps, seed=seed, progress=progress)
            W = np.where(np.isfinite(fit.params).all(axis=1)[:, None], fit.params, starts)
            W = _lm_polish(land, W, polish_iter)
            W = critical.refine(land, W, method="newton", max_iter=50).points
            cls = critical.classify(land, W, global_loss=0.0)
            label = np.asarray(cls.label, dtype=str)
            nl = hessian_nullity(land, W, zero_loss=label == "global_min", seed=seed)
            kind = np.full(runs, "not_critical", dtype=object)
            kind[label == "global_min"] = "zero_loss"
            kind[np.isin(label, ("local_min", "degenerate"))] = "minimum"
            # Newton stalls short of the rounding floor on some degenerate minima: within
            # NEAR_CRITICAL times the floor and without negative curvature they count as minima
            near = (label == "not_critical") & (cls.grad_ratio <= NEAR_CRITICAL)
            near &= nl.eigenvalues[:, 0] >= -nl.tol
            near &= nl.tol <= np.sqrt(np.finfo(float).eps) * nl.hessian_norm  # close enough to resolve the nullity
            kind[near] = "minimum"
            kind[label == "strict_saddle"] = "saddle"
            results.append(
                ConfigResult(
                    activation=act,
                    width=m,
                    n_points=N,
                    n_params=net.n_params,
                    n_out=n_out,
                    bezout=net.n_params - N * n_out,
                    points=W,
                    loss=np.asarray(cls.loss, dtype=float),
                    label=label,
                    kind=kind.astype(str),
                    nullity=nl,
                )
            )
    settings = {
        "configs": [list(p) for p in pairs],
        "activations": acts,
        "dim": dim,
        "n_out": n_out,
        "bias": bool(bias),
        "targets": targets,
        "runs": runs,
        "steps": steps,
        "lr": lr,
        "init_scale": init_scale,
        "polish_iter": polish_iter,
        "seed": seed,
    }
    zl = [(c, i) for c in results for i in np.flatnonzero(c.kind == "zero_loss")]
    mins = [(c, i) for c in results for i in np.flatnonzero(c.kind == "minimum")]
    consistent = all(c.nullity.nullity[i] >= c.bezout for c, i in zl)
    exact = sum(int(c.nullity.nullity[i] == c.bezout) for c, i in zl)
    excess = sum(int(c.nullity.excess[i] > 0) for c, i in mins)
    result = DegeneracyResult(
        configs=results,
        consistent=consistent,
        bezout_exact=exact,
        zero_loss_points=len(zl),
        minima_points=len(mins),
        minima_excess=excess,
        settings=settings,
    )
    result.save(
        out,
        overwrite,
        fill=lambda f: _fill_h5(f, result),
        figures=(lambda: _figures(result, out, overwrite)) if figures else None,
    )
    return result


def _spectrum_name(activation: str, width: int, n_points: int) -> str:
    return f"spectrum_{activation}_m{width}_N{n_points}.png"


def _fill_h5(f, result: DegeneracyResult) -> None:
    for c in result.configs:
        g = f.create_group(f"{c.activation}_m{c.width}_N{c.n_points}")
        for key in ("activation", "width", "n_points", "n_params", "n_out", "bezout"):
            g.attrs[key] = getattr(c, key)
        g["points"], g["loss"] = c.points, c.loss
        g["label"] = c.label.astype("S")
        g["kind"] = c.kind.astype("S")
        nl = c.nullity
        for key in ("nullity", "tol", "gap", "hessian_norm", "rank_gn", "symmetry", "function_null", "eigenvalues"):
            g[key] = getattr(nl, key)


def _figures(result: DegeneracyResult, out: Path, overwrite: bool) -> list[str]:
    files = []
    for c in result.configs:
        nl = c.nullity
        ok = np.isin(c.kind, ("zero_loss", "minimum"))
        if not ok.any():
            continue
        idx = np.arange(1, c.n_params + 1)
        ys = {}
        for i in np.flatnonzero(ok)[:4]:
            ev = np.sort(np.abs(nl.eigenvalues[i]))
            ys[f"run {i} ({c.kind[i]}, nullity {nl.nullity[i]})"] = np.maximum(ev, 1e-300)
        first = int(np.flatnonzero(ok)[0])
        ys[f"tolerance (run {first})"] = np.full(c.n_params, nl.tol[first])
        title = f"{c.activation}, m={c.width}, N={c.n_points}, M={c.n_params}, M-N·k={c.bezout}"
        name = _spectrum_name(c.activation, c.width, c.n_points)
        files.append(
            save_series(
                out, name, overwrite, idx, ys, "eigenvalue index (by |lambda|)", "|eigenvalue|", logy=True, title=title
            )
        )
    return files
