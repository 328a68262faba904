#!/usr/bin/env python
"""Storage at scale: a ~100,000-parameter MLP on scikit-learn's digits, 20,000 draws to HDF5.

The issue's storage target (seed 001's failed case): sampling a model with about
10^5 parameters for 20,000 draws completes with a peak RSS under 2 GiB, with the
draws streamed to a run file in float32 (20,000 x 99,690 x 4 B = 8 GB on disk).

Workload: ``MLP(64, [1024, 32], 10, activation="tanh", loss="softmax_xent")``
(p = 99,690 with the default ``--hidden 1024 32``) on ``load_digits()`` (1797
points, pixels scaled to [0, 1]), RWM at T = 1 on the box [-10, 10]^p with a
small fixed step, no warm-up, every chain started from ``MLP.init`` (Glorot), by
default 2 chains x 10,000 draws, thin 1, ``dtype="float32"``, into a temporary
HDF5 file (deleted afterwards unless ``--keep``).

Reported: n_params, wall time and chain-steps per second, the file size, and
the process's peak RSS: VmHWM / ``ru_maxrss`` (the whole process: imports,
Numba cache load or compile, sampling) and the largest VmRSS seen by a thread
that polls ``/proc/self/status`` while ``fl.sample`` runs.

Not part of asv or CI: the full run needs about 2,400 CPU seconds (~120 ms
of CPU per chain-step: the loss over 1797 points is ~1.8e8 multiply-adds),
i.e. ~20 minutes on 2 idle cores (52 minutes on a shared 2-core machine).

Usage::

    export NUMBA_CACHE_DIR=/tmp/numba-cache-bench
    python bench/storage_100k.py                     # the issue's case
    python bench/storage_100k.py --draws 200         # a quick smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import threading
import time

import numba
import numpy as np
from _common import source_version  # noqa: E402  (same folder)

import fastland as fl

TARGET_BYTES = 2 * 2**30  # the issue: peak RSS < 2 GiB


def status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM, ...) in bytes; 0 if unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def maxrss_bytes() -> int:
    """``ru_maxrss`` of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RSSMonitor(threading.Thread):
    """Poll VmRSS every ``interval`` seconds; keep the maximum; print a line every ``report`` s."""

    def __init__(self, interval: float, report: float, path: str) -> None:
        super().__init__(daemon=True)
        self.interval, self.report, self.path = interval, report, path
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        t0 = last = time.perf_counter()
        while not self._halt.wait(self.interval):
            rss = status_bytes("VmRSS")
            self.peak = max(self.peak, rss)
            now = time.perf_counter()
            if self.report > 0 and now - last >= self.report:
                last = now
                size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
                print(
                    f"  [{now - t0:7.0f}s] RSS {rss / 2**20:7.0f} MiB (max {self.peak / 2**20:.0f}), "
                    f"file {size / 2**30:.2f} GiB",
                    flush=True,
                )

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self.peak = max(self.peak, status_bytes("VmRSS"))
        return self.peak


