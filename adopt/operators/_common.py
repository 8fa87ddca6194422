"""Preparation machinery shared by every operator.

``setup`` validates the arguments once, imports the backend, turns ``f`` into a native function
over the backend's arrays (contexts, caches, in-place outputs, black-box conversions), probes its
output, and hands the operator module everything it needs to build its prepared ``run``.
"""

from __future__ import annotations

import math
from collections import Counter
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from adopt._arrays import array_kind, converter, numpy_dtype, to_numpy
from adopt._contexts import Cache, Constant
from adopt._errors import BackendIncompatibilityError, PreparationMismatchError
from adopt._prep import Prep, context_signature, is_dynamic, signature_of
from adopt.backends.wrappers import SecondOrder, default_second_order, second_order_modes
from adopt.backends import AbstractBackend
from adopt.backends._base import BackendImpl, NativeFn
from adopt.operators._derive import Shapes

__all__ = ["Setup", "setup", "store", "unstack", "execute", "run_op", "Op", "record_operators",
           "register", "wrapped"]


def _fail(where: str, msg: str, exc: type = ValueError) -> None:
    raise exc(f"{where}: {msg}")


_PY_DTYPES = {bool: "bool", int: "int64", float: "float64", complex: "complex128"}


def _dtype_str(a: Any) -> str:
    """The dtype of an array of any kind as NumPy names it (Python scalars as NumPy's)."""
    dt = getattr(a, "dtype", None)
    if dt is None:
        return _PY_DTYPES.get(type(a), type(a).__name__)
    return str(dt).replace("torch.", "")


def _check_float(where: str, name: str, a: Any) -> None:
    kind = array_kind(a)
    if kind == "other":
        _fail(where, f"{name} must be a NumPy, JAX or torch array (or a Python float); got "
                     f"{type(a).__name__}: convert it with np.asarray(..., dtype=float)", TypeError)
    dt = _dtype_str(a)
    if "complex" in dt:
        _fail(where, f"{name} is complex ({dt}); adopt differentiates real inputs: split it "
                     "into real and imaginary parts", TypeError)
    if not dt.startswith(("float", "bfloat")):
        _fail(where, f"{name} has dtype {dt}; derivatives need floating-point input: pass "
                     f"{name}.astype(float) (NumPy) or a float tensor", TypeError)


@dataclass(frozen=True)
class Given:
    """The call as the user made it; the prep is checked against it."""

    f: Callable[..., Any]
    backend: Any
    x: Any
    contexts: tuple[Any, ...]
    y: Any                      # the output buffer of an in-place f, or None
    strict: bool
    warm: bool                  # run compiled functions once at preparation (False: one-shot prep)


@dataclass(frozen=True)
class Parts:
    """Who computes: the dense backend (AutoSparse unwrapped) and, for second order, the inner
    backend with f over its arrays (all equal to the outer ones for first-order operators)."""

    dense: Any
    inner: BackendImpl
    modes: tuple[str, str] | None
    fn_inner: NativeFn
    shapes_inner: Shapes


@dataclass(frozen=True)
class Boundary:
    """Conversions between the user's arrays and the outer backend's, made once."""

    to_native: Callable[[Any], Any]
    from_native: Callable[[Any], Any]
    contexts: Callable[[tuple[Any, ...]], tuple[Any, ...]]  # dynamic context values, per call


