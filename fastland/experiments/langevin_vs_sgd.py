"""Seed 003's SGD ~ Langevin picture: is small-batch SGD's stationary law exp(-U/T)?

The seed writes SGD as gradient descent plus a "pseudo-noise"
``xi = grad U_B - grad U`` (the mini-batch gradient minus the full one), and
Langevin dynamics ``dw = -grad U dt + sqrt(2 T) dB`` has the stationary density
``exp(-U/T) / Z``. This experiment compares, on a landscape of two parameters
(small enough for histograms), three sets of samples:

- **SGD**: :func:`fastland.train` with ``optimizer="sgd"``, mini-batches of
  ``batch_size`` drawn without replacement, ``runs`` independent runs started
  at the minimum, recorded every ``record_every`` steps after a burn-in;
- **Langevin** at the matched temperature: ``optimizer="langevin"``
  (``w <- w - lr grad U + sqrt(2 lr T) xi``), same learning rate and records;
- **MCMC** of ``exp(-U/T)`` on a box that holds all its mass
  (:func:`fastland.sample`, random-walk Metropolis): the exact target.

Matching the temperature
------------------------
One SGD step is ``w <- w - lr grad U(w) - lr xi`` with ``E xi = 0`` and
``Cov xi = C(w)``; for ``b`` points drawn without replacement from ``N``,
``C = (N - b) / (b (N - 1)) Sigma``, ``Sigma = (1/N) sum_i (g_i - g)(g_i - g)^T``
the covariance of the per-point gradients ``g_i``. Langevin's step adds noise
of covariance ``2 lr T I``. Equating the per-step noise power (traces) at the
minimum ``w*`` gives

    T = lr tr C(w*) / (2 p),

which the experiment uses. A scalar T can match only the trace: along the
Hessian's eigenvectors ``v_k`` the directional temperatures
``T_k = lr v_k^T C v_k / 2`` differ when the noise is anisotropic, and SGD's
stationary covariance (linearised at ``w*``: the discrete Lyapunov equation
``S = A S A^T + lr^2 C``, ``A = I - lr H``) is then not ``T H^-1`` (the
Gaussian approximation of ``exp(-U/T)``). Both predictions are reported.

Verdict: a sampler "matches" ``exp(-U/T)`` when the Kolmogorov-Smirnov
distance of each marginal to the MCMC samples is at most
``match_factor`` (default 3) times the distance between two independent halves of the MCMC
samples (the noise floor at this sample size); Wasserstein-1 distances and
standard-deviation ratios are reported beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import linalg, stats

from .. import critical
from .._validate import check_choice, check_int, check_positive
from ..data import Dataset
from ..landscape import Landscape
from ..model import MLP
from ..sample import sample
from ..train import train
from ._files import save_series
from ._result import Check, ExperimentResult, Verdict, check_seed, protocol_doc, say

__all__ = ["Comparison", "LangevinResult", "gradient_noise", "langevin_vs_sgd"]

_MODELS = ("linear", "tanh")
FORMAT_VERSION = 1


def gradient_noise(land: Landscape, w, batch_size: int) -> np.ndarray:
    """Covariance (p, p) of the mini-batch gradient's deviation from the full gradient at ``w``.

    For ``b`` points drawn without replacement from ``N``:
    ``(N - b) / (b (N - 1)) * (1/N) sum_i (g_i - g)(g_i - g)^T``, ``g_i`` the
    gradient of point i's loss (weight decay cancels in the difference).

    Parameters
    ----------
    land : Landscape
    w : array_like, shape (p,)
    batch_size : int
        1..N.

    Returns
    -------
    ndarray, shape (p, p)
    """
    N = land.data.n
    b = check_int("batch_size", batch_size, 1)
    if b > N:
        raise ValueError(f"batch_size: expected 1..{N}, got {b}")
    w = np.asarray(w, dtype=float)
    X, y = land.data.X, land.data.y
    g = np.array([Landscape(land.net, Dataset(X[i : i + 1], y[i : i + 1])).grad(w) for i in range(N)])
    d = g - g.mean(axis=0)
    sigma = d.T @ d / N
    return sigma * ((N - b) / (b * (N - 1))) if N > 1 else sigma * 0.0


# ------------------------------------------------------------------------------ results
@dataclass
class Comparison:
    """Distances between two sets of samples, per parameter.

    Attributes
    ----------
    ks : ndarray, shape (p,)
        Two-sample Kolmogorov-Smirnov statistic of each marginal.
    ks_pvalue : ndarray, shape (p,)
        Its p-value (treats the samples as independent).
    wasserstein : ndarray, shape (p,)
        Wasserstein-1 distance of each marginal.
    std_ratio : ndarray, shape (p,)
        Standard deviation of the first set over the second's.
    """

    ks: np.ndarray
    ks_pvalue: np.ndarray
    wasserstein: np.ndarray
    std_ratio: np.ndarray

    def to_dict(self) -> dict:
        """JSON-able lists."""
        return {k: [float(v) for v in getattr(self, k)] for k in ("ks", "ks_pvalue", "wasserstein", "std_ratio")}


def _compare(a: np.ndarray, b: np.ndarray) -> Comparison:
    p = a.shape[1]
    ks = np.empty(p)
    pv = np.empty(p)
    wd = np.empty(p)
    for k in range(p):
        r = stats.ks_2samp(a[:, k], b[:, k])
        ks[k], pv[k] = r.statistic, r.pvalue
        wd[k] = stats.wasserstein_distance(a[:, k], b[:, k])
    return Comparison(ks=ks, ks_pvalue=pv, wasserstein=wd, std_ratio=a.std(axis=0) / b.std(axis=0))


@dataclass
class LangevinResult(ExperimentResult):
    """Result of :func:`langevin_vs_sgd`.

    Attributes
    ----------
    minimum : ndarray, shape (p,)
        The minimum w* the runs start from.
    hessian : ndarray, shape (p, p)
        Hessian of U at w*.
    noise_cov : ndarray, shape (p, p)
        Mini-batch gradient noise covariance C(w*) (:func:`gradient_noise`).
    temperature : float
        The matched T = lr tr C / (2 p).
    directional_temperatures : ndarray, shape (p,)
        T_k = lr v_k^T C v_k / 2 along the Hessian's eigenvectors (ascending eigenvalues).
    sgd, langevin, mcmc : ndarray, shape (n, p)
        The samples.
    cov_sgd_predicted : ndarray, shape (p, p)
        SGD's stationary covariance, linearised at w* (discrete Lyapunov equation).
    cov_langevin_predicted : ndarray, shape (p, p)
        The same for Langevin at T (tends to T H^-1 as lr -> 0).
    cov_gibbs_predicted : ndarray, shape (p, p)
        T H^-1: the Gaussian approximation of exp(-U/T) at w*.
    sgd_vs_mcmc, langevin_vs_mcmc, sgd_vs_langevin, mcmc_halves : Comparison
        Distances; ``mcmc_halves`` compares two halves of the MCMC chains (noise floor).
    sgd_matches, langevin_matches : bool
        The verdict's rule (module notes).

    The verdict (:meth:`assess`): "holds" when SGD matches exp(-U/T) (module
    notes), else "does_not_hold" when a standard deviation differs from
    exp(-U/T)'s by more than a factor 1.5, else "holds_roughly". Settings,
    files and the rest of the protocol: :class:`~fastland.experiments.ExperimentResult`.
    """

    minimum: np.ndarray
    hessian: np.ndarray
    noise_cov: np.ndarray
    temperature: float
    directional_temperatures: np.ndarray
    sgd: np.ndarray
    langevin: np.ndarray
    mcmc: np.ndarray
    cov_sgd_predicted: np.ndarray
    cov_langevin_predicted: np.ndarray
    cov_gibbs_predicted: np.ndarray
    sgd_vs_mcmc: Comparison
    langevin_vs_mcmc: Comparison
    sgd_vs_langevin: Comparison
    mcmc_halves: Comparison
    sgd_matches: bool
    langevin_matches: bool

    TITLE = "SGD vs Langevin vs exp(-U/T) (seed 003)"
    DATA_FILE = "samples.h5"
    FORMAT = "fastland.langevin_vs_sgd"
    FORMAT_VERSION = FORMAT_VERSION
    JSON_FILE = "langevin_vs_sgd.json"
    VERDICT_LABELS = ("holds", "holds_roughly", "does_not_hold")

    def table(self) -> str:
        """Markdown table: per parameter, standard deviations and distances."""
        rows = [
            "| param | w* | std SGD | std Langevin | std MCMC | pred. SGD | pred. exp(-U/T) | KS SGD-MCMC "
            "| KS Lang-MCMC | KS MCMC halves | W1 SGD-MCMC | W1 Lang-MCMC |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for k in range(self.minimum.size):
            rows.append(
                f"| {k} | {self.minimum[k]:.4g} | {self.sgd[:, k].std():.4g} | {self.langevin[:, k].std():.4g} | "
                f"{self.mcmc[:, k].std():.4g} | {math.sqrt(self.cov_sgd_predicted[k, k]):.4g} | "
                f"{math.sqrt(self.cov_gibbs_predicted[k, k]):.4g} | {self.sgd_vs_mcmc.ks[k]:.3f} | "
                f"{self.langevin_vs_mcmc.ks[k]:.3f} | {self.mcmc_halves.ks[k]:.3f} | "
                f"{self.sgd_vs_mcmc.wasserstein[k]:.3g} | {self.langevin_vs_mcmc.wasserstein[k]:.3g} |"
            )
        return "\n".join(rows)

    def _intro(self) -> str:
        s = self.settings
        return (
            f"{s['network']} on {s['n']} points; SGD with lr {s['lr']:g} and batches of {s['batch_size']} "
            f"(without replacement); Langevin with the same lr at the matched temperature; MCMC (random-walk "
            f"Metropolis) of exp(-U/T) on the box [-{s['box']:.3g}, {s['box']:.3g}]^p. Samples: "
            f"{self.sgd.shape[0]} SGD, {self.langevin.shape[0]} Langevin, {self.mcmc.shape[0]} MCMC.\n\n"
            f"Matched temperature T = lr tr C / (2p) = {self.temperature:.4g}; directional temperatures along "
            f"the Hessian's eigenvectors T_k = lr v_k' C v_k / 2 = "
            + ", ".join(f"{t:.4g}" for t in self.directional_temperatures)
            + f" (Hessian eigenvalues {', '.join(f'{v:.4g}' for v in np.linalg.eigvalsh(self.hessian))}).\n\n"
            "'pred. SGD' is the stationary standard deviation of SGD linearised at w* (discrete Lyapunov "
            "equation with the measured noise covariance), 'pred. exp(-U/T)' that of T H^-1."
        )

    def _summary(self) -> dict:
        comparisons = ("sgd_vs_mcmc", "langevin_vs_mcmc", "sgd_vs_langevin", "mcmc_halves")
        return {
            "minimum": self.minimum,
            "hessian": self.hessian,
            "noise_cov": self.noise_cov,
            "temperature": self.temperature,
            "directional_temperatures": self.directional_temperatures,
            "n_samples": {"sgd": len(self.sgd), "langevin": len(self.langevin), "mcmc": len(self.mcmc)},
            "cov_sgd": np.cov(self.sgd.T),
            "cov_langevin": np.cov(self.langevin.T),
            "cov_mcmc": np.cov(self.mcmc.T),
            "cov_sgd_predicted": self.cov_sgd_predicted,
            "cov_langevin_predicted": self.cov_langevin_predicted,
            "cov_gibbs_predicted": self.cov_gibbs_predicted,
            **{k: getattr(self, k).to_dict() for k in comparisons},
            "sgd_matches": self.sgd_matches,
            "langevin_matches": self.langevin_matches,
        }

    def assess(self) -> Verdict:
        """The verdict: is small-batch SGD's stationary distribution exp(-U/T)? (class notes)."""
        f = self.settings["match_factor"]
        floor = np.maximum(self.mcmc_halves.ks, 1e-12)
        sgd_ks, lan_ks, noise = self.sgd_vs_mcmc.ks.max(), self.langevin_vs_mcmc.ks.max(), self.mcmc_halves.ks.max()
        spread = float(np.exp(np.abs(np.log(self.sgd_vs_mcmc.std_ratio)).max()))
        far = bool(np.any(np.abs(np.log(self.sgd_vs_mcmc.std_ratio)) > math.log(1.5)))
        checks = (
            Check("sgd_ks", "largest KS distance SGD-MCMC, in units of the MCMC noise floor", self.sgd_matches,
                  float((self.sgd_vs_mcmc.ks / floor).max()), f, "<="),
            Check("langevin_ks", "largest KS distance Langevin-MCMC, in units of the MCMC noise floor",
                  self.langevin_matches, float((self.langevin_vs_mcmc.ks / floor).max()), f, "<="),
            Check("sgd_spread", "largest factor between SGD's and exp(-U/T)'s standard deviations", not far,
                  spread, 1.5, "<="),
        )  # fmt: skip
        T = self.temperature
        if self.sgd_matches:
            label = "holds"
            headline = (
                f"Holds: small-batch SGD's stationary distribution matches exp(-U/T) at T = lr tr C / (2p) = {T:.3g} "
                f"(KS {sgd_ks:.3f}, within {f:g} times the noise floor {noise:.3f}): the seed's SGD ~ Langevin "
                "picture holds here."
            )
        elif far:
            label = "does_not_hold"
            headline = (
                f"Does not hold: small-batch SGD's stationary distribution differs from exp(-U/T) at the matched "
                f"T = {T:.3g} (KS {sgd_ks:.3f} vs noise floor {noise:.3f}); the spreads differ by a factor up to "
                f"{spread:.3g}."
            )
        else:
            label = "holds_roughly"
            headline = (
                f"Holds roughly: small-batch SGD's stationary distribution differs from exp(-U/T) at the matched "
                f"T = {T:.3g} beyond the noise (KS {sgd_ks:.3f} vs noise floor {noise:.3f}), but its spreads are "
                f"within a factor {spread:.3g}."
            )
        sgd_ratio = ", ".join(f"{v:.3f}" for v in self.sgd_vs_mcmc.std_ratio)
        pred = np.sqrt(np.diag(self.cov_sgd_predicted) / np.diag(self.cov_gibbs_predicted))
        aniso = float(self.directional_temperatures.max() / max(self.directional_temperatures.min(), 1e-300))
        evidence = (
            f"Langevin at the matched temperature {'reproduces' if self.langevin_matches else 'does not reproduce'} "
            f"exp(-U/T) (KS distance {lan_ks:.3f} vs noise floor {noise:.3f})",
            f"SGD's standard deviations are {sgd_ratio} times those of exp(-U/T) per parameter; the linearised SGD "
            f"with the measured gradient noise predicts {', '.join(f'{v:.3f}' for v in pred)}",
            f"the directional temperatures differ by a factor {aniso:.3g}: a scalar T can match only their mean",
        )
        caveats = ()
        if not self.langevin_matches:
            caveats = (
                "Langevin itself misses exp(-U/T) within the noise floor (its discretisation error at this learning "
                "rate), so part of SGD's difference may be the step size, not the noise",
            )
        s = self.settings
        settings = {"match_factor": f, "lr": s["lr"], "batch_size": s["batch_size"], "runs": s["runs"]}
        return Verdict(label, headline, evidence, checks, caveats, settings)


