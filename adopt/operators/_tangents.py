"""Shared machinery of the operators that take a batch of tangents (pushforward, pullback, hvp)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adopt._arrays import array_kind
from adopt._errors import PreparationMismatchError
from adopt._contexts import Constant
from adopt._prep import Prep, is_dynamic
from adopt.backends import AbstractBackend
from adopt.backends._base import SamePoint
from adopt.operators._common import (HEAD_AND_SINGLE, SINGLE, Setup, _check_float, _dtype_str, setup,
                                     unstack)

__all__ = ["check_tangents", "prepare_batched", "prepare_same_point"]


def check_tangents(s: Setup, tangents: Any, shape: tuple[int, ...], of: str) -> None:
    """A tuple of at least one tangent, each of the shape of ``of`` (``x`` or ``y``)."""
    if not isinstance(tangents, tuple) or not tangents:
        raise TypeError(
            f"{s.where}: tangents must be a non-empty tuple of arrays shaped like {of}, e.g. "
            f"(v,); got {type(tangents).__name__}"
        )
    like = s.given.x if of == "x" else s.y
    kind, dtype = _kind(s.given.x), _dtype_str(like)
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
                f"{type(t).__name__} but x is a {type(s.given.x).__module__.split('.')[0]}."
                f"{type(s.given.x).__name__}; pass tangents of x's array type")
        if _dtype_str(t) != dtype:
            raise TypeError(
                f"{s.where}: tangent {i} has dtype {_dtype_str(t)} but {of} has dtype {dtype}; "
                f"pass tangents of {of}'s dtype (e.g. t.astype({of}.dtype))")


def _kind(a: Any) -> str:
    kind = array_kind(a)
    return "numpy" if kind == "scalar" else kind


def same_point_run(s: Setup, head: Any, apply: Callable[[Any], Any], k: int) -> tuple[Callable, Callable]:
    """Runs of a same-point prep: ``apply`` maps stacked native tangents to stacked results.

    ``head`` (the value, or the gradient for hvp) was computed at preparation and is handed out
    as a fresh copy each call (a caller may write into what it gets). Every call, strict or not,
    checks that ``x`` and the contexts still have the values of the preparation point against
    private copies taken then: a same-point prep never returns derivatives of another point.
    """
    cin, cout, stack = s.boundary.to_native, s.boundary.from_native, s.outer.stack
    if s.outer.compiles and array_kind(s.given.x) == "numpy":
        cin = np.asarray  # a compiled apply takes NumPy as is
    head, fresh = cout(head), _fresh_copy(array_kind(s.given.x))
    check = same_point_check(f"{s.operator} with {s.given.backend!r}", s.operator, s.given.x, s.given.contexts)

    def results(x: Any, T: tuple, cs: tuple) -> tuple:
        check(x, cs)
        Tn = cin(T[0])[None] if k == 1 else stack(tuple(cin(t) for t in T))
        R = cout(apply(Tn))  # one conversion of the stack (slicing a jax.Array dispatches)
        return (R[0],) if k == 1 else tuple(R[i] for i in range(k))

    return (lambda x, T, cs: results(x, T, cs)), (lambda x, T, cs: (fresh(head), results(x, T, cs)))


def _fresh_copy(kind: str) -> Callable[[Any], Any]:
    if kind == "torch":
        return lambda a: a.clone()
    if kind in ("numpy", "scalar"):
        return lambda a: a.copy() if isinstance(a, np.ndarray) else a
    return lambda a: a  # jax.Array and Python floats are immutable


def same_point_check(where: str, operator: str, x0: Any, contexts: tuple[Any, ...]) -> Callable:
    """``check(x, contexts)``: raise unless the values equal those at preparation (NaNs equal).

    The references are private copies, so an ``x`` (or context array) mutated in place after
    preparation is caught, not mistaken for the same point because it is the same object.
    """
    ref_x = _snapshot(x0)
    refs = [(i, _snapshot(c.value)) for i, c in enumerate(contexts)
            if isinstance(c, Constant) and is_dynamic(c.value)]

    def check(x: Any, cs: tuple[Any, ...]) -> None:
        if not _same_values(x, ref_x):
            _moved(where, operator, "x")
        for i, ref in refs:
            if not _same_values(cs[i].value, ref):
                _moved(where, operator, f"context {i}")

    return check


def _snapshot(a: Any) -> Any:
    kind = array_kind(a)
    if kind == "scalar":
        return a
    if kind == "jax":  # immutable: the same object has the same values
        return a, np.array(a)
    return a.detach().cpu().numpy().copy() if kind == "torch" else np.array(a)


def _same_values(a: Any, ref: Any) -> bool:
    if isinstance(ref, tuple):
        if a is ref[0]:
            return True
        ref = ref[1]
    if not isinstance(ref, np.ndarray):
        return a == ref or (a != a and ref != ref)
    got = a.detach().cpu().numpy() if array_kind(a) == "torch" else np.asarray(a)
    if got.shape != ref.shape:
        return False
    # one comparison pass; NaNs (never equal to themselves) only looked at when it fails
    return bool((got == ref).all()) or np.array_equal(got, ref, equal_nan=True)


def _moved(where: str, operator: str, name: str) -> None:
    raise PreparationMismatchError(
        f"{where}: a same-point prep was used where {name} has other values than at preparation "
        f"(a new array, or the same one changed in place); prepare_{operator}_same_point again "
        f"at the new point, or use prepare_{operator}(...) for a prep reusable at any point")


def prepare_batched(op: str, where: str, derive: Callable[[Setup], Any], f: Any, backend: Any,
                    x: Any, tangents: tuple, contexts: tuple, *, of: str, y: Any = None,
                    strict: bool = True, second_order: bool = False,
                    one: Callable[[Setup, bool], Any] | None = None) -> Prep:
    """Prepare an operator ``(x, T, *c) -> (head, TR)`` over a batch of tangents.

    ``derive(setup)`` returns the native function; the prep compiles the ``value_and_`` form
    ``(head, tuple)`` and the plain form ``tuple`` once each.
    """
    s = setup(op, where, f, backend, x, contexts, y=y, strict=strict,
              second_order=second_order, scalar_y=second_order)
    check_tangents(s, tangents, s.shapes.x_shape if of == "x" else s.shapes.y_shape, of)
    return _batched(s, derive, tangents, one)


def _batched(s: Setup, derive: Callable[[Setup], Any], tangents: tuple,
             one: Callable[[Setup, bool], Any] | None = None) -> Prep:
    """The prep of a batch of ``k`` tangents; one tangent goes unstacked where the backend has
    a single-tangent path (``one(setup, head)``: eager frameworks, where stacking costs)."""
    k = len(tangents)
    h1 = one(s, True) if one is not None and k == 1 else None
    warm = (s.x, *(s.tangent(t) for t in tangents), *s.cvals)
    if h1 is not None:  # the compiled functions return arrays; the runners build the tuples
        both = s.compile(h1, *warm)
        only = s.compile(one(s, False), *warm)
        return s.prep(s.runner(only, k, SINGLE), s.runner(both, k, HEAD_AND_SINGLE),
                      ntangents=k, tangent=tangents[0])
    h = derive(s)
    both = s.compile(s.core(h, k, lambda r: (r[0], unstack(r[1], k))), *warm)
    only = s.compile(s.core(h, k, lambda r: unstack(r[1], k)), *warm)
    return s.prep(s.runner(only, k), s.runner(both, k), ntangents=k, tangent=tangents[0])


def prepare_same_point(op: str, where: str, linearize: Callable[[Setup], SamePoint | None],
                       derive: Callable[[Setup], Any], f: Any, backend: Any, x: Any,
                       tangents: tuple, contexts: tuple, *, of: str, y: Any = None,
                       strict: bool = True, second_order: bool = False,
                       prep: Prep | None = None, one: Callable[[Setup, bool], Any] | None = None) -> Prep:
    """A prep valid at this ``x`` and these context values only, linearised once where the
    backend can (``linearize(setup)`` is not None); the generic prep elsewhere (in-place
    functions, wrappers, backends without a linearisation).

    ``prep``, an earlier same-point prep of the same function and signature, lends its compiled
    linearisation: the new point then costs one linearisation, no tracing or compilation.
    """
    earlier = _reused(op, where, prep, f, backend, x, contexts, tangents)
    s = setup(op, where, f, backend, x, contexts, y=y, strict=strict, second_order=second_order,
              scalar_y=second_order, output=None if earlier is None else earlier[1])
    check_tangents(s, tangents, s.shapes.x_shape if of == "x" else s.shapes.y_shape, of)
    core = None
    if y is None and isinstance(backend, AbstractBackend):
        core = earlier[0] if earlier is not None else linearize(s)
    if core is None:
        return _batched(s, derive, tangents, one)
    x_in = s.given.x if s.outer.compiles and array_kind(s.given.x) == "numpy" else s.x
    head, state = core.at(x_in, *s.cvals)
    run, run_value = same_point_run(s, head, lambda T: core.apply(state, T), len(tangents))
    return s.prep(run, run_value, ntangents=len(tangents), tangent=tangents[0],
                  same_point=(core, s.y))


def _reused(op: str, where: str, prep: Prep | None, f: Any, backend: Any, x: Any,
            contexts: tuple, tangents: tuple) -> tuple[SamePoint, Any] | None:
    """The linearisation (and f's output shape) of an earlier same-point prep, after checking
    that it was made for this function and signature."""
    if prep is None:
        return None
    if not isinstance(prep, Prep) or prep.operator != op:
        raise PreparationMismatchError(
            f"{where}: prep= must be an earlier prepare_{op}_same_point(...) prep; got {prep!r}")
    prep.check(where, f, backend, x, contexts, tangents)
    return prep.info.get("same_point")
