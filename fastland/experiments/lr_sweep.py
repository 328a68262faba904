"""Seed 002's "Where do large learning rates lead us?": a learning-rate sweep with sharpness.

The same starts are trained by full-batch gradient descent at every learning
rate of a grid; where each lands is described by its loss, its sharpness
(:func:`fastland.sharpness.sharpness`: top Hessian eigenvalue, trace, SAM's
worst-case increase within ``rho``) and the minimum it reaches after
fine-tuning with a small learning rate (the protocol of Sadrtdinov et al.,
NeurIPS 2024: train with the initial rate, then fine-tune small).

Two facts give the numbers a reference:

- *Linear stability.* A fixed point ``w*`` of ``w <- w - lr grad U(w)`` is
  stable only if every Hessian eigenvalue lies in ``[0, 2/lr]`` (the linearised
  map is ``I - lr H``). Runs that converge therefore end at points with
  ``top_eig <= 2/lr``; ``stable_ok`` checks this for every converged run.
- *Edge of stability* (Cohen et al. 2021). Runs that keep moving at a large
  rate often hover with ``top_eig`` close to ``2/lr``; ``edge_ratio = top_eig *
  lr / 2`` is 1 there.

Basins: after fine-tuning (``fine_steps`` of GD at ``fine_lr``), the end
points are mapped to a canonical form modulo hidden-unit permutations and sign
flips (:func:`fastland.geometry.canonical_form`) and grouped greedily: two end
points share a basin when their canonical forms differ by at most
``basin_tol`` (max norm) and their losses by at most ``basin_tol`` times the
larger loss scale. Points on one connected manifold of minima far apart count
as different basins, so the count is an upper bound.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from .. import datasets
from .._validate import check_int, check_positive
from ..geometry import canonical_form
from ..landscape import Landscape
from ..model import MLP
from ..sharpness import sharpness
from ..train import train
from ._files import save_series
from ._result import Check, ExperimentResult, Verdict, check_seed, protocol_doc, say

__all__ = ["LrSweepResult", "lr_sweep"]

FORMAT_VERSION = 1
_FIGURES = ("lr_sweep_sharpness.png", "lr_sweep_loss.png")
#: the p-value below which the Spearman trend counts
_ALPHA = 0.05


@dataclass
class LrSweepResult(ExperimentResult):
    """Result of :func:`lr_sweep`. Per-run arrays have shape (n_lr, runs).

    Attributes
    ----------
    lrs : ndarray, shape (n_lr,)
        The learning rates, increasing.
    params, fine_params : ndarray, shape (n_lr, runs, p)
        End points of the training and of the fine-tuning (NaN for diverged runs).
    final_loss : ndarray
        Loss at the end of the sweep's training (NaN for diverged runs).
    status : ndarray of str
        :func:`fastland.train` status per run ("converged", "max_steps", "diverged").
    top_eig, trace, sam : ndarray
        Sharpness at the end points (top Hessian eigenvalue, Hessian trace,
        SAM's refined worst-case increase within ``rho``); NaN for diverged runs.
    edge_ratio : ndarray
        ``top_eig * lr / 2``: 1 at the edge of stability.
    fine_loss, fine_top_eig : ndarray
        Loss and top eigenvalue after fine-tuning at ``fine_lr``.
    basin : ndarray of int
        Basin id of each fine-tuned end point (-1 for diverged runs); ids are
        shared across learning rates.
    basin_loss, basin_top_eig : ndarray, shape (n_basins,)
        Fine-tuned loss and top eigenvalue of the first run found in each basin.
    diverged : ndarray, shape (n_lr,)
        Share of runs that diverged.
    stable_ok : ndarray of bool, shape (n_lr,)
        Every converged run ends with ``top_eig <= 2/lr`` (1e-6 relative slack);
        True when no run converged.
    n_basins : ndarray of int, shape (n_lr,)
        Distinct basins reached at each rate.
    spearman : float
        Spearman correlation of learning rate and end-point ``top_eig`` over the
        non-diverged runs; ``spearman_pvalue`` its two-sided p-value.

    The verdict (:meth:`assess`): "flatter_with_lr" or "sharper_with_lr" when the
    Spearman correlation's p-value is below 0.05 (negative or positive),
    "no_trend" otherwise, "all_diverged" when no run survived. Settings, files
    and the rest of the protocol: :class:`~fastland.experiments.ExperimentResult`.
    """

    lrs: np.ndarray
    params: np.ndarray
    fine_params: np.ndarray
    final_loss: np.ndarray
    status: np.ndarray
    top_eig: np.ndarray
    trace: np.ndarray
    sam: np.ndarray
    edge_ratio: np.ndarray
    fine_loss: np.ndarray
    fine_top_eig: np.ndarray
    basin: np.ndarray
    basin_loss: np.ndarray
    basin_top_eig: np.ndarray
    diverged: np.ndarray
    stable_ok: np.ndarray
    n_basins: np.ndarray
    spearman: float
    spearman_pvalue: float

    TITLE = "Learning-rate sweep (seed 002: where do large learning rates lead?)"
    DATA_FILE = "lr_sweep.h5"
    FORMAT = "fastland.lr_sweep"
    FORMAT_VERSION = FORMAT_VERSION
    JSON_FILE = "lr_sweep.json"
    VERDICT_LABELS = ("flatter_with_lr", "sharper_with_lr", "no_trend", "all_diverged")

    def table(self) -> str:
        """A markdown table, one row per learning rate (medians over the non-diverged runs)."""
        rows = [
            "| lr | 2/lr | diverged | converged | loss | top eig | edge ratio | trace | SAM increase "
            "| loss after fine-tuning | top eig after | basins |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for i, lr in enumerate(self.lrs):
            conv = float(np.mean(self.status[i] == "converged"))
            rows.append(
                f"| {lr:.4g} | {2 / lr:.4g} | {self.diverged[i]:.2f} | {conv:.2f} | {_med(self.final_loss[i]):.3g} "
                f"| {_med(self.top_eig[i]):.4g} | {_med(self.edge_ratio[i]):.3f} | {_med(self.trace[i]):.4g} "
                f"| {_med(self.sam[i]):.3g} | {_med(self.fine_loss[i]):.3g} | {_med(self.fine_top_eig[i]):.4g} "
                f"| {self.n_basins[i]} |"
            )
        return "\n".join(rows)

    def _intro(self) -> str:
        s = self.settings
        return (
            f"{s['runs']} runs of full-batch GD from the same starts, {s['steps']} steps per rate, then "
            f"{s['fine_steps']} steps of fine-tuning at lr {s['fine_lr']:g}; sharpness radius rho = {s['rho']:g}. "
            f"Landscape: {s['landscape']}."
        )

    def _summary(self) -> dict:
        names = ("lrs", "final_loss", "top_eig", "trace", "sam", "edge_ratio", "fine_loss", "fine_top_eig")
        names += ("basin_loss", "basin_top_eig", "diverged", "status", "basin", "stable_ok", "n_basins")
        return {k: getattr(self, k) for k in (*names, "spearman", "spearman_pvalue")}

    def assess(self) -> Verdict:
        """The verdict: does the sharpness reached fall or rise with the learning rate? (class notes)."""
        alive = self.diverged < 1
        settings = {"alpha": _ALPHA, "runs": self.settings["runs"], "steps": self.settings["steps"]}
        if not alive.any():
            head = "All diverged: every run diverged at every learning rate."
            return Verdict("all_diverged", head, settings=settings)
        rho, p = self.spearman, self.spearman_pvalue
        trend = bool(np.isfinite(rho) and p < _ALPHA)
        checks = [
            Check(
                "spearman_pvalue",
                "p-value of the Spearman correlation of learning rate and end-point sharpness",
                bool(p < _ALPHA) if np.isfinite(p) else None,
                p,
                _ALPHA,
                "<",
            )
        ]
        n_conv = int(np.sum(self.status == "converged"))
        bad = int(np.sum(~self.stable_ok))
        if n_conv:
            checks.append(
                Check(
                    "stability_bound",
                    "learning rates where a converged run violates top_eig <= 2/lr",
                    bad == 0,
                    bad,
                    0,
                    "==",
                )
            )
        if not trend:
            label, head = "no_trend", "No trend: the sharpness at the end points does not change significantly"
        elif rho < 0:
            label, head = "flatter_with_lr", "Flatter with the learning rate: the sharpness at the end points decreases"
        else:
            label, head = "sharper_with_lr", "Sharper with the learning rate: the sharpness at the end points increases"
        rho_text = f"Spearman {rho:+.2f}, p = {p:.2g}" if np.isfinite(rho) else "no correlation computable"
        headline = f"{head} with the learning rate ({rho_text})."
        edge = [f"{lr:g}: {_med(self.edge_ratio[i]):.3f}" for i, lr in enumerate(self.lrs)]
        evidence = [
            "median top_eig * lr / 2 per learning rate (1 = edge of stability): " + ", ".join(edge),
        ]
        if n_conv:
            evidence.append(
                f"all {n_conv} converged runs satisfy GD's stability bound top_eig <= 2/lr"
                if bad == 0
                else f"at {bad} learning rates a converged run violates top_eig <= 2/lr"
            )
        best = int(np.nanargmin([_med(self.fine_loss[i]) if alive[i] else np.inf for i in range(self.lrs.size)]))
        evidence.append(
            f"after fine-tuning the lowest median loss is reached from lr {self.lrs[best]:g} "
            f"({_med(self.fine_loss[best]):.3g})"
        )
        evidence.append(f"basins reached per rate: {self.n_basins.tolist()} (an upper bound: module notes)")
        caveats = []
        div = [i for i, d in enumerate(self.diverged) if d > 0]
        if div:
            caveats.append(
                "runs diverged at lr "
                + ", ".join(f"{self.lrs[i]:g} (share {self.diverged[i]:.2f})" for i in div)
                + ": the medians there are over the survivors"
            )
        if n_conv and bad:
            caveats.append("a converged run above the stability bound is unexpected: check the convergence tolerance")
        return Verdict(label, headline, tuple(evidence), tuple(checks), tuple(caveats), settings)


def _med(a) -> float:
    a = np.asarray(a, dtype=float)
    return float(np.nanmedian(a)) if np.any(np.isfinite(a)) else math.nan


def _basins(net: MLP, P: np.ndarray, loss: np.ndarray, tol: float) -> np.ndarray:
    """Greedy grouping of points by canonical form and loss (module notes); -1 for non-finite rows."""
    ids = np.full(P.shape[0], -1, dtype=np.int64)
    ok = np.isfinite(P).all(axis=1) & np.isfinite(loss)
    if not ok.any():
        return ids
    C = canonical_form(net, P[ok])
    Lk = loss[ok]
    scale = max(1.0, float(np.abs(C).max()))
    lscale = max(float(np.abs(Lk).max()), 1e-300)
    reps: list[int] = []
    out = np.empty(C.shape[0], dtype=np.int64)
    for i in range(C.shape[0]):
        for k, j in enumerate(reps):
            if np.abs(C[i] - C[j]).max() <= tol * scale and abs(Lk[i] - Lk[j]) <= tol * lscale:
                out[i] = k
                break
        else:
            reps.append(i)
            out[i] = len(reps) - 1
    ids[ok] = out
    return ids


@protocol_doc(LrSweepResult, seed="It draws the starts.")
def lr_sweep(
    lrs=(0.05, 0.1, 0.2, 0.4, 0.8),
    runs: int = 16,
    steps: int = 3000,
    hidden=(4,),
    n: int = 10,
    data_seed: int = 0,
    fine_lr: float = 0.05,
    fine_steps: int = 2000,
    rho: float = 0.05,
    basin_tol: float = 1e-3,
    land: Landscape | None = None,
    init=None,
    *,
    seed: int = 0,
    out_dir=None,
    figures: bool = False,
    progress: bool = False,
    overwrite: bool = False,
) -> LrSweepResult:
    """Train the same starts at several learning rates; report loss, sharpness and basins.

    Parameters
    ----------
    lrs : sequence of float, default (0.05, 0.1, 0.2, 0.4, 0.8)
        Learning rates of full-batch gradient descent.
    runs : int, default 16
        Starts (Glorot initialisations with ``seed``), shared by all rates.
    steps : int, default 3000
        GD steps per rate (runs stop early when ``max |grad| <= 1e-10``).
    hidden, n, data_seed
        The default landscape: ``MLP(2, hidden, 1, "tanh", "mse")`` fitting
        ``random_labels(n, data_seed)`` (labels 0/1 as targets); with
        ``hidden=(4,)`` it has 17 parameters for 10 points, so zero-loss minima
        form manifolds whose sharpness varies along them.
    fine_lr, fine_steps : float, int
        Fine-tuning after the sweep's training (GD at ``fine_lr``).
    rho : float, default 0.05
        Radius of SAM's worst-case increase.
    basin_tol : float, default 1e-3
        Tolerance of the basin grouping (module notes).
    land : Landscape, optional
        Use this landscape instead of the default one.
    init : array_like, shape (runs, p), optional
        Use these starting points (``runs`` is then their number).
    {protocol}

    Returns
    -------
    LrSweepResult

    Notes
    -----
    Figures: sharpness against learning rate with the 2/lr line, and the losses.
    """
    lr_arr = np.sort(np.array([check_positive("lrs", v) for v in np.ravel(lrs)]))
    if lr_arr.size == 0:
        raise ValueError("lrs: expected at least one learning rate")
    steps = check_int("steps", steps, 1)
    fine_lr = check_positive("fine_lr", fine_lr)
    fine_steps = check_int("fine_steps", fine_steps, 0)
    rho = check_positive("rho", rho)
    basin_tol = check_positive("basin_tol", basin_tol)
    seed = check_seed(seed)
    log = say(progress)
    if land is None:
        data = datasets.random_labels(n=check_int("n", n, 1), seed=check_int("data_seed", data_seed, 0))
        net = MLP(2, list(hidden), 1, activation="tanh", loss="mse")
        land = Landscape(net, data)
        desc = f"MLP(2, {list(hidden)}, 1, tanh, mse) on random_labels(n={n}, seed={data_seed})"
    elif not isinstance(land, Landscape):
        raise ValueError(f"land: expected a fastland.Landscape, got {type(land).__name__}")
    else:
        desc = repr(land)
    net = land.net
    if init is None:
        W0 = net.init(check_int("runs", runs, 1), seed=seed)
    else:
        W0 = np.atleast_2d(np.asarray(init, dtype=float))
    R, p = W0.shape
    out = LrSweepResult.claim(out_dir, figures, overwrite, figure_names=_FIGURES)  # before the computation
    k = lr_arr.size
    shape = (k, R)
    final_loss = np.full(shape, np.nan)
    status = np.empty(shape, dtype=object)
    top = np.full(shape, np.nan)
    end_pts = np.full((k, R, p), np.nan)
    trace = np.full(shape, np.nan)
    sam = np.full(shape, np.nan)
    fine_loss = np.full(shape, np.nan)
    fine_top = np.full(shape, np.nan)
    fine_pts = np.full((k, R, p), np.nan)
    t0 = time.perf_counter()
    for i, lr in enumerate(lr_arr):
        fit = train(land, W0, optimizer="gd", lr=float(lr), steps=steps, tol_grad=1e-10, seed=seed, progress=False)
        status[i] = fit.status
        ok = ~fit.diverged
        if ok.any():
            final_loss[i, ok] = fit.loss[ok]
            end_pts[i, ok] = fit.params[ok]
            s = sharpness(land, fit.params[ok], rho=rho)
            top[i, ok], trace[i, ok], sam[i, ok] = s.top_eig, s.trace, s.refined
            if fine_steps:
                ft = train(
                    land,
                    fit.params[ok],
                    optimizer="gd",
                    lr=fine_lr,
                    steps=fine_steps,
                    tol_grad=1e-10,
                    seed=seed,
                    progress=False,
                )
                good = ~ft.diverged
                idx = np.flatnonzero(ok)[good]
                fine_pts[i, idx] = ft.params[good]
                fine_loss[i, idx] = ft.loss[good]
                if good.any():
                    fine_top[i, idx] = sharpness(land, ft.params[good], rho=rho, ascent_steps=0).top_eig
            else:
                fine_pts[i, ok] = fit.params[ok]
                fine_loss[i, ok] = fit.loss[ok]
                fine_top[i, ok] = top[i, ok]
        log(f"lr_sweep: lr {lr:g} done ({time.perf_counter() - t0:.1f} s)")
    status = status.astype(str)
    basin = _basins(net, fine_pts.reshape(k * R, p), fine_loss.reshape(-1), basin_tol).reshape(k, R)
    nb = int(basin.max()) + 1 if (basin >= 0).any() else 0
    flat_b = basin.reshape(-1)
    first = [int(np.flatnonzero(flat_b == b)[0]) for b in range(nb)]
    basin_loss = fine_loss.reshape(-1)[first] if nb else np.zeros(0)
    basin_top = fine_top.reshape(-1)[first] if nb else np.zeros(0)
    n_basins = np.array([len(set(basin[i][basin[i] >= 0].tolist())) for i in range(k)], dtype=np.int64)
    diverged = np.mean(status == "diverged", axis=1)
    conv = status == "converged"
    stable_ok = np.array([bool(np.all(top[i, conv[i]] <= 2 / lr_arr[i] * (1 + 1e-6))) for i in range(k)])
    edge = top * lr_arr[:, None] / 2
    xs = np.repeat(lr_arr, R).reshape(k, R)
    fin = np.isfinite(top)
    if fin.sum() >= 3 and np.unique(xs[fin]).size > 1 and np.unique(top[fin]).size > 1:
        sp = stats.spearmanr(xs[fin], top[fin])
        rho_s, pval = float(sp.statistic), float(sp.pvalue)
    else:
        rho_s, pval = math.nan, math.nan
    settings = {
        "lrs": lr_arr.tolist(),
        "runs": R,
        "steps": steps,
        "fine_lr": fine_lr,
        "fine_steps": fine_steps,
        "rho": rho,
        "basin_tol": basin_tol,
        "seed": seed,
        "landscape": desc,
        "seconds": time.perf_counter() - t0,
    }
    res = LrSweepResult(
        lrs=lr_arr,
        params=end_pts,
        fine_params=fine_pts,
        final_loss=final_loss,
        status=status,
        top_eig=top,
        trace=trace,
        sam=sam,
        edge_ratio=edge,
        fine_loss=fine_loss,
        fine_top_eig=fine_top,
        basin=basin,
        basin_loss=basin_loss,
        basin_top_eig=basin_top,
        diverged=diverged,
        stable_ok=stable_ok,
        n_basins=n_basins,
        spearman=rho_s,
        spearman_pvalue=pval,
        settings=settings,
    )
    res.save(
        out,
        overwrite,
        fill=lambda f: _fill_h5(f, res, land),
        figures=(lambda: _figures(res, out, overwrite)) if figures else None,
    )
    return res


def _fill_h5(f, r: LrSweepResult, land: Landscape) -> None:
    import h5py

    f.attrs["model"] = json.dumps(land.net.spec())
    for name in (
        "lrs",
        "params",
        "fine_params",
        "final_loss",
        "top_eig",
        "trace",
        "sam",
        "edge_ratio",
        "fine_loss",
        "fine_top_eig",
        "basin",
        "basin_loss",
        "basin_top_eig",
        "diverged",
        "n_basins",
    ):
        f.create_dataset(name, data=getattr(r, name))
    f.create_dataset("status", data=r.status.astype(object), dtype=h5py.string_dtype())
    f.create_dataset("stable_ok", data=r.stable_ok.astype(np.int8))
    f.create_dataset("X", data=np.asarray(land.data.X))
    f.create_dataset("y", data=np.asarray(land.data.y))


def _figures(r: LrSweepResult, out: Path, overwrite: bool) -> list[str]:
    medians = {
        "top eig at the end (median)": [_med(v) for v in r.top_eig],
        "top eig after fine-tuning (median)": [_med(v) for v in r.fine_top_eig],
        "2 / lr (GD stability bound)": 2 / r.lrs,
    }
    losses = {
        "end of training (median)": [_med(v) for v in r.final_loss],
        "after fine-tuning (median)": [_med(v) for v in r.fine_loss],
    }
    log = dict(logx=True, logy=True)
    return [
        save_series(out, _FIGURES[0], overwrite, r.lrs, medians, "learning rate", "top Hessian eigenvalue", **log,
                    title="Sharpness reached against learning rate"),
        save_series(out, _FIGURES[1], overwrite, r.lrs, losses, "learning rate", "loss", **log,
                    title="Loss against learning rate"),
    ]  # fmt: skip
