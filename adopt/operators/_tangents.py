"""Shared machinery of the operators that take a batch of tangents (pushforward, pullback, hvp)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adopt._arrays import array_kind
from adopt._errors import PreparationMismatchError
from adopt._prep import Prep
from adopt._second_order import SecondOrder
from adopt.backends import AbstractBackend
from adopt.operators._common import Setup, _check_float, _dtype_str, setup, unstack

__all__ = ["check_tangents", "prepare_batched", "prepare_same_point"]


def check_tangents(s: Setup, tangents: Any, shape: tuple[int, ...], of: str) -> None:
    """A tuple of at least one tangent, each of the shape of ``of`` (``x`` or ``y``)."""
    if not isinstance(tangents, tuple) or not tangents:
        raise TypeError(
            f"{s.where}: tangents must be a non-empty tuple of arrays shaped like {of}, e.g. "
            f"(v,); got {type(tangents).__name__}"
        )
    like = s.x_user if of == "x" else s.y
    kind, dtype = _kind(s.x_user), _dtype_str(like)
    for i, t in enumerate(tangents):
        _check_float(s.where, f"tangent {i}", t)
        tshape = tuple(getattr(t, "shape", ()))
        if tshape != shape:
            raise ValueError(
                f"{s.where}: tangent {i} has shape {tshape} but {of} has shape {shape}; pass "
                f"tangents shaped like {of}"
            )
        if _kind(t) != kind:
            raise TypeError(
                f"{s.where}: tangent {i} is a {type(t).__module__.split('.')[0]}."
                f"{type(t).__name__} but x is a {type(s.x_user).__module__.split('.')[0]}."
                f"{type(s.x_user).__name__}; pass tangents of x's array type")
        if _dtype_str(t) != dtype:
            raise TypeError(
                f"{s.where}: tangent {i} has dtype {_dtype_str(t)} but {of} has dtype {dtype}; "
                f"pass tangents of {of}'s dtype (e.g. t.astype({of}.dtype))")


def _kind(a: Any) -> str:
    kind = array_kind(a)
    return "numpy" if kind == "scalar" else kind


def same_point_run(s: Setup, head: Any, apply: Callable[[Any], Any], k: int) -> tuple[Callable, Callable]:
    """Runs of a same-point prep: ``apply`` maps stacked native tangents to stacked results.

    ``head`` (the value, or the gradient for hvp) was computed at preparation. With a strict
    prep every call checks that ``x`` still has the values of the preparation point.
    """
    cin, cout, stack = s.to_native, s.from_native, s.outer.stack
    head = cout(head)
    check = same_point_check(s.where, s.operator, s.x_user) if s.strict else (lambda x: None)

    def results(x: Any, T: tuple) -> tuple:
        check(x)
        Tn = cin(T[0])[None] if k == 1 else stack(tuple(cin(t) for t in T))
        R = apply(Tn)
        return tuple(cout(R[i]) for i in range(k))

    return (lambda x, T, cs: results(x, T)), (lambda x, T, cs: (head, results(x, T)))


def same_point_check(where: str, operator: str, x0: Any) -> Callable[[Any], None]:
    """A same-point prep is valid only at its point: check that x has the same values."""
    ref = np.array(x0.detach().cpu() if array_kind(x0) == "torch" else x0)

    def check(x: Any) -> None:
        if x is x0:
            return
        xs = np.asarray(x.detach().cpu() if array_kind(x) == "torch" else x)
        if not np.array_equal(xs, ref):
            raise PreparationMismatchError(
                f"{where}: a same-point prep was used at a different x; use "
                f"prepare_{operator}(...) for a prep that is reusable at any point"
            )

    return check


def prepare_batched(op: str, where: str, derive: Callable[[Setup], Any], f: Any, backend: Any,
                    x: Any, tangents: tuple, contexts: tuple, *, of: str, y: Any = None,
                    strict: bool = True, second_order: bool = False) -> Prep:
    """Prepare an operator ``(x, T, *c) -> (head, TR)`` over a batch of tangents.

    ``derive(setup)`` returns the native function; the prep compiles the ``value_and_`` form
    ``(head, tuple)`` and the plain form ``tuple`` once each.
    """
    s = setup(op, where, f, backend, x, contexts, y=y, strict=strict,
              second_order=second_order, scalar_y=second_order)
    check_tangents(s, tangents, s.shapes.x_shape if of == "x" else s.shapes.y_shape, of)
    k = len(tangents)
    h = derive(s)
    warm = (s.x, *(s.tangent(t) for t in tangents), *s.cvals)
    both = s.compile(s.core(h, k, lambda r: (r[0], unstack(r[1], k))), *warm)
    only = s.compile(s.core(h, k, lambda r: unstack(r[1], k)), *warm)
    return s.prep(s.runner(only, k), s.runner(both, k), ntangents=k, tangent=tangents[0])


def prepare_same_point(op: str, where: str, native: str, at: Callable[[Setup], tuple[Any, Any]],
                       fallback: Callable[..., Prep], f: Any, backend: Any, x: Any,
                       tangents: tuple, contexts: tuple, *, of: str, y: Any = None,
                       strict: bool = True, second_order: bool = False) -> Prep:
    """A same-point prep where the backend has one (``native`` in its capabilities), else ``fallback``."""
    if y is not None or isinstance(backend, SecondOrder) or not isinstance(backend, AbstractBackend) \
            or native not in backend.impl().native:
        kw = {} if y is None else {"y": y}
        return fallback(f, backend, x, tangents, *contexts, strict=strict, **kw)
    s = setup(op, where, f, backend, x, contexts, strict=strict, scalar_y=second_order)
    check_tangents(s, tangents, s.shapes.x_shape if of == "x" else s.shapes.y_shape, of)
    head, apply = at(s)
    run, run_value = same_point_run(s, head, apply, len(tangents))
    return s.prep(run, run_value, ntangents=len(tangents), tangent=tangents[0])
