"""fastland.symmetry: G(r, m), neuron splitting / flips / permutations, flat directions,
teacher matching.

References are independent of the code under test: G against the seed's values,
Stirling numbers from their recurrence and a brute-force count of surjections;
symmetry operations against the network function (``MLP.predict``); matched
students against their loss on seed 004's grid (0 to rounding) and unmatched ones
against a clearly positive loss.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastland as fl
import fastland.symmetry as sym


# ---------------------------------------------------------------------------- G(r, m)
def test_G_seed_values():
    assert (sym.G(4, 5), sym.G(3, 5), sym.G(2, 5)) == (240, 150, 30)
    assert sym.G(4, 5) > sym.G(3, 5) > sym.G(2, 5)


@functools.cache
def _stirling2(m: int, r: int) -> int:
    if m == r:
        return 1
    if r == 0 or r > m:
        return 0
    return r * _stirling2(m - 1, r) + _stirling2(m - 1, r - 1)


def _compositions(m: int, r: int):
    """k_1 + ... + k_r = m with every k_i >= 1."""
    if m < r:
        return
    for cuts in itertools.combinations(range(1, m), r - 1):
        bounds = (0, *cuts, m)
        yield [bounds[i + 1] - bounds[i] for i in range(r)]


@pytest.mark.parametrize("r, m", [(r, m) for m in range(0, 7) for r in range(0, 6)])
def test_G_brute_force(r, m):
    surjections = sum(1 for f in itertools.product(range(r), repeat=m) if len(set(f)) == r) if r > 0 else int(m == 0)
    assert sym.G(r, m) == surjections
    assert sym.G(r, m) == math.factorial(r) * _stirling2(m, r)
    # the seed's formula, term by term
    if r >= 1:
        seed = sum(math.factorial(m) // math.prod(math.factorial(k) for k in ks) for ks in _compositions(m, r))
        assert sym.G(r, m) == seed


def test_G_large_is_exact_integer():
    assert sym.G(10, 30) == math.factorial(10) * _stirling2(30, 10)
    assert isinstance(sym.G(10, 30), int)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_G_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="r:"):
        sym.G(bad, 3)
    with pytest.raises(ValueError, match="m:"):
        sym.G(3, bad)


# ------------------------------------------------------------ function-preserving maps
NETS = [
    fl.MLP(2, [3], 1, activation="sigmoid", loss="mse", bias=False),
    fl.MLP(3, [4], 2, activation="tanh", loss="mse", bias=True),
    fl.MLP(2, [3, 2], 2, activation="softplus", loss="softmax_xent", bias=True),
    fl.MLP(2, [2, 3], 1, activation="relu", loss="mse", bias=True),
]


def _inputs(net, n=7, seed=3):
    return np.random.default_rng(seed).normal(size=(n, net.n_in))


@pytest.mark.parametrize("net", NETS, ids=repr)
@pytest.mark.parametrize("ratios", [(0.5, 0.5), (1.5, -0.5), (0.2, 0.3, 0.5), (1.0,)])
def test_split_neuron_preserves_the_function(net, ratios):
    X = _inputs(net)
    w = net.init(3, method="normal", seed=1)
    for layer in range(len(net.hidden)):
        wide, w2 = sym.split_neuron(net, w, neuron=1, ratios=ratios, layer=layer)
        assert wide.hidden[layer] == net.hidden[layer] + len(ratios) - 1
        assert w2.shape == (3, wide.n_params)
        assert_allclose(wide.predict(w2, X), net.predict(w, X), rtol=1e-13, atol=1e-13)
        one = sym.split_neuron(net, w[0], 1, ratios, layer)[1]
        assert_allclose(one, w2[0], rtol=0, atol=0)


def test_split_neuron_layout_and_duplicate(ts):
    wide, w5 = sym.split_neuron(ts.teacher, ts.teacher_params, 2, (0.25, 0.75))
    (W, _), (a, _) = wide.unflatten(w5)
    (Wt, _), (at, _) = ts.teacher.unflatten(ts.teacher_params)
    assert_allclose(W, np.vstack([Wt[:3], Wt[2], Wt[3]]))
    assert_allclose(a[0], [1.0, -1.0, 0.25, 0.75, -1.0])
    wide3, w6 = sym.duplicate(ts.teacher, ts.teacher_params, 1, copies=3)
    assert wide3.hidden == (6,)
    assert_allclose(wide3.unflatten(w6)[1][0][0], [1.0, -1 / 3, -1 / 3, -1 / 3, 1.0, -1.0])


def test_split_neuron_rejects_bad_input():
    net = NETS[0]
    w = net.init(seed=0)
    with pytest.raises(ValueError, match="ratios"):
        sym.split_neuron(net, w, 0, (0.5, 0.6))
    with pytest.raises(ValueError, match="neuron"):
        sym.split_neuron(net, w, 3)
    with pytest.raises(ValueError, match="layer"):
        sym.split_neuron(net, w, 0, layer=1)
    with pytest.raises(ValueError, match="w:"):
        sym.split_neuron(net, w[:-1], 0)
    with pytest.raises(ValueError, match="net"):
        sym.split_neuron(fl.MLP(2, [], 1, loss="mse"), np.zeros(3), 0)
    with pytest.raises(ValueError, match="copies"):
        sym.duplicate(net, w, 0, copies=0)


@pytest.mark.parametrize("net", NETS, ids=repr)
def test_permute_neurons_preserves_the_function(net):
    X = _inputs(net)
    w = net.init(2, method="normal", seed=4)
    perm = np.roll(np.arange(net.hidden[0]), 1)
    assert_allclose(net.predict(sym.permute_neurons(net, w, perm), X), net.predict(w, X), rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="perm"):
        sym.permute_neurons(net, w, np.zeros(net.hidden[0], dtype=int))


def test_flip_neuron():
    X = _inputs(NETS[1])
    # tanh: exact
    net = NETS[1]
    w = net.init(method="normal", seed=2)
    w2, off = sym.flip_neuron(net, w, 2)
    assert_allclose(net.predict(w2, X), net.predict(w, X), rtol=1e-13, atol=1e-13)
    assert_allclose(off, 0.0)
    # sigmoid with an output bias: the constant goes into the bias
    netb = fl.MLP(3, [4], 2, activation="sigmoid", loss="mse", bias=True)
    wb = netb.init(method="normal", seed=2)
    wb2, off = sym.flip_neuron(netb, wb, 1)
    assert_allclose(netb.predict(wb2, X), netb.predict(wb, X), rtol=1e-13, atol=1e-13)
    assert_allclose(off, 0.0)
    # sigmoid without biases: the output moves by the returned offset
    net0 = NETS[0]
    w0 = net0.init(method="normal", seed=2)
    w02, off = sym.flip_neuron(net0, w0, 0)
    X2 = X[:, :2]
    assert_allclose(net0.predict(w02, X2), net0.predict(w0, X2) + off, rtol=1e-13, atol=1e-13)
    assert_allclose(off, [-net0.unflatten(w0)[1][0][0, 0]])
    with pytest.raises(ValueError, match="net"):
        sym.flip_neuron(NETS[2], NETS[2].init(seed=0), 0)


# ------------------------------------------------------------------ flat directions
def _ts_student(W, a):
    W = np.asarray(W, dtype=float)
    net = fl.MLP(2, [len(W)], 1, activation="sigmoid", loss="mse", bias=False)
    return net, net.flatten([(W, None), (np.asarray(a, dtype=float)[None, :], None)])


TEACHER_W = [[0.6, 0.5], [-0.5, 0.5], [-0.2, -0.6], [0.1, -0.6]]


@pytest.mark.parametrize(
    "W, a, expected",
    [
        (TEACHER_W, [1, -1, 1, -1], 0),
        (TEACHER_W + [TEACHER_W[1]], [1, -0.3, 1, -1, -0.7], 1),  # one split
        (TEACHER_W + [TEACHER_W[1], TEACHER_W[1]], [1, -0.3, 1, -1, -0.3, -0.4], 2),  # three copies
        (TEACHER_W + [TEACHER_W[0], TEACHER_W[1]], [0.5, -0.3, 1, -1, 0.5, -0.7], 2),  # two splits
        (TEACHER_W + [[0.3, 0.3]], [1, -1, 1, -1, 0.0], 2),  # dead neuron: its 2 incoming weights
        (TEACHER_W + [[0.0, 0.0]], [1, -1, 1, -1, 0.4], 0),  # constant neuron, no bias to share with
        (TEACHER_W + [[0.0, 0.0], [0.0, 0.0]], [1, -1, 1, -1, 0.4, 0.1], 1),  # two constants
        (TEACHER_W + [[-0.6, -0.5]], [1, -1, 1, -1, 0.3], 0),  # flipped copy: span{s, 1}
        (TEACHER_W + [[-0.6, -0.5], [0.5, -0.5]], [1, -1, 1, -1, 0.3, 0.2], 1),  # two flip pairs
        (TEACHER_W + [TEACHER_W[1]], [1, -1, 1, -1, 0.0], 1),  # dead duplicate: crossing
    ],
)
def test_flat_directions_sigmoid_without_bias(W, a, expected):
    net, w = _ts_student(W, a)
    assert sym.flat_directions(net, w) == expected


def test_flat_directions_other_activations():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 2))
    A = rng.normal(size=(1, 3))
    tanh = fl.MLP(2, [4], 1, activation="tanh", loss="mse", bias=False)
    w = tanh.flatten([(np.vstack([W, -W[0]]), None), (np.append(A, 0.3)[None, :], None)])
    assert sym.flat_directions(tanh, w) == 1  # tanh(-z) = -tanh(z): a duplicate
    relu = fl.MLP(2, [4], 1, activation="relu", loss="mse", bias=False)
    w = relu.flatten([(np.vstack([W, 2.0 * W[0]]), None), (np.append(A, 0.3)[None, :], None)])
    assert sym.flat_directions(relu, w) == 1 + 4  # positive multiple + one rescaling per neuron
    lin = fl.MLP(2, [3], 1, activation="linear", loss="mse", bias=False)
    assert sym.flat_directions(lin, lin.init(seed=0)) == 9
    deep = fl.MLP(2, [3, 2], 1, activation="tanh", loss="mse", bias=True)
    wd = deep.init(method="normal", seed=0)
    wide, w2 = sym.split_neuron(deep, wd, 0, (0.4, 0.6), layer=0)
    assert sym.flat_directions(wide, w2) == 2  # (k - 1) * n_next, n_next = 2
    wide, w2 = sym.split_neuron(deep, wd, 1, (0.4, 0.6), layer=1)
    assert sym.flat_directions(wide, w2) == 1
    batch = np.stack([wd, wd])
    assert sym.flat_directions(deep, batch).tolist() == [0, 0]


# ------------------------------------------------------------------ teacher matching
# ts (seed 004's problem) and student_lands (its students by width): tests/conftest.py
def _loss(student_lands, w):
    return student_lands[len(w) // 3].loss(w)


def test_match_teacher_itself_and_permuted(ts, student_lands):
    m = sym.match_teacher(ts.teacher_params, ts.teacher_params)
    assert m and m.reason == ""
    assert m.teacher.tolist() == [0, 1, 2, 3]
    assert m.kind == ("teacher",) * 4
    wp = sym.permute_neurons(ts.teacher, ts.teacher_params, [2, 0, 3, 1])
    m = sym.match_teacher(wp, ts.teacher_params)
    assert m and m.teacher.tolist() == [2, 0, 3, 1]
    assert _loss(student_lands, wp) < 1e-28


@pytest.mark.parametrize("neuron, ratios", [(0, (0.5, 0.5)), (3, (1.5, -0.5)), (1, (0.2, 0.8))])
def test_match_teacher_split(ts, student_lands, neuron, ratios):
    _, w5 = sym.split_neuron(ts.teacher, ts.teacher_params, neuron, ratios)
    m = sym.match_teacher(w5, ts.teacher_params)
    assert m, m.reason
    assert np.count_nonzero(m.teacher == neuron) == 2
    assert_allclose(m.outgoing[:, 0], [1, -1, 1, -1], atol=1e-15)
    assert _loss(student_lands, w5) < 1e-28


def test_two_flipped_neurons_with_cancelling_offsets(ts, student_lands):
    # a sigmoid(z) = a - a sigmoid(-z): flipping neurons 0 (a = 1) and 1 (a = -1) leaves
    # constants 1 and -1, which cancel
    w, off0 = sym.flip_neuron(ts.teacher, ts.teacher_params, 0)
    w, off1 = sym.flip_neuron(ts.teacher, w, 1)
    assert_allclose(off0 + off1, 0.0)
    assert _loss(student_lands, w) < 1e-28
    m = sym.match_teacher(w, ts.teacher_params)
    assert m, m.reason
    assert m.kind == ("flipped", "flipped", "teacher", "teacher")
    assert m.sign.tolist() == [-1, -1, 1, 1]
    assert_allclose(m.offset, 0.0, atol=1e-15)
    # neurons 0 and 2 both have a = 1: their offsets add up to -2, the function changes
    w2, _ = sym.flip_neuron(ts.teacher, ts.teacher_params, 0)
    w2, _ = sym.flip_neuron(ts.teacher, w2, 2)
    assert _loss(student_lands, w2) > 1.0
    m = sym.match_teacher(w2, ts.teacher_params)
    assert not m and "offset" in m.reason
    assert_allclose(m.offset, [-2.0])  # student minus teacher


def test_flipped_copy_split_with_an_unflipped_copy(ts, student_lands):
    # teacher neuron 1 (a = -1) as a copy with a = -0.5 plus a flipped copy with a = +0.5:
    # -0.5 s(z) + 0.5 s(-z) = -s(z) + 0.5, an offset nothing cancels
    (W, _), (a, _) = ts.teacher.unflatten(ts.teacher_params)
    W5 = np.vstack([W, -W[1]])
    a5 = np.append(a[0], 0.5)
    a5[1] = -0.5
    net, w = _ts_student(W5, a5)
    m = sym.match_teacher(w, ts.teacher_params)
    assert not m and "offset" in m.reason
    assert_allclose(m.offset, [0.5])
    assert _loss(student_lands, w) > 1e-3
    # a sixth neuron, a flipped copy of neuron 3 with a = -0.5, adds the offset -0.5:
    # -1.5 s(z) - 0.5 s(-z) = -s(z) - 0.5
    W6 = np.vstack([W5, -W[3]])
    a6 = np.append(a5, -0.5)
    a6[3] = -1.5
    _, w6 = _ts_student(W6, a6)
    m = sym.match_teacher(w6, ts.teacher_params)
    assert m, m.reason
    assert m.kind[4:] == ("flipped", "flipped")
    assert _loss(student_lands, w6) < 1e-28


def test_extra_neurons_that_cancel(ts, student_lands):
    (W, _), (a, _) = ts.teacher.unflatten(ts.teacher_params)
    W6 = np.vstack([W, [0.3, -0.9], [0.3, -0.9]])
    a6 = np.append(a[0], [0.7, -0.7])
    _, w6 = _ts_student(W6, a6)
    m = sym.match_teacher(w6, ts.teacher_params)
    assert m, m.reason
    assert m.kind[4:] == ("extra", "extra") and m.teacher[4:].tolist() == [-1, -1]
    assert _loss(student_lands, w6) < 1e-28
    a6[5] = -0.6
    _, w6 = _ts_student(W6, a6)
    m = sym.match_teacher(w6, ts.teacher_params)
    assert not m and "extra neurons [4, 5]" in m.reason
    assert _loss(student_lands, w6) > 1e-4


def test_mismatches_are_explained(ts, student_lands):
    (W, _), (a, _) = ts.teacher.unflatten(ts.teacher_params)
    _, w5 = sym.split_neuron(ts.teacher, ts.teacher_params, 2, (0.5, 0.5))
    w5[10 + 3] = 0.4  # the copies' outgoing weights no longer sum to the teacher's
    m = sym.match_teacher(w5, ts.teacher_params)
    assert not m and m.reason.startswith("teacher neuron 2")
    assert _loss(student_lands, w5) > 1e-4
    moved = ts.teacher_params.copy()
    moved[0] += 1e-3
    m = sym.match_teacher(moved, ts.teacher_params)
    assert not m and "extra neurons [0]" in m.reason
    assert m.deviation > 0.0
    # within the tolerance: matched, and the deviation says how close
    m = sym.match_teacher(moved, ts.teacher_params, tol=1e-2)
    assert m and m.deviation == pytest.approx(1e-3)


def test_match_teacher_with_explicit_nets_and_biases():
    rng = np.random.default_rng(5)
    teacher = fl.MLP(3, [2], 2, activation="sigmoid", loss="mse", bias=True)
    wt = teacher.init(method="normal", seed=1)
    wide, w = sym.split_neuron(teacher, wt, 0, (0.3, 0.7))
    w, off = sym.flip_neuron(wide, w, 2)  # absorbed by the output bias
    assert_allclose(off, 0.0)
    m = sym.match_teacher(w, wt, net=wide, teacher_net=teacher)
    assert m, m.reason
    X = rng.normal(size=(11, 3))
    assert_allclose(wide.predict(w, X), teacher.predict(wt, X), atol=1e-13)
    with pytest.raises(ValueError, match="teacher_net"):
        sym.match_teacher(w, wt, net=wide, teacher_net=fl.MLP(3, [2], 2, activation="tanh", loss="mse"))
    with pytest.raises(ValueError, match="student"):
        sym.match_teacher(np.zeros(7), np.zeros(12))
    with pytest.raises(ValueError, match="tol"):
        sym.match_teacher(wt, wt, net=teacher, teacher_net=teacher, tol=0.0)


# ------------------------------------------------------------------------- reduce()
def _build(net_r, w_r, rng, extra_splits, dead):
    """Widen a width-r point: split random neurons (random ratios summing to 1, any sign),
    add ``dead`` neurons with random incoming and zero outgoing weights, permute."""
    net, w = net_r, w_r
    for _ in range(extra_splits):
        k = int(rng.integers(2, 4))
        ratios = rng.uniform(-0.5, 1.5, size=k)
        ratios[-1] = 1.0 - ratios[:-1].sum()
        net, w = sym.split_neuron(net, w, int(rng.integers(net.hidden[0])), ratios)
    for _ in range(dead):  # a copy of neuron 0 with its outgoing weights zeroed and its incoming moved
        net, w = sym.split_neuron(net, w, 0, (1.0, 0.0))
        (W, b), (A, c) = net.unflatten(w)
        W[1] = rng.normal(size=W.shape[1]) * 2
        if b is not None:
            b[1] = rng.normal()
        w = net.flatten([(W, b), (A, c)])
    perm = rng.permutation(net.hidden[0])
    return net, sym.permute_neurons(net, w, perm)


def _distinct(net_r, rng):
    """A width-r point with well separated, non-zero neurons and outgoing weights."""
    w = net_r.init(method="normal", seed=int(rng.integers(1 << 30)))
    (W, b), (A, c) = net_r.unflatten(w)
    A[np.abs(A) < 0.3] += 0.5
    return net_r.flatten([(W, b), (A, c)])


@pytest.mark.parametrize("r", [1, 2, 3, 4])
@pytest.mark.parametrize("act, bias, n_out", [("sigmoid", False, 1), ("tanh", True, 2), ("softplus", True, 1)])
@pytest.mark.parametrize("splits, dead", [(1, 0), (0, 1), (2, 1), (1, 2)])
def test_reduce_recovers_the_narrow_network(r, act, bias, n_out, splits, dead):
    rng = np.random.default_rng([r, splits, dead, n_out])
    net_r = fl.MLP(2, [r], n_out, activation=act, loss="mse", bias=bias)
    w_r = _distinct(net_r, rng)
    wide, w = _build(net_r, w_r, rng, splits, dead)
    X = rng.normal(size=(50, 2)) * 3
    data = fl.Dataset(X, np.zeros((50, n_out)) if n_out > 1 else np.zeros(50))
    land = fl.Landscape(wide, data)
    red = sym.reduce(land, w)
    assert red.width == r and red.level == wide.hidden[0] - r
    assert red.net.hidden == (r,) and red.net.activation == act and red.net.bias == bias
    # the same function on the data, to rounding (NumPy forward of both networks)
    f = wide.predict(w, X)
    scale = np.abs(f).max() + 1
    assert_allclose(red.net.predict(red.point, X), f, rtol=0, atol=1e-13 * scale)
    assert red.function_change <= 1e-13 * scale
    # the narrow point is the original width-r point up to a permutation
    (Wr, br), (Ar, cr) = net_r.unflatten(w_r)
    (Wn, bn), (An, cn) = red.net.unflatten(red.point)
    order = [int(np.argmin(np.abs(Wr - Wn[g]).sum(axis=1))) for g in range(r)]
    assert sorted(order) == list(range(r))
    assert_allclose(Wn, Wr[order], atol=1e-13)
    assert_allclose(An, Ar[:, order], atol=1e-13)
    # the map back: dead neurons dropped, every other neuron mapped to its narrow neuron
    assert np.count_nonzero(red.assign < 0) == dead
    assert set(red.kind) <= {"kept", "merged", "dead"}
    assert red.kind.count("dead") == dead
    back = red.expand(red.point)
    assert_allclose(back, w, atol=1e-13)
    moved = red.point + 0.1 * rng.normal(size=red.point.size)
    assert_allclose(wide.predict(red.expand(moved), X), red.net.predict(moved, X), atol=1e-12)


def test_reduce_levels_flips_and_cancellations(ts, student_lands):
    t = ts.teacher_params
    assert sym.reduce(ts.teacher, t).level == 0  # the teacher is not reducible
    # two flipped sigmoid copies whose constants cancel merge with their teacher neurons
    (W, _), (a, _) = ts.teacher.unflatten(t)
    W6 = np.vstack([W, -W[1], -W[3]])
    a6 = np.append(a[0], [0.5, -0.5])
    a6[1], a6[3] = -0.5, -1.5
    net6, w6 = _ts_student(W6, a6)
    red = sym.reduce(student_lands[6], w6)
    assert red.width == 4 and red.level == 2 and red.sign.tolist() == [1, 1, 1, 1, -1, -1]
    assert_allclose(red.point, t, atol=1e-15)
    assert red.function_change < 1e-14
    # one flipped copy alone leaves a constant nothing absorbs: not merged
    W5, a5 = W6[:5], a6[:5].copy()
    a5[3] = -1.0
    net5, w5 = _ts_student(W5, a5)
    assert sym.reduce(net5, w5).width == 5
    # extra neurons whose outgoing weights cancel are dropped
    W6 = np.vstack([W, [0.3, -0.9], [0.3, -0.9]])
    _, w6 = _ts_student(W6, np.append(a[0], [0.7, -0.7]))
    red = sym.reduce(student_lands[6], w6)
    assert red.level == 2 and red.kind[4:] == ("cancelled", "cancelled")
    assert_allclose(red.point, t, atol=1e-15)
    # tanh flips need no cancellation
    net = fl.MLP(2, [2], 1, activation="tanh", loss="mse", bias=False)
    w = net.flatten([(np.array([[1.0, 2.0], [-1.0, -2.0]]), None), (np.array([[0.5, 0.25]]), None)])
    red = sym.reduce(net, w)
    assert red.width == 1  # 0.5 tanh(z) + 0.25 tanh(-z) = 0.25 tanh(z)
    assert_allclose(red.point, [1.0, 2.0, 0.25], atol=1e-15)


def test_reduce_near_a_split_manifold_and_tolerances(ts, student_lands):
    _, w5 = sym.split_neuron(ts.teacher, ts.teacher_params, 2, (0.3, 0.7))
    u = np.array([0.6, -0.8])
    near = w5.copy()
    near[4:6] += 1e-5 * 0.7 * u  # copies 1e-5 apart, their weighted mean still the teacher's
    near[6:8] -= 1e-5 * 0.3 * u
    assert sym.reduce(student_lands[5], near).level == 0  # the default recognises exact copies only
    red = sym.reduce(student_lands[5], near, tol=1e-4)
    assert red.level == 1 and red.spread == pytest.approx(0.7e-5, rel=1e-6)
    assert_allclose(red.point, ts.teacher_params, atol=1e-15)
    # the merge changes the function only at second order in the spread
    assert 0 < red.function_change < 1e-9
    # match_teacher merges through reduce: individually the copies are 1e-5 from the teacher
    assert not sym.match_teacher(near, ts.teacher_params, tol=1e-7, merge_tol=1e-7)
    m = sym.match_teacher(near, ts.teacher_params, tol=1e-7, merge_tol=1e-4)
    assert m, m.reason
    assert m.teacher.tolist() == [0, 1, 2, 2, 3]


def test_reduce_rejects_bad_input(ts):
    with pytest.raises(ValueError, match="land_or_net"):
        sym.reduce(fl.MLP(2, [2, 2], 1, loss="mse"), np.zeros(15))
    with pytest.raises(ValueError, match="point"):
        sym.reduce(ts.teacher, np.zeros(5))
    with pytest.raises(ValueError, match="tol"):
        sym.reduce(ts.teacher, ts.teacher_params, tol=-1.0)
    red = sym.reduce(ts.teacher, ts.teacher_params)
    with pytest.raises(ValueError, match="point"):
        red.expand(np.zeros(3))


# ------------------------------------------------------------ activation facts
@pytest.mark.parametrize("act", ["linear", "tanh", "sigmoid", "relu", "softplus", "quadratic"])
def test_flip_table_matches_the_activations(act):
    # act(-z) = slope act(z) + offset exactly where the table claims a flip, and for no
    # (slope, offset) at all where it claims none
    from fastland import _activations as A

    z = np.linspace(-6, 6, 101)
    f, g = A.value(act, z), A.value(act, -z)
    if act in A.FLIP:
        slope, off = A.FLIP[act]
        assert_allclose(g, slope * f + off, rtol=0, atol=1e-15)
    else:
        coef, res, *_ = np.linalg.lstsq(np.column_stack([f, np.ones_like(f)]), g, rcond=None)
        assert res[0] > 1.0  # no affine relation
    assert (act in A.ODD) == (A.FLIP.get(act) == (-1.0, 0.0))


@pytest.mark.parametrize("act", ["linear", "quadratic", "tanh"])
def test_flip_neuron_preserves_the_function_for_odd_and_even_activations(act):
    net = fl.MLP(3, [4], 2, activation=act, loss="mse", bias=True)
    w = net.init(method="normal", seed=4)
    X = np.random.default_rng(0).standard_normal((20, 3))
    w2, off = sym.flip_neuron(net, w, 1)
    assert not np.array_equal(w2, w)
    assert_allclose(net.predict(w2, X), net.predict(w, X), rtol=1e-13, atol=1e-13)
    assert_allclose(off, 0.0)
    (W, _), (A2, _) = net.unflatten(w2)
    (W0, _), (A0, _) = net.unflatten(w)
    assert_allclose(A2[:, 1], A0[:, 1] if act == "quadratic" else -A0[:, 1])
