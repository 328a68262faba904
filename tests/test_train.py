"""fl.train and fl.gradient_flow against independent NumPy references."""

from __future__ import annotations

import math

import h5py
import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.linalg import expm

import fastland as fl
from fastland.landscape import targets_for
from fastland.train import GradientFlowResult, TrainResult, gradient_flow, round_precision, train


# ----------------------------------------------------------- an independent NumPy MLP
def np_loss_grad(net, w, X, T, wd=0.0):
    """Mean loss + (wd/2)|w|^2 and its gradient, by plain NumPy backpropagation.

    Written from the conventions alone (flat order W (out x in, row-major) then b,
    layer by layer), without any fastland kernel.
    """
    widths = net.widths
    layers, pos = [], 0
    for k in range(len(widths) - 1):
        n_in, n_out = widths[k], widths[k + 1]
        Wk = w[pos : pos + n_out * n_in].reshape(n_out, n_in)
        pos += n_out * n_in
        bk = None
        if net.bias:
            bk = w[pos : pos + n_out]
            pos += n_out
        layers.append((Wk, bk))
    act = {
        "tanh": (np.tanh, lambda a: 1 - a**2),
        "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda a: a * (1 - a)),
        "linear": (lambda z: z, lambda a: np.ones_like(a)),
    }[net.activation]
    acts = [X]
    for k, (Wk, bk) in enumerate(layers):
        z = acts[-1] @ Wk.T + (0 if bk is None else bk)
        acts.append(act[0](z) if k < len(layers) - 1 else z)
    z = acts[-1]
    N = X.shape[0]
    if net.loss == "mse":
        r = z - T
        loss = np.sum(r**2) / N
        delta = 2 * r / N
    else:  # softmax cross-entropy
        zs = z - z.max(axis=1, keepdims=True)
        logp = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
        loss = -np.sum(T * logp) / N
        delta = (np.exp(logp) - T) / N
    grads = []
    for k in range(len(layers) - 1, -1, -1):
        Wk, bk = layers[k]
        gW = delta.T @ acts[k]
        grads.append((gW, delta.sum(axis=0) if bk is not None else None))
        if k > 0:
            delta = (delta @ Wk) * act[1](acts[k])
    flat = []
    for gW, gb in reversed(grads):
        flat.append(gW.ravel())
        if gb is not None:
            flat.append(gb)
    g = np.concatenate(flat)
    return loss + 0.5 * wd * w @ w, g + wd * w


PROBLEM_NAMES = ["teacher_student_5", "seed001"]


@pytest.fixture(scope="module")
def problems(seed001):
    """The two training problems by name: a width-5 student on a coarser seed-004 grid, and seed 001."""
    ts = fl.datasets.teacher_student(spacing=0.5)  # 441 points of the grid
    return {"teacher_student_5": fl.Landscape(ts.student(5), ts.data), "seed001": seed001}


def starts_for(land, R, seed=1):
    return land.net.init(R, method="uniform", scale=1.0, seed=seed)


def reference(land, W0, steps, update):
    """Run ``update(w, grad_fn, state)`` per start in plain NumPy."""
    X = np.asarray(land.data.X, dtype=float)
    T = targets_for(land.net, land.data)

    def grad_fn(w):
        return np_loss_grad(land.net, w, X, T, land.weight_decay)[1]

    out = []
    for w0 in W0:
        w, state = w0.copy(), {}
        for t in range(1, steps + 1):
            w = update(w, grad_fn, state, t)
        out.append(w)
    return np.array(out)


def test_numpy_reference_gradient_matches_landscape(problems):
    for land in problems.values():
        w = starts_for(land, 1)[0]
        X, T = np.asarray(land.data.X, float), targets_for(land.net, land.data)
        loss, g = np_loss_grad(land.net, w, X, T)
        assert_allclose(loss, land.loss(w), rtol=1e-13)
        assert_allclose(g, land.grad(w), rtol=1e-11, atol=1e-14)


# --------------------------------------------------------------------- optimisers
@pytest.mark.parametrize("name", PROBLEM_NAMES)
def test_adam_equals_numpy_adam(problems, name):
    land = problems[name]
    W0 = starts_for(land, 4)
    lr, b1, b2, eps, steps = 0.01, 0.9, 0.999, 1e-8, 300

    def adam(w, grad_fn, s, t):
        g = grad_fn(w)
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m_hat = s["m"] / (1 - b1**t)
        v_hat = s["v"] / (1 - b2**t)
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)

    fit = train(land, W0, optimizer="adam", lr=lr, steps=steps, progress=False)
    want = reference(land, W0, steps, adam)
    assert_allclose(fit.params, want, rtol=0, atol=1e-10)
    assert (fit.steps == steps).all() and (fit.status == "max_steps").all()
    loss, grad = land.loss_and_grad(fit.params)
    assert_allclose(fit.loss, loss, rtol=1e-14)
    assert_allclose(fit.grad_norm, np.abs(grad).max(axis=1), rtol=1e-14)
    assert (fit.loss < land.loss(W0)).all()


