"""Table-driven tests of adopt._sparse.coloring: kinds x patterns x orders, against dense products.

Every coloring is checked by the exported ``check_*`` functions (the definitions) and by
decompressing the products of a matrix with the pattern (integer values, so sums and
substitutions are exact); the compiled and the plain Python loops must give the same colors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from adopt._errors import MissingDependencyError
from adopt._sparse import coloring as C
from adopt._sparse.coloring import _loops, _orders

# ---------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------


def _random(m: int, n: int, density: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((m, n)) < density


def _banded(n: int, k: int) -> sp.csr_array:
    return sp.csr_array(sum(sp.eye_array(n, k=i) for i in range(-k, k + 1)) != 0)


def _arrowhead(n: int) -> np.ndarray:
    pattern = np.eye(n, dtype=bool)
    pattern[0, :] = pattern[:, 0] = True
    return pattern


def _laplacian_2d(side: int) -> sp.csr_array:
    line, eye = _banded(side, 1).astype(float), sp.eye_array(side)
    return sp.csr_array((sp.kron(line, eye) + sp.kron(eye, line)) != 0)


def brusselator(N: int) -> sp.csr_array:
    """2D Brusselator Jacobian pattern: a periodic 5-point stencil in each of the two species
    on an N x N grid, plus the coupling of the two species at each point."""
    ring = sp.eye_array(N, k=1) + sp.eye_array(N, k=1 - N) + sp.eye_array(N, k=-1) + sp.eye_array(N, k=N - 1)
    stencil = sp.kron(ring, sp.eye_array(N)) + sp.kron(sp.eye_array(N), ring) + sp.eye_array(N * N)
    coupling = sp.eye_array(N * N)
    return sp.csr_array(sp.block_array([[stencil, coupling], [coupling, stencil]]) != 0)


def _empty_lines() -> np.ndarray:
    pattern = _random(12, 10, 0.35, seed=4)
    pattern[[2, 5], :] = False
    pattern[:, [3, 7]] = False
    return pattern


PATTERNS: dict[str, object] = {
    "1x1": np.ones((1, 1), dtype=bool),
    "1x1_zero": np.zeros((1, 1), dtype=bool),
    "dense_5x5": np.ones((5, 5)),
    "dense_4x6": np.ones((4, 6), dtype=bool),
    "empty_4x5": sp.csr_array((4, 5), dtype=bool),
    "diagonal_7": sp.eye_array(7, format="coo"),
    "random_15x20": _random(15, 20, 0.2, seed=1),
    "random_25x25": sp.csr_matrix(_random(25, 25, 0.1, seed=2)),
    "random_30x12": _random(30, 12, 0.3, seed=3),
    "tridiagonal_12": _banded(12, 1),
    "pentadiagonal_15": _banded(15, 2),
    "arrowhead_12": _arrowhead(12),
    "block_diagonal_9x12": sp.block_diag([np.ones((3, 4))] * 3, format="csr"),
    "stencil_5x5": _laplacian_2d(5),
    "empty_rows_cols_12x10": _empty_lines(),
    "upper_triangular_8": np.triu(np.ones((8, 8), dtype=bool)),
    "brusselator_4": brusselator(4),
}
SQUARE = {name: p for name, p in PATTERNS.items() if np.shape(p)[0] == np.shape(p)[1]}
SYMMETRIC_KINDS = ("star", "acyclic")


def _csr(pattern: object, symmetric: bool = False) -> sp.csr_array:
    dense = pattern.toarray() if sp.issparse(pattern) else np.asarray(pattern)
    mask = dense != 0
    return sp.csr_array(mask | mask.T if symmetric else mask)


def _matrix(pattern: object, rng: np.random.Generator, symmetric: bool) -> np.ndarray:
    """Dense matrix with integer values 1..9 exactly on the (symmetrised) pattern."""
    mask = _csr(pattern, symmetric).toarray()
    values = rng.integers(1, 10, mask.shape).astype(float)
    if symmetric:
        values = np.triu(values) + np.triu(values, 1).T
    return np.where(mask, values, 0.0)


def _products(result: C.Coloring, matrix: np.ndarray) -> object:
    """What the operators compute for the result's seeds (tangents on the leading axis)."""
    if result.kind == "bicoloring":
        forward, reverse = result.seeds()
        return forward @ matrix.T, reverse @ matrix
    return result.seeds() @ (matrix.T if result.kind == "column" else matrix)


