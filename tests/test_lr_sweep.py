"""fl.experiments.lr_sweep: GD's stability bound, exact on a quadratic, and the result protocol."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastland as fl
from fastland.experiments.lr_sweep import LrSweepResult, lr_sweep


def test_quadratic_diverges_exactly_above_two_over_lambda():
    # U = mean (x . w - y)^2 has the constant Hessian H = 2 X^T X / N: GD converges for
    # lr < 2 / lambda_max and diverges above (|1 - lr lambda_max| > 1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 2)) @ np.diag([1.0, 0.7])
    land = fl.Landscape(
        fl.MLP(2, [], 1, activation="linear", loss="mse", bias=False), fl.Dataset(X, rng.standard_normal(8))
    )
    H = 2 * X.T @ X / 8
    lam = np.linalg.eigvalsh(H)
    assert lam[-1] / lam[0] < 50  # well conditioned: the stable rates converge within the steps
    edge = 2 / lam[-1]
    res = lr_sweep(
        lrs=(0.5 * edge, 0.95 * edge, 1.05 * edge, 1.5 * edge),
        land=land,
        init=rng.standard_normal((5, 2)),
        steps=4000,
        fine_steps=0,
        seed=1,
    )
    assert res.diverged.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert (res.status[:2] == "converged").all()
    assert_allclose(res.top_eig[:2], lam[-1], rtol=1e-12)
    assert_allclose(res.trace[:2], np.trace(H), rtol=1e-12)
    assert_allclose(res.edge_ratio[:2], [[0.5] * 5, [0.95] * 5], rtol=1e-12)  # lr lambda_max / 2
    assert res.stable_ok.all()
    # every converged run reached the unique minimum: one basin
    w_star = np.linalg.lstsq(X, land.data.y, rcond=None)[0]
    assert_allclose(res.params[:2], np.broadcast_to(w_star, (2, 5, 2)), atol=1e-8)
    assert res.n_basins.tolist() == [1, 1, 0, 0]


def test_network_sweep_returns_every_documented_field(seed001_data, tmp_path):
    res = lr_sweep(lrs=(0.1, 0.4, 3.0), runs=4, steps=300, fine_steps=100, out_dir=tmp_path, figures=True, seed=2)
    assert isinstance(res, LrSweepResult)
    k, R, p = 3, 4, 17
    assert res.params.shape == res.fine_params.shape == (k, R, p)
    for name in ("final_loss", "status", "top_eig", "trace", "sam", "edge_ratio", "fine_loss", "fine_top_eig", "basin"):
        assert getattr(res, name).shape == (k, R), name
    for name in ("diverged", "stable_ok", "n_basins"):
        assert getattr(res, name).shape == (k,), name
    assert res.basin_loss.shape == res.basin_top_eig.shape == (int(res.basin.max()) + 1,)
    land = fl.Landscape(fl.MLP(2, [4], 1, activation="tanh", loss="mse"), seed001_data)
    ok = np.isfinite(res.params).all(axis=2)
    assert res.diverged[-1] == 1.0 and not ok[-1].any()  # lr 3 >> 2 / sharpness
    P = res.params[ok]
    # independent recomputation: loss and top eigenvalue at the end points
    assert_allclose(res.final_loss[ok], land.loss(P), rtol=1e-13)
    top = np.linalg.eigvalsh(land.hessian(P))[:, -1]
    assert_allclose(res.top_eig[ok], top, rtol=1e-10)
    assert_allclose(res.fine_loss[ok], land.loss(res.fine_params[ok]), rtol=1e-13)
    assert (res.sam[ok] > 0).all()
    conv = res.status == "converged"
    assert (res.top_eig[conv] <= 2 / np.broadcast_to(res.lrs[:, None], (k, R))[conv] * (1 + 1e-6)).all()
    assert (res.basin[~ok] == -1).all() and (res.basin[ok] >= 0).all()
    assert len(res.table().splitlines()) == 2 + k
    assert res.verdict in res.report()
    json.dumps(res.to_dict())
    names = {f.split("/")[-1] for f in res.files}
    assert {"lr_sweep.h5", "lr_sweep.json", "report.md", "lr_sweep_sharpness.png", "lr_sweep_loss.png"} <= names
    with h5py.File(tmp_path / "lr_sweep.h5", "r") as f:
        assert f.attrs["format"] == "fastland.lr_sweep"
        assert_array_equal(f["top_eig"][:], res.top_eig)
        assert [s.decode() for s in f["status"][:].ravel()] == res.status.ravel().tolist()


def test_bad_inputs():
    with pytest.raises(ValueError, match="lrs"):
        lr_sweep(lrs=(0.1, -1.0))
    with pytest.raises(ValueError, match="land"):
        lr_sweep(land="x")
    with pytest.raises(ValueError, match="rho"):
        lr_sweep(rho=0)
