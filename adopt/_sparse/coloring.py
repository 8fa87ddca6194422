"""Graph coloring and decompression maps for sparse Jacobians and Hessians.

Everything here is backend-agnostic NumPy/SciPy work done once, at preparation
time.  A coloring is a 0-based ``np.ndarray[np.intp]``; a ``*_decompression``
builder returns a frozen dataclass holding the index arrays that turn the
compressed products back into the nonzeros, so a prepared call only gathers
(and, for substitution, subtracts) -- no Python loop over colors or nonzeros.

Conventions
-----------
* A *pattern* is any ``scipy.sparse`` matrix or array (its stored entries,
  explicit zeros included, are the structural nonzeros) or a dense array (its
  nonzero entries).
* Nonzeros are listed in CSR order (by row, then column).  Symmetric routines
  use the full symmetrised pattern ``P | P.T``.
* Seeds are 0/1 matrices with ``S[j, colors[j]] = 1``.  Column compression is
  ``B = J @ S`` with shape ``(m, ncolors)``, row compression ``B = S.T @ J``
  with shape ``(ncolors, n)``, symmetric compression ``B = H @ S`` with shape
  ``(n, ncolors)``.  Flat indices refer to ``B.ravel()`` (C order).

Algorithms
----------
Greedy colorings in a chosen vertex order (names as in SparseMatrixColorings.jl):

* partial distance-2 column (row) coloring [GMP05]_: a column takes the lowest
  color not yet used in any of its rows (per-row color bitmasks, so the column
  intersection graph ``P.T @ P`` is built only for the degree-based orders);
* star coloring: Algorithm 4.1 of [GTMP07]_ (direct recovery);
* acyclic coloring: Algorithm 3.1 of [GTPW09]_ (recovery by substitution);
* bicoloring: the best of a star bicoloring [CV98]_ (star coloring of the
  bipartite graph ``[[0, P], [P.T, 0]]``) and dense-row/column splits, see
  :func:`bicoloring`.

The greedy loops run over vertices on plain Python lists with int bitmasks as
color sets; everything per nonzero is vectorised.

.. [GMP05] Gebremedhin, Manne, Pothen. What color is your Jacobian? Graph
   coloring for computing derivatives. SIAM Review 47(4), 2005.
.. [GTMP07] Gebremedhin, Tarafdar, Manne, Pothen. New acyclic and star coloring
   algorithms with application to computing Hessians. SISC 29(3), 2007.
.. [GTPW09] Gebremedhin, Tarafdar, Pothen, Walther. Efficient computation of
   sparse Hessians using coloring and automatic differentiation. INFORMS J.
   Computing 21(2), 2009.
.. [CV98] Coleman, Verma. The efficient computation of sparse Jacobian matrices
   using automatic differentiation. SISC 19(4), 1998.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Union

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import connected_components

__all__ = [
    "ORDERS",
    "column_coloring",
    "row_coloring",
    "star_coloring",
    "acyclic_coloring",
    "bicoloring",
    "check_column_coloring",
    "check_row_coloring",
    "check_star_coloring",
    "check_acyclic_coloring",
    "check_bicoloring",
    "ColumnDecompression",
    "RowDecompression",
    "SymmetricDecompression",
    "TreeSums",
    "SubstitutionDecompression",
    "BiDecompression",
    "column_decompression",
    "row_decompression",
    "star_decompression",
    "acyclic_decompression",
    "bicoloring_decompression",
]

IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]
Pattern = Union[sp.sparray, sp.spmatrix, ArrayLike]
Order = Union[str, Sequence[str]]


# ---------------------------------------------------------------------------
# Patterns and colors
# ---------------------------------------------------------------------------


def _as_pattern(pattern: Pattern, func: str) -> sp.csr_array:
    """Canonical boolean CSR pattern (sorted, no duplicates, explicit zeros kept)."""
    if sp.issparse(pattern):
        if pattern.ndim != 2:
            raise ValueError(
                f"{func} needs a 2-D sparsity pattern; got a sparse array of shape "
                f"{pattern.shape}: pass an (m, n) matrix"
            )
        csr = sp.csr_array(pattern)
    else:
        dense = np.asarray(pattern)
        if dense.ndim != 2:
            raise ValueError(
                f"{func} needs a 2-D sparsity pattern; got an array of shape "
                f"{dense.shape}: pass an (m, n) matrix"
            )
        csr = sp.csr_array(dense != 0)
    out = sp.csr_array(
        (np.ones(csr.nnz, dtype=bool), csr.indices.copy(), csr.indptr.copy()),
        shape=csr.shape,
    )
    out.sum_duplicates()
    return out


def _symmetric_pattern(pattern: Pattern, func: str) -> sp.csr_array:
    """Canonical boolean CSR of ``P | P.T``; errors for a non-square pattern."""
    csr = _as_pattern(pattern, func)
    if csr.shape[0] != csr.shape[1]:
        raise ValueError(
            f"{func} needs a square (symmetric) Hessian pattern; got shape "
            f"{csr.shape}; for a Jacobian use column_coloring, row_coloring or "
            f"bicoloring"
        )
    return _as_pattern(csr + csr.T, func)


def _transpose(csr: sp.csr_array) -> sp.csr_array:
    out = csr.T.tocsr()
    out.sum_duplicates()
    return out


def _nonzeros(csr: sp.csr_array) -> tuple[IntArray, IntArray]:
    """Row and column indices of the stored entries, in CSR order."""
    counts = np.diff(csr.indptr)
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.intp), counts)
    return rows, csr.indices.astype(np.intp)


def _as_colors(colors: ArrayLike, size: int, func: str, what: str) -> IntArray:
    """Validated copy of ``colors`` as a 1-D non-negative ``intp`` array."""
    arr = np.asarray(colors)
    if arr.shape != (size,):
        raise ValueError(
            f"{func} needs one color per {what}: got colors of shape {arr.shape} for "
            f"{size} {what}s; compute them from the same pattern"
        )
    if size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{func} needs integer colors; got dtype {arr.dtype}: pass the array "
            f"returned by the coloring function"
        )
    if size and arr.min() < 0:
        where = int(np.argmin(arr))
        raise ValueError(
            f"{func} needs 0-based non-negative colors; {what} {where} has color "
            f"{int(arr[where])}: give every {what} a color >= 0"
        )
    return np.array(arr, dtype=np.intp)


def _ncolors(colors: IntArray) -> int:
    return int(colors.max()) + 1 if colors.size else 0


def _group_counts(first: IntArray, second: IntArray) -> IntArray:
    """For each pair ``(first[k], second[k])``, how many pairs are equal to it."""
    if first.size == 0:
        return np.zeros(0, dtype=np.intp)
    keys = first * (int(second.max()) + 1) + second
    if keys.max() < 8 * keys.size + 1024:
        return np.bincount(keys)[keys]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse]


def _seed(colors: IntArray, ncolors: int) -> NDArray[np.float64]:
    seed = np.zeros((colors.size, ncolors))
    seed[np.arange(colors.size), colors] = 1.0
    return seed


# ---------------------------------------------------------------------------
# Graphs
# ---------------------------------------------------------------------------


def _adjacency(csr: sp.csr_array) -> tuple[IntArray, IntArray]:
    """CSR ``(indptr, indices)`` of a square pattern with the diagonal removed."""
    rows, cols = _nonzeros(csr)
    keep = rows != cols
    indptr = np.zeros(csr.shape[0] + 1, dtype=np.intp)
    np.cumsum(np.bincount(rows[keep], minlength=csr.shape[0]), out=indptr[1:])
    return indptr, cols[keep]


def _intersection_graph(csr: sp.csr_array) -> tuple[IntArray, IntArray]:
    """Column intersection graph: columns adjacent iff they share a nonzero row."""
    gram = (csr.T @ csr).tocsr()
    gram.sum_duplicates()
    return _adjacency(gram)


def _edge_ids(indptr: IntArray, indices: IntArray) -> list[int]:
    """For each position of a symmetric CSR, one id shared with its mirror position."""
    rows = np.repeat(np.arange(indptr.size - 1, dtype=np.intp), np.diff(indptr))
    return np.minimum(np.arange(indices.size), _transpose_positions(rows, indices)).tolist()


def _transpose_positions(rows: IntArray, cols: IntArray) -> IntArray:
    """For the nonzeros of a symmetric pattern in CSR order, the position of (j, i)."""
    return np.lexsort((rows, cols)).astype(np.intp)


# ---------------------------------------------------------------------------
# Vertex orders
# ---------------------------------------------------------------------------

Graph = Callable[[], tuple[IntArray, IntArray]]
"""Zero-argument function returning the CSR ``(indptr, indices)`` of the graph
whose vertices are ordered; only the degree-based orders call it."""


def _natural(n: int, graph: Graph, seed: int) -> IntArray:
    return np.arange(n, dtype=np.intp)


def _random(n: int, graph: Graph, seed: int) -> IntArray:
    return np.random.default_rng(seed).permutation(n).astype(np.intp)


def _largest_first(n: int, graph: Graph, seed: int) -> IntArray:
    return np.argsort(-np.diff(graph()[0]), kind="stable").astype(np.intp)


def _smallest_last(n: int, graph: Graph, seed: int) -> IntArray:
    indptr, indices = graph()
    return _bucket_order(indptr, indices, np.diff(indptr), -1, pick_max=False)[::-1]


def _incidence_degree(n: int, graph: Graph, seed: int) -> IntArray:
    indptr, indices = graph()
    return _bucket_order(indptr, indices, np.zeros(n, dtype=np.intp), +1, pick_max=True)


def _dynamic_largest_first(n: int, graph: Graph, seed: int) -> IntArray:
    indptr, indices = graph()
    return _bucket_order(indptr, indices, np.diff(indptr), -1, pick_max=True)


def _bucket_order(
    indptr: IntArray, indices: IntArray, key0: IntArray, step: int, *, pick_max: bool
) -> IntArray:
    """Repeatedly take the vertex with the largest (smallest) key, then add ``step``
    to the key of each of its neighbours not yet taken (bucket queue)."""
    n = indptr.size - 1
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    ptr, nbr, key = indptr.tolist(), indices.tolist(), key0.tolist()
    buckets: list[set[int]] = [set() for _ in range(int(np.diff(indptr).max()) + 1)]
    for v, k in enumerate(key):
        buckets[k].add(v)
    taken = [False] * n
    order = []
    top = max(key) if pick_max else min(key)
    move = -1 if pick_max else 1
    for _ in range(n):
        while not buckets[top]:
            top += move
        v = buckets[top].pop()
        taken[v] = True
        order.append(v)
        for w in nbr[ptr[v] : ptr[v + 1]]:
            if taken[w]:
                continue
            k = key[w]
            buckets[k].discard(w)
            key[w] = k = k + step
            buckets[k].add(w)
            if (k > top) if pick_max else (k < top):
                top = k
    return np.asarray(order, dtype=np.intp)


_ORDER_FUNCTIONS: dict[str, Callable[[int, Graph, int], IntArray]] = {
    "natural": _natural,
    "largest_first": _largest_first,
    "smallest_last": _smallest_last,
    "incidence_degree": _incidence_degree,
    "dynamic_largest_first": _dynamic_largest_first,
    "random": _random,
}
ORDERS: tuple[str, ...] = tuple(_ORDER_FUNCTIONS)
"""Vertex orders accepted by the coloring functions (a tuple of them tries each)."""


def _resolve_orders(order: Order, func: str) -> tuple[str, ...]:
    names = (order,) if isinstance(order, str) else tuple(order)
    unknown = [name for name in names if name not in _ORDER_FUNCTIONS]
    if unknown or not names:
        raise ValueError(
            f"{func} got order {order!r}; use one of {ORDERS} or a non-empty tuple "
            f"of them"
        )
    return names


# ---------------------------------------------------------------------------
# Greedy cores (tight loops over vertices on Python lists)
# ---------------------------------------------------------------------------


def _partial_distance2_core(csc: sp.csr_array, order: IntArray) -> IntArray:
    """Greedy partial distance-2 coloring of the rows of ``csc`` (the columns of J).

    ``used[r]`` is a bitmask of the colors already present in line ``r``; a
    vertex takes the lowest color absent from all of its lines.  No column
    intersection graph is built, so dense lines cost no extra memory.
    """
    ptr, lines = csc.indptr.tolist(), csc.indices.tolist()
    used = [0] * csc.shape[1]
    colors = [0] * csc.shape[0]
    for v in order.tolist():
        mine = lines[ptr[v] : ptr[v + 1]]
        taken = 0
        for r in mine:
            taken |= used[r]
        bit = ~taken & (taken + 1)
        colors[v] = bit.bit_length() - 1
        for r in mine:
            used[r] |= bit
    return np.asarray(colors, dtype=np.intp)


def _star_core(indptr: IntArray, indices: IntArray, order: IntArray) -> IntArray:
    """Star coloring, Algorithm 4.1 of [GTMP07] (as in SparseMatrixColorings.jl).

    Edges are grouped into 2-colored stars; ``hub[s]`` is the hub of star ``s``
    (-1 while it is a single edge).  A color is forbidden for ``v`` if it
    would create a 2-colored path on four vertices.  Color sets are int
    bitmasks: ``around[w]`` holds the colors of the colored neighbours of
    ``w`` and ``hub_colors[w]`` the colors of the hubs of the stars where
    ``w`` is a leaf; ``rep[w]`` maps each color around ``w`` to one such
    neighbour and the edge to it.  So high-degree vertices are never rescanned.
    """
    ptr, nbr, edge = indptr.tolist(), indices.tolist(), _edge_ids(indptr, indices)
    n = len(ptr) - 1
    colors, treated, around, hub_colors = [-1] * n, [-1] * n, [0] * n, [0] * n
    first_v, first_w, first_edge = [-1] * n, [-1] * n, [-1] * n
    star, hub = [-1] * len(nbr), []
    rep: list[dict[int, tuple[int, int]]] = [{} for _ in range(n)]

    def forbidden(v: int) -> int:
        mask = 0
        for pos in range(ptr[v], ptr[v + 1]):
            w, cw = nbr[pos], colors[nbr[pos]]
            if cw < 0:
                continue
            mask |= 1 << cw
            if first_v[cw] == v:  # two neighbours of color cw: no 2-colored P4 through them
                q = first_w[cw]
                if treated[q] != v:
                    mask |= around[q]
                    treated[q] = v
                mask |= around[w]
            else:  # v would extend a star centred at a hub x next to w
                first_v[cw], first_w[cw], first_edge[cw] = v, w, edge[pos]
                mask |= hub_colors[w]
        return mask

    def make_hub(s: int, center: int, leaf: int) -> None:
        if hub[s] != center:
            hub[s] = center
            hub_colors[leaf] |= 1 << colors[center]

    def update_stars(v: int) -> None:
        cv = colors[v]
        for pos in range(ptr[v], ptr[v + 1]):
            w, cw = nbr[pos], colors[nbr[pos]]
            if cw < 0:
                continue
            if cv in rep[w]:  # joins the star of w and its neighbours of color cv
                x, e_wx = rep[w][cv]
                s = star[e_wx]
                make_hub(s, w, x)
                hub_colors[v] |= 1 << cw
            elif first_v[cw] == v and first_w[cw] != w:  # joins the star centred at v
                s = star[first_edge[cw]]
                make_hub(s, v, first_w[cw])
                hub_colors[w] |= 1 << cv
            else:  # a new single-edge star
                s = len(hub)
                hub.append(-1)
            star[edge[pos]] = s
        for pos in range(ptr[v], ptr[v + 1]):
            rep[nbr[pos]].setdefault(cv, (v, edge[pos]))
            around[nbr[pos]] |= 1 << cv

    for v in order.tolist():
        mask = forbidden(v)
        colors[v] = (~mask & (mask + 1)).bit_length() - 1
        update_stars(v)
    return np.asarray(colors, dtype=np.intp)


def _acyclic_core(indptr: IntArray, indices: IntArray, order: IntArray) -> IntArray:
    """Acyclic coloring, Algorithm 3.1 of [GTPW09] (as in ColPack).

    2-colored trees are kept as a disjoint-set forest over edges; a color is
    forbidden for ``v`` if ``v`` would close a 2-colored cycle.  All edges from
    ``w`` to neighbours of one color lie in one tree, so ``rep[w]`` keeps one
    such edge per color and high-degree vertices are never rescanned.
    """
    ptr, nbr, edge = indptr.tolist(), indices.tolist(), _edge_ids(indptr, indices)
    n = len(ptr) - 1
    colors, forbidden = [-1] * n, [-1] * (n + 1)
    first_v, first_edge = [-1] * (n + 1), [-1] * (n + 1)
    visit_v, visit_w = [-1] * len(nbr), [-1] * len(nbr)
    parent = list(range(len(nbr)))
    rep: list[dict[int, int]] = [{} for _ in range(n)]

    def find(e: int) -> int:
        while parent[e] != e:
            parent[e] = e = parent[parent[e]]
        return e

    def prevent_cycles(v: int) -> None:
        for w in nbr[ptr[v] : ptr[v + 1]]:
            if colors[w] < 0:
                continue
            for cx, e_wx in rep[w].items():
                if forbidden[cx] == v:
                    continue
                root = find(e_wx)
                if visit_v[root] != v:
                    visit_v[root], visit_w[root] = v, w
                elif visit_w[root] != w:
                    forbidden[cx] = v

    def grow_and_merge(v: int) -> None:
        cv = colors[v]
        for pos in range(ptr[v], ptr[v + 1]):
            w, cw = nbr[pos], colors[nbr[pos]]
            if cw < 0:
                continue
            if first_v[cw] != v:
                first_v[cw], first_edge[cw] = v, edge[pos]
            else:
                parent[find(edge[pos])] = find(first_edge[cw])
            if cv in rep[w]:
                a, b = find(edge[pos]), find(rep[w][cv])
                if a != b:
                    parent[a] = b
        for pos in range(ptr[v], ptr[v + 1]):
            rep[nbr[pos]].setdefault(cv, edge[pos])

    for v in order.tolist():
        for w in nbr[ptr[v] : ptr[v + 1]]:
            forbidden[colors[w]] = v
        prevent_cycles(v)
        c = 0
        while forbidden[c] == v:
            c += 1
        colors[v] = c
        grow_and_merge(v)
    return np.asarray(colors, dtype=np.intp)


# ---------------------------------------------------------------------------
# Public colorings
# ---------------------------------------------------------------------------


def column_coloring(pattern: Pattern, order: Order = "natural", *, seed: int = 0) -> IntArray:
    """Partial distance-2 coloring of the columns of a Jacobian pattern.

    Two columns that share a nonzero row get different colors, so ``J @ S``
    with ``S[j, colors[j]] = 1`` holds every nonzero of ``J`` unmixed.

    Parameters
    ----------
    pattern : scipy.sparse matrix or array, or dense array, shape (m, n)
        Sparsity pattern of the Jacobian.
    order : str or tuple of str, default "natural"
        Vertex order, one of :data:`ORDERS`; a tuple tries each and keeps the
        coloring with the fewest colors (the first on ties).
    seed : int, default 0
        Seed of ``np.random.default_rng`` for the ``"random"`` order.

    Returns
    -------
    colors : np.ndarray of np.intp, shape (n,)
        0-based color of each column.

    Examples
    --------
    >>> import numpy as np
    >>> column_coloring(np.eye(3, dtype=bool) | np.eye(3, k=1, dtype=bool))
    array([0, 1, 0])
    """
    csr = _as_pattern(pattern, "column_coloring")
    names = _resolve_orders(order, "column_coloring")
    return min(_column_colors(csr, names, seed), key=_ncolors)


def row_coloring(pattern: Pattern, order: Order = "natural", *, seed: int = 0) -> IntArray:
    """Partial distance-2 coloring of the rows of a Jacobian pattern.

    Two rows that share a nonzero column get different colors, so ``S.T @ J``
    holds every nonzero of ``J`` unmixed.  Parameters as in
    :func:`column_coloring`; returns one color per row, shape (m,).

    Examples
    --------
    >>> import numpy as np
    >>> row_coloring(np.array([[1, 1, 1], [0, 1, 0], [0, 0, 1]], dtype=bool))
    array([0, 1, 1])
    """
    csr = _transpose(_as_pattern(pattern, "row_coloring"))
    names = _resolve_orders(order, "row_coloring")
    return min(_column_colors(csr, names, seed), key=_ncolors)


def star_coloring(pattern: Pattern, order: Order = "natural", *, seed: int = 0) -> IntArray:
    """Star coloring of a symmetric (Hessian) pattern, for direct recovery.

    A distance-1 coloring in which every path on four vertices uses at least
    three colors; then each nonzero ``H[i, j]`` can be read directly from
    ``H @ S`` (see :func:`star_decompression`).  The pattern is symmetrised
    (``P | P.T``) first; the diagonal is allowed.  Parameters as in
    :func:`column_coloring`; returns one color per variable, shape (n,).

    Examples
    --------
    >>> import numpy as np
    >>> arrow = np.eye(4, dtype=bool); arrow[0, :] = True
    >>> star_coloring(arrow)
    array([0, 1, 1, 1])
    """
    csr = _symmetric_pattern(pattern, "star_coloring")
    graph = _adjacency(csr)
    names = _resolve_orders(order, "star_coloring")
    return min((_star_core(*graph, _order(name, graph, seed)) for name in names), key=_ncolors)


def acyclic_coloring(pattern: Pattern, order: Order = "natural", *, seed: int = 0) -> IntArray:
    """Acyclic coloring of a symmetric (Hessian) pattern, for substitution.

    A distance-1 coloring in which every 2-colored subgraph is a forest; then
    ``H`` can be recovered from ``H @ S`` by substitution (see
    :func:`acyclic_decompression`).  Usually fewer colors than
    :func:`star_coloring`.  Parameters as in :func:`column_coloring`; returns
    one color per variable, shape (n,).

    Examples
    --------
    >>> import numpy as np
    >>> tridiagonal = np.eye(5, dtype=bool) | np.eye(5, k=1, dtype=bool)
    >>> acyclic_coloring(tridiagonal)
    array([0, 1, 0, 1, 0])
    """
    csr = _symmetric_pattern(pattern, "acyclic_coloring")
    graph = _adjacency(csr)
    names = _resolve_orders(order, "acyclic_coloring")
    return min((_acyclic_core(*graph, _order(name, graph, seed)) for name in names), key=_ncolors)


def bicoloring(
    pattern: Pattern, order: Order = "natural", *, seed: int = 0
) -> tuple[IntArray, IntArray]:
    """Bicoloring of a Jacobian pattern, for forward plus reverse mode.

    Row colors seed reverse products ``Br = Sr.T @ J`` and column colors seed
    forward products ``Bc = J @ Sc``; every nonzero is read directly from one
    of them (see :func:`bicoloring_decompression`).  For each order, the
    candidates are

    * a star bicoloring [CV98]_: star coloring of the bipartite graph
      ``[[0, P], [P.T, 0]]`` (vertices: rows, then columns), split into row
      and column colors;
    * dense splits: the dense rows (at least ``t`` nonzeros, for each of the
      three largest row counts ``t`` above twice the median) are read in
      reverse mode, colored by :func:`row_coloring` of those rows, and the
      other rows in forward mode, from a :func:`column_coloring` of them; the
      same with dense columns; and the pure column and pure row colorings.

    Each candidate is then tidied: the product each nonzero is read from is
    chosen greedily to read the fewest colors, those colors are renumbered
    ``0, 1, ...``, and every row (column) none of whose entries is read from
    its side moves into the first read color where it spoils no read entry,
    or else into one shared extra color that is never read.  The candidate
    reading the fewest products wins (the first on ties); so the result never
    needs more products than :func:`column_coloring` or :func:`row_coloring`
    with the same order.

    Parameters
    ----------
    pattern, order, seed
        As in :func:`column_coloring`; for the star bicoloring the order is over
        the ``m + n`` vertices of the bipartite graph.

    Returns
    -------
    row_colors : np.ndarray of np.intp, shape (m,)
    col_colors : np.ndarray of np.intp, shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> arrow = np.eye(5, dtype=bool); arrow[0, :] = True; arrow[:, 0] = True
    >>> bicoloring(arrow)
    (array([0, 1, 1, 1, 1]), array([0, 1, 1, 1, 1]))
    """
    csr = _as_pattern(pattern, "bicoloring")
    candidates = []
    for name in _resolve_orders(order, "bicoloring"):
        candidates.append(_star_bicoloring(csr, name, seed))
        candidates.extend(_dense_splits(csr, name, seed))
    return min(candidates, key=lambda pair: _bicoloring_cost(csr, *pair))


def _column_colors(csr: sp.csr_array, names: tuple[str, ...], seed: int) -> list[IntArray]:
    """One partial distance-2 column coloring per order; the column intersection
    graph ``P.T @ P`` is built only if a degree-based order needs it."""
    csc = _transpose(csr)
    graph = functools.cache(lambda: _intersection_graph(csr))
    return [
        _partial_distance2_core(csc, _ORDER_FUNCTIONS[name](csr.shape[1], graph, seed))
        for name in names
    ]


def _order(name: str, graph: tuple[IntArray, IntArray], seed: int) -> IntArray:
    return _ORDER_FUNCTIONS[name](graph[0].size - 1, lambda: graph, seed)


def _star_bicoloring(csr: sp.csr_array, name: str, seed: int) -> tuple[IntArray, IntArray]:
    m, n = csr.shape
    rows, cols = _nonzeros(csr)
    i, j = np.concatenate([rows, cols + m]), np.concatenate([cols + m, rows])
    bipartite = sp.coo_array((np.ones(i.size, bool), (i, j)), shape=(m + n, m + n))
    graph = _adjacency(_as_pattern(bipartite, "bicoloring"))
    colors = _star_core(*graph, _order(name, graph, seed))
    return _tidy_bicoloring(csr, colors[:m], colors[m:])


def _dense_splits(csr: sp.csr_array, name: str, seed: int) -> list[tuple[IntArray, IntArray]]:
    """Read the densest rows (columns) in reverse (forward) mode, the rest the other way."""
    flipped = _transpose(csr)
    splits = [_split_rows(csr, dense, name, seed) for dense in _dense_lines(csr)]
    for dense in _dense_lines(flipped):
        col_colors, row_colors = _split_rows(flipped, dense, name, seed)
        splits.append((row_colors, col_colors))
    return splits


def _dense_lines(csr: sp.csr_array, count: int = 3) -> list[BoolArray]:
    """Masks of dense rows: none, then rows with at least ``t`` nonzeros for the
    ``count`` largest row counts ``t`` above twice the median row count."""
    nnz = np.diff(csr.indptr)
    masks = [np.zeros(nnz.size, dtype=bool)]
    if nnz.size:
        counts = np.unique(nnz[nnz > 2 * np.median(nnz)])[::-1][:count]
        masks.extend(nnz >= t for t in counts)
    return masks


def _split_rows(
    csr: sp.csr_array, dense: BoolArray, name: str, seed: int
) -> tuple[IntArray, IntArray]:
    """Rows in ``dense`` read in reverse mode, all other nonzeros in forward mode."""
    rows, cols = _nonzeros(csr)
    reverse = dense[rows]
    (row_colors,) = _column_colors(_transpose(_select(csr, reverse)), (name,), seed)
    (col_colors,) = _column_colors(_select(csr, ~reverse), (name,), seed)
    return _tidy_bicoloring(csr, row_colors, col_colors, reverse)


def _select(csr: sp.csr_array, keep: BoolArray) -> sp.csr_array:
    rows, cols = _nonzeros(csr)
    data = np.ones(int(keep.sum()), dtype=bool)
    selected = sp.coo_array((data, (rows[keep], cols[keep])), shape=csr.shape)
    return _as_pattern(selected, "bicoloring")


def _tidy_bicoloring(
    csr: sp.csr_array, row_colors: IntArray, col_colors: IntArray, reverse: BoolArray | None = None
) -> tuple[IntArray, IntArray]:
    """Choose read sides (unless given), renumber read colors, merge unread rows/columns.

    Choosing the read sides again on the tidied colors can free more colors,
    so that is repeated (at most twice) while it lowers the cost.
    """
    rows, cols = _nonzeros(csr)
    if reverse is None:
        reverse = _bicoloring_sources(rows, cols, row_colors, col_colors, "bicoloring")
    pair = _merge_both(rows, cols, reverse, (row_colors, col_colors), csr.shape)
    for _ in range(2):
        reverse = _bicoloring_sources(rows, cols, *pair, "bicoloring")
        tidier = _merge_both(rows, cols, reverse, pair, csr.shape)
        if _bicoloring_cost(csr, *tidier) >= _bicoloring_cost(csr, *pair):
            break
        pair = tidier
    return pair


def _merge_both(
    rows: IntArray, cols: IntArray, reverse: BoolArray,
    pair: tuple[IntArray, IntArray], shape: tuple[int, int],
) -> tuple[IntArray, IntArray]:
    return (
        _merge_unread(rows, cols, reverse, pair[0], shape),
        _merge_unread(cols, rows, ~reverse, pair[1], shape[::-1]),
    )


def _total(pair: tuple[IntArray, IntArray]) -> int:
    return _ncolors(pair[0]) + _ncolors(pair[1])


def _bicoloring_sources(
    rows: IntArray, cols: IntArray, row_colors: IntArray, col_colors: IntArray, func: str
) -> BoolArray:
    """For each nonzero, True if it is read from ``Sr.T @ J``, False if from ``J @ Sc``.

    Forced choices first; the nonzeros readable from both sides are then
    covered greedily by the color (row or column) that covers most of them.
    """
    rc, cc = row_colors[rows], col_colors[cols]
    forward_ok = _group_counts(rows, cc) == 1
    reverse_ok = _group_counts(rc, cols) == 1
    _raise_if_bad(~(forward_ok | reverse_ok), rows, cols, func, "bicoloring")
    need_c = np.zeros(_ncolors(col_colors), dtype=bool)
    need_r = np.zeros(_ncolors(row_colors), dtype=bool)
    need_c[cc[forward_ok & ~reverse_ok]] = True
    need_r[rc[reverse_ok & ~forward_ok]] = True
    both = forward_ok & reverse_ok
    need_c, _ = _cover(cc[both], rc[both], need_c, need_r)
    return ~forward_ok | ~need_c[cc]


def _cover(
    cc: IntArray, rc: IntArray, need_c: BoolArray, need_r: BoolArray
) -> tuple[BoolArray, BoolArray]:
    """Extend the needed colors so that each pair ``(cc[k], rc[k])`` has a needed side.

    The cheapest of: all column colors, all row colors, a greedy cover.
    """
    open_ = ~(need_c[cc] | need_r[rc])
    all_c, all_r = need_c.copy(), need_r.copy()
    all_c[cc[open_]] = True
    all_r[rc[open_]] = True
    greedy = _greedy_cover(cc, rc, need_c.copy(), need_r.copy())
    options = [(all_c, need_r), (need_c, all_r), greedy]
    return min(options, key=lambda pair: int(pair[0].sum() + pair[1].sum()))


def _greedy_cover(
    cc: IntArray, rc: IntArray, need_c: BoolArray, need_r: BoolArray
) -> tuple[BoolArray, BoolArray]:
    """Repeatedly mark the color covering most open pairs (one pass per color)."""
    open_ = ~(need_c[cc] | need_r[rc])
    while open_.any():
        hits_c = np.bincount(cc[open_], minlength=need_c.size)
        hits_r = np.bincount(rc[open_], minlength=need_r.size)
        if hits_c.max() >= hits_r.max():
            need_c[hits_c.argmax()] = True
        else:
            need_r[hits_r.argmax()] = True
        open_ &= ~(need_c[cc] | need_r[rc])
    return need_c, need_r


def _merge_unread(
    vert: IntArray, other: IntArray, read: BoolArray, colors: IntArray, shape: tuple[int, int]
) -> IntArray:
    """Renumber the read colors to 0..k-1 and recolor vertices with no read entry.

    A vertex ``u`` with no read entry may join read color ``c`` unless it has a
    nonzero in some line ``o`` where an entry of color ``c`` is read; otherwise
    it joins color ``k`` (shared by all such vertices).
    """
    nvert, nother = shape
    used = np.unique(colors[vert[read]])
    renumber = np.zeros(_ncolors(colors), dtype=np.intp)
    renumber[used] = np.arange(used.size)
    active = np.zeros(nvert, dtype=bool)
    active[vert[read]] = True
    new = np.where(active, renumber[colors], 0)
    reads = sp.csr_array(
        (np.ones(int(read.sum()), bool), (other[read], new[vert[read]])), shape=(nother, used.size)
    )
    idle = ~active[vert]
    lines = sp.csr_array(
        (np.ones(int(idle.sum()), bool), (vert[idle], other[idle])), shape=(nvert, nother)
    )
    clash = (lines @ reads).tocsr()
    clash.sum_duplicates()
    return np.where(active, new, _first_free(clash))


def _first_free(clash: sp.csr_array) -> IntArray:
    """Per row of a sorted CSR pattern, the smallest column index not stored."""
    rows, cols = _nonzeros(clash)
    rank = np.arange(cols.size) - clash.indptr[:-1][rows]
    free = np.diff(clash.indptr).astype(np.intp)
    gaps = cols != rank
    np.minimum.at(free, rows[gaps], rank[gaps])
    return free


def _bicoloring_cost(
    csr: sp.csr_array, row_colors: IntArray, col_colors: IntArray
) -> tuple[int, int]:
    """Products read (distinct forward plus reverse colors read), then all colors."""
    rows, cols = _nonzeros(csr)
    reverse = _bicoloring_sources(rows, cols, row_colors, col_colors, "bicoloring")
    read = np.unique(row_colors[rows[reverse]]).size + np.unique(col_colors[cols[~reverse]]).size
    return read, _total((row_colors, col_colors))


# ---------------------------------------------------------------------------
# Validity checks
# ---------------------------------------------------------------------------


def _raise_if_bad(bad: BoolArray, rows: IntArray, cols: IntArray, func: str, fix: str) -> None:
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"{func}: the colors mix nonzero ({rows[k]}, {cols[k]}) with another "
            f"nonzero of the same color in every compressed product, so it cannot be "
            f"recovered ({int(bad.sum())} such nonzeros); recolor with {fix}(pattern)"
        )


def _check_lines(
    csr: sp.csr_array, colors: IntArray, func: str, fix: str, names: tuple[str, str]
) -> None:
    """No two columns of ``csr`` with one color share a row (``names``: column, row)."""
    rows, cols = _nonzeros(csr)
    clash = _group_counts(rows, colors[cols]) > 1
    if clash.any():
        k = int(np.argmax(clash))
        same = (rows == rows[k]) & (colors[cols] == colors[cols[k]]) & (cols != cols[k])
        raise ValueError(
            f"{func}: {names[0]}s {cols[k]} and {cols[same][0]} share nonzero "
            f"{names[1]} {rows[k]} but both have color {colors[cols[k]]}; recolor "
            f"with {fix}(pattern)"
        )


def check_column_coloring(pattern: Pattern, colors: ArrayLike) -> None:
    """Raise ValueError unless no two columns of one color share a nonzero row.

    Examples
    --------
    >>> import numpy as np
    >>> check_column_coloring(np.eye(2), [0, 0])
    >>> check_column_coloring(np.ones((2, 2)), [0, 0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: check_column_coloring: columns 0 and 1 share nonzero row 0 but both have ...
    """
    csr = _as_pattern(pattern, "check_column_coloring")
    colors = _as_colors(colors, csr.shape[1], "check_column_coloring", "column")
    _check_lines(csr, colors, "check_column_coloring", "column_coloring", ("column", "row"))


def check_row_coloring(pattern: Pattern, colors: ArrayLike) -> None:
    """Raise ValueError unless no two rows of one color share a nonzero column.

    Examples
    --------
    >>> import numpy as np
    >>> check_row_coloring(np.eye(2), [0, 0])
    """
    csr = _transpose(_as_pattern(pattern, "check_row_coloring"))
    colors = _as_colors(colors, csr.shape[1], "check_row_coloring", "row")
    _check_lines(csr, colors, "check_row_coloring", "row_coloring", ("row", "column"))


def _star_ok(rows: IntArray, cols: IntArray, colors: IntArray) -> BoolArray:
    """Nonzeros of a symmetric pattern directly readable from ``H @ S``."""
    direct = _group_counts(rows, colors[cols]) == 1
    return direct | direct[_transpose_positions(rows, cols)]


def _check_star(csr: sp.csr_array, colors: IntArray, func: str) -> None:
    rows, cols = _nonzeros(csr)
    _raise_if_bad(~_star_ok(rows, cols, colors), rows, cols, func, "star_coloring")


def check_star_coloring(pattern: Pattern, colors: ArrayLike) -> None:
    """Raise ValueError unless every nonzero of ``P | P.T`` is directly recoverable.

    For each nonzero ``(i, j)``, either ``j`` is the only column of its color
    with a nonzero in row ``i`` (read ``(H @ S)[i, colors[j]]``) or ``i`` is
    the only one of its color in row ``j`` (read ``(H @ S)[j, colors[i]]``).

    Examples
    --------
    >>> import numpy as np
    >>> path = np.eye(4, k=1) + np.eye(4, k=-1)
    >>> check_star_coloring(path, [0, 1, 2, 0])
    >>> check_star_coloring(path, [0, 1, 0, 1])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: check_star_coloring: the colors mix nonzero (1, 2) with another nonzero ...
    """
    csr = _symmetric_pattern(pattern, "check_star_coloring")
    colors = _as_colors(colors, csr.shape[0], "check_star_coloring", "vertex")
    _check_star(csr, colors, "check_star_coloring")


def _check_acyclic(csr: sp.csr_array, colors: IntArray, func: str) -> None:
    rows, cols = _nonzeros(csr)
    same = (rows != cols) & (colors[rows] == colors[cols])
    if same.any():
        k = int(np.argmax(same))
        raise ValueError(
            f"{func}: adjacent vertices {rows[k]} and {cols[k]} both have color "
            f"{colors[rows[k]]}; recolor with acyclic_coloring(pattern)"
        )
    upper = rows < cols
    cycle = _two_colored_cycle(rows[upper], cols[upper], colors)
    if cycle is not None:
        raise ValueError(
            f"{func}: the vertices of colors {cycle[0]} and {cycle[1]} contain a cycle "
            f"(through vertex {cycle[2]}), so substitution cannot recover the Hessian; "
            f"recolor with acyclic_coloring(pattern)"
        )


def _two_colored_cycle(i: IntArray, j: IntArray, colors: IntArray) -> tuple[int, int, int] | None:
    """A 2-colored subgraph with a cycle, as ``(color_a, color_b, vertex)``, or None.

    Nodes are (vertex, color pair); a subgraph is a forest iff its number of
    edges is its number of nodes minus its number of components.
    """
    if i.size == 0:
        return None
    low = np.minimum(colors[i], colors[j])
    high = np.maximum(colors[i], colors[j])
    _, pair = np.unique(low * (_ncolors(colors) + 1) + high, return_inverse=True)
    npairs = int(pair.max()) + 1 if pair.size else 1
    keys, ends = np.unique(np.concatenate([i, j]) * npairs + np.tile(pair, 2), return_inverse=True)
    edges = (ends[: i.size], ends[i.size :])
    graph = sp.coo_array((np.ones(i.size), edges), shape=(keys.size, keys.size))
    ncomp, label = connected_components(graph, directed=False)
    if i.size == keys.size - ncomp:
        return None
    edges_per = np.bincount(label[ends[: i.size]], minlength=ncomp)
    bad = int(np.argmax(edges_per >= np.bincount(label, minlength=ncomp)))
    k = int(np.argmax(label[ends[: i.size]] == bad))
    return int(low[k]), int(high[k]), int(i[k])


def check_acyclic_coloring(pattern: Pattern, colors: ArrayLike) -> None:
    """Raise ValueError unless ``colors`` is an acyclic coloring of ``P | P.T``.

    Adjacent vertices must differ in color, and the subgraph induced by any two
    colors must be a forest (no cycle).

    Examples
    --------
    >>> import numpy as np
    >>> path = np.eye(4, k=1) + np.eye(4, k=-1)
    >>> check_acyclic_coloring(path, [0, 1, 0, 1])
    >>> cycle = path.copy(); cycle[0, 3] = cycle[3, 0] = 1
    >>> check_acyclic_coloring(cycle, [0, 1, 0, 1])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: check_acyclic_coloring: the vertices of colors 0 and 1 contain a cycle ...
    """
    csr = _symmetric_pattern(pattern, "check_acyclic_coloring")
    colors = _as_colors(colors, csr.shape[0], "check_acyclic_coloring", "vertex")
    _check_acyclic(csr, colors, "check_acyclic_coloring")


def check_bicoloring(pattern: Pattern, row_colors: ArrayLike, col_colors: ArrayLike) -> None:
    """Raise ValueError unless every nonzero is readable from ``J @ Sc`` or ``Sr.T @ J``.

    Nonzero ``(i, j)`` is readable from ``J @ Sc`` if ``j`` is the only column
    of its color in row ``i``, and from ``Sr.T @ J`` if ``i`` is the only row
    of its color in column ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> check_bicoloring(np.ones((2, 2)), [0, 1], [0, 0])
    """
    csr = _as_pattern(pattern, "check_bicoloring")
    rc = _as_colors(row_colors, csr.shape[0], "check_bicoloring", "row")
    cc = _as_colors(col_colors, csr.shape[1], "check_bicoloring", "column")
    rows, cols = _nonzeros(csr)
    _bicoloring_sources(rows, cols, rc, cc, "check_bicoloring")


# ---------------------------------------------------------------------------
# Decompression maps
# ---------------------------------------------------------------------------


def _freeze(obj: Any) -> None:
    """Make the array fields of a dataclass read-only."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray):
            value.setflags(write=False)


def _summary(obj: Any) -> str:
    """Readable repr: scalars in full, arrays as ``dtype[shape]``."""
    parts = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray):
            text = f"{value.dtype}{list(value.shape)}"
        else:
            text = repr(value)
        parts.append(f"{f.name}={text}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def _flat(compressed: ArrayLike, shape: tuple[int, int], where: str) -> np.ndarray:
    array = np.asarray(compressed)
    if array.shape != shape:
        raise ValueError(
            f"{where} needs a compressed matrix of shape {shape}; got shape "
            f"{array.shape}: compress with this decompression's colors"
        )
    return array.reshape(-1)


@dataclass(frozen=True, eq=False, repr=False)
class ColumnDecompression:
    """Recover ``J`` (m x n) from ``B = J @ S``, ``S`` the (n x ncolors) seed.

    Attributes
    ----------
    shape : tuple of int
        ``(m, n)``.
    colors : np.ndarray of np.intp, shape (n,)
        Column colors.
    ncolors : int
        Number of colors (columns of ``B``).
    rows, cols : np.ndarray of np.intp, shape (nnz,)
        Structural nonzeros of ``J`` in CSR order.
    compressed_index : np.ndarray of np.intp, shape (nnz,)
        ``rows * ncolors + colors[cols]``: where each nonzero sits in ``B.ravel()``.

    Examples
    --------
    >>> import numpy as np
    >>> J = np.array([[1., 2., 0.], [0., 3., 4.]])
    >>> d = column_decompression(J != 0, column_coloring(J != 0))
    >>> d.decompress(J @ d.seed_matrix())
    array([1., 2., 3., 4.])
    """

    shape: tuple[int, int]
    colors: IntArray
    ncolors: int
    rows: IntArray
    cols: IntArray
    compressed_index: IntArray

    def __post_init__(self) -> None:
        _freeze(self)

    def __repr__(self) -> str:
        return _summary(self)

    def seed_matrix(self) -> NDArray[np.float64]:
        """Dense (n x ncolors) 0/1 seed ``S`` with ``S[j, colors[j]] = 1``."""
        return _seed(self.colors, self.ncolors)

    def decompress(self, compressed: ArrayLike) -> np.ndarray:
        """Nonzeros of ``J`` (CSR order) from ``B = J @ S`` of shape (m, ncolors)."""
        flat = _flat(compressed, (self.shape[0], self.ncolors), "ColumnDecompression.decompress")
        return flat[self.compressed_index]


@dataclass(frozen=True, eq=False, repr=False)
class RowDecompression:
    """Recover ``J`` (m x n) from ``B = S.T @ J``, ``S`` the (m x ncolors) seed.

    Attributes as in :class:`ColumnDecompression`, with ``colors`` of shape
    (m,) and ``compressed_index = colors[rows] * n + cols`` into ``B.ravel()``,
    ``B`` of shape (ncolors, n).

    Examples
    --------
    >>> import numpy as np
    >>> J = np.array([[1., 2., 0.], [0., 0., 4.]])
    >>> d = row_decompression(J != 0, row_coloring(J != 0))
    >>> d.decompress(d.seed_matrix().T @ J)
    array([1., 2., 4.])
    """

    shape: tuple[int, int]
    colors: IntArray
    ncolors: int
    rows: IntArray
    cols: IntArray
    compressed_index: IntArray

    def __post_init__(self) -> None:
        _freeze(self)

    def __repr__(self) -> str:
        return _summary(self)

    def seed_matrix(self) -> NDArray[np.float64]:
        """Dense (m x ncolors) 0/1 seed ``S`` with ``S[i, colors[i]] = 1``."""
        return _seed(self.colors, self.ncolors)

    def decompress(self, compressed: ArrayLike) -> np.ndarray:
        """Nonzeros of ``J`` (CSR order) from ``B = S.T @ J`` of shape (ncolors, n)."""
        flat = _flat(compressed, (self.ncolors, self.shape[1]), "RowDecompression.decompress")
        return flat[self.compressed_index]


@dataclass(frozen=True, eq=False, repr=False)
class SymmetricDecompression:
    """Recover symmetric ``H`` (n x n) directly from ``B = H @ S`` (star coloring).

    Attributes
    ----------
    shape, colors, ncolors
        As in :class:`ColumnDecompression`.
    rows, cols : np.ndarray of np.intp, shape (nnz,)
        Structural nonzeros of ``P | P.T`` in CSR order (both triangles).
    lower : np.ndarray of bool, shape (nnz,)
        ``rows >= cols``: selects the lower triangle (with the diagonal).
    compressed_index : np.ndarray of np.intp, shape (nnz,)
        Where each nonzero sits in ``B.ravel()`` (``B`` of shape (n, ncolors)).

    Examples
    --------
    >>> import numpy as np
    >>> H = np.array([[2., 1., 0.], [1., 3., 5.], [0., 5., 4.]])
    >>> d = star_decompression(H != 0, star_coloring(H != 0))
    >>> d.decompress(H @ d.seed_matrix())
    array([2., 1., 1., 3., 5., 5., 4.])
    """

    shape: tuple[int, int]
    colors: IntArray
    ncolors: int
    rows: IntArray
    cols: IntArray
    lower: BoolArray
    compressed_index: IntArray

    def __post_init__(self) -> None:
        _freeze(self)

    def __repr__(self) -> str:
        return _summary(self)

    def seed_matrix(self) -> NDArray[np.float64]:
        """Dense (n x ncolors) 0/1 seed ``S`` with ``S[j, colors[j]] = 1``."""
        return _seed(self.colors, self.ncolors)

    def decompress(self, compressed: ArrayLike) -> np.ndarray:
        """Nonzeros of ``H`` (CSR order) from ``B = H @ S`` of shape (n, ncolors)."""
        where = "SymmetricDecompression.decompress"
        flat = _flat(compressed, (self.shape[0], self.ncolors), where)
        return flat[self.compressed_index]


@dataclass(frozen=True, eq=False, repr=False)
class TreeSums:
    """Substitution on the 2-colored trees in closed form, by prefix sums.

    Each sum ``B[u, c]`` (off the diagonal) is a *node*; each off-diagonal pair ``H[u, w]`` is an
    *edge* joining the nodes ``(u, colors[w])`` and ``(w, colors[u])``. An acyclic coloring
    makes these nodes a forest: each sum is the total of its node's edges. Rooting every tree,
    the edge above a node equals the alternating sum of ``B`` over the node's subtree, and with
    the nodes in preorder a subtree is a contiguous range::

        a = sign * B.ravel()[key]                 # sign = (-1) ** depth
        C = [0, cumsum(a)]
        edge value = sign[child] * (C[stop] - C[start])

    Cost: a gather, a cumulative sum and a few element-wise operations over ``nnz``, with no
    sequential levels. One step of iterative refinement (the same formula applied to the
    residual of every sum) keeps the error at the scale of each tree's own entries.

    Attributes
    ----------
    key : np.ndarray of np.intp, shape (K,)
        Index into ``B.ravel()`` of each node, nodes in preorder.
    sign : np.ndarray of np.float64, shape (K,)
        ``(-1) ** depth`` of each node.
    child, parent : np.ndarray of np.intp, shape (E,)
        The two nodes of each edge (preorder indices), the parent closer to the root.
    start, stop : np.ndarray of np.intp, shape (E,)
        The child's subtree: ``C[stop] - C[start]`` sums over it.
    position : np.ndarray of np.intp, shape (E,)
        The buffer position (an upper-triangle CSR position) of each edge.
    """

    key: IntArray
    sign: NDArray[np.float64]
    child: IntArray
    parent: IntArray
    start: IntArray
    stop: IntArray
    position: IntArray

    def __post_init__(self) -> None:
        _freeze(self)

    def __repr__(self) -> str:
        return _summary(self)

    def solve(self, flat: np.ndarray) -> np.ndarray:
        """Edge values from the flat compressed matrix (NumPy reference of the operators)."""
        b = flat[self.key]
        edges = self._sums(b)
        residual = b - np.bincount(self.child, edges, self.key.size) - np.bincount(self.parent, edges, self.key.size)
        return edges + self._sums(residual)

    def _sums(self, b: np.ndarray) -> np.ndarray:
        C = np.concatenate([[0.0], np.cumsum(self.sign * b)])
        return self.sign[self.child] * (C[self.stop] - C[self.start])


@dataclass(frozen=True, eq=False, repr=False)
class SubstitutionDecompression:
    """Recover symmetric ``H`` from ``B = H @ S`` by substitution (acyclic coloring).

    Scheme: entry ``B[u, c]`` is the sum of ``H[u, k]`` over the neighbours
    ``k`` of ``u`` with color ``c``, which lie in one 2-colored tree; the
    diagonal is read directly. The trees are solved all at once by prefix sums
    (see :class:`TreeSums`), so the cost is linear in the nonzeros however long
    the 2-colored paths are. Values live in a buffer indexed by CSR position
    (each off-diagonal pair solved at its upper-triangle position);
    ``values[canonical]`` lists all nonzeros in CSR order.

    Attributes
    ----------
    shape, colors, ncolors, rows, cols, lower
        As in :class:`SymmetricDecompression`.
    diagonal : np.ndarray of np.intp
        CSR positions of the diagonal nonzeros.
    diagonal_index : np.ndarray of np.intp
        Where each of them sits in ``B.ravel()``.
    trees : TreeSums
        The off-diagonal nonzeros.
    canonical : np.ndarray of np.intp, shape (nnz,)
        Buffer position holding the value of each nonzero.

    Examples
    --------
    >>> import numpy as np
    >>> H = np.diag([1., 2., 3., 4.]) + np.diag([5., 6., 7.], 1) + np.diag([5., 6., 7.], -1)
    >>> d = acyclic_decompression(H != 0, acyclic_coloring(H != 0))
    >>> d.ncolors, d.trees.child.size
    (2, 3)
    >>> d.decompress(H @ d.seed_matrix())
    array([1., 5., 5., 2., 6., 6., 3., 7., 7., 4.])
    """

    shape: tuple[int, int]
    colors: IntArray
    ncolors: int
    rows: IntArray
    cols: IntArray
    lower: BoolArray
    diagonal: IntArray
    diagonal_index: IntArray
    trees: TreeSums
    canonical: IntArray

    def __post_init__(self) -> None:
        _freeze(self)

    def __repr__(self) -> str:
        return _summary(self)

    def seed_matrix(self) -> NDArray[np.float64]:
        """Dense (n x ncolors) 0/1 seed ``S`` with ``S[j, colors[j]] = 1``."""
        return _seed(self.colors, self.ncolors)

    def decompress(self, compressed: ArrayLike) -> np.ndarray:
        """Nonzeros of ``H`` (CSR order) from ``B = H @ S`` of shape (n, ncolors)."""
        where = "SubstitutionDecompression.decompress"
        flat = _flat(compressed, (self.shape[0], self.ncolors), where)
        values = np.zeros(self.rows.size, dtype=np.result_type(flat.dtype, np.float64))
        values[self.diagonal] = flat[self.diagonal_index]
        values[self.trees.position] = self.trees.solve(flat)
        return values[self.canonical]


@dataclass(frozen=True, eq=False, repr=False)
class BiDecompression:
    """Recover ``J`` (m x n) from ``Bc = J @ Sc`` and ``Br = Sr.T @ J`` (bicoloring).

    Attributes
    ----------
    shape : tuple of int
        ``(m, n)``.
    row_colors, col_colors : np.ndarray of np.intp
        Shapes (m,) and (n,).
    nrow_colors, ncol_colors : int
        ``Br`` has shape (nrow_colors, n), ``Bc`` has shape (m, ncol_colors).
    rows, cols : np.ndarray of np.intp, shape (nnz,)
        Structural nonzeros of ``J`` in CSR order.
    from_reverse : np.ndarray of bool, shape (nnz,)
        True where the nonzero is read from ``Br``, False where from ``Bc``.
    compressed_index : np.ndarray of np.intp, shape (nnz,)
        Index into ``concatenate([Bc.ravel(), Br.ravel()])``.
    forward_colors, reverse_colors : np.ndarray of np.intp
        The column (row) colors whose products are read; the other columns of
        ``Bc`` (rows of ``Br``) are never read, so they may be left as zeros.

    Examples
    --------
    >>> import numpy as np
    >>> J = np.eye(4); J[0, :] = 1.0; J[:, 0] = 2.0
    >>> d = bicoloring_decompression(J != 0, *bicoloring(J != 0, "largest_first"))
    >>> Sc, Sr = d.seed_matrix()
    >>> bool(np.all(d.decompress(J @ Sc, Sr.T @ J) == J[d.rows, d.cols]))
    True
    """

    shape: tuple[int, int]
    row_colors: IntArray
    col_colors: IntArray
    nrow_colors: int
    ncol_colors: int
    rows: IntArray
    cols: IntArray
    from_reverse: BoolArray
    compressed_index: IntArray
    forward_colors: IntArray
    reverse_colors: IntArray

    def __post_init__(self) -> None:
        _freeze(self)

    def __repr__(self) -> str:
        return _summary(self)

    def seed_matrix(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Dense 0/1 seeds ``(Sc, Sr)`` of shapes (n, ncol_colors) and (m, nrow_colors)."""
        return _seed(self.col_colors, self.ncol_colors), _seed(self.row_colors, self.nrow_colors)

    def decompress(self, col_compressed: ArrayLike, row_compressed: ArrayLike) -> np.ndarray:
        """Nonzeros of ``J`` (CSR order) from ``Bc = J @ Sc`` and ``Br = Sr.T @ J``."""
        m, n = self.shape
        forward = _flat(col_compressed, (m, self.ncol_colors), "BiDecompression.decompress")
        reverse = _flat(row_compressed, (self.nrow_colors, n), "BiDecompression.decompress")
        return np.concatenate([forward, reverse])[self.compressed_index]


def column_decompression(pattern: Pattern, colors: ArrayLike) -> ColumnDecompression:
    """Index maps to recover ``J`` from ``J @ S`` for a column coloring.

    Raises ValueError if ``colors`` is not a valid column coloring of
    ``pattern``.  See :class:`ColumnDecompression` for the fields and an example.
    """
    func = "column_decompression"
    csr = _as_pattern(pattern, func)
    colors = _as_colors(colors, csr.shape[1], func, "column")
    _check_lines(csr, colors, func, "column_coloring", ("column", "row"))
    rows, cols = _nonzeros(csr)
    ncolors = _ncolors(colors)
    return ColumnDecompression(
        shape=csr.shape, colors=colors, ncolors=ncolors, rows=rows, cols=cols,
        compressed_index=rows * ncolors + colors[cols],
    )


def row_decompression(pattern: Pattern, colors: ArrayLike) -> RowDecompression:
    """Index maps to recover ``J`` from ``S.T @ J`` for a row coloring.

    Raises ValueError if ``colors`` is not a valid row coloring of ``pattern``.
    See :class:`RowDecompression` for the fields and an example.
    """
    func = "row_decompression"
    csr = _as_pattern(pattern, func)
    colors = _as_colors(colors, csr.shape[0], func, "row")
    _check_lines(_transpose(csr), colors, func, "row_coloring", ("row", "column"))
    rows, cols = _nonzeros(csr)
    return RowDecompression(
        shape=csr.shape, colors=colors, ncolors=_ncolors(colors), rows=rows, cols=cols,
        compressed_index=colors[rows] * csr.shape[1] + cols,
    )


def star_decompression(pattern: Pattern, colors: ArrayLike) -> SymmetricDecompression:
    """Index maps to read each nonzero of symmetric ``H`` directly from ``H @ S``.

    Nonzero ``(i, j)`` is read at ``B[i, colors[j]]`` when ``j`` is the only
    column of its color in row ``i``, else at ``B[j, colors[i]]``.  Raises
    ValueError if neither holds for some nonzero (see
    :func:`check_star_coloring`).  See :class:`SymmetricDecompression`.
    """
    func = "star_decompression"
    csr = _symmetric_pattern(pattern, func)
    n = csr.shape[0]
    colors = _as_colors(colors, n, func, "vertex")
    _check_star(csr, colors, func)
    rows, cols = _nonzeros(csr)
    ncolors = _ncolors(colors)
    direct = _group_counts(rows, colors[cols]) == 1
    index = np.where(direct, rows * ncolors + colors[cols], cols * ncolors + colors[rows])
    return SymmetricDecompression(
        shape=csr.shape, colors=colors, ncolors=ncolors, rows=rows, cols=cols,
        lower=rows >= cols, compressed_index=index,
    )


def acyclic_decompression(pattern: Pattern, colors: ArrayLike) -> SubstitutionDecompression:
    """Recover symmetric ``H`` from ``H @ S`` by substitution in closed form (prefix sums).

    Raises ValueError unless ``colors`` is an acyclic coloring of ``P | P.T``
    (see :func:`check_acyclic_coloring`).  The scheme is described in
    :class:`SubstitutionDecompression`.
    """
    func = "acyclic_decompression"
    csr = _symmetric_pattern(pattern, func)
    colors = _as_colors(colors, csr.shape[0], func, "vertex")
    _check_acyclic(csr, colors, func)
    rows, cols = _nonzeros(csr)
    ncolors = _ncolors(colors)
    mirror = _transpose_positions(rows, cols)
    canonical = np.minimum(np.arange(rows.size), mirror)
    diag = np.flatnonzero(rows == cols)
    return SubstitutionDecompression(
        shape=csr.shape, colors=colors, ncolors=ncolors, rows=rows, cols=cols,
        lower=rows >= cols, diagonal=diag, diagonal_index=rows[diag] * ncolors + colors[rows[diag]],
        trees=_tree_sums(rows, cols, colors, ncolors), canonical=canonical,
    )


def _tree_sums(rows: IntArray, cols: IntArray, colors: IntArray, ncolors: int) -> TreeSums:
    """Root the forest of sums (see :class:`TreeSums`) and lay it out in preorder."""
    from scipy.sparse.csgraph import depth_first_order
    from scipy.sparse.linalg import spsolve_triangular

    upper = np.flatnonzero(rows < cols)
    u, w = rows[upper], cols[upper]
    keys, ends = np.unique(np.concatenate([u * ncolors + colors[w], w * ncolors + colors[u]]),
                           return_inverse=True)
    k, e = keys.size, upper.size
    ends = ends.reshape(2, e)
    graph = sp.coo_array((np.ones(e), (ends[0], ends[1])), shape=(k, k))
    ntrees, label = connected_components(graph, directed=False)
    if e != k - ntrees:  # a forest has one edge fewer than nodes per tree
        raise ValueError(
            "acyclic_decompression: substitution is stuck on a 2-colored cycle; "
            "recolor with acyclic_coloring(pattern)"
        )
    roots = np.unique(label, return_index=True)[1]
    # one depth-first search from a virtual root above every tree gives the preorder
    top = sp.coo_array((np.ones(e + ntrees), (np.concatenate([ends[0], np.full(ntrees, k)]),
                                               np.concatenate([ends[1], roots]))), shape=(k + 1, k + 1))
    order, pred = depth_first_order(top.tocsr(), k, directed=False, return_predecessors=True)
    order = order[1:]
    pre = np.empty(k + 1, dtype=np.intp)
    pre[order] = np.arange(k)
    pre[k] = -1
    parent_of = pre[pred[order]]            # preorder parent of each node, -1 for roots
    child = np.flatnonzero(parent_of >= 0)  # in preorder, a parent comes before its children
    ones = np.ones(child.size)
    down = sp.csr_array((ones, (parent_of[child], child)), shape=(k, k))
    eye = sp.eye_array(k, format="csr")
    size = spsolve_triangular((eye - down).tocsr(), np.ones(k), lower=False)   # 1 + children's
    depth = spsolve_triangular((eye - down.T).tocsr(), (parent_of >= 0).astype(float), lower=True)
    # each edge once, as (child, parent); its position is the upper-triangle one
    a, b = pre[ends[0]], pre[ends[1]]
    a_is_child = parent_of[a] == b
    edge_child = np.where(a_is_child, a, b)
    return TreeSums(
        key=keys[order].astype(np.intp),
        sign=np.where(np.rint(depth).astype(np.int64) % 2 == 0, 1.0, -1.0),
        child=edge_child, parent=np.where(a_is_child, b, a),
        start=edge_child, stop=edge_child + np.rint(size[edge_child]).astype(np.intp),
        position=upper,
    )


def bicoloring_decompression(
    pattern: Pattern, row_colors: ArrayLike, col_colors: ArrayLike
) -> BiDecompression:
    """Index maps to read each nonzero of ``J`` from ``J @ Sc`` or ``Sr.T @ J``.

    Each nonzero readable from only one product is read there; those readable
    from both are read from the side whose colors are needed anyway (greedy
    cover).  Raises ValueError if some nonzero is readable from neither (see
    :func:`check_bicoloring`).  See :class:`BiDecompression`.
    """
    func = "bicoloring_decompression"
    csr = _as_pattern(pattern, func)
    m, n = csr.shape
    rc = _as_colors(row_colors, m, func, "row")
    cc = _as_colors(col_colors, n, func, "column")
    rows, cols = _nonzeros(csr)
    reverse = _bicoloring_sources(rows, cols, rc, cc, func)
    nrc, ncc = _ncolors(rc), _ncolors(cc)
    index = np.where(reverse, m * ncc + rc[rows] * n + cols, rows * ncc + cc[cols])
    return BiDecompression(
        shape=csr.shape, row_colors=rc, col_colors=cc, nrow_colors=nrc, ncol_colors=ncc,
        rows=rows, cols=cols, from_reverse=reverse, compressed_index=index,
        forward_colors=np.unique(cc[cols[~reverse]]), reverse_colors=np.unique(rc[rows[reverse]]),
    )
