"""fastland.critical: refine, classify, escape / eps_sweep, certify.

References are closed forms and constructions whose nature is known without the
code under test:

- seed 004's teacher (a zero-loss, hence global, minimum) and students made from it
  by splitting a neuron (zero loss, with (k - 1)(n_in + n_out) zero Hessian
  eigenvalues: the null space of the Jacobian);
- a symmetry-induced saddle: a local minimum of the width-1 student split into two
  neurons. Along the incoming-weight direction (a_2 u, -a_1 u) the network output
  does not change to first order, and the Hessian's quadratic form there is
  alpha (1 - alpha) a^3 u^T S u with S = (2/N) sum_i r_i sigmoid''(z_i) x_i x_i^T
  (Fukumizu & Amari 2000), computed here with NumPy;
- tiny networks in closed form, at loss scales 1e-16 .. 1e16: f = a w x (linear)
  with U = (a w - s)^2, a strict saddle at 0 (eigenvalues +-2s) and global minima on
  a w = s; f = a (w x)^2 (quadratic) with U = (a w^2 + s)^2: a local non-global
  minimum at (w, a) = (0, a > 0) (eigenvalues 0 and 4 a s), a saddle for a < 0, and
  a degenerate point at 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit

import fastland as fl
import fastland.critical as critical
import fastland.symmetry as sym
from fastland import _activations as _act


# ------------------------------------------------------------------------- fixtures
# ts (seed 004's problem) and student_lands (its students by width): tests/conftest.py
@pytest.fixture(scope="module")
def width1_min(ts, student_lands):
    """The width-1 student's minimum (loss ~0.0776), polished with Newton."""
    r = critical.refine(student_lands[1], [2.5, 0.0, 0.3], method="trust-exact", polish=True)
    assert r.converged
    return r.points


def _S(ts, w1):
    X, y = ts.data.X, ts.data.y
    W, a = w1[:2], w1[2]
    z = X @ W
    s = expit(z)
    r = a * s - y
    d2 = s * (1 - s) * (1 - 2 * s)
    return 2.0 / len(y) * (X.T * (r * d2)) @ X


def _tiny(activation: str, s: float, dtype="float64"):
    net = fl.MLP(1, [1], 1, activation=activation, loss="mse", bias=False)  # params [w, a]
    y = s if activation == "linear" else -s
    return fl.Landscape(net, fl.Dataset([[1.0]], [y]), dtype=dtype)


# ---------------------------------------------------------------- teacher-student
def test_teacher_is_a_global_minimum(ts, student_lands):
    c = critical.classify(student_lands[4], ts.teacher_params, global_loss=0.0)
    assert c.label == "global_min"
    assert c.margin > 10
    assert c.n_zero == 0 and c.expected_null == 0 and c.n_negative == 0
    assert c.eigenvalues[0] > 0 and c.scaled_eigenvalues[0] > 100 * c.eig_tol
    # without a known global value, loss 0 (the bound every fastland loss has) suffices
    assert critical.classify(student_lands[4], ts.teacher_params).label == "global_min"


@pytest.mark.parametrize("neuron, ratios", [(0, (0.5, 0.5)), (1, (0.3, 0.7)), (3, (1.5, -0.5)), (2, (0.2, 0.3, 0.5))])
def test_split_teacher_is_a_global_minimum_with_the_expected_zero_eigenvalues(ts, student_lands, neuron, ratios):
    wide, w = sym.split_neuron(ts.teacher, ts.teacher_params, neuron, ratios)
    k = len(ratios)
    land = student_lands[wide.hidden[0]]  # widths 5 and 6
    c = critical.classify(land, w, global_loss=0.0, return_vectors=True)
    assert c.label == "global_min" and c.margin > 10
    assert c.level == k - 1 and not c.reduced
    # flat by symmetry: the outgoing weights can move among the copies (k - 1); at zero
    # loss H is the Gauss-Newton matrix, whose null space is the Jacobian's: also
    # (k - 1) * n_in incoming directions
    assert c.expected_null == (k - 1) * (2 + 1)
    assert c.n_zero == (k - 1) * (2 + 1)
    assert c.scaled_eigenvalues[c.n_zero] > 1e3 * c.eig_tol  # the rest is clearly positive
    null = c.eigenvectors[:, : c.n_zero]
    d = np.zeros(wide.n_params)
    d[2 * wide.hidden[0] + neuron], d[2 * wide.hidden[0] + neuron + 1] = 1.0, -1.0
    d /= np.linalg.norm(d)
    assert np.linalg.norm(null.T @ d) == pytest.approx(1.0, abs=1e-8)


