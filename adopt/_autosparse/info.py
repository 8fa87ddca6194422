"""What a sparse prep knows (pattern, colors, output structure) and the public readers of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from adopt._prep import Prep

__all__ = ["SparseInfo", "sparsity_pattern", "ncolors", "column_colors", "row_colors"]


@dataclass(frozen=True, eq=False)
class SparseInfo:
    """The sparse facts of a prep: pattern, colors and the structure of the output."""

    pattern: sp.csr_array
    mode: str                          # "forward", "reverse", "mixed", "star" or "acyclic"
    column_colors: np.ndarray | None
    row_colors: np.ndarray | None
    ncolors: int
    rows: np.ndarray                   # the structure of the output, in its stable order
    cols: np.ndarray



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
    >>> prep = adopt.prepare_jacobian(lambda x: 2 * x, adopt.AutoSparse(adopt.AutoFiniteDiff()), np.ones(3))
    >>> adopt.column_colors(prep)
    array([0, 0, 0])
    """
    return _info(prep, "column_colors").column_colors


def row_colors(prep: Prep) -> np.ndarray | None:
    """The row colors (reverse mode, mixed mode and Hessians), or None in forward mode.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> prep = adopt.prepare_jacobian(lambda x: 2 * x, adopt.AutoSparse(adopt.AutoFiniteDiff()), np.ones(3))
    >>> adopt.row_colors(prep) is None
    True
    """
    return _info(prep, "row_colors").row_colors
