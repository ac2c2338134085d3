"""Array checks that raise :class:`TraceError` naming the array, what was expected and seen."""

from __future__ import annotations

import numpy as np

from tracegen.errors import TraceError


def as_float_array(name: str, value: object, dtype: type = np.float64) -> np.ndarray:
    """``np.asarray(value, dtype)`` that names ``value`` when it is not numeric."""
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TraceError(f"{name} must be a numeric array, got {type(value).__name__}: {exc}") from exc


def check_last_dim(name: str, array: np.ndarray, size: int) -> None:
    """Require ``array.shape[-1] == size``."""
    if array.ndim == 0 or array.shape[-1] != size:
        raise TraceError(f"{name} must have a last dimension of {size}, got shape {array.shape}")


def check_finite(name: str, array: np.ndarray, what: str = "values") -> None:
    """Require every entry to be finite; report how many are not and where the first is."""
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise TraceError(
            f"{name} has {int(bad.sum())} non-finite {what} (NaN or inf), the first at index "
            f"{first}: {array[first]!r}"
        )
