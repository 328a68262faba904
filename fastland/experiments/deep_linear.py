"""Deep linear networks with weight decay (seed 002, "Exact Solutions of a Deep Linear Network").

Ziyin, Li & Meng (NeurIPS 2022) found the global minima of deep linear networks
with weight decay in closed form and showed that zero is special: with more
than one hidden layer, weight decay makes ``w = 0`` a local minimum, a bad one
when it is not global. :func:`deep_linear` checks this numerically with
fastland's exact derivatives.

Model
-----
``MLP(d, [h] * D, 1, activation="linear", loss="mse", bias=False)`` with ``D``
hidden layers, so ``L = D + 1`` weight matrices and output ``f(x) = W_L ... W_1 x
= m . x``, and

    U(w) = (1/N) sum_n (m . x_n - y_n)^2 + (lambda/2) sum_k |W_k|_F^2
         = m^T S m - 2 c . m + <y^2> + (lambda/2) sum_k |W_k|_F^2,

with ``S = X^T X / N``, ``c = X^T y / N`` and ``<y^2>`` the mean of ``y^2``.

Reduction to the product (any depth)
------------------------------------
For a given product ``m`` (a 1 x d matrix: rank one), the smallest total
squared norm of factors ``W_L ... W_1 = m`` is ``L |m|^(2/L)`` (AM-GM on the
layer norms, whose product is at least ``|m|``; equality for the balanced
rank-one chain ``W_1 = t^(1/L) u_1 mhat^T``, ``W_k = t^(1/L) u_k u_(k-1)^T``,
``W_L = t^(1/L) u_(L-1)^T`` with unit vectors ``u_k`` and ``t = |m|``). Hence
the global minimum of U is the minimum over ``m`` of

    R_L(m) = m^T S m - 2 c . m + <y^2> + (lambda L / 2) |m|^(2/L).

Its stationary points with ``m != 0`` satisfy ``(S + mu I) m = c`` with
``mu = (lambda/2) t^(2/L - 2)``, ``t = |m|``: in the eigenbasis of ``S``
(eigenvalues ``s_i``, components ``c_i`` of ``c``) ``t`` solves the scalar
equation ``sum_i c_i^2 / (s_i + mu(t))^2 = t^2``.

One hidden layer (L = 2): the closed form
-----------------------------------------
Here ``R_2(m) = m^T S m - 2 c . m + <y^2> + lambda |m|`` is convex. Its
subgradient at 0 is ``-2c + lambda B`` (B the unit ball), so ``m = 0`` is the
global minimum iff ``lambda >= 2 |c|``. Otherwise the unique minimiser is

    m* = (S + lambda/(2 t) I)^-1 c,   where t > 0 solves  sum_i c_i^2 / (s_i t + lambda/2)^2 = 1

(the left side decreases strictly in ``t`` from ``4|c|^2/lambda^2 > 1``: one
root), with ``U* = <y^2> - 2 c . m* + m*^T S m* + lambda t``. For whitened inputs
(``S = s I``) it is fully explicit: ``t = (|c| - lambda/2) / s``, ``m* = t c/|c|``,
``U* = <y^2> - (|c| - lambda/2)^2 / s``. The weights are ``W_1 = sqrt(t) u mhat^T``,
``W_2 = sqrt(t) u^T`` (any unit ``u``; the hidden-layer rotations are the
remaining symmetry).

The Hessian at w = 0
--------------------
The data term is a polynomial in the weights whose terms have degree ``L``
(``-2 c . m``) and ``2L`` (``m^T S m``). For ``L >= 3`` neither contributes a
second derivative at 0, so ``H(0) = lambda I``: for every ``lambda > 0`` the
origin is a strict local minimum. For ``L = 2`` the bilinear term couples
``W_1[j, i]`` and ``W_2[k, j]`` with ``d^2 U = -2 C[k, i]`` (``C = Y^T X / N``), so
per hidden unit ``H(0)`` has the eigenvalues ``lambda +- 2 sigma(C)`` and
``lambda``: the origin is a local minimum iff ``lambda > 2 |c|``, exactly when it
is the global one (no bad minimum at zero). For ``L >= 3`` the origin is
global iff ``lambda >= lambda*_L``, the weight decay at which the smallest
non-zero stationary value of ``R_L`` reaches ``<y^2>`` (found by bisection);
below it ``w = 0`` is a bad local minimum.

Protocol
--------
For every depth and weight decay: ``runs`` starts (normal, standard deviations
log-spaced from ``init_scales[0]`` to ``init_scales[1]``) are trained with Adam
and refined with :func:`fastland.critical.refine` (``method="newton"``); the
lowest loss over the runs that are minima -- converged, or with a gradient
max-norm below 1e-9 times max(1, the largest Hessian eigenvalue) (without
weight decay the minima are degenerate and Newton's own tolerance is not
reached), and smallest Hessian eigenvalue above ``-1e-8`` times that scale --
is the numerical global minimum,
compared with the theory above. The share of runs ending at ``w = 0`` (max
``|w| <= 1e-6``) and the Hessian at 0 (computed and hand-derived) are recorded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from .. import critical
from .._validate import check_int, check_positive
from ..data import Dataset
from ..landscape import Landscape
from ..model import MLP
from ..train import train
from ._files import save_series
from ._result import Check, ExperimentResult, Section, Verdict, check_seed, pick, protocol_doc, say

__all__ = ["DeepLinearResult", "deep_linear", "hessian_at_zero", "theory_minimum"]

FORMAT_VERSION = 1
_FIGURES = ("deep_linear_loss.png", "deep_linear_zero.png")
_ZERO = 1e-6
#: the per-weight-decay numbers of a DepthResult (besides m_found, m_theory, the booleans and final_loss)
_COLUMNS = (
    "loss_found",
    "loss_theory",
    "m_error",
    "share_global",
    "share_zero",
    "zero_min_eig",
    "zero_min_eig_theory",
    "zero_hessian_error",
)


# --------------------------------------------------------------------------- theory
def _moments(data: Dataset) -> tuple[np.ndarray, np.ndarray, float]:
    X = np.asarray(data.X, dtype=float)
    y = np.asarray(data.y, dtype=float).reshape(X.shape[0], -1)
    N = X.shape[0]
    return X.T @ X / N, y.T @ X / N, float(np.sum(y * y) / N)


def hessian_at_zero(net: MLP, data: Dataset, weight_decay: float) -> np.ndarray:
    """The hand-derived Hessian of U at w = 0 for a bias-free linear MLP with square loss.

    ``lambda I`` plus, for one hidden layer only, ``-2 C[k, i]`` between
    ``W_1[j, i]`` and ``W_2[k, j]`` (``C = Y^T X / N``); see the module notes.

    Parameters
    ----------
    net : MLP
        Linear activation, loss "mse", no biases.
    data : Dataset
    weight_decay : float

    Returns
    -------
    ndarray, shape (p, p)
    """
    if net.activation != "linear" or net.loss != "mse" or net.bias:
        raise ValueError("net: expected a bias-free MLP with activation 'linear' and loss 'mse'")
    _, C, _ = _moments(data)
    p = net.n_params
    H = np.eye(p) * float(weight_decay)
    if len(net.hidden) == 1:
        d, h, o = net.n_in, net.hidden[0], net.n_out
        for j in range(h):
            for i in range(d):
                for k in range(o):
                    a, b = j * d + i, h * d + k * h + j
                    H[a, b] += -2.0 * C[k, i]
                    H[b, a] += -2.0 * C[k, i]
    return H


@dataclass
class Theory:
    """The global minimum of the reduced problem R_L (module notes).

    Attributes
    ----------
    loss : float
        U* = min over m of R_L(m) (the global minimum of the network's U).
    m : ndarray, shape (d,)
        The end-to-end weights m* (zeros when the origin is global).
    t : float
        |m*|.
    zero_is_global : bool
    stationary : list of float
        The norms t > 0 of all non-zero stationary points found.
    """

    loss: float
    m: np.ndarray
    t: float
    zero_is_global: bool
    stationary: list


def _reduced(m, S, c, yy, lam, L) -> float:
    return float(m @ S @ m - 2 * c @ m + yy + 0.5 * lam * L * np.linalg.norm(m) ** (2.0 / L))


def theory_minimum(data: Dataset, depth: int, weight_decay: float, grid: int = 4000) -> Theory:
    """Global minimum of a depth-``depth`` linear network with weight decay, by the reduction.

    Parameters
    ----------
    data : Dataset
        One target per point.
    depth : int
        Hidden layers D (L = D + 1 weight matrices).
    weight_decay : float
        lambda >= 0.
    grid : int, default 4000
        Log-spaced points in t on which sign changes of the stationarity
        equation are searched for (L >= 3); each is then solved by Brent's
        method. For L = 2 the root is unique and bracketed directly.

    Returns
    -------
    Theory
    """
    S, C, yy = _moments(data)
    if C.shape[0] != 1:
        raise ValueError("data: the closed form is for one output (y of shape (N,))")
    c = C[0]
    L = int(depth) + 1
    lam = float(weight_decay)
    s, U = np.linalg.eigh(S)
    cr = U.T @ c
    if lam == 0.0:
        m = np.linalg.lstsq(S, c, rcond=None)[0]
        return Theory(_reduced(m, S, c, yy, 0.0, L), m, float(np.linalg.norm(m)), False, [float(np.linalg.norm(m))])

    def m_of(t):
        mu = 0.5 * lam * t ** (2.0 / L - 2.0)
        return U @ (cr / (s + mu))

    cn = float(np.linalg.norm(c))
    if cn == 0.0:
        return Theory(yy, np.zeros_like(c), 0.0, True, [])
    t_hi = float(np.linalg.norm(np.linalg.lstsq(S, c, rcond=None)[0])) * (1 + 1e-9)
    roots = []
    if L == 2:
        if 2 * cn > lam:

            def g2(t):
                return float(np.sum(cr**2 / (s * t + 0.5 * lam) ** 2) - 1.0)

            roots = [brentq(g2, 0.0, t_hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)]
    else:
        ts = np.geomspace(t_hi * 1e-10, t_hi, grid)
        mu = 0.5 * lam * ts ** (2.0 / L - 2.0)
        G = np.sqrt(np.sum(cr[None] ** 2 / (s[None] + mu[:, None]) ** 2, axis=1)) / ts - 1.0

        def gl(t):
            mu_t = 0.5 * lam * t ** (2.0 / L - 2.0)
            return float(np.sqrt(np.sum(cr**2 / (s + mu_t) ** 2)) / t - 1.0)

        for i in np.flatnonzero(np.sign(G[:-1]) * np.sign(G[1:]) < 0):
            roots.append(brentq(gl, ts[i], ts[i + 1], xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))
    best_m, best = np.zeros_like(c), yy
    for t in roots:
        m = m_of(t)
        val = _reduced(m, S, c, yy, lam, L)
        if val < best:
            best, best_m = val, m
    return Theory(float(best), best_m, float(np.linalg.norm(best_m)), not np.any(best_m), [float(t) for t in roots])


def zero_threshold(data: Dataset, depth: int, lam_max: float | None = None) -> float:
    """The weight decay lambda*_L from which w = 0 is a global minimum (module notes).

    2 |c| for one hidden layer; by bisection on the reduced problem otherwise.
    """
    _, C, _ = _moments(data)
    cn = float(np.linalg.norm(C[0]))
    if depth == 1:
        return 2.0 * cn
    lo, hi = 0.0, 4.0 * cn if lam_max is None else float(lam_max)
    while not theory_minimum(data, depth, hi).zero_is_global:
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if theory_minimum(data, depth, mid).zero_is_global:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


# -------------------------------------------------------------------------- results
@dataclass
class DepthResult:
    """One depth of :func:`deep_linear`; arrays over the weight decays.

    Attributes
    ----------
    depth : int
        Hidden layers D.
    n_params : int
    loss_found : ndarray
        Lowest loss over the refined runs that are minima (NaN if none).
    loss_theory : ndarray
        U* of the reduction (the closed form for D = 1).
    m_found, m_theory : ndarray, shape (n_wd, d)
        End-to-end weights of the best run and of the theory.
    m_error : ndarray
        |m_found - m_theory| (NaN where the theory's minimum is not unique up
        to the hidden symmetries, never here: it is unique when m* != 0).
    share_global : ndarray
        Share of runs whose refined loss is within 1e-9 (1 + |U*|) of U*.
    share_zero : ndarray
        Share of runs that ended at w = 0 (max |w| <= 1e-6).
    zero_min_eig : ndarray
        Smallest eigenvalue of the computed Hessian at w = 0.
    zero_min_eig_theory : ndarray
        The hand-derived value: lambda - 2 |c| (D = 1) or lambda (D >= 2).
    zero_hessian_error : ndarray
        max |H(0) computed - hand-derived|.
    zero_is_local_min : ndarray of bool
        zero_min_eig > 0: a strict local minimum by the second-order test
        (False where H(0) is singular, as at lambda = 0 with two or more
        hidden layers, where second order cannot decide).
    zero_is_global : ndarray of bool
        From the theory.
    threshold : float
        lambda*: from here on w = 0 is the global minimum.
    final_loss : ndarray, shape (n_wd, runs)
        Refined loss of every run.
    """

    depth: int
    n_params: int
    loss_found: np.ndarray
    loss_theory: np.ndarray
    m_found: np.ndarray
    m_theory: np.ndarray
    m_error: np.ndarray
    share_global: np.ndarray
    share_zero: np.ndarray
    zero_min_eig: np.ndarray
    zero_min_eig_theory: np.ndarray
    zero_hessian_error: np.ndarray
    zero_is_local_min: np.ndarray
    zero_is_global: np.ndarray
    threshold: float
    final_loss: np.ndarray


@dataclass
class DeepLinearResult(ExperimentResult):
    """Result of :func:`deep_linear`.

    Attributes
    ----------
    weight_decay : ndarray
        The weight decays, in increasing order.
    depths : list of DepthResult
    loss_at_zero : float
        U(0) = <y^2>.
    c_norm : float
        |c| = |X^T y / N|; 2 |c| is the one-hidden-layer threshold.

    The verdict (:meth:`assess`): "mismatch" when the numerical global minima
    of some depth do not match the theory (or a run went below it), or w = 0
    was a bad local minimum with one hidden layer; else "confirmed" when w = 0
    is a bad local minimum at some weight decay with two or more hidden
    layers, as the paper says; else "not_shown" (no such weight decay in the
    sweep). Settings, files and the rest of the protocol:
    :class:`~fastland.experiments.ExperimentResult`.
    """

    weight_decay: np.ndarray
    depths: list
    loss_at_zero: float
    c_norm: float

    TITLE = "Deep linear networks with weight decay (seed 002)"
    DATA_FILE = "deep_linear.h5"
    FORMAT = "fastland.deep_linear"
    FORMAT_VERSION = FORMAT_VERSION
    JSON_FILE = "deep_linear.json"
    VERDICT_LABELS = ("confirmed", "not_shown", "mismatch")

    def __getitem__(self, depth: int) -> DepthResult:
        return pick(self.depths, "depth", depth, "depth")

    def table(self) -> str:
        """A markdown table: one row per depth and weight decay."""
        rows = [
            "| depth | weight decay | U found | U theory | abs diff | zero: min eig H(0) | zero local min "
            "| zero global | runs at zero | runs global |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for d in self.depths:
            for i, lam in enumerate(self.weight_decay):
                diff = abs(d.loss_found[i] - d.loss_theory[i])
                rows.append(
                    f"| {d.depth} | {lam:.4g} | {d.loss_found[i]:.10g} | {d.loss_theory[i]:.10g} | {diff:.2e} | "
                    f"{d.zero_min_eig[i]:.4g} | {'yes' if d.zero_is_local_min[i] else 'no'} | "
                    f"{'yes' if d.zero_is_global[i] else 'no'} | {d.share_zero[i]:.2f} | {d.share_global[i]:.2f} |"
                )
        return "\n".join(rows)

    def _intro(self) -> str:
        s = self.settings
        return (
            f"Data: {s['n']} points in {s['n_in']} dimensions, hidden width {s['width']}; "
            f"U(0) = {self.loss_at_zero:.6g}, |c| = {self.c_norm:.6g}; {s['runs']} runs per cell "
            f"(Adam, {s['steps']} steps, then Newton)."
        )

    def sections(self) -> list[Section]:
        """The weight decay from which w = 0 is the global minimum, per depth."""
        thr = ", ".join(f"D = {d.depth}: {d.threshold:.4g}" for d in self.depths)
        return [Section("", f"Weight decay from which w = 0 is the global minimum (theory): {thr}.")]

    def _summary(self) -> dict:
        arrays = (*_COLUMNS, "m_found", "m_theory", "zero_is_local_min", "zero_is_global", "final_loss")
        return {
            "weight_decay": self.weight_decay,
            "loss_at_zero": self.loss_at_zero,
            "c_norm": self.c_norm,
            "depths": [
                {"depth": d.depth, "n_params": d.n_params, "threshold": d.threshold}
                | {k: getattr(d, k) for k in arrays}
                for d in self.depths
            ],
        }

    def assess(self) -> Verdict:
        """The verdict: do the numerical minima match the theory, and is w = 0 a bad minimum? (class notes)."""
        wds, cn = self.weight_decay, self.c_norm
        evidence, checks, mismatch = [], [], False
        for d in self.depths:
            diff = np.abs(d.loss_found - d.loss_theory)
            worst = float(np.nanmax(diff)) if np.any(np.isfinite(diff)) else math.nan
            below = int(np.sum(d.loss_found < d.loss_theory - 1e-9 * (1 + np.abs(d.loss_theory))))
            tol = 1e-8 * (1 + float(np.max(np.abs(d.loss_theory))))
            match = worst <= tol
            checks.append(
                Check(f"depth_{d.depth}_match", f"depth {d.depth}: largest |U found - U*|", match, worst, tol, "<=")
            )
            checks.append(
                Check(
                    f"depth_{d.depth}_below",
                    f"depth {d.depth}: weight decays where a run went below the theory",
                    below == 0,
                    below,
                    0,
                    "==",
                )
            )
            mismatch |= not match or below > 0
            s = f"depth {d.depth}: the numerical global minima {'match' if match else 'do not match'} the theory"
            s += f" (largest |U found - U*| {worst:.1e})"
            if below:
                s += f"; {below} found below the theory, which would contradict it"
            bad = d.zero_is_local_min & ~d.zero_is_global
            if d.depth == 1:
                agree = bool(np.all(d.zero_is_local_min == (wds > 2 * cn)))
                checks.append(
                    Check(
                        "depth_1_zero",
                        "depth 1: w = 0 is a local minimum exactly for weight decay above 2|c|, as derived",
                        agree,
                    )
                )
                mismatch |= not agree or bool(bad.any())
                s += (
                    f"; w = 0 is a local minimum only for weight decay above 2|c| = {2 * cn:.3g}, where it is also "
                    f"global ({'as derived' if agree else 'NOT as derived'})"
                )
            else:
                checks.append(
                    Check(
                        f"depth_{d.depth}_bad_zero",
                        f"depth {d.depth}: weight decays where w = 0 is a local but not the global minimum",
                        bool(bad.any()),
                        int(bad.sum()),
                        0,
                        ">",
                    )
                )
                s += (
                    f"; w = 0 is a local minimum at {int(d.zero_is_local_min.sum())} of {wds.size} weight decays "
                    f"(H(0) = lambda I), global only from lambda* = {d.threshold:.3g}"
                )
                if bad.any():
                    trapped = float(np.mean(d.share_zero[bad]))
                    s += (
                        f", so below that it is a bad local minimum (at {int(bad.sum())} of the weight decays; "
                        f"{trapped:.0%} of the runs ended there)"
                    )
            evidence.append(s)
        deep_bad = any((d.zero_is_local_min & ~d.zero_is_global).any() for d in self.depths if d.depth >= 2)
        diffs = [np.abs(d.loss_found - d.loss_theory) for d in self.depths]
        worst_all = max((float(np.nanmax(x)) for x in diffs if np.any(np.isfinite(x))), default=math.nan)
        if mismatch:
            label = "mismatch"
            headline = (
                "Mismatch: the numerical minima do not agree with the theory everywhere "
                f"(largest |U found - U*| {worst_all:.1e}); train longer or check the runs."
            )
        elif deep_bad:
            label = "confirmed"
            headline = (
                "Confirmed, as the paper says: weight decay makes w = 0 a bad local minimum with more than one "
                f"hidden layer, never with one (numerical minima match the theory to {worst_all:.1e})."
            )
        else:
            label = "not_shown"
            headline = (
                "Not shown: the numerical minima match the theory, but no weight decay of the sweep makes w = 0 "
                "a bad local minimum (needs two or more hidden layers and weight decays below lambda*)."
            )
        caveats = []
        if any(d.depth >= 2 and np.any(d.zero_min_eig <= 0) for d in self.depths):
            caveats.append(
                "where H(0) is singular (weight decay 0 with two or more hidden layers) second order cannot decide "
                "whether w = 0 is a minimum; it counts as not one"
            )
        settings = {
            "match_tol": "1e-8 (1 + max |U*|)",
            "zero_radius": _ZERO,
            "runs": self.settings["runs"],
            "steps": self.settings["steps"],
        }
        return Verdict(label, headline, tuple(evidence), tuple(checks), tuple(caveats), settings)


# ------------------------------------------------------------------------ experiment
def _data(n: int, n_in: int, noise: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    teacher = rng.standard_normal(n_in)
    y = X @ teacher + noise * rng.standard_normal(n)
    return Dataset(X, y)


def _product(net: MLP, W: np.ndarray) -> np.ndarray:
    """End-to-end weights m (B, d) of a bias-free linear network."""
    out = None
    for Wk, _ in net.unflatten(W):
        out = Wk if out is None else Wk @ out
    return out[:, 0, :]


@protocol_doc(DeepLinearResult, seed="It draws the data (unless given) and the starts.")
def deep_linear(
    depths=(1, 2, 3),
    weight_decay=None,
    width: int = 2,
    n_in: int = 2,
    n: int = 40,
    noise: float = 0.3,
    runs: int = 12,
    steps: int = 3000,
    lr: float = 0.01,
    init_scales: tuple[float, float] = (0.05, 1.5),
    data: Dataset | None = None,
    *,
    seed: int = 0,
    out_dir=None,
    figures: bool = False,
    progress: bool = False,
    overwrite: bool = False,
) -> DeepLinearResult:
    """Find the global minima of deep linear networks with weight decay and test w = 0.

    Parameters
    ----------
    depths : sequence of int, default (1, 2, 3)
        Numbers of hidden layers D.
    weight_decay : sequence of float, optional
        The weight decays lambda >= 0. Default: 8 values log-spaced from 0.02
        to 1.5 times 2 |c| (the one-hidden-layer threshold), so the sweep
        crosses the thresholds of every depth.
    width : int, default 2
        Width of every hidden layer.
    n_in, n, noise : int, int, float
        Data: ``n`` standard normal inputs in ``n_in`` dimensions, targets from
        a random linear teacher plus Gaussian noise of standard deviation
        ``noise`` (ignored when ``data`` is given).
    runs : int, default 12
        Starts per depth and weight decay.
    steps, lr : int, float
        Adam before the Newton refinement.
    init_scales : (float, float)
        Standard deviations of the normal starts, log-spaced over the runs.
    data : Dataset, optional
        Use these data (one target per point) instead.
    {protocol}

    Returns
    -------
    DeepLinearResult

    Notes
    -----
    Figures: the loss at the found minima and the theory's against weight decay
    per depth, and the smallest Hessian eigenvalue at 0.
    """
    depths = [check_int("depths", d, 1) for d in depths]
    if not depths:
        raise ValueError("depths: expected at least one depth")
    width = check_int("width", width, 1)
    runs = check_int("runs", runs, 1)
    steps = check_int("steps", steps, 1)
    lr = check_positive("lr", lr)
    seed = check_seed(seed)
    log = say(progress)
    if data is None:
        data = _data(check_int("n", n, 2), check_int("n_in", n_in, 1), check_positive("noise", noise, True), seed)
    elif not isinstance(data, Dataset) or np.asarray(data.y).reshape(data.n, -1).shape[1] != 1:
        raise ValueError("data: expected a fastland.Dataset with one target per point")
    S, C, yy = _moments(data)
    cn = float(np.linalg.norm(C[0]))
    if weight_decay is None:
        wds = np.geomspace(0.02, 1.5, 8) * 2 * cn
    else:
        wds = np.sort(np.array([check_positive("weight_decay", w, True) for w in np.ravel(weight_decay)]))
        if wds.size == 0:
            raise ValueError("weight_decay: expected at least one value")
    lo, hi = (check_positive("init_scales", s) for s in init_scales)
    scales = np.geomspace(lo, hi, runs)
    out = DeepLinearResult.claim(out_dir, figures, overwrite, figure_names=_FIGURES)  # before the computation
    settings = {
        "depths": depths,
        "weight_decay": wds.tolist(),
        "width": width,
        "n_in": data.dim,
        "n": data.n,
        "noise": noise,
        "runs": runs,
        "steps": steps,
        "lr": lr,
        "init_scales": [lo, hi],
        "seed": seed,
    }
    t0 = time.perf_counter()
    results = []
    for D in depths:
        net = MLP(data.dim, [width] * D, 1, activation="linear", loss="mse", bias=False)
        p = net.n_params
        rng = np.random.default_rng([seed, D])
        starts = rng.standard_normal((runs, p)) * scales[:, None]
        k = wds.size
        cols = {name: np.full(k, np.nan) for name in _COLUMNS}
        m_found = np.full((k, data.dim), np.nan)
        m_theory = np.zeros((k, data.dim))
        zlm = np.zeros(k, dtype=bool)
        zg = np.zeros(k, dtype=bool)
        final = np.full((k, runs), np.nan)
        for i, lam in enumerate(wds):
            land = Landscape(net, data, weight_decay=float(lam))
            fit = train(land, starts, optimizer="adam", lr=lr, steps=steps, seed=seed, progress=False)
            ok = np.isfinite(fit.params).all(axis=1)
            P = np.where(ok[:, None], fit.params, 0.0)
            ref = critical.refine(land, P, method="newton")
            Hs = land.hessian(ref.points)
            ev = np.linalg.eigvalsh(Hs)
            hmax = np.maximum(np.abs(ev).max(axis=1), 1.0)
            critical_pt = ref.converged | (ref.grad_norm <= 1e-9 * hmax)  # degenerate minima (lambda = 0)
            is_min = critical_pt & (ev[:, 0] >= -1e-8 * hmax)
            final[i] = ref.loss
            th = theory_minimum(data, D, float(lam))
            cols["loss_theory"][i] = th.loss
            m_theory[i] = th.m
            zg[i] = th.zero_is_global
            if is_min.any():
                b = np.flatnonzero(is_min)[np.argmin(ref.loss[is_min])]
                cols["loss_found"][i] = ref.loss[b]
                m_found[i] = _product(net, ref.points[b : b + 1])[0]
                cols["m_error"][i] = float(np.linalg.norm(m_found[i] - th.m))
            cols["share_global"][i] = float(np.mean(np.abs(ref.loss - th.loss) <= 1e-9 * (1 + abs(th.loss))))
            cols["share_zero"][i] = float(np.mean(np.abs(ref.points).max(axis=1) <= _ZERO))
            H0 = land.hessian(np.zeros(p))
            cols["zero_min_eig"][i] = float(np.linalg.eigvalsh(H0)[0])
            cols["zero_min_eig_theory"][i] = (
                float(lam - 2 * np.linalg.svd(C, compute_uv=False)[0]) if D == 1 else float(lam)
            )
            cols["zero_hessian_error"][i] = float(np.abs(H0 - hessian_at_zero(net, data, float(lam))).max())
            zlm[i] = cols["zero_min_eig"][i] > 0
        results.append(
            DepthResult(
                depth=D,
                n_params=p,
                m_found=m_found,
                m_theory=m_theory,
                zero_is_local_min=zlm,
                zero_is_global=zg,
                threshold=zero_threshold(data, D),
                final_loss=final,
                **cols,
            )
        )
        log(f"deep_linear: depth {D} done ({time.perf_counter() - t0:.1f} s)")
    settings["seconds"] = time.perf_counter() - t0
    result = DeepLinearResult(weight_decay=wds, depths=results, loss_at_zero=yy, c_norm=cn, settings=settings)
    result.save(
        out,
        overwrite,
        fill=lambda f: _fill_h5(f, result, data),
        figures=(lambda: _figures(result, out, overwrite)) if figures else None,
    )
    return result


def _fill_h5(f, result: DeepLinearResult, data: Dataset) -> None:
    f.attrs["loss_at_zero"] = result.loss_at_zero
    f.attrs["c_norm"] = result.c_norm
    f.create_dataset("weight_decay", data=result.weight_decay)
    f.create_dataset("X", data=np.asarray(data.X))
    f.create_dataset("y", data=np.asarray(data.y))
    for d in result.depths:
        g = f.create_group(f"depth_{d.depth}")
        g.attrs["depth"] = d.depth
        g.attrs["threshold"] = d.threshold
        for name in (*_COLUMNS, "m_found", "m_theory", "final_loss"):
            g.create_dataset(name, data=getattr(d, name))
        for name in ("zero_is_local_min", "zero_is_global"):
            g.create_dataset(name, data=getattr(d, name).astype(np.int8))


def _figures(result: DeepLinearResult, out: Path, overwrite: bool) -> list[str]:
    wd = result.weight_decay
    ys = {}
    for d in result.depths:  # (found, theory) pairs: dots and a dashed line of one colour
        ys[f"D = {d.depth} found"] = d.loss_found
        ys[f"D = {d.depth} theory"] = d.loss_theory
    logx = bool(wd.min() > 0 and wd.max() / wd.min() > 20)
    zero = {f"D = {d.depth}": d.zero_min_eig for d in result.depths}
    return [
        save_series(out, _FIGURES[0], overwrite, wd, ys, "weight decay", "loss at the global minimum", logx=logx,
                    pairs=True, reference={"U(0)": np.full(wd.size, result.loss_at_zero)},
                    title="Deep linear networks: found minima (dots) and theory (dashed)"),
        save_series(out, _FIGURES[1], overwrite, wd, zero, "weight decay", "smallest Hessian eigenvalue at w = 0",
                    title="Is w = 0 a local minimum?"),
    ]  # fmt: skip