def test_split_of_a_narrower_minimum_is_a_symmetry_induced_saddle(ts, student_lands, width1_min):
    c1 = critical.classify(student_lands[1], width1_min, global_loss=0.0)
    assert c1.label == "local_min"  # loss ~0.0776 > 0
    a = width1_min[2]
    S = _S(ts, width1_min)
    ev, U = np.linalg.eigh(S)
    for alpha in (0.5, 0.2, 1.5, -0.5):
        _, w2 = sym.split_neuron(ts.student(1), width1_min, 0, (alpha, 1 - alpha))
        c = critical.classify(student_lands[2], w2, global_loss=0.0)
        # the split point is critical, with one flat direction by symmetry
        assert c.grad_ratio <= 1
        assert c.expected_null == 1 and c.n_zero == 1  # residuals are not 0: only the flat one
        # the direction (a2 u, -a1 u) has curvature alpha (1 - alpha) a^3 u^T S u
        a1, a2 = alpha * a, (1 - alpha) * a
        curv = alpha * (1 - alpha) * a**3 * ev
        u = U[:, np.argmin(curv)]
        v = np.concatenate([a2 * u, -a1 * u, [0.0, 0.0]])
        v /= np.linalg.norm(v)
        q = curv.min() / (a1**2 + a2**2)
        assert_allclose(v @ student_lands[2].hessian(w2) @ v, q, rtol=1e-8)
        # S is indefinite here, so every split (alpha not in {0, 1}) is a strict saddle
        assert ev[0] < 0 < ev[1]
        assert c.label == "strict_saddle" and c.level == 1  # a first-level saddle
        assert c.eigenvalues[0] <= q * (1 - 1e-9)
        assert -c.scaled_eigenvalues[0] > 1e6 * c.eig_tol
        assert c.margin > 2  # the gradient's: the parent was polished to ~1e-15


def test_global_min_and_margins_for_flipped_neurons(ts, student_lands):
    w, _ = sym.flip_neuron(ts.teacher, ts.teacher_params, 0)
    w, _ = sym.flip_neuron(ts.teacher, w, 1)
    c = critical.classify(student_lands[4], w, global_loss=0.0)
    assert c.label == "global_min"


@pytest.mark.parametrize("a", [0.0, -1e-13])
def test_global_min_with_a_dead_neuron_has_no_spurious_negative_curvature(ts, student_lands, a):
    # a fifth neuron with (almost) zero outgoing weight: its incoming weights are flat,
    # their Hessian diagonal is ~a^2; scaling it up must not amplify rounding noise into
    # a negative eigenvalue
    (W, _), (at, _) = ts.teacher.unflatten(ts.teacher_params)
    w = ts.student(5).flatten([(np.vstack([W, [0.9, -0.9]]), None), (np.append(at, a)[None, :], None)])
    if a != 0.0:  # not critical as it is (residuals ~1e-13): polish first
        assert critical.classify(student_lands[5], w).label == "not_critical"
        r = critical.refine(student_lands[5], w)
        assert r.converged
        w = r.points
    c = critical.classify(student_lands[5], w, global_loss=0.0)
    assert c.label == "global_min" and c.margin > 10
    assert c.n_negative == 0 and c.scaled_eigenvalues[0] >= -c.eig_tol


# --------------------------------------------------------------- closed-form points
SCALES = [1e-16, 1e-8, 1.0, 1e8, 1e16]


@pytest.mark.parametrize("s", SCALES)
def test_linear_network_saddle_and_minimum_at_every_scale(s):
    land = _tiny("linear", s)
    c = critical.classify(land, [[0.0, 0.0], [np.sqrt(s), np.sqrt(s)], [2 * np.sqrt(s), 0.5 * np.sqrt(s)]])
    assert c.label.tolist() == ["strict_saddle", "global_min", "global_min"]
    assert_allclose(c.eigenvalues[0], [-2 * s, 2 * s], rtol=1e-14)
    assert c.margin.min() > 10
    # the minima lie on the hyperbola a w = s: one flat direction (GL(1) rescaling)
    assert c.expected_null[1:].tolist() == [1, 1]
    assert c.n_zero[1:].tolist() == [1, 1]
    assert np.all(c.loss_tol > 0)
    # U_s(w, a) = s^2 U_1(w / sqrt(s), a / sqrt(s)): the gradient tolerance scales like the
    # gradient, s^1.5, the scaled spectrum and its tolerance do not change (up to the
    # measured rounding noise, which depends on the rounding at each scale)
    ref = critical.classify(_tiny("linear", 1.0), [[0.0, 0.0], [1.0, 1.0]])
    assert_allclose(c.eig_tol[:2], ref.eig_tol, rtol=0.5)
    assert_allclose(c.scaled_eigenvalues[:2], ref.scaled_eigenvalues, rtol=1e-12, atol=1e-15)
    assert_allclose(c.grad_tol[1], ref.grad_tol[1] * s**1.5, rtol=1e-12)


