"""``color``: the one entry point, from a pattern and a kind of coloring to a result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Union

import numpy as np
import scipy.sparse as sp

from ._bicoloring import Bicoloring, bicoloring_result, bicolors
from ._greedy import column_colors, symmetric_colors
from ._loops import Loops, loops_for
from ._orders import Order, resolve
from ._pattern import Pattern, as_pattern, mirror_positions, symmetric_pattern, transpose
from ._results import DirectColoring, one_sided, star_result
from ._substitution import SubstitutionColoring, substitution

Kind = Literal["column", "row", "star", "acyclic", "bicoloring"]
Coloring = Union[DirectColoring, SubstitutionColoring, Bicoloring]

#: DSATUR colors the 5-point stencil with the optimal 5 colors where the degree orders give 7 or
#: 8; after natural and largest first, it gives fewer colors than dynamic largest first on 18 of
#: 40 random, banded and grid patterns and more on 5 (by 1-6 of 88-774 colors), in about the same
#: time (benchmarks/results/coloring.md).
JACOBIAN_ORDERS = ("natural", "largest_first", "dsatur")
BICOLORING_ORDERS = ("natural", "largest_first", "dynamic_largest_first")
HESSIAN_ORDERS = ("natural", "largest_first")
DEFAULT_ORDERS: dict[str, tuple[str, ...]] = {
    "column": JACOBIAN_ORDERS, "row": JACOBIAN_ORDERS, "bicoloring": BICOLORING_ORDERS,
    "star": HESSIAN_ORDERS, "acyclic": HESSIAN_ORDERS,
}
"""The orders :func:`color` tries by default, per kind (stopping at a lower bound)."""


def _column(pattern: Pattern, names: tuple[str, ...], seed: int, loops: Loops,
            func: str) -> DirectColoring:
    csr = as_pattern(pattern, func)
    return one_sided(csr, "column", column_colors(csr, names, seed, loops), func, check=False)


def _row(pattern: Pattern, names: tuple[str, ...], seed: int, loops: Loops,
         func: str) -> DirectColoring:
    csr = as_pattern(pattern, func)
    return one_sided(csr, "row", column_colors(transpose(csr), names, seed, loops), func,
                     check=False)


def _symmetric(star: bool) -> Callable[..., Coloring]:
    def make(pattern: Pattern, names: tuple[str, ...], seed: int, loops: Loops,
             func: str) -> Coloring:
        csr = symmetric_pattern(pattern, func)
        mirror = mirror_positions(csr)
        colors = symmetric_colors(csr, mirror, star, names, seed, loops)
        if star:
            return star_result(csr, colors, func, mirror)
        return substitution(csr, colors, func, loops, check=False, mirror=mirror)

    return make


def _bicoloring(pattern: Pattern, names: tuple[str, ...], seed: int, loops: Loops,
                func: str) -> Bicoloring:
    csr = as_pattern(pattern, func)
    return bicoloring_result(csr, *bicolors(csr, names, seed, loops), func)


_COLORINGS: dict[str, Callable[..., Coloring]] = {
    "column": _column, "row": _row, "star": _symmetric(True), "acyclic": _symmetric(False),
    "bicoloring": _bicoloring,
}
KINDS: tuple[str, ...] = tuple(_COLORINGS)
"""The kinds of coloring :func:`color` computes."""


def color(pattern: Pattern, kind: Kind, order: Order | None = None, *,
          seed: int = 0, jit: bool | None = None) -> Coloring:
    """Color a sparsity pattern for compressed differentiation.

    Parameters
    ----------
    pattern : scipy.sparse matrix or array, or dense array, shape (m, n)
        The structural nonzeros (stored entries, explicit zeros included; or nonzero entries
        of a dense array). Symmetric kinds use ``P | P.T``.
    kind : {"column", "row", "star", "acyclic", "bicoloring"}
        ``"column"``: Jacobian by forward products, a partial distance-2 coloring of the
        columns; ``"row"``: by reverse products; ``"star"``: Hessian read directly from
        Hessian-vector products; ``"acyclic"``: Hessian by substitution (fewer colors);
        ``"bicoloring"``: Jacobian by forward and reverse products.
    order : str or tuple of str, optional
        Vertex order, one of :data:`ORDERS`; a tuple tries each in turn, keeps the fewest
        colors (the first on ties) and stops as soon as a coloring reaches a lower bound on the
        number of colors. Default: :data:`DEFAULT_ORDERS` of ``kind``.
    seed : int, default 0
        Seed of ``np.random.default_rng`` for the ``"random"`` order.
    jit : bool, optional
        Run the greedy loops compiled by numba (True; needs ``pip install 'adopt[fast]'``), as
        plain Python (False, same colors), or (None) compiled when numba is installed and the
        pattern has at least ``COMPILE_ABOVE`` (10 000) nonzeros.

    Returns
    -------
    DirectColoring, SubstitutionColoring or Bicoloring
        Colors, seeds and the decompression of the products into the nonzeros.

    Examples
    --------
    >>> import numpy as np
    >>> tridiagonal = np.eye(5) + np.eye(5, k=1) + np.eye(5, k=-1)
    >>> color(tridiagonal, "column", jit=False).colors
    array([0, 1, 2, 0, 1])
    >>> color(tridiagonal, "acyclic", jit=False).colors
    array([0, 1, 0, 1, 0])
    """
    func = f"color({kind!r})"
    if kind not in _COLORINGS:
        raise ValueError(f"color needs kind one of {KINDS}; got {kind!r}")
    names = resolve(DEFAULT_ORDERS[kind] if order is None else order, func)
    nnz = int(pattern.nnz) if sp.issparse(pattern) else int(np.count_nonzero(pattern))
    return _COLORINGS[kind](pattern, names, seed, loops_for(jit, nnz), func)