CHECKS: dict[str, Callable[..., None]] = {
    "column": lambda p, r: C.check_column_coloring(p, r.colors),
    "row": lambda p, r: C.check_row_coloring(p, r.colors),
    "star": lambda p, r: C.check_star_coloring(p, r.colors),
    "acyclic": lambda p, r: C.check_acyclic_coloring(p, r.colors),
    "bicoloring": lambda p, r: C.check_bicoloring(p, r.row_colors, r.column_colors),
}


def _assert_exact(pattern: object, result: C.Coloring, seed: int = 0) -> None:
    """The result lists the pattern's nonzeros in CSR order and recovers them exactly."""
    symmetric = result.kind in SYMMETRIC_KINDS
    CHECKS[result.kind](pattern, result)
    expected = _csr(pattern, symmetric)
    np.testing.assert_array_equal(result.rows, np.repeat(np.arange(expected.shape[0]),
                                                         np.diff(expected.indptr)))
    np.testing.assert_array_equal(result.cols, expected.indices)
    np.testing.assert_array_equal(result.pattern.toarray(), expected.toarray())
    matrix = _matrix(pattern, np.random.default_rng(seed), symmetric)
    values = result.decompress(_products(result, matrix))
    np.testing.assert_array_equal(values, matrix[result.rows, result.cols])


CASES = [pytest.param(kind, name, order, id=f"{kind}-{name}-{order}")
         for kind in C.KINDS
         for name in (SQUARE if kind in SYMMETRIC_KINDS else PATTERNS)
         for order in C.ORDERS]


def _colors(result: C.Coloring) -> tuple[np.ndarray, ...]:
    if result.kind == "bicoloring":
        return result.row_colors, result.column_colors
    return (result.colors,)


def _assert_same_colors(compiled: C.Coloring, plain: C.Coloring) -> None:
    """The compiled and the plain Python loops agree."""
    for a, b in zip(_colors(compiled), _colors(plain), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("kind", "name", "order"), CASES)
def test_coloring_is_valid_and_decompresses_exactly(kind: str, name: str, order: str) -> None:
    result = C.color(PATTERNS[name], kind, order, seed=3)
    _assert_exact(PATTERNS[name], result)
    for c in _colors(result):
        assert c.dtype == np.intp and c.ndim == 1 and (c.size == 0 or c.min() >= 0)
    _assert_same_colors(result, C.color(PATTERNS[name], kind, order, seed=3, jit=False))


@st.composite
def _patterns(draw: st.DrawFn) -> np.ndarray:
    m, n = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    if draw(st.booleans()):
        n = m
    density = draw(st.sampled_from([0.05, 0.15, 0.3, 0.6]))
    return _random(m, n, density, draw(st.integers(0, 2**31)))


@settings(max_examples=60, deadline=None)
@given(pattern=_patterns(), kind=st.sampled_from(C.KINDS), order=st.sampled_from(C.ORDERS))
def test_random_patterns_decompress_exactly_with_either_loops(pattern: np.ndarray, kind: str,
                                                              order: str) -> None:
    if kind in SYMMETRIC_KINDS and pattern.shape[0] != pattern.shape[1]:
        pattern = pattern[:, : pattern.shape[0]] if pattern.shape[1] > pattern.shape[0] \
            else pattern[: pattern.shape[1]]
    compiled = C.color(pattern, kind, order, seed=1, jit=True)
    _assert_exact(pattern, compiled)
    _assert_same_colors(compiled, C.color(pattern, kind, order, seed=1, jit=False))


# ---------------------------------------------------------------------------
# Layout: seeds, index maps, triangles, other array libraries
# ---------------------------------------------------------------------------


def test_index_maps_are_the_products_layout() -> None:
    J = np.array([[1., 2., 0.], [0., 3., 4.]])
    column = C.color(J != 0, "column", "natural")
    np.testing.assert_array_equal(column.index, column.colors[column.cols] * 2 + column.rows)
    row = C.color(J != 0, "row", "natural")
    np.testing.assert_array_equal(row.index, row.colors[row.rows] * 3 + row.cols)
    assert column.seeds().shape == (column.ncolors, 3) and row.seeds().shape == (row.ncolors, 2)
    assert column.seeds(np.float32).dtype == np.float32
    bi = C.color(_arrowhead(40), "bicoloring")
    forward, reverse = bi.seeds()
    assert (forward.shape, reverse.shape, bi.ncolors) == ((2, 40), (1, 40), 3)
    assert (bi.forward_colors.size, bi.reverse_colors.size) == (2, 1)
    assert C.color(_arrowhead(40), "column").ncolors == 40


