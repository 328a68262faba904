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

Reduced precision (``prec`` = [bits, emin, emax], bits = 0 for plain float64):
after every update each parameter is rounded by :func:`round_mantissa` to a
``bits``-bit significand with normal exponents ``emin..emax`` (round to
nearest, ties to even; subnormals below 2^emin; +-inf above the largest finite
value). The update itself, the loss, the gradient and Adam's moments stay in
float64: this emulates parameters *stored* in a narrow type with float64
arithmetic. A parameter's update is *stalled* when it was non-zero but the
stored value did not change (|update| below half a unit in the last place, up
to ties). Every step counts them; per run the kernel keeps the total, the
counts since the last record, and per parameter the number of consecutive most
recent steps in which the stored value did not change (a zero update counts as
unchanged too). With bits = 0 the positions are bit-identical to an unrounded
run; the counters then report float64's own stalled updates.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import prange

from . import mlp, rng
from ._jit import jit

GD, ADAM, SAM, ASAM, LANGEVIN = range(5)  # "sgd" is GD with a batch size < N

RUNNING, CONVERGED, DIVERGED, MAX_STEPS = range(4)

#: the state of R runs, updated in place by a block (see :func:`run_block`)
Runs = namedtuple(
    "Runs", ["pos", "grad", "loss", "gnorm", "m", "v", "steps", "rng", "status", "unchanged", "stalled", "acc"]
)
#: a block's records: positions (R, n, p), full-batch losses (R, n), stalled / total updates (R, n, 2)
Records = namedtuple("Records", ["w", "loss", "acc"])

# entries of the int64 precision array ``prec``: significand bits (0: no rounding), exponent range
P_BITS, P_EMIN, P_EMAX = range(3)
N_PREC = 3

# entries of the float64 hyper-parameter array ``hyper``
H_LR, H_RHO, H_ASAM_ETA, H_TEMPERATURE, H_BETA1, H_BETA2, H_EPS, H_TOL_GRAD, H_TOL_LOSS = range(9)
N_HYPER = 9


@jit
def round_mantissa(x, bits, emin, emax):
    """Round ``x`` to the nearest number with a ``bits``-bit significand, ties to even.

    The target format has ``bits`` significant bits (the implicit leading bit
    included: float64 53, float32 24, float16 11, bfloat16 8) and normal
    exponents ``emin..emax`` (values m 2^e with 1 <= m < 2): below 2^emin the
    spacing stays 2^(emin - bits + 1) (gradual underflow, subnormals), and a
    result of magnitude >= 2^(emax + 1) becomes +-inf, as IEEE round-to-nearest
    overflows. Zeros keep their sign, NaN and inf pass through. Requires
    1 <= bits <= 53 and emin - bits + 1 >= -1074, so every step is exact in
    float64: scaling by powers of two (ldexp) is exact there, and so is the
    fraction y - floor(y) for |y| < 2^53.
    """
    if x == 0.0 or not math.isfinite(x):
        return x
    e = math.frexp(x)[1] - 1  # x = m 2^e with 1 <= |m| < 2
    if e < emin:
        e = emin
    shift = bits - 1 - e
    y = math.ldexp(x, shift)  # |y| < 2^bits: its integer part holds the kept bits
    r = math.floor(y)
    d = y - r
    if d > 0.5 or (d == 0.5 and math.floor(0.5 * r) != 0.5 * r):  # a tie goes to the even neighbour
        r += 1.0
    out = math.ldexp(r, -shift)
    if out == 0.0:
        return math.copysign(0.0, x)
    if abs(out) >= math.ldexp(1.0, emax + 1):
        return math.copysign(math.inf, x)
    return out


_SIGN = np.uint64(0x8000000000000000)
_MAG = np.uint64(0x7FFFFFFFFFFFFFFF)
_INF = np.uint64(0x7FF0000000000000)


