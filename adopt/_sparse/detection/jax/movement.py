"""Data movement: the primitive applied to arrays of element numbers gives every output
element's exact source (reshape, broadcast, slicing, padding, gather, scatter, ...).

An index that is not a known constant (computed from ``x``) selects every element, with a
warning.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
from jax.extend.core import ClosedJaxpr

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.jax import known
from adopt._sparse.detection.jax.interpreter import RULES, rule, shape_of
from adopt._sparse.detection.kinds import Kind
from adopt._sparse.detection.values import TracedValue


def _movement(fn: Callable[[list, dict], Any], data: Sequence[int] | None = None):
    """The rule of a pure data movement ``fn(element numbers, params)`` of the operands at
    positions ``data`` (all operands if None)."""
    def move(it, e, invals, flags):
        pos = range(len(invals)) if data is None else data
        return it.move(e, invals, pos, lambda nums: fn(nums, e.params))

    return move


RULES["reshape"] = _movement(known.reshape, (0,))
RULES["broadcast_in_dim"] = _movement(
    lambda a, p: known.np_broadcast_in_dim(a[0], p["shape"], p["broadcast_dimensions"]), (0,))
RULES["squeeze"] = _movement(lambda a, p: np.squeeze(a[0], axis=tuple(p["dimensions"])), (0,))
RULES["transpose"] = _movement(lambda a, p: a[0].transpose(p["permutation"]), (0,))
RULES["slice"] = _movement(known.slice_, (0,))
RULES["rev"] = _movement(lambda a, p: np.flip(a[0], axis=tuple(p["dimensions"])), (0,))
RULES["concatenate"] = _movement(lambda a, p: np.concatenate(a, axis=p["dimension"]))
RULES["pad"] = _movement(
    lambda a, p: known.np_pad(a[0], a[1].reshape(()), p["padding_config"]), (0, 1))
RULES["split"] = _movement(
    lambda a, p: np.split(a[0], np.cumsum(p["sizes"])[:-1].astype(np.intp), axis=p["axis"]),
    (0,))
RULES["stack"] = _movement(lambda a, p: np.stack(a, axis=p["axis"]))
RULES["unstack"] = _movement(lambda a, p: list(np.moveaxis(a[0], p["axis"], 0)), (0,))
RULES["tile"] = _movement(lambda a, p: np.tile(a[0], p["reps"]), (0,))


@rule("select_n")
def _select_n(it, e, invals, flags):
    pred, cases = invals[0], invals[1:]
    aval = e.outvars[0].aval
    if isinstance(pred, TracedValue):  # unknown predicate: may pick any case
        return [it.pointwise(aval, cases, Kind.PIECEWISE)]
    return it.move(e, invals, range(1, len(invals)),
                   lambda nums: np.broadcast_to(known.np_select(pred, nums), tuple(aval.shape)))


def _starts(values: Sequence[Any], shape: tuple, sizes: Sequence[int]) -> list[int] | None:
    """Start indices clamped like XLA, or None if one is not a known constant."""
    if any(isinstance(v, TracedValue) for v in values):
        return None
    return [int(np.clip(int(np.asarray(v)), 0, d - k)) for v, d, k in zip(values, shape, sizes)]


@rule("dynamic_slice")
def _dynamic_slice(it, e, invals, flags):
    sizes = tuple(e.params["slice_sizes"])
    starts = _starts(invals[1:1 + len(sizes)], shape_of(invals[0]), sizes)
    if starts is None:
        it.warn_index("dynamic_slice")
        return [it.spread_row(e.outvars[0].aval, [invals[0]])]
    region = tuple(slice(s, s + k) for s, k in zip(starts, sizes))
    return it.move(e, invals, (0,), lambda a: a[0][region])


@rule("dynamic_update_slice")
def _dynamic_update_slice(it, e, invals, flags):
    op, upd = invals[0], invals[1]
    shape, ushape = shape_of(op), shape_of(upd)
    starts = _starts(invals[2:2 + len(shape)], shape, ushape)
    aval = e.outvars[0].aval
    if starts is None:
        it.warn_index("dynamic_update_slice")
        base = op.D if isinstance(op, TracedValue) else A.empty(math.prod(shape), it.n)
        return [it.out(aval, base + it.spread_row(aval, [upd]).D)]
    region = tuple(slice(s, s + k) for s, k in zip(starts, ushape))

    def fn(a):
        out = a[0].copy()
        out[region] = a[1]
        return out

    return it.move(e, invals, (0, 1), fn)


@rule("gather")
def _gather(it, e, invals, flags):
    op, idx = invals[0], invals[1]
    aval = e.outvars[0].aval
    if isinstance(idx, TracedValue):
        it.warn_index("gather")
        return [it.spread_row(aval, [op])]
    rows = it.gather_numbers(op.shape, idx, e.params["dimension_numbers"],
                             e.params["slice_sizes"], e.params["mode"])
    if rows is None:
        return it.fallback(e, invals, "gather on more than 2**31 elements without jax x64")
    return [it.out(aval, A.take(op.D, rows))]


def _scatter_destinations(it, e, shape: tuple, idx: Any, ushape: tuple) -> np.ndarray | None:
    """Flat operand position every update element lands on (``-1``: dropped), found with the
    gather that is the transpose of the scatter (as JAX differentiates scatter-add)."""
    from jax.lax import GatherDimensionNumbers, GatherScatterMode

    dn = e.params["dimension_numbers"]
    gdn = GatherDimensionNumbers(
        offset_dims=tuple(dn.update_window_dims),
        collapsed_slice_dims=tuple(dn.inserted_window_dims),
        start_index_map=tuple(dn.scatter_dims_to_operand_dims),
        operand_batching_dims=tuple(dn.operand_batching_dims),
        start_indices_batching_dims=tuple(dn.scatter_indices_batching_dims),
    )
    slice_sizes, pos = [], 0
    for i in range(len(shape)):
        if i in dn.inserted_window_dims or i in dn.operand_batching_dims:
            slice_sizes.append(1)
        else:
            slice_sizes.append(ushape[dn.update_window_dims[pos]])
            pos += 1
    mode = GatherScatterMode.from_any(e.params.get("mode"))
    mode = mode if mode == GatherScatterMode.CLIP else GatherScatterMode.FILL_OR_DROP
    return it.gather_numbers(shape, idx, gdn, tuple(slice_sizes), mode)


def _plain_update(update_jaxpr: Any) -> bool:
    """Whether a scatter's update computation just returns the update (``.at[].set``)."""
    if update_jaxpr is None:
        return True
    j = update_jaxpr.jaxpr if isinstance(update_jaxpr, ClosedJaxpr) else update_jaxpr
    return len(j.invars) == 2 and len(j.outvars) == 1 and j.outvars[0] is j.invars[1]