@pytest.mark.parametrize("kind", SYMMETRIC_KINDS)
@pytest.mark.parametrize("triangle", ["lower", "upper", None])
def test_select_lists_one_triangle(kind: str, triangle: str | None) -> None:
    H = _matrix(PATTERNS["arrowhead_12"], np.random.default_rng(3), symmetric=True)
    full = C.color(H != 0, kind)
    part = full.select(triangle)
    keep = {"lower": np.tril, "upper": np.triu, None: lambda a: a}[triangle](H)
    values = part.decompress(part.seeds() @ H)
    got = sp.csr_array((values, (part.rows, part.cols)), shape=H.shape)
    np.testing.assert_array_equal(got.toarray(), keep)
    np.testing.assert_array_equal(part.pattern.toarray(), keep != 0)
    assert part.triangle == triangle and full.triangle is None
    if triangle is not None:
        with pytest.raises(ValueError, match="select from the result of color"):
            part.select("lower")


def test_select_needs_a_symmetric_coloring() -> None:
    with pytest.raises(ValueError, match="^select: a column coloring has no triangle"):
        C.color(np.eye(3), "column").select("lower")


def _jax_ops() -> SimpleNamespace:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    return SimpleNamespace(take=lambda a, i: a[i], concat=jnp.concatenate,
                           prefix_sum=lambda a: jnp.concatenate([jnp.zeros(1, a.dtype), jnp.cumsum(a)]),
                           segment_sum=lambda v, s, size: jax.ops.segment_sum(v, s, size))


def _torch_ops() -> SimpleNamespace:
    torch = pytest.importorskip("torch")
    return SimpleNamespace(
        take=lambda a, i: a[i], concat=torch.cat,
        prefix_sum=lambda a: torch.cat([a.new_zeros(1), torch.cumsum(a, 0)]),
        segment_sum=lambda v, s, size: v.new_zeros(size).index_add_(0, s, v))


@pytest.mark.parametrize("kind", ["acyclic", "star", "column"])
def test_decompression_runs_in_jax_and_torch_with_maps_as_arguments(kind: str) -> None:
    import jax
    import torch

    H = _matrix(PATTERNS["stencil_5x5"], np.random.default_rng(5), symmetric=True)
    result = C.color(H != 0, kind).select("lower") if kind != "column" else C.color(H != 0, kind)
    products = _products(result, H)
    expected = H[result.rows, result.cols]
    maps = type(result.maps)(*(jax.numpy.asarray(a) for a in result.maps))
    run = jax.jit(lambda p, m: result.decompress(p, _jax_ops(), m))
    np.testing.assert_allclose(np.asarray(run(jax.numpy.asarray(products), maps)), expected,
                               rtol=1e-14)
    maps_t = type(result.maps)(*(torch.from_numpy(np.array(a)) for a in result.maps))
    got = result.decompress(torch.as_tensor(products), _torch_ops(), maps_t)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-14)


def test_products_shape_is_checked() -> None:
    result = C.color(np.eye(3), "column")
    with pytest.raises(ValueError, match=r"^DirectColoring.decompress needs products of shape "
                                         r"\(1, 3\), one for each seed; got shape \(2, 3\)"):
        result.decompress(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"^SubstitutionColoring.decompress needs products"):
        C.color(np.eye(3), "acyclic").decompress(np.zeros((1, 4)))


# ---------------------------------------------------------------------------
# Substitution: structure and accuracy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["random_25x25", "brusselator_4", "stencil_5x5", "arrowhead_12"])
def test_acyclic_substitution_with_real_values(name: str) -> None:
    pattern = _csr(PATTERNS[name], symmetric=True)
    result = C.color(pattern, "acyclic")
    rng = np.random.default_rng(1)
    H = np.where(pattern.toarray(), rng.standard_normal(pattern.shape), 0.0)
    H = np.triu(H) + np.triu(H, 1).T
    values = result.decompress(result.seeds() @ H)
    np.testing.assert_allclose(values, H[result.rows, result.cols], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(SQUARE))
