"""Checks and conversions at the API boundary (one place, one wording)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

__all__ = [
    "as_dtype",
    "check_choice",
    "check_finite_array",
    "check_int",
    "check_positive",
    "check_params",
]

_DTYPES = {"float64": np.float64, "float32": np.float32}


def as_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Return float64 or float32 from a name, NumPy dtype or type; else ValueError naming ``name``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _DTYPES:
        raise ValueError(f"{name}: expected 'float64' or 'float32', got {dtype!r}")
    return dt


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``; else ValueError naming them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is True or False (NumPy booleans too); else ValueError.

    Strings such as "no" are refused: they are truthy, so accepting them would
    silently mean True.
    """
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def check_int(name: str, value, minimum: int = 0) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum``; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def check_positive(name: str, value, allow_zero: bool = False) -> float:
    """Return ``value`` as float if finite and > 0 (>= 0 with allow_zero)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a finite real number, got {value!r}")
    v = float(value)
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
    return v


def check_finite_array(name: str, value, ndim: int | tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """Convert to a C-contiguous array of ``dtype`` with the given ndim(s), all finite."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name}: expected a numeric array, got {type(value).__name__}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):  # converting would drop the imaginary part
        raise ValueError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name}: expected a {want} array, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not arr.flags.writeable:  # read-only is another Numba type: a second compile of every kernel
        arr = arr.copy()
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: expected finite values, found {bad} NaN or inf")
    return arr


def check_params(name: str, value, n_params: int, dtype=np.float64) -> np.ndarray:
    """A parameter vector (p,) or batch (B, p) as a finite C-contiguous array."""
    arr = check_finite_array(name, value, (1, 2), dtype)
    if arr.shape[-1] != n_params:
        raise ValueError(
            f"{name}: expected shape ({n_params},) or (B, {n_params}) for a model with "
            f"{n_params} parameters, got {arr.shape}"
        )
    if arr.ndim == 2 and arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one parameter vector, got shape {arr.shape}")
    return arr
