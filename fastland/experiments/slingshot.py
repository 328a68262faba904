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
2. **Overfit** (one :func:`fastland.train` call, all runs at once): run ``r``
   starts from its own Glorot initialisation and trains for
   ``overfit_epochs`` on the training part. The result records whether the
   runs overfit (validation loss at least ``overfit_ratio`` times the
   training loss).
3. **Continue** from the overfitted parameters ``w_r`` for ``after_epochs``:
   plainly from ``w_r`` (the control) and from ``f * w_r`` for every factor
   ``f`` in ``factors``. Each branch is one :func:`fastland.train` call over
   all runs with the same random seed, so with mini-batches run ``r`` sees
   the same batches in every branch (common random numbers); every branch
   restarts the optimiser's state (Adam's moments), the control included.
4. **Compare**, per factor, the paired differences ``d_r = metric(slingshot) -
   metric(control)`` of validation loss and validation accuracy over the
   runs: mean, a Student-t confidence interval of the mean
   (``scipy.stats.t``; the paired t interval) and the number of runs where
   the slingshot was better. The verdict says "helps" when the interval of
   the validation-loss difference lies below 0, "hurts" when above 0, and
   "no detectable effect" otherwise (accuracy likewise, higher being better).

An epoch is ``ceil(N_train / batch_size)`` optimiser steps (one step in full
batch mode, the default).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from .._validate import check_choice, check_int, check_positive
from ..data import Dataset
from ..landscape import Landscape
from ..model import MLP
from ..train import OPTIMIZERS, train
from ._files import save_series
from ._json import finite_or_none
from ._result import Check, ExperimentResult, Section, Verdict, check_seed, pick, protocol_doc, say

__all__ = ["FactorResult", "PairedDifference", "SlingshotResult", "paired_difference", "slingshot"]

_FIGURES = ("slingshot_curves.png", "slingshot_accuracy.png", "slingshot_factors.png")


