"""The dependency algebra and the kind tables (adopt._sparse.detection.algebra, .kinds).

Every operation is checked against the same operation on dense boolean matrices (the closed
form: row k of D lists the inputs element k depends on), every kind against the Jacobian rows
and Hessian pattern its definition gives, and the kind tables against each other across the
three frameworks. The three tracers are checked to run on this one algebra.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import scipy.sparse as sp

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.kinds import (
    ATEN_OPS,
    JAX_PRIMITIVES,
    NUMPY_UFUNCS,
    REDUCTIONS,
    SCANS,
    SORTS,
    Kind,
    Ops,
    by_name,
)
from adopt._sparse.detection.values import TracedValue

RNG = np.random.default_rng(11)
N_IN = 7
DENSE = RNG.random((6, N_IN)) < 0.35  # six elements' dependencies on seven inputs
D = sp.csr_array(DENSE)


def dense(M: sp.csr_array) -> np.ndarray:
    return M.toarray().astype(bool)


def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Interactions between the inputs of rows a[k] and b[k], for every k (a^T b)."""
    return (a.astype(int).T @ b.astype(int)) > 0


def sym(H: np.ndarray) -> np.ndarray:
    return H | H.T


# ---- row operations -------------------------------------------------------------------------
ROWS = np.array([5, -1, 0, 0, 3])


@pytest.mark.parametrize("name,got,expected", [
    ("take", lambda: A.take(D, ROWS),
     np.vstack([DENSE[r] if r >= 0 else np.zeros(N_IN, bool) for r in ROWS])),
    ("mask_rows", lambda: A.mask_rows(D, np.arange(6) % 2 == 0),
     DENSE * (np.arange(6) % 2 == 0)[:, None]),
    ("union", lambda: A.union([D, None, A.take(D, np.arange(6)[::-1]), D], 6, N_IN),
     DENSE | DENSE[::-1]),
    ("union_row", lambda: A.union_row([A.take(D, [0, 1]), A.take(D, [4])], N_IN),
     DENSE[[0, 1, 4]].any(axis=0, keepdims=True)),
    ("broadcast_row", lambda: A.broadcast_row(A.take(D, [2]), 3), np.repeat(DENSE[[2]], 3, 0)),
    ("group_union", lambda: A.group_union(D, np.array([[0, 2], [5, 1]])),
     np.vstack([DENSE[0] | DENSE[2], DENSE[5] | DENSE[1]])),
    ("group_spread", lambda: A.group_spread(D, np.array([[0, 1, 2], [3, 4, 5]])),
     np.repeat(np.vstack([DENSE[:3].any(0), DENSE[3:].any(0)]), 3, 0)),
    ("group_prefix", lambda: A.group_prefix(D, np.array([[2, 1, 0], [3, 4, 5]])),
     np.vstack([DENSE[:3][::-1].cumsum(0)[::-1] > 0, DENSE[3:].cumsum(0) > 0])),
    ("scatter", lambda: A.scatter(D, np.array([1, 1, 4]), A.take(D, [0, 2, 3]), False),
     np.vstack([DENSE[0], DENSE[0] | DENSE[2], DENSE[2], DENSE[3], DENSE[3], DENSE[5]])),
    ("scatter_add", lambda: A.scatter(D, np.array([1, 4]), A.take(D, [0, 3]), True),
     DENSE | np.vstack([np.zeros(N_IN, bool), DENSE[0], np.zeros((2, N_IN), bool), DENSE[3],
                        np.zeros(N_IN, bool)])),
])
def test_row_operations_match_dense(name, got, expected):
    M = got()
    assert isinstance(M, sp.csr_array) and M.shape == expected.shape, name
    np.testing.assert_array_equal(dense(M), expected, err_msg=name)


def test_take_of_every_row_in_order_is_the_matrix_itself():
    assert A.take(D, np.arange(6)) is D
    assert A.take(D, np.array([], dtype=int)).shape == (0, N_IN)


