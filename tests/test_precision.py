"""fl.experiments.precision: end points are fixed points of rounded GD; the derived spread and bound."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastland as fl
from fastland.experiments.precision import PrecisionResult, precision, ulp


def test_ulp_equals_numpy_spacing():
    rng = np.random.default_rng(0)
    h = (rng.standard_normal(5000) * 2.0 ** rng.integers(-20, 14, 5000)).astype(np.float16)
    h = h[np.isfinite(h) & (np.abs(h) < 32768)]
    assert_array_equal(ulp(h.astype(float), 11, -14), np.spacing(np.abs(h)).astype(float))
    f = (rng.standard_normal(5000) * 2.0 ** rng.integers(-140, 120, 5000)).astype(np.float32)
    assert_array_equal(ulp(f.astype(float), 24, -126), np.spacing(np.abs(f)).astype(float))


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("precision")
    return precision(
        dtypes=("float64", "float16", 9), runs=5, steps=16000, record_every=200, out_dir=out, figures=True, seed=1
    ), out


@pytest.fixture(scope="module")
def land(seed001_data):
    """The experiment's default landscape, rebuilt here: a tanh MLP(2, [3], 1) on seed 001's data, weight decay 1e-2."""
    return fl.Landscape(fl.MLP(2, [3], 1, activation="tanh", loss="mse"), seed001_data, weight_decay=1e-2)


def test_end_points_are_fixed_points_of_the_rounded_iteration(result, land):
    res, _ = result
    lr = res.lr
    for d in res.dtypes:
        assert d.frozen.all(), d.dtype
        W = d.params
        step = W - lr * land.grad(W)
        if d.dtype == "float16":  # numpy's own cast, independent of fastland's rounding
            assert_array_equal(step.astype(np.float16).astype(float), W)
        elif d.dtype == "float64":
            assert_array_equal(step, W)
        assert_allclose(d.final_loss, land.loss(W), rtol=1e-14)
        assert d.distinct_vectors == np.unique(W, axis=0).shape[0]
        k0 = res.steps.size - int(np.ceil(0.25 * res.steps.size))  # first record of the tail
        early = d.frozen_at <= res.steps[k0]
        assert (d.visited[early] == 1).all() and (d.visited >= 1).all()  # a fixed point of GD is never left
        assert early.all() or d.dtype == "float64"
        assert (d.frozen_at > 0).all() and (d.frozen_at < 16000).all()
        assert d.stalled_share[-1] == 1.0  # every update stalls once frozen (no gradient is exactly 0)
        assert np.isnan(d.stalled_share[0])
        assert 0 <= d.plateau <= d.plateau_max <= d.plateau_bound  # the derived second-order bound


def test_reference_minimum_and_predicted_spread(result, land):
    res, _ = result
    ws = res.w_star
    assert np.abs(land.grad(ws)).max() < 1e-12
    lam, V = np.linalg.eigh(land.hessian(ws))
    assert_allclose(res.eigenvalues, lam, rtol=1e-10)
    assert lam[0] > 0 and res.lr == pytest.approx(1 / lam[-1])
    d = res["float16"]
    u = np.spacing(np.abs(ws).astype(np.float16)).astype(float)  # ulps of float16 at w*
    want = np.sqrt((V**2).T @ u**2 / 12) / (res.lr * lam)
    assert_allclose(d.predicted_spread, want, rtol=0.05)  # w* and its float16 rounding may sit in different binades
    assert_allclose(d.spread, np.sqrt(np.mean(((d.params - ws) @ V) ** 2, axis=0)), rtol=1e-10)
    # narrower significand: a larger fixed-point set, a higher plateau, an earlier freeze
    f64, f16, b9 = res["float64"], res["float16"], res[9]
    assert f64.plateau_max < f16.plateau_max < b9.plateau_max
    assert np.median(b9.frozen_at) < np.median(f16.frozen_at) < np.median(f64.frozen_at)
    assert f16.spread_spearman > 0.5  # wider along flat directions


def test_result_protocol(result):
    res, out = result
    assert isinstance(res, PrecisionResult)
    n_rec = 16000 // 200 + 1
    assert res.steps.shape == (n_rec,)
    for d in res.dtypes:
        assert d.stalled_share.shape == d.loss_excess.shape == (n_rec,)
        assert d.frozen.shape == d.frozen_at.shape == d.final_loss.shape == d.visited.shape == (5,)
        assert d.params.shape == (5, 13) and d.spread.shape == d.predicted_spread.shape == (13,)
        assert isinstance(d.distinct_losses, int) and isinstance(d.spread_ratio, float)
    assert [d.bits for d in res.dtypes] == [53, 11, 9]
    assert len(res.table().splitlines()) == 2 + 3
    assert res.verdict in res.report() and res.verdict_label == "supported"
    json.dumps(res.to_dict())
    names = {f.split("/")[-1] for f in res.files}
    assert {
        "precision.h5",
        "precision.json",
        "report.md",
        "precision_stalled.png",
        "precision_loss.png",
        "precision_spread.png",
    } <= names
    with h5py.File(out / "precision.h5", "r") as f:
        assert f.attrs["format"] == "fastland.precision"
        assert_array_equal(f["dtype_float16/params"][:], res["float16"].params)
        assert_array_equal(f["w_star"][:], res.w_star)


def test_bad_inputs():
    with pytest.raises(ValueError, match="dtype"):
        precision(dtypes=("float8",))
    with pytest.raises(ValueError, match="tail"):
        precision(tail=2.0)
    with pytest.raises(ValueError, match="land"):
        precision(land="x")