# ------------------------------------------------------------------------------ experiment
def _problem(model: str, n: int, noise: float, seed: int) -> Landscape:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 1.0, size=n))
    if model == "linear":  # f = w x + b
        net = MLP(1, [], 1, activation="linear", loss="mse", bias=True)
        y = 0.5 * x + 0.2 + noise * rng.normal(size=n)
    else:  # f = a tanh(w x): two parameters, non-convex, symmetric under (w, a) -> (-w, -a)
        net = MLP(1, [1], 1, activation="tanh", loss="mse", bias=False)
        y = np.tanh(4.0 * x) + noise * rng.normal(size=n)
    return Landscape(net, Dataset(x[:, None], y))


def _fold(W: np.ndarray) -> np.ndarray:
    """Map every sample of a * tanh(w x) to its mirror image with w >= 0 (the same function)."""
    return W * np.where(W[..., :1] < 0, -1.0, 1.0)


def _find_minimum(land: Landscape, seed: int) -> np.ndarray:
    p = land.n_params
    start = np.full(p, 0.5) if land.net.hidden else np.zeros(p)
    fit = train(land, start, optimizer="gd", lr=0.05, steps=20_000, tol_grad=1e-10, seed=seed, progress=False)
    ref = critical.refine(land, fit.params, method="newton")
    return np.asarray(ref.points, dtype=float).reshape(p)


