import hashlib
import os
import subprocess
import sys
import textwrap
import time

import numba
import numpy as np
import pytest

import fastland as fl


# ----------------------------------------------------------------------------- targets
def gaussian_landscape():
    """A linear model with squared error: U is an exact quadratic, exp(-U/T) a Gaussian."""
    rs = np.random.default_rng(0)
    X = rs.normal(size=(20, 1))
    y = 0.5 * X[:, 0] + 0.3 + 0.1 * rs.normal(size=20)
    land = fl.Landscape(fl.MLP(1, [], 1, activation="linear", loss="mse"), fl.Dataset(X, y))
    # closed form: U(w) = mean((a x + b - y)^2) -> A = 2/N sum [x 1]^T [x 1]
    Z = np.column_stack([X[:, 0], np.ones(20)])
    A = 2.0 / 20 * Z.T @ Z
    mu = np.linalg.solve(Z.T @ Z, Z.T @ y)
    return land, mu, A


def mc_error(draws):
    """Monte Carlo standard error of the mean of (chain, draw, k) draws, from ESS."""
    ess = fl.diagnostics.ess_mean(draws)
    return draws.reshape(-1, draws.shape[-1]).std(axis=0) / np.sqrt(ess)


@pytest.mark.parametrize(
    "method, step, thin",
    [("rwm", 0.15, 2), ("mala", 0.12, 1), ("hmc", 0.1, 1)],
)
def test_gaussian_moments(method, step, thin):
    land, mu, A = gaussian_landscape()
    T = 0.05
    run = fl.sample(
        land,
        chains=32,
        draws=3000,
        thin=thin,
        warmup=300,
        step_size=step,
        box=50.0,
        temperature=T,
        method=method,
        init=np.tile(mu, (32, 1)),
        seed=1,
        progress=False,
    )
    w = np.asarray(run.draws[:])
    cov_exact = T * np.linalg.inv(A)
    # means within 5 Monte Carlo standard errors
    assert np.all(np.abs(w.reshape(-1, 2).mean(axis=0) - mu) < 5 * mc_error(w))
    # second moments of the centred draws, same rule
    c = w - mu
    prods = np.stack([c[..., 0] ** 2, c[..., 1] ** 2, c[..., 0] * c[..., 1]], axis=-1)
    want = np.array([cov_exact[0, 0], cov_exact[1, 1], cov_exact[0, 1]])
    assert np.all(np.abs(prods.reshape(-1, 3).mean(axis=0) - want) < 5 * mc_error(prods))
    assert 0.1 < float(np.mean(run.stats["accepted"][:])) < 0.99


def test_langevin_matches_its_exact_discretised_stationary_law():
    # unadjusted Langevin on U = 1/2 (w - mu)^T A (w - mu) + c with eta = eps^2 / (2T) is a
    # Gaussian AR(1) process; its stationary covariance is 2T (A (2I - eta A))^-1, mean mu.
    land, mu, A = gaussian_landscape()
    T, eps = 0.05, 0.2
    eta = eps**2 / (2 * T)
    run = fl.sample(
        land,
        chains=32,
        draws=3000,
        warmup=200,
        step_size=eps,
        box=50.0,
        temperature=T,
        method="langevin",
        init=np.tile(mu, (32, 1)),
        seed=2,
        progress=False,
    )
    w = np.asarray(run.draws[:])
    cov_exact = 2 * T * np.linalg.inv(A @ (2 * np.eye(2) - eta * A))
    assert np.all(np.abs(w.reshape(-1, 2).mean(axis=0) - mu) < 5 * mc_error(w))
    c = w - mu
    prods = np.stack([c[..., 0] ** 2, c[..., 1] ** 2, c[..., 0] * c[..., 1]], axis=-1)
    want = np.array([cov_exact[0, 0], cov_exact[1, 1], cov_exact[0, 1]])
    assert np.all(np.abs(prods.reshape(-1, 3).mean(axis=0) - want) < 5 * mc_error(prods))


def _tiny_landscape():
    X = np.array([[-1.0], [0.5], [1.5]])
    y = np.array([-0.5, 0.3, 0.8])
    net = fl.MLP(1, [1], 1, activation="tanh", loss="mse", bias=False)  # f = a tanh(w x)
    return fl.Landscape(net, fl.Dataset(X, y)), X[:, 0], y


