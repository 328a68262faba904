"""Permutation, duplication and sign symmetries of MLPs; teacher matching; G(r, m).

The hidden neurons of an MLP can be permuted without changing the network
function. Two more symmetries produce *flat* directions of the loss and are what
seed 004 calls symmetry-induced critical points (Şimşek et al. 2021):

- **duplication** (splitting): a neuron copied ``k`` times with its outgoing
  weights multiplied by ratios that sum to 1 computes the same function; the
  ratios can move freely, so a critical point of the narrower network becomes
  a ``(k - 1) * n_next``-dimensional affine subspace of critical points;
- **sign flips**: ``tanh(-z) = -tanh(z)`` and ``sigmoid(-z) = 1 - sigmoid(z)``; a
  flipped sigmoid neuron adds a constant that must be absorbed by a bias or
  cancelled by the constants of other flipped neurons.

The module counts the flat directions these symmetries explain
(:func:`flat_directions`, used by :func:`fastland.critical.classify`), builds
split networks (:func:`split_neuron`, :func:`duplicate`), and decides whether a
student realises a teacher (:func:`match_teacher`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _activations as _act
from ._validate import check_finite_array, check_int, check_params, check_positive
from .model import MLP

__all__ = [
    "G",
    "TeacherMatch",
    "duplicate",
    "flat_directions",
    "flip_neuron",
    "match_teacher",
    "Reduction",
    "permute_neurons",
    "reduce",
    "split_neuron",
]


# ---------------------------------------------------------------------------- G(r, m)
def G(r: int, m: int) -> int:
    """Seed 004's count G(r, m) of symmetry-induced critical subspaces.

    ``G(r, m) = sum over k_1 + ... + k_r = m, k_i >= 1, of m! / (k_1! ... k_r!)``.

    Parameters
    ----------
    r : int
        Width of the narrower network (number of distinct neurons), >= 0.
    m : int
        Width of the wider network, >= 0.

    Returns
    -------
    int
        The exact count.

    Notes
    -----
    The multinomial ``m! / (k_1! ... k_r!)`` counts the ways to give each of the
    ``m`` student neurons a label ``1..r`` so that label ``i`` is used ``k_i``
    times; summing over all compositions ``k_i >= 1`` counts the maps from
    ``m`` student neurons *onto* the ``r`` neurons of the narrower network, i.e.
    the surjections. Hence ``G(r, m) = r! S(m, r)`` with ``S`` the Stirling number
    of the second kind, computed here by inclusion-exclusion,
    ``sum_j (-1)^j C(r, j) (r - j)^m``.

    Each surjection is one way to embed a critical point of the width-``r``
    network into the width-``m`` network by duplicating neurons (neuron ``i``
    copied ``k_i`` times, outgoing weights split among the copies): a critical
    affine subspace. Seed 004 reads ``G(4, 5) > G(3, 5) > G(2, 5)`` as "first-level
    saddles are more common than second-level ones". The count treats the
    narrower network's neurons as labelled; zero-outgoing ("dead") neurons,
    which give further subspaces, are not counted.

    Examples
    --------
    >>> from fastland.symmetry import G
    >>> G(4, 5), G(3, 5), G(2, 5)
    (240, 150, 30)
    """
    r = check_int("r", r, 0)
    m = check_int("m", m, 0)
    return sum((-1) ** j * math.comb(r, j) * (r - j) ** m for j in range(r + 1))


# ---------------------------------------------------------------- layer plumbing
def _check_net(net) -> MLP:
    if not isinstance(net, MLP):
        raise ValueError(f"net: expected a fastland.MLP, got {type(net).__name__}")
    if not net.hidden:
        raise ValueError(f"net: expected at least one hidden layer, got {net!r}")
    return net


def _check_layer(net: MLP, layer) -> int:
    layer = check_int("layer", layer, 0)
    if layer >= len(net.hidden):
        raise ValueError(f"layer: expected a hidden-layer index 0..{len(net.hidden) - 1}, got {layer}")
    return layer


def _check_neuron(net: MLP, layer: int, neuron) -> int:
    neuron = check_int("neuron", neuron, 0)
    if neuron >= net.hidden[layer]:
        raise ValueError(f"neuron: expected an index 0..{net.hidden[layer] - 1} of layer {layer}, got {neuron}")
    return neuron


def _layers(net: MLP, w: np.ndarray) -> list[list[np.ndarray | None]]:
    """Copies of the per-layer (W, b) arrays of ``w`` (..., p), as mutable lists."""
    return [[W.copy(), None if b is None else b.copy()] for W, b in net.unflatten(w)]


def _join(net: MLP, layers, lead: tuple[int, ...]) -> np.ndarray:
    parts = []
    for W, b in layers:
        parts.append(W.reshape(*lead, -1))
        if b is not None:
            parts.append(b.reshape(*lead, -1))
    return np.concatenate(parts, axis=-1)


def _widened(net: MLP, layer: int, width: int) -> MLP:
    hidden = list(net.hidden)
    hidden[layer] = width
    return MLP(net.n_in, hidden, net.n_out, activation=net.activation, loss=net.loss, bias=net.bias)


# ------------------------------------------------------------ building symmetric points
def split_neuron(net: MLP, w, neuron: int, ratios=(0.5, 0.5), layer: int = 0) -> tuple[MLP, np.ndarray]:
    """Replace a hidden neuron by ``len(ratios)`` copies that share its outgoing weights.

    The copies take the neuron's place (copy ``i`` at index ``neuron + i``), have
    its incoming weights and bias, and outgoing weights ``ratios[i]`` times the
    original ones. The network function is unchanged, so a critical point of
    ``net`` maps to a critical point of the wider network (Fukumizu & Amari 2000).

    Parameters
    ----------
    net : MLP
    w : array_like, shape (p,) or (B, p)
        Parameters of ``net``.
    neuron : int
        Index of the neuron in hidden layer ``layer``.
    ratios : sequence of float, default (0.5, 0.5)
        Finite numbers summing to 1 (any sign: ``(1.5, -0.5)`` is allowed).
    layer : int, default 0
        Hidden-layer index.

    Returns
    -------
    (MLP, ndarray)
        The wider network and its parameters, shape (p',) or (B, p').

    Examples
    --------
    >>> import fastland as fl
    >>> from fastland.symmetry import split_neuron
    >>> net = fl.MLP(2, [3], 1, activation="sigmoid", loss="mse", bias=False)
    >>> wide, w5 = split_neuron(net, net.init(seed=0), neuron=1, ratios=(0.25, 0.75))
    >>> wide.hidden, w5.shape
    ((4,), (12,))
    """
    net = _check_net(net)
    layer = _check_layer(net, layer)
    neuron = _check_neuron(net, layer, neuron)
    w = check_params("w", w, net.n_params)
    r = check_finite_array("ratios", ratios, 1)
    if r.size < 1:
        raise ValueError("ratios: expected at least one ratio")
    if abs(r.sum() - 1.0) > 1e-12 * max(1.0, float(np.abs(r).sum())):
        raise ValueError(f"ratios: expected numbers summing to 1, got {r.tolist()} (sum {r.sum()!r})")
    k = r.size
    lead = w.shape[:-1]
    layers = _layers(net, w)
    W_in, b_in = layers[layer]
    W_out, b_out = layers[layer + 1]
    rep = np.ones(net.hidden[layer], dtype=np.int64)
    rep[neuron] = k
    W_in = np.repeat(W_in, rep, axis=-2)
    b_in = None if b_in is None else np.repeat(b_in, rep, axis=-1)
    W_out = np.repeat(W_out, rep, axis=-1)
    W_out[..., neuron : neuron + k] *= r
    layers[layer] = [W_in, b_in]
    layers[layer + 1] = [W_out, b_out]
    wide = _widened(net, layer, net.hidden[layer] + k - 1)
    return wide, _join(wide, layers, lead)


def duplicate(net: MLP, w, neuron: int, copies: int = 2, layer: int = 0) -> tuple[MLP, np.ndarray]:
    """Split a neuron into ``copies`` identical neurons with equal outgoing shares.

    Shorthand for :func:`split_neuron` with ``ratios = [1 / copies] * copies``.

    Parameters
    ----------
    net : MLP
    w : array_like, shape (p,) or (B, p)
    neuron : int
    copies : int, default 2
        Number of copies, >= 1.
    layer : int, default 0

    Returns
    -------
    (MLP, ndarray)
    """
    copies = check_int("copies", copies, 1)
    return split_neuron(net, w, neuron, np.full(copies, 1.0 / copies), layer)


def flip_neuron(net: MLP, w, neuron: int, layer: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flip the sign of a neuron's input and compensate its output.

    For activations with ``act(-z) = slope * act(z) + offset``
    (``fastland._activations.FLIP``). ``tanh``, ``linear`` (odd): incoming
    weights and bias and the outgoing weights change sign; the function is
    unchanged. ``quadratic`` (even): only the incoming weights and bias change
    sign. ``sigmoid``: ``a sigmoid(z) = a - a sigmoid(-z)``, so the incoming
    weights, the bias and the outgoing weights change sign and a constant ``a``
    (one per next-layer unit) is left over. If the next layer has biases the
    constant is added to them; otherwise the function changes by the returned
    offset ``-a``, which other flipped neurons must cancel (see
    :func:`match_teacher`).

    Parameters
    ----------
    net : MLP
        Activation "tanh", "linear", "quadratic" or "sigmoid".
    w : array_like, shape (p,) or (B, p)
    neuron : int
    layer : int, default 0

    Returns
    -------
    (ndarray, ndarray)
        The new parameters (same shape as ``w``) and the offset, shape
        (..., n_next): the new next-layer input minus the old one (zero for tanh
        or when a bias absorbed it).
    """
    net = _check_net(net)
    if net.activation not in _act.FLIP:
        raise ValueError(f"net: flip_neuron expects an activation in {tuple(_act.FLIP)}, got {net.activation!r}")
    layer = _check_layer(net, layer)
    neuron = _check_neuron(net, layer, neuron)
    w = check_params("w", w, net.n_params)
    lead = w.shape[:-1]
    layers = _layers(net, w)
    W_in, b_in = layers[layer]
    W_out, b_out = layers[layer + 1]
    W_in[..., neuron, :] *= -1.0
    if b_in is not None:
        b_in[..., neuron] *= -1.0
    slope, off = _act.FLIP[net.activation]
    col = W_out[..., :, neuron].copy()
    W_out[..., :, neuron] = slope * col  # a act(z) = a slope act(-z) - a slope off, slope = +-1
    offset = -off * col
    if b_out is not None:
        b_out -= offset
        offset = np.zeros_like(offset)
    return _join(net, layers, lead), offset