@dataclass(frozen=True)
class Setup:
    """What an operator module needs to build a prep: the validated call, and ``f`` at ``x`` in
    the outer backend's arrays (``fn(x, *cvals) -> y``, contexts bound)."""

    where: str                  # "<prepare function> with <backend>", the start of every error
    operator: str
    given: Given
    outer: BackendImpl          # computes the operator (the only impl for first-order operators)
    parts: Parts
    boundary: Boundary
    fn: NativeFn
    x: Any
    cvals: tuple[Any, ...]
    y: Any                      # f(x), or its abstract shape on JAX
    shapes: Shapes
    exact: list[bool] = field(default_factory=list, repr=False)  # per compile(): made exact?

    @property
    def itemsize(self) -> int:
        """Bytes per entry of x's dtype (8 where NumPy has no name for it)."""
        try:
            return numpy_dtype(self.given.x).itemsize
        except TypeError:
            return 8

    def compile(self, core: NativeFn, *warm: Any, eager: bool = True) -> NativeFn:
        """Compile a native core once, and run it at the preparation point so no call compiles.

        The one-shot preps of unprepared calls skip the warm-up: the one call they serve
        compiles just the variant it uses. ``eager=False`` leaves a variant to compile at its
        first call (sparse preps do so for their value form, keeping preparation at one compile).
        """
        compiled = self.outer.compile(core)
        if not (self.outer.compiles and self.given.warm and eager):
            self.exact.append(False)
            return compiled
        # a strict prep of JAX arrays runs the executable made for exactly these arguments: it
        # refuses others without tracing, so run_op checks the call while it computes
        given = self.given
        exact = (self.outer.exact(compiled, *warm) if given.strict and given.y is None
                 and array_kind(given.x) == "jax" else None)
        self.exact.append(exact is not None)
        if exact is None:
            compiled(*warm)
            return compiled
        return exact

    def runner(self, compiled: NativeFn, ntangents: int = 0,
               pack: Callable[[Any], Any] | None = None) -> Callable[[Any, tuple, tuple], Any]:
        """The prepared call: convert x, tangents and contexts in, run, convert results out.

        A compiled function (``jax.jit``) takes NumPy arrays as they are: its own transfer is
        cheaper than a ``jnp.asarray`` first (benchmarks/results/dense.md). ``pack`` puts the
        result of a single-tangent function into the operator's tuples in Python (a tuple built
        by ``jax.jit`` costs microseconds per call).
        """
        cin, cout, cctx = self.boundary.to_native, self.boundary.from_native, self.boundary.contexts
        if self.outer.compiles and array_kind(self.given.x) == "numpy":
            cin = _identity
        plain = cin is converter("numpy", "numpy") and cout is cin
        if plain and not any(isinstance(c, Constant) and is_dynamic(c.value) for c in self.given.contexts):
            if ntangents == 1:  # the packs inlined (one Python call less on every prepared call)
                if pack is SINGLE:
                    return lambda x, T, cs: (compiled(x, T[0]),)
                if pack is HEAD_AND_SINGLE:
                    def run_one(x: Any, T: tuple, cs: tuple) -> Any:
                        y, t = compiled(x, T[0])
                        return y, (t,)

                    return run_one
                return lambda x, T, cs: compiled(x, T[0])
            if ntangents:
                return lambda x, T, cs: compiled(x, *T)
            return lambda x, T, cs: compiled(x)

        def run(x: Any, T: tuple, cs: tuple) -> Any:
            out = compiled(cin(x), *(cin(t) for t in T), *cctx(cs))
            out = tuple(_map_out(cout, o) for o in out) if isinstance(out, tuple) else cout(out)
            return out if pack is None else pack(out)

        return run

    def core(self, h: NativeFn, ntangents: int, pick: Callable[[Any], Any] | None = None) -> NativeFn:
        """A native function of ``(x, *tangents, *cvals)`` that stacks the tangents for ``h``
        and picks from its results (all of them if ``pick`` is None)."""
        stack = self.outer.stack
        if ntangents == 0:
            return h if pick is None else lambda x, *c: pick(h(x, *c))

        def core(x: Any, *a: Any) -> Any:
            T = a[0][None] if ntangents == 1 else stack(a[:ntangents])
            return pick(h(x, T, *a[ntangents:]))

        return core

    def bridge(self, fn: NativeFn) -> NativeFn:
        """Carry a native function of the inner backend into the outer backend's arrays."""
        if self.parts.inner.kind == self.outer.kind:
            return fn
        compiled = self.parts.inner.compile(fn)
        to_in, to_out = converter(self.outer.kind, self.parts.inner.kind), converter(self.parts.inner.kind, self.outer.kind)

        def bridged(*args: Any) -> Any:
            out = compiled(*(to_in(a) for a in args))
            return tuple(to_out(o) for o in out) if isinstance(out, tuple) else to_out(out)

        return bridged

    def tangent(self, t: Any) -> Any:
        return converter(array_kind(t), self.outer.kind)(t)

    def prep(self, run: Callable[..., Any], run_value: Callable[..., Any],
             ntangents: int | None = None, tangent: Any = None, **info: Any) -> Prep:
        return Prep(
            operator=self.operator, backend=self.given.backend, x=signature_of(self.given.x),
            contexts=tuple(context_signature(c) for c in self.given.contexts), ntangents=ntangents,
            y=None if self.given.y is None else signature_of(self.given.y), strict=self.given.strict,
            f=self.given.f, run=run, run_value=run_value, tangent=None if tangent is None else signature_of(tangent),
            info=info, check_after_run=bool(self.exact) and all(self.exact),
        )


