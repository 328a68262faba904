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
    fl.sample(small_land, chains=4, draws=400, step_size=0.3, progress=False, path=path).close()
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
        fl.sample(small_land, chains=2, draws=5, step_size=0.3, progress=False, path=tmp_path / f"d{i}.h5")
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before
    run = fl.sample(small_land, chains=2, draws=9, step_size=0.3, progress=False, path=tmp_path / "d0.h5", resume=True)
    assert run.n_draws == 9
    run.close()


def test_two_readers_in_one_process(tmp_path, small_land):
    path = tmp_path / "a.h5"
    with fl.sample(small_land, chains=3, draws=50, step_size=0.3, progress=False, path=path) as run:
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


# ---------------------------------------------------------------- numerics at the edges
def _linear_land(logits, label, weight_decay=0.0):
    """A linear softmax model on one point x = 1 whose logits are the weights themselves."""
    net = fl.MLP(1, [], len(logits), bias=False)
    return fl.Landscape(net, fl.Dataset(np.ones((1, 1)), np.array([label])), weight_decay=weight_decay)


@pytest.mark.parametrize(
    "logits, label",
    [([1e16, 1e16], 0), ([1e16, 1e16 + 2.0], 0), ([1e16, 1e16 + 2.0, 1e16], 1), ([-1e300, 3.0, 1e16 + 4], 2)],
)
def test_softmax_xent_does_not_cancel_at_large_logits(logits, label):
    from scipy.special import logsumexp

    from fastland._kernels import lanes

    z = np.array(logits)
    # exact: lse - z_label with the common offset 1e16 removed first (differences are exact)
    expected = logsumexp(z - z[label])
    land = _linear_land(logits, label)
    w = z.copy()
    for value in (land.loss(w), land.loss(np.stack([w, w]))[0], land.loss_and_grad(w)[0]):
        np.testing.assert_allclose(value, expected, rtol=1e-15, atol=0)
    # the sampler's lane kernels (several chains per call)
    W = np.repeat(w[:, None], lanes.LANES, axis=1).copy()
    out = np.empty(lanes.LANES)
    lanes.loss_lanes(land._arch, W, land._X, land._T, 0.0, lanes.new_work(land._arch), np.empty(lanes.LANES), out)
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)


def test_no_weight_decay_means_no_nan_at_huge_weights():
    # |w|^2 overflows to inf; without weight decay the term is absent, not 0 * inf = NaN
    land = _linear_land([1e155, 1e155], 0)
    w = np.array([1e155, 1e155])
    assert land.loss(w) == pytest.approx(np.log(2.0), rel=1e-15)
    loss, grad = land.loss_and_grad(np.stack([w, w]))
    np.testing.assert_allclose(loss, np.log(2.0), rtol=1e-15)
    np.testing.assert_allclose(grad, [[-0.5, 0.5]] * 2, rtol=1e-15)
    # with weight decay the penalty is genuinely infinite
    assert _linear_land([1e155, 1e155], 0, weight_decay=1e-3).loss(w) == np.inf


# ---------------------------------------------------------------- HDF5 tools users have
H5_TOOLS = [shutil.which("h5dump"), shutil.which("h5ls")]


