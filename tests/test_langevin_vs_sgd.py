"""fl.experiments.langevin_vs_sgd: small-batch SGD's stationary law against Langevin and exp(-U/T).

For the linear model f(x) = w x + b with the square loss everything is available in closed form:
the minimum is the least-squares fit, the Hessian is (2/N) sum x~ x~^T with x~ = (x, 1), and with
mini-batches B drawn uniformly among the b-subsets, one SGD step is the random affine map
e -> (I - lr A_B) e - lr xi_B of the error e = w - w*, A_B = (2/b) sum_B x~ x~^T and xi_B the batch
gradient at w*. Its stationary covariance S solves S = E[K_B S K_B^T] + lr^2 E[xi_B xi_B^T] exactly
(K_B = I - lr A_B; the cross terms vanish because e has mean 0 and is independent of the next batch),
which the tests solve by enumerating every batch.
"""

from __future__ import annotations

import itertools
import json

import h5py
import numpy as np
import pytest
from scipy import stats

import fastland as fl
from fastland.experiments.langevin_vs_sgd import LangevinResult, _problem, gradient_noise, langevin_vs_sgd

TINY = dict(runs=128, samples_per_run=20, chains=16)


@pytest.fixture(scope="module")
def tiny():
    return langevin_vs_sgd(**TINY)


def _design(land):
    x = land.data.X[:, 0]
    return np.column_stack([x, np.ones_like(x)]), np.asarray(land.data.y, dtype=float)


def _batches(N, b):
    return [list(c) for c in itertools.combinations(range(N), b)]


def _exact_sgd_cov(land, w_star, lr, b):
    Xt, y = _design(land)
    N, p = Xt.shape
    KK = np.zeros((p * p, p * p))
    Q = np.zeros((p, p))
    batches = _batches(N, b)
    for B in batches:
        A = 2.0 / b * Xt[B].T @ Xt[B]
        xi = A @ w_star - 2.0 / b * Xt[B].T @ y[B]
        K = np.eye(p) - lr * A
        KK += np.kron(K, K) / len(batches)
        Q += np.outer(xi, xi) / len(batches)
    vecS = np.linalg.solve(np.eye(p * p) - KK, lr**2 * Q.ravel())
    return vecS.reshape(p, p), Q


def test_gradient_noise_equals_batch_enumeration():
    rng = np.random.default_rng(0)
    net = fl.MLP(1, [2], 1, activation="tanh", loss="mse", bias=True)
    data = fl.Dataset(rng.uniform(-1, 1, (6, 1)), rng.normal(size=6))
    land = fl.Landscape(net, data)
    w = rng.normal(size=net.n_params)
    g = land.grad(w)
    for b in (1, 2, 4, 6):
        devs = []
        for B in _batches(6, b):
            sub = fl.Landscape(net, fl.Dataset(data.X[B], data.y[B]))
            devs.append(sub.grad(w) - g)
        devs = np.array(devs)
        np.testing.assert_allclose(gradient_noise(land, w, b), devs.T @ devs / len(devs), atol=1e-14)
    with pytest.raises(ValueError, match="batch_size"):
        gradient_noise(land, w, 7)


