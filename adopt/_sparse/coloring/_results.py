"""Coloring results in the layout of the operators, and direct decompression.

Tangents sit on the leading axis: a result's ``seeds`` are ``k`` tangents stacked as a (k, n)
array (k, m for a row coloring), and its compressed ``products`` are what the operators give
for them -- forward products ``(k, m)``, reverse products ``(k, n)``, Hessian-vector products
``(k, n)``. Every result lists the structural nonzeros of its output in CSR order (``rows``,
``cols``, ``pattern``) and recovers them with ``decompress(products, ops, maps)``, written once
against a tiny namespace of array operations (:class:`Ops`), so that the same code runs in
NumPy (:data:`NUMPY_OPS`) and inside a JAX or PyTorch function (the backend's operations, with
``maps`` converted to its arrays once, at preparation).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, DTypeLike

from . import _check
from ._pattern import (IntArray, Pattern, as_colors, as_pattern, count, frozen, nonzeros,
                       select, symmetric_pattern, transpose)

Triangle = Literal["lower", "upper"]


class Ops(Protocol):
    """The array operations decompression uses (a backend's, or :data:`NUMPY_OPS`).

    ``take`` must accept repeated indices; arithmetic (``+``, ``-``) is the arrays' own.

    Examples
    --------
    >>> import numpy as np
    >>> NUMPY_OPS.segment_sum(np.array([1.0, 2.0, 3.0]), np.array([0, 1, 0]), 2)
    array([4., 2.])
    """

    def take(self, a: Any, idx: Any) -> Any:
        """``a[idx]`` for a 1-D ``a`` and an index array known to be in bounds."""

    def prefix_sum(self, a: Any) -> Any:
        """``[0, a[0], a[0] + a[1], ...]`` (length ``a.size + 1``) of a 1-D array."""

    def segment_sum(self, values: Any, segments: Any, size: int) -> Any:
        """``out[s] = sum of values[k] with segments[k] == s``, ``out`` of length ``size``."""

    def concat(self, arrays: list[Any]) -> Any:
        """The 1-D arrays joined end to end."""


class NumpyOps:
    """:class:`Ops` in NumPy.

    Examples
    --------
    >>> import numpy as np
    >>> NUMPY_OPS.prefix_sum(np.array([1.0, 2.0, 3.0]))
    array([0., 1., 3., 6.])
    """

    @staticmethod
    def take(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return a[idx]

    @staticmethod
    def prefix_sum(a: np.ndarray) -> np.ndarray:
        out = np.zeros(a.size + 1, dtype=a.dtype)
        np.cumsum(a, out=out[1:])
        return out

    @staticmethod
    def segment_sum(values: np.ndarray, segments: np.ndarray, size: int) -> np.ndarray:
        return np.bincount(segments, weights=values, minlength=size).astype(values.dtype,
                                                                             copy=False)

    @staticmethod
    def concat(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays)


NUMPY_OPS = NumpyOps()
"""The NumPy :class:`Ops`, the default of every ``decompress``."""


class DirectMaps(NamedTuple):
    """Index maps of a direct decompression: ``nonzeros = products.reshape(-1)[index]``.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.coloring import color
    >>> color(np.eye(2), "column", jit=False).maps
    DirectMaps(index=array([0, 1]))
    """

    index: IntArray


def index_array(a: np.ndarray) -> IntArray:
    """An index map as results hold it: contiguous, ``intp`` (int64), read-only (``a`` is a
    fresh array: it is frozen in place when it already has that form)."""
    return frozen(np.ascontiguousarray(a, dtype=np.intp))


def check_products(products: Any, k: int, size: int, where: str) -> None:
    """Raise unless ``products`` holds ``k`` products of ``size`` entries each."""
    shape = tuple(products.shape)
    if not shape or shape[0] != k or int(np.prod(shape[1:])) != size:
        raise ValueError(f"{where} needs products of shape ({k}, {size}), one for each seed; "
                         f"got shape {shape}: compute them from this result's seeds")


def one_hot(colors: IntArray, ncolors: int, dtype: DTypeLike) -> np.ndarray:
    """Seeds ``S`` of shape (ncolors, colors.size) with ``S[colors[j], j] = 1`` (no row for a
    negative color)."""
    seeds = np.zeros((ncolors, colors.size), dtype=dtype)
    used = np.flatnonzero(colors >= 0)
    seeds[colors[used], used] = 1
    return seeds


def _summary(obj: Any) -> str:
    """Readable repr: scalars in full, arrays as ``dtype[shape]``, patterns as shape and nnz."""
    parts = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray):
            text = f"{value.dtype}{list(value.shape)}"
        elif sp.issparse(value):
            text = f"<{value.shape[0]}x{value.shape[1]}, nnz={value.nnz}>"
        elif isinstance(value, tuple):  # index maps
            text = f"{type(value).__name__}(...)"
        else:
            text = repr(value)
        parts.append(f"{f.name}={text}")
    return f"{type(obj).__name__}({', '.join(parts)})"


class Result:
    """What every coloring result shares: read-only arrays and a short repr (not for direct
    use; see :class:`DirectColoring`, :class:`SubstitutionColoring`, :class:`Bicoloring`)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            for a in value if isinstance(value, tuple) else (value,):
                if isinstance(a, np.ndarray):
                    frozen(a)

    def __repr__(self) -> str:
        return _summary(self)


def triangle_mask(result: Any, triangle: Triangle | None) -> np.ndarray:
    """Which nonzeros of a symmetric result listing all of them lie in ``triangle``."""
    if result.triangle is not None:
        raise ValueError(f"select: this result lists the {result.triangle} triangle only; "
                         f"select from the result of color()")
    if triangle not in (None, "lower", "upper"):
        raise ValueError(f"select needs triangle None, 'lower' or 'upper'; got {triangle!r}")
    rows, cols = result.rows, result.cols
    if triangle is None:
        return np.ones(rows.size, dtype=bool)
    return rows >= cols if triangle == "lower" else rows <= cols


@dataclass(frozen=True, eq=False, repr=False)
class DirectColoring(Result):
    """A column, row or star coloring: each nonzero is read directly from one product.

    Attributes
    ----------
    kind : {"column", "row", "star"}
    pattern : scipy.sparse.csr_array
        The structure of the output (canonical boolean CSR): the Jacobian's, the symmetrised
        Hessian's ``P | P.T``, or one triangle of it (:meth:`select`).
    colors : np.ndarray of np.intp
        One color per column (column, star) or per row (row coloring).
    ncolors : int
        ``k``, the number of products.
    rows, cols : np.ndarray of np.intp, shape (nnz,)
        The nonzeros of ``pattern`` in CSR order: the order of the decompressed values.
    index : np.ndarray of np.intp, shape (nnz,)
        ``nonzeros = products.reshape(-1)[index]``, ``products`` the (k, m) forward products
        of a column coloring, the (k, n) reverse products of a row coloring, the (k, n)
        Hessian-vector products of a star coloring.
    triangle : {None, "lower", "upper"}
        The part of a symmetric pattern listed.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.coloring import color
    >>> J = np.array([[1., 2., 0.], [0., 3., 4.]])
    >>> result = color(J != 0, "column", jit=False)
    >>> result.ncolors, result.index
    (2, array([0, 2, 3, 1]))
    >>> products = result.seeds() @ J.T            # k forward products of shape (m,)
    >>> result.decompress(products)
    array([1., 2., 3., 4.])
    """

    kind: Literal["column", "row", "star"]
    pattern: sp.csr_array
    colors: IntArray
    ncolors: int
    rows: IntArray
    cols: IntArray
    index: IntArray
    triangle: Triangle | None = None

    @classmethod
    def from_colors(cls, pattern: Pattern, kind: Literal["column", "row", "star"],
                    colors: ArrayLike) -> DirectColoring:
        """The result of given colors; raises ValueError if they are not a valid coloring.

        Examples
        --------
        >>> import numpy as np
        >>> DirectColoring.from_colors(np.eye(2), "row", [0, 0]).index
        array([0, 1])
        """
        func = f"DirectColoring.from_colors({kind!r})"
        if kind == "star":
            return star_result(symmetric_pattern(pattern, func), colors, func)
        if kind not in ("column", "row"):
            raise ValueError(f"{func}: kind must be 'column', 'row' or 'star'; for an acyclic "
                             f"coloring use SubstitutionColoring, for a bicoloring Bicoloring")
        return one_sided(as_pattern(pattern, func), kind, colors, func)

    @property
    def maps(self) -> DirectMaps:
        """The index maps :meth:`decompress` reads (convert each to a backend array once)."""
        return DirectMaps(self.index)

    @property
    def column_colors(self) -> IntArray | None:
        """The colors of the columns (None for a row coloring)."""
        return None if self.kind == "row" else self.colors

    @property
    def row_colors(self) -> IntArray | None:
        """The colors of the rows (None for a column coloring)."""
        return None if self.kind == "column" else self.colors

    def seeds(self, dtype: DTypeLike = np.float64) -> np.ndarray:
        """The ``k`` seed tangents, shape (k, n) (k, m for a row coloring): ``S[c, j] = 1``
        where ``colors[j] == c``."""
        return one_hot(self.colors, self.ncolors, dtype)

    def decompress(self, products: Any, ops: Ops = NUMPY_OPS,
                   maps: DirectMaps | None = None) -> Any:
        """The nonzeros (in the order of ``rows``, ``cols``) from the (k, m) forward or (k, n)
        reverse or Hessian-vector products of the seeds."""
        size = self.pattern.shape[0 if self.kind == "column" else 1]
        check_products(products, self.ncolors, size, "DirectColoring.decompress")
        maps = self.maps if maps is None else maps
        return ops.take(products.reshape(-1), maps.index)

    def select(self, triangle: Triangle | None) -> DirectColoring:
        """The same star coloring listing only the ``"lower"`` or ``"upper"`` triangle (with the
        diagonal), or every nonzero (None).

        Examples
        --------
        >>> import numpy as np
        >>> from adopt._sparse.coloring import color
        >>> H = np.array([[2., 1.], [1., 3.]])
        >>> lower = color(H != 0, "star", jit=False).select("lower")
        >>> lower.rows, lower.cols, lower.decompress(lower.seeds() @ H)
        (array([0, 1, 1]), array([0, 0, 1]), array([2., 1., 3.]))
        """
        if self.kind != "star":
            raise ValueError(f"select: a {self.kind} coloring has no triangle; only symmetric "
                             f"(star, acyclic) colorings do")
        keep = triangle_mask(self, triangle)
        return replace(self, pattern=select(self.pattern, keep), rows=self.rows[keep],
                       cols=self.cols[keep], index=self.index[keep], triangle=triangle)


def one_sided(csr: sp.csr_array, kind: str, colors: ArrayLike, func: str,
              check: bool = True) -> DirectColoring:
    """The result of column (row) colors, checked unless they come from a greedy coloring."""
    m, n = csr.shape
    rows, cols = nonzeros(csr)
    if kind == "column":
        colors = as_colors(colors, n, func, "column")
        if check:
            _check.lines(csr, colors, func, ("column", "row"))
        index = flat_index(colors[cols], m, rows)
    else:
        colors = as_colors(colors, m, func, "row")
        if check:
            _check.lines(transpose(csr), colors, func, ("row", "column"))
        index = flat_index(colors[rows], n, cols)
    return DirectColoring(kind, csr, colors, count(colors), index_array(rows),
                          index_array(cols), index_array(index))


def flat_index(product: IntArray, size: int, position: IntArray) -> IntArray:
    """``product * size + position`` computed in place in ``product`` (a fresh array): the
    position of each nonzero in the flattened (k, size) products, in one array of nnz entries
    instead of three."""
    product *= size
    product += position
    return product


def star_result(csr: sp.csr_array, colors: ArrayLike, func: str,
                mirror: IntArray | None = None) -> DirectColoring:
    """Nonzero ``(i, j)`` is read in row ``colors[j]`` of the products at ``i`` when ``j`` is
    the only column of its color in row ``i``, else in row ``colors[i]`` at ``j``."""
    n = csr.shape[0]
    colors = as_colors(colors, n, func, "vertex")
    direct = _check.star_direct(csr, colors, func, mirror)
    rows, cols = nonzeros(csr)
    index = flat_index(colors[cols], n, rows)
    other = np.flatnonzero(~direct)  # read in the column's product instead
    index[other] = flat_index(colors[rows[other]], n, cols[other])
    return DirectColoring("star", csr, colors, count(colors), index_array(rows),
                          index_array(cols), index_array(index))
