"""Data movement and array creation: NumPy's own functions on arrays of slot numbers
(reshape, transpose, slicing, concatenation, padding, ...), selections, buffers created from
``x`` (``np.zeros_like(x)``, ``np.zeros(shape, like=x)``), in-place writers, queries."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.diagnostics import FIX, SparsityDetectionError
from adopt._sparse.detection.numpy.dispatch import fallback, unknown_function
from adopt._sparse.detection.numpy.registry import (
    FUNCTIONS,
    implements,
    implements_each,
    np_functions,
)
from adopt._sparse.detection.numpy.tracer import (
    NumpyTracer,
    check_static,
    constant,
    contains_tracer,
    creation,
    data_all,
    data_at,
    data_first,
    fresh,
    lift,
    shape_of,
    structural,
    to_out,
)

_NV = getattr(np, "_NoValue", None)


def _structural(names: str, data: Callable = data_first, layout_dependent: bool = False) -> None:
    for f in np_functions(names):
        FUNCTIONS[f] = (lambda func: lambda tr, *a, **k: structural(
            tr, func, a, k, data, layout_dependent))(f)


_structural("reshape ravel", layout_dependent=True)
_structural(
    "transpose permute_dims matrix_transpose swapaxes moveaxis rollaxis squeeze expand_dims "
    "broadcast_to flip fliplr flipud rot90 roll take take_along_axis diagonal diag diagflat "
    "tril triu copy split array_split hsplit vsplit dsplit unstack tile repeat resize delete "
    "real lib.stride_tricks.sliding_window_view linalg.diagonal linalg.matrix_transpose"
)
_structural("concatenate concat stack hstack vstack dstack column_stack row_stack block")
_structural("broadcast_arrays atleast_1d atleast_2d atleast_3d meshgrid", data_all)
_structural("append", data_at(0, 1, names=("arr", "values")))
_structural("insert", data_at(0, 2, names=("arr", "values")))
_structural("compress extract choose", data_at(1, names=("a", "arr", "choices")))


@implements(np.pad)
def _pad(tr, array, pad_width, mode="constant", **kwargs):
    if callable(mode) or mode not in ("constant", "edge", "reflect", "symmetric", "wrap", "empty"):
        return fallback(tr, f"numpy.pad(mode={mode!r})", np.pad, (array, pad_width),
                        dict(mode=mode, **kwargs))
    if mode in ("constant", "empty"):
        mode, kwargs = "constant", {}
    return structural(tr, np.pad, (array, pad_width), dict(mode=mode, **kwargs), data_first)


@implements(np.imag)
def _imag(tr, val):
    return constant(tr, shape_of(val), lift(tr, val).dtype)


# ---- selections -----------------------------------------------------------------------------
def select_union(tr: A.Trace, all_args: list, branches: list) -> NumpyTracer:
    """Value-dependent selection: the union of the branches (the condition has no derivative)."""
    all_args = [lift(tr, a) for a in all_args]
    branches = [lift(tr, b) for b in branches]
    shape = np.broadcast_shapes(*(shape_of(a) for a in all_args))
    dtype = np.result_type(*[b.dtype if isinstance(b, NumpyTracer) else np.asarray(b).dtype
                             for b in branches])
    D = A.union([b._rows(shape) for b in branches if isinstance(b, NumpyTracer)],
                math.prod(shape), tr.n)
    return fresh(tr, D, shape, dtype)


@implements(np.where)
def _where(tr, condition, x=None, y=None):
    if x is None and y is None:
        check_static(condition, "np.where(condition) (a value-dependent shape)")
        return np.where(condition)
    if not contains_tracer(condition):
        return structural(tr, np.where, (condition, x, y), {}, data_at(1, 2))
    return select_union(tr, [condition, x, y], [x, y])


@implements(np.select)
def _select(tr, condlist, choicelist, default=0):
    if not contains_tracer(condlist):
        return structural(tr, np.select, (condlist, choicelist, default), {}, data_at(1, 2))
    return select_union(tr, list(condlist) + list(choicelist) + [default],
                        list(choicelist) + [default])


@implements(np.clip, keeps_out=True)
def _clip(tr, a, a_min=_NV, a_max=_NV, out=None, *, min=_NV, max=_NV, **kwargs):
    lo = a_min if a_min is not _NV else min
    hi = a_max if a_max is not _NV else max
    args = [a] + [b for b in (lo, hi) if b is not _NV and b is not None]
    return to_out(tr, select_union(tr, args, args), out)


# ---- buffers and constants ------------------------------------------------------------------
def _like(tr, prototype, dtype, order, shape):
    proto = prototype._idx if isinstance(prototype, NumpyTracer) else np.asarray(prototype)
    dtype = np.dtype(dtype) if dtype is not None else (
        prototype.dtype if isinstance(prototype, NumpyTracer) else proto.dtype)
    layout = np.empty_like(proto, dtype=np.int8, order=order, shape=shape)
    certain = not isinstance(prototype, NumpyTracer) or prototype._store.certain or order in "CF"
    return constant(tr, layout.shape, dtype, like=layout, certain=certain)


@implements(*np_functions("zeros_like ones_like empty_like"))
def _zeros_like(tr, prototype, dtype=None, order="K", subok=True, shape=None, **kw):
    return _like(tr, prototype, dtype, order, shape)


@implements(np.full_like)
def _full_like(tr, a, fill_value, dtype=None, order="K", subok=True, shape=None, **kw):
    if isinstance(fill_value, NumpyTracer):
        out = _like(tr, a, dtype or fill_value.dtype, order, shape)
        out[...] = fill_value
        return out
    return _like(tr, a, dtype, order, shape)


@implements(*np_functions("zeros ones empty"))
def _zeros(tr, shape, dtype=float, order="C", **kw):
    return creation(tr, shape, dtype, order)


@implements(np.full)
def _full(tr, shape, fill_value, dtype=None, order="C", **kw):
    out = creation(tr, shape, dtype if dtype is not None else np.result_type(fill_value), order)
    if isinstance(fill_value, NumpyTracer):
        out[...] = fill_value
    return out


@implements(np.array, np.asarray, np.asanyarray)
def _array_like(tr, obj, dtype=None, *args, **kwargs):
    """``np.asarray(obj, like=x)``: tracers stay tracers, constants stay NumPy constants."""
    if contains_tracer(obj):
        t = lift(tr, obj)
        return t.astype(dtype) if dtype is not None else t
    return np.asarray(obj, dtype=dtype)


def _constant_creation(func: Callable) -> Callable:
    """``np.arange(..., like=x)`` and friends with constant arguments: plain NumPy constants."""
    def rule(tr, *args, **kwargs):
        if contains_tracer((args, kwargs)):
            return unknown_function(tr, func, args, kwargs)
        return func(*args, **kwargs)

    return rule


for _f in np_functions("arange linspace logspace geomspace eye identity tri fromfunction "
                       "frombuffer fromiter ascontiguousarray asfortranarray require"):
    FUNCTIONS[_f] = _constant_creation(_f)


# ---- in-place writers -----------------------------------------------------------------------
def inplace_structural(tr: A.Trace, func: Callable, target: Any, args: tuple, kwargs: dict,
                       value_positions: Sequence[int]) -> None:
    """Run an in-place NumPy function (np.put, np.copyto, ...) on slot numbers of ``target``."""
    if not isinstance(target, NumpyTracer):
        if contains_tracer((args, kwargs)):
            raise SparsityDetectionError(
                f"{func.__name__} writes traced values into a plain NumPy array; create the buffer "
                "with np.empty_like(x) / np.zeros_like(x) so the tracer can follow it, or " + FIX
            )
        return func(target, *args, **kwargs)
    before = target._idx.copy()
    slots = before.copy()
    args = list(args)
    values = []
    for p in value_positions:  # the values written enter as negative numbers -1, -2, ...
        v = lift(tr, args[p])
        values.append(v)
        shape = shape_of(v)
        first = sum(math.prod(shape_of(w)) for w in values[:-1])
        args[p] = -(1 + first) - np.arange(math.prod(shape), dtype=np.intp).reshape(shape)
    check_static((args, kwargs), "an index")
    func(slots, *args, **kwargs)
    changed = slots != before
    rows = [v._rows() if isinstance(v, NumpyTracer) else A.empty(math.prod(shape_of(v)), tr.n)
            for v in values]
    V = sp.csr_array(sp.vstack(rows, format="csr")) if rows else A.empty(0, tr.n)
    if not np.issubdtype(target.dtype, np.inexact):
        V = A.empty(V.shape[0], tr.n)
    target._store.write(before[changed] - 1, A.take(V, -slots[changed] - 1))


@implements(np.copyto)
def _copyto(tr, dst, src, casting="same_kind", where=True):
    if where is True or not contains_tracer(where):
        inplace_structural(tr, np.copyto, dst, (src,), dict(casting="unsafe", where=where), (0,))
    else:
        dst[...] = select_union(tr, [dst, src, where], [dst, src])


def _inplace(func: Callable, value_position: int) -> Callable:
    def rule(tr, a, *args, **kwargs):
        return inplace_structural(tr, func, a, args, kwargs, (value_position - 1,))

    return rule


for _f, _pos in ((np.put, 2), (np.place, 2), (np.putmask, 2), (np.put_along_axis, 2),
                 (np.fill_diagonal, 1)):
    FUNCTIONS[_f] = _inplace(_f, _pos)


# ---- queries --------------------------------------------------------------------------------
@implements(np.shape)
def _np_shape(tr, a):
    return shape_of(a)


@implements(np.ndim)
def _np_ndim(tr, a):
    return len(shape_of(a))


@implements(np.size)
def _np_size(tr, a, axis=None):
    shape = shape_of(a)
    return math.prod(shape) if axis is None else shape[axis]


@implements(np.result_type)
def _result_type(tr, *arrays_and_dtypes):
    return np.result_type(*[a.dtype if isinstance(a, NumpyTracer) else a
                            for a in arrays_and_dtypes])


@implements_each(np.iscomplexobj, np.isrealobj)
def _iscomplexobj(tr, func, x):
    return np.issubdtype(x.dtype, np.complexfloating) == (func is np.iscomplexobj)


@implements(np.astype)
def _astype(tr, x, dtype, /, *, copy=True, device=None):
    return x.astype(dtype, copy=copy)
