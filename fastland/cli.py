"""The ``fastland`` command."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty output folder unless ``--overwrite`` was given."""
    if not overwrite and out.exists() and any(out.iterdir()):
        raise ValueError(
            f"--out: {out} exists and is not empty; choose a new folder, or pass --overwrite to write into it "
            f"(replacing the files this run writes)"
        )


# --------------------------------------------------------------------------- reproduce
def _until(max_steps: int, max_draws: int):
    """Sampling targets of the command-line runs: the library's defaults within a step budget."""
    from .convergence import Convergence

    return Convergence(max_steps=max_steps, max_draws=max_draws)


#: ``fastland reproduce NAME``: module, function, title, keyword arguments for --full. Every
#: experiment runs at its own small defaults; modules are imported by name when asked, so an
#: experiment whose module is not installed yet fails with a clear message and the rest work.
REPRODUCE = {
    "rotation": (
        "fastland.experiments.rotation",
        "rotation",
        "Rotation experiment (seed 001)",
        dict(
            chains=64,
            draws=2000,
            thin=10,
            warmup=20_000,
            max_points=20_000,
            until=_until(4_000_000, 4000),
            control=True,
        ),  # fmt: skip
    ),
    "teacher-student": (
        "fastland.experiments.teacher_student",
        "teacher_student",
        "Teacher-student experiment (seed 004)",
        dict(runs=1000),
    ),
    "slingshot": (
        "fastland.experiments.slingshot",
        "slingshot",
        "Slingshot maneuver (seed 000)",
        dict(runs=200, factors=(0.05, 0.1, 0.2, 0.3, 0.5, 0.8)),
    ),
    "degeneracy": (
        "fastland.experiments.degeneracy",
        "degeneracy",
        "Degeneracy of minima (seed 003)",
        dict(runs=32, configs=((2, 4), (3, 8), (4, 12), (6, 16), (8, 24), (12, 32))),
    ),
    "langevin-vs-sgd": (
        "fastland.experiments.langevin_vs_sgd",
        "langevin_vs_sgd",
        "SGD vs Langevin (seed 003)",
        dict(runs=1024, samples_per_run=100, chains=256),
    ),
    "precision": ("fastland.experiments.precision", "precision", "Reduced precision (seed 000)", None),
    "lr-sweep": ("fastland.experiments.lr_sweep", "lr_sweep", "Learning-rate sweep (seed 002)", None),
    "deep-linear": ("fastland.experiments.deep_linear", "deep_linear", "Deep linear network", None),
}
#: small sizes for ``reproduce`` of the experiments whose own defaults are the seed's (large) sizes
_SMALL = {
    # sampled until converged (R-hat <= 1.01, ESS >= 400 on loss, outputs, canonical weights) within
    # 400,000 steps per chain: about 8 s per angle on 2 cores (measured on the seed-001 net at T = 0.1)
    "rotation": dict(chains=32, draws=500, thin=10, warmup=5000, max_points=3000, until=_until(400_000, 2000)),
    "teacher-student": dict(widths=(4, 5, 6, 7), runs=20),
}


def _experiment(name: str):
    """(function, title, full-size kwargs) of a registered experiment; ValueError if not installed."""
    import importlib

    module_name, func_name, title, full = REPRODUCE[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ValueError(f"NAME: experiment {name!r} ({module_name}) is not available in this installation") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"NAME: {module_name} has no function {func_name}()")
    if full is None:  # modules may declare their own full size
        full = getattr(module, "FULL", None)
    return func, title, full


