"""The graphs that are colored, as the CSR arrays the kernels read (see ``_kernels.py``).

* Column (row) coloring: the bipartite graph of the pattern, walked from a column through its
  rows to the other columns (from a row through its columns) -- the column intersection graph
  ``P.T @ P`` is never built, so dense rows cost no extra memory [GMP05]_.
* Star and acyclic coloring: the adjacency graph of the symmetric pattern ``P | P.T`` without
  its diagonal, with the mirror position of every entry.
* Star bicoloring: the adjacency graph of ``[[0, P], [P.T, 0]]`` (rows, then columns).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._loops import Adjacency, Walk, index_type
from ._pattern import as_pattern, mirror_positions, nonzeros, transpose


def _index(bound: int, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    t = index_type(bound)
    return tuple(np.asarray(a, dtype=t) for a in arrays)


def column_walk(csr: sp.csr_array) -> Walk:
    """From each column through its rows to the columns of those rows."""
    csc = transpose(csr)
    return _index(2 * max(csr.shape) + csr.nnz, csc.indptr, csc.indices, csr.indptr, csr.indices)


def adjacency(csr: sp.csr_array, mirror: np.ndarray | None = None) -> Adjacency:
    """``(ptr, nbr, mirror)`` of a symmetric pattern, its diagonal left out (``mirror``: the
    :func:`mirror_positions` of ``csr``, if known)."""
    rows, cols = nonzeros(csr)
    keep = rows != cols
    ptr = np.zeros(csr.shape[0] + 1, dtype=np.intp)
    np.cumsum(np.bincount(rows[keep], minlength=csr.shape[0]), out=ptr[1:])
    renumber = np.cumsum(keep) - 1
    mirror = mirror_positions(csr) if mirror is None else mirror
    return _index(2 * (csr.shape[0] + csr.nnz), ptr, cols[keep], renumber[mirror[keep]])


def adjacency_walk(graph: Adjacency) -> Walk:
    """The adjacency graph as a walk: its edges, then the identity."""
    n, t = graph[0].size - 1, graph[1].dtype
    return graph[0], graph[1], np.arange(n + 1, dtype=t), np.arange(n, dtype=t)


def bipartite(csr: sp.csr_array) -> Adjacency:
    """The adjacency graph of ``[[0, P], [P.T, 0]]``: rows ``0 .. m-1``, then columns."""
    m, n = csr.shape
    rows, cols = nonzeros(csr)
    i, j = np.concatenate([rows, cols + m]), np.concatenate([cols + m, rows])
    graph = sp.coo_array((np.ones(i.size, dtype=bool), (i, j)), shape=(m + n, m + n))
    return adjacency(as_pattern(graph, "bicoloring"))