def permute_neurons(net: MLP, w, perm, layer: int = 0) -> np.ndarray:
    """Reorder the neurons of a hidden layer: new neuron ``i`` is old neuron ``perm[i]``.

    Parameters
    ----------
    net : MLP
    w : array_like, shape (p,) or (B, p)
    perm : sequence of int
        A permutation of ``0..width-1``.
    layer : int, default 0

    Returns
    -------
    ndarray
        Parameters of the same function, shape of ``w``.
    """
    net = _check_net(net)
    layer = _check_layer(net, layer)
    w = check_params("w", w, net.n_params)
    perm = np.asarray(perm)
    n = net.hidden[layer]
    if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError(f"perm: expected a permutation of 0..{n - 1}, got {perm.tolist()}")
    layers = _layers(net, w)
    W_in, b_in = layers[layer]
    layers[layer][0] = W_in[..., perm, :]
    if b_in is not None:
        layers[layer][1] = b_in[..., perm]
    layers[layer + 1][0] = layers[layer + 1][0][..., :, perm]
    return _join(net, layers, w.shape[:-1])


# -------------------------------------------------------------- flat directions
def _groups(V: np.ndarray, tol: float, signs: tuple[float, ...], scaling: str | None) -> list[list[tuple[int, float]]]:
    """Group rows of V that are equal up to the allowed transformations.

    Returns groups as lists of (row index, factor) with row = factor * representative.
    ``signs``: allowed factors (1 or +-1); ``scaling``: "positive" or "any" for
    proportional rows (relu / quadratic); rows with norm <= tol are skipped.
    """
    groups: list[list[tuple[int, float]]] = []
    norms = np.linalg.norm(V, axis=1)
    for i in range(V.shape[0]):
        if norms[i] <= tol:
            continue
        placed = False
        for g in groups:
            rep = V[g[0][0]]
            if scaling is None:
                for s in signs:
                    if np.linalg.norm(V[i] - s * rep) <= tol * max(1.0, norms[i]):
                        g.append((i, s))
                        placed = True
                        break
            else:
                c = float(V[i] @ rep) / float(rep @ rep)
                if (scaling == "any" or c > 0) and np.linalg.norm(V[i] - c * rep) <= tol * max(1.0, norms[i]):
                    g.append((i, c))
                    placed = True
            if placed:
                break
        if not placed:
            groups.append([(i, 1.0)])
    return groups


