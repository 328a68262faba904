"""Per-chain counter-based random numbers: Philox4x64-10, keyed by (seed, chain).

Every chain or run owns a stream whose key is (seed, index), so its numbers do
not depend on which thread runs it, on the block size, or on interruptions.
The state of one stream is a uint64 array of length ``STATE_SIZE``::

    state[0]      key word 0 (the seed)
    state[1]      key word 1 (the chain or run index)
    state[2]      block counter (incremented before each block of 4 words)
    state[3:7]    the current block of 4 output words
    state[7]      how many of them are used (4 = none left)

The raw words equal NumPy's ``np.random.Philox(key=seed + (index << 64))``
``random_raw()`` sequence, which the tests check bit for bit.

RWM steps (``samplers.rwm_block``) read whole blocks of a second generator,
Philox4x32-10 (:func:`block4x32`: key = seed, counter = (block, index)), whose
32 x 32 -> 64 bit multiplies are single SIMD instructions: there ``state[2]``
counts the Philox4x32 blocks used and the buffer is left empty. The tests
check :func:`philox4x32` against Random123's known-answer vectors.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit

STATE_SIZE = 8

_M0 = np.uint64(0xD2E7470EE14C6C93)
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)
_W1 = np.uint64(0xBB67AE8584CAA73B)
_MASK32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_TWO_POW_M53 = 1.0 / 9007199254740992.0


@jit
def _mulhilo(a, b):
    """High and low 64-bit words of the 128-bit product a * b (uint64 only)."""
    a_lo = a & _MASK32
    a_hi = a >> _S32
    b_lo = b & _MASK32
    b_hi = b >> _S32
    p0 = a_lo * b_lo
    p1 = a_lo * b_hi
    p2 = a_hi * b_lo
    p3 = a_hi * b_hi
    mid = (p0 >> _S32) + (p1 & _MASK32) + (p2 & _MASK32)
    hi = p3 + (p1 >> _S32) + (p2 >> _S32) + (mid >> _S32)
    return hi, a * b


@jit
def philox4x64(c0, c1, c2, c3, k0, k1):
    """Philox4x64 with 10 rounds of the counter (c0..c3) under key (k0, k1)."""
    for r in range(10):
        if r > 0:
            k0 = k0 + _W0
            k1 = k1 + _W1
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


# Philox4x32 multipliers and Weyl key increments (Random123)
M0_32 = np.uint64(0xD2511F53)
M1_32 = np.uint64(0xCD9E8D57)
W0_32 = np.uint64(0x9E3779B9)
W1_32 = np.uint64(0xBB67AE85)


@jit(inline=True)
def _round4x32(c0, c1, c2, c3, k0, k1):
    """One Philox4x32 round on 32-bit values held in uint64s.

    Bits above 32 of the inputs are ignored where they matter (the products
    use the low halves only) and may be left set in the outputs: callers mask
    the final words. This keeps the round at two 32 x 32 -> 64 multiplies,
    two shifts and four xors, in SIMD lanes too.
    """
    p0 = M0_32 * (c0 & _MASK32)
    p1 = M1_32 * (c2 & _MASK32)
    return (p1 >> _S32) ^ c1 ^ k0, p1, (p0 >> _S32) ^ c3 ^ k1, p0


@jit(inline=True)
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of the 32-bit counter words c0..c3 under key (k0, k1); 4 words < 2^32.

    Written out round by round (no loop), so that a loop over SIMD lanes that
    inlines it stays a single straight-line body.
    """
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0, k1)
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0 + W0_32, k1 + W1_32)
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0 + np.uint64(2) * W0_32, k1 + np.uint64(2) * W1_32)
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0 + np.uint64(3) * W0_32, k1 + np.uint64(3) * W1_32)
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0 + np.uint64(4) * W0_32, k1 + np.uint64(4) * W1_32)
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0 + np.uint64(5) * W0_32, k1 + np.uint64(5) * W1_32)
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0 + np.uint64(6) * W0_32, k1 + np.uint64(6) * W1_32)
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0 + np.uint64(7) * W0_32, k1 + np.uint64(7) * W1_32)
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0 + np.uint64(8) * W0_32, k1 + np.uint64(8) * W1_32)
    c0, c1, c2, c3 = _round4x32(c0, c1, c2, c3, k0 + np.uint64(9) * W0_32, k1 + np.uint64(9) * W1_32)
    return c0 & _MASK32, c1 & _MASK32, c2 & _MASK32, c3 & _MASK32


@jit(inline=True)
def block4x32(seed, index, n):
    """Block n of the Philox4x32-10 stream (seed, index) as two uint64 words.

    Key (low, high 32 bits of ``seed``); counter (low, high 32 bits of ``n``,
    low, high 32 bits of ``index``), so streams of different (seed, index)
    never share a block. The words are x0 | x1 << 32 and x2 | x3 << 32.
    """
    x0, x1, x2, x3 = philox4x32(n & _MASK32, n >> _S32, index & _MASK32, index >> _S32, seed & _MASK32, seed >> _S32)
    return x0 | (x1 << _S32), x2 | (x3 << _S32)


@jit
def seed_state(state, seed, index):
    """Initialise one stream for (seed, index): counter 0, no buffered words."""
    state[0] = np.uint64(seed)
    state[1] = np.uint64(index)
    state[2] = _ZERO
    state[3] = _ZERO
    state[4] = _ZERO
    state[5] = _ZERO
    state[6] = _ZERO
    state[7] = np.uint64(4)


@jit
def next_raw(state):
    """The next uint64 of the stream."""
    pos = state[7]
    if pos >= np.uint64(4):
        state[2] = state[2] + _ONE
        r0, r1, r2, r3 = philox4x64(state[2], _ZERO, _ZERO, _ZERO, state[0], state[1])
        state[3] = r0
        state[4] = r1
        state[5] = r2
        state[6] = r3
        pos = _ZERO
    state[7] = pos + _ONE
    return state[3 + np.int64(pos)]


@jit
def uniform(state):
    """A double uniform on [0, 1) with 53 random bits."""
    return np.float64(next_raw(state) >> _S11) * _TWO_POW_M53


@jit
def fill_normal(state, out):
    """Fill ``out`` with independent standard normals (Box-Muller, in pairs)."""
    n = out.shape[0]
    i = 0
    while i < n:
        u1 = 1.0 - uniform(state)  # in (0, 1]: log is finite
        u2 = uniform(state)
        r = math.sqrt(-2.0 * math.log(u1))
        t = 2.0 * math.pi * u2
        out[i] = r * math.cos(t)
        if i + 1 < n:
            out[i + 1] = r * math.sin(t)
        i += 2


@jit
def seed_states(seed, first_index, n):
    """States of the streams (seed, first_index + i) for i < n: (n, STATE_SIZE) uint64."""
    states = np.empty((n, STATE_SIZE), dtype=np.uint64)
    for i in range(n):
        seed_state(states[i], seed, first_index + i)
    return states