@jit
def round_bits(u, bits, emin, emax):
    """:func:`round_mantissa` by integer arithmetic on the bits ``u`` (uint64) of a float64.

    Returns ``(result bits, done)``. For a normal float64 whose result keeps
    at least one bit below the implicit one, the ``d`` low bits of the
    magnitude (``d = 53 - bits``, plus ``emin - e`` below 2^emin) are rounded
    to nearest even as an integer: a carry into the exponent field gives the
    next power of two, as it should, and an exponent above ``emax`` becomes
    inf. Zeros, float64 subnormals, inf, NaN and the far subnormal range
    (``d >= 52``, where only the implicit bit or nothing is kept and a result
    can be 0) return ``done = False``: use :func:`round_mantissa` for those
    (rare) values. Both give the same results (tested). Scalars only, so the
    training loop calls it without array reference counting.
    """
    mag = u & _MAG
    E = np.int64(mag >> np.uint64(52))
    if E == 0 or E == 2047:
        return u, False
    e = E - 1023
    drop = 53 - bits
    if e < emin:
        drop += emin - e
    if drop > 51:  # at 52 the kept bit is the implicit one, whose parity the field does not hold
        return u, False
    if drop > 0:
        one = np.uint64(1) << np.uint64(drop)
        rem = mag & (one - np.uint64(1))
        base = mag - rem
        half = one >> np.uint64(1)
        if rem > half or (rem == half and (base & one) != np.uint64(0)):
            base += one
        mag = base
    if np.int64(mag >> np.uint64(52)) - 1023 > emax:
        mag = _INF
    return (u & _SIGN) | mag, True


@jit
def _store_all(w, new, moved, bits, emin, emax, unchanged_r):
    """w <- new, each entry rounded to the precision first (in ``new``).

    Per parameter: the stored value unchanged counts in ``unchanged_r``, and a
    stalled update (``moved[q]`` but unchanged) in the returned count.
    """
    n_stalled = 0
    if bits > 0:
        nb = new.view(np.uint64)
        for q in range(w.shape[0]):
            res, done = round_bits(nb[q], bits, emin, emax)
            if done:
                nb[q] = res
            else:
                new[q] = round_mantissa(new[q], bits, emin, emax)
    for q in range(w.shape[0]):  # branch-free (selects), so it vectorises
        same = new[q] == w[q]
        unchanged_r[q] = unchanged_r[q] + 1 if same else 0
        n_stalled += 1 if same and moved[q] else 0
        w[q] = new[q]
    return n_stalled


@jit
def round_array(x, bits, emin, emax, out, fast):
    """out = :func:`round_mantissa` of every entry of the flat array ``x``.

    With ``fast`` through :func:`round_bits` where it applies (what training
    uses), else through :func:`round_mantissa` alone.
    """
    xb = x.view(np.uint64)
    ob = out.view(np.uint64)
    for i in range(x.shape[0]):  # serial: used at the API boundary only (prange mis-lowered this loop)
        done = False
        if fast:
            res, done = round_bits(xb[i], bits, emin, emax)
            if done:
                ob[i] = res
        if not done:
            out[i] = round_mantissa(x[i], bits, emin, emax)


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
    return total / b + mlp.decay(wd, w)


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


@jit
def _evaluate_one(r, problem, hyper, runs):
    """:func:`evaluate` for run r (a serial function: see the note on records in :func:`run_block`)."""
    arch, X, T, wd = problem
    pos, grad, loss, gnorm, status = runs.pos, runs.grad, runs.loss, runs.gnorm, runs.status
    work = mlp.new_work(arch, mlp.block_points(X.shape[0]))
    part = np.zeros(pos.shape[1])
    u = mlp.loss_grad_value(arch, pos[r], X, T, wd, work, part, grad[r])
    st, gn = _check(u, grad[r], hyper[H_TOL_GRAD], hyper[H_TOL_LOSS])
    loss[r] = u
    gnorm[r] = gn
    if status[r] == RUNNING:
        status[r] = st


@jit(parallel=True)
def evaluate(problem, hyper, runs):
    """Full-batch loss, gradient and gradient inf-norm at every run's position (``runs``: :data:`Runs`).

    Runs with status RUNNING get the status the stopping rule gives there
    (CONVERGED, DIVERGED or still RUNNING); other statuses are kept.
    """
    for r in prange(runs.pos.shape[0]):
        _evaluate_one(r, problem, hyper, runs)


