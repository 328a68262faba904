"""fastland.sharpness against closed forms and independent optimisers."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import minimize

import fastland as fl
from fastland.sharpness import Sharpness, sharpness, trust_region_max


def quadratic_landscape(p=3, n=7, seed=0):
    """U(w) = mean (x_i . w - y_i)^2: exactly quadratic, H = 2 X^T X / n."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * np.array([1.0, 0.3, 2.0][:p])
    y = rng.standard_normal(n)
    land = fl.Landscape(fl.MLP(p, [], 1, activation="linear", loss="mse", bias=False), fl.Dataset(X, y))
    return land, 2 * X.T @ X / n


def slsqp_max(fun, p, rho, starts):
    """max U(e) over |e| <= rho by SLSQP from several starts (an independent solver)."""
    best = -np.inf
    for e0 in starts:
        r = minimize(
            lambda e: -fun(e),
            e0,
            method="SLSQP",
            constraints=[{"type": "ineq", "fun": lambda e: rho**2 - e @ e}],
            options={"ftol": 1e-15, "maxiter": 500},
        )
        if r.x @ r.x <= rho**2 * (1 + 1e-9):
            best = max(best, -r.fun)
    return best


def test_quadratic_landscape_exact_values():
    land, H = quadratic_landscape()
    W = np.random.default_rng(1).standard_normal((5, 3))
    rho = 0.3
    s = sharpness(land, W, rho=rho)
    lam = np.linalg.eigvalsh(H)
    assert_allclose(s.top_eig, lam[-1], rtol=1e-12)
    assert_allclose(s.min_eig, lam[0], rtol=1e-10)
    assert_allclose(s.trace, np.trace(H), rtol=1e-12)
    L, G = land.loss_and_grad(W)
    assert_allclose(s.first_order, rho * np.linalg.norm(G, axis=1), rtol=1e-14)
    assert_allclose(s.sam_step, land.loss(W + rho * G / np.linalg.norm(G, axis=1)[:, None]) - L, rtol=1e-12)
    # U is quadratic: the model is exact, and an independent constrained optimiser agrees
    rng = np.random.default_rng(2)
    for b in range(W.shape[0]):
        want = slsqp_max(
            lambda e, b=b: land.loss(W[b] + e) - L[b],
            3,
            rho,
            [rho * G[b] / np.linalg.norm(G[b])] + list(0.5 * rho * rng.standard_normal((6, 3))),
        )
        assert_allclose(s.quadratic[b], want, rtol=1e-7)
        assert_allclose(s.refined[b], want, rtol=1e-7)
    assert_allclose(np.linalg.norm(s.direction, axis=1), rho, rtol=1e-12)
    assert (s.refined >= s.sam_step - 1e-15).all()


def test_at_a_minimum_the_worst_case_is_half_rho_squared_top_eig():
    land, H = quadratic_landscape(seed=4)
    X, y = land.data.X, land.data.y
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    s = sharpness(land, w_star, rho=0.01)
    assert isinstance(s, Sharpness) and np.ndim(s.top_eig) == 0
    top = np.linalg.eigvalsh(H)[-1]
    assert s.grad_norm < 1e-12 and s.first_order < 1e-13
    assert_allclose(s.quadratic, 0.5 * 0.01**2 * top, rtol=1e-9)
    assert_allclose(s.refined, 0.5 * 0.01**2 * top, rtol=1e-9)


def test_network_point_against_hessian_and_third_order():
    land = fl.Landscape(fl.MLP(2, [3], 2, activation="tanh"), fl.datasets.random_labels(n=9, seed=1))
    W = land.net.init(4, seed=3)
    H = land.hessian(W)
    lam = np.linalg.eigvalsh(H)
    for rho in (1e-3, 0.2):
        s = sharpness(land, W, rho=rho)
        assert_allclose(s.top_eig, lam[:, -1], rtol=1e-10)
        assert_allclose(s.trace, np.trace(H, axis1=1, axis2=2), rtol=1e-10)
        L = land.loss(W)
        # every value is a true increase at a point of the ball
        assert_allclose(s.refined, land.loss(W + s.direction) - L, rtol=1e-9, atol=1e-15)
        assert (np.linalg.norm(s.direction, axis=1) <= rho * (1 + 1e-12)).all()
        assert (s.refined >= s.sam_step - 1e-15).all()
        if rho == 1e-3:  # the quadratic model is accurate to O(rho^3)
            assert_allclose(s.refined, s.quadratic, rtol=1e-2)
        else:  # the ascent is at least as good as an independent optimiser from SAM's point
            for b in range(W.shape[0]):
                g = land.grad(W[b])
                want = slsqp_max(
                    lambda e, b=b, L=L: land.loss(W[b] + e) - L[b], land.n_params, rho, [rho * g / np.linalg.norm(g)]
                )
                assert s.refined[b] >= want - 1e-6 * abs(want)


