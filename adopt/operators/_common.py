"""Preparation machinery shared by every operator.

``setup`` validates the arguments once, imports the backend, turns ``f`` into a native function
over the backend's arrays (contexts, caches, in-place outputs, black-box conversions), probes its
output, and hands the operator module everything it needs to build its prepared ``run``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from adopt._arrays import array_kind, converter, numpy_dtype
from adopt._contexts import Cache, Constant
from adopt._errors import BackendIncompatibilityError
from adopt._prep import Prep, context_signature, is_dynamic, signature_of
from adopt._second_order import SecondOrder, default_second_order, second_order_modes
from adopt.backends import AbstractBackend
from adopt.backends._base import BackendImpl, NativeFn
from adopt.operators._derive import Shapes

__all__ = ["Setup", "setup", "store", "unstack", "execute", "run_op"]


def _fail(where: str, msg: str, exc: type = ValueError) -> None:
    raise exc(f"{where}: {msg}")


def _dtype_str(a: Any) -> str:
    return str(getattr(a, "dtype", type(a).__name__)).replace("torch.", "")


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
class Setup:
    """What an operator module needs to build a prep: validated arguments and native pieces."""

    where: str
    operator: str
    f: Callable[..., Any]
    backend: Any                # as the user passed it (the prep is checked against it)
    dense: Any                  # the backend that computes: AutoSparse unwrapped
    outer: BackendImpl          # computes the operator (the only impl for first-order operators)
    inner: BackendImpl          # == outer for first-order operators
    modes: tuple[str, str] | None
    fn: NativeFn                # f over outer's arrays, contexts bound: fn(x, *dynamic_cvals)
    fn_inner: NativeFn          # f over inner's arrays
    x: Any                      # x in outer's arrays
    cvals: tuple[Any, ...]      # dynamic context values in outer's arrays
    y: Any                      # f(x) in outer's arrays (or its abstract shape on JAX)
    shapes: Shapes
    shapes_inner: Shapes
    to_native: Callable[[Any], Any]
    from_native: Callable[[Any], Any]
    ctx_to_native: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    x_user: Any
    contexts: tuple[Any, ...]
    y_user: Any
    strict: bool
    warm: bool                  # run compiled functions once at preparation (False: one-shot prep)

    def compile(self, core: NativeFn, *warm: Any, eager: bool = True) -> NativeFn:
        """Compile a native core once, and run it at the preparation point so no call compiles.

        The one-shot preps of unprepared calls skip the warm-up: the one call they serve
        compiles just the variant it uses. ``eager=False`` leaves a variant to compile at its
        first call (sparse preps do so for their value form, keeping preparation at one compile).
        """
        compiled = self.outer.compile(core)
        if self.outer.compiles and self.warm and eager:
            compiled(*warm)
        return compiled

    def runner(self, compiled: NativeFn, ntangents: int = 0) -> Callable[[Any, tuple, tuple], Any]:
        """The prepared call: convert x, tangents and contexts in, run, convert results out."""
        cin, cout, cctx = self.to_native, self.from_native, self.ctx_to_native
        plain = cin is converter("numpy", "numpy") and cout is cin
        if plain and not any(isinstance(c, Constant) and is_dynamic(c.value) for c in self.contexts):
            if ntangents:
                return lambda x, T, cs: compiled(x, *T)
            return lambda x, T, cs: compiled(x)

        def run(x: Any, T: tuple, cs: tuple) -> Any:
            out = compiled(cin(x), *(cin(t) for t in T), *cctx(cs))
            return tuple(_map_out(cout, o) for o in out) if isinstance(out, tuple) else cout(out)

        return run

    def core(self, h: NativeFn, ntangents: int, pick: Callable[[Any], Any]) -> NativeFn:
        """A native function of ``(x, *tangents, *cvals)`` that stacks the tangents for ``h``."""
        stack = self.outer.stack
        if ntangents == 0:
            return lambda x, *c: pick(h(x, *c))

        def core(x: Any, *a: Any) -> Any:
            T = a[0][None] if ntangents == 1 else stack(a[:ntangents])
            return pick(h(x, T, *a[ntangents:]))

        return core

    def bridge(self, fn: NativeFn) -> NativeFn:
        """Carry a native function of the inner backend into the outer backend's arrays."""
        if self.inner.kind == self.outer.kind:
            return fn
        compiled = self.inner.compile(fn)
        to_in, to_out = converter(self.outer.kind, self.inner.kind), converter(self.inner.kind, self.outer.kind)

        def bridged(*args: Any) -> Any:
            out = compiled(*(to_in(a) for a in args))
            return tuple(to_out(o) for o in out) if isinstance(out, tuple) else to_out(out)

        return bridged

    def tangent(self, t: Any) -> Any:
        return converter(array_kind(t), self.outer.kind)(t)

    def prep(self, run: Callable[..., Any], run_value: Callable[..., Any],
             ntangents: int | None = None, tangent: Any = None, **info: Any) -> Prep:
        return Prep(
            operator=self.operator, backend=self.backend, x=signature_of(self.x_user),
            contexts=tuple(context_signature(c) for c in self.contexts), ntangents=ntangents,
            y=None if self.y_user is None else signature_of(self.y_user), strict=self.strict,
            f=self.f, run=run, run_value=run_value, tangent=None if tangent is None else signature_of(tangent),
            info=info,
        )