def test_star_coloring_is_acyclic_and_substitution_accepts_it(name: str) -> None:
    colors = C.color(SQUARE[name], "star").colors
    C.check_acyclic_coloring(SQUARE[name], colors)
    _assert_exact(SQUARE[name], C.SubstitutionColoring.from_colors(SQUARE[name], colors), seed=2)


def test_substitution_trees_are_preordered_forests() -> None:
    n = 9
    result = C.color(_banded(n, 1), "acyclic")
    maps, nodes = result.maps, result.maps.key.size
    assert result.ncolors == 2
    assert maps.start.size == n - 1  # the 8 edges of the 9-vertex path
    assert nodes == 2 * (n - 1) - (n - 2)  # one sum per (vertex, neighbour color)
    assert np.all(maps.parent < maps.start)  # parents precede children in preorder
    assert np.all(maps.stop > maps.start)
    sizes = maps.stop - maps.start
    children = np.bincount(maps.parent, weights=sizes, minlength=nodes)
    np.testing.assert_array_equal(sizes, 1 + children[maps.start])  # subtree sizes add up
    odd = maps.signed >= nodes  # the sign of a node's sum alternates with depth
    np.testing.assert_array_equal(odd[maps.start], ~odd[maps.parent])
    diagonal = C.color(sp.eye_array(4), "acyclic")
    assert diagonal.maps.start.size == 0 and diagonal.maps.diagonal.size == 4


