"""Seed 001's rotation experiment: does rotating the data move the good minima?

One dataset of ``n`` random points with random labels is rotated by each angle;
exp(-U/T) of the same network is sampled for each; the geometry of the
low-loss draws (kernel PCA, plane, explained variance) is compared across
angles.

A fact the comparison uses: rotating the inputs by R is an exact orthogonal
change of variables in parameter space (first-layer weights W1 -> W1 R), so
the landscapes for different angles are isometric. Only the box [-L, L]^p,
which is not rotation invariant, can make them differ. The experiment maps
every angle's draws back by that isometry before comparing planes and minima
sets, and reports the raw (unaligned) plane angles too.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import linalg, stats
from scipy.spatial.distance import cdist

from .. import datasets
from .._validate import check_bool
from ..convergence import Convergence
from ..geometry import MinimaPlane, canonical_form, mass_below, minima_plane, rashomon_ratio, read_flat
from ..landscape import Landscape
from ..model import MLP
from ..sample import sample
from ..store import ESS_TARGET, RHAT_TARGET
from ._result import Check, ExperimentResult, Section, Verdict, check_seed, protocol_doc, say

__all__ = ["RotationResult", "rotation"]


@dataclass
class AngleResult:
    """What one angle of the experiment produced."""

    angle: float
    path: str | None
    acceptance: float
    rhat_max: float
    ess_bulk_min: float
    clt_ok: bool
    plane: MinimaPlane
    rashomon: float
    rashomon_stderr: float
    explained_sd: float
    half_gap: float
    seconds: float
    converged: bool = False
    draws: int = 0
    thin: int = 0
    stopped_by: str | None = None


@dataclass
class RotationResult(ExperimentResult):
    """Result of :func:`rotation`.

    Attributes
    ----------
    angles : list of AngleResult
        Per angle: run file (None when sampled in memory), convergence, the
        minima plane, the Rashomon ratio (posterior mass below the threshold)
        and a bootstrap standard deviation of the plane's explained variance.
    plane_angles_raw, plane_angles_aligned : dict
        Largest principal angle (degrees) between the parameter-space planes of
        angle 0 and each other angle, before and after mapping the draws back
        by the exact isometry W1 -> W1 R.
    energy_distance, energy_baseline : dict
        Energy distance between the canonical low-loss draws of the first angle
        and each other angle (aligned), and the same statistic between two
        halves of the first angle's draws (the noise level).
    loss_ks_pvalue : dict
        Two-sample Kolmogorov-Smirnov p-values of the loss distributions
        (thinned to roughly independent draws by the loss's ESS).

    The verdict (:meth:`assess`): "no_change" when the plane's explained
    variance spreads across angles by no more than the noise, the loss
    distributions' smallest KS p-value is above 0.01 and the aligned minima
    sets' largest energy distance is at most twice the between-chain-halves
    noise, and every run converged (R-hat <= 1.01 and ESS >= 400 on the loss,
    the outputs and the canonical weights: :attr:`fastland.store.RunSummary.converged`);
    "inconclusive" when a run has not converged or too few draws had a low loss,
    whatever the comparisons say; else "changed". Settings, files and
    the rest of the protocol: :class:`~fastland.experiments.ExperimentResult`.
    """

    angles: list
    plane_angles_raw: dict
    plane_angles_aligned: dict
    energy_distance: dict
    energy_baseline: float
    loss_ks_pvalue: dict
    control: RotationResult | None = None

    TITLE = "Rotation experiment (seed 001)"
    JSON_FILE = "rotation.json"
    VERDICT_LABELS = ("no_change", "changed", "inconclusive")

    def table(self) -> str:
        """A short text table, one row per angle."""
        head = (
            f"{'angle':>6} {'accept':>7} {'R-hat max':>9} {'ESS min':>8} {'kPCA err':>8} "
            f"{'low-loss':>8} {'plane expl.':>11} {'null':>6} {'param expl.':>11} {'null':>6}"
        )
        rows = [head]
        for a in self.angles:
            pl = a.plane
            rows.append(
                f"{a.angle:>6g} {a.acceptance:>7.3f} {a.rhat_max:>9.3f} {a.ess_bulk_min:>8.0f} "
                f"{pl.kernel_error:>8.3f} {pl.n_low:>8d} {np.nansum(pl.explained):>11.3f} "
                f"{pl.null_explained:>6.3f} {np.nansum(pl.param_explained):>11.3f} {pl.param_null_explained:>6.3f}"
            )
        return "\n".join(rows)

    def _intro(self) -> str:
        s = self.settings
        return (
            f"`random_labels(n={s['n']}, seed={s['data_seed']})` rotated by {', '.join(f'{a:g}' for a in s['angles'])}"
            f" degrees; MLP(2, {s['hidden']}, 2, {s['activation']!r}, 'softmax_xent'); exp(-U/T) at T = "
            f"{s['temperature']:g} on the box [-{s['box']:g}, {s['box']:g}]^p sampled by {s['method']} "
            f"({s['chains']} chains x {s['draws']} draws, thin {s['thin']}, warm-up {s['warmup']}); low loss: "
            f"U < {s['threshold']:g}. Rotating the inputs is an exact isometry of parameter space (W1 -> W1 R); "
            "only the box can break it."
        )

    def sections(self) -> list[Section]:
        """The comparison of every angle with the first one."""
        if not self.plane_angles_raw:
            return []
        ref = f"{self.angles[0].angle:g}"
        rows = [f"{'angle':>6} {'plane angle raw':>15} {'aligned':>8} {'energy dist.':>12} {'loss KS p':>9}"]
        for key in self.plane_angles_raw:
            rows.append(
                f"{key:>6} {self.plane_angles_raw[key]:>15.1f} {self.plane_angles_aligned[key]:>8.1f} "
                f"{self.energy_distance[key]:>12.3g} {self.loss_ks_pvalue[key]:>9.3g}"
            )
        rows.append(f"energy distance between two halves of the chains of angle {ref}: {self.energy_baseline:.3g}")
        out = [Section(f"Against angle {ref} (plane angles in degrees):", "\n".join(rows), preformatted=True)]
        if self.control is not None:
            c = self.control
            head = (
                f"Control: a Gaussian prior (weight decay {c.settings.get('weight_decay', float('nan')):.3g}) "
                f"instead of the box, on a box of {c.settings.get('box', float('nan')):g}, where rotating the "
                "data is an exact symmetry:"
            )
            out.append(Section(head, c.table(), preformatted=True))
            out += [
                Section(f"Control, {x.heading[0].lower()}{x.heading[1:]}", x.text, x.preformatted) for x in c.sections()
            ]
        return out

    def _summary(self) -> dict:
        fields = ("angle", "path", "acceptance", "rhat_max", "ess_bulk_min", "clt_ok", "rashomon", "rashomon_stderr")
        plane = ("kernel_error", "reconstruction_error", "gamma", "n_low", "explained")
        plane_tail = ("null_explained", "param_explained", "param_null_explained", "messages")
        return {
            "angles": [
                {k: getattr(a, k) for k in fields}
                | {k: getattr(a.plane, k) for k in plane}
                | {"explained_sd": a.explained_sd}
                | {k: getattr(a.plane, k) for k in plane_tail}
                | {"seconds": a.seconds}
                for a in self.angles
            ],
            "plane_angles_raw": self.plane_angles_raw,
            "plane_angles_aligned": self.plane_angles_aligned,
            "energy_distance": self.energy_distance,
            "energy_baseline": self.energy_baseline,
            "loss_ks_pvalue": self.loss_ks_pvalue,
        } | ({} if self.control is None else {"control": self.control._summary() | {"settings": self.control.settings}})

    def assess(self) -> Verdict:
        """The verdict: does rotating the data move the good minima, and is it the box? (class notes)."""
        own = self._assess_runs()
        if self.control is None:
            caveat = (
                "the box [-box, box]^p is the only thing that is not rotation invariant: a change is the box's "
                "effect (run with control=True to test that)"
            )
            return Verdict(own.label, own.headline, own.evidence, own.checks, (*own.caveats, caveat), own.settings)
        ctl = self.control._assess_runs()
        checks = own.checks + tuple(
            Check(f"control_{c.name}", f"control: {c.about}", c.passed, c.value, c.threshold, c.rule)
            for c in ctl.checks
        )
        evidence = own.evidence + tuple(f"control: {e}" for e in ctl.evidence)
        caveats = own.caveats + tuple(f"control: {c}" for c in ctl.caveats)
        settings = {**own.settings, "control_weight_decay": self.control.settings.get("weight_decay"),
                    "control_box": self.control.settings.get("box")}  # fmt: skip
        if own.label == "inconclusive":
            label, headline = "inconclusive", own.headline
        elif ctl.label != "no_change":
            label = "inconclusive"
            headline = (
                "Inconclusive: the control, where rotating the data is an exact symmetry (a Gaussian prior of the "
                f"box's variance, no box), came out {ctl.label!r}, so the comparisons cannot tell the box's effect "
                f"from noise ({ctl.headline})"
            )
        elif own.label == "no_change":
            label = "no_change"
            headline = own.headline.rstrip(".") + "; the rotation-invariant control agrees."
        else:
            label = "changed"
            headline = (
                own.headline.rstrip(".") + ". The rotation-invariant control (a Gaussian prior of the box's "
                "variance, no box) shows no change, so the change is the box's effect: the seed's "
                "'nothing changes' did not control for the box."
            )
        return Verdict(label, headline, evidence, checks, caveats, settings)

    def _assess_runs(self) -> Verdict:
        """The comparison of this result's own angles (box runs, or the control's)."""
        per_angle = self.angles
        expl = np.array([np.nansum(a.plane.explained) for a in per_angle])
        sds = np.array([a.explained_sd for a in per_angle])
        nulls = np.array([a.plane.null_explained for a in per_angle])
        rhat = max(a.rhat_max for a in per_angle)
        mixed = all(a.converged for a in per_angle)
        settings = {
            "threshold": self.settings["threshold"],
            "temperature": self.settings["temperature"],
            "ks_alpha": _KS_ALPHA,
            "energy_factor": _ENERGY_FACTOR,
            "rhat_target": RHAT_TARGET,
            "ess_target": ESS_TARGET,
        }
        if not all(a.plane.enough for a in per_angle):
            few = ", ".join(f"{a.angle:g}: {a.plane.n_low}" for a in per_angle)
            return Verdict(
                "inconclusive",
                f"Inconclusive: too few low-loss draws to compare (per angle {few}).",
                checks=(Check("enough_low_loss", "enough low-loss draws at every angle for a minima plane", False),),
                caveats=("lower the temperature or sample longer",),
                settings=settings,
            )
        spread = float(expl.max() - expl.min())
        # noise: two standard errors of a difference (bootstrap), or the gap between the odd and
        # even chains of one angle when that is larger (chains that have not mixed)
        gaps = np.array([a.half_gap for a in per_angle])
        noise = float(2 * np.sqrt(2) * np.nanmax(sds)) if np.any(np.isfinite(sds)) else float("nan")
        if np.any(np.isfinite(gaps)):
            noise = float(np.nanmax([noise, np.nanmax(gaps)]))
        ks = self.loss_ks_pvalue
        ks_min = min(ks.values()) if ks else 1.0
        ed = max(self.energy_distance.values()) if self.energy_distance else 0.0
        baseline = self.energy_baseline
        same_expl = not (spread > noise)
        same_loss = ks_min > _KS_ALPHA
        same_set = not (np.isfinite(baseline) and ed > _ENERGY_FACTOR * max(baseline, 1e-12))
        checks = (
            Check("explained_spread", "spread of the plane's explained variance across angles, against its noise",
                  same_expl, spread, noise, "<="),
            Check("loss_ks_pvalue_min", "smallest KS p-value of the loss distributions", same_loss, ks_min,
                  _KS_ALPHA, ">"),
            Check("energy_distance_max", "largest energy distance of the aligned minima sets, against "
                  f"{_ENERGY_FACTOR:g} x the between-chain-halves noise", same_set, ed,
                  _ENERGY_FACTOR * baseline, "<="),
            Check("converged", "every angle's run converged (R-hat <= 1.01 and ESS >= 400 on the loss, the outputs "
                  "and the canonical weights); the largest R-hat", mixed, rhat, RHAT_TARGET, "<="),
        )  # fmt: skip
        if not mixed:
            # a comparison of unconverged chains says nothing either way (the differences, or
            # their absence, may be where the chains happen to be)
            label = "inconclusive"
            headline = (
                "Inconclusive: the chains have not converged "
                f"(R-hat max {rhat:.3f}; targets R-hat <= {RHAT_TARGET}, ESS >= {ESS_TARGET:g}), so the angles "
                "cannot be compared; sample until converged (until=fastland.Convergence(...))."
            )
        elif same_expl and same_loss and same_set:
            label = "no_change"
            headline = (
                "No change: rotating the data left the geometry of the good minima the same within noise "
                f"(explained-variance spread {spread:.3f} vs noise {noise:.3f}; loss KS p >= {ks_min:.3g})."
            )
        else:
            label = "changed"
            failed = [c for c in checks[:3] if not c.passed]
            which = {"explained_spread": "explained variance", "loss_ks_pvalue_min": "loss distribution"}
            names = ", ".join(which.get(c.name, "minima set") for c in failed)
            c = failed[0]
            headline = (
                f"Changed: rotating the data changed the {names} beyond noise "
                f"({c.name.replace('_', ' ')} {c.value:.3g} vs {c.threshold:.3g})."
            )
        evidence = [
            f"explained variance of the plane per angle: {', '.join(f'{e:.3f}' for e in expl)} "
            f"(isotropic null {np.nanmean(nulls):.3f})",
            "the low-loss draws lie closer to a plane than an isotropic cloud would"
            if bool(np.all(expl > nulls))
            else "the plane explains no more than an isotropic cloud of the same size would",
            f"loss distributions: smallest KS p-value {ks_min:.3g}",
            f"energy distance of the aligned minima sets {ed:.3g} vs between-chain-halves noise {baseline:.3g}",
        ]
        if self.plane_angles_aligned:
            evidence.append(
                "largest principal angle between the aligned planes: "
                + ", ".join(f"{k}: {v:.1f} deg" for k, v in self.plane_angles_aligned.items())
            )
        caveats = []
        if not mixed:
            caveats.append(
                f"the chains have not converged (R-hat max {rhat:.3f}), so differences between angles, or their "
                "absence, may be sampling noise"
            )
        else:
            evidence.append(f"the chains converged (R-hat max {rhat:.3f}, ESS >= {ESS_TARGET:g})")
        stops = {a.stopped_by for a in per_angle if a.stopped_by}
        if stops:
            evidence.append(
                "sampled until converged: "
                + ", ".join(f"{a.angle:g}: {a.stopped_by} after {a.draws} draws x thin {a.thin}" for a in per_angle)
            )
        if not np.isfinite(baseline):
            caveats.append("too few low-loss draws per half of the chains for a noise level of the energy distance")
        return Verdict(label, headline, tuple(evidence), checks, tuple(caveats), settings)


#: the control's box: wide enough that the Gaussian prior (sd = box / sqrt(3)) never reaches it
_CONTROL_BOX = 1000.0
#: the verdict's thresholds (class notes)
_KS_ALPHA = 0.01
_ENERGY_FACTOR = 2.0


def _rotation_matrix(degrees: float) -> np.ndarray:
    t = math.radians(degrees)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def _align(net: MLP, W: np.ndarray, degrees: float) -> np.ndarray:
    """Map draws of the landscape rotated by ``degrees`` to the unrotated one (W1 -> W1 R)."""
    out = np.array(W, copy=True)
    W1, _ = net.unflatten(out)[0]
    W1[...] = W1 @ _rotation_matrix(degrees)
    return out


def _energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Multivariate energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| (V-statistic)."""
    return float(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean())


