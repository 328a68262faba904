"""``fl.train``: many independent optimiser runs at once; ``fl.gradient_flow``: the exact flow.

:func:`train` runs R optimiser runs (GD, SGD, Adam, SAM, ASAM, Langevin) in one
compiled kernel, ``prange`` over runs (see :mod:`fastland._kernels.optim` for
the updates). It works block by block: between blocks it updates the progress
bar and appends the recorded trajectory to an optional HDF5 file. Results do
not depend on the block size or the thread count.

:func:`gradient_flow` integrates dw/dt = -grad U(w) with a stiff SciPy solver
whose Jacobian is the exact Hessian, to follow the true gradient flow rather
than a discretised optimiser.

Training files
--------------
With ``path``, :func:`train` writes one HDF5 file, readable without fastland::

    /              attributes: format = "fastland.train", format_version,
                   fastland_version, settings (JSON), and each plain setting
                   again as its own attribute
    /trajectory    (only with record_every) w (run, record, param),
                   loss (run, record), stalled (run, record): the share of
                   parameter updates since the previous record that left the
                   stored value unchanged (NaN at record 0 and where a run
                   took no step), step (record): the step count of each
                   record; dimension scales run, record, param; resizable and
                   chunked along record, appended and flushed block by block;
                   n_records (scalar int64) is written last after each block
    /landscape     X (point, feature), y (point[, target]); attributes model
                   (the MLP spec as JSON), weight_decay, dtype
    /result        params (run, param), loss, grad_norm, steps, stalled,
                   stalled_share, status (strings), status_code (run);
                   unchanged_steps (run, param) int64 and frozen (run, param)
                   int8 (1 = frozen); written when training ends

The layout follows the sampler run files' conventions (groups with their own
dimension scales, so ``xarray.open_dataset(path, group="trajectory",
engine="h5netcdf")`` opens it); the file is not written in SWMR mode.
Format version 2 added the precision fields (``stalled`` in both groups,
``stalled_share``, ``unchanged_steps``, ``frozen``) and the settings ``dtype``,
``exponent`` and ``precision``. Version 3 names the settings as the arguments
of :func:`train`: ``precision`` (was ``dtype``), ``rounding`` (the bits and
exponent range, was ``precision``), ``adam_eps`` (was ``eps``).

Reduced precision
-----------------
``train(..., precision=...)`` stores every parameter in a narrower floating-point
format: the start and, after every update, each parameter is rounded to a
``bits``-bit significand (round to nearest, ties to even) with the format's
exponent range (gradual underflow to subnormals, overflow to +-inf, which then
stops the run as diverged). The update, loss, gradient and Adam's moments are
computed in float64, as in mixed-precision training with float64 arithmetic.
Named formats (significand bits including the implicit bit, normal exponents):

    ==========  ====  ===============
    precision   bits  exponents
    ==========  ====  ===============
    "float64"   53    -1022 .. 1023 (no rounding at all)
    "float32"   24    -126 .. 127
    "bfloat16"  8     -126 .. 127
    "float16"   11    -14 .. 15
    k (int)     k     ``exponent``: float64's range by default, or a named
                      format's range, or a pair (emin, emax)
    ==========  ====  ===============

A parameter update is *stalled* when it is non-zero but leaves the stored
value unchanged: |update| below half a unit in the last place of the stored
value (the spacing below it when the update moves a power of two towards
zero; an update of exactly half a unit rounds to the even neighbour).
:func:`train` counts them for every run and step, in every precision
(float64 has stalled updates too). The rounding of the sum ``w + update``
happens after the float64 addition (double rounding, as when a float64
accumulator is stored in a narrow type); the stored values are then the
nearest ``bits``-bit numbers to the float64 sums.
"""

from __future__ import annotations

import json
import numbers
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from . import _h5
from ._kernels import mlp as _mlp
from ._kernels import optim as _optim
from ._kernels import rng as _rng
from ._validate import check_choice, check_finite_array, check_int, check_positive
from .landscape import Landscape, targets_for

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "GradientFlowResult",
    "TrainResult",
    "gradient_flow",
    "open_train",
    "round_precision",
    "train",
]

OPTIMIZERS = {
    "gd": _optim.GD,
    "sgd": _optim.GD,
    "adam": _optim.ADAM,
    "sam": _optim.SAM,
    "asam": _optim.ASAM,
    "langevin": _optim.LANGEVIN,
}
STATUS_NAMES = {
    _optim.CONVERGED: "converged",
    _optim.DIVERGED: "diverged",
    _optim.MAX_STEPS: "max_steps",
}
#: named storage formats: (significand bits with the implicit bit, min and max normal exponent)
PRECISIONS = {
    "float64": (53, -1022, 1023),
    "float32": (24, -126, 127),
    "bfloat16": (8, -126, 127),
    "float16": (11, -14, 15),
}
FORMAT_VERSION = 3
_FORMAT = "fastland.train"
_BLOCK_WORK = 4_000_000  # point evaluations (forward + backward) per block, all runs together
_BLOCK_BYTES = 16 * 2**20  # recorded parameters held in memory per block
_CHUNK_BYTES = 256 * 2**10
_FLOW_METHODS = ("Radau", "BDF", "LSODA")


