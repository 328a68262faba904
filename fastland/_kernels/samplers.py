"""MCMC blocks for exp(-U(w)/T) on the box [-L, L]^p, ``prange`` over chains.

One call advances every chain by ``n_draws * thin`` steps and stores one draw
every ``thin`` steps. Everything a chain needs to continue (position, current
loss and gradient, random stream, step size, adaptation state) lives in the
state arrays passed in and out, indexed by chain, so results are identical for
any thread count, any block size, and across an interrupt and resume.

Methods (``step`` is the proposal scale epsilon in every method):

* RWM: w' = w + eps xi; outside the box the target is 0, so the proposal is
  rejected.
* MALA: w' = w - eps^2/(2T) grad U(w) + eps xi, Metropolis-Hastings corrected;
  proposals outside the box are rejected.
* HMC: ``n_leapfrog`` leapfrog steps of size eps with unit mass for the
  potential U/T. A coordinate that leaves the box is reflected back and its
  momentum negated (Neal 2011, sec. 5.1): the reflected map is still
  volume-preserving and reversible, so the Metropolis step keeps
  exp(-U/T) restricted to the box invariant.
* Langevin (unadjusted, overdamped): w' = w - eps^2/(2T) grad U + eps xi, the
  SGD-like update with learning rate eta = eps^2/(2T), reflected at the walls.
  No accept step: its stationary law is exp(-U/T) only as eps -> 0.

Non-finite losses are rejections; a chain whose start is non-finite reports a
status code, and the caller raises after the parallel loop.

Warm-up adapts each chain's step size by dual averaging (Hoffman & Gelman 2014)
toward ``target_accept``; ``finish_adaptation`` freezes it.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import prange

from . import lanes, mlp, rng, vmath
from ._jit import jit

RWM, MALA, HMC, LANGEVIN = range(4)

#: the chains' state, per chain c, updated in place by a block: position (C, p), current
#: loss (C,) and gradient (C, p), random stream (C, rng.STATE_SIZE), step size (C,),
#: dual-averaging state (C, ADAPT_SIZE), status (C,) int64
Chains = namedtuple("Chains", ["pos", "loss", "grad", "rng", "step", "adapt", "status"])
#: a block's stored draws: positions (C, k, p), losses (C, k), acceptance rates (C, k)
Draws = namedtuple("Draws", ["w", "loss", "acc"])

STATUS_OK, STATUS_BAD_START = 0, 1

# per-chain dual-averaging state: mu, h_bar, log_eps_bar, t
ADAPT_SIZE = 4
_GAMMA, _T0, _KAPPA = 0.05, 10.0, 0.75


@jit
def _inside(w, box):
    for q in range(w.shape[0]):
        if not (-box <= w[q] <= box):
            return False
    return True


@jit
def _reflect(w, v, box):
    """Fold w back into [-box, box], negating v where a wall was crossed."""
    for q in range(w.shape[0]):
        x = w[q]
        if not math.isfinite(x):
            return False
        flips = 0
        while x > box or x < -box:
            if x > box:
                x = 2.0 * box - x
            else:
                x = -2.0 * box - x
            flips += 1
            if flips > 64:  # absurd step: give up, caller rejects
                return False
        w[q] = x
        if flips % 2 == 1:
            v[q] = -v[q]
    return True


@jit
def _adapt(adapt, c, accept_prob, target):
    """One dual-averaging update of chain c's step size (row c of ``adapt``); returns the new step."""
    if not math.isfinite(accept_prob):
        accept_prob = 0.0
    adapt[c, 3] += 1.0
    t = adapt[c, 3]
    eta = 1.0 / (t + _T0)
    adapt[c, 1] = (1.0 - eta) * adapt[c, 1] + eta * (target - accept_prob)
    log_eps = adapt[c, 0] - math.sqrt(t) / _GAMMA * adapt[c, 1]
    w = t ** (-_KAPPA)
    adapt[c, 2] = w * log_eps + (1.0 - w) * adapt[c, 2]
    return math.exp(log_eps)


@jit
def init_adaptation(step, adapt):
    """Start dual averaging from the current step sizes (chains,)."""
    for c in range(step.shape[0]):
        adapt[c, 0] = math.log(10.0 * step[c])
        adapt[c, 1] = 0.0
        adapt[c, 2] = math.log(step[c])
        adapt[c, 3] = 0.0


