"""Table-driven tests of adopt._sparse.coloring: colorings x orders x patterns.

Every coloring is checked with the exported ``check_*`` functions and by
decompressing a random matrix with the pattern (integer values, so sums and
substitutions are exact).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

from adopt._sparse import coloring as C

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
    """2D Brusselator Jacobian pattern: two species on a periodic N x N grid."""
    n = N * N
    grid = np.arange(n).reshape(N, N)
    rows, cols = [], []
    for shift in [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]:
        neighbour = np.roll(grid, shift, axis=(0, 1)).ravel()
        for species in (0, 1):
            rows.append(grid.ravel() + species * n)
            cols.append(neighbour + species * n)
    rows += [grid.ravel(), grid.ravel() + n]
    cols += [grid.ravel() + n, grid.ravel()]
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_array((np.ones(r.size, dtype=bool), (r, c)), shape=(2 * n, 2 * n))


def _empty_lines() -> np.ndarray:
    pattern = _random(12, 10, 0.35, seed=4)
    pattern[[2, 5], :] = False
    pattern[:, [3, 7]] = False
    return pattern


def _block_diagonal() -> sp.csr_matrix:
    return sp.block_diag([np.ones((3, 4))] * 3, format="csr")


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
    "block_diagonal_9x12": _block_diagonal(),
    "stencil_5x5": _laplacian_2d(5),
    "empty_rows_cols_12x10": _empty_lines(),
    "upper_triangular_8": np.triu(np.ones((8, 8), dtype=bool)),
    "brusselator_4": brusselator(4),
}
SQUARE = {name: p for name, p in PATTERNS.items() if np.shape(p)[0] == np.shape(p)[1]}


def _csr(pattern: object) -> sp.csr_array:
    dense = pattern.toarray() if sp.issparse(pattern) else np.asarray(pattern)
    return sp.csr_array(dense != 0)


def _random_on(pattern: object, rng: np.random.Generator, symmetric: bool) -> np.ndarray:
    """Dense matrix with integer values 1..9 exactly on the (symmetrised) pattern."""
    mask = _csr(pattern).toarray()
    if symmetric:
        mask = mask | mask.T
    values = rng.integers(1, 10, mask.shape).astype(float)
    if symmetric:
        values = np.triu(values) + np.triu(values, 1).T
    return np.where(mask, values, 0.0)


# ---------------------------------------------------------------------------
# Coloring kinds
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    color: Callable[..., tuple[np.ndarray, ...]]
    check: Callable[..., None]
    decompression: Callable[..., object]
    compress: Callable[[np.ndarray, object], tuple[np.ndarray, ...]]
    symmetric: bool


def _bi_compress(J: np.ndarray, d: C.BiDecompression) -> tuple[np.ndarray, np.ndarray]:
    seed_c, seed_r = d.seed_matrix()
    return J @ seed_c, seed_r.T @ J


KINDS = {
    "column": Kind(
        lambda p, o, s: (C.column_coloring(p, o, seed=s),), C.check_column_coloring,
        C.column_decompression, lambda J, d: (J @ d.seed_matrix(),), symmetric=False,
    ),
    "row": Kind(
        lambda p, o, s: (C.row_coloring(p, o, seed=s),), C.check_row_coloring,
        C.row_decompression, lambda J, d: (d.seed_matrix().T @ J,), symmetric=False,
    ),
    "bicoloring": Kind(
        lambda p, o, s: C.bicoloring(p, o, seed=s), C.check_bicoloring,
        C.bicoloring_decompression, _bi_compress, symmetric=False,
    ),
    "star": Kind(
        lambda p, o, s: (C.star_coloring(p, o, seed=s),), C.check_star_coloring,
        C.star_decompression, lambda H, d: (H @ d.seed_matrix(),), symmetric=True,
    ),
    "acyclic": Kind(
        lambda p, o, s: (C.acyclic_coloring(p, o, seed=s),), C.check_acyclic_coloring,
        C.acyclic_decompression, lambda H, d: (H @ d.seed_matrix(),), symmetric=True,
    ),
}
CASES = [
    pytest.param(kind, name, order, id=f"{kind}-{name}-{order}")
    for kind in KINDS
    for name in (SQUARE if KINDS[kind].symmetric else PATTERNS)
    for order in C.ORDERS
]


@pytest.mark.parametrize(("kind", "name", "order"), CASES)
def test_coloring_is_valid_and_decompresses_exactly(kind: str, name: str, order: str) -> None:
    spec, pattern = KINDS[kind], PATTERNS[name]
    colors = spec.color(pattern, order, 3)
    for c in colors:
        assert c.dtype == np.intp and c.ndim == 1 and (c.size == 0 or c.min() >= 0)
    spec.check(pattern, *colors)
    decompression = spec.decompression(pattern, *colors)
    expected = _csr(pattern)
    if spec.symmetric:
        expected = sp.csr_array(expected + expected.T)
    expected.sort_indices()
    expected_rows = np.repeat(np.arange(expected.shape[0]), np.diff(expected.indptr))
    np.testing.assert_array_equal(decompression.rows, expected_rows)
    np.testing.assert_array_equal(decompression.cols, expected.indices)
    matrix = _random_on(pattern, np.random.default_rng(0), spec.symmetric)
    values = decompression.decompress(*spec.compress(matrix, decompression))
    np.testing.assert_array_equal(values, matrix[decompression.rows, decompression.cols])


@pytest.mark.parametrize("name", ["random_25x25", "brusselator_4", "stencil_5x5", "arrowhead_12"])
def test_acyclic_substitution_with_real_values(name: str) -> None:
    pattern = _csr(PATTERNS[name])
    d = C.acyclic_decompression(pattern, C.acyclic_coloring(pattern))
    rng = np.random.default_rng(1)
    H = np.where((pattern + pattern.T).toarray(), rng.standard_normal(pattern.shape), 0.0)
    H = np.triu(H) + np.triu(H, 1).T
    values = d.decompress(H @ d.seed_matrix())
    np.testing.assert_allclose(values, H[d.rows, d.cols], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(SQUARE))
def test_star_coloring_is_acyclic_and_substitution_accepts_it(name: str) -> None:
    colors = C.star_coloring(SQUARE[name])
    C.check_acyclic_coloring(SQUARE[name], colors)
    d = C.acyclic_decompression(SQUARE[name], colors)
    H = _random_on(SQUARE[name], np.random.default_rng(2), symmetric=True)
    np.testing.assert_array_equal(d.decompress(H @ d.seed_matrix()), H[d.rows, d.cols])


def test_symmetric_lower_mask_selects_lower_triangle() -> None:
    H = _random_on(PATTERNS["arrowhead_12"], np.random.default_rng(3), symmetric=True)
    for d in (
        C.star_decompression(H != 0, C.star_coloring(H != 0)),
        C.acyclic_decompression(H != 0, C.acyclic_coloring(H != 0)),
    ):
        np.testing.assert_array_equal(d.lower, d.rows >= d.cols)
        values = d.decompress(H @ d.seed_matrix())
        where = (d.rows[d.lower], d.cols[d.lower])
        lower = sp.csr_array((values[d.lower], where), shape=H.shape)
        np.testing.assert_array_equal(lower.toarray(), np.tril(H))


def test_substitution_trees_are_preordered_forests() -> None:
    n = 9
    d = C.acyclic_decompression(_banded(n, 1), C.acyclic_coloring(_banded(n, 1)))
    t = d.trees
    assert d.ncolors == 2
    assert t.child.size == n - 1  # the 8 edges of the 9-vertex path
    assert t.key.size == 2 * (n - 1) - (n - 2)  # one sum per (vertex, neighbour color)
    assert np.all(t.parent < t.child)  # parents precede children in preorder
    assert np.all(t.start == t.child) and np.all(t.stop > t.start)
    sizes = t.stop - t.start
    children = np.bincount(t.parent, weights=sizes, minlength=t.key.size)
    np.testing.assert_array_equal(sizes, 1 + children[t.child])  # subtree sizes add up
    np.testing.assert_array_equal(t.sign[t.child], -t.sign[t.parent])
    diagonal = C.acyclic_decompression(sp.eye_array(4), np.zeros(4, dtype=int))
    assert diagonal.trees.child.size == 0 and diagonal.diagonal.size == 4


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
    d = C.acyclic_decompression(H != 0, C.acyclic_coloring(H != 0))
    values = d.decompress(H @ d.seed_matrix())
    exact = np.asarray(H[d.rows, d.cols]).ravel()
    np.testing.assert_allclose(values, exact, rtol=1e-11, atol=0)


# ---------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------


ONE_SIDED = [C.column_coloring, C.row_coloring, C.star_coloring, C.acyclic_coloring]


@pytest.mark.parametrize("function", ONE_SIDED)
def test_order_tuple_keeps_the_first_fewest(function: Callable[..., np.ndarray]) -> None:
    pattern = PATTERNS["random_25x25"]
    singles = [function(pattern, order) for order in C.ORDERS]
    best = min(singles, key=lambda c: c.max())
    np.testing.assert_array_equal(function(pattern, C.ORDERS), best)


def test_bicoloring_order_tuple_is_no_worse_than_each_order() -> None:
    pattern = PATTERNS["random_30x12"]
    cost = lambda pair: _products(pattern, *pair)  # noqa: E731
    best = cost(C.bicoloring(pattern, C.ORDERS))
    assert best == min(cost(C.bicoloring(pattern, order)) for order in C.ORDERS)


def test_random_order_is_seeded() -> None:
    pattern = PATTERNS["random_15x20"]
    first = C.column_coloring(pattern, "random", seed=7)
    np.testing.assert_array_equal(first, C.column_coloring(pattern, "random", seed=7))
    seeds = {tuple(C.star_coloring(_banded(30, 3), "random", seed=s)) for s in range(5)}
    assert len(seeds) > 1


@pytest.mark.parametrize("order", ["bogus", (), ("natural", "bogus")])
@pytest.mark.parametrize("function", [*ONE_SIDED, C.bicoloring])
def test_unknown_order_is_rejected(function: Callable[..., object], order: object) -> None:
    message = rf"^{function.__name__} got order .*; use one of \('natural'"
    with pytest.raises(ValueError, match=message):
        function(np.eye(3), order)


# ---------------------------------------------------------------------------
# Quality: color counts against asdex (LargestFirst + postprocessing), measured
# with asdex 0.x on these exact patterns; see the module report.
# ---------------------------------------------------------------------------

ASDEX_COLUMN = {"brusselator_32": (lambda: brusselator(32), 12)}
ASDEX_STAR = {
    "tridiagonal_100": (lambda: _banded(100, 1), 3),
    "pentadiagonal_100": (lambda: _banded(100, 2), 5),
    "banded_k5_200": (lambda: _banded(200, 5), 11),
    "arrowhead_100": (lambda: _arrowhead(100), 2),
    "laplacian_30x30": (lambda: _laplacian_2d(30), 5),
    "brusselator_32": (lambda: brusselator(32), 9),
}


def test_brusselator_natural_column_coloring_matches_asdex() -> None:
    assert C.column_coloring(brusselator(32)).max() + 1 <= 12


@pytest.mark.parametrize("name", list(ASDEX_COLUMN))
def test_column_colors_no_more_than_asdex(name: str) -> None:
    make, asdex_colors = ASDEX_COLUMN[name]
    assert C.column_coloring(make(), C.ORDERS).max() + 1 <= asdex_colors


@pytest.mark.parametrize("name", list(ASDEX_STAR))
def test_star_colors_no_more_than_asdex(name: str) -> None:
    make, asdex_colors = ASDEX_STAR[name]
    colors = C.star_coloring(make(), C.ORDERS)
    assert colors.max() + 1 <= asdex_colors
    assert C.acyclic_coloring(make(), C.ORDERS).max() <= colors.max()


def _products(pattern: object, row_colors: np.ndarray, col_colors: np.ndarray) -> int:
    d = C.bicoloring_decompression(pattern, row_colors, col_colors)
    return d.forward_colors.size + d.reverse_colors.size


@pytest.mark.parametrize("name", list(PATTERNS))
def test_bicoloring_needs_no_more_products_than_one_sided(name: str) -> None:
    pattern = PATTERNS[name]
    columns = C.column_coloring(pattern).max(initial=-1) + 1
    rows = C.row_coloring(pattern).max(initial=-1) + 1
    one_sided = min(columns, rows)
    assert _products(pattern, *C.bicoloring(pattern)) <= one_sided


def test_bicoloring_arrowhead_needs_three_products() -> None:
    pattern = _arrowhead(40)
    d = C.bicoloring_decompression(pattern, *C.bicoloring(pattern))
    assert (d.forward_colors.size, d.reverse_colors.size) == (2, 1)
    assert C.column_coloring(pattern).max() + 1 == 40
    # Products for colors that are never read may be skipped (left as zeros).
    J = _random_on(pattern, np.random.default_rng(4), symmetric=False)
    Bc, Br = _bi_compress(J, d)
    Bc[:, np.setdiff1d(np.arange(d.ncol_colors), d.forward_colors)] = 0.0
    Br[np.setdiff1d(np.arange(d.nrow_colors), d.reverse_colors), :] = 0.0
    np.testing.assert_array_equal(d.decompress(Bc, Br), J[d.rows, d.cols])


def test_brusselator_128_column_coloring_and_decompression_are_fast() -> None:
    pattern = brusselator(128)
    start = time.perf_counter()
    colors = C.column_coloring(pattern)
    d = C.column_decompression(pattern, colors)
    elapsed = time.perf_counter() - start
    assert d.ncolors <= 12 and d.rows.size == 12 * 128 * 128
    assert elapsed < 2.0, f"{elapsed:.2f}s (typically about 0.05s)"


# ---------------------------------------------------------------------------
# Invalid colorings and errors
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
    "bi": (C.check_bicoloring, (_DENSE, _ZEROS, _ZEROS), "recolor with bicoloring"),
    "column-dec": (C.column_decompression, (_DENSE, _ZEROS), "^column_decompression: columns"),
    "row-dec": (C.row_decompression, (_DENSE, _ZEROS), "^row_decompression: rows"),
    "star-dec": (C.star_decompression, (_PATH, _ALTERNATING), "^star_decompression: "),
    "acyclic-dec": (C.acyclic_decompression, (_CYCLE, _ALTERNATING), "^acyclic_decompression: "),
    "bi-dec": (C.bicoloring_decompression, (_DENSE, _ZEROS, _ZEROS), "^bicoloring_decompression"),
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


_WIDE = np.ones((3, 4))
NON_SQUARE = [
    (C.star_coloring, (_WIDE,)),
    (C.acyclic_coloring, (_WIDE,)),
    (C.star_decompression, (_WIDE, [0, 1, 2, 3])),
    (C.acyclic_decompression, (_WIDE, [0, 1, 2, 3])),
    (C.check_star_coloring, (_WIDE, [0, 1, 2, 3])),
    (C.check_acyclic_coloring, (_WIDE, [0, 1, 2, 3])),
]


@pytest.mark.parametrize(("function", "args"), NON_SQUARE)
def test_non_square_symmetric_pattern_is_rejected(
    function: Callable[..., object], args: tuple
) -> None:
    name = function.__name__
    message = rf"^{name} needs a square \(symmetric\) Hessian pattern; got shape \(3, 4\)"
    with pytest.raises(ValueError, match=message):
        function(*args)


@pytest.mark.parametrize(
    ("colors", "message"),
    [
        ([0, 1], r"needs one color per column: got colors of shape \(2,\) for 3 columns"),
        ([0, -1, 2], "needs 0-based non-negative colors; column 1 has color -1"),
        ([0.0, 1.0, 2.0], "needs integer colors; got dtype float64"),
    ],
)
def test_bad_colors_are_rejected(colors: list, message: str) -> None:
    with pytest.raises(ValueError, match=f"^column_decompression {message}"):
        C.column_decompression(np.eye(3), colors)


def test_one_dimensional_pattern_is_rejected() -> None:
    message = r"^column_coloring needs a 2-D sparsity pattern; got an array of shape \(3,\)"
    with pytest.raises(ValueError, match=message):
        C.column_coloring(np.ones(3))


def test_compressed_shape_is_checked() -> None:
    d = C.column_decompression(np.eye(3), [0, 0, 0])
    message = r"^ColumnDecompression.decompress needs a compressed matrix of shape \(3, 1\); got"
    with pytest.raises(ValueError, match=message):
        d.decompress(np.zeros((3, 2)))


# ---------------------------------------------------------------------------
# Inputs, dataclasses, edge shapes
# ---------------------------------------------------------------------------


def test_pattern_containers_and_explicit_zeros() -> None:
    dense = np.array([[1, 0, 2], [0, 0, 3]])
    entries = ([1.0, 1.0, 0.0, 5.0, 3.0], ([0, 0, 0, 1, 1], [0, 0, 2, 1, 2]))
    coo = sp.coo_array(entries, shape=(2, 3))
    expected_cols = {"dense": [0, 2, 2], "coo_with_duplicates_and_zero": [0, 2, 1, 2]}
    for label, pattern in {"dense": dense, "coo_with_duplicates_and_zero": coo}.items():
        d = C.column_decompression(pattern, C.column_coloring(pattern))
        np.testing.assert_array_equal(d.cols, expected_cols[label])
    for container in (sp.csr_matrix, sp.csc_array, sp.lil_matrix, sp.coo_matrix, np.asarray):
        colors = C.column_coloring(container(dense))
        np.testing.assert_array_equal(colors, C.column_coloring(dense))


def test_decompression_dataclasses_are_frozen_read_only_and_readable() -> None:
    pattern = PATTERNS["arrowhead_12"]
    objects = [
        C.column_decompression(pattern, C.column_coloring(pattern)),
        C.row_decompression(pattern, C.row_coloring(pattern)),
        C.star_decompression(pattern, C.star_coloring(pattern)),
        C.acyclic_decompression(pattern, C.acyclic_coloring(pattern)),
        C.bicoloring_decompression(pattern, *C.bicoloring(pattern)),
    ]
    for d in objects:
        with pytest.raises(dataclasses.FrozenInstanceError):
            d.shape = (1, 1)
        with pytest.raises(ValueError, match="read-only"):
            d.rows[0] = 1
        text = repr(d)
        assert text.startswith(type(d).__name__ + "(shape=(12, 12)")
        assert len(text) < 400 and f"{np.dtype(np.intp)}[" in text


def test_seed_matrices() -> None:
    d = C.column_decompression(np.ones((2, 3)), [0, 1, 2])
    np.testing.assert_array_equal(d.seed_matrix(), np.eye(3))
    b = C.bicoloring_decompression(np.ones((2, 3)), [0, 1], [0, 0, 0])
    seed_c, seed_r = b.seed_matrix()
    assert seed_c.shape == (3, 1) and seed_r.shape == (2, 2) and seed_r.dtype == np.float64


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0)])
def test_empty_shapes(shape: tuple[int, int]) -> None:
    pattern = np.zeros(shape, dtype=bool)
    assert C.column_coloring(pattern).shape == (shape[1],)
    assert C.row_coloring(pattern).shape == (shape[0],)
    rc, cc = C.bicoloring(pattern)
    assert (rc.shape, cc.shape) == ((shape[0],), (shape[1],))
    d = C.bicoloring_decompression(pattern, rc, cc)
    compressed = np.zeros((shape[0], d.ncol_colors)), np.zeros((d.nrow_colors, shape[1]))
    assert d.decompress(*compressed).shape == (0,)
    if shape == (0, 0):
        assert C.star_coloring(pattern).shape == C.acyclic_coloring(pattern).shape == (0,)
        assert C.acyclic_decompression(pattern, []).decompress(np.zeros((0, 0))).shape == (0,)
