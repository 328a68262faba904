"""Peak memory of one loss evaluation and of a two-draw run on a very wide net (issue 11, defect 8).

    python bench/memory_wide.py loss     # MLP(2, [10**6], 1) on 10 points: land.loss
    python bench/memory_wide.py sample   # fl.sample(chains=1, draws=2) on it

Prints the peak resident set size (``resource.ru_maxrss``) and, for ``sample``,
``fastland.sample.memory_needed``'s estimate. One process per measurement.
"""

import resource
import sys

import numpy as np

import fastland as fl
from fastland.sample import memory_needed

what = sys.argv[1] if len(sys.argv) > 1 else "loss"
land = fl.Landscape(fl.MLP(2, [10**6], 1, loss="mse"), fl.datasets.random_labels(n=10, seed=0))
w = np.random.default_rng(0).standard_normal(land.n_params) * 1e-3
if what == "loss":
    land.loss(w)
else:
    fl.sample(land, chains=1, draws=2, step_size=1e-3, progress=False, init=w[None])
    print(f"memory_needed estimate: {memory_needed(land, 1, 'rwm') / 1e9:.2f} GB")
print(f"{what}: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
