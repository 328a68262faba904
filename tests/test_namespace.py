"""Lock the public namespace: ``fastland.__all__`` and every public module's ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import fastland

PUBLIC = {
    "Dataset",
    "GradientFlowResult",
    "Landscape",
    "MLP",
    "Run",
    "TrainResult",
    "__version__",
    "critical",
    "datasets",
    "diagnostics",
    "experiments",
    "geometry",
    "gradient_flow",
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
