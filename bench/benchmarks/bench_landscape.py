"""Timings of fastland's batched loss / gradient / Hessian / HVP kernels.

Workloads (the issue's two reference problems):

- A: ``MLP(2, [2, 2], 2, activation="tanh", loss="softmax_xent")`` on
  ``datasets.random_labels(n=10, seed=0)``; p = 18, N = 10.
- B: teacher-student, ``ts.student(5)`` = ``MLP(2, [5], 1, "sigmoid", "mse",
  bias=False)`` on the 1681-point grid; p = 15, N = 1681.

Parameter points are uniform in [-2, 2]^p with a fixed seed. ``batch`` 1 passes
a single vector of shape (p,) (the one-point code path, which splits the data
chunks across threads for the Hessian); ``batch`` 4096 passes a (4096, p) array.

Every kernel is compiled in ``setup`` (each method is called once there, on a
single vector or a 2-row batch: the same Numba signatures as the timed calls),
so no timing includes the Numba compiler;
``setup_cache`` makes the same calls once per asv run first, so the
per-benchmark processes load the kernels from Numba's on-disk cache instead of
recompiling them (set ``NUMBA_CACHE_DIR`` to choose where that cache lives).
"""

import numpy as np

import fastland as fl

WORKLOADS = ["A", "B"]
BATCHES = [1, 4096]
SEED = 0
BOX = 2.0


def make_landscape(workload):
    """The Landscape of workload "A" or "B"."""
    if workload == "A":
        net = fl.MLP(2, [2, 2], 2, activation="tanh", loss="softmax_xent")
        data = fl.datasets.random_labels(n=10, seed=0)
        return fl.Landscape(net, data)
    if workload == "B":
        ts = fl.datasets.teacher_student()
        return fl.Landscape(ts.student(5), ts.data)
    raise ValueError(f"workload: expected 'A' or 'B', got {workload!r}")


def make_points(p, batch, seed=SEED):
    """(w, v): ``batch`` points uniform in [-BOX, BOX]^p and as many directions.

    Shapes (p,) for batch 1, (batch, p) otherwise.
    """
    rng = np.random.default_rng(seed)
    W = rng.uniform(-BOX, BOX, size=(batch, p))
    V = rng.standard_normal((batch, p))
    if batch == 1:
        return W[0], V[0]
    return W, V


def _warm(land, batch):
    """Compile every timed method: call each once on inputs of the benchmarked kind.

    A single vector (p,) for batch 1; otherwise a 2-row batch, which has the same
    Numba signature as any (B, p) batch, so setup does not pay for a full
    4096-point Hessian. Returns the benchmarked inputs.
    """
    w, v = make_points(land.n_params, min(batch, 2))
    land.loss(w)
    land.loss_and_grad(w)
    land.hessian(w)
    land.hvp(w, v)
    return make_points(land.n_params, batch)


def warm_numba_cache():
    """Compile every benchmarked kernel once per asv run, filling Numba's disk cache.

    Shared by all classes (asv keys ``setup_cache`` by function, so this runs
    once); returns None, so benchmarks receive no cache argument.
    """
    for workload in WORKLOADS:
        land = make_landscape(workload)
        for batch in BATCHES:
            _warm(land, batch)


warm_numba_cache.timeout = 600.0  # a cold Numba cache means compiling everything


class _Landscape:
    """Shared timings; subclasses set ``workload``."""

    workload = None
    params = BATCHES
    param_names = ["batch"]
    timeout = 600.0  # setup may compile every kernel when the Numba cache is cold

    setup_cache = staticmethod(warm_numba_cache)

    def setup(self, batch):
        self.land = make_landscape(self.workload)
        self.w, self.v = _warm(self.land, batch)

    def time_loss(self, batch):
        self.land.loss(self.w)

    def time_loss_and_grad(self, batch):
        self.land.loss_and_grad(self.w)

    def time_hessian(self, batch):
        self.land.hessian(self.w)

    def time_hvp(self, batch):
        self.land.hvp(self.w, self.v)


class LandscapeA(_Landscape):
    """Workload A: MLP(2, [2, 2], 2, tanh, softmax_xent), 10 random labels, p = 18."""

    workload = "A"


class LandscapeB(_Landscape):
    """Workload B: teacher-student student(5), sigmoid, mse, no bias, 1681 points, p = 15."""

    workload = "B"


class HessianMemory:
    """Peak resident memory of one 4096-point Hessian call.

    asv's ``peakmem_`` is the process's high-water mark, so ``setup`` compiles the
    Hessian kernel on a single-row batch (the same Numba specialisation as the
    4096-row call) to keep the compiler's memory out of it as far as possible.
    """

    params = WORKLOADS
    param_names = ["workload"]
    timeout = 600.0
    batch = 4096
    setup_cache = staticmethod(warm_numba_cache)

    def setup(self, workload):
        self.land = make_landscape(workload)
        self.w, _ = make_points(self.land.n_params, self.batch)
        self.land.hessian(self.w[:1])

    def peakmem_hessian_4096(self, workload):
        self.land.hessian(self.w)