def _explained(points: np.ndarray, plane_dims: int = 2) -> float:
    c = points - points.mean(axis=0)
    ev = np.linalg.eigvalsh(c.T @ c)[::-1]
    return float(ev[:plane_dims].sum() / ev.sum()) if ev.sum() > 0 else float("nan")


def _chain_half_gap(plane: MinimaPlane, n_draws: int) -> float:
    """|explained variance of the odd chains' low-loss draws - the even chains'|."""
    chain = plane.indices[plane.low] // n_draws
    odd = chain % 2 == 1
    if odd.sum() < 4 or (~odd).sum() < 4:
        return float("nan")
    emb = plane.embedding[plane.low]
    return abs(_explained(emb[odd]) - _explained(emb[~odd]))


def _bootstrap_explained_sd(points: np.ndarray, plane_dims: int, reps: int, seed: int) -> float:
    if points.shape[0] <= plane_dims + 1:
        return float("nan")
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(reps):
        s = points[rng.integers(0, points.shape[0], size=points.shape[0])]
        s = s - s.mean(axis=0)
        ev = np.linalg.eigvalsh(s.T @ s)[::-1]
        vals.append(ev[:plane_dims].sum() / ev.sum() if ev.sum() > 0 else np.nan)
    return float(np.nanstd(vals))


