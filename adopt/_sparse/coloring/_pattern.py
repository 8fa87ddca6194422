"""Sparsity patterns and colors as the coloring package reads them.

A *pattern* is any ``scipy.sparse`` matrix or array (its stored entries, explicit zeros
included, are the structural nonzeros) or a dense array (its nonzero entries). It is read once
into a canonical boolean CSR array (sorted, no duplicates) whose index arrays are read-only;
the nonzeros of a pattern are listed in that CSR order, row by row.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]
Pattern = Union[sp.sparray, sp.spmatrix, ArrayLike]


def frozen(a: np.ndarray) -> np.ndarray:
    """``a`` made read-only (in place) and returned."""
    a.setflags(write=False)
    return a


def as_pattern(pattern: Pattern, func: str) -> sp.csr_array:
    """Canonical boolean CSR pattern (sorted, no duplicates, explicit zeros kept)."""
    if sp.issparse(pattern):
        if pattern.ndim != 2:
            raise ValueError(f"{func} needs a 2-D sparsity pattern; got a sparse array of shape "
                             f"{pattern.shape}: pass an (m, n) matrix")
        csr = sp.csr_array(pattern)
    else:
        dense = np.asarray(pattern)
        if dense.ndim != 2:
            raise ValueError(f"{func} needs a 2-D sparsity pattern; got an array of shape "
                             f"{dense.shape}: pass an (m, n) matrix")
        csr = sp.csr_array(dense != 0)
    out = sp.csr_array((np.ones(csr.nnz, dtype=bool), csr.indices.copy(), csr.indptr.copy()),
                       shape=csr.shape)
    out.sum_duplicates()
    frozen(out.indices), frozen(out.indptr)
    return out


def symmetric_pattern(pattern: Pattern, func: str) -> sp.csr_array:
    """Canonical boolean CSR of ``P | P.T``; errors for a non-square pattern."""
    csr = as_pattern(pattern, func)
    if csr.shape[0] != csr.shape[1]:
        raise ValueError(f"{func} needs a square (symmetric) Hessian pattern; got shape "
                         f"{csr.shape}; for a Jacobian use a column, row or "
                         f"bicoloring")
    flipped = transpose(csr)
    if np.array_equal(flipped.indptr, csr.indptr) and np.array_equal(flipped.indices, csr.indices):
        return csr
    return as_pattern(csr + flipped, func)


def transpose(csr: sp.csr_array) -> sp.csr_array:
    """The canonical CSR of ``csr.T`` (its rows are the columns of ``csr``)."""
    out = csr.T.tocsr()
    out.has_canonical_format = True  # a CSR built from a canonical CSC is sorted and unique
    frozen(out.indices), frozen(out.indptr)
    return out


def row_indices(csr: sp.csr_array) -> IntArray:
    """The row of each stored entry, in CSR order."""
    return np.repeat(np.arange(csr.shape[0], dtype=np.intp), np.diff(csr.indptr))


def nonzeros(csr: sp.csr_array) -> tuple[IntArray, IntArray]:
    """Row and column indices of the stored entries, in CSR order, as ``intp``."""
    return row_indices(csr), csr.indices.astype(np.intp)


def mirror_positions(csr: sp.csr_array) -> IntArray:
    """For the nonzeros of a symmetric CSR pattern, the CSR position of each one's transpose.

    Transposing a matrix whose values are the positions lists, in the (shared) CSR order, the
    position each entry had in the original.
    """
    positions = sp.csr_array((np.arange(csr.nnz, dtype=np.intp), csr.indices, csr.indptr),
                             shape=csr.shape)
    return positions.T.tocsr().data


def select(csr: sp.csr_array, keep: BoolArray) -> sp.csr_array:
    """The canonical pattern of the stored entries where ``keep`` is True."""
    counts = np.bincount(row_indices(csr)[keep], minlength=csr.shape[0])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(csr.indptr.dtype)
    out = sp.csr_array((np.ones(int(counts.sum()), dtype=bool), csr.indices[keep], indptr),
                       shape=csr.shape)
    out.has_canonical_format = True
    frozen(out.indices), frozen(out.indptr)
    return out


def as_colors(colors: ArrayLike, size: int, func: str, what: str) -> IntArray:
    """Validated read-only copy of ``colors`` as a 1-D non-negative ``intp`` array."""
    arr = np.asarray(colors)
    if arr.shape != (size,):
        raise ValueError(f"{func} needs one color per {what}: got colors of shape {arr.shape} "
                         f"for {size} {what}s; compute them from the same pattern")
    if size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{func} needs integer colors; got dtype {arr.dtype}: pass the colors "
                         f"of a coloring result")
    if size and arr.min() < 0:
        where = int(np.argmin(arr))
        raise ValueError(f"{func} needs 0-based non-negative colors; {what} {where} has color "
                         f"{int(arr[where])}: give every {what} a color >= 0")
    return frozen(np.array(arr, dtype=np.intp))


def count(colors: IntArray) -> int:
    """The number of colors ``0 .. max``."""
    return int(colors.max()) + 1 if colors.size else 0


def group_counts(first: IntArray, second: IntArray) -> IntArray:
    """For each pair ``(first[k], second[k])``, how many pairs are equal to it."""
    if first.size == 0:
        return np.zeros(0, dtype=np.intp)
    keys = first * (int(second.max()) + 1) + second
    if keys.max() < 8 * keys.size + 1024:
        return np.bincount(keys)[keys]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse]