@pytest.mark.parametrize("name", PROBLEM_NAMES)
def test_gd_is_iterated_gradient_step(problems, name):
    land = problems[name]
    W0 = starts_for(land, 3)
    lr, steps = 0.05, 40
    fit = train(land, W0, optimizer="gd", lr=lr, steps=steps, record_every=1, progress=False)
    traj = fit.trajectory  # (R, steps + 1, p): every iterate
    assert_array_equal(traj[:, 0], W0)
    g = land.grad(traj[:, :-1].reshape(-1, land.n_params)).reshape(3, steps, -1)
    assert_array_equal(traj[:, 1:], traj[:, :-1] - lr * g)  # w_{k+1} = w_k - lr grad(w_k), exactly
    assert_array_equal(fit.params, traj[:, -1])
    full = train(land, W0, optimizer="sgd", batch_size=land.data.n, lr=lr, steps=steps, progress=False)
    assert_array_equal(full.params, fit.params)


@pytest.mark.parametrize("method", ["sam", "asam"])
def test_sam_and_asam_equal_numpy(problems, method):
    land = problems["teacher_student_5"]
    W0 = starts_for(land, 3)
    lr, rho, eta, steps = 0.05, 0.05, 0.01, 100  # (lr 0.1 bounces: ulps grow to 1e-8)

    def sam(w, grad_fn, s, t):
        g = grad_fn(w)
        if method == "sam":
            e = rho * g / np.linalg.norm(g)
        else:
            Tw = np.abs(w) + eta
            e = rho * Tw**2 * g / np.linalg.norm(Tw * g)
        return w - lr * grad_fn(w + e)

    fit = train(land, W0, optimizer=method, lr=lr, rho=rho, asam_eta=eta, steps=steps, progress=False)
    assert_allclose(fit.params, reference(land, W0, steps, sam), rtol=0, atol=1e-10)
    plain = train(land, W0, optimizer="gd", lr=lr, steps=steps, progress=False)
    assert np.abs(fit.params - plain.params).max() > 1e-4  # the perturbation mattered


def _numpy_batches(seed, run, N, b, steps):
    """The mini-batches of run ``run``: Fisher-Yates on NumPy's Philox stream (seed, run)."""
    bitgen = np.random.Philox(key=seed + (run << 64))

    def below(n):  # rejection of the lowest 2^64 mod n words: no modulo bias
        threshold = (2**64 - n) % n
        while True:
            r = int(bitgen.random_raw())
            if r >= threshold:
                return r % n

    out = []
    for _ in range(steps):
        perm = list(range(N))
        for i in range(b):
            j = i + below(N - i)
            perm[i], perm[j] = perm[j], perm[i]
        out.append(np.array(perm[:b]))
    return out


def test_sgd_minibatches_follow_the_documented_stream(problems):
    land = problems["teacher_student_5"]
    X, T = np.asarray(land.data.X, float), targets_for(land.net, land.data)
    W0 = starts_for(land, 3)
    lr, b, steps, seed = 0.1, 17, 25, 42
    fit = train(land, W0, optimizer="sgd", batch_size=b, lr=lr, steps=steps, seed=seed, progress=False)
    for r in range(3):
        w = W0[r].copy()
        for idx in _numpy_batches(seed, r, land.data.n, b, steps):
            assert len(set(idx)) == b
            w = w - lr * np_loss_grad(land.net, w, X[idx], T[idx])[1]
        assert_allclose(fit.params[r], w, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "method, kw",
    [
        ("sgd", dict(batch_size=7)),
        ("adam", dict(batch_size=3, lr=0.01)),
        ("asam", dict(batch_size=5)),
        ("langevin", dict(temperature=0.01)),
        ("langevin", dict(temperature=0.01, batch_size=4)),
    ],
)
@pytest.mark.threads
def test_identical_across_seeds_threads_and_blocks(seed001, method, kw):
    kw = dict(dict(lr=0.05, steps=61, seed=3, record_every=5, progress=False), **kw)
    W0 = starts_for(seed001, 5)
    ref = train(seed001, W0, optimizer=method, **kw)
    again = train(seed001, W0, optimizer=method, **kw)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = train(seed001, W0, optimizer=method, block_steps=7, **kw)
    finally:
        numba.set_num_threads(before)
    for other in (again, one):
        assert_array_equal(ref.params, other.params)
        assert_array_equal(ref.trajectory, other.trajectory)
        assert_array_equal(ref.trajectory_loss, other.trajectory_loss)
    other_seed = train(seed001, W0, optimizer=method, **dict(kw, seed=4))
    assert not np.array_equal(ref.params, other_seed.params)


