#!/usr/bin/env python
"""fastland RWM vs BlackJAX's vmapped random-walk Metropolis (float64, CPU), side by side.

The issue's sampling target: on seed 001's net, ``MLP(2, [2, 2], 2,
activation="tanh", loss="softmax_xent")`` on ``datasets.random_labels(n=10,
seed=0)`` (p = 18), 256 chains x 20,000 steps of random-walk Metropolis for
exp(-U(w)/T) on the box [-10, 10]^18 run at least 4x the chain-steps per second
of BlackJAX on the same machine, with the same mean loss within Monte Carlo
error.

Both samplers run the same Markov kernel: Gaussian proposal w' = w + eps xi with
a fixed eps (``--step``, no warm-up or adaptation), target density
exp(-U(w)/T) inside the box and 0 outside (BlackJAX's log density is -U(w)/T
inside and -inf outside, so out-of-box proposals are rejected), and the same
starting points (uniform in the box, ``--seed``). Each stores every
``--thin``-th position and loss:

- fastland: ``fl.sample(land, chains, draws=steps // thin, thin, warmup=0,
  step, box, temperature, method="rwm", init=start, path=None)`` (``--store
  hdf5`` streams to a temporary run file instead).
- BlackJAX: ``blackjax.additive_step_random_walk(logdensity,
  blackjax.mcmc.random_walk.normal(step))``; ``jax.vmap(rw.step)`` over the
  chains (one key per chain per step, split from a per-step key, the idiom of
  BlackJAX's multi-chain examples), an inner ``jax.lax.scan`` over ``thin``
  steps and an outer one over the stored draws, all under one ``jax.jit``.

Both are compiled and run once untimed (that run also gives the statistics),
then timed interleaved, best of ``--repeats`` (wall clock; the process CPU time
of the same calls is reported too, since the machine may be shared). The mean
loss over the second half of the stored draws is compared with a Monte Carlo
standard error sd / sqrt(ESS) per library (``fastland.diagnostics.ess_mean``
on the per-chain loss traces): agreement means |difference| < 3 combined
standard errors. Because both libraries start every chain at the same point
and run the same kernel, the per-chain time averages have the same law even
before the chains reach stationarity, so a second, stationarity-free check is
printed too: the standard error of the mean paired per-chain difference.

Usage::

    export NUMBA_CACHE_DIR=/tmp/numba-cache-bench
    python bench/compare_blackjax.py                          # 256 chains x 20,000 steps
    python bench/compare_blackjax.py --chains 64 --steps 2000 --repeats 1   # quick
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import blackjax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numba  # noqa: E402
from _common import source_version  # noqa: E402  (same folder)
from compare_jax import jax_loss  # noqa: E402  (same folder: one JAX loss for both)

import fastland as fl  # noqa: E402

TARGET = 4.0  # the issue: fastland RWM >= 4x BlackJAX's chain-steps per second
Z_MAX = 3.0  # mean losses agree when |difference| < Z_MAX combined standard errors
LOSS_RTOL = 1e-12


def landscape() -> fl.Landscape:
    """Seed 001's net: MLP(2, [2, 2], 2) tanh, softmax cross-entropy, random_labels(n=10, seed=0)."""
    net = fl.MLP(2, [2, 2], 2, activation="tanh", loss="softmax_xent")
    return fl.Landscape(net, fl.datasets.random_labels(n=10, seed=0))


# ------------------------------------------------------------------------ JAX loss
# copied from bench/compare_jax.py (kept self-contained; checked against fastland below)
_ACTIVATIONS = {
    "linear": lambda z: z,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
    "quadratic": lambda z: z * z,
}


def blackjax_sampler(
    land: fl.Landscape, chains: int, draws: int, thin: int, step: float, box: float, temperature: float
):
    """A jitted ``run(key, start) -> (positions, losses, acceptance)``, shapes (chains, draws[, p]).

    BlackJAX's additive-step random walk with a N(0, step^2 I) proposal, vmapped over
    the chains; the log density is -U(w)/T inside the box and -inf outside.
    """
    U = jax_loss(land)

    def logdensity(w):
        inside = jnp.all(jnp.abs(w) <= box)
        return jnp.where(inside, -U(w) / temperature, -jnp.inf)

    rw = blackjax.additive_step_random_walk(
        logdensity, blackjax.mcmc.random_walk.normal(jnp.asarray(step, dtype=jnp.float64))
    )

    def one_step(states, key):
        keys = jax.random.split(key, chains)
        states, info = jax.vmap(rw.step)(keys, states)
        return states, info.is_accepted

    def one_draw(states, keys):
        states, accepted = jax.lax.scan(one_step, states, keys)
        return states, (states.position, states.logdensity, jnp.mean(accepted, axis=0))

    @jax.jit
    def run(key, start):
        states = jax.vmap(rw.init)(start)
        keys = jax.random.split(key, draws * thin)
        keys = keys.reshape(draws, thin, *keys.shape[1:])
        _, (pos, logd, acc) = jax.lax.scan(one_draw, states, keys)
        # (draws, chains, ...) -> (chains, draws, ...); loss = -T log density
        return jnp.swapaxes(pos, 0, 1), -temperature * logd.T, acc.T

    return run, U


