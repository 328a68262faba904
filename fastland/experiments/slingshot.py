"""Seed 000's "slingshot maneuver": shrink an overfitted network's weights, then train on.

The seed's recipe: train a model until it overfits, multiply *all* its weights
by a constant (about 0.2; Keras' ``model.set_weights(np.array(model.get_weights()) * 0.2)``,
so biases too), then train a few more epochs. The claim is that this recovers
from the overfit and ends better than plain continued training.

Protocol
--------
1. **Data**: ``n`` points of scikit-learn's two moons (input noise
   ``input_noise``), a share ``label_noise`` of the labels flipped, split at
   random into a training part and a held-out validation part
   (``val_fraction``). Or any :class:`~fastland.Dataset` given as ``data``.
2. **Overfit** (one :func:`fastland.train` call, all seeds at once): seed ``r``
   starts from its own Glorot initialisation and trains for
   ``overfit_epochs`` on the training part. The result records whether the
   runs overfit (validation loss at least ``overfit_ratio`` times the
   training loss).
3. **Continue** from the overfitted parameters ``w_r`` for ``after_epochs``:
   plainly from ``w_r`` (the control) and from ``f * w_r`` for every factor
   ``f`` in ``factors``. Each branch is one :func:`fastland.train` call over
   all seeds with the same random seed, so with mini-batches seed ``r`` sees
   the same batches in every branch (common random numbers); every branch
   restarts the optimiser's state (Adam's moments), the control included.
4. **Compare**, per factor, the paired differences ``d_r = metric(slingshot) -
   metric(control)`` of validation loss and validation accuracy over the
   seeds: mean, a Student-t confidence interval of the mean
   (``scipy.stats.t``; the paired t interval) and the number of seeds where
   the slingshot was better. The verdict says "helps" when the interval of
   the validation-loss difference lies below 0, "hurts" when above 0, and
   "no detectable effect" otherwise (accuracy likewise, higher being better).

An epoch is ``ceil(N_train / batch_size)`` optimiser steps (one step in full
batch mode, the default).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from .._outputs import write_text
from .._validate import check_bool, check_choice, check_int, check_positive
from ..data import Dataset
from ..landscape import Landscape
from ..model import MLP
from ..train import OPTIMIZERS, train
from ._files import claim_outputs
from ._json import finite_list, finite_or_none, json_default

__all__ = ["FactorResult", "PairedDifference", "SlingshotResult", "paired_difference", "slingshot"]

_FIGURES = ("slingshot_curves.png", "slingshot_accuracy.png", "slingshot_factors.png")


# ------------------------------------------------------------------------------ results
@dataclass
class PairedDifference:
    """Paired comparison of one metric over the seeds (slingshot minus control).

    Attributes
    ----------
    mean : float
        Mean of the per-seed differences.
    low, high : float
        Confidence interval of the mean (Student t with ``n - 1`` degrees of
        freedom; the interval collapses to the mean when all differences agree).
    pvalue : float
        Two-sided paired t-test p-value (NaN when all differences are equal).
    better : int
        Seeds where the slingshot was strictly better (lower loss or higher accuracy).
    worse : int
        Seeds where it was strictly worse.
    n : int
        Number of seeds.
    """

    mean: float
    low: float
    high: float
    pvalue: float
    better: int
    worse: int
    n: int

    def to_dict(self) -> dict:
        """JSON-able fields."""
        return {k: finite_or_none(getattr(self, k)) for k in ("mean", "low", "high", "pvalue", "better", "worse", "n")}


@dataclass
class FactorResult:
    """One factor of the sweep.

    Attributes
    ----------
    factor : float
        The weights were multiplied by this before continuing.
    val_loss, val_acc, train_loss, train_acc : ndarray, shape (seeds,)
        At the end of the continued training.
    d_loss, d_acc : PairedDifference
        Validation loss and accuracy, slingshot minus control.
    loss_verdict, acc_verdict : str
        "helps", "hurts" or "no detectable effect".
    d_loss_early, d_acc_early : PairedDifference
        Validation loss and accuracy, slingshot minus early stopping (the
        record of the first phase with the lowest validation loss, per seed).
    scaled_val_loss, scaled_val_acc : ndarray, shape (seeds,)
        Right after multiplying the weights, before any more training: how much
        of the effect the scaling alone makes (it also shrinks the logits, which
        changes the cross-entropy of confident mistakes).
    """

    factor: float
    val_loss: np.ndarray
    val_acc: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    d_loss: PairedDifference
    d_acc: PairedDifference
    loss_verdict: str
    acc_verdict: str
    d_loss_early: PairedDifference
    d_acc_early: PairedDifference
    scaled_val_loss: np.ndarray
    scaled_val_acc: np.ndarray

    @property
    def call(self) -> str:
        """Overall call: "better", "worse", "mixed" or "same" from the two verdicts."""
        calls = {self.loss_verdict, self.acc_verdict}
        if "helps" in calls and "hurts" in calls:
            return "mixed"
        return "better" if "helps" in calls else "worse" if "hurts" in calls else "same"


@dataclass
class SlingshotResult:
    """Result of :func:`slingshot`.

    Attributes
    ----------
    factors : list of FactorResult
        One per factor, in the order asked.
    seeds : int
        Number of independent seeds (runs).
    overfit_train_loss, overfit_val_loss, overfit_train_acc, overfit_val_acc : ndarray, shape (seeds,)
        At the end of the overfitting phase (the branch point).
    overfit : bool
        Whether the runs overfit: median validation loss at least
        ``overfit_ratio`` times the median training loss.
    early_val_loss, early_val_acc, early_epoch : ndarray, shape (seeds,)
        Early stopping, an oracle baseline: the recorded point of the first
        phase (every ``overfit_epochs / 100`` epochs) with the lowest
        validation loss, its validation accuracy and epoch.
    control_val_loss, control_val_acc, control_train_loss, control_train_acc : ndarray, shape (seeds,)
        Plain continued training, at the end.
    curve_epochs : ndarray, shape (k,)
        Epochs after the branch point at which ``curves`` are recorded.
    curves : dict of str -> ndarray, shape (k,)
        Mean validation loss over the seeds along the continued training:
        "control" and "x<factor>" per factor.
    curves_acc : dict of str -> ndarray, shape (k,)
        The same for the validation accuracy.
    confidence : float
        Level of the confidence intervals.
    verdict : str
        A plain sentence (module notes give the rule).
    settings : dict
        The experiment's settings (JSON-able).
    out_dir : str or None
    files : list of str
    """

    factors: list
    seeds: int
    overfit_train_loss: np.ndarray
    overfit_val_loss: np.ndarray
    overfit_train_acc: np.ndarray
    overfit_val_acc: np.ndarray
    overfit: bool
    early_val_loss: np.ndarray
    early_val_acc: np.ndarray
    early_epoch: np.ndarray
    control_val_loss: np.ndarray
    control_val_acc: np.ndarray
    control_train_loss: np.ndarray
    control_train_acc: np.ndarray
    curve_epochs: np.ndarray
    curves: dict
    curves_acc: dict
    confidence: float
    verdict: str
    settings: dict
    out_dir: str | None = None
    files: list = field(default_factory=list)

    def __getitem__(self, factor: float) -> FactorResult:
        for f in self.factors:
            if math.isclose(f.factor, factor):
                return f
        raise KeyError(f"factor {factor} was not part of this experiment")

    def table(self) -> str:
        """Markdown table: one row per factor, paired differences against the control."""
        pct = f"{100 * self.confidence:g}%"
        rows = [
            f"| factor | val loss | d val loss [{pct} CI] | better/worse | val acc | d val acc [{pct} CI] "
            "| better/worse | train loss | val loss / acc right after scaling |",
            "|---:|---:|---|---:|---:|---|---:|---:|---:|",
            f"| control | {np.mean(self.control_val_loss):.4g} | - | - | {np.mean(self.control_val_acc):.3f} "
            f"| - | - | {np.mean(self.control_train_loss):.3g} | {np.mean(self.overfit_val_loss):.4g} / "
            f"{np.mean(self.overfit_val_acc):.3f} |",
            f"| early stopping | {np.mean(self.early_val_loss):.4g} | - | - | {np.mean(self.early_val_acc):.3f} "
            f"| - | - | - | - |",
        ]
        for f in self.factors:
            rows.append(
                f"| {f.factor:g} | {np.mean(f.val_loss):.4g} | {_ci(f.d_loss, '.3g')} | "
                f"{f.d_loss.better}/{f.d_loss.worse} | {np.mean(f.val_acc):.3f} | {_ci(f.d_acc, '+.3f')} | "
                f"{f.d_acc.better}/{f.d_acc.worse} | {np.mean(f.train_loss):.3g} | "
                f"{np.mean(f.scaled_val_loss):.4g} / {np.mean(f.scaled_val_acc):.3f} |"
            )
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table() + "\n\n" + self.verdict

    def report(self) -> str:
        """Markdown report: setting, overfit check, the table and the verdict."""
        s = self.settings
        lines = [
            "# Slingshot maneuver (seed 000)",
            "",
            f"{self.seeds} seeds; {s['data']}; network {s['network']}; {s['optimizer']} lr {s['lr']:g}, "
            f"{s['overfit_epochs']} epochs to overfit, then {s['after_epochs']} more epochs plainly (control) "
            f"or after multiplying all weights by each factor.",
            "",
            f"At the branch point (median over seeds): training loss {np.median(self.overfit_train_loss):.3g}, "
            f"validation loss {np.median(self.overfit_val_loss):.3g}, training accuracy "
            f"{np.median(self.overfit_train_acc):.3f}, validation accuracy {np.median(self.overfit_val_acc):.3f}"
            f" ({'overfit' if self.overfit else 'not overfit'}).",
            "",
            "Differences are slingshot minus control, per seed (paired); 'better/worse' counts seeds. "
            "Early stopping is an oracle baseline: per seed, the point of the first phase with the lowest "
            "validation loss.",
            "",
            self.table(),
            "",
            "Slingshot minus early stopping: "
            + "; ".join(
                f"factor {f.factor:g}: val loss {_ci(f.d_loss_early, '+.3g')}, val acc {_ci(f.d_acc_early, '+.3f')}"
                for f in self.factors
            )
            + ".",
            "",
            f"**Verdict.** {self.verdict}",
        ]
        if self.files:
            lines += ["", "Files: " + ", ".join(Path(f).name for f in self.files)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        """JSON-able summary (per-seed arrays as lists)."""
        return {
            "seeds": self.seeds,
            "confidence": self.confidence,
            "overfit": self.overfit,
            "overfit_train_loss": finite_list(self.overfit_train_loss),
            "overfit_val_loss": finite_list(self.overfit_val_loss),
            "overfit_train_acc": finite_list(self.overfit_train_acc),
            "overfit_val_acc": finite_list(self.overfit_val_acc),
            "early_val_loss": finite_list(self.early_val_loss),
            "early_val_acc": finite_list(self.early_val_acc),
            "early_epoch": finite_list(self.early_epoch),
            "control_val_loss": finite_list(self.control_val_loss),
            "control_val_acc": finite_list(self.control_val_acc),
            "control_train_loss": finite_list(self.control_train_loss),
            "control_train_acc": finite_list(self.control_train_acc),
            "factors": [
                {
                    "factor": f.factor,
                    "val_loss": finite_list(f.val_loss),
                    "val_acc": finite_list(f.val_acc),
                    "train_loss": finite_list(f.train_loss),
                    "train_acc": finite_list(f.train_acc),
                    "d_loss": f.d_loss.to_dict(),
                    "d_acc": f.d_acc.to_dict(),
                    "loss_verdict": f.loss_verdict,
                    "acc_verdict": f.acc_verdict,
                    "call": f.call,
                    "d_loss_early": f.d_loss_early.to_dict(),
                    "d_acc_early": f.d_acc_early.to_dict(),
                    "scaled_val_loss": finite_list(f.scaled_val_loss),
                    "scaled_val_acc": finite_list(f.scaled_val_acc),
                }
                for f in self.factors
            ],
            "curve_epochs": [int(e) for e in self.curve_epochs],
            "curves": {k: finite_list(v) for k, v in self.curves.items()},
            "curves_acc": {k: finite_list(v) for k, v in self.curves_acc.items()},
            "verdict": self.verdict,
            "settings": self.settings,
            "files": list(self.files),
        }


def _ci(d: PairedDifference, fmt: str) -> str:
    return f"{d.mean:{fmt}} [{d.low:{fmt}}, {d.high:{fmt}}]"


# ---------------------------------------------------------------------------- statistics
def paired_difference(a, b, confidence: float = 0.95, higher_is_better: bool = False) -> PairedDifference:
    """Paired comparison of ``a`` against ``b`` (same seeds): mean of ``a - b`` and its t interval.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        The metric per seed, with and without the treatment.
    confidence : float, default 0.95
    higher_is_better : bool, default False
        Which sign counts as "better" in the ``better`` / ``worse`` counts.

    Returns
    -------
    PairedDifference
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = d.size
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    if n > 1 and sd > 0:
        res = stats.ttest_rel(a, b)
        ci = res.confidence_interval(confidence)
        low, high, p = float(ci.low), float(ci.high), float(res.pvalue)
    elif n > 1:  # every seed gave the same difference: no spread to put an interval on
        low = high = mean
        p = float("nan")
    else:
        low, high, p = -math.inf, math.inf, float("nan")
    sign = 1.0 if higher_is_better else -1.0
    return PairedDifference(
        mean=mean,
        low=low,
        high=high,
        pvalue=p,
        better=int(np.count_nonzero(sign * d > 0)),
        worse=int(np.count_nonzero(sign * d < 0)),
        n=n,
    )