@protocol_doc(LangevinResult, seed="It draws the data, the mini-batches, the noise and the MCMC chains.")
def langevin_vs_sgd(
    model: str = "linear",
    n: int = 8,
    noise: float = 0.3,
    lr: float = 0.05,
    batch_size: int = 1,
    runs: int = 256,
    samples_per_run: int = 40,
    chains: int = 64,
    match_factor: float = 3.0,
    *,
    seed: int = 0,
    out_dir: str | Path | None = None,
    figures: bool = False,
    progress: bool = False,
    overwrite: bool = False,
) -> LangevinResult:
    """Compare small-batch SGD's stationary distribution with Langevin and exp(-U/T).

    Parameters
    ----------
    model : {"linear", "tanh"}, default "linear"
        "linear": f(x) = w x + b on targets 0.5 x + 0.2 + noise (U quadratic,
        gradient noise growing away from w*). "tanh": f(x) = a tanh(w x) on
        targets tanh(4x) + noise (non-convex; a shallow valley along which
        w and a trade off, so runs are long). Its samples are folded onto
        w >= 0 by the symmetry (w, a) -> (-w, -a). Both have two parameters.
    n : int, default 8
        Data points (inputs uniform in [-1, 1]).
    noise : float, default 0.3
        Standard deviation of the target noise (non-zero residuals at w*, so
        SGD's noise does not vanish there).
    lr : float, default 0.05
        Learning rate of SGD and Langevin.
    batch_size : int, default 1
        SGD's mini-batch size (1..n-1).
    runs : int, default 256
        Independent SGD and Langevin runs (one :func:`fastland.train` call each).
    samples_per_run : int, default 40
        Records kept per run, spaced by about two relaxation times
        ``1 / (lr lambda_min)`` after a burn-in of five.
    chains : int, default 64
        MCMC chains; each keeps ``runs * samples_per_run / chains`` draws.
    match_factor : float, default 3.0
        The verdict's tolerance, in units of the MCMC noise floor (module notes).
    {protocol}

    Returns
    -------
    LangevinResult

    Notes
    -----
    ``samples.h5`` holds the datasets ``sgd``, ``langevin`` and ``mcmc`` of shape
    (sample, param), ``minimum``, ``hessian`` and ``noise_cov``. Figures: a
    histogram per parameter of the three samples beside the two Gaussian
    predictions.
    """
    check_choice("model", model, _MODELS)
    n = check_int("n", n, 2)
    noise = check_positive("noise", noise)
    lr = check_positive("lr", lr)
    batch_size = check_int("batch_size", batch_size, 1)
    if batch_size >= n:
        raise ValueError(f"batch_size: expected 1..{n - 1} (mini-batches smaller than the {n} points)")
    runs = check_int("runs", runs, 2)
    samples_per_run = check_int("samples_per_run", samples_per_run, 1)
    chains = check_int("chains", chains, 2)
    match_factor = check_positive("match_factor", match_factor)
    seed = check_seed(seed)
    say(progress)  # checks it; the progress bars are train's and sample's
    land = _problem(model, n, noise, seed)
    p = land.n_params
    figure_names = [_histogram_name(k) for k in range(p)]
    out = LangevinResult.claim(out_dir, figures, overwrite, figure_names=figure_names)  # before the computation
    w_star = _find_minimum(land, seed)
    H = land.hessian(w_star)
    lam, V = np.linalg.eigh(H)
    if lam[0] <= 0:
        raise ValueError(f"model: the Hessian at the minimum is not positive definite (eigenvalues {lam})")
    if lr * lam[-1] >= 2:
        raise ValueError(f"lr: expected below 2 / lambda_max = {2 / lam[-1]:.3g} for a stable iteration, got {lr}")
    C = gradient_noise(land, w_star, batch_size)
    T = float(lr * np.trace(C) / (2 * p))
    T_dir = lr * np.einsum("ik,ij,jk->k", V, C, V) / 2
    A = np.eye(p) - lr * H
    cov_sgd = linalg.solve_discrete_lyapunov(A, lr**2 * C)
    cov_lang = linalg.solve_discrete_lyapunov(A, 2 * lr * T * np.eye(p))
    cov_gibbs = T * np.linalg.inv(H)

    tau = 1.0 / (lr * lam[0])
    every = max(1, int(math.ceil(2 * tau)))
    burn = int(math.ceil(5 * tau / every))
    steps = (burn + samples_per_run) * every
    starts = np.tile(w_star, (runs, 1))
    common = dict(lr=lr, steps=steps, record_every=every, progress=progress)
    sgd_fit = train(land, starts, optimizer="sgd", batch_size=batch_size, seed=seed, **common)
    lan_fit = train(land, starts, optimizer="langevin", temperature=T, seed=seed + 1, **common)
    sgd_s = sgd_fit.trajectory[:, burn + 1 :].reshape(-1, p)
    lan_s = lan_fit.trajectory[:, burn + 1 :].reshape(-1, p)

    # MCMC of exp(-U/T): a box far outside the mass, RWM steps adapted in the warm-up
    sd = np.sqrt(np.diag(cov_gibbs))
    box = float(np.abs(w_star).max() + 12 * sd.max() + 1.0)
    per_chain = int(math.ceil(runs * samples_per_run / chains))
    init = w_star + sd * np.random.default_rng(seed).normal(size=(chains, p))
    run = sample(
        land,
        chains=chains,
        draws=per_chain,
        thin=10,
        warmup=1000,
        step_size=float(sd.min()),
        box=box,
        temperature=T,
        method="rwm",
        init=init,
        seed=seed + 2,
        progress=progress,
    )
    draws = np.asarray(run.draws[:])
    run.close()
    if model == "tanh":  # fold the mirror mode (w, a) -> (-w, -a) onto w > 0: the same function
        sgd_s, lan_s = _fold(sgd_s), _fold(lan_s)
        draws = _fold(draws)
    mc_s = draws.reshape(-1, p)
    half = chains // 2
    halves = _compare(draws[:half].reshape(-1, p), draws[half:].reshape(-1, p))
    sgd_mc = _compare(sgd_s, mc_s)
    lan_mc = _compare(lan_s, mc_s)
    floor = np.maximum(halves.ks, 1e-12)
    sgd_ok = bool(np.all(sgd_mc.ks <= match_factor * floor))
    lan_ok = bool(np.all(lan_mc.ks <= match_factor * floor))
    settings = {
        "model": model,
        "network": repr(land.net),
        "n": n,
        "noise": noise,
        "lr": lr,
        "batch_size": batch_size,
        "runs": runs,
        "samples_per_run": samples_per_run,
        "record_every": every,
        "burn_in_records": burn,
        "steps": steps,
        "chains": chains,
        "box": box,
        "match_factor": match_factor,
        "seed": seed,
    }
    result = LangevinResult(
        minimum=w_star,
        hessian=H,
        noise_cov=C,
        temperature=T,
        directional_temperatures=T_dir,
        sgd=sgd_s,
        langevin=lan_s,
        mcmc=mc_s,
        cov_sgd_predicted=cov_sgd,
        cov_langevin_predicted=cov_lang,
        cov_gibbs_predicted=cov_gibbs,
        sgd_vs_mcmc=sgd_mc,
        langevin_vs_mcmc=lan_mc,
        sgd_vs_langevin=_compare(sgd_s, lan_s),
        mcmc_halves=halves,
        sgd_matches=sgd_ok,
        langevin_matches=lan_ok,
        settings=settings,
    )
    result.save(
        out,
        overwrite,
        fill=lambda f: _fill_h5(f, result),
        figures=(lambda: _figures(result, out, overwrite)) if figures else None,
    )
    return result


