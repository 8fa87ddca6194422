"""The traced value of the graph interpreters (JAX jaxprs, PyTorch FX graphs)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from adopt._sparse.detection.algebra import broadcast_rows, empty, is_arange, take

__all__ = ["TracedValue"]


class TracedValue:
    """An array whose values are unknown: its shape, dtype and dependency rows ``D``.

    ``D`` is a boolean CSR matrix of shape ``(size, n)`` over the elements in C order (see
    :mod:`adopt._sparse.detection.algebra`). The interpreters keep known values (constants,
    index arithmetic) as plain arrays and only the others as traced values.

    The result of a data movement is made by :meth:`gathered`: its rows are ``base[index]``
    and are only gathered when an operation needs them, so that a chain of movements (slice,
    reshape, concatenate, ...) composes integer index arrays instead of copying rows.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from adopt._sparse.detection.values import TracedValue
    >>> v = TracedValue((1, 2), np.dtype("float64"), sp.eye_array(2, dtype=bool, format="csr"))
    >>> v.rows((3, 2)).toarray().astype(int)  # broadcast to (3, 2)
    array([[1, 0],
           [0, 1],
           [1, 0],
           [0, 1],
           [1, 0],
           [0, 1]])
    >>> w = TracedValue.gathered((3,), v.dtype, v.D, np.array([1, -1, 1]))  # a movement
    >>> w.traced, w.D.toarray().astype(int)
    (True, array([[0, 1],
           [0, 0],
           [0, 1]]))
    """

    __slots__ = ("shape", "dtype", "_D", "_base", "_index")

    def __init__(self, shape: tuple, dtype: Any, D: sp.csr_array):
        self.shape = tuple(shape)
        self.dtype = dtype
        self._D = D
        self._base = self._index = None

    @classmethod
    def gathered(cls, shape: tuple, dtype: Any, base: sp.csr_array,
                 index: np.ndarray) -> TracedValue:
        """The value with rows ``base[index]`` (``-1``: no dependencies), gathered on use."""
        if index.size and index.max() >= base.shape[0]:
            raise IndexError(f"row {index.max()} of a matrix of {base.shape[0]} rows")
        if is_arange(index, base.shape[0]):
            return cls(shape, dtype, base)
        if base.nnz == 0:
            return cls(shape, dtype, empty(index.size, base.shape[1]))
        v = cls(shape, dtype, None)
        v._base, v._index = base, index
        return v

    @property
    def D(self) -> sp.csr_array:
        """The dependency rows."""
        if self._D is None:
            self._D = take(self._base, self._index)
            self._base = self._index = None
        return self._D

    def source(self) -> tuple[sp.csr_array, np.ndarray | None]:
        """``(base, index)`` with rows ``base[index]``; index None: the rows of base in order."""
        if self._D is not None:
            return self._D, None
        return self._base, self._index

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def traced(self) -> bool:
        """Whether some element may depend on an input (a gathered value: whether its base
        has dependencies; a rule on rows that turn out empty gives empty rows)."""
        return (self._base if self._D is None else self._D).nnz > 0

    def rows(self, shape: tuple | None = None) -> sp.csr_array:
        """Dependency rows, broadcast to ``shape`` if given."""
        if shape is None or tuple(shape) == self.shape:
            return self.D
        select = broadcast_rows(self.shape, tuple(shape))
        if self._D is None:
            return take(self._base, self._index[select])
        return take(self._D, select)

    def __repr__(self) -> str:
        return f"TracedValue(shape={self.shape}, dtype={self.dtype})"
