"""fl.experiments.degeneracy: Hessian nullity at zero-loss and other minima (seed 003's Bezout argument).

The hand-derived ranks used below (square loss, zero residuals, so H = (2/N) J^T J):

- linear network x -> A B x (B: m x d, A: k x m, no biases, m >= k, A of full row rank):
  the tangent space of the products is every k x d matrix D, and J maps D to (D x_i)_i, so
  rank J = k * rank(X) = k * min(N, d); nullity = M - k min(N, d), M = m d + k m.
- quadratic network x -> sum_j a_j (w_j . x)^2 = x^T S x in d = 2 inputs (no biases, m >= 2 neurons
  with w_j spanning R^2): the tangent space is every symmetric 2 x 2 matrix (3 dimensions), and J maps
  dS to (x_i^T dS x_i)_i, so rank J = min(N, 3); nullity = M - min(N, 3), M = 3 m.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import fastland as fl
from fastland.experiments.degeneracy import (
    ConfigResult,
    DegeneracyResult,
    Nullity,
    degeneracy,
    function_null,
    hessian_nullity,
    jacobian,
)


def _zero_loss_point(net, N, seed):
    """A landscape whose targets are the network's own outputs at w0: w0 has loss exactly 0."""
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=net.n_params)
    X = rng.uniform(-1, 1, size=(N, net.n_in))
    y = net.predict(w0, X)
    land = fl.Landscape(net, fl.Dataset(X, y if net.n_out > 1 else y.ravel()))
    return land, w0


@pytest.mark.parametrize(
    "d, m, k, N",
    [(4, 3, 2, 3), (2, 3, 2, 5), (3, 2, 1, 2), (3, 4, 2, 7)],
)
def test_linear_network_nullity_matches_hand_rank(d, m, k, N):
    net = fl.MLP(d, [m], k, activation="linear", loss="mse", bias=False)
    land, w0 = _zero_loss_point(net, N, seed=d + 10 * m + N)
    assert land.loss(w0) < 1e-28
    M = m * d + k * m
    expected = M - k * min(N, d)
    nl = hessian_nullity(land, w0, zero_loss=True)
    assert isinstance(nl, Nullity)
    assert int(nl.nullity[0]) == expected
    assert int(nl.rank_gn[0]) == k * min(N, d)
    assert nl.gap[0] > 3  # decades between the null and the non-null eigenvalues
    # where N <= d, the Bezout count M - N k is exact; otherwise the nullity exceeds it
    assert (int(nl.nullity[0]) == M - N * k) == (N <= d)


@pytest.mark.parametrize("m, N", [(3, 2), (3, 5), (4, 3), (2, 6)])
def test_quadratic_network_nullity_matches_hand_rank(m, N):
    net = fl.MLP(2, [m], 1, activation="quadratic", loss="mse", bias=False)
    land, w0 = _zero_loss_point(net, N, seed=m + 10 * N)
    nl = hessian_nullity(land, w0, zero_loss=True)
    assert int(nl.nullity[0]) == 3 * m - min(N, 3)
    assert int(nl.rank_gn[0]) == min(N, 3)
    assert nl.gap[0] > 3  # the null eigenvalues sit at rounding level, far below the rest


def test_nullity_batch_and_default_zero_loss():
    net = fl.MLP(2, [3], 1, activation="quadratic", loss="mse", bias=False)
    land, w0 = _zero_loss_point(net, 2, seed=1)
    far = w0 + 0.3
    nl = hessian_nullity(land, np.stack([w0, far]))
    assert nl.nullity.shape == nl.tol.shape == nl.gap.shape == nl.symmetry.shape == (2,)
    assert nl.eigenvalues.shape == (2, 9)
    assert list(nl.zero_loss) == [True, False]  # detected from the loss
    ev = np.linalg.eigvalsh(land.hessian(w0))
    np.testing.assert_allclose(nl.eigenvalues[0], ev, rtol=1e-10, atol=1e-13 * np.abs(ev).max())
    assert np.all(nl.tol > 0) and np.all(nl.hessian_norm > 0)
    with pytest.raises(ValueError, match="points"):
        hessian_nullity(land, np.ones(4))


def test_jacobian_against_finite_differences():
    net = fl.MLP(3, [4], 2, activation="tanh", loss="mse", bias=True)
    rng = np.random.default_rng(0)
    w = rng.normal(size=net.n_params)
    X = rng.uniform(-1, 1, size=(7, 3))
    J = jacobian(net, w, X)
    assert J.shape == (7 * 2, net.n_params)
    h = 1e-6
    cols = [(net.predict(w + h * e, X) - net.predict(w - h * e, X)).ravel() / (2 * h) for e in np.eye(net.n_params)]
    np.testing.assert_allclose(J, np.array(cols).T, atol=1e-8)


