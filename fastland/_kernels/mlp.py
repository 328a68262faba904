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

# slices of the per-evaluation workspace ``work`` (shape (N_WORK, rows, max width),
# rows = max(nl + 1, n_out)): per layer z, act(z), act', act'', delta = dU/dz,
# e = W^T delta, their tangents, and _HL, the Hessian of the point loss in the outputs
_Z, _A, _D1, _D2, _DELTA, _E, _RZ, _RA, _RD, _RE, _HL = range(11)
N_WORK = 11


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
def new_work(arch):
    """Workspace for one evaluation (float64), reused across points and steps."""
    m = max_width(arch)
    # rows: one per layer, and n_out for the loss Hessian _HL (n_out x n_out); never
    # max width x max width, which would cost 88 MiB per chain at width 1024
    return np.zeros((N_WORK, max(arch[0] + 1, width(arch, arch[0])), m))


@jit
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@jit
def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


# ------------------------------------------------------------------------ loss / point
# The per-point functions below index the workspace and the data directly
# (work[_Z, k, r], X[i, c]) instead of taking row views: a view costs reference
# counting on the parent array, which parallel threads then contend for.


@jit
def _point_loss(loss, work, nl, T, i, n, order):
    """Loss of data point i from the outputs in work[_Z, nl].

    ``order`` 0: value only; 1: and dloss/dz into work[_DELTA, nl]; 2: and
    d2loss/dz2 into work[_HL, :n, :n].
    """
    val = 0.0
    if loss == LOSS_MSE:
        for o in range(n):
            r = work[_Z, nl, o] - T[i, o]
            val += r * r
            if order >= 1:
                work[_DELTA, nl, o] = 2.0 * r
        if order >= 2:
            for o in range(n):
                for m in range(n):
                    work[_HL, o, m] = 2.0 if o == m else 0.0
    elif loss == LOSS_BCE:
        x = work[_Z, nl, 0]
        val = _softplus(x) - T[i, 0] * x
        if order >= 1:
            s = _sigmoid(x)
            work[_DELTA, nl, 0] = s - T[i, 0]
            if order >= 2:
                work[_HL, 0, 0] = s * (1.0 - s)
    else:  # softmax cross-entropy, rows of T sum to 1
        m = work[_Z, nl, 0]
        for o in range(1, n):
            m = max(m, work[_Z, nl, o])
        se = 0.0
        for o in range(n):
            se += math.exp(work[_Z, nl, o] - m)
        lse = m + math.log(se)
        for o in range(n):
            val += T[i, o] * (lse - work[_Z, nl, o])
        if order >= 1:
            for o in range(n):
                work[_DELTA, nl, o] = math.exp(work[_Z, nl, o] - lse) - T[i, o]
            if order >= 2:
                for o in range(n):
                    so = work[_DELTA, nl, o] + T[i, o]
                    for q in range(n):
                        sq = work[_DELTA, nl, q] + T[i, q]
                        work[_HL, o, q] = (so if o == q else 0.0) - so * sq
    return val


@jit
def _activate(act, work, layer, n):
    """a = act(z), d1 = act'(z), d2 = act''(z) for the first n units of ``layer``."""
    for u in range(n):
        x = work[_Z, layer, u]
        if act == ACT_TANH:
            t = math.tanh(x)
            work[_A, layer, u] = t
            work[_D1, layer, u] = 1.0 - t * t
            work[_D2, layer, u] = -2.0 * t * (1.0 - t * t)
        elif act == ACT_SIGMOID:
            s = _sigmoid(x)
            work[_A, layer, u] = s
            work[_D1, layer, u] = s * (1.0 - s)
            work[_D2, layer, u] = s * (1.0 - s) * (1.0 - 2.0 * s)
        elif act == ACT_RELU:
            if x > 0.0:
                work[_A, layer, u] = x
                work[_D1, layer, u] = 1.0
            else:
                work[_A, layer, u] = 0.0
                work[_D1, layer, u] = 0.0
            work[_D2, layer, u] = 0.0
        elif act == ACT_SOFTPLUS:
            s = _sigmoid(x)
            work[_A, layer, u] = _softplus(x)
            work[_D1, layer, u] = s
            work[_D2, layer, u] = s * (1.0 - s)
        elif act == ACT_QUADRATIC:
            work[_A, layer, u] = x * x
            work[_D1, layer, u] = 2.0 * x
            work[_D2, layer, u] = 2.0
        else:  # linear
            work[_A, layer, u] = x
            work[_D1, layer, u] = 1.0
            work[_D2, layer, u] = 0.0


