"""``fl.sample``: many MCMC chains of exp(-U/T) on a box, streamed block by block."""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
import time

import numba
import numpy as np

from . import convergence as _convergence
from ._kernels import lanes as _lanes
from ._kernels import mlp as _mlp
from ._kernels import rng as _rng
from ._kernels import samplers as _samplers
from ._validate import as_dtype, check_bool, check_choice, check_finite_array, check_int, check_positive
from .convergence import Convergence
from .landscape import Landscape
from .store import HDF5Backend, MemoryBackend, Run, _default_chunk_draws

__all__ = ["METHODS", "memory_needed", "sample"]

METHODS = {
    "rwm": _samplers.RWM,
    "mala": _samplers.MALA,
    "hmc": _samplers.HMC,
    "langevin": _samplers.LANGEVIN,
}
# asymptotically optimal acceptance rates (Roberts & Rosenthal; Beskos et al. for HMC)
_TARGET_ACCEPT = {"rwm": 0.234, "mala": 0.574, "hmc": 0.65, "langevin": 1.0}
_BLOCK_BYTES = 16 * 2**20  # draws held in memory per block, all chains together
# Below this much work per block (loss evaluations x points x parameters) a block runs
# without a parallel region: waking the other threads costs microseconds on an idle machine
# but milliseconds when other processes hold the cores, far more than such a block's work.
_PARALLEL_MIN_WORK = 2_000_000
_STATS = {"accepted": np.dtype(np.float32)}
# settings that must match when a run is resumed (draws may grow)
# Version of the kernels' use of the random streams, stored with every run. 2: RWM steps
# draw whole Philox4x32-10 blocks in chain lanes (``_kernels.lanes``); runs written before
# (no key: RWM drew Philox4x64 words one by one) cannot continue bit-identically.
KERNEL_VERSION = 2
# run-file setting -> sample() argument, where the names differ (the file format keeps its names)
_ARGUMENT = {"step": "step_size", "dtype": "draws_dtype"}
_RESUME_KEYS = (
    "method",
    "chains",
    "thin",
    "warmup",
    "step",
    "box",
    "temperature",
    "n_leapfrog",
    "target_accept",
    "adapt",
    "seed",
    "dtype",
    "init",
)


def _state_layout(chains: int, p: int) -> dict:
    return {
        "position": ((chains, p), np.dtype(np.float64)),
        "loss": ((chains,), np.dtype(np.float64)),
        "grad": ((chains, p), np.dtype(np.float64)),
        "rng": ((chains, _rng.STATE_SIZE), np.dtype(np.uint64)),
        "step_size": ((chains,), np.dtype(np.float64)),
        "adapt": ((chains, _samplers.ADAPT_SIZE), np.dtype(np.float64)),
        "warmup_done": ((1,), np.dtype(np.int64)),
    }


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise ValueError(f"seed: expected an integer in [0, 2**63), got {seed!r}")
    return int(seed)


def _initial_state(land: Landscape, chains: int, box: float, init, seed: int, step: float) -> dict:
    p = land.n_params
    states = _rng.seed_states(seed, 0, chains)
    if isinstance(init, str):
        check_choice("init", init, ("uniform",))
        pos = np.empty((chains, p))
        _samplers.init_uniform(states, box, pos)
    else:
        pos = check_finite_array("init", init, 2)
        if pos.shape != (chains, p):
            raise ValueError(f"init: expected shape ({chains}, {p}) (chains, n_params), got {pos.shape}")
        outside = np.abs(pos) > box
        if outside.any():
            raise ValueError(
                f"init: expected every start inside the box [-{box}, {box}]^{p}; "
                f"{int(outside.any(axis=1).sum())} chain(s) start outside"
            )
        pos = pos.copy()
    loss = np.empty(chains)
    grad = np.zeros((chains, p))
    _samplers.evaluate(land._arch, land._X, land._T, land.weight_decay, pos, True, loss, grad)
    bad = ~np.isfinite(loss)
    if bad.any():
        raise ValueError(f"init: the loss is not finite at the start of chain(s) {np.flatnonzero(bad)[:10]}")
    step_size = np.full(chains, step)
    adapt = np.zeros((chains, _samplers.ADAPT_SIZE))
    _samplers.init_adaptation(step_size, adapt)
    return {
        "position": pos,
        "loss": loss,
        "grad": grad,
        "rng": states,
        "step_size": step_size,
        "adapt": adapt,
        "warmup_done": np.zeros(1, dtype=np.int64),
    }


