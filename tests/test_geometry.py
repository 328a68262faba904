import numpy as np
import pytest
from scipy import linalg

import fastland as fl
from fastland import geometry


def plane_cloud(n=1500, p=8, noise=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    basis = linalg.orth(rng.normal(size=(p, 2))).T  # (2, p) orthonormal
    centre = rng.normal(size=p)
    coef = rng.uniform(-3, 3, size=(n, 2))
    pts = centre + coef @ basis + noise * rng.normal(size=(n, p))
    return pts, basis, centre


def test_plane_is_recovered_in_parameter_space():
    pts, basis, centre = plane_cloud()
    loss = np.zeros(len(pts))
    res = geometry.minima_plane(pts, loss=loss, threshold=0.1, seed=1)
    assert res.n_low == len(pts) and res.enough
    # explained variance of the fitted plane is 1 up to the noise share (noise^2 p / spread^2)
    assert np.nansum(res.param_explained) > 0.999
    angle = np.degrees(linalg.subspace_angles(res.basis_param.T, basis.T).max())
    assert angle < 0.1
    # the centre lies on the true plane
    off = (res.centre_param - centre) - (res.centre_param - centre) @ basis.T @ basis
    assert np.linalg.norm(off) < 1e-3
    assert np.nansum(res.explained) > res.null_q95  # kernel space: above the isotropic null


def test_isotropic_cloud_is_not_a_plane():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(1500, 8))
    res = geometry.minima_plane(pts, loss=np.zeros(1500), seed=1)
    # an isotropic cloud gives the null, about 2/8 plus small-sample bias
    assert abs(np.nansum(res.param_explained) - res.param_null_explained) < 0.03
    assert np.nansum(res.param_explained) < 0.35


def test_isotropic_null_matches_its_limit():
    mean, q95 = geometry.isotropic_null(20_000, 3, 2, reps=20)
    assert abs(mean - 2 / 3) < 0.01 and q95 >= mean
    small, _ = geometry.isotropic_null(10, 3, 2)
    assert small > mean  # small clouds look flatter


def test_low_loss_selection_and_messages():
    pts, _, _ = plane_cloud(n=400)
    loss = np.linspace(0, 1, 400)
    res = geometry.minima_plane(pts, loss=loss, threshold=0.1, min_low=30)
    np.testing.assert_array_equal(res.low, np.flatnonzero(loss < 0.1))  # 40 draws
    assert res.enough
    res = geometry.minima_plane(pts, loss=loss, threshold=0.01, min_low=30)
    assert not res.enough and any("lower the temperature" in m for m in res.messages)


def test_degenerate_kernel_is_reported():
    pts, _, _ = plane_cloud(n=300)
    res = geometry.minima_plane(pts, loss=np.zeros(300), gamma=1e4)
    assert res.degenerate and any("degenerate" in m for m in res.messages)


def test_nystroem_agrees_with_exact_kernel_pca():
    pts, _, _ = plane_cloud(n=1200, noise=0.3)
    exact = geometry.minima_plane(pts, loss=np.zeros(1200), exact_max=5000, seed=0)
    approx = geometry.minima_plane(pts, loss=np.zeros(1200), exact_max=100, nystroem_components=600, seed=0)
    assert exact.kernel_method == "exact" and approx.kernel_method == "nystroem"
    assert abs(exact.kernel_captured - approx.kernel_captured) < 0.02


def test_reads_a_run_lazily_and_subsamples_reproducibly(seed001, tmp_path):
    run = fl.sample(
        seed001, chains=4, draws=300, step_size=0.3, temperature=0.2, path=tmp_path / "r.h5", progress=False
    )
    a = geometry.minima_plane(run, threshold=0.3, max_points=500, seed=3)
    b = geometry.minima_plane(run, threshold=0.3, max_points=500, seed=3)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.indices.size == 500
    flat_loss = np.asarray(run.loss[:]).ravel()
    np.testing.assert_array_equal(a.loss, flat_loss[a.indices])
    run.close()


# ------------------------------------------------------------------ symmetry forms
@pytest.mark.parametrize("activation", ["tanh", "quadratic"])  # odd and even: sign flips
def test_canonical_form_is_invariant_and_keeps_the_function(activation):
    net = fl.MLP(2, [3, 2], 2, activation=activation)
    land = fl.Landscape(net, fl.datasets.random_labels(n=20, seed=1))
    w = net.init(seed=4, method="normal")
    orbit = geometry.symmetry_orbit(net, w)
    assert orbit.shape == (3 * 2 * 1 * 8 * 2 * 4, net.n_params)  # 3! 2^3 x 2! 2^2
    np.testing.assert_allclose(land.loss(orbit), land.loss(w), rtol=1e-13)
    canon = geometry.canonical_form(net, orbit)
    np.testing.assert_allclose(canon, np.broadcast_to(canon[0], canon.shape), atol=1e-12)


