"""Bad input raises ValueError at the API boundary, and the message names the argument."""

from __future__ import annotations

import numpy as np
import pytest

import fastland as fl
from fastland import MLP, Dataset, Landscape

NET = MLP(2, [3], 2)  # 17 parameters, softmax_xent
P = NET.n_params
DATA = fl.datasets.random_labels(n=10, seed=0)
LAND = Landscape(NET, DATA)
W0 = NET.init(seed=0)
BAD = [np.nan, np.inf, -np.inf]


def raises(name):
    """pytest.raises(ValueError) for a message starting with the argument's name."""
    return pytest.raises(ValueError, match=rf"^{name}: ")


# --------------------------------------------------------------------------- MLP


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_in=0, hidden=[2], n_out=2), "n_in"),
        (dict(n_in=-1, hidden=[2], n_out=2), "n_in"),
        (dict(n_in=2.0, hidden=[2], n_out=2), "n_in"),
        (dict(n_in=True, hidden=[2], n_out=2), "n_in"),
        (dict(n_in=2, hidden=[0], n_out=2), r"hidden\[0\]"),
        (dict(n_in=2, hidden=[2, 0], n_out=2), r"hidden\[1\]"),
        (dict(n_in=2, hidden=[2.5], n_out=2), r"hidden\[0\]"),
        (dict(n_in=2, hidden=3, n_out=2), "hidden"),
        (dict(n_in=2, hidden="23", n_out=2), "hidden"),
        (dict(n_in=2, hidden=None, n_out=2), "hidden"),
        (dict(n_in=2, hidden=[2], n_out=0), "n_out"),
        (dict(n_in=2, hidden=[2], n_out=2, activation="gelu"), "activation"),
        (dict(n_in=2, hidden=[2], n_out=2, activation="Tanh"), "activation"),
        (dict(n_in=2, hidden=[2], n_out=2, activation=None), "activation"),
        (dict(n_in=2, hidden=[2], n_out=2, loss="hinge"), "loss"),
        (dict(n_in=2, hidden=[2], n_out=2, loss="cross_entropy"), "loss"),
        (dict(n_in=2, hidden=[2], n_out=2, bias="yes"), "bias"),
        (dict(n_in=2, hidden=[2], n_out=2, loss="bce"), "n_out"),
        (dict(n_in=2, hidden=[2], n_out=3, loss="bce"), "n_out"),
        (dict(n_in=2, hidden=[2], n_out=1, loss="softmax_xent"), "n_out"),
    ],
)
def test_mlp_arguments(kwargs, name):
    with raises(name):
        MLP(**kwargs)


def test_mlp_methods():
    with raises("w"):
        NET.unflatten(np.zeros(P + 1))
    with raises("w"):
        NET.unflatten(1.0)
    with raises("layers"):
        NET.flatten(NET.unflatten(W0)[:1])
    with raises(r"layers\[0\]\[0\]"):
        NET.flatten([(np.zeros((2, 3)), np.zeros(3)), NET.unflatten(W0)[1]])
    with raises(r"layers\[1\]\[1\]"):
        NET.flatten([NET.unflatten(W0)[0], (np.zeros((2, 3)), None)])
    with raises(r"layers\[0\]\[1\]"):
        MLP(2, [3], 2, bias=False).flatten([(np.zeros((3, 2)), np.zeros(3)), (np.zeros((2, 3)), None)])
    with raises("method"):
        NET.init(method="xavier")
    with raises("scale"):
        NET.init(scale=0.0)
    with raises("scale"):
        NET.init(scale=np.nan)
    with raises("n"):
        NET.init(0)
    with raises("n"):
        NET.init(2.0)
    with raises("w"):
        NET.predict(np.zeros(P - 1), DATA.X)
    with raises("w"):
        NET.predict(np.full(P, np.nan), DATA.X)
    with raises("X"):
        NET.predict(W0, np.zeros((4, 3)))
    with raises("X"):
        NET.predict(W0, np.zeros(2))
    with raises("X"):
        NET.predict(W0, [[np.inf, 0.0]])


@pytest.mark.parametrize(
    "spec", ['{"n_in": 2', "[1, 2]", 3, {"n_in": 2}, {**NET.spec(), "width": 3}, {**NET.spec(), "n_in": 0}]
)
def test_from_spec(spec):
    with pytest.raises(ValueError, match=r"^(spec|n_in): "):
        MLP.from_spec(spec)


# ----------------------------------------------------------------------- Dataset


@pytest.mark.parametrize(
    "X, y, name",
    [
        (np.zeros((0, 2)), np.zeros(0), "X"),  # no points
        ([], [], "X"),
        (np.zeros((3, 0)), np.zeros(3), "X"),  # no features
        (np.zeros(3), np.zeros(3), "X"),
        (np.zeros((3, 2, 1)), np.zeros(3), "X"),
        ([[1.0, np.nan]], [0.0], "X"),
        ([[1.0, np.inf]], [0.0], "X"),
        ([["a", "b"]], [0.0], "X"),
        ([[1.0, 2.0], [3.0]], [0.0, 1.0], "X"),
        (np.ones((2, 2)) + 1j, [0.0, 1.0], "X"),
        (np.zeros((3, 2)), np.zeros(4), "y"),
        (np.zeros((3, 2)), np.zeros((3, 1, 1)), "y"),
        (np.zeros((3, 2)), [0.0, np.nan, 1.0], "y"),
        (np.zeros((3, 2)), [0.0, -np.inf, 1.0], "y"),
        (np.zeros((3, 2)), ["a", "b", "c"], "y"),
    ],
)
def test_dataset_arguments(X, y, name):
    with raises(name):
        Dataset(X, y)