def _histogram_name(k: int) -> str:
    return f"histogram_param{k}.png"


def _fill_h5(f, result: LangevinResult) -> None:
    f.attrs["temperature"] = result.temperature
    f["minimum"] = result.minimum
    f["hessian"] = result.hessian
    f["noise_cov"] = result.noise_cov
    for name in ("sgd", "langevin", "mcmc"):
        f.create_dataset(name, data=getattr(result, name), compression="gzip")


def _figures(result: LangevinResult, out: Path, overwrite: bool) -> list[str]:
    files = []
    for k in range(result.minimum.size):
        allv = np.concatenate([result.sgd[:, k], result.langevin[:, k], result.mcmc[:, k]])
        lo, hi = np.quantile(allv, [0.001, 0.999])
        edges = np.linspace(lo, hi, 41)
        centers = 0.5 * (edges[1:] + edges[:-1])
        ys = {
            name: np.histogram(s[:, k], bins=edges, density=True)[0]
            for name, s in (("SGD", result.sgd), ("Langevin", result.langevin), ("MCMC exp(-U/T)", result.mcmc))
        }
        sd = math.sqrt(result.cov_gibbs_predicted[k, k])
        ys["Gaussian T H^-1"] = stats.norm.pdf(centers, result.minimum[k], sd)
        sd = math.sqrt(result.cov_sgd_predicted[k, k])
        ys["Gaussian, linearised SGD"] = stats.norm.pdf(centers, result.minimum[k], sd)
        title = f"Stationary distributions, parameter {k} (T = {result.temperature:.3g})"
        files.append(save_series(out, _histogram_name(k), overwrite, centers, ys, f"parameter {k}", "density",
                                 title=title))  # fmt: skip
    return files
