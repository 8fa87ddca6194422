"""Reductions, cumulative reductions and sorting: groups of elements, by kind."""

from __future__ import annotations

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.jax.interpreter import RULES, rule, shape_of
from adopt._sparse.detection.kinds import REDUCTIONS, SCANS, SORTS, Kind, by_name
from adopt._sparse.detection.values import TracedValue


def _reduce(kind: Kind):
    def reduce(it, e, invals, flags):
        x = invals[0]
        G, _ = A.groups(x.shape, tuple(sorted(int(a) for a in e.params["axes"])), False)
        return [it.out(e.outvars[0].aval, A.reduce(it.tr, x.D, G, kind))]

    return reduce


def _scan(kind: Kind):
    def scan(it, e, invals, flags):
        x = invals[0]
        G, _ = A.groups(x.shape, (int(e.params["axis"]) % len(x.shape),), False)
        if e.params.get("reverse"):
            G = G[:, ::-1]
        return [it.out(e.outvars[0].aval, A.prefix(it.tr, x.D, G, kind))]

    return scan


def _sort(kind: Kind):
    def sort(it, e, invals, flags):
        shape = shape_of(invals[0])
        G, _ = A.groups(shape, (int(e.params["dimension"]) % len(shape),), False)
        return [it.out(o.aval, A.spread(it.tr, v.D, G, kind) if isinstance(v, TracedValue)
                       else None) for o, v in zip(e.outvars, invals)]

    return sort


for _table, _make in ((REDUCTIONS, _reduce), (SCANS, _scan), (SORTS, _sort)):
    for _name, _kind in by_name(_table, "jax").items():
        RULES[_name] = _make(_kind)


@rule("top_k", "approx_top_k")
def _top_k(it, e, invals, flags):
    x = invals[0]
    p = e.params
    axis = int(p.get("reduction_dimension", p.get("axis", -1))) % len(x.shape)
    G, _ = A.groups(x.shape, (axis,), False)
    values = e.outvars[0].aval
    rows = A.owner_rows(x.shape, axis, tuple(values.shape))
    return [it.out(values, A.take(A.group_union(x.D, G), rows))] + [
        it.unknown(o.aval) for o in e.outvars[1:]]


@rule("reduce")
def _reduce_generic(it, e, invals, flags):
    """``lax.reduce`` with a custom computation: smooth in each group and the inits."""
    axes = tuple(sorted(int(a) for a in e.params["dimensions"]))
    G, _ = A.groups(shape_of(invals[0]), axes, False)
    return it.custom_reduction(e, invals, lambda D: A.group_union(D, G), G.shape[0])