# ------------------------------------------------------------------------------ results
@dataclass
class PairedDifference:
    """Paired comparison of one metric over the runs (slingshot minus control).

    Attributes
    ----------
    mean : float
        Mean of the per-run differences.
    low, high : float
        Confidence interval of the mean (Student t with ``n - 1`` degrees of
        freedom; the interval collapses to the mean when all differences agree).
    pvalue : float
        Two-sided paired t-test p-value (NaN when all differences are equal).
    better : int
        Runs where the slingshot was strictly better (lower loss or higher accuracy).
    worse : int
        Runs where it was strictly worse.
    n : int
        Number of runs.
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
    val_loss, val_acc, train_loss, train_acc : ndarray, shape (runs,)
        At the end of the continued training.
    d_loss, d_acc : PairedDifference
        Validation loss and accuracy, slingshot minus control.
    loss_verdict, acc_verdict : str
        "helps", "hurts" or "no detectable effect".
    d_loss_early, d_acc_early : PairedDifference
        Validation loss and accuracy, slingshot minus early stopping (the
        record of the first phase with the lowest validation loss, per seed).
    scaled_val_loss, scaled_val_acc : ndarray, shape (runs,)
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
class SlingshotResult(ExperimentResult):
    """Result of :func:`slingshot`.

    Attributes
    ----------
    factors : list of FactorResult
        One per factor, in the order asked.
    runs : int
        Number of independent runs (one initialisation each; deprecated old name ``seeds``).
    overfit_train_loss, overfit_val_loss, overfit_train_acc, overfit_val_acc : ndarray, shape (runs,)
        At the end of the overfitting phase (the branch point).
    overfit : bool
        Whether the runs overfit: median validation loss at least
        ``overfit_ratio`` times the median training loss.
    early_val_loss, early_val_acc, early_epoch : ndarray, shape (runs,)
        Early stopping, an oracle baseline: the recorded point of the first
        phase (every ``overfit_epochs / 100`` epochs) with the lowest
        validation loss, its validation accuracy and epoch.
    control_val_loss, control_val_acc, control_train_loss, control_train_acc : ndarray, shape (runs,)
        Plain continued training, at the end.
    curve_epochs : ndarray, shape (k,)
        Epochs after the branch point at which ``curves`` are recorded.
    curves : dict of str -> ndarray, shape (k,)
        Mean validation loss over the runs along the continued training:
        "control" and "x<factor>" per factor.
    curves_acc : dict of str -> ndarray, shape (k,)
        The same for the validation accuracy.
    confidence : float
        Level of the confidence intervals.

    The verdict (:meth:`assess`): from the factors' calls (module notes),
    "helps" when some factor ended better and none worse or mixed, "hurts"
    when some ended worse and none better or mixed, "no_effect" when none made
    a detectable difference, "mixed" otherwise. Settings, files and the rest of
    the protocol: :class:`~fastland.experiments.ExperimentResult`.
    """

    factors: list
    runs: int
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

    TITLE = "Slingshot maneuver (seed 000)"
    JSON_FILE = "slingshot.json"
    VERDICT_LABELS = ("helps", "hurts", "mixed", "no_effect")

    @property
    def seeds(self) -> int:
        """Deprecated name of :attr:`runs`."""
        warnings.warn("SlingshotResult.seeds is now .runs", DeprecationWarning, stacklevel=2)
        return self.runs

    def __getitem__(self, factor: float) -> FactorResult:
        return pick(self.factors, "factor", factor, "factor", same=math.isclose)

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

    def _intro(self) -> str:
        s = self.settings
        return (
            f"{self.runs} runs; {s['data']}; network {s['network']}; {s['optimizer']} lr {s['lr']:g}, "
            f"{s['overfit_epochs']} epochs to overfit, then {s['after_epochs']} more epochs plainly (control) "
            f"or after multiplying all weights by each factor.\n\n"
            f"At the branch point (median over runs): training loss {np.median(self.overfit_train_loss):.3g}, "
            f"validation loss {np.median(self.overfit_val_loss):.3g}, training accuracy "
            f"{np.median(self.overfit_train_acc):.3f}, validation accuracy {np.median(self.overfit_val_acc):.3f}"
            f" ({'overfit' if self.overfit else 'not overfit'}).\n\n"
            "Differences are slingshot minus control, per run (paired); 'better/worse' counts runs. "
            "Early stopping is an oracle baseline: per run, the point of the first phase with the lowest "
            "validation loss."
        )

    def sections(self) -> list[Section]:
        """Slingshot against early stopping, per factor."""
        text = "Slingshot minus early stopping: " + "; ".join(
            f"factor {f.factor:g}: val loss {_ci(f.d_loss_early, '+.3g')}, val acc {_ci(f.d_acc_early, '+.3f')}"
            for f in self.factors
        )
        return [Section("", text + ".")]

    def _summary(self) -> dict:
        arrays = ("val_loss", "val_acc", "train_loss", "train_acc", "scaled_val_loss", "scaled_val_acc")
        paired = ("d_loss", "d_acc", "d_loss_early", "d_acc_early")
        names = ("overfit_train_loss", "overfit_val_loss", "overfit_train_acc", "overfit_val_acc")
        names += ("early_val_loss", "early_val_acc", "early_epoch", "control_val_loss", "control_val_acc")
        names += ("control_train_loss", "control_train_acc")
        return {
            "runs": self.runs,
            "confidence": self.confidence,
            "overfit": self.overfit,
            **{k: getattr(self, k) for k in names},
            "factors": [
                {"factor": f.factor, **{k: getattr(f, k) for k in arrays}}
                | {k: getattr(f, k).to_dict() for k in paired}
                | {"loss_verdict": f.loss_verdict, "acc_verdict": f.acc_verdict, "call": f.call}
                for f in self.factors
            ],
            "curve_epochs": [int(e) for e in self.curve_epochs],
            "curves": self.curves,
            "curves_acc": self.curves_acc,
        }

    def assess(self) -> Verdict:
        """The verdict: does shrinking the weights beat plain continued training? (class notes)."""
        pct = f"{100 * self.confidence:g}%"
        calls = {f.call for f in self.factors}
        if calls == {"same"}:
            label = "no_effect"
        elif "mixed" in calls or {"better", "worse"} <= calls:
            label = "mixed"
        else:
            label = "helps" if "better" in calls else "hurts"
        groups: dict[str, list[str]] = {}
        for f in self.factors:
            groups.setdefault(f.call, []).append(f"{f.factor:g}")
        words = {
            "better": "ended better than plain continued training",
            "worse": "ended worse than plain continued training",
            "mixed": "gave mixed results (one of validation loss and accuracy better, the other worse)",
            "same": "made no detectable difference",
        }
        heads = "; ".join(f"factor{'s' * (len(v) > 1)} {', '.join(v)} {words[k]}" for k, v in groups.items())
        key = max(self.factors, key=lambda f: abs(f.d_loss.mean))
        title = {"helps": "Helps", "hurts": "Hurts", "mixed": "Mixed", "no_effect": "No effect"}[label]
        headline = (
            f"{title}: after {self.settings['after_epochs']} more epochs over {self.runs} runs, {heads} "
            f"(largest mean validation-loss difference {key.d_loss.mean:+.3g} at factor {key.factor:g})."
        )
        evidence = [
            f"factor {f.factor:g}, slingshot minus control ({pct} intervals): validation loss "
            f"{f.d_loss.mean:+.3g} [{f.d_loss.low:+.3g}, {f.d_loss.high:+.3g}] ({f.loss_verdict}), accuracy "
            f"{f.d_acc.mean:+.3f} [{f.d_acc.low:+.3f}, {f.d_acc.high:+.3f}] ({f.acc_verdict})"
            for f in self.factors
        ]
        checks = [
            Check(f"x{f.factor:g}_{m}", f"factor {f.factor:g}: {pct} interval of the {what} difference", ok,
                  [d.low, d.high], 0.0, "excludes")
            for f in self.factors
            for m, what, d in (("val_loss", "validation-loss", f.d_loss), ("val_acc", "accuracy", f.d_acc))
            for ok in [bool(np.isfinite(d.low) and np.isfinite(d.high) and (d.low > 0 or d.high < 0))]
        ]  # fmt: skip
        ratio = float(np.median(self.overfit_val_loss) / np.median(self.overfit_train_loss))
        checks.append(
            Check("overfit", "median validation over training loss at the branch point", self.overfit, ratio,
                  self.settings["overfit_ratio"], ">=")
        )  # fmt: skip
        better = [f for f in self.factors if f.call == "better"]
        shares = []
        for f in better:
            gain = float(np.mean(self.control_val_loss - f.val_loss))
            now = float(np.mean(self.overfit_val_loss - f.scaled_val_loss))
            if gain > 0:
                shares.append(f"{100 * now / gain:.0f}% for factor {f.factor:g}")
        if shares:
            evidence.append(
                "of the validation-loss gain, the scaling alone (before any more training, mostly by shrinking "
                "over-confident logits) already gave " + ", ".join(shares)
            )
        said = {"helps": "better than", "hurts": "worse than", "no detectable effect": "no different from"}
        for f in better:
            evidence.append(
                f"against early stopping (an oracle: per run the first phase's point with the lowest validation "
                f"loss), factor {f.factor:g}: validation loss {said[_call(f.d_loss_early, False)]} it "
                f"({f.d_loss_early.mean:+.3g} [{f.d_loss_early.low:+.3g}, {f.d_loss_early.high:+.3g}]), accuracy "
                f"{said[_call(f.d_acc_early, True)]} it ({f.d_acc_early.mean:+.3f} [{f.d_acc_early.low:+.3f}, "
                f"{f.d_acc_early.high:+.3f}])"
            )
        m_train, m_val = np.median(self.overfit_train_loss), np.median(self.overfit_val_loss)
        caveats = []
        if self.overfit:
            evidence.append(f"the runs had overfit at the branch point (median training loss {m_train:.3g}, "
                            f"validation loss {m_val:.3g})")  # fmt: skip
        else:
            caveats.append(
                f"the runs had not overfit at the branch point (median validation loss {m_val:.3g} vs training "
                f"loss {m_train:.3g}), so this does not test the seed's setting; train longer or use a larger network"
            )
        s = self.settings
        settings = {"confidence": self.confidence, "overfit_ratio": s["overfit_ratio"], "runs": self.runs}
        settings["after_epochs"] = s["after_epochs"]
        return Verdict(label, headline, tuple(evidence), tuple(checks), tuple(caveats), settings)


def _ci(d: PairedDifference, fmt: str) -> str:
    return f"{d.mean:{fmt}} [{d.low:{fmt}}, {d.high:{fmt}}]"


# ---------------------------------------------------------------------------- statistics
def paired_difference(a, b, confidence: float = 0.95, higher_is_better: bool = False) -> PairedDifference:
    """Paired comparison of ``a`` against ``b`` (same runs): mean of ``a - b`` and its t interval.

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


