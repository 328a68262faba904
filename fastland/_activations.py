"""Facts about the hidden-layer activations, in one place.

- ``CODES``: the kernel code of each activation name (:class:`fastland.MLP`).
- :func:`value` and :func:`derivatives`: the activation and its first three
  derivatives in NumPy/SciPy, independently of the compiled kernels (used to
  check them and by the certificates of :mod:`fastland.critical`).
- :func:`derivative_bounds`: sup over an interval of each derivative's size.
- The sign-flip symmetry of a hidden unit, ``act(-z) = slope * act(z) + offset``:
  ``FLIP`` maps each activation that has one to ``(slope, offset)``. With
  slope -1 the flip negates the unit's incoming and outgoing weights; an
  ``offset`` (sigmoid) must be absorbed by the next layer's bias for the
  function to stay the same. ``ODD`` (offset 0, slope -1: tanh, linear) flips
  need nothing else; ``EVEN`` (quadratic) flips leave the outgoing weights alone.
  relu and softplus have no flip: relu(-z) = relu(z) - z.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

from ._kernels import mlp as _mlp

__all__: list[str] = []  # private module

CODES = {
    "linear": _mlp.ACT_LINEAR,
    "tanh": _mlp.ACT_TANH,
    "sigmoid": _mlp.ACT_SIGMOID,
    "relu": _mlp.ACT_RELU,
    "softplus": _mlp.ACT_SOFTPLUS,
    "quadratic": _mlp.ACT_QUADRATIC,
}

#: act(-z) = slope * act(z) + offset
FLIP = {"linear": (-1.0, 0.0), "tanh": (-1.0, 0.0), "sigmoid": (-1.0, 1.0), "quadratic": (1.0, 0.0)}
#: flips that negate the outgoing weights and need no bias: act(-z) = -act(z)
ODD = tuple(a for a, so in FLIP.items() if so == (-1.0, 0.0))
#: flips that change nothing downstream: act(-z) = act(z)
EVEN = tuple(a for a, so in FLIP.items() if so == (1.0, 0.0))

# sigmoid'' has its extrema at +-C2, sigmoid''' at 0 and +-C3
_C2 = math.log(2.0 + math.sqrt(3.0))
_C3 = math.log(5.0 + 2.0 * math.sqrt(6.0))
# interior points where |act^(k)| can peak (the zeros of act^(k+1)), k = 0..3
_PEAKS = {
    "sigmoid": ((), (0.0,), (-_C2, _C2), (-_C3, 0.0, _C3)),
    "tanh": ((), (0.0,), (-_C2 / 2, _C2 / 2), (-_C3 / 2, 0.0, _C3 / 2)),
    "softplus": ((), (), (0.0,), (-_C2, _C2)),
    "linear": ((), (), (), ()),
    "quadratic": ((), (), (), ()),
}
#: activations whose derivatives :func:`derivative_bounds` can bound (smooth ones)
SMOOTH = tuple(_PEAKS)


def value(act: str, z) -> np.ndarray:
    """act(z), elementwise."""
    z = np.asarray(z, dtype=float)
    if act == "sigmoid":
        return expit(z)
    if act == "tanh":
        return np.tanh(z)
    if act == "softplus":
        return np.logaddexp(0.0, z)
    if act == "relu":
        return np.maximum(z, 0.0)
    if act == "quadratic":
        return z * z
    if act == "linear":
        return z
    raise ValueError(f"activation: expected one of {tuple(CODES)}, got {act!r}")


def _sigmoid_derivatives(z):
    s = expit(z)
    d1 = s * (1.0 - s)
    return s, d1, d1 * (1.0 - 2.0 * s), d1 * (1.0 - 6.0 * s + 6.0 * s * s)


def derivatives(act: str, z) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """act and its first three derivatives at z (relu: the one-sided derivatives at z > 0)."""
    z = np.asarray(z, dtype=float)
    if act == "sigmoid":
        return _sigmoid_derivatives(z)
    if act == "tanh":  # tanh(z) = 2 sigmoid(2z) - 1
        s0, s1, s2, s3 = _sigmoid_derivatives(2.0 * z)
        return 2.0 * s0 - 1.0, 4.0 * s1, 8.0 * s2, 16.0 * s3
    if act == "softplus":
        s0, s1, s2, _ = _sigmoid_derivatives(z)
        return np.logaddexp(0.0, z), s0, s1, s2
    if act == "quadratic":
        return z * z, 2.0 * z, np.full_like(z, 2.0), np.zeros_like(z)
    if act == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(float), np.zeros_like(z), np.zeros_like(z)
    if act == "linear":
        return z, np.ones_like(z), np.zeros_like(z), np.zeros_like(z)
    raise ValueError(f"activation: expected one of {tuple(CODES)}, got {act!r}")


def derivative_bounds(act: str, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """sup over [lo, hi] of |act^(k)|, k = 0..3, elementwise (smooth activations only)."""
    at_lo, at_hi = derivatives(act, lo), derivatives(act, hi)
    out = []
    for k in range(4):
        sup = np.maximum(np.abs(at_lo[k]), np.abs(at_hi[k]))
        for c in _PEAKS[act][k]:
            val = abs(float(derivatives(act, np.array(c))[k]))
            sup = np.where((lo <= c) & (c <= hi), np.maximum(sup, val), sup)
        out.append(sup * (1.0 + 1e-12))  # cover the rounding of the evaluations
    return out