def _call(d: PairedDifference, higher_is_better: bool) -> str:
    if not (np.isfinite(d.low) and np.isfinite(d.high)):
        return "no detectable effect"
    good, bad = (d.low > 0, d.high < 0) if higher_is_better else (d.high < 0, d.low > 0)
    return "helps" if good else "hurts" if bad else "no detectable effect"


# ---------------------------------------------------------------------------- the experiment
def _moons(n: int, input_noise: float, label_noise: float, seed: int) -> Dataset:
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=input_noise, random_state=seed)
    data = Dataset(X, y.astype(float))
    if label_noise > 0:
        data = data.flip_labels(label_noise, seed=seed + 1, n_classes=2)
    return data


def _accuracy(net: MLP, W: np.ndarray, data: Dataset) -> np.ndarray:
    out = net.predict(W, data.X)  # (B, N, n_out)
    labels = data.class_labels()
    pred = (out[..., 0] > 0).astype(np.int64) if net.n_out == 1 else out.argmax(axis=-1)
    return (pred == labels).mean(axis=-1)


def slingshot(
    factors=(0.1, 0.2, 0.5),
    seeds: int = 32,
    n: int = 80,
    val_fraction: float = 0.5,
    input_noise: float = 0.2,
    label_noise: float = 0.2,
    data: Dataset | None = None,
    hidden=(32,),
    activation: str = "tanh",
    optimizer: str = "adam",
    lr: float = 1e-2,
    overfit_epochs: int = 2000,
    after_epochs: int = 100,
    batch_size: int | None = None,
    overfit_ratio: float = 2.0,
    confidence: float = 0.95,
    curve_points: int = 20,
    seed: int = 0,
    out_dir: str | Path | None = None,
    figures: bool = False,
    progress: bool = False,
    *,
    overwrite: bool = False,
) -> SlingshotResult:
    """Run seed 000's slingshot maneuver against plain continued training.

    Parameters
    ----------
    factors : sequence of float, default (0.1, 0.2, 0.5)
        Weight multipliers to sweep (each > 0); the seed's is 0.2. Factor 1 is
        the control itself.
    seeds : int, default 32
        Independent runs (initialisations), all trained in one call per phase.
    n : int, default 80
        Points of the two-moons data (ignored with ``data``).
    val_fraction : float, default 0.5
        Share of the points held out for validation.
    input_noise : float, default 0.2
        Standard deviation of the Gaussian noise on the moons' inputs.
    label_noise : float, default 0.2
        Share of labels flipped (the noise a large network memorises).
    data : Dataset, optional
        Use these points (integer labels 0..C-1) instead of the moons.
    hidden : sequence of int, default (32,)
        Hidden widths of ``MLP(d, hidden, C, activation, "softmax_xent")``.
    activation : str, default "tanh"
    optimizer : str, default "adam"
        Any optimiser of :func:`fastland.train` ("sgd" needs ``batch_size``).
    lr : float, default 1e-2
    overfit_epochs : int, default 2000
        Epochs of the first phase.
    after_epochs : int, default 100
        Epochs after the branch point (the seed's "a few more epochs").
    batch_size : int, optional
        Mini-batch size; None trains on the full batch ("gd" with mini-batches
        runs as "sgd").
    overfit_ratio : float, default 2.0
        The runs count as overfit when the median validation loss is at least
        this many times the median training loss at the branch point.
    confidence : float, default 0.95
        Level of the paired confidence intervals.
    curve_points : int, default 20
        Points of the validation-loss curves after the branch point.
    seed : int, default 0
        Seeds the data, the initialisations and the mini-batch streams.
    out_dir : path, optional
        Write ``slingshot.json``, ``report.md`` and (with ``figures``) PNGs there.
    figures : bool, default False
        Validation-loss curves and the differences against the factor (matplotlib).
    progress : bool, default False
        Progress bars of the training calls.
    overwrite : bool, default False
        Replace these files in ``out_dir``. Without it a call whose files exist
        already raises FileExistsError naming them, before any computation,
        and leaves every file as it was.

    Returns
    -------
    SlingshotResult

    Examples
    --------
    >>> import fastland as fl
    >>> res = fl.experiments.slingshot(seeds=8, overfit_epochs=300, after_epochs=20)  # doctest: +SKIP
    >>> print(res.verdict)                                                           # doctest: +SKIP
    """
    factors = [check_positive(f"factors[{i}]", f) for i, f in enumerate(factors)]
    if not factors:
        raise ValueError("factors: expected at least one factor")
    seeds = check_int("seeds", seeds, 2)
    val_fraction = check_positive("val_fraction", val_fraction)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction: expected a number strictly between 0 and 1, got {val_fraction}")
    check_choice("optimizer", optimizer, tuple(OPTIMIZERS))
    overfit_epochs = check_int("overfit_epochs", overfit_epochs, 1)
    after_epochs = check_int("after_epochs", after_epochs, 1)
    overfit_ratio = check_positive("overfit_ratio", overfit_ratio)
    confidence = check_positive("confidence", confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a level strictly between 0 and 1, got {confidence}")
    curve_points = check_int("curve_points", curve_points, 1)
    if data is None:
        n = check_int("n", n, 4)
        data = _moons(
            n,
            check_positive("input_noise", input_noise, allow_zero=True),
            check_positive("label_noise", label_noise, allow_zero=True),
            seed,
        )
        data_desc = (
            f"two moons, {n} points (input noise {input_noise:g}, {100 * label_noise:g}% labels "
            f"flipped), {100 * val_fraction:g}% held out"
        )
    else:
        if not isinstance(data, Dataset):
            raise ValueError(f"data: expected a fastland.Dataset, got {type(data).__name__}")
        data_desc = f"user data, {data.n} points, {100 * val_fraction:g}% held out"
    labels = data.class_labels()
    n_classes = max(2, int(labels.max()) + 1)
    train_data, val_data = data.split(1 - val_fraction, seed=seed)
    net = MLP(data.dim, list(hidden), n_classes, activation=activation, loss="softmax_xent")
    land = Landscape(net, train_data)
    val_land = Landscape(net, val_data)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, 1)
        if batch_size > train_data.n:
            raise ValueError(f"batch_size: expected at most {train_data.n} (the training points), got {batch_size}")
    per_epoch = 1 if batch_size is None else math.ceil(train_data.n / batch_size)
    if optimizer == "gd" and batch_size is not None and batch_size < train_data.n:
        optimizer = "sgd"
    overwrite = check_bool("overwrite", overwrite)
    out = None
    if out_dir is not None:  # every file this call writes, claimed before the computation
        out = claim_outputs(out_dir, ["slingshot.json", "report.md", *(_FIGURES if figures else ())], overwrite)

    starts = net.init(seeds, method="glorot", seed=seed)
    overfit_steps = overfit_epochs * per_epoch
    fit = train(
        land,
        starts,
        optimizer=optimizer,
        lr=lr,
        steps=overfit_steps,
        batch_size=batch_size,
        seed=seed,
        record_every=max(1, overfit_steps // 100),
        progress=progress,
    )
    W0 = fit.params
    traj = fit.trajectory
    vl_traj = val_land.loss(traj.reshape(-1, net.n_params)).reshape(traj.shape[:2])
    best = np.nanargmin(vl_traj, axis=1)
    W_early = traj[np.arange(seeds), best]
    e_vl, e_va = val_land.loss(W_early), _accuracy(net, W_early, val_data)
    e_epoch = np.asarray(fit.trajectory_steps)[best] / per_epoch
    o_tl, o_vl = land.loss(W0), val_land.loss(W0)
    o_ta, o_va = _accuracy(net, W0, train_data), _accuracy(net, W0, val_data)
    overfit = bool(np.median(o_vl) >= overfit_ratio * np.median(o_tl))

    after_steps = after_epochs * per_epoch
    every = max(1, after_steps // curve_points)
    branches = {"control": 1.0, **{f"x{f:g}": f for f in factors}}
    ends, curves, curves_acc, scaled = {}, {}, {}, {}
    curve_steps = None
    for name, f in branches.items():
        # one call per branch, same seed: run r draws the same mini-batches in every branch
        cont = train(
            land,
            f * W0,
            optimizer=optimizer,
            lr=lr,
            steps=after_steps,
            batch_size=batch_size,
            seed=seed + 1,
            record_every=every,
            progress=progress,
        )
        ends[name] = cont.params
        traj = cont.trajectory
        flat = traj.reshape(-1, net.n_params)
        vl = val_land.loss(flat).reshape(traj.shape[:2])
        va = _accuracy(net, flat, val_data).reshape(traj.shape[:2])
        curves[name] = vl.mean(axis=0)
        curves_acc[name] = va.mean(axis=0)
        scaled[name] = (vl[:, 0], va[:, 0])
        curve_steps = cont.trajectory_steps
    curve_epochs = np.asarray(curve_steps) / per_epoch

    def metrics(W):
        return val_land.loss(W), _accuracy(net, W, val_data), land.loss(W), _accuracy(net, W, train_data)

    c_vl, c_va, c_tl, c_ta = metrics(ends["control"])
    results = []
    for f in factors:
        vl, va, tl, ta = metrics(ends[f"x{f:g}"])
        dl = paired_difference(vl, c_vl, confidence, higher_is_better=False)
        da = paired_difference(va, c_va, confidence, higher_is_better=True)
        results.append(
            FactorResult(
                factor=f,
                val_loss=vl,
                val_acc=va,
                train_loss=tl,
                train_acc=ta,
                d_loss=dl,
                d_acc=da,
                loss_verdict=_call(dl, False),
                acc_verdict=_call(da, True),
                d_loss_early=paired_difference(vl, e_vl, confidence, higher_is_better=False),
                d_acc_early=paired_difference(va, e_va, confidence, higher_is_better=True),
                scaled_val_loss=scaled[f"x{f:g}"][0],
                scaled_val_acc=scaled[f"x{f:g}"][1],
            )
        )
    settings = {
        "factors": factors,
        "seeds": seeds,
        "data": data_desc,
        "n_train": train_data.n,
        "n_val": val_data.n,
        "network": f"MLP({data.dim}, {list(hidden)}, {n_classes}, {activation!r}, 'softmax_xent')",
        "n_params": net.n_params,
        "optimizer": optimizer,
        "lr": float(lr),
        "overfit_epochs": overfit_epochs,
        "after_epochs": after_epochs,
        "batch_size": batch_size,
        "steps_per_epoch": per_epoch,
        "overfit_ratio": overfit_ratio,
        "confidence": confidence,
        "seed": seed,
    }
    result = SlingshotResult(
        factors=results,
        seeds=seeds,
        overfit_train_loss=o_tl,
        overfit_val_loss=o_vl,
        overfit_train_acc=o_ta,
        overfit_val_acc=o_va,
        overfit=overfit,
        early_val_loss=e_vl,
        early_val_acc=e_va,
        early_epoch=e_epoch,
        control_val_loss=c_vl,
        control_val_acc=c_va,
        control_train_loss=c_tl,
        control_train_acc=c_ta,
        curve_epochs=curve_epochs,
        curves=curves,
        curves_acc=curves_acc,
        confidence=confidence,
        verdict="",
        settings=settings,
    )
    result.verdict = _verdict(result)
    if out is not None:
        _write(result, out, figures, overwrite)
    return result


def _verdict(r: SlingshotResult) -> str:
    pct = f"{100 * r.confidence:g}%"
    groups: dict[str, list[str]] = {}
    for f in r.factors:
        groups.setdefault(f.call, []).append(f"{f.factor:g}")
    words = {
        "better": "ended better than plain continued training",
        "worse": "ended worse than plain continued training",
        "mixed": "gave mixed results (one of validation loss and accuracy better, the other worse)",
        "same": "made no detectable difference",
    }
    heads = [f"factor {', '.join(v)}: {words[k]}" for k, v in groups.items()]
    detail = "; ".join(
        f"{f.factor:g}: validation loss {f.d_loss.mean:+.3g} [{f.d_loss.low:+.3g}, {f.d_loss.high:+.3g}], "
        f"accuracy {f.d_acc.mean:+.3f} [{f.d_acc.low:+.3f}, {f.d_acc.high:+.3f}]"
        for f in r.factors
    )
    text = (
        f"Slingshot after {r.settings['after_epochs']} more epochs, {r.seeds} seeds: "
        + "; ".join(heads)
        + f" (paired differences slingshot minus control, {pct} intervals: {detail})."
    )
    early = [f for f in r.factors if f.call == "better"]
    if early:
        shares = []
        for f in early:
            gain = float(np.mean(r.control_val_loss - f.val_loss))
            now = float(np.mean(r.overfit_val_loss - f.scaled_val_loss))
            if gain > 0:
                shares.append(f"{100 * now / gain:.0f}% for factor {f.factor:g}")
        if shares:
            text += (
                " Of the validation-loss gain, the scaling alone (before any more training, mostly by shrinking "
                "over-confident logits) already gave " + ", ".join(shares) + "."
            )
    if early:
        said = {"helps": "better than", "hurts": "worse than", "no detectable effect": "no different from"}
        items = [
            f"factor {f.factor:g}: validation loss {said[_call(f.d_loss_early, False)]} it "
            f"({f.d_loss_early.mean:+.3g} [{f.d_loss_early.low:+.3g}, {f.d_loss_early.high:+.3g}]), accuracy "
            f"{said[_call(f.d_acc_early, True)]} it ({f.d_acc_early.mean:+.3f} [{f.d_acc_early.low:+.3f}, "
            f"{f.d_acc_early.high:+.3f}])"
            for f in early
        ]
        text += (
            " Against early stopping (per seed, the point of the first phase with the lowest validation loss, "
            "an oracle): " + "; ".join(items) + "."
        )
    if not r.overfit:
        text += (
            f" Caution: the runs had not overfit at the branch point (median validation loss "
            f"{np.median(r.overfit_val_loss):.3g} vs training loss {np.median(r.overfit_train_loss):.3g}), "
            f"so this does not test the seed's setting; train longer or use a larger network."
        )
    else:
        text += (
            f" The runs had overfit at the branch point (median training loss {np.median(r.overfit_train_loss):.3g},"
            f" validation loss {np.median(r.overfit_val_loss):.3g})."
        )
    return text


def _write(result: SlingshotResult, out: Path, figures: bool, overwrite: bool) -> None:
    files = []
    if figures:
        from .. import plot

        p = out / _FIGURES[0]
        ys = {("control" if k == "control" else f"slingshot {k}"): v for k, v in result.curves.items()}
        plot.series(
            result.curve_epochs,
            ys,
            "epochs after the branch point",
            "validation loss (mean over seeds)",
            path=p,
            overwrite=overwrite,
            title="Slingshot vs plain continued training",
        )
        files.append(str(p))
        p = out / _FIGURES[1]
        ys = {("control" if k == "control" else f"slingshot {k}"): v for k, v in result.curves_acc.items()}
        plot.series(
            result.curve_epochs,
            ys,
            "epochs after the branch point",
            "validation accuracy (mean over seeds)",
            path=p,
            overwrite=overwrite,
            title="Slingshot vs plain continued training",
        )
        files.append(str(p))
        p = out / _FIGURES[2]
        fx = np.array([f.factor for f in result.factors])
        order = np.argsort(fx)
        ys = {
            "mean d val loss": np.array([f.d_loss.mean for f in result.factors])[order],
            "CI low": np.array([f.d_loss.low for f in result.factors])[order],
            "CI high": np.array([f.d_loss.high for f in result.factors])[order],
        }
        ys = {k: np.where(np.isfinite(v), v, np.nan) for k, v in ys.items()}
        plot.series(
            fx[order],
            ys,
            "weight factor",
            "validation loss, slingshot - control",
            path=p,
            overwrite=overwrite,
            title=f"Paired difference ({100 * result.confidence:g}% CI)",
        )
        files.append(str(p))
    result.out_dir = str(out)
    result.files = files + [str(out / "slingshot.json"), str(out / "report.md")]
    text = json.dumps(result.to_dict(), indent=2, default=json_default)
    write_text(out / "slingshot.json", text, overwrite=overwrite, argname="out_dir")
    write_text(out / "report.md", result.report(), overwrite=overwrite, argname="out_dir")
