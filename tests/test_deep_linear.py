"""Deep linear networks with weight decay: Hessian at zero, closed forms, the experiment."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastland as fl
from fastland.experiments.deep_linear import (
    DeepLinearResult,
    deep_linear,
    hessian_at_zero,
    theory_minimum,
)


def linear_net(depth, width=2, n_in=2, n_out=1):
    return fl.MLP(n_in, [width] * depth, n_out, activation="linear", loss="mse", bias=False)


def whitened(n=12, d=2, s=1.7, seed=0, scale=1.0):
    """Inputs with X^T X / n = s I exactly, targets random."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    X = np.sqrt(n * s) * Q
    y = scale * (X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n))
    return fl.Dataset(X, y)


def chain(net, m):
    """Balanced rank-one weights with product m (each layer norm |m|^(1/L))."""
    t = np.linalg.norm(m)
    L = len(net.hidden) + 1
    a = t ** (1.0 / L)
    u = np.zeros(net.hidden[0])
    u[0] = 1.0
    layers = [(a * np.outer(u, m / t), None)]
    for h in net.hidden[1:]:
        v = np.zeros(h)
        v[0] = 1.0
        layers.append((a * np.outer(v, u), None))
        u = v
    layers.append((a * u[None, :], None))
    return net.flatten(layers)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("n_out", [1, 2])
@pytest.mark.parametrize("lam", [0.0, 0.37])
def test_hessian_at_zero_matches_the_hand_derived_expression(depth, n_out, lam):
    rng = np.random.default_rng(depth + 10 * n_out)
    X = rng.standard_normal((9, 3))
    Y = rng.standard_normal((9, n_out))
    data = fl.Dataset(X, Y if n_out > 1 else Y[:, 0])
    net = linear_net(depth, width=2, n_in=3, n_out=n_out)
    land = fl.Landscape(net, data, weight_decay=lam)
    H = land.hessian(np.zeros(net.n_params))
    # hand-derived: lambda I, plus -2 C[k, i] between W1[j, i] and W2[k, j] for one hidden layer
    want = lam * np.eye(net.n_params)
    if depth == 1:
        C = Y.T @ X / 9
        idx = net.unflatten(np.arange(net.n_params, dtype=float))
        I1, I2 = idx[0][0].astype(int), idx[1][0].astype(int)
        for j in range(2):
            for i in range(3):
                for k in range(n_out):
                    want[I1[j, i], I2[k, j]] = want[I2[k, j], I1[j, i]] = -2 * C[k, i]
        smallest = lam - 2 * np.linalg.svd(C, compute_uv=False)[0]
        assert_allclose(np.linalg.eigvalsh(H)[0], smallest, atol=1e-12)
    assert_allclose(H, want, atol=1e-14)
    assert_allclose(hessian_at_zero(net, data, lam), want, atol=0)


@pytest.mark.parametrize("lam", [0.05, 0.8, 1.9])
def test_one_hidden_layer_closed_form_whitened(lam):
    data = whitened(s=1.7)
    X, y = data.X, data.y
    c = X.T @ y / X.shape[0]
    cn = np.linalg.norm(c)
    yy = np.mean(y**2)
    th = theory_minimum(data, 1, lam)
    if lam >= 2 * cn:
        assert th.zero_is_global and th.loss == pytest.approx(yy, rel=1e-14)
        return
    t = (cn - lam / 2) / 1.7  # explicit for S = s I
    assert_allclose(th.t, t, rtol=1e-12)
    assert_allclose(th.m, t * c / cn, rtol=1e-12)
    assert_allclose(th.loss, yy - (cn - lam / 2) ** 2 / 1.7, rtol=1e-12)
    # the network at the balanced factorisation has that loss, zero gradient and a PSD Hessian
    net = linear_net(1)
    land = fl.Landscape(net, data, weight_decay=lam)
    w = chain(net, th.m)
    assert_allclose(land.loss(w), th.loss, rtol=1e-13)
    assert np.abs(land.grad(w)).max() < 1e-13
    assert np.linalg.eigvalsh(land.hessian(w))[0] > -1e-12


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_reduction_gives_critical_points_of_the_network(depth):
    rng = np.random.default_rng(depth)
    X = rng.standard_normal((20, 3)) * np.array([1.0, 0.5, 2.0])  # anisotropic inputs
    data = fl.Dataset(X, X @ np.array([1.0, -2.0, 0.5]) + 0.2 * rng.standard_normal(20))
    lam = 0.1
    th = theory_minimum(data, depth, lam)
    assert not th.zero_is_global
    net = linear_net(depth, n_in=3)
    land = fl.Landscape(net, data, weight_decay=lam)
    w = chain(net, th.m)
    assert_allclose(land.loss(w), th.loss, rtol=1e-12)
    assert np.abs(land.grad(w)).max() < 1e-10
    # and no random point does better
    W = rng.standard_normal((2000, net.n_params))
    assert land.loss(W).min() > th.loss