@pytest.mark.parametrize("s", SCALES)
def test_quadratic_network_local_min_saddle_and_degenerate_at_every_scale(s):
    land = _tiny("quadratic", s)
    c = critical.classify(land, [[0.0, 1.0], [0.0, -1.0], [0.0, 0.0]], global_loss=0.0)
    # (w, a) = (0, 1): U = s^2 > 0, eigenvalues {0, 4 s}; the zero is explained (the
    # neuron computes 0, so its outgoing weight is free)
    assert c.label.tolist() == ["local_min", "strict_saddle", "degenerate"]
    assert_allclose(c.eigenvalues[0], [0.0, 4 * s], atol=0, rtol=1e-14)
    assert_allclose(c.eigenvalues[1], [-4 * s, 0.0], atol=0, rtol=1e-14)
    assert c.expected_null.tolist() == [1, 1, 1]
    assert c.n_zero.tolist() == [1, 1, 2]
    assert c.margin.min() > 10


@pytest.mark.parametrize("c", [1e-6, 1e-3, 1e3])
def test_teacher_student_labels_do_not_depend_on_the_loss_scale(ts, width1_min, c):
    # targets times c: U_c(W, c a) = c^2 U(W, a), so critical points map to critical
    # points of the same kind (and grad / Hessian entries scale by c or c^2)
    data = fl.Dataset(ts.data.X, c * ts.data.y)
    scaled = {m: fl.Landscape(ts.student(m), data) for m in (2, 4)}
    teacher = ts.teacher_params * np.r_[np.ones(8), c * np.ones(4)]
    _, saddle = sym.split_neuron(ts.student(1), width1_min * [1, 1, c], 0, (0.3, 0.7))
    w2 = critical.refine(scaled[2], [2.0, 0.5, -0.5, 0.5, 0.5 * c, -0.5 * c], method="trust-exact", polish=True)
    c4 = critical.classify(scaled[4], teacher, global_loss=0.0)
    c2 = critical.classify(scaled[2], np.stack([saddle, w2.points]), global_loss=0.0)
    assert c4.label == "global_min" and c4.margin > 10
    assert c2.label.tolist() == ["strict_saddle", "local_min"]
    assert c2.loss[1] == pytest.approx(2.2186793e-4 * c**2, rel=1e-6)
    assert c2.margin.min() > 2


def test_float32_landscape():
    c = critical.classify(_tiny("linear", 3.0, dtype="float32"), [[0.0, 0.0], [np.sqrt(3.0), np.sqrt(3.0)]])
    assert c.label.tolist() == ["strict_saddle", "global_min"]
    c64 = critical.classify(_tiny("linear", 3.0), [0.0, 0.0])
    assert c.eig_tol[0] > 1e6 * c64.eig_tol  # float32's epsilon


def test_not_critical_and_margin_meaning(student_lands, ts):
    w = ts.teacher_params + 1e-3
    c = critical.classify(student_lands[4], w)
    assert c.label == "not_critical"
    assert c.margin == pytest.approx(c.grad_ratio)
    assert c.grad_ratio == pytest.approx(np.max(np.abs(student_lands[4].grad(w)) / c.grad_tol))
    # an explicit tol_grad that accepts the point, and the margin is that of the gradient
    c2 = critical.classify(student_lands[4], w, tol_grad=10 * c.grad_norm)
    assert c2.label != "not_critical"
    assert c2.margin <= 10 + 1e-12


def test_classify_counts_and_batch_consistency(ts, student_lands, width1_min):
    _, w2 = sym.split_neuron(ts.student(1), width1_min, 0, (0.5, 0.5))
    _, t2 = sym.split_neuron(ts.teacher, ts.teacher_params, 0, (0.5, 0.5))
    teacher5 = t2
    P = np.stack([teacher5, teacher5 + 1e-3])
    c = critical.classify(student_lands[5], P, global_loss=0.0)
    assert c.counts()["global_min"] == 1 and c.counts()["not_critical"] == 1
    one = critical.classify(student_lands[5], P[0], global_loss=0.0)
    assert one.label == c.label[0] and one.margin == pytest.approx(c.margin[0], rel=1e-12)
    assert critical.classify(student_lands[2], w2).label == "strict_saddle"
    # margins are >= 1 whatever the label
    mixed = critical.classify(_tiny("quadratic", 2.0), [[0.0, 1.0], [0.0, -1.0], [0.0, 0.0], [0.1, 0.1]])
    assert mixed.label.tolist() == ["local_min", "strict_saddle", "degenerate", "not_critical"]
    assert np.all(mixed.margin >= 1)


