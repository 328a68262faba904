"""Forward pass, exact gradient, exact Hessian, HVP and Gauss-Newton of an MLP.

Numba only: no I/O, no Python objects. A network is described by one int64
array ``arch`` (built by :meth:`fastland.MLP._arch`)::

    arch[0]               nl, the number of weight layers (hidden layers + 1)
    arch[1]               activation code (ACT_*)
    arch[2]               loss code (LOSS_*)
    arch[3]               1 if the layers have biases, else 0
    arch[4 : 5 + nl]      widths n_0 (inputs), n_1, ..., n_nl (outputs)
    arch[5 + nl + k]      offset of W_k (n_{k+1} x n_k, row-major) in the flat vector
    arch[5 + 2 nl + k]    offset of b_k, or -1 without biases

Weight layer ``k`` maps ``a[k]`` to ``z[k + 1] = W_k a[k] + b_k``; hidden layers
apply the activation, ``a[k + 1] = act(z[k + 1])``; the output ``z[nl]`` goes to
the loss. Targets ``T`` are always an (N, n_out) float array: one-hot (or
probability) rows for softmax cross-entropy, 0/1 (or probabilities) for binary
cross-entropy, values for the squared error.

Data points are processed in blocks, structure of arrays: the workspace
``work[slot, row, point]`` has one row per unit of every layer (inputs first,
outputs last, then one row for the points' losses) and the point index
innermost, so every loop over the points of a block is a SIMD loop; the
activations come from :mod:`fastland._kernels.vmath` (inlined, branch-free),
not from scalar library calls. Sums over the points of a block (gradient and
Hessian entries) are compiled with ``jit(reassociate=True)``; everything else
keeps IEEE semantics.

All sums over data points run chunk by chunk (``CHUNK`` points, one block per
chunk) and the chunk partials are added in chunk order, in every function here:
the serial versions used inside samplers and the parallel batch drivers give
bit-identical results, whatever the number of threads. Accumulation is in
float64 whatever the dtype of the inputs.

The Hessian uses forward-over-reverse differentiation (Pearlmutter's R-operator)
with one tangent pass per unit: a parameter feeding unit r of layer k + 1 moves
z[k + 1, r] by its input and nothing below, so its Hessian row is that input
times the row the unit's tangent pass produces (upper triangle only). One
hidden layer uses a closed form instead; deeper nets on few points (where a
block is too short for SIMD) run the unit passes for LANES parameter vectors at
once, one per SIMD lane (:func:`_hessian_lanes`).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import prange

from . import vmath
from ._jit import jit

ACT_LINEAR, ACT_TANH, ACT_SIGMOID, ACT_RELU, ACT_SOFTPLUS, ACT_QUADRATIC = range(6)
LOSS_MSE, LOSS_BCE, LOSS_SOFTMAX_XENT = range(3)

CHUNK = 256
#: the loss a kernel evaluates: network code ``arch`` (int64 array, see ``MLP._arch``),
#: inputs X (N, n_in), targets T (N, n_out), weight decay wd (float)
Problem = namedtuple("Problem", ["arch", "X", "T", "wd"])

# slots of the workspace ``work`` (slot, row, point). Rows of hidden units hold
# _A activation (inputs for layer 0), _D1 act', _DELTA dU/dz, _AUX e = W^T delta
# (before act'); the output rows hold z in _A, the loss's softmax / sigmoid
# factor in _D1, dloss/dz in _DELTA and the targets in _AUX; the last row of _A
# holds each point's loss. Second order adds act'' and the tangents of z, a,
# delta and e.
_A, _D1, _DELTA, _AUX, _D2, _RZ, _RA, _RD, _RE = range(9)
N_WORK = 4  # slots for loss and gradient
N_WORK2 = 9  # slots for the Hessian, HVP and Gauss-Newton


# ----------------------------------------------------------------------------- layout


@jit
def width(arch, layer):
    return arch[4 + layer]


@jit
def w_offset(arch, k):
    return arch[5 + arch[0] + k]


@jit
def b_offset(arch, k):
    return arch[5 + 2 * arch[0] + k]


@jit
def n_params(arch):
    nl = arch[0]
    last = nl - 1
    end = w_offset(arch, last) + width(arch, last + 1) * width(arch, last)
    if arch[3] == 1:
        end += width(arch, last + 1)
    return end


@jit
def max_width(arch):
    m = 1
    for layer in range(arch[0] + 1):
        m = max(m, width(arch, layer))
    return m


@jit
def row(arch, layer):
    """First workspace row of ``layer`` (0 = inputs, arch[0] = outputs)."""
    r = 0
    for k in range(layer):
        r += width(arch, k)
    return r


@jit
def n_rows(arch):
    """Workspace rows: one per unit of every layer, plus one for the point losses."""
    return row(arch, arch[0] + 1) + 1


@jit
def new_work(arch, npts=CHUNK):
    """Workspace for loss and gradient of blocks of up to ``npts`` points (float64).

    Reused across chunks and steps; only ``CHUNK`` points (one chunk) are ever
    needed, fewer when the data set is smaller.
    """
    return np.empty((N_WORK, n_rows(arch), npts))


@jit
def _new_work2(arch, npts):
    """Workspace for second-order quantities (Hessian, HVP, Gauss-Newton)."""
    return np.empty((N_WORK2, n_rows(arch), npts))


@jit
def block_points(N):
    """Points per block for N data points: a workspace sized for CHUNK would waste memory."""
    return min(N, CHUNK)


# ------------------------------------------------------------------------ block passes
# A block is n points stored in columns 0..n-1 of the workspace. Loops over the
# points are innermost and index the workspace directly (work[s, r, j]) instead
# of taking row views: a view costs reference counting on the parent array.


@jit
def _load_x(arch, X, start, n, work):
    """Inputs of points start..start+n-1 into the layer-0 rows."""
    for c in range(width(arch, 0)):
        for j in range(n):
            work[_A, c, j] = X[start + j, c]


@jit
def _load_t(arch, T, start, n, work):
    """Targets of points start..start+n-1 into the output rows of _AUX."""
    ob = row(arch, arch[0])
    for o in range(width(arch, arch[0])):
        for j in range(n):
            work[_AUX, ob + o, j] = T[start + j, o]


@jit(contract=True)
def _activate(act, work, r0, nr, n):
    """a = act(z) in place and act'(z) into _D1, rows r0..r0+nr-1 of the block."""
    for u in range(r0, r0 + nr):
        if act == ACT_TANH:
            for j in range(n):
                t = vmath.tanh(work[_A, u, j])
                work[_A, u, j] = t
                work[_D1, u, j] = 1.0 - t * t
        elif act == ACT_SIGMOID:
            for j in range(n):
                s = vmath.sigmoid(work[_A, u, j])
                work[_A, u, j] = s
                work[_D1, u, j] = s * (1.0 - s)
        elif act == ACT_RELU:
            for j in range(n):
                x = work[_A, u, j]
                pos = x > 0.0
                work[_A, u, j] = x if pos else 0.0
                work[_D1, u, j] = 1.0 if pos else 0.0
        elif act == ACT_SOFTPLUS:
            for j in range(n):
                x = work[_A, u, j]
                e = vmath.exp(-abs(x))
                work[_A, u, j] = (x if x > 0.0 else 0.0) + vmath.log1p(e)
                work[_D1, u, j] = (1.0 if x >= 0.0 else e) / (1.0 + e)  # sigmoid(x)
        elif act == ACT_QUADRATIC:
            for j in range(n):
                x = work[_A, u, j]
                work[_A, u, j] = x * x
                work[_D1, u, j] = 2.0 * x
        else:  # linear
            for j in range(n):
                work[_D1, u, j] = 1.0