@jit
def finish_adaptation(step, adapt):
    """Freeze every chain's step at its dual-averaging average."""
    for c in range(step.shape[0]):
        if adapt[c, 3] > 0:
            step[c] = math.exp(adapt[c, 2])


@jit
def init_uniform(states, box, out):
    """Starting points uniform in the box, from each chain's own stream."""
    for c in range(out.shape[0]):
        for q in range(out.shape[1]):
            out[c, q] = box * (2.0 * rng.uniform(states[c]) - 1.0)


@jit
def _mala_log_q(w_to, w_from, g_from, step, temperature):
    """log q(w_to | w_from) of the MALA proposal, up to a constant."""
    s = 0.0
    a = step * step / (2.0 * temperature)
    for q in range(w_to.shape[0]):
        d = w_to[q] - (w_from[q] - a * g_from[q])
        s += d * d
    return -s / (2.0 * step * step)


@jit
def _run_block_one(
    c, method, problem, temperature, box, thin, n_draws, n_leapfrog, store, adapt_on, target_accept, chains, draws
):
    """One chain of :func:`run_block` (the same compiled code for the parallel and serial drivers).

    Records are unpacked here, in a serial function: Numba's parallel loops lose writes
    to arrays inside tuples (numba/numba#5872), so the drivers only hand them through.
    """
    arch, X, T, wd = problem
    pos, cur_loss, cur_grad, states, step, adapt, status = chains
    out_w, out_loss, out_acc = draws
    p = pos.shape[1]
    uses_grad = method != RWM
    status[c] = STATUS_OK
    if not math.isfinite(cur_loss[c]):
        status[c] = STATUS_BAD_START
        return
    work = mlp.new_work(arch, mlp.block_points(X.shape[0]))
    part = np.zeros(p)
    w = pos[c].copy()
    g = cur_grad[c].copy()
    u = cur_loss[c]
    prop = np.empty(p)
    gprop = np.zeros(p)
    noise = np.empty(p)
    mom = np.empty(p)
    st = states[c]
    eps = step[c]
    for d in range(n_draws):
        n_acc = 0.0
        for _ in range(thin):
            accept_prob = 1.0
            if method == MALA or method == LANGEVIN:
                rng.fill_normal(st, noise)
                a = eps * eps / (2.0 * temperature)
                for q in range(p):
                    prop[q] = w[q] - a * g[q] + eps * noise[q]
                if method == LANGEVIN:
                    if _reflect(prop, noise, box):
                        u_new = mlp.loss_grad_value(arch, prop, X, T, wd, work, part, gprop)
                        if math.isfinite(u_new):
                            w[:] = prop
                            g[:] = gprop
                            u = u_new
                            n_acc += 1.0
                    continue
                accept_prob = 0.0
                if _inside(prop, box):
                    u_new = mlp.loss_grad_value(arch, prop, X, T, wd, work, part, gprop)
                    if math.isfinite(u_new):
                        log_r = (
                            -(u_new - u) / temperature
                            + _mala_log_q(w, prop, gprop, eps, temperature)
                            - _mala_log_q(prop, w, g, eps, temperature)
                        )
                        accept_prob = math.exp(min(0.0, log_r)) if math.isfinite(log_r) else 0.0
                if accept_prob > 0.0 and rng.uniform(st) < accept_prob:
                    w[:] = prop
                    g[:] = gprop
                    u = u_new
                    n_acc += 1.0
            else:  # HMC
                rng.fill_normal(st, mom)
                kin0 = 0.0
                for q in range(p):
                    kin0 += 0.5 * mom[q] * mom[q]
                prop[:] = w
                gprop[:] = g
                u_new = u
                ok = True
                for _leap in range(n_leapfrog):
                    for q in range(p):
                        mom[q] -= 0.5 * eps * gprop[q] / temperature
                        prop[q] += eps * mom[q]
                    if not _reflect(prop, mom, box):
                        ok = False
                        break
                    u_new = mlp.loss_grad_value(arch, prop, X, T, wd, work, part, gprop)
                    if not math.isfinite(u_new):
                        ok = False
                        break
                    for q in range(p):
                        mom[q] -= 0.5 * eps * gprop[q] / temperature
                accept_prob = 0.0
                if ok:
                    kin1 = 0.0
                    for q in range(p):
                        kin1 += 0.5 * mom[q] * mom[q]
                    log_r = -(u_new - u) / temperature - (kin1 - kin0)
                    accept_prob = math.exp(min(0.0, log_r)) if math.isfinite(log_r) else 0.0
                if accept_prob > 0.0 and rng.uniform(st) < accept_prob:
                    w[:] = prop
                    g[:] = gprop
                    u = u_new
                    n_acc += 1.0
            if adapt_on and method != LANGEVIN:
                eps = _adapt(adapt, c, accept_prob, target_accept)
        if store:
            for q in range(p):
                out_w[c, d, q] = w[q]
            out_loss[c, d] = u
            out_acc[c, d] = n_acc / thin
    pos[c, :] = w
    cur_loss[c] = u
    if uses_grad:
        cur_grad[c, :] = g
    step[c] = eps