def best_of(cases: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds of every case; the cases run interleaved in each repeat.

    CPU is this process's CPU time (all threads) during the call with the best wall time.
    """
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0, time.process_time() - c0))
    return {name: min(t) for name, t in times.items()}


def mean_and_mcse(loss: np.ndarray) -> tuple[float, float, float]:
    """Mean of (chain, draw) losses, its MCSE sd / sqrt(ESS) and the ESS (``ess_mean``)."""
    ess = float(fl.diagnostics.ess_mean(loss))
    return float(loss.mean()), float(loss.std(ddof=1) / np.sqrt(ess)), ess


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chains", type=int, default=256, help="parallel chains (default 256)")
    ap.add_argument("--steps", type=int, default=20_000, help="steps per chain (default 20,000)")
    ap.add_argument("--thin", type=int, default=100, help="steps per stored draw (default 100)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default 3)")
    ap.add_argument("--step", type=float, default=0.05, help="proposal standard deviation (default 0.05)")
    ap.add_argument("--box", type=float, default=10.0, help="box half-width (default 10)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0, help="seed of the starts and of both samplers")
    ap.add_argument(
        "--store",
        choices=["memory", "hdf5"],
        default="memory",
        help="fastland's draws in memory (path=None, default) or in a temporary HDF5 file",
    )
    args = ap.parse_args(argv)
    if min(args.chains, args.steps, args.thin, args.repeats) < 1:
        ap.error("--chains, --steps, --thin and --repeats must be >= 1")
    if args.steps % args.thin:
        ap.error("--steps must be a multiple of --thin")
    C, thin = args.chains, args.thin
    D = args.steps // thin
    if D < 8:
        ap.error("need at least 8 stored draws (--steps / --thin) for the second-half statistics")
    n_steps = C * args.steps

    print(
        f"fastland {fl.__version__} ({source_version()}), "
        f"numba {numba.__version__} ({numba.get_num_threads()} threads), "
        f"blackjax {blackjax.__version__}, jax {jax.__version__} "
        f"({jax.default_backend()}, x64={jax.config.jax_enable_x64}), "
        f"numpy {np.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(
        f"chains={C} steps={args.steps} thin={thin} (draws={D}) step={args.step} box={args.box} "
        f"T={args.temperature} seed={args.seed} store={args.store} repeats={args.repeats}  "
        f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', '-')} "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '-')}"
    )
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    land = landscape()
    p = land.n_params
    start = np.random.default_rng(args.seed).uniform(-args.box, args.box, size=(C, p))
    run_jax, U = blackjax_sampler(land, C, D, thin, args.step, args.box, args.temperature)
    key = jax.random.PRNGKey(args.seed)
    start_dev = jnp.asarray(start)

    e_loss = float(np.max(np.abs(land.loss(start) - np.asarray(jax.vmap(U)(start_dev))) / land.loss(start)))
    print(f"{land.net!r}, N={land.data.n}, p={p}; loss agreement at the starts: max rel {e_loss:.1e}")
    if e_loss > LOSS_RTOL:
        print("MISMATCH between fastland's and the JAX loss: not timing", file=sys.stderr)
        return 1

    tmpdir = tempfile.mkdtemp(prefix="fastland-bjx-") if args.store == "hdf5" else None
    counter = [0]

    def run_fastland():
        path = None
        if tmpdir is not None:
            counter[0] += 1
            path = os.path.join(tmpdir, f"run{counter[0]}.h5")
        run = fl.sample(
            land,
            chains=C,
            draws=D,
            thin=thin,
            warmup=0,
            step_size=args.step,
            box=args.box,
            temperature=args.temperature,
            method="rwm",
            init=start,
            path=path,
            seed=args.seed,
            progress=False,
        )
        out = (np.asarray(run.draws[:, :, :]), np.asarray(run.loss[:, :]), np.asarray(run.stats["accepted"][:, :]))
        run.close()
        if path is not None:
            os.remove(path)
        return out

    def run_blackjax():
        return tuple(np.asarray(x) for x in jax.block_until_ready(compiled(key, start_dev)))

    try:
        # compile (or load from Numba's cache) and warm both; the warm runs give the statistics
        t0 = time.perf_counter()
        fl.sample(land, chains=2, draws=2, thin=2, init=start[:2], step_size=args.step, box=args.box, progress=False)
        t_fl_compile = time.perf_counter() - t0
        t0 = time.perf_counter()
        f_w, f_loss, f_acc = run_fastland()
        t_fl_warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        compiled = run_jax.lower(key, start_dev).compile()
        t_jx_compile = time.perf_counter() - t0
        t0 = time.perf_counter()
        j_w, j_loss, j_acc = run_blackjax()
        t_jx_warm = time.perf_counter() - t0
        print(
            f"compile: fastland {t_fl_compile:.1f}s (Numba cache load or compile), BlackJAX {t_jx_compile:.1f}s; "
            f"untimed full runs: fastland {t_fl_warm:.1f}s, BlackJAX {t_jx_warm:.1f}s"
        )

        best = best_of({"fastland": run_fastland, "blackjax": run_blackjax}, args.repeats)
    finally:
        if tmpdir is not None:
            for name in os.listdir(tmpdir):
                os.remove(os.path.join(tmpdir, name))
            os.rmdir(tmpdir)
    load_end = os.getloadavg()

    # ---------------------------------------------------------------- statistics
    half = D // 2
    fm, fse, fess = mean_and_mcse(f_loss[:, half:])
    jm, jse, jess = mean_and_mcse(j_loss[:, half:])
    diff = fm - jm
    z = diff / np.hypot(fse, jse)
    paired = f_loss[:, half:].mean(axis=1) - j_loss[:, half:].mean(axis=1)
    paired_se = float(paired.std(ddof=1) / np.sqrt(C))
    z_paired = float(paired.mean() / paired_se)
    f_rhat = float(fl.diagnostics.rhat(f_loss[:, half:]))
    j_rhat = float(fl.diagnostics.rhat(j_loss[:, half:]))
    inside_f = bool(np.all(np.abs(f_w) <= args.box))
    inside_j = bool(np.all(np.abs(j_w) <= args.box))

    print()
    print(f"mean loss over draws {half}..{D - 1} (steps {half * thin + thin}..{args.steps}), {C} chains")
    header = f"{'':<10}{'mean loss':>12}{'MCSE':>10}{'ESS':>9}{'R-hat':>8}{'accept':>8}{'in box':>8}"
    print(header)
    print("-" * len(header))
    print(f"{'fastland':<10}{fm:>12.5f}{fse:>10.5f}{fess:>9.0f}{f_rhat:>8.3f}{f_acc.mean():>8.3f}{inside_f!s:>8}")
    print(f"{'BlackJAX':<10}{jm:>12.5f}{jse:>10.5f}{jess:>9.0f}{j_rhat:>8.3f}{j_acc.mean():>8.3f}{inside_j!s:>8}")
    print(
        f"difference {diff:+.5f} = {z:+.2f} combined MCSE; paired per-chain difference "
        f"{paired.mean():+.5f} +- {paired_se:.5f} (SE over chains) = {z_paired:+.2f} SE"
    )

    (tf, cf), (tj, cj) = best["fastland"], best["blackjax"]
    print()
    print(f"best of {args.repeats}, {C} chains x {args.steps} steps = {n_steps:,} chain-steps per run")
    header = f"{'':<10}{'wall s':>9}{'chain-steps/s':>15}{'CPU s':>9}{'CPU ns/chain-step':>19}"
    print(header)
    print("-" * len(header))
    for name, (t, c) in (("fastland", (tf, cf)), ("BlackJAX", (tj, cj))):
        print(f"{name:<10}{t:>9.2f}{n_steps / t:>15.4g}{c:>9.2f}{c / n_steps * 1e9:>19.0f}")
    ratio = tj / tf
    print(f"fastland / BlackJAX chain-steps per second: {ratio:.2f}x (wall), {cj / cf:.2f}x (CPU time)")
    print(
        f"numba threading layer {numba.threading_layer()}, {numba.get_num_threads()} threads; "
        f"jax {jax.__version__} on {jax.devices()}"
    )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in load_end)} ({os.cpu_count()} CPUs)")
    print()
    same = abs(z) < Z_MAX
    print(
        f"target (fastland RWM >= {TARGET:g}x BlackJAX chain-steps/s): "
        f"{'MET' if ratio >= TARGET else 'NOT met'} ({ratio:.2f}x)"
    )
    print(
        f"target (same mean loss within MC error, |z| < {Z_MAX:g}): "
        f"{'MET' if same else 'NOT met'} (z = {z:+.2f}; paired z = {z_paired:+.2f})"
    )
    return 0 if inside_f and inside_j else 1


if __name__ == "__main__":
    sys.exit(main())