def _scatter(kind: Kind | None):
    """The rule of a scatter combining old and new values by ``kind`` (None: replace)."""
    def scatter(it, e, invals, flags):
        op, idx, upd = invals[0], invals[1], invals[2]
        aval = e.outvars[0].aval
        size = math.prod(aval.shape)
        shape, ushape = shape_of(op), shape_of(upd)
        base = op.D if isinstance(op, TracedValue) else A.empty(size, it.n)
        U = upd.D if isinstance(upd, TracedValue) else A.empty(math.prod(ushape), it.n)
        nonlinear = (kind is Kind.MUL and U.nnz > 0) or (
            kind is None and not _plain_update(e.params.get("update_jaxpr")))
        dest = None if isinstance(idx, TracedValue) else _scatter_destinations(
            it, e, shape, idx, ushape)
        if dest is None:
            it.warn_index(e.primitive.name)
            D = base + it.spread_row(aval, [upd]).D
            if nonlinear:
                it.tr.block(A.union_row([D], it.n))
            return [it.out(aval, D)]
        ok = dest >= 0
        targets = dest[ok]
        D = A.scatter(base, targets, A.take(U, np.flatnonzero(ok)),
                      accumulate=kind is not None or nonlinear)
        if nonlinear:
            it.tr.block(A.take(D, targets))
        return [it.out(aval, D)]

    return scatter


RULES["scatter"] = _scatter(None)
RULES["scatter-add"] = RULES["scatter_add"] = _scatter(Kind.LINEAR)
RULES["scatter-sub"] = RULES["scatter_sub"] = _scatter(Kind.LINEAR)
RULES["scatter-mul"] = RULES["scatter_mul"] = _scatter(Kind.MUL)
for _name in ("scatter-min", "scatter-max", "scatter_min", "scatter_max"):
    RULES[_name] = _scatter(Kind.PIECEWISE)
