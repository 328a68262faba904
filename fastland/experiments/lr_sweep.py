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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from .. import datasets
from .._outputs import write_text
from .._validate import check_bool, check_int, check_positive
from ..geometry import canonical_form
from ..landscape import Landscape
from ..model import MLP
from ..sharpness import sharpness
from ..train import train
from ._files import claim_outputs, result_file
from ._json import finite_list, finite_or_none

__all__ = ["LrSweepResult", "lr_sweep"]

FORMAT_VERSION = 1
_FIGURES = ("lr_sweep_sharpness.png", "lr_sweep_loss.png")


@dataclass
class LrSweepResult:
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
    verdict : str
    settings : dict
    out_dir : str or None
    files : list of str
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
    verdict: str
    settings: dict
    out_dir: str | None = None
    files: list = field(default_factory=list)

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

    def report(self) -> str:
        """Markdown: settings, the table and the verdict."""
        s = self.settings
        return (
            "# Learning-rate sweep (seed 002: where do large learning rates lead?)\n\n"
            f"{s['runs']} runs of full-batch GD from the same starts, {s['steps']} steps per rate, then "
            f"{s['fine_steps']} steps of fine-tuning at lr {s['fine_lr']:g}; sharpness radius rho = {s['rho']:g}. "
            f"Landscape: {s['landscape']}.\n\n{self.table()}\n\n**Verdict.** {self.verdict}\n"
        )

    def __str__(self) -> str:
        return self.report()

    def to_dict(self) -> dict:
        """JSON-able numbers."""
        out = {}
        for name in (
            "lrs",
            "final_loss",
            "top_eig",
            "trace",
            "sam",
            "edge_ratio",
            "fine_loss",
            "fine_top_eig",
            "basin_loss",
            "basin_top_eig",
            "diverged",
        ):
            out[name] = finite_list(getattr(self, name))
        out["status"] = self.status.tolist()
        out["basin"] = self.basin.tolist()
        out["stable_ok"] = self.stable_ok.tolist()
        out["n_basins"] = self.n_basins.tolist()
        out["spearman"] = finite_or_none(self.spearman)
        out["spearman_pvalue"] = finite_or_none(self.spearman_pvalue)
        out["verdict"] = self.verdict
        out["settings"] = self.settings
        out["files"] = self.files
        return out


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
    starts=None,
    seed: int = 0,
    out_dir=None,
    figures: bool = False,
    progress: bool = False,
    *,
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
    starts : array_like, shape (runs, p), optional
        Use these starts (``runs`` is then their number).
    seed : int, default 0
    out_dir : path, optional
        Writes ``lr_sweep.h5``, ``lr_sweep.json``, ``lr_sweep.md`` (and PNGs
        with ``figures``).
    figures : bool, default False
        Sharpness against learning rate with the 2/lr line, and losses
        (needs matplotlib).
    progress : bool, default False
        Print one line per learning rate.
    overwrite : bool, default False
        Replace these files in ``out_dir``. Without it a call whose files exist
        already raises FileExistsError naming them, before any computation,
        and leaves every file as it was.

    Returns
    -------
    LrSweepResult
    """
    lr_arr = np.sort(np.array([check_positive("lrs", v) for v in np.ravel(lrs)]))
    if lr_arr.size == 0:
        raise ValueError("lrs: expected at least one learning rate")
    steps = check_int("steps", steps, 1)
    fine_lr = check_positive("fine_lr", fine_lr)
    fine_steps = check_int("fine_steps", fine_steps, 0)
    rho = check_positive("rho", rho)
    basin_tol = check_positive("basin_tol", basin_tol)
    seed = check_int("seed", seed, 0)
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
    if starts is None:
        W0 = net.init(check_int("runs", runs, 1), seed=seed)
    else:
        W0 = np.atleast_2d(np.asarray(starts, dtype=float))
    R, p = W0.shape
    overwrite = check_bool("overwrite", overwrite)
    out = None
    if out_dir is not None:  # every file this call writes, claimed before the computation
        names = ["lr_sweep.h5", "lr_sweep.json", "lr_sweep.md", *(_FIGURES if figures else ())]
        out = claim_outputs(out_dir, names, overwrite)
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
        if progress:
            print(f"lr_sweep: lr {lr:g} done ({time.perf_counter() - t0:.1f} s)", flush=True)
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
        verdict="",
        settings=settings,
    )
    res.verdict = _verdict(res)
    if out is not None:
        _write(res, land, out, figures, overwrite)
    return res


def _verdict(r: LrSweepResult) -> str:
    parts = []
    alive = r.diverged < 1
    if not alive.any():
        return "Every run diverged at every learning rate: nothing to compare."
    if np.isfinite(r.spearman):
        trend = "decreases" if r.spearman < 0 else "increases"
        sig = "significantly" if r.spearman_pvalue < 0.05 else "not significantly"
        parts.append(
            f"the sharpness (top Hessian eigenvalue) at the end points {trend} with the learning rate "
            f"({sig}: Spearman {r.spearman:+.2f}, p = {r.spearman_pvalue:.2g})"
        )
    n_conv = int(np.sum(r.status == "converged"))
    if n_conv:
        bad = int(np.sum(~r.stable_ok))
        parts.append(
            f"all {n_conv} converged runs satisfy GD's stability bound top_eig <= 2/lr"
            if bad == 0
            else f"at {bad} learning rates a converged run violates top_eig <= 2/lr (unexpected)"
        )
    edge = [f"{lr:g}: {_med(r.edge_ratio[i]):.3f}" for i, lr in enumerate(r.lrs) if np.isfinite(_med(r.edge_ratio[i]))]
    parts.append("median top_eig * lr / 2 (1 = edge of stability) " + ", ".join(edge))
    div = [f"{lr:g}" for i, lr in enumerate(r.lrs) if r.diverged[i] > 0]
    if div:
        parts.append(
            f"runs diverged at lr {', '.join(div)} (shares {', '.join(f'{d:.2f}' for d in r.diverged if d > 0)})"
        )
    best = int(np.nanargmin([_med(r.fine_loss[i]) if alive[i] else np.inf for i in range(r.lrs.size)]))
    parts.append(
        f"after fine-tuning the lowest median loss is reached from lr {r.lrs[best]:g} "
        f"({_med(r.fine_loss[best]):.3g}); basins reached per rate {r.n_basins.tolist()}"
    )
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def _write(r: LrSweepResult, land: Landscape, out: Path, figures: bool, overwrite: bool) -> None:
    import h5py

    path = out / "lr_sweep.h5"
    with result_file(path, "fastland.lr_sweep", FORMAT_VERSION, overwrite) as f:
        f.attrs["settings"] = json.dumps(r.settings)
        f.attrs["verdict"] = r.verdict
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
    r.files.append(str(path))
    r.out_dir = str(out)
    if figures:
        from .. import plot

        p = out / _FIGURES[0]
        plot.series(
            r.lrs,
            {
                "top eig at the end (median)": [_med(v) for v in r.top_eig],
                "top eig after fine-tuning (median)": [_med(v) for v in r.fine_top_eig],
                "2 / lr (GD stability bound)": 2 / r.lrs,
            },
            "learning rate",
            "top Hessian eigenvalue",
            logx=True,
            logy=True,
            path=p,
            overwrite=overwrite,
            title="Sharpness reached against learning rate",
        )
        r.files.append(str(p))
        p = out / _FIGURES[1]
        plot.series(
            r.lrs,
            {
                "end of training (median)": [_med(v) for v in r.final_loss],
                "after fine-tuning (median)": [_med(v) for v in r.fine_loss],
            },
            "learning rate",
            "loss",
            logx=True,
            logy=True,
            path=p,
            overwrite=overwrite,
            title="Loss against learning rate",
        )
        r.files.append(str(p))
    for name, text in (("lr_sweep.json", json.dumps(r.to_dict(), indent=2)), ("lr_sweep.md", r.report())):
        write_text(out / name, text, overwrite=overwrite, argname="out_dir")
        r.files.append(str(out / name))
