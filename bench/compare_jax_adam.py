#!/usr/bin/env python
"""fastland vs JAX (float64, CPU): many full-batch Adam runs of seed 004's students.

The issue's training benchmark: ``--runs`` (256) width-5 teacher-student students
(``ts.student(5)``: sigmoid, mse, no biases, p = 15) trained for ``--steps`` (2000)
full-batch Adam steps on the 1681-point grid, from the same starts (normal(0, 1),
``--seed``) with the same hyper-parameters (lr ``--lr``, betas (0.9, 0.999),
eps 1e-8, PyTorch's bias-corrected update).

- fastland: ``fl.train(land, starts, optimizer="adam", lr=..., steps=...)`` (one
  compiled kernel, ``prange`` over runs);
- JAX: ``jax.jit(jax.vmap(run))`` where ``run`` is a ``lax.scan`` of the Adam update
  over the steps, with ``jax.value_and_grad`` of the same loss written in JAX
  (``compare_jax.jax_loss``).

Both are compiled/warmed up first (a short run of each), then timed interleaved,
best of ``--repeats``. Reported: run-steps per second of each, their ratio
(target >= 3x for fastland) and the largest ``|final loss difference|`` over the
runs (target <= 1e-8), plus the largest parameter difference.

Usage::

    export NUMBA_CACHE_DIR=/tmp/numba-cache-bench
    /work/venv-bench/bin/python bench/compare_jax_adam.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numba  # noqa: E402
from _common import source_version  # noqa: E402  (same folder)
from compare_jax import jax_loss  # noqa: E402

import fastland as fl  # noqa: E402

TARGET_SPEED = 3.0  # the issue: >= 3x JAX's run-steps per second
TARGET_LOSS = 1e-8  # final losses equal to JAX's within 1e-8
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def jax_adam(land: fl.Landscape, lr: float, steps: int):
    """A jitted function (R, p) -> (final params (R, p), final loss (R,)) running Adam in JAX."""
    U = jax_loss(land)
    vg = jax.value_and_grad(U)
    b1, b2 = BETAS

    def run(w0):
        def step(carry, t):
            w, m, v = carry
            _, g = vg(w)
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * g * g
            c1 = 1.0 - b1**t
            c2 = 1.0 - b2**t
            w = w - lr * (m / c1) / (jnp.sqrt(v / c2) + ADAM_EPS)
            return (w, m, v), None

        z = jnp.zeros_like(w0)
        ts = jnp.arange(1, steps + 1, dtype=jnp.float64)
        (w, _, _), _ = jax.lax.scan(step, (w0, z, z), ts)
        return w, U(w)

    return jax.jit(jax.vmap(run))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=256)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=1e-4, help="learning rate (the seed's 1e-4)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    ts = fl.datasets.teacher_student()
    land = fl.Landscape(ts.student(5), ts.data)
    starts = np.random.default_rng(args.seed).normal(0.0, 1.0, size=(args.runs, land.n_params))

    def run_fastland(steps):
        return fl.train(
            land, starts, optimizer="adam", lr=args.lr, steps=steps, betas=BETAS, adam_eps=ADAM_EPS, progress=False
        )

    jfull = jax_adam(land, args.lr, args.steps)
    jstarts = jnp.asarray(starts)

    def run_jax():
        w, loss = jfull(jstarts)
        return jax.block_until_ready(w), jax.block_until_ready(loss)

    # warm-up: compile both (fastland's kernels come from the Numba cache after the first run)
    t0 = time.perf_counter()
    run_fastland(2)
    t_fl_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_jax()
    t_jax_compile = time.perf_counter() - t0

    times = {"fastland": [], "jax": []}
    fit = jw = jl = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fit = run_fastland(args.steps)
        times["fastland"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        jw, jl = run_jax()
        times["jax"].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in times.items()}
    work = args.runs * args.steps
    rate = {k: work / v for k, v in best.items()}
    ratio = rate["fastland"] / rate["jax"]
    jl = np.asarray(jl)
    jw = np.asarray(jw)
    assert (fit.steps == args.steps).all(), "fastland stopped runs early"
    dloss = float(np.max(np.abs(fit.loss - jl)))
    dpar = float(np.max(np.abs(fit.params - jw)))
    rel = float(np.max(np.abs(fit.loss - jl) / np.maximum(np.abs(jl), 1e-300)))

    print(
        f"fastland {source_version()} | jax {jax.__version__} | numba {numba.__version__} "
        f"({numba.config.THREADING_LAYER}, {numba.get_num_threads()} threads) | python {platform.python_version()}"
    )
    print(
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
        f"{os.cpu_count()} cpus"
    )
    print(
        f"workload: {args.runs} width-5 students x {args.steps} full-batch Adam steps (lr {args.lr:g}) on "
        f"{ts.data.n} points, p = {land.n_params}; best of {args.repeats}"
    )
    print(f"compile/warm-up: fastland {t_fl_compile:.1f} s, jax {t_jax_compile:.1f} s")
    print(f"{'':10} {'best s':>9} {'all s':>28} {'run-steps/s':>12}")
    for k in ("fastland", "jax"):
        print(f"{k:10} {best[k]:9.3f} {' '.join(f'{t:.3f}' for t in times[k]):>28} {rate[k]:12.4g}")
    print(
        f"speed ratio fastland/jax: {ratio:.2f}x (target >= {TARGET_SPEED:g}x: "
        f"{'met' if ratio >= TARGET_SPEED else 'NOT met'})"
    )
    print(
        f"max |final loss difference| {dloss:.3g} (relative {rel:.3g}; target <= {TARGET_LOSS:g}: "
        f"{'met' if dloss <= TARGET_LOSS else 'NOT met'}); max |parameter difference| {dpar:.3g}"
    )
    print(f"final loss: median {np.median(jl):.3g}, min {jl.min():.3g}, max {jl.max():.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
