"""The vectorisable elementary functions of ``fastland._kernels.vmath``.

Accuracy is measured in ulps against references computed in NumPy's extended
precision (``np.longdouble``: 64-bit mantissa on x86-64, so its rounding to
float64 is the correctly rounded value up to rare ties), over wide random
ranges; special values (+-0, +-inf, NaN, overflow, underflow, subnormal inputs
and results) must match the C library's results exactly. A last test compiles
a plain loop over each function and checks that LLVM turned it into SIMD code.

Bounds (max ulp over 200,000 points per range): exp, log, log1p 1; tanh 2;
sigmoid, softplus 3 (a division and a sum after the exponential).
"""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastland._kernels import vmath

LD = np.longdouble
pytestmark = pytest.mark.skipif(np.finfo(LD).nmant < 63, reason="needs 80-bit long double references")


def _loop(fn):
    """An uncached plain loop y[i] = fn(x[i]) with the kernels' error model."""

    @numba.njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    return loop


LOOPS = {name: _loop(getattr(vmath, name)) for name in ["exp", "log", "log1p", "tanh", "sigmoid", "softplus"]}


def evaluate(name, x):
    out = np.empty_like(x)
    LOOPS[name](x, out)
    return out


def ulp_distance(a, b):
    """Number of float64 values between a and b (0 when equal), NaN-free inputs."""
    ia = a.view(np.int64).astype(object)
    ib = b.view(np.int64).astype(object)
    # map the sign-magnitude bit patterns onto a monotone integer line
    ia = np.where(ia < 0, -(2**63) - ia, ia)
    ib = np.where(ib < 0, -(2**63) - ib, ib)
    return np.abs(ia - ib).astype(np.float64)


def _sigmoid_ref(x):
    xl = x.astype(LD)
    return (np.where(x >= 0, 1, np.exp(xl)) / (1 + np.exp(-np.abs(xl)))).astype(np.float64)


def _softplus_ref(x):
    xl = x.astype(LD)
    return (np.maximum(xl, 0) + np.log1p(np.exp(-np.abs(xl)))).astype(np.float64)


REFERENCES = {
    "exp": lambda x: np.exp(x.astype(LD)).astype(np.float64),
    "log": lambda x: np.log(x.astype(LD)).astype(np.float64),
    "log1p": lambda x: np.log1p(x.astype(LD)).astype(np.float64),
    "tanh": lambda x: np.tanh(x.astype(LD)).astype(np.float64),
    "sigmoid": _sigmoid_ref,
    "softplus": _softplus_ref,
}


def _uniform(lo, hi):
    return lambda rng, n: rng.uniform(lo, hi, n)


def _log_uniform(lo, hi, sign=1.0):
    return lambda rng, n: sign * np.exp(rng.uniform(np.log(lo), np.log(hi), n))


# (function, sampler, max ulp)
RANGES = [
    ("exp", _uniform(-745.0, 709.7), 1),  # includes subnormal results below -708
    ("exp", _uniform(-1.0, 1.0), 1),
    ("exp", _log_uniform(1e-300, 1.0), 1),
    ("log", _log_uniform(5e-324, 1.7e308), 1),  # subnormal inputs included
    ("log", _uniform(0.5, 2.0), 1),
    ("log", _uniform(0.999, 1.001), 1),
    ("log1p", _uniform(-0.999, 10.0), 1),
    ("log1p", _log_uniform(1e-300, 1e300), 1),
    ("log1p", _log_uniform(1e-300, 0.99, sign=-1.0), 1),
    ("tanh", _uniform(-1.0, 1.0), 2),
    ("tanh", _uniform(-25.0, 25.0), 2),
    ("tanh", _log_uniform(1e-300, 0.625), 2),
    ("tanh", _uniform(0.6, 0.65), 2),  # both sides of the switch between the two forms
    ("sigmoid", _uniform(-40.0, 40.0), 3),
    ("sigmoid", _uniform(-745.0, 745.0), 3),
    ("softplus", _uniform(-40.0, 40.0), 3),
    ("softplus", _uniform(-700.0, 700.0), 3),
]


@pytest.mark.parametrize(("name", "sampler", "bound"), RANGES)
def test_accuracy_in_ulps(name, sampler, bound):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    x = sampler(rng, 200_000)
    got = evaluate(name, x)
    ref = REFERENCES[name](x)
    d = ulp_distance(got, ref)
    worst = int(np.argmax(d))
    assert d.max() <= bound, f"{name}({x[worst]!r}) = {got[worst]!r}, reference {ref[worst]!r}"


def _odd_symmetric(name):
    return name == "tanh"


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "tanh"])
def test_special_values_match_numpy(name):
    x = np.array(
        [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -2.0, 5e-324, -5e-324, 1e-310, -1e-310]
        + [709.78, 709.79, 710.0, -745.1, -745.2, -1000.0, 1e308, -1e308, 1.7976931348623157e308]
    )
    with np.errstate(all="ignore"):
        ref = getattr(np, name)(x)
    got = evaluate(name, x)
    exact = ~np.isfinite(ref) | (ref == 0.0) | (x == 0.0)
    assert_array_equal(got[exact], ref[exact])  # NaN where NaN, +-inf, zeros
    assert_array_equal(np.signbit(got[exact & ~np.isnan(ref)]), np.signbit(ref[exact & ~np.isnan(ref)]))
    finite = ~exact
    assert ulp_distance(got[finite], REFERENCES[name](x[finite])).max() <= 2


def test_special_values_sigmoid_softplus():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 800.0, -800.0, 40.0, -745.0, 5e-324])
    sig = evaluate("sigmoid", x)
    assert_array_equal(sig[:7], [0.5, 0.5, 1.0, 0.0, np.nan, 1.0, 0.0])
    assert sig[7] == 1.0  # 1 - 4e-18 rounds to 1
    assert 0.0 < sig[8] < 1e-320  # subnormal, not flushed
    assert sig[9] == 0.5
    sp = evaluate("softplus", x)
    assert_array_equal(sp[:7], [np.log(2.0), np.log(2.0), np.inf, 0.0, np.nan, 800.0, 0.0])
    assert sp[7] == 40.0 + np.log1p(np.exp(-40.0))


def test_log_of_negative_and_log1p_below_minus_one_are_nan():
    assert np.isnan(evaluate("log", np.array([-1e-300, -3.0, -np.inf]))).all()
    assert np.isnan(evaluate("log1p", np.array([-1.0000001, -3.0, -np.inf]))).all()
    assert evaluate("log1p", np.array([-1.0]))[0] == -np.inf


def test_tanh_is_odd_and_saturates():
    x = np.random.default_rng(3).uniform(0.0, 30.0, 10_000)
    assert_array_equal(evaluate("tanh", -x), -evaluate("tanh", x))
    assert (evaluate("tanh", np.array([19.1, 20.0, 40.0, 1e300])) == 1.0).all()


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_loop_is_vectorised(name):
    # the whole point of the module: a loop over these functions becomes SIMD code
    x = np.linspace(0.1, 2.0, 64)
    evaluate(name, x)
    loop = LOOPS[name]
    ir = loop.inspect_llvm(loop.signatures[0])
    assert re.search(r"<(4|8) x double>", ir), f"{name}: no vector instructions in the loop"