def test_no_sign_flips_for_sigmoid():
    net = fl.MLP(2, [3], 1, activation="sigmoid", loss="mse", bias=False)
    assert geometry.symmetry_orbit(net, np.arange(9.0)).shape == (6, 9)


def test_find_minima_collapses_symmetric_copies():
    # f(x) = a tanh(w x) fitted to y = tanh(x): global minima (1, 1) and (-1, -1), one up to symmetry
    X = np.linspace(-2, 2, 15)[:, None]
    land = fl.Landscape(fl.MLP(1, [1], 1, activation="tanh", loss="mse", bias=False), fl.Dataset(X, np.tanh(X[:, 0])))
    rng = np.random.default_rng(0)
    starts = np.concatenate([rng.normal([1, 1], 0.2, size=(20, 2)), rng.normal([-1, -1], 0.2, size=(20, 2))])
    res = geometry.find_minima(land, starts, n_clusters=4, per_cluster=2)
    assert len(res.loss) == 1
    np.testing.assert_allclose(np.abs(res.points[0]), [1.0, 1.0], atol=1e-6)
    assert res.loss[0] < 1e-14 and res.multiplicity[0] == res.n_starts


def test_find_minima_identifies_the_mirror_minima_of_an_even_activation():
    # f(x) = a (w x)^2 on y = x^2 with weight decay lam:
    # U = c (a w^2 - 1)^2 + lam/2 (w^2 + a^2), c = mean(x^4). Stationarity in a and in w (w != 0):
    # 2c(a w^2 - 1) w^2 = -lam a and 4c(a w^2 - 1) a = -lam, whose ratio gives w^2 = 2 a^2;
    # the minima are the mirror pair (+-w*, a*).
    X = np.array([[1.0], [2.0]])
    net = fl.MLP(1, [1], 1, activation="quadratic", loss="mse", bias=False)
    land = fl.Landscape(net, fl.Dataset(X, X[:, 0] ** 2), weight_decay=1e-3)
    rng = np.random.default_rng(1)
    starts = np.concatenate([rng.normal([1, 1], 0.1, size=(10, 2)), rng.normal([-1, 1], 0.1, size=(10, 2))])
    res = geometry.find_minima(land, starts, n_clusters=2, per_cluster=3)
    # w -> -w is a symmetry of the even quadratic activation ((-w x)^2 = (w x)^2): the mirror
    # pair is one function, so one minimum, found by the descents of both clusters
    assert len(res.loss) == 1 and res.multiplicity[0] == 6
    w, a = res.points[0]
    assert w > 0  # the canonical representative: largest incoming weight positive
    np.testing.assert_allclose(w**2, 2 * a**2, rtol=1e-6)
    # the mirror image has the same loss
    np.testing.assert_allclose(land.loss(np.array([-w, a])), res.loss[0], rtol=1e-12)
    assert np.all(res.grad_norm < 1e-7)


# ---------------------------------------------------------------- Rashomon ratio
def test_rashomon_ratio_of_the_box_is_binomial_exact_for_a_quadratic():
    # U = mean((a x + b - y)^2) with one point (x=0, y=0): U = b^2; share of [-1,1]^2 with b^2 < 0.25 is 1/2
    land = fl.Landscape(fl.MLP(1, [], 1, activation="linear", loss="mse"), fl.Dataset([[0.0]], [0.0]))
    rr = geometry.rashomon_ratio(land, 0.25, n=40_000, box=1.0, seed=0)
    assert rr.measure == "box"
    assert abs(rr.ratio - 0.5) < 4 * rr.stderr


def test_rashomon_ratio_of_a_run_uses_ess():
    land = fl.Landscape(fl.MLP(1, [], 1, activation="linear", loss="mse"), fl.Dataset([[0.0]], [0.0]))
    run = fl.sample(land, chains=8, draws=2000, step_size=0.5, box=1.0, temperature=1e6, progress=False, seed=2)
    rr = geometry.rashomon_ratio(run, 0.25)
    assert rr.measure == "posterior" and rr.ess < rr.n
    assert abs(rr.ratio - 0.5) < 4 * rr.stderr  # at huge T the density is uniform on the box


def test_bad_inputs():
    with pytest.raises(ValueError, match="loss"):
        geometry.minima_plane(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="loss"):
        geometry.minima_plane(np.zeros((10, 3)), loss=np.zeros(9))
    with pytest.raises(ValueError, match="run_or_draws"):
        geometry.minima_plane(np.full((10, 3), np.nan), loss=np.zeros(10))
    land = fl.Landscape(fl.MLP(1, [], 1, activation="linear", loss="mse"), fl.Dataset([[0.0]], [0.0]))
    with pytest.raises(ValueError, match="points"):
        geometry.find_minima(land, np.zeros((4, 3)))
