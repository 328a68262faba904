"""The project's single jit decorator.

Every Numba function in fastland is compiled through :func:`jit` so that the
options live in one place: on-disk caching and NumPy's error model (division by
zero gives inf/nan instead of raising, which the samplers rely on to reject).
``fastmath`` stays off everywhere: it would let LLVM delete ``isfinite`` checks.
"""

from __future__ import annotations

import numba

__all__ = ["jit"]

_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}


def jit(fn=None, *, parallel: bool = False, reassociate: bool = False, contract: bool = False, inline: bool = False):
    """Compile ``fn`` with fastland's Numba options.

    Parameters
    ----------
    fn : callable, optional
        The function to compile. When omitted, a decorator is returned.
    parallel : bool, default False
        Exception to the defaults, for kernels that ``prange`` over chains,
        runs or parameter points.
    reassociate : bool, default False
        Exception to the defaults, for pure reductions (sums over data points)
        that must vectorise: allows reassociation and fused multiply-add only,
        never the no-NaN / no-inf assumptions.
    contract : bool, default False
        Exception to the defaults, for element-wise loops over data points
        that evaluate the :mod:`fastland._kernels.vmath` polynomials: allows
        fused multiply-add only (about 25% faster exp / sigmoid / tanh, at least
        as accurate). No reassociation, NaN/inf semantics kept; the results are
        deterministic (the same compiled code serves serial and parallel calls).
    inline : bool, default False
        Exception to the defaults, for the small branch-free functions of
        :mod:`fastland._kernels.vmath`: inline the body into the caller's Numba
        IR. A Numba function that stays a call returns an error status that the
        caller tests after every element, and that branch stops LLVM from
        vectorising the loop around it.
    """
    options = dict(_OPTIONS)
    if parallel:
        options["parallel"] = True  # exception: only the batch drivers use prange
    if reassociate:
        options["fastmath"] = {"reassoc", "contract"}  # exception: SIMD sums; NaN/inf semantics kept
    elif contract:
        options["fastmath"] = {"contract"}  # exception: FMA in element-wise vmath loops; NaN/inf kept

    if inline:
        options["inline"] = "always"  # exception: vmath elementary functions must inline to vectorise

    def wrap(f):
        return numba.njit(**options)(f)

    return wrap if fn is None else wrap(fn)
