"""Timings and memory of ``fl.sample`` on seed 001's net, one benchmark per method.

Workload: ``MLP(2, [2, 2], 2, activation="tanh", loss="softmax_xent")`` on
``datasets.random_labels(n=10, seed=0)``; p = 18, N = 10. Box [-10, 10]^18,
T = 1, fixed step 0.05 (no warm-up), chains started uniformly in the box,
seed 0.

- ``Sample.time_sample``: 64 chains, draws kept in memory (``path=None``),
  thin 10; 2,000 steps per chain for RWM, MALA and Langevin and 200 for HMC
  (10 leapfrog steps each: 2,000 gradient evaluations per chain, as MALA).
- ``Sample.track_chain_steps_per_second``: the same calls, best of 3, as
  chain-steps per second (an HMC step counts once, whatever ``n_leapfrog``).
- ``SampleMemory.peakmem_sample_hdf5``: 100 chains, thin 1, streamed to a
  temporary HDF5 file, 10^4 vs 10^6 stored draws in total (100 vs 10,000
  draws per chain). The issue asks for less than 10% growth in peak RSS
  between the two. asv's ``peakmem_`` is the high-water mark of the whole
  benchmark process (imports, kernel loading, setup included), so
  ``bench/rss_scaling.py`` repeats the comparison in fresh processes.

MALA, HMC and Langevin share one compiled ``run_block`` (the method is a
runtime argument); RWM runs in ``rwm_block`` (chains in SIMD lanes).
``setup_cache`` calls ``fl.sample`` once per asv run, in memory and to a file,
so the benchmark processes load the kernels from Numba's on-disk cache (set
``NUMBA_CACHE_DIR``) instead of compiling; ``setup`` then makes a tiny call of
the same kind, so no timing includes compiling or cache loading.
"""

import os
import shutil
import tempfile
import time

import fastland as fl

METHODS = ["rwm", "mala", "hmc", "langevin"]
CHAINS = 64
THIN = 10
STEPS = {"rwm": 2000, "mala": 2000, "hmc": 200, "langevin": 2000}
STEP = 0.05
BOX = 10.0
N_LEAPFROG = 10
SEED = 0

MEM_CHAINS = 100
MEM_TOTALS = [10**4, 10**6]


def make_landscape():
    """Seed 001's landscape: MLP(2, [2, 2], 2) tanh, softmax cross-entropy, 10 random labels."""
    net = fl.MLP(2, [2, 2], 2, activation="tanh", loss="softmax_xent")
    return fl.Landscape(net, fl.datasets.random_labels(n=10, seed=0))


def run(land, method, chains=CHAINS, steps=None, thin=THIN, path=None):
    """One ``fl.sample`` call of the benchmark's kind; returns the Run."""
    steps = STEPS[method] if steps is None else steps
    return fl.sample(
        land,
        chains=chains,
        draws=steps // thin,
        thin=thin,
        warmup=0,
        step_size=STEP,
        box=BOX,
        temperature=1.0,
        method=method,
        n_leapfrog=N_LEAPFROG,
        path=path,
        seed=SEED,
        progress=False,
    )


def _warm(land, methods, path=None):
    """Tiny calls that compile (or load) the kernels and exercise every method's branch."""
    for method in methods:
        run(land, method, chains=2, steps=2, thin=1).close()
    if path is not None:
        run(land, methods[0], chains=2, steps=2, thin=1, path=path).close()
        os.remove(path)


def warm_numba_cache():
    """Compile the sampling kernels once per asv run, filling Numba's disk cache."""
    tmp = tempfile.mkdtemp(prefix="fastland-asv-")
    try:
        _warm(make_landscape(), METHODS, os.path.join(tmp, "warm.h5"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


warm_numba_cache.timeout = 600.0  # a cold Numba cache means compiling run_block and rwm_block


class Sample:
    """``fl.sample`` in memory, 64 chains, per method."""

    params = METHODS
    param_names = ["method"]
    timeout = 600.0
    setup_cache = staticmethod(warm_numba_cache)

    def setup(self, method):
        self.land = make_landscape()
        _warm(self.land, [method])

    def time_sample(self, method):
        run(self.land, method)

    def track_chain_steps_per_second(self, method):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            run(self.land, method)
            best = min(best, time.perf_counter() - t0)
        return CHAINS * STEPS[method] / best

    track_chain_steps_per_second.unit = "chain-steps/s"


class SampleMemory:
    """Peak RSS of a run streamed to HDF5: 10^4 vs 10^6 stored draws (p = 18, thin 1)."""

    params = MEM_TOTALS
    param_names = ["stored_draws"]
    timeout = 600.0
    setup_cache = staticmethod(warm_numba_cache)

    def setup(self, stored_draws):
        self.land = make_landscape()
        self.tmp = tempfile.mkdtemp(prefix="fastland-asv-")
        self.path = os.path.join(self.tmp, "run.h5")
        _warm(self.land, ["rwm"], os.path.join(self.tmp, "warm.h5"))

    def teardown(self, stored_draws):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def peakmem_sample_hdf5(self, stored_draws):
        draws = stored_draws // MEM_CHAINS
        r = run(self.land, "rwm", chains=MEM_CHAINS, steps=draws, thin=1, path=self.path)
        r.close()
