"""Lock the public namespace: ``fastland.__all__`` and every public module's ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import fastland

PUBLIC = {
    "Convergence",
    "Dataset",
    "GradientFlowResult",
    "Landscape",
    "MLP",
    "Run",
    "TrainResult",
    "__version__",
    "convergence",
    "critical",
    "datasets",
    "diagnostics",
    "experiments",
    "geometry",
    "gradient_flow",
    "interop",
    "open_run",
    "open_train",
    "plot",
    "sample",
    "symmetry",
    "train",
}


def test_top_level_all_is_locked():
    # changing the public surface is a decision: update this set on purpose
    assert set(fastland.__all__) == PUBLIC
    assert len(fastland.__all__) == len(set(fastland.__all__))


def test_top_level_names_exist():
    for name in fastland.__all__:
        assert hasattr(fastland, name), name
    assert isinstance(fastland.__version__, str)
    assert fastland.datasets.random_labels is fastland.data.random_labels
    assert fastland.datasets.Dataset is fastland.Dataset


def _public_modules():
    names = []
    for info in pkgutil.walk_packages(fastland.__path__, prefix="fastland."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module", _public_modules())
def test_every_public_module_declares_existing_names(module):
    mod = importlib.import_module(module)
    assert hasattr(mod, "__all__"), f"{module} has no __all__"
    assert len(mod.__all__) == len(set(mod.__all__)), f"{module}.__all__ has duplicates"
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names missing {name!r}"


def test_core_modules_are_among_the_public_ones():
    assert {"fastland.model", "fastland.data", "fastland.landscape", "fastland.datasets"} <= set(_public_modules())


# ---------------------------------------------------------------- signatures and vocabulary
def _shape(fn) -> str:
    """A signature without annotations: names, defaults, and where keyword-only starts."""
    import inspect

    parts, star = [], False
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(parts)


# A change to any of these is a change of the public API: update the lock deliberately
# (and the changelog), never to make a test pass.
SIGNATURES = {
    "fastland.sample": (
        "land, chains=64, *, draws=1000, thin=1, warmup=0, step_size=0.05, box=10.0, temperature=1.0, "
        "method='rwm', n_leapfrog=10, target_accept=None, adapt=True, init='uniform', path=None, seed=0, "
        "resume=False, progress=True, draws_dtype='float64', compression=None, block_draws=None, overwrite=False, "
        "until=None"
    ),
    "fastland.train": (
        "land, init, *, optimizer='adam', lr=0.001, steps=1000, batch_size=None, seed=0, tol_grad=None, "
        "tol_loss=None, rho=0.05, asam_eta=0.01, temperature=1.0, betas=(0.9, 0.999), adam_eps=1e-08, "
        "record_every=None, path=None, progress=True, block_steps=None, precision='float64', exponent=None"
    ),
    "fastland.gradient_flow": "land, init, *, t_max, method='Radau', rtol=1e-08, atol=1e-10, t_eval=None",
    "fastland.open_run": "path",
    "fastland.open_train": "path",
    "fastland.Landscape": "net, data, weight_decay=0.0, dtype='float64'",
    "fastland.MLP": "n_in, hidden, n_out, activation='tanh', loss='softmax_xent', bias=True",
    "fastland.datasets.teacher_student": "spacing=None, extent=None",
    "fastland.train.round_precision": "x, precision='float32', exponent=None",
    "fastland.sample.memory_needed": "land, chains, method='rwm', block_draws=None, dtype='float64'",
    "fastland.critical.refine": (
        "land, points, *, method='newton', tol_grad=None, max_iter=None, polish=False, options=None, "
        "safety=10.0, reduce=False"
    ),
    "fastland.critical.classify": (
        "land, points, *, global_loss=None, expected_null='auto', tol_grad=None, safety=10.0, "
        "return_vectors=False, reduce=True"
    ),
    "fastland.critical.escape": (
        "land, point, *, eps=0.1, max_tries=20, seed=0, method='trust-exact', polish=True, global_loss=None, "
        "expected_null='auto', options=None, safety=10.0"
    ),
    "fastland.critical.eps_sweep": (
        "land, point, *, eps, tries=8, seed=0, method='trust-exact', polish=True, global_loss=None, "
        "expected_null='auto', options=None, safety=10.0"
    ),
    "fastland.critical.certify": "land, point, *, global_loss=0.0",
    "fastland.critical.hessian_lipschitz": "land, point, *, radius",
    "fastland.critical.sharpness": (
        "land, points, *, rho=0.05, ascent_steps=20, method='auto', lanczos_steps=30, probes=30, seed=0"
    ),
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_public_signatures_are_locked(name):
    module, _, attr = name.rpartition(".")
    obj = getattr(importlib.import_module(module), attr) if module != "fastland" else getattr(fastland, attr)
    if module.endswith(".sample") or module.endswith(".train"):
        obj = getattr(importlib.import_module(module), attr)
    assert _shape(obj) == SIGNATURES[name]


# one name per concept: these parameter names are retired, with the name that replaced them
RETIRED = {"starts": "init", "gtol": "tol_grad", "step": "step_size (or spacing for grids)"}


def _public_callables():
    import inspect

    for module in ["fastland", *_public_modules()]:
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if inspect.isfunction(obj):
                yield f"{module}.{name}", obj
            elif inspect.isclass(obj) and obj.__module__.startswith("fastland"):
                for meth, fn in vars(obj).items():
                    if inspect.isfunction(fn) and (not meth.startswith("_") or meth == "__init__"):
                        yield f"{module}.{name}.{meth}", fn


def test_retired_parameter_names_are_gone():
    import inspect

    found = [
        f"{where}({p}) -> {RETIRED[p]}"
        for where, fn in _public_callables()
        for p in inspect.signature(fn).parameters
        if p in RETIRED
    ]
    assert not found, "retired parameter names still in use: " + "; ".join(found)