@pytest.mark.parametrize("method, step", [("rwm", 0.5), ("mala", 0.35), ("hmc", 0.2)])
def test_box_truncated_moments_match_quadrature(method, step):
    # exp(-U/T) on [-2, 2]^2 for f(x) = a tanh(w x): integrated on a grid (midpoint rule)
    land, x, y = _tiny_landscape()
    T, L = 0.3, 2.0
    h = 2 * L / 1200
    g = -L + h * (np.arange(1200) + 0.5)
    wv, av = np.meshgrid(g, g, indexing="ij")
    U = np.mean((av[..., None] * np.tanh(wv[..., None] * x) - y) ** 2, axis=-1)
    dens = np.exp(-(U - U.min()) / T)
    dens /= dens.sum()
    exact = np.array([(dens * wv**2).sum(), (dens * av**2).sum(), (dens * wv * av).sum()])

    run = fl.sample(
        land,
        chains=32,
        draws=4000,
        thin=2,
        warmup=200,
        step_size=step,
        box=L,
        temperature=T,
        method=method,
        n_leapfrog=8,
        seed=3,
        progress=False,
    )
    w = np.asarray(run.draws[:])
    f = np.stack([w[..., 0] ** 2, w[..., 1] ** 2, w[..., 0] * w[..., 1]], axis=-1)
    assert np.all(np.abs(w) <= L)
    assert np.all(np.abs(f.reshape(-1, 3).mean(axis=0) - exact) < 5 * mc_error(f))
    # the stored loss is U at the stored draw
    np.testing.assert_allclose(run.loss[:][0, :50], land.loss(w[0, :50]), rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------------- determinism
# seed001 (seed 001's landscape, 18 parameters): tests/conftest.py


@pytest.mark.parametrize("method", ["rwm", "mala", "hmc", "langevin"])
@pytest.mark.threads
def test_identical_across_threads_and_block_sizes(seed001, method):
    kw = dict(
        chains=6, draws=40, thin=3, warmup=25, step_size=0.05, method=method, n_leapfrog=4, seed=11, progress=False
    )
    ref = fl.sample(seed001, **kw)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fl.sample(seed001, block_draws=7, **kw)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(np.asarray(ref.draws[:]), np.asarray(one.draws[:]))
    np.testing.assert_array_equal(np.asarray(ref.loss[:]), np.asarray(one.loss[:]))
    np.testing.assert_array_equal(ref.state()["step_size"], one.state()["step_size"])


def test_resume_equals_uninterrupted(seed001, tmp_path):
    kw = dict(chains=4, thin=2, warmup=30, step_size=0.1, method="mala", seed=5, progress=False)
    full = fl.sample(seed001, draws=90, **kw)
    path = tmp_path / "run.h5"
    fl.sample(seed001, draws=35, path=path, block_draws=10, **kw).close()
    resumed = fl.sample(seed001, draws=90, path=path, resume=True, block_draws=16, **kw)
    np.testing.assert_array_equal(np.asarray(full.draws[:]), np.asarray(resumed.draws[:]))
    np.testing.assert_array_equal(np.asarray(full.loss[:]), np.asarray(resumed.loss[:]))
    resumed.close()


def test_resume_rejects_other_settings(seed001, tmp_path):
    path = tmp_path / "run.h5"
    fl.sample(seed001, chains=2, draws=5, path=path, progress=False).close()
    with pytest.raises(ValueError, match="step"):
        fl.sample(seed001, chains=2, draws=10, step_size=0.2, path=path, resume=True, progress=False)


@pytest.mark.threads
def test_rwm_identical_across_threads_and_block_sizes_with_several_lane_groups(seed001):
    from fastland._kernels.lanes import LANES

    kw = dict(chains=LANES + 3, draws=12, thin=2, warmup=10, step_size=0.1, method="rwm", seed=12, progress=False)
    ref = fl.sample(seed001, **kw)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fl.sample(seed001, block_draws=5, **kw)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(np.asarray(ref.draws[:]), np.asarray(one.draws[:]))
    np.testing.assert_array_equal(np.asarray(ref.loss[:]), np.asarray(one.loss[:]))
    np.testing.assert_array_equal(ref.state()["step_size"], one.state()["step_size"])
    # the first chains do not depend on how many chains run beside them
    few = fl.sample(seed001, **{**kw, "chains": 2})
    np.testing.assert_array_equal(np.asarray(few.draws[:]), np.asarray(ref.draws[:2]))


def _drop_kernel_version(path):
    import json

    import h5py

    with h5py.File(path, "r+") as f:
        settings = json.loads(f.attrs["settings"])
        del settings["kernel_version"]
        f.attrs["settings"] = json.dumps(settings)


def test_resume_refuses_an_rwm_run_of_an_older_kernel(seed001, tmp_path):
    # before kernel version 2, RWM drew Philox4x64 words one by one: its state cannot continue
    path = tmp_path / "run.h5"
    fl.sample(seed001, chains=2, draws=5, path=path, progress=False).close()
    _drop_kernel_version(path)
    with pytest.raises(ValueError, match="resume.*older fastland"):
        fl.sample(seed001, chains=2, draws=10, path=path, resume=True, progress=False)
    # MALA's use of the streams did not change: such a run still resumes bit-identically
    kw = dict(chains=2, step_size=0.1, method="mala", seed=3, progress=False)
    path2 = tmp_path / "mala.h5"
    fl.sample(seed001, draws=5, path=path2, **kw).close()
    _drop_kernel_version(path2)
    resumed = fl.sample(seed001, draws=10, path=path2, resume=True, **kw)
    full = fl.sample(seed001, draws=10, **kw)
    np.testing.assert_array_equal(np.asarray(resumed.draws[:]), np.asarray(full.draws[:]))
    resumed.close()


_CHILD = textwrap.dedent(
    """
    import sys
    import fastland as fl
    land = fl.Landscape(fl.MLP(2, [2, 2], 2), fl.datasets.random_labels(n=10, seed=0))
    fl.sample(land, chains=4, draws=10**7, step_size=0.05, path=sys.argv[1], seed=7,
              block_draws=50, progress=False)
    """
)


def test_kill_9_leaves_a_readable_file_that_resumes(seed001, tmp_path):
    path = tmp_path / "run.h5"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)])
    try:
        deadline = time.time() + 120
        n = 0
        while time.time() < deadline and n < 200:
            time.sleep(0.2)
            if path.exists():
                try:
                    with fl.open_run(path) as run:
                        n = run.n_draws
                except (OSError, ValueError, KeyError):
                    pass  # the file is being created
        assert n >= 200, "the writer made no progress"
    finally:
        proc.kill()
        proc.wait()
    with fl.open_run(path) as run:
        n = run.n_draws
        assert n % 50 == 0
        head = np.asarray(run.draws[:, :n])
        assert np.all(np.isfinite(head))
    target = n + 60
    resumed = fl.sample(
        seed001, chains=4, draws=target, step_size=0.05, path=path, seed=7, block_draws=50, progress=False, resume=True
    )
    fresh = fl.sample(seed001, chains=4, draws=target, step_size=0.05, seed=7, progress=False)
    np.testing.assert_array_equal(np.asarray(resumed.draws[:]), np.asarray(fresh.draws[:]))
    resumed.close()


