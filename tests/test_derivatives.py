"""Loss, gradient, Hessian, HVP and Gauss-Newton against independent references.

The reference is a pure-NumPy forward pass and loss written here from the
conventions in the design notes (flat order W (out x in, row-major) then b, layer
by layer; losses are means over points), not from fastland's kernels. Derivatives
are checked against central finite differences of that reference (gradient,
Hessian diagonal and directional second derivatives, Gauss-Newton Jacobians) and
of ``Landscape.grad`` (full Hessian).

Hypothesis draws the architecture (widths 1..4, 1-3 hidden layers, bias), the
number of points (odd sizes and sizes across the kernels' 256-point chunks) and a
seed from which inputs, targets and the parameter point are drawn with NumPy.
Set ``FASTLAND_EXAMPLES=10`` (a multiplier) for a longer run.

Tolerances (all scaled by ``scale`` = max(1, largest magnitude of the compared
quantity), see each test):

- loss vs NumPy reference: 1e-12 relative;
- gradient vs central differences of the reference loss (h = 1e-5, relu 1e-6): 1e-6;
- Hessian vs central differences of ``Landscape.grad`` (same h): 1e-5;
- Hessian diagonal and u^T H v vs second-order stencils of the reference loss
  (h = 1e-4): 1e-5;
- Gauss-Newton vs mean J^T H_loss J with J from central differences of the
  reference outputs: 1e-7;
- hvp vs hessian @ v: 1e-12 relative to |H| @ |v|;
- float32 landscape vs float64: 1e-5 relative to scale; on float32-rounded
  inputs 1e-12 (sums are accumulated in float64);
- batched vs one by one, thread counts, serial vs parallel kernels, weight
  decay on grad/Hessian/hvp/Gauss-Newton: bit-identical.
"""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, logsumexp

import fastland as fl
from fastland._kernels import mlp as kernels
from fastland.landscape import _SERIAL_MAX_POINTS

ACTIVATIONS = ["tanh", "sigmoid", "relu", "softplus", "linear", "quadratic"]
LOSSES = ["mse", "bce", "softmax_xent"]
# odd sizes, and sizes on both sides of the kernels' 256-point chunks
SIZES = [1, 2, 3, 7, 255, 256, 257, 300, 513]
RELU_MARGIN = 1e-3

_SCALE = int(os.environ.get("FASTLAND_EXAMPLES", "1"))
_REPO = str(Path(fl.__file__).resolve().parents[1])  # the fastland a subprocess must import


