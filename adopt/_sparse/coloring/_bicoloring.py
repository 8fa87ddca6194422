"""Bicoloring: forward products for some columns, reverse products for some rows.

For each vertex order, the candidates are

* a star bicoloring [CV98]_: star coloring of the bipartite graph ``[[0, P], [P.T, 0]]``
  (vertices: rows, then columns), split into row and column colors;
* dense splits: the dense rows (at least ``t`` nonzeros, for each of the three largest row
  counts ``t`` above twice the median) are read in reverse mode, colored by a row coloring of
  those rows, and the other rows in forward mode, from a column coloring of them; the same with
  dense columns; and the pure column and pure row colorings.

Each candidate is then tidied: the product each nonzero is read from is chosen greedily to read
the fewest colors, those colors are renumbered ``0, 1, ...``, and every row (column) none of
whose entries is read from its side moves into the first read color where it spoils no read
entry, or else into one shared extra color that is never read. The candidate reading the fewest
products wins (the first on ties), so a bicoloring never needs more products than the column or
the row coloring with the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, DTypeLike

from . import _check
from ._graph import adjacency_walk, bipartite
from ._greedy import column_colors
from ._loops import Loops
from ._orders import orders
from ._pattern import (BoolArray, IntArray, Pattern, as_colors, as_pattern, count, nonzeros,
                       select, transpose)
from ._results import NUMPY_OPS, DirectMaps, Ops, Result, check_products, index_array, one_hot

Pair = tuple[IntArray, IntArray]
Needs = tuple[BoolArray, BoolArray]  # whether each column color, each row color is read


@dataclass(frozen=True, eq=False, repr=False)
class Bicoloring(Result):
    """A bicoloring: each nonzero read from the forward or from the reverse products.

    Attributes
    ----------
    pattern, rows, cols
        As in :class:`DirectColoring` (the Jacobian's structure).
    row_colors, column_colors : np.ndarray of np.intp
        Shapes (m,) and (n,): a valid bicoloring.
    forward_colors, reverse_colors : np.ndarray of np.intp
        The column (row) colors actually read, in the order of the seeds; ``kf`` and ``kr``.
    ncolors : int
        ``kf + kr``, the number of products.
    index : np.ndarray of np.intp, shape (nnz,)
        ``nonzeros = concat([forward.reshape(-1), reverse.reshape(-1)])[index]`` for the
        (kf, m) forward and (kr, n) reverse products of the seeds.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.coloring import color
    >>> J = np.eye(8); J[0, :] = 1.0; J[:, 0] = 2.0   # an arrowhead: 8 colors by columns or rows
    >>> result = color(J != 0, "bicoloring", jit=False)
    >>> forward, reverse = result.seeds()
    >>> forward.shape, reverse.shape                 # two JVPs and one VJP
    ((2, 8), (1, 8))
    >>> values = result.decompress((forward @ J.T, reverse @ J))
    >>> bool(np.all(values == J[result.rows, result.cols]))
    True
    """

    pattern: sp.csr_array
    row_colors: IntArray
    column_colors: IntArray
    forward_colors: IntArray
    reverse_colors: IntArray
    ncolors: int
    rows: IntArray
    cols: IntArray
    index: IntArray

    kind = "bicoloring"

    @classmethod
    def from_colors(cls, pattern: Pattern, row_colors: ArrayLike,
                    column_colors: ArrayLike) -> Bicoloring:
        """The result of given colors; raises ValueError if some nonzero cannot be read.

        Each nonzero readable from only one side is read there; those readable from both are
        read from the side whose colors are needed anyway (greedy cover).
        """
        func = "Bicoloring.from_colors"
        csr = as_pattern(pattern, func)
        rc = as_colors(row_colors, csr.shape[0], func, "row")
        cc = as_colors(column_colors, csr.shape[1], func, "column")
        return bicoloring_result(csr, rc, cc, func)

    @property
    def maps(self) -> DirectMaps:
        """The index maps :meth:`decompress` reads (convert each to a backend array once)."""
        return DirectMaps(self.index)

    def seed_colors(self) -> tuple[IntArray, IntArray]:
        """Each column's forward seed and each row's reverse seed (-1: none), the colors whose
        one-hot arrays are :meth:`seeds`."""
        return (_positions(self.column_colors, self.forward_colors),
                _positions(self.row_colors, self.reverse_colors))

    def seeds(self, dtype: DTypeLike = np.float64) -> tuple[np.ndarray, np.ndarray]:
        """Forward seeds (kf, n) and reverse seeds (kr, m), for the colors read only."""
        forward, reverse = self.seed_colors()
        return (one_hot(forward, self.forward_colors.size, dtype),
                one_hot(reverse, self.reverse_colors.size, dtype))

    def decompress(self, products: tuple[Any, Any], ops: Ops = NUMPY_OPS,
                   maps: DirectMaps | None = None) -> Any:
        """The nonzeros from the (kf, m) forward and (kr, n) reverse products of the seeds."""
        maps = self.maps if maps is None else maps
        forward, reverse = products
        check_products(forward, self.forward_colors.size, self.pattern.shape[0],
                       "Bicoloring.decompress (forward)")
        check_products(reverse, self.reverse_colors.size, self.pattern.shape[1],
                       "Bicoloring.decompress (reverse)")
        return ops.take(ops.concat([forward.reshape(-1), reverse.reshape(-1)]), maps.index)


def _positions(colors: IntArray, read: IntArray) -> IntArray:
    """Each vertex's seed: the position of its color among the ``read`` ones, else -1."""
    pos = np.full(count(colors), -1, dtype=np.intp)
    pos[read] = np.arange(read.size)
    return pos[colors]


def bicoloring_result(csr: sp.csr_array, rc: IntArray, cc: IntArray, func: str) -> Bicoloring:
    (m, n), (rows, cols) = csr.shape, nonzeros(csr)
    reverse = read_from_reverse(rows, cols, rc, cc, func)
    forward_colors, reverse_colors = np.unique(cc[cols[~reverse]]), np.unique(rc[rows[reverse]])
    kf = forward_colors.size
    index = np.where(reverse, kf * m + _positions(rc, reverse_colors)[rows] * n + cols,
                     _positions(cc, forward_colors)[cols] * m + rows)
    return Bicoloring(csr, rc, cc, forward_colors, reverse_colors,
                      kf + reverse_colors.size, index_array(rows), index_array(cols),
                      index_array(index))


def read_from_reverse(rows: IntArray, cols: IntArray, rc: IntArray, cc: IntArray,
                      func: str) -> BoolArray:
    """For each nonzero, True if it is read from the reverse products, False if forward.

    Forced choices first; the nonzeros readable from both sides are then covered greedily by
    the color (row or column) that covers most of them.
    """
    forward_ok, reverse_ok = _check.readable(rows, cols, rc, cc, func)
    need_c = np.zeros(count(cc), dtype=bool)
    need_r = np.zeros(count(rc), dtype=bool)
    need_c[cc[cols][forward_ok & ~reverse_ok]] = True
    need_r[rc[rows][reverse_ok & ~forward_ok]] = True
    both = forward_ok & reverse_ok
    need_c, _ = _cover(cc[cols][both], rc[rows][both], need_c, need_r)
    return ~forward_ok | ~need_c[cc[cols]]


def _cover(cc: IntArray, rc: IntArray, need_c: BoolArray, need_r: BoolArray) -> Needs:
    """Extend the needed colors so that each pair ``(cc[k], rc[k])`` has a needed side: the
    cheapest of all column colors, all row colors, and a greedy cover."""
    open_ = ~(need_c[cc] | need_r[rc])
    all_c, all_r = need_c.copy(), need_r.copy()
    all_c[cc[open_]] = True
    all_r[rc[open_]] = True
    greedy = _greedy_cover(cc, rc, need_c.copy(), need_r.copy())
    options = [(all_c, need_r), (need_c, all_r), greedy]
    return min(options, key=lambda pair: int(pair[0].sum() + pair[1].sum()))


def _greedy_cover(cc: IntArray, rc: IntArray, need_c: BoolArray, need_r: BoolArray) -> Needs:
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


def bicolors(csr: sp.csr_array, names: tuple[str, ...], seed: int, loops: Loops) -> Pair:
    """Row and column colors of the best candidate over ``names`` (see the module)."""
    candidates, flipped = [], transpose(csr)
    for name in names:
        candidates.append(_star_bicoloring(csr, name, seed, loops))
        candidates += [_split_rows(csr, dense, name, seed, loops) for dense in _dense_lines(csr)]
        candidates += [_split_rows(flipped, dense, name, seed, loops)[::-1]
                       for dense in _dense_lines(flipped)]
    return min(candidates, key=lambda pair: _cost(csr, pair))


def _star_bicoloring(csr: sp.csr_array, name: str, seed: int, loops: Loops) -> Pair:
    graph = bipartite(csr)
    colors = loops.star(graph, orders(adjacency_walk(graph), loops, seed)(name))
    return _tidy(csr, (colors[: csr.shape[0]], colors[csr.shape[0]:]))


def _dense_lines(csr: sp.csr_array, ncounts: int = 3) -> list[BoolArray]:
    """Masks of dense rows: none, then rows with at least ``t`` nonzeros for the ``ncounts``
    largest row counts ``t`` above twice the median row count."""
    nnz = np.diff(csr.indptr)
    masks = [np.zeros(nnz.size, dtype=bool)]
    if nnz.size:
        counts = np.unique(nnz[nnz > 2 * np.median(nnz)])[::-1][:ncounts]
        masks.extend(nnz >= t for t in counts)
    return masks


def _split_rows(csr: sp.csr_array, dense: BoolArray, name: str, seed: int, loops: Loops) -> Pair:
    """Rows in ``dense`` read in reverse mode, all other nonzeros in forward mode."""
    reverse = dense[nonzeros(csr)[0]]
    row_colors = column_colors(transpose(select(csr, reverse)), (name,), seed, loops)
    col_colors = column_colors(select(csr, ~reverse), (name,), seed, loops)
    return _tidy(csr, (row_colors, col_colors), reverse)


def _tidy(csr: sp.csr_array, pair: Pair, reverse: BoolArray | None = None) -> Pair:
    """Choose read sides (unless given), renumber read colors, merge unread rows/columns.

    Choosing the read sides again on the tidied colors can free more colors, so that is
    repeated (at most twice) while it lowers the cost.
    """
    rows, cols = nonzeros(csr)
    if reverse is None:
        reverse = read_from_reverse(rows, cols, *pair, "bicoloring")
    pair = _merge_both(rows, cols, reverse, pair, csr.shape)
    for _ in range(2):
        reverse = read_from_reverse(rows, cols, *pair, "bicoloring")
        tidier = _merge_both(rows, cols, reverse, pair, csr.shape)
        if _cost(csr, tidier) >= _cost(csr, pair):
            break
        pair = tidier
    return pair


def _merge_both(rows: IntArray, cols: IntArray, reverse: BoolArray, pair: Pair,
                shape: tuple[int, int]) -> Pair:
    return (_merge_unread(rows, cols, reverse, pair[0], shape),
            _merge_unread(cols, rows, ~reverse, pair[1], shape[::-1]))


def _merge_unread(vert: IntArray, other: IntArray, read: BoolArray, colors: IntArray,
                  shape: tuple[int, int]) -> IntArray:
    """Renumber the read colors to 0..k-1 and recolor vertices with no read entry.

    A vertex ``u`` with no read entry may join read color ``c`` unless it has a nonzero in
    some line ``o`` where an entry of color ``c`` is read; otherwise it joins color ``k``
    (shared by all such vertices).
    """
    nvert, nother = shape
    used = np.unique(colors[vert[read]])
    renumber = np.zeros(count(colors), dtype=np.intp)
    renumber[used] = np.arange(used.size)
    active = np.zeros(nvert, dtype=bool)
    active[vert[read]] = True
    new = np.where(active, renumber[colors], 0)
    reads = sp.csr_array((np.ones(int(read.sum()), bool), (other[read], new[vert[read]])),
                         shape=(nother, used.size))
    idle = ~active[vert]
    lines = sp.csr_array((np.ones(int(idle.sum()), bool), (vert[idle], other[idle])),
                         shape=(nvert, nother))
    clash = (lines @ reads).tocsr()
    clash.sum_duplicates()
    return np.where(active, new, _first_free(clash))


def _first_free(clash: sp.csr_array) -> IntArray:
    """Per row of a sorted CSR pattern, the smallest column index not stored."""
    rows, cols = nonzeros(clash)
    rank = np.arange(cols.size) - clash.indptr[:-1][rows]
    free = np.diff(clash.indptr).astype(np.intp)
    gaps = cols != rank
    np.minimum.at(free, rows[gaps], rank[gaps])
    return free


def _cost(csr: sp.csr_array, pair: Pair) -> tuple[int, int]:
    """Products read (distinct forward plus reverse colors read), then all colors."""
    rows, cols = nonzeros(csr)
    reverse = read_from_reverse(rows, cols, *pair, "bicoloring")
    read = np.unique(pair[0][rows[reverse]]).size + np.unique(pair[1][cols[~reverse]]).size
    return read, count(pair[0]) + count(pair[1])
