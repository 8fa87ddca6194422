"""Ufuncs: ``__call__`` by the kind table, ``reduce``, ``accumulate``, ``outer``, ``at``;
``out=`` and ``where=`` as NumPy handles them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.diagnostics import FIX, SparsityDetectionError
from adopt._sparse.detection.kinds import (
    NUMPY_ACCUMULATE_UFUNCS,
    NUMPY_MULTI_OUTPUT,
    NUMPY_REDUCE_UFUNCS,
    NUMPY_UFUNCS,
    Kind,
)
from adopt._sparse.detection.numpy.dispatch import fallback, warn_no_rule
from adopt._sparse.detection.numpy.reductions import cumulative, reduction
from adopt._sparse.detection.numpy.registry import GUFUNCS
from adopt._sparse.detection.numpy.tracer import (
    NumpyTracer,
    check_static,
    fresh,
    lift,
    operand,
    shape_of,
    to_out,
)

__all__ = ["array_ufunc"]


def array_ufunc(tr: A.Trace, ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``NumpyTracer.__array_ufunc__``."""
    out = kwargs.pop("out", None)
    where = kwargs.pop("where", True)
    inputs = tuple(lift(tr, a) for a in inputs)
    if method == "__call__":
        result = _call(tr, ufunc, inputs, kwargs)
    elif method == "reduce":
        result = _reduce(tr, ufunc, *inputs, **kwargs)
    elif method == "accumulate":
        result = _accumulate(tr, ufunc, *inputs, **kwargs)
    elif method == "outer":
        a, b = inputs
        expand = (...,) + (None,) * len(shape_of(b))
        a = a[expand] if isinstance(a, NumpyTracer) else np.asarray(a)[expand]
        result = _call(tr, ufunc, (a, b), kwargs)
    elif method == "at":
        return _at(tr, ufunc, *inputs)
    else:
        result = fallback(tr, f"numpy.{ufunc.__name__}.{method}", getattr(ufunc, method),
                          inputs, kwargs)
    if where is not True and method == "__call__" and out is not None:
        check_static(where, "a where= mask")
        return _masked_to_out(tr, result, out, np.asarray(where))
    return to_out(tr, result, out)


def _masked_to_out(tr: A.Trace, result: Any, out: Any, where: np.ndarray) -> Any:
    """``ufunc(..., out=out, where=where)``: only the masked elements of ``out`` change."""
    outs = out if isinstance(out, tuple) else (out,)
    results = result if isinstance(result, tuple) else (result,)
    for o, r in zip(outs, results):
        if not isinstance(o, NumpyTracer):
            return to_out(tr, result, out)  # raises for traced results
        mask = np.broadcast_to(where, o.shape)
        o[mask] = np.broadcast_to(r, o.shape)[mask]
    return outs[0] if len(outs) == 1 else outs