@jit
def _forward(arch, w, X, i, work):
    """Forward pass of data point i into work[_Z], work[_A], work[_D1], work[_D2]."""
    nl = arch[0]
    act = arch[1]
    for c in range(width(arch, 0)):
        work[_A, 0, c] = X[i, c]
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
                s += w[base + c] * work[_A, k, c]
            work[_Z, k + 1, r] = s
        if k < nl - 1:
            _activate(act, work, k + 1, nout)


@jit
def _backward(arch, w, work, grad):
    """Reverse pass of one point; work[_DELTA, nl] must hold dloss/dz_out.

    Adds the point's gradient to ``grad`` and leaves delta (dloss/dz) and
    e (= W^T delta, the back-propagated signal before act') in ``work``.
    """
    nl = arch[0]
    for k in range(nl - 1, -1, -1):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        for r in range(nout):
            dr = work[_DELTA, k + 1, r]
            base = wo + r * nin
            for c in range(nin):
                grad[base + c] += dr * work[_A, k, c]
            if bo >= 0:
                grad[bo + r] += dr
        if k > 0:
            for c in range(nin):
                work[_E, k, c] = 0.0
            for r in range(nout):
                dr = work[_DELTA, k + 1, r]
                base = wo + r * nin
                for c in range(nin):
                    work[_E, k, c] += w[base + c] * dr
            for c in range(nin):
                work[_DELTA, k, c] = work[_D1, k, c] * work[_E, k, c]


# ---------------------------------------------------------------------- chunk kernels


@jit
def _chunk_loss(arch, w, X, T, start, stop, work):
    nl = arch[0]
    n_out = width(arch, nl)
    total = 0.0
    for i in range(start, stop):
        _forward(arch, w, X, i, work)
        total += _point_loss(arch[2], work, nl, T, i, n_out, 0)
    return total


@jit
def _chunk_loss_grad(arch, w, X, T, start, stop, work, grad):
    nl = arch[0]
    n_out = width(arch, nl)
    total = 0.0
    for i in range(start, stop):
        _forward(arch, w, X, i, work)
        total += _point_loss(arch[2], work, nl, T, i, n_out, 1)
        _backward(arch, w, work, grad)
    return total