@jit(contract=True)
def _second_derivs(arch, n, work):
    """act''(z) of every hidden unit into _D2, from a and act' (after the forward pass)."""
    act = arch[1]
    r0 = width(arch, 0)
    r1 = row(arch, arch[0])
    for u in range(r0, r1):
        if act == ACT_TANH:
            for j in range(n):
                work[_D2, u, j] = -2.0 * work[_A, u, j] * work[_D1, u, j]
        elif act == ACT_SIGMOID:
            for j in range(n):
                work[_D2, u, j] = work[_D1, u, j] * (1.0 - 2.0 * work[_A, u, j])
        elif act == ACT_SOFTPLUS:
            for j in range(n):
                s = work[_D1, u, j]
                work[_D2, u, j] = s * (1.0 - s)
        elif act == ACT_QUADRATIC:
            for j in range(n):
                work[_D2, u, j] = 2.0
        else:  # linear, relu
            for j in range(n):
                work[_D2, u, j] = 0.0


@jit
def _lincomb_rows(work, ds, dr, ss, sr, w, w0, ws, m, init, n):
    """work[ds, dr, :n] = init + sum_t w[w0 + t ws] work[ss, sr + t, :n], summed left to right.

    Up to four terms per pass over the points (fewer loads and stores of the
    destination row than one pass per term); the rounding is that of the plain
    sequential sum.
    """
    t = min(m, 4)
    if t == 4:
        a0 = w[w0]
        a1 = w[w0 + ws]
        a2 = w[w0 + 2 * ws]
        a3 = w[w0 + 3 * ws]
        for j in range(n):
            work[ds, dr, j] = (
                ((init + a0 * work[ss, sr, j]) + a1 * work[ss, sr + 1, j]) + a2 * work[ss, sr + 2, j]
            ) + a3 * work[ss, sr + 3, j]
    elif t == 3:
        a0 = w[w0]
        a1 = w[w0 + ws]
        a2 = w[w0 + 2 * ws]
        for j in range(n):
            work[ds, dr, j] = ((init + a0 * work[ss, sr, j]) + a1 * work[ss, sr + 1, j]) + a2 * work[ss, sr + 2, j]
    elif t == 2:
        a0 = w[w0]
        a1 = w[w0 + ws]
        for j in range(n):
            work[ds, dr, j] = (init + a0 * work[ss, sr, j]) + a1 * work[ss, sr + 1, j]
    elif t == 1:
        a0 = w[w0]
        for j in range(n):
            work[ds, dr, j] = init + a0 * work[ss, sr, j]
    else:
        for j in range(n):
            work[ds, dr, j] = init
    while t + 4 <= m:
        a0 = w[w0 + t * ws]
        a1 = w[w0 + (t + 1) * ws]
        a2 = w[w0 + (t + 2) * ws]
        a3 = w[w0 + (t + 3) * ws]
        for j in range(n):
            work[ds, dr, j] = (
                ((work[ds, dr, j] + a0 * work[ss, sr + t, j]) + a1 * work[ss, sr + t + 1, j])
                + a2 * work[ss, sr + t + 2, j]
            ) + a3 * work[ss, sr + t + 3, j]
        t += 4
    while t < m:
        a0 = w[w0 + t * ws]
        for j in range(n):
            work[ds, dr, j] += a0 * work[ss, sr + t, j]
        t += 1


