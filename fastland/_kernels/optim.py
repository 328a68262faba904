"""Optimiser blocks for many independent training runs, ``prange`` over runs.

One call of :func:`run_block` advances every running run by ``n_steps`` steps.
Everything a run needs to continue (position, full-batch loss and gradient at
that position, Adam moments, step counter, random stream, status) lives in
state arrays passed in and out, indexed by run, so the results are identical
for any thread count and any block size: a run continued block by block is the
same run as one done in a single call.

Methods (``g`` is the gradient of U at w: the full-batch one, or the mean over
a mini-batch of ``batch_size`` points drawn afresh each step):

* GD / SGD: w <- w - lr g.
* Adam (Kingma & Ba 2015, as in PyTorch without amsgrad): m <- b1 m + (1 - b1) g,
  v <- b2 v + (1 - b2) g^2, w <- w - lr m_hat / (sqrt(v_hat) + eps) with
  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t), t the 1-based step number.
* SAM (Foret et al. 2021): e = rho g / ||g||_2, then w <- w - lr g(w + e), the
  adversarial gradient taken on the same mini-batch; e = 0 where g = 0.
* ASAM (Kwon et al. 2021): with T_w = |w| + eta elementwise,
  e = rho T_w^2 g / ||T_w g||_2, then w <- w - lr g(w + e).
* Langevin: w <- w - lr g + sqrt(2 lr T) xi, xi standard normal from the run's
  own stream (stochastic-gradient Langevin with a mini-batch).

Mini-batches: each step draws ``batch_size`` distinct point indices from the
run's Philox stream by a partial Fisher-Yates shuffle of a per-run index buffer;
the swaps are undone after the step, so the buffer is the identity at the
start of every step and the draws depend only on the stream. A batch size >= N
means full batch (no draws).

Stopping, checked after every step on the full-batch loss and gradient at the
new position (evaluated every step in full-batch mode anyway; in mini-batch
mode only when a tolerance is set, ``check``): a run converges when
||grad||_inf <= tol_grad or U <= tol_loss (pass -1 and -inf to disable), and
diverges when the loss or the gradient is not finite (in mini-batch mode also
when the mini-batch loss or gradient is not finite). A stopped run does
nothing further; its position stays frozen. No exceptions are raised inside
the parallel loop: the status codes report what happened.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from . import mlp, rng
from ._jit import jit

GD, ADAM, SAM, ASAM, LANGEVIN = range(5)  # "sgd" is GD with a batch size < N

RUNNING, CONVERGED, DIVERGED, MAX_STEPS = range(4)

# entries of the float64 hyper-parameter array ``hyper``
H_LR, H_RHO, H_ASAM_ETA, H_TEMPERATURE, H_BETA1, H_BETA2, H_EPS, H_TOL_GRAD, H_TOL_LOSS = range(9)
N_HYPER = 9


@jit
def _inf_norm(g):
    """Return max |g_q|, or NaN if any entry is NaN."""
    m = 0.0
    for q in range(g.shape[0]):
        x = g[q]
        if math.isnan(x):
            return math.nan
        m = max(m, abs(x))
    return m


@jit
def _l2_norm(g):
    s = 0.0
    for q in range(g.shape[0]):
        s += g[q] * g[q]
    return math.sqrt(s)


@jit
def _all_finite(g):
    for q in range(g.shape[0]):
        if not math.isfinite(g[q]):
            return False
    return True


@jit
def _below(state, n):
    """Draw a uniform integer in [0, n) from the stream, without modulo bias (n >= 1)."""
    nn = np.uint64(n)
    threshold = (np.uint64(0) - nn) % nn  # 2^64 mod n: reject the lowest words
    while True:
        r = rng.next_raw(state)
        if r >= threshold:
            return np.int64(r % nn)


@jit
def draw_batch(state, perm, picks, b):
    """Partial Fisher-Yates: perm[:b] becomes b distinct indices; swaps kept in picks."""
    N = perm.shape[0]
    for i in range(b):
        j = i + _below(state, N - i)
        picks[i] = j
        t = perm[i]
        perm[i] = perm[j]
        perm[j] = t


@jit
def undo_batch(perm, picks, b):
    """Undo :func:`draw_batch`'s swaps in reverse order, restoring perm."""
    for i in range(b - 1, -1, -1):
        j = picks[i]
        t = perm[i]
        perm[i] = perm[j]
        perm[j] = t