# ---- preparations of wrapper backends, registered by the packages that implement them ------
_WRAPPED: dict[tuple[str, type], Callable[..., Prep]] = {}


def register(operator: str, backend_type: type) -> Callable[[Callable[..., Prep]], Callable[..., Prep]]:
    """Register ``prepare(f, backend, x, contexts, y, strict)`` for ``operator`` on a backend type.

    This is how :mod:`adopt._autosparse` gives AutoSparse its Jacobians and Hessians without the
    operators importing it (no import cycle): the operators look the backend's type up here.
    """
    def decorate(prepare: Callable[..., Prep]) -> Callable[..., Prep]:
        _WRAPPED[(operator, backend_type)] = prepare
        return prepare

    return decorate


def wrapped(operator: str, backend: Any) -> Callable[..., Prep] | None:
    """The registered preparation of ``operator`` for ``backend``'s type, if any."""
    return _WRAPPED.get((operator, type(backend)))


def dense_backend(backend: Any, second_order: bool) -> Any:
    """The backend that computes dense operators: AutoSparse and MixedMode are unwrapped."""
    from adopt.backends.wrappers import AutoSparse, MixedMode

    if isinstance(backend, AutoSparse):
        return backend.second_order() if second_order else backend.first_order()
    if isinstance(backend, MixedMode):
        return backend.reverse
    return backend


def _impls(where: str, backend: Any, second_order: bool) -> tuple[BackendImpl, BackendImpl, tuple[str, str] | None]:
    if isinstance(backend, SecondOrder):
        if not second_order:
            _fail(where, f"{backend!r} is for second-order operators (hessian, hvp, "
                         "second_derivative); pass its outer or inner backend instead", TypeError)
        modes = second_order_modes(backend, where)
        return backend.outer.impl(), backend.inner.impl(), modes
    if not isinstance(backend, AbstractBackend):
        _fail(where, f"backend must be AutoJAX(), AutoTorch(), AutoFiniteDiff() or a wrapper of "
                     f"them; got {backend!r}", TypeError)
    if not second_order:
        impl = backend.impl()
        return impl, impl, None
    so = default_second_order(backend)
    outer = so.outer.impl()
    return outer, outer if so.inner == so.outer else so.inner.impl(), second_order_modes(so, where)


def _check_contexts(where: str, contexts: tuple[Any, ...]) -> None:
    for i, c in enumerate(contexts):
        if not isinstance(c, (Constant, Cache)):
            _fail(where, f"context {i} is a bare {type(c).__name__}; wrap extra arguments of f as "
                         "adopt.Constant(value) or adopt.Cache(buffer)", TypeError)
        if isinstance(c, Cache) and array_kind(c.value) not in ("numpy", "jax", "torch"):
            _fail(where, f"context {i}: Cache needs an array buffer; got {type(c.value).__name__}",
                  TypeError)


def _native_function(where: str, impl: BackendImpl, f: Callable[..., Any], user_kind: str,
                     contexts: tuple[Any, ...], y_user: Any) -> NativeFn:
    """``f`` as ``fn(x, *dynamic_cvals)`` over ``impl``'s arrays.

    Static constants are bound, caches become fresh buffers of x's dtype (so that every backend
    can write into them), and an in-place ``f(y, x, *c)`` gets a fresh output buffer. A black-box
    backend (finite differences) calls ``f`` with the user's own array type.
    """
    black_box = impl.backend.black_box
    foreign = black_box and user_kind not in ("numpy", "scalar")  # f takes torch or jax arrays
    to_user = converter(impl.kind, user_kind) if foreign else (lambda a: a)
    from_user = converter(user_kind, impl.kind) if foreign else (lambda a: a)
    slots = _context_slots(contexts)
    if y_user is not None:
        f = _inplace(where, impl, f, y_user, to_user)
    if not black_box and all(kind == "dynamic" for kind, _ in slots):
        return impl.wrap(f)  # f(x, *dynamic contexts) over the backend's arrays as it is

    def fn(x: Any, *dyn: Any) -> Any:
        args, it = [], iter(dyn)
        for kind, value in slots:
            if kind == "dynamic":
                args.append(next(it))
            elif kind == "static":
                args.append(value)
            else:
                args.append(to_user(_zeros(impl, value, x)))
        y = f(to_user(x), *args)
        if black_box and type(y) is not np.ndarray:
            y = _black_box_output(where, y, from_user)
        return y if y.__class__ is np.ndarray else from_user(y)

    return impl.wrap(fn)