def dense_backend(backend: Any, second_order: bool) -> Any:
    """The backend that computes dense operators: AutoSparse and MixedMode are unwrapped."""
    from adopt._sparse.backend import AutoSparse, MixedMode

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
    black_box = impl.backend.black_box and user_kind not in ("numpy", "scalar")
    to_user = converter(impl.kind, user_kind) if black_box else (lambda a: a)
    from_user = converter(user_kind, impl.kind) if black_box else (lambda a: a)
    slots = _context_slots(contexts)
    if y_user is not None:
        f = _inplace(where, impl, f, y_user, to_user)

    def fn(x: Any, *dyn: Any) -> Any:
        args, it = [], iter(dyn)
        for kind, value in slots:
            if kind == "dynamic":
                args.append(next(it))
            elif kind == "static":
                args.append(value)
            else:
                args.append(to_user(_zeros(impl, value, x)))
        return from_user(f(to_user(x), *args))

    return fn


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
    native = impl.inplace(f, tuple(y_user.shape), converter(array_kind(y_user), impl.kind)(y_user).dtype)
    return lambda x, *c: native(x, *c)


def setup(operator: str, where: str, f: Callable[..., Any], backend: Any, x: Any,
          contexts: tuple[Any, ...], *, y: Any = None, strict: bool | None = True,
          second_order: bool = False, scalar_x: bool = False, scalar_y: bool = False) -> Setup:
    """Validate, import the backend(s), build the native function and probe it at ``x``.

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
    to_native = converter(user_kind, outer.kind)
    from_native = converter(outer.kind, user_kind)
    ctx_to_native = _context_converter(contexts, outer)
    x_nat = to_native(x)
    cvals = ctx_to_native(contexts)
    fn = _native_function(where, outer, f, user_kind, contexts, y)
    fn_inner = fn if inner is outer else _native_function(where, inner, f, user_kind, contexts, y)
    y_nat = outer.probe(fn, x_nat, cvals, where)
    if scalar_y and math.prod(tuple(y_nat.shape)) != 1 or scalar_y and len(y_nat.shape) != 0:
        _fail(where, f"{operator} needs f to return a scalar; f returned shape "
                     f"{tuple(y_nat.shape)}: use jacobian or pullback for array outputs")
    shapes = Shapes(tuple(x_nat.shape), tuple(y_nat.shape), x_nat)
    x_in = converter(user_kind, inner.kind)(x)
    shapes_inner = Shapes(shapes.x_shape, shapes.y_shape, x_in) if inner is not outer else shapes
    return Setup(where, operator, f, backend, dense, outer, inner, modes, fn, fn_inner, x_nat, cvals,
                 y_nat, shapes, shapes_inner, to_native, from_native, ctx_to_native, x, contexts,
                 y, bool(strict), strict is not None)


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
    convs = [converter(array_kind(contexts[i].value), impl.kind) if not isinstance(contexts[i].value, float)
             else (lambda v: v) for i in idx]
    return lambda cs: tuple(conv(cs[i].value) for conv, i in zip(convs, idx))


def run_op(op: str, prepare: Callable[..., Prep], f: Any, backend: Any, x: Any,
           tangents: tuple | None, contexts: tuple, prep: Prep | None, value: bool,
           y: Any = None) -> Any:
    """Every operator call: prepare a one-shot prep if none is given, else check it; then run."""
    if prep is None:
        kw = {} if y is None else {"y": y}
        args = (x,) if tangents is None else (x, tangents)
        prep = prepare(f, backend, *args, *contexts, strict=None, **kw)
    elif prep.strict:
        prep.check(op, f, backend, x, contexts, tangents, y)
    return execute(op, prep, x, tangents or (), contexts, value, y)


def execute(op: str, prep: Prep, x: Any, tangents: tuple, contexts: tuple, value: bool,
            y: Any = None) -> Any:
    """Run a checked prep. An in-place function's buffer ``y`` receives f(x)."""
    if y is None:
        return (prep.run_value if value else prep.run)(x, tangents, contexts)
    res = prep.run_value(x, tangents, contexts)
    store(op, y, res[0])
    return (y, *res[1:]) if value else res[1]


