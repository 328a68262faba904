"""fl.experiments.slingshot: seed 000's slingshot maneuver against plain continued training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from fastland.experiments.slingshot import PairedDifference, SlingshotResult, paired_difference, slingshot

TINY = dict(runs=4, n=24, hidden=(6,), overfit_epochs=60, after_epochs=6, curve_points=3, factors=(0.2, 1.0))


@pytest.fixture(scope="module")
def tiny():
    return slingshot(**TINY)


def test_fields(tiny):
    r = tiny
    assert isinstance(r, SlingshotResult)
    S = TINY["runs"]
    for name in (
        "overfit_train_loss", "overfit_val_loss", "overfit_train_acc", "overfit_val_acc", "early_val_loss",
        "early_val_acc", "early_epoch", "control_val_loss", "control_val_acc", "control_train_loss",
        "control_train_acc",
    ):  # fmt: skip
        a = getattr(r, name)
        assert a.shape == (S,) and np.all(np.isfinite(a)), name
    for name in ("overfit_train_acc", "overfit_val_acc", "early_val_acc", "control_val_acc", "control_train_acc"):
        a = getattr(r, name)
        assert np.all((a >= 0) & (a <= 1)), name
    assert r.runs == S and isinstance(r.overfit, bool)
    assert [f.factor for f in r.factors] == [0.2, 1.0]
    for f in r.factors:
        for name in ("val_loss", "val_acc", "train_loss", "train_acc"):
            assert getattr(f, name).shape == (S,)
        for d in (f.d_loss, f.d_acc, f.d_loss_early, f.d_acc_early):
            assert isinstance(d, PairedDifference) and d.n == S and d.low <= d.mean <= d.high
        # the verdicts follow from the documented rule applied to a textbook paired t interval
        # of the stored end points: "helps" when the interval lies on the better side of 0
        for d, a, b, higher, verdict in (
            (f.d_loss, f.val_loss, r.control_val_loss, False, f.loss_verdict),
            (f.d_acc, f.val_acc, r.control_val_acc, True, f.acc_verdict),
        ):
            diff = a - b
            half = stats.t.ppf((1 + r.confidence) / 2, S - 1) * diff.std(ddof=1) / np.sqrt(S)
            low, high = diff.mean() - half, diff.mean() + half
            assert d.low == pytest.approx(low, abs=1e-12) and d.high == pytest.approx(high, abs=1e-12)
            good, bad = (low > 0, high < 0) if higher else (high < 0, low > 0)
            assert verdict == ("helps" if good else "hurts" if bad else "no detectable effect")
        calls = {f.loss_verdict, f.acc_verdict}
        want = "mixed" if {"helps", "hurts"} <= calls else "better" if "helps" in calls else "worse"
        assert f.call == (want if calls & {"helps", "hurts"} else "same")
    assert set(r.curves) == {"control", "x0.2", "x1"}
    assert all(v.shape == r.curve_epochs.shape for v in r.curves.values())
    assert r.curve_epochs[0] == 0 and r.curve_epochs[-1] == TINY["after_epochs"]
    # the last record is the end point: the curve's last value is the mean final validation loss
    np.testing.assert_allclose(r.curves["control"][-1], r.control_val_loss.mean(), rtol=1e-12)
    np.testing.assert_allclose(r.curves["x0.2"][-1], r[0.2].val_loss.mean(), rtol=1e-12)
    # at the branch point (epoch 0) the control curve is the overfit validation loss
    np.testing.assert_allclose(r.curves["control"][0], r.overfit_val_loss.mean(), rtol=1e-12)
    assert set(r.curves_acc) == set(r.curves)
    np.testing.assert_allclose(r.curves_acc["control"][-1], r.control_val_acc.mean(), rtol=1e-12)
    # right after scaling by 1 nothing changed; after 0.2 the recorded start is the scaled branch point
    np.testing.assert_array_equal(r[1.0].scaled_val_loss, r.overfit_val_loss)
    np.testing.assert_allclose(r[0.2].scaled_val_loss.mean(), r.curves["x0.2"][0], rtol=1e-12)
    # the early-stopping oracle can only be at least as good as the branch point
    assert np.all(r.early_val_loss <= r.overfit_val_loss + 1e-12)
    assert r.verdict_label in SlingshotResult.VERDICT_LABELS
    v = r.assess()
    calls = {f.call for f in r.factors}
    assert (v.label == "no_effect") == (calls == {"same"})
    assert v.check("x0.2_val_loss").passed == (r[0.2].loss_verdict != "no detectable effect")
    assert v.check("overfit").passed == r.overfit and v.settings["runs"] == S
    d = json.loads(json.dumps(r.to_dict()))
    assert d["runs"] == S and len(d["factors"]) == 2 and d["verdict"] == r.verdict
    table = r.table()
    assert table.startswith("| factor") and "control" in table and "early stopping" in table
    rep = r.report()
    assert rep.startswith("# Slingshot") and table in rep and r.verdict in rep


def test_factor_one_is_the_control(tiny):
    # factor 1 restarts from the same points with the same seed: bit-identical to the control
    f = tiny[1.0]
    np.testing.assert_array_equal(f.val_loss, tiny.control_val_loss)
    assert f.d_loss.mean == 0 and f.d_loss.low == 0 and f.d_loss.high == 0
    assert f.d_loss.better == f.d_loss.worse == 0 and f.loss_verdict == "no detectable effect"
    assert f.call == "same"


def test_shrinking_changes_the_end_point(tiny):
    f = tiny[0.2]
    assert np.any(f.val_loss != tiny.control_val_loss)


def test_paired_difference_against_t_interval():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 1.0, 12), rng.normal(0.5, 1.0, 12)
    d = a - b
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)  # textbook paired t interval
    res = paired_difference(a, b, 0.95)
    assert res.mean == pytest.approx(d.mean())
    assert res.low == pytest.approx(d.mean() - half) and res.high == pytest.approx(d.mean() + half)
    assert res.better == int((d < 0).sum()) and res.worse == int((d > 0).sum())
    up = paired_difference(a, b, 0.95, higher_is_better=True)
    assert up.better == int((d > 0).sum())


def test_mini_batches_and_files(tmp_path):
    pytest.importorskip("matplotlib")
    r = slingshot(**{**TINY, "factors": (0.5,)}, batch_size=4, optimizer="sgd", lr=0.05, out_dir=tmp_path,
                  figures=True)  # fmt: skip
    assert r.settings["steps_per_epoch"] == 3  # 12 training points in batches of 4
    names = {p.name for p in tmp_path.iterdir()}
    assert {
        "slingshot.json",
        "report.md",
        "slingshot_curves.png",
        "slingshot_accuracy.png",
        "slingshot_factors.png",
    } <= names
    assert json.loads((tmp_path / "slingshot.json").read_text())["verdict"] == r.verdict
    assert (tmp_path / "report.md").read_text() == r.report()


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(factors=()), "factors"),
        (dict(factors=(-0.2,)), "factors"),
        (dict(runs=1), "runs"),
        (dict(val_fraction=1.0), "val_fraction"),
        (dict(confidence=1.5), "confidence"),
        (dict(optimizer="nope"), "optimizer"),
        (dict(data="moons"), "data"),
    ],
)
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        slingshot(**{**TINY, **kw})


def test_seeds_is_a_deprecated_name_of_runs():
    with pytest.warns(DeprecationWarning, match="runs"):
        r = slingshot(**{**TINY, "runs": 2, "seeds": 3, "factors": (0.5,), "after_epochs": 2})
    assert r.runs == 3 and r.overfit_val_loss.shape == (3,)
    with pytest.warns(DeprecationWarning, match="runs"):
        assert r.seeds == 3