def _flat_one(net: MLP, w: np.ndarray, tol: float, zero_loss: bool = False) -> int:
    act = net.activation
    layers = net.unflatten(w)
    count = 0
    for layer, n_l in enumerate(net.hidden):
        W_in, b_in = layers[layer]
        W_out, _ = layers[layer + 1]
        n_next = W_out.shape[0]
        if act == "linear":  # any invertible mixing A: W_in -> A W_in, W_out -> W_out A^-1
            count += n_l * n_l
            continue
        V = W_in if b_in is None else np.column_stack([W_in, b_in])
        weight_zero = np.linalg.norm(W_in, axis=1) <= tol
        out_norm = np.linalg.norm(W_out, axis=0)
        dead = out_norm <= tol * max(1.0, float(np.abs(W_out).max(initial=0.0)))
        # neurons whose incoming weights vanish compute the constant act(b) (zero if act(b) == 0)
        const_val = _act.value(act, b_in if b_in is not None else np.zeros(n_l))
        zero_fn = weight_zero & (np.abs(const_val) <= tol)
        constant = weight_zero & ~zero_fn
        rows = V.copy()
        rows[weight_zero] = 0.0
        if act in ("relu", "quadratic"):
            groups = _groups(rows, tol, (1.0,), "positive" if act == "relu" else "any")
        else:
            groups = _groups(rows, tol, (1.0, -1.0) if act in _act.FLIP else (1.0,), None)
        rank = 0
        constant_direction = bool(np.any(constant)) or net.bias
        in_group = np.zeros(n_l, dtype=bool)
        for g in groups:
            rank += 1
            if len(g) > 1:
                in_group[[i for i, _ in g]] = True
                if zero_loss:  # the copies' incoming differences weighted to keep f: null(J)
                    count += (len(g) - 1) * V.shape[1]
            if act == "sigmoid" and len({f for _, f in g}) > 1:
                constant_direction = True  # sigmoid(-z) = 1 - sigmoid(z) spans the constants
        rank += int(constant_direction)
        # per next-layer unit: coefficients (n_l, + its bias) minus the rank of the functions
        count += n_next * (n_l + int(net.bias) - rank)
        # a neuron with zero outgoing weights can move its incoming weights freely; not counted
        # where that line crosses another flat set (duplicate, constant or zero neurons), where
        # the critical set is not a manifold
        free = dead & ~in_group & ~weight_zero
        count += int(np.count_nonzero(free)) * V.shape[1]
        if act in ("relu", "quadratic"):  # rescaling: incoming * c, outgoing / c (or / c^2)
            count += int(np.count_nonzero(~dead & ~weight_zero))
    return count