@jit(parallel=True)
def run_block(
    method, problem, temperature, box, thin, n_draws, n_leapfrog, store, adapt_on, target_accept, chains, draws
):
    """Advance every chain by n_draws * thin steps, storing every thin-th state.

    ``method`` is MALA, HMC or LANGEVIN; RWM has its own kernel, :func:`rwm_block`.
    ``problem`` is the loss, ``mlp.Problem`` (arch, X, T, wd); ``chains`` the
    :data:`Chains` state, updated in place (``chains.loss`` / ``chains.grad``
    must hold U and grad U at ``chains.pos``, see ``evaluate``); ``draws`` the
    :data:`Draws` a block stores. With ``store`` False nothing is written to
    ``draws`` (warm-up); with ``adapt_on`` the step sizes adapt (not for
    Langevin, which has no accept step).
    """
    for c in prange(chains.pos.shape[0]):
        _run_block_one(
            c,
            method,
            problem,
            temperature,
            box,
            thin,
            n_draws,
            n_leapfrog,
            store,
            adapt_on,
            target_accept,
            chains,
            draws,
        )


@jit
def run_block_serial(
    method, problem, temperature, box, thin, n_draws, n_leapfrog, store, adapt_on, target_accept, chains, draws
):
    """:func:`run_block` without a parallel region (bit-identical): for blocks too small to share out."""
    for c in range(chains.pos.shape[0]):
        _run_block_one(
            c,
            method,
            problem,
            temperature,
            box,
            thin,
            n_draws,
            n_leapfrog,
            store,
            adapt_on,
            target_accept,
            chains,
            draws,
        )


