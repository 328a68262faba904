"""Shared fixtures: the seeds' data sets and landscapes that several test files use.

Everything here is session-scoped and must be treated as read-only: a test that
needs a modified copy makes its own (``Dataset`` arrays are read-only already; the
teacher's parameters are checked for changes at the end of the session).
"""

from __future__ import annotations

import os

# Numba launches its thread pool with NUMBA_NUM_THREADS threads (default: the CPU count), and
# numba.set_num_threads cannot go above that. Tests marked ``threads`` compare one thread with
# the default count, so on a single-CPU machine the pool gets two (this runs before fastland
# imports numba).
_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)  # as Numba
if "NUMBA_NUM_THREADS" not in os.environ and _cpus < 2:
    os.environ["NUMBA_NUM_THREADS"] = "2"

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastland as fl  # noqa: E402


def pytest_runtest_setup(item):
    # a thread-count comparison with one thread on both sides would compare nothing
    if item.get_closest_marker("threads") is not None and numba.get_num_threads() < 2:
        pytest.fail(
            f"{item.name} compares 1 Numba thread with several, but only {numba.get_num_threads()} is available "
            f"(NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS')}); unset NUMBA_NUM_THREADS or deselect "
            "with -m 'not threads'",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def seed001_data():
    """Seed 001's random-labels data: 10 points uniform in [-1, 1]^2, two classes (seed 0)."""
    return fl.datasets.random_labels(n=10, seed=0)


@pytest.fixture(scope="session")
def seed001(seed001_data):
    """Seed 001's landscape: ``MLP(2, [2, 2], 2)`` (tanh, softmax cross-entropy, 18 parameters) on seed001_data."""
    return fl.Landscape(fl.MLP(2, [2, 2], 2), seed001_data)


@pytest.fixture(scope="session")
def ts():
    """Seed 004's teacher-student problem: the default 41 x 41 grid (1681 points) and the four-neuron teacher."""
    problem = fl.datasets.teacher_student()
    params = problem.teacher_params.copy()
    yield problem
    np.testing.assert_array_equal(problem.teacher_params, params, err_msg="a test modified ts.teacher_params")


@pytest.fixture(scope="session")
def student_lands(ts):
    """Landscapes of the teacher-student students on ``ts.data``, by hidden width 1..7 (no weight decay).

    ``student_lands[4]`` has the teacher's architecture (``ts.teacher == ts.student(4)``).
    """
    return {m: fl.Landscape(ts.student(m), ts.data) for m in range(1, 8)}