def _h5_tools_read(path):
    """Run Debian's hdf5-tools on ``path``; return their outputs (each must exit 0)."""
    import subprocess

    outs = []
    for cmd in (["h5dump", "-A", str(path)], ["h5ls", "-r", "-v", str(path)], ["h5dump", str(path)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}"
        assert "error" not in proc.stderr.lower(), proc.stderr[-2000:]
        outs.append(proc.stdout)
    return outs


@pytest.mark.skipif(None in H5_TOOLS, reason="h5dump/h5ls not installed (apt install hdf5-tools; CI installs it)")
def test_hdf5_tools_read_run_train_and_experiment_files(tmp_path, small_land):
    run_path = tmp_path / "run.h5"
    fl.sample(small_land, chains=2, draws=7, step_size=0.3, progress=False, path=run_path).close()
    attrs, listing, _ = _h5_tools_read(run_path)
    assert "fastland_version" in attrs and "/posterior/w" in listing
    # the tool reads the numbers fastland reads, to the last bit
    import subprocess

    txt = tmp_path / "loss.txt"
    cmd = ["h5dump", "-d", "/posterior/loss", "-m", "%.17g", "-y", "-o", str(txt), str(run_path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    dumped = np.array([float(v) for v in txt.read_text().replace(",", " ").split()])
    with fl.open_run(run_path) as run:
        np.testing.assert_array_equal(dumped, np.asarray(run.loss[:]).ravel())
    train_path = tmp_path / "train.h5"
    starts = np.random.default_rng(0).standard_normal((3, small_land.n_params))
    fl.train(small_land, starts, steps=4, record_every=2, path=train_path, progress=False)
    attrs, listing, _ = _h5_tools_read(train_path)
    assert "fastland_version" in attrs
    # an experiment's result file (deep_linear: trained runs and their tables)
    from fastland.experiments import deep_linear

    deep_linear(depths=(1,), weight_decay=(0.05,), runs=2, steps=50, n=12, out_dir=tmp_path / "exp", progress=False)
    attrs, listing, _ = _h5_tools_read(tmp_path / "exp" / "deep_linear.h5")
    assert "fastland.deep_linear" in attrs


# ---------------------------------------------------------------- Ctrl-C in a real process
_CHILD = """
import sys, fastland as fl
land = fl.Landscape(fl.MLP(2, [2, 2], 2), fl.datasets.random_labels(n=10, seed=0))
fl.sample(land, chains=4, draws=int(sys.argv[2]), thin=50, step_size=0.3, progress=False, path=sys.argv[1],
          block_draws=5, seed=3, resume=len(sys.argv) > 3)
"""


@pytest.mark.slow  # a subprocess or a whole experiment: seconds even with the kernels cached
def test_sigint_stops_after_a_block_reraises_and_leaves_a_resumable_file(tmp_path, small_land):
    import signal
    import subprocess
    import sys
    import time

    draws = 10**8  # hours of sampling: the interrupt always comes first
    path = tmp_path / "int.h5"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(draws)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        n = 0
        while n < 10 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.2)
            if path.exists():
                try:
                    with fl.open_run(path) as run:
                        n = run.n_draws
                except (OSError, ValueError):  # not yet a complete file
                    n = 0
        assert n >= 10, "the child never wrote 10 draws"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0  # re-raised: the shell sees an interrupted command
    assert "KeyboardInterrupt" in err and "Exception ignored" not in err
    with fl.open_run(path) as run:
        stopped = run.n_draws
        assert 10 <= stopped < draws and stopped % 5 == 0  # whole blocks only
    # resumed to a short target, the draws equal an uninterrupted run's, bit for bit
    total = stopped + 10
    subprocess.run([sys.executable, "-c", _CHILD, str(path), str(total), "resume"], check=True, timeout=300)
    ref = tmp_path / "ref.h5"
    subprocess.run([sys.executable, "-c", _CHILD, str(ref), str(total)], check=True, timeout=300)
    with fl.open_run(path) as a, fl.open_run(ref) as b:
        assert a.n_draws == b.n_draws == total
        np.testing.assert_array_equal(a.draws[:], b.draws[:])
        np.testing.assert_array_equal(a.loss[:], b.loss[:])


# ---------------------------------------------------------------- tiny blocks
@pytest.mark.parametrize("method, serial, parallel", [("rwm", "rwm_block_serial", "rwm_block"),
                                                      ("mala", "run_block_serial", "run_block"),
                                                      ("hmc", "run_block_serial", "run_block")])  # fmt: skip
def test_tiny_blocks_skip_the_parallel_region_and_give_the_same_draws(
    monkeypatch, small_land, method, serial, parallel
):
    import numba

    from fastland._kernels import samplers

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 threads to compare the parallel kernel")
    calls = {serial: 0, parallel: 0}
    for name in calls:
        kernel = getattr(samplers, name)

        def counted(*a, _kernel=kernel, _name=name):
            calls[_name] += 1
            return _kernel(*a)

        monkeypatch.setattr(samplers, name, counted)
    kw = dict(chains=40, draws=30, thin=20, warmup=0, step_size=0.05, method=method, seed=5, progress=False)
    big = fl.sample(small_land, **kw)
    assert calls == {serial: 0, parallel: 1}  # one block of 40 x 600 steps: parallel
    tiny = fl.sample(small_land, block_draws=1, **kw)
    assert calls == {serial: 30, parallel: 1}  # 30 blocks of 40 x 20 steps: serial
    np.testing.assert_array_equal(tiny.draws[:], big.draws[:])
    np.testing.assert_array_equal(tiny.loss[:], big.loss[:])


def test_a_run_that_cannot_fit_in_memory_is_refused_before_any_file(tmp_path):
    from fastland.sample import memory_needed

    huge = fl.Landscape(fl.MLP(2, [10**8], 1, loss="mse"), fl.datasets.random_labels(n=10, seed=0))
    p = huge.n_params
    # RWM: 32 SIMD lanes of 3 p-vectors per task, plus the chain state
    assert memory_needed(huge, 1, "rwm") >= 8 * 32 * 3 * p + 4 * p * 8
    with pytest.raises(MemoryError, match=r"needs about \d+\.\d GiB.*chains=1"):
        fl.sample(huge, chains=1, draws=2, progress=False, path=tmp_path / "big.h5")
    assert not (tmp_path / "big.h5").exists()