def test_trajectory_records_are_the_shorter_runs(seed001):
    W0 = starts_for(seed001, 4)
    kw = dict(optimizer="sgd", batch_size=4, lr=0.1, seed=9, progress=False)
    fit = train(seed001, W0, steps=50, record_every=20, block_steps=3, **kw)
    assert_array_equal(fit.trajectory_steps, [0, 20, 40])
    assert_array_equal(fit.trajectory[:, 0], W0)
    for j, s in enumerate(fit.trajectory_steps[1:], start=1):
        assert_array_equal(fit.trajectory[:, j], train(seed001, W0, steps=int(s), **kw).params)
    assert_allclose(fit.trajectory_loss, seed001.loss(fit.trajectory.reshape(-1, 18)).reshape(4, 3), rtol=1e-14)


def test_float32_landscape_trains_in_float64(seed001):
    land32 = fl.Landscape(seed001.net, seed001.data, dtype="float32")
    W0 = starts_for(seed001, 2)
    a = train(seed001, W0, optimizer="adam", lr=0.01, steps=20, progress=False)
    b = train(land32, W0, optimizer="adam", lr=0.01, steps=20, progress=False)
    assert b.params.dtype == np.float64
    assert_array_equal(a.params, b.params)


# ------------------------------------------------------------------------- Langevin
def gaussian_landscape():
    """A linear model with squared error: U = 1/2 (w - mu)^T A (w - mu) + c exactly."""
    rs = np.random.default_rng(0)
    X = rs.normal(size=(20, 1))
    y = 0.5 * X[:, 0] + 0.3 + 0.1 * rs.normal(size=20)
    land = fl.Landscape(fl.MLP(1, [], 1, activation="linear", loss="mse"), fl.Dataset(X, y))
    Z = np.column_stack([X[:, 0], np.ones(20)])
    A = 2.0 / 20 * Z.T @ Z
    mu = np.linalg.solve(Z.T @ Z, Z.T @ y)
    return land, mu, A


def test_langevin_has_the_stationary_covariance_of_its_ar1():
    # w' = w - lr A (w - mu) + sqrt(2 lr T) xi is a Gaussian AR(1) with transition
    # B = I - lr A: its stationary covariance S solves S = B S B + 2 lr T I, i.e.
    # S = 2T (A (2I - lr A))^-1. Independent runs started at mu give iid draws.
    land, mu, A = gaussian_landscape()
    T = 0.05
    lr = 0.6 / np.linalg.eigvalsh(A).max()
    n, steps = 4000, 60
    fit = train(
        land, np.tile(mu, (n, 1)), optimizer="langevin", lr=lr, temperature=T, steps=steps, seed=5, progress=False
    )
    S = 2 * T * np.linalg.inv(A @ (2 * np.eye(2) - lr * A))
    contraction = np.abs(np.linalg.eigvals(np.eye(2) - lr * A)).max()
    assert contraction ** (2 * steps) < 1e-8  # stationary: the covariance converges like rate^(2k)
    w = fit.params
    assert np.all(np.abs(w.mean(axis=0) - mu) < 5 * np.sqrt(np.diag(S) / n))
    C = np.cov(w.T)
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / n)  # sd of a sample covariance
    assert np.all(np.abs(C - S) < 5 * se)
    # and not the continuous-time law T A^-1, which differs by more than the error here
    assert np.abs(C - T * np.linalg.inv(A)).max() > 3 * se.max()


# --------------------------------------------------------------------- stopping
def test_tol_grad_stops_runs_at_different_steps():
    land, mu, A = gaussian_landscape()
    W0 = mu + np.array([[0.01, 0.0], [0.5, -0.5], [3.0, 2.0], [-10.0, 5.0]])
    lr, tol, steps = 0.2, 1e-6, 500
    fit = train(land, W0, optimizer="gd", lr=lr, steps=steps, tol_grad=tol, progress=False, record_every=1)
    assert (fit.status == "converged").all()
    assert (fit.grad_norm <= tol).all()
    assert len(set(fit.steps.tolist())) == 4 and (fit.steps < steps).all()
    traj = fit.trajectory
    g = land.grad(traj.reshape(-1, 2)).reshape(traj.shape)
    gnorm = np.abs(g).max(axis=2)
    for r in range(4):  # GD up to the first iterate that meets the tolerance, frozen after it
        k = int(fit.steps[r])
        assert (gnorm[r, :k] > tol).all() and gnorm[r, k] <= tol
        assert_array_equal(traj[r, 1 : k + 1], traj[r, :k] - lr * g[r, :k])
        assert_array_equal(traj[r, k:], np.broadcast_to(fit.params[r], (steps + 1 - k, 2)))
    # a run that starts converged takes no step
    zero = train(land, mu, optimizer="adam", steps=10, tol_grad=1e-3, progress=False)
    assert zero.steps[0] == 0 and zero.status[0] == "converged"