@jit
def _run_one(r, method, problem, hyper, prec, batch_size, check, n_steps, step0, record_every, runs, records):
    """:func:`run_block` for run r.

    A serial function: Numba's parallel loops lose writes to arrays inside tuples
    (numba/numba#5872), so the parallel driver only hands the records through.
    """
    arch, X, T, wd = problem
    pos, grad, loss, gnorm, m, v, steps, states, status, unchanged, stalled, acc = runs
    out_w, out_loss, out_acc = records
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
    bits = prec[P_BITS]
    emin = prec[P_EMIN]
    emax = prec[P_EMAX]
    first_record = step0 // record_every if record_every > 0 else 0
    w = pos[r]
    cur_g = grad[r]
    work = mlp.new_work(arch, mlp.block_points(X.shape[0]))
    part = np.zeros(p)
    gb = np.empty(p)  # mini-batch gradient, then the gradient used in the update
    e = np.empty(p)  # SAM / ASAM perturbation, Langevin noise
    wadv = np.empty(p)  # the adversarial point, then the updated values before rounding
    moved = np.empty(p, dtype=np.bool_)
    nb = batch_size if mini else 0
    perm = np.arange(N if mini else 0)
    picks = np.empty(nb, dtype=np.int64)
    st = states[r]
    unch = unchanged[r]
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
                # 3. the update (into wadv), then stored with rounding to the precision
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
                        d = lr * (mr[q] / c1) / (math.sqrt(vr[q] / c2) + adam_eps)
                        wadv[q] = w[q] - d
                        moved[q] = d != 0.0
                elif method == LANGEVIN:
                    rng.fill_normal(st, e)
                    for q in range(p):
                        d = lr * gb[q]
                        z = noise_scale * e[q]
                        wadv[q] = w[q] - d + z
                        moved[q] = d != 0.0 or z != 0.0
                else:  # GD, SGD, SAM, ASAM
                    for q in range(p):
                        d = lr * gb[q]
                        wadv[q] = w[q] - d
                        moved[q] = d != 0.0
                n_stalled = _store_all(w, wadv, moved, bits, emin, emax, unch)
                stalled[r] += n_stalled
                acc[r, 0] += n_stalled
                acc[r, 1] += p
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
                out_acc[r, j, 0] = acc[r, 0]
                out_acc[r, j, 1] = acc[r, 1]
                acc[r, 0] = 0
                acc[r, 1] = 0


@jit(parallel=True)
def run_block(method, problem, hyper, prec, batch_size, check, n_steps, step0, record_every, runs, records):
    """Advance every running run by ``n_steps`` steps (global steps step0+1 .. step0+n_steps).

    ``problem`` is the loss, ``mlp.Problem`` (arch, X, T, wd). ``runs`` is the
    :data:`Runs` state (R runs, p parameters), updated in place: ``pos`` (R, p);
    ``grad``, ``loss``, ``gnorm``: full-batch gradient, loss and gradient
    inf-norm at ``pos`` (fill them with :func:`evaluate` first; in mini-batch
    mode without ``check`` they are only refreshed when a run stops); ``m``,
    ``v`` (R, p): Adam's moments; ``steps`` (R,) int64: updates taken; ``rng``
    (R, rng.STATE_SIZE): the runs' streams; ``status`` (R,) int64. Precision
    (module notes): ``prec`` (N_PREC,) int64; ``unchanged`` (R, p) int64, per
    parameter the consecutive most recent steps that left its stored value
    unchanged; ``stalled`` (R,) int64, stalled updates in total; ``acc`` (R, 2)
    int64, stalled updates and parameter updates since the last record.

    ``batch_size`` in 1..N-1 selects mini-batches, anything else the full
    batch; ``check`` evaluates the full-batch loss and gradient after every
    mini-batch step to apply the stopping rule. With ``record_every`` = k > 0,
    the position and full-batch loss after every global step c with c % k == 0
    go to ``records.w[r, j]`` and ``records.loss[r, j]``, j counting such c
    within this block, and ``acc[r]`` to ``records.acc[r, j]`` (then reset);
    stopped runs record their frozen position.
    """
    for r in prange(runs.pos.shape[0]):
        _run_one(r, method, problem, hyper, prec, batch_size, check, n_steps, step0, record_every, runs, records)


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
