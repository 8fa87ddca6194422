"""The greedy loops of ``_kernels.py``, compiled by numba when it is installed.

numba is optional (``pip install 'adopt[fast]'``) and imported at the first coloring, not with
adopt. Each loop compiles at its first call and is cached on disk (``cache=True``, next to
these sources or in numba's user cache), so only the first coloring on a machine pays the
compilation (seconds; later processes load the loops in under a second: see
``benchmarks/results/coloring.md``). Without numba the same functions run as plain Python on
lists, with the same colors, one to two orders of magnitude slower.
"""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from adopt._errors import MissingDependencyError

from . import _kernels
from ._pattern import IntArray

Walk = tuple[IntArray, IntArray, IntArray, IntArray]
"""``(ptr1, idx1, ptr2, idx2)``: see ``_kernels.py``."""
Adjacency = tuple[IntArray, IntArray, IntArray]
"""``(ptr, nbr, mirror)``: see ``_kernels.py``."""


@dataclass(frozen=True)
class Loops:
    """The kernels and how to hand them arrays: compiled (NumPy in) or plain Python (lists in).

    Examples
    --------
    >>> import numpy as np
    >>> loops = loops_for(jit=False)
    >>> path = (np.array([0, 1, 3, 4]), np.array([1, 0, 2, 1]), np.arange(4), np.arange(3))
    >>> loops.degrees(path)
    array([1, 2, 1])
    """

    compiled: bool
    fns: types.SimpleNamespace

    def _in(self, dtype: np.dtype, *arrays: IntArray) -> list[Any]:
        if self.compiled:
            return [np.asarray(a, dtype=dtype) for a in arrays]
        return [np.asarray(a).tolist() for a in arrays]

    def _buf(self, size: int, fill: int, dtype: np.dtype) -> Any:
        return np.full(size, fill, dtype=dtype) if self.compiled else [fill] * size

    @staticmethod
    def _out(buf: Any) -> IntArray:
        return np.asarray(buf, dtype=np.intp)

    def degrees(self, walk: Walk) -> IntArray:
        """The number of distinct vertices the walk reaches from each vertex (itself excluded)."""
        n, t = walk[0].size - 1, walk[1].dtype
        degree = self._buf(n, 0, t)
        self.fns.distance2_degrees(*self._in(t, *walk), self._buf(n, -1, t), degree)
        return self._out(degree)

    def bucket_order(self, walk: Walk, key: IntArray, step: int, pick_max: bool,
                     nbuckets: int) -> IntArray:
        """Vertices taken by largest (``pick_max``) or smallest dynamic key, which stays in
        ``0 .. nbuckets - 1``; see ``_kernels``."""
        n = key.size
        if n == 0:
            return np.zeros(0, dtype=np.intp)
        t = walk[1].dtype
        order, pool = self._buf(n, -1, t), 3 * n  # pool: vertices + at least 2 n updates
        self.fns.bucket_order(*self._in(t, *walk, key.copy()), self._buf(n, -1, t), step, pick_max,
                              self._buf(nbuckets, -1, t), self._buf(pool, -1, t),
                              self._buf(pool, -1, t), self._buf(n, -1, t), order)
        return self._out(order)

    def saturation(self, walk: Walk, nbuckets: int) -> tuple[IntArray, IntArray]:
        """The vertices in the order DSATUR colors them (saturation below ``nbuckets``) and
        its colors, the greedy colors of the walk in that order; see ``_kernels``."""
        n, t = walk[0].size - 1, walk[1].dtype
        if n == 0:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        i64, pool = np.dtype(np.int64), 3 * n
        order, colors = self._buf(n, -1, t), self._buf(n, -1, t)
        self.fns.saturation_order(*self._in(t, *walk), self._buf(n, 0, t), self._buf(n, -1, t),
                                  self._buf(n, 0, i64), self._buf(walk[2].size - 1, 0, i64),
                                  self._buf(n + 1, -1, t), colors,
                                  self._buf(nbuckets, -1, t), self._buf(pool, -1, t),
                                  self._buf(pool, -1, t), self._buf(n, -1, t), order)
        return self._out(order), self._out(colors)

    def partial_distance2(self, walk: Walk, order: IntArray) -> IntArray:
        """Greedy colors of the vertices of ``walk`` in ``order`` (distance 2 for a walk through
        a bipartite graph)."""
        n, t = walk[0].size - 1, walk[1].dtype
        colors, used = self._buf(n, -1, t), self._buf(walk[2].size - 1, 0, np.dtype(np.int64))
        self.fns.partial_distance2(*self._in(t, *walk, order), used, self._buf(n + 1, -1, t),
                                   colors)
        return self._out(colors)

    def star(self, adjacency: Adjacency, order: IntArray) -> IntArray:
        """Greedy star coloring of ``adjacency`` in ``order``."""
        n, size, t = adjacency[0].size - 1, adjacency[1].size, adjacency[1].dtype
        colors = self._buf(n, -1, t)
        vertex = [self._buf(n + 1, -1, t) for _ in range(5)]   # forbidden, treated, first_v/w/e
        edges = [self._buf(size, -1, t) for _ in range(2)]     # star of each edge, hub of each star
        self.fns.star(*self._in(t, *adjacency, order), colors, *vertex, *edges,
                      *self._tables(n, size, t, flags=True))
        return self._out(colors)

    def acyclic(self, adjacency: Adjacency, order: IntArray) -> IntArray:
        """Greedy acyclic coloring of ``adjacency`` in ``order``."""
        n, size, t = adjacency[0].size - 1, adjacency[1].size, adjacency[1].dtype
        colors = self._buf(n, -1, t)
        vertex = [self._buf(n + 1, -1, t) for _ in range(3)]   # forbidden, first_v, first_e
        parent = self._in(t, np.arange(size, dtype=t))[0]
        visits = [self._buf(size, -1, t) for _ in range(2)]
        self.fns.acyclic(*self._in(t, *adjacency, order), colors, *vertex, parent, *visits,
                         *self._tables(n, size, t, flags=False))
        return self._out(colors)

    def _tables(self, n: int, size: int, t: np.dtype, flags: bool) -> list[Any]:
        """Per-vertex color tables: keys, values, (hub flags), listed slots, their counts."""
        tables = [self._buf(2 * size, -1, t), self._buf(2 * size, -1, t)]
        if flags:
            tables.append(self._buf(2 * size, 0, np.dtype(np.int8)))
        return [*tables, self._buf(size, -1, t), self._buf(n, 0, t)]

    def tree_layout(self, parent: IntArray) -> tuple[IntArray, IntArray]:
        """Depth and subtree size of each node of a forest given in preorder."""
        t = index_type(parent.size)
        depth, size = self._buf(parent.size, 0, t), self._buf(parent.size, 1, t)
        self.fns.tree_layout(*self._in(t, parent), depth, size)
        return self._out(depth), self._out(size)


