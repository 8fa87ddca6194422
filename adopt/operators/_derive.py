"""Every operator derived once from a backend's primitives, on native functions.

A native function is ``fn(x, *c) -> y`` over one framework's arrays. The builders here return
native functions too; the operator modules compile them once at preparation (``jax.jit`` on
AutoJAX) and wrap them with the conversions to and from the user's array type. Basis tangents
are built here, at preparation, not in the prepared call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from adopt.backends._base import BackendImpl, NativeFn

__all__ = [
    "Shapes", "basis", "value_and_pushforward", "value_and_pullback", "value_and_derivative",
    "value_and_jacobian",
    "value_and_gradient", "gradient_and_hvp", "derivative_and_second", "hessian_by_columns",
]


@dataclass(frozen=True)
class Shapes:
    """Shapes of ``x`` and ``y`` at preparation, and a native ``x`` for dtypes."""

    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...]
    like: Any

    @property
    def n(self) -> int:
        return math.prod(self.x_shape)

    @property
    def m(self) -> int:
        return math.prod(self.y_shape)

    def of_gradient(self) -> "Shapes":
        return Shapes(self.x_shape, self.x_shape, self.like)


def basis(impl: BackendImpl, n: int, shape: tuple[int, ...], like: Any) -> Callable[[], Any]:
    """The ``n`` unit tangents of ``shape``, as a zero-argument function.

    A compiling backend builds it inside the traced function, where XLA fuses it (a captured
    ``n x n`` constant is slower: benchmarks/results/design_choices.md); the others build it
    once, here, at preparation.
    """
    if impl.compiles:
        return lambda: impl.eye(n, like).reshape((n, *shape))
    fixed = impl.eye(n, like).reshape((n, *shape))
    return lambda: fixed


def value_and_pushforward(impl: BackendImpl, fn: NativeFn, s: Shapes, nested: bool = False) -> NativeFn:
    """``(x, T, *c) -> (y, TY)``: the primitive, or ``J @ t`` from a Jacobian by pullbacks."""
    if impl.backend.has_pushforward:
        return impl.value_and_pushforward(fn, nested)
    jac = value_and_jacobian(impl, fn, s, nested, mode="reverse")

    def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any]:
        y, J = jac(x, *c)
        k = T.shape[0]
        return y, impl.matmul(T.reshape(k, s.n), J.T).reshape((k, *s.y_shape))

    return h


def value_and_pullback(impl: BackendImpl, fn: NativeFn, s: Shapes, nested: bool = False) -> NativeFn:
    """``(x, TY, *c) -> (y, TX)``: the primitive, or ``tᵀ J`` from a Jacobian by pushforwards."""
    if impl.backend.has_pullback:
        return impl.value_and_pullback(fn, nested)
    jac = value_and_jacobian(impl, fn, s, nested, mode="forward")

    def h(x: Any, TY: Any, *c: Any) -> tuple[Any, Any]:
        y, J = jac(x, *c)
        k = TY.shape[0]
        return y, impl.matmul(TY.reshape(k, s.m), J).reshape((k, *s.x_shape))

    return h


def value_and_derivative(impl: BackendImpl, fn: NativeFn, s: Shapes) -> NativeFn:
    """``(x, *c) -> (y, dy)`` at a scalar ``x``: the pushforward of 1, unbatched where the
    backend has a single-tangent path (eager frameworks, where a batch of one costs)."""
    one = impl.pushforward_one(fn, head=True)
    if one is not None:
        t = impl.ones(s.x_shape, s.like)
        return lambda x, *c: one(x, t, *c)
    vpf = value_and_pushforward(impl, fn, s)
    T = impl.ones((1, *s.x_shape), s.like)

    def h(x: Any, *c: Any) -> tuple[Any, Any]:
        y, TY = vpf(x, T, *c)
        return y, TY[0]

    return h


def jacobian_mode(impl: BackendImpl, s: Shapes, mode: str | None = None) -> str:
    """Forward when the backend asks for it, or has only it, or when n forward products cost no
    more than m reverse ones (``forward_cost``: a batched torch JVP costs several batched VJPs)."""
    mode = mode or impl.backend.mode or ("forward" if s.n * impl.backend.forward_cost <= s.m
                                         else "reverse")
    if not impl.backend.has_pullback:
        return "forward"
    if not impl.backend.has_pushforward:
        return "reverse"
    return mode


def value_and_jacobian(impl: BackendImpl, fn: NativeFn, s: Shapes, nested: bool = False,
                       mode: str | None = None) -> NativeFn:
    """``(x, *c) -> (y, J)`` with ``J`` of shape ``(y.size, x.size)``: one batched call over a
    basis, or the backend's own Jacobian (finite differences perturb one coordinate at a time)."""
    native = impl.value_and_jacobian(fn, nested)
    if native is not None:
        return native
    if jacobian_mode(impl, s, mode) == "forward":
        vpf = impl.value_and_pushforward(fn, nested)
        unit = basis(impl, s.n, s.x_shape, s.like)

        def h_fwd(x: Any, *c: Any) -> tuple[Any, Any]:
            y, TY = vpf(x, unit(), *c)
            return y, TY.reshape(s.n, s.m).T

        return h_fwd
    vpb = impl.value_and_pullback(fn, nested)
    counit = basis(impl, s.m, s.y_shape, s.like)

    def h_rev(x: Any, *c: Any) -> tuple[Any, Any]:
        y, TX = vpb(x, counit(), *c)
        return y, TX.reshape(s.m, s.n)

    return h_rev


