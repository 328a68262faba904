"""Values and derivatives that are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit

import fastland as fl

ACTIVATIONS = ["tanh", "sigmoid", "relu", "softplus", "linear", "quadratic"]
LOSSES = ["mse", "bce", "softmax_xent"]


# ------------------------------------------------------------------ teacher-student
# ts, student_lands: tests/conftest.py


def test_teacher_is_a_global_minimum(ts, student_lands):
    assert len(ts.data) == 1681
    assert ts.teacher.spec() == ts.student(4).spec()
    land = student_lands[4]
    assert land.loss(ts.teacher_params) <= 1e-15
    assert np.max(np.abs(land.grad(ts.teacher_params))) <= 1e-15
    # at zero residuals the mse Hessian is the Gauss-Newton matrix, positive semi-definite
    H = land.hessian(ts.teacher_params)
    G = land.gauss_newton(ts.teacher_params)
    assert_allclose(H, G, rtol=0, atol=1e-13 * np.abs(H).max())
    assert np.linalg.eigvalsh(H).min() > -1e-12


def _split_teacher(ts, neuron: int, alpha: float) -> np.ndarray:
    """Width-5 student: neuron duplicated, its outgoing weight split alpha : 1 - alpha."""
    (W, _), (a, _) = ts.teacher.unflatten(ts.teacher_params)
    a = a[0]
    W5 = np.vstack([W, W[neuron]])
    a5 = np.append(a, (1 - alpha) * a[neuron])
    a5[neuron] = alpha * a[neuron]
    student = ts.student(5)
    return student.flatten([(W5, None), (a5[None, :], None)])


@pytest.mark.parametrize("neuron, alpha", [(0, 0.5), (1, 0.5), (2, 0.25), (3, -1.5)])
def test_split_neuron_is_a_zero_loss_point_where_hessian_equals_gauss_newton(ts, student_lands, neuron, alpha):
    student = ts.student(5)
    assert student.n_params == 15
    w = _split_teacher(ts, neuron, alpha)
    land = student_lands[5]
    assert land.loss(w) <= 1e-15
    assert np.max(np.abs(land.grad(w))) <= 1e-14
    H = land.hessian(w)
    G = land.gauss_newton(w)
    assert_allclose(H, G, rtol=0, atol=1e-12 * np.abs(H).max())
    # the split direction (move outgoing weight between the copies) is flat: H d = 0
    d = np.zeros(student.n_params)
    d[10 + neuron], d[10 + 4] = 1.0, -1.0
    assert np.max(np.abs(land.hvp(w, d))) <= 1e-13 * np.abs(H).max()


def test_teacher_labels_by_formula(ts):
    X = ts.data.X
    W = np.array([[0.6, 0.5], [-0.5, 0.5], [-0.2, -0.6], [0.1, -0.6]])
    a = np.array([1.0, -1.0, 1.0, -1.0])
    assert_allclose(ts.data.y, expit(X @ W.T) @ a, rtol=0, atol=1e-15)
    assert_allclose(ts.teacher.predict(ts.teacher_params, X)[:, 0], ts.data.y, rtol=0, atol=1e-15)


# -------------------------------------------------------------------- linear networks


def _linear_problem(seed, n, d, k):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = rng.normal(size=(n, k))
    return X, Y


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n, d, k", [(1, 1, 1), (7, 2, 3), (257, 3, 2), (300, 2, 1)])
def test_linear_regression_loss_grad_hessian_closed_form(n, d, k, bias):
    X, Y = _linear_problem(n + d + k, n, d, k)
    net = fl.MLP(d, [], k, activation="linear", loss="mse", bias=bias)
    assert net.n_params == k * d + (k if bias else 0)
    land = fl.Landscape(net, fl.Dataset(X, Y if k > 1 else Y[:, 0]))
    Phi = np.hstack([X, np.ones((n, 1))]) if bias else X
    S = Phi.T @ Phi / n  # second moments
    C = Phi.T @ Y / n
    c0 = np.mean(np.sum(Y * Y, axis=1))
    # fastland order: A (k x d, row-major) then b (k); column-major vec(M), M = [A b], is the
    # order where kron(S, I_k) is the Hessian
    perm = np.empty(Phi.shape[1] * k, dtype=int)
    for col in range(Phi.shape[1]):
        for r in range(k):
            perm[col * k + r] = r * d + col if col < d else k * d + r
    H_closed = np.zeros((net.n_params,) * 2)
    H_closed[np.ix_(perm, perm)] = 2.0 * np.kron(S, np.eye(k))
    for seed in range(3):
        w = np.random.default_rng(seed).normal(size=net.n_params)
        A = w[: k * d].reshape(k, d)
        M = np.hstack([A, w[k * d :, None]]) if bias else A
        loss = np.trace(M @ S @ M.T) - 2 * np.trace(M @ C) + c0
        direct = np.mean(np.sum((X @ A.T + (w[k * d :] if bias else 0) - Y) ** 2, axis=1))
        assert land.loss(w) == pytest.approx(loss, rel=1e-10)
        assert land.loss(w) == pytest.approx(direct, rel=1e-12)
        GM = 2 * (M @ S - C.T)
        grad = np.concatenate([GM[:, :d].ravel(), GM[:, d]]) if bias else GM.ravel()
        assert_allclose(land.grad(w), grad, rtol=1e-10, atol=1e-12)
        assert_allclose(land.hessian(w), H_closed, rtol=1e-12, atol=1e-14)
        assert_allclose(land.gauss_newton(w), H_closed, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("n", [5, 257])
def test_linear_one_hidden_layer_closed_form(n, m):
    d, k = 2, 2
    X, Y = _linear_problem(10 * n + m, n, d, k)
    net = fl.MLP(d, [m], k, activation="linear", loss="mse", bias=True)
    land = fl.Landscape(net, fl.Dataset(X, Y))
    Phi = np.hstack([X, np.ones((n, 1))])
    S, C, c0 = Phi.T @ Phi / n, Phi.T @ Y / n, np.mean(np.sum(Y * Y, axis=1))
    p = net.n_params
    assert p == m * d + m + k * m + k

    def parts(w):
        W1 = w[: m * d].reshape(m, d)
        b1 = w[m * d : m * d + m]
        W2 = w[m * d + m : m * d + m + k * m].reshape(k, m)
        b2 = w[m * d + m + k * m :]
        P = np.hstack([W1, b1[:, None]])  # (m, d + 1)
        return P, W2, b2

    def end_to_end(w):  # M = W2 [W1 b1] + [0 b2]
        P, W2, b2 = parts(w)
        M = W2 @ P
        M[:, d] += b2
        return M

    def flat(dP, dW2, db2):
        return np.concatenate([dP[:, :d].ravel(), dP[:, d], dW2.ravel(), db2])

    for seed in range(3):
        w = np.random.default_rng(seed).normal(size=p)
        P, W2, b2 = parts(w)
        M = end_to_end(w)
        loss = np.trace(M @ S @ M.T) - 2 * np.trace(M @ C) + c0
        assert land.loss(w) == pytest.approx(loss, rel=1e-10)
        GM = 2 * (M @ S - C.T)  # dL/dM
        grad = flat(W2.T @ GM, GM @ P.T, GM[:, d])
        assert_allclose(land.grad(w), grad, rtol=1e-10, atol=1e-12)
        # Hessian from the bilinear form d2L(u, v) = 2 tr(dM_u S dM_v^T) + <GM, d2M(u, v)>,
        # with dM_u = dW2_u P + W2 dP_u + [0 db2_u] and d2M(u, v) = dW2_u dP_v + dW2_v dP_u
        dP, dW2, dM = [], [], []
        for e in np.eye(p):
            Pu, W2u, b2u = parts(e)
            dMu = W2u @ P + W2 @ Pu
            dMu[:, d] += b2u
            dP.append(Pu)
            dW2.append(W2u)
            dM.append(dMu)
        H = np.empty((p, p))
        for i in range(p):
            for j in range(p):
                second = dW2[i] @ dP[j] + dW2[j] @ dP[i]
                H[i, j] = 2 * np.trace(dM[i] @ S @ dM[j].T) + np.sum(GM * second)
        assert_allclose(land.hessian(w), H, rtol=1e-10, atol=1e-11 * np.abs(H).max())


# ------------------------------------------------------------------ simple closed forms


@pytest.mark.parametrize("n_out", [2, 3, 5])
def test_zero_weights_softmax_loss_is_log_classes(n_out):
    data = fl.datasets.random_labels(n=11, seed=3, n_classes=n_out)
    net = fl.MLP(2, [3], n_out, activation="tanh", loss="softmax_xent")
    land = fl.Landscape(net, data)
    w = np.zeros(net.n_params)
    assert land.loss(w) == pytest.approx(np.log(n_out), rel=1e-15)
    # gradient: only the output bias moves, towards the class frequencies
    g = land.grad(w)
    freq = np.bincount(data.class_labels(), minlength=n_out) / data.n
    assert_allclose(g[-n_out:], 1.0 / n_out - freq, rtol=0, atol=1e-15)
    assert_array_equal(g[:-n_out], 0.0)


def test_zero_weights_bce_loss_is_log2():
    data = fl.Dataset(np.random.default_rng(0).normal(size=(9, 2)), np.array([0, 1, 1, 0, 1, 1, 1, 0, 1.0]))
    net = fl.MLP(2, [3], 1, activation="sigmoid", loss="bce")
    land = fl.Landscape(net, data)
    w = np.zeros(net.n_params)
    assert land.loss(w) == pytest.approx(np.log(2.0), rel=1e-15)
    assert land.grad(w)[-1] == pytest.approx(0.5 - 6 / 9, rel=1e-14)


def test_seed_001_network_has_18_parameters(seed001_data, seed001):
    net = fl.MLP(2, [2, 2], 2, activation="tanh", loss="softmax_xent")
    assert net.n_params == 18
    assert seed001.net == net  # the shared fixture is seed 001's network (the defaults of MLP)
    assert [s for s in net.layer_shapes] == [((2, 2), (2,)), ((2, 2), (2,)), ((2, 2), (2,))]
    land = fl.Landscape(net, seed001_data.rotate(120))
    assert land.hessian(net.init(seed=0)).shape == (18, 18)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "quadratic"])
@pytest.mark.parametrize("m", [1, 2, 5, 7])
def test_student_layout_is_W_then_a(m, activation):
    net = fl.MLP(2, [m], 1, activation=activation, loss="mse", bias=False)
    assert net.n_params == 3 * m
    w = np.random.default_rng(m).normal(size=3 * m)
    (W, b1), (a, b2) = net.unflatten(w)
    assert b1 is None and b2 is None
    assert_array_equal(W, w[: 2 * m].reshape(m, 2))
    assert_array_equal(a, w[2 * m :][None, :])
    assert_array_equal(net.flatten(net.unflatten(w)), w)
    act = {"sigmoid": expit, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "quadratic": np.square}
    X = np.random.default_rng(0).uniform(-2, 2, size=(13, 2))
    expected = act[activation](X @ w[: 2 * m].reshape(m, 2).T) @ w[2 * m :]
    assert_allclose(net.predict(w, X)[:, 0], expected, rtol=1e-13, atol=1e-14)


# ------------------------------------------------------------------------ symmetries


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_permuting_hidden_neurons_permutes_derivatives(activation):
    net = fl.MLP(2, [4], 3, activation=activation, loss="softmax_xent", bias=True)
    land = fl.Landscape(net, fl.datasets.random_labels(n=30, seed=1, n_classes=3))
    w = net.init(seed=2, method="uniform")
    perm = np.array([2, 0, 3, 1])
    (W1, b1), (W2, b2) = net.unflatten(w)
    wp = net.flatten([(W1[perm], b1[perm]), (W2[:, perm], b2)])
    # the same permutation applied to the parameter indices: wp = w[idx]
    (I1, c1), (I2, c2) = net.unflatten(np.arange(net.n_params, dtype=float))
    idx = net.flatten([(I1[perm], c1[perm]), (I2[:, perm], c2)]).astype(int)
    assert_array_equal(wp, w[idx])
    assert land.loss(wp) == pytest.approx(land.loss(w), rel=1e-14)
    assert_allclose(land.grad(wp), land.grad(w)[idx], rtol=1e-12, atol=1e-15)
    assert_allclose(land.hessian(wp), land.hessian(w)[np.ix_(idx, idx)], rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------- large weights


def _dataset_for(loss, n_out, n=23):
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, size=(n, 2))
    if loss == "mse":
        return fl.Dataset(X, rng.normal(size=(n, n_out)))
    return fl.Dataset(X, rng.integers(0, 2, size=n).astype(float))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_finite_at_large_weights(activation, loss, bias):
    n_out = 1 if loss == "bce" else 2
    depths = [1] if activation == "quadratic" else [1, 2, 3]
    for depth in depths:
        net = fl.MLP(2, [3] * depth, n_out, activation=activation, loss=loss, bias=bias)
        land = fl.Landscape(net, _dataset_for(loss, n_out))
        rng = np.random.default_rng(depth)
        W = 1e3 * rng.choice([-1.0, 1.0], size=(3, net.n_params))
        losses, grads = land.loss_and_grad(W)
        for name, value in [
            ("loss", losses),
            ("grad", grads),
            ("hessian", land.hessian(W)),
            ("hvp", land.hvp(W, np.ones_like(W))),
            ("gauss_newton", land.gauss_newton(W)),
            ("single hessian", land.hessian(W[0])),
        ]:
            assert np.all(np.isfinite(value)), (name, depth)
        assert np.all(losses >= 0)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "relu"])
def test_saturated_classifier_losses_are_accurate(activation):
    # one point, no hidden layer: logits are known exactly; losses must not overflow
    X = np.array([[1.0, 0.0]])
    net = fl.MLP(2, [], 2, activation=activation, loss="softmax_xent")
    land = fl.Landscape(net, fl.Dataset(X, [0.0]))
    w = np.array([-1e3, 0.0, 1e3, 0.0, 0.0, 0.0])  # logits (-1000, 1000), label 0
    assert land.loss(w) == pytest.approx(2000.0, rel=1e-15)
    assert_allclose(land.grad(w), [-1, 0, 1, 0, -1, 1], atol=1e-300)  # softmax - onehot
    bce = fl.MLP(2, [], 1, activation=activation, loss="bce")
    lb = fl.Landscape(bce, fl.Dataset(X, [1.0]))
    assert lb.loss(np.array([-1e3, 0.0, 0.0])) == pytest.approx(1e3, rel=1e-15)
    assert lb.loss(np.array([1e3, 0.0, 0.0])) == 0.0
    assert_allclose(lb.grad(np.array([-1e3, 0.0, 0.0])), [-1, 0, -1], atol=1e-300)
