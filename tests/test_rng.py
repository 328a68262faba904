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
