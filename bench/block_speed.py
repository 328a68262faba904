"""Wall time of the sampler and training kernels on seed 001's net (issue 11: kernel state records).

    python bench/block_speed.py LABEL     # best of 5: RWM and MALA (64 chains x 10,000 steps), Adam (256 runs x 2000)

Run it on two trees (PYTHONPATH) in one session and compare the lines; the machines are shared.
"""

import sys
import time

import fastland as fl


def best_of(n, fn):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


label = sys.argv[1] if len(sys.argv) > 1 else "this tree"
land = fl.Landscape(fl.MLP(2, [2, 2], 2), fl.datasets.random_labels(n=10, seed=0))
out = []
for m in ("rwm", "mala"):
    fl.sample(land, chains=64, draws=10, thin=10, method=m, progress=False)  # compile
    t = best_of(5, lambda m=m: fl.sample(land, chains=64, draws=1000, thin=10, method=m, progress=False))
    out.append(f"{m} {t:.3f} s")
W = land.net.init(256, seed=1)
fl.train(land, W, steps=10, progress=False)
out.append(f"train-adam {best_of(5, lambda: fl.train(land, W, steps=2000, progress=False)):.3f} s")
print(label, ", ".join(out))
