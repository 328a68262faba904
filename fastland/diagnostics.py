"""Convergence diagnostics for multi-chain MCMC draws: split R-hat, ESS, MCSE, CLT check.

Every function takes draws ``x`` of shape ``(chain, draw)`` or ``(chain, draw, *param)``
(the layout of ``Run.draws`` and of ArviZ's posterior group) and returns a float for
``(chain, draw)`` input or an array of shape ``param`` otherwise.

:func:`rhat`, :func:`ess_bulk`, :func:`ess_tail`, :func:`ess_mean` and :func:`mcse_mean`
reproduce ArviZ's ``az.rhat(method="rank")``, ``az.ess(method="bulk" | "tail" | "mean")``
and ``az.mcse(method="mean")`` (ArviZ 0.23), which implement Vehtari, Gelman, Simpson,
Carpenter and Bürkner (2021). They need only NumPy and SciPy and are vectorised over
parameters: one FFT computes the autocovariances of all parameters and chains at once.
Unlike ArviZ, which returns NaN and logs a warning, bad input (too few chains or draws,
non-finite values, wrong number of dimensions) raises a ValueError naming ``x``.

:func:`clt_check` is the check of seed experiment 001: are the per-chain means Gaussian,
as they should be once every chain is long enough for the central limit theorem?

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Bürkner, P.-C. (2021).
Rank-normalization, folding, and localization: an improved R-hat for assessing
convergence of MCMC. *Bayesian Analysis* 16(2), 667-718.

Geyer, C. J. (1992). Practical Markov chain Monte Carlo. *Statistical Science* 7(4), 473-483.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.special
import scipy.stats

__all__ = [
    "CLTCheck",
    "clt_check",
    "ess_bulk",
    "ess_mean",
    "ess_tail",
    "mcse_mean",
    "rhat",
    "summary",
]

_MIN_DRAWS = 4
_BLOM = 3.0 / 8.0  # Blom's offset for the rank -> normal-score back-transformation (as ArviZ)


# ---------------------------------------------------------------------------------------------
# Input checking and shapes
# ---------------------------------------------------------------------------------------------


def _as_draws(x, *, min_chains: int, min_draws: int = _MIN_DRAWS) -> tuple[np.ndarray, tuple[int, ...]]:
    """Check ``x``; return it as C-contiguous float64 of shape (P, chain, draw) and the param shape.

    Parameters first and draws last: every reduction over draws (and, after one transpose,
    over chains) then runs along a contiguous last axis, in the same summation order as
    ArviZ's reductions on (chain, draw) arrays, so the results agree to the last bits.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"x: expected a numeric array, got {type(x).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"x: expected a real numeric array, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(f"x: expected an array of shape (chain, draw) or (chain, draw, *param), got shape {arr.shape}")
    n_chain, n_draw = arr.shape[:2]
    if n_chain < min_chains:
        raise ValueError(f"x: expected at least {min_chains} chains (axis 0), got shape {arr.shape}")
    if n_draw < min_draws:
        raise ValueError(f"x: expected at least {min_draws} draws per chain (axis 1), got shape {arr.shape}")
    param_shape = arr.shape[2:]
    flat = arr.reshape(n_chain, n_draw, math.prod(param_shape))
    out = np.ascontiguousarray(np.moveaxis(flat, 2, 0), dtype=np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise ValueError(f"x: expected finite values, found {bad} NaN or inf")
    return out, param_shape


def _shape_out(values: np.ndarray, param_shape: tuple[int, ...]):
    """Return a float for scalar parameters, else an array of shape ``param_shape``."""
    if param_shape == ():
        return float(values[0])
    return np.asarray(values, dtype=np.float64).reshape(param_shape)


# ---------------------------------------------------------------------------------------------
# Kernels on (P, chain, draw) float64 arrays; each mirrors a private ArviZ function
# ---------------------------------------------------------------------------------------------


def _split_chains(a: np.ndarray) -> np.ndarray:
    """Split each chain into halves, dropping the middle draw when odd (ArviZ ``_split_chains``)."""
    half = a.shape[2] // 2
    return np.concatenate((a[:, :, :half], a[:, :, -half:]), axis=1)


def _pooled(a: np.ndarray) -> np.ndarray:
    """View (P, chain, draw) as (P, chain * draw), chains one after the other."""
    return a.reshape(a.shape[0], -1)


def _average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..N along the last axis of (P, N), ties sharing their mean rank.

    Equal to ``scipy.stats.rankdata(a, method="average", axis=-1)`` (ranks are integers or
    half-integers, so exactly), several times faster: one unstable argsort per row, and
    the tie bookkeeping, by run lengths, only when there are ties.
    """
    n = a.shape[1]
    sorter = np.argsort(a, axis=1)
    ordered = np.sort(a, axis=1)  # faster than take_along_axis(a, sorter)
    tie = ordered[:, 1:] == ordered[:, :-1]
    if tie.any():
        first = np.ones(a.shape, dtype=bool)  # first element of each run of equal values
        first[:, 1:] = ~tie
        starts = np.flatnonzero(first)
        lengths = np.diff(starts, append=first.size)
        mean_rank = starts % n + (lengths + 1) / 2.0  # mean of ranks start+1 .. start+length
        sorted_rank = np.repeat(mean_rank, lengths).reshape(a.shape)
    else:
        sorted_rank = np.broadcast_to(np.arange(1.0, n + 1.0), a.shape)
    rank = np.empty(a.shape)
    np.put_along_axis(rank, sorter, sorted_rank, axis=1)
    return rank


def _z_scale(a: np.ndarray) -> np.ndarray:
    """Rank-normalise each parameter over all chains and draws (ArviZ ``_z_scale``).

    Normal scores ``Phi^-1((r - 3/8) / (N + 1/4))`` of the average ranks ``r`` (Blom 1958).
    """
    pooled = _pooled(a)
    size = pooled.shape[1]
    rank = _average_ranks(pooled)
    u = (rank - _BLOM) / (size - 2 * _BLOM + 1)
    return scipy.special.ndtri(u).reshape(a.shape)  # scipy.stats.norm.ppf, without its overhead


def _rhat_basic(a: np.ndarray) -> np.ndarray:
    """Classic R-hat of (P, chain, draw) draws, per parameter (ArviZ ``_rhat``)."""
    n_draw = a.shape[2]
    chain_mean = a.mean(axis=2)
    chain_var = a.var(axis=2, ddof=1)
    between = n_draw * chain_mean.var(axis=1, ddof=1)
    within = chain_var.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # constant parameters give 0/0 = NaN
        return np.sqrt((between / within + n_draw - 1) / n_draw)


def _rhat_rank(split: np.ndarray, z_split: np.ndarray | None = None) -> np.ndarray:
    """Max of bulk and folded rank-normalised split R-hat (ArviZ ``_rhat_rank``)."""
    if z_split is None:
        z_split = _z_scale(split)
    bulk = _rhat_basic(z_split)
    # Folded around the median of the split draws (for odd draws the middle one is dropped).
    folded = np.abs(split - np.median(_pooled(split), axis=1)[:, None, None])
    tail = _rhat_basic(_z_scale(folded))
    # Python's max(bulk, tail), as ArviZ: keeps ``bulk`` unless ``tail`` is strictly larger.
    return np.where(tail > bulk, tail, bulk)


def _next_regular(target: int) -> int:
    """Smallest 5-smooth integer (2^a 3^b 5^c) >= ``target``: ArviZ's FFT length for ``2 n``."""
    if target <= 6 or not target & (target - 1):
        return target
    best = 2 ** (target - 1).bit_length()
    p5 = 1
    while p5 < target:
        p35 = p5
        while p35 < target:
            quotient = -(-target // p35)  # ceil
            best = min(best, p35 * 2 ** (quotient - 1).bit_length())
            p35 *= 3
        best = min(best, p35)
        p5 *= 5
    return min(best, p5)


def _autocov(a: np.ndarray) -> np.ndarray:
    """Biased autocovariance along the last axis for every lag, by zero-padded FFT (ArviZ ``autocov``).

    Same FFT (``numpy.fft``) and padding length as ArviZ, so the autocovariances, and
    the truncation decisions that depend on their signs, agree to the last bits.
    """
    n = a.shape[-1]
    m = _next_regular(2 * n)
    centred = a - a.mean(axis=-1, keepdims=True)
    f = np.fft.rfft(centred, n=m, axis=-1)
    f *= np.conjugate(f)
    cov = np.fft.irfft(f, n=m, axis=-1)[..., :n]
    cov /= n
    return cov


def _ess_core(a: np.ndarray) -> np.ndarray:
    """Effective sample size of already split (P, chain, draw) draws (ArviZ ``_ess``).

    Autocorrelations are combined over chains as in Vehtari et al. (2021, eq. 10), the
    sum over lags is truncated by Geyer's initial positive sequence and made monotone by
    Geyer's initial monotone sequence, and ``tau`` is bounded below by ``1 / log10(N)``
    (so ESS <= N log10 N), all exactly as ArviZ does, but for all parameters at once.
    """
    n_par, n_chain, n_draw = a.shape
    size = n_chain * n_draw
    pooled = _pooled(a)
    constant = (pooled.max(axis=1) - pooled.min(axis=1)) < np.finfo(np.float64).resolution

    # ArviZ loops ``t = 1, 3, 5, ...`` while ``t < n_draw - 3``; iteration k = (t + 1) / 2
    # reads the pair of lags (2k, 2k + 1). So at most k_max pairs after pair 0 are read.
    k_max = max(0, (n_draw - 3) // 2)
    n_lag = 2 * k_max + 2
    acov = _autocov(a)[:, :, :n_lag]
    mean_acov = np.ascontiguousarray(acov.transpose(0, 2, 1)).mean(axis=2)  # (P, lag), over chains
    chain_mean = a.mean(axis=2)
    mean_var = mean_acov[:, 0] * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus = var_plus + chain_mean.var(axis=1, ddof=1)

    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[:, None] - mean_acov) / var_plus[:, None]
    rho[:, 0] = 1.0
    pair = rho[:, 0::2] + rho[:, 1::2]  # (P, k_max + 1): Geyer's Gamma_k

    # Initial positive sequence: iteration k runs iff k <= k_max and pairs 0..k-1 are all > 0;
    # K is the number of iterations run, so pairs 0..K-1 enter the sum.
    not_positive = ~(pair > 0)
    first_bad = np.where(not_positive.any(axis=1), not_positive.argmax(axis=1), k_max + 1)
    n_pairs = np.minimum(k_max, first_bad)
    rows = np.arange(n_par)
    # Pair K is stored iff Gamma_K >= 0; its even lag is kept anyway if positive ("improve
    # estimation" in ArviZ). With K == 0, ArviZ's slice holds rho_0 = 1.
    rho_even = rho[rows, 2 * n_pairs]
    keep = (pair[rows, n_pairs] >= 0) | (rho_even > 0)
    last = np.where(n_pairs == 0, 1.0, np.where(keep, rho_even, 0.0))
    # Initial monotone sequence: each pair sum is replaced by the running minimum.
    running_min = np.minimum.accumulate(pair, axis=1)
    used = np.arange(k_max + 1)[None, :] < n_pairs[:, None]
    tau = -1.0 + 2.0 * np.where(used, running_min, 0.0).sum(axis=1) + last
    tau = np.maximum(tau, 1.0 / np.log10(size))
    ess = size / tau
    ess = np.where(np.isnan(rho).any(axis=1), np.nan, ess)
    return np.where(constant, float(size), ess)


def _quantile_type7(a: np.ndarray, prob: float) -> np.ndarray:
    """Per-parameter quantile over chains and draws, with ArviZ's arithmetic.

    ArviZ uses ``scipy.stats.mstats.mquantiles(alphap=1, betap=1)`` (R's type 7). The
    same floating-point operations are repeated here so that the indicator ``x <= q``
    of :func:`ess_tail` matches ArviZ even when ``q`` falls on a draw.
    """
    xs = np.sort(_pooled(a), axis=1)
    n = xs.shape[1]
    p = np.float64(prob)
    aleph = n * p + (1 + p * (1.0 - 1 - 1))
    k = int(np.floor(np.clip(aleph, 1, n - 1)))
    gamma = np.clip(aleph - k, 0, 1)
    return (1.0 - gamma) * xs[:, k - 1] + gamma * xs[:, k]


def _ess_quantile(a: np.ndarray, prob: float) -> np.ndarray:
    """ESS of the indicator ``x <= quantile(prob)`` (ArviZ ``_ess_quantile``)."""
    indicator = (a <= _quantile_type7(a, prob)[:, None, None]).astype(np.float64)
    return _ess_core(_split_chains(indicator))


def _mcse_mean(a: np.ndarray, ess_mean_values: np.ndarray) -> np.ndarray:
    """``sd / sqrt(ess_mean)`` with ``sd`` over all chains and draws, ddof=1 (ArviZ ``_mcse_mean``)."""
    return _pooled(a).std(axis=1, ddof=1) / np.sqrt(ess_mean_values)


def _check_prob(prob) -> tuple[float, float]:
    """Return ``prob`` as a (low, high) pair of probabilities in (0, 1)."""
    if isinstance(prob, numbers.Real) and not isinstance(prob, bool):
        pair = (float(prob), 1.0 - float(prob))
    elif (
        isinstance(prob, Sequence)
        and len(prob) == 2
        and all(isinstance(p, numbers.Real) and not isinstance(p, bool) for p in prob)
    ):
        pair = (float(prob[0]), float(prob[1]))
    else:
        raise ValueError(f"prob: expected a probability or a pair (low, high) of probabilities, got {prob!r}")
    if not all(0.0 < p < 1.0 for p in pair):
        raise ValueError(f"prob: expected probabilities strictly between 0 and 1, got {prob!r}")
    return pair


# ---------------------------------------------------------------------------------------------
# Public diagnostics
# ---------------------------------------------------------------------------------------------


def rhat(x) -> float | np.ndarray:
    """Rank-normalised split R-hat (Vehtari et al. 2021), as ``az.rhat(method="rank")``.

    Each chain is split in half; the draws of each parameter are replaced by normal
    scores of their ranks over all chains (the bulk), and separately of the ranks of
    their distance to the median (the tails, "folded"); the result is the larger of the
    two classic R-hat values. Values above about 1.01 indicate that the chains have not
    mixed.

    Parameters
    ----------
    x : array_like, shape (chain, draw) or (chain, draw, *param)
        Finite draws; at least 2 chains and 4 draws per chain.

    Returns
    -------
    float or numpy.ndarray
        R-hat, a float for ``(chain, draw)`` input, else an array of shape ``param``.
        Parameters that are constant over all draws give NaN, as in ArviZ.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 dimensions, fewer than 2 chains, fewer than 4 draws,
        or non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 1000))
    >>> bool(rhat(x) < 1.01)
    True
    >>> rhat(x + np.arange(4)[:, None]) > 1.5  # chains around different means
    True
    """
    a, param_shape = _as_draws(x, min_chains=2)
    return _shape_out(_rhat_rank(_split_chains(a)), param_shape)


def ess_bulk(x) -> float | np.ndarray:
    """Bulk effective sample size: ESS of rank-normalised split chains, as ``az.ess(method="bulk")``.

    Parameters
    ----------
    x : array_like, shape (chain, draw) or (chain, draw, *param)
        Finite draws; at least 1 chain and 4 draws per chain.

    Returns
    -------
    float or numpy.ndarray
        Effective sample size, a float for ``(chain, draw)`` input, else an array of
        shape ``param``. It is at most ``N log10 N`` for ``N`` draws in all (ArviZ's
        bound on antithetic chains); constant parameters give ``N``.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 dimensions, no chain, fewer than 4 draws, or non-finite
        values.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 1000))
    >>> bool(3000 < ess_bulk(x) < 5000)
    True
    """
    a, param_shape = _as_draws(x, min_chains=1)
    return _shape_out(_ess_core(_z_scale(_split_chains(a))), param_shape)


def ess_tail(x, prob: float | tuple[float, float] = (0.05, 0.95)) -> float | np.ndarray:
    """Tail effective sample size, as ``az.ess(method="tail")``.

    The smaller of the ESS of the indicators ``x <= q(low)`` and ``x <= q(high)``, where
    ``q`` is the quantile of each parameter over all chains and draws (R's type 7).

    Parameters
    ----------
    x : array_like, shape (chain, draw) or (chain, draw, *param)
        Finite draws; at least 1 chain and 4 draws per chain.
    prob : float or tuple of float, default (0.05, 0.95)
        The two quantile levels ``(low, high)``; a single ``p`` means ``(p, 1 - p)``.

    Returns
    -------
    float or numpy.ndarray
        Effective sample size, a float for ``(chain, draw)`` input, else an array of
        shape ``param``.

    Raises
    ------
    ValueError
        If ``x`` is invalid (see :func:`ess_bulk`) or ``prob`` is not in (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 1000))
    >>> bool(2000 < ess_tail(x) < 6000)
    True
    """
    low, high = _check_prob(prob)
    a, param_shape = _as_draws(x, min_chains=1)
    ess = np.minimum(_ess_quantile(a, low), _ess_quantile(a, high))
    return _shape_out(ess, param_shape)


def ess_mean(x) -> float | np.ndarray:
    """Effective sample size for the mean: ESS of the split chains, as ``az.ess(method="mean")``.

    Unlike :func:`ess_bulk` the draws are not rank-normalised, so this ESS is the one
    that sets the Monte Carlo error of the mean (see :func:`mcse_mean`) and it assumes
    a finite variance.

    Parameters
    ----------
    x : array_like, shape (chain, draw) or (chain, draw, *param)
        Finite draws; at least 1 chain and 4 draws per chain.

    Returns
    -------
    float or numpy.ndarray
        Effective sample size, a float for ``(chain, draw)`` input, else an array of
        shape ``param``.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 dimensions, no chain, fewer than 4 draws, or non-finite
        values.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 1000))
    >>> bool(3000 < ess_mean(x) < 5000)
    True
    """
    a, param_shape = _as_draws(x, min_chains=1)
    return _shape_out(_ess_core(_split_chains(a)), param_shape)


def mcse_mean(x) -> float | np.ndarray:
    """Monte Carlo standard error of the mean, ``sd / sqrt(ess_mean)``, as ``az.mcse(method="mean")``.

    Parameters
    ----------
    x : array_like, shape (chain, draw) or (chain, draw, *param)
        Finite draws; at least 1 chain and 4 draws per chain.

    Returns
    -------
    float or numpy.ndarray
        The standard error, a float for ``(chain, draw)`` input, else an array of shape
        ``param``; ``sd`` is over all chains and draws with ``ddof=1``.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 dimensions, no chain, fewer than 4 draws, or non-finite
        values.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 2500))  # 10 000 iid draws
    >>> bool(0.008 < mcse_mean(x) < 0.012)
    True
    """
    a, param_shape = _as_draws(x, min_chains=1)
    return _shape_out(_mcse_mean(a, _ess_core(_split_chains(a))), param_shape)


def summary(x, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per-parameter summary table: mean, sd, R-hat, bulk and tail ESS, MCSE of the mean.

    The columns agree with :func:`rhat`, :func:`ess_bulk`, :func:`ess_tail` and
    :func:`mcse_mean` (shared intermediate results are computed once). The returned
    dict of equal-length columns needs no pandas; ``pandas.DataFrame(summary(x))``
    turns it into a table.

    Parameters
    ----------
    x : array_like, shape (chain, draw) or (chain, draw, *param)
        Finite draws; at least 1 chain and 4 draws per chain. With one chain the R-hat
        column is NaN.
    names : sequence of str, optional
        One name per parameter (in C order over ``param``). By default ``"x"`` for
        ``(chain, draw)`` input, else ``"x[i]"`` / ``"x[i,j]"`` ... by index.

    Returns
    -------
    dict of str to numpy.ndarray
        Keys ``"name"``, ``"mean"``, ``"sd"`` (``ddof=1``), ``"rhat"``, ``"ess_bulk"``,
        ``"ess_tail"``, ``"mcse_mean"``, in this order; each value is a 1-D array with
        one entry per parameter.

    Raises
    ------
    ValueError
        If ``x`` is invalid (see :func:`ess_bulk`) or ``names`` does not hold one string
        per parameter.

    Notes
    -----
    The columns match ``arviz.summary(..., round_to="none")`` except, for an odd number of
    draws, the R-hat: ``arviz.summary`` folds the draws around the median of all draws,
    while ``arviz.rhat`` (and this function) fold around the median of the split chains,
    which leave out each chain's middle draw.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 500, 2))
    >>> table = summary(x, names=["w", "b"])
    >>> list(table)
    ['name', 'mean', 'sd', 'rhat', 'ess_bulk', 'ess_tail', 'mcse_mean']
    >>> table["name"].tolist()
    ['w', 'b']
    """
    a, param_shape = _as_draws(x, min_chains=1)
    n_par = a.shape[0]
    if names is None:
        if param_shape == ():
            labels = ["x"]
        else:
            labels = ["x[" + ",".join(map(str, idx)) + "]" for idx in np.ndindex(*param_shape)]
    else:
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise ValueError(f"names: expected a sequence of {n_par} strings, got {names!r}")
        labels = list(names)
        if len(labels) != n_par or not all(isinstance(s, str) for s in labels):
            raise ValueError(
                f"names: expected {n_par} strings, one per parameter of x with shape {param_shape}, "
                f"got {len(labels)} items"
            )
    split = _split_chains(a)
    z_split = _z_scale(split)
    pooled = _pooled(a)
    if a.shape[1] >= 2:
        rhat_values = _rhat_rank(split, z_split)
    else:
        rhat_values = np.full(n_par, np.nan)
    low, high = 0.05, 0.95
    return {
        "name": np.array(labels, dtype=str),
        "mean": pooled.mean(axis=1),
        "sd": pooled.std(axis=1, ddof=1),
        "rhat": rhat_values,
        "ess_bulk": _ess_core(z_split),
        "ess_tail": np.minimum(_ess_quantile(a, low), _ess_quantile(a, high)),
        "mcse_mean": _mcse_mean(a, _ess_core(split)),
    }


# ---------------------------------------------------------------------------------------------
# CLT check of chain means (seed experiment 001)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CLTCheck:
    """Result of :func:`clt_check`: normality tests of the per-chain means.

    Attributes
    ----------
    statistic : float or numpy.ndarray
        Shapiro-Wilk statistic W of the chain means, per parameter (shape ``param``).
    pvalues : float or numpy.ndarray
        Shapiro-Wilk p-values, per parameter (shape ``param``).
    n_chains : int
        Number of chains, i.e. the sample size of each test.
    alpha : float
        Significance level.
    fraction_rejected : float
        Fraction of parameters with ``pvalue < alpha`` (uncorrected). About ``alpha``
        when every chain mean is Gaussian.
    any_rejected : bool
        Whether any parameter has ``pvalue < alpha / n_params`` (Bonferroni), a family-wise
        test of level at most ``alpha``.
    passed : bool
        ``not any_rejected``: no evidence against Gaussian chain means.
    """

    statistic: float | np.ndarray
    pvalues: float | np.ndarray
    n_chains: int
    alpha: float
    fraction_rejected: float
    any_rejected: bool
    passed: bool


def clt_check(x, alpha: float = 0.05) -> CLTCheck:
    """Test whether the per-chain means are Gaussian, as the central limit theorem predicts.

    Seed experiment 001 judged runs long enough by "running multiple chains and taking
    their expectation values, considering enough when they distributed according to a
    Gaussian (i.e. when they entered the CLT regime)". This function makes that check
    explicit: for each parameter it takes the mean of every chain and applies the
    Shapiro-Wilk test (:func:`scipy.stats.shapiro`) to those ``chain`` numbers. The
    verdict over all parameters is Bonferroni-corrected.

    What it shows and what it does not: if the chains are independent and long enough
    for the CLT, their means are close to Gaussian, so a rejection is evidence that the
    chains are too short, stuck in different modes, or otherwise not yet in the CLT
    regime. Passing is necessary, not sufficient, for convergence: chains that all sit
    in the same wrong mode, or that move so slowly that their means scatter like a
    Gaussian around the wrong centre, pass too; with few chains the test has little
    power. Pair it with :func:`rhat` and :func:`ess_bulk`, which compare within- and
    between-chain variation.

    Parameters
    ----------
    x : array_like, shape (chain, draw) or (chain, draw, *param)
        Finite draws (parameters, losses or any function of them); at least 3 chains
        and 1 draw per chain. Tens of chains give the test useful power.
    alpha : float, default 0.05
        Significance level, in (0, 1).

    Returns
    -------
    CLTCheck
        Per-parameter statistics and p-values (floats for ``(chain, draw)`` input, else
        arrays of shape ``param``) and the combined verdict. A parameter whose chain
        means are all equal (a point mass, e.g. a pinned parameter) gets statistic 1
        and p-value 1.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 dimensions, fewer than 3 chains, no draws, or non-finite
        values, or if ``alpha`` is not in (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clt_check(rng.normal(size=(32, 200, 3))).n_chains
    32
    >>> modes = np.where(np.arange(32)[:, None] < 16, -5.0, 5.0)  # two stuck groups
    >>> clt_check(modes + rng.normal(size=(32, 200))).passed
    False
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha: expected a significance level strictly between 0 and 1, got {alpha!r}")
    alpha = float(alpha)
    a, param_shape = _as_draws(x, min_chains=3, min_draws=1)
    n_par, n_chain, _ = a.shape
    means = a.mean(axis=2)  # (P, chain)
    statistic = np.ones(n_par)
    pvalues = np.ones(n_par)
    varying = np.ptp(means, axis=1) > 0
    if varying.any():
        with warnings.catch_warnings():
            # Nearly equal means (range below swilk's threshold) are reported as W = p = 1 anyway.
            warnings.filterwarnings("ignore", message=".*Input data has range zero", category=UserWarning)
            res = scipy.stats.shapiro(means[varying], axis=1)
        statistic[varying] = res.statistic
        pvalues[varying] = res.pvalue
    rejected = pvalues < alpha
    any_rejected = bool(np.any(pvalues < alpha / max(n_par, 1)))
    return CLTCheck(
        statistic=_shape_out(statistic, param_shape),
        pvalues=_shape_out(pvalues, param_shape),
        n_chains=int(n_chain),
        alpha=alpha,
        fraction_rejected=float(rejected.mean()) if n_par else 0.0,
        any_rejected=any_rejected,
        passed=not any_rejected,
    )