def _same_landscape(land: Landscape, stored: Landscape) -> bool:
    return (
        land.net == stored.net
        and land.weight_decay == stored.weight_decay
        and np.array_equal(land.data.X, stored.data.X)
        and np.array_equal(land.data.y, stored.data.y)
    )


def _progress_bar(total: int, initial: int, enabled: bool, desc: str):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="chain-step", unit_scale=True, desc=desc, leave=False)


def sample(
    land: Landscape,
    chains: int = 64,
    *,
    draws: int = 1000,
    thin: int = 1,
    warmup: int = 0,
    step_size: float = 0.05,
    box: float = 10.0,
    temperature: float = 1.0,
    method: str = "rwm",
    n_leapfrog: int = 10,
    target_accept: float | None = None,
    adapt: bool = True,
    init="uniform",
    path: str | os.PathLike | None = None,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    draws_dtype="float64",
    compression: str | None = None,
    block_draws: int | None = None,
    overwrite: bool = False,
    until: Convergence | None = None,
) -> Run:
    """Sample exp(-U(w)/T) on the box [-box, box]^p with many chains in parallel.

    Parameters
    ----------
    land : Landscape
        The loss U.
    chains : int, default 64
        Number of independent chains (run in parallel, one random stream each).
    draws : int, default 1000
        Stored draws per chain; each is ``thin`` steps after the previous one.
    thin : int, default 1
    warmup : int, default 0
        Steps per chain before the first stored draw. With ``adapt`` the step
        size of each chain adapts there (dual averaging toward
        ``target_accept``), then stays frozen; the frozen sizes are recorded in
        the run's state (``run.state()["step_size"]``).
    step_size : float, default 0.05
        Proposal scale epsilon (the starting value when ``adapt``): RWM's proposal standard deviation, MALA's and
        Langevin's noise scale (drift eps^2 / (2T) grad U, i.e. SGD with learning
        rate eps^2 / (2T)), HMC's leapfrog step.
    box : float, default 10.0
        Half-width L of the box; the density is 0 outside.
    temperature : float, default 1.0
    method : {"rwm", "mala", "hmc", "langevin"}
        See :mod:`fastland._kernels.samplers` for the updates and the box handling.
    n_leapfrog : int, default 10
        Leapfrog steps per HMC proposal.
    target_accept : float, optional
        Acceptance rate the warm-up aims at (default 0.234 RWM, 0.574 MALA, 0.65 HMC).
    adapt : bool, default True
    init : "uniform" or array_like (chains, p)
        Starting points: uniform in the box from each chain's stream, or given.
    path : str or PathLike, optional
        HDF5 run file to stream to; the draws stay in memory when omitted.
    seed : int, default 0
        Chain c uses the Philox stream keyed by (seed, c).
    resume : bool, default False
        Continue the run in ``path`` up to ``draws`` draws, bit-identically to an
        uninterrupted run. The file must exist and the settings (compression
        included) must match the stored ones; everything is checked before the
        file is changed.
    progress : bool, default True
        Show a progress bar (only when standard error is a terminal).
    draws_dtype : {"float64", "float32"}, default "float64"
        Storage type of the draws (chains always run in float64).
    compression : {None, "gzip", "lzf"}
    block_draws : int, optional
        Draws per chain held in memory between writes (default: about 16 MiB
        for all chains). Results do not depend on it.
    overwrite : bool, default False
        Replace an existing file at ``path`` with a new run. Without it an
        existing file is never touched (FileExistsError, also a ValueError).

    Notes
    -----
    Ctrl-C (SIGINT) stops the run after the block in progress: the file keeps
    every committed draw and its resume state, and KeyboardInterrupt is
    raised again. A run that is dropped without :meth:`Run.close` is closed
    when it is garbage-collected.

    until : fastland.Convergence, optional
        Sample until converged: start with ``draws`` stored draws per chain, then
        double the run's length until the targets (split R-hat and bulk/tail ESS
        of the loss, the outputs at the data points and the canonical weights, by
        default) are met or a budget runs out; ``thin`` is raised to fit a step
        budget into ``until.max_draws`` draws. The outcome (which target or
        budget stopped it, the diagnostics of every check) is in
        ``run.attrs["until"]`` and the run file. The draws equal those of a
        fixed-length run of the final length (same seed, same thin).

    Returns
    -------
    Run

    Examples
    --------
    >>> import fastland as fl
    >>> land = fl.Landscape(fl.MLP(2, [2, 2], 2), fl.datasets.random_labels(n=10, seed=0))
    >>> run = fl.sample(land, chains=4, draws=50, step_size=0.3, progress=False)
    >>> run.draws.shape
    (4, 50, 18)
    """
    if not isinstance(land, Landscape):
        raise ValueError(f"land: expected a fastland.Landscape, got {type(land).__name__}")
    chains = check_int("chains", chains, 1)
    draws = check_int("draws", draws, 1)
    thin = check_int("thin", thin, 1)
    warmup = check_int("warmup", warmup, 0)
    step_size = check_positive("step_size", step_size)
    box = check_positive("box", box)
    temperature = check_positive("temperature", temperature)
    check_choice("method", method, tuple(METHODS))
    n_leapfrog = check_int("n_leapfrog", n_leapfrog, 1)
    if target_accept is None:
        target_accept = _TARGET_ACCEPT[method]
    elif not (isinstance(target_accept, numbers.Real) and 0 < target_accept < 1):
        raise ValueError(f"target_accept: expected a number in (0, 1), got {target_accept!r}")
    seed = _check_seed(seed)
    adapt = check_bool("adapt", adapt)
    resume = check_bool("resume", resume)
    progress = check_bool("progress", progress)
    overwrite = check_bool("overwrite", overwrite)
    store_dtype = as_dtype(draws_dtype, "draws_dtype")
    if compression is not None:
        check_choice("compression", compression, ("gzip", "lzf"))
        if path is None:
            raise ValueError("compression: applies to a run file; pass path= too (runs in memory are not compressed)")
    if block_draws is not None:
        block_draws = check_int("block_draws", block_draws, 1)
    if until is not None:
        if not isinstance(until, Convergence):
            raise ValueError(f"until: expected a fastland.Convergence, got {type(until).__name__}")
        if chains < 2:
            raise ValueError(f"until: convergence needs at least 2 chains, got chains={chains}")
        thin = until.thin_for(thin)
        draws = min(draws, until.draw_budget(thin))
    started = time.perf_counter()
    if resume:
        if path is None:
            raise ValueError("resume: there is nothing to resume without a run file; pass path=")
        if overwrite:
            raise ValueError("overwrite: cannot be combined with resume=True (resume continues the file)")
    p = land.n_params
    init_key = init if isinstance(init, str) else "array"
    settings = {
        "method": method,
        "chains": chains,
        "draws": draws,
        "thin": thin,
        "warmup": warmup,
        "step": step_size,
        "box": box,
        "temperature": temperature,
        "n_leapfrog": n_leapfrog,
        "target_accept": float(target_accept),
        "adapt": bool(adapt),
        "seed": seed,
        "dtype": store_dtype.name,
        "init": init_key,
        "kernel_version": KERNEL_VERSION,
    }

    _check_memory(land, chains, method, block_draws, store_dtype)
    if resume:
        # everything is checked read-only first: a refused or failing resume changes no byte
        reader = HDF5Backend.open(path, mode="r")
        try:
            _check_resume(reader, land, settings, compression)
            state = reader.read_state()
            _check_state(reader, state, chains, p)
        finally:
            reader.close()
        backend = HDF5Backend.open(path, mode="a")
        try:
            state = backend.read_state()
            if backend.attrs.get("draws") != draws:
                backend.update_attrs(draws=draws)
        except BaseException:
            backend.close()
            raise
    else:
        state = _initial_state(land, chains, box, init, seed, step_size)
        kwargs = dict(
            n_chains=chains,
            n_params=p,
            landscape=land,
            attrs=settings,
            stats=_STATS,
            state=_state_layout(chains, p),
            dtype=store_dtype.name,
        )
        if path is None:
            backend = MemoryBackend.create(None, **kwargs)
        else:
            # chunks no longer than the run needs: a short run must not write mostly empty chunks
            chunk = _default_chunk_draws(p, store_dtype.itemsize, compression is not None)
            chunk = min(chunk, 2 ** math.ceil(math.log2(draws)))
            backend = HDF5Backend.create(
                path, compression=compression, chunk_draws=chunk, overwrite=overwrite, **kwargs
            )
        backend.append(
            np.empty((chains, 0, p), store_dtype),
            np.empty((chains, 0)),
            {"accepted": np.empty((chains, 0), np.float32)},
            state,
        )
    try:
        with _DeferredInterrupt() as interrupt:
            _run(backend, land, state, settings, draws, block_draws, progress, interrupt)
            if until is not None:
                outcome = _extend_until(
                    backend, land, state, settings, draws, block_draws, progress, interrupt, until, started
                )
    except BaseException:
        backend.close()
        raise
    if until is not None:
        backend = _record_outcome(backend, outcome)
    return Run(backend)