def _black_box_output(where: str, y: Any, from_user: Callable[[Any], Any]) -> Any:
    """What a black-box ``f`` returned, as an array: Python and NumPy scalars are 0-d arrays."""
    kind = array_kind(y)
    if kind == "scalar":
        return np.asarray(y)
    if kind in ("numpy", "jax", "torch"):
        return from_user(y) if kind != "numpy" else y
    raise TypeError(f"{where}: f returned {_returned(y)}; f must return an array (NumPy, JAX or "
                    "torch) or a scalar (a Python or NumPy float)")


def _returned(y: Any) -> str:
    if y is None:
        return "None (did f forget to return its result?)"
    if isinstance(y, (list, tuple)):
        return f"a {type(y).__name__}: convert it with np.asarray(...)"
    return f"a {type(y).__module__}.{type(y).__name__}"


def _check_output(where: str, y: Any) -> None:
    """f's output at preparation: an array (or its shape) with a real floating-point dtype."""
    if not (hasattr(y, "shape") and hasattr(y, "dtype")):
        raise TypeError(f"{where}: f returned {_returned(y)}; f must return an array or a float")
    dt = _dtype_str(y)
    if dt.startswith(("int", "uint", "bool")):
        raise TypeError(
            f"{where}: f returned {dt} values; the derivative of an integer-valued function is "
            "zero where it is constant and undefined at its jumps. Return floats (y.astype(float)) "
            "if f is continuous, or do not differentiate this output")
    if dt.startswith("complex"):
        raise TypeError(
            f"{where}: f returned complex values ({dt}); adopt differentiates real-valued "
            "functions: return the real and imaginary parts stacked, e.g. "
            "concatenate([y.real, y.imag])")


def _context_slots(contexts: tuple[Any, ...]) -> list[tuple[str, Any]]:
    slots: list[tuple[str, Any]] = []
    for c in contexts:
        if isinstance(c, Cache):
            slots.append(("cache", tuple(c.value.shape)))
        elif is_dynamic(c.value):
            slots.append(("dynamic", None))
        else:
            slots.append(("static", c.value))
    return slots


def _zeros(impl: BackendImpl, shape: tuple[int, ...], x: Any) -> Any:
    if impl.kind == "torch":
        return x.new_zeros(shape)  # batched under torch.func.vmap, so f may write into it
    return impl.zeros(shape, x)


def _inplace(where: str, impl: BackendImpl, f: Callable[..., Any], y_user: Any, to_user: Callable) -> Callable:
    f = _writes_into(where, f)
    if impl.backend.black_box:
        def oop(x: Any, *c: Any) -> Any:
            y = np.zeros(tuple(y_user.shape), dtype=np.result_type(numpy_dtype(y_user), x.dtype))
            f(to_user(y), x, *c)
            return y

        return oop
    if not impl.backend.supports_inplace:
        raise BackendIncompatibilityError(
            f"{where}: {impl.backend!r} cannot run an in-place function f(y, x): {impl.backend.framework} "
            "arrays are immutable. Write f out of place (return y), or use AutoTorch() or "
            "AutoFiniteDiff()"
        )
    return impl.inplace(f, tuple(y_user.shape), converter(array_kind(y_user), impl.kind)(y_user).dtype)


