"""Recovery of a symmetric matrix by substitution (acyclic colorings), in closed form.

Each compressed sum ``products[c, u]`` (``c`` not the color of ``u``) is a *node*; each
off-diagonal pair ``H[u, w]`` is an *edge* joining the nodes ``(colors[w], u)`` and
``(colors[u], w)``. An acyclic coloring makes these nodes a forest, and each sum is the total of
its node's edges. Rooting every tree, the edge above a node equals the alternating sum of the
node sums over the node's subtree, and with the nodes in preorder a subtree is a contiguous
range, so with ``a = (-1) ** depth * sums`` and ``C = prefix_sum(a)``::

    edge value = (-1) ** depth(child) * (C[stop] - C[start])

a gather, a cumulative sum and a few element-wise operations over the nonzeros, with no
sequential levels. One step of iterative refinement (the same formula applied to the residual
of every sum) keeps the error at the scale of each tree's own entries. The signs are applied by
gathers from ``[x, -x]``, so the decompression needs only :class:`Ops` and integer maps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, DTypeLike
from scipy.sparse.csgraph import connected_components, depth_first_order

from . import _check
from ._loops import Loops, loops_for
from ._pattern import (IntArray, Pattern, as_colors, count, mirror_positions, nonzeros, select,
                       symmetric_pattern)
from ._results import (NUMPY_OPS, Ops, Result, Triangle, check_products, index_array, one_hot,
                       triangle_mask)


class SubstitutionMaps(NamedTuple):
    """Index maps of :meth:`SubstitutionColoring.decompress` (``K`` nodes, ``E`` edges)."""

    key: IntArray       #: (K,) each node's entry of ``products.reshape(-1)``, nodes in preorder
    signed: IntArray    #: (K,) ``i`` or ``K + i``: node ``i``'s signed sum in ``[b, -b]``
    start: IntArray     #: (E,) the child node of each edge, where its subtree starts
    stop: IntArray      #: (E,) where the child's subtree ends
    parent: IntArray    #: (E,) the parent node of each edge
    diagonal: IntArray  #: (D,) each diagonal nonzero's entry of ``products.reshape(-1)``
    source: IntArray    #: (nnz,) each nonzero's entry of ``[diagonal, d, -d]`` (see decompress)


@dataclass(frozen=True, eq=False, repr=False)
class SubstitutionColoring(Result):
    """An acyclic coloring of a symmetric pattern, recovered by substitution.

    Attributes
    ----------
    pattern, colors, ncolors, rows, cols, triangle
        As in :class:`DirectColoring` (kind ``"star"``).
    maps : SubstitutionMaps
        The integer index maps of :meth:`decompress`.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.coloring import color
    >>> H = np.diag([1., 2., 3., 4.]) + np.diag([5., 6., 7.], 1) + np.diag([5., 6., 7.], -1)
    >>> result = color(H != 0, "acyclic", jit=False)
    >>> result.ncolors
    2
    >>> result.decompress(result.seeds() @ H)      # k Hessian-vector products of shape (n,)
    array([1., 5., 5., 2., 6., 6., 3., 7., 7., 4.])
    """

    pattern: sp.csr_array
    colors: IntArray
    ncolors: int
    rows: IntArray
    cols: IntArray
    maps: SubstitutionMaps
    triangle: Triangle | None = None

    @classmethod
    def from_colors(cls, pattern: Pattern, colors: ArrayLike, *,
                    jit: bool | None = None) -> SubstitutionColoring:
        """The result of given colors; raises ValueError unless they are an acyclic coloring
        of ``P | P.T``. ``jit`` as in :func:`color`.

        Examples
        --------
        >>> import numpy as np
        >>> SubstitutionColoring.from_colors(np.eye(3), [0, 0, 0], jit=False).ncolors
        1
        """
        func = "SubstitutionColoring.from_colors"
        csr = symmetric_pattern(pattern, func)
        return substitution(csr, as_colors(colors, csr.shape[0], func, "vertex"), func,
                            loops_for(jit, csr.nnz))

    kind = "acyclic"

    @property
    def column_colors(self) -> IntArray:
        """The colors of the columns (those of the rows: the pattern is symmetric)."""
        return self.colors

    @property
    def row_colors(self) -> IntArray:
        """The colors of the rows (those of the columns: the pattern is symmetric)."""
        return self.colors

    def seeds(self, dtype: DTypeLike = np.float64) -> np.ndarray:
        """The ``k`` seed tangents, shape (k, n): ``S[c, j] = 1`` where ``colors[j] == c``."""
        return one_hot(self.colors, self.ncolors, dtype)

    def decompress(self, products: Any, ops: Ops = NUMPY_OPS,
                   maps: SubstitutionMaps | None = None) -> Any:
        """The nonzeros (in the order of ``rows``, ``cols``) from the (k, n) Hessian-vector
        products of the seeds."""
        check_products(products, self.ncolors, self.pattern.shape[1],
                       "SubstitutionColoring.decompress")
        m = self.maps if maps is None else maps
        flat = products.reshape(-1)
        b = ops.take(flat, m.key)
        a = ops.take(ops.concat([b, -b]), m.signed)
        d = _differences(a, m, ops)
        nodes = m.key.shape[0]
        residual = a - ops.segment_sum(d, m.start, nodes) + ops.segment_sum(d, m.parent, nodes)
        d = d + _differences(residual, m, ops)
        return ops.take(ops.concat([ops.take(flat, m.diagonal), d, -d]), m.source)

    def select(self, triangle: Triangle | None) -> SubstitutionColoring:
        """The same coloring listing only the ``"lower"`` or ``"upper"`` triangle (with the
        diagonal), or every nonzero (None); see :meth:`DirectColoring.select`."""
        keep = triangle_mask(self, triangle)
        return replace(self, pattern=select(self.pattern, keep), rows=self.rows[keep],
                       cols=self.cols[keep], maps=self.maps._replace(source=self.maps.source[keep]),
                       triangle=triangle)


def _differences(a: Any, maps: SubstitutionMaps, ops: Ops) -> Any:
    """``C[stop] - C[start]`` for ``C`` the prefix sums of ``a``."""
    C = ops.prefix_sum(a)
    return ops.take(C, maps.stop) - ops.take(C, maps.start)


def substitution(csr: sp.csr_array, colors: IntArray, func: str, loops: Loops,
                 check: bool = True, mirror: IntArray | None = None) -> SubstitutionColoring:
    """The substitution result of a symmetric pattern and colors, checked unless they come
    from a greedy acyclic coloring (a 2-colored cycle is caught in :func:`_preorder` anyway)."""
    if check:
        _check.acyclic(csr, colors, func)
    n, k = csr.shape[0], count(colors)
    rows, cols = nonzeros(csr)
    upper = np.flatnonzero(rows < cols)
    u, w = rows[upper], cols[upper]
    keys, ends = _distinct(np.concatenate([colors[w] * n + u, colors[u] * n + w]), k * n)
    order, parent_of = _preorder(keys.size, ends.reshape(2, -1), func)
    depth, size = loops.tree_layout(parent_of)
    pre = np.empty(keys.size, dtype=np.intp)
    pre[order] = np.arange(keys.size)
    a, b = pre[ends[: upper.size]], pre[ends[upper.size:]]
    child = np.where(parent_of[a] == b, a, b)   # each edge once, as (child, parent)
    diagonal = np.flatnonzero(rows == cols)
    negative = depth[child] % 2 == 1            # the edge is -(C[stop] - C[start])
    slot = np.empty(rows.size, dtype=np.intp)   # each nonzero's entry of [diagonal, d, -d]
    slot[diagonal] = np.arange(diagonal.size)
    edge_slot = diagonal.size + np.arange(upper.size) + upper.size * negative
    slot[upper] = edge_slot
    slot[(mirror_positions(csr) if mirror is None else mirror)[upper]] = edge_slot
    maps = SubstitutionMaps(
        key=index_array(keys[order]),
        signed=index_array(np.arange(keys.size) + keys.size * (depth % 2)),
        start=index_array(child), stop=index_array(child + size[child]),
        parent=index_array(np.where(child == a, b, a)),
        diagonal=index_array(colors[rows[diagonal]] * n + rows[diagonal]), source=index_array(slot))
    return SubstitutionColoring(csr, colors, k, index_array(rows), index_array(cols), maps)


def _distinct(keys: IntArray, bound: int) -> tuple[IntArray, IntArray]:
    """The distinct ``keys`` (all below ``bound``) in increasing order, and the position of each
    key among them: ``np.unique(keys, return_inverse=True)``, without sorting when ``bound`` is
    at most a few times the number of keys."""
    if bound > 4 * keys.size + 1024:
        return np.unique(keys, return_inverse=True)
    present = np.zeros(bound, dtype=bool)
    present[keys] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[keys]


def _preorder(nodes: int, ends: IntArray, func: str) -> tuple[IntArray, IntArray]:
    """The nodes of the forest with edges ``ends`` in depth-first preorder, and the preorder
    index of each one's parent (-1 for a root); raises if the graph has a cycle.

    Each tree is rooted at its node of most edges: a hub's edges then lie in short subtrees,
    whose sums do not cancel large terms of each other.
    """
    edges = ends.shape[1]
    graph = sp.coo_array((np.ones(edges), (ends[0], ends[1])), shape=(nodes, nodes))
    ntrees, label = connected_components(graph, directed=False)
    if edges != nodes - ntrees:  # a forest has one edge fewer than nodes per tree
        raise ValueError(f"{func}: substitution is stuck on a 2-colored cycle; recolor with "
                         f"color(pattern, 'acyclic')")
    degree = np.bincount(ends.reshape(-1), minlength=nodes)
    by_tree = np.lexsort((-degree, label))  # in each tree, its node of most edges first
    roots = by_tree[np.flatnonzero(np.diff(label[by_tree], prepend=-1))]
    # one depth-first search from a virtual root above every tree gives the preorder
    top = sp.coo_array((np.ones(edges + ntrees), (np.concatenate([ends[0], np.full(ntrees, nodes)]),
                                                  np.concatenate([ends[1], roots]))),
                       shape=(nodes + 1, nodes + 1))
    order, pred = depth_first_order(top.tocsr(), nodes, directed=False, return_predecessors=True)
    order = order[1:]
    pre = np.full(nodes + 1, -1, dtype=np.intp)
    pre[order] = np.arange(nodes)
    pre[nodes] = -1
    return order.astype(np.intp), pre[pred[order]]