def _extend_until(backend, land, state, settings, draws, block_draws, progress, interrupt, until, started) -> dict:
    """Double the run until ``until``'s targets are met or a budget runs out; return the outcome."""
    budget = until.draw_budget(settings["thin"])
    checks = []
    target = draws
    while True:
        result = _convergence.check(backend.w, backend.loss, land, until)
        checks.append(result.to_dict())
        if result.met:
            stopped_by = "converged"
            break
        if target >= budget:
            steps_bind = until.max_steps is not None and budget == until.max_steps // settings["thin"]
            stopped_by = "max_steps" if steps_bind else "max_draws"
            break
        if until.max_seconds is not None and time.perf_counter() - started >= until.max_seconds:
            stopped_by = "max_seconds"
            break
        target = min(2 * target, budget)
        _run(backend, land, state, settings, target, block_draws, progress, interrupt)
    return {
        "stopped_by": stopped_by,
        "draws": target,
        "seconds": time.perf_counter() - started,
        "targets": until.to_dict(),
        "checks": checks,
    }


def _record_outcome(backend, outcome: dict):
    """Store the outcome of ``until`` (and the final ``draws``) in the run's settings."""
    attrs = {"draws": outcome["draws"], "until": json.dumps(outcome)}
    if isinstance(backend, HDF5Backend):
        # attributes are frozen while a file is in SWMR mode: reopen it for the update
        path = backend.path
        backend.close()
        backend = HDF5Backend.open(path, mode="a")
    backend.update_attrs(**attrs)
    return backend


