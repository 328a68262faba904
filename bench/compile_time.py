"""Compile time and cache-load time of the main kernels (issue 11: kernel state records).

    NUMBA_CACHE_DIR=$(mktemp -d) python bench/compile_time.py   # run twice: compile, then load

Times loss / gradient / Hessian (one point and a batch), the three MCMC methods and Adam.
"""

import time

t0 = time.perf_counter()
import numpy as np  # noqa: E402

import fastland as fl  # noqa: E402

t1 = time.perf_counter()
land = fl.Landscape(fl.MLP(2, [2, 2], 2), fl.datasets.random_labels(n=10, seed=0))
w = np.zeros((3, land.n_params)) + 0.1
land.loss(w[0]), land.loss(w), land.loss_and_grad(w[0]), land.loss_and_grad(w), land.hessian(w[0]), land.hessian(w)
t2 = time.perf_counter()
for m in ("rwm", "mala", "hmc"):
    fl.sample(land, chains=4, draws=5, method=m, progress=False)
t3 = time.perf_counter()
fl.train(land, w, steps=5, progress=False)
t4 = time.perf_counter()
print(
    f"import {t1 - t0:.1f} s, landscape {t2 - t1:.1f} s, sample {t3 - t2:.1f} s, train {t4 - t3:.1f} s, "
    f"total {t4 - t0:.1f} s"
)