def test_one_hidden_layer_minimum_is_found_numerically():
    data = whitened(n=15, s=0.8, seed=3)
    c = data.X.T @ data.y / data.n
    cn = np.linalg.norm(c)
    lams = np.array([0.1, 0.6]) * 2 * cn
    res = deep_linear(depths=(1,), weight_decay=lams, data=data, runs=4, steps=400, seed=1)
    d = res[1]
    t = (cn - lams / 2) / 0.8  # the explicit closed form (S = 0.8 I), independent of theory_minimum
    want = np.mean(data.y**2) - (cn - lams / 2) ** 2 / 0.8
    assert_allclose(d.loss_found, want, rtol=1e-12)
    assert_allclose(d.m_found, t[:, None] * c[None] / cn, rtol=1e-7)
    assert (d.share_zero == 0).all() and not d.zero_is_local_min.any()


def test_experiment_returns_every_documented_field(tmp_path):
    res = deep_linear(
        depths=(1, 2), weight_decay=(0.05, 0.5, 3.0), runs=3, steps=150, n=12, seed=2, out_dir=tmp_path, figures=True
    )
    assert isinstance(res, DeepLinearResult)
    wd = res.weight_decay
    assert wd.tolist() == [0.05, 0.5, 3.0]
    for d in res.depths:
        for name in (
            "loss_found",
            "loss_theory",
            "m_error",
            "share_global",
            "share_zero",
            "zero_min_eig",
            "zero_min_eig_theory",
            "zero_hessian_error",
            "zero_is_local_min",
            "zero_is_global",
        ):
            assert getattr(d, name).shape == (3,), name
        assert d.m_found.shape == d.m_theory.shape == (3, 2)
        assert d.final_loss.shape == (3, 3)
        assert_allclose(d.zero_min_eig, d.zero_min_eig_theory, atol=1e-12)
        assert (d.zero_hessian_error < 1e-13).all()
        assert (d.loss_found >= d.loss_theory - 1e-10).all()  # nothing below the global minimum
        assert d.threshold > 0
    assert_allclose(res[2].zero_min_eig, wd, rtol=1e-12)  # H(0) = lambda I with two hidden layers
    assert res[2].zero_is_local_min.all()
    assert res[1].zero_is_local_min.tolist() == (wd > 2 * res.c_norm).tolist()
    assert res[1].threshold == pytest.approx(2 * res.c_norm)
    assert res[2].threshold < res[1].threshold
    # the table has one row per depth and weight decay; the report carries the verdict
    assert len(res.table().splitlines()) == 2 + 2 * 3
    assert res.verdict in res.report()
    # the verdict states what the stored numbers show: found minima against the theory (to 1e-8),
    # w = 0 a local minimum at depth 1 exactly above 2|c|, and a bad one only at depth 2
    for d in res.depths:
        worst = np.nanmax(np.abs(d.loss_found - d.loss_theory))
        match = "match" if worst <= 1e-8 * (1 + np.abs(d.loss_theory).max()) else "do not match"
        assert f"depth {d.depth}: the numerical global minima {match} the theory" in res.verdict
    assert "global (as derived)" in res.verdict
    bad = {d.depth: bool((d.zero_is_local_min & ~d.zero_is_global).any()) for d in res.depths}

    # the label by the documented rule, from the stored numbers: "mismatch" when a depth's minima
    # miss the theory (by > 1e-8 (1 + max |U*|), or below it) or depth 1 disagrees with the 2|c|
    # threshold or has a bad zero; else "confirmed" when w = 0 is a bad minimum at depth 2
    def misses(d):
        worst = np.nanmax(np.abs(d.loss_found - d.loss_theory))
        below = np.any(d.loss_found < d.loss_theory - 1e-9 * (1 + np.abs(d.loss_theory)))
        return worst > 1e-8 * (1 + np.abs(d.loss_theory).max()) or below

    d1 = next(d for d in res.depths if d.depth == 1)
    mismatch = any(misses(d) for d in res.depths) or bad[1]
    mismatch |= not np.all(d1.zero_is_local_min == (wd > 2 * res.c_norm))
    expected = "mismatch" if mismatch else ("confirmed" if bad[2] else "not_shown")
    assert res.verdict_label == expected
    json.dumps(res.to_dict())
    names = {p.split("/")[-1] for p in res.files}
    assert {
        "deep_linear.h5",
        "deep_linear.json",
        "report.md",
        "deep_linear_loss.png",
        "deep_linear_zero.png",
    } <= names
    with h5py.File(tmp_path / "deep_linear.h5", "r") as f:
        assert f.attrs["format"] == "fastland.deep_linear"
        assert_allclose(f["depth_2/loss_found"][:], res[2].loss_found)
        assert_allclose(f["weight_decay"][:], wd)
        assert_allclose(res.loss_at_zero, np.mean(f["y"][:] ** 2), rtol=1e-14)  # U(0) = <y^2>
        X, y = f["X"][:], f["y"][:]
    assert_allclose(res.c_norm, np.linalg.norm(X.T @ y / len(y)), rtol=1e-14)


def test_bad_inputs():
    with pytest.raises(ValueError, match="depths"):
        deep_linear(depths=(0,))
    with pytest.raises(ValueError, match="weight_decay"):
        deep_linear(weight_decay=(-1.0,))
    with pytest.raises(ValueError, match="runs"):
        deep_linear(runs=0)
    with pytest.raises(ValueError, match="net"):
        hessian_at_zero(fl.MLP(2, [2], 1, loss="mse"), fl.Dataset(np.zeros((2, 2)), np.zeros(2)), 0.1)
