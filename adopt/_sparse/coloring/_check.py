"""Validity of colorings, by their definitions (as SparseMatrixColorings.jl ``check.jl``).

Each ``check_*`` function raises ValueError naming the offending nonzero (or pair of
columns, or cycle) and the coloring to use instead; the results of :func:`color` run the same
checks when they are built from given colors.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.csgraph import connected_components

from ._pattern import (BoolArray, IntArray, Pattern, as_colors, as_pattern, count, group_counts,
                       mirror_positions, nonzeros, symmetric_pattern, transpose)


def raise_if_unreadable(bad: BoolArray, rows: IntArray, cols: IntArray, func: str,
                        fix: str) -> None:
    """Raise if some nonzero (``bad``) cannot be read from any compressed product."""
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"{func}: the colors mix nonzero ({rows[k]}, {cols[k]}) with another nonzero of the "
            f"same color in every compressed product, so it cannot be recovered "
            f"({int(bad.sum())} such nonzeros); recolor with {fix}")


def lines(csr: sp.csr_array, colors: IntArray, func: str, names: tuple[str, str]) -> None:
    """No two columns of ``csr`` with one color share a row (``names``: column, row)."""
    rows, cols = nonzeros(csr)
    clash = group_counts(rows, colors[cols]) > 1
    if clash.any():
        k = int(np.argmax(clash))
        same = (rows == rows[k]) & (colors[cols] == colors[cols[k]]) & (cols != cols[k])
        raise ValueError(
            f"{func}: {names[0]}s {cols[k]} and {cols[same][0]} share nonzero {names[1]} "
            f"{rows[k]} but both have color {colors[cols[k]]}; recolor with "
            f"color(pattern, {names[0]!r})")


def star_direct(csr: sp.csr_array, colors: IntArray, func: str,
                mirror: IntArray | None = None) -> BoolArray:
    """For each nonzero of a symmetric pattern, whether it is read in its own row (else in its
    column); raises if neither works. ``mirror``: :func:`mirror_positions` of ``csr``."""
    rows, cols = nonzeros(csr)
    direct = group_counts(rows, colors[cols]) == 1
    mirror = mirror_positions(csr) if mirror is None else mirror
    raise_if_unreadable(~(direct | direct[mirror]), rows, cols, func,
                        "color(pattern, 'star')")
    return direct


def acyclic(csr: sp.csr_array, colors: IntArray, func: str) -> None:
    """Adjacent vertices differ in color and every two colors induce a forest."""
    rows, cols = nonzeros(csr)
    same = (rows != cols) & (colors[rows] == colors[cols])
    if same.any():
        k = int(np.argmax(same))
        raise ValueError(f"{func}: adjacent vertices {rows[k]} and {cols[k]} both have color "
                         f"{colors[rows[k]]}; recolor with color(pattern, 'acyclic')")
    upper = rows < cols
    cycle = _two_colored_cycle(rows[upper], cols[upper], colors)
    if cycle is not None:
        raise ValueError(
            f"{func}: the vertices of colors {cycle[0]} and {cycle[1]} contain a cycle (through "
            f"vertex {cycle[2]}), so substitution cannot recover the Hessian; recolor with "
            f"color(pattern, 'acyclic')")


def _two_colored_cycle(i: IntArray, j: IntArray, colors: IntArray) -> tuple[int, int, int] | None:
    """A 2-colored subgraph with a cycle, as ``(color_a, color_b, vertex)``, or None.

    Nodes are (vertex, color pair); a subgraph is a forest iff its number of edges is its
    number of nodes minus its number of components.
    """
    if i.size == 0:
        return None
    low = np.minimum(colors[i], colors[j])
    high = np.maximum(colors[i], colors[j])
    _, pair = np.unique(low * (count(colors) + 1) + high, return_inverse=True)
    npairs = int(pair.max()) + 1
    keys, ends = np.unique(np.concatenate([i, j]) * npairs + np.tile(pair, 2),
                           return_inverse=True)
    graph = sp.coo_array((np.ones(i.size), (ends[: i.size], ends[i.size:])),
                         shape=(keys.size, keys.size))
    ncomp, label = connected_components(graph, directed=False)
    if i.size == keys.size - ncomp:
        return None
    edges_per = np.bincount(label[ends[: i.size]], minlength=ncomp)
    bad = int(np.argmax(edges_per >= np.bincount(label, minlength=ncomp)))
    k = int(np.argmax(label[ends[: i.size]] == bad))
    return int(low[k]), int(high[k]), int(i[k])


def readable(rows: IntArray, cols: IntArray, row_colors: IntArray, col_colors: IntArray,
             func: str) -> tuple[BoolArray, BoolArray]:
    """For each nonzero ``(rows[k], cols[k])``, whether it is readable from the forward and
    from the reverse products; raises if from neither."""
    forward = group_counts(rows, col_colors[cols]) == 1
    reverse = group_counts(row_colors[rows], cols) == 1
    raise_if_unreadable(~(forward | reverse), rows, cols, func,
                        "color(pattern, 'bicoloring')")
    return forward, reverse


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
    csr = as_pattern(pattern, "check_column_coloring")
    colors = as_colors(colors, csr.shape[1], "check_column_coloring", "column")
    lines(csr, colors, "check_column_coloring", ("column", "row"))


def check_row_coloring(pattern: Pattern, colors: ArrayLike) -> None:
    """Raise ValueError unless no two rows of one color share a nonzero column.

    Examples
    --------
    >>> import numpy as np
    >>> check_row_coloring(np.eye(2), [0, 0])
    """
    csr = transpose(as_pattern(pattern, "check_row_coloring"))
    colors = as_colors(colors, csr.shape[1], "check_row_coloring", "row")
    lines(csr, colors, "check_row_coloring", ("row", "column"))


def check_star_coloring(pattern: Pattern, colors: ArrayLike) -> None:
    """Raise ValueError unless every nonzero of ``P | P.T`` is directly recoverable.

    For each nonzero ``(i, j)``, either ``j`` is the only column of its color with a nonzero
    in row ``i`` (read in row ``i`` of the compressed product) or ``i`` is the only one of its
    color in row ``j``.

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
    csr = symmetric_pattern(pattern, "check_star_coloring")
    star_direct(csr, as_colors(colors, csr.shape[0], "check_star_coloring", "vertex"),
                "check_star_coloring")


def check_acyclic_coloring(pattern: Pattern, colors: ArrayLike) -> None:
    """Raise ValueError unless ``colors`` is an acyclic coloring of ``P | P.T``.

    Adjacent vertices must differ in color, and the subgraph induced by any two colors must
    be a forest (no cycle).

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
    csr = symmetric_pattern(pattern, "check_acyclic_coloring")
    acyclic(csr, as_colors(colors, csr.shape[0], "check_acyclic_coloring", "vertex"),
            "check_acyclic_coloring")


def check_bicoloring(pattern: Pattern, row_colors: ArrayLike, col_colors: ArrayLike) -> None:
    """Raise ValueError unless every nonzero is readable from the forward or reverse products.

    Nonzero ``(i, j)`` is readable from the forward products (column colors) if ``j`` is the
    only column of its color in row ``i``, and from the reverse products (row colors) if ``i``
    is the only row of its color in column ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> check_bicoloring(np.ones((2, 2)), [0, 1], [0, 0])
    """
    csr = as_pattern(pattern, "check_bicoloring")
    rc = as_colors(row_colors, csr.shape[0], "check_bicoloring", "row")
    cc = as_colors(col_colors, csr.shape[1], "check_bicoloring", "column")
    readable(*nonzeros(csr), rc, cc, "check_bicoloring")
