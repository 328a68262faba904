"""Dataset, its transforms, and the seed datasets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastland as fl
from fastland import Dataset


def _data(n=10, seed=0, n_classes=2):
    return fl.datasets.random_labels(n=n, seed=seed, n_classes=n_classes)


def test_dataset_basics():
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 1, 0, 1, 0])
    d = Dataset(X, y)
    assert (d.n, d.dim, len(d)) == (6, 2, 6)
    assert d.X.dtype == np.float64 and d.y.dtype == np.float64
    assert_array_equal(d.X, X)
    assert_array_equal(d.y, y)
    assert repr(d) == "Dataset(n=6, dim=2, y shape=(6,))"
    assert Dataset(X, np.ones((6, 3))).y.shape == (6, 3)
    assert Dataset([[1.0, 2.0]], [3.0]).n == 1
    out = d.to_dict()
    assert set(out) == {"X", "y"}
    assert_array_equal(out["X"], X)


def test_dataset_is_immutable_and_leaves_the_callers_arrays_alone():
    X = np.arange(12.0).reshape(6, 2)
    y = np.zeros(6)
    d = Dataset(X, y)
    with pytest.raises(ValueError):
        d.X[0, 0] = 1.0
    with pytest.raises(ValueError):
        d.y[0] = 1.0
    # the caller's arrays stay writable and later edits do not leak into the dataset
    assert X.flags.writeable and y.flags.writeable
    X[0, 0] = 100.0
    y[0] = 5.0
    assert d.X[0, 0] == 0.0 and d.y[0] == 0.0


# ---------------------------------------------------------------------- transforms


def test_rotate_120_three_times_is_identity():
    d = _data(50)
    r = d.rotate(120).rotate(120).rotate(120)
    assert_allclose(r.X, d.X, rtol=0, atol=1e-15)
    assert_array_equal(r.y, d.y)
    assert_allclose(d.rotate(360).X, d.X, rtol=0, atol=1e-15)
    assert_allclose(d.rotate(-120).X, d.rotate(240).X, rtol=0, atol=1e-15)


def test_rotate_90_maps_e1_to_e2():
    d = Dataset([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]], [0, 1, 0])
    r = d.rotate(90)
    assert_allclose(r.X, [[0.0, 1.0], [-1.0, 0.0], [-4.0, 3.0]], rtol=0, atol=1e-15)
    assert_allclose(d.rotate(180).X, -d.X, rtol=0, atol=1e-15)
    # norms are kept, the angle moves by 120 degrees
    r = _data(20).rotate(120)
    X = _data(20).X
    assert_allclose(np.linalg.norm(r.X, axis=1), np.linalg.norm(X, axis=1), rtol=1e-15)
    ang = np.angle(r.X[:, 0] + 1j * r.X[:, 1]) - np.angle(X[:, 0] + 1j * X[:, 1])
    assert_allclose(np.mod(ang, 2 * np.pi), 2 * np.pi / 3, rtol=0, atol=1e-13)


def test_transform_and_shift():
    d = _data(7, seed=2)
    A = np.array([[2.0, 1.0], [0.0, -1.0], [1.0, 1.0]])
    b = np.array([0.5, -1.0, 2.0])
    t = d.transform(A, b)
    assert t.dim == 3
    assert_allclose(t.X, d.X @ A.T + b, rtol=1e-15)
    assert_array_equal(t.y, d.y)
    assert_allclose(d.transform(A).X, d.X @ A.T, rtol=1e-15)
    s = d.shift([1.0, -2.0])
    assert_allclose(s.X, d.X + [1.0, -2.0], rtol=1e-15)
    assert_array_equal(d.X, _data(7, seed=2).X)  # the original is unchanged


@pytest.mark.parametrize("n, n_classes", [(10, 2), (37, 3), (1000, 2), (101, 5)])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.999, 1.0])
def test_flip_labels_flips_exactly_round_fraction_n(n, n_classes, fraction):
    d = _data(n, seed=1, n_classes=n_classes)
    f = d.flip_labels(fraction, seed=3, n_classes=n_classes)
    changed = np.count_nonzero(f.y != d.y)
    assert changed == round(fraction * n)
    assert_array_equal(f.X, d.X)
    labels = f.class_labels()
    assert labels.min() >= 0 and labels.max() < n_classes
    assert_array_equal(d.flip_labels(fraction, seed=3, n_classes=n_classes).y, f.y)


def test_flip_labels_infers_classes_and_seed_matters():
    d = _data(200, seed=4)
    f = d.flip_labels(0.3)
    assert np.count_nonzero(f.y != d.y) == 60
    assert_array_equal(f.y[f.y != d.y], 1 - d.y[f.y != d.y])  # two classes: flipped is the other one
    assert not np.array_equal(d.flip_labels(0.3, seed=1).y, f.y)


def test_add_noise():
    d = Dataset(np.zeros((500, 1)), np.zeros(500))
    assert_array_equal(d.add_noise(0.0).y, d.y)
    n = d.add_noise(0.5, seed=2)
    assert n.y.std() == pytest.approx(0.5, rel=0.1)
    assert_array_equal(d.add_noise(0.5, seed=2).y, n.y)


@pytest.mark.parametrize("n, fraction", [(10, 0.5), (10, 0.25), (7, 0.5), (1000, 0.8), (2, 0.5)])
def test_split_sizes(n, fraction):
    d = _data(n, seed=5)
    a, b = d.split(fraction, seed=1)
    k = round(fraction * n)
    assert (a.n, b.n) == (k, n - k)
    rows = {tuple(r) for r in np.column_stack([d.X, d.y])}
    ra = {tuple(r) for r in np.column_stack([a.X, a.y])}
    rb = {tuple(r) for r in np.column_stack([b.X, b.y])}
    assert ra | rb == rows and not ra & rb
    a2, _ = d.split(fraction, seed=1)
    assert_array_equal(a2.X, a.X)


def test_class_labels():
    assert_array_equal(Dataset(np.zeros((3, 1)), [2.0, 0.0, 1.0]).class_labels(), [2, 0, 1])
    assert Dataset(np.zeros((3, 1)), [[2.0], [0.0], [1.0]]).class_labels().dtype == np.int64
    with pytest.raises(ValueError, match="y"):
        Dataset(np.zeros((2, 1)), [0.5, 1.0]).class_labels()


# ------------------------------------------------------------------ random_labels


@pytest.mark.parametrize("n, dim, n_classes, low, high", [(10, 2, 2, -1, 1), (300, 3, 4, 0.5, 2.0)])
def test_random_labels_reproducible_and_in_the_box(n, dim, n_classes, low, high):
    d = fl.datasets.random_labels(n=n, seed=7, low=low, high=high, dim=dim, n_classes=n_classes)
    assert d.X.shape == (n, dim) and d.y.shape == (n,)
    assert np.all(d.X >= low) and np.all(d.X <= high)
    assert set(np.unique(d.y)) <= set(range(n_classes))
    again = fl.datasets.random_labels(n=n, seed=7, low=low, high=high, dim=dim, n_classes=n_classes)
    assert_array_equal(again.X, d.X)
    assert_array_equal(again.y, d.y)
    other = fl.datasets.random_labels(n=n, seed=8, low=low, high=high, dim=dim, n_classes=n_classes)
    assert not np.array_equal(other.X, d.X)


def test_random_labels_defaults_are_seed_001():
    d = fl.datasets.random_labels()
    assert d.X.shape == (10, 2)
    assert np.all(np.abs(d.X) <= 1)
    assert set(np.unique(d.y)) <= {0.0, 1.0}
    # the documented recipe: first the points, then the labels, from one default_rng
    rng = np.random.default_rng(0)
    assert_array_equal(d.X, rng.uniform(-1, 1, size=(10, 2)))
    assert_array_equal(d.y, rng.integers(0, 2, size=10))


# ----------------------------------------------------------------- teacher_student


def test_teacher_student_grid_and_labels():
    ts = fl.datasets.teacher_student()
    X = ts.data.X
    assert X.shape == (1681, 2) and len(ts.data) == 1681
    axis = -5 + 0.25 * np.arange(41)
    assert {tuple(x) for x in X} == set(itertools.product(axis, axis))
    assert_allclose(np.unique(X[:, 0]), axis, rtol=0, atol=1e-15)
    W = np.array([[0.6, 0.5], [-0.5, 0.5], [-0.2, -0.6], [0.1, -0.6]])
    a = np.array([1.0, -1.0, 1.0, -1.0])
    expected = (1.0 / (1.0 + np.exp(-(X @ W.T)))) @ a
    assert_allclose(ts.data.y, expected, rtol=0, atol=1e-15)
    assert ts.teacher == fl.MLP(2, [4], 1, activation="sigmoid", loss="mse", bias=False)
    assert_array_equal(ts.teacher_params, np.concatenate([W.ravel(), a]))


def test_teacher_student_student_and_options():
    ts = fl.datasets.teacher_student()
    for m in [1, 4, 5, 7]:
        s = ts.student(m)
        assert s == fl.MLP(2, [m], 1, activation="sigmoid", loss="mse", bias=False)
        assert s.n_params == 3 * m
    small = fl.datasets.teacher_student(spacing=0.5, extent=1.0)
    assert small.data.n == 25
    assert_allclose(np.unique(small.data.X[:, 1]), [-1, -0.5, 0, 0.5, 1], atol=1e-15)
