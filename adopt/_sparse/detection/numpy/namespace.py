"""The array-API namespace of :class:`NumpyTracer`: NumPy 2's main namespace with creation
functions that make tracers (so that ``xp.zeros(n)`` buffers can hold traced values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.numpy.tracer import NumpyTracer, creation, lift

__all__ = ["Namespace"]


@dataclass(frozen=True)
class Namespace:
    """``x.__array_namespace__()`` of a tracer; equal for every tracer of one detection.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.detection.numpy import run
    >>> _, x, _ = run(lambda x: x, np.ones(2), (), hessian=False)
    >>> xp = x.__array_namespace__()
    >>> xp.zeros(3), xp.linalg.norm is np.linalg.norm
    (NumpyTracer(shape=(3,), dtype=float64), True)
    """

    trace: A.Trace
    __array_api_version__ = "2023.12"

    @property
    def linalg(self) -> Any:
        return np.linalg

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    def asarray(self, obj, /, *, dtype=None, device=None, copy=None):
        obj = lift(self.trace, obj)
        if isinstance(obj, NumpyTracer):
            if dtype is not None:
                return obj.astype(dtype, copy=bool(copy))
            return obj.copy() if copy else obj
        return np.asarray(obj, dtype=dtype, copy=copy)

    def astype(self, x, dtype, /, *, copy=True, device=None):
        if isinstance(x, NumpyTracer):
            return x.astype(dtype, copy=copy)
        return np.astype(x, dtype, copy=copy)

    def _make(self, shape, dtype, fill=None):
        dtype = np.dtype(dtype if dtype is not None else np.float64)
        if not np.issubdtype(dtype, np.inexact):
            return np.full(shape, fill if fill is not None else 0, dtype=dtype)
        return creation(self.trace, shape, dtype)

    def zeros(self, shape, *, dtype=None, device=None):
        return self._make(shape, dtype, 0)

    def ones(self, shape, *, dtype=None, device=None):
        return self._make(shape, dtype, 1)

    def empty(self, shape, *, dtype=None, device=None):
        return self._make(shape, dtype, 0)

    def full(self, shape, fill_value, *, dtype=None, device=None):
        if isinstance(fill_value, NumpyTracer):
            return np.full(shape, fill_value, dtype=dtype, like=fill_value)
        return self._make(shape, dtype if dtype is not None else np.result_type(fill_value),
                          fill_value)

    def sort(self, x, /, *, axis=-1, descending=False, stable=True):
        return np.sort(x, axis=axis)