@pytest.mark.parametrize(
    "lam, g, rho",
    [
        ([-2.0, -1.0], [0.1, 0.1], 1.0),  # negative definite: interior maximum
        ([-2.0, -1.0], [3.0, 1.0], 0.5),  # negative definite: on the boundary
        ([-1.0, 2.0], [1.0, 0.0], 1.0),  # hard case: g orthogonal to the top eigenvector
        ([-1.0, 0.5, 3.0], [0.2, -0.7, 0.4], 0.8),  # indefinite, generic
        ([0.0, 0.0], [0.0, 0.0], 1.0),  # nothing to gain
    ],
)
def test_trust_region_max_against_slsqp(lam, g, rho):
    lam = np.array(lam)
    g = np.array(g)
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((lam.size, lam.size)))
    H = Q @ np.diag(lam) @ Q.T
    gg = Q @ g
    value, e = trust_region_max(lam[None], Q[None], gg[None], rho)

    def model(x):
        return gg @ x + 0.5 * x @ H @ x

    starts = [np.zeros(lam.size)] + list(rho * rng.standard_normal((12, lam.size)) / np.sqrt(lam.size))
    want = slsqp_max(model, lam.size, rho, starts)
    assert_allclose(value[0], want, rtol=1e-7, atol=1e-12)
    assert_allclose(model(e[0]), value[0], rtol=1e-12, atol=1e-14)
    assert e[0] @ e[0] <= rho**2 * (1 + 1e-10)


def test_hard_case_closed_form():
    # H = diag(-1, 2), g = (1, 0), rho = 1: mu = 2, e1 = 1/3, e2 = sqrt(8/9); max = 1/3 - 1/18 + 8/9
    value, e = trust_region_max(np.array([[-1.0, 2.0]]), np.eye(2)[None], np.array([[1.0, 0.0]]), 1.0)
    assert_allclose(value[0], 1 / 3 - 1 / 18 + 8 / 9, rtol=1e-12)
    assert_allclose(np.abs(e[0]), [1 / 3, np.sqrt(8 / 9)], rtol=1e-12)


def test_bad_inputs_name_the_argument():
    land, _ = quadratic_landscape()
    with pytest.raises(ValueError, match="rho"):
        sharpness(land, np.zeros(3), rho=0.0)
    with pytest.raises(ValueError, match="points"):
        sharpness(land, np.zeros(4))
    with pytest.raises(ValueError, match="land"):
        sharpness("x", np.zeros(3))
    with pytest.raises(ValueError, match="ascent_steps"):
        sharpness(land, np.zeros(3), ascent_steps=-1)


def test_lanczos_agrees_with_the_exact_method():
    land = fl.Landscape(
        fl.MLP(4, [16, 8], 3, activation="tanh"), fl.datasets.random_labels(n=40, seed=1, dim=4, n_classes=3)
    )
    W = land.net.init(3, seed=2)
    a = sharpness(land, W, method="exact")
    b = sharpness(land, W, method="lanczos", lanczos_steps=40, probes=400, seed=3)
    assert a.method == "exact" and b.method == "lanczos" and land.n_params == 243
    assert_allclose(b.top_eig, a.top_eig, rtol=1e-8)  # extreme eigenvalues converge first
    assert_allclose(b.min_eig, a.min_eig, rtol=1e-8)
    assert (b.quadratic <= a.quadratic * (1 + 1e-10)).all()  # a Krylov subspace: a lower bound ...
    assert_allclose(b.quadratic, a.quadratic, rtol=1e-6)  # ... that is tight after 40 steps
    z = (b.trace - a.trace) / b.trace_stderr
    assert (np.abs(z) < 4).all() and (b.trace_stderr > 0).all()  # Hutchinson within its error
    # Rademacher probes: var(z^T H z) = 2 sum_{i != j} H_ij^2, so the standard error is known
    H = land.hessian(W)
    sd = np.sqrt(2 * (np.sum(H**2, axis=(1, 2)) - np.sum(np.diagonal(H, axis1=1, axis2=2) ** 2, axis=1)) / 400)
    assert_allclose(b.trace_stderr, sd, rtol=0.25)


def test_lanczos_breakdown_and_critical_points():
    land, H = quadratic_landscape(p=3)
    X, y = land.data.X, land.data.y
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    W = np.stack([w_star, w_star + 0.1])
    s = sharpness(land, W, rho=0.01, method="lanczos", lanczos_steps=10)  # more steps than p: breakdown
    lam = np.linalg.eigvalsh(H)
    assert_allclose(s.top_eig, lam[-1], rtol=1e-12)
    assert_allclose(s.min_eig, lam[0], rtol=1e-10)
    assert_allclose(s.quadratic[0], 0.5 * 0.01**2 * lam[-1], rtol=1e-9)  # g = 0: a random start
    exact = sharpness(land, W, rho=0.01, method="exact")
    assert_allclose(s.quadratic, exact.quadratic, rtol=1e-10)
    assert_allclose(s.refined, exact.refined, rtol=1e-9)
    with pytest.raises(ValueError, match="method"):
        sharpness(land, W, method="power")