def test_function_null_counts_continuous_symmetries():
    rng = np.random.default_rng(2)
    # quadratic, 2 inputs, no bias: the function is x^T S x, S symmetric 2 x 2: 3 m - 3 null directions
    net = fl.MLP(2, [3], 1, activation="quadratic", loss="mse", bias=False)
    assert int(function_null(net, rng.normal(size=net.n_params))[0]) == 9 - 3
    # linear x -> A B x, A: 2 x 3, B: 3 x 4: products are all 2 x 4 matrices: 18 - 8 null directions
    net = fl.MLP(4, [3], 2, activation="linear", loss="mse", bias=False)
    assert int(function_null(net, rng.normal(size=net.n_params))[0]) == 18 - 8
    # tanh with biases at a generic point: no continuous symmetry
    net = fl.MLP(3, [4], 1, activation="tanh", loss="mse", bias=True)
    assert int(function_null(net, rng.normal(size=net.n_params))[0]) == 0
    # a dead tanh neuron (outgoing weight 0) frees its incoming weights and bias (3 + 1)
    w = rng.normal(size=net.n_params)
    (W1, b1), (W2, b2) = net.unflatten(w)
    W2[0, 1] = 0.0
    assert int(function_null(net, w)[0]) == 4


@pytest.fixture(scope="module")
def tiny():
    return degeneracy(configs=((2, 3), (1, 6)), activations=("tanh", "quadratic"), dim=2, runs=3, steps=300)


def test_tiny_run_fields(tiny):
    r = tiny
    assert isinstance(r, DegeneracyResult) and len(r.configs) == 4
    for c in r.configs:
        assert isinstance(c, ConfigResult)
        M = c.n_params
        assert c.points.shape == (3, M) and c.loss.shape == c.label.shape == c.kind.shape == (3,)
        assert c.bezout == M - c.n_points * c.n_out
        assert set(c.kind) <= {"zero_loss", "minimum", "saddle", "not_critical"}
        assert c.nullity.eigenvalues.shape == (3, M)
        s = c.summary()
        assert sum(s["counts"].values()) == 3
    assert r.zero_loss_points == sum(int((c.kind == "zero_loss").sum()) for c in r.configs)
    assert r.minima_points == sum(int((c.kind == "minimum").sum()) for c in r.configs)
    assert isinstance(r.consistent, bool) and isinstance(r.verdict, str) and r.verdict
    d = json.loads(json.dumps(r.to_dict()))
    assert len(d["configs"]) == 4 and d["verdict"] == r.verdict
    assert r.table().startswith("| act") and r.table() in r.report() and r.verdict in r.report()


def test_tiny_run_zero_loss_nullity_is_bezout(tiny):
    # tanh, width 2, 2 inputs, biases: M = 9 > N = 3; generic zero-loss points have rank J = N
    c = tiny.configs[0]
    assert (c.activation, c.width, c.n_points, c.n_params) == ("tanh", 2, 3, 9)
    z = c.kind == "zero_loss"
    assert z.any(), c.label
    assert np.all(c.loss[z] < 1e-20)
    np.testing.assert_array_equal(c.nullity.nullity[z], 9 - 3)
    assert tiny.consistent


def test_teacher_targets_linear(tmp_path):
    pytest.importorskip("matplotlib")
    r = degeneracy(configs=((3, 3),), activations=("linear",), dim=4, n_out=2, bias=False, targets="teacher",
                   runs=2, steps=300, out_dir=tmp_path, figures=True)  # fmt: skip
    c = r.configs[0]
    assert c.n_params == 18
    z = c.kind == "zero_loss"
    assert z.all(), c.label
    np.testing.assert_array_equal(c.nullity.nullity, 18 - 2 * 3)  # k min(N, d) = 6
    np.testing.assert_array_equal(c.nullity.function_null, 18 - 8)  # the products: all 2 x 4 matrices
    names = {p.name for p in tmp_path.iterdir()}
    assert {"degeneracy.h5", "degeneracy.json", "report.md", "spectrum_linear_m3_N3.png"} <= names
    with h5py.File(tmp_path / "degeneracy.h5", "r") as f:
        g = f["linear_m3_N3"]
        np.testing.assert_array_equal(g["nullity"][:], c.nullity.nullity)
        assert g.attrs["bezout"] == 18 - 6 and g["eigenvalues"].shape == (2, 18)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(configs=()), "configs"),
        (dict(configs=((0, 3),)), "configs"),
        (dict(configs=(3,)), "configs"),
        (dict(activations=("cubic",)), "activations"),
        (dict(targets="noise"), "targets"),
        (dict(runs=0), "runs"),
    ],
)
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        degeneracy(**{"configs": ((2, 3),), "runs": 1, "steps": 10, **kw})