def test_dataset_methods():
    with raises("rotate"):
        Dataset(np.zeros((2, 3)), [0, 1]).rotate(90)
    with raises("degrees"):
        DATA.rotate(np.nan)
    with raises("A"):
        DATA.transform(np.eye(3))
    with raises("A"):
        DATA.transform([[np.inf, 0], [0, 1]])
    with raises("b"):
        DATA.transform(np.eye(2), [1.0, 2.0, 3.0])
    with raises("b"):
        DATA.shift([1.0])
    with raises("fraction"):
        DATA.flip_labels(1.5)
    with raises("fraction"):
        DATA.flip_labels(-0.1)
    with raises("y"):
        Dataset(np.zeros((2, 2)), [0.5, 1.0]).flip_labels(0.5)
    with raises("n_classes"):
        Dataset(np.zeros((3, 2)), [0, 1, 2]).flip_labels(0.5, n_classes=2)
    with raises("n_classes"):
        DATA.flip_labels(0.5, n_classes=1)
    with raises("std"):
        DATA.add_noise(-1.0)
    for fraction in [0.0, 1.0, -0.5, 2.0, 0.01]:
        with raises("fraction"):
            DATA.split(fraction)
    with raises("fraction"):
        Dataset(np.zeros((1, 2)), [0.0]).split(0.5)


def test_generators():
    with raises("n"):
        fl.datasets.random_labels(n=0)
    with raises("dim"):
        fl.datasets.random_labels(dim=0)
    with raises("n_classes"):
        fl.datasets.random_labels(n_classes=1)
    with raises("high"):
        fl.datasets.random_labels(low=1.0, high=0.0)
    with raises("high"):
        fl.datasets.random_labels(high=np.inf)
    with raises("low"):
        fl.datasets.random_labels(low=np.nan)
    with raises("low"):
        fl.datasets.random_labels(low="a")
    with raises("spacing"):
        fl.datasets.teacher_student(spacing=0.0)
    with raises("extent"):
        fl.datasets.teacher_student(extent=-1.0)
    with raises("width"):
        fl.datasets.teacher_student(spacing=1.0).student(0)


# --------------------------------------------------------------------- Landscape


def test_landscape_arguments():
    with raises("net"):
        Landscape("net", DATA)
    with raises("data"):
        Landscape(NET, (DATA.X, DATA.y))
    with raises("weight_decay"):
        Landscape(NET, DATA, weight_decay=-1e-3)
    with raises("weight_decay"):
        Landscape(NET, DATA, weight_decay=np.nan)
    with raises("weight_decay"):
        Landscape(NET, DATA, weight_decay="0.1")
    for dtype in ["float16", np.float16, "int64", int, "complex128", "double precision", object()]:
        with raises("dtype"):
            Landscape(NET, DATA, dtype=dtype)
    with raises("data"):  # wrong number of features for the net
        Landscape(MLP(3, [2], 2), DATA)
    with raises("data"):
        Landscape(NET, fl.datasets.random_labels(n=5, dim=1))


@pytest.mark.parametrize(
    "loss, n_out, y",
    [
        ("softmax_xent", 2, np.arange(10) % 3),  # label out of range
        ("softmax_xent", 2, -(np.arange(10) % 2)),  # negative label
        ("softmax_xent", 2, np.full(10, 0.5)),  # not an integer
        ("softmax_xent", 3, np.full(10, 1.5)),
        ("softmax_xent", 2, np.full((10, 3), 1 / 3)),  # probability rows of the wrong width
        ("softmax_xent", 2, np.full((10, 2), 0.4)),  # rows do not sum to 1
        ("softmax_xent", 2, np.tile([1.5, -0.5], (10, 1))),  # negative "probabilities"
        ("bce", 1, np.full(10, 2.0)),
        ("bce", 1, np.full(10, -0.5)),
        ("bce", 1, np.full((10, 2), 0.5)),
        ("mse", 2, np.zeros(10)),
        ("mse", 2, np.zeros((10, 3))),
        ("mse", 1, np.zeros((10, 2))),
    ],
)
def test_targets_do_not_fit_the_loss(loss, n_out, y):
    net = MLP(2, [2], n_out, activation="tanh", loss=loss)
    with raises("y"):
        Landscape(net, Dataset(DATA.X, y))


@pytest.mark.parametrize("method", ["loss", "grad", "loss_and_grad", "hessian", "gauss_newton", "predict"])
def test_parameter_vectors(method):
    f = getattr(LAND, method)
    for w in [
        np.zeros(P + 1),  # p mismatch
        np.zeros(P - 1),
        np.zeros((3, P + 1)),
        np.zeros((0, P)),  # empty batch
        np.zeros((1, 1, P)),  # 3-D
        0.0,
        "w",
        [np.zeros(P), np.zeros(P - 1)],  # ragged
        np.full(P, 1j),
    ]:
        with raises("w"):
            f(w)
    for bad in BAD:
        w = W0.copy()
        w[3] = bad
        with raises("w"):
            f(w)
        with raises("w"):
            f(np.stack([W0, w]))


def test_hvp_vectors():
    for v in [np.zeros(P + 1), np.zeros((2, P)), np.zeros((1, 1, P)), "v"]:
        with raises("v"):
            LAND.hvp(W0, v)
    with raises("v"):
        LAND.hvp(np.stack([W0, W0]), np.zeros(P))
    with raises("v"):
        LAND.hvp(np.stack([W0, W0]), np.zeros((3, P)))
    for bad in BAD:
        v = np.zeros(P)
        v[0] = bad
        with raises("v"):
            LAND.hvp(W0, v)
        w = W0.copy()
        w[0] = bad
        with raises("w"):
            LAND.hvp(w, np.zeros(P))