def _map_out(cout: Callable[[Any], Any], o: Any) -> Any:
    return tuple(cout(a) for a in o) if isinstance(o, tuple) else cout(o)


def unstack(T: Any, k: int) -> tuple[Any, ...]:
    """Split a stacked batch into a tuple of ``k`` arrays."""
    return tuple(T[i] for i in range(k))


def store(op: str, out: Any, result: Any) -> Any:
    """Write ``result`` into the caller's buffer ``out`` and return ``out`` (or ``result``)."""
    if out is None:
        return result
    if isinstance(out, tuple):
        if not isinstance(result, tuple) or len(out) != len(result):
            raise ValueError(f"{op}: out must be a tuple of {len(result)} buffers; got {len(out)}")
        return tuple(store(op, o, r) for o, r in zip(out, result))
    if _is_sparse(out):
        return _store_sparse(op, out, result)
    kind = array_kind(out)
    if kind == "numpy":
        np.copyto(out, np.asarray(result) if array_kind(result) != "torch" else result.detach().numpy())
        return out
    if kind == "torch":
        out.copy_(result if array_kind(result) == "torch" else converter(array_kind(result), "torch")(result))
        return out
    if kind == "jax":
        raise TypeError(f"{op}: out= cannot write into a jax.Array, which is immutable; use the "
                        "returned value instead")
    raise TypeError(f"{op}: out must be a NumPy array or a torch tensor; got {type(out).__name__}")


def _is_sparse(a: Any) -> bool:
    import scipy.sparse as sp

    if sp.issparse(a):
        return True
    return array_kind(a) == "torch" and str(a.layout) != "torch.strided"


def _store_sparse(op: str, out: Any, result: Any) -> Any:
    """Write a sparse result into a sparse buffer of the same structure (values only)."""
    import scipy.sparse as sp

    if sp.issparse(out):
        if not sp.issparse(result) or out.shape != result.shape or out.nnz != result.nnz \
                or out.format != result.format:
            raise ValueError(f"{op}: out must be a {result.format} matrix of shape {result.shape} "
                             f"with {result.nnz} stored entries, as returned by the first call")
        np.copyto(out.data, result.data)
        return out
    if out.layout != result.layout or out.shape != result.shape:
        raise ValueError(f"{op}: out must be a {result.layout} tensor of shape "
                         f"{tuple(result.shape)}, as returned by the first call")
    out.values().copy_(result.values())
    return out
