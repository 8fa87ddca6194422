"""``__array_function__`` dispatch, and the conservative fallback for what has no rule.

A NumPy function with a rule in :data:`.registry.FUNCTIONS` runs it; one without runs NumPy's
own Python implementation on tracers where it has one, else :func:`fallback`: every output
depends on every input (a dense block, also in the Hessian), with a
:class:`ConservativeSparsityWarning` naming the operation.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.diagnostics import FIX, SparsityDetectionError, no_rule, warn
from adopt._sparse.detection.numpy.registry import FUNCTIONS, KEEPS_OUT
from adopt._sparse.detection.numpy.tracer import NumpyTracer, fresh, lift, to_out

__all__ = ["array_function", "unknown_function", "fallback", "warn_no_rule", "conservative", "stand_in"]


def array_function(tr: A.Trace, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``NumpyTracer.__array_function__``."""
    rule = FUNCTIONS.get(func)
    if rule is None:
        return unknown_function(tr, func, args, kwargs)
    out = kwargs.pop("out", None) if func not in KEEPS_OUT else None
    return to_out(tr, rule(tr, *args, **kwargs), out)


def warn_no_rule(name: str) -> None:
    warn(no_rule(name), stacklevel=4)


def conservative(tr: A.Trace, tracers: Sequence[NumpyTracer]) -> sp.csr_array:
    """A 1 x n row: the union of all dependencies of ``tracers`` (and their full Hessian block)."""
    return A.conservative(tr, [t._rows() for t in tracers])


def stand_in(tr: A.Trace, args: Sequence, kwargs: dict, seed: int) -> tuple[list, dict, list]:
    """Replace tracers by random arrays of their shape and dtype (to learn output shapes);
    also returns ``(tracer, array, copy of the array)`` of each replacement."""
    rng = np.random.default_rng(seed)
    originals = []

    def sub(obj):
        if isinstance(obj, NumpyTracer):
            arr = rng.uniform(0.5, 1.5, size=obj.shape).astype(obj.dtype) if np.issubdtype(
                obj.dtype, np.inexact) else np.ones(obj.shape, obj.dtype)
            originals.append((obj, arr, arr.copy()))
            return arr
        if isinstance(obj, list):
            return [sub(o) for o in obj]
        if isinstance(obj, tuple):
            return tuple(sub(o) for o in obj)
        if isinstance(obj, dict):
            return {k: sub(v) for k, v in obj.items()}
        return obj

    return sub(list(args)), sub(dict(kwargs)), originals


def unknown_function(tr: A.Trace, func: Callable, args: tuple, kwargs: dict) -> Any:
    """A NumPy function without a rule: its Python implementation, or :func:`fallback`."""
    impl = getattr(func, "_implementation", None)  # NumPy's own Python implementation
    if impl is not None:
        try:
            return impl(*args, **kwargs)
        except (SparsityDetectionError, AttributeError, TypeError):
            pass
    return fallback(tr, f"numpy.{getattr(func, '__qualname__', func)}", func, args, kwargs)


def fallback(tr: A.Trace, name: str, func: Callable, args: Sequence, kwargs: dict) -> Any:
    """Every output depends on every input (a dense block); warns with the operation's name."""
    args = [lift(tr, a) for a in args]
    kwargs = {k: lift(tr, v) for k, v in kwargs.items()}
    a1, k1, orig1 = stand_in(tr, args, kwargs, seed=1)
    a2, k2, _ = stand_in(tr, args, kwargs, seed=2)
    with np.errstate(all="ignore"):
        ref1 = func(*a1, **k1)
        ref2 = func(*a2, **k2)
    if _structure(ref1) != _structure(ref2):
        raise SparsityDetectionError(
            f"the output shape of {name} depends on the values of x; global sparsity detection "
            "needs shapes that depend only on the shape of x; " + FIX
        )
    warn_no_rule(name)
    U = conservative(tr, [o for o, _, _ in orig1])
    for t, arr, before in orig1:  # in-place functions: the written array depends on everything
        if not np.array_equal(arr, before, equal_nan=True):
            slots = np.unique(t._idx.ravel() - 1)
            t._store.write(slots, A.broadcast_row(U, slots.size), union=True)

    def convert(r):
        if isinstance(r, tuple) and type(r) is not tuple:  # named tuples (np.linalg results)
            return type(r)(*[convert(e) for e in r])
        if isinstance(r, (list, tuple)):
            return type(r)(convert(e) for e in r)
        if r is None or isinstance(r, str):
            return r
        arr = np.asarray(r)
        if arr.dtype == object:
            return r
        D = A.broadcast_row(U, arr.size) if np.issubdtype(arr.dtype, np.inexact) else None
        return fresh(tr, A.empty(arr.size, tr.n) if D is None else D, arr.shape, arr.dtype)

    return convert(ref1)


def _structure(r: Any) -> Any:
    if isinstance(r, (list, tuple)):
        return tuple(_structure(e) for e in r)
    return None if r is None else np.shape(r)
