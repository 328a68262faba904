import numpy as np
import pytest
from scipy import stats

from fastland._kernels import rng


@pytest.mark.parametrize("seed, index", [(0, 0), (12345, 7), (2**62 + 5, 2**40), (1, 255)])
def test_raw_words_equal_numpy_philox(seed, index):
    # NumPy's Philox (4x64, 10 rounds) is the independent reference
    state = rng.seed_states(seed, index, 1)[0]
    mine = np.array([rng.next_raw(state) for _ in range(23)], dtype=np.uint64)
    ref = np.random.Philox(key=seed + (index << 64)).random_raw(23)
    np.testing.assert_array_equal(mine, ref)


def test_streams_of_neighbouring_chains_differ():
    states = rng.seed_states(3, 0, 2)
    a = [rng.next_raw(states[0]) for _ in range(8)]
    b = [rng.next_raw(states[1]) for _ in range(8)]
    assert not set(a) & set(b)


def test_uniform_and_normal_distributions():
    state = rng.seed_states(9, 0, 1)[0]
    u = np.array([rng.uniform(state) for _ in range(20_000)])
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    z = np.empty(20_001)  # odd length: the last pair is cut
    rng.fill_normal(state, z)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # mean within 5 standard errors
    assert abs(z.mean()) < 5 / np.sqrt(z.size)


def test_state_resumes_mid_block():
    a = rng.seed_states(5, 2, 1)[0]
    first = [rng.next_raw(a) for _ in range(3)]  # leaves one buffered word
    b = a.copy()
    assert [rng.next_raw(a) for _ in range(6)] == [rng.next_raw(b) for _ in range(6)]
    ref = np.random.Philox(key=5 + (2 << 64)).random_raw(9)
    np.testing.assert_array_equal(np.array(first, dtype=np.uint64), ref[:3])


# ------------------------------------------------------------------ Philox4x32-10 (RWM steps)
_M32 = 0xFFFFFFFF


def _philox4x32_reference(ctr, key, rounds=10):
    """Philox4x32 from the published algorithm (Salmon et al. 2011), in Python integers."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0 = (k0 + 0x9E3779B9) & _M32
            k1 = (k1 + 0xBB67AE85) & _M32
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _M32, (p0 >> 32) ^ c3 ^ k1, p0 & _M32
    return c0, c1, c2, c3


# Random123's known-answer vectors (tests/kat_vectors): counter, key, output
_KAT_4X32 = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((_M32,) * 4, (_M32,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("ctr, key, expected", _KAT_4X32)
def test_philox4x32_known_answers(ctr, key, expected):
    assert _philox4x32_reference(ctr, key) == expected
    got = rng.philox4x32(*(np.uint64(c) for c in ctr), *(np.uint64(k) for k in key))
    assert tuple(int(x) for x in got) == expected


def test_block4x32_layout_matches_the_reference():
    # key = seed (low, high 32 bits), counter = (n low, n high, index low, index high),
    # words x0 | x1 << 32 and x2 | x3 << 32
    rs = np.random.default_rng(0)
    cases = [(0, 0, 1), (2**63 - 1, 2**64 - 1, 2**64 - 1), (12345, 7, 2**32 + 5)]
    cases += [tuple(int(v) for v in rs.integers(0, 2**63, 3, dtype=np.int64)) for _ in range(20)]
    for seed, index, n in cases:
        x = _philox4x32_reference((n & _M32, n >> 32, index & _M32, index >> 32), (seed & _M32, seed >> 32))
        want = (x[0] | x[1] << 32, x[2] | x[3] << 32)
        got = rng.block4x32(np.uint64(seed), np.uint64(index), np.uint64(n))
        assert tuple(int(w) for w in got) == want