def index_type(bound: int) -> np.dtype:
    """The integer type of the kernels' arrays for values below ``bound``: int32 when it fits."""
    return np.dtype(np.int32 if bound < 2**31 - 1 else np.int64)


#: With ``jit=None``, patterns with fewer nonzeros than this run the plain Python loops: they
#: finish before numba would have loaded its cached machine code (about 0.5-1 s at the first
#: coloring of a process; measured in ``benchmarks/results/coloring.md``).
COMPILE_ABOVE = 10_000


def loops_for(jit: bool | None, nnz: int | None = None) -> Loops:
    """The loops to run: compiled if ``jit`` (numba required), plain Python if not ``jit``, and
    if ``jit`` is None compiled when numba is installed and the pattern has at least
    :data:`COMPILE_ABOVE` nonzeros (``nnz``).

    Examples
    --------
    >>> loops_for(jit=False).compiled
    False
    """
    if jit is False or (jit is None and nnz is not None and nnz < COMPILE_ABOVE):
        return _python()
    compiled = _compiled()
    if compiled is None and jit:
        raise MissingDependencyError(
            "color(..., jit=True) needs numba, which is not installed: pip install "
            "'adopt[fast]', or pass jit=None to run the plain Python loops without it")
    return compiled or _python()


@functools.cache
def _python() -> Loops:
    names = _kernels.KERNELS
    return Loops(False, types.SimpleNamespace(**{k: getattr(_kernels, k) for k in names}))


@functools.cache
def _compiled() -> Loops | None:
    """The kernels compiled by numba (lazily, at their first call), or None without numba.

    Each function is re-created over one shared namespace in which the helpers it calls are
    already compiled, so that numba resolves them as compiled functions.
    """
    try:
        import numba
    except ImportError:
        return None
    scope = dict(vars(_kernels))
    for name in (*_kernels.HELPERS, *_kernels.KERNELS):
        f = getattr(_kernels, name)
        plain = types.FunctionType(f.__code__, scope, name, f.__defaults__)
        plain.__module__, plain.__qualname__ = f.__module__, f.__qualname__
        scope[name] = numba.njit(cache=True, nogil=True)(plain)
    return Loops(True, types.SimpleNamespace(**{k: scope[k] for k in _kernels.KERNELS}))