# ------------------------------------------------------------------------------ results
@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    params : ndarray, shape (R, p)
        Final parameters of every run (frozen where a run stopped).
    loss : ndarray, shape (R,)
        Full-batch U at ``params``.
    grad_norm : ndarray, shape (R,)
        Infinity norm of the full-batch gradient at ``params``.
    steps : ndarray of int64, shape (R,)
        Updates each run took.
    status : ndarray of str, shape (R,)
        "converged" (a tolerance was met), "max_steps" (ran all ``steps``) or
        "diverged" (the loss or gradient became non-finite; the run stopped
        there).
    trajectory : ndarray, shape (R, n_records, p), or None
        With ``record_every`` = k: the parameters after steps 0, k, 2k, ...
        (record 0 is the start); a stopped run repeats its final parameters.
    trajectory_loss : ndarray, shape (R, n_records), or None
        Full-batch U at the recorded parameters.
    trajectory_steps : ndarray of int64, shape (n_records,), or None
        The step count of each record.
    trajectory_stalled : ndarray, shape (R, n_records), or None
        Share of the parameter updates taken since the previous record that
        were stalled (non-zero but the stored value did not change; see the
        module notes). NaN at record 0 and for intervals without a step.
    stalled : ndarray of int64, shape (R,)
        Stalled parameter updates of each run, over all its steps.
    unchanged_steps : ndarray of int64, shape (R, p)
        Per parameter, how many of the run's most recent steps left its stored
        value unchanged (stalled or exactly zero updates); 0 if the last step
        changed it.
    settings : dict
        The optimiser settings (JSON-able).
    path : str or None
        The HDF5 file written, if any.
    landscape : Landscape or None
        The landscape trained on.
    """

    params: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    status: np.ndarray
    trajectory: np.ndarray | None = None
    trajectory_loss: np.ndarray | None = None
    trajectory_steps: np.ndarray | None = None
    trajectory_stalled: np.ndarray | None = None
    stalled: np.ndarray | None = None
    unchanged_steps: np.ndarray | None = None
    settings: dict = field(default_factory=dict)
    path: str | None = None
    landscape: Landscape | None = field(default=None, repr=False, compare=False)

    @property
    def stalled_share(self) -> np.ndarray:
        """Share (R,) of each run's parameter updates that were stalled (NaN for runs without steps)."""
        taken = self.steps * self.params.shape[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(taken > 0, self.stalled / np.maximum(taken, 1), np.nan)

    @property
    def frozen(self) -> np.ndarray:
        """Boolean mask (R, p): parameters whose stored value the run's last step did not change.

        Use ``unchanged_steps >= k`` for parameters frozen over the last k steps.
        """
        return self.unchanged_steps > 0

    @property
    def converged(self) -> np.ndarray:
        """Boolean mask (R,) of the runs that met a tolerance."""
        return self.status == "converged"

    @property
    def diverged(self) -> np.ndarray:
        """Boolean mask (R,) of the runs whose loss or gradient became non-finite."""
        return self.status == "diverged"

    def __repr__(self) -> str:
        names, counts = np.unique(self.status, return_counts=True)
        summary = ", ".join(f"{c} {n}" for n, c in zip(names, counts, strict=True))
        return (
            f"TrainResult(runs={self.params.shape[0]}, n_params={self.params.shape[1]}, "
            f"optimizer={self.settings.get('optimizer')!r}, status: {summary})"
        )


@dataclass
class GradientFlowResult:
    """What :func:`gradient_flow` returns.

    Attributes
    ----------
    params : ndarray, shape (R, p)
        The last point each solve reached (w(t_max) on success).
    loss : ndarray, shape (R,)
        U at ``params``.
    grad_norm : ndarray, shape (R,)
        Infinity norm of grad U at ``params``.
    t : ndarray or None
        The requested output times ``t_eval``.
    trajectory : ndarray, shape (R, len(t), p), or None
        w at the times ``t``; NaN after the time where a solve failed.
    trajectory_loss : ndarray, shape (R, len(t)), or None
        U along ``trajectory``.
    status : ndarray of str, shape (R,)
        "converged" (the solve reached ``t_max``) or "failed" (see ``message``);
        the same vocabulary as :class:`TrainResult` and
        :class:`fastland.critical.RefineResult`.
    message : list of str
        The solver's message per run.
    nfev, njev : ndarray of int, shape (R,)
        Gradient and Hessian evaluations per run.
    settings : dict
    """

    params: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    t: np.ndarray | None
    trajectory: np.ndarray | None
    trajectory_loss: np.ndarray | None
    status: np.ndarray
    message: list
    nfev: np.ndarray
    njev: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def success(self) -> np.ndarray:
        """Boolean mask (R,) of the solves that reached t_max."""
        return self.status == "converged"


# ---------------------------------------------------------------------------- validation
def _check_land(land) -> Landscape:
    if not isinstance(land, Landscape):
        raise ValueError(f"land: expected a fastland.Landscape, got {type(land).__name__}")
    return land


def _check_init(init, p: int) -> np.ndarray:
    W = check_finite_array("init", init, (1, 2))
    if W.shape[-1] != p:
        raise ValueError(f"init: expected shape (R, {p}) or ({p},) for a model with {p} parameters, got {W.shape}")
    W = np.atleast_2d(W)
    if W.shape[0] == 0:
        raise ValueError(f"init: expected at least one starting point, got shape {W.shape}")
    return np.array(W, dtype=np.float64, order="C")  # a copy: the runs write into it


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise ValueError(f"seed: expected an integer in [0, 2**63), got {seed!r}")
    return int(seed)


def _check_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite real number, got {value!r}")
    return float(value)


def _check_betas(betas) -> tuple[float, float]:
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas: expected a pair (beta1, beta2) in [0, 1), got {betas!r}") from None
    out = []
    for b in (b1, b2):
        if isinstance(b, bool) or not isinstance(b, numbers.Real) or not 0 <= b < 1:
            raise ValueError(f"betas: expected a pair (beta1, beta2) in [0, 1), got {betas!r}")
        out.append(float(b))
    return out[0], out[1]


def _kernel_data(land: Landscape) -> tuple[np.ndarray, np.ndarray]:
    # optimiser runs are float64 whatever the landscape's storage dtype
    X = np.ascontiguousarray(land.data.X, dtype=np.float64)
    T = np.ascontiguousarray(targets_for(land.net, land.data), dtype=np.float64)
    return X, T


def _precision(precision, exponent) -> tuple[int, int, int]:
    """(bits, emin, emax) of a ``precision`` / ``exponent`` pair (see the module notes)."""
    if isinstance(precision, str):
        if precision not in PRECISIONS:
            raise ValueError(
                f"precision: expected one of {', '.join(map(repr, PRECISIONS))} or an integer number of "
                f"significand bits in 2..53, got {precision!r}"
            )
        if exponent is not None:
            raise ValueError(f"exponent: only for an integer precision (bits); {precision!r} has its own range")
        return PRECISIONS[precision]
    if isinstance(precision, bool) or not isinstance(precision, numbers.Integral) or not 2 <= precision <= 53:
        raise ValueError(
            f"precision: expected one of {', '.join(map(repr, PRECISIONS))} or an integer number of "
            f"significand bits in 2..53, got {precision!r}"
        )
    bits = int(precision)
    if exponent is None:
        emin, emax = PRECISIONS["float64"][1:]
    elif isinstance(exponent, str):
        if exponent not in PRECISIONS:
            raise ValueError(
                f"exponent: expected one of {', '.join(map(repr, PRECISIONS))} or a pair (emin, emax), got {exponent!r}"
            )
        emin, emax = PRECISIONS[exponent][1:]
    else:
        try:
            emin, emax = exponent
        except (TypeError, ValueError):
            raise ValueError(f"exponent: expected a format name or a pair (emin, emax), got {exponent!r}") from None
        ok = all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in (emin, emax))
        if not ok or not -1022 <= emin <= emax <= 1023:
            raise ValueError(f"exponent: expected integers -1022 <= emin <= emax <= 1023, got {exponent!r}")
        emin, emax = int(emin), int(emax)
    if emin - bits + 1 < -1074:
        raise ValueError(
            f"exponent: the smallest spacing 2^(emin - bits + 1) = 2^{emin - bits + 1} is below float64's 2^-1074"
        )
    return bits, emin, emax


