"""Chain-lane kernels: ``LANES`` chains advanced together, one chain per SIMD lane.

A sampler step of one chain on a small network is a few hundred scalar
operations with a dependency chain through every layer: one chain alone keeps
the vector units idle. Here a group of ``LANES`` consecutive chains is stored
structure-of-arrays (parameter q of lane ln at ``W[q, ln]``) and every loop over
the lanes is the innermost loop, of constant length and free of branches and
library calls, so LLVM turns it into SIMD code. The elementary functions come
from :mod:`fastland._kernels.vmath` (``inline=True``), plus two here for
Box-Muller, ``sincos2pi`` and ``log_unit`` (log on (0, 1]); the
random words from Philox4x32-10 (``rng.block4x32``), whose 32 x 32 -> 64 bit
multiplies are single SIMD instructions.

Memory: a group holds its parameters twice (current and proposed), 2 x p x
LANES doubles, 512 bytes per parameter.

Every operation is lane-wise (no sums or other reductions across lanes), the
groups are fixed by chain index (chains g LANES ... (g + 1) LANES - 1) and the
same compiled code runs for every group, so results are bit-identical for any
thread count and block size.

Why ``LANES`` >= 16: LLVM cannot prove that two NumPy arrays do not overlap, so
it vectorises a lane loop only behind a run-time overlap check, and it refuses
such checks in loops of fewer than 16 iterations. The lane functions are
compiled with FMA contraction only (``jit(contract=True)``): no reassociation, so the
error-compensation steps of the elementary functions stay as written.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from . import mlp, rng, vmath
from ._jit import jit

LANES = 32  # chains per group (>= 16, see above); 32 ran ~6% faster than 16 on seed 001's net


_TWO_POW_M53 = 1.0 / 9007199254740992.0
_S11 = np.uint64(11)

# ------------------------------------------------------------------ sin / cos of 2 pi u
# Taylor coefficients of sin(2 pi f) and cos(2 pi f) in f, computed exactly from 50 digits
# of pi and rounded once. On |f| <= 1/8 (|2 pi f| <= pi/4) the first omitted terms are
# below 1e-19 relative, far under the rounding of the evaluation.
_PI = Fraction("3.14159265358979323846264338327950288419716939937510")


def _taylor(first: int, n: int) -> tuple:
    """n Taylor coefficients (2 pi)^d (-1)^j / d! of degrees d = first, first + 2, ... as floats."""
    out, fact = [], 1
    for k in range(1, first + 1):
        fact *= k
    for j in range(n):
        deg = first + 2 * j
        if j:
            fact *= (deg - 1) * deg
        out.append(float((-1) ** j * (2 * _PI) ** deg / fact))
    return tuple(out)


_SIN = _taylor(1, 9)  # f, f^3, ..., f^17
_COS = _taylor(0, 10)  # 1, f^2, ..., f^18
_S0, _S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8 = _SIN
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9 = _COS


@jit(contract=True, inline=True)
def sincos2pi(u):
    """(sin(2 pi u), cos(2 pi u)) to about 1 ulp; branch-free, vectorisable.

    The reduction u = k/4 + f with |f| <= 1/8 is exact (no rounding of 2 pi u),
    so the accuracy holds for any finite u whose reduction is exact, e.g. every
    u in [0, 1) on the 2^-53 grid of :func:`uniform_from_word`.
    """
    k = np.floor(4.0 * u + 0.5)
    f = u - 0.25 * k
    s = f * f
    ps = _S8
    ps = ps * s + _S7
    ps = ps * s + _S6
    ps = ps * s + _S5
    ps = ps * s + _S4
    ps = ps * s + _S3
    ps = ps * s + _S2
    ps = ps * s + _S1
    sn = f * (ps * s) + _S0 * f
    pc = _C9
    pc = pc * s + _C8
    pc = pc * s + _C7
    pc = pc * s + _C6
    pc = pc * s + _C5
    pc = pc * s + _C4
    pc = pc * s + _C3
    pc = pc * s + _C2
    pc = pc * s + _C1
    cs = pc * s + _C0
    # 2 pi u = q pi/2 + 2 pi f: rotate by q quarter turns (selects, not a switch: vectorisable)
    q = np.int64(k)
    swap = (q & 1) != 0
    a = cs if swap else sn
    b = sn if swap else cs
    sin_u = -a if (q & 2) != 0 else a
    cos_u = -b if ((q + 1) & 2) != 0 else b
    return sin_u, cos_u


_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts: k * _LN2_HI is exact for |k| < 2^20
_LN2_LO = 1.90821492927058770002e-10


# fdlibm e_log.c: log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f), minimax R
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@jit(contract=True, inline=True)
def log_unit(x):
    """log(x) for x in [2^-1022, 1] (normal, positive): fdlibm's main formula, no special cases.

    The Box-Muller radius needs log on (0, 1] only: ``vmath.log`` without its
    subnormal / zero / negative / NaN / inf selects and second formula (about
    a quarter fewer operations); within about 1 ulp there.
    """
    bits = vmath.as_int64(x)
    hx = bits >> 32
    k = (hx >> 20) - 1023
    hx = hx & 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    # mantissa in [sqrt(2)/2, sqrt(2))
    m = vmath.as_float64(((hx | (i ^ 0x3FF00000)) << 32) | (bits & 0xFFFFFFFF))
    dk = np.float64(k + (i >> 20))
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    hfsq = 0.5 * f * f
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + (t2 + t1)) + dk * _LN2_LO)) - f)


@jit(contract=True, inline=True)
def uniform_from_word(word):
    """The double uniform on [0, 1) with the top 53 bits of a uint64 (as ``rng.uniform``)."""
    return np.float64(np.int64(word >> _S11)) * _TWO_POW_M53


# ---------------------------------------------------------------- random numbers per step


@jit(contract=True)
def step_blocks(p):
    """Philox4x32 blocks (2 uint64 words each) per RWM step: p normals in pairs, one uniform."""
    return (2 * ((p + 1) // 2) + 1 + 1) // 2


@jit(contract=True)
def philox_lanes(seed, index, ctr, n_blocks, words):
    """words[2 j + i, ln] = word i of block ``ctr[ln] + 1 + j`` of stream (seed[ln], index[ln]).

    The blocks are :func:`fastland._kernels.rng.block4x32` (Philox4x32-10).
    """
    for j in range(n_blocks):
        for ln in range(LANES):
            w0, w1 = rng.block4x32(seed[ln], index[ln], ctr[ln] + np.uint64(j + 1))
            words[2 * j, ln] = w0
            words[2 * j + 1, ln] = w1


@jit(contract=True)
def normals_lanes(words, p, out):
    """out[q, ln] for q < p: standard normals from words[:2 ceil(p/2)] (Box-Muller, in pairs).

    Pair j uses u1 = 1 - U(words[2j]) in (0, 1] and u2 = U(words[2j + 1]):
    out[2j] = r cos(2 pi u2), out[2j + 1] = r sin(2 pi u2), r = sqrt(-2 log u1).
    """
    for j in range(p // 2):
        for ln in range(LANES):
            u1 = 1.0 - uniform_from_word(words[2 * j, ln])
            u2 = uniform_from_word(words[2 * j + 1, ln])
            r = np.sqrt(-2.0 * log_unit(u1))
            sn, cs = sincos2pi(u2)
            out[2 * j, ln] = r * cs
            out[2 * j + 1, ln] = r * sn
    if p % 2 == 1:  # the last pair's sine is not used
        j = p // 2
        for ln in range(LANES):
            u1 = 1.0 - uniform_from_word(words[2 * j, ln])
            u2 = uniform_from_word(words[2 * j + 1, ln])
            r = np.sqrt(-2.0 * log_unit(u1))
            sn, cs = sincos2pi(u2)
            out[2 * j, ln] = r * cs


# ------------------------------------------------------------------------- loss per lane


@jit(contract=True)
def new_work(arch):
    """Workspace of :func:`loss_lanes`: (4 + layers, max width, LANES) float64 (row 4 unused)."""
    return np.zeros((4 + arch[0] + 1, mlp.max_width(arch), LANES))


@jit(contract=True)
def _activate_lanes(act, work, row, n):
    """work[row, :n] = act(work[row, :n]) lane by lane."""
    for u in range(n):
        if act == mlp.ACT_TANH:
            for ln in range(LANES):
                work[row, u, ln] = vmath.tanh(work[row, u, ln])
        elif act == mlp.ACT_SIGMOID:
            for ln in range(LANES):
                work[row, u, ln] = vmath.sigmoid(work[row, u, ln])
        elif act == mlp.ACT_RELU:
            for ln in range(LANES):
                x = work[row, u, ln]
                work[row, u, ln] = x if x > 0.0 else 0.0
        elif act == mlp.ACT_SOFTPLUS:
            for ln in range(LANES):
                work[row, u, ln] = vmath.softplus(work[row, u, ln])
        elif act == mlp.ACT_QUADRATIC:
            for ln in range(LANES):
                x = work[row, u, ln]
                work[row, u, ln] = x * x
        # linear: nothing to do


# rows of the loss workspace: per-point loss, max, sum of exp, log-sum-exp, then one per layer
_VAL, _MAX, _SUM, _LSE, _LAYER0 = range(5)


@jit(contract=True)
def _chunk_loss_lanes(arch, W, X, T, start, stop, work, total):
    """total[ln] = sum of the point losses of lane ln over points start..stop-1."""
    nl = arch[0]
    act = arch[1]
    loss = arch[2]
    n_out = mlp.width(arch, nl)
    for ln in range(LANES):
        total[ln] = 0.0
    for i in range(start, stop):
        for k in range(nl):
            nin = mlp.width(arch, k)
            nout = mlp.width(arch, k + 1)
            wo = mlp.w_offset(arch, k)
            bo = mlp.b_offset(arch, k)
            src = _LAYER0 + k
            dst = src + 1
            for r in range(nout):
                if bo >= 0:
                    for ln in range(LANES):
                        work[dst, r, ln] = W[bo + r, ln]
                else:
                    for ln in range(LANES):
                        work[dst, r, ln] = 0.0
                base = wo + r * nin
                for c in range(nin):
                    if k == 0:  # the inputs are the same in every lane
                        x = X[i, c]
                        for ln in range(LANES):
                            work[dst, r, ln] += W[base + c, ln] * x
                    else:
                        for ln in range(LANES):
                            work[dst, r, ln] += W[base + c, ln] * work[src, c, ln]
            if k < nl - 1:
                _activate_lanes(act, work, dst, nout)
        z = _LAYER0 + nl
        # the point's loss, the formulas of mlp._point_loss (two classes: one exp fewer)
        for ln in range(LANES):
            work[_VAL, 0, ln] = 0.0
        if loss == mlp.LOSS_MSE:
            for o in range(n_out):
                t = T[i, o]
                for ln in range(LANES):
                    d = work[z, o, ln] - t
                    work[_VAL, 0, ln] += d * d
        elif loss == mlp.LOSS_BCE:
            t = T[i, 0]
            for ln in range(LANES):
                x = work[z, 0, ln]
                work[_VAL, 0, ln] = vmath.softplus(x) - t * x
        elif n_out == 2:  # softmax cross-entropy, two classes: exp(z_max - max) = 1 needs no exp
            t0 = T[i, 0]
            t1 = T[i, 1]
            for ln in range(LANES):
                z0 = work[z, 0, ln]
                z1 = work[z, 1, ln]
                up = z1 > z0
                m = z1 if up else z0
                lo = z0 if up else z1
                ls = vmath.log(1.0 + vmath.exp(lo - m))  # lse - z as (m - z) + ls, see mlp
                work[_VAL, 0, ln] = t0 * ((m - z0) + ls) + t1 * ((m - z1) + ls)
        else:  # softmax cross-entropy
            for ln in range(LANES):
                work[_MAX, 0, ln] = work[z, 0, ln]
                work[_SUM, 0, ln] = 0.0
            for o in range(1, n_out):
                for ln in range(LANES):
                    x = work[z, o, ln]
                    m = work[_MAX, 0, ln]
                    work[_MAX, 0, ln] = x if x > m else m
            for o in range(n_out):
                for ln in range(LANES):
                    work[_SUM, 0, ln] += vmath.exp(work[z, o, ln] - work[_MAX, 0, ln])
            for ln in range(LANES):
                work[_LSE, 0, ln] = vmath.log(work[_SUM, 0, ln])  # log S; lse - z = (max - z) + log S
            for o in range(n_out):
                t = T[i, o]
                for ln in range(LANES):
                    work[_VAL, 0, ln] += t * ((work[_MAX, 0, ln] - work[z, o, ln]) + work[_LSE, 0, ln])
        for ln in range(LANES):
            total[ln] += work[_VAL, 0, ln]


@jit(contract=True)
def loss_lanes(arch, W, X, T, wd, work, part, out):
    """out[ln] = mean loss + (wd/2)||w||^2 of lane ln's parameters W[:, ln].

    Summed chunk by chunk (``mlp.CHUNK`` points), chunk partials in order, as
    ``mlp.loss_value``. ``part`` is a (LANES,) float64 buffer.
    """
    N = X.shape[0]
    p = W.shape[0]
    for ln in range(LANES):
        out[ln] = 0.0
    for c in range(mlp._n_chunks(N)):
        _chunk_loss_lanes(arch, W, X, T, c * mlp.CHUNK, min(N, (c + 1) * mlp.CHUNK), work, part)
        for ln in range(LANES):
            out[ln] += part[ln]
    for ln in range(LANES):
        out[ln] = out[ln] / N
    if wd != 0.0:
        for ln in range(LANES):
            part[ln] = 0.0
        for q in range(p):
            for ln in range(LANES):
                part[ln] += W[q, ln] * W[q, ln]
        for ln in range(LANES):
            out[ln] = out[ln] + 0.5 * wd * part[ln]