def value_and_gradient(impl: BackendImpl, fn: NativeFn, s: Shapes, nested: bool = False) -> NativeFn:
    """``(x, *c) -> (y, g)``: native, or a pullback of 1, or a Jacobian by pushforwards."""
    native = impl.value_and_gradient(fn, nested)
    if native is not None:
        return native
    if impl.backend.has_pullback:
        vpb = impl.value_and_pullback(fn, nested)
        one = impl.ones((1, *s.y_shape), s.like)

        def h_rev(x: Any, *c: Any) -> tuple[Any, Any]:
            y, TX = vpb(x, one, *c)
            return y, TX[0]

        return h_rev
    jac = value_and_jacobian(impl, fn, s, nested, mode="forward")

    def h_fwd(x: Any, *c: Any) -> tuple[Any, Any]:
        y, J = jac(x, *c)
        return y, J.reshape(s.x_shape)

    return h_fwd


def _gradient_only(vg: NativeFn) -> NativeFn:
    return lambda x, *c: vg(x, *c)[1]


def gradient_and_hvp(outer: BackendImpl, inner: BackendImpl, fn: NativeFn, s: Shapes, s_in: Shapes,
                     modes: tuple[str, str], bridge: Callable[[NativeFn], NativeFn]) -> NativeFn:
    """``(x, T, *c) -> (g, HT)`` composed from an outer and an inner backend.

    ``bridge`` carries an inner native function into the outer backend's arrays (identity when
    both share a framework; conversion around a compiled function when the outer one is a black
    box); ``fn`` and ``s_in`` are in the inner backend's arrays, ``s`` in the outer's.
    Forward-over-reverse and forward-over-forward push tangents through the gradient;
    reverse-over-reverse pulls them back through it (H is symmetric); reverse-over-forward
    differentiates the directional derivatives ``x -> <grad f(x), t>`` in reverse.
    """
    outer_mode, inner_mode = modes
    if outer_mode == "reverse" and inner_mode == "forward":
        return _reverse_over_forward(outer, inner, fn, s)
    vg = bridge(value_and_gradient(inner, fn, s_in, nested=True))
    g_fn = _gradient_only(vg)
    gs = s.of_gradient()
    if outer_mode == "forward":
        return value_and_pushforward(outer, g_fn, gs, nested=True)
    return value_and_pullback(outer, g_fn, gs, nested=True)


def hessian_by_columns(outer: BackendImpl, inner: BackendImpl, fn: NativeFn,
                               fn_inner: NativeFn, s_in: Shapes,
                               bridge: Callable[[NativeFn], NativeFn]) -> NativeFn:
    """``(x, *c) -> (y, g, H)`` as the outer backend's own Jacobian of the inner gradient (finite
    differences outside: one perturbed gradient at a time, no basis of tangents in memory)."""
    grad = _gradient_only(bridge(value_and_gradient(inner, fn_inner, s_in, nested=True)))
    jac = value_and_jacobian(outer, grad, s_in.of_gradient(), nested=True)

    def h(x: Any, *c: Any) -> tuple[Any, Any, Any]:
        g, H = jac(x, *c)
        return fn(x, *c), g, H

    return h


def _reverse_over_forward(outer: BackendImpl, inner: BackendImpl, fn: NativeFn, s: Shapes) -> NativeFn:
    # both parts differentiate the same framework here (a black box is never reverse)
    vpf = value_and_pushforward(inner, fn, s, nested=True)

    def directional(x: Any, T: Any, *c: Any) -> Any:
        return vpf(x, T, *c)[1].reshape(T.shape[0])

    grad = _gradient_only(value_and_gradient(outer, fn, s, nested=True))

    def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any]:
        k = T.shape[0]
        ks = Shapes(s.x_shape, (k,), s.like)
        vpb = value_and_pullback(outer, directional, ks, nested=True)
        _, HT = vpb(x, outer.eye(k, s.like), T, *c)
        return grad(x, *c), HT

    return h


def derivative_and_second(outer: BackendImpl, inner: BackendImpl, fn: NativeFn, s: Shapes,
                          s_in: Shapes, bridge: Callable[[NativeFn], NativeFn]) -> NativeFn:
    """``(x, *c) -> (d, dd)`` for scalar ``x``: the outer pushforward of the inner one."""
    vpf_in = bridge(value_and_pushforward(inner, fn, s_in, nested=True))
    one_in = outer.ones((1,), s.like).reshape((1, *s.x_shape))  # bridged into inner arrays

    def d_fn(x: Any, *c: Any) -> Any:
        return vpf_in(x, one_in, *c)[1][0]

    vpf_out = value_and_pushforward(outer, d_fn, Shapes(s.x_shape, s.y_shape, s.like), nested=True)
    one_out = outer.ones((1,), s.like).reshape((1, *s.x_shape))

    def h(x: Any, *c: Any) -> tuple[Any, Any]:
        d, TD = vpf_out(x, one_out, *c)
        return d, TD[0]

    return h
