"""JSON conversion shared by the experiments' ``to_dict()`` and summary files.

JSON has no NaN or infinity: non-finite numbers become ``null``.
"""

from __future__ import annotations

import math

import numpy as np


def json_default(v):
    """``json.dumps(..., default=json_default)``: NumPy scalars and arrays as Python values."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def finite_or_none(v):
    """A number as int (integers) or float, or None when it is None, NaN or infinite."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else None


def finite_list(a) -> list:
    """An array (any depth) as nested lists of :func:`finite_or_none` values; booleans stay booleans."""
    a = np.asarray(a)
    if a.ndim == 0:
        return finite_or_none(a.item())
    if a.dtype == bool:
        return a.tolist()
    if a.ndim > 1:
        return [finite_list(x) for x in a]
    return [finite_or_none(v) for v in a.astype(float)]