def test_classify_rejects_bad_input(student_lands, ts):
    with pytest.raises(ValueError, match="points"):
        critical.classify(student_lands[4], np.zeros(5))
    with pytest.raises(ValueError, match="land"):
        critical.classify(object(), ts.teacher_params)
    with pytest.raises(ValueError, match="expected_null"):
        critical.classify(student_lands[4], ts.teacher_params, expected_null="some")
    with pytest.raises(ValueError, match="expected_null"):
        critical.classify(student_lands[4], ts.teacher_params, expected_null=-1)
    with pytest.raises(ValueError, match="global_loss"):
        critical.classify(student_lands[4], ts.teacher_params, global_loss=float("nan"))
    with pytest.raises(ValueError, match="global_loss"):  # the teacher is below 0.1
        critical.classify(student_lands[4], ts.teacher_params, global_loss=0.1)
    with pytest.raises(ValueError, match="safety"):
        critical.classify(student_lands[4], ts.teacher_params, safety=0.5)


def test_expected_null_override(ts, student_lands):
    _, w = sym.split_neuron(ts.teacher, ts.teacher_params, 1, (0.3, 0.7))
    c = critical.classify(student_lands[5], w, expected_null=3)
    assert c.expected_null == 3 and c.label == "global_min"
    # "none": no zero eigenvalue is explained
    assert critical.classify(student_lands[5], np.stack([w, w]), expected_null="none").expected_null.tolist() == [0, 0]


# --------------------------------------------------------------------------- refine
def test_newton_polishes_to_1e13_batched(ts, student_lands):
    rng = np.random.default_rng(0)
    P = ts.teacher_params + 1e-3 * rng.standard_normal((6, 12))
    r = critical.refine(student_lands[4], P)
    assert r.converged.all() and (r.status == "converged").all()
    assert r.grad_norm.max() <= 1e-13
    assert np.abs(r.points - ts.teacher_params).max() < 1e-9
    assert np.all(r.loss < 1e-26)
    # batched and one by one agree
    one = critical.refine(student_lands[4], P[2])
    assert_allclose(one.points, r.points[2], rtol=0, atol=1e-15)
    assert one.iterations == r.iterations[2]


def test_newton_converges_to_saddles(ts, student_lands, width1_min):
    _, w2 = sym.split_neuron(ts.student(1), width1_min, 0, (0.2, 0.8))
    d = np.random.default_rng(1).standard_normal(6)
    r = critical.refine(student_lands[2], w2 + 1e-6 * d / np.linalg.norm(d))
    assert r.converged and r.grad_norm <= 1e-13
    assert critical.classify(student_lands[2], r).label == "strict_saddle"
    assert r.loss == pytest.approx(student_lands[1].loss(width1_min), rel=1e-12)
    land = _tiny("linear", 1e4)
    r = critical.refine(land, [[1e-2, -2e-2], [90.0, 110.0]])
    assert r.converged.all()
    assert_allclose(r.points[0], 0.0, atol=1e-12)
    assert r.points[1, 0] * r.points[1, 1] == pytest.approx(1e4, rel=1e-14)


@pytest.mark.parametrize("method", ["trust-exact", "slsqp", "bfgs"])
def test_scipy_methods(ts, student_lands, method):
    start = np.array([2.0, 0.5, -0.5, 0.5, 0.5, -0.5])
    r = critical.refine(student_lands[2], start, method=method)
    assert r.method == method and r.iterations > 0
    assert r.loss < student_lands[2].loss(start)
    p = critical.refine(student_lands[2], start, method=method, polish=True)
    assert p.converged and p.grad_norm <= 1e-13
    assert critical.classify(student_lands[2], p, global_loss=0.0).label == "local_min"


