"""Run files: round trips, lazy views, xarray/ArviZ, live readers, crashes, resume, memory."""

import inspect
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import fastland as fl
from fastland.store import HDF5Backend, LazyArray, MemoryBackend, Run, open_run

REPO = Path(fl.__file__).resolve().parents[1]
C = 5  # odd sizes on purpose


# ------------------------------------------------------------------ shared with subprocesses
def make_landscape():
    return fl.Landscape(fl.MLP(2, [3], 2), fl.datasets.random_labels(n=7, seed=1), weight_decay=0.01)


def create_kwargs(land, **kw):
    p = land.n_params
    out = dict(
        n_chains=C,
        n_params=p,
        landscape=land,
        attrs={
            "method": "rwm",
            "step": 0.05,
            "box": 10.0,
            "thin": 2,
            "seed": 7,
            "draws": 100,
            "adapt": None,
            "widths": [2, 3, 2],
            "verbose": True,
        },
        stats={"accepted": np.float32},
        state={"position": ((C, p), np.float64), "rng": ((C, 4), np.uint64), "step_size": ((C,), np.float64)},
        chunk_draws=4,
    )
    out.update(kw)
    return out


def pattern(n0, k, p=17):
    """Block [n0, n0 + k) of a run whose every value is known: w = chain*1e6 + draw + param/64."""
    c = np.arange(C)[:, None, None]
    d = np.arange(n0, n0 + k)[None, :, None]
    j = np.arange(p)[None, None, :]
    w = c * 1e6 + d + j / 64.0
    loss = (c[:, :, 0] * 1e6 + d[:, :, 0]).astype(np.float64)
    stats = {"accepted": ((c[:, :, 0] + d[:, :, 0]) % 2).astype(np.float32)}
    state = {
        "position": w[:, -1].copy(),
        "rng": np.tile(np.array([n0 + k, 1, 2, 3], dtype=np.uint64), (C, 1)),
        "step_size": np.full(C, float(n0 + k)),
    }
    return w, loss, stats, state


def check_pattern(run):
    """Assert that a run holds exactly pattern(0, n) and the state after draw n."""
    n = run.n_draws
    w, loss, stats, state = pattern(0, n)
    shape = run.draws.shape  # live: the writer may have committed more since
    assert shape[0] == C and shape[1] >= n and shape[2] == 17
    np.testing.assert_array_equal(run.draws[:, :n], w)
    np.testing.assert_array_equal(run.loss[:, :n], loss)
    np.testing.assert_array_equal(run.stats["accepted"][:, :n], stats["accepted"])
    got = run.state()  # re-reads the counter: a live writer may have committed more by now
    if n:
        n_state = int(got["step_size"][0])
        assert n_state >= n
        for name, a in pattern(n_state - 1, 1)[3].items():
            np.testing.assert_array_equal(got[name], a)
    return n


PRELUDE = "\n".join(
    [
        "import json, os, sys, time",
        "import numpy as np",
        "import fastland as fl",
        "from fastland.store import HDF5Backend, open_run",
        f"C = {C}",
    ]
    + [inspect.getsource(f) for f in (make_landscape, create_kwargs, pattern, check_pattern)]
)