def _run_experiment(name: str, args: argparse.Namespace, sizes: dict, stem: str, notes=()) -> int:
    """Run the registered experiment ``name`` at ``sizes`` into ``--out``: print its tables and verdict, list its files.

    The one code path of ``demo``, ``teacher-student`` and ``reproduce``: the
    experiment writes its data, figures, JSON summary and ``report.md`` itself.
    """
    func, title, _ = _experiment(name)
    out = Path(args.out) if args.out else Path(f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    _check_out(out, args.overwrite)
    t0 = time.perf_counter()
    print(f"fastland {args.command}: {title} -> {out}/")
    print("(the first run compiles the kernels, about half a minute; later runs load them from the cache)")
    for note in notes:
        print(note)
    result = func(
        **sizes, out_dir=out, seed=args.seed, figures=not args.no_figures, progress=True, overwrite=args.overwrite
    )
    print()
    print(result.console_text(width=100))
    print()
    print(f"wrote {len(result.files)} files to {out}/ in {time.perf_counter() - t0:.0f} s:")
    for f in result.files:
        print(f"  {f}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Seed 001's rotation experiment, end to end."""
    if args.full:  # the seed's size: 20,000 kept draws per angle
        sizes = dict(_experiment("rotation")[2])
    else:
        sizes = {**_SMALL["rotation"], "chains": args.chains, "draws": args.draws, "control": args.control}
    return _run_experiment("rotation", args, {**sizes, "temperature": args.temperature}, "fastland-demo")


def _cmd_teacher_student(args: argparse.Namespace) -> int:
    """Seed 004's teacher-student experiment, end to end."""
    sizes = dict(
        widths=args.widths,
        runs=args.runs,
        optimizer=args.optimizer,
        lr=args.lr,
        steps=args.steps,
        refine=None if args.refine == "none" else args.refine,
        refine_iter=args.refine_iter,
    )
    notes = [] if args.lr == 1e-4 else ["(fast first phase; the seed's setting is --lr 1e-4 with --steps ~ 10^5)"]
    return _run_experiment("teacher-student", args, sizes, "fastland-teacher-student", notes)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    """Run one seed experiment and write report.md (+ figures and data) to the output folder."""
    _, _, full = _experiment(args.name)
    sizes = dict(_SMALL.get(args.name, {}))
    notes = [f"({'full' if args.full else 'small'} size)"]
    if args.full:
        if full is None:
            notes.append(f"(no full size is registered for {args.name}; running its defaults)")
        else:
            sizes.update(full)
    return _run_experiment(args.name, args, sizes, f"fastland-{args.name}", notes)


def _landscape_from_args(args: argparse.Namespace):
    import fastland as fl

    if args.data == "teacher_student":
        ts = fl.datasets.teacher_student()
        data = ts.data
        width = args.hidden[0] if args.hidden else 5
        net = ts.student(width)
    else:
        if args.data == "random_labels":
            data = fl.datasets.random_labels(n=args.n, seed=args.data_seed)
        else:
            data = fl.datasets.load(args.data, x=args.x, y=args.y)
        n_out = args.n_out if args.n_out is not None else _default_n_out(data, args.loss)
        net = fl.MLP(data.X.shape[1], args.hidden, n_out, activation=args.activation, loss=args.loss, bias=args.bias)
    if args.rotate:
        data = data.rotate(args.rotate)
    return fl.Landscape(net, data, weight_decay=args.weight_decay)


def _default_n_out(data, loss: str) -> int:
    """Outputs a loss needs for these targets: classes for softmax_xent, target columns otherwise."""
    if loss == "softmax_xent":
        return max(2, int(data.class_labels().max()) + 1)
    return 1 if data.y.ndim == 1 else int(data.y.shape[1])


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
        land,
        chains=args.chains,
        draws=args.draws,
        thin=args.thin,
        warmup=args.warmup,
        step_size=args.step_size,
        box=args.box,
        temperature=args.temperature,
        method=args.method,
        n_leapfrog=args.n_leapfrog,
        path=args.out,
        seed=args.seed,
        resume=args.resume,
        overwrite=args.overwrite,
        draws_dtype=args.draws_dtype,
        compression=args.compression,
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


def _cmd_geometry(args: argparse.Namespace) -> int:
    import fastland as fl
    from fastland.geometry import minima_plane, rashomon_ratio

    with fl.open_run(args.run) as run:
        plane = minima_plane(run, threshold=args.threshold, max_points=args.max_points, seed=args.seed)
        rr = rashomon_ratio(run, args.threshold)
        print(plane)
        lo, hi = rr.interval()
        print(f"Rashomon ratio (posterior mass with U < {args.threshold:g}): {rr.ratio:.4g} [{lo:.4g}, {hi:.4g}]")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    import numpy as np

    import fastland as fl
    from fastland import plot
    from fastland._outputs import claim
    from fastland.geometry import minima_plane

    stem = Path(args.run).with_suffix("")
    ow = args.overwrite
    figures = {name: Path(f"{stem}_{name}.png") for name in ("loss", "trace", "diagnostics", "minima_map")}
    with fl.open_run(args.run) as run:
        claim(list(figures.values())[:3], overwrite=ow, argname="run")  # refuse before any work
        plane = minima_plane(run, threshold=args.threshold, max_points=args.max_points)
        if plane.n_low <= 2:
            del figures["minima_map"]
        claim(figures.values(), overwrite=ow, argname="run")  # every figure before the first is written
        plot.loss_histogram(np.asarray(run.loss[:]), threshold=args.threshold, path=figures["loss"], overwrite=ow)
        plot.trace(run, path=figures["trace"], overwrite=ow)
        plot.diagnostics(run, path=figures["diagnostics"], overwrite=ow)
        if "minima_map" in figures:
            null = plane.null_explained if np.isfinite(plane.null_explained) else None
            plot.minima_map(
                plane.coords,
                plane.loss[plane.low],
                explained=float(np.nansum(plane.explained)),
                null=null,
                path=figures["minima_map"],
                overwrite=ow,
            )
    for path in figures.values():
        print(f"wrote {path}")
    return 0


_OVERWRITE_HELP = "write into a non-empty --out folder, replacing the files this run writes"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastland`` command."""
    parser = argparse.ArgumentParser(prog="fastland", description=__doc__)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"fastland {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="seed 001's rotation experiment at a small size (--full: the seed's)")
    demo.add_argument("--out", default=None, help="output folder (default: fastland-demo-<time>)")
    demo.add_argument("--full", action="store_true", help="the seed's size: 20,000 draws per angle")
    demo.add_argument("--chains", type=int, default=32)
    demo.add_argument("--draws", type=int, default=500, help="first length of each run (doubled until converged)")
    demo.add_argument("--temperature", type=float, default=0.1)
    demo.add_argument(
        "--control",
        action="store_true",
        help="also run the rotation-invariant control (Gaussian prior instead of the box; several times slower)",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    demo.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    demo.set_defaults(func=_cmd_demo)

    tsp = sub.add_parser("teacher-student", help="seed 004's experiment: where do trained students end?")
    tsp.add_argument("--widths", type=_widths, default=[4, 5, 6, 7], help="student widths, e.g. 4,5,6,7")
    tsp.add_argument("--runs", type=int, default=1000, help="training runs per width")
    tsp.add_argument("--optimizer", default="adam", choices=("adam", "gd", "sam", "asam"))
    tsp.add_argument("--lr", type=float, default=1e-2, help="learning rate (the seed's: 1e-4)")
    tsp.add_argument("--steps", type=int, default=200, help="training steps per run")
    tsp.add_argument("--refine", default="descent", choices=("descent", "newton", "trust-exact", "slsqp", "none"))
    tsp.add_argument("--refine-iter", type=int, default=None, help="refinement iterations (default per method)")
    tsp.add_argument("--out", default=None, help="output folder (default: fastland-teacher-student-<time>)")
    tsp.add_argument("--seed", type=int, default=0)
    tsp.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    tsp.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    tsp.set_defaults(func=_cmd_teacher_student)

    rep = sub.add_parser("reproduce", help="run a seed experiment and write a markdown report")
    rep.add_argument("name", choices=tuple(REPRODUCE), help="the experiment")
    rep.add_argument("--out", default=None, help="output folder (default: fastland-<name>-<time>)")
    rep.add_argument("--full", action="store_true", help="the larger size (the seed's, where known)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    rep.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    rep.set_defaults(func=_cmd_reproduce)

    smp = sub.add_parser("sample", help="sample exp(-U/T) of a model on a dataset into a run file")
    smp.add_argument("--out", required=True, help="HDF5 run file to write")
    smp.add_argument(
        "--data",
        default="random_labels",
        help="random_labels (seed 001: 10 points in [-1, 1]^2, random 0/1 labels), teacher_student (seed 004: "
        "the 1681-point grid and its width-4 sigmoid teacher), or a FILE: .npz, .csv, .h5/.hdf5 or .nc "
        "(see fastland.datasets.load) (default: random_labels)",
    )
    smp.add_argument("--x", default="X", help="name of the inputs in a .npz / .h5 / .nc FILE (default: X)")
    smp.add_argument("--y", default="y", help="name of the targets in a .npz / .h5 / .nc FILE (default: y)")
    smp.add_argument("--n", type=int, default=10, help="points of random_labels (default: 10)")
    smp.add_argument("--data-seed", type=int, default=0, help="seed of random_labels (default: 0)")
    smp.add_argument("--rotate", type=float, default=0.0, help="rotate the inputs by this many degrees (default: 0)")
    smp.add_argument("--hidden", type=_widths, default=[2, 2], help="hidden widths, e.g. 16,16 (default: 2,2)")
    smp.add_argument(
        "--activation",
        default="tanh",
        choices=("tanh", "sigmoid", "relu", "softplus", "linear", "quadratic"),
        help="hidden activation (default: tanh)",
    )
    smp.add_argument(
        "--loss", default="softmax_xent", choices=("softmax_xent", "bce", "mse"), help="(default: softmax_xent)"
    )
    smp.add_argument(
        "--n-out", type=int, default=None, help="outputs (default: the classes for softmax_xent, else y's columns)"
    )
    smp.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True, help="biases (default: --bias)")
    smp.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay lambda (default: 0)")
    smp.add_argument("--method", default="rwm", choices=("rwm", "mala", "hmc", "langevin"))
    smp.add_argument("--chains", type=int, default=64)
    smp.add_argument("--draws", type=int, default=2000)
    smp.add_argument("--thin", type=int, default=10)
    smp.add_argument("--warmup", type=int, default=1000)
    smp.add_argument("--step-size", type=float, default=0.05, help="proposal scale epsilon (adapted in warm-up)")
    smp.add_argument("--box", type=float, default=10.0)
    smp.add_argument("--temperature", type=float, default=1.0)
    smp.add_argument("--n-leapfrog", type=int, default=10)
    smp.add_argument("--seed", type=int, default=0)
    smp.add_argument("--resume", action="store_true", help="continue the run in --out")
    smp.add_argument("--overwrite", action="store_true", help="replace an existing run file at --out")
    smp.add_argument(
        "--draws-dtype", default="float64", choices=("float64", "float32"), help="storage type of the draws"
    )
    smp.add_argument("--compression", default=None, choices=("gzip", "lzf"))
    smp.set_defaults(func=_cmd_sample)

    info = sub.add_parser("info", help="summarise a run file")
    info.add_argument("run", help="HDF5 run file")
    info.set_defaults(func=_cmd_info)

    geo = sub.add_parser("geometry", help="kernel PCA and the plane of the good minima of a run")
    geo.add_argument("run", help="HDF5 run file")
    geo.add_argument("--threshold", type=float, default=0.1)
    geo.add_argument("--max-points", type=int, default=20_000)
    geo.add_argument("--seed", type=int, default=0)
    geo.set_defaults(func=_cmd_geometry)

    plt = sub.add_parser("plot", help="figures of a run: loss, traces, diagnostics, minima map")
    plt.add_argument("run", help="HDF5 run file")
    plt.add_argument("--threshold", type=float, default=0.1)
    plt.add_argument("--max-points", type=int, default=5000)
    plt.add_argument("--overwrite", action="store_true", help="replace existing <run>_<figure>.png files")
    plt.set_defaults(func=_cmd_plot)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastland`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        parser.exit(2, f"fastland {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