@protocol_doc(
    RotationResult,
    seed="The same seed for every angle (common random numbers make the comparison sharper).",
    files="one run file per angle ``rotation_<angle>.h5`` (:func:`fastland.open_run`), ",
)
def rotation(
    angles=(0, 120, 240),
    hidden=(2, 2),
    n: int = 10,
    data_seed: int = 0,
    activation: str = "tanh",
    chains: int = 64,
    draws: int = 2000,
    thin: int = 10,
    warmup: int = 1000,
    step_size: float = 0.05,
    box: float = 10.0,
    temperature: float = 0.1,
    method: str = "rwm",
    threshold: float = 0.1,
    max_points: int = 20_000,
    until: Convergence | None = None,
    control: bool = False,
    *,
    seed: int = 0,
    out_dir: str | Path | None = None,
    figures: bool = False,
    progress: bool = False,
    overwrite: bool = False,
    log=None,
) -> RotationResult:
    """Run seed 001's rotation experiment.

    Parameters
    ----------
    angles : sequence of float, default (0, 120, 240)
        Rotations of the dataset, in degrees.
    hidden : sequence of int, default (2, 2)
        Hidden widths of ``MLP(2, hidden, 2, activation, "softmax_xent")`` (p = 18 for [2, 2]).
    n, data_seed : int
        ``random_labels(n, data_seed)``: the seed's 10 points in [-1, 1]^2.
    chains, draws, thin, warmup, step_size, box, method
        Passed to :func:`fastland.sample` (in memory when ``out_dir`` is None).
    temperature : float, default 0.1
        The seed sampled exp(-U) with U its binary entropy summed over the 10
        points; fastland's loss is the mean, so T = 0.1 is the same density.
    threshold : float, default 0.1
        Low-loss threshold on the mean loss.
    max_points : int, default 20000
        Draws per angle given to :func:`fastland.geometry.minima_plane`.
    until : fastland.Convergence, optional
        Sample every angle until converged (``draws`` is then the first length;
        see :func:`fastland.sample`). The verdict compares angles only when every
        run converged (R-hat <= 1.01, ESS >= 400 on the loss, the outputs and
        the canonical weights); otherwise it is "inconclusive".
    control : bool, default False
        Also run every angle under a rotation-invariant constraint: instead of
        the box, a Gaussian prior with the box's per-coordinate variance
        (box^2 / 3), i.e. weight decay T / sigma^2 = 3 T / box^2, on a box of
        1000. There rotating the data is an exact symmetry, so the comparisons
        must find no change; the box runs are then read against it (run files
        ``rotation_control_<angle>.h5``). At least doubles the sampling time:
        without the box the chains mix more slowly (on the demo's landscape,
        R-hat 1.26 after 400,000 steps per chain, where the box runs reach 1.01).
    {protocol}
    log : callable, optional
        Receives the line per phase that ``progress`` prints.

    Returns
    -------
    RotationResult

    Notes
    -----
    Figures: the rotated datasets, the minima maps per angle, and per angle the
    loss histogram, the traces and the convergence diagnostics. They are drawn
    from the run files, so they need ``out_dir``.
    """
    angles = [float(a) for a in angles]
    if not angles:
        raise ValueError("angles: expected at least one angle")
    if len({f"{a:g}" for a in angles}) < len(angles):
        raise ValueError(f"angles: expected distinct angles (one run file each), got {angles}")
    control = check_bool("control", control)
    seed = check_seed(seed)
    log = say(progress, log)
    runs = [f"rotation_{a:g}.h5" for a in angles]
    if control:
        runs += [f"rotation_control_{a:g}.h5" for a in angles]
    figs = ["datasets.png", "minima_maps.png"]
    figs += [f"{kind}_{a:g}.png" for a in angles for kind in ("loss", "trace", "diagnostics")]
    out = RotationResult.claim(out_dir, figures, overwrite, names=runs, figure_names=figs)  # before the sampling
    base = datasets.random_labels(n=n, seed=data_seed)
    net = MLP(2, list(hidden), 2, activation=activation, loss="softmax_xent")
    sampler = dict(
        chains=chains, draws=draws, thin=thin, warmup=warmup, step_size=step_size, temperature=temperature,
        method=method, seed=seed, progress=progress, overwrite=overwrite, until=until,
    )  # fmt: skip
    data_by_angle = {a: base.rotate(a) for a in angles}
    settings = {
        "angles": angles,
        "hidden": list(hidden),
        "n": n,
        "data_seed": data_seed,
        "activation": activation,
        "chains": chains,
        "draws": draws,
        "thin": thin,
        "warmup": warmup,
        "step_size": step_size,
        "box": box,
        "temperature": temperature,
        "method": method,
        "threshold": threshold,
        "max_points": max_points,
        "until": None if until is None else until.to_dict(),
        "control": control,
        "seed": seed,
    }
    analyse = dict(net=net, threshold=threshold, max_points=max_points, seed=seed, log=log)
    result = _sample_angles(
        data_by_angle, lambda d: Landscape(net, d), box, sampler, out, "rotation", settings, **analyse
    )
    if control:
        # the control: a Gaussian prior with the box's per-coordinate variance (box^2 / 3) as
        # weight decay lambda = T / sigma^2, and a box too wide to matter; rotating the data is
        # then an exact symmetry, so every comparison must come out "no change"
        decay = temperature * 3.0 / box**2
        c_settings = {**settings, "box": _CONTROL_BOX, "weight_decay": decay, "control": False}
        log(f"control: Gaussian prior (weight decay {decay:.3g}) instead of the box")
        result.control = _sample_angles(
            data_by_angle, lambda d: Landscape(net, d, weight_decay=decay), _CONTROL_BOX, sampler, out,
            "rotation_control", c_settings, **analyse,
        )  # fmt: skip
        result.files += result.control.files
    result.save(out, overwrite, figures=(lambda: _figures(result, data_by_angle, out, overwrite)) if figures else None)
    return result


