"""Reductions, cumulative reductions, sorting and order statistics, differences."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.kinds import REDUCTIONS, SCANS, SORTS, Kind
from adopt._sparse.detection.numpy.dispatch import fallback, stand_in
from adopt._sparse.detection.numpy.registry import implements, implements_each, np_functions
from adopt._sparse.detection.numpy.tracer import (
    NumpyTracer,
    check_static,
    constant,
    contains_tracer,
    fresh,
    lift,
)

__all__ = ["reduction", "cumulative"]

_NV = getattr(np, "_NoValue", None)


def reduction(tr: A.Trace, a: Any, axis: Any, keepdims: bool, kind: Kind, where: Any = True,
              dtype: Any = None) -> NumpyTracer:
    """Reduce ``a`` over ``axis`` by ``kind`` (elements outside ``where`` dropped)."""
    a = lift(tr, a)
    if not isinstance(a, NumpyTracer):
        raise TypeError("internal: reduction of a constant")
    G, out_shape = A.groups(a.shape, A.normalize_axes(axis, a.ndim), bool(keepdims))
    D = a._rows()
    if where is not True and where is not None:
        check_static(where, "a where= mask")
        D = A.mask_rows(D, np.broadcast_to(np.asarray(where), a.shape).ravel())
    dtype = a.dtype if dtype is None else np.dtype(dtype)
    if kind is Kind.ZERO:
        return constant(tr, out_shape, np.bool_ if dtype == np.bool_ else dtype)
    return fresh(tr, A.reduce(tr, D, G, kind), out_shape, dtype)


def cumulative(tr: A.Trace, a: Any, axis: Any, kind: Kind, dtype: Any = None) -> NumpyTracer:
    """Cumulative reduction of ``a`` along ``axis`` (flattened if None) by ``kind``."""
    a = lift(tr, a)
    if axis is None:
        a, axis = np.ravel(a), 0
    G, _ = A.groups(a.shape, A.normalize_axes(axis, a.ndim), False)
    D = A.prefix(tr, a._rows(), G, kind)
    return fresh(tr, D, a.shape, a.dtype if dtype is None else dtype)


@functools.cache
def _signature(func: Callable) -> inspect.Signature:
    return inspect.signature(func)


def _arguments(func: Callable, *args: Any, **kwargs: Any) -> dict:
    """The arguments passed to ``func`` by parameter name (NumPy's ``_NoValue`` = absent)."""
    bound = _signature(func).bind(*args, **kwargs).arguments
    return {k: v for k, v in bound.items() if v is not _NV}


def _reduction_rule(kind: Kind):
    def rule(tr, func, a, *args, **kwargs):
        p = _arguments(func, a, *args, **kwargs)
        a = lift(tr, a)
        if not isinstance(a, NumpyTracer):
            raise TypeError("internal: reduction without tracer")
        axis, keepdims, dtype = p.get("axis"), p.get("keepdims", False), p.get("dtype")
        if kind is Kind.ZERO:
            return reduction(tr, a, axis, keepdims, kind, dtype=np.bool_)
        if kind in (Kind.LINEAR, Kind.MUL) and dtype is None and not np.issubdtype(
                a.dtype, np.inexact):
            dtype = np.sum(np.zeros((1,), a.dtype)).dtype
        return reduction(tr, a, axis, keepdims, kind, where=p.get("where", True), dtype=dtype)

    return rule


def _cumulative_rule(kind: Kind):
    def rule(tr, a, axis=None, dtype=None, out=None, include_initial=False):
        res = cumulative(tr, a, axis, kind, dtype)
        if not include_initial:
            return res
        pad = [(0, 0)] * res.ndim
        pad[0 if axis is None else axis] = (1, 0)
        return np.pad(res, pad)

    return rule


@implements_each(*np_functions("median nanmedian percentile quantile nanpercentile nanquantile"))
def _quantiles(tr, func, a, *args, **kwargs):
    """Order statistics: piecewise linear in the elements of each reduced group."""
    if contains_tracer((args, kwargs)):
        return fallback(tr, f"numpy.{func.__name__} with traced q", func, (a,) + args, kwargs)
    a = lift(tr, a)
    kwargs.pop("out", None)
    p = _arguments(func, np.zeros(a.shape), *args, **kwargs)
    ref_shape = np.shape(func(np.zeros(a.shape), *args, **kwargs))
    red = reduction(tr, a, p.get("axis"), p.get("keepdims", False), Kind.PIECEWISE)
    rows = A.take(red._rows(), A.broadcast_rows(red.shape, ref_shape))
    return fresh(tr, rows, ref_shape, np.result_type(a.dtype, np.float64))


def _sort_rule(kind: Kind):
    def rule(tr, func, a, *args, **kwargs):
        axis = _arguments(func, a, *args, **kwargs).get("axis", -1)
        a = lift(tr, a)
        if axis is None:
            a, axis = np.ravel(a), 0
        G, _ = A.groups(a.shape, A.normalize_axes(axis, a.ndim), False)
        return fresh(tr, A.spread(tr, a._rows(), G, kind), a.shape, a.dtype)

    return rule


for _table, _make, _each in ((REDUCTIONS, _reduction_rule, True), (SCANS, _cumulative_rule, False),
                             (SORTS, _sort_rule, True)):
    for _row in _table:
        _funcs = np_functions(_row.numpy)
        (implements_each if _each else implements)(*_funcs)(_make(_row.kind))


@implements(np.average)
def _average(tr, a, axis=None, weights=None, returned=False, *, keepdims=False):
    if weights is not None and contains_tracer(weights):
        return fallback(tr, "numpy.average with traced weights", np.average, (a,),
                        dict(axis=axis, weights=weights, returned=returned, keepdims=keepdims))
    a = lift(tr, a)
    if weights is not None:
        w = np.asarray(weights)
        if w.shape != a.shape:  # 1-D weights along ``axis``
            shape = [1] * a.ndim
            shape[axis if axis is not None else 0] = -1
            w = w.reshape(shape)
        a = a * (w != 0)  # zero weights remove the dependence
    res = reduction(tr, a, axis, keepdims, Kind.LINEAR)
    if returned:
        w = np.broadcast_to(np.asarray(1.0 if weights is None else weights), a.shape)
        return res, np.sum(w, axis=axis)
    return res


def _edge(a: NumpyTracer, extra: Any, axis: int) -> Any:
    """A ``prepend=`` / ``append=`` value of ``np.diff`` as a slab along ``axis``."""
    p = extra if isinstance(extra, NumpyTracer) else np.asarray(extra)
    shape = list(a.shape)
    shape[axis] = 1
    return np.broadcast_to(p, shape) if np.ndim(p) == 0 else p


@implements(np.diff)
def _diff(tr, a, n=1, axis=-1, prepend=_NV, append=_NV):
    a = lift(tr, a)
    parts = ([] if prepend is _NV else [_edge(a, prepend, axis)]) + [a] + (
        [] if append is _NV else [_edge(a, append, axis)])
    if len(parts) > 1:
        a = np.concatenate(parts, axis=axis)
    axis = axis % a.ndim
    hi = tuple(slice(1, None) if d == axis else slice(None) for d in range(a.ndim))
    lo = tuple(slice(None, -1) if d == axis else slice(None) for d in range(a.ndim))
    for _ in range(n):
        a = a[hi] - a[lo]
    return a


@implements(np.gradient)
def _gradient(tr, f, *varargs, axis=None, edge_order=1):
    """Finite-difference stencils along each axis (the pattern; values are not tracked)."""
    f = lift(tr, f)
    nonuniform = any(np.ndim(v) > 0 for v in varargs)
    out = []
    for ax in A.normalize_axes(axis, f.ndim):
        def sl(start, stop):
            return tuple(slice(start, stop) if d == ax else slice(None) for d in range(f.ndim))

        inner = f[sl(2, None)] + f[sl(None, -2)]
        if nonuniform:  # unequal spacing also weighs the centre point
            inner = inner + f[sl(1, -1)]
        k = 2 if edge_order == 2 else 1
        first = sum(f[sl(i, i + 1)] for i in range(k + 1))
        last = sum(f[sl(f.shape[ax] - 1 - i, f.shape[ax] - i)] for i in range(k + 1))
        out.append(np.concatenate([first, inner, last], axis=ax))
    return out[0] if len(out) == 1 else tuple(out)


@implements(*np_functions("trapezoid trapz"))
def _trapezoid(tr, y, x=None, dx=1.0, axis=-1):
    if contains_tracer((x, dx)):
        return fallback(tr, "numpy.trapezoid with traced sample points", np.trapezoid, (y,),
                        dict(x=x, dx=dx, axis=axis))
    return reduction(tr, y, axis, False, Kind.LINEAR)


@implements(np.trace)
def _trace(tr, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return np.sum(np.diagonal(a, offset, axis1, axis2), axis=-1)


@implements(*np_functions("round around fix"))
def _round(tr, a, decimals=0, out=None):
    a = lift(tr, a)
    return constant(tr, a.shape, a.dtype)


@implements(*np_functions("nan_to_num real_if_close"))
def _nan_to_num(tr, x, *args, **kwargs):
    x = lift(tr, x)
    return fresh(tr, x._rows(), x.shape, x.dtype)


def _int_result(tr, func, *args, **kwargs):
    """Integer / boolean results (argmax, isclose, ...): right shape, no dependencies."""
    stand_args, stand_kwargs, _ = stand_in(tr, args, kwargs, seed=0)
    ref = func(*stand_args, **stand_kwargs)
    if isinstance(ref, tuple):
        return tuple(constant(tr, np.shape(r), np.asarray(r).dtype) for r in ref)
    return constant(tr, np.shape(ref), np.asarray(ref).dtype)


def _value_dependent_shape(tr, func, *args, **kwargs):
    check_static((args, kwargs), f"numpy.{func.__name__} (its output shape depends on the values of x)")


implements_each(*np_functions(
    "argmax argmin nanargmax nanargmin argsort argpartition searchsorted count_nonzero isclose "
    "allclose array_equal array_equiv isin digitize signbit isreal iscomplex isneginf isposinf"
))(_int_result)
implements_each(*np_functions(
    "nonzero argwhere flatnonzero unique unique_values unique_counts unique_inverse unique_all "
    "trim_zeros intersect1d union1d setdiff1d setxor1d"
))(_value_dependent_shape)