def digits_landscape(hidden: list[int], n_data: int, activation: str) -> fl.Landscape:
    """MLP(64, hidden, 10) with softmax cross-entropy on the first ``n_data`` digits (0 = all)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data / 16.0, d.target.astype(float)
    if n_data > 0:
        X, y = X[:n_data], y[:n_data]
    net = fl.MLP(64, hidden, 10, activation=activation, loss="softmax_xent")
    return fl.Landscape(net, fl.Dataset(X, y))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, nargs="+", default=[1024, 32], help="hidden widths (default 1024 32)")
    ap.add_argument("--activation", default="tanh")
    ap.add_argument("--n-data", type=int, default=0, help="use the first N digits (default 0: all 1797)")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--draws", type=int, default=10_000, help="draws per chain (default 10,000)")
    ap.add_argument("--thin", type=int, default=1)
    ap.add_argument("--step", type=float, default=1e-3, help="RWM proposal scale (default 1e-3)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default=None, help="directory of the temporary run file (default: system temp)")
    ap.add_argument("--keep", action="store_true", help="keep the run file")
    ap.add_argument("--report-every", type=float, default=60.0, help="seconds between progress lines")
    args = ap.parse_args(argv)
    if min(args.chains, args.draws, args.thin) < 1:
        ap.error("--chains, --draws and --thin must be >= 1")

    print(
        f"fastland {fl.__version__} ({source_version()}), numba {numba.__version__} "
        f"({numba.get_num_threads()} threads), numpy {np.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    land = digits_landscape(args.hidden, args.n_data, args.activation)
    p = land.n_params
    C, D = args.chains, args.draws
    itemsize = np.dtype(args.dtype).itemsize
    print(
        f"{land.net!r} on digits: N={land.data.n}, n_params={p:,}; RWM step={args.step}, "
        f"{C} chains x {D:,} draws (thin {args.thin}) = {C * D:,} stored draws, {args.dtype} storage "
        f"({C * D * p * itemsize / 2**30:.2f} GiB of draws)"
    )
    init = land.net.init(C, seed=args.seed)

    # load (or compile) the kernels for this dtype, outside the timed run
    t0 = time.perf_counter()
    fl.sample(land, chains=C, draws=1, init=init, step_size=args.step, draws_dtype=args.dtype, progress=False)
    print(
        f"warm-up (Numba cache load/compile + 1 draw): {time.perf_counter() - t0:.1f}s; "
        f"RSS {status_bytes('VmRSS') / 2**20:.0f} MiB, VmHWM {status_bytes('VmHWM') / 2**20:.0f} MiB"
    )

    tmpdir = tempfile.mkdtemp(prefix="fastland-storage-", dir=args.dir)
    path = os.path.join(tmpdir, "run.h5")
    monitor = RSSMonitor(0.2, args.report_every, path)
    monitor.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        run = fl.sample(
            land,
            chains=C,
            draws=D,
            thin=args.thin,
            warmup=0,
            step_size=args.step,
            box=10.0,
            temperature=1.0,
            method="rwm",
            init=init,
            path=path,
            seed=args.seed,
            progress=False,
            draws_dtype=args.dtype,
        )
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        peak_sampling = monitor.stop()
        n_draws = run.n_draws
        acc = float(np.mean(run.stats["accepted"][:, :]))
        last_loss = np.asarray(run.loss[:, -1])
        tail = np.asarray(run.draws[:, -1, :4])
        run.close()
        size = os.path.getsize(path)
    finally:
        if not args.keep:
            if os.path.exists(path):
                os.remove(path)
            os.rmdir(tmpdir)

    steps = C * D * args.thin
    hwm = max(status_bytes("VmHWM"), maxrss_bytes())
    raw = C * D * p * itemsize
    print(f"committed draws: {n_draws:,} per chain; acceptance {acc:.3f}; last losses {np.round(last_loss, 4)}")
    print(f"last draw, first 4 params of each chain: {np.round(tail, 4).tolist()}")
    print(
        f"wall {wall:.1f}s, CPU {cpu:.1f}s ({cpu / wall:.2f} cores busy), "
        f"{steps / wall:.1f} chain-steps/s, {wall / steps * 1e3:.1f} ms/chain-step"
    )
    print(
        f"file {size:,} B = {size / 2**30:.2f} GiB (draws alone {raw / 2**30:.2f} GiB, "
        f"overhead {100 * (size / raw - 1):+.2f}%)" + (f", kept at {path}" if args.keep else ", deleted")
    )
    print(f"peak RSS while sampling (VmRSS polled every 0.2 s): {peak_sampling / 2**20:.0f} MiB")
    print(f"process peak RSS (VmHWM / ru_maxrss, incl. imports and kernel loading): {hwm / 2**20:.0f} MiB")
    ok = hwm < TARGET_BYTES and n_draws == D
    print(
        f"target (peak RSS < 2 GiB, {C * D:,} draws of {p:,} params stored): "
        f"{'MET' if ok else 'NOT met'} ({hwm / 2**30:.3f} GiB)"
    )
    print(f"load average at the end: {os.getloadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