def test_float32_storage_rounds_the_float64_chain(seed001):
    kw = dict(chains=3, draws=20, step_size=0.05, seed=4, progress=False)
    a = fl.sample(seed001, **kw)
    b = fl.sample(seed001, draws_dtype="float32", **kw)
    assert np.asarray(b.draws[:]).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(a.draws[:]).astype(np.float32), np.asarray(b.draws[:]))


# ------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(step_size=0.0), "step_size"),
        (dict(step_size=-1.0), "step_size"),
        (dict(box=0.0), "box"),
        (dict(chains=0), "chains"),
        (dict(draws=0), "draws"),
        (dict(thin=0), "thin"),
        (dict(temperature=0.0), "temperature"),
        (dict(method="nuts"), "method"),
        (dict(seed=-1), "seed"),
        (dict(init=np.full((2, 18), np.nan)), "init"),
        (dict(init=np.full((2, 18), 11.0)), "init"),
        (dict(init=np.zeros((3, 18))), "init"),
        (dict(init="normal"), "init"),
        (dict(draws_dtype="int8"), "draws_dtype"),
    ],
)
def test_bad_inputs(seed001, kwargs, match):
    args = dict(chains=2, draws=5, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fl.sample(seed001, **args)


def test_existing_file_is_never_truncated(seed001, tmp_path):
    path = tmp_path / "run.h5"
    fl.sample(seed001, chains=2, draws=5, path=path, progress=False).close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="resume"):
        fl.sample(seed001, chains=2, draws=5, path=path, progress=False)
    with pytest.raises(ValueError, match="step"):
        fl.sample(seed001, chains=2, draws=9, step_size=1.0, path=path, resume=True, progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_missing_folder_is_a_clear_error(seed001, tmp_path):
    with pytest.raises(ValueError, match="path"):
        fl.sample(seed001, chains=2, draws=5, path=tmp_path / "nope" / "run.h5", progress=False)
    assert not os.path.exists(tmp_path / "nope")
