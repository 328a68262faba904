"""Tests for fastland.diagnostics against ArviZ, closed forms and Monte Carlo references.

Tolerances:
- ArviZ agreement: rtol 1e-6 (observed ~1e-14; the two compute the same formulas, and
  differ only in the order of a few floating-point sums).
- Closed forms from finite chains: Monte Carlo tolerances of about 3-4 standard errors,
  sized from repeated runs over seeds; the tests use fixed seeds, so they are deterministic.
"""

import ast
import inspect
import math
import warnings

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastland import diagnostics as diag

FUNCS = ["rhat", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean"]


def ar1(shape, rho, seed):
    """Stationary AR(1) chains along axis 1: x_t = rho x_{t-1} + e_t, e_t ~ N(0, 1)."""
    e = np.random.default_rng(seed).normal(size=shape)
    e[:, 0] /= np.sqrt(1.0 - rho**2)
    return scipy.signal.lfilter([1.0], [1.0, -rho], e, axis=1)


def _normal(shape, seed):
    return np.random.default_rng(seed).normal(size=shape)


CASES = {
    "iid_4x100": lambda: _normal((4, 100), 1),
    "iid_2x1001": lambda: _normal((2, 1001), 2),  # odd draws: split drops the middle draw
    "ar1_rho0.9_4x100": lambda: ar1((4, 100), 0.9, 3),
    "ar1_rho0.9_8x37x3": lambda: ar1((8, 37, 3), 0.9, 4),
    "antithetic_4x100": lambda: ar1((4, 100), -0.9, 5),  # hits the N log10 N cap
    "shifted_means_4x100": lambda: _normal((4, 100), 6) + 2.0 * np.arange(4)[:, None],
    "student_t2_8x37x3": lambda: np.random.default_rng(7).standard_t(2, size=(8, 37, 3)),
    "ties_4x60x2": lambda: np.random.default_rng(8).integers(0, 3, size=(4, 60, 2)).astype(float),
    "minimal_2x4": lambda: _normal((2, 4), 9),
    "param_grid_3x5x2x2": lambda: _normal((3, 5, 2, 2), 10),
    "quantile_on_a_draw_3x7": lambda: _normal((3, 7), 11),  # (n - 1) * 0.05 + 1 == 2
}


def arviz_reference(az, x, func):
    """ArviZ's value of ``func`` for draws x, as a float or an array of shape param."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "more chains than draws" and 0/0 for constants
        with np.errstate(all="ignore"):
            ds = az.convert_to_dataset(x)
            out = {
                "rhat": lambda: az.rhat(ds),
                "ess_bulk": lambda: az.ess(ds, method="bulk"),
                "ess_tail": lambda: az.ess(ds, method="tail"),
                "ess_mean": lambda: az.ess(ds, method="mean"),
                "mcse_mean": lambda: az.mcse(ds, method="mean"),
            }[func]()
    return out["x"].values


# ---------------------------------------------------------------------------------------------
# Agreement with ArviZ
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize("case", list(CASES))
def test_matches_arviz(case, func):
    az = pytest.importorskip("arviz")
    x = CASES[case]()
    ours = getattr(diag, func)(x)
    ref = arviz_reference(az, x, func)
    if x.ndim == 2:
        assert isinstance(ours, float)
    else:
        assert ours.shape == x.shape[2:]
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_shifted_means_have_large_rhat():
    assert diag.rhat(CASES["shifted_means_4x100"]()) > 1.5


@pytest.fixture
def arviz_numpy_path():
    """ArviZ with its NumPy code path (its Numba variance is E[x^2] - E[x]^2, which cancels)."""
    az = pytest.importorskip("arviz")
    was_on = az.Numba.numba_flag
    az.Numba.disable_numba()
    yield az
    if was_on:
        az.Numba.enable_numba()


_shapes = st.tuples(st.integers(2, 5), st.integers(4, 24), st.integers(1, 3))
_values = st.one_of(st.floats(-10, 10, allow_subnormal=False), st.integers(-3, 3).map(float))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=hnp.arrays(np.float64, _shapes, elements=_values))
def test_matches_arviz_on_arbitrary_draws(arviz_numpy_path, x):
    # Ties, constant parameters and tiny chains included (3000 examples passed at rtol 1e-9
    # while this module was written; NaN where ArviZ gives NaN).
    for func in FUNCS:
        ref = arviz_reference(arviz_numpy_path, x, func)
        np.testing.assert_allclose(getattr(diag, func)(x), ref, rtol=1e-9, err_msg=func)


def test_summary_matches_arviz_summary():
    az = pytest.importorskip("arviz")
    x = ar1((4, 200, 3), 0.7, 12)  # even draws: az.summary folds R-hat like az.rhat then
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.summary(az.convert_to_dataset(x), round_to="none")
    ours = diag.summary(x)
    for col, ref_col in [
        ("mean", "mean"),
        ("sd", "sd"),
        ("rhat", "r_hat"),
        ("ess_bulk", "ess_bulk"),
        ("ess_tail", "ess_tail"),
        ("mcse_mean", "mcse_mean"),
    ]:
        np.testing.assert_allclose(ours[col], ref[ref_col].to_numpy(), rtol=1e-6, err_msg=col)


# ---------------------------------------------------------------------------------------------
# Closed forms and Monte Carlo references
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rho", "rtol"),
    # Relative sd of ESS/N over 40 seeds: 0.047, 0.023, 0.013, 0.028; tolerance ~3.5 sd.
    [(0.9, 0.16), (0.5, 0.08), (0.0, 0.05), (-0.5, 0.10)],
)
def test_ar1_ess_of_mean_matches_closed_form(rho, rtol):
    x = ar1((4, 20000), rho, 20)
    expected = x.size * (1.0 - rho) / (1.0 + rho)
    np.testing.assert_allclose(diag.ess_mean(x), expected, rtol=rtol)


def test_ar1_ess_bulk_matches_closed_form_for_gaussian_chains():
    # Rank normalisation of Gaussian draws is nearly the identity: same tolerance as rho=0.9.
    x = ar1((4, 20000), 0.9, 21)
    np.testing.assert_allclose(diag.ess_bulk(x), x.size * 0.1 / 1.9, rtol=0.16)


def test_antithetic_chains_hit_the_n_log10_n_cap():
    # True ESS of AR(1) with rho=-0.9 is 19 N > N log10 N, so ArviZ's cap tau >= 1/log10(N) binds.
    x = ar1((4, 20000), -0.9, 22)
    n = x.size
    np.testing.assert_allclose(diag.ess_mean(x), n * math.log10(n), rtol=1e-12)


def test_iid_rhat_is_one():
    x = _normal((4, 20000, 5), 23)
    r = diag.rhat(x)
    assert np.all(np.abs(r - 1.0) < 0.01), r


def test_mcse_mean_is_calibrated():
    # 1000 independent AR(1) problems as parameters: the grand mean over (4 x 250) draws
    # divided by its MCSE should be ~N(0, 1). Over seeds the sd of z was 1.00 +- 0.05.
    x = ar1((4, 250, 1000), 0.5, 24)
    z = x.mean(axis=(0, 1)) / diag.mcse_mean(x)
    assert abs(z.std() - 1.0) < 0.12
    assert abs(np.mean(np.abs(z) < 1.959964) - 0.95) < 0.03  # binomial sd 0.007


def test_ess_bulk_is_invariant_under_increasing_transforms():
    x = ar1((4, 300, 2), 0.6, 25)
    np.testing.assert_array_equal(diag.ess_bulk(np.exp(x)), diag.ess_bulk(x))
    np.testing.assert_array_equal(diag.ess_tail(np.exp(x)), diag.ess_tail(x))


def test_vectorised_over_parameters_equals_one_at_a_time():
    x = ar1((5, 83, 2, 3), 0.8, 26)
    for func in FUNCS:
        f = getattr(diag, func)
        whole = f(x)
        for idx in np.ndindex(2, 3):
            np.testing.assert_allclose(whole[idx], f(x[(slice(None), slice(None), *idx)]), rtol=1e-13)


def test_constant_parameter():
    x = _normal((4, 50, 2), 27)
    x[..., 1] = 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = diag.rhat(x)
        ess = diag.ess_bulk(x)
    assert np.isfinite(r[0]) and np.isnan(r[1])  # as ArviZ
    assert ess[1] == 200.0


def test_prob_forms_of_ess_tail():
    x = ar1((4, 300), 0.5, 28)
    assert diag.ess_tail(x, 0.1) == diag.ess_tail(x, (0.1, 0.9))
    assert diag.ess_tail(x) == diag.ess_tail(x, (0.05, 0.95))


def test_accepts_lists_and_integers():
    x = np.random.default_rng(29).integers(0, 10, size=(3, 20))
    assert diag.rhat(x.tolist()) == diag.rhat(x.astype(float))


# ---------------------------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------------------------


def test_summary_columns_agree_with_functions():
    x = ar1((4, 101, 2, 2), 0.7, 30)
    s = diag.summary(x)
    assert list(s) == ["name", "mean", "sd", "rhat", "ess_bulk", "ess_tail", "mcse_mean"]
    assert s["name"].tolist() == ["x[0,0]", "x[0,1]", "x[1,0]", "x[1,1]"]
    flat = x.reshape(4, 101, 4)
    np.testing.assert_allclose(s["mean"], flat.mean(axis=(0, 1)), rtol=1e-13)
    np.testing.assert_allclose(s["sd"], flat.reshape(-1, 4).std(axis=0, ddof=1), rtol=1e-13)
    for func in ["rhat", "ess_bulk", "ess_tail", "mcse_mean"]:
        np.testing.assert_array_equal(s[func], getattr(diag, func)(x).ravel())


def test_summary_names_and_single_chain():
    s = diag.summary(_normal((1, 40, 2), 31), names=["w", "b"])
    assert s["name"].tolist() == ["w", "b"]
    assert np.all(np.isnan(s["rhat"]))
    assert np.all(np.isfinite(s["ess_bulk"]))
    assert diag.summary(_normal((2, 40), 32))["name"].tolist() == ["x"]


# ---------------------------------------------------------------------------------------------
# clt_check
# ---------------------------------------------------------------------------------------------


def test_clt_check_rejection_rate_of_gaussian_chain_means():
    # 4000 parameters, iid normal draws: the per-parameter rejection rate is alpha;
    # binomial sd 0.0034, tolerance ~4 sd.
    res = diag.clt_check(_normal((16, 50, 4000), 40))
    assert abs(res.fraction_rejected - 0.05) < 0.015
    assert res.pvalues.shape == (4000,) and res.statistic.shape == (4000,)
    assert res.n_chains == 16 and res.alpha == 0.05


def test_clt_check_familywise_pass_rate():
    # Bonferroni over 5 parameters: P(pass) >= 1 - alpha; 300 trials, binomial sd 0.013.
    rng = np.random.default_rng(41)
    passed = [diag.clt_check(rng.normal(size=(16, 20, 5))).passed for _ in range(300)]
    assert np.mean(passed) > 0.95 - 0.04


def test_clt_check_fails_for_chains_stuck_in_two_modes():
    rng = np.random.default_rng(42)
    centres = np.where(np.arange(16) < 8, -5.0, 5.0)[:, None]
    res = diag.clt_check(centres + rng.normal(size=(16, 200)))
    assert isinstance(res.pvalues, float) and res.pvalues < 1e-3
    assert not res.passed and res.any_rejected and res.fraction_rejected == 1.0


def test_clt_check_flags_the_one_bimodal_parameter():
    rng = np.random.default_rng(43)
    x = rng.normal(size=(16, 200, 4))
    x[:, :, 2] += np.where(np.arange(16) < 8, -5.0, 5.0)[:, None]
    res = diag.clt_check(x)
    assert not res.passed
    assert res.pvalues[2] < 1e-3
    assert res.fraction_rejected >= 0.25


def test_clt_check_constant_parameter_is_not_a_rejection():
    x = _normal((8, 30, 2), 44)
    x[..., 0] = 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = diag.clt_check(x)
    assert res.statistic[0] == 1.0 and res.pvalues[0] == 1.0


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

ALL = FUNCS + ["summary", "clt_check"]


@pytest.mark.parametrize("func", ALL)
@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros(10), r"^x: expected an array of shape \(chain, draw\)"),
        (np.zeros((4, 3)), r"^x: expected at least 4 draws"),
        (np.full((4, 10), np.nan), r"^x: expected finite values, found 40 NaN or inf"),
        (np.array([[1.0] * 10] * 3 + [[np.inf] * 10]), r"^x: expected finite values, found 10"),
        (np.zeros((4, 10), dtype=complex), r"^x: expected a real numeric array"),
        (np.array([["a"] * 10] * 4), r"^x: expected a real numeric array"),
        ([[1.0, 2.0], [3.0]], r"^x: expected a numeric array"),
    ],
    ids=["1d", "3draws", "nan", "inf", "complex", "str", "ragged"],
)
def test_bad_x(func, x, match):
    if func == "clt_check" and match.startswith("^x: expected at least 4 draws"):
        assert diag.clt_check(x).passed  # chain means need only one draw per chain
        return
    with pytest.raises(ValueError, match=match):
        getattr(diag, func)(x)


def test_too_few_chains():
    with pytest.raises(ValueError, match=r"^x: expected at least 2 chains"):
        diag.rhat(np.zeros((1, 100)))
    with pytest.raises(ValueError, match=r"^x: expected at least 3 chains"):
        diag.clt_check(np.zeros((2, 100)))
    assert np.isfinite(diag.ess_bulk(_normal((1, 100), 50)))  # one chain is enough for ESS


@pytest.mark.parametrize("prob", [0.0, 1.0, 1.5, (0.1,), (0.1, 1.2), "0.1", True])
def test_bad_prob(prob):
    with pytest.raises(ValueError, match=r"^prob: expected"):
        diag.ess_tail(np.zeros((2, 10)), prob)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, "0.05", True])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match=r"^alpha: expected"):
        diag.clt_check(np.zeros((4, 10)), alpha=alpha)


@pytest.mark.parametrize("names", [["a"], "ab", ["a", 1], 3])
def test_bad_names(names):
    with pytest.raises(ValueError, match=r"^names: expected"):
        diag.summary(np.zeros((2, 10, 2)), names=names)


# ---------------------------------------------------------------------------------------------
# Module hygiene
# ---------------------------------------------------------------------------------------------


def test_runtime_dependencies_are_numpy_and_scipy_only():
    tree = ast.parse(inspect.getsource(diag))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    assert roots <= {
        "__future__",
        "math",
        "numbers",
        "warnings",
        "collections",
        "dataclasses",
        "numpy",
        "scipy",
    }


def test_public_names():
    assert sorted(diag.__all__) == sorted(
        ["CLTCheck", "clt_check", "ess_bulk", "ess_mean", "ess_tail", "mcse_mean", "rhat", "summary"]
    )
    for name in diag.__all__:
        assert getattr(diag, name).__doc__