def test_fields_and_closed_forms(tiny):
    r = tiny
    assert isinstance(r, LangevinResult)
    n, lr = r.settings["n"], r.settings["lr"]
    assert r.settings["model"] == "linear" and n == 8
    p = 2
    assert r.minimum.shape == (p,) and r.hessian.shape == r.noise_cov.shape == (p, p)
    k = TINY["runs"] * TINY["samples_per_run"]
    assert r.sgd.shape == (k, p) and r.langevin.shape == (k, p)
    assert r.mcmc.shape[1] == p and r.mcmc.shape[0] >= k
    for c in (r.sgd_vs_mcmc, r.langevin_vs_mcmc, r.sgd_vs_langevin, r.mcmc_halves):
        for a in (c.ks, c.ks_pvalue, c.wasserstein, c.std_ratio):
            assert a.shape == (p,) and np.all(np.isfinite(a))
        assert np.all((c.ks >= 0) & (c.ks <= 1))
    assert r.directional_temperatures.shape == (p,)
    # the KS distances, recomputed from the stored samples (the MCMC halves: the first and the
    # last chains), and the documented rule: a match is a distance at most match_factor times the
    # distance between the halves
    m = r.mcmc.shape[0]
    assert m % TINY["chains"] == 0
    pairs = {"sgd": (r.sgd_vs_mcmc, r.sgd, r.mcmc), "langevin": (r.langevin_vs_mcmc, r.langevin, r.mcmc)}
    pairs["halves"] = (r.mcmc_halves, r.mcmc[: m // 2], r.mcmc[m // 2 :])
    for c, a, b in pairs.values():
        for j in range(p):
            ks = stats.ks_2samp(a[:, j], b[:, j])
            assert c.ks[j] == pytest.approx(ks.statistic, rel=1e-12) and c.ks_pvalue[j] == pytest.approx(ks.pvalue)
    floor = r.settings["match_factor"] * np.maximum(r.mcmc_halves.ks, 1e-12)
    assert r.sgd_matches is bool(np.all(r.sgd_vs_mcmc.ks <= floor))
    assert r.langevin_matches is bool(np.all(r.langevin_vs_mcmc.ks <= floor))
    assert isinstance(r.sgd_matches, bool) and isinstance(r.langevin_matches, bool)
    assert r.verdict_label in LangevinResult.VERDICT_LABELS and (r.verdict_label == "holds") == r.sgd_matches
    assert r.assess().check("sgd_ks").passed == r.sgd_matches and r.assess().check("sgd_ks").threshold == 3.0
    d = json.loads(json.dumps(r.to_dict()))
    assert d["temperature"] == r.temperature and d["n_samples"]["sgd"] == k
    assert r.table().startswith("| param") and r.table() in r.report() and r.verdict in r.report()
    # closed forms of the linear model
    land = _problem("linear", n, r.settings["noise"], r.settings["seed"])
    Xt, y = _design(land)
    np.testing.assert_allclose(r.minimum, np.linalg.lstsq(Xt, y, rcond=None)[0], atol=1e-10)
    H = 2.0 / n * Xt.T @ Xt
    np.testing.assert_allclose(r.hessian, H, rtol=1e-12)
    assert r.temperature == pytest.approx(lr * np.trace(r.noise_cov) / (2 * p), rel=1e-12)
    np.testing.assert_allclose(r.cov_gibbs_predicted, r.temperature * np.linalg.inv(H), rtol=1e-10)
    lam, V = np.linalg.eigh(H)
    np.testing.assert_allclose(r.directional_temperatures, lr / 2 * np.diag(V.T @ r.noise_cov @ V), rtol=1e-10)


def test_sample_covariances_match_exact_predictions(tiny):
    r = tiny
    land = _problem("linear", r.settings["n"], r.settings["noise"], r.settings["seed"])
    lr, b = r.settings["lr"], r.settings["batch_size"]
    S, Q = _exact_sgd_cov(land, r.minimum, lr, b)
    np.testing.assert_allclose(r.noise_cov, Q, rtol=1e-10, atol=1e-14)
    # sample variances: ~2,500 nearly independent draws give a relative standard error near 3 %
    np.testing.assert_allclose(np.var(r.sgd, axis=0), np.diag(S), rtol=0.15)
    # the stationary mean is w* (E xi_B = 0); 500 is a conservative count of independent draws
    assert np.all(np.abs(r.sgd.mean(axis=0) - r.minimum) <= 4 * np.sqrt(np.diag(S) / 500))
    # Langevin on a quadratic U is a Gaussian AR(1): its stationary covariance is the Lyapunov solution
    np.testing.assert_allclose(np.var(r.langevin, axis=0), np.diag(r.cov_langevin_predicted), rtol=0.15)
    # MCMC of exp(-U/T), U quadratic: the Gaussian T H^-1 exactly (the box holds > 12 sd)
    np.testing.assert_allclose(np.var(r.mcmc, axis=0), np.diag(r.cov_gibbs_predicted), rtol=0.25)


def test_tanh_model_and_files(tmp_path):
    pytest.importorskip("matplotlib")
    r = langevin_vs_sgd(model="tanh", runs=16, samples_per_run=3, chains=8, out_dir=tmp_path, figures=True)
    assert r.minimum.shape == (2,) and np.all(np.linalg.eigvalsh(r.hessian) > 0)
    assert r.settings["network"].startswith("MLP(1, [1], 1, activation='tanh'")
    # the matched temperature of the tanh model, recomputed from its own landscape
    land = _problem("tanh", r.settings["n"], r.settings["noise"], r.settings["seed"])
    np.testing.assert_allclose(np.abs(land.grad(r.minimum)).max(), 0, atol=1e-12)
    C = gradient_noise(land, r.minimum, 1)
    assert r.temperature == pytest.approx(r.settings["lr"] * np.trace(C) / 4, rel=1e-10)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"langevin_vs_sgd.json", "samples.h5", "report.md", "histogram_param0.png"} <= names
    with h5py.File(tmp_path / "samples.h5", "r") as f:
        np.testing.assert_array_equal(f["sgd"][:], r.sgd)
        assert f.attrs["temperature"] == r.temperature


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(model="cubic"), "model"),
        (dict(batch_size=8), "batch_size"),
        (dict(lr=10.0), "lr"),
        (dict(runs=1), "runs"),
        (dict(noise=0.0), "noise"),
    ],
)
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        langevin_vs_sgd(**{**TINY, **kw})
