"""Convergence targets for ``fl.sample(..., until=...)`` and the check that decides them.

R-hat and ESS of raw weights say little about a neural network's landscape: every
minimum has exact copies under hidden-unit permutations and sign flips (64 for
seed 001's net), so chains that agree on the landscape still disagree on the
weights. The check therefore looks at

- ``"loss"``: U of the draws;
- ``"outputs"``: the network's outputs at the data points (function space);
- ``"canonical"``: the weights mapped to :func:`fastland.geometry.canonical_form`
  (one representative per symmetry orbit);
- ``"raw"``: the raw weights (not a default; for comparison).

A quantity with several components counts by its worst one: the largest rank-normalised
split R-hat and the smallest bulk and tail ESS (:mod:`fastland.diagnostics`, ArviZ's
definitions). Components that are constant over all draws are left out.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from . import diagnostics, geometry
from .landscape import Landscape

__all__ = ["QUANTITIES", "Convergence", "ConvergenceCheck", "check"]

QUANTITIES = ("loss", "outputs", "canonical", "raw")


@dataclass(frozen=True)
class Convergence:
    """Targets and budget for sampling until converged.

    Parameters
    ----------
    rhat : float, default 1.01
        Largest split R-hat allowed on every quantity (> 1).
    ess : float, default 400
        Smallest bulk and tail ESS required on every quantity (> 0).
    quantities : tuple of str, default ("loss", "outputs", "canonical")
        What the targets apply to (see the module notes): any of ``QUANTITIES``.
    max_steps : int, optional
        Budget of stored-phase steps per chain (draws x thin, warm-up not
        counted). With it, ``thin`` is raised so that the budget fits in
        ``max_draws`` stored draws: the file's size is bounded by the budget.
    max_seconds : float, optional
        Budget of wall-clock seconds for the whole call (warm-up included);
        the run stops at the first check past it.
    max_draws : int, default 4000
        Most stored draws per chain.
    check_draws : int, default 500
        Draws per chain (evenly spaced) that the outputs and canonical checks use.

    Notes
    -----
    The run starts with the ``draws`` given to :func:`fastland.sample` and doubles its
    length until the targets are met or a budget runs out. Each extension continues
    the chains exactly (a resume in the same process), so the result equals a
    fixed-length run with the final number of draws and the same seed and thin.
    """

    rhat: float = 1.01
    ess: float = 400.0
    quantities: tuple = ("loss", "outputs", "canonical")
    max_steps: int | None = None
    max_seconds: float | None = None
    max_draws: int = 4000
    check_draws: int = 500

    def __post_init__(self) -> None:
        if not (_real(self.rhat) and self.rhat > 1.0):
            raise ValueError(f"rhat: expected a number > 1, got {self.rhat!r}")
        if not (_real(self.ess) and self.ess > 0):
            raise ValueError(f"ess: expected a positive number, got {self.ess!r}")
        q = (self.quantities,) if isinstance(self.quantities, str) else tuple(self.quantities)
        if not q or any(x not in QUANTITIES for x in q):
            raise ValueError(f"quantities: expected a non-empty selection of {QUANTITIES}, got {self.quantities!r}")
        object.__setattr__(self, "quantities", q)
        for name in ("max_steps", "max_draws", "check_draws"):
            v = getattr(self, name)
            if v is None and name == "max_steps":
                continue
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 4:
                raise ValueError(f"{name}: expected an integer >= 4, got {v!r}")
        if self.max_seconds is not None and not (_real(self.max_seconds) and self.max_seconds > 0):
            raise ValueError(f"max_seconds: expected a positive number of seconds, got {self.max_seconds!r}")

    def thin_for(self, thin: int) -> int:
        """The thinning that fits ``max_steps`` into ``max_draws`` stored draws (at least ``thin``)."""
        if self.max_steps is None:
            return thin
        return max(thin, math.ceil(self.max_steps / self.max_draws))

    def draw_budget(self, thin: int) -> int:
        """Most stored draws per chain the budget allows at this thinning."""
        if self.max_steps is None:
            return self.max_draws
        return max(1, min(self.max_draws, self.max_steps // thin))

    def to_dict(self) -> dict:
        """The targets as JSON-able values."""
        return {
            "rhat": float(self.rhat),
            "ess": float(self.ess),
            "quantities": list(self.quantities),
            "max_steps": self.max_steps,
            "max_seconds": self.max_seconds,
            "max_draws": self.max_draws,
            "check_draws": self.check_draws,
        }


@dataclass
class ConvergenceCheck:
    """The diagnostics of one check against :class:`Convergence` targets.

    Attributes
    ----------
    n_draws : int
        Stored draws per chain the check looked at.
    rhat, ess_bulk, ess_tail : dict
        Quantity name -> worst value over its components.
    met : bool
        Whether every quantity meets every target.
    failing : list of str
        Human-readable reasons, e.g. ``"canonical: R-hat 1.034 > 1.01"``.
    """

    n_draws: int
    rhat: dict = field(default_factory=dict)
    ess_bulk: dict = field(default_factory=dict)
    ess_tail: dict = field(default_factory=dict)
    met: bool = False
    failing: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {
            "n_draws": self.n_draws,
            "rhat": self.rhat,
            "ess_bulk": self.ess_bulk,
            "ess_tail": self.ess_tail,
            "met": self.met,
            "failing": list(self.failing),
        }


def _real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _worst(x: np.ndarray) -> tuple[float, float, float]:
    """(max R-hat, min bulk ESS, min tail ESS) over the non-constant components of x (chain, draw, k)."""
    x = x.reshape(x.shape[0], x.shape[1], -1)
    keep = np.ptp(x.reshape(-1, x.shape[2]), axis=0) > 0
    if not keep.any():
        return 1.0, math.inf, math.inf
    x = x[:, :, keep]
    r = np.asarray(diagnostics.rhat(x), dtype=float)
    eb = np.asarray(diagnostics.ess_bulk(x), dtype=float)
    et = np.asarray(diagnostics.ess_tail(x), dtype=float)
    return float(np.nanmax(r)), float(np.nanmin(eb)), float(np.nanmin(et))


def check(draws, loss, land: Landscape, targets: Convergence) -> ConvergenceCheck:
    """Diagnose stored draws against ``targets``.

    Parameters
    ----------
    draws : array_like, shape (chain, draw, p)
        The stored parameter vectors (an array or a run's lazy array).
    loss : array_like, shape (chain, draw)
        Their losses.
    land : Landscape
        The landscape sampled (for outputs and canonical forms).
    targets : Convergence

    Returns
    -------
    ConvergenceCheck
    """
    loss = np.asarray(loss[:], dtype=float)
    C, D = loss.shape
    if C < 2 or D < 4:
        out = ConvergenceCheck(n_draws=D, met=False, failing=["need at least 2 chains and 4 draws"])
        return out
    step = max(1, math.ceil(D / targets.check_draws))
    need_w = any(q != "loss" for q in targets.quantities)
    W = np.asarray(draws[:, ::step], dtype=float) if need_w else None
    res = ConvergenceCheck(n_draws=D)
    for q in targets.quantities:
        if q == "loss":
            x = loss[:, :, None]
        elif q == "outputs":
            x = land.predict(W.reshape(-1, W.shape[2])).reshape(W.shape[0], W.shape[1], -1)
        elif q == "canonical":
            x = geometry.canonical_form(land.net, W.reshape(-1, W.shape[2])).reshape(W.shape)
        else:
            x = W
        r, eb, et = _worst(x)
        res.rhat[q], res.ess_bulk[q], res.ess_tail[q] = r, eb, et
        if not r <= targets.rhat:
            res.failing.append(f"{q}: R-hat {r:.4g} > {targets.rhat}")
        if not min(eb, et) >= targets.ess:
            res.failing.append(f"{q}: ESS {min(eb, et):.4g} < {targets.ess:g}")
    res.met = not res.failing
    return res
