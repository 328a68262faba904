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

import numpy as np
from numba import prange

from . import mlp, rng
from ._jit import jit

RWM, MALA, HMC, LANGEVIN = range(4)

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
def _adapt(adapt, step, accept_prob, target):
    """One dual-averaging update of a chain's step size; returns the new step."""
    if not math.isfinite(accept_prob):
        accept_prob = 0.0
    adapt[3] += 1.0
    t = adapt[3]
    eta = 1.0 / (t + _T0)
    adapt[1] = (1.0 - eta) * adapt[1] + eta * (target - accept_prob)
    log_eps = adapt[0] - math.sqrt(t) / _GAMMA * adapt[1]
    w = t ** (-_KAPPA)
    adapt[2] = w * log_eps + (1.0 - w) * adapt[2]
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


@jit(parallel=True)
def run_block(
    method, arch, X, T, wd, temperature, box, thin, n_draws, n_leapfrog, store, adapt_on, target_accept,
    pos, cur_loss, cur_grad, states, step, adapt, out_w, out_loss, out_acc, status,
):
    """Advance every chain by n_draws * thin steps, storing every thin-th state.

    With ``store`` False nothing is written to the out arrays (warm-up); with
    ``adapt_on`` the step sizes adapt (not for Langevin, which has no accept step).
    ``cur_loss`` / ``cur_grad`` must hold U and grad U at ``pos`` (see ``evaluate``).
    """
    C, p = pos.shape
    uses_grad = method != RWM
    for c in prange(C):
        status[c] = STATUS_OK
        if not math.isfinite(cur_loss[c]):
            status[c] = STATUS_BAD_START
            continue
        work = mlp.new_work(arch)
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
                if method == RWM:
                    rng.fill_normal(st, noise)
                    for q in range(p):
                        prop[q] = w[q] + eps * noise[q]
                    if _inside(prop, box):
                        u_new = mlp.loss_value(arch, prop, X, T, wd, work)
                        log_r = -(u_new - u) / temperature
                        accept_prob = math.exp(min(0.0, log_r)) if math.isfinite(u_new) else 0.0
                    else:
                        accept_prob = 0.0
                        u_new = np.inf
                    if accept_prob > 0.0 and rng.uniform(st) < accept_prob:
                        w[:] = prop
                        u = u_new
                        n_acc += 1.0
                elif method == MALA or method == LANGEVIN:
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
                    eps = _adapt(adapt[c], eps, accept_prob, target_accept)
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
def evaluate(arch, X, T, wd, pos, with_grad, cur_loss, cur_grad):
    """U (and grad U when ``with_grad``) at every chain's position."""
    C, p = pos.shape
    for c in prange(C):
        work = mlp.new_work(arch)
        if with_grad:
            part = np.zeros(p)
            cur_loss[c] = mlp.loss_grad_value(arch, pos[c], X, T, wd, work, part, cur_grad[c])
        else:
            cur_loss[c] = mlp.loss_value(arch, pos[c], X, T, wd, work)