def test_refine_rejects_bad_input(student_lands, ts):
    with pytest.raises(ValueError, match="method"):
        critical.refine(student_lands[4], ts.teacher_params, method="adam")
    with pytest.raises(ValueError, match="points"):
        critical.refine(student_lands[4], [np.nan] * 12)
    with pytest.raises(ValueError, match="tol_grad"):
        critical.refine(student_lands[4], ts.teacher_params, tol_grad=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        critical.refine(student_lands[4], ts.teacher_params, max_iter=-1)
    with pytest.raises(ValueError, match="options"):
        critical.refine(student_lands[4], ts.teacher_params, method="bfgs", options=3)


# --------------------------------------------------------------------------- escape
@pytest.fixture(scope="module")
def saddle(ts, width1_min):
    return sym.split_neuron(ts.student(1), width1_min, 0, (0.5, 0.5))[1]


def test_escape_from_a_saddle(student_lands, saddle):
    e = critical.escape(student_lands[2], saddle, eps=0.1, max_tries=5, seed=0, global_loss=0.0)
    assert e.start.label == "strict_saddle"
    assert e.success and e.index == len(e.label) - 1
    assert e.label[-1] in ("local_min", "global_min")
    assert e.lambda_min[-1] > 0
    assert e.loss[-1] < e.start.loss
    assert_allclose(np.linalg.norm(e.perturbations, axis=1), 0.1)
    assert_allclose(e.point, e.points[-1])
    # reproducible, and a minimum needs no tries
    again = critical.escape(student_lands[2], saddle, eps=0.1, max_tries=5, seed=0, global_loss=0.0)
    assert_allclose(again.points, e.points)
    done = critical.escape(student_lands[2], e.point, global_loss=0.0)
    assert done.success and done.index == -1 and done.points.shape == (0, 6)


def test_eps_sweep_shows_the_transition(student_lands, saddle):
    # SLSQP (the seed's method) does not move from a tiny perturbation of a saddle,
    # and escapes from a large one
    sw = critical.eps_sweep(student_lands[2], saddle, eps=[1e-8, 1e-1], tries=3, method="slsqp", global_loss=0.0)
    assert sw.loss.shape == (2, 3) and sw.points.shape == (2, 3, 6)
    assert sw.escaped().tolist() == [0.0, 1.0]
    assert np.all(sw.loss[1] < sw.start_loss)
    with pytest.raises(ValueError, match="eps"):
        critical.eps_sweep(student_lands[2], saddle, eps=[0.0, 1.0])
    with pytest.raises(ValueError, match="point"):
        critical.escape(student_lands[2], np.stack([saddle, saddle]))


# -------------------------------------------------------------------------- certify
CERT_NETS = [
    (fl.MLP(2, [3], 1, activation="sigmoid", loss="mse", bias=False), 0.0),
    (fl.MLP(2, [3], 2, activation="tanh", loss="mse", bias=True), 0.0),
    (fl.MLP(3, [2], 1, activation="softplus", loss="mse", bias=True), 0.01),
    (fl.MLP(2, [2], 1, activation="quadratic", loss="mse", bias=True), 0.0),
    (fl.MLP(2, [3], 1, activation="linear", loss="mse", bias=False), 0.0),
]


@pytest.mark.parametrize("net, wd", CERT_NETS, ids=lambda x: repr(x))
def test_long_double_derivatives_match_the_kernels(net, wd):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(37, net.n_in))
    land = fl.Landscape(net, fl.Dataset(X, rng.normal(size=(37, net.n_out))), weight_decay=wd)
    w = net.init(method="normal", seed=3)
    loss, grad, H, g_err, loss_err = critical._certify._ld_derivatives(land, w)
    scale = max(1.0, np.abs(land.hessian(w)).max())
    assert loss == pytest.approx(land.loss(w), rel=1e-13)
    assert_allclose(grad.astype(float), land.grad(w), rtol=0, atol=1e-13 * scale)
    assert_allclose(H.astype(float), land.hessian(w), rtol=0, atol=1e-13 * scale)
    assert 0 < g_err < 1e-14 * scale and 0 < loss_err < 1e-14 * max(1.0, loss)


