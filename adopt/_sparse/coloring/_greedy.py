"""Greedy colorings of patterns: partial distance-2 (column, row), star and acyclic.

Algorithms (names as in SparseMatrixColorings.jl):

* partial distance-2 column (row) coloring [GMP05]_: a column takes the lowest color of no
  column sharing a row with it;
* star coloring: Algorithm 4.1 of [GTMP07]_ (direct recovery);
* acyclic coloring: Algorithm 3.1 of [GTPW09]_ (recovery by substitution).

Each tries the given vertex orders, keeps the fewest colors and stops at a lower bound (see
``_orders.py``). The loops run in ``_kernels.py``.
"""

from __future__ import annotations

import scipy.sparse as sp

from ._graph import adjacency, adjacency_walk, column_walk
from ._loops import Loops
from ._orders import fewest_colors, line_bound, orders, symmetric_bound
from ._pattern import IntArray


def column_colors(csr: sp.csr_array, names: tuple[str, ...], seed: int, loops: Loops) -> IntArray:
    """Partial distance-2 colors of the columns of ``csr``."""
    walk = column_walk(csr)
    order = orders(walk, loops, seed)
    return fewest_colors(names, order, lambda vertices: loops.partial_distance2(walk, vertices),
                         line_bound(csr.indptr), order.colored)


def symmetric_colors(csr: sp.csr_array, mirror: IntArray, star: bool, names: tuple[str, ...],
                     seed: int, loops: Loops) -> IntArray:
    """Star (``star``) or acyclic colors of a canonical symmetric pattern (``mirror``: its
    mirror positions)."""
    graph = adjacency(csr, mirror)
    order = orders(adjacency_walk(graph), loops, seed)
    core = loops.star if star else loops.acyclic
    return fewest_colors(names, order, lambda vertices: core(graph, vertices),
                         symmetric_bound(graph, star))
