"""Elementary functions that LLVM can vectorise (SIMD) inside Numba loops.

Numba calls the C library for ``np.exp`` and friends, one element at a time:
a loop over data points or chains that evaluates ``exp`` cannot become SIMD
code, and the call costs ~5 ns. These versions are branch-free arithmetic
(range reduction + polynomial, results scaled by a bit-cast power of two), so a
loop that inlines them runs 4 or 8 lanes at once. Every special case (NaN,
+-inf, +-0, overflow, underflow, subnormals, log of a negative number) is a
select at the end, never a branch, and follows the C library.

Accuracy against NumPy (``tests/test_vmath.py`` measures it): exp, log and
sigmoid within 1-2 ulp, tanh within 2 ulp, log1p and softplus within 2 ulp.

The functions are compiled with ``inline="always"`` (Numba IR inlining): the
body then becomes part of the calling loop, which LLVM vectorises; a call
that stays a call (Numba's status-returning calling convention) blocks it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import intrinsic

from ._jit import jit

__all__ = ["as_float64", "as_int64", "exp", "log", "log1p", "sigmoid", "softplus", "tanh"]


@intrinsic
def as_float64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (an LLVM bitcast, vectorisable)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@intrinsic
def as_int64(typingctx, x):
    """Reinterpret the bits of a float64 as an int64 (an LLVM bitcast, vectorisable)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two so k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_EXP_MAX = 709.782712893384  # exp overflows above this
_EXP_MIN = -745.1332191019411  # exp underflows to 0 below this


@jit(inline=True)
def exp(x):
    """exp(x) to about 1 ulp; vectorisable (no branches, no library call)."""
    # clamp so the reduction stays in range; the selects at the end restore inf / 0 / NaN
    xc = min(max(x, _EXP_MIN), _EXP_MAX)
    k = np.floor(xc * _LOG2E + 0.5)
    r = xc - k * _LN2_HI - k * _LN2_LO  # |r| <= ln2 / 2
    # Taylor to degree 13: truncation error < 2e-17 relative on |r| <= 0.347
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    # 2^k in two normal factors (k runs from -1075 to 1024): one rounding, also for subnormal results
    ki = np.int64(k)
    k1 = ki >> 1
    y = p * as_float64((k1 + 1023) << 52) * as_float64((ki - k1 + 1023) << 52)
    y = np.inf if x > _EXP_MAX else y
    y = 0.0 if x < _EXP_MIN else y
    y = x if x != x else y
    return y


# fdlibm e_log.c: log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f), minimax R
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_TWO54 = 18014398509481984.0
_MIN_NORMAL = 2.2250738585072014e-308


@jit(inline=True)
def log(x):
    """Natural logarithm to about 1 ulp (fdlibm's algorithm, both of its branches computed)."""
    sub = x < _MIN_NORMAL
    xs = x * _TWO54 if sub else x  # subnormals: scale into the normal range
    bits = as_int64(xs)
    hx = bits >> 32
    k = (hx >> 20) - 1023 - (54 if sub else 0)
    hx = hx & 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    # mantissa in [sqrt(2)/2, sqrt(2)): exponent 0, or -1 when the mantissa is above sqrt(2)
    m = as_float64(((hx | (i ^ 0x3FF00000)) << 32) | (bits & 0xFFFFFFFF))
    k = k + (i >> 20)
    f = m - 1.0
    s = f / (2.0 + f)
    dk = np.float64(k)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    R = t2 + t1
    hfsq = 0.5 * f * f
    y_far = dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO)) - f)
    y_near = dk * _LN2_HI - ((s * (f - R) - dk * _LN2_LO) - f)
    y = y_far if ((hx - 0x6147A) | (0x6B851 - hx)) > 0 else y_near
    y = -np.inf if x == 0.0 else y
    y = np.nan if x < 0.0 else y
    y = x if (x != x) | (x == np.inf) else y
    return y


@jit(inline=True)
def log1p(x):
    """log(1 + x), accurate for small x: log(v) corrected by the rounding error of v = 1 + x."""
    v = 1.0 + x
    y = log(v) + (x - (v - 1.0)) / v
    y = x if v == 1.0 else y  # |x| < 2^-53: x is log1p(x) rounded, and keeps the sign of -0.0
    return log(v) if (v == 0.0) | (v == np.inf) | (x != x) else y


@jit(inline=True)
def sigmoid(x):
    """1 / (1 + exp(-x)), without overflow: exp(-|x|) only."""
    e = exp(-abs(x))
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


@jit(inline=True)
def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), without overflow."""
    return (x if x > 0.0 else 0.0) + log1p(exp(-abs(x)))


# Cephes tanh.c: tanh(x) = x + x s P(s) / Q(s), s = x^2, for |x| < 0.625
_TP0 = -9.64399179425052238628e-1
_TP1 = -9.92877231001918586564e1
_TP2 = -1.61468768441708447952e3
_TQ0 = 1.12811678491632931402e2
_TQ1 = 2.23548839060100448583e3
_TQ2 = 4.84406305325125486048e3


@jit(inline=True)
def tanh(x):
    """tanh(x) to about 1-2 ulp: a rational for |x| < 0.625, 1 - 2 / (exp(2|x|) + 1) beyond.

    Both forms are a + n / d; the operands are selected first so that only one
    division is evaluated. exp's argument is capped at 40, where tanh is 1.
    """
    ax = abs(x)
    s = x * x
    e = exp(min(2.0 * ax, 40.0))
    small = ax < 0.625
    a = ax if small else 1.0
    n = ax * s * ((_TP0 * s + _TP1) * s + _TP2) if small else -2.0
    d = (((s + _TQ0) * s + _TQ1) * s + _TQ2) if small else e + 1.0
    y = math.copysign(a + n / d, x)  # keeps tanh(-0.0) = -0.0
    return x if x != x else y