@jit
def _unit_pass(arch, w, work, kj, unit, h):
    """Tangent pass for a unit push of z[kj + 1, unit]; fills h for layers >= kj.

    A parameter W_kj[unit, c] (or b_kj[unit]) moves z[kj + 1, unit] by a[kj, c]
    (or 1) and nothing below, so its Hessian row is a[kj, c] (or 1) times the
    row produced here: one pass serves every parameter feeding that unit.
    """
    nl = arch[0]
    n1 = width(arch, kj + 1)
    for r in range(n1):
        work[_RZ, kj + 1, r] = 0.0
        work[_RA, kj + 1, r] = 0.0
    work[_RZ, kj + 1, unit] = 1.0
    if kj + 1 < nl:
        work[_RA, kj + 1, unit] = work[_D1, kj + 1, unit]
    for k in range(kj + 1, nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        for r in range(nout):
            base = wo + r * nin
            if k == kj + 1:  # the incoming tangent has a single non-zero entry
                s = w[base + unit] * work[_RA, k, unit]
            else:
                s = 0.0
                for c in range(nin):
                    s += w[base + c] * work[_RA, k, c]
            work[_RZ, k + 1, r] = s
            if k + 1 < nl:
                work[_RA, k + 1, r] = work[_D1, k + 1, r] * s
    # tangent of the output gradient
    n_out = width(arch, nl)
    for o in range(n_out):
        s = 0.0
        for m in range(n_out):
            s += work[_HL, o, m] * work[_RZ, nl, m]
        work[_RD, nl, o] = s
    # tangent backward down to z[kj + 1]; W of these layers does not move
    for k in range(nl - 1, kj, -1):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        for c in range(nin):
            work[_RE, k, c] = 0.0
        for r in range(nout):
            dr = work[_RD, k + 1, r]
            base = wo + r * nin
            for c in range(nin):
                work[_RE, k, c] += w[base + c] * dr
        for c in range(nin):
            work[_RD, k, c] = (
                work[_D2, k, c] * work[_RZ, k, c] * work[_E, k, c] + work[_D1, k, c] * work[_RE, k, c]
            )
    # d(grad)/d(push) for the parameters of layers kj and above
    for k in range(kj, nl):
        nin = width(arch, k)
        nout = width(arch, k + 1)
        wo = w_offset(arch, k)
        bo = b_offset(arch, k)
        for r in range(nout):
            base = wo + r * nin
            rdr = work[_RD, k + 1, r]
            if k == kj:  # a[kj] does not depend on the push
                for c in range(nin):
                    h[base + c] = rdr * work[_A, k, c]
            else:
                dr = work[_DELTA, k + 1, r]
                for c in range(nin):
                    h[base + c] = rdr * work[_A, k, c] + dr * work[_RA, k, c]
            if bo >= 0:
                h[bo + r] = rdr


@jit
def _chunk_hessian(arch, w, X, T, start, stop, work, scratch, H):
    """Add the upper triangle of the chunk's summed Hessian to H.

    One hidden layer (the common case) uses the closed form; deeper nets the
    generic unit-pass scheme. ``scratch`` is a float64 buffer of length 2 * n_params.
    """
    if arch[0] == 2:
        _chunk_hessian_one_hidden(arch, w, X, T, start, stop, work, scratch, H)
    else:
        _chunk_hessian_generic(arch, w, X, T, start, stop, work, scratch, H)


@jit
def _chunk_hessian_one_hidden(arch, w, X, T, start, stop, work, scratch, H):
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
    nx = nin + 1 if b_offset(arch, 0) >= 0 else nin
    na = m + 1 if b_offset(arch, 1) >= 0 else m
    nk = stop - start
    XT = np.ones((nx, nk))  # inputs (and the bias constant), point index innermost
    AT = np.ones((na, nk))  # hidden activations (and the bias constant)
    C = np.empty((m, m, nk))
    V = np.empty((no, m, nk))  # u_r M[o, r]
    F = np.empty((no, m, nk))  # g_o u_r
    HL = np.empty((no, no, nk))
    for k in range(nk):
        i = start + k
        _forward(arch, w, X, i, work)
        _point_loss(arch[2], work, 2, T, i, no, 2)
        for c in range(nin):
            XT[c, k] = X[i, c]
        for r in range(m):
            AT[r, k] = work[_A, 1, r]
        for o in range(no):
            for q in range(no):
                HL[o, q, k] = work[_HL, o, q]
            for r in range(m):
                s = 0.0
                for q in range(no):
                    s += work[_HL, o, q] * w[w2 + q * m + r]
                work[_RD, o, r] = s  # M[o, r]
                V[o, r, k] = work[_D1, 1, r] * s
                F[o, r, k] = work[_DELTA, 2, o] * work[_D1, 1, r]
        for r in range(m):
            e = 0.0
            for o in range(no):
                e += w[w2 + o * m + r] * work[_DELTA, 2, o]
            for r2 in range(r, m):
                s = 0.0
                for o in range(no):
                    s += w[w2 + o * m + r] * work[_RD, o, r2]
                c = work[_D1, 1, r] * work[_D1, 1, r2] * s
                if r2 == r:
                    c += work[_D2, 1, r] * e
                C[r, r2, k] = c
                C[r2, r, k] = c
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
def _chunk_hessian_generic(arch, w, X, T, start, stop, work, scratch, H):
    """Add the upper triangle of the chunk's summed Hessian to H.

    ``scratch`` is a float64 buffer of length 2 * n_params.
    """
    nl = arch[0]
    n_out = width(arch, nl)
    p = n_params(arch)
    grad = scratch[:p]
    h = scratch[p:]
    for i in range(start, stop):
        _forward(arch, w, X, i, work)
        _point_loss(arch[2], work, nl, T, i, n_out, 2)
        _backward(arch, w, work, grad)
        for k in range(nl):
            nin = width(arch, k)
            nout = width(arch, k + 1)
            wo = w_offset(arch, k)
            bo = b_offset(arch, k)
            for r in range(nout):
                _unit_pass(arch, w, work, k, r, h)
                # rows of the parameters feeding unit r: a[k, c] (or 1) times h, upper triangle
                for c in range(nin):
                    j = wo + r * nin + c
                    s = work[_A, k, c]
                    for q in range(j, p):
                        H[j, q] += s * h[q]
                if bo >= 0:
                    j = bo + r
                    for q in range(j, p):
                        H[j, q] += h[q]


@jit
def _chunk_hvp(arch, w, v, X, T, start, stop, work, scratch, out):
    """Add the chunk's summed Hessian-vector product H v to ``out``."""
    nl = arch[0]
    n_out = width(arch, nl)
    for i in range(start, stop):
        _forward(arch, w, X, i, work)
        _point_loss(arch[2], work, nl, T, i, n_out, 2)
        _backward(arch, w, work, scratch)
        for c in range(width(arch, 0)):
            work[_RA, 0, c] = 0.0
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
                    s += w[base + c] * work[_RA, k, c] + v[base + c] * work[_A, k, c]
                work[_RZ, k + 1, r] = s
                if k + 1 < nl:
                    work[_RA, k + 1, r] = work[_D1, k + 1, r] * s
        for r in range(n_out):
            s = 0.0
            for m in range(n_out):
                s += work[_HL, r, m] * work[_RZ, nl, m]
            work[_RD, nl, r] = s
        for k in range(nl - 1, -1, -1):
            nin = width(arch, k)
            nout = width(arch, k + 1)
            wo = w_offset(arch, k)
            bo = b_offset(arch, k)
            for r in range(nout):
                base = wo + r * nin
                rdr = work[_RD, k + 1, r]
                dr = work[_DELTA, k + 1, r]
                for c in range(nin):
                    out[base + c] += rdr * work[_A, k, c] + dr * work[_RA, k, c]
                if bo >= 0:
                    out[bo + r] += rdr
            if k > 0:
                for c in range(nin):
                    work[_RE, k, c] = 0.0
                for r in range(nout):
                    base = wo + r * nin
                    rdr = work[_RD, k + 1, r]
                    dr = work[_DELTA, k + 1, r]
                    for c in range(nin):
                        work[_RE, k, c] += w[base + c] * rdr + v[base + c] * dr
                for c in range(nin):
                    work[_RD, k, c] = (
                        work[_D2, k, c] * work[_RZ, k, c] * work[_E, k, c] + work[_D1, k, c] * work[_RE, k, c]
                    )


@jit
def _chunk_gauss_newton(arch, w, X, T, start, stop, work, jac, G):
    """Add the upper triangle of the chunk's sum of J^T H_loss J to G."""
    nl = arch[0]
    n_out = width(arch, nl)
    p = n_params(arch)
    for i in range(start, stop):
        _forward(arch, w, X, i, work)
        _point_loss(arch[2], work, nl, T, i, n_out, 2)
        for o in range(n_out):  # one reverse pass per output gives row o of J
            for m in range(n_out):
                work[_DELTA, nl, m] = 1.0 if m == o else 0.0
            row = jac[o]
            row[:] = 0.0
            _backward(arch, w, work, row)
        for o in range(n_out):
            for m in range(n_out):
                h = work[_HL, o, m]
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
    for i in range(start, stop):
        _forward(arch, w, X, i, work)
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
    """Mean loss plus (wd/2)||w||^2 of one parameter vector; serial, no allocation."""
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
        for q in range(p):
            part[q] = 0.0
        total += _chunk_loss_grad(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, part)
        for q in range(p):
            grad[q] += part[q]
    for q in range(p):
        grad[q] = grad[q] / N + wd * w[q]
    return total / N + 0.5 * wd * _sqnorm(w)


@jit
def _hessian_chunk_sum(arch, w, X, T, c, work, scratch, part):
    """part = the chunk's summed Hessian (upper triangle); part is overwritten."""
    N = X.shape[0]
    part[:, :] = 0.0
    _chunk_hessian(arch, w, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, scratch, part)


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
    work = new_work(arch)
    scratch = np.zeros(2 * p)
    jac = np.zeros((width(arch, arch[0]), p))
    total = np.zeros((p, p))
    part = np.empty((p, p))
    for c in range(_n_chunks(N)):
        if kind == 0:
            _hessian_chunk_sum(arch, w, X, T, c, work, scratch, part)
        else:
            _gauss_newton_chunk_sum(arch, w, X, T, c, work, jac, part)
        if c == 0:
            total[:, :] = part
        else:
            total += part
    _finish_symmetric(total, N, wd, out)


@jit
def hessian_one(arch, w, X, T, wd, out):
    """Exact Hessian (p, p) of one vector into ``out``; serial, equal bit for bit to hessian_batch."""
    _matrix_one(0, arch, w, X, T, wd, out)


@jit
def gauss_newton_one(arch, w, X, T, wd, out):
    """Gauss-Newton matrix of one vector into ``out``; serial."""
    _matrix_one(1, arch, w, X, T, wd, out)


@jit
def loss_grad_one(arch, w, X, T, wd, grad):
    """U(w) with its gradient into ``grad``; serial, allocates its own workspace."""
    work = new_work(arch)
    part = np.zeros(w.shape[0])
    return loss_grad_value(arch, w, X, T, wd, work, part, grad)


@jit
def hvp_one(arch, w, v, X, T, wd, out):
    """H(w) v into ``out``; serial."""
    p = w.shape[0]
    N = X.shape[0]
    work = new_work(arch)
    scratch = np.zeros(p)
    part = np.zeros(p)
    for q in range(p):
        out[q] = 0.0
    for c in range(_n_chunks(N)):
        part[:] = 0.0
        _chunk_hvp(arch, w, v, X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, scratch, part)
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
    if split_chunks:
        parts = np.zeros((B, nc, p, p))
        for task in prange(B * nc):
            b = task // nc
            c = task % nc
            work = new_work(arch)
            scratch = np.zeros(2 * p)
            jac = np.zeros((n_out, p))
            if kind == 0:
                _hessian_chunk_sum(arch, W[b], X, T, c, work, scratch, parts[b, c])
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
        work = new_work(arch)
        scratch = np.zeros(p)
        _chunk_hvp(arch, W[b], V[b], X, T, c * CHUNK, min(N, (c + 1) * CHUNK), work, scratch, parts[b, c])
    for b in prange(B):
        for q in range(p):
            s = 0.0
            for c in range(nc):
                s += parts[b, c, q]
            out[b, q] = s / N + wd * V[b, q]