@pytest.mark.parametrize("net, wd", CERT_NETS, ids=lambda x: repr(x))
def test_hessian_lipschitz_bound_holds(net, wd):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(23, net.n_in)) * 2
    land = fl.Landscape(net, fl.Dataset(X, rng.normal(size=(23, net.n_out))), weight_decay=wd)
    w = net.init(method="normal", seed=5)
    for R in (1e-3, 0.1, 0.5):
        rho = critical.hessian_lipschitz(land, w, radius=R)
        D = rng.standard_normal((40, net.n_params))
        D *= (R * rng.uniform(0, 1, size=(40, 1)) ** (1 / net.n_params)) / np.linalg.norm(D, axis=1, keepdims=True)
        H = land.hessian(w + D)
        for i in range(0, 40, 2):
            gap = np.linalg.norm(H[i] - H[i + 1], 2) / np.linalg.norm(D[i] - D[i + 1])
            assert gap <= rho
        if net.activation in ("linear", "quadratic"):
            continue
        assert rho < 1e4  # finite and not absurd


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "softplus", "linear", "quadratic"])
def test_activation_derivative_suprema(act):
    rng = np.random.default_rng(6)
    lo = rng.uniform(-6, 6, size=50)
    hi = lo + rng.uniform(0, 5, size=50)
    sups = _act.derivative_bounds(act, lo, hi)
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0, 1, 4001)
    vals = _act.derivatives(act, grid)
    h = 1e-4  # the closed forms of the derivatives against finite differences
    fd = (_act.derivatives(act, grid + h)[2] - _act.derivatives(act, grid - h)[2]) / (2 * h)
    assert_allclose(fd, vals[3], atol=1e-6)
    for k in range(4):
        dense = np.abs(vals[k]).max(axis=1)
        assert np.all(dense <= sups[k])
        assert_allclose(sups[k], dense, rtol=1e-5, atol=1e-12)


def test_certify_teacher_and_a_spurious_minimum(ts, student_lands, width1_min):
    cert = critical.certify(student_lands[4], ts.teacher_params)
    assert cert.certified and cert.reason == ""
    assert cert.radius < 1e-8 and cert.radius <= cert.ball
    assert cert.loss_lower <= 0.0 <= cert.loss_upper
    assert not cert.not_global
    # the width-2 student's minimum: a true local minimum with loss ~2.2e-4, provably not global
    w2 = critical.refine(student_lands[2], [2.0, 0.5, -0.5, 0.5, 0.5, -0.5], method="trust-exact", polish=True).points
    cert = critical.certify(student_lands[2], np.stack([w2, width1_min[[0, 1, 0, 1, 2, 2]] * [1, 1, 1, 1, 1, 0]]))
    assert cert.certified[0] and cert.not_global[0]
    assert 0 < cert.loss_lower[0] <= cert.loss[0] <= cert.loss_upper[0]
    assert cert.loss[0] == pytest.approx(student_lands[2].loss(w2), rel=1e-14)
    assert cert.loss_upper[0] - cert.loss_lower[0] < 1e-12 * student_lands[2].loss(w2)
    assert cert.radius[0] < 1e-10
    # the second point: a split-type point with a dead neuron is not certifiable
    assert not cert.certified[1] and "eigenvalue" in cert.reason[1]
    assert np.isnan(cert.radius[1])


def test_certify_refuses_saddles_and_large_gradients(student_lands, saddle, width1_min):
    cert = critical.certify(student_lands[2], saddle)
    assert not cert.certified and "eigenvalue" in cert.reason
    far = critical.certify(student_lands[1], width1_min + 1e-5)  # still positive definite
    assert not far.certified and "gradient" in far.reason
    assert far.lambda_min > 0


def test_certify_rejects_unsupported_networks():
    data = fl.datasets.random_labels(n=5, seed=0)
    for net in (
        fl.MLP(2, [2], 2, activation="tanh", loss="softmax_xent"),
        fl.MLP(2, [2, 2], 1, activation="tanh", loss="mse"),
        fl.MLP(2, [2], 1, activation="relu", loss="mse"),
    ):
        land = fl.Landscape(net, data)
        with pytest.raises(ValueError, match="land"):
            critical.certify(land, net.init(seed=0))


# ----------------------------------------------------- near split manifolds, levels
def _near_split(ts, deltas, seed=0):
    """Teacher neuron 2 split (0.3, 0.7), the copies moved apart by delta along a random
    direction, weighted so that the function changes only at second order."""
    wide, w = sym.split_neuron(ts.teacher, ts.teacher_params, 2, (0.3, 0.7))
    rng = np.random.default_rng(seed)
    P = []
    for d in deltas:
        u = rng.standard_normal(2)
        v = w.copy()
        v[4:6] += d * 0.7 * u
        v[6:8] -= d * 0.3 * u
        P.append(v)
    return wide, np.array(P)