@jit
def loss_grad_subset(arch, w, X, T, wd, idx, b, work, grad):
    """Mean loss over the points idx[:b] plus (wd/2)||w||^2; its gradient into ``grad``.

    Points are summed in the order of ``idx``.
    """
    nl = arch[0]
    n_out = mlp.width(arch, nl)
    p = w.shape[0]
    for q in range(p):
        grad[q] = 0.0
    total = 0.0
    for k in range(b):
        i = idx[k]
        mlp._forward(arch, w, X, i, work)
        total += mlp._point_loss(arch[2], work, nl, T, i, n_out, 1)
        mlp._backward(arch, w, work, grad)
    for q in range(p):
        grad[q] = grad[q] / b + wd * w[q]
    return total / b + 0.5 * wd * mlp._sqnorm(w)


@jit
def _perturbation(method, w, g, rho, eta, out):
    """SAM's or ASAM's ascent step e for gradient g at w; False if its norm is not finite."""
    p = w.shape[0]
    if method == SAM:
        nrm = _l2_norm(g)
        if not math.isfinite(nrm):
            return False
        scale = rho / nrm if nrm > 0.0 else 0.0
        for q in range(p):
            out[q] = scale * g[q]
    else:  # ASAM: e = rho T_w^2 g / ||T_w g||, T_w = |w| + eta
        s = 0.0
        for q in range(p):
            tg = (abs(w[q]) + eta) * g[q]
            s += tg * tg
        nrm = math.sqrt(s)
        if not math.isfinite(nrm):
            return False
        scale = rho / nrm if nrm > 0.0 else 0.0
        for q in range(p):
            tw = abs(w[q]) + eta
            out[q] = scale * tw * tw * g[q]
    return True


@jit
def _check(u, g, tol_grad, tol_loss):
    """(status, inf-norm of g) of a run at a point with full-batch loss u and gradient g."""
    gn = _inf_norm(g)
    if not (math.isfinite(u) and math.isfinite(gn)):
        return DIVERGED, gn
    if gn <= tol_grad or u <= tol_loss:
        return CONVERGED, gn
    return RUNNING, gn


@jit(parallel=True)
def evaluate(arch, X, T, wd, hyper, pos, grad, loss, gnorm, status):
    """Full-batch loss, gradient and gradient inf-norm at every run's position.

    Runs with status RUNNING get the status the stopping rule gives there
    (CONVERGED, DIVERGED or still RUNNING); other statuses are kept.
    """
    R, p = pos.shape
    for r in prange(R):
        work = mlp.new_work(arch)
        part = np.zeros(p)
        u = mlp.loss_grad_value(arch, pos[r], X, T, wd, work, part, grad[r])
        st, gn = _check(u, grad[r], hyper[H_TOL_GRAD], hyper[H_TOL_LOSS])
        loss[r] = u
        gnorm[r] = gn
        if status[r] == RUNNING:
            status[r] = st


