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

All sums over data points run chunk by chunk (``CHUNK`` points) and the chunk
partials are added in chunk order, in every function here: the serial versions
used inside samplers and the parallel batch drivers give bit-identical results,
whatever the number of threads. Accumulation is in float64 whatever the dtype
of the inputs.

The Hessian uses forward-over-reverse differentiation (Pearlmutter's R-operator)
along every coordinate direction, restricted to the upper triangle: a direction
in weight layer k changes nothing below z[k + 1], so its tangent pass starts
there and its reverse tangent pass stops there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import jit

ACT_LINEAR, ACT_TANH, ACT_SIGMOID, ACT_RELU, ACT_SOFTPLUS, ACT_QUADRATIC = range(6)
LOSS_MSE, LOSS_BCE, LOSS_SOFTMAX_XENT = range(3)

CHUNK = 256

# rows of the per-evaluation workspace ``work`` (shape (N_WORK, nl + 1, max width))
_Z, _A, _D1, _D2, _DELTA, _E, _RZ, _RA, _RD, _RE = range(10)
N_WORK = 10


# ----------------------------------------------------------------------------- layout


@jit
def n_layers(arch):
    return arch[0]


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
def new_work(arch):
    """Workspace for one evaluation: (N_WORK, nl + 1, max width) float64."""
    return np.zeros((N_WORK, arch[0] + 1, max_width(arch)))


@jit
def new_loss_hessian(arch):
    """Buffer for the Hessian of the per-point loss in the network outputs."""
    n_out = width(arch, arch[0])
    return np.zeros((n_out, n_out))


@jit
def layer_of_params(arch):
    """Weight-layer index of every parameter (int64, length n_params)."""
    out = np.empty(n_params(arch), dtype=np.int64)
    for k in range(arch[0]):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        out[wo : wo + nin * nout] = k
        bo = b_offset(arch, k)
        if bo >= 0:
            out[bo : bo + nout] = k
    return out


# ------------------------------------------------------------------------ activations


@jit
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@jit
def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@jit
def _activate(act, z, a, d1, d2, n):
    """a = act(z), d1 = act'(z), d2 = act''(z) for the first n entries."""
    for i in range(n):
        x = z[i]
        if act == ACT_TANH:
            t = math.tanh(x)
            a[i] = t
            d1[i] = 1.0 - t * t
            d2[i] = -2.0 * t * (1.0 - t * t)
        elif act == ACT_SIGMOID:
            s = _sigmoid(x)
            a[i] = s
            d1[i] = s * (1.0 - s)
            d2[i] = s * (1.0 - s) * (1.0 - 2.0 * s)
        elif act == ACT_RELU:
            if x > 0.0:
                a[i] = x
                d1[i] = 1.0
            else:
                a[i] = 0.0
                d1[i] = 0.0
            d2[i] = 0.0
        elif act == ACT_SOFTPLUS:
            s = _sigmoid(x)
            a[i] = _softplus(x)
            d1[i] = s
            d2[i] = s * (1.0 - s)
        elif act == ACT_QUADRATIC:
            a[i] = x * x
            d1[i] = 2.0 * x
            d2[i] = 2.0
        else:  # linear
            a[i] = x
            d1[i] = 1.0
            d2[i] = 0.0


# ------------------------------------------------------------------------ loss / point


@jit
def _point_loss(loss, z, t, n, g, hl, order):
    """Loss of one point from its outputs z; g = dloss/dz and hl = d2loss/dz2.

    ``order`` 0: value only; 1: and g; 2: and hl.
    """
    val = 0.0
    if loss == LOSS_MSE:
        for i in range(n):
            r = z[i] - t[i]
            val += r * r
            if order >= 1:
                g[i] = 2.0 * r
        if order >= 2:
            for i in range(n):
                for j in range(n):
                    hl[i, j] = 2.0 if i == j else 0.0
    elif loss == LOSS_BCE:
        x = z[0]
        val = _softplus(x) - t[0] * x
        if order >= 1:
            s = _sigmoid(x)
            g[0] = s - t[0]
            if order >= 2:
                hl[0, 0] = s * (1.0 - s)
    else:  # softmax cross-entropy, rows of t sum to 1
        m = z[0]
        for i in range(1, n):
            m = max(m, z[i])
        se = 0.0
        for i in range(n):
            se += math.exp(z[i] - m)
        lse = m + math.log(se)
        for i in range(n):
            val += t[i] * (lse - z[i])
        if order >= 1:
            for i in range(n):
                g[i] = math.exp(z[i] - lse) - t[i]
            if order >= 2:
                for i in range(n):
                    si = g[i] + t[i]
                    for j in range(n):
                        sj = g[j] + t[j]
                        hl[i, j] = (si if i == j else 0.0) - si * sj
    return val


@jit
def _forward(arch, w, x, work):
    """Forward pass of one point into work[_Z], work[_A], work[_D1], work[_D2]."""
    nl = arch[0]
    act = arch[1]
    z = work[_Z]
    a = work[_A]
    for i in range(width(arch, 0)):
        a[0, i] = x[i]
    for k in range(nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        for r in range(nout):
            s = 0.0
            if bo >= 0:
                s = w[bo + r]
            base = wo + r * nin
            for c in range(nin):
                s += w[base + c] * a[k, c]
            z[k + 1, r] = s
        if k < nl - 1:
            _activate(act, z[k + 1], a[k + 1], work[_D1, k + 1], work[_D2, k + 1], nout)


@jit
def _backward(arch, w, work, grad):
    """Reverse pass of one point; work[_DELTA, nl] must hold dloss/dz_out.

    Adds the point's gradient to ``grad`` and leaves delta (dloss/dz) and
    e (= W^T delta, the back-propagated signal before act') in ``work``.
    """
    nl = arch[0]
    a = work[_A]
    delta = work[_DELTA]
    e = work[_E]
    d1 = work[_D1]
    for k in range(nl - 1, -1, -1):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        for r in range(nout):
            dr = delta[k + 1, r]
            base = wo + r * nin
            for c in range(nin):
                grad[base + c] += dr * a[k, c]
            if bo >= 0:
                grad[bo + r] += dr
        if k > 0:
            for c in range(nin):
                e[k, c] = 0.0
            for r in range(nout):
                dr = delta[k + 1, r]
                base = wo + r * nin
                for c in range(nin):
                    e[k, c] += w[base + c] * dr
            for c in range(nin):
                delta[k, c] = d1[k, c] * e[k, c]


# ---------------------------------------------------------------------- chunk kernels


@jit
def _chunk_loss(arch, w, X, T, start, stop, work):
    nl = arch[0]
    n_out = width(arch, nl)
    hl = np.empty((0, 0))
    total = 0.0
    for i in range(start, stop):
        _forward(arch, w, X[i], work)
        total += _point_loss(arch[2], work[_Z, nl], T[i], n_out, work[_DELTA, nl], hl, 0)
    return total


@jit
def _chunk_loss_grad(arch, w, X, T, start, stop, work, grad):
    nl = arch[0]
    n_out = width(arch, nl)
    hl = np.empty((0, 0))
    total = 0.0
    for i in range(start, stop):
        _forward(arch, w, X[i], work)
        total += _point_loss(arch[2], work[_Z, nl], T[i], n_out, work[_DELTA, nl], hl, 1)
        _backward(arch, w, work, grad)
    return total


@jit
def _direction_pass(arch, w, work, hl, j, kj, unit, jcol, hrow):
    """Add row j of one point's Hessian (columns >= jcol) to ``hrow``.

    Direction j is a parameter of weight layer kj that feeds unit ``unit`` of
    z[kj + 1] with input ``jcol`` (jcol = -1 for a bias).
    """
    nl = arch[0]
    a = work[_A]
    d1 = work[_D1]
    d2 = work[_D2]
    delta = work[_DELTA]
    e = work[_E]
    rz = work[_RZ]
    ra = work[_RA]
    rd = work[_RD]
    re = work[_RE]
    # tangent forward: only unit `unit` of z[kj + 1] moves at first
    n1 = width(arch, kj + 1)
    for r in range(n1):
        rz[kj + 1, r] = 0.0
        ra[kj + 1, r] = 0.0
    rz[kj + 1, unit] = a[kj, jcol] if jcol >= 0 else 1.0
    if kj + 1 < nl:
        ra[kj + 1, unit] = d1[kj + 1, unit] * rz[kj + 1, unit]
    for k in range(kj + 1, nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        for r in range(nout):
            base = wo + r * nin
            if k == kj + 1:  # the incoming tangent has a single non-zero entry
                s = w[base + unit] * ra[k, unit]
            else:
                s = 0.0
                for c in range(nin):
                    s += w[base + c] * ra[k, c]
            rz[k + 1, r] = s
            if k + 1 < nl:
                ra[k + 1, r] = d1[k + 1, r] * s
    # tangent of the output gradient
    n_out = width(arch, nl)
    for i in range(n_out):
        s = 0.0
        for m in range(n_out):
            s += hl[i, m] * rz[nl, m]
        rd[nl, i] = s
    # tangent backward down to z[kj + 1]; W of these layers does not move
    for k in range(nl - 1, kj, -1):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        for c in range(nin):
            re[k, c] = 0.0
        for r in range(nout):
            dr = rd[k + 1, r]
            base = wo + r * nin
            for c in range(nin):
                re[k, c] += w[base + c] * dr
        for c in range(nin):
            rd[k, c] = d2[k, c] * rz[k, c] * e[k, c] + d1[k, c] * re[k, c]
    # accumulate d(grad)/d(w_j) for the layers at and above kj
    for k in range(kj, nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        for r in range(nout):
            base = wo + r * nin
            rdr = rd[k + 1, r]
            dr = delta[k + 1, r]
            if k == kj:  # a[kj] does not depend on w_j
                c0 = max(0, j - base)
                for c in range(c0, nin):
                    hrow[base + c] += rdr * a[k, c]
            else:
                for c in range(nin):
                    hrow[base + c] += rdr * a[k, c] + dr * ra[k, c]
            if bo >= 0 and bo + r >= j:
                hrow[bo + r] += rdr


@jit
def _chunk_hessian(arch, w, X, T, start, stop, work, hl, H):
    """Add the upper triangle of the chunk's summed Hessian to H."""
    nl = arch[0]
    n_out = width(arch, nl)
    p = n_params(arch)
    scratch = np.zeros(p)
    total = 0.0
    for i in range(start, stop):
        _forward(arch, w, X[i], work)
        total += _point_loss(arch[2], work[_Z, nl], T[i], n_out, work[_DELTA, nl], hl, 2)
        _backward(arch, w, work, scratch)
        for k in range(nl):
            nin = width(arch, k)
            nout = width(arch, k + 1)
            wo = w_offset(arch, k)
            bo = b_offset(arch, k)
            for r in range(nout):
                for c in range(nin):
                    j = wo + r * nin + c
                    _direction_pass(arch, w, work, hl, j, k, r, c, H[j])
                if bo >= 0:
                    j = bo + r
                    _direction_pass(arch, w, work, hl, j, k, r, -1, H[j])
    return total


@jit
def _chunk_hvp(arch, w, v, X, T, start, stop, work, hl, out):
    """Add the chunk's summed Hessian-vector product H v to ``out``."""
    nl = arch[0]
    n_out = width(arch, nl)
    p = n_params(arch)
    scratch = np.zeros(p)
    a = work[_A]
    d1 = work[_D1]
    d2 = work[_D2]
    delta = work[_DELTA]
    e = work[_E]
    rz = work[_RZ]
    ra = work[_RA]
    rd = work[_RD]
    re = work[_RE]
    for i in range(start, stop):
        _forward(arch, w, X[i], work)
        _point_loss(arch[2], work[_Z, nl], T[i], n_out, work[_DELTA, nl], hl, 2)
        _backward(arch, w, work, scratch)
        for c in range(width(arch, 0)):
            ra[0, c] = 0.0
        for k in range(nl):
            nin = width(arch, k)
            nout = width(arch, k + 1)
            wo = w_offset(arch, k)
            bo = b_offset(arch, k)
            for r in range(nout):
                base = wo + r * nin
                s = 0.0
                if bo >= 0:
                    s = v[bo + r]
                for c in range(nin):
                    s += w[base + c] * ra[k, c] + v[base + c] * a[k, c]
                rz[k + 1, r] = s
                if k + 1 < nl:
                    ra[k + 1, r] = d1[k + 1, r] * s
        for r in range(n_out):
            s = 0.0
            for m in range(n_out):
                s += hl[r, m] * rz[nl, m]
            rd[nl, r] = s
        for k in range(nl - 1, -1, -1):
            nin = width(arch, k)
            nout = width(arch, k + 1)
            wo = w_offset(arch, k)
            bo = b_offset(arch, k)
            for r in range(nout):
                base = wo + r * nin
                rdr = rd[k + 1, r]
                dr = delta[k + 1, r]
                for c in range(nin):
                    out[base + c] += rdr * a[k, c] + dr * ra[k, c]
                if bo >= 0:
                    out[bo + r] += rdr
            if k > 0:
                for c in range(nin):
                    re[k, c] = 0.0
                for r in range(nout):
                    base = wo + r * nin
                    rdr = rd[k + 1, r]
                    dr = delta[k + 1, r]
                    for c in range(nin):
                        re[k, c] += w[base + c] * rdr + v[base + c] * dr
                for c in range(nin):
                    rd[k, c] = d2[k, c] * rz[k, c] * e[k, c] + d1[k, c] * re[k, c]


@jit
def _chunk_gauss_newton(arch, w, X, T, start, stop, work, hl, jac, G):
    """Add the upper triangle of the chunk's sum of J^T H_loss J to G."""
    nl = arch[0]
    n_out = width(arch, nl)
    p = n_params(arch)
    for i in range(start, stop):
        _forward(arch, w, X[i], work)
        _point_loss(arch[2], work[_Z, nl], T[i], n_out, work[_DELTA, nl], hl, 2)
        for o in range(n_out):  # one reverse pass per output gives row o of J
            for m in range(n_out):
                work[_DELTA, nl, m] = 1.0 if m == o else 0.0
            for q in range(p):
                jac[o, q] = 0.0
            _backward(arch, w, work, jac[o])
        for o in range(n_out):
            for m in range(n_out):
                h = hl[o, m]
                if h == 0.0:
                    continue
                for q in range(p):
                    jq = jac[o, q] * h
                    if jq == 0.0:
                        continue
                    row = G[q]
                    jm = jac[m]
                    for s in range(q, p):
                        row[s] += jq * jm[s]


@jit
def _chunk_forward(arch, w, X, start, stop, work, out):
    nl = arch[0]
    for i in range(start, stop):
        _forward(arch, w, X[i], work)
        for r in range(width(arch, nl)):
            out[i, r] = work[_Z, nl, r]


# --------------------------------------------------------------------- serial (1 point)


@jit
def _sqnorm(w):
    s = 0.0
    for q in range(w.shape[0]):
        s += w[q] * w[q]
    return s


@jit
def _n_chunks(N):
    return (N + CHUNK - 1) // CHUNK


@jit
def loss_value(arch, w, X, T, wd, work):
    """Mean loss plus (wd/2)||w||^2 of one parameter vector; serial."""
    N = X.shape[0]
    total = 0.0
    for c in range(_n_chunks(N)):
        total += _chunk_loss(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work)
    return total / N + 0.5 * wd * _sqnorm(w)


@jit
def loss_grad_value(arch, w, X, T, wd, work, part, grad):
    """Mean loss of one parameter vector, gradient written to ``grad``; serial.

    ``part`` is a float64 buffer of length n_params for the chunk partials.
    """
    N = X.shape[0]
    p = w.shape[0]
    total = 0.0
    for q in range(p):
        grad[q] = 0.0
    for c in range(_n_chunks(N)):
        part[:] = 0.0
        total += _chunk_loss_grad(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, part)
        for q in range(p):
            grad[q] += part[q]
    for q in range(p):
        grad[q] = grad[q] / N + wd * w[q]
    return total / N + 0.5 * wd * _sqnorm(w)


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
        work = new_work(arch)
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
        work = new_work(arch)
        parts[b, c] = _chunk_loss(arch, W[b], X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work)
    for b in prange(B):
        total = 0.0
        for c in range(nc):
            total += parts[b, c]
        out[b] = total / N + 0.5 * wd * _sqnorm(W[b])


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
        work = new_work(arch)
        parts[b, c] = _chunk_loss_grad(
            arch, W[b], X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, gparts[b, c]
        )
    for b in prange(B):
        total = 0.0
        g = np.zeros(p)
        for c in range(nc):
            total += parts[b, c]
            for q in range(p):
                g[q] += gparts[b, c, q]
        for q in range(p):
            out_grad[b, q] = g[q] / N + wd * W[b, q]
        out_loss[b] = total / N + 0.5 * wd * _sqnorm(W[b])


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
def _hessian_chunk_sum(arch, w, X, T, c, work, hl, part):
    """part = the chunk's summed Hessian (upper triangle); part is overwritten."""
    N = X.shape[0]
    part[:, :] = 0.0
    _chunk_hessian(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, hl, part)


@jit
def _gauss_newton_chunk_sum(arch, w, X, T, c, work, hl, part):
    N = X.shape[0]
    p = w.shape[0]
    jac = np.zeros((width(arch, arch[0]), p))
    part[:, :] = 0.0
    _chunk_gauss_newton(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, hl, jac, part)


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
    if split_chunks:
        parts = np.zeros((B, nc, p, p))
        for task in prange(B * nc):
            b = task // nc
            c = task % nc
            work = new_work(arch)
            hl = new_loss_hessian(arch)
            if kind == 0:
                _hessian_chunk_sum(arch, W[b], X, T, c, work, hl, parts[b, c])
            else:
                _gauss_newton_chunk_sum(arch, W[b], X, T, c, work, hl, parts[b, c])
        for b in prange(B):
            for c in range(1, nc):
                parts[b, 0] += parts[b, c]
            _finish_symmetric(parts[b, 0], N, wd, out[b])
    else:
        for b in prange(B):
            work = new_work(arch)
            hl = new_loss_hessian(arch)
            total = np.zeros((p, p))
            part = np.empty((p, p))
            for c in range(nc):
                if kind == 0:
                    _hessian_chunk_sum(arch, W[b], X, T, c, work, hl, part)
                else:
                    _gauss_newton_chunk_sum(arch, W[b], X, T, c, work, hl, part)
                if c == 0:
                    total[:, :] = part
                else:
                    total += part
            _finish_symmetric(total, N, wd, out[b])


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
        work = new_work(arch)
        hl = new_loss_hessian(arch)
        _chunk_hvp(arch, W[b], V[b], X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, hl, parts[b, c])
    for b in prange(B):
        for q in range(p):
            s = 0.0
            for c in range(nc):
                s += parts[b, c, q]
            out[b, q] = s / N + wd * V[b, q]