def examples(n: int):
    return settings(
        max_examples=n * _SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


# --------------------------------------------------------------------------- reference


def ref_layers(widths, bias, w):
    """Split w (..., p) into [(W (..., out, in), b (..., out))] following the design notes."""
    w = np.asarray(w, dtype=float)
    lead = w.shape[:-1]
    layers, pos = [], 0
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        W = w[..., pos : pos + n_out * n_in].reshape(*lead, n_out, n_in)
        pos += n_out * n_in
        if bias:
            b = w[..., pos : pos + n_out]
            pos += n_out
        else:
            b = np.zeros((*lead, n_out))
        layers.append((W, b))
    assert pos == w.shape[-1]
    return layers


def ref_act(name, z):
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return expit(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "softplus":
        return np.logaddexp(0.0, z)
    if name == "linear":
        return z
    if name == "quadratic":
        return z * z
    raise AssertionError(name)


def ref_forward(prob, w):
    """Outputs (..., N, n_out) and the hidden pre-activations of the reference network."""
    a = prob.X
    pre = []
    layers = ref_layers(prob.widths, prob.bias, w)
    for k, (W, b) in enumerate(layers):
        z = np.einsum("...oi,...ni->...no", W, a) + b[..., None, :]
        if k == len(layers) - 1:
            return z, pre
        pre.append(z)
        a = ref_act(prob.activation, z)
    raise AssertionError("unreachable")


def ref_point_losses(loss, Z, T):
    if loss == "mse":
        return ((Z - T) ** 2).sum(axis=-1)
    if loss == "bce":
        z, t = Z[..., 0], T[..., 0]
        return np.logaddexp(0.0, z) - t * z
    if loss == "softmax_xent":
        return (T * (logsumexp(Z, axis=-1, keepdims=True) - Z)).sum(axis=-1)
    raise AssertionError(loss)


def ref_loss(prob, w):
    Z, _ = ref_forward(prob, w)
    return ref_point_losses(prob.loss, Z, prob.T).mean(axis=-1)


def ref_loss_hessian_outputs(loss, z, t):
    """Hessian of one point's loss in its outputs z (n_out,)."""
    k = z.shape[0]
    if loss == "mse":
        return 2.0 * np.eye(k)
    if loss == "bce":
        s = expit(z[0])
        return np.array([[s * (1.0 - s)]])
    s = np.exp(z - logsumexp(z))
    return np.diag(s) - np.outer(s, s)


def central_differences(f, w, h):
    """(f(w + h e_i) - f(w - h e_i)) / 2h for every coordinate i; f maps (B, p) -> (B, ...)."""
    E = h * np.eye(w.shape[0])
    fp = np.asarray(f(w + E))
    fm = np.asarray(f(w - E))
    return (fp - fm) / (2.0 * h)


def relu_pattern(prob, w):
    _, pre = ref_forward(prob, w)
    return [z > 0 for z in pre]


# ------------------------------------------------------------------------- problems


@dataclass
class Problem:
    net: fl.MLP
    data: fl.Dataset
    w: np.ndarray
    X: np.ndarray
    T: np.ndarray  # (N, n_out) targets in the reference's own encoding
    widths: tuple
    bias: bool
    activation: str
    loss: str

    @property
    def h(self) -> float:
        return 1e-6 if self.activation == "relu" else 1e-5

    def landscape(self, **kw) -> fl.Landscape:
        return fl.Landscape(self.net, self.data, **kw)


def _targets(rng, loss, N, n_out, kind):
    """(y for the Dataset, T for the reference) of the requested kind."""
    if loss == "mse":
        T = rng.normal(size=(N, n_out))
        y = T[:, 0] if (n_out == 1 and kind == 0) else T
        return y, T
    if loss == "bce":
        t = rng.integers(0, 2, size=N).astype(float) if kind == 0 else rng.uniform(0, 1, size=N)
        y = t if kind != 2 else t[:, None]
        return y, t[:, None]
    if kind == 2:  # rows of probabilities
        T = rng.dirichlet(np.ones(n_out), size=N)
        return T, T
    labels = rng.integers(0, n_out, size=N)
    T = np.eye(n_out)[labels]
    y = labels.astype(float) if kind == 0 else labels[:, None].astype(float)
    return y, T


@st.composite
def problems(draw, activation, loss, bias=None, depth=None, sizes=None):
    if bias is None:
        bias = draw(st.booleans())
    if depth is None:
        depth = draw(st.integers(0, 3))  # 0: no hidden layer
    hidden = draw(st.lists(st.integers(1, 4), min_size=depth, max_size=depth))
    n_in = draw(st.integers(1, 4))
    n_out = {"mse": draw(st.integers(1, 4)), "bce": 1, "softmax_xent": draw(st.integers(2, 4))}[loss]
    if sizes is None:
        N = draw(st.one_of(st.sampled_from(SIZES), st.integers(1, 12)))
    else:
        N = draw(st.sampled_from(sizes))
    kind = draw(st.integers(0, 2))
    x_scale = draw(st.sampled_from([0.5, 1.0, 2.0]))
    w_scale = draw(st.sampled_from([0.3, 0.7, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))

    rng = np.random.default_rng(seed)
    net = fl.MLP(n_in, hidden, n_out, activation=activation, loss=loss, bias=bias)
    widths = (n_in, *hidden, n_out)
    X = rng.uniform(-x_scale, x_scale, size=(N, n_in))
    y, T = _targets(rng, loss, N, n_out, kind)
    w = rng.uniform(-w_scale, w_scale, size=net.n_params)
    prob = Problem(net, fl.Dataset(X, y), w, X, T, widths, bias, activation, loss)
    if activation == "relu":
        # keep only points whose pre-activations are all at least RELU_MARGIN from the kink
        _, pre = ref_forward(prob, w)
        keep = np.ones(N, dtype=bool)
        for z in pre:
            keep &= np.abs(z).min(axis=-1) >= RELU_MARGIN
        assume(keep.any())
        X, y, T = X[keep], np.asarray(y)[keep], T[keep]
        prob = Problem(net, fl.Dataset(X, y), w, X, T, widths, bias, activation, loss)
    return prob


def scale_of(*arrays) -> float:
    return max(1.0, *(float(np.max(np.abs(a))) for a in arrays))


ALL = pytest.mark.parametrize("activation", ACTIVATIONS)
ALL_LOSSES = pytest.mark.parametrize("loss", LOSSES)


# ------------------------------------------------------------------------ the tests


@ALL
@ALL_LOSSES
@examples(12)
@given(data=st.data())
def test_loss_matches_numpy_reference(activation, loss, data):
    prob = data.draw(problems(activation, loss))
    land = prob.landscape()
    expected = ref_loss(prob, prob.w)
    assert land.loss(prob.w) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    # outputs too
    Z, _ = ref_forward(prob, prob.w)
    assert_allclose(land.predict(prob.w), Z, rtol=1e-12, atol=1e-12 * scale_of(Z))


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
@ALL
@ALL_LOSSES
@examples(3)
@given(data=st.data())
def test_grad_matches_finite_differences(activation, loss, bias, depth, data):
    prob = data.draw(problems(activation, loss, bias=bias, depth=depth))
    land = prob.landscape()
    value, g = land.loss_and_grad(prob.w)
    assert_array_equal(land.grad(prob.w), g)
    assert value == land.loss(prob.w)
    g_fd = central_differences(lambda W: ref_loss(prob, W), prob.w, prob.h)
    s = scale_of(value, g_fd)
    assert_allclose(g, g_fd, rtol=1e-6, atol=1e-6 * s)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
@ALL
@ALL_LOSSES
@examples(3)
@given(data=st.data())
def test_hessian_matches_finite_differences_of_grad(activation, loss, bias, depth, data):
    prob = data.draw(problems(activation, loss, bias=bias, depth=depth))
    land = prob.landscape()
    H = land.hessian(prob.w)
    assert H.shape == (prob.net.n_params,) * 2
    assert_array_equal(H, H.T)  # symmetric exactly
    H_fd = central_differences(land.grad, prob.w, prob.h)
    s = scale_of(H_fd, land.grad(prob.w))
    assert_allclose(H, H_fd, rtol=1e-5, atol=1e-5 * s)


@ALL
@ALL_LOSSES
@examples(5)
@given(data=st.data())
def test_hessian_matches_second_order_stencils_of_reference(activation, loss, data):
    prob = data.draw(problems(activation, loss))
    land = prob.landscape()
    H = land.hessian(prob.w)
    p = prob.net.n_params
    w = prob.w
    h = 1e-4
    f0 = ref_loss(prob, w)
    s = scale_of(H, f0)
    rng = np.random.default_rng(p)
    pattern = relu_pattern(prob, w) if activation == "relu" else None

    def same_pattern(points):
        if pattern is None:
            return True
        return all(
            all(np.array_equal(a, b) for a, b in zip(relu_pattern(prob, q), pattern, strict=True)) for q in points
        )

    # diagonal: (f(w + h e_i) - 2 f(w) + f(w - h e_i)) / h^2
    E = h * np.eye(p)
    diag = (ref_loss(prob, w + E) - 2.0 * f0 + ref_loss(prob, w - E)) / h**2
    ok = np.array([same_pattern([w + E[i], w - E[i]]) for i in range(p)])
    assert_allclose(np.diag(H)[ok], diag[ok], rtol=1e-5, atol=1e-5 * s)
    # u^T H v for random unit directions, four-point stencil
    for _ in range(4):
        u, v = rng.normal(size=(2, p))
        u /= np.linalg.norm(u)
        v /= np.linalg.norm(v)
        pts = np.stack([w + h * u + h * v, w + h * u - h * v, w - h * u + h * v, w - h * u - h * v])
        if not same_pattern(pts):
            continue
        fpp, fpm, fmp, fmm = ref_loss(prob, pts)
        stencil = (fpp - fpm - fmp + fmm) / (4 * h * h)
        assert u @ H @ v == pytest.approx(stencil, rel=1e-5, abs=1e-5 * s)


@ALL
@ALL_LOSSES
@examples(5)
@given(data=st.data())
def test_gauss_newton_matches_numpy_jacobian(activation, loss, data):
    prob = data.draw(problems(activation, loss))
    land = prob.landscape()
    G = land.gauss_newton(prob.w)
    assert_array_equal(G, G.T)
    # J[i] (N, n_out, p): central differences of the reference outputs
    J = central_differences(lambda W: ref_forward(prob, W)[0], prob.w, prob.h)  # (p, N, n_out)
    J = np.moveaxis(J, 0, -1)
    Z, _ = ref_forward(prob, prob.w)
    HL = np.stack([ref_loss_hessian_outputs(prob.loss, z, t) for z, t in zip(Z, prob.T, strict=True)])
    expected = np.einsum("nop,noq,nqr->pr", J, HL, J) / len(Z)
    assert_allclose(G, expected, rtol=1e-7, atol=1e-7 * scale_of(expected))
    # positive semi-definite (every H_loss is)
    assert np.linalg.eigvalsh(G).min() >= -1e-10 * scale_of(G)


@ALL
@ALL_LOSSES
@examples(5)
@given(data=st.data(), v_seed=st.integers(0, 2**32 - 1))
def test_hvp_equals_hessian_times_v(activation, loss, data, v_seed):
    prob = data.draw(problems(activation, loss))
    land = prob.landscape()
    v = np.random.default_rng(v_seed).normal(size=prob.net.n_params)
    H = land.hessian(prob.w)
    Hv = land.hvp(prob.w, v)
    # both are exact up to rounding, summed in different orders; the rounding of each entry is
    # a few ulps of the terms it sums, and with three quadratic layers (products of up to six
    # factors) the terms exceed |H| |v| by up to a few hundred: 1e-11 covers that (hypothesis
    # found 1.5e-12 relative for MLP(2, [2, 1, 2], 2, "quadratic") with the former 1e-12)
    bound = 1e-11 * (np.abs(H) @ np.abs(v)) + 1e-300
    assert np.all(np.abs(Hv - H @ v) <= bound), np.max(np.abs(Hv - H @ v) / bound)
    # batched hvp
    V = np.stack([v, -2.0 * v, np.zeros_like(v)])
    Wb = np.stack([prob.w] * 3)
    out = land.hvp(Wb, V)
    assert out.shape == (3, prob.net.n_params)
    assert_array_equal(out[0], Hv)
    assert_array_equal(out[2], np.zeros_like(v))


@ALL
@ALL_LOSSES
@examples(4)
@given(data=st.data(), seeds=st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=5))
def test_batched_equals_one_by_one(activation, loss, data, seeds):
    prob = data.draw(problems(activation, loss))
    land = prob.landscape()
    p = prob.net.n_params
    Wb = np.stack([prob.w] + [np.random.default_rng(s).uniform(-1, 1, p) for s in seeds])
    Vb = np.random.default_rng(seeds[0] + 1).normal(size=Wb.shape)
    losses, grads = land.loss_and_grad(Wb)
    Hb, Gb, HVb = land.hessian(Wb), land.gauss_newton(Wb), land.hvp(Wb, Vb)
    Pb = land.predict(Wb)
    assert land.loss(Wb).shape == (len(Wb),) and Hb.shape == (len(Wb), p, p)
    # inputs are not modified, and any memory layout gives the same numbers
    Wcopy = Wb.copy()
    land.hessian(Wb), land.hvp(Wb, Vb), land.gauss_newton(Wb), land.loss_and_grad(Wb)
    assert_array_equal(Wb, Wcopy)
    strided = np.repeat(Wb, 2, axis=1)[:, ::2]
    fortran = np.asfortranarray(Wb)
    for other in [strided, fortran, Wb.tolist()]:
        assert_array_equal(land.loss(other), losses)
        assert_array_equal(land.hessian(other), Hb)
        assert_array_equal(land.hvp(other, np.asfortranarray(Vb)), HVb)
    for b, w in enumerate(Wb):
        assert land.loss(w) == losses[b]
        assert_array_equal(land.loss(Wb)[b], losses[b])
        assert_array_equal(land.grad(w), grads[b])
        assert_array_equal(land.hessian(w), Hb[b])
        assert_array_equal(land.gauss_newton(w), Gb[b])
        assert_array_equal(land.hvp(w, Vb[b]), HVb[b])
        assert_array_equal(land.predict(w), Pb[b])


# Computes every case with 1 and with 2 Numba threads, in a process whose pool is launched with
# 2 (numba.set_num_threads cannot go above the launch count, which is 1 on a single-CPU runner).
_THREADS_CHILD = """
import pickle, sys
import numba
import numpy as np
import fastland as fl

cases = pickle.load(sys.stdin.buffer)
out = {"threads": [], "split": [], "results": []}
for threads in (1, 2):
    numba.set_num_threads(threads)
    out["threads"].append(numba.get_num_threads())
    out["split"].append(fl.Landscape._split(1))
    got = []
    for spec, X, y, w in cases:
        land = fl.Landscape(fl.MLP.from_spec(spec), fl.Dataset(X, y))
        W2 = np.stack([w, 0.5 * w])
        got.append((land.loss(w), land.grad(w), land.hessian(w), land.gauss_newton(w), land.hvp(w, w),
                    land.loss(W2), land.hessian(W2), land.gauss_newton(W2), land.hvp(W2, W2)))
    out["results"].append(got)
pickle.dump(out, sys.stdout.buffer)
"""


@pytest.mark.slow  # a subprocess or a whole experiment: seconds even with the kernels cached
@examples(1)
@given(data=st.data())
def test_results_do_not_depend_on_thread_count(data):
    # every activation and loss, on few points and on more than _SERIAL_MAX_POINTS: there one vector
    # goes to the batch drivers, which split its data chunks across tasks with 2 threads (a batch
    # smaller than the thread count) and keep them in one task with 1; both must add them in one order
    probs = []
    for a in ACTIVATIONS:
        for lo in LOSSES:
            probs.append(data.draw(problems(a, lo, sizes=[7, 257, 513])))
            big = data.draw(problems(a, lo, sizes=[_SERIAL_MAX_POINTS + 300, _SERIAL_MAX_POINTS + 600]))
            assume(big.X.shape[0] > _SERIAL_MAX_POINTS)  # relu drops the points near its kink
            probs.append(big)
    cases = [(p.net.spec(), p.data.X, p.data.y, p.w) for p in probs]
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "PYTHONPATH": _REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", _THREADS_CHILD], input=pickle.dumps(cases), env=env, capture_output=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr.decode()
    out = pickle.loads(proc.stdout)
    assert out["threads"] == [1, 2] and out["split"] == [False, True]  # two different code paths
    one, two = out["results"]
    names = ["loss", "grad", "hessian", "gauss_newton", "hvp", "loss B=2", "hessian B=2", "gauss_newton B=2", "hvp B=2"]
    for p, r1, r2 in zip(probs, one, two, strict=True):
        for name, a, b in zip(names, r1, r2, strict=True):
            assert_array_equal(a, b, err_msg=f"{name}: {p.net!r}, N = {p.X.shape[0]}")


@ALL
@ALL_LOSSES
@examples(2)
@given(data=st.data())
def test_serial_kernels_match_batch_drivers(activation, loss, data):
    # the serial one-vector kernels (used inside samplers) are bit-identical to the batch drivers
    prob = data.draw(problems(activation, loss))
    land = prob.landscape(weight_decay=0.25)
    arch, X, T = prob.net._arch(), land._X, land._T  # what the Landscape hands the kernels
    work = kernels.new_work(arch)
    p = prob.net.n_params
    part, grad = np.zeros(p), np.zeros(p)
    value = kernels.loss_value(arch, prob.w, X, T, 0.25, work)
    value2 = kernels.loss_grad_value(arch, prob.w, X, T, 0.25, work, part, grad)
    assert value == land.loss(prob.w)
    assert value2 == land.loss(prob.w)
    assert_array_equal(grad, land.grad(prob.w))


@ALL
@ALL_LOSSES
@examples(4)
@given(data=st.data())
def test_float32_close_to_float64(activation, loss, data):
    prob = data.draw(problems(activation, loss))
    l64 = prob.landscape()
    l32 = prob.landscape(dtype="float32")
    assert l32.dtype == np.float32
    w, v = prob.w, np.ones(prob.net.n_params)
    r32 = [l32.loss(w), l32.grad(w), l32.hessian(w), l32.hvp(w, v), l32.gauss_newton(w)]
    r64 = [l64.loss(w), l64.grad(w), l64.hessian(w), l64.hvp(w, v), l64.gauss_newton(w)]
    for a, b in zip(r32, r64, strict=True):
        assert np.asarray(a).dtype == np.float64  # results come back as float64
        assert_allclose(a, b, rtol=1e-5, atol=1e-5 * scale_of(b))
    # on inputs already rounded to float32 the two agree to float64 accuracy:
    # storage is float32, arithmetic and sums are float64
    X32 = prob.data.X.astype(np.float32).astype(float)
    y32 = prob.data.y.astype(np.float32).astype(float)
    rounded = fl.Landscape(prob.net, fl.Dataset(X32, y32))
    l32b = fl.Landscape(prob.net, fl.Dataset(X32, y32), dtype="float32")
    w32 = w.astype(np.float32).astype(float)
    for name in ["loss", "grad", "hessian", "gauss_newton"]:
        a, b = getattr(l32b, name)(w32), getattr(rounded, name)(w32)
        assert_allclose(a, b, rtol=1e-12, atol=1e-12 * scale_of(b))


@ALL
@ALL_LOSSES
@examples(3)
@given(data=st.data(), lam=st.sampled_from([1e-3, 0.1, 0.5, 3.0]))
def test_weight_decay_adds_exactly(activation, loss, data, lam):
    prob = data.draw(problems(activation, loss))
    l0 = prob.landscape()
    lw = prob.landscape(weight_decay=lam)
    w = prob.w
    p = prob.net.n_params
    v = np.random.default_rng(0).normal(size=p)
    assert lw.loss(w) == pytest.approx(l0.loss(w) + 0.5 * lam * math.fsum(w * w), rel=1e-14, abs=0)
    assert_array_equal(lw.grad(w), l0.grad(w) + lam * w)
    assert_array_equal(lw.hessian(w), l0.hessian(w) + lam * np.eye(p))
    assert_array_equal(lw.gauss_newton(w), l0.gauss_newton(w) + lam * np.eye(p))
    assert_array_equal(lw.hvp(w, v), l0.hvp(w, v) + lam * v)
    W = np.stack([w, -w])
    assert_array_equal(lw.hessian(W), l0.hessian(W) + lam * np.eye(p))


def test_one_kernel_signature_whatever_the_loss_or_input_flags():
    # the API boundary converts once: read-only, strided or Fortran inputs, any loss and target
    # encoding reach the kernels with the same Numba types (else each variant compiles again)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(6, 2))
    cases = [
        ("mse", 1, rng.normal(size=6)),
        ("mse", 2, rng.normal(size=(6, 2))),
        ("softmax_xent", 2, rng.integers(0, 2, size=6)),
        ("softmax_xent", 2, rng.dirichlet([1, 1], size=6)),
        ("bce", 1, rng.uniform(0, 1, size=6)),
    ]
    warm = fl.Landscape(fl.MLP(2, [2], 2, loss="mse"), fl.Dataset(X, cases[1][2]))
    warm.loss(np.zeros(12)), warm.grad(np.zeros(12)), warm.predict(np.zeros(12))
    drivers = [kernels.loss_batch, kernels.loss_grad_batch, kernels.forward_batch]
    before = [set(k.signatures) for k in drivers]
    for loss, n_out, y in cases:
        net = fl.MLP(2, [2], n_out, activation="tanh", loss=loss)
        land = fl.Landscape(net, fl.Dataset(X, y))
        w = net.init(seed=1)
        frozen = w.copy()
        frozen.setflags(write=False)
        for arg in [w, frozen, np.stack([w, w]).T.copy().T, np.repeat(w, 2)[::2]]:
            land.loss(arg), land.grad(arg), land.predict(arg), net.predict(arg, land.data.X)
    assert [set(k.signatures) for k in drivers] == before


def test_chunk_boundaries_loss_is_mean_of_parts():
    # a dataset split at the chunk size gives the same mean as the whole
    rng = np.random.default_rng(7)
    net = fl.MLP(2, [3, 2], 3, activation="tanh", loss="softmax_xent")
    for N in [255, 256, 257, 511, 512, 513]:
        X = rng.uniform(-1, 1, size=(N, 2))
        y = rng.integers(0, 3, size=N).astype(float)
        w = net.init(seed=N, method="uniform")
        whole = fl.Landscape(net, fl.Dataset(X, y))
        parts = [fl.Landscape(net, fl.Dataset(X[i : i + 100], y[i : i + 100])) for i in range(0, N, 100)]
        sizes = np.array([len(range(i, min(N, i + 100))) for i in range(0, N, 100)])
        mean = sum(s * part.loss(w) for s, part in zip(sizes, parts, strict=True)) / N
        assert whole.loss(w) == pytest.approx(mean, rel=1e-13)
        Hmean = sum(s * part.hessian(w) for s, part in zip(sizes, parts, strict=True)) / N
        assert_allclose(whole.hessian(w), Hmean, rtol=1e-12, atol=1e-13)