def test_global_minimum_near_a_split_manifold_is_recognised(ts, student_lands):
    # descent from copies 1e-2 .. 1e-4 apart stops where the gradient reaches its rounding
    # floor with the copies still ~1e-6 apart (the loss is quartic in their spread) and a
    # loss of ~1e-28: not zero to rounding, and three eigenvalues are ~0 where the
    # symmetry tolerance sees no split neuron
    wide, P = _near_split(ts, [1e-2, 1e-3, 1e-4])
    r = critical.refine(student_lands[5], P, method="descent", max_iter=300)
    assert r.converged.all()
    W = r.points[:, :10].reshape(-1, 5, 2)
    spread = np.abs(W[:, 2] - W[:, 3]).max(axis=1)
    assert (spread > 1e-8).all()
    plain = critical.classify(student_lands[5], r.points, global_loss=0.0, reduce=False)
    assert (plain.loss > plain.loss_tol).all() and (plain.label == "degenerate").all()
    c = critical.classify(student_lands[5], r.points, global_loss=0.0)
    assert (c.label == "global_min").all() and c.reduced.all() and (c.margin > 1).all()
    # the level and the null count of the split teacher: 1 + 2 Gauss-Newton directions
    assert (c.level == 1).all() and (c.expected_null == 3).all() and (c.n_zero == 3).all()
    assert (c.distance < 10 * spread).all()
    # independently: the reduced point realises the teacher (its weights, loss 0)
    for w in r.points:
        red = sym.reduce(student_lands[5], w, tol=1e-4)
        assert red.width == 4
        assert sym.match_teacher(red.point, ts.teacher_params, tol=1e-8)
        assert student_lands[4].loss(red.point) < 1e-20


def test_descent_with_reduction_reaches_the_manifold(ts, student_lands):
    # from copies 1e-2 apart, 5 descent steps do not converge; reduction jumps to the
    # exactly split teacher
    _, P = _near_split(ts, [1e-2, 3e-3], seed=1)
    plain = critical.refine(student_lands[5], P, method="descent", max_iter=5)
    assert not plain.converged.any()
    r = critical.refine(student_lands[5], P, method="descent", max_iter=5, reduce=True)
    assert r.converged.all() and (r.status == "reduced").all()
    assert (r.loss <= plain.loss).all() and (r.loss < 1e-29).all()
    W = r.points[:, :10].reshape(-1, 5, 2)
    assert_allclose(W[:, 2], W[:, 3], rtol=0, atol=1e-15)
    c = critical.classify(student_lands[5], r.points, global_loss=0.0)
    assert (c.label == "global_min").all() and not c.reduced.any() and (c.level == 1).all()
    with pytest.raises(ValueError, match="reduce"):
        critical.refine(student_lands[5], P, method="descent", reduce="yes")


@pytest.mark.parametrize("c", [1e-4, 1.0, 1e4])
def test_newton_finds_a_split_saddle_at_every_scale(ts, student_lands, width1_min, c):
    # targets times c: the split of the width-1 minimum is a first-level strict saddle at
    # every scale; Newton (a root finder, unlike "descent") converges back to it
    data = fl.Dataset(ts.data.X, c * ts.data.y)
    land = fl.Landscape(ts.student(2), data)
    _, saddle = sym.split_neuron(ts.student(1), width1_min * [1, 1, c], 0, (0.3, 0.7))
    d = np.random.default_rng(2).standard_normal((3, 6))
    start = saddle + 1e-5 * d * np.r_[1, 1, 1, 1, c, c]
    r = critical.refine(land, start, method="newton")
    assert r.converged.all()
    k = critical.classify(land, r.points, global_loss=0.0)
    assert (k.label == "strict_saddle").all() and (k.level == 1).all() and (k.margin > 2).all()
    # on the line of split saddles Newton stays near the start (split 0.3 / 0.7) instead of
    # drifting to its end, where the point is degenerate
    assert_allclose(r.points[:, 4] / (r.points[:, 4] + r.points[:, 5]), 0.3, atol=1e-3)
    assert_allclose(r.loss, c**2 * student_lands[1].loss(width1_min), rtol=1e-9)
    down = critical.refine(land, start, method="descent")
    assert (critical.classify(land, down.points, global_loss=0.0).label != "strict_saddle").all()
    assert (down.loss < r.loss).all()


def test_levels_are_minus_one_for_points_that_are_not_critical(ts, student_lands):
    c = critical.classify(student_lands[4], np.stack([ts.teacher_params, ts.teacher_params + 1e-3]))
    assert c.level.tolist() == [0, -1] and c.label[1] == "not_critical"


