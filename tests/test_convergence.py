"""Sampling until converged (fl.sample(until=...)) and the symmetry-aware convergence check."""

import json

import arviz as az
import numpy as np
import pytest

import fastland as fl
from fastland import convergence, geometry

KW = dict(chains=8, thin=5, warmup=300, step_size=0.05, temperature=0.1, seed=2, progress=False)


def _az_worst(x):
    """max R-hat, min bulk and tail ESS over components, by ArviZ (an independent implementation)."""
    x = x.reshape(x.shape[0], x.shape[1], -1)
    x = x[:, :, np.ptp(x.reshape(-1, x.shape[2]), axis=0) > 0]
    ds = az.convert_to_dataset({"x": x})
    r = float(az.rhat(ds, method="rank")["x"].max())
    e = min(float(az.ess(ds, method="bulk")["x"].min()), float(az.ess(ds, method="tail")["x"].min()))
    return r, e


def test_until_stops_at_the_first_check_that_meets_the_targets_and_equals_a_fixed_run(tmp_path, seed001):
    targets = fl.Convergence(rhat=1.05, ess=150, max_steps=200_000)
    run = fl.sample(seed001, draws=50, until=targets, path=tmp_path / "u.h5", **KW)
    out = json.loads(run.attrs["until"])
    lengths = [c["n_draws"] for c in out["checks"]]
    assert lengths == [50 * 2**k for k in range(len(lengths))]  # doubling from draws
    assert out["stopped_by"] == "converged" and run.n_draws == lengths[-1] == out["draws"]
    assert run.attrs["draws"] == run.n_draws and run.attrs["thin"] == 50  # 200,000 steps in 4000 draws
    # independently, with ArviZ on the stored draws: every earlier check fails a target on
    # some quantity, the last meets all of them (the check subsamples outputs/canonical
    # forms to 500 draws per chain; with <= 500 draws here it uses all of them)
    W, L = run.draws[:], run.loss[:]
    for n in lengths:
        w = W[:, :n]
        qs = {
            "loss": L[:, :n],
            "outputs": seed001.predict(w.reshape(-1, w.shape[2])).reshape(w.shape[0], n, -1),
            "canonical": geometry.canonical_form(seed001.net, w.reshape(-1, w.shape[2])).reshape(w.shape),
        }
        met = all(r <= targets.rhat and e >= targets.ess for r, e in map(_az_worst, qs.values()))
        assert met == (n == lengths[-1]), n
    # the same draws as a fixed-length run of the final length
    fixed = fl.sample(seed001, draws=run.n_draws, **{**KW, "thin": 50})
    np.testing.assert_array_equal(fixed.draws[:], W)
    np.testing.assert_array_equal(fixed.loss[:], L)
    run.close()
    # the file records the outcome too
    with fl.open_run(tmp_path / "u.h5") as back:
        assert json.loads(back.attrs["until"])["stopped_by"] == "converged"


def test_until_never_exceeds_its_budgets(seed001):
    # unreachable targets: the step budget stops it, with thin raised to fit max_draws
    t = fl.Convergence(rhat=1.000001, ess=1e9, max_steps=6000, max_draws=400)
    run = fl.sample(seed001, draws=100, until=t, **KW)
    out = json.loads(run.attrs["until"])
    assert run.attrs["thin"] == 15  # ceil(6000 / 400)
    assert run.n_draws * run.attrs["thin"] <= 6000 and out["stopped_by"] == "max_steps"
    assert run.n_draws == 400  # 100 -> 200 -> 400 = the budget of 6000 // 15 = 400 draws
    # the draw cap alone
    run = fl.sample(seed001, draws=100, until=fl.Convergence(rhat=1.000001, ess=1e9, max_draws=250), **KW)
    assert run.n_draws == 250 and json.loads(run.attrs["until"])["stopped_by"] == "max_draws"
    # the time budget: already spent after the first check
    run = fl.sample(seed001, draws=20, until=fl.Convergence(rhat=1.000001, ess=1e9, max_seconds=1e-6), **KW)
    out = json.loads(run.attrs["until"])
    assert out["stopped_by"] == "max_seconds" and run.n_draws == 20 and len(out["checks"]) == 1


def test_canonical_and_function_space_diagnostics_see_through_symmetric_copies(seed001):
    # chains started in different symmetry copies of one isolated minimum (weight decay
    # 0.1: smallest Hessian eigenvalue 0.025), at a temperature where none leaves its copy:
    # raw weights disagree between chains, while the loss, the outputs and the canonical
    # weights agree (same function, same orbit)
    land = fl.Landscape(seed001.net, seed001.data, weight_decay=0.1)
    net = land.net
    best = fl.train(land, net.init(4, seed=3), optimizer="adam", lr=0.02, steps=3000, progress=False)
    ref = fl.critical.refine(land, best.params[np.argmin(best.loss)], method="newton")
    assert ref.converged and fl.critical.classify(land, ref).label == "local_min"
    orbit = geometry.symmetry_orbit(net, ref.points)
    init = orbit[np.random.default_rng(0).choice(len(orbit), size=8, replace=False)]
    run = fl.sample(land, chains=8, draws=1000, thin=20, warmup=5000, step_size=0.003, temperature=1e-4,
                    init=init, box=50.0, seed=4, progress=False)  # fmt: skip
    c = convergence.check(run.draws, run.loss, land, fl.Convergence(quantities=("loss", "outputs", "canonical", "raw")))
    assert c.rhat["raw"] > 1.5 and any(f.startswith("raw") for f in c.failing)
    assert max(c.rhat["loss"], c.rhat["outputs"], c.rhat["canonical"]) < 1.02


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rhat=1.0), "rhat"),
        (dict(ess=0), "ess"),
        (dict(quantities=("loss", "weights")), "quantities"),
        (dict(max_steps=2.5), "max_steps"),
        (dict(max_draws=True), "max_draws"),
        (dict(max_seconds=-1.0), "max_seconds"),
    ],
)
def test_bad_targets(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fl.Convergence(**kwargs)


def test_until_needs_targets_and_two_chains(seed001):
    with pytest.raises(ValueError, match="until: expected a fastland.Convergence"):
        fl.sample(seed001, chains=2, draws=5, until="converged", progress=False)
    with pytest.raises(ValueError, match="until: convergence needs at least 2 chains"):
        fl.sample(seed001, chains=1, draws=5, until=fl.Convergence(), progress=False)