@protocol_doc(SlingshotResult, seed="It draws the data, the initialisations and the mini-batches.")
def slingshot(
    factors=(0.1, 0.2, 0.5),
    runs: int = 32,
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
    *,
    seed: int = 0,
    out_dir: str | Path | None = None,
    figures: bool = False,
    progress: bool = False,
    overwrite: bool = False,
    seeds: int | None = None,
) -> SlingshotResult:
    """Run seed 000's slingshot maneuver against plain continued training.

    Parameters
    ----------
    factors : sequence of float, default (0.1, 0.2, 0.5)
        Weight multipliers to sweep (each > 0); the seed's is 0.2. Factor 1 is
        the control itself.
    runs : int, default 32
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
    {protocol}
    seeds : int, optional
        Deprecated name of ``runs`` (removed in 0.2): warns and sets ``runs``.

    Returns
    -------
    SlingshotResult

    Notes
    -----
    Figures: the validation loss and accuracy along the continued training, and
    the paired difference against the factor.

    Examples
    --------
    >>> import fastland as fl
    >>> res = fl.experiments.slingshot(runs=8, overfit_epochs=300, after_epochs=20)  # doctest: +SKIP
    >>> print(res.verdict)                                                           # doctest: +SKIP
    """
    factors = [check_positive(f"factors[{i}]", f) for i, f in enumerate(factors)]
    if not factors:
        raise ValueError("factors: expected at least one factor")
    if seeds is not None:
        warnings.warn("slingshot: seeds= is now runs= (as in every experiment)", DeprecationWarning, stacklevel=2)
        runs = seeds
    runs = check_int("runs", runs, 2)
    seed = check_seed(seed)
    say(progress)  # checks it; the progress bars are train's
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
    out = SlingshotResult.claim(out_dir, figures, overwrite, figure_names=_FIGURES)  # before the computation

    starts = net.init(runs, method="glorot", seed=seed)
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
    W_early = traj[np.arange(runs), best]
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
        "runs": runs,
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
        runs=runs,
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
        settings=settings,
    )
    result.save(out, overwrite, figures=(lambda: _figures(result, out, overwrite)) if figures else None)
    return result


