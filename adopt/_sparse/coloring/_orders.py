"""Vertex orders for the greedy colorings, and the lower bounds that end a search over orders.

Orders (names as in SparseMatrixColorings.jl ``order.jl``, and ``"dsatur"``: the order in which
DSATUR [Brelaz79]_ colors the vertices, so that the greedy coloring in it is DSATUR's) are
computed on the graph being colored, given as a walk (see ``_kernels.py``): for a column coloring
the degree of a column is its number of distance-2 neighbours in the bipartite graph, so no
intersection graph is built.

A tuple of orders is tried in turn and the coloring with the fewest colors is kept (the first
on ties); an order that lists the vertices as an earlier one is not colored again, and the
search stops as soon as a coloring meets a lower bound on the number of colors, since no later
order can do better:

* column (row) coloring: the largest number of nonzeros in a row (column), whose columns
  (rows) pairwise conflict [GMP05]_;
* star and acyclic coloring: every two color classes induce a forest (a star forest for a
  star coloring), so a graph with ``e`` edges on ``v`` non-isolated vertices needs ``k`` colors
  with ``e <= (k - 1) v - k (k - 1) / 2``; a star coloring also needs 3 colors as soon as some
  edge joins two vertices of degree >= 2 (a path on four vertices, or a triangle). The maximum
  degree plus one bounds only distance-2 colorings, not these: an arrowhead has maximum degree
  ``n - 1`` and a star coloring with 2 colors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Union

import numpy as np

from ._loops import Adjacency, Loops, Walk
from ._pattern import IntArray, count

Order = Union[str, Sequence[str]]


Degrees = Callable[[], IntArray]
"""The degrees of the vertices, computed at the first call (only degree-based orders call)."""


def _natural(walk: Walk, degrees: Degrees, loops: Loops, seed: int) -> IntArray:
    return np.arange(walk[0].size - 1, dtype=np.intp)


def _random(walk: Walk, degrees: Degrees, loops: Loops, seed: int) -> IntArray:
    return np.random.default_rng(seed).permutation(walk[0].size - 1).astype(np.intp)


def _largest_first(walk: Walk, degrees: Degrees, loops: Loops, seed: int) -> IntArray:
    return np.argsort(-degrees(), kind="stable").astype(np.intp)


def _dynamic(walk: Walk, degrees: Degrees, loops: Loops, seed: int, *, from_degree: bool,
             step: int, pick_max: bool) -> IntArray:
    """Bucket order on degrees updated as vertices are taken (ColPack's dynamic orders)."""
    degree = degrees()
    key = degree if from_degree else np.zeros_like(degree)
    return loops.bucket_order(walk, key, step, pick_max, int(degree.max(initial=0)) + 1)


def _smallest_last(walk: Walk, degrees: Degrees, loops: Loops, seed: int) -> IntArray:
    return _dynamic(walk, degrees, loops, seed, from_degree=True, step=-1, pick_max=False)[::-1]


def _saturation(walk: Walk, degrees: Degrees, loops: Loops, seed: int) -> tuple[IntArray, IntArray]:
    # a saturation counts at most one color per neighbour: keys 0 .. the largest degree
    return loops.saturation(walk, int(degrees().max(initial=0)) + 1)


def _dsatur(walk: Walk, degrees: Degrees, loops: Loops, seed: int) -> IntArray:
    return _saturation(walk, degrees, loops, seed)[0]


_ORDERS: dict[str, Callable[[Walk, Degrees, Loops, int], IntArray]] = {
    "natural": _natural,
    "largest_first": _largest_first,
    "smallest_last": _smallest_last,
    "incidence_degree": functools.partial(_dynamic, from_degree=False, step=1, pick_max=True),
    "dynamic_largest_first": functools.partial(_dynamic, from_degree=True, step=-1,
                                               pick_max=True),
    "dsatur": _dsatur,
    "random": _random,
}
ORDERS: tuple[str, ...] = tuple(_ORDERS)
"""Vertex orders accepted by :func:`color` (a tuple of them tries each)."""


def resolve(order: Order, func: str) -> tuple[str, ...]:
    """The order names of ``order``, validated."""
    names = (order,) if isinstance(order, str) else tuple(order) if isinstance(order, Sequence) else ()
    unknown = [name for name in names if not (isinstance(name, str) and name in _ORDERS)]
    if unknown or not names:
        what = "" if not unknown else (f": {', '.join(map(repr, unknown))} "
                                       f"{'is not an order' if len(unknown) == 1 else 'are not orders'}")
        raise ValueError(f"{func} got order {order!r}{what}; use one of {ORDERS} or a non-empty "
                         f"tuple of them")
    return names


#: The orders that color the walk as they go: ``(vertices, colors)``, the colors being the
#: greedy colors of the walk in that order (DSATUR's coloring is its order's greedy coloring).
_COLORED: dict[str, Callable[[Walk, Degrees, Loops, int], tuple[IntArray, IntArray]]] = {
    "dsatur": _saturation,
}


class Orders:
    """The vertex orders of one walk: ``orders(name)`` lists its vertices in the order ``name``
    (the degrees computed once for all the orders asked for); ``orders.colored(name)`` gives
    them with the greedy colors of the walk in that order where the order computes those as it
    goes (DSATUR), else None."""

    def __init__(self, walk: Walk, loops: Loops, seed: int) -> None:
        self._args = (walk, functools.cache(lambda: loops.degrees(walk)), loops, seed)

    def __call__(self, name: str) -> IntArray:
        return _ORDERS[name](*self._args)

    def colored(self, name: str) -> tuple[IntArray, IntArray] | None:
        both = _COLORED.get(name)
        return None if both is None else both(*self._args)


def orders(walk: Walk, loops: Loops, seed: int) -> Orders:
    """The vertex orders of ``walk`` by name (see :class:`Orders`)."""
    return Orders(walk, loops, seed)


def fewest_colors(names: tuple[str, ...], order: Callable[[str], IntArray],
                  color: Callable[[IntArray], IntArray], bound: int,
                  colored: Callable[[str], tuple[IntArray, IntArray] | None] | None = None) -> IntArray:
    """The coloring with the fewest colors over the orders ``names`` (the first on ties),
    stopping at the first one with at most ``bound`` colors; an order that lists the vertices
    as one already colored is not colored again (largest first is the natural order when all
    degrees are equal). Where ``color`` is the greedy coloring of the orders' walk, ``colored``
    (:meth:`Orders.colored`) gives the orders that color as they go, which are then not colored
    again (DSATUR on the Brusselator at n = 1e6: a 0.18 s recoloring after its 0.9 s order)."""
    tried: list[IntArray] = []
    best = None
    for name in names:
        if best is not None and count(best) <= bound:
            break
        both = None if colored is None else colored(name)
        if both is None:
            vertices = order(name)
            if any(np.array_equal(vertices, seen) for seen in tried):
                continue
            colors = color(vertices)
        else:
            vertices, colors = both
        tried.append(vertices)
        if best is None or count(colors) < count(best):
            best = colors
    return best


def line_bound(ptr: np.ndarray) -> int:
    """The largest number of entries in a line of a CSR structure."""
    return int(np.diff(ptr).max(initial=0))


def symmetric_bound(graph: Adjacency, star: bool) -> int:
    """A lower bound on the colors of a star (``star``) or acyclic coloring of ``graph``."""
    degree = np.diff(graph[0])
    edges, vertices = graph[1].size // 2, int(np.count_nonzero(degree))
    k = np.arange(1, vertices + 2)
    forest = int(k[np.argmax((k - 1) * vertices - k * (k - 1) // 2 >= edges)])
    if star and edges:
        ends = np.repeat(degree, degree)  # the degree of the first end of each edge position
        if np.any((ends >= 2) & (degree[graph[1]] >= 2)):
            return max(forest, 3)
    return forest
