"""The coloring loops that carry preparation at scale, against plain reference implementations.

The dynamic vertex orders (``smallest_last``, ``incidence_degree``, ``dynamic_largest_first``,
and DSATUR's, whose key is the number of distinct colors around a vertex) run in bucket kernels whose buckets drop stale entries when their pool fills; the reference
below recomputes every step from scratch (O(n²)), with the kernel's tie rule: the vertex whose
key changed last goes first, and initially the lower index. Both the numba-compiled loops and
the plain Python ones are checked, on patterns whose updates overflow the pool (3 n entries)
several times: the Brusselator's columns have 17 distance-2 neighbours each, so a dynamic
order makes 17 n / 2 updates.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import scipy.sparse as sp

from adopt._sparse.coloring import _graph, _loops
from adopt._sparse.coloring._orders import orders
from adopt.problems import brusselator_residual


def _brusselator_pattern(N: int) -> sp.csr_array:
    """The Jacobian pattern of the problem library's Brusselator, by its NumPy function."""
    from adopt._sparse.detectors import TracerSparsityDetector

    x = np.ones(2 * N * N)
    return TracerSparsityDetector().jacobian_sparsity(brusselator_residual(N), x, framework="numpy")


def _arrowhead(n: int) -> sp.csr_array:
    A = sp.lil_array((n, n), dtype=bool)
    A[0, :] = True
    A[:, 0] = True
    A.setdiag(True)
    return sp.csr_array(A)


def _random(m: int, n: int, density: float, seed: int) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    return sp.csr_array(sp.random_array((m, n), density=density, rng=rng) != 0)


def _stencil(m: int) -> sp.csr_array:
    """The 5-point stencil on an m x m grid (the Bratu problem's Jacobian pattern)."""
    T = sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(m, m), dtype=np.int8)
    return sp.csr_array((sp.kron(sp.eye_array(m, dtype=np.int8), T) + sp.kron(T, sp.eye_array(m, dtype=np.int8))) != 0)


PATTERNS = {
    "brusselator 2 x 5²": lambda: _brusselator_pattern(5),
    "5-point stencil 7²": lambda: _stencil(7),
    "arrowhead 30": lambda: _arrowhead(30),
    "random 40 x 30, 20 %": lambda: _random(40, 30, 0.2, 0),
    "random 25 x 60, 5 %": lambda: _random(25, 60, 0.05, 1),
    "one column": lambda: sp.csr_array(np.ones((4, 1), dtype=bool)),
}
# name: (initial key from the degrees?, step, take the largest key?, reversed?)
DYNAMIC = {
    "dynamic_largest_first": (True, -1, True, False),
    "incidence_degree": (False, 1, True, False),
    "smallest_last": (True, -1, False, True),
}


def _walk_neighbours(P: sp.csr_array) -> list[list[int]]:
    """The distance-2 neighbours of each column in the walk's order: its rows in turn, each
    row's columns in turn (the order in which a kernel updates them)."""
    csc = sp.csc_array(P)
    neighbours = []
    for v in range(P.shape[1]):
        seen: list[int] = []
        for r in csc.indices[csc.indptr[v]:csc.indptr[v + 1]]:
            for w in P.indices[P.indptr[r]:P.indptr[r + 1]]:
                if w != v and w not in seen:
                    seen.append(int(w))
        neighbours.append(seen)
    return neighbours


def _reference(P: sp.csr_array, from_degree: bool, step: int, pick_max: bool) -> np.ndarray:
    """The dynamic order of the columns of ``P`` (distance-2 neighbours: columns sharing a row),
    recomputed from scratch at every step."""
    n = P.shape[1]
    neighbours = _walk_neighbours(P)
    key = [len(nb) if from_degree else 0 for nb in neighbours]
    stamp = [-v for v in range(n)]  # the latest change wins a tie; at first the lower index
    taken, order, clock = [False] * n, [], 1
    for _ in range(n):
        best = max if pick_max else min
        k = best(key[v] for v in range(n) if not taken[v])
        v = max((v for v in range(n) if not taken[v] and key[v] == k), key=lambda u: stamp[u])
        taken[v] = True
        order.append(v)
        for w in neighbours[v]:
            if not taken[w]:
                key[w] += step
                stamp[w] = clock
                clock += 1
    return np.array(order)


def _loops_under_test() -> list:
    """The plain Python loops (always there) and the compiled ones (numba, an extra)."""
    out = [pytest.param(False, id="plain")]
    if importlib.util.find_spec("numba") is None:
        return out
    return out + [pytest.param(True, id="numba")]


@pytest.mark.parametrize("jit", _loops_under_test())
@pytest.mark.parametrize("order", DYNAMIC)
@pytest.mark.parametrize("name", PATTERNS)
def test_dynamic_orders_match_the_reference(name: str, order: str, jit: bool) -> None:
    P = PATTERNS[name]()
    from_degree, step, pick_max, backwards = DYNAMIC[order]
    expected = _reference(P, from_degree, step, pick_max)
    got = orders(_graph.column_walk(P), _loops.loops_for(jit), seed=0)(order)
    np.testing.assert_array_equal(got, expected[::-1] if backwards else expected)


def _dsatur_reference(P: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
    """DSATUR on the columns of ``P``, from scratch at every step: the uncolored column with the
    most distinct colors among its distance-2 neighbours, ties to the one whose count rose
    last (at first the lower index), takes the lowest color none of them has. Returns the
    order and the colors."""
    n = P.shape[1]
    neighbours = _walk_neighbours(P)
    colors, stamp, order, clock = [-1] * n, [-v for v in range(n)], [], 1
    around = [set() for _ in range(n)]
    for _ in range(n):
        k = max(len(around[v]) for v in range(n) if colors[v] < 0)
        v = max((v for v in range(n) if colors[v] < 0 and len(around[v]) == k), key=lambda u: stamp[u])
        c = min(set(range(n + 1)) - {colors[w] for w in neighbours[v]})
        colors[v] = c
        order.append(v)
        for w in neighbours[v]:
            if colors[w] < 0 and c not in around[w]:
                around[w].add(c)
                stamp[w], clock = clock, clock + 1
    return np.array(order), np.array(colors)


@pytest.mark.parametrize("jit", _loops_under_test())
@pytest.mark.parametrize("name", PATTERNS)
def test_dsatur_order_matches_the_reference(name: str, jit: bool) -> None:
    P = PATTERNS[name]()
    walk, loops = _graph.column_walk(P), _loops.loops_for(jit)
    order, colors = _dsatur_reference(P)
    np.testing.assert_array_equal(orders(walk, loops, seed=0)("dsatur"), order)
    # DSATUR colors as it orders: its colors are the greedy ones in its order, and a coloring
    # with it as one of its orders takes them without coloring again
    vertices, got = orders(walk, loops, seed=0).colored("dsatur")
    np.testing.assert_array_equal(vertices, order)
    np.testing.assert_array_equal(got, colors)
    np.testing.assert_array_equal(loops.partial_distance2(walk, order), colors)
    assert orders(walk, loops, seed=0).colored("largest_first") is None


@pytest.mark.parametrize("m", [7, 40])
def test_default_column_coloring_of_the_5_point_stencil_is_optimal(m: int) -> None:
    # 5 colors, the size of a row; every degree order gives 7 or 8 (benchmarks/results/coloring.md)
    from adopt._sparse.coloring import check_column_coloring, color

    P = _stencil(m)
    result = color(P, "column")
    assert result.ncolors == 5 and color(P, "column", "natural").ncolors == 7
    check_column_coloring(P, result.colors)  # raises if two columns of a row share a color
