"""Reductions, scans, sorts and softmax (groups of elements, by kind), and matrix products."""

from __future__ import annotations

import math
from typing import Any, Callable

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.kinds import REDUCTIONS, SCANS, SORTS, Kind, by_name
from adopt._sparse.detection.torch.interpreter import bind, metas, rule
from adopt._sparse.detection.values import TracedValue


def _reduce(it, node, x: TracedValue, dims: Any, keepdim: bool, kind: Kind) -> Any:
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        dims = None
    G, _ = A.groups(x.shape, A.normalize_axes(dims, len(x.shape)), bool(keepdim))
    return it.like_node(node, A.reduce(it.tr, x.D, G, kind))


def _reduction(kind: Kind):
    def reduction(it, node, op, args, kwargs):
        b = bind(op, args, kwargs)
        if not isinstance(b["self"], TracedValue):
            return it.fallback(node, args, kwargs, f"torch.ops.{op}")
        return _reduce(it, node, b["self"], b.get("dim"), b.get("keepdim") or False, kind)

    return reduction


def _along(group_rows: Callable):
    """Scans and sorts along one dimension (``group_rows`` is ``prefix`` or ``spread``)."""
    def make(kind: Kind):
        def along(it, node, op, args, kwargs):
            b = bind(op, args, kwargs)
            x = b["self"]
            if not isinstance(x, TracedValue):
                return it.fallback(node, args, kwargs, f"torch.ops.{op}")
            dim = -1 if b.get("dim") is None else b["dim"]
            G, _ = A.groups(x.shape, A.normalize_axes(dim, len(x.shape)), False)
            D = group_rows(it.tr, x.D, G, kind)
            shape = tuple(metas(node)[0].shape)
            if shape != x.shape:  # topk / kthvalue: some elements of each group
                S = A.group_union(x.D, G)
                D = S if math.prod(shape) == S.shape[0] else A.take(
                    S, A.owner_rows(x.shape, dim, shape))
            return it.like_node(node, D)

        return along

    return make


for _table, _make in ((REDUCTIONS, _reduction), (SCANS, _along(A.prefix)),
                      (SORTS, _along(A.spread))):
    for _name, _kind in by_name(_table, "torch").items():
        rule(_name)(_make(_kind))


@rule("max", "min")
def _max(it, node, op, args, kwargs):
    b = bind(op, args, kwargs)
    if "other" in b:  # max.other / min.other: elementwise
        return it.pointwise(node, [b["self"], b["other"]], Kind.PIECEWISE)
    return _reduce(it, node, b["self"], b.get("dim"), b.get("keepdim") or False,
                   Kind.PIECEWISE)


@rule("linalg_vector_norm", "norm")
def _norm(it, node, op, args, kwargs):
    b = bind(op, args, kwargs)
    p = b.get("ord", b.get("p", 2))
    p = 2 if p is None else p
    kind = Kind.ZERO if p == 0 else (
        Kind.PIECEWISE if p in (1, math.inf, -math.inf) else Kind.NONLINEAR)
    return _reduce(it, node, b["self"], b.get("dim"), b.get("keepdim") or False, kind)


# ---- matrix products ------------------------------------------------------------------------
def _product(subs: list[str], out: str, operands: tuple[str, str] | None = None):
    """Rule of a matrix product ``einsum(subs -> out)`` of the first two arguments, or of the
    named ``operands`` plus ``beta * self`` (``addmm`` and friends; no bias when beta == 0)."""
    def product(it, node, op, args, kwargs):
        if operands is None:
            return it.einsum(node, subs, out, [args[0], args[1]])
        b = bind(op, args, kwargs)
        prod = it.einsum(node, subs, out, [b[operands[0]], b[operands[1]]])
        return prod if b.get("beta", 1) == 0 else it.pointwise(node, [b["self"], prod],
                                                               Kind.LINEAR)

    return product


for _names, _subs, _out, _operands in (
    (("mm",), ["ik", "kj"], "ij", None),
    (("bmm",), ["bik", "bkj"], "bij", None),
    (("mv",), ["ik", "k"], "i", None),
    (("dot", "vdot", "inner"), ["k", "k"], "", None),
    (("outer", "ger"), ["i", "j"], "ij", None),
    (("addmm",), ["ik", "kj"], "ij", ("mat1", "mat2")),
    (("addmv",), ["ik", "k"], "i", ("mat", "vec")),
    (("baddbmm",), ["bik", "bkj"], "bij", ("batch1", "batch2")),
    (("addr",), ["i", "j"], "ij", ("vec1", "vec2")),
):
    rule(*_names)(_product(_subs, _out, _operands))