def child(code, *args, wait=True, timeout=60):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-c", PRELUDE + "\n" + textwrap.dedent(code), *map(str, args)]
    if not wait:
        return subprocess.Popen(
            cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture
def land():
    return make_landscape()


@pytest.fixture(scope="module")
def az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz announces its refactor on import
        import arviz

    return arviz


def random_blocks(sizes, p, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    for k in sizes:
        w = rng.normal(size=(C, k, p)).astype(dtype)
        state = {
            "position": rng.normal(size=(C, p)),
            "rng": rng.integers(0, 2**64 - 1, size=(C, 4), dtype=np.uint64),
            "step_size": rng.random(C),
        }
        yield w, rng.normal(size=(C, k)), {"accepted": (rng.random((C, k)) < 0.3).astype(np.float32)}, state


def fill(backends, sizes, p, dtype=np.float64):
    """Append the same random blocks to every backend; return the concatenated truth."""
    ws, losses, accs, state = [], [], [], None
    for w, loss, stats, state in random_blocks(sizes, p, dtype):
        for b in backends:
            b.append(w, loss, stats, state)
        ws.append(w)
        losses.append(loss)
        accs.append(stats["accepted"])
    return np.concatenate(ws, axis=1), np.concatenate(losses, axis=1), np.concatenate(accs, axis=1), state


# ---------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("compression, dtype", [(None, "float64"), ("gzip", "float32"), ("lzf", "float64")])
def test_round_trip(tmp_path, land, compression, dtype):
    path = tmp_path / "run.h5"
    b = HDF5Backend.create(path, **create_kwargs(land, compression=compression, dtype=dtype))
    sizes = (3, 7, 1, 12, 5)  # crosses chunk boundaries (chunk_draws=4) at odd places
    w, loss, acc, state = fill([b], sizes, land.n_params, np.dtype(dtype))
    b.close()
    b.close()  # idempotent

    with open_run(path) as run:
        assert (run.n_chains, run.n_draws, run.n_params) == (C, sum(sizes), land.n_params)
        assert run.path == str(path)
        assert run.draws.dtype == np.dtype(dtype) and run.loss.dtype == np.float64
        np.testing.assert_array_equal(np.asarray(run.draws), w)
        np.testing.assert_array_equal(run.loss[:], loss)
        np.testing.assert_array_equal(run.stats["accepted"][...], acc)
        got = run.state()
        assert set(got) == set(state)
        for name in state:
            np.testing.assert_array_equal(got[name], state[name])
            assert got[name].dtype == create_kwargs(land)["state"][name][1]
        assert run.attrs == create_kwargs(land)["attrs"]
        assert run.backend.chunk_draws == 4 and run.backend.compression == compression

    with h5py.File(path, "r") as f:  # a clean close leaves a file any HDF5 tool opens
        assert f.attrs["format"] == "fastland.run" and f.attrs["format_version"] == 1
        assert f.attrs["fastland_version"] == fl.__version__
        assert f.attrs["method"] == "rwm" and f.attrs["seed"] == 7 and "adapt" not in f.attrs
        assert json.loads(f.attrs["settings"]) == create_kwargs(land)["attrs"]
        assert f["posterior/w"].chunks == (1, 4, land.n_params)
        assert f["posterior/w"].compression == compression
        assert f["state/n_draws"][()] == sum(sizes)
        np.testing.assert_array_equal(f["posterior/draw"][:], np.arange(sum(sizes)))
        np.testing.assert_array_equal(f["sample_stats/draw"][:], np.arange(sum(sizes)))


def test_default_chunks_hold_a_few_hundred_kib(tmp_path, land):
    kw = create_kwargs(land)
    del kw["chunk_draws"]
    with HDF5Backend.create(tmp_path / "a.h5", **kw) as b:
        size = b.chunk_draws * land.n_params * 8
        assert 128 * 1024 <= size <= 512 * 1024
        assert b.chunk_draws & (b.chunk_draws - 1) == 0


def test_landscape_rebuilds_from_the_file(tmp_path):
    ts = fl.datasets.teacher_student(spacing=2.5)  # y of shape (N,), mse
    lands = [
        make_landscape(),
        fl.Landscape(ts.student(3), ts.data, weight_decay=0.5, dtype="float32"),
        fl.Landscape(
            fl.MLP(3, [], 2, loss="mse", bias=False), fl.Dataset(np.arange(12.0).reshape(4, 3), np.ones((4, 2)))
        ),
    ]
    for i, land in enumerate(lands):
        path = tmp_path / f"l{i}.h5"
        HDF5Backend.create(path, **create_kwargs(land)).close()
        mem = Run(MemoryBackend.create(None, **create_kwargs(land)))
        for run in (open_run(path), mem):
            new = run.landscape()
            assert isinstance(new, fl.Landscape)
            assert new.net == land.net and new.net.spec() == land.net.spec()
            np.testing.assert_array_equal(new.data.X, land.data.X)
            np.testing.assert_array_equal(new.data.y, land.data.y)
            assert new.data.y.shape == land.data.y.shape
            assert new.weight_decay == land.weight_decay and new.dtype == land.dtype
            run.close()


# ------------------------------------------------------------------- memory vs HDF5 views
KEYS = [
    (),
    Ellipsis,
    0,
    -1,
    (slice(None), slice(None, None, 10)),
    (slice(None), slice(None, None, 3)),
    (slice(None), slice(2, 19, 4), slice(1, None, 5)),
    (slice(None, None, -1), slice(None, None, -3)),
    (slice(1, 4), slice(-5, None), 3),
    (Ellipsis, 2),
    (2, Ellipsis, slice(None, 3)),
    (slice(None), 7, -1),
    (slice(None), [5, 1, 1, 20, -1]),
    (np.array([True, False, True, True, False]), slice(0, 6)),
    ([3, 0], slice(None, None, 2), 0),
    (slice(None), np.arange(0, 28, 9), slice(None, None, -2)),
    (slice(None), slice(5, 5)),
    (slice(None), []),
    (np.int64(1), np.int32(4), np.array(2)),
]


def test_memory_and_hdf5_give_identical_views(tmp_path, land):
    kw = create_kwargs(land)
    mem = MemoryBackend.create(None, **kw)
    h5 = HDF5Backend.create(tmp_path / "run.h5", **kw)
    w, loss, acc, state = fill([mem, h5], (3, 7, 1, 12, 5), land.n_params)
    runs = [Run(mem), Run(h5)]
    for run in runs:
        assert (run.n_chains, run.n_draws, run.n_params) == (C, 28, land.n_params)
        assert run.attrs == kw["attrs"]
        assert run.draws.shape == w.shape and run.draws.dtype == w.dtype
    assert isinstance(runs[0].draws, np.ndarray) and isinstance(runs[1].draws, LazyArray)
    assert not runs[0].draws.flags.writeable
    for key in KEYS:
        expect = w[key]
        for run in runs:
            got = run.draws[key]
            assert np.shape(got) == expect.shape, key
            np.testing.assert_array_equal(got, expect)
        np.testing.assert_array_equal(
            runs[1].loss[key[:2] if isinstance(key, tuple) else key], loss[key[:2] if isinstance(key, tuple) else key]
        )
    for run in runs:
        np.testing.assert_array_equal(np.asarray(run.stats["accepted"]), acc)
        for name, a in run.state().items():
            np.testing.assert_array_equal(a, state[name])
    lazy = runs[1].draws
    assert len(lazy) == C and lazy.ndim == 3 and lazy.size == w.size and "posterior/w" in repr(lazy)
    np.testing.assert_array_equal(np.asarray(lazy, dtype=np.float32), w.astype(np.float32))
    for bad in [
        (0, 0, 0, 0),
        (slice(None), 28),
        (slice(None), [0, 28]),
        ([0, 1], [0, 1]),
        (None, 0),
        (Ellipsis, Ellipsis),
        (slice(None), np.zeros(3, dtype=bool)),
        "a",
    ]:
        with pytest.raises(IndexError):
            lazy[bad]
    h5.close()


def test_empty_run(tmp_path, land):
    for b in (
        MemoryBackend.create(None, **create_kwargs(land)),
        HDF5Backend.create(tmp_path / "e.h5", **create_kwargs(land)),
    ):
        run = Run(b)
        assert run.n_draws == 0 and run.state() == {}
        assert run.draws.shape == (C, 0, land.n_params)
        assert run.draws[:, ::2].shape == (C, 0, land.n_params)
        assert run.loss[:].shape == (C, 0)
        with pytest.raises(ValueError, match="no committed draws"):
            run.summary()
        run.close()
    with open_run(tmp_path / "e.h5") as run:
        assert run.n_draws == 0 and run.state() == {} and np.asarray(run.draws).shape == (C, 0, 17)


# ------------------------------------------------------------------------- xarray, ArviZ
def test_xarray_and_arviz_open_the_file(tmp_path, land, az):
    import xarray as xr

    path = tmp_path / "run.h5"
    with HDF5Backend.create(path, **create_kwargs(land)) as b:
        w, loss, acc, state = fill([b], (20, 13), land.n_params)
    with xr.open_dataset(path, group="posterior", engine="h5netcdf") as ds:
        assert dict(ds.sizes) == {"chain": C, "draw": 33, "param": land.n_params}
        assert ds["w"].dims == ("chain", "draw", "param")
        np.testing.assert_array_equal(ds["w"].values, w)
        np.testing.assert_array_equal(ds["loss"].values, loss)
        np.testing.assert_array_equal(ds["draw"].values, np.arange(33))
    with xr.open_dataset(path, group="sample_stats", engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds["accepted"].values, acc)  # zeros stay zeros (no fill value)
    with xr.open_dataset(path, group="landscape", engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds["X"].values, land.data.X)
        assert json.loads(ds.attrs["model"]) == land.net.spec()
    idata = az.from_netcdf(str(path))
    assert {"posterior", "sample_stats", "landscape", "state"} <= set(idata.groups())
    np.testing.assert_array_equal(idata.posterior["w"].values, w)
    table = az.summary(idata)
    assert "loss" in table.index and f"w[{land.n_params - 1}]" in table.index
    assert np.isfinite(table["r_hat"]).all()
    idata.close()


# --------------------------------------------------------------------- a live SWMR reader
LIVE_READER = """
    import warnings
    warnings.simplefilter("error")
    import h5py, xarray as xr
    path = sys.argv[1]
    seen = []
    t0 = time.time()
    with open_run(path) as run:
        while len(set(seen)) < 4 and time.time() - t0 < 20:
            seen.append(check_pattern(run))  # only whole, committed blocks, with their state
            time.sleep(0.01)
        n_live = run.n_draws
    ds = xr.open_dataset(path, group="posterior", engine="h5netcdf", driver_kwds={"swmr": True})
    n_xr = ds.sizes["draw"]
    assert n_xr >= n_live
    np.testing.assert_array_equal(ds["w"].values[:, :n_live], pattern(0, n_live)[0])
    ds.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    with h5py.File(path, "r", swmr=True) as h:
        idata = az.from_netcdf(h)
        assert idata.posterior.sizes["draw"] >= n_live
        table = az.summary(idata, var_names=["loss"])
        assert np.isfinite(table["mean"].values).all()
    print(json.dumps({"seen": seen, "n_xr": n_xr}))
"""


@pytest.mark.slow  # a subprocess or a whole experiment: seconds even with the kernels cached
def test_live_reader_in_another_process(tmp_path, land):
    path = tmp_path / "live.h5"
    b = HDF5Backend.create(path, **create_kwargs(land, chunk_draws=16))
    n, k = 0, 3
    for _ in range(4):
        b.append(*pattern(n, k))
        n += k
    proc = child(LIVE_READER, path, wait=False)
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < 40:
        b.append(*pattern(n, k))
        n += k
        time.sleep(0.003)
    out, err = proc.communicate(timeout=30)
    b.close()
    assert proc.returncode == 0, err
    seen = json.loads(out)["seen"]
    assert len(set(seen)) >= 4 and seen == sorted(seen) and all(s % k == 0 for s in seen)
    with open_run(path) as run:
        assert check_pattern(run) == n


# ------------------------------------------------------------------ crashes and resuming
def test_exit_after_blocks_then_resume(tmp_path):
    path = tmp_path / "crash.h5"
    res = child(
        """
        b = HDF5Backend.create(sys.argv[1], **create_kwargs(make_landscape()))
        for i in range(5):
            b.append(*pattern(4 * i, 4))
        os._exit(1)
    """,
        path,
    )
    assert res.returncode == 1, res.stderr
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")  # what a plain reader meets: the dead writer's flags
    with open_run(path) as run:
        assert check_pattern(run) == 20
    b = HDF5Backend.open(path, "a")
    assert b.n_draws == 20 and b.read_state()["step_size"][0] == 20
    b.update_attrs(draws=200, note="resumed")
    for i in range(5, 8):
        b.append(*pattern(4 * i, 4))
    with pytest.raises(ValueError, match="SWMR"):
        b.update_attrs(draws=300)
    b.close()
    with h5py.File(path, "r") as f:  # flags cleared by the clean close
        assert f["state/n_draws"][()] == 32
    with open_run(path) as run:
        assert check_pattern(run) == 32
        assert run.attrs["draws"] == 200 and run.attrs["note"] == "resumed" and run.attrs["seed"] == 7


@pytest.mark.parametrize("die_at", ["_stamps", "_counter"])
def test_crash_mid_block_keeps_counter_and_state_consistent(tmp_path, die_at):
    path = tmp_path / "mid.h5"
    res = child(
        """
        b = HDF5Backend.create(sys.argv[1], **create_kwargs(make_landscape()))
        for i in range(3):
            b.append(*pattern(5 * i, 5))

        class Die:  # the process dies when the append reaches this dataset
            def __setitem__(self, key, value):
                os._exit(3)

        setattr(b, sys.argv[2], Die())
        b.append(*pattern(15, 6))
    """,
        path,
        die_at,
    )
    assert res.returncode == 3, res.stderr
    with h5py.File(path, "r", swmr=True) as f:
        assert f["posterior/w"].shape[1] == 21 and f["state/n_draws"][()] == 15
        stamped = sorted(f["state/slot_stamp"][:, 0])
        assert stamped == ([10, 15] if die_at == "_stamps" else [15, 21])
        assert f["state/step_size"][:, 0].max() == 21  # the new state was written either way
    with open_run(path) as run:
        assert run.draws.shape[1] == 15 and run.loss[:, ::-1].shape == (C, 15)
        assert check_pattern(run) == 15  # counter and state agree: block 4 is simply lost
    with HDF5Backend.open(path, "a") as b:
        assert b.n_draws == 15 and b.file["posterior/w"].shape[1] == 15  # trimmed
        assert b.file["posterior/draw"].shape == (15,)
        b.append(*pattern(15, 2))  # a shorter block than the lost one
        b.append(*pattern(17, 9))
    with open_run(path) as run:
        assert check_pattern(run) == 26


def test_sigkill_mid_run_then_resume(tmp_path):
    path = tmp_path / "kill.h5"
    proc = child(
        """
        b = HDF5Backend.create(sys.argv[1], **create_kwargs(make_landscape(), chunk_draws=8))
        n = 0
        while True:
            b.append(*pattern(n, 3))
            n += 3
    """,
        path,
        wait=False,
    )
    t0 = time.time()
    try:
        while time.time() - t0 < 30:
            if proc.poll() is not None:
                pytest.fail(proc.communicate()[1])
            try:
                with open_run(path) as run:
                    if run.n_draws >= 300:
                        break
            except (OSError, ValueError, KeyError):
                pass  # not created yet
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    with open_run(path) as run:
        n = check_pattern(run)
        assert n >= 300 and n % 3 == 0
    with HDF5Backend.open(path, "a") as b:
        assert b.n_draws == n
        b.append(*pattern(n, 10))
    with open_run(path) as run:
        assert check_pattern(run) == n + 10


def test_state_only_blocks(tmp_path, land):
    """Zero-draw appends store the state alone (warm-up progress), durably and in order."""
    path = tmp_path / "warm.h5"
    mem = MemoryBackend.create(None, **create_kwargs(land))
    b = HDF5Backend.create(path, **create_kwargs(land))
    empty = (np.empty((C, 0, 17)), np.empty((C, 0)), {"accepted": np.empty((C, 0), np.float32)})
    for backend in (mem, b):
        for i in range(3):
            state = pattern(0, 1)[3]
            state["step_size"][:] = 100 + i
            backend.append(*empty, state)
            assert backend.n_draws == 0 and backend.read_state()["step_size"][0] == 100 + i
        backend.append(*pattern(0, 4))
        backend.append(*empty, {**pattern(0, 4)[3], "step_size": np.full(C, 7.0)})
        assert backend.n_draws == 4 and backend.read_state()["step_size"][0] == 7.0
    b.close()
    with open_run(path) as run:
        assert run.n_draws == 4 and run.state()["step_size"][0] == 7.0
    res = child(
        """
        b = HDF5Backend.open(sys.argv[1], "a")
        empty = (np.empty((C, 0, 17)), np.empty((C, 0)), {"accepted": np.empty((C, 0), np.float32)})
        b._stamps = None  # dies (AttributeError -> exit 1) after writing the state, before stamping it
        b.append(*empty, {**pattern(0, 4)[3], "step_size": np.full(C, 8.0)})
    """,
        path,
    )
    assert res.returncode == 1
    with HDF5Backend.open(path, "a") as b:
        assert b.n_draws == 4 and b.read_state()["step_size"][0] == 7.0


def test_one_writer_at_a_time(tmp_path, land):
    path = tmp_path / "w.h5"
    b = HDF5Backend.create(path, **create_kwargs(land))
    b.append(*pattern(0, 2))
    with pytest.raises(ValueError, match="open for writing in this process.*run.close"):
        HDF5Backend.open(path, "a")
    assert b.n_draws == 2
    b.close()
    with HDF5Backend.open(path, "a") as b2:  # lock released by close
        b2.append(*pattern(2, 2))
    reader = child(
        """
        run = open_run(sys.argv[1])
        print("open", flush=True)
        sys.stdin.readline()
    """,
        path,
        wait=False,
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        with pytest.raises(ValueError, match="open in another process"):  # HDF5's lock of a reader
            HDF5Backend.open(path, "a")
    finally:
        reader.communicate("\n", timeout=30)
    with open_run(path) as run:
        assert check_pattern(run) == 4


# ------------------------------------------------------------------------- bad input
def test_create_never_touches_an_existing_file(tmp_path, land):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an HDF5 file, but precious")
    run_file = tmp_path / "run.h5"
    with HDF5Backend.create(run_file, **create_kwargs(land)) as b:
        b.append(*pattern(0, 3))
    for path in (junk, run_file):
        before = path.read_bytes()
        with pytest.raises(ValueError, match="resume=True") as exc:
            HDF5Backend.create(path, **create_kwargs(land))
        assert str(path) in str(exc.value)
        assert path.read_bytes() == before


def test_create_in_a_missing_or_readonly_folder(tmp_path, land):
    with pytest.raises(ValueError, match="does not exist"):
        HDF5Backend.create(tmp_path / "nope" / "run.h5", **create_kwargs(land))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        folder = ro
        if os.access(ro, os.W_OK):  # root ignores permission bits: use a folder nobody may create in
            folder = Path("/sys")
            if not folder.is_dir():
                pytest.skip("running as root and no read-only folder available")
        with pytest.raises(ValueError, match="not writable|cannot create") as exc:
            HDF5Backend.create(folder / "run.h5", **create_kwargs(land))
        assert "run.h5" in str(exc.value)
        assert not (folder / "run.h5").exists()
    finally:
        ro.chmod(0o755)


def test_bad_arguments(tmp_path, land):
    path = tmp_path / "x.h5"
    bad = [
        (dict(n_chains=0), "n_chains"),
        (dict(landscape="land"), "landscape"),
        (dict(attrs={"x": object()}), "attrs"),
        (dict(attrs={"settings": 1}), "reserved"),
        (dict(stats={"draw": np.float32}), "reserved"),
        (dict(state={"p": ((C, 0), np.float64)}), "state"),
        (dict(state={"p": "float64"}), "state"),
        (dict(compression="zstd"), "compression"),
        (dict(dtype="int8"), "dtype"),
        (dict(chunk_draws=0), "chunk_draws"),
    ]
    for kw, match in bad:
        with pytest.raises(ValueError, match=match):
            HDF5Backend.create(path, **create_kwargs(land, **kw))
        assert not path.exists()
    with pytest.raises(ValueError, match="path"):
        MemoryBackend.create(path, **create_kwargs(land))

    b = HDF5Backend.create(path, **create_kwargs(land))
    w, loss, stats, state = pattern(0, 3)
    for args, match in [
        ((w[:, :, :5], loss, stats, state), "w: expected shape"),
        ((w, loss[:, :2], stats, state), "loss"),
        ((w, loss, {}, state), "stats"),
        ((w, loss, {"accepted": loss[:1]}, state), "stats\\['accepted'\\]"),
        ((w, loss, stats, {**state, "rng": state["rng"][:2]}), "state\\['rng'\\]"),
        ((w, loss, stats, {"position": w[:, -1]}), "state"),
    ]:
        with pytest.raises(ValueError, match=match):
            b.append(*args)
    assert b.n_draws == 0
    b.append(w, loss, stats, state)
    b.close()
    with pytest.raises(ValueError, match="closed"):
        b.append(w, loss, stats, state)
    with open_run(path) as run, pytest.raises(ValueError, match="read-only"):
        run.backend.append(w, loss, stats, state)
    with pytest.raises(FileNotFoundError):
        open_run(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="not a fastland run"):
        open_run(tmp_path / "other.h5")
    with pytest.raises(ValueError, match="mode"):
        HDF5Backend.open(path, "w")


# ----------------------------------------------------------------------------- memory
def _rss():
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_appending_many_blocks_keeps_memory_flat(tmp_path, land):
    kw = create_kwargs(land)
    del kw["chunk_draws"]
    k, blocks = 8, 2000
    rng = np.random.default_rng(1)
    w = rng.normal(size=(C, k, land.n_params))
    loss, stats = rng.random((C, k)), {"accepted": np.ones((C, k), np.float32)}
    state = {"position": w[:, -1], "rng": np.zeros((C, 4), np.uint64), "step_size": np.ones(C)}
    with HDF5Backend.create(tmp_path / "big.h5", **kw) as b:
        for _ in range(200):
            b.append(w, loss, stats, state)
        before = _rss()
        for _ in range(blocks):
            b.append(w, loss, stats, state)
        grown = _rss() - before
        assert b.n_draws == 2200 * k
    written = blocks * w.nbytes
    assert written > 10 * 2**20
    msg = f"RSS grew by {grown / 2**20:.1f} MiB while writing {written / 2**20:.1f} MiB"
    assert grown < 0.25 * written, msg


# ---------------------------------------------------------------------------- summary
def test_summary(tmp_path, land):
    with HDF5Backend.create(tmp_path / "s.h5", **create_kwargs(land)) as b:
        w, loss, acc, _ = fill([b], (40, 40, 37), land.n_params)
        run = Run(b)
        s = run.summary(max_draws=40)
        assert (s.n_chains, s.n_draws, s.n_params, s.stride) == (C, 117, land.n_params, 3)
        assert s.acceptance == pytest.approx(acc.astype(np.float64).mean(), rel=1e-12)
        thinned = loss[:, ::3]
        assert s.loss_quantiles[0.5] == pytest.approx(np.quantile(thinned, 0.5), rel=1e-12)
        assert set(s.rows) == {"loss", "outputs", "canonical", "params"}
        # the rows are fastland.diagnostics of the thinned loss and parameters (every 3rd draw),
        # and of the outputs at the data points and the canonical weights (<= 500 draws: all)
        diag, params = fl.diagnostics, w[:, ::3]
        flat = w.reshape(-1, w.shape[2])
        outputs = land.predict(flat).reshape(w.shape[0], w.shape[1], -1)
        canonical = fl.geometry.canonical_form(land.net, flat).reshape(w.shape)
        for name, x in (("loss", thinned), ("params", params), ("outputs", outputs), ("canonical", canonical)):
            row = s.rows[name]
            assert row["rhat_max"] == pytest.approx(np.max(diag.rhat(x)), rel=1e-12)
            assert row["ess_bulk_min"] == pytest.approx(np.min(diag.ess_bulk(x)), rel=1e-12)
            assert row["ess_tail_min"] == pytest.approx(np.min(diag.ess_tail(x)), rel=1e-12)
            assert row["clt_pvalue"] == pytest.approx(np.min(diag.clt_check(x).pvalues), rel=1e-12)
        # the headline leaves the raw weights out (symmetries inflate them)
        aware = [s.rows[k] for k in ("loss", "outputs", "canonical")]
        assert s.rhat_max == max(r["rhat_max"] for r in aware)
        assert s.ess_bulk_min == min(r["ess_bulk_min"] for r in aware)
        assert s.clt_pvalue == min(r["clt_pvalue"] for r in aware)
        small = run.summary(max_draws=40, max_bytes=8 * C * 39 * 4)  # params read 4 at a time
        assert all(small.rows[k] == s.rows[k] for k in ("loss", "canonical", "params"))
        text = str(s)
        assert "R-hat" in text and "acceptance" in text and "params" in text and "5 chains" in text
        assert s.to_dict()["n_draws"] == 117


def test_summary_verdict_and_stuck_chains(tmp_path, land):
    # iid draws (every chain the same law): converged by the stated targets, no warnings
    rng = np.random.default_rng(5)
    n = 2000
    w = rng.normal(size=(C, n, land.n_params))
    loss = rng.normal(size=(C, n))
    acc = (rng.random((C, n)) < 0.3).astype(np.float32)
    state = {"position": w[:, -1], "rng": np.zeros((C, 4), np.uint64), "step_size": np.ones(C)}
    with HDF5Backend.create(tmp_path / "iid.h5", **create_kwargs(land)) as b:
        b.append(w, loss, {"accepted": acc}, state)
        s = Run(b).summary()
        aware = [s.rows[k] for k in ("loss", "outputs", "canonical")]
        expected = all(r["rhat_max"] <= 1.01 and min(r["ess_bulk_min"], r["ess_tail_min"]) >= 400 for r in aware)
        assert expected and s.converged and s.warnings == []
        assert "verdict: converged" in str(s)
        p_params = fl.diagnostics.clt_check(w).pvalues  # the column shows min p times k, Bonferroni
        assert s.rows["params"]["clt_corrected"] == pytest.approx(min(1.0, p_params.min() * p_params.size))
        assert s.chain_distinct == [n] * C  # continuous losses: every draw differs from the one before
        assert s.chain_acceptance == pytest.approx(acc.mean(axis=1, dtype=np.float64).tolist(), rel=1e-12)
    # chain 1 stuck: it never moves (acceptance 0, one distinct draw), the others as before
    w[1] = w[1, :1]
    loss[1] = loss[1, 0]
    acc[1] = 0.0
    with HDF5Backend.create(tmp_path / "stuck.h5", **create_kwargs(land)) as b:
        b.append(w, loss, {"accepted": acc}, state)
        s = Run(b).summary()
        assert not s.converged and s.chain_distinct[1] == 1
        stuck = [x for x in s.warnings if x.startswith("chain 1 looks stuck")]
        assert len(stuck) == 2 and "acceptance 0 " in stuck[0] and f"1 distinct draws of {n}" in stuck[1]
        assert any(x.startswith("loss: R-hat") for x in s.warnings)
        assert "verdict: NOT converged" in str(s)
