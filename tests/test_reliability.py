"""Regression tests of the reliability issue: damaged files, dropped runs, shared readers, bad flags."""

import gc
import os
import shutil

import numpy as np
import pytest

import fastland as fl


@pytest.fixture(scope="module")
def small_land(seed001):
    """Seed 001's landscape (tests/conftest.py)."""
    return seed001


def test_truncated_run_file_raises(tmp_path, small_land):
    path = tmp_path / "a.h5"
    fl.sample(small_land, chains=4, draws=400, step=0.3, progress=False, path=path).close()
    cut = tmp_path / "cut.h5"
    shutil.copy(path, cut)
    os.truncate(cut, os.path.getsize(cut) // 2)
    with pytest.raises(ValueError, match="damaged.*truncated"):
        fl.open_run(cut)
    text = tmp_path / "text.h5"
    text.write_text("not HDF5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        fl.open_run(text)


def test_dropped_runs_release_descriptor_and_lock(tmp_path, small_land):
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    for i in range(10):
        fl.sample(small_land, chains=2, draws=5, step=0.3, progress=False, path=tmp_path / f"d{i}.h5")
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before
    run = fl.sample(small_land, chains=2, draws=9, step=0.3, progress=False, path=tmp_path / "d0.h5", resume=True)
    assert run.n_draws == 9
    run.close()


def test_two_readers_in_one_process(tmp_path, small_land):
    path = tmp_path / "a.h5"
    with fl.sample(small_land, chains=3, draws=50, step=0.3, progress=False, path=path) as run:
        want = np.asarray(run.loss)
    with fl.open_run(path) as r1, fl.open_run(path) as r2:
        np.testing.assert_array_equal(np.asarray(r1.loss), want)
        np.testing.assert_array_equal(np.asarray(r2.loss), want)
        np.testing.assert_array_equal(np.asarray(r1.loss), np.asarray(r2.loss))


@pytest.mark.parametrize("name", ["adapt", "progress", "resume"])
def test_booleans_must_be_booleans(tmp_path, small_land, name):
    kw = {"progress": False, name: "no"}
    with pytest.raises(ValueError, match=name):
        fl.sample(small_land, chains=2, draws=5, path=tmp_path / "x.h5", **kw)
    assert not (tmp_path / "x.h5").exists()


def test_resume_of_nothing_and_stray_compression(tmp_path, small_land):
    with pytest.raises(ValueError, match="resume"):
        fl.sample(small_land, chains=2, draws=5, progress=False, resume=True)
    with pytest.raises(FileNotFoundError):
        fl.sample(small_land, chains=2, draws=5, progress=False, resume=True, path=tmp_path / "none.h5")
    with pytest.raises(ValueError, match="compression"):
        fl.sample(small_land, chains=2, draws=5, progress=False, compression="gzip")
    path = tmp_path / "c.h5"
    fl.sample(small_land, chains=2, draws=5, progress=False, path=path).close()
    before = path.read_bytes()
    with pytest.raises(ValueError, match="compression"):
        fl.sample(small_land, chains=2, draws=10, progress=False, path=path, resume=True, compression="gzip")
    assert path.read_bytes() == before  # a refused resume changes no byte


def test_existing_file_needs_overwrite(tmp_path, small_land):
    path = tmp_path / "o.h5"
    fl.sample(small_land, chains=2, draws=5, progress=False, path=path).close()
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        fl.sample(small_land, chains=2, draws=5, progress=False, path=path)
    assert path.read_bytes() == before
    with fl.sample(small_land, chains=3, draws=5, progress=False, path=path, overwrite=True) as run:
        assert run.n_chains == 3