def _dtypes(ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> tuple:
    """The output dtypes NumPy's type resolution gives for these inputs."""
    dummies = []
    for a in inputs:
        if isinstance(a, NumpyTracer):
            dummies.append(np.zeros((), a.dtype))
        elif isinstance(a, (int, float, complex, bool)):
            dummies.append(a)
        else:
            dummies.append(np.zeros((), np.asarray(a).dtype))
    kw = {k: kwargs[k] for k in ("dtype", "casting", "signature") if k in kwargs}
    with np.errstate(all="ignore"):
        res = ufunc(*dummies, **kw)
    res = res if isinstance(res, tuple) else (res,)
    return tuple(np.asarray(r).dtype for r in res)


def _kinds(ufunc: np.ufunc) -> tuple[Kind, ...]:
    """The kind of each output of ``ufunc`` (a smooth function, with a warning, if unknown)."""
    name = ufunc.__name__
    if name in NUMPY_MULTI_OUTPUT:
        return NUMPY_MULTI_OUTPUT[name]
    kind = NUMPY_UFUNCS.get(name)
    if kind is None:
        warn_no_rule(f"the ufunc numpy.{name}")
        kind = Kind.NONLINEAR if ufunc.nin > 1 else Kind.UNARY
    return (kind,) * ufunc.nout


def _call(tr: A.Trace, ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    name = ufunc.__name__
    if ufunc.signature is not None:
        rule = GUFUNCS.get(name)
        if rule is None:
            return fallback(tr, f"numpy.{name}", ufunc, inputs, kwargs)
        return rule(tr, *inputs, **{k: v for k, v in kwargs.items() if k == "axis"})
    dtypes = _dtypes(ufunc, inputs, kwargs)
    shape = np.broadcast_shapes(*(shape_of(a) for a in inputs))
    m = math.prod(shape)
    kinds = _kinds(ufunc)
    ops = [operand(a, shape) for a in inputs]
    certain = all(
        (a._idx.flags.c_contiguous if isinstance(a, NumpyTracer) else
         (not isinstance(a, np.ndarray) or a.flags.c_contiguous))
        for a in inputs
    )
    outs = []
    for kind, dt in zip(kinds, dtypes):
        D = A.pointwise(tr, kind, ops, m) if np.issubdtype(dt, np.inexact) else A.empty(m, tr.n)
        outs.append(fresh(tr, D, shape, dt, certain))
    return outs[0] if len(outs) == 1 else tuple(outs)


def _reduce(tr, ufunc, a, axis=0, dtype=None, out=None, keepdims=False, initial=None,
            where=True):
    name = ufunc.__name__
    if name not in NUMPY_REDUCE_UFUNCS or not isinstance(a, NumpyTracer):
        return fallback(tr, f"numpy.{name}.reduce", ufunc.reduce, (a,),
                        dict(axis=axis, dtype=dtype, keepdims=keepdims))
    res_dtype = ufunc.reduce(np.zeros((1,), a.dtype), dtype=dtype).dtype
    return reduction(tr, a, axis, keepdims, NUMPY_UFUNCS[name], where=where, dtype=res_dtype)


def _accumulate(tr, ufunc, a, axis=0, dtype=None, out=None):
    name = ufunc.__name__
    if name not in NUMPY_ACCUMULATE_UFUNCS or not isinstance(a, NumpyTracer):
        return fallback(tr, f"numpy.{name}.accumulate", ufunc.accumulate, (a,),
                        dict(axis=axis, dtype=dtype))
    return cumulative(tr, a, axis, NUMPY_UFUNCS[name], dtype)


def _at(tr, ufunc, a, indices, b=None):
    """``ufunc.at(a, indices, b)``: unbuffered in-place updates of the indexed elements."""
    if not isinstance(a, NumpyTracer):
        raise SparsityDetectionError(
            f"numpy.{ufunc.__name__}.at writes traced values into a plain NumPy array; create it "
            "with np.zeros_like(x) so the tracer can follow it, or " + FIX
        )
    check_static(indices, "an index")
    targets = a._idx[indices]
    b = lift(tr, 0.0 if b is None else b)
    np.broadcast_shapes(shape_of(b), targets.shape)
    V = b._rows(targets.shape) if isinstance(b, NumpyTracer) else A.empty(targets.size, tr.n)
    slots = targets.ravel() - 1
    kind = NUMPY_UFUNCS.get(ufunc.__name__)
    if kind not in (Kind.LINEAR, Kind.PIECEWISE, Kind.ZERO):
        if kind is None:
            warn_no_rule(f"numpy.{ufunc.__name__}.at")
        # a smooth function of the old value and of every value applied to the same slot
        tr.block(A.take(A.scatter(a._store.D, slots, V, accumulate=True), slots))
    if kind is Kind.ZERO:  # keeps the old dependencies too: conservative
        V = A.empty(V.shape[0], tr.n)
    a._store.write(slots, V, union=True)