def round_precision(x, precision="float32", exponent=None) -> np.ndarray:
    """Round values to a storage format, as :func:`train` rounds parameters.

    Parameters
    ----------
    x : array_like
        Values (any shape; NaN and inf pass through).
    precision : str or int, default "float32"
        "float64", "float32", "bfloat16", "float16", or a number of significand
        bits k in 2..53 (implicit bit included).
    exponent : str or (int, int), optional
        For an integer ``precision``: the normal exponent range, as a format name
        or a pair (emin, emax); default float64's.

    Returns
    -------
    ndarray of float64
        Round to nearest, ties to even, with gradual underflow and overflow to
        +-inf (see the module notes). Equals ``x.astype(np.float32)`` for
        "float32" and ``x.astype(np.float16)`` for "float16", as float64.

    Examples
    --------
    >>> from fastland.train import round_precision
    >>> float(round_precision(1 + 2.0**-11, "float16")), float(round_precision(1 + 3 * 2.0**-11, 11))
    (1.0, 1.001953125)
    """
    bits, emin, emax = _precision(precision, exponent)
    a = np.array(x, dtype=np.float64, order="C")
    out = np.empty_like(a)
    _optim.round_array(a.reshape(-1), bits, emin, emax, out.reshape(-1), True)
    return out


# --------------------------------------------------------------------------------- train
def train(
    land: Landscape,
    init,
    *,
    optimizer: str = "adam",
    lr: float = 1e-3,
    steps: int = 1000,
    batch_size: int | None = None,
    seed: int = 0,
    tol_grad: float | None = None,
    tol_loss: float | None = None,
    rho: float = 0.05,
    asam_eta: float = 0.01,
    temperature: float = 1.0,
    betas: tuple[float, float] = (0.9, 0.999),
    adam_eps: float = 1e-8,
    record_every: int | None = None,
    path: str | os.PathLike | None = None,
    progress: bool = True,
    block_steps: int | None = None,
    precision: str | int = "float64",
    exponent: str | tuple[int, int] | None = None,
) -> TrainResult:
    """Run R independent optimisations of U from the rows of ``init``, in parallel.

    Parameters
    ----------
    land : Landscape
        The loss U (its weight decay included). Runs compute in float64 even
        for a float32 landscape.
    init : array_like, shape (R, p) or (p,)
        Starting points, one run per row; finite (rounded to ``precision``).
    optimizer : {"adam", "gd", "sgd", "sam", "asam", "langevin"}
        "gd": w - lr g, full batch. "sgd": the same with mini-batches of
        ``batch_size`` (required). "adam": Kingma & Ba with bias correction
        (PyTorch's update). "sam" / "asam": sharpness-aware GD (SGD with
        ``batch_size``) stepping with the gradient at w + e, where
        e = rho g / ||g|| (SAM) or rho T_w^2 g / ||T_w g||, T_w = |w| + asam_eta
        (ASAM). "langevin": w - lr g + sqrt(2 lr T) xi. See
        :mod:`fastland._kernels.optim`.
    lr : float, default 1e-3
        Learning rate (> 0).
    steps : int, default 1000
        Maximum number of updates per run (>= 1).
    batch_size : int, optional
        Points per mini-batch, 1..N, drawn without replacement each step from
        the run's own random stream; every optimiser but "gd" accepts it.
        None (or N) means the full batch.
    seed : int, default 0
        Run r draws its mini-batches and noise from the Philox stream (seed, r).
    tol_grad : float, optional
        Stop a run once the infinity norm of its full-batch gradient is <= tol_grad.
    tol_loss : float, optional
        Stop a run once its full-batch loss is <= tol_loss. Tolerances are
        checked after every step (and at the start); with mini-batches that
        costs one full-batch evaluation per step.
    rho : float, default 0.05
        SAM / ASAM neighbourhood radius.
    asam_eta : float, default 0.01
        ASAM's offset eta in T_w = |w| + eta (>= 0).
    temperature : float, default 1.0
        Langevin temperature T.
    betas : (float, float), default (0.9, 0.999)
        Adam's decay rates.
    adam_eps : float, default 1e-8
        Adam's denominator offset epsilon.
    record_every : int, optional
        Record the parameters and full-batch loss after every ``record_every``
        steps (and at the start).
    path : str or PathLike, optional
        A new HDF5 file to write the trajectory (streamed block by block), the
        landscape and the final result to (see the module notes); an existing
        file is never overwritten.
    progress : bool, default True
        Show a progress bar (only when standard error is a terminal).
    block_steps : int, optional
        Steps per compiled call; between calls the progress bar and the file
        are updated. Results do not depend on it.
    precision : {"float64", "float32", "bfloat16", "float16"} or int, default "float64"
        Storage format of the parameters: the starting points and every updated
        parameter are rounded to it (module notes, "Reduced precision"); an
        integer k is a k-bit significand (2..53, implicit bit included; 24 is
        float32's, 11 float16's, 8 bfloat16's). Arithmetic stays float64.
        "float64" leaves the runs exactly as without rounding.
    exponent : str or (int, int), optional
        Only with an integer ``precision``: the exponent range, a format name (for
        example "float16") or a pair (emin, emax) of normal exponents; default
        float64's range (only the significand is narrowed).

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> import fastland as fl
    >>> from fastland.train import train
    >>> land = fl.Landscape(fl.MLP(2, [2, 2], 2), fl.datasets.random_labels(n=10, seed=0))
    >>> fit = train(land, land.net.init(8, seed=1), optimizer="adam", lr=0.01, steps=200,
    ...                progress=False)
    >>> fit.params.shape, bool((fit.loss < land.loss(land.net.init(8, seed=1))).all())
    ((8, 18), True)
    """
    land = _check_land(land)
    p = land.n_params
    W = _check_init(init, p)
    R = W.shape[0]
    check_choice("optimizer", optimizer, tuple(OPTIMIZERS))
    lr = check_positive("lr", lr)
    steps = check_int("steps", steps, 1)
    N = land.data.n
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, 1)
        if batch_size > N:
            raise ValueError(f"batch_size: expected an integer in 1..{N} (the number of points), got {batch_size}")
        if optimizer == "gd" and batch_size < N:
            raise ValueError(f"batch_size: optimizer 'gd' is full-batch; use 'sgd' for mini-batches of {batch_size}")
    elif optimizer == "sgd":
        raise ValueError(f"batch_size: optimizer 'sgd' needs a mini-batch size in 1..{N}")
    seed = _check_seed(seed)
    if tol_grad is not None:
        tol_grad = check_positive("tol_grad", tol_grad, allow_zero=True)
    if tol_loss is not None:
        tol_loss = _check_real("tol_loss", tol_loss)
    rho = check_positive("rho", rho)
    asam_eta = check_positive("asam_eta", asam_eta, allow_zero=True)
    temperature = check_positive("temperature", temperature)
    b1, b2 = _check_betas(betas)
    adam_eps = check_positive("adam_eps", adam_eps)
    if record_every is not None:
        record_every = check_int("record_every", record_every, 1)
    if path is not None:
        if not isinstance(path, str | os.PathLike):
            raise ValueError(f"path: expected a file name, got {type(path).__name__}")
        path = os.fspath(path)
        if os.path.exists(path):
            raise ValueError(f"path: {path!r} exists; train writes a new file (remove it or choose another name)")
    if not isinstance(progress, bool | np.bool_):
        raise ValueError(f"progress: expected True or False, got {progress!r}")
    if block_steps is not None:
        block_steps = check_int("block_steps", block_steps, 1)
    bits, emin, emax = _precision(precision, exponent)
    prec = np.array([0 if precision == "float64" else bits, emin, emax], dtype=np.int64)
    if prec[_optim.P_BITS]:
        W0 = W
        W = np.empty_like(W0)
        _optim.round_array(W0.reshape(-1), bits, emin, emax, W.reshape(-1), True)
        if not np.all(np.isfinite(W)):
            raise ValueError(f"init: values beyond the largest finite number of precision {precision!r} (overflow)")

    settings = {
        "optimizer": optimizer,
        "lr": lr,
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "tol_grad": tol_grad,
        "tol_loss": tol_loss,
        "rho": rho,
        "asam_eta": asam_eta,
        "temperature": temperature,
        "betas": [b1, b2],
        "adam_eps": adam_eps,
        "record_every": record_every,
        "runs": R,
        "precision": precision if isinstance(precision, str) else int(precision),
        "exponent": list(exponent) if isinstance(exponent, tuple | list) else exponent,
        "rounding": {"bits": bits, "emin": emin, "emax": emax},
    }
    hyper = np.zeros(_optim.N_HYPER)
    hyper[_optim.H_LR] = lr
    hyper[_optim.H_RHO] = rho
    hyper[_optim.H_ASAM_ETA] = asam_eta
    hyper[_optim.H_TEMPERATURE] = temperature
    hyper[_optim.H_BETA1] = b1
    hyper[_optim.H_BETA2] = b2
    hyper[_optim.H_EPS] = adam_eps
    hyper[_optim.H_TOL_GRAD] = -1.0 if tol_grad is None else tol_grad
    hyper[_optim.H_TOL_LOSS] = -np.inf if tol_loss is None else tol_loss

    X, T = _kernel_data(land)
    mini = batch_size is not None and batch_size < N
    check = mini and (tol_grad is not None or tol_loss is not None)
    if block_steps is None:
        block_steps = _default_block(R, p, N, batch_size if mini else N, optimizer, record_every)

    writer = _TrainFile(path, land, settings, R, p, record_every) if path is not None else None
    try:
        result = _run(
            land,
            X,
            T,
            W,
            OPTIMIZERS[optimizer],
            hyper,
            prec,
            batch_size if mini else 0,
            check,
            steps,
            seed,
            record_every,
            block_steps,
            progress,
            optimizer,
            writer,
        )
        result.settings = settings
        result.path = path
        result.landscape = land
        if writer is not None:
            writer.write_result(result)
    finally:
        if writer is not None:
            writer.close()
    return result