def test_tol_loss_with_minibatches():
    land, mu, A = gaussian_landscape()
    floor = land.loss(mu)
    W0 = mu + np.array([[1.0, 1.0], [4.0, -3.0]])
    fit = train(land, W0, optimizer="sgd", batch_size=5, lr=0.05, steps=5000, tol_loss=floor + 1e-3, progress=False)
    assert (fit.status == "converged").all()
    assert (fit.loss <= floor + 1e-3).all()
    assert fit.steps[0] != fit.steps[1]


@pytest.mark.parametrize("method, kw", [("gd", {}), ("sgd", dict(batch_size=3)), ("sam", {}), ("langevin", {})])
def test_huge_learning_rate_diverges_without_raising(method, kw):
    land, mu, A = gaussian_landscape()
    W0 = mu + np.array([[1.0, 1.0], [0.0, 0.0]])
    fit = train(land, W0, optimizer=method, lr=1e3, steps=2000, progress=False, record_every=100, **kw)
    assert fit.status[0] == "diverged"
    assert fit.steps[0] < 2000
    assert not np.isfinite(fit.loss[0])
    assert fit.diverged[0]


# ------------------------------------------------------------------- gradient flow
def test_gradient_flow_matches_the_closed_form():
    land, mu, A = gaussian_landscape()
    W0 = np.array([[2.0, -1.0], [-3.0, 4.0]])
    t = np.array([0.0, 0.1, 0.5, 1.0, 3.0])
    for method in ("Radau", "BDF", "LSODA"):
        flow = gradient_flow(land, W0, t_max=3.0, t_eval=t, method=method, rtol=1e-10, atol=1e-12)
        assert isinstance(flow, GradientFlowResult)
        assert flow.success.all()
        exact = np.array([[mu + expm(-A * s) @ (w0 - mu) for s in t] for w0 in W0])
        assert_allclose(flow.trajectory, exact, rtol=0, atol=1e-6)
        assert_allclose(flow.params, exact[:, -1], rtol=0, atol=1e-6)
        assert_allclose(flow.trajectory_loss, land.loss(flow.trajectory.reshape(-1, 2)).reshape(2, -1))
        if method != "LSODA":  # LSODA stays in its non-stiff mode here and needs no Jacobian
            assert (flow.njev > 0).all()


def test_gradient_flow_on_a_network_decreases_the_loss(seed001):
    W0 = starts_for(seed001, 2)
    flow = gradient_flow(seed001, W0, t_max=20.0, t_eval=np.linspace(0, 20, 11))
    assert flow.success.all()
    assert (np.diff(flow.trajectory_loss, axis=1) <= 1e-12).all()
    assert_allclose(flow.grad_norm, np.abs(seed001.grad(flow.params)).max(axis=1))


# ------------------------------------------------------------------------- HDF5
def test_hdf5_file_matches_the_result(seed001, tmp_path):
    path = tmp_path / "train.h5"
    W0 = starts_for(seed001, 3)
    fit = train(
        seed001,
        W0,
        optimizer="adam",
        lr=0.02,
        steps=95,
        record_every=10,
        block_steps=15,
        path=path,
        progress=False,
        tol_grad=1e-12,
    )
    assert isinstance(fit, TrainResult) and fit.path == str(path)
    assert fit.trajectory.shape == (3, 10, 18)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "fastland.train" and f.attrs["optimizer"] == "adam"
        g = f["trajectory"]
        assert g["n_records"][()] == 10
        assert_array_equal(g["w"][:], fit.trajectory)
        assert_array_equal(g["loss"][:], fit.trajectory_loss)
        assert_array_equal(g["step"][:], fit.trajectory_steps)
        assert [list(d.keys()) for d in g["w"].dims] == [["run"], ["record"], ["param"]]
        res = f["result"]
        assert_array_equal(res["params"][:], fit.params)
        assert_array_equal(res["loss"][:], fit.loss)
        assert_array_equal(res["grad_norm"][:], fit.grad_norm)
        assert_array_equal(res["steps"][:], fit.steps)
        assert [s.decode() for s in res["status"][:]] == fit.status.tolist()
        lg = f["landscape"]
        net = fl.MLP.from_spec(lg.attrs["model"])
        assert net.spec() == seed001.net.spec()
        assert_array_equal(lg["X"][:], seed001.data.X)
        assert_array_equal(lg["y"][:], seed001.data.y)
    with pytest.raises(ValueError, match="path"):
        train(seed001, W0, steps=2, path=path, progress=False)


