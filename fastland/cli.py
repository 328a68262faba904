"""The ``fastland`` command."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    """Seed 001's landscape at a glance: loss, gradient and Hessian spectrum at random points."""
    import fastland as fl

    net = fl.MLP(2, [2, 2], 2, activation="tanh", loss="softmax_xent")
    data = fl.datasets.random_labels(n=10, seed=args.seed)
    land = fl.Landscape(net, data)
    print(f"model    {net!r}: {net.n_params} parameters")
    print(f"data     random_labels(n=10, seed={args.seed}): {data.n} points, classes {np.bincount(data.class_labels())}")
    t0 = time.perf_counter()
    land.hessian(net.init(seed=0))  # compiles (or loads the cache)
    t1 = time.perf_counter()
    points = np.random.default_rng(args.seed).uniform(-10, 10, size=(args.points, net.n_params))
    t2 = time.perf_counter()
    losses, grads = land.loss_and_grad(points)
    hessians = land.hessian(points)
    t3 = time.perf_counter()
    eig = np.linalg.eigvalsh(hessians)
    print(f"compile  {t1 - t0:.1f} s (cached after the first run)")
    print(f"exact    loss, gradient and Hessian at {args.points} points of [-10, 10]^18 in {t3 - t2:.3f} s")
    q = np.quantile(losses, [0.0, 0.5, 1.0])
    print(f"loss     min {q[0]:.4f}  median {q[1]:.4f}  max {q[2]:.4f}")
    print(f"|grad|   median {np.median(np.linalg.norm(grads, axis=1)):.3e}")
    print(f"Hessian  share of points with a negative eigenvalue: {np.mean(eig[:, 0] < 0):.2f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastland`` command."""
    parser = argparse.ArgumentParser(prog="fastland", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main demonstration at a small size")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--points", type=int, default=4096)
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastland`` command."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