def _default_block(R: int, p: int, N: int, n_batch: int, optimizer: str, record_every) -> int:
    per_step = R * n_batch * (2 if optimizer in ("sam", "asam") else 1)
    block = max(1, _BLOCK_WORK // max(1, per_step))
    if record_every is not None:
        max_records = max(1, _BLOCK_BYTES // (R * p * 8))
        block = min(block, max_records * record_every)
        if block >= record_every:
            block -= block % record_every  # whole records per block
    return block


def _run(
    land,
    X,
    T,
    W,
    method,
    hyper,
    prec,
    batch_size,
    check,
    steps,
    seed,
    record_every,
    block_steps,
    progress,
    optimizer,
    writer,
) -> TrainResult:
    arch = land._arch
    wd = float(land.weight_decay)
    R, p = W.shape
    grad = np.zeros((R, p))
    loss = np.empty(R)
    gnorm = np.empty(R)
    m = np.zeros((R, p))
    v = np.zeros((R, p))
    n_taken = np.zeros(R, dtype=np.int64)
    states = _rng.seed_states(seed, 0, R)
    status = np.full(R, _optim.RUNNING, dtype=np.int64)
    unchanged = np.zeros((R, p), dtype=np.int64)
    stalled = np.zeros(R, dtype=np.int64)
    acc = np.zeros((R, 2), dtype=np.int64)
    runs = _optim.Runs(W, grad, loss, gnorm, m, v, n_taken, states, status, unchanged, stalled, acc)
    problem = _mlp.Problem(arch, X, T, wd)
    _optim.evaluate(problem, hyper, runs)

    k = 0 if record_every is None else record_every
    traj = traj_loss = traj_steps = traj_stalled = None
    if k:
        n_records = steps // k + 1
        traj = np.empty((R, n_records, p))
        traj_loss = np.empty((R, n_records))
        traj_stalled = np.full((R, n_records), np.nan)
        traj_steps = np.arange(n_records, dtype=np.int64) * k
        traj[:, 0] = W
        traj_loss[:, 0] = loss
        if writer is not None:
            writer.append(traj[:, :1], traj_loss[:, :1], traj_stalled[:, :1], traj_steps[:1])
    bar = _progress_bar(R * steps, progress, optimizer)
    done = 0
    try:
        while done < steps:
            if not np.any(status == _optim.RUNNING):  # every run stopped: positions are frozen
                if k:
                    j0 = done // k + 1
                    traj[:, j0:] = W[:, None, :]
                    traj_loss[:, j0:] = loss[:, None]
                    if j0 < traj.shape[1]:  # steps taken since the last record, then none
                        traj_stalled[:, j0] = _share(acc)
                    if writer is not None and j0 < traj.shape[1]:
                        writer.append(traj[:, j0:], traj_loss[:, j0:], traj_stalled[:, j0:], traj_steps[j0:])
                break
            n = min(block_steps, steps - done)
            n_rec = (done + n) // k - done // k if k else 0
            out_w = np.empty((R, n_rec, p))
            out_loss = np.empty((R, n_rec))
            out_acc = np.zeros((R, n_rec, 2), dtype=np.int64)
            _optim.run_block(
                method, problem, hyper, prec, batch_size, check, n, done, k, runs,
                _optim.Records(out_w, out_loss, out_acc),
            )  # fmt: skip
            if n_rec:
                j0 = done // k + 1
                traj[:, j0 : j0 + n_rec] = out_w
                traj_loss[:, j0 : j0 + n_rec] = out_loss
                traj_stalled[:, j0 : j0 + n_rec] = _share(out_acc)
                if writer is not None:
                    writer.append(out_w, out_loss, traj_stalled[:, j0 : j0 + n_rec], traj_steps[j0 : j0 + n_rec])
            done += n
            if bar is not None:
                bar.update(R * n)
                bar.set_postfix(running=int(np.sum(status == _optim.RUNNING)))
    finally:
        if bar is not None:
            bar.close()
    # full-batch values at the final points (after mini-batch steps they were not kept up to date)
    _optim.evaluate(problem, hyper, runs)
    status[status == _optim.RUNNING] = _optim.MAX_STEPS
    names = np.array([STATUS_NAMES[int(s)] for s in status])
    return TrainResult(
        params=W,
        loss=loss,
        grad_norm=gnorm,
        steps=n_taken,
        status=names,
        trajectory=traj,
        trajectory_loss=traj_loss,
        trajectory_steps=traj_steps,
        trajectory_stalled=traj_stalled,
        stalled=stalled,
        unchanged_steps=unchanged,
    )


def _share(acc: np.ndarray) -> np.ndarray:
    """Stalled share from (..., 2) counts (stalled, updates): NaN where no update was taken."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(acc[..., 1] > 0, acc[..., 0] / np.maximum(acc[..., 1], 1), np.nan)


def _progress_bar(total: int, enabled: bool, desc: str):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="run-step", unit_scale=True, desc=desc, leave=False)


# ------------------------------------------------------------------------------ the file
def open_train(path) -> TrainResult:
    """Read a training file written by :func:`train` back into a :class:`TrainResult`.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``fl.train(..., path=path)``.

    Returns
    -------
    TrainResult
        Equal, field by field, to what :func:`train` returned (the trajectory
        included when it was recorded); ``landscape`` is rebuilt from the file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a fastland training file, is damaged (truncated,
        chunks missing), or holds a training that did not finish (no
        ``result`` group: the records written so far are stated).
    """
    handle = _h5.open_file(path, kind=_FORMAT, max_version=FORMAT_VERSION, what="training file")
    try:
        f, name = handle.file, handle.path
        n_rec = int(f["trajectory/n_records"][()]) if "trajectory" in f else 0
        if "result" not in f:
            raise ValueError(
                f"path: {name!r} holds a training that did not finish (no result group; "
                f"{n_rec} trajectory records were written); it cannot be read as a result"
            )
        g = f["result"]
        needed = ("params", "loss", "grad_norm", "steps", "status", "stalled", "unchanged_steps")
        missing = [k for k in needed if k not in g]
        if missing:
            raise ValueError(f"path: {name!r} is damaged: result lacks {', '.join(missing)}")
        out = {k: g[k][()] for k in needed}
        out["status"] = np.array([s.decode() if isinstance(s, bytes) else str(s) for s in out["status"]])
        if "trajectory" in f:
            t = f["trajectory"]
            for key in ("w", "loss", "stalled"):
                _h5.check_chunks(t[key], n_rec, name)
            out["trajectory"] = t["w"][:, :n_rec]
            out["trajectory_loss"] = t["loss"][:, :n_rec]
            out["trajectory_stalled"] = t["stalled"][:, :n_rec]
            out["trajectory_steps"] = t["step"][:n_rec]
        result = TrainResult(**out, settings=json.loads(f.attrs["settings"]), path=name)
        result.landscape = _h5.read_landscape(f["landscape"])
        return result
    finally:
        handle.close()


class _TrainFile:
    """The HDF5 file of one :func:`train` call (layout in the module notes)."""

    def __init__(self, path: str, land: Landscape, settings: dict, R: int, p: int, record_every) -> None:
        self._handle = _h5.create_file(path, kind=_FORMAT, format_version=FORMAT_VERSION)
        self._f = f = self._handle.file
        try:
            f.attrs["settings"] = json.dumps(settings)
            for key, value in settings.items():
                if isinstance(value, str):
                    f.attrs[key] = value
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    f.attrs[key] = np.float64(value) if isinstance(value, float) else np.int64(value)
            _h5.write_landscape(f.create_group("landscape"), land)
            self._traj = None
            if record_every is not None:
                g = f.create_group("trajectory")
                cr = max(1, min(1024, _CHUNK_BYTES // (8 * p)))
                run, param = _h5.create_scale(g, "run", R), _h5.create_scale(g, "param", p)
                record = g.create_dataset("record", shape=(0,), maxshape=(None,), chunks=(cr,), dtype=np.int64)
                record.make_scale("record")
                w = g.create_dataset("w", shape=(R, 0, p), maxshape=(R, None, p), chunks=(1, cr, p), dtype=np.float64)
                loss = g.create_dataset("loss", shape=(R, 0), maxshape=(R, None), chunks=(1, cr), dtype=np.float64)
                stalled = g.create_dataset(
                    "stalled", shape=(R, 0), maxshape=(R, None), chunks=(1, cr), dtype=np.float64
                )
                stalled.attrs["description"] = (
                    "share of parameter updates since the previous record that were non-zero but left "
                    "the stored value unchanged (NaN: no update)"
                )
                step = g.create_dataset("step", shape=(0,), maxshape=(None,), chunks=(cr,), dtype=np.int64)
                step.attrs["description"] = "number of optimiser steps taken at each record"
                _h5.attach(w, run, record, param)
                _h5.attach(loss, run, record)
                _h5.attach(stalled, run, record)
                _h5.attach(step, record)
                g.create_dataset("n_records", data=np.int64(0))
                self._traj = g
            f.flush()
        except BaseException:
            self._handle.close()
            os.unlink(path)
            raise

    def append(self, w: np.ndarray, loss: np.ndarray, stalled: np.ndarray, steps: np.ndarray) -> None:
        """Append records (R, n, p), their losses and stalled shares (R, n), step counts (n,); counter last."""
        g = self._traj
        n0 = int(g["n_records"][()])
        n1 = n0 + w.shape[1]
        for name in ("w", "loss", "stalled", "record", "step"):
            g[name].resize(n1, axis=1 if name in ("w", "loss", "stalled") else 0)
        g["w"][:, n0:n1] = w
        g["loss"][:, n0:n1] = loss
        g["stalled"][:, n0:n1] = stalled
        g["record"][n0:n1] = np.arange(n0, n1)
        g["step"][n0:n1] = steps
        self._f.flush()
        g["n_records"][()] = n1
        self._f.flush()

    def write_result(self, result: TrainResult) -> None:
        """Write group ``result`` with the final parameters, losses, steps and statuses."""
        import h5py

        g = self._f.create_group("result")
        R, p = result.params.shape
        run, param = _h5.create_scale(g, "run", R), _h5.create_scale(g, "param", p)
        _h5.attach(g.create_dataset("params", data=result.params), run, param)
        for name in ("loss", "grad_norm", "steps", "stalled", "stalled_share"):
            _h5.attach(g.create_dataset(name, data=getattr(result, name)), run)
        _h5.attach(g.create_dataset("unchanged_steps", data=result.unchanged_steps), run, param)
        fz = g.create_dataset("frozen", data=result.frozen.astype(np.int8))
        fz.attrs["description"] = "1 where the run's last step left the parameter's stored value unchanged"
        _h5.attach(fz, run, param)
        _h5.attach(g.create_dataset("status", data=result.status.astype(object), dtype=h5py.string_dtype()), run)
        codes = {name: code for code, name in STATUS_NAMES.items()}
        sc = g.create_dataset("status_code", data=np.array([codes[s] for s in result.status], dtype=np.int64))
        sc.attrs["codes"] = json.dumps(codes)
        _h5.attach(sc, run)
        self._f.flush()

    def close(self) -> None:
        self._handle.close()


# ------------------------------------------------------------------------- gradient flow
def gradient_flow(
    land: Landscape,
    init,
    *,
    t_max: float,
    method: str = "Radau",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    t_eval=None,
) -> GradientFlowResult:
    """Integrate the gradient flow dw/dt = -grad U(w) from every row of ``init`` up to ``t_max``.

    A stiff solver (``scipy.integrate.solve_ivp``) follows the flow with the
    exact Hessian as its Jacobian (d/dw of -grad U is -H). Each start is solved
    separately in a Python loop: an implicit ODE solver is sequential in time
    and adapts its steps per trajectory, so there is no batch to parallelise;
    the gradient and Hessian evaluations inside are compiled and serial (one
    call per evaluation, no thread pool to wake).

    Parameters
    ----------
    land : Landscape
        The loss U.
    init : array_like, shape (R, p) or (p,)
        Initial points w(0), one solve per row; finite.
    t_max : float
        Final time (> 0).
    method : {"Radau", "BDF", "LSODA"}
        Stiff solver.
    rtol, atol : float
        Solver tolerances (> 0).
    t_eval : array_like, optional
        Increasing times in [0, t_max] at which to store the trajectory.

    Returns
    -------
    GradientFlowResult

    Examples
    --------
    >>> import fastland as fl
    >>> land = fl.Landscape(fl.MLP(2, [2, 2], 2), fl.datasets.random_labels(n=10, seed=0))
    >>> from fastland.train import gradient_flow
    >>> flow = gradient_flow(land, land.net.init(2, seed=1), t_max=5.0, t_eval=[0.0, 1.0, 5.0])
    >>> flow.trajectory.shape, bool(flow.success.all())
    ((2, 3, 18), True)
    """
    from scipy.integrate import solve_ivp

    land = _check_land(land)
    p = land.n_params
    W = _check_init(init, p)
    R = W.shape[0]
    t_max = check_positive("t_max", t_max)
    check_choice("method", method, _FLOW_METHODS)
    rtol = check_positive("rtol", rtol)
    atol = check_positive("atol", atol)
    if t_eval is not None:
        t_eval = check_finite_array("t_eval", t_eval, 1)
        if t_eval.size == 0 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_max:
            raise ValueError(f"t_eval: expected increasing times in [0, t_max={t_max}], got {t_eval!r:.80}")

    X, T = _kernel_data(land)
    arch, wd = land._arch, float(land.weight_decay)
    grad = np.empty(p)
    hess = np.empty((p, p))

    def neg_grad(_t, w):
        _optim.loss_grad_one(arch, X, T, wd, np.ascontiguousarray(w, dtype=np.float64), grad)
        return -grad

    def neg_hessian(_t, w):
        _optim.hessian_one(arch, X, T, wd, np.ascontiguousarray(w, dtype=np.float64), hess)
        return -hess

    params = np.empty((R, p))
    traj = None if t_eval is None else np.full((R, t_eval.size, p), np.nan)
    status = np.empty(R, dtype=object)
    nfev = np.empty(R, dtype=np.int64)
    njev = np.empty(R, dtype=np.int64)
    messages = []
    for r in range(R):
        sol = solve_ivp(
            neg_grad, (0.0, t_max), W[r], method=method, jac=neg_hessian, rtol=rtol, atol=atol, t_eval=t_eval
        )
        params[r] = sol.y[:, -1]
        if traj is not None:
            traj[r, : sol.y.shape[1]] = sol.y.T
        status[r] = "converged" if sol.status == 0 else "failed"
        nfev[r] = sol.nfev
        njev[r] = sol.njev
        messages.append(str(sol.message))

    loss, grad = _loss_grad(arch, X, T, wd, params)
    traj_loss = None
    if traj is not None:
        traj_loss = np.full(traj.shape[:2], np.nan)
        ok = np.isfinite(traj).all(axis=2)
        if ok.any():
            traj_loss[ok] = _loss_grad(arch, X, T, wd, traj[ok])[0]
    settings = {"method": method, "t_max": t_max, "rtol": rtol, "atol": atol, "runs": R}
    return GradientFlowResult(
        params=params,
        loss=loss,
        grad_norm=np.abs(grad).max(axis=1),
        t=t_eval,
        trajectory=traj,
        trajectory_loss=traj_loss,
        status=status.astype(str),
        message=messages,
        nfev=nfev,
        njev=njev,
        settings=settings,
    )


def _loss_grad(arch, X, T, wd, W) -> tuple[np.ndarray, np.ndarray]:
    W = np.ascontiguousarray(W, dtype=np.float64)
    loss = np.empty(W.shape[0])
    grad = np.empty(W.shape)
    _mlp.loss_grad_batch(arch, W, X, T, wd, loss, grad)
    return loss, grad