@jit
def _rwm_block_one(g, problem, temperature, box, thin, n_draws, store, adapt_on, target_accept, chains, draws):
    """One group of chains of :func:`rwm_block` (serial; records unpacked here, see :func:`_run_block_one`)."""
    arch, X, T, wd = problem
    pos, cur_loss, _, states, step, adapt, status = chains
    out_w, out_loss, out_acc = draws
    C, p = pos.shape
    L = lanes.LANES
    n_pairs = (p + 1) // 2
    n_blocks = lanes.step_blocks(p)
    u_word = 2 * n_pairs
    c0 = g * L
    nc = min(L, C - c0)
    bad = False
    for j in range(nc):
        status[c0 + j] = STATUS_OK
        if not math.isfinite(cur_loss[c0 + j]):
            status[c0 + j] = STATUS_BAD_START
            bad = True
    if bad:
        return
    w = np.empty((p, L))
    prop = np.empty((p, L))
    work = lanes.new_work(arch)
    part = np.empty(L)
    inside = np.empty(L)
    u_new = np.empty(L)
    u = np.empty(L)
    eps = np.empty(L)
    acc = np.empty(L)
    n_acc = np.empty(L)
    k0 = np.empty(L, dtype=np.uint64)
    k1 = np.empty(L, dtype=np.uint64)
    ctr = np.empty(L, dtype=np.uint64)
    words = np.empty((2 * n_blocks, L), dtype=np.uint64)
    for j in range(L):  # lanes past the last chain repeat it; their results are dropped
        c = c0 + min(j, nc - 1)
        for q in range(p):
            w[q, j] = pos[c, q]
        u[j] = cur_loss[c]
        eps[j] = step[c]
        k0[j] = states[c, 0]
        k1[j] = states[c, 1]
        ctr[j] = states[c, 2]
    for d in range(n_draws):
        for j in range(L):
            n_acc[j] = 0.0
        for _ in range(thin):
            lanes.philox_lanes(k0, k1, ctr, n_blocks, words)
            for j in range(L):
                ctr[j] += np.uint64(n_blocks)
            lanes.normals_lanes(words, p, prop)
            for j in range(L):
                inside[j] = 1.0
            for q in range(p):
                for j in range(L):
                    x = w[q, j] + eps[j] * prop[q, j]
                    prop[q, j] = x
                    inside[j] = inside[j] if (-box <= x) & (x <= box) else 0.0
            lanes.loss_lanes(arch, prop, X, T, wd, work, part, u_new)
            for j in range(L):
                un = u_new[j]
                log_r = -(un - u[j]) / temperature
                a = vmath.exp(log_r if log_r < 0.0 else 0.0)
                a = a if (inside[j] == 1.0) & (un - un == 0.0) else 0.0  # outside or non-finite: reject
                yes = lanes.uniform_from_word(words[u_word, j]) < a
                u[j] = un if yes else u[j]
                n_acc[j] += 1.0 if yes else 0.0
                acc[j] = a
                inside[j] = 1.0 if yes else 0.0  # now: moved
            for q in range(p):
                for j in range(L):
                    w[q, j] = prop[q, j] if inside[j] == 1.0 else w[q, j]
            if adapt_on:
                for j in range(nc):
                    eps[j] = _adapt(adapt, c0 + j, acc[j], target_accept)
        if store:
            for j in range(nc):
                for q in range(p):
                    out_w[c0 + j, d, q] = w[q, j]
                out_loss[c0 + j, d] = u[j]
                out_acc[c0 + j, d] = n_acc[j] / thin
    for j in range(nc):
        c = c0 + j
        for q in range(p):
            pos[c, q] = w[q, j]
        cur_loss[c] = u[j]
        states[c, 2] = ctr[j]
        states[c, 7] = np.uint64(4)  # no buffered word: the next one starts a new block
        step[c] = eps[j]


@jit(parallel=True)
def rwm_block(problem, temperature, box, thin, n_draws, store, adapt_on, target_accept, chains, draws):
    """RWM: advance every chain by n_draws * thin steps, ``lanes.LANES`` chains per SIMD group.

    Arguments as :func:`run_block` (no gradient). Each step of a chain uses the
    next ``lanes.step_blocks(p)`` blocks of its Philox4x32-10 stream
    (``rng.block4x32``; the block counter is ``chains.rng[c, 2]``), whatever
    happens: the first 2 ceil(p/2) words give the proposal's normals
    (Box-Muller), the next one the accept uniform. The Philox4x64 words left
    in a state's buffer (e.g. by ``init_uniform``) are dropped. The loss of
    every proposal is evaluated (outside the box it is not used), so all lanes
    run the same instructions. A group with a chain whose loss is not finite
    reports it in ``status`` and does not move.
    """
    n_groups = (chains.pos.shape[0] + lanes.LANES - 1) // lanes.LANES
    for g in prange(n_groups):
        _rwm_block_one(g, problem, temperature, box, thin, n_draws, store, adapt_on, target_accept, chains, draws)


@jit
def rwm_block_serial(problem, temperature, box, thin, n_draws, store, adapt_on, target_accept, chains, draws):
    """:func:`rwm_block` without a parallel region (bit-identical): for blocks too small to share out."""
    n_groups = (chains.pos.shape[0] + lanes.LANES - 1) // lanes.LANES
    for g in range(n_groups):
        _rwm_block_one(g, problem, temperature, box, thin, n_draws, store, adapt_on, target_accept, chains, draws)


@jit(parallel=True)
def evaluate(arch, X, T, wd, pos, with_grad, cur_loss, cur_grad):
    """U (and grad U when ``with_grad``) at every chain's position."""
    C, p = pos.shape
    for c in prange(C):
        work = mlp.new_work(arch, mlp.block_points(X.shape[0]))
        if with_grad:
            part = np.zeros(p)
            cur_loss[c] = mlp.loss_grad_value(arch, pos[c], X, T, wd, work, part, cur_grad[c])
        else:
            cur_loss[c] = mlp.loss_value(arch, pos[c], X, T, wd, work)
