"""MLP: structure, spec round trip, repr, init, flatten/unflatten, predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastland as fl
from fastland import MLP

CONFIGS = [
    dict(n_in=2, hidden=[2, 2], n_out=2),
    dict(n_in=2, hidden=[], n_out=1, activation="linear", loss="mse"),
    dict(n_in=3, hidden=[4, 1, 2], n_out=3, activation="relu", loss="softmax_xent", bias=False),
    dict(n_in=1, hidden=[5], n_out=1, activation="sigmoid", loss="bce"),
    dict(n_in=2, hidden=[3], n_out=2, activation="quadratic", loss="mse", bias=False),
    dict(n_in=4, hidden=[2, 3], n_out=2, activation="softplus", loss="mse"),
]


def _count(n_in, hidden, n_out, bias=True, **_):
    widths = [n_in, *hidden, n_out]
    return sum(o * i + (o if bias else 0) for i, o in zip(widths[:-1], widths[1:], strict=True))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_structure(cfg):
    net = MLP(**cfg)
    assert net.widths == (cfg["n_in"], *cfg["hidden"], cfg["n_out"])
    assert net.n_params == _count(**cfg)
    bias = cfg.get("bias", True)
    for (o, _), b in net.layer_shapes:
        assert (b == (o,)) if bias else (b is None)
    assert [s[0] for s in net.layer_shapes] == [(o, i) for i, o in zip(net.widths[:-1], net.widths[1:], strict=True)]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_spec_round_trip_through_json(cfg):
    net = MLP(**cfg)
    spec = net.spec()
    assert set(spec) == {"n_in", "hidden", "n_out", "activation", "loss", "bias"}
    text = json.dumps(spec)
    again = MLP.from_spec(text)
    assert again == net and hash(again) == hash(net)
    assert MLP.from_spec(json.loads(text)) == net
    assert again.spec() == spec
    assert again.n_params == net.n_params
    assert_array_equal(again._arch(), net._arch())


def test_defaults_and_equality():
    net = MLP(2, [2, 2], 2)
    assert (net.activation, net.loss, net.bias) == ("tanh", "softmax_xent", True)
    assert net == MLP(2, (2, 2), 2) == MLP(2, np.array([2, 2]), 2)
    assert net.hidden == (2, 2)
    assert net != MLP(2, [2, 2], 2, bias=False)
    assert net != MLP(2, [2, 2], 2, activation="relu")
    assert net != "MLP(2, [2, 2], 2)"
    assert len({net, MLP(2, [2, 2], 2), MLP(2, [2], 2)}) == 2


def test_repr():
    net = MLP(2, [2, 2], 2)
    assert repr(net) == "MLP(2, [2, 2], 2, activation='tanh', loss='softmax_xent', bias=True)"
    for cfg in CONFIGS:
        net = MLP(**cfg)
        assert eval(repr(net), {"MLP": MLP}) == net


# --------------------------------------------------------------------------- init


@pytest.mark.parametrize("method", ["glorot", "uniform", "normal"])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_init_shapes_and_reproducibility(cfg, method):
    net = MLP(**cfg)
    p = net.n_params
    w = net.init(method=method, seed=3)
    assert w.shape == (p,) and w.dtype == np.float64
    W = net.init(5, method=method, seed=3)
    assert W.shape == (5, p)
    assert_array_equal(net.init(method=method, seed=3), w)
    assert_array_equal(net.init(5, method=method, seed=3), W)
    assert not np.array_equal(net.init(5, method=method, seed=4), W)
    assert net.init(1, method=method, seed=3).shape == (1, p)
    assert np.all(np.isfinite(W))


@pytest.mark.parametrize("scale", [1.0, 0.5, 3.0])
def test_glorot_bounds_and_zero_biases(scale):
    net = MLP(3, [4, 2], 5, activation="tanh", loss="softmax_xent", bias=True)
    W = net.init(4000, method="glorot", scale=scale, seed=1)
    for (Wk, bk), ((o, i), _) in zip(net.unflatten(W), net.layer_shapes, strict=True):
        lim = scale * np.sqrt(6.0 / (i + o))
        assert np.all(np.abs(Wk) <= lim)
        assert np.abs(Wk).max() > 0.99 * lim  # fills the interval
        assert abs(Wk.mean()) < 0.05 * lim
        assert_array_equal(bk, 0.0)


def test_uniform_and_normal_scales():
    net = MLP(2, [3], 2)
    U = net.init(3000, method="uniform", scale=2.5, seed=0)
    assert np.all(np.abs(U) <= 2.5) and np.abs(U).max() > 2.49
    assert np.abs(U[:, 6:9]).max() > 0  # biases are drawn too
    N = net.init(3000, method="normal", scale=0.3, seed=0)
    assert N.std() == pytest.approx(0.3, rel=0.02)


# ------------------------------------------------------------ flatten / unflatten


@pytest.mark.parametrize("cfg", CONFIGS)
def test_flatten_unflatten_round_trip(cfg):
    net = MLP(**cfg)
    w = np.random.default_rng(0).normal(size=net.n_params)
    layers = net.unflatten(w)
    assert len(layers) == len(net.layer_shapes)
    for (W, b), ((o, i), bshape) in zip(layers, net.layer_shapes, strict=True):
        assert W.shape == (o, i)
        assert (b is None) if bshape is None else (b.shape == bshape)
    assert_array_equal(net.flatten(layers), w)
    # order: per layer W row-major, then b
    pos = 0
    for W, b in layers:
        assert_array_equal(W.ravel(), w[pos : pos + W.size])
        pos += W.size
        if b is not None:
            assert_array_equal(b, w[pos : pos + b.size])
            pos += b.size
    assert pos == net.n_params


def test_unflatten_batches_and_views():
    net = MLP(2, [3], 2)
    Wb = np.random.default_rng(1).normal(size=(4, 5, net.n_params))
    layers = net.unflatten(Wb)
    assert layers[0][0].shape == (4, 5, 3, 2) and layers[0][1].shape == (4, 5, 3)
    assert layers[1][0].shape == (4, 5, 2, 3) and layers[1][1].shape == (4, 5, 2)
    for b in range(4):
        for j in range(5):
            single = net.unflatten(Wb[b, j])
            for (W1, c1), (W2, c2) in zip(single, layers, strict=True):
                assert_array_equal(W1, W2[b, j])
                assert_array_equal(c1, c2[b, j])
    w = np.zeros(net.n_params)
    net.unflatten(w)[1][1][:] = 7.0  # views: writes go through
    assert_array_equal(w[-2:], 7.0)
    assert_array_equal(w[:-2], 0.0)


# ----------------------------------------------------------------------- predict


def test_predict_matches_numpy_and_batches():
    net = MLP(2, [3, 2], 2, activation="tanh", loss="softmax_xent")
    X = np.random.default_rng(2).uniform(-1, 1, size=(9, 2))
    W = net.init(3, method="uniform", seed=5)
    out = net.predict(W, X)
    assert out.shape == (3, 9, 2)
    for b, w in enumerate(W):
        (W1, b1), (W2, b2), (W3, b3) = net.unflatten(w)
        ref = np.tanh(np.tanh(X @ W1.T + b1) @ W2.T + b2) @ W3.T + b3
        assert_allclose(net.predict(w, X), ref, rtol=1e-14, atol=1e-15)
        assert_array_equal(out[b], net.predict(w, X))
    land = fl.Landscape(net, fl.Dataset(X, np.zeros(9)))
    assert_array_equal(land.predict(W), out)