def flat_directions(net: MLP, w, tol: float | None = None, zero_loss: bool = False) -> int | np.ndarray:
    """Number of independent flat directions that known symmetries explain at ``w``.

    These are directions along which the loss is exactly constant because the
    network function does not change; at a critical point that lies on such a
    smooth critical manifold, the Hessian has (at least) this many zero
    eigenvalues. :func:`fastland.critical.classify` allows this many zero
    eigenvalues before it calls a point "degenerate".

    Parameters
    ----------
    net : MLP
    w : array_like, shape (p,) or (B, p)
    tol : float, optional
        Two incoming vectors (weights and bias) are equal when they differ by at
        most ``tol * max(1, norm)``; a vector or an outgoing column is zero when
        its norm is at most ``tol`` (times the largest outgoing weight, at least
        1). Default ``sqrt(machine epsilon) * max(1, max |w|)``.
        :func:`~fastland.critical.classify` passes a tolerance derived from its
        error estimate instead.
    zero_loss : bool, default False
        The point has zero loss (an MSE global minimum that interpolates the
        data): then the Hessian is the Gauss-Newton matrix, whose null space is
        the Jacobian's, and each group of ``k`` copies adds ``(k - 1) (n_in +
        bias)`` zero eigenvalues: moving copy ``i`` by ``d_i / a_i`` with ``sum
        d_i = 0`` does not change the function to first order.

    Returns
    -------
    int or ndarray of int
        One count per point.

    Notes
    -----
    Counted, per hidden layer with ``n_l`` neurons feeding ``n_next`` units:

    - **dependent outgoing coefficients**: ``n_next * (n_l + bias - rank)``, where
      ``rank`` is the number of distinct neuron functions (neurons with equal
      incoming vectors are one function; for tanh and sigmoid also up to sign;
      for relu up to a positive factor, for "quadratic" up to any factor), plus
      one if constants are in the span (a next-layer bias, a neuron with zero
      incoming weights and ``act(b) != 0``, or a sigmoid group containing both
      signs, since ``sigmoid(-z) = 1 - sigmoid(z)``). A neuron split into ``k``
      copies gives ``(k - 1) n_next``; a neuron computing zero gives ``n_next``.
    - **dead neurons**: a neuron with zero outgoing weights that is not also
      duplicated, constant or zero adds its incoming parameter count.
    - **rescaling** (relu, quadratic): one per neuron with non-zero incoming and
      outgoing weights.
    - **linear** hidden layers: ``n_l ** 2`` (the general linear group).

    - **zero loss** (``zero_loss=True``): ``(k - 1)(n_in + bias)`` per group of
      ``k`` copies (see above); these directions are flat only to second order.

    Not counted: the relation ``relu(z) - relu(-z) = z``.
    """
    net = _check_net(net)
    W = check_params("w", w, net.n_params)
    batch = np.atleast_2d(W)
    if tol is None:
        tols = np.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(batch).max(axis=1))
    else:
        tols = np.full(batch.shape[0], check_positive("tol", tol, allow_zero=True))
    zl = np.broadcast_to(np.asarray(zero_loss, dtype=bool), (batch.shape[0],))
    counts = np.array([_flat_one(net, batch[i], float(tols[i]), bool(zl[i])) for i in range(batch.shape[0])])
    return int(counts[0]) if W.ndim == 1 else counts


# ------------------------------------------------------------------------- reduction
@dataclass
class Reduction:
    """The narrowest network found by :func:`reduce` and how it maps back.

    Attributes
    ----------
    net : MLP
        The narrow network (same inputs, outputs, activation, loss and bias
        setting; hidden width ``width``).
    point : ndarray, shape (p_r,)
        Its parameters: they realise the same function as the original point
        (exactly for exact symmetries; up to the merged neurons' spread
        otherwise, see ``function_change``).
    width : int
        Hidden width of ``net`` (at least 1).
    level : int
        Width lost, ``original width - width``: 0 for a point that is not
        symmetry-reduced, 1 for a first-level point (seed 004's terms), ...
    assign : ndarray of int, shape (m,)
        For every original neuron, the narrow neuron it became, or -1 when it
        was dropped.
    sign : ndarray of float, shape (m,)
        +1, or -1 when the neuron was merged as a sign-flipped copy
        (incoming weights negated; tanh and sigmoid only).
    kind : tuple of str
        Per original neuron: "kept" (alone), "merged" (one of several copies),
        "dead" (zero outgoing weights, or a neuron computing 0), "cancelled"
        (copies whose outgoing weights sum to zero) or "constant" (zero
        incoming weights, absorbed by the next layer's bias).
    groups : list of list of int
        The original neurons behind each narrow neuron.
    spread : float
        Largest distance of a merged neuron's (sign-aligned) incoming vector
        from its group's merged vector, and largest dropped outgoing weight:
        how far the original point is from the exactly reducible one.
    function_change : float or None
        Largest ``|f_narrow(x) - f(x)|`` over the landscape's data points (None
        when only a network was given).
    tol : float
        The tolerance used.
    original : ndarray, shape (p,)
        The original point.
    wide : MLP
        The original network.
    """

    net: MLP
    point: np.ndarray
    width: int
    level: int
    assign: np.ndarray
    sign: np.ndarray
    kind: tuple[str, ...]
    groups: list
    spread: float
    function_change: float | None
    tol: float
    original: np.ndarray
    wide: MLP
    _weights: list = field(default_factory=list, repr=False)  # per group: outgoing shares
    _absorbed: np.ndarray | None = field(default=None, repr=False)  # constant put into the next bias
    _cancelled: list = field(default_factory=list, repr=False)  # groups dropped as cancelling

    def expand(self, point) -> np.ndarray:
        """Embed parameters of the narrow network back into the original one.

        Each narrow neuron's incoming vector goes to all its copies (negated
        for flipped ones); a change of its outgoing weights is shared among
        its unflipped copies in the proportions they had (flipped copies keep
        theirs, so the constants ``sigmoid(-z) = 1 - sigmoid(z)`` leaves do not
        change); dropped neurons keep their incoming weights and get outgoing
        weights that contribute exactly nothing (zero for dead neurons,
        cancelling exactly for cancelled groups); constants absorbed by the
        next layer's bias are taken out of it again. The result computes the
        same function as ``point`` does in the narrow network, and
        ``expand(self.point)`` is the original point up to ``spread``.

        Parameters
        ----------
        point : array_like, shape (p_r,)
            Parameters of :attr:`net` (for example ``self.point`` refined).

        Returns
        -------
        ndarray, shape (p,)
        """
        wr = check_params("point", point, self.net.n_params)
        if wr.ndim != 1:
            raise ValueError(f"point: expected one parameter vector ({self.net.n_params},), got shape {wr.shape}")
        (Wr, br), (Ar, cr) = self.net.unflatten(wr)
        (W0, b0), (A0, c0) = self.wide.unflatten(self.original)
        (_, _), (Ar0, cr0) = self.net.unflatten(self.point)
        W, A = W0.copy(), A0.copy()
        b = None if b0 is None else b0.copy()
        c = None if c0 is None else c0.copy()
        for g, members in enumerate(self.groups):
            if not members:  # the placeholder neuron of a constant function
                continue
            for j in members:
                W[j] = self.sign[j] * Wr[g]
                if b is not None:
                    b[j] = self.sign[j] * br[g]
            delta = Ar[:, g] - Ar0[:, g]
            for j, share in zip(members, self._weights[g], strict=True):
                A[:, j] = A0[:, j] + share * delta
        for j in range(A.shape[1]):
            if self.kind[j] == "dead":
                A[:, j] = 0.0
        slope = _act.FLIP.get(self.wide.activation, (1.0, 0.0))[0]
        for members in self._cancelled:  # make each cancelled group sum to exactly zero
            total = sum((A[:, j] if self.sign[j] > 0 else slope * A[:, j]) for j in members)
            up = [j for j in members if self.sign[j] > 0]
            for j in up:
                A[:, j] -= total / len(up)
        if c is not None:
            c = cr - self._absorbed
        return self.wide.flatten([(W, b), (A, c)])