def test_hdf5_trajectory_opens_in_xarray(seed001, tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    path = tmp_path / "t.h5"
    fit = train(seed001, starts_for(seed001, 2), steps=20, record_every=5, path=path, progress=True)
    with xr.open_dataset(path, group="trajectory", engine="h5netcdf") as ds:
        assert ds["w"].dims == ("run", "record", "param")
        assert_array_equal(ds["w"].values, fit.trajectory)


# --------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(init=np.zeros((3, 17))), "init"),
        (dict(init=np.full((2, 18), np.nan)), "init"),
        (dict(init=np.zeros((0, 18))), "init"),
        (dict(init=np.zeros((2, 3, 18))), "init"),
        (dict(lr=0.0), "lr"),
        (dict(lr=-1.0), "lr"),
        (dict(steps=0), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(optimizer="sgd"), "batch_size"),
        (dict(optimizer="sgd", batch_size=0), "batch_size"),
        (dict(optimizer="sgd", batch_size=11), "batch_size"),
        (dict(optimizer="gd", batch_size=3), "batch_size"),
        (dict(seed=-1), "seed"),
        (dict(tol_grad=-1e-3), "tol_grad"),
        (dict(tol_loss=np.nan), "tol_loss"),
        (dict(rho=0.0), "rho"),
        (dict(temperature=0.0), "temperature"),
        (dict(betas=(0.9, 1.0)), "betas"),
        (dict(betas=0.9), "betas"),
        (dict(adam_eps=0.0), "adam_eps"),
        (dict(record_every=0), "record_every"),
        (dict(block_steps=0), "block_steps"),
        (dict(land="not a landscape"), "land"),
        (dict(precision="float8"), "precision"),
        (dict(precision=1), "precision"),
        (dict(precision=54), "precision"),
        (dict(precision=True), "precision"),
        (dict(precision="float16", exponent="float32"), "exponent"),
        (dict(precision=11, exponent="half"), "exponent"),
        (dict(precision=11, exponent=(5, -5)), "exponent"),
        (dict(precision=53, exponent=(-1060, 10)), "exponent"),
        (dict(precision="float16", init=np.full((2, 18), 7e4)), "init"),
    ],
)
def test_bad_inputs_name_the_argument(seed001, kwargs, match):
    args = dict(land=seed001, init=np.zeros((2, 18)), steps=3, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(t_max=0.0), "t_max"),
        (dict(method="RK45"), "method"),
        (dict(t_eval=[0.0, 2.0]), "t_eval"),
        (dict(t_eval=[0.5, 0.1]), "t_eval"),
        (dict(rtol=0.0), "rtol"),
        (dict(init=np.zeros(5)), "init"),
    ],
)
def test_gradient_flow_bad_inputs(seed001, kwargs, match):
    args = dict(land=seed001, init=np.zeros(18), t_max=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gradient_flow(**args)


# ------------------------------------------------------------------ reduced precision
def _float_grid(rng, n=20_000):
    """Values over all magnitudes and signs, exact powers of two and their neighbours."""
    mant = rng.uniform(1.0, 2.0, n)
    expo = rng.integers(-160, 140, n)
    x = np.ldexp(mant, expo) * rng.choice([-1.0, 1.0], n)
    pw = np.ldexp(1.0, np.arange(-160, 140))
    return np.concatenate([x, pw, -pw, np.nextafter(pw, 0), np.nextafter(pw, np.inf), [0.0, -0.0]])


def _midpoints(vals):
    """Exact float64 midpoints between consecutive representable values (ties)."""
    v = np.unique(vals.astype(np.float64))
    v = v[np.isfinite(v)]
    return (v[:-1] + v[1:]) / 2  # exact: both have far fewer than 52 significant bits


def test_float32_rounding_equals_numpy_cast():
    rng = np.random.default_rng(0)
    x = _float_grid(rng)
    f32 = rng.standard_normal(5000).astype(np.float32) * np.float32(2.0) ** rng.integers(-150, 120, 5000)
    ties = _midpoints(f32)
    tiny = np.ldexp(rng.uniform(0, 1, 3000), -126)  # float32 subnormal range
    big = np.array([3.4028234663852886e38, 3.4028235677973366e38, 3.4028235677973362e38, 3.5e38, 1e300])
    for v in (x, ties, tiny, big, -big):
        with np.errstate(over="ignore"):
            want = v.astype(np.float32).astype(np.float64)
        got = round_precision(v, "float32")
        assert_array_equal(got, want)
        assert_array_equal(np.signbit(got), np.signbit(want))
        assert_array_equal(round_precision(v, 24, exponent="float32"), want)


def test_float16_rounding_equals_numpy_cast():
    rng = np.random.default_rng(1)
    x = _float_grid(rng)
    all16 = np.arange(2**16, dtype=np.uint16).view(np.float16)  # every float16 value
    ties = _midpoints(all16)  # every tie, subnormal ones included
    above = np.array([65504.0, 65519.99, 65520.0, 65535.0, 7e4, 2.0**-25, 2.0**-25 * 1.0000001, 2.0**-26])
    for v in (x, ties, above, -above, all16.astype(np.float64)):
        with np.errstate(over="ignore", invalid="ignore"):
            want = v.astype(np.float16).astype(np.float64)
        got = round_precision(v, "float16")
        assert_array_equal(got, want)  # NaN == NaN for assert_array_equal
        assert_array_equal(np.signbit(got), np.signbit(want))
        assert_array_equal(round_precision(v, 11, exponent="float16"), want)
        assert_array_equal(round_precision(v, 11, exponent=(-14, 15)), want)
    assert round_precision(65520.0, "float16") == np.inf  # the tie above the largest goes to inf
    assert round_precision(2.0**-25, "float16") == 0.0  # tie with the smallest subnormal: even is 0
    assert round_precision(3 * 2.0**-25, "float16") == 2.0**-23  # tie between 1 and 2 units: even is 2


def test_bfloat16_rounding_equals_the_bit_recipe():
    # bfloat16 = the upper 16 bits of a float32, rounded to nearest even on the lower 16 bits
    rng = np.random.default_rng(2)
    f = (rng.standard_normal(20_000) * 2.0 ** rng.integers(-130, 125, 20_000)).astype(np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    want = u.astype(np.uint32).view(np.float32).astype(np.float64)
    assert_array_equal(round_precision(f.astype(np.float64), "bfloat16"), want)


@pytest.mark.parametrize("bits", [2, 3, 7, 17, 30, 52, 53])
def test_k_bit_rounding_equals_exact_rational_rounding(bits):
    from fractions import Fraction

    rng = np.random.default_rng(bits)
    x = np.concatenate([_float_grid(rng, 400)[:400], [5e-324, 2.0**-1022, 1.5 * 2.0**-1040]])
    got = round_precision(x, bits)
    for v, g in zip(x, got, strict=True):
        if v == 0:
            assert g == 0
            continue
        e = max(math.frexp(abs(v))[1] - 1, -1022)
        q = Fraction(2) ** (e - bits + 1)  # the spacing of the k-bit numbers around v
        n, rem = divmod(Fraction(v) / q, 1)
        if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2 == 1):
            n += 1
        assert Fraction(g) == n * q, (v, g)
    assert_array_equal(round_precision(x, 53), x)


def _decay_landscape(p=6):
    # zero data (output and residual 0): U = (wd/2)|w|^2, GD is w <- w - lr wd w per coordinate
    data = fl.Dataset(np.zeros((3, p)), np.zeros(3))
    return fl.Landscape(fl.MLP(p, [], 1, activation="linear", loss="mse", bias=False), data, weight_decay=1.0)


def test_stalled_updates_counted_exactly_by_hand():
    land = _decay_landscape(4)
    # float16 around 1: spacing 2^-10 above, 2^-11 below; a step down stalls iff it is <= 2^-12
    # (2^-12 is a tie between 1 and 1 - 2^-11, whose last bit is odd: it goes to 1)
    w0 = np.array([[1.0, 1.0, 1.0, 0.0]])
    fit = train(land, w0 * 1, optimizer="gd", lr=2.0**-13, steps=1, precision="float16", progress=False)
    assert_array_equal(fit.params, w0)  # 1 - 2^-13 rounds back to 1
    assert fit.stalled.tolist() == [3]  # the zero coordinate had a zero update: not stalled
    assert fit.unchanged_steps.tolist() == [[1, 1, 1, 1]] and fit.frozen.all()
    fit = train(land, w0, optimizer="gd", lr=2.0**-12, steps=1, precision="float16", progress=False)
    assert_array_equal(fit.params, w0) and fit.stalled.tolist() == [3]  # the tie goes to 1
    fit = train(land, w0, optimizer="gd", lr=3 * 2.0**-13, steps=1, precision="float16", progress=False)
    assert_array_equal(fit.params, [[1 - 2.0**-11] * 3 + [0.0]])
    assert fit.stalled.tolist() == [0] and fit.unchanged_steps.tolist() == [[0, 0, 0, 1]]
    assert_allclose(fit.stalled_share, [0.0])


@pytest.mark.parametrize(
    "dtype, exponent, cast, lr",
    [("float16", None, np.float16, 3.6e-4), (11, "float16", np.float16, 3.6e-4), ("float32", None, np.float32, 4.5e-8)],
)
def test_stalled_counts_follow_a_numpy_cast_iteration(dtype, exponent, cast, lr):
    # relative step lr: between 2^-(k+1) and 2^-k (k = 11, 24), so an update stalls or not
    # depending on the significand of the value, which changes along the run
    land = _decay_landscape(6)
    rng = np.random.default_rng(5)
    W0 = (rng.uniform(1.0, 2.0, (3, 6)) * 2.0 ** rng.integers(-12, 6, (3, 6))).astype(cast).astype(float)
    steps = 400
    fit = train(
        land, W0, optimizer="gd", lr=lr, steps=steps, precision=dtype, exponent=exponent, record_every=7, progress=False
    )
    w = W0.copy()
    per_step = []
    run = np.zeros_like(W0, dtype=np.int64)
    traj = [w]
    for _ in range(steps):
        d = lr * (1.0 * w)  # the gradient is wd w with wd = 1
        new = (w - d).astype(cast).astype(float)
        same = new == w
        per_step.append((same & (d != 0)).sum(axis=1))
        run = np.where(same, run + 1, 0)
        w = new
        traj.append(w)
    per_step = np.array(per_step)  # (steps, R)
    assert_array_equal(fit.params, w)
    assert_array_equal(fit.trajectory, np.stack(traj, axis=1)[:, ::7])
    assert_array_equal(fit.stalled, per_step.sum(axis=0))
    assert_array_equal(fit.unchanged_steps, run)
    assert 0 < per_step.sum() < per_step.size * 6  # some stalled and some not: the test can fail
    share = [per_step[j - 7 : j].sum(axis=0) / (7 * 6) for j in range(7, steps + 1, 7)]
    assert np.isnan(fit.trajectory_stalled[:, 0]).all()
    assert_allclose(fit.trajectory_stalled[:, 1:], np.array(share).T, rtol=1e-15)
    assert_allclose(fit.stalled_share, per_step.sum(axis=0) / (steps * 6), rtol=1e-15)


@pytest.mark.parametrize(
    "optimizer, kw",
    [("gd", {}), ("adam", {}), ("sgd", {"batch_size": 3}), ("sam", {}), ("langevin", {"temperature": 1e-4})],
)
def test_float64_default_is_the_unrounded_run(seed001, optimizer, kw):
    W0 = starts_for(seed001, 3)
    a = train(seed001, W0, optimizer=optimizer, lr=0.02, steps=60, progress=False, seed=3, **kw)
    b = train(seed001, W0, optimizer=optimizer, lr=0.02, steps=60, progress=False, seed=3, precision=53, **kw)
    assert_array_equal(a.params, b.params)  # rounding to 53 bits in float64's range is the identity
    assert_array_equal(a.stalled, b.stalled) and a.settings["rounding"]["bits"] == 53


def test_reduced_precision_gd_is_the_rounded_iteration_on_a_network(seed001):
    land = seed001
    W0 = round_precision(starts_for(land, 3), "bfloat16")
    lr, steps = 0.05, 300
    fit = train(land, W0, optimizer="gd", lr=lr, steps=steps, precision="bfloat16", record_every=1, progress=False)
    traj = fit.trajectory
    g = land.grad(traj[:, :-1].reshape(-1, land.n_params)).reshape(3, steps, -1)
    assert_array_equal(traj[:, 1:], round_precision(traj[:, :-1] - lr * g, "bfloat16"))
    stalled = ((traj[:, 1:] == traj[:, :-1]) & (lr * g != 0)).sum(axis=(1, 2))
    assert_array_equal(fit.stalled, stalled)
    assert fit.stalled.sum() > 0  # 8 bits: GD near convergence loses updates
    assert_array_equal(round_precision(fit.params, "bfloat16"), fit.params)


def test_overflow_in_float16_diverges():
    land = _decay_landscape(2)
    fit = train(
        land, [[6e4, 1.0]], optimizer="langevin", lr=1.0, temperature=1e9, steps=5, precision="float16", progress=False
    )
    assert fit.status.tolist() == ["diverged"]


def test_precision_fields_in_the_hdf5_file(seed001, tmp_path):
    path = tmp_path / "p.h5"
    W0 = starts_for(seed001, 2)
    fit = train(
        seed001,
        W0,
        optimizer="gd",
        lr=0.05,
        steps=40,
        record_every=10,
        precision=9,
        exponent="float16",
        path=path,
        progress=False,
        block_steps=7,
    )
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == 3 and f.attrs["precision"] == 9
        assert_array_equal(f["trajectory/stalled"][:], fit.trajectory_stalled)
        assert [list(d.keys()) for d in f["trajectory/stalled"].dims] == [["run"], ["record"]]
        res = f["result"]
        assert_array_equal(res["stalled"][:], fit.stalled)
        assert_array_equal(res["stalled_share"][:], fit.stalled_share)
        assert_array_equal(res["unchanged_steps"][:], fit.unchanged_steps)
        assert_array_equal(res["frozen"][:].astype(bool), fit.frozen)
    one = train(
        seed001, W0, optimizer="gd", lr=0.05, steps=40, record_every=10, precision=9, exponent="float16", progress=False
    )
    assert_array_equal(one.trajectory_stalled, fit.trajectory_stalled)  # block size does not matter
    assert_array_equal(one.unchanged_steps, fit.unchanged_steps)


@pytest.mark.parametrize(
    "bits, emin, emax",
    [(11, -14, 15), (24, -126, 127), (8, -126, 127), (2, -3, 4), (30, -1022, 1023), (53, -1022, 1023)],
)
def test_bit_rounding_equals_the_scalar_rounding(bits, emin, emax):
    from fastland._kernels import optim

    rng = np.random.default_rng(bits)
    with np.errstate(over="ignore"):  # 2^1024 is inf for emax = 1023
        big = np.ldexp(rng.uniform(-2, 2, 2000), rng.integers(emax - 1, emax + 2, 2000))
    x = np.concatenate(
        [
            _float_grid(rng, 30_000),
            np.ldexp(rng.uniform(-2, 2, 5000), rng.integers(emin - bits - 3, emin + 2, 5000)),  # target subnormals
            big,  # overflow
            [5e-324, -5e-324, 2.0**-1022, np.inf, -np.inf, np.nan, 0.0, -0.0, 1.7976931348623157e308],
        ]
    )
    x = np.concatenate([x, _midpoints(round_precision(x[np.abs(x) < 1e307], bits, exponent=(emin, emax)))])
    fast = np.empty_like(x)
    slow = np.empty_like(x)
    optim.round_array(x, bits, emin, emax, fast, True)
    optim.round_array(x, bits, emin, emax, slow, False)
    assert_array_equal(fast.view(np.uint64), slow.view(np.uint64))  # bit for bit, signs of zeros and NaN included


def test_open_train_reads_back_what_train_returned(tmp_path, seed001):
    path = tmp_path / "fit.h5"
    fit = train(seed001, starts_for(seed001, 3), steps=30, record_every=10, path=path, progress=False)
    back = fl.open_train(path)
    assert isinstance(back, fl.TrainResult) and back.path == str(path) and back.settings == fit.settings
    for name in (
        "params",
        "loss",
        "grad_norm",
        "steps",
        "status",
        "stalled",
        "unchanged_steps",
        "trajectory",
        "trajectory_loss",
        "trajectory_steps",
        "trajectory_stalled",
    ):
        assert_array_equal(getattr(back, name), getattr(fit, name), err_msg=name)
    assert_array_equal(back.frozen, fit.frozen)
    assert back.landscape.net == fit.landscape.net
    assert_array_equal(back.landscape.data.X, seed001.data.X)
    assert back.landscape.loss(back.params[0]) == fit.loss[0]


def test_open_train_refuses_damaged_unfinished_and_foreign_files(tmp_path, seed001):
    path = tmp_path / "fit.h5"
    train(seed001, starts_for(seed001, 2), steps=30, record_every=5, path=path, progress=False)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="damaged.*truncated"):
        fl.open_train(cut)
    run = tmp_path / "run.h5"
    fl.sample(seed001, chains=2, draws=3, progress=False, path=run).close()
    with pytest.raises(ValueError, match="not a fastland"):
        fl.open_train(run)
    with pytest.raises(FileNotFoundError):
        fl.open_train(tmp_path / "none.h5")
    with h5py.File(path, "r+") as f:  # as if the process died before the end
        del f["result"]
    with pytest.raises(ValueError, match="did not finish.*7 trajectory records"):
        fl.open_train(path)


def test_repr_is_a_short_summary(seed001):
    fit = train(seed001, starts_for(seed001, 4), steps=5, progress=False)
    text = repr(fit)
    # counts of runs per status, not something that reads like a setting ("max_steps=4")
    assert text == "TrainResult(runs=4, n_params=18, optimizer='adam', status: 4 max_steps)"
    assert "\n" not in text and "array" not in text
