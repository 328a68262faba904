#!/usr/bin/env python
"""Peak RSS of ``fl.sample`` streaming to HDF5: 10^4 vs 10^6 stored draws, each in a fresh process.

The issue's target: the peak RSS of a run grows by less than 10% from 10^4 to
10^6 stored draws (p = 18). Workload: seed 001's net, ``MLP(2, [2, 2], 2,
activation="tanh", loss="softmax_xent")`` on ``datasets.random_labels(n=10,
seed=0)``, RWM with step 0.05 on [-10, 10]^18, ``--chains`` chains (default
100) x (total / chains) draws, thin 1, written to a temporary HDF5 file.
"Stored draws" counts parameter vectors, all chains together: 10^6 draws of
18 float64 values are 144 MB of draws (plus losses and statistics), which a
run held in memory would add to its RSS.

Every measurement runs in a fresh ``python`` child (this script with
``--child``); the child imports fastland, makes a tiny in-memory call (loading
the compiled kernels from Numba's cache: an untimed child runs first to fill
it), notes its RSS, samples, and exits. Reported per child: its peak RSS from
``os.wait4`` (``ru_maxrss``, the whole process), the RSS just before sampling,
wall time and file size. ``--store memory`` runs the same children with
``path=None`` for contrast.

Usage::

    export NUMBA_CACHE_DIR=/tmp/numba-cache-bench
    python bench/rss_scaling.py                          # 10^4 and 10^6
    python bench/rss_scaling.py --totals 10000 1000000 10000000 --store hdf5 memory
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from _common import source_version  # noqa: E402  (same folder)

TARGET_GROWTH = 0.10  # the issue: < 10% peak-RSS growth from 10^4 to 10^6 draws


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


def child(total: int, chains: int, store: str, dtype: str, tmpdir: str) -> int:
    """Run one sampling job and print its figures as one JSON line."""
    import resource

    import fastland as fl

    net = fl.MLP(2, [2, 2], 2, activation="tanh", loss="softmax_xent")
    land = fl.Landscape(net, fl.datasets.random_labels(n=10, seed=0))
    fl.sample(land, chains=2, draws=2, progress=False, draws_dtype=dtype).close()  # load the kernels
    rss_before = status_bytes("VmRSS")
    hwm_before = status_bytes("VmHWM")
    path = os.path.join(tmpdir, f"run-{total}.h5") if store == "hdf5" else None
    draws = total // chains
    t0 = time.perf_counter()
    run = fl.sample(
        land,
        chains=chains,
        draws=draws,
        thin=1,
        warmup=0,
        step_size=0.05,
        box=10.0,
        method="rwm",
        path=path,
        seed=0,
        progress=False,
        draws_dtype=dtype,
    )
    wall = time.perf_counter() - t0
    n_draws = run.n_draws
    run.close()
    size = os.path.getsize(path) if path is not None else 0
    if path is not None:
        os.remove(path)
    print(
        json.dumps(
            {
                "total": chains * draws,
                "chains": chains,
                "draws": draws,
                "n_draws": n_draws,
                "rss_before": rss_before,
                "hwm_before": hwm_before,
                "hwm": status_bytes("VmHWM"),
                "maxrss_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "wall": wall,
                "file_size": size,
            }
        )
    )
    return 0


def run_child(total: int, args, tmpdir: str, store: str) -> dict:
    """Run ``--child`` in a fresh interpreter; its figures plus ``ru_maxrss`` from ``os.wait4``."""
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        str(total),
        "--chains",
        str(args.chains),
        "--store",
        store,
        "--dtype",
        args.dtype,
        "--tmpdir",
        tmpdir,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {cmd} failed with exit code {proc.returncode}")
    rec = json.loads(out.strip().splitlines()[-1])
    rec["maxrss"] = usage.ru_maxrss * 1024
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--totals",
        type=int,
        nargs="+",
        default=[10**4, 10**6],
        help="stored draws, all chains together (default 10000 1000000); the growth is last vs first",
    )
    ap.add_argument("--chains", type=int, default=100)
    ap.add_argument("--store", nargs="+", choices=["hdf5", "memory"], default=["hdf5"])
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tmpdir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        return child(args.child, args.chains, args.store[0], args.dtype, args.tmpdir)
    if args.chains < 1 or min(args.totals) < args.chains:
        ap.error("--chains must be >= 1 and every total >= --chains")

    import numba
    import numpy as np

    import fastland as fl

    print(
        f"fastland {fl.__version__} ({source_version()}), numba {numba.__version__} "
        f"({numba.get_num_threads()} threads), numpy {np.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"p=18, chains={args.chains}, thin 1, dtype {args.dtype}; each row is a fresh process")
    ok = True
    tmpdir = tempfile.mkdtemp(prefix="fastland-rss-")
    try:
        run_child(args.chains * 2, args, tmpdir, args.store[0])  # fill Numba's cache, untimed
        for store in args.store:
            rows = [run_child(total, args, tmpdir, store) for total in args.totals]
            print()
            print(f"store={store}")
            header = (
                f"{'stored draws':>13}{'per chain':>10}{'peak RSS MiB':>14}{'RSS before MiB':>16}"
                f"{'wall s':>8}{'file MiB':>10}"
            )
            print(header)
            print("-" * len(header))
            for r in rows:
                print(
                    f"{r['total']:>13,}{r['draws']:>10,}{r['maxrss'] / 2**20:>14.1f}"
                    f"{r['rss_before'] / 2**20:>16.1f}{r['wall']:>8.2f}{r['file_size'] / 2**20:>10.1f}"
                )
            growth = rows[-1]["maxrss"] / rows[0]["maxrss"] - 1
            met = growth < TARGET_GROWTH
            if store == "hdf5":
                ok = ok and met
            print(
                f"peak RSS growth {rows[0]['total']:,} -> {rows[-1]['total']:,} draws: {100 * growth:+.1f}% "
                f"({(rows[-1]['maxrss'] - rows[0]['maxrss']) / 2**20:+.1f} MiB)"
                + (
                    f"; target (< {100 * TARGET_GROWTH:g}%): {'MET' if met else 'NOT met'}"
                    if store == "hdf5"
                    else " (in memory, for contrast; no target)"
                )
            )
    finally:
        for name in os.listdir(tmpdir):
            os.remove(os.path.join(tmpdir, name))
        os.rmdir(tmpdir)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