def _merge_weights(contrib: np.ndarray) -> np.ndarray:
    """Weights (k,) summing to 1 for merging k incoming vectors to first order.

    ``contrib`` (k, n_out): each copy's coefficient on the shared activation.
    ``sum_j contrib_j act((u + d_j) x)`` equals ``(sum contrib) act(u x)`` to first
    order when ``sum_j contrib_j d_j = 0``; with several outputs the weights are
    the projections on the summed coefficient. Equal weights when the sum vanishes.
    """
    total = contrib.sum(axis=0)
    nt = float(total @ total)
    if nt > 0 and nt >= 0.25 * float((np.abs(contrib).sum(axis=0) ** 2).sum()):
        return contrib @ total / nt
    return np.full(contrib.shape[0], 1.0 / contrib.shape[0])


def merge_heights(net: MLP, point) -> np.ndarray:
    """The tolerances at which :func:`reduce` can merge or drop another neuron, ascending.

    For one-hidden-layer networks: the relative distances ``|u_i - s u_j| /
    max(1, |u_i|)`` between incoming vectors (``s`` = +-1 for tanh and sigmoid)
    and the relative sizes ``max |a_.j| / max(1, max |a|)`` of outgoing columns,
    each nudged up by one part in 10^9 so that ``reduce(net, point, tol=h)``
    includes it. Used to propose reductions of a point whose copies agree only
    approximately (:func:`fastland.critical.classify` verifies them).

    Parameters
    ----------
    net : MLP
    point : array_like, shape (p,)

    Returns
    -------
    ndarray
    """
    net = _one_hidden(net, "net")
    w = check_params("point", point, net.n_params)
    (W, b), (A, _) = net.unflatten(w)
    V = W if b is None else np.column_stack([W, b])
    norms = np.maximum(1.0, np.linalg.norm(V, axis=1))
    d = np.linalg.norm(V[:, None, :] - V[None, :, :], axis=2) / norms[:, None]
    if net.activation in _act.FLIP:
        d = np.minimum(d, np.linalg.norm(V[:, None, :] + V[None, :, :], axis=2) / norms[:, None])
    iu = np.triu_indices(V.shape[0], 1)
    dead = np.abs(A).max(axis=0) / max(1.0, float(np.abs(A).max(initial=0.0)))
    h = np.concatenate([d[iu], d.T[iu], dead])
    return np.unique(h[np.isfinite(h)]) * (1.0 + 1e-9)