@jit
def _block_forward(arch, w, n, work):
    """Forward pass of the block: z, a and act' of every layer (inputs must be loaded)."""
    nl = arch[0]
    rin = 0
    for k in range(nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        rout = rin + nin
        for r in range(nout):
            b = w[bo + r] if bo >= 0 else 0.0
            _lincomb_rows(work, _A, rout + r, _A, rin, w, wo + r * nin, 1, nin, b, n)
        if k < nl - 1:
            _activate(arch[1], work, rout, nout, n)
        rin = rout


@jit(contract=True)
def _block_loss(loss, ob, no, n, work):
    """Point losses into row ob + no of _A; dloss/dz into _DELTA and the loss factor into _D1.

    The outputs z are rows ob..ob+no-1 of _A, the targets the same rows of _AUX.
    The loss factor is what the Hessian of the point loss in z needs besides the
    targets: softmax probabilities, or s (1 - s) for binary cross-entropy.
    """
    lv = ob + no
    if loss == LOSS_MSE:
        for j in range(n):
            work[_A, lv, j] = 0.0
        for o in range(ob, ob + no):
            for j in range(n):
                r = work[_A, o, j] - work[_AUX, o, j]
                work[_A, lv, j] += r * r
                work[_DELTA, o, j] = 2.0 * r
    elif loss == LOSS_BCE:
        for j in range(n):
            x = work[_A, ob, j]
            t = work[_AUX, ob, j]
            e = vmath.exp(-abs(x))
            work[_A, lv, j] = (x if x > 0.0 else 0.0) + vmath.log1p(e) - t * x
            s = (1.0 if x >= 0.0 else e) / (1.0 + e)
            work[_DELTA, ob, j] = s - t
            work[_D1, ob, j] = s * (1.0 - s)
    else:  # softmax cross-entropy, rows of T sum to 1
        # _DELTA row ob holds the sum of exponentials, then the log-sum-exp, until the
        # gradient overwrites it; the loss row holds the maximum first
        for j in range(n):
            work[_A, lv, j] = work[_A, ob, j]
        for o in range(ob + 1, ob + no):
            for j in range(n):
                x = work[_A, o, j]
                m = work[_A, lv, j]
                work[_A, lv, j] = x if x > m else m
        for o in range(ob, ob + no):
            for j in range(n):
                work[_D1, o, j] = vmath.exp(work[_A, o, j] - work[_A, lv, j])
        for j in range(n):
            work[_DELTA, ob, j] = work[_D1, ob, j]
        for o in range(ob + 1, ob + no):
            for j in range(n):
                work[_DELTA, ob, j] += work[_D1, o, j]
        for o in range(ob, ob + no):
            for j in range(n):
                work[_D1, o, j] = work[_D1, o, j] / work[_DELTA, ob, j]
        # loss t . (lse - z) as t . ((max - z) + log S): lse - z itself cancels at large
        # logits (logits 1e16, 1e16 would give 0 instead of log 2)
        for j in range(n):
            work[_DELTA, ob, j] = vmath.log(work[_DELTA, ob, j])
        for j in range(n):
            m = work[_A, lv, j]
            ls = work[_DELTA, ob, j]
            acc = 0.0
            for o in range(ob, ob + no):
                acc += work[_AUX, o, j] * ((m - work[_A, o, j]) + ls)
            work[_A, lv, j] = acc
        for o in range(ob, ob + no):
            for j in range(n):
                work[_DELTA, o, j] = work[_D1, o, j] - work[_AUX, o, j]


@jit
def _apply_loss_hessian(loss, ob, no, n, work, src, dst):
    """work[dst] = (d2 loss / dz2) work[src] on the output rows, point by point."""
    if loss == LOSS_MSE:
        for o in range(ob, ob + no):
            for j in range(n):
                work[dst, o, j] = 2.0 * work[src, o, j]
    elif loss == LOSS_BCE:
        for j in range(n):
            work[dst, ob, j] = work[_D1, ob, j] * work[src, ob, j]
    else:  # softmax: diag(s) - s s^T; the loss row of dst holds s . v
        lv = ob + no
        for j in range(n):
            work[dst, lv, j] = 0.0
        for o in range(ob, ob + no):
            for j in range(n):
                work[dst, lv, j] += work[_D1, o, j] * work[src, o, j]
        for o in range(ob, ob + no):
            for j in range(n):
                work[dst, o, j] = work[_D1, o, j] * (work[src, o, j] - work[dst, lv, j])


@jit
def _loss_hessian_entry(loss, work, ob, o, q, j):
    """(d2 loss / dz_o dz_q) of point j of the block."""
    if loss == LOSS_MSE:
        return 2.0 if o == q else 0.0
    if loss == LOSS_BCE:
        return work[_D1, ob, j]
    so = work[_D1, ob + o, j]
    return (so if o == q else 0.0) - so * work[_D1, ob + q, j]


@jit
def _block_backprop(arch, w, n, work):
    """delta = dU/dz and e = W^T delta of the hidden layers (dloss/dz_out must be in _DELTA)."""
    nl = arch[0]
    for k in range(nl - 1, 0, -1):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        rin = row(arch, k)
        rout = rin + nin
        for c in range(nin):
            _lincomb_rows(work, _AUX, rin + c, _DELTA, rout, w, wo + c, nin, nout, 0.0, n)
            for j in range(n):
                work[_DELTA, rin + c, j] = work[_D1, rin + c, j] * work[_AUX, rin + c, j]


@jit(reassociate=True)
def _block_grad(arch, n, work, grad):
    """grad += the block's summed gradient: sum over points of delta[k + 1] a[k]^T (and delta)."""
    nl = arch[0]
    rin = 0
    for k in range(nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        rout = rin + nin
        for r in range(nout):
            base = wo + r * nin
            for c in range(nin):
                s = 0.0
                for j in range(n):
                    s += work[_DELTA, rout + r, j] * work[_A, rin + c, j]
                grad[base + c] += s
            if bo >= 0:
                s = 0.0
                for j in range(n):
                    s += work[_DELTA, rout + r, j]
                grad[bo + r] += s
        rin = rout


@jit(reassociate=True)
def _block_loss_sum(arch, n, work):
    """Sum of the block's point losses (a SIMD reduction)."""
    lv = n_rows(arch) - 1
    total = 0.0
    for j in range(n):
        total += work[_A, lv, j]
    return total


# ------------------------------------------------------------- one point (column 0)
# Kept for callers that visit points one at a time in their own order
# (``optim.loss_grad_subset``): a block of one point, in column 0.


@jit
def _forward(arch, w, X, i, work):
    """Forward pass of data point i into column 0 of the workspace."""
    for c in range(width(arch, 0)):
        work[_A, c, 0] = X[i, c]
    _block_forward(arch, w, 1, work)


@jit
def _point_loss(loss, work, nl, T, i, n, order):
    """Loss of data point i from the outputs in column 0; dloss/dz into _DELTA (any order)."""
    ob = work.shape[1] - 1 - n
    for o in range(n):
        work[_AUX, ob + o, 0] = T[i, o]
    _block_loss(loss, ob, n, 1, work)
    return work[_A, ob + n, 0]


@jit
def _backward(arch, w, work, grad):
    """Add the gradient of the point in column 0 to ``grad`` (after _forward, _point_loss)."""
    _block_backprop(arch, w, 1, work)
    _block_grad(arch, 1, work, grad)


# ---------------------------------------------------------------------- chunk kernels


@jit
def _block_first_order(arch, w, X, T, start, n, work):
    """Load, forward pass and point losses of points start..start+n-1."""
    nl = arch[0]
    _load_x(arch, X, start, n, work)
    _load_t(arch, T, start, n, work)
    _block_forward(arch, w, n, work)
    _block_loss(arch[2], row(arch, nl), width(arch, nl), n, work)


@jit
def _chunk_loss(arch, w, X, T, start, stop, work):
    n = stop - start
    _block_first_order(arch, w, X, T, start, n, work)
    return _block_loss_sum(arch, n, work)


@jit
def _chunk_loss_grad(arch, w, X, T, start, stop, work, grad):
    n = stop - start
    _block_first_order(arch, w, X, T, start, n, work)
    _block_backprop(arch, w, n, work)
    _block_grad(arch, n, work, grad)
    return _block_loss_sum(arch, n, work)


@jit
def _block_second_order(arch, w, X, T, start, n, work):
    """Forward pass, loss, dloss/dz, act'' and the backward pass of a block."""
    _block_first_order(arch, w, X, T, start, n, work)
    _second_derivs(arch, n, work)
    _block_backprop(arch, w, n, work)


@jit
def _unit_tangent(arch, w, n, work, kj, unit):
    """Tangent pass for a unit push of z[kj + 1, unit]: _RZ, _RA forward, _RD, _RE back to layer kj + 1."""
    nl = arch[0]
    r1 = row(arch, kj + 1)
    for r in range(r1, r1 + width(arch, kj + 1)):
        for j in range(n):
            work[_RZ, r, j] = 0.0
            work[_RA, r, j] = 0.0
    for j in range(n):
        work[_RZ, r1 + unit, j] = 1.0
    if kj + 1 < nl:
        for j in range(n):
            work[_RA, r1 + unit, j] = work[_D1, r1 + unit, j]
    for k in range(kj + 1, nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        rin = row(arch, k)
        rout = rin + nin
        for r in range(nout):
            base = wo + r * nin
            if k == kj + 1:  # the incoming tangent has a single non-zero row
                wc = w[base + unit]
                for j in range(n):
                    work[_RZ, rout + r, j] = wc * work[_RA, rin + unit, j]
            else:
                _lincomb_rows(work, _RZ, rout + r, _RA, rin, w, base, 1, nin, 0.0, n)
            if k + 1 < nl:
                for j in range(n):
                    work[_RA, rout + r, j] = work[_D1, rout + r, j] * work[_RZ, rout + r, j]
    ob = row(arch, nl)
    _apply_loss_hessian(arch[2], ob, width(arch, nl), n, work, _RZ, _RD)
    # tangent backward down to z[kj + 1]; W of these layers does not move
    for k in range(nl - 1, kj, -1):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        rin = row(arch, k)
        rout = rin + nin
        for c in range(nin):
            _lincomb_rows(work, _RE, rin + c, _RD, rout, w, wo + c, nin, nout, 0.0, n)
        for c in range(rin, rin + nin):
            for j in range(n):
                work[_RD, c, j] = (
                    work[_D2, c, j] * work[_RZ, c, j] * work[_AUX, c, j] + work[_D1, c, j] * work[_RE, c, j]
                )


@jit
def _unit_rows(arch, n, work, kj, hq):
    """hq[q, j] = d(dloss_j/dparam_q)/d(push) for the parameters q of layers kj and above."""
    nl = arch[0]
    for k in range(kj, nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        rin = row(arch, k)
        rout = rin + nin
        for r in range(nout):
            base = wo + r * nin
            for c in range(nin):
                if k == kj:  # a[kj] does not depend on the push
                    for j in range(n):
                        hq[base + c, j] = work[_RD, rout + r, j] * work[_A, rin + c, j]
                else:
                    for j in range(n):
                        hq[base + c, j] = (
                            work[_RD, rout + r, j] * work[_A, rin + c, j]
                            + work[_DELTA, rout + r, j] * work[_RA, rin + c, j]
                        )
            if bo >= 0:
                for j in range(n):
                    hq[bo + r, j] = work[_RD, rout + r, j]


@jit(reassociate=True)
def _hessian_row(work, arow, hq, jrow, p, n, H):
    """H[jrow, q] += sum over points of a[arow] hq[q] for q >= jrow (arow < 0: a = 1, a bias)."""
    for q in range(jrow, p):
        s = 0.0
        if arow >= 0:
            for j in range(n):
                s += work[_A, arow, j] * hq[q, j]
        else:
            for j in range(n):
                s += hq[q, j]
        H[jrow, q] += s


@jit
def _chunk_hessian(arch, w, X, T, start, stop, work, hq, H):
    """Add the upper triangle of the chunk's summed Hessian to H.

    One hidden layer (the common case) uses the closed form; deeper nets the
    unit-pass scheme. ``work`` comes from :func:`_new_work2`, ``hq`` is a
    (n_params, block points) float64 buffer.
    """
    if arch[0] == 2:
        _chunk_hessian_one_hidden(arch, w, X, T, start, stop, work, H)
    else:
        _chunk_hessian_generic(arch, w, X, T, start, stop, work, hq, H)


@jit
def _chunk_hessian_generic(arch, w, X, T, start, stop, work, hq, H):
    """Unit-pass Hessian of a block, upper triangle added to H."""
    nl = arch[0]
    n = stop - start
    p = n_params(arch)
    _block_second_order(arch, w, X, T, start, n, work)
    for kj in range(nl):
        nin = width(arch, kj)
        wo = w_offset(arch, kj)
        bo = b_offset(arch, kj)
        rin = row(arch, kj)
        for r in range(width(arch, kj + 1)):
            _unit_tangent(arch, w, n, work, kj, r)
            _unit_rows(arch, n, work, kj, hq)
            # rows of the parameters feeding unit r: their input times hq
            for c in range(nin):
                _hessian_row(work, rin + c, hq, wo + r * nin + c, p, n, H)
            if bo >= 0:
                _hessian_row(work, -1, hq, bo + r, p, n, H)


@jit
def _chunk_hessian_one_hidden(arch, w, X, T, start, stop, work, H):
    """Closed-form Hessian of a one-hidden-layer net, summed over a chunk (upper triangle into H).

    With a = act(z1), z1 = W1 x + b1, z2 = W2 a + b2, g = dl/dz2, Hl = d2l/dz2^2,
    e = W2^T g, u = act'(z1) and M = Hl W2, each point adds
        W1[r,c] W1[r',c']  x_c x_c' C[r,r'],  C = u_r u_r' (W2^T M)[r,r'] + [r = r'] act''(z1_r) e_r
        W1[r,c] W2[o,r']   x_c (u_r M[o,r] a_r' + [r = r'] g_o u_r)
        W2[o,r] W2[o',r']  Hl[o,o'] a_r a_r'
    where bias rows and columns take x_c (or a_r) = 1. The per-point factors are
    stored with the point index innermost, so every Hessian entry is a SIMD dot
    product over the chunk's points (:func:`_hessian_one_hidden_sums`).
    """
    nin = width(arch, 0)
    m = width(arch, 1)
    no = width(arch, 2)
    w2 = w_offset(arch, 1)
    loss = arch[2]
    nx = nin + 1 if b_offset(arch, 0) >= 0 else nin
    na = m + 1 if b_offset(arch, 1) >= 0 else m
    nk = stop - start
    _block_second_order(arch, w, X, T, start, nk, work)
    ob = nin + m  # first output row; hidden rows are nin..nin+m-1
    XT = np.ones((nx, nk))  # inputs (and the bias constant), point index innermost
    AT = np.ones((na, nk))  # hidden activations (and the bias constant)
    C = np.empty((m, m, nk))
    V = np.empty((no, m, nk))  # u_r M[o, r]
    F = np.empty((no, m, nk))  # g_o u_r
    HL = np.empty((no, no, nk))
    M = np.empty((no, m, nk))
    for c in range(nin):
        for k in range(nk):
            XT[c, k] = work[_A, c, k]
    for r in range(m):
        for k in range(nk):
            AT[r, k] = work[_A, nin + r, k]
    for o in range(no):
        for q in range(no):
            for k in range(nk):
                HL[o, q, k] = _loss_hessian_entry(loss, work, ob, o, q, k)
    for o in range(no):
        for r in range(m):
            for k in range(nk):
                M[o, r, k] = 0.0
            for q in range(no):
                wq = w[w2 + q * m + r]
                for k in range(nk):
                    M[o, r, k] += HL[o, q, k] * wq
            for k in range(nk):
                V[o, r, k] = work[_D1, nin + r, k] * M[o, r, k]
                F[o, r, k] = work[_DELTA, ob + o, k] * work[_D1, nin + r, k]
    for r in range(m):
        for r2 in range(r, m):
            for k in range(nk):
                C[r, r2, k] = 0.0
            for o in range(no):
                wo = w[w2 + o * m + r]
                for k in range(nk):
                    C[r, r2, k] += wo * M[o, r2, k]
            for k in range(nk):
                C[r, r2, k] = work[_D1, nin + r, k] * work[_D1, nin + r2, k] * C[r, r2, k]
            if r2 == r:  # e_r = (W2^T g)_r is _AUX of the hidden row
                for k in range(nk):
                    C[r, r, k] += work[_D2, nin + r, k] * work[_AUX, nin + r, k]
            for k in range(nk):
                C[r2, r, k] = C[r, r2, k]
    _hessian_one_hidden_sums(arch, XT, AT, C, V, F, HL, H)


@jit(reassociate=True)
def _hessian_one_hidden_sums(arch, XT, AT, C, V, F, HL, H):
    """H[j, q] += sum over points of the closed-form factors (upper triangle)."""
    nin = width(arch, 0)
    m = width(arch, 1)
    no = width(arch, 2)
    w1 = w_offset(arch, 0)
    b1 = b_offset(arch, 0)
    w2 = w_offset(arch, 1)
    b2 = b_offset(arch, 1)
    nx = XT.shape[0]
    na = AT.shape[0]
    nk = XT.shape[1]
    for r in range(m):
        for c in range(nx):
            j = w1 + r * nin + c if c < nin else b1 + r
            # first-layer columns q >= j
            for r2 in range(m):
                for c2 in range(nx):
                    q = w1 + r2 * nin + c2 if c2 < nin else b1 + r2
                    if q >= j:
                        s = 0.0
                        for k in range(nk):
                            s += C[r, r2, k] * XT[c, k] * XT[c2, k]
                        H[j, q] += s
            # second-layer columns
            for o in range(no):
                for r2 in range(na):
                    q = w2 + o * m + r2 if r2 < m else b2 + o
                    s = 0.0
                    for k in range(nk):
                        s += XT[c, k] * V[o, r, k] * AT[r2, k]
                    if r2 == r:
                        for k in range(nk):
                            s += XT[c, k] * F[o, r, k]
                    H[j, q] += s
    for o in range(no):
        for r in range(na):
            j = w2 + o * m + r if r < m else b2 + o
            for o2 in range(no):
                for r2 in range(na):
                    q = w2 + o2 * m + r2 if r2 < m else b2 + o2
                    if q >= j:
                        s = 0.0
                        for k in range(nk):
                            s += HL[o, o2, k] * AT[r, k] * AT[r2, k]
                        H[j, q] += s


@jit
def _chunk_hvp(arch, w, v, X, T, start, stop, work, out):
    """Add the chunk's summed Hessian-vector product H v to ``out`` (work from _new_work2)."""
    nl = arch[0]
    n = stop - start
    _block_second_order(arch, w, X, T, start, n, work)
    for c in range(width(arch, 0)):
        for j in range(n):
            work[_RA, c, j] = 0.0
    rin = 0
    for k in range(nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        rout = rin + nin
        for r in range(nout):
            base = wo + r * nin
            b = v[bo + r] if bo >= 0 else 0.0
            for j in range(n):
                work[_RZ, rout + r, j] = b
            for c in range(nin):
                wc = w[base + c]
                vc = v[base + c]
                for j in range(n):
                    work[_RZ, rout + r, j] += wc * work[_RA, rin + c, j] + vc * work[_A, rin + c, j]
            if k + 1 < nl:
                for j in range(n):
                    work[_RA, rout + r, j] = work[_D1, rout + r, j] * work[_RZ, rout + r, j]
        rin = rout
    ob = row(arch, nl)
    _apply_loss_hessian(arch[2], ob, width(arch, nl), n, work, _RZ, _RD)
    for k in range(nl - 1, -1, -1):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        rin = row(arch, k)
        rout = rin + nin
        _hvp_sums(arch, k, n, work, out)
        if k > 0:
            for c in range(nin):
                for j in range(n):
                    work[_RE, rin + c, j] = 0.0
            for r in range(nout):
                base = wo + r * nin
                for c in range(nin):
                    wc = w[base + c]
                    vc = v[base + c]
                    for j in range(n):
                        work[_RE, rin + c, j] += wc * work[_RD, rout + r, j] + vc * work[_DELTA, rout + r, j]
            for c in range(rin, rin + nin):
                for j in range(n):
                    work[_RD, c, j] = (
                        work[_D2, c, j] * work[_RZ, c, j] * work[_AUX, c, j] + work[_D1, c, j] * work[_RE, c, j]
                    )


@jit(reassociate=True)
def _hvp_sums(arch, k, n, work, out):
    """out += sum over points of d(grad)/dv for the parameters of weight layer k."""
    nin = width(arch, k)
    nout = width(arch, k + 1)
    wo = w_offset(arch, k)
    bo = b_offset(arch, k)
    rin = row(arch, k)
    rout = rin + nin
    for r in range(nout):
        base = wo + r * nin
        for c in range(nin):
            s = 0.0
            for j in range(n):
                s += work[_RD, rout + r, j] * work[_A, rin + c, j] + work[_DELTA, rout + r, j] * work[_RA, rin + c, j]
            out[base + c] += s
        if bo >= 0:
            s = 0.0
            for j in range(n):
                s += work[_RD, rout + r, j]
            out[bo + r] += s


@jit
def _chunk_gauss_newton(arch, w, X, T, start, stop, work, jac, G):
    """Add the upper triangle of the chunk's sum of J^T H_loss J to G (point by point, column 0)."""
    nl = arch[0]
    n_out = width(arch, nl)
    ob = row(arch, nl)
    loss = arch[2]
    p = n_params(arch)
    for i in range(start, stop):
        _block_first_order(arch, w, X, T, i, 1, work)
        for o in range(n_out):  # one reverse pass per output gives row o of J
            for m in range(n_out):
                work[_DELTA, ob + m, 0] = 1.0 if m == o else 0.0
            for q in range(p):
                jac[o, q] = 0.0
            _block_backprop(arch, w, 1, work)
            _block_grad(arch, 1, work, jac[o])
        for o in range(n_out):
            for m in range(n_out):
                h = _loss_hessian_entry(loss, work, ob, o, m, 0)
                if h == 0.0:
                    continue
                for q in range(p):
                    jq = jac[o, q] * h
                    if jq == 0.0:
                        continue
                    for s in range(q, p):
                        G[q, s] += jq * jac[m, s]


@jit
def _chunk_forward(arch, w, X, start, stop, work, out):
    nl = arch[0]
    n = stop - start
    ob = row(arch, nl)
    _load_x(arch, X, start, n, work)
    _block_forward(arch, w, n, work)
    for j in range(n):
        for r in range(width(arch, nl)):
            out[start + j, r] = work[_A, ob + r, j]


# ------------------------------------------------------- Hessians of LANES vectors at once
# With few data points a block of points is too short for SIMD loops (loop set-up
# dominates). The Hessian of a deep net on little data (N <= LANE_MAX_POINTS) is
# instead computed for LANES parameter vectors together, one vector per SIMD lane:
# every loop over the lanes is innermost. Its trip count is read from an array
# shape at run time: a constant 16 would be fully unrolled into scalar code before
# LLVM's loop vectoriser sees it (and the unrolled code cannot be packed, the
# arrays may alias). Points are visited in order, no fast-math flag is used and
# each lane's arithmetic does not depend on the other lanes (vector and scalar
# instructions round alike), so hessian_one (one vector in lane 0) and
# hessian_batch agree bit for bit (hessian_one runs a single lane).

LANES = 16
LANE_MAX_POINTS = 64
LANE_MAX_PARAMS = 200  # the (p, p, LANES) accumulator stays below 5 MB
# slots of the lane workspace (slot, layer, unit, lane)
_LA, _LD1, _LD2, _LDELTA, _LE, _LRZ, _LRA, _LRD, _LRE = range(9)


@jit
def _use_lanes(arch, N):
    """True when the Hessian is computed lane-wise (deep net, little data)."""
    return arch[0] >= 3 and N <= LANE_MAX_POINTS and n_params(arch) <= LANE_MAX_PARAMS


@jit(contract=True)
def _lane_activate(act, wk, layer, n):
    """a, act' and act'' of the first n units of ``layer``, every lane (z in _LA)."""
    nlanes = wk.shape[3]  # a run-time trip count: LLVM vectorises the loop instead of unrolling it
    for u in range(n):
        if act == ACT_TANH:
            for ln in range(nlanes):
                t = vmath.tanh(wk[_LA, layer, u, ln])
                d = 1.0 - t * t
                wk[_LA, layer, u, ln] = t
                wk[_LD1, layer, u, ln] = d
                wk[_LD2, layer, u, ln] = -2.0 * t * d
        elif act == ACT_SIGMOID:
            for ln in range(nlanes):
                s = vmath.sigmoid(wk[_LA, layer, u, ln])
                d = s * (1.0 - s)
                wk[_LA, layer, u, ln] = s
                wk[_LD1, layer, u, ln] = d
                wk[_LD2, layer, u, ln] = d * (1.0 - 2.0 * s)
        elif act == ACT_RELU:
            for ln in range(nlanes):
                x = wk[_LA, layer, u, ln]
                pos = x > 0.0
                wk[_LA, layer, u, ln] = x if pos else 0.0
                wk[_LD1, layer, u, ln] = 1.0 if pos else 0.0
                wk[_LD2, layer, u, ln] = 0.0
        elif act == ACT_SOFTPLUS:
            for ln in range(nlanes):
                x = wk[_LA, layer, u, ln]
                e = vmath.exp(-abs(x))
                s = (1.0 if x >= 0.0 else e) / (1.0 + e)
                wk[_LA, layer, u, ln] = (x if x > 0.0 else 0.0) + vmath.log1p(e)
                wk[_LD1, layer, u, ln] = s
                wk[_LD2, layer, u, ln] = s * (1.0 - s)
        elif act == ACT_QUADRATIC:
            for ln in range(nlanes):
                x = wk[_LA, layer, u, ln]
                wk[_LA, layer, u, ln] = x * x
                wk[_LD1, layer, u, ln] = 2.0 * x
                wk[_LD2, layer, u, ln] = 2.0
        else:  # linear
            for ln in range(nlanes):
                wk[_LD1, layer, u, ln] = 1.0
                wk[_LD2, layer, u, ln] = 0.0


@jit(contract=True)
def _lane_point(arch, Wl, X, T, i, wk, sv):
    """Forward pass, loss factors and backward pass (delta, e) of point i, every lane.

    dloss/dz goes to _LDELTA and the softmax / sigmoid factor to _LD1 of the output layer.
    """
    nlanes = wk.shape[3]
    nl = arch[0]
    loss = arch[2]
    for c in range(width(arch, 0)):
        x = X[i, c]
        for ln in range(nlanes):
            wk[_LA, 0, c, ln] = x
    for k in range(nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        for r in range(nout):
            if bo >= 0:
                for ln in range(nlanes):
                    wk[_LA, k + 1, r, ln] = Wl[bo + r, ln]
            else:
                for ln in range(nlanes):
                    wk[_LA, k + 1, r, ln] = 0.0
            base = wo + r * nin
            for c in range(nin):
                for ln in range(nlanes):
                    wk[_LA, k + 1, r, ln] += Wl[base + c, ln] * wk[_LA, k, c, ln]
        if k < nl - 1:
            _lane_activate(arch[1], wk, k + 1, nout)
    no = width(arch, nl)
    if loss == LOSS_MSE:
        for o in range(no):
            t = T[i, o]
            for ln in range(nlanes):
                wk[_LDELTA, nl, o, ln] = 2.0 * (wk[_LA, nl, o, ln] - t)
    elif loss == LOSS_BCE:
        t = T[i, 0]
        for ln in range(nlanes):
            s = vmath.sigmoid(wk[_LA, nl, 0, ln])
            wk[_LDELTA, nl, 0, ln] = s - t
            wk[_LD1, nl, 0, ln] = s * (1.0 - s)
    else:  # softmax: probabilities in _LD1, sv holds the max, then the sum of exponentials
        for ln in range(nlanes):
            sv[ln] = wk[_LA, nl, 0, ln]
        for o in range(1, no):
            for ln in range(nlanes):
                x = wk[_LA, nl, o, ln]
                sv[ln] = x if x > sv[ln] else sv[ln]
        for o in range(no):
            for ln in range(nlanes):
                wk[_LD1, nl, o, ln] = vmath.exp(wk[_LA, nl, o, ln] - sv[ln])
        for ln in range(nlanes):
            sv[ln] = wk[_LD1, nl, 0, ln]
        for o in range(1, no):
            for ln in range(nlanes):
                sv[ln] += wk[_LD1, nl, o, ln]
        for o in range(no):
            t = T[i, o]
            for ln in range(nlanes):
                s = wk[_LD1, nl, o, ln] / sv[ln]
                wk[_LD1, nl, o, ln] = s
                wk[_LDELTA, nl, o, ln] = s - t
    for k in range(nl - 1, 0, -1):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        for c in range(nin):
            for ln in range(nlanes):
                wk[_LE, k, c, ln] = 0.0
        for r in range(nout):
            base = wo + r * nin
            for c in range(nin):
                for ln in range(nlanes):
                    wk[_LE, k, c, ln] += Wl[base + c, ln] * wk[_LDELTA, k + 1, r, ln]
        for c in range(nin):
            for ln in range(nlanes):
                wk[_LDELTA, k, c, ln] = wk[_LD1, k, c, ln] * wk[_LE, k, c, ln]


@jit
def _lane_unit_pass(arch, Wl, wk, kj, unit, h, sv):
    """Tangent pass of a unit push of z[kj + 1, unit], every lane; fills h for layers >= kj."""
    nlanes = wk.shape[3]
    nl = arch[0]
    for r in range(width(arch, kj + 1)):
        for ln in range(nlanes):
            wk[_LRZ, kj + 1, r, ln] = 0.0
            wk[_LRA, kj + 1, r, ln] = 0.0
    for ln in range(nlanes):
        wk[_LRZ, kj + 1, unit, ln] = 1.0
    if kj + 1 < nl:
        for ln in range(nlanes):
            wk[_LRA, kj + 1, unit, ln] = wk[_LD1, kj + 1, unit, ln]
    for k in range(kj + 1, nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        for r in range(nout):
            base = wo + r * nin
            if k == kj + 1:
                for ln in range(nlanes):
                    wk[_LRZ, k + 1, r, ln] = Wl[base + unit, ln] * wk[_LRA, k, unit, ln]
            else:
                for ln in range(nlanes):
                    wk[_LRZ, k + 1, r, ln] = 0.0
                for c in range(nin):
                    for ln in range(nlanes):
                        wk[_LRZ, k + 1, r, ln] += Wl[base + c, ln] * wk[_LRA, k, c, ln]
            if k + 1 < nl:
                for ln in range(nlanes):
                    wk[_LRA, k + 1, r, ln] = wk[_LD1, k + 1, r, ln] * wk[_LRZ, k + 1, r, ln]
    no = width(arch, nl)
    loss = arch[2]
    if loss == LOSS_MSE:
        for o in range(no):
            for ln in range(nlanes):
                wk[_LRD, nl, o, ln] = 2.0 * wk[_LRZ, nl, o, ln]
    elif loss == LOSS_BCE:
        for ln in range(nlanes):
            wk[_LRD, nl, 0, ln] = wk[_LD1, nl, 0, ln] * wk[_LRZ, nl, 0, ln]
    else:
        for ln in range(nlanes):
            sv[ln] = 0.0
        for o in range(no):
            for ln in range(nlanes):
                sv[ln] += wk[_LD1, nl, o, ln] * wk[_LRZ, nl, o, ln]
        for o in range(no):
            for ln in range(nlanes):
                wk[_LRD, nl, o, ln] = wk[_LD1, nl, o, ln] * (wk[_LRZ, nl, o, ln] - sv[ln])
    for k in range(nl - 1, kj, -1):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        for c in range(nin):
            for ln in range(nlanes):
                wk[_LRE, k, c, ln] = 0.0
        for r in range(nout):
            base = wo + r * nin
            for c in range(nin):
                for ln in range(nlanes):
                    wk[_LRE, k, c, ln] += Wl[base + c, ln] * wk[_LRD, k + 1, r, ln]
        for c in range(nin):
            for ln in range(nlanes):
                wk[_LRD, k, c, ln] = (
                    wk[_LD2, k, c, ln] * wk[_LRZ, k, c, ln] * wk[_LE, k, c, ln]
                    + wk[_LD1, k, c, ln] * wk[_LRE, k, c, ln]
                )
    for k in range(kj, nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        for r in range(nout):
            base = wo + r * nin
            if k == kj:  # a[kj] does not depend on the push
                for c in range(nin):
                    for ln in range(nlanes):
                        h[base + c, ln] = wk[_LRD, k + 1, r, ln] * wk[_LA, k, c, ln]
            else:
                for c in range(nin):
                    for ln in range(nlanes):
                        h[base + c, ln] = (
                            wk[_LRD, k + 1, r, ln] * wk[_LA, k, c, ln] + wk[_LDELTA, k + 1, r, ln] * wk[_LRA, k, c, ln]
                        )
            if bo >= 0:
                for ln in range(nlanes):
                    h[bo + r, ln] = wk[_LRD, k + 1, r, ln]


@jit
def _lane_weights(arch, W, b0, nb):
    """(n_params, LANES) float64 copy of W[b0 : b0 + nb] (lanes past nb are zeros, computed and dropped)."""
    p = n_params(arch)
    Wl = np.zeros((p, LANES))
    for ln in range(nb):
        for q in range(p):
            Wl[q, ln] = W[b0 + ln, q]
    return Wl


@jit
def _hessian_lanes(arch, Wl, X, T):
    """Summed Hessians (upper triangle, (p, p, lanes)) of the vectors in the columns of Wl.

    Batches use LANES columns; a single vector uses one column (the same
    arithmetic per lane, without 15 idle lanes).
    """
    nl = arch[0]
    p = n_params(arch)
    N = X.shape[0]
    nlanes = Wl.shape[1]
    wk = np.zeros((9, nl + 1, max_width(arch), nlanes))
    sv = np.zeros(nlanes)
    h = np.zeros((p, nlanes))
    H = np.zeros((p, p, nlanes))
    for i in range(N):
        _lane_point(arch, Wl, X, T, i, wk, sv)
        for kj in range(nl):
            nin = width(arch, kj)
            wo = w_offset(arch, kj)
            bo = b_offset(arch, kj)
            for r in range(width(arch, kj + 1)):
                _lane_unit_pass(arch, Wl, wk, kj, r, h, sv)
                for c in range(nin):
                    j = wo + r * nin + c
                    for q in range(j, p):
                        for ln in range(nlanes):
                            H[j, q, ln] += wk[_LA, kj, c, ln] * h[q, ln]
                if bo >= 0:
                    j = bo + r
                    for q in range(j, p):
                        for ln in range(nlanes):
                            H[j, q, ln] += h[q, ln]
    return H


@jit
def _finish_lane(H, ln, N, wd, out):
    """out = H[:, :, ln] / N + wd I, with the upper triangle mirrored (as _finish_symmetric)."""
    p = H.shape[0]
    for i in range(p):
        for j in range(i, p):
            v = H[i, j, ln] / N
            if i == j:
                v += wd
            out[i, j] = v
            out[j, i] = v


# --------------------------------------------------------------------- serial (1 point)


@jit
def _sqnorm(w):
    s = 0.0
    for q in range(w.shape[0]):
        s += w[q] * w[q]
    return s


@jit
def decay(wd, w):
    """(wd/2)||w||^2, exactly 0 without weight decay (0 * inf would be NaN at |w| ~ 1e155)."""
    if wd == 0.0:
        return 0.0
    return 0.5 * wd * _sqnorm(w)


@jit
def _n_chunks(N):
    return (N + CHUNK - 1) // CHUNK


@jit
def loss_value(arch, w, X, T, wd, work):
    """Mean loss plus (wd/2)||w||^2 of one parameter vector; serial, no allocation.

    ``work`` comes from ``new_work(arch)`` (or ``new_work(arch, npts)`` with
    npts >= min(N, CHUNK)).
    """
    N = X.shape[0]
    total = 0.0
    for c in range(_n_chunks(N)):
        total += _chunk_loss(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work)
    return total / N + decay(wd, w)


@jit
def loss_grad_value(arch, w, X, T, wd, work, part, grad):
    """Mean loss of one parameter vector, gradient written to ``grad``; serial.

    ``work`` as for :func:`loss_value`; ``part`` is a float64 buffer of length
    n_params for the chunk partials.
    """
    N = X.shape[0]
    p = w.shape[0]
    total = 0.0
    for q in range(p):
        grad[q] = 0.0
    for c in range(_n_chunks(N)):
        for q in range(p):
            part[q] = 0.0
        total += _chunk_loss_grad(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, part)
        for q in range(p):
            grad[q] += part[q]
    for q in range(p):
        grad[q] = grad[q] / N + wd * w[q]
    return total / N + decay(wd, w)


@jit
def _hessian_chunk_sum(arch, w, X, T, c, work, hq, part):
    """part = the chunk's summed Hessian (upper triangle); part is overwritten."""
    N = X.shape[0]
    part[:, :] = 0.0
    _chunk_hessian(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, hq, part)


@jit
def _gauss_newton_chunk_sum(arch, w, X, T, c, work, jac, part):
    N = X.shape[0]
    part[:, :] = 0.0
    _chunk_gauss_newton(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, jac, part)


@jit
def _finish_symmetric(Hsum, N, wd, out):
    """out = Hsum / N + wd I, with the upper triangle mirrored."""
    p = Hsum.shape[0]
    for i in range(p):
        for j in range(i, p):
            h = Hsum[i, j] / N
            if i == j:
                h += wd
            out[i, j] = h
            out[j, i] = h


@jit
def _matrix_one(kind, arch, w, X, T, wd, out):
    """Hessian (kind 0) or Gauss-Newton matrix (kind 1) of one vector into out; serial."""
    p = w.shape[0]
    N = X.shape[0]
    npts = block_points(N)
    work = _new_work2(arch, npts)
    hq = np.empty((p, npts)) if kind == 0 else np.empty((0, 0))
    jac = np.empty((width(arch, arch[0]), p)) if kind == 1 else np.empty((0, 0))
    total = np.empty((p, p))
    part = np.empty((p, p)) if _n_chunks(N) > 1 else total
    for c in range(_n_chunks(N)):
        # the first chunk goes straight into total: 0 + x is x, as in the split-chunk driver
        dst = total if c == 0 else part
        if kind == 0:
            _hessian_chunk_sum(arch, w, X, T, c, work, hq, dst)
        else:
            _gauss_newton_chunk_sum(arch, w, X, T, c, work, jac, dst)
        if c > 0:
            total += part
    _finish_symmetric(total, N, wd, out)


@jit
def hessian_one(arch, w, X, T, wd, out):
    """Exact Hessian (p, p) of one vector into ``out``; serial, equal bit for bit to hessian_batch."""
    if _use_lanes(arch, X.shape[0]):
        Wl = np.zeros((w.shape[0], 1))
        for q in range(w.shape[0]):
            Wl[q, 0] = w[q]
        _finish_lane(_hessian_lanes(arch, Wl, X, T), 0, X.shape[0], wd, out)
    else:
        _matrix_one(0, arch, w, X, T, wd, out)


@jit
def gauss_newton_one(arch, w, X, T, wd, out):
    """Gauss-Newton matrix of one vector into ``out``; serial."""
    _matrix_one(1, arch, w, X, T, wd, out)


@jit
def loss_grad_one(arch, w, X, T, wd, grad):
    """U(w) with its gradient into ``grad``; serial, allocates its own workspace."""
    work = new_work(arch, block_points(X.shape[0]))
    part = np.zeros(w.shape[0])
    return loss_grad_value(arch, w, X, T, wd, work, part, grad)


@jit
def hvp_one(arch, w, v, X, T, wd, out):
    """H(w) v into ``out``; serial."""
    p = w.shape[0]
    N = X.shape[0]
    work = _new_work2(arch, block_points(N))
    part = np.zeros(p)
    for q in range(p):
        out[q] = 0.0
    for c in range(_n_chunks(N)):
        part[:] = 0.0
        _chunk_hvp(arch, w, v, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, part)
        for q in range(p):
            out[q] += part[q]
    for q in range(p):
        out[q] = out[q] / N + wd * v[q]


# -------------------------------------------------------------------- parallel drivers


@jit(parallel=True)
def forward_batch(arch, W, X, out):
    """Network outputs for B parameter vectors: out (B, N, n_out)."""
    B = W.shape[0]
    N = X.shape[0]
    nc = _n_chunks(N)
    for task in prange(B * nc):
        b = task // nc
        c = task % nc
        work = new_work(arch, block_points(N))
        _chunk_forward(arch, W[b], X, c * CHUNK, min(N, (c + 1) * CHUNK), work, out[b])


@jit(parallel=True)
def loss_batch(arch, W, X, T, wd, out):
    B = W.shape[0]
    N = X.shape[0]
    nc = _n_chunks(N)
    parts = np.zeros((B, nc))
    for task in prange(B * nc):
        b = task // nc
        c = task % nc
        work = new_work(arch, block_points(N))
        parts[b, c] = _chunk_loss(arch, W[b], X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work)
    for b in prange(B):
        total = 0.0
        for c in range(nc):
            total += parts[b, c]
        out[b] = total / N + decay(wd, W[b])


@jit(parallel=True)
def loss_grad_batch(arch, W, X, T, wd, out_loss, out_grad):
    B, p = W.shape
    N = X.shape[0]
    nc = _n_chunks(N)
    parts = np.zeros((B, nc))
    gparts = np.zeros((B, nc, p))
    for task in prange(B * nc):
        b = task // nc
        c = task % nc
        work = new_work(arch, block_points(N))
        parts[b, c] = _chunk_loss_grad(arch, W[b], X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, gparts[b, c])
    for b in prange(B):
        total = 0.0
        g = np.zeros(p)
        for c in range(nc):
            total += parts[b, c]
            for q in range(p):
                g[q] += gparts[b, c, q]
        for q in range(p):
            out_grad[b, q] = g[q] / N + wd * W[b, q]
        out_loss[b] = total / N + decay(wd, W[b])


@jit(parallel=True)
def _matrix_batch(kind, arch, W, X, T, wd, split_chunks, out):
    """Hessian (kind 0) or Gauss-Newton (kind 1) matrices of B vectors: out (B, p, p).

    With ``split_chunks`` the data chunks of every vector run as separate
    parallel tasks (for batches smaller than the thread count); otherwise each
    task handles one vector, chunk after chunk, which bounds memory by one
    p x p buffer per task. Both add the chunk sums in the same order.
    """
    B, p = W.shape
    N = X.shape[0]
    nc = _n_chunks(N)
    n_out = width(arch, arch[0])
    if kind == 0 and _use_lanes(arch, N):
        for g in prange((B + LANES - 1) // LANES):
            nb = min(LANES, B - g * LANES)
            H = _hessian_lanes(arch, _lane_weights(arch, W, g * LANES, nb), X, T)
            for ln in range(nb):
                _finish_lane(H, ln, N, wd, out[g * LANES + ln])
    elif split_chunks:
        parts = np.zeros((B, nc, p, p))
        for task in prange(B * nc):
            b = task // nc
            c = task % nc
            work = _new_work2(arch, block_points(N))
            hq = np.empty((p, block_points(N)))
            jac = np.empty((n_out, p))
            if kind == 0:
                _hessian_chunk_sum(arch, W[b], X, T, c, work, hq, parts[b, c])
            else:
                _gauss_newton_chunk_sum(arch, W[b], X, T, c, work, jac, parts[b, c])
        for b in prange(B):
            for c in range(1, nc):
                parts[b, 0] += parts[b, c]
            _finish_symmetric(parts[b, 0], N, wd, out[b])
    else:
        for b in prange(B):
            _matrix_one(kind, arch, W[b], X, T, wd, out[b])


@jit
def hessian_batch(arch, W, X, T, wd, split_chunks, out):
    """Exact Hessians of B parameter vectors: out (B, p, p)."""
    _matrix_batch(0, arch, W, X, T, wd, split_chunks, out)


@jit
def gauss_newton_batch(arch, W, X, T, wd, split_chunks, out):
    """Gauss-Newton matrices mean_i J_i^T H_loss,i J_i + wd I: out (B, p, p)."""
    _matrix_batch(1, arch, W, X, T, wd, split_chunks, out)


@jit(parallel=True)
def hvp_batch(arch, W, V, X, T, wd, out):
    """Hessian-vector products H(W[b]) V[b]: out (B, p)."""
    B, p = W.shape
    N = X.shape[0]
    nc = _n_chunks(N)
    parts = np.zeros((B, nc, p))
    for task in prange(B * nc):
        b = task // nc
        c = task % nc
        work = _new_work2(arch, block_points(N))
        _chunk_hvp(arch, W[b], V[b], X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, parts[b, c])
    for b in prange(B):
        for q in range(p):
            s = 0.0
            for c in range(nc):
                s += parts[b, c, q]
            out[b, q] = s / N + wd * V[b, q]
