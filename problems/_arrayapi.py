"""The one array-API helper of the problem library: a namespace and a constant converter."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adopt import MissingDependencyError

__all__ = ["namespace"]


def namespace(x: Any) -> tuple[Any, Callable[[np.ndarray], Any]]:
    """``(xp, asarray)`` for the array ``x``: its array-API namespace, and a function that
    turns a NumPy constant (problem data) into an array of that namespace, so that problem
    functions mix their data with ``x`` on NumPy, JAX and PyTorch alike.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt.problems._arrayapi import namespace
    >>> xp, asarray = namespace(np.zeros(2))
    >>> xp.sum(asarray(np.ones(3)) * 2.0)
    np.float64(6.0)
    """
    try:
        from array_api_compat import array_namespace
    except ImportError as e:  # pragma: no cover - exercised when array-api-compat is absent
        raise MissingDependencyError(
            "adopt.problems writes every problem against the array API and needs "
            "array-api-compat: pip install 'adopt[arrayapi]'") from e
    xp = array_namespace(x)
    return xp, xp.asarray