def reduce(land_or_net, point, tol: float | None = None) -> Reduction:
    """The narrowest network realising the same function: merge copies, drop dead neurons.

    Seed 004's saddle *level* is how many neurons a critical point has "lost":
    a width-m point built from a width-r critical point by duplicating neurons
    (splitting outgoing weights) and adding neurons with zero outgoing weights
    is a level ``m - r`` point. This function undoes those constructions:

    1. drop neurons whose outgoing weights are zero ("dead") or that compute
       zero (zero incoming weights and ``act(b) = 0``);
    2. absorb constant neurons (zero incoming weights) into the next layer's
       bias, when it has one;
    3. group neurons whose incoming vectors (weights and bias) coincide, for
       tanh and sigmoid also up to sign (``tanh(-z) = -tanh(z)``,
       ``sigmoid(-z) = 1 - sigmoid(z)``); each group becomes one neuron whose
       outgoing weights are the sum of its copies' (a flipped copy counts with
       ``-a``; a flipped sigmoid copy also leaves the constant ``a``, which the
       next layer's bias absorbs or other flipped copies must cancel --
       otherwise flips are not used) and whose incoming vector is the copies'
       mean weighted by their outgoing weights (which makes the function
       change second order in the copies' spread);
    4. drop groups whose outgoing weights sum to zero ("cancelled").

    Parameters
    ----------
    land_or_net : Landscape or MLP
        One hidden layer. With a Landscape the function change is measured
        on its data.
    point : array_like, shape (p,)
    tol : float, optional
        Relative tolerance: incoming vectors ``u, v`` coincide when ``|u - s v|
        <= tol * max(1, |u|)`` (Euclidean, ``s`` = +-1), an outgoing column or
        a group sum is zero when its largest entry is at most ``tol * max(1,
        max |a|)``. Default ``sqrt(eps)``, which recognises exact
        constructions (and is not inflated by one huge weight); :func:`fastland.critical.classify` passes a
        tolerance derived from its error estimate.

    Returns
    -------
    Reduction
        ``.net``, ``.point``, ``.level``, and ``.expand`` for the map back.

    Notes
    -----
    With weight decay the loss of the narrow point differs (the function is
    the same, the weights are not). Grouping is greedy: each neuron joins the
    first group whose first member it matches.

    Examples
    --------
    >>> import fastland as fl
    >>> from fastland.symmetry import reduce, split_neuron
    >>> ts = fl.datasets.teacher_student(spacing=1.0)
    >>> wide, w5 = split_neuron(ts.teacher, ts.teacher_params, 2, (0.3, 0.7))
    >>> r = reduce(wide, w5)
    >>> r.width, r.level, r.assign.tolist()
    (4, 1, [0, 1, 2, 2, 3])
    """
    from .landscape import Landscape

    land = land_or_net if isinstance(land_or_net, Landscape) else None
    net = land.net if land is not None else land_or_net
    net = _one_hidden(net, "land_or_net")
    w = check_params("point", getattr(point, "points", point), net.n_params)
    if w.ndim != 1:
        raise ValueError(f"point: expected one parameter vector ({net.n_params},), got shape {w.shape}")
    w = np.asarray(w, dtype=float)
    if tol is None:
        tol = float(np.sqrt(np.finfo(float).eps))
    else:
        tol = check_positive("tol", tol, allow_zero=True)
    act = net.activation
    (W, b), (A, c) = net.unflatten(w)
    m, n_out = W.shape[0], A.shape[0]
    V = W if b is None else np.column_stack([W, b])
    out_tol = tol * max(1.0, float(np.abs(A).max(initial=0.0)))
    kind = ["kept"] * m
    sign = np.ones(m)
    absorbed = np.zeros(n_out)
    spread = 0.0
    live = []
    for j in range(m):
        if np.abs(A[:, j]).max(initial=0.0) <= out_tol:
            kind[j] = "dead"
            spread = max(spread, float(np.abs(A[:, j]).max(initial=0.0)))
            continue
        if np.linalg.norm(W[j]) <= tol:
            val = float(_act.value(act, np.array(0.0 if b is None else b[j])))
            if np.abs(A[:, j] * val).max() <= out_tol:
                kind[j] = "dead"
                spread = max(spread, float(np.abs(A[:, j] * val).max()))
                continue
            if c is not None:
                kind[j] = "constant"
                absorbed += A[:, j] * val
                continue
        live.append(j)

    def grouping(signs):
        rows = V[live].copy()
        const = [i for i, j in enumerate(live) if np.linalg.norm(W[j]) <= tol]
        rows[const] = 0.0
        gs = _groups(rows, tol, signs, None) if rows.size else []
        if const:
            gs.append([(i, 1.0) for i in const])
        out = []
        flip_const = np.zeros(n_out)
        for g in gs:
            members = [(live[i], f) for i, f in g]
            slope, off = _act.FLIP.get(act, (1.0, 0.0))
            contrib = np.array([A[:, j] if f > 0 else slope * A[:, j] for j, f in members])
            for j, f in members:
                if f < 0:
                    flip_const += off * A[:, j]
            out.append((members, contrib))
        return out, flip_const

    flips = (1.0, -1.0) if act in _act.FLIP and len(live) > 1 else (1.0,)
    groups, flip_const = grouping(flips)
    if c is None and np.abs(flip_const).max(initial=0.0) > out_tol and len(flips) > 1:
        # sigmoid flips leave constants that nothing absorbs: merge without flips
        groups, flip_const = grouping((1.0,))
    if c is not None:
        absorbed += flip_const
    kept_rows, kept_out, members_of, weights, cancelled = [], [], [], [], []
    for members, contrib in sorted(groups, key=lambda g: min(j for j, _ in g[0])):
        total = contrib.sum(axis=0)
        aligned = np.array([f * V[j] for j, f in members])
        if np.abs(total).max() <= out_tol:
            for j, f in members:
                kind[j], sign[j] = "cancelled", f
            cancelled.append([j for j, _ in members])
            spread = max(spread, float(np.abs(total).max()))
            continue
        mw = _merge_weights(contrib)
        u = mw @ aligned
        if np.linalg.norm(W[members[0][0]]) <= tol:
            u = np.zeros_like(u)
        spread = max(spread, float(np.linalg.norm(aligned - u, axis=1).max()))
        for j, f in members:
            sign[j] = f
            if len(members) > 1:
                kind[j] = "merged"
        # a change of the outgoing weights goes to the unflipped copies, in their proportions
        up = np.array([f > 0 for _, f in members])
        share = np.zeros(len(members))
        share[up] = _merge_weights(contrib[up])
        kept_rows.append(u)
        kept_out.append(total)
        members_of.append([j for j, _ in members])
        weights.append(share)
    r = len(kept_rows)
    n_v = V.shape[1]
    if r == 0:  # a constant function: keep one zero neuron
        kept_rows, kept_out, members_of, weights = [np.zeros(n_v)], [np.zeros(n_out)], [[]], [np.zeros(0)]
    Vr = np.array(kept_rows)
    Ar = np.array(kept_out).T
    narrow = _widened(net, 0, len(kept_rows))
    cr = None if c is None else c + absorbed
    point_r = narrow.flatten([(Vr[:, : net.n_in], None if b is None else Vr[:, -1]), (Ar, cr)])
    assign = np.full(m, -1)
    for g, members in enumerate(members_of):
        assign[members] = g
    change = None
    if land is not None:
        X = np.asarray(land.data.X, dtype=float)
        change = float(np.abs(narrow.predict(point_r, X) - net.predict(w, X)).max(initial=0.0))
    return Reduction(
        net=narrow,
        point=point_r,
        width=len(kept_rows),
        level=m - len(kept_rows),
        assign=assign,
        sign=sign,
        kind=tuple(kind),
        groups=members_of,
        spread=spread,
        function_change=change,
        tol=tol,
        original=w.copy(),
        wide=net,
        _weights=weights,
        _absorbed=absorbed,
        _cancelled=cancelled,
    )


