"""Seed 000's "data types matter": near a minimum, updates fall below what the type can store.

The seed's claim: the global minimum of a trained network is not a point but a
set of parameter values sharing one loss, because close to the minimum the
gradient updates become smaller than the spacing of the numbers the data type
can represent, so training stops moving. :func:`precision` measures this.

Protocol
--------
1. A reference minimum ``w*`` of a small landscape (by default a tanh network
   fitting ten random labels with weight decay, so that the minimum is
   isolated) is found in float64: Adam from several starts, then Newton
   refinement (:func:`fastland.critical.refine`); the lowest converged point
   with a positive definite Hessian is kept. Its Hessian ``H* = V diag(lam) V^T``
   gives the flat (small ``lam``) and sharp directions.
2. ``runs`` starts ``w* + perturb * xi`` (xi standard normal) are trained by
   full-batch gradient descent with learning rate ``lr`` (default ``1 /
   lam_max``) in every storage precision of ``dtypes``
   (:func:`fastland.train` with ``dtype``: parameters rounded after every
   update; arithmetic in float64), the same starts for every precision.
3. Recorded per precision: the share of stalled updates (non-zero but the
   stored value did not change) over time; the loss over time; whether each
   run froze (its last step changed no parameter: with full-batch GD that is a
   fixed point of the rounded iteration, so it stays there for ever) and the
   step it froze at; the loss plateau ``U - U(w*)``; how many distinct stored
   vectors the runs end at, and how many distinct values their losses take
   once rounded to the same precision (the seed's "one loss"); the number of
   distinct vectors each run visits over the last ``tail`` share of its
   records; and the spread of the end points along the Hessian's eigenvectors.

What to expect (derived): a stored vector ``w`` is a fixed point of rounded GD
when ``|lr g_q(w)| <= ulp_q / 2`` for every parameter ``q`` (``ulp_q`` the
spacing of stored numbers at ``w_q``). Near ``w*``, ``g = H* (w - w*)``, so the
fixed points fill ``w - w* = H*^-1 b`` with ``|b_q| <= ulp_q / (2 lr)``: along
eigenvector ``v_i`` the set extends ``~ |v_i . b| / lam_i``, wider along flat
directions by ``1 / lam_i``. For ``b`` spread uniformly the RMS along ``v_i`` is

    predicted_spread_i = sqrt(sum_q v_iq^2 ulp_q^2 / 12) / (lr lam_i),

and the loss above ``U(w*)`` at any such point is at most, to second order,
``sum_q (ulp_q / (2 lr))^2 / (2 lam_min)``; ``plateau_bound`` adds
``16 eps |U(w*)|`` (``eps = 2^-53``) for the rounding of the float64 loss
evaluations themselves, which dominates in float64. The result
reports the measured spreads beside these predictions, their Spearman
correlation across directions, and the largest plateau beside the bound.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from .. import critical, datasets
from .._validate import check_int, check_positive
from ..landscape import Landscape
from ..model import MLP
from ..train import _precision, round_precision, train
from ._files import save_series
from ._result import Check, ExperimentResult, Verdict, check_seed, pick, protocol_doc, say

__all__ = ["PrecisionResult", "precision"]

FORMAT_VERSION = 1
_FIGURES = ("precision_stalled.png", "precision_loss.png", "precision_spread.png")


@dataclass
class DtypeResult:
    """One storage precision of :func:`precision`.

    Attributes
    ----------
    dtype : str or int
        As given to :func:`fastland.train`.
    bits : int
        Significand bits.
    stalled_share : ndarray, shape (n_records,)
        Mean over runs of the share of stalled updates since the previous
        record (NaN at record 0).
    loss_excess : ndarray, shape (n_records,)
        Median over runs of ``U - U(w*)`` at each record.
    frozen : ndarray of bool, shape (runs,)
        The run's last step changed no stored parameter (a fixed point).
    frozen_at : ndarray of int, shape (runs,)
        The step of the run's last change of any parameter (-1 if not frozen).
    params : ndarray, shape (runs, p)
        The stored end points.
    final_loss : ndarray, shape (runs,)
    plateau : float
        Median over runs of ``U - U(w*)`` at the end.
    plateau_max : float
        Largest ``U - U(w*)`` at the end.
    plateau_bound : float
        The second-order bound on the excess loss of any fixed point (module notes).
    distinct_vectors : int
        Distinct stored end vectors over the runs.
    distinct_losses : int
        Distinct end losses once rounded to this precision.
    visited : ndarray of int, shape (runs,)
        Distinct stored vectors each run visited over its last ``tail`` records.
    spread : ndarray, shape (p,)
        RMS over runs of the end points' offsets from ``w*`` along each
        eigenvector of ``H*`` (eigenvalues ascending).
    predicted_spread : ndarray, shape (p,)
        The prediction (module notes).
    spread_spearman : float
        Spearman correlation of ``spread`` with ``1 / lam`` over the directions.
    spread_ratio : float
        Median of ``spread / predicted_spread``.
    """

    dtype: object
    bits: int
    stalled_share: np.ndarray
    loss_excess: np.ndarray
    frozen: np.ndarray
    frozen_at: np.ndarray
    params: np.ndarray
    final_loss: np.ndarray
    plateau: float
    plateau_max: float
    plateau_bound: float
    distinct_vectors: int
    distinct_losses: int
    visited: np.ndarray
    spread: np.ndarray
    predicted_spread: np.ndarray
    spread_spearman: float
    spread_ratio: float

    @property
    def median_frozen_at(self) -> float:
        """Median step at which the frozen runs froze (NaN when none did)."""
        fa = self.frozen_at[self.frozen]
        return float(np.median(fa)) if fa.size else math.nan


@dataclass
class PrecisionResult(ExperimentResult):
    """Result of :func:`precision`.

    Attributes
    ----------
    dtypes : list of DtypeResult
    steps : ndarray of int, shape (n_records,)
        Step counts of the records.
    w_star : ndarray, shape (p,)
        The float64 reference minimum.
    loss_star : float
        U(w*).
    eigenvalues : ndarray, shape (p,)
        Eigenvalues of the Hessian at ``w*``, ascending.
    lr : float

    The verdict (:meth:`assess`): "supported" when in every precision every run
    froze and the runs ended at more than one distinct stored vector,
    "not_shown" otherwise. Settings, files and the rest of the protocol:
    :class:`~fastland.experiments.ExperimentResult`.
    """

    dtypes: list
    steps: np.ndarray
    w_star: np.ndarray
    loss_star: float
    eigenvalues: np.ndarray
    lr: float

    TITLE = "Precision (seed 000: data types matter)"
    DATA_FILE = "precision.h5"
    FORMAT = "fastland.precision"
    FORMAT_VERSION = FORMAT_VERSION
    JSON_FILE = "precision.json"
    VERDICT_LABELS = ("supported", "not_shown")

    def __getitem__(self, dtype) -> DtypeResult:
        return pick(self.dtypes, "dtype", dtype, "dtype")

    def table(self) -> str:
        """A markdown table, one row per precision."""
        rows = [
            "| dtype | bits | stalled share (last record) | runs frozen | median step frozen | plateau U - U* "
            "| max | bound | distinct end vectors | distinct losses (rounded) | spread/predicted "
            "| Spearman(spread, 1/lam) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        R = self.settings["runs"]
        for d in self.dtypes:
            med = "-" if math.isnan(d.median_frozen_at) else f"{d.median_frozen_at:.0f}"
            rows.append(
                f"| {d.dtype} | {d.bits} | {_last(d.stalled_share):.4f} | {int(d.frozen.sum())}/{R} | {med} "
                f"| {d.plateau:.3g} | {d.plateau_max:.3g} | {d.plateau_bound:.3g} | {d.distinct_vectors}/{R} "
                f"| {d.distinct_losses} | {d.spread_ratio:.3g} | {d.spread_spearman:+.2f} |"
            )
        return "\n".join(rows)

    def _intro(self) -> str:
        s = self.settings
        lam = self.eigenvalues
        return (
            f"Landscape: {s['landscape']}; reference minimum U* = {self.loss_star:.10g}, Hessian eigenvalues "
            f"{lam[0]:.3g} .. {lam[-1]:.3g}. {s['runs']} runs of full-batch GD (lr {self.lr:.4g}) from w* + "
            f"{s['perturb']:g} N(0, 1), {s['steps']} steps, in each precision."
        )

    def _summary(self) -> dict:
        fields = ("stalled_share", "loss_excess", "frozen", "frozen_at", "final_loss", "plateau", "plateau_max")
        fields += ("plateau_bound", "distinct_vectors", "distinct_losses", "visited", "spread", "predicted_spread")
        fields += ("spread_spearman", "spread_ratio")
        return {
            "steps": self.steps,
            "w_star": self.w_star,
            "loss_star": self.loss_star,
            "eigenvalues": self.eigenvalues,
            "lr": self.lr,
            "dtypes": [{"dtype": d.dtype, "bits": d.bits, **{k: getattr(d, k) for k in fields}} for d in self.dtypes],
        }

    def assess(self) -> Verdict:
        """The verdict: does training stop at a set of stored vectors rather than one point? (class notes)."""
        R = self.settings["runs"]
        n_frozen = sum(int(d.frozen.sum()) for d in self.dtypes)
        froze = all(d.frozen.sum() == R for d in self.dtypes)
        fewest = min(d.distinct_vectors for d in self.dtypes)
        many = fewest > 1
        order = [d.plateau_max for d in sorted(self.dtypes, key=lambda d: -d.bits)]
        grows = all(b >= a for a, b in zip(order, order[1:], strict=False))
        narrow = [d for d in self.dtypes if np.isfinite(d.spread_spearman) and d.bits < 53]
        flat = all(d.spread_spearman > 0.5 for d in narrow)
        within = all(d.plateau_max <= d.plateau_bound for d in self.dtypes)
        worst = max(self.dtypes, key=lambda d: d.plateau_max / d.plateau_bound if d.plateau_bound > 0 else math.inf)
        checks = (
            Check("frozen", "runs that froze (a fixed point of the rounded iteration), all precisions", froze,
                  n_frozen, R * len(self.dtypes), "=="),
            Check("distinct_vectors", "fewest distinct stored end vectors in a precision", many, fewest, 1, ">"),
            Check("plateau_grows", "largest plateau grows as the significand narrows", grows),
            Check("flat_directions", "Spearman of the spread with 1/lam (narrow precisions, smallest)",
                  flat if narrow else None, min((d.spread_spearman for d in narrow), default=None), 0.5, ">"),
            Check("plateau_bound", f"largest plateau against its second-order bound ({worst.dtype})", within,
                  worst.plateau_max, worst.plateau_bound, "<="),
        )  # fmt: skip
        if froze and many:
            label = "supported"
            headline = (
                f"Supported: in every precision all {R} runs froze at a fixed point of the rounded iteration, "
                f"ending at {fewest} or more distinct stored vectors rather than one point."
            )
        else:
            label = "not_shown"
            headline = (
                f"Not shown at this size: {n_frozen} of {R * len(self.dtypes)} runs froze and the fewest distinct "
                f"end vectors in a precision was {fewest} (train longer)."
            )
        evidence = []
        if froze and many:
            evidence.append("every update at the end is below half a unit in the last place")
            if grows:
                evidence.append("the loss plateau grows as the significand narrows")
            if flat:
                evidence.append("the end points spread most along the flat Hessian directions, as derived")
            if within:
                evidence.append("the plateaus stay within the derived second-order bound")
        for d in self.dtypes:
            when = "" if math.isnan(d.median_frozen_at) else f" after a median {d.median_frozen_at:.0f} steps"
            evidence.append(
                f"{d.dtype}: {int(d.frozen.sum())}/{R} runs froze{when} at {d.distinct_vectors} distinct stored "
                f"vectors; plateau U - U* median {d.plateau:.2g}, max {d.plateau_max:.2g} (bound "
                f"{d.plateau_bound:.2g}); {d.distinct_losses} distinct loss value(s) in that precision; "
                f"spread/predicted {d.spread_ratio:.2g}, Spearman with 1/lam {d.spread_spearman:+.2f}"
            )
        caveats = []
        if not within:
            caveats.append(
                "some plateau exceeds the second-order bound: the fixed-point set reaches beyond the quadratic regime"
            )
        settings = {k: self.settings[k] for k in ("runs", "steps", "perturb")}
        settings["lr"] = self.lr
        return Verdict(label, headline, tuple(evidence), checks, tuple(caveats), settings)


def _last(a) -> float:
    a = np.asarray(a, dtype=float)
    fin = a[np.isfinite(a)]
    return float(fin[-1]) if fin.size else math.nan


def ulp(w, bits: int, emin: int) -> np.ndarray:
    """Spacing of the ``bits``-bit numbers at ``w`` (upwards in magnitude; 2^(emin-bits+1) below 2^emin)."""
    a = np.abs(np.asarray(w, dtype=float))
    e = np.where(a > 0, np.frexp(a)[1] - 1, emin)
    return np.ldexp(1.0, np.maximum(e, emin) - bits + 1)


def _reference(land: Landscape, seed: int, tries: int = 8) -> tuple[np.ndarray, float]:
    fit = train(land, land.net.init(tries, seed=seed), optimizer="adam", lr=0.01, steps=5000, seed=seed, progress=False)
    ref = critical.refine(land, fit.params, method="newton")
    ev = np.linalg.eigvalsh(land.hessian(ref.points))
    ok = ref.converged & (ev[:, 0] > 0)
    if not ok.any():
        raise ValueError("land: no strict local minimum found for the reference (add weight decay or give w_star)")
    b = int(np.flatnonzero(ok)[np.argmin(ref.loss[ok])])
    return ref.points[b].copy(), float(ref.loss[b])


@protocol_doc(PrecisionResult, seed="It draws the reference minimum's starts and the runs' starts.")
def precision(
    dtypes=("float64", "float32", "float16", "bfloat16"),
    runs: int = 16,
    steps: int = 50_000,
    lr: float | None = None,
    perturb: float = 0.1,
    hidden=(3,),
    n: int = 10,
    data_seed: int = 0,
    weight_decay: float = 1e-2,
    record_every: int = 100,
    tail: float = 0.25,
    land: Landscape | None = None,
    w_star=None,
    *,
    seed: int = 0,
    out_dir=None,
    figures: bool = False,
    progress: bool = False,
    overwrite: bool = False,
) -> PrecisionResult:
    """Train to convergence in several storage precisions and measure where the runs stop.

    Parameters
    ----------
    dtypes : sequence, default ("float64", "float32", "float16", "bfloat16")
        Storage precisions as :func:`fastland.train` takes them: names, or
        integers (significand bits, float64's exponent range).
    runs : int, default 16
        Starts around the reference minimum, shared by all precisions.
    steps : int, default 50000
        GD steps (with weight decay 1e-2 the default float64 runs freeze after
        about 12,000).
    lr : float, optional
        GD learning rate; default ``1 / lam_max`` of the Hessian at ``w*``.
    perturb : float, default 0.1
        Standard deviation of the starts around ``w*``.
    hidden, n, data_seed, weight_decay
        The default landscape: ``MLP(2, hidden, 1, "tanh", "mse")`` fitting
        ``random_labels(n, data_seed)`` (labels 0/1 as targets) with weight decay.
    record_every : int, default 100
        Record spacing of the trajectories (stalled share and loss over time).
    tail : float, default 0.25
        Share of the last records over which ``visited`` counts distinct vectors.
    land : Landscape, optional
        Use this landscape instead.
    w_star : array_like, shape (p,), optional
        Use this reference minimum (refined by Newton first).
    {protocol}

    Returns
    -------
    PrecisionResult

    Notes
    -----
    Figures: the stalled share and the loss excess over time per precision, and
    the spread along the Hessian's eigenvectors against the prediction.
    """
    runs = check_int("runs", runs, 1)
    steps = check_int("steps", steps, 1)
    perturb = check_positive("perturb", perturb)
    record_every = check_int("record_every", record_every, 1)
    tail = check_positive("tail", tail)
    if tail > 1:
        raise ValueError(f"tail: expected a share in (0, 1], got {tail}")
    seed = check_seed(seed)
    log = say(progress)
    try:
        specs = [(dt, _precision(dt, None)) for dt in dtypes]  # validates every format
    except ValueError as exc:  # name this function's argument, not train's
        raise ValueError(f"dtypes: {str(exc).partition(': ')[2]}") from None
    if not specs:
        raise ValueError("dtypes: expected at least one precision")
    if land is None:
        base = datasets.random_labels(n=check_int("n", n, 1), seed=check_int("data_seed", data_seed, 0))
        net = MLP(2, list(hidden), 1, activation="tanh", loss="mse")
        land = Landscape(net, base, weight_decay=check_positive("weight_decay", weight_decay, allow_zero=True))
        desc = (
            f"MLP(2, {list(hidden)}, 1, tanh, mse) on random_labels(n={n}, seed={data_seed}), "
            f"weight decay {weight_decay:g}"
        )
    elif not isinstance(land, Landscape):
        raise ValueError(f"land: expected a fastland.Landscape, got {type(land).__name__}")
    else:
        desc = repr(land)
    out = PrecisionResult.claim(out_dir, figures, overwrite, figure_names=_FIGURES)  # before the computation
    t0 = time.perf_counter()
    if w_star is None:
        ws, us = _reference(land, seed)
    else:
        r = critical.refine(land, np.asarray(w_star, dtype=float), method="newton")
        ws, us = np.asarray(r.points, dtype=float), float(r.loss)
    lam, V = np.linalg.eigh(land.hessian(ws))
    if lr is None:
        lr = 1.0 / lam[-1]
    lr = check_positive("lr", lr)
    p = ws.size
    rng = np.random.default_rng(seed)
    W0 = ws + perturb * rng.standard_normal((runs, p))
    results = []
    rec_steps = None
    for dt, (bits, emin, emax) in specs:
        fit = train(
            land,
            W0,
            optimizer="gd",
            lr=lr,
            steps=steps,
            precision=dt,
            record_every=record_every,
            seed=seed,
            progress=False,
        )
        rec_steps = fit.trajectory_steps
        share = np.full(fit.trajectory_stalled.shape[1], np.nan)
        fin = np.isfinite(fit.trajectory_stalled)
        cnt = fin.sum(axis=0)
        share[cnt > 0] = np.nansum(fit.trajectory_stalled, axis=0)[cnt > 0] / cnt[cnt > 0]
        frozen = (fit.unchanged_steps > 0).all(axis=1) & ~fit.diverged
        frozen_at = np.where(frozen, fit.steps - fit.unchanged_steps.min(axis=1), -1)
        excess = fit.loss - us
        n_rec = fit.trajectory.shape[1]
        k0 = max(0, n_rec - max(1, int(math.ceil(tail * n_rec))))
        visited = np.array([np.unique(fit.trajectory[r, k0:], axis=0).shape[0] for r in range(runs)])
        offs = (fit.params - ws) @ V  # coordinates along the eigenvectors
        spread = np.sqrt(np.mean(offs**2, axis=0))
        u = ulp(ws, bits, emin) if dt != "float64" else ulp(ws, 53, -1022)
        predicted = np.sqrt((V**2).T @ (u**2) / 12.0) / (lr * np.abs(lam))
        bound = float(np.sum((u / (2 * lr)) ** 2) / (2 * lam[0])) if lam[0] > 0 else math.inf
        bound += 16 * 2.0**-53 * abs(us)  # the float64 loss evaluations' own rounding
        ok = np.isfinite(spread) & (spread > 0) & np.isfinite(predicted)
        sp = stats.spearmanr(spread[ok], 1 / np.abs(lam[ok])).statistic if ok.sum() >= 3 else math.nan
        ratio = float(np.median(spread[ok] / predicted[ok])) if ok.any() else math.nan
        fin_loss = fit.loss[np.isfinite(fit.loss)]
        rounded = round_precision(fin_loss, bits, exponent=(emin, emax)) if dt != "float64" else fin_loss
        results.append(
            DtypeResult(
                dtype=dt,
                bits=bits,
                stalled_share=share,
                loss_excess=np.median(fit.trajectory_loss - us, axis=0),
                frozen=frozen,
                frozen_at=frozen_at,
                params=fit.params,
                final_loss=fit.loss,
                plateau=float(np.median(excess)),
                plateau_max=float(np.max(excess)),
                plateau_bound=bound,
                distinct_vectors=int(np.unique(fit.params, axis=0).shape[0]),
                distinct_losses=int(np.unique(rounded).size),
                visited=visited,
                spread=spread,
                predicted_spread=predicted,
                spread_spearman=float(sp),
                spread_ratio=ratio,
            )
        )
        log(f"precision: {dt} done ({time.perf_counter() - t0:.1f} s)")
    settings = {
        "dtypes": [d if isinstance(d, str) else int(d) for d in dtypes],
        "runs": runs,
        "steps": steps,
        "lr": lr,
        "perturb": perturb,
        "record_every": record_every,
        "tail": tail,
        "seed": seed,
        "landscape": desc,
        "seconds": time.perf_counter() - t0,
    }
    res = PrecisionResult(
        dtypes=results, steps=rec_steps, w_star=ws, loss_star=us, eigenvalues=lam, lr=lr, settings=settings
    )
    res.save(
        out,
        overwrite,
        fill=lambda f: _fill_h5(f, res, land),
        figures=(lambda: _figures(res, out, overwrite)) if figures else None,
    )
    return res


def _fill_h5(f, r: PrecisionResult, land: Landscape) -> None:
    f.attrs["model"] = json.dumps(land.net.spec())
    f.attrs["weight_decay"] = float(land.weight_decay)
    f.attrs["loss_star"] = r.loss_star
    f.attrs["lr"] = r.lr
    f.create_dataset("steps", data=r.steps)
    f.create_dataset("w_star", data=r.w_star)
    f.create_dataset("eigenvalues", data=r.eigenvalues)
    f.create_dataset("X", data=np.asarray(land.data.X))
    f.create_dataset("y", data=np.asarray(land.data.y))
    for d in r.dtypes:
        g = f.create_group(f"dtype_{d.dtype}")
        g.attrs["dtype"] = str(d.dtype)
        g.attrs["bits"] = d.bits
        for name in (
            "plateau",
            "plateau_max",
            "plateau_bound",
            "distinct_vectors",
            "distinct_losses",
            "spread_spearman",
            "spread_ratio",
        ):
            g.attrs[name] = getattr(d, name)
        for name in (
            "stalled_share",
            "loss_excess",
            "frozen_at",
            "params",
            "final_loss",
            "visited",
            "spread",
            "predicted_spread",
        ):
            g.create_dataset(name, data=getattr(d, name))
        g.create_dataset("frozen", data=d.frozen.astype(np.int8))


def _figures(r: PrecisionResult, out: Path, overwrite: bool) -> list[str]:
    x = r.steps[1:]
    stalled = {str(d.dtype): d.stalled_share[1:] for d in r.dtypes}
    excess = {str(d.dtype): np.where(d.loss_excess[1:] > 0, d.loss_excess[1:], np.nan) for d in r.dtypes}
    spread = {}
    for d in r.dtypes:  # (measured, predicted) pairs
        spread[f"{d.dtype} measured"] = np.where(d.spread > 0, d.spread, np.nan)
        spread[f"{d.dtype} predicted"] = d.predicted_spread
    return [
        save_series(out, _FIGURES[0], overwrite, x, stalled, "step", "share of stalled updates", logx=True,
                    title="Updates below half a unit in the last place"),
        save_series(out, _FIGURES[1], overwrite, x, excess, "step", "median U - U*", logx=True, logy=True,
                    title="Loss plateau per precision"),
        save_series(out, _FIGURES[2], overwrite, np.abs(r.eigenvalues), spread, "Hessian eigenvalue at w*",
                    "spread of end points", logx=True, logy=True, pairs=True,
                    title="End points spread along flat directions (dashed: predicted)"),
    ]  # fmt: skip