class _DeferredInterrupt:
    """Turn SIGINT into a request that the sampling loop honours between blocks.

    Python raises KeyboardInterrupt wherever the interpreter happens to be when
    the signal arrives; inside a finaliser (h5py objects, progress bars) it is
    printed as "Exception ignored" and lost, and the run went on. Here the
    handler only sets a flag; the loop stops after the block it is in (all
    committed draws and their state on disk) and raises KeyboardInterrupt. A
    second Ctrl-C interrupts at once. Only in the main thread (elsewhere
    Python delivers no signals).
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        if self.requested:  # second Ctrl-C: the user does not want to wait
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        """Raise KeyboardInterrupt if an interrupt was requested."""
        if self.requested:
            raise KeyboardInterrupt("sampling interrupted; the run file is resumable with resume=True")

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is signal.default_int_handler:  # leave custom handlers (IPython, Dask) alone
                self._previous = previous
                signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if exc[0] is None:
            self.check()


def _check_resume(backend, land: Landscape, settings: dict, compression) -> None:
    stored = backend.attrs
    version = stored.get("kernel_version")
    if version != KERNEL_VERSION and (version is not None or settings["method"] == "rwm"):
        made = "an older fastland" if version is None else f"kernel version {version}"
        raise ValueError(
            f"resume: the run in {backend.path} was made by {made}, whose {settings['method']} "
            f"steps use the random streams differently (this fastland: kernel version "
            f"{KERNEL_VERSION}); it cannot continue bit-identically: start a new run"
        )
    for key in _RESUME_KEYS:
        if key in stored and _plain(stored[key]) != _plain(settings[key]):
            arg = _ARGUMENT.get(key, key)
            raise ValueError(
                f"{arg}: the run in {backend.path} was made with {arg}={stored[key]!r}, "
                f"got {settings[key]!r}; resume needs the same settings"
            )
    if backend.n_params != land.n_params or not _same_landscape(land, Run(backend).landscape()):
        raise ValueError(f"land: differs from the landscape stored in {backend.path}")
    if backend.compression != compression:
        raise ValueError(
            f"compression: the run in {backend.path} is stored with compression={backend.compression!r}, "
            f"got {compression!r}; resume needs the same settings"
        )
    if settings["draws"] < backend.n_draws:
        raise ValueError(f"draws: the run already has {backend.n_draws} draws, got draws={settings['draws']}")


def _check_state(backend, state: dict, chains: int, p: int) -> None:
    """Check that the stored resume state is complete, so a resume cannot fail halfway."""
    if backend.n_draws == 0 and not state:
        raise ValueError(f"path: {backend.path} has no resume state yet (the run stopped before its first block)")
    for name, (shape, dt) in _state_layout(chains, p).items():
        if name not in state:
            raise ValueError(f"path: {backend.path} is damaged: its resume state has no {name!r} (state/{name})")
        a = state[name]
        if a.shape != shape or a.dtype != dt:
            raise ValueError(
                f"path: {backend.path} is damaged: state/{name} has shape {a.shape} and dtype {a.dtype}, "
                f"expected {shape} and {dt}"
            )


def _plain(value):
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _run(backend, land, state, settings, draws, block_draws, progress, interrupt) -> None:
    method = METHODS[settings["method"]]
    chains, thin, warmup = settings["chains"], settings["thin"], settings["warmup"]
    p = land.n_params
    adapt_on = settings["adapt"] and settings["method"] != "langevin"
    problem = _mlp.Problem(land._arch, land._X, land._T, float(land.weight_decay))
    if block_draws is None:
        block_draws = max(1, _BLOCK_BYTES // (chains * p * 8))
        chunk = getattr(backend, "chunk_draws", None)
        if chunk and block_draws > chunk:
            block_draws -= block_draws % chunk  # whole chunks per write
    store_dtype = np.dtype(settings["dtype"])
    status = np.zeros(chains, dtype=np.int64)
    done_warm = int(state["warmup_done"][0])
    done = backend.n_draws
    total = chains * (warmup + draws * thin)
    bar = _progress_bar(total, chains * (done_warm + done * thin), progress, settings["method"])
    empty = (np.empty((chains, 0, p), store_dtype), np.empty((chains, 0)), np.empty((chains, 0), np.float32))
    try:
        # warm-up, in blocks of steps, state saved after each block
        warm_block = max(1, block_draws * thin)
        while done_warm < warmup:
            k = min(warm_block, warmup - done_warm)
            _block(method, problem, 1, k, settings, False, adapt_on, state, empty, status)
            _raise_status(status)
            done_warm += k
            if done_warm == warmup and adapt_on:
                _samplers.finish_adaptation(state["step_size"], state["adapt"])
            state["warmup_done"][0] = done_warm
            backend.append(empty[0], empty[1], {"accepted": empty[2]}, state)
            if bar is not None:
                bar.update(chains * k)
            interrupt.check()
        out_w = np.empty((chains, min(block_draws, max(1, draws - done)), p), store_dtype)
        out_loss = np.empty(out_w.shape[:2])
        out_acc = np.empty(out_w.shape[:2], np.float32)
        while done < draws:
            k = min(out_w.shape[1], draws - done)
            if k < out_w.shape[1]:  # last, shorter block: fresh contiguous buffers
                out_w = np.empty((chains, k, p), store_dtype)
                out_loss = np.empty((chains, k))
                out_acc = np.empty((chains, k), np.float32)
            ow, ol, oa = out_w, out_loss, out_acc
            _block(method, problem, thin, k, settings, True, False, state, (ow, ol, oa), status)
            _raise_status(status)
            backend.append(ow, ol, {"accepted": oa}, state)
            interrupt.check()
            done += k
            if bar is not None:
                bar.update(chains * k * thin)
                bar.set_postfix(accept=f"{float(oa.mean()):.3f}")
    finally:
        if bar is not None:
            bar.close()


def memory_needed(
    land: Landscape, chains: int, method: str = "rwm", block_draws: int | None = None, dtype="float64"
) -> int:
    """Bytes of memory :func:`sample` needs at its peak, besides the landscape's own arrays.

    The chain state (position, gradient, two saved copies: 4 x chains x p
    doubles), one block of draws (``block_draws`` x chains x p in ``dtype``; by
    default 16 MiB), and the kernels' workspace per task running at once (one
    task per thread): RWM advances 32 chains per task in SIMD lanes (two p x 32
    arrays of positions, p x 32 random words and a (layers + 5) x max width x 32
    workspace), the other methods one chain per task (about 8 p-vectors and a
    4 x units x min(N, 256) workspace).
    """
    p = land.n_params
    arch = land._arch
    units = int(_mlp.n_rows(arch))
    threads = numba.get_num_threads()
    if method == "rwm":
        tasks = min(threads, -(-chains // _lanes.LANES))
        per_task = 8 * _lanes.LANES * (3 * p + (int(arch[0]) + 5) * int(_mlp.max_width(arch)))
    else:
        tasks = min(threads, chains)
        per_task = 8 * (8 * p + 4 * units * int(_mlp.block_points(land._X.shape[0])))
    itemsize = np.dtype(dtype).itemsize
    block = _BLOCK_BYTES if block_draws is None else block_draws * chains * p * itemsize
    return int(4 * chains * p * 8 + block + tasks * per_task)


def _check_memory(land, chains, method, block_draws, dtype) -> None:
    """Refuse a run that cannot fit in the memory this machine has free, before any file exists."""
    need = memory_needed(land, chains, method, block_draws, dtype)
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system with these names
        return
    if need > free:
        raise MemoryError(
            f"sample: this run needs about {need / 2**30:.1f} GiB of memory (chains={chains}, "
            f"n_params={land.n_params}, method={method!r}; see fastland.sample.memory_needed) but "
            f"{free / 2**30:.1f} GiB are free; use fewer chains, a smaller block_draws or a smaller network"
        )


def _parallel(tasks: int, work: int) -> bool:
    """Whether a block of ``tasks`` independent tasks and ``work`` in total is worth a parallel region."""
    return tasks > 1 and numba.get_num_threads() > 1 and work >= _PARALLEL_MIN_WORK


def _block(method, problem, thin, k, settings, store, adapt_on, state, out, status) -> None:
    """One kernel call: k draws of ``thin`` steps (RWM in chain lanes, the others per chain).

    Small blocks run in the serial twin of the kernel (bit-identical: both call the same
    compiled per-chain function), see ``_PARALLEL_MIN_WORK``.
    """
    chains = _samplers.Chains(
        state["position"], state["loss"], state["grad"], state["rng"], state["step_size"], state["adapt"], status
    )
    draws = _samplers.Draws(*out)
    n_chains, p = chains.pos.shape
    evals = k * thin * (settings["n_leapfrog"] if method == _samplers.HMC else 1)
    work = n_chains * evals * max(1, problem.X.shape[0]) * p
    scalars = (settings["temperature"], settings["box"], thin, k)
    if method == _samplers.RWM:
        rwm_args = (problem, *scalars, store, adapt_on, settings["target_accept"], chains, draws)
        if not _parallel(-(-n_chains // _lanes.LANES), work):
            _samplers.rwm_block_serial(*rwm_args)
            return
        # few, large groups of chains: hand them out one at a time, so that a thread slowed
        # down by other processes does not hold up the others (results do not depend on it)
        chunk = numba.get_parallel_chunksize()
        numba.set_parallel_chunksize(1)
        try:
            _samplers.rwm_block(*rwm_args)
        finally:
            numba.set_parallel_chunksize(chunk)
    else:
        kernel = _samplers.run_block if _parallel(n_chains, work) else _samplers.run_block_serial
        kernel(
            method, problem, *scalars, settings["n_leapfrog"], store, adapt_on, settings["target_accept"], chains, draws
        )


def _raise_status(status: np.ndarray) -> None:
    bad = np.flatnonzero(status != _samplers.STATUS_OK)
    if bad.size:
        raise ValueError(f"init: the loss is not finite at the position of chain(s) {bad[:10]}")