def _sample_angles(data_by_angle, landscape_of, box, sampler, out, stem, settings, *, net, threshold, max_points,
                   seed, log) -> RotationResult:  # fmt: skip
    """Sample every angle's landscape, analyse each run, and compare the angles with the first."""
    per_angle: list[AngleResult] = []
    aligned_low: dict[float, np.ndarray] = {}
    low_chains: dict[float, np.ndarray] = {}
    loss_thinned: dict[float, np.ndarray] = {}
    files: list[str] = []
    for angle, data in data_by_angle.items():
        t0 = time.perf_counter()
        land = landscape_of(data)
        path = None if out is None else out / f"{stem}_{angle:g}.h5"
        to = f" -> {path}" if path else " (in memory)"
        until = sampler["until"]
        if until is None:
            length = f"x {sampler['draws']} draws (thin {sampler['thin']})"
        else:
            budget = "" if until.max_steps is None else f", at most {until.max_steps:,} steps per chain"
            length = f"until converged (from {sampler['draws']} draws, doubling{budget})"
        log(f"angle {angle:g}: sampling {sampler['chains']} chains {length}{to}")
        run = sample(land, box=box, path=path, **sampler)
        if path is not None:
            files.append(str(path))
        summ = run.summary()
        stopped = json.loads(run.attrs["until"])["stopped_by"] if "until" in run.attrs else None
        if land.weight_decay:
            # the control: "low loss" is the data's loss, without the prior's (lambda/2)|w|^2
            W = np.asarray(run.draws[:], dtype=np.float64)
            data_loss = Landscape(net, data).loss(W.reshape(-1, W.shape[2])).reshape(W.shape[:2])
            plane = minima_plane(W, loss=data_loss, threshold=threshold, max_points=max_points, seed=seed)
            rr = mass_below(data_loss, threshold)
        else:
            data_loss = None
            plane = minima_plane(run, threshold=threshold, max_points=max_points, seed=seed)
            rr = rashomon_ratio(run, threshold)
        low_points = _gather_low(run, plane)
        aligned_low[angle] = _align(net, low_points, angle)
        low_chains[angle] = plane.indices[plane.low] // run.n_draws
        ess = max(2.0, float(summ.rows["loss"]["ess_bulk_min"]))
        stride = max(1, int(round(run.n_chains * run.n_draws / ess)))
        loss_thinned[angle] = np.asarray(run.loss[:] if data_loss is None else data_loss).ravel()[::stride]
        sd = _bootstrap_explained_sd(plane.embedding[plane.low], 2, 100, seed)
        halves = _chain_half_gap(plane, run.n_draws)
        run_draws, run_thin = run.n_draws, run.attrs["thin"]
        run.close()
        per_angle.append(
            AngleResult(
                angle=angle,
                path=None if path is None else str(path),
                acceptance=float(summ.acceptance or float("nan")),
                rhat_max=float(summ.rhat_max),
                ess_bulk_min=float(summ.ess_bulk_min),
                clt_ok=bool(summ.clt_ok),
                plane=plane,
                rashomon=rr.ratio,
                rashomon_stderr=rr.stderr,
                explained_sd=sd,
                half_gap=halves,
                seconds=time.perf_counter() - t0,
                converged=bool(summ.converged),
                draws=int(run_draws),
                thin=int(run_thin),
                stopped_by=stopped,
            )
        )
        log(
            f"angle {angle:g}: {plane.n_low} low-loss draws, plane explains {np.nansum(plane.explained):.3f} "
            f"(null {plane.null_explained:.3f}) in {per_angle[-1].seconds:.1f} s"
        )
    ref = per_angle[0].angle
    raw_angles, aligned_angles, energy, ks = {}, {}, {}, {}
    ref_low = aligned_low[ref]
    rng = np.random.default_rng(seed)
    ref_canon_all = canonical_form(net, ref_low) if ref_low.shape[0] else ref_low
    ref_canon = _subsample(ref_canon_all, 800, rng)
    # noise level: the same statistic between two halves of the chains of the first angle
    # (halves of the chains, not of the draws, so that unmixed chains count as noise)
    chain_of = low_chains[ref]
    odd = chain_of % 2 == 1
    if odd.sum() >= 5 and (~odd).sum() >= 5:
        baseline = _energy_distance(_subsample(ref_canon_all[odd], 400, rng), _subsample(ref_canon_all[~odd], 400, rng))
    else:
        baseline = float("nan")
    for a in per_angle[1:]:
        key = f"{a.angle:g}"
        pr, pa = per_angle[0].plane, a.plane
        raw_angles[key] = _max_angle(pr.basis_param, pa.basis_param)
        al = aligned_low[a.angle]
        if al.shape[0] > 2 and ref_low.shape[0] > 2:
            _, _, basis_ref = _pca_basis(ref_low)
            _, _, basis_al = _pca_basis(al)
            aligned_angles[key] = _max_angle(basis_ref, basis_al)
            other = _subsample(canonical_form(net, al), 800, rng)
            energy[key] = _energy_distance(ref_canon, other)
        else:
            aligned_angles[key] = float("nan")
            energy[key] = float("nan")
        ks[key] = float(stats.ks_2samp(loss_thinned[ref], loss_thinned[a.angle]).pvalue)
    return RotationResult(
        angles=per_angle,
        plane_angles_raw=raw_angles,
        plane_angles_aligned=aligned_angles,
        energy_distance=energy,
        energy_baseline=baseline,
        loss_ks_pvalue=ks,
        settings=settings,
        files=files,
    )