@jit(parallel=True)
def run_block(
    method, arch, X, T, wd, hyper, batch_size, check, n_steps, step0, record_every,
    pos, grad, loss, gnorm, m, v, steps, states, status, out_w, out_loss,
):
    """Advance every running run by ``n_steps`` steps (global steps step0+1 .. step0+n_steps).

    State (R runs, p parameters), updated in place: ``pos`` (R, p); ``grad``,
    ``loss``, ``gnorm``: full-batch gradient, loss and gradient inf-norm at
    ``pos`` (fill them with :func:`evaluate` first; in mini-batch mode without
    ``check`` they are only refreshed when a run stops); ``m``, ``v`` (R, p):
    Adam's moments; ``steps`` (R,) int64: updates taken; ``states`` (R,
    rng.STATE_SIZE): the runs' streams; ``status`` (R,) int64.

    ``batch_size`` in 1..N-1 selects mini-batches, anything else the full
    batch; ``check`` evaluates the full-batch loss and gradient after every
    mini-batch step to apply the stopping rule. With ``record_every`` = k > 0,
    the position and full-batch loss after every global step c with c % k == 0
    go to ``out_w[r, j]`` and ``out_loss[r, j]``, j counting such c within this
    block; stopped runs record their frozen position.
    """
    R, p = pos.shape
    N = X.shape[0]
    mini = 0 < batch_size < N
    full_eval = (not mini) or check
    lr = hyper[H_LR]
    rho = hyper[H_RHO]
    eta = hyper[H_ASAM_ETA]
    noise_scale = math.sqrt(2.0 * lr * hyper[H_TEMPERATURE])
    b1 = hyper[H_BETA1]
    b2 = hyper[H_BETA2]
    adam_eps = hyper[H_EPS]
    tol_grad = hyper[H_TOL_GRAD]
    tol_loss = hyper[H_TOL_LOSS]
    first_record = step0 // record_every if record_every > 0 else 0
    for r in prange(R):
        w = pos[r]
        cur_g = grad[r]
        work = mlp.new_work(arch)
        part = np.zeros(p)
        gb = np.empty(p)  # mini-batch gradient, then the gradient used in the update
        e = np.empty(p)  # SAM / ASAM perturbation, Langevin noise
        wadv = np.empty(p)
        nb = batch_size if mini else 0
        perm = np.arange(N if mini else 0)
        picks = np.empty(nb, dtype=np.int64)
        st = states[r]
        for it in range(n_steps):
            if status[r] == RUNNING:
                # 1. the gradient at w (full batch: already in cur_g)
                if mini:
                    draw_batch(st, perm, picks, nb)
                    ub = loss_grad_subset(arch, w, X, T, wd, perm, nb, work, gb)
                    ok = math.isfinite(ub) and _all_finite(gb)
                else:
                    gb[:] = cur_g
                    ok = True
                # 2. SAM / ASAM: the gradient at the adversarial point, same batch
                if ok and (method == SAM or method == ASAM):
                    ok = _perturbation(method, w, gb, rho, eta, e)
                    if ok:
                        for q in range(p):
                            wadv[q] = w[q] + e[q]
                        if mini:
                            ub = loss_grad_subset(arch, wadv, X, T, wd, perm, nb, work, gb)
                        else:
                            ub = mlp.loss_grad_value(arch, wadv, X, T, wd, work, part, gb)
                        ok = math.isfinite(ub) and _all_finite(gb)
                if mini:
                    undo_batch(perm, picks, nb)
                if not ok:
                    status[r] = DIVERGED
                    loss[r] = mlp.loss_grad_value(arch, w, X, T, wd, work, part, cur_g)
                    gnorm[r] = _inf_norm(cur_g)
                else:
                    # 3. the update
                    if method == ADAM:
                        t = np.float64(steps[r] + 1)
                        c1 = 1.0 - b1**t
                        c2 = 1.0 - b2**t
                        mr = m[r]
                        vr = v[r]
                        for q in range(p):
                            gq = gb[q]
                            mr[q] = b1 * mr[q] + (1.0 - b1) * gq
                            vr[q] = b2 * vr[q] + (1.0 - b2) * gq * gq
                            w[q] -= lr * (mr[q] / c1) / (math.sqrt(vr[q] / c2) + adam_eps)
                    elif method == LANGEVIN:
                        rng.fill_normal(st, e)
                        for q in range(p):
                            w[q] = w[q] - lr * gb[q] + noise_scale * e[q]
                    else:  # GD, SGD, SAM, ASAM
                        for q in range(p):
                            w[q] -= lr * gb[q]
                    steps[r] += 1
                    # 4. the stopping rule at the new point
                    if full_eval:
                        u = mlp.loss_grad_value(arch, w, X, T, wd, work, part, cur_g)
                        s, gn = _check(u, cur_g, tol_grad, tol_loss)
                        loss[r] = u
                        gnorm[r] = gn
                        status[r] = s
            if record_every > 0:
                c = step0 + it + 1
                if c % record_every == 0:
                    j = c // record_every - first_record - 1
                    out_w[r, j, :] = w
                    if full_eval or status[r] != RUNNING:
                        out_loss[r, j] = loss[r]
                    else:
                        out_loss[r, j] = mlp.loss_value(arch, w, X, T, wd, work)


# ------------------------------------------------- serial evaluations for the ODE solver


@jit
def loss_grad_one(arch, X, T, wd, w, grad):
    """U(w) and its gradient (into ``grad``) for one vector, serially.

    Equal bit for bit to ``mlp.loss_grad_batch``; used by the gradient-flow
    solver, which calls it once per right-hand side: a serial call avoids the
    cost of waking the thread pool (large when the cores are oversubscribed).
    """
    return mlp.loss_grad_one(arch, w, X, T, wd, grad)


@jit
def hessian_one(arch, X, T, wd, w, out):
    """Write the exact Hessian (p, p) of U at one vector into ``out``, serially (= mlp.hessian_batch)."""
    mlp.hessian_one(arch, w, X, T, wd, out)