def test_groups_are_the_reduced_elements():
    G, out_shape = A.groups((2, 3, 4), (0, 2), keepdims=True)
    idx = np.arange(24).reshape(2, 3, 4)
    assert out_shape == (1, 3, 1)
    for j in range(3):
        assert sorted(G[j]) == sorted(idx[:, j, :].ravel())
    assert A.normalize_axes(-1, 3) == (2,) and A.normalize_axes(None, 2) == (0, 1)


# ---- kinds: Jacobian rows and Hessian terms ---------------------------------------------------
U, V = A.take(D, [0, 1, 2]), A.take(D, [3, 4, 5])
u, v = dense(U), dense(V)
ZERO3 = np.zeros((3, N_IN), bool)
NO_H = np.zeros((N_IN, N_IN), bool)
C = np.array([0.0, 1.0, 2.0])  # a known constant: zero, one, other

POINTWISE_CASES = [  # kind, operands, Jacobian rows, Hessian pattern
    (Kind.ZERO, [(U, None), (V, None)], ZERO3, NO_H),
    (Kind.LINEAR, [(U, None), (V, None)], u | v, NO_H),
    (Kind.PIECEWISE, [(U, None), (None, C)], u, NO_H),
    (Kind.FIRST, [(U, None), (V, None)], u, NO_H),
    (Kind.UNARY, [(U, None)], u, sym(outer(u, u))),
    (Kind.MUL, [(U, None), (V, None)], u | v, sym(outer(u, v))),
    (Kind.MUL, [(U, None), (None, C)], u * (C != 0)[:, None], NO_H),
    (Kind.DIV, [(U, None), (V, None)], u | v, sym(outer(u, v) | outer(v, v))),
    (Kind.POW, [(U, None), (None, C)], u * (C != 0)[:, None],
     sym(outer(u * (C == 2)[:, None], u * (C == 2)[:, None]))),
    (Kind.POW, [(U, None), (V, None)], u | v, sym(outer(u | v, u | v))),
    (Kind.NONLINEAR, [(U, None), (V, None)], u | v, sym(outer(u | v, u | v))),
]


@pytest.mark.parametrize("kind,ops,rows,hessian", POINTWISE_CASES,
                         ids=lambda c: c.value if isinstance(c, Kind) else "")
def test_pointwise_kinds(kind, ops, rows, hessian):
    tr = A.Trace(N_IN, hessian=True)
    np.testing.assert_array_equal(dense(A.pointwise(tr, kind, ops, 3)), rows)
    np.testing.assert_array_equal(dense(tr.hessian_pattern()), hessian)


G2 = np.array([[0, 1, 2], [3, 4, 5]])


def _pairs_within(groups):
    H = NO_H.copy()
    for g in groups:
        for a in g:
            for b in g:
                if a != b:
                    H |= sym(outer(DENSE[[a]], DENSE[[b]]))
    return H


@pytest.mark.parametrize("op,kind,hessian", [
    (A.reduce, Kind.LINEAR, NO_H),
    (A.reduce, Kind.MUL, _pairs_within(G2)),
    (A.reduce, Kind.NONLINEAR, sym(outer(np.vstack([DENSE[:3].any(0), DENSE[3:].any(0)]),
                                         np.vstack([DENSE[:3].any(0), DENSE[3:].any(0)])))),
    (A.prefix, Kind.MUL, _pairs_within(G2)),
    (A.spread, Kind.PIECEWISE, NO_H),
])
def test_group_kinds_record_their_hessian_terms(op, kind, hessian):
    tr = A.Trace(N_IN, hessian=True)
    op(tr, D, G2, kind)
    np.testing.assert_array_equal(dense(tr.hessian_pattern()), hessian)


