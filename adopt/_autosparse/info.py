"""What a sparse prep knows (pattern, colors, output structure) and the public readers of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from adopt._prep import Prep
from adopt._sparse.coloring import Coloring

__all__ = ["SparseInfo", "sparsity_pattern", "ncolors", "column_colors", "row_colors"]


@dataclass(frozen=True, eq=False)
class SparseInfo:
    """The sparse facts of a prep: the detected pattern and the coloring result, which holds the
    colors and the structure of the output (its ``rows``, ``cols``, in their stable order)."""

    pattern: sp.csr_array
    coloring: Coloring

    @property
    def mode(self) -> str:
        """How the products are made: "forward", "reverse", "mixed", "star" or "acyclic"."""
        return _MODES[self.coloring.kind]

    @property
    def column_colors(self) -> np.ndarray | None:
        return self.coloring.column_colors

    @property
    def row_colors(self) -> np.ndarray | None:
        return self.coloring.row_colors

    @property
    def ncolors(self) -> int:
        return self.coloring.ncolors

    @property
    def rows(self) -> np.ndarray:
        return self.coloring.rows

    @property
    def cols(self) -> np.ndarray:
        return self.coloring.cols


_MODES = {"column": "forward", "row": "reverse", "bicoloring": "mixed", "star": "star",
          "acyclic": "acyclic"}


def _info(prep: Prep, what: str):  # noqa: ANN202 - returns the private SparseInfo
    info = prep.info.get("sparse")
    if info is None:
        raise ValueError(
            f"{what}: this {prep.operator} prep is not sparse; prepare with an AutoSparse backend, "
            "e.g. prepare_jacobian(f, AutoSparse(AutoJAX()), x)"
        )
    return info


def sparsity_pattern(prep: Prep) -> sp.csr_array:
    """The boolean sparsity pattern (``scipy.sparse.csr_array``) a sparse prep was built on.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> prep = adopt.prepare_jacobian(lambda x: 2 * x, adopt.AutoSparse(adopt.AutoFiniteDiff()), np.ones(3))
    >>> adopt.sparsity_pattern(prep).toarray()
    array([[ True, False, False],
           [False,  True, False],
           [False, False,  True]])
    """
    return _info(prep, "sparsity_pattern").pattern


def ncolors(prep: Prep) -> int:
    """The number of compressed products (colors) a prepared sparse call computes.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> prep = adopt.prepare_jacobian(lambda x: 2 * x, adopt.AutoSparse(adopt.AutoFiniteDiff()), np.ones(3))
    >>> adopt.ncolors(prep)
    1
    """
    return _info(prep, "ncolors").ncolors


def column_colors(prep: Prep) -> np.ndarray | None:
    """The column colors (forward mode, mixed mode and Hessians), or None in reverse mode.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> f = lambda x: x[1:] * x[:-1]  # a bidiagonal Jacobian: alternate columns share a color
    >>> adopt.column_colors(adopt.prepare_jacobian(f, adopt.AutoSparse(adopt.AutoFiniteDiff()), np.ones(4)))
    array([0, 1, 0, 1])
    """
    return _info(prep, "column_colors").column_colors


def row_colors(prep: Prep) -> np.ndarray | None:
    """The row colors (reverse mode, mixed mode and Hessians), or None in forward mode.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> forward = adopt.AutoSparse(adopt.AutoFiniteDiff())  # finite differences: forward mode
    >>> adopt.row_colors(adopt.prepare_jacobian(np.sin, forward, np.ones(3))) is None
    True
    """
    return _info(prep, "row_colors").row_colors
