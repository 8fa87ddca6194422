"""The names of the former ``coloring.py`` that ``operators/_sparse_ops.py`` and
``testing/_sparse.py`` still use, as thin views of the results of :func:`color`.

Temporary: delete this module (and its names in ``__init__``) once the sparse pipeline reads
the results directly. Layouts are the former ones: ``B = H @ S`` (n, k) for symmetric
decompressions, ``Bc = J @ Sc`` (m, kc) and ``Br = Sr.T @ J`` (kr, n) for bicolorings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._api import color
from ._bicoloring import Bicoloring
from ._pattern import IntArray, Pattern, count, mirror_positions, symmetric_pattern
from ._results import DirectColoring
from ._substitution import SubstitutionColoring


def _colors(kind: str) -> Any:
    def colors(pattern: Pattern, order: Any = "natural", *, seed: int = 0) -> IntArray:
        return color(pattern, kind, order, seed=seed).colors

    colors.__name__ = f"{kind}_coloring"
    return colors


column_coloring = _colors("column")
row_coloring = _colors("row")
star_coloring = _colors("star")
acyclic_coloring = _colors("acyclic")


def bicoloring(pattern: Pattern, order: Any = "natural", *,
               seed: int = 0) -> tuple[IntArray, IntArray]:
    result = color(pattern, "bicoloring", order, seed=seed)
    return result.row_colors, result.column_colors


def _to_columns(index: IntArray, n: int, k: int) -> IntArray:
    """An index into (k, n) products as one into their (n, k) transpose."""
    return (index % n) * k + index // n


@dataclass(frozen=True)
class SymmetricDecompression:
    ncolors: int
    rows: IntArray
    cols: IntArray
    compressed_index: IntArray


def star_decompression(pattern: Pattern, colors: Any) -> SymmetricDecompression:
    r = DirectColoring.from_colors(pattern, "star", colors)
    return SymmetricDecompression(r.ncolors, r.rows, r.cols,
                                  _to_columns(r.index, r.pattern.shape[0], r.ncolors))


@dataclass(frozen=True)
class TreeSums:
    key: IntArray
    sign: np.ndarray
    child: IntArray
    parent: IntArray
    start: IntArray
    stop: IntArray
    position: IntArray


@dataclass(frozen=True)
class SubstitutionDecompression:
    ncolors: int
    rows: IntArray
    cols: IntArray
    diagonal: IntArray
    diagonal_index: IntArray
    trees: TreeSums
    canonical: IntArray


def acyclic_decompression(pattern: Pattern, colors: Any) -> SubstitutionDecompression:
    r = SubstitutionColoring.from_colors(pattern, colors)
    n, k, m = r.pattern.shape[0], r.ncolors, r.maps
    nodes = m.key.size
    trees = TreeSums(_to_columns(m.key, n, k), np.where(m.signed >= nodes, -1.0, 1.0), m.start,
                     m.parent, m.start, m.stop, np.flatnonzero(r.rows < r.cols))
    canonical = np.minimum(np.arange(r.rows.size), mirror_positions(symmetric_pattern(pattern, "")))
    return SubstitutionDecompression(k, r.rows, r.cols, np.flatnonzero(r.rows == r.cols),
                                     _to_columns(m.diagonal, n, k), trees, canonical)


@dataclass(frozen=True)
class BiDecompression:
    ncol_colors: int
    nrow_colors: int
    rows: IntArray
    cols: IntArray
    from_reverse: np.ndarray
    compressed_index: IntArray
    forward_colors: IntArray
    reverse_colors: IntArray


def bicoloring_decompression(pattern: Pattern, row_colors: Any, col_colors: Any) -> BiDecompression:
    r = Bicoloring.from_colors(pattern, row_colors, col_colors)
    m, n = r.pattern.shape
    ncc, nrc = count(r.column_colors), count(r.row_colors)
    reverse = r.index >= r.forward_colors.size * m
    index = np.where(reverse, m * ncc + r.row_colors[r.rows] * n + r.cols,
                     r.rows * ncc + r.column_colors[r.cols])
    return BiDecompression(ncc, nrc, r.rows, r.cols, reverse, index, r.forward_colors,
                           r.reverse_colors)