def test_einsum_matches_boolean_products():
    M = RNG.random((4, 3)) < 0.5
    tr = A.Trace(N_IN, hessian=True)
    got = A.einsum(tr, ["ij", "j"], "i", [(M.shape, None, M), ((3,), U, None)])
    np.testing.assert_array_equal(dense(got), (M.astype(int) @ u.astype(int)) > 0)
    got = A.einsum(tr, ["i", "i"], "", [((3,), U, None), ((3,), V, None)])  # u . v
    np.testing.assert_array_equal(dense(got), (u | v).any(0, keepdims=True))
    np.testing.assert_array_equal(dense(tr.hessian_pattern()), sym(outer(u, v)))


def test_trace_pattern_needs_a_scalar_for_hessians():
    tr = A.Trace(N_IN, hessian=True)
    with pytest.raises(ValueError, match="scalar output; f returned 3 values"):
        tr.pattern(U)
    np.testing.assert_array_equal(dense(A.Trace(N_IN, hessian=False).pattern(U)), u)


# ---- the kind tables ------------------------------------------------------------------------
SAME_OPERATION = [  # (NumPy ufunc, jax.lax primitive, ATen operator): one kind
    ("add", "add", "add"), ("subtract", "sub", "sub"), ("negative", "neg", "neg"),
    ("multiply", "mul", "mul"), ("power", "pow", "pow"), ("maximum", "max", "maximum"),
    ("remainder", "rem", "remainder"), ("floor", "floor", "floor"), ("sign", "sign", "sign"),
    ("greater", "gt", "gt"), ("equal", "eq", "eq"), ("logical_and", "and", "logical_and"),
    ("isfinite", "is_finite", "isfinite"), ("nextafter", "nextafter", "nextafter"),
    ("exp", "exp", None), ("arctan2", "atan2", None), ("divide", "div", None),
    ("erf", "erf", None), ("copysign", None, "copysign"),
]


@pytest.mark.parametrize("names", SAME_OPERATION, ids=lambda t: t[0])
def test_the_frameworks_agree_on_each_operation(names):
    kinds = {table[name] for table, name in zip((NUMPY_UFUNCS, JAX_PRIMITIVES, ATEN_OPS), names)
             if name is not None}
    assert len(kinds) == 1, (names, kinds)


@pytest.mark.parametrize("table", [REDUCTIONS, SCANS, SORTS])
def test_group_tables_parse_into_rows(table):
    assert all(isinstance(r, Ops) and isinstance(r.kind, Kind) for r in table)
    for framework in ("numpy", "jax", "torch"):
        by_name(table, framework)  # no name in two rows of different kinds
    assert by_name(SCANS, "numpy")["cumprod"] is Kind.MUL


def test_a_name_of_two_kinds_is_an_error():
    with pytest.raises(ValueError, match="'exp' is both"):
        by_name([Ops(Kind.UNARY, jax="exp"), Ops(Kind.LINEAR, jax="exp")], "jax")


# ---- one algebra for the three tracers ------------------------------------------------------
@pytest.mark.parametrize("framework", ["numpy", "jax", "torch"])
def test_every_tracer_runs_on_the_shared_algebra(framework):
    pytest.importorskip(framework)
    module = importlib.import_module(f"adopt._sparse.detection.{framework}")
    x = np.ones(4)
    if framework == "torch":
        import torch

        x = torch.ones(4, dtype=torch.float64)
    tr, rows = module.trace(lambda x: x[1:] * x[:-1], x, (), hessian=False)
    assert type(tr) is A.Trace and isinstance(rows, sp.csr_array)
    np.testing.assert_array_equal(dense(tr.pattern(rows)), np.eye(4, dtype=bool)[1:]
                                  | np.eye(4, dtype=bool)[:-1])


def test_the_graph_interpreters_share_one_traced_value():
    jax_interpreter = importlib.import_module("adopt._sparse.detection.jax.interpreter")
    torch_interpreter = importlib.import_module("adopt._sparse.detection.torch.interpreter")
    tv = jax_interpreter.Interpreter(A.Trace(2, False)).tv((2,), np.dtype("float64"))
    assert type(tv) is TracedValue
    assert torch_interpreter.TracedValue is TracedValue
