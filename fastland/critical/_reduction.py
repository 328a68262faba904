"""Exactly symmetric critical points near a point, found by reduction to a narrower network.

Shared by :func:`~fastland.critical.refine` (``reduce=True``, the reduction
jump) and :func:`~fastland.critical.classify` (step 6): a point of a
one-hidden-layer network is reduced with :func:`fastland.symmetry.reduce`
(merge the closest copies, drop the smallest outgoing weights), the narrow
point is refined in the narrow network and mapped back with
:meth:`fastland.symmetry.Reduction.expand`.
"""

from __future__ import annotations

import numpy as np

from .. import symmetry
from ..landscape import Landscape
from ._solvers import _newton, _Solved

_REDUCTION_TRIES = 4  # distinct narrower widths tried per point
_REDUCTION_NEWTON = 50  # "newton" iterations on a narrow network


def _narrow_starts(land: Landscape, P: np.ndarray, idx) -> list[tuple[Landscape, list, np.ndarray]]:
    """Candidate reductions of ``P[idx]``, grouped by narrow width.

    Per point: :func:`fastland.symmetry.reduce` at its ascending
    :func:`fastland.symmetry.merge_heights`, keeping the first
    ``_REDUCTION_TRIES`` that give distinct narrower widths. Returns, per
    narrow width, the narrow landscape, the (point index, Reduction) pairs and
    the narrow points stacked (B', p').
    """
    by_width: dict[int, list] = {}
    for i in idx:
        w = P[i]
        if not np.isfinite(w).all():
            continue
        tried: set[int] = set()
        for h in symmetry.merge_heights(land.net, w):
            red = symmetry.reduce(land.net, w, tol=float(h))
            if red.level == 0 or red.width in tried:
                continue
            tried.add(red.width)
            by_width.setdefault(red.width, []).append((int(i), red))
            if len(tried) >= _REDUCTION_TRIES:
                break
    groups = []
    for items in by_width.values():
        net = items[0][1].net
        nl = Landscape(net, land.data, dtype=land.dtype, weight_decay=land.weight_decay)
        groups.append((nl, items, np.array([red.point for _, red in items])))
    return groups


def _expanded(items: list, solved: _Solved) -> list[tuple[int, int, np.ndarray]]:
    """(point index, level, w*) for the narrow points that converged, mapped back to the wide network."""
    return [(i, red.level, red.expand(solved.points[k])) for k, (i, red) in enumerate(items) if solved.converged[k]]


def _reduction_candidates(land: Landscape, P: np.ndarray, idx, tol_grad, safety: float) -> list:
    """Exactly symmetric critical points near ``P[idx]``, found by reduction.

    The narrow points of :func:`_narrow_starts` are refined with "newton"
    (batched per narrow width) and the converged ones mapped back with
    :meth:`fastland.symmetry.Reduction.expand`. Returns (point index, level,
    w*) triples.
    """
    out = []
    for nl, items, starts in _narrow_starts(land, P, idx):
        out += _expanded(items, _newton(nl, starts, tol_grad, _REDUCTION_NEWTON, safety))
    return out
