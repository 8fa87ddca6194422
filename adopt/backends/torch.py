"""AutoTorch implementation: with ``torch_graph`` (the simplifier of its captured graphs, which
only this module imports), the only module of adopt that imports torch.

Top-level first-order reverse mode and Hessian-vector products use eager ``torch.autograd``,
forward mode with one tangent eager dual numbers; batched forward mode and every nested
transform use ``torch.func``, which composes. The measurements behind these choices:
benchmarks/results/dense.md (the bare baselines) and benchmarks/results/design_choices.md.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from adopt._errors import BackendIncompatibilityError, MissingDependencyError
from adopt.backends._base import BackendImpl, NativeFn, SamePoint, foreign_framework

try:
    import torch
    import torch.autograd.forward_ad as fwAD
    from torch import func as tf
except ImportError as e:  # pragma: no cover - exercised when torch is absent
    raise MissingDependencyError(
        "AutoTorch needs torch: pip install torch==2.13.0 (CPU) or pip install 'adopt[torch]'"
    ) from e


#: From this many cotangents on, a batched pullback is torch.func's vmap over one vjp instead of
#: autograd's batched backward (``is_grads_batched``), which is faster for small batches: on
#: g(x) = sin(x) x + roll(x, 1) cos(x), a reverse Jacobian took 0.73x / 1.00x the torch.func
#: time at n = 10 / 30 and 1.72x / 2.33x / 1.88x at n = 100 / 300 / 1000
#: (benchmarks/results/design_choices.md). A function torch.func cannot transform falls back.
FUNC_PULLBACK_BATCH = 64


def _grad(y: Any, x: Any, ty: Any, *, batched: bool = False, create_graph: bool = False,
          retain_graph: bool | None = None) -> Any:
    """``torch.autograd.grad`` that returns zeros where ``y`` does not depend on ``x``."""
    if not y.requires_grad:
        shape = (ty.shape[0], *x.shape) if batched else x.shape
        return torch.zeros(shape, dtype=x.dtype)  # y does not depend on x
    try:  # not allow_unused=True, which costs on every call: the unused case is the rare one
        (g,) = torch.autograd.grad(y, x, ty, is_grads_batched=batched, create_graph=create_graph,
                                   retain_graph=retain_graph)
    except RuntimeError as e:
        if "not have been used in the graph" not in str(e):
            raise
        shape = (ty.shape[0], *x.shape) if batched else x.shape
        return torch.zeros(shape, dtype=x.dtype)
    return g


def _shaped(a: Any, shape: Any) -> Any:
    """``a`` reshaped to ``shape``, without a view op when it has that shape already."""
    return a if a.shape == shape else a.reshape(shape)


def _capturable(v: Any) -> bool:
    """A context value a captured graph takes as an input (tensors) or may freeze (static)."""
    if isinstance(v, torch.Tensor) or v is None or isinstance(v, (bool, int, str)):
        return True
    return isinstance(v, tuple) and all(_capturable(e) for e in v)


@dataclass(frozen=True)
class Captured:
    """A captured ATen graph and the eager function it stands for. The graph writes into its
    intermediates, which autograd cannot record: a call with an input that requires grad (with
    grad mode on) runs ``eager``.

    Examples
    --------
    >>> import torch, adopt
    >>> f = lambda x: torch.sin(x) * 2
    >>> c = TorchImpl(adopt.AutoTorch()).capture(f, torch.zeros(3, dtype=torch.float64))
    >>> x = torch.linspace(0.0, 1.0, 3, dtype=torch.float64)
    >>> bool((c(x) == f(x)).all()), c(x.requires_grad_()).requires_grad
    (True, True)
    """

    graph: Any  # torch.fx.GraphModule
    eager: NativeFn

    def __call__(self, *args: Any) -> Any:
        if torch.is_grad_enabled() and _requires_grad(args):
            return self.eager(*args)
        return self.graph(*args)


def _requires_grad(args: tuple[Any, ...]) -> bool:
    return any(a.requires_grad if isinstance(a, torch.Tensor) else isinstance(a, tuple) and _requires_grad(a)
               for a in args)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        if not (isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype):
            return False
        scale = float(a.abs().max()) if a.numel() and a.is_floating_point() else 0.0
        return torch.allclose(a, b, rtol=1e-12, atol=1e-13 * scale, equal_nan=True)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(map(_same, a, b))
    return False


def _private(cvals: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.detach().clone() if isinstance(v, torch.Tensor) else v for v in cvals)


class TorchImpl(BackendImpl):
    """torch.autograd / torch.func on native functions."""

    kind: ClassVar[str] = "torch"

    def check_input(self, operator: str, name: str, x: Any) -> None:
        return None

    def probe(self, fn: NativeFn, x: Any, cvals: tuple[Any, ...], operator: str) -> Any:
        """Evaluate ``fn`` once with autograd on to catch functions torch cannot differentiate."""
        xg = x.detach().requires_grad_(True)
        try:
            y = fn(xg, *cvals)
        except (RuntimeError, TypeError) as e:
            if foreign_framework(e) == "jax":
                raise BackendIncompatibilityError(
                    f"{operator}: f is a JAX function (it called jax on a torch.Tensor); use "
                    "AutoJAX(), or write f with torch (or the array API)") from e
            if "numpy" not in str(e).lower():
                raise
            raise BackendIncompatibilityError(
                f"{operator}: torch cannot trace f, which converts a "
                "tensor to NumPy (it probably calls NumPy functions). Write f with torch (or "
                "the array API), or use AutoFiniteDiff(), or wrap the NumPy part in "
                "adopt.DifferentiateWith(part, AutoFiniteDiff())"
            ) from e
        if isinstance(y, (float, int, np.generic)):
            raise BackendIncompatibilityError(
                f"{operator}: f returned a Python/NumPy number ({type(y).__name__}), not a "
                "torch.Tensor: a result turned into a number (.item(), float()) cannot be "
                "differentiated by torch; return the tensor, or use AutoFiniteDiff()")
        if not isinstance(y, torch.Tensor):
            raise BackendIncompatibilityError(
                f"{operator}: f returned {type(y).__name__}, not a "
                "torch.Tensor; write f with torch operations, or use AutoFiniteDiff()"
            )
        return y.detach()

    def captures(self, cvals: tuple[Any, ...]) -> bool:
        return all(_capturable(v) for v in cvals)

    def capture(self, fn: NativeFn, *args: Any) -> NativeFn | None:
        """``fn`` traced once by ``make_fx`` on fake tensors into an ATen graph without the dead
        branches of ``torch.func``'s transforms, with everything computed from constants alone
        folded and the rest simplified (see :mod:`adopt.backends.torch_graph`): a batched JVP,
        VJP or HVP then costs a few plain ATen calls instead of functorch's per-op dispatch.

        Fake tensors carry no values, so control flow on the values of ``x`` fails the trace,
        and we keep the eager ``fn``; so do functions torch cannot trace and contexts that are
        not tensors or hashable static values (a Python float would be frozen into the graph).
        The graph must reproduce ``fn`` at ``args``, else the eager ``fn`` is kept. It writes
        into its own intermediates, so the calls that autograd records run ``fn`` (``Captured``).
        """
        if not self.captures(args[1:]):
            return None
        from torch.fx.experimental.proxy_tensor import make_fx

        from adopt.backends.torch_graph import simplify

        try:
            # The eager run first: its intermediates are freed before the graph is traced and
            # simplified, rather than stacked on what simplifying holds (the folded constants).
            # That took the peak memory of the chained Rosenbrock Hessian's prep at n = 1e6 from
            # ~315 to ~240 bytes per nonzero (benchmarks/results/scale.md).
            expected = fn(*args)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = make_fx(fn, tracing_mode="fake", _allow_non_fake_inputs=True)(*args)
            simplify(graph)
            with torch.no_grad():
                same = _same(expected, graph(*args))
        except Exception:  # noqa: BLE001 - any failure to trace keeps the eager function, which
            return None    # raises the user's own error at the call
        return Captured(graph, fn) if same else None

    def eye(self, n: int, like: Any) -> Any:
        return torch.eye(n, dtype=like.dtype)

    def ones(self, shape: tuple[int, ...], like: Any) -> Any:
        return torch.ones(shape, dtype=like.dtype)

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        return torch.zeros(shape, dtype=like.dtype)

    def stack(self, arrays: tuple[Any, ...]) -> Any:
        return torch.stack(arrays)

    def matmul(self, a: Any, b: Any) -> Any:
        return a @ b

    def inplace(self, f: Callable[..., Any], y_shape: tuple[int, ...], y_dtype: Any) -> NativeFn:
        def fn(x: Any, *c: Any) -> Any:
            y = x.new_zeros(y_shape, dtype=y_dtype)
            f(y, x, *c)
            return y

        return fn

    # ---- primitives -----------------------------------------------------------------
    def value_and_pushforward(self, fn: NativeFn, nested: bool = False) -> NativeFn:
        def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any]:
            return tf.vmap(lambda t: tf.jvp(lambda x_: fn(x_, *c), (x,), (t,)),
                           out_dims=(None, 0))(T)

        if nested:
            return h

        def h_eager(x: Any, T: Any, *c: Any) -> tuple[Any, Any]:
            if T.shape[0] > 1:
                return h(x, T, *c)
            if T.shape[0] == 0:  # no tangents (x or y empty)
                y = fn(x, *c)
                return y, y.new_zeros((0, *y.shape))
            y, ty = one(x, T[0], *c)
            return y, ty[None]

        one = self.pushforward_one(fn, head=True)
        return h_eager

    # The single-tangent paths of eager PyTorch: with head=False they return the product alone
    # (a prepared pushforward then calls h itself, not a function picking from h's pair).
    def pushforward_one(self, fn: NativeFn, head: bool) -> NativeFn:
        """One tangent, unbatched: eager dual numbers (no ``torch.func`` transform)."""
        def h(x: Any, t: Any, *c: Any) -> Any:
            fwAD.enter_dual_level()  # what fwAD.dual_level() calls, without its two frames
            try:
                primal, tangent = fwAD.unpack_dual(fn(fwAD.make_dual(x, t), *c))
            finally:
                fwAD.exit_dual_level()
            if tangent is None:  # f does not depend on x
                tangent = torch.zeros_like(primal)
            return (primal, tangent) if head else tangent

        return h

    def pullback_one(self, fn: NativeFn, head: bool) -> NativeFn:
        """One cotangent, unbatched: one eager backward pass."""
        def h(x: Any, ty: Any, *c: Any) -> Any:
            xg = x.detach().requires_grad_(True)
            y = fn(xg, *c)
            tx = _grad(y, xg, ty)
            return (y.detach(), tx) if head else tx

        return h

    def value_and_pullback(self, fn: NativeFn, nested: bool = False) -> NativeFn:
        def h_func(x: Any, TY: Any, *c: Any) -> tuple[Any, Any]:
            y, vjp = tf.vjp(lambda x_: fn(x_, *c), x)
            return y, tf.vmap(lambda t: vjp(t)[0])(TY)

        if nested:
            return h_func

        def h(x: Any, TY: Any, *c: Any) -> tuple[Any, Any]:
            k = TY.shape[0]
            if k >= FUNC_PULLBACK_BATCH:
                try:
                    return h_func(x.detach(), TY, *c)
                except RuntimeError:  # beyond torch.func: an old-style autograd.Function
                    pass
            xg = x.detach().requires_grad_(True)
            y = fn(xg, *c)
            if k == 0:  # no cotangents (x or y empty)
                return y.detach(), x.new_zeros((0, *x.shape))
            if k == 1:
                return y.detach(), _grad(y, xg, TY[0])[None]
            return y.detach(), _grad(y, xg, TY, batched=True)

        return h

    # ---- native fast paths ----------------------------------------------------------
    def value_and_gradient(self, fn: NativeFn, nested: bool = False) -> NativeFn:
        if nested:
            grad_and_value = tf.grad_and_value(fn)

            def h_func(x: Any, *c: Any) -> tuple[Any, Any]:
                g, y = grad_and_value(x, *c)
                return y, g

            return h_func

        def h(x: Any, *c: Any) -> tuple[Any, Any]:
            xg = x.detach().requires_grad_(True)
            y = fn(xg, *c)
            return y.detach(), _grad(y, xg, None)

        return h

    def derivative_and_second(self, fn: NativeFn, generic: NativeFn) -> NativeFn:
        """``(x, *c) -> (y, d, dd)`` at a scalar ``x``: eager double backward when ``f`` is
        scalar-valued (rather than nested ``torch.func`` transforms), ``generic``
        (``(x, *c) -> (d, dd)``) for array-valued ``f``."""
        def h(x: Any, *c: Any) -> tuple[Any, Any, Any]:
            xg = x.detach().requires_grad_(True)
            y = fn(xg, *c)
            if y.numel() != 1:
                return (y.detach(), *generic(x, *c))
            d = _grad(y, xg, None, create_graph=True)
            dd = _grad(d, xg, None) if d.requires_grad else torch.zeros_like(d)
            return y.detach(), _shaped(d.detach(), y.shape), _shaped(dd, y.shape)

        return h

    def gradient_and_hvp(self, fn: NativeFn) -> NativeFn:
        vghv = self.value_gradient_and_hvp(fn)
        return lambda x, T, *c: vghv(x, T, *c)[1:]

    def value_gradient_and_hvp(self, fn: NativeFn) -> NativeFn:
        """Eager double backward: one evaluation of ``f`` gives the value, the gradient (with its
        graph) and a batch of products."""
        def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any, Any]:
            xg = x.detach().requires_grad_(True)
            y = fn(xg, *c)
            g = _grad(y, xg, None, create_graph=True)
            k = T.shape[0]
            if k == 0:
                return y.detach(), g.detach(), x.new_zeros((0, *x.shape))
            HT = _grad(g, xg, T, batched=True) if k > 1 else _grad(g, xg, T[0])[None]
            return y.detach(), g.detach(), HT

        return h

    def hvp_one(self, fn: NativeFn, head: bool) -> NativeFn:
        """One tangent, unbatched: eager double backward."""
        def h(x: Any, t: Any, *c: Any) -> Any:
            xg = x.detach().requires_grad_(True)
            g = _grad(fn(xg, *c), xg, None, create_graph=True)
            ht = _grad(g, xg, t)
            return (g.detach(), ht) if head else ht

        return h

    # No pushforward_at: torch.func.linearize traces f with make_fx at every point, which costs
    # more than the eager JVPs it would save, so same-point pushforwards are generic.
    # The same-point preps keep private copies of x and the contexts: the caller's arrays may be
    # changed in place afterwards (the prep then refuses the call), and must not alter its graph.
    def pullback_at(self, fn: NativeFn) -> SamePoint:
        def at(x: Any, *c: Any) -> tuple[Any, Any]:
            xg = x.detach().clone().requires_grad_(True)
            y = fn(xg, *_private(c))
            return y.detach(), (y, xg)

        def apply(state: Any, TY: Any) -> Any:
            y, xg = state
            if TY.shape[0] == 1:
                return _grad(y, xg, TY[0], retain_graph=True)[None]
            return _grad(y, xg, TY, batched=True, retain_graph=True)

        return SamePoint(at, apply)

    def hvp_at(self, fn: NativeFn) -> SamePoint:
        def at(x: Any, *c: Any) -> tuple[Any, Any]:
            xg = x.detach().clone().requires_grad_(True)
            g = _grad(fn(xg, *_private(c)), xg, None, create_graph=True)
            return g.detach(), (g, xg)

        def apply(state: Any, T: Any) -> Any:
            g, xg = state
            if not g.requires_grad:  # f is at most linear in x: H = 0
                return T.new_zeros(T.shape)
            if T.shape[0] == 1:
                return _grad(g, xg, T[0], retain_graph=True)[None]
            return _grad(g, xg, T, batched=True, retain_graph=True)

        return SamePoint(at, apply)