# ------------------------------------------------------------------ teacher matching
@dataclass
class TeacherMatch:
    """Whether (and how) a student network realises a teacher network.

    Attributes
    ----------
    matched : bool
        True when the student computes the teacher's function through the
        symmetries below (``bool(match)`` is the same).
    reason : str
        Why not (empty when matched).
    teacher : ndarray of int, shape (m,)
        For each student neuron, the teacher neuron it copies, or -1.
    sign : ndarray of float, shape (m,)
        +1, or -1 for a flipped copy (incoming weights negated).
    kind : tuple of str
        Per student neuron: "teacher" (a copy), "flipped" (a sign-flipped copy),
        "extra" (a neuron absent from the teacher; its group's outgoing weights
        must cancel) or "constant" (zero incoming weights).
    outgoing : ndarray, shape (r, n_out)
        Realised outgoing weights per teacher neuron (flips counted with sign).
    offset : ndarray, shape (n_out,)
        The student's output minus the teacher's that is constant in the
        inputs: the constants of flipped sigmoid and constant neurons plus the
        student's output bias minus the teacher's; zero when matched.
    deviation : float
        Largest mismatch found (incoming vectors of matched neurons, outgoing
        sums, cancellations, offset), in the units of the weights.
    tol : float
        The absolute tolerance the decisions used.
    groups : list of list of int
        The groups of extra neurons sharing an incoming vector (up to sign).
    """

    matched: bool
    reason: str
    teacher: np.ndarray
    sign: np.ndarray
    kind: tuple[str, ...]
    outgoing: np.ndarray
    offset: np.ndarray
    deviation: float
    tol: float
    groups: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.matched)


def _one_hidden(net, name: str) -> MLP:
    if not isinstance(net, MLP):
        raise ValueError(f"{name}: expected a fastland.MLP, got {type(net).__name__}")
    if len(net.hidden) != 1:
        raise ValueError(f"{name}: expected a network with one hidden layer, got {net!r}")
    return net


