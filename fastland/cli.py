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


def _landscape_from_args(args: argparse.Namespace):
    import fastland as fl

    if args.data == "teacher_student":
        ts = fl.datasets.teacher_student()
        data = ts.data
        width = args.hidden[0] if args.hidden else 5
        net = ts.student(width)
    else:
        data = fl.datasets.random_labels(n=args.n, seed=args.data_seed)
        net = fl.MLP(2, args.hidden, 2, activation=args.activation, loss=args.loss, bias=not args.no_bias)
    if args.rotate:
        data = data.rotate(args.rotate)
    return fl.Landscape(net, data, weight_decay=args.weight_decay)


def _widths(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths such as 2,2, got {text!r}") from exc


def _cmd_sample(args: argparse.Namespace) -> int:
    import fastland as fl

    land = _landscape_from_args(args)
    print(f"sampling {land!r}")
    run = fl.sample(
        land, chains=args.chains, draws=args.draws, thin=args.thin, warmup=args.warmup, step=args.step,
        box=args.box, temperature=args.temperature, method=args.method, n_leapfrog=args.n_leapfrog,
        path=args.out, seed=args.seed, resume=args.resume, dtype=args.dtype, compression=args.compression,
    )
    with run:
        print(f"wrote {args.out}")
        print(run.summary())
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import fastland as fl

    with fl.open_run(args.run) as run:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(run.attrs.items()) if not isinstance(v, dict))
        print(f"{args.run}: {settings}")
        print(f"landscape: {run.landscape()!r}")
        print(run.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastland`` command."""
    parser = argparse.ArgumentParser(prog="fastland", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main demonstration at a small size")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--points", type=int, default=4096)
    demo.set_defaults(func=_cmd_demo)

    smp = sub.add_parser("sample", help="sample exp(-U/T) of a model on a dataset into a run file")
    smp.add_argument("--out", required=True, help="HDF5 run file to write")
    smp.add_argument("--data", choices=("random_labels", "teacher_student"), default="random_labels")
    smp.add_argument("--n", type=int, default=10, help="points of random_labels")
    smp.add_argument("--data-seed", type=int, default=0)
    smp.add_argument("--rotate", type=float, default=0.0, help="rotate the inputs by this many degrees")
    smp.add_argument("--hidden", type=_widths, default=[2, 2], help="hidden widths, e.g. 2,2")
    smp.add_argument("--activation", default="tanh")
    smp.add_argument("--loss", default="softmax_xent")
    smp.add_argument("--no-bias", action="store_true")
    smp.add_argument("--weight-decay", type=float, default=0.0)
    smp.add_argument("--method", default="rwm", choices=("rwm", "mala", "hmc", "langevin"))
    smp.add_argument("--chains", type=int, default=64)
    smp.add_argument("--draws", type=int, default=2000)
    smp.add_argument("--thin", type=int, default=10)
    smp.add_argument("--warmup", type=int, default=1000)
    smp.add_argument("--step", type=float, default=0.05)
    smp.add_argument("--box", type=float, default=10.0)
    smp.add_argument("--temperature", type=float, default=1.0)
    smp.add_argument("--n-leapfrog", type=int, default=10)
    smp.add_argument("--seed", type=int, default=0)
    smp.add_argument("--resume", action="store_true", help="continue the run in --out")
    smp.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    smp.add_argument("--compression", default=None, choices=("gzip", "lzf"))
    smp.set_defaults(func=_cmd_sample)

    info = sub.add_parser("info", help="summarise a run file")
    info.add_argument("run", help="HDF5 run file")
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastland`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"fastland {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