def _gather_low(run, plane: MinimaPlane) -> np.ndarray:
    """The low-loss draws the plane used, read from the run."""
    return read_flat(run, plane.indices[plane.low])


def _subsample(a: np.ndarray, k: int, rng) -> np.ndarray:
    if a.shape[0] <= k:
        return rng.permutation(a)
    return a[rng.choice(a.shape[0], size=k, replace=False)]


def _pca_basis(points: np.ndarray, dims: int = 2):
    c = points.mean(axis=0)
    _, s, vt = np.linalg.svd(points - c, full_matrices=False)
    return c, s, vt[:dims]


def _max_angle(a: np.ndarray, b: np.ndarray) -> float:
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("nan")
    return float(np.degrees(linalg.subspace_angles(a.T, b.T).max()))


def _figures(result: RotationResult, data_by_angle: dict, out: Path, overwrite: bool) -> list[str]:
    from .. import plot

    files = []
    p = out / "datasets.png"
    plot.datasets_by_angle({a: d for a, d in data_by_angle.items()}, path=p, overwrite=overwrite)
    files.append(str(p))
    maps = {}
    for a in result.angles:
        pl = a.plane
        expl = float(np.nansum(pl.explained)) if np.any(np.isfinite(pl.explained)) else None
        null = pl.null_explained if np.isfinite(pl.null_explained) else None
        maps[a.angle] = (pl.coords, pl.loss[pl.low], expl, null)
    p = out / "minima_maps.png"
    plot.minima_maps_by_angle(maps, path=p, overwrite=overwrite)
    files.append(str(p))
    from ..store import open_run

    for a in result.angles:
        with open_run(a.path) as run:
            p = out / f"loss_{a.angle:g}.png"
            plot.loss_histogram(np.asarray(run.loss[:]), threshold=a.plane.threshold, path=p, overwrite=overwrite)
            files.append(str(p))
            p = out / f"trace_{a.angle:g}.png"
            plot.trace(run, path=p, overwrite=overwrite)
            files.append(str(p))
            p = out / f"diagnostics_{a.angle:g}.png"
            plot.diagnostics(run, path=p, overwrite=overwrite)
            files.append(str(p))
    return files