def _default_net(p: int, name: str) -> MLP:
    if p % 3:
        raise ValueError(
            f"{name}: expected 3 m parameters (W (m x 2) then a (m)) for a teacher-student "
            f"network, got {p}; pass the network explicitly"
        )
    return MLP(2, [p // 3], 1, activation="sigmoid", loss="mse", bias=False)


def match_teacher(
    student,
    teacher,
    *,
    net: MLP | None = None,
    teacher_net: MLP | None = None,
    tol: float = 1e-6,
    merge_tol: float | None = None,
) -> TeacherMatch:
    """Decide whether a student network realises a teacher network exactly.

    The student realises the teacher when every student neuron is

    - a **copy** of a teacher neuron (same incoming weights and bias), the copies
      of each teacher neuron having outgoing weights that sum to the teacher's;
    - a **flipped copy** (incoming weights and bias negated; tanh or sigmoid):
      it counts with outgoing weight ``-a``; for sigmoid it also adds the
      constant ``a``, since ``a sigmoid(-z) = a - a sigmoid(z)``;
    - an **extra** neuron: extra neurons with equal incoming vectors (up to sign
      for tanh and sigmoid) must have outgoing weights that cancel;
    - a **constant** neuron (zero incoming weights), adding ``a act(b)``;

    and the constants add up to the teacher's output bias minus the student's
    (to zero without biases). This is exact functional equality when the
    teacher's neurons compute linearly independent functions (distinct, not
    sign-flipped copies of each other, non-zero), as for seed 004's teacher.

    The student is first reduced (:func:`reduce` at ``merge_tol``): copies are
    merged into one neuron (incoming vectors averaged with their outgoing
    weights as weights, outgoing weights summed), dead and cancelling neurons
    dropped; the reduced neurons are then compared with the teacher's at
    ``tol``. Copies that agree with each other only to ``merge_tol`` (as on the
    way to a split manifold, where the loss is quartic in their spread) are
    thereby matched through their weighted mean, which is much closer to the
    teacher neuron than each copy.

    Parameters
    ----------
    student : array_like, shape (p,)
        Student parameters.
    teacher : array_like, shape (r,)
        Teacher parameters.
    net, teacher_net : MLP, optional
        The two networks (one hidden layer each, same inputs, outputs,
        activation and bias setting). Default: seed 004's family
        ``MLP(2, [p // 3], 1, activation="sigmoid", loss="mse", bias=False)``.
    tol : float, default 1e-6
        Relative tolerance: quantities are equal when they differ by at most
        ``tol * max(1, max |teacher parameter|)``. Students trained by
        first-order methods match only to the accuracy they were trained to;
        the result's ``deviation`` says how close they came.
    merge_tol : float, optional
        Relative tolerance for merging student neurons (:func:`reduce`, in
        units of ``max(1, max |teacher parameter|)``); default ``tol``.

    Returns
    -------
    TeacherMatch
        The mapping (per student neuron: teacher index, sign, kind), or the
        reason the student does not realise the teacher.

    Examples
    --------
    >>> import numpy as np
    >>> import fastland as fl
    >>> from fastland.symmetry import match_teacher, split_neuron
    >>> ts = fl.datasets.teacher_student(spacing=1.0)
    >>> _, w5 = split_neuron(ts.teacher, ts.teacher_params, 2, (0.3, 0.7))
    >>> m = match_teacher(w5, ts.teacher_params)
    >>> bool(m), m.teacher.tolist()
    (True, [0, 1, 2, 2, 3])
    """
    s = check_finite_array("student", student, 1)
    t = check_finite_array("teacher", teacher, 1)
    snet = _default_net(s.size, "student") if net is None else _one_hidden(net, "net")
    tnet = _default_net(t.size, "teacher") if teacher_net is None else _one_hidden(teacher_net, "teacher_net")
    if s.size != snet.n_params:
        raise ValueError(f"student: expected {snet.n_params} parameters for {snet!r}, got {s.size}")
    if t.size != tnet.n_params:
        raise ValueError(f"teacher: expected {tnet.n_params} parameters for {tnet!r}, got {t.size}")
    for attr in ("n_in", "n_out", "activation", "bias"):
        if getattr(snet, attr) != getattr(tnet, attr):
            raise ValueError(
                f"teacher_net: expected the student's {attr} {getattr(snet, attr)!r}, got {getattr(tnet, attr)!r}"
            )
    tol = check_positive("tol", tol)
    merge_tol = tol if merge_tol is None else check_positive("merge_tol", merge_tol)
    act = snet.activation
    atol = tol * max(1.0, float(np.abs(t).max(initial=0.0)))
    m_full = snet.hidden[0]
    # merge split copies, drop dead and cancelling neurons (the map back gives per-neuron answers)
    red = reduce(snet, s, tol=merge_tol * max(1.0, float(np.abs(t).max(initial=0.0))))

    def parts(netw, w):
        (W, b), (A, c) = netw.unflatten(w)
        V = W if b is None else np.column_stack([W, b])
        return W, V, A, (np.zeros(netw.n_out) if c is None else c)

    Ws, Vs, As, cs = parts(red.net, red.point)
    Wt, Vt, At, ct = parts(tnet, t)
    m, r = Vs.shape[0], Vt.shape[0]
    slope_offset = _act.FLIP.get(act)
    teacher_r = np.full(m, -1)
    sign_r = np.ones(m)
    kind_r = ["extra"] * m
    deviation = float(red.spread)
    offset = cs - ct
    outgoing = np.zeros((r, snet.n_out))
    for j in range(m):
        if not red.groups[j]:  # the placeholder of a constant function
            kind_r[j] = "constant"
            continue
        if np.abs(Ws[j]).max(initial=0.0) <= atol:
            kind_r[j] = "constant"
            deviation = max(deviation, float(np.abs(Ws[j]).max(initial=0.0)))
            bj = Vs[j, -1] if snet.bias else 0.0
            offset = offset + As[:, j] * _act.value(act, np.array(bj))
            continue
        d_plus = np.abs(Vt - Vs[j]).max(axis=1)
        best, dist, sgn = int(np.argmin(d_plus)), float(d_plus.min()), 1.0
        if slope_offset is not None:
            d_minus = np.abs(Vt + Vs[j]).max(axis=1)
            if d_minus.min() < dist:
                best, dist, sgn = int(np.argmin(d_minus)), float(d_minus.min()), -1.0
        if dist <= atol:
            teacher_r[j], sign_r[j] = best, sgn
            kind_r[j] = "teacher" if sgn > 0 else "flipped"
            deviation = max(deviation, dist)
            if sgn > 0:
                outgoing[best] += As[:, j]
            else:
                slope, off = slope_offset
                outgoing[best] += slope * As[:, j]
                offset = offset + off * As[:, j]

    # per original neuron
    teacher_of = np.full(m_full, -1)
    sign = red.sign.copy()
    kind = ["extra"] * m_full
    for j in range(m_full):
        g = red.assign[j]
        if red.kind[j] == "constant":
            kind[j] = "constant"
        elif g >= 0:
            teacher_of[j] = teacher_r[g]
            sign[j] = red.sign[j] * sign_r[g]
            if kind_r[g] == "constant":
                kind[j] = "constant"
            elif teacher_r[g] >= 0:
                kind[j] = "teacher" if sign[j] > 0 else "flipped"
    groups: list[list[int]] = [list(g) for g in red._cancelled]
    groups += [[j] for j in range(m_full) if red.kind[j] == "dead"]

    def fail(reason: str) -> TeacherMatch:
        return TeacherMatch(False, reason, teacher_of, sign, tuple(kind), outgoing, offset, deviation, atol, groups)

    for j in range(m):
        if kind_r[j] != "extra":
            continue
        ids = sorted(red.groups[j])
        groups.append(ids)
        dev = float(np.abs(As[:, j]).max())
        deviation = max(deviation, dev)
        return fail(
            f"extra neurons {ids} (no teacher neuron has their incoming weights) have "
            f"outgoing weights summing to {As[:, j].tolist()}, not 0"
        )
    diff = np.abs(outgoing - At.T).max(axis=1)
    deviation = max(deviation, float(diff.max(initial=0.0)))
    for i in range(r):
        if diff[i] > atol:
            copies = [j for j in range(m_full) if teacher_of[j] == i]
            return fail(
                f"teacher neuron {i}: the student neurons copying it {copies} have outgoing "
                f"weights summing to {outgoing[i].tolist()}, expected {At[:, i].tolist()}"
            )
    dev = float(np.abs(offset).max(initial=0.0))
    deviation = max(deviation, dev)
    if dev > atol:
        what = "the output biases" if snet.bias else "0"
        return fail(
            f"constant offsets of flipped or constant neurons sum to {offset.tolist()}, they must cancel against {what}"
        )
    return TeacherMatch(True, "", teacher_of, sign, tuple(kind), outgoing, offset, deviation, atol, groups)