def _mixed_scales(n: int, shape: str) -> sp.csr_array:
    """A symmetric H with entries of 1e10 and 1e-5: the two halves of a path, or alternating
    blocks of 7 vertices on an arrowhead. (Alternating blocks on a path cannot be recovered to
    full accuracy by any substitution: each small block has one sum too few of its own.)"""
    rng = np.random.default_rng(n)
    H = sp.lil_array((n, n))
    if shape == "path":
        scale = np.where(np.arange(n) < n // 2, 1e10, 1e-5)
        H.setdiag(scale[:-1] * rng.uniform(1.0, 2.0, n - 1), 1)
    else:  # arrowhead: vertex 0 joined to every other one
        scale = np.where((np.arange(n) // 7) % 2 == 0, 1e10, 1e-5)
        H[0, 1:] = scale[1:] * rng.uniform(1.0, 2.0, n - 1)
    H = H + H.T
    H.setdiag(scale * rng.uniform(1.0, 2.0, n))
    return sp.csr_array(H)


@pytest.mark.parametrize("shape", ["path", "arrowhead"])
@pytest.mark.parametrize("n", [2, 50, 20_001])
def test_substitution_is_accurate_across_scales(n: int, shape: str) -> None:
    """Large and small entries in one 2-colored tree: the closed form's cumulative sum must not
    leak the large scale into the small entries (without the refinement step, the arrowhead's
    small entries come out with relative errors of 1)."""
    H = _mixed_scales(n, shape)
    result = C.color(H != 0, "acyclic")
    values = result.decompress(result.seeds() @ H)
    exact = np.asarray(H[result.rows, result.cols]).ravel()
    np.testing.assert_allclose(values, exact, rtol=1e-11, atol=0)


# ---------------------------------------------------------------------------
# Orders, lower bounds and quality
# ---------------------------------------------------------------------------


ONE_SIDED = ["column", "row", "star", "acyclic"]


@pytest.mark.parametrize("kind", ONE_SIDED)
def test_order_tuple_keeps_the_first_fewest(kind: str) -> None:
    pattern = PATTERNS["random_25x25"]
    singles = [C.color(pattern, kind, order).colors for order in C.ORDERS]
    best = min(singles, key=lambda c: c.max())
    np.testing.assert_array_equal(C.color(pattern, kind, C.ORDERS).colors, best)


def test_bicoloring_order_tuple_is_no_worse_than_each_order() -> None:
    pattern = PATTERNS["random_30x12"]
    best = C.color(pattern, "bicoloring", C.ORDERS).ncolors
    assert best == min(C.color(pattern, "bicoloring", order).ncolors for order in C.ORDERS)


def test_random_order_is_seeded() -> None:
    pattern = PATTERNS["random_15x20"]
    first = C.color(pattern, "column", "random", seed=7).colors
    np.testing.assert_array_equal(first, C.color(pattern, "column", "random", seed=7).colors)
    seeds = {tuple(C.color(_banded(30, 3), "star", "random", seed=s).colors) for s in range(5)}
    assert len(seeds) > 1


@pytest.mark.parametrize("order", ["bogus", (), ("natural", "bogus")])
@pytest.mark.parametrize("kind", C.KINDS)
def test_unknown_order_is_rejected(kind: str, order: object) -> None:
    with pytest.raises(ValueError, match=rf"^color\('{kind}'\) got order .*; use one of \('natural'"):
        C.color(np.eye(3), kind, order)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^color needs kind one of \('column', 'row', 'star', "
                                         r"'acyclic', 'bicoloring'\); got 'symmetric'"):
        C.color(np.eye(3), "symmetric")


LISTINGS = {"a": (0, 1, 2), "b": (1, 0, 2), "c": (2, 1, 0), "a2": (0, 1, 2)}  # a2: a's listing


@pytest.mark.parametrize(("counts", "bound", "tried"), [
    ({"a": 3, "b": 2, "c": 2}, 3, ["a"]),          # the first meets the bound
    ({"a": 5, "b": 3, "c": 2}, 3, ["a", "b"]),     # the second does
    ({"a": 5, "b": 4, "c": 4}, 3, ["a", "b", "c"]),
    ({"a": 5, "b": 4, "a2": 5}, 3, ["a", "b"]),    # a2 lists the vertices as a: not colored again
])
def test_search_over_orders_stops_at_the_lower_bound(counts: dict, bound: int,
                                                     tried: list) -> None:
    names, calls = tuple(counts), []

    def colors(vertices: np.ndarray) -> np.ndarray:
        name = next(name for name in names if tuple(vertices) == LISTINGS[name])
        calls.append(name)
        return np.arange(counts[name])

    best = _orders.fewest_colors(names, lambda name: np.array(LISTINGS[name]), colors, bound)
    assert calls == tried and best.size == min(counts[name] for name in tried)


def test_search_takes_the_colors_of_an_order_that_colors_as_it_goes() -> None:
    # "c" comes with its colors (as DSATUR does): it is not colored again, and wins with 2
    calls: list = []

    def colors(vertices: np.ndarray) -> np.ndarray:
        calls.append(tuple(vertices))
        return np.arange(5)

    def colored(name: str):
        return (np.array(LISTINGS[name]), np.array([0, 1, 0])) if name == "c" else None

    best = _orders.fewest_colors(("a", "c", "b"), lambda name: np.array(LISTINGS[name]), colors, 2,
                                 colored)
    assert calls == [LISTINGS["a"]] and best.tolist() == [0, 1, 0]


BOUNDS = {  # name: (pattern, star bound, acyclic bound)
    "path_20": (_banded(20, 1), 3, 2),
    "pentadiagonal_20": (_banded(20, 2), 3, 3),
    "arrowhead_20": (_arrowhead(20), 2, 2),
    "dense_6": (np.ones((6, 6)), 6, 6),
    "diagonal_5": (np.eye(5), 1, 1),
    "single_edge": (np.array([[1, 1], [1, 1]]), 2, 2),
}


@pytest.mark.parametrize("name", list(BOUNDS))
def test_symmetric_lower_bounds(name: str) -> None:
    pattern, star, acyclic = BOUNDS[name]
    from adopt._sparse.coloring import _graph, _pattern

    graph = _graph.adjacency(_pattern.symmetric_pattern(pattern, "test"))
    assert (_orders.symmetric_bound(graph, True), _orders.symmetric_bound(graph, False)) == (star, acyclic)


@pytest.mark.parametrize("kind", ONE_SIDED)
@pytest.mark.parametrize("name", list(SQUARE))
def test_lower_bounds_hold_for_every_order(kind: str, name: str) -> None:
    """No coloring uses fewer colors than the bound that stops the search."""
    from adopt._sparse.coloring import _graph, _pattern

    pattern = PATTERNS[name]
    if kind in SYMMETRIC_KINDS:
        graph = _graph.adjacency(_pattern.symmetric_pattern(pattern, "test"))
        bound = _orders.symmetric_bound(graph, kind == "star")
    else:
        csr = _csr(pattern) if kind == "column" else _csr(pattern).T.tocsr()
        bound = _orders.line_bound(csr.indptr)
    assert all(C.color(pattern, kind, order).ncolors >= bound for order in C.ORDERS)


QUALITY = {  # name: (pattern, kind, colors with the default orders, asdex's where measured)
    "brusselator_32_column": (lambda: brusselator(32), "column", 11, 12),
    "tridiagonal_100_star": (lambda: _banded(100, 1), "star", 3, 3),
    "tridiagonal_100_acyclic": (lambda: _banded(100, 1), "acyclic", 2, None),
    "pentadiagonal_100_star": (lambda: _banded(100, 2), "star", 5, 5),
    "pentadiagonal_100_acyclic": (lambda: _banded(100, 2), "acyclic", 3, None),
    "banded_k5_200_star": (lambda: _banded(200, 5), "star", 11, 11),
    "arrowhead_100_star": (lambda: _arrowhead(100), "star", 2, 2),
    "laplacian_30x30_star": (lambda: _laplacian_2d(30), "star", 5, 5),
    "brusselator_32_star": (lambda: brusselator(32), "star", 9, 9),
}


@pytest.mark.parametrize("name", list(QUALITY))
def test_colors_no_more_than_before_and_asdex(name: str) -> None:
    make, kind, ours, asdex = QUALITY[name]
    pattern = make()
    ncolors = C.color(pattern, kind).ncolors
    assert ncolors <= ours and (asdex is None or ncolors <= asdex)
    if kind == "star":
        assert C.color(pattern, "acyclic", C.ORDERS).ncolors <= C.color(pattern, "star", C.ORDERS).ncolors


def test_brusselator_natural_column_coloring_matches_asdex() -> None:
    assert C.color(brusselator(32), "column", "natural").ncolors <= 12


@pytest.mark.parametrize("name", list(PATTERNS))
def test_bicoloring_needs_no_more_products_than_one_sided(name: str) -> None:
    pattern = PATTERNS[name]
    one_sided = min(C.color(pattern, kind, "natural").ncolors for kind in ("column", "row"))
    assert C.color(pattern, "bicoloring", "natural").ncolors <= one_sided


# ---------------------------------------------------------------------------
# Invalid colorings and inputs
# ---------------------------------------------------------------------------

_PATH = np.eye(4, k=1) + np.eye(4, k=-1)
_CYCLE = _PATH + np.eye(4, k=3) + np.eye(4, k=-3)
_DENSE = np.ones((4, 4))
_ZEROS = [0, 0, 0, 0]
_ALTERNATING = [0, 1, 0, 1]
INVALID = {
    "column": (C.check_column_coloring, (_DENSE, _ZEROS), "columns 0 and 1 share nonzero row 0"),
    "row": (C.check_row_coloring, (_DENSE, _ZEROS), "rows 0 and 1 share nonzero column 0"),
    "star-dense": (C.check_star_coloring, (_DENSE, _ZEROS), "cannot be recovered"),
    "star-path": (C.check_star_coloring, (_PATH, _ALTERNATING), r"nonzero \(1, 2\)"),
    "acyclic-dense": (C.check_acyclic_coloring, (_DENSE, _ZEROS), "adjacent vertices 0 and 1"),
    "acyclic-cycle": (C.check_acyclic_coloring, (_CYCLE, _ALTERNATING), "0 and 1 contain a cycle"),
    "bi": (C.check_bicoloring, (_DENSE, _ZEROS, _ZEROS), r"recolor with color\(pattern, 'bicoloring'\)"),
    "column-result": (lambda p, c: C.DirectColoring.from_colors(p, "column", c), (_DENSE, _ZEROS),
                      r"^DirectColoring.from_colors\('column'\): columns"),
    "row-result": (lambda p, c: C.DirectColoring.from_colors(p, "row", c), (_DENSE, _ZEROS),
                   r"^DirectColoring.from_colors\('row'\): rows"),
    "star-result": (lambda p, c: C.DirectColoring.from_colors(p, "star", c), (_PATH, _ALTERNATING),
                    r"^DirectColoring.from_colors\('star'\): "),
    "acyclic-result": (C.SubstitutionColoring.from_colors, (_CYCLE, _ALTERNATING),
                       "^SubstitutionColoring.from_colors: "),
    "bi-result": (C.Bicoloring.from_colors, (_DENSE, _ZEROS, _ZEROS), "^Bicoloring.from_colors"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_colorings_are_detected(case: str) -> None:
    function, args, message = INVALID[case]
    with pytest.raises(ValueError, match=message):
        function(*args)


def test_valid_but_unusual_colorings_pass() -> None:
    C.check_acyclic_coloring(_PATH, [0, 1, 0, 1])  # a bicolored path is a tree
    C.check_star_coloring(_PATH, [0, 1, 2, 0])
    C.check_star_coloring(np.eye(3), [0, 0, 0])
    C.check_bicoloring(_DENSE, [0, 1, 2, 3], [0, 0, 0, 0])  # pure reverse mode


@pytest.mark.parametrize("kind", SYMMETRIC_KINDS)
def test_non_square_symmetric_pattern_is_rejected(kind: str) -> None:
    message = rf"^color\('{kind}'\) needs a square \(symmetric\) Hessian pattern; got shape \(3, 4\)"
    with pytest.raises(ValueError, match=message):
        C.color(np.ones((3, 4)), kind)
    for check in (C.check_star_coloring, C.check_acyclic_coloring):
        with pytest.raises(ValueError, match=rf"^{check.__name__} needs a square"):
            check(np.ones((3, 4)), [0, 1, 2, 3])


@pytest.mark.parametrize(("colors", "message"), [
    ([0, 1], r"needs one color per column: got colors of shape \(2,\) for 3 columns"),
    ([0, -1, 2], "needs 0-based non-negative colors; column 1 has color -1"),
    ([0.0, 1.0, 2.0], "needs integer colors; got dtype float64"),
])
def test_bad_colors_are_rejected(colors: list, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^DirectColoring.from_colors\('column'\) {message}"):
        C.DirectColoring.from_colors(np.eye(3), "column", colors)


def test_one_dimensional_pattern_is_rejected() -> None:
    message = r"^color\('column'\) needs a 2-D sparsity pattern; got an array of shape \(3,\)"
    with pytest.raises(ValueError, match=message):
        C.color(np.ones(3), "column")


def test_jit_without_numba_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_loops, "_compiled", lambda: None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'adopt\[fast\]'"):
        C.color(np.eye(3), "column", jit=True)
    assert C.color(np.eye(3), "column", jit=None).ncolors == 1  # falls back to plain Python


# ---------------------------------------------------------------------------
# Inputs, results, edge shapes
# ---------------------------------------------------------------------------


def test_pattern_containers_and_explicit_zeros() -> None:
    dense = np.array([[1, 0, 2], [0, 0, 3]])
    entries = ([1.0, 1.0, 0.0, 5.0, 3.0], ([0, 0, 0, 1, 1], [0, 0, 2, 1, 2]))
    coo = sp.coo_array(entries, shape=(2, 3))
    expected_cols = {"dense": [0, 2, 2], "coo_with_duplicates_and_zero": [0, 2, 1, 2]}
    for label, pattern in {"dense": dense, "coo_with_duplicates_and_zero": coo}.items():
        np.testing.assert_array_equal(C.color(pattern, "column").cols, expected_cols[label])
    for container in (sp.csr_matrix, sp.csc_array, sp.lil_matrix, sp.coo_matrix, np.asarray):
        np.testing.assert_array_equal(C.color(container(dense), "column").colors,
                                      C.color(dense, "column").colors)


@pytest.mark.parametrize("kind", C.KINDS)
def test_results_are_frozen_read_only_and_readable(kind: str) -> None:
    result = C.color(PATTERNS["arrowhead_12"], kind)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ncolors = 1
    for array in (result.rows, result.cols, *result.maps):
        assert array.dtype == np.int64
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    for name in ("colors", "row_colors", "column_colors"):
        colors = getattr(result, name, None)
        if colors is not None:
            with pytest.raises(ValueError, match="read-only"):
                colors[0] = 1
    text = repr(result)
    assert text.startswith(type(result).__name__ + "(") and "pattern=<12x12, nnz=" in text
    assert len(text) < 400 and "int64[" in text


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0)])
def test_empty_shapes(shape: tuple[int, int]) -> None:
    pattern = np.zeros(shape, dtype=bool)
    assert C.color(pattern, "column").colors.shape == (shape[1],)
    assert C.color(pattern, "row").colors.shape == (shape[0],)
    bi = C.color(pattern, "bicoloring")
    assert (bi.row_colors.shape, bi.column_colors.shape) == ((shape[0],), (shape[1],))
    forward, reverse = bi.seeds()
    assert bi.decompress((forward @ pattern.T, reverse @ pattern)).shape == (0,)
    if shape == (0, 0):
        for kind in SYMMETRIC_KINDS:
            result = C.color(pattern, kind)
            assert result.colors.shape == (0,) and result.decompress(np.zeros((0, 0))).shape == (0,)
