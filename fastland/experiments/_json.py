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


def jsonable(v):
    """``v`` as plain JSON values: dicts (str keys), lists, str, bool, int, float (finite) and None.

    NumPy scalars and arrays become Python values and lists (:func:`finite_list`),
    non-finite numbers None, tuples lists, anything else (a path) its ``str``.
    """
    if v is None or isinstance(v, (str, bool)):
        return v
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return finite_list(v) if v.dtype.kind in "biuf" else [jsonable(x) for x in v.tolist()]
    if isinstance(v, (int, float, np.generic)):
        return finite_or_none(v) if not isinstance(v, np.str_) else str(v)
    return str(v)