def _figures(result: SlingshotResult, out: Path, overwrite: bool) -> list[str]:
    def label(k):
        return "control" if k == "control" else f"slingshot {k}"

    loss = {label(k): v for k, v in result.curves.items()}
    acc = {label(k): v for k, v in result.curves_acc.items()}
    fx = np.array([f.factor for f in result.factors])
    order = np.argsort(fx)
    diff = {
        "mean d val loss": np.array([f.d_loss.mean for f in result.factors])[order],
        "CI low": np.array([f.d_loss.low for f in result.factors])[order],
        "CI high": np.array([f.d_loss.high for f in result.factors])[order],
    }
    diff = {k: np.where(np.isfinite(v), v, np.nan) for k, v in diff.items()}
    epochs, after = result.curve_epochs, "epochs after the branch point"
    title = "Slingshot vs plain continued training"
    return [
        save_series(out, _FIGURES[0], overwrite, epochs, loss, after, "validation loss (mean over runs)",
                    title=title),
        save_series(out, _FIGURES[1], overwrite, epochs, acc, after, "validation accuracy (mean over runs)",
                    title=title),
        save_series(out, _FIGURES[2], overwrite, fx[order], diff, "weight factor",
                    "validation loss, slingshot - control",
                    title=f"Paired difference ({100 * result.confidence:g}% CI)"),
    ]  # fmt: skip
