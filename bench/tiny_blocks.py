"""Wall time of 2000 one-draw blocks (block_draws=1) with 1 and 2 threads (issue 11, defect 11).

    python bench/tiny_blocks.py [rwm|mala]

Tiny blocks run without a parallel region; before that, each block paid a parallel
region, which costs milliseconds when other processes hold the cores.
"""

import sys
import time

import numba

import fastland as fl

method = sys.argv[1] if len(sys.argv) > 1 else "rwm"
land = fl.Landscape(fl.MLP(2, [2, 2], 2), fl.datasets.random_labels(n=10, seed=0))
fl.sample(land, chains=4, draws=20, block_draws=1, method=method, progress=False)  # compile
for threads in (1, 2):
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    for block in (1, None):
        t = time.perf_counter()
        fl.sample(land, chains=4, draws=2000, block_draws=block, method=method, progress=False)
        print(f"threads {threads}, block_draws {block}: {time.perf_counter() - t:.2f} s")