def _level3(ts, deltas, seed=0):
    """Width 7 near a level-3 global minimum: teacher neuron 2 split into three copies
    (0.2, 0.3, 0.5) moved ~delta apart (weighted so that the function changes only at
    second order) plus a neuron with zero outgoing weights."""
    wide, w = sym.split_neuron(ts.teacher, ts.teacher_params, 2, (0.2, 0.3, 0.5))
    net = ts.student(7)
    (W, _), (A, _) = wide.unflatten(w)
    rng = np.random.default_rng(seed)
    P = []
    for d in deltas:
        u1, u2 = rng.standard_normal((2, 2))
        W7 = np.vstack([W, rng.standard_normal(2)])
        W7[2:5] += d * np.array([u1, u2, -(0.2 * u1 + 0.3 * u2) / 0.5])
        P.append(net.flatten([(W7, None), (np.hstack([A, [[0.0]]]), None)]))
    return net, np.array(P)


def test_sliding_towards_a_level3_global_minimum_is_resolved_by_reduction(ts, student_lands):
    net, P = _level3(ts, [1e-2, 1e-3, 1e-4])
    land = student_lands[7]
    # descent alone is still sliding (copies ~1e-4 apart; the loss is quartic in the spread)
    plain = critical.refine(land, P, method="descent", max_iter=5)
    assert not plain.converged.any()
    r = critical.refine(land, P, method="descent", max_iter=5, reduce=True)
    assert r.converged.all() and (r.status == "reduced").all() and (r.loss <= plain.loss).all()
    # independently: three exactly equal copies of teacher neuron 2, a dead neuron, and
    # the reduced point is the teacher (loss 0, matched weights)
    (W, _), (A, _) = net.unflatten(r.points)
    assert_allclose(W[:, 3], W[:, 2], rtol=0, atol=1e-15)
    assert_allclose(W[:, 4], W[:, 2], rtol=0, atol=1e-15)
    assert_allclose(A[:, :, 6], 0.0, rtol=0, atol=0)
    for w in r.points:
        red = sym.reduce(land, w)
        assert red.width == 4 and sym.match_teacher(red.point, ts.teacher_params, tol=1e-8)
        assert student_lands[4].loss(red.point) < 1e-28
    c = critical.classify(land, r.points, global_loss=0.0)
    assert (c.label == "global_min").all() and (c.level == 3).all() and (c.margin > 1).all()


def test_reduction_jump_descends_in_the_narrow_network_when_newton_cannot(ts, student_lands):
    # copies 0.3 apart: from the merged (width-4) point Newton in the narrow network finds a
    # strict saddle, not the teacher; "descent" there reaches the teacher, and the jump
    # lands on the exactly symmetric level-3 global minimum
    net, P = _level3(ts, [3e-1], seed=3)
    land = student_lands[7]
    red = next(r for h in sym.merge_heights(net, P[0]) if (r := sym.reduce(land, P[0], tol=float(h))).width == 4)
    narrow = fl.Landscape(red.net, ts.data)
    nr = critical.refine(narrow, red.point, method="newton", max_iter=50)
    assert not nr.converged or critical.classify(narrow, nr).label == "strict_saddle"
    plain = critical.refine(land, P, method="descent", max_iter=5)
    r = critical.refine(land, P, method="descent", max_iter=5, reduce=True)
    assert not plain.converged.any() and r.converged.all() and (r.status == "reduced").all()
    assert (r.loss < 1e-28).all()
    c = critical.classify(land, r.points, global_loss=0.0)
    assert (c.label == "global_min").all() and (c.level == 3).all() and (c.margin > 1).all()
    assert sym.match_teacher(sym.reduce(land, r.points[0]).point, ts.teacher_params, tol=1e-8)


def test_scipy_status_in_fastlands_words_and_short_reprs(student_lands, ts):
    start = np.array([2.0, 0.5, -0.5, 0.5, 0.5, -0.5])
    r = critical.refine(student_lands[2], np.stack([start, start + 0.1]), method="bfgs", max_iter=3)
    # status: one vocabulary for every method; SciPy's own words are kept in message
    assert set(r.status) <= {"converged", "stalled", "max_iter"}
    assert all(isinstance(m, str) and m for m in r.message)
    assert ((r.status == "converged") == r.converged).all()
    assert (r.status[~r.converged] == "max_iter").all() and (r.iterations[~r.converged] >= 3).all()
    assert repr(r).startswith("RefineResult(points=2, method='bfgs', status: ") and "array" not in repr(r)
    c = critical.classify(student_lands[4], np.stack([ts.teacher_params, ts.teacher_params]), global_loss=0.0)
    assert repr(c) == "Classification(points=2, labels: 2 global_min)"
