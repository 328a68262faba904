"""Chain-lane kernels (fastland._kernels.lanes) and the RWM kernel built on them."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logsumexp

import fastland as fl
from fastland._kernels import lanes, mlp, rng, samplers

L = lanes.LANES
TWO_PI_LD = 2 * np.longdouble("3.14159265358979323846264338327950288")


def ulps(got, ref):
    """|got - ref| in units of the spacing of float64 at ref (ref in long double)."""
    err = np.abs(np.asarray(got, dtype=np.longdouble) - ref)
    return err / np.spacing(np.abs(ref).astype(np.float64))


def grid_uniforms(n, seed=0):
    """Doubles on the 2^-53 grid of [0, 1), like ``lanes.uniform_from_word``."""
    k = np.random.default_rng(seed).integers(0, 2**53, n, dtype=np.int64)
    return k.astype(np.float64) * 2.0**-53


# ------------------------------------------------------------------------- sin / cos
def test_sincos2pi_within_one_ulp_of_long_double():
    u = np.concatenate([grid_uniforms(20_000), np.arange(64) / 64.0, [2.0**-53, 1 - 2.0**-53, 0.5 - 2.0**-53]])
    s = np.empty_like(u)
    c = np.empty_like(u)
    for i, x in enumerate(u):
        s[i], c[i] = lanes.sincos2pi(x)
    t = TWO_PI_LD * u.astype(np.longdouble)
    s_ref, c_ref = np.sin(t), np.cos(t)
    # where the exact value is 0 (u = k/4) only the long-double rounding of 2 pi is left
    tiny = 1e-18
    assert np.all((ulps(s, s_ref) <= 1.0) | (np.abs(s - s_ref) < tiny))
    assert np.all((ulps(c, c_ref) <= 1.0) | (np.abs(c - c_ref) < tiny))
    # exact at the quarter turns
    assert [lanes.sincos2pi(q / 4) for q in range(4)] == [(0.0, 1.0), (1.0, -0.0), (-0.0, -1.0), (-1.0, 0.0)]


def test_log_unit_within_one_ulp_of_long_double():
    rs = np.random.default_rng(4)
    x = np.concatenate(
        [grid_uniforms(100_000, 5)[1:], 10.0 ** rs.uniform(-307, 0, 50_000), 1 - rs.uniform(0, 1e-9, 10_000)]
    )
    x = np.concatenate([x, [2.0**-53, 2.0**-1022, 0.5, np.sqrt(0.5), 1 - 2.0**-53]])
    got = np.array([lanes.log_unit(v) for v in x])
    assert ulps(got, np.log(x.astype(np.longdouble))).max() <= 1.0
    assert lanes.log_unit(1.0) == 0.0


# ---------------------------------------------------------------------- random words
def test_philox_lanes_are_the_blocks_of_each_stream():
    rs = np.random.default_rng(1)
    seed = rs.integers(0, 2**63, L, dtype=np.int64).astype(np.uint64)
    index = np.arange(L, dtype=np.uint64) * np.uint64(2**40 + 3)
    ctr = rs.integers(0, 2**40, L, dtype=np.int64).astype(np.uint64)
    nb = 3
    words = np.empty((2 * nb, L), dtype=np.uint64)
    lanes.philox_lanes(seed, index, ctr, nb, words)
    for ln in range(L):
        for j in range(nb):
            w0, w1 = rng.block4x32(seed[ln], index[ln], ctr[ln] + np.uint64(j + 1))
            assert (words[2 * j, ln], words[2 * j + 1, ln]) == (w0, w1)


@pytest.mark.parametrize("p", [1, 2, 7, 18])
def test_normals_are_box_muller_of_the_words(p):
    # reference: Box-Muller in NumPy, sin / cos / log / sqrt in long double
    rs = np.random.default_rng(p)
    words = rs.integers(0, 2**64 - 1, (2 * ((p + 1) // 2) + 2, L), dtype=np.uint64, endpoint=True)
    words[0, 0] = 0  # u1 = 1: r = 0
    words[0, 1] = np.uint64(2**64 - 1)  # u1 = 2^-53: the largest radius
    out = np.empty((p, L))
    lanes.normals_lanes(words, p, out)
    u = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53
    u1 = (1.0 - u[0::2]).astype(np.longdouble)
    t = TWO_PI_LD * u[1::2].astype(np.longdouble)
    r = np.sqrt(-2 * np.log(u1))
    ref = np.empty((2 * u1.shape[0], L), dtype=np.longdouble)
    ref[0::2] = r * np.cos(t)
    ref[1::2] = r * np.sin(t)
    ref = ref[:p]
    err = np.abs(out - ref)
    assert np.all(err <= 4 * np.spacing(np.abs(ref).astype(np.float64)) + 1e-300)
    assert out[0, 0] == 0.0
    if p > 1:  # u1 = 2^-53: r = sqrt(106 ln 2)
        assert np.hypot(out[0, 1], out[1, 1]) == pytest.approx(np.sqrt(106 * np.log(2)), rel=1e-14)


def test_normals_are_standard_normal():
    p = 18
    nb = lanes.step_blocks(p)
    seed = np.full(L, 3, dtype=np.uint64)
    index = np.arange(L, dtype=np.uint64)
    ctr = np.zeros(L, dtype=np.uint64)
    words = np.empty((2 * nb, L), dtype=np.uint64)
    out = np.empty((p, L))
    z = []
    for _ in range(200):
        lanes.philox_lanes(seed, index, ctr, nb, words)
        ctr += np.uint64(nb)
        lanes.normals_lanes(words, p, out)
        z.append(out.copy())
    z = np.array(z).ravel()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)


# ----------------------------------------------------------------------------- loss
def _reference_loss(net, data, w, wd):
    """Mean loss + wd/2 |w|^2 in NumPy, from the documented flat layout."""
    widths = [net.n_in, *net.hidden, net.n_out]
    a, pos = data.X, 0
    T = fl.Landscape(net, data)._T
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        W = w[pos : pos + n_out * n_in].reshape(n_out, n_in)
        pos += n_out * n_in
        b = np.zeros(n_out)
        if net.bias:
            b = w[pos : pos + n_out]
            pos += n_out
        z = a @ W.T + b
        if k < len(widths) - 2:
            a = {
                "tanh": np.tanh,
                "sigmoid": expit,
                "relu": lambda v: np.maximum(v, 0.0),
                "softplus": lambda v: np.logaddexp(0.0, v),
                "linear": lambda v: v,
                "quadratic": lambda v: v * v,
            }[net.activation](z)
    if net.loss == "mse":
        point = ((z - T) ** 2).sum(axis=1)
    elif net.loss == "bce":
        point = np.logaddexp(0.0, z[:, 0]) - T[:, 0] * z[:, 0]
    else:
        point = (T * (logsumexp(z, axis=1, keepdims=True) - z)).sum(axis=1)
    return point.mean() + 0.5 * wd * (w @ w)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "softplus", "linear", "quadratic"])
@pytest.mark.parametrize(
    "loss, n_out, hidden, bias, N",
    [
        ("softmax_xent", 2, [2, 2], True, 10),
        ("softmax_xent", 3, [3], False, 300),
        ("bce", 1, [4, 3], True, 257),
        ("mse", 2, [5], True, 33),
        ("mse", 1, [], False, 7),
    ],
)
def test_loss_lanes_matches_numpy(activation, loss, n_out, hidden, bias, N):
    rs = np.random.default_rng(N)
    net = fl.MLP(3, hidden, n_out, activation=activation, loss=loss, bias=bias)
    X = rs.uniform(-2, 2, (N, 3))
    if loss == "softmax_xent":
        data = fl.Dataset(X, rs.integers(0, n_out, N))
    elif loss == "bce":
        data = fl.Dataset(X, rs.integers(0, 2, N).astype(float))
    else:
        data = fl.Dataset(X, rs.normal(size=(N, n_out)) if n_out > 1 else rs.normal(size=N))
    land = fl.Landscape(net, data, weight_decay=0.01)
    W = rs.uniform(-3, 3, (net.n_params, L))
    W[:, 1] *= 10  # saturated units
    W[:, 2] *= 1e-3  # near-linear units
    work = lanes.new_work(land._arch)
    part = np.empty(L)
    out = np.empty(L)
    lanes.loss_lanes(land._arch, W, land._X, land._T, 0.01, work, part, out)
    ref = np.array([_reference_loss(net, data, W[:, ln], 0.01) for ln in range(L)])
    np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-15)
    # and each lane equals fastland's serial loss to the same tolerance
    np.testing.assert_allclose(out, land.loss(W.T), rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------------ RWM kernel
# seed001 (seed 001's landscape, 18 parameters): tests/conftest.py


def _rwm_reference(land, start, seed, steps, eps, box, T):
    """RWM as documented in samplers.rwm_block, in NumPy, one chain at a time.

    Step s of chain c uses Philox4x32 blocks s * nb + 1 .. (s + 1) * nb of the stream
    (seed, c) (a run started from given points has consumed no block): words 2j, 2j + 1
    -> Box-Muller pair j, word 2 ceil(p/2) -> the accept uniform.
    """
    C, p = start.shape
    nb = lanes.step_blocks(p)
    draws = np.empty((C, steps, p))
    for c in range(C):
        w = start[c].copy()
        u = land.loss(w)
        for s in range(steps):
            words = []
            for j in range(nb):
                words += [int(x) for x in rng.block4x32(np.uint64(seed), np.uint64(c), np.uint64(s * nb + j + 1))]
            unif = np.array([(x >> 11) * 2.0**-53 for x in words])
            z = []
            for j in range((p + 1) // 2):
                r = np.sqrt(-2 * np.log(1.0 - unif[2 * j]))
                z += [r * np.cos(2 * np.pi * unif[2 * j + 1]), r * np.sin(2 * np.pi * unif[2 * j + 1])]
            prop = w + eps * np.array(z[:p])
            if np.all(np.abs(prop) <= box):
                u_new = land.loss(prop)
                if unif[2 * ((p + 1) // 2)] < np.exp(min(0.0, -(u_new - u) / T)):
                    w, u = prop, u_new
            draws[c, s] = w
    return draws


def test_rwm_follows_the_documented_stream_layout(seed001):
    rs = np.random.default_rng(5)
    start = rs.uniform(-1, 1, (3, 18))
    got = fl.sample(seed001, chains=3, draws=40, step_size=0.3, box=1.5, init=start, seed=9, progress=False)
    ref = _rwm_reference(seed001, start, 9, 40, 0.3, 1.5, 1.0)
    np.testing.assert_allclose(np.asarray(got.draws[:]), ref, rtol=1e-12, atol=1e-13)
    acc = np.asarray(got.stats["accepted"][:])
    assert 0.05 < acc.mean() < 0.95  # both outcomes (and out-of-box rejections at box=1.5) occur


def _rwm_call(land, states, pos, loss, step, thin=3, draws=5):
    C, p = pos.shape
    out_w = np.empty((C, draws, p))
    out_l = np.empty((C, draws))
    out_a = np.empty((C, draws), np.float32)
    status = np.zeros(C, dtype=np.int64)
    adapt = np.zeros((C, samplers.ADAPT_SIZE))
    samplers.init_adaptation(step, adapt)
    problem = mlp.Problem(land._arch, land._X, land._T, 0.0)
    chains = samplers.Chains(pos, loss, np.zeros_like(pos), states, step, adapt, status)
    samplers.rwm_block(problem, 1.0, 10.0, thin, draws, True, True, 0.234, chains, samplers.Draws(out_w, out_l, out_a))
    return out_w, out_l, status


def test_a_chain_does_not_depend_on_its_lane_or_its_neighbours(seed001):
    C = L + 5  # two groups, the second padded
    rs = np.random.default_rng(2)
    pos = rs.uniform(-3, 3, (C, 18))
    loss = seed001.loss(pos)
    states = rng.seed_states(4, 0, C)
    step = rs.uniform(0.05, 0.5, C)
    ref_w, ref_l, status = _rwm_call(seed001, states.copy(), pos.copy(), loss.copy(), step.copy())
    assert np.all(status == 0)
    perm = rs.permutation(C)  # every chain moves to another lane / group, with other neighbours
    got_w, got_l, _ = _rwm_call(seed001, states[perm].copy(), pos[perm].copy(), loss[perm].copy(), step[perm].copy())
    np.testing.assert_array_equal(got_w, ref_w[perm])
    np.testing.assert_array_equal(got_l, ref_l[perm])
    # a single chain alone in its group
    one_w, _, _ = _rwm_call(seed001, states[7:8].copy(), pos[7:8].copy(), loss[7:8].copy(), step[7:8].copy())
    np.testing.assert_array_equal(one_w[0], ref_w[7])


def test_rwm_reports_a_non_finite_start(seed001):
    pos = np.zeros((3, 18))
    loss = np.array([1.0, np.nan, 1.0])
    _, _, status = _rwm_call(seed001, rng.seed_states(0, 0, 3), pos, loss, np.full(3, 0.1))
    assert status[1] == samplers.STATUS_BAD_START