def _writes_into(where: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """An in-place ``f(y, x, *c)`` that must write into ``y``: returning another array means
    ``f`` is out of place, and its result would be lost (an all-zero derivative)."""
    def inplace(y: Any, x: Any, *c: Any) -> None:
        r = f(y, x, *c)
        if r is not None and r is not y:
            raise TypeError(
                f"{where}: with y= adopt calls f(y, x, ...) to write f(x) into y, but f returned "
                f"{_returned(r)} and its result would be lost; write into y (y[...] = ...) and "
                "return None, or call without y= for an out-of-place f")

    return inplace


def _check_writes(where: str, f: Callable[..., Any], x: Any, y: Any, contexts: tuple[Any, ...]) -> None:
    """Call an in-place ``f`` once on a ``y`` filled with an odd sentinel: it must write into ``y``."""
    kind = array_kind(y)
    if kind == "torch":
        buf, xin = y.detach().clone().fill_(_SENTINEL), x
    else:
        buf = np.full(tuple(y.shape), _SENTINEL, dtype=numpy_dtype(y))
        xin = np.array(x, dtype=numpy_dtype(x)) if array_kind(x) == "scalar" else x
    args = [c.value if isinstance(c, Constant) else _fresh(c.value) for c in contexts]
    _writes_into(where, f)(buf, xin, *args)
    untouched = bool((buf == _SENTINEL).all()) if tuple(y.shape) != (0,) else False
    if untouched and math.prod(tuple(y.shape)):
        raise ValueError(
            f"{where}: the in-place f(y, x) wrote nothing into y (every entry kept the value it "
            "had), so its derivatives would be zero; write the result into y (y[...] = ...), "
            "not into a new array, or call without y= for an out-of-place f")


_SENTINEL = -12345.678901234567


def _fresh(buffer: Any) -> Any:
    return buffer.clone() if array_kind(buffer) == "torch" else np.array(buffer)


def setup(operator: str, where: str, f: Callable[..., Any], backend: Any, x: Any,
          contexts: tuple[Any, ...], *, y: Any = None, strict: bool | None = True,
          second_order: bool = False, scalar_x: bool = False, scalar_y: bool = False,
          output: Any = None) -> Setup:
    """Validate, import the backend(s), build the native function and probe it at ``x``.

    ``output``, f's output (or its shape and dtype) known from an earlier prep of the same
    signature, replaces the probe.

    ``strict=None`` marks the one-shot prep of an unprepared call: no checks, no warm-up.
    """
    where = f"{where} with {backend!r}"
    if not callable(f):
        _fail(where, f"f must be callable; got {type(f).__name__}", TypeError)
    _check_float(where, "x", x)
    user_kind = array_kind(x)
    if scalar_x and getattr(x, "ndim", 0) != 0:
        fix = "use hvp or hessian" if second_order else "use pushforward with a tangent, or jacobian"
        _fail(where, f"x must be a scalar (a Python float or a 0-d array); got shape "
                     f"{tuple(x.shape)}: {fix}")
    _check_contexts(where, contexts)
    dense = dense_backend(backend, second_order)
    outer, inner, modes = _impls(where, dense, second_order)
    for impl in {id(outer): outer, id(inner): inner}.values():
        _check_precision(where, impl, x, contexts)
    if y is not None:
        _check_float(where, "y", y)
        if outer.backend.supports_inplace:
            _check_writes(where, f, x, y, contexts)
    to_native = converter(user_kind, outer.kind)
    from_native = converter(outer.kind, user_kind)
    ctx_to_native = _context_converter(contexts, outer)
    x_nat = to_native(x)
    cvals = ctx_to_native(contexts)
    fn = _native_function(where, outer, f, user_kind, contexts, y)
    fn_inner = fn if inner is outer else _native_function(where, inner, f, user_kind, contexts, y)
    y_nat = outer.probe(fn, x_nat, cvals, where) if output is None else output
    _check_output(where, y_nat)
    if scalar_y and math.prod(tuple(y_nat.shape)) != 1 or scalar_y and len(y_nat.shape) != 0:
        _fail(where, f"{operator} needs f to return a scalar; f returned shape "
                     f"{tuple(y_nat.shape)}: use jacobian or pullback for array outputs")
    shapes = Shapes(tuple(x_nat.shape), tuple(y_nat.shape), x_nat)
    x_in = converter(user_kind, inner.kind)(x)
    shapes_inner = Shapes(shapes.x_shape, shapes.y_shape, x_in) if inner is not outer else shapes
    return Setup(
        where=where, operator=operator,
        given=Given(f, backend, x, contexts, y, bool(strict), strict is not None),
        outer=outer, parts=Parts(dense, inner, modes, fn_inner, shapes_inner),
        boundary=Boundary(to_native, from_native, ctx_to_native),
        fn=fn, x=x_nat, cvals=cvals, y=y_nat, shapes=shapes)


def _check_precision(where: str, impl: BackendImpl, x: Any, contexts: tuple[Any, ...]) -> None:
    impl.check_input(where, "x", x)
    for i, c in enumerate(contexts):
        if isinstance(c, Constant) and is_dynamic(c.value) and not isinstance(c.value, float):
            impl.check_input(where, f"context {i}", c.value)


def _context_converter(contexts: tuple[Any, ...], impl: BackendImpl) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Per-call conversion of the dynamic context values into ``impl``'s arrays."""
    idx = [i for i, c in enumerate(contexts) if isinstance(c, Constant) and is_dynamic(c.value)]
    if not idx:
        return lambda cs: ()
    if impl.backend.black_box:
        return lambda cs: tuple(cs[i].value for i in idx)
    convs = [_identity if isinstance(contexts[i].value, float)
             or impl.compiles and array_kind(contexts[i].value) == "numpy"  # jit takes NumPy as is
             else converter(array_kind(contexts[i].value), impl.kind) for i in idx]
    return lambda cs: tuple(conv(cs[i].value) for conv, i in zip(convs, idx))


@dataclass(frozen=True)
class Op:
    """One public operator: its name, the prep family it takes, and its form.

    ``head`` is the number of leading results that ``out=`` does not cover: 1 for the value
    forms (``f(x)`` is returned, never written), 0 otherwise (``gradient_and_hvp`` writes both).
    """

    name: str
    family: str
    prepare: Callable[..., Prep]
    value: bool = False
    head: int = 0


def run_op(op: Op, f: Any, backend: Any, x: Any, tangents: tuple | None, contexts: tuple,
           prep: Prep | None, y: Any = None, out: Any = None) -> Any:
    """Every operator call: prepare a one-shot prep if none is given, else check it; run; store.

    A prep serves only its own family (a gradient prep serves ``gradient`` and
    ``value_and_gradient``): that one comparison is made even for ``strict=False`` preps.

    A strict prep whose run refuses other argument types without tracing (``check_after_run``:
    JAX's executables of exactly the preparation's arguments) is checked after the call is
    dispatched, while JAX computes asynchronously: checked before, the same check cost 5-10 %
    of a prepared JAX call at n = 1000 (benchmarks/results/design_choices.md). A mismatched call
    raises PreparationMismatchError all the same, and nothing it computed is returned.
    """
    if prep is None:
        kw = {} if y is None else {"y": y}
        args = (x,) if tangents is None else (x, tangents)
        prep = op.prepare(f, backend, *args, *contexts, strict=None, **kw)
    elif prep.__class__ is not Prep or prep.operator != op.family:
        _wrong_prep(op, backend, prep)
    elif prep.strict and not (prep.check_after_run and y is None):
        if not prep.matches(f, backend, x, contexts, tangents, y):
            prep.check(op.name, f, backend, x, contexts, tangents, y)  # raises, with the reason
    if y is None:  # execute() inlined: this is every prepared call
        run = prep.run_value if op.value else prep.run
        if prep.check_after_run:  # a strict prep checked while JAX computes
            try:
                res = run(x, tangents or (), contexts)
            except (TypeError, ValueError) as e:
                prep.check(op.name, f, backend, x, contexts, tangents)  # a mismatch: report it
                _refused(op, backend, e)
            if not prep.matches(f, backend, x, contexts, tangents, None):
                prep.check(op.name, f, backend, x, contexts, tangents)  # raises, with the reason
        else:
            res = run(x, tangents or (), contexts)
        if out is None and _CALLS.get() is None:  # _done's common case inlined
            return res
    else:
        res = execute(op, backend, prep, x, tangents or (), contexts, y)
    return _done(op, backend, res, out)


def _refused(op: Op, backend: Any, e: Exception) -> None:
    """Re-raise JAX's refusal of arguments that pass the strict check (placed on other devices)."""
    e.add_note(f"adopt: {op.name} with {backend!r}: the prep runs code compiled for exactly its "
               "preparation's arguments (shapes, dtypes and devices); place the arrays as at "
               "preparation (jax.device_put), or prepare again, or prepare with strict=False to "
               "let jax.jit recompile for new arguments")
    raise e


def _done(op: Op, backend: Any, res: Any, out: Any) -> Any:
    """Count the call (:func:`record_operators`) and store into ``out`` if given."""
    calls = _CALLS.get()
    if calls is not None:
        calls[op.family] += 1
    if out is None:
        return res
    where = f"{op.name} with {backend!r}"
    if not op.value:
        return store(where, out, res)
    rest = res[op.head:]
    stored = store(where, out, rest if len(rest) > 1 else rest[0])
    return (*res[:op.head], *(stored if len(rest) > 1 else (stored,)))


def _wrong_prep(op: Op, backend: Any, prep: Any) -> None:
    if not isinstance(prep, Prep):
        raise TypeError(f"{op.name} with {backend!r}: prep must be a Prep from "
                        f"prepare_{op.family}(...); got {type(prep).__name__}")
    raise PreparationMismatchError(
        f"{op.name} with {backend!r}: the prep was made by prepare_{prep.operator} and serves "
        f"{prep.operator}, not {op.family}; prepare with prepare_{op.family}(f, backend, x, ...)")


def execute(op: Op, backend: Any, prep: Prep, x: Any, tangents: tuple, contexts: tuple,
            y: Any = None) -> Any:
    """Run a checked prep. An in-place function's buffer ``y`` receives f(x)."""
    if y is None:
        return (prep.run_value if op.value else prep.run)(x, tangents, contexts)
    res = prep.run_value(x, tangents, contexts)
    store(f"{op.name} with {backend!r} (the buffer y)", y, res[0])
    return (y, *res[1:]) if op.value else res[1]


# ---- recording which operators run ----------------------------------------------------------
_CALLS: ContextVar[Counter | None] = ContextVar("adopt_operator_calls", default=None)


@contextmanager
def record_operators() -> Iterator[Counter]:
    """Count the operator calls made inside the ``with`` block, by family.

    Yields a :class:`collections.Counter` that maps operator families (``"gradient"``,
    ``"jacobian"``, ``"hvp"``, ...; a value form counts for its family) to the number of calls,
    prepared or not, including those adopt makes on the caller's behalf (a solver adapter, a
    ``DifferentiateWith``). Preparations are not counted. Blocks nest: an inner block counts
    alone, and its calls are added to the outer one when it ends.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.testing import record_operators
    >>> with record_operators() as calls:
    ...     _ = adopt.value_and_gradient(lambda x: (x**2).sum(), adopt.AutoFiniteDiff(), np.ones(2))
    >>> dict(calls)
    {'gradient': 1}
    """
    outer = _CALLS.get()
    calls: Counter = Counter()
    token = _CALLS.set(calls)
    try:
        yield calls
    finally:
        _CALLS.reset(token)
        if outer is not None:
            outer.update(calls)


def _identity(a: Any) -> Any:
    return a


def _map_out(cout: Callable[[Any], Any], o: Any) -> Any:
    return tuple(cout(a) for a in o) if isinstance(o, tuple) else cout(o)


def _single(r: Any) -> tuple[Any]:
    return (r,)


def _head_and_single(r: tuple[Any, Any]) -> tuple[Any, tuple[Any]]:
    return r[0], (r[1],)


#: ``Setup.runner``'s packs of a single-tangent result: ``(t,)`` and ``(head, (t,))``
SINGLE, HEAD_AND_SINGLE = _single, _head_and_single


def unstack(T: Any, k: int) -> tuple[Any, ...]:
    """Split a stacked batch into a tuple of ``k`` arrays."""
    return tuple(T[i] for i in range(k))


# ---- out= buffers -----------------------------------------------------------------------------
def store(where: str, out: Any, result: Any) -> Any:
    """Write ``result`` into the caller's buffer ``out`` (same structure) and return ``out``.

    A buffer must have the result's array type and shape exactly (no broadcasting), and a dtype
    the result casts to without loss (no silent downcast, no truncation to integers).
    """
    if out is None:
        return result
    if _same_buffer(out, result):  # the common case, checked first with a few comparisons
        if out.__class__ is np.ndarray:
            np.copyto(out, result)
        else:
            out.copy_(result)
        return out
    if isinstance(result, tuple):
        if not isinstance(out, tuple) or len(out) != len(result):
            raise ValueError(f"{where}: out must be a tuple of {len(result)} buffers "
                             f"({', '.join(_describe(r) for r in result)}); got {_describe(out)}")
        return tuple(store(where, o, r) for o, r in zip(out, result))
    if isinstance(out, (tuple, list)):
        raise ValueError(f"{where}: out must be one buffer, {_describe(result)}; got "
                         f"{_describe(out)}")
    if _is_sparse(out) or _is_sparse(result):
        return _store_sparse(where, out, result)
    _check_buffer(where, out, result)
    if array_kind(out) == "numpy":
        np.copyto(out, to_numpy(result))
    else:
        out.copy_(result)
    return out


def _same_buffer(out: Any, result: Any) -> bool:
    """A dense NumPy or torch buffer of the result's own type, shape and dtype."""
    t = out.__class__
    if t is not result.__class__:
        return False
    if t is np.ndarray:
        return out.shape == result.shape and out.dtype == result.dtype
    return (array_kind(out) == "torch" and out.shape == result.shape and out.dtype == result.dtype
            and str(out.layout) == "torch.strided")


def _describe(a: Any) -> str:
    if isinstance(a, (tuple, list)):
        return f"a {type(a).__name__} of {len(a)}"
    if _is_sparse(a):
        return f"a sparse {type(a).__name__} of shape {tuple(a.shape)}"
    shape = tuple(getattr(a, "shape", ()))
    return f"a {_type_name(a)} of shape {shape} and dtype {_dtype_str(a)}"


def _type_name(a: Any) -> str:
    t = type(a)
    return f"{t.__module__.split('.')[0]}.{t.__name__}"


def _check_buffer(where: str, out: Any, result: Any) -> None:
    kind, want = array_kind(out), array_kind(result)
    want = "numpy" if want == "scalar" else want
    if kind == "jax":
        raise TypeError(f"{where}: out= cannot write into a jax.Array, which is immutable; use "
                        "the returned value instead")
    if kind != want:
        raise TypeError(f"{where}: out must be {_describe(result)}; got {_describe(out)}: pass a "
                        f"buffer of the result's array type")
    if tuple(out.shape) != tuple(getattr(result, "shape", ())):
        raise ValueError(f"{where}: out has shape {tuple(out.shape)} but the result has shape "
                         f"{tuple(getattr(result, 'shape', ()))}; pass a buffer of the result's "
                         "shape (out= never broadcasts)")
    src, dst = numpy_dtype(result), numpy_dtype(out)
    if not np.can_cast(src, dst, "safe"):
        raise TypeError(f"{where}: out has dtype {dst} but the result is {src}, which would be "
                        f"{'truncated' if dst.kind in 'iub' else 'downcast'}; pass a {src} buffer")


def _is_sparse(a: Any) -> bool:
    import scipy.sparse as sp

    if sp.issparse(a):
        return True
    return array_kind(a) == "torch" and str(a.layout) != "torch.strided"


def _store_sparse(where: str, out: Any, result: Any) -> Any:
    """Write a sparse result into a sparse buffer of the same structure (values only)."""
    import scipy.sparse as sp

    if sp.issparse(result):
        if not sp.issparse(out) or out.shape != result.shape or out.nnz != result.nnz \
                or out.format != result.format:
            raise ValueError(f"{where}: out must be a {result.format} matrix of shape "
                             f"{result.shape} with {result.nnz} stored entries, as returned by "
                             f"the first call; got {_describe(out)}")
        if not np.can_cast(result.dtype, out.dtype, "safe"):
            raise TypeError(f"{where}: out has dtype {out.dtype} but the result is "
                            f"{result.dtype}; pass a {result.dtype} matrix")
        np.copyto(out.data, result.data)
        return out
    if array_kind(out) != "torch" or array_kind(result) != "torch" or out.layout != result.layout \
            or out.shape != result.shape or out.dtype != result.dtype:
        raise ValueError(f"{where}: out must be a {getattr(result, 'layout', 'dense')} tensor of "
                         f"shape {tuple(result.shape)} and dtype {result.dtype}, as returned by "
                         f"the first call; got {_describe(out)}")
    out.values().copy_(result.values())
    return out
