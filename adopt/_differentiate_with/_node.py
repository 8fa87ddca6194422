"""The host side of DifferentiateWith: one input signature, the inner backend's prepared operators.

A :class:`Node` is what the JAX primitives and the torch ``autograd.Function`` of
DifferentiateWith call back into. It holds the shapes of one input signature of ``f`` and, in
``preps``, the inner backend's preparations, made at the first call of each operator (at that
call's real point and tangents) and reused at every later call. Arrays in and out are the inner
backend's own (torch tensors for AutoTorch, jax arrays for AutoJAX, NumPy for AutoFiniteDiff);
the outer framework's module converts at its boundary.

The operators (``OPS``, ``LINEAR``, ``TRANSPOSE``) are one table shared by both outer
frameworks; each framework's module turns it into derivative rules (the JVP of ``value`` is
``pushforward``, of ``value_grad`` is ``hvp``; a linear operator's transpose is its partner):

=============  ===========  ===========================================================
operator       inputs       outputs
=============  ===========  ===========================================================
value          x            f(x)
value_grad     x            (f(x), ∇f(x))   (scalar f on a reverse-mode inner backend)
pushforward    x, t         J(x) t          linear in t; transpose: pullback
pullback       x, u         J(x)ᵀ u         linear in u; transpose: pushforward
hvp            x, t         ∇²f(x) t        linear in t; transpose: hvp (symmetric)
=============  ===========  ===========================================================

Batches: :meth:`Node.runner` takes ``batch`` (0, or the number ``B`` of stacked problems) and
``x_batched``. With ``B > 0`` the linear argument always has a leading axis of ``B``; ``x`` has
one if ``x_batched``. One point with ``B`` tangents is one batched call of the inner backend;
``B`` points are a loop (the inner backend prepares per point signature, not per batch of
points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from adopt._errors import BackendIncompatibilityError
from adopt.backends import AbstractBackend
from adopt.operators.gradient import prepare_gradient, value_and_gradient
from adopt.operators.hvp import hvp, prepare_hvp
from adopt.operators.pullback import prepare_pullback, pullback
from adopt.operators.pushforward import prepare_pushforward, pushforward

__all__ = ["Node", "OPS", "LINEAR", "TRANSPOSE", "second_order_error"]

#: operator -> number of array inputs
OPS: dict[str, int] = {"value": 1, "value_grad": 1, "pushforward": 2, "pullback": 2, "hvp": 2}
#: the operators linear in their second input
LINEAR = frozenset({"pushforward", "pullback", "hvp"})
#: the transpose of each linear operator with respect to its linear input
TRANSPOSE = {"pushforward": "pullback", "pullback": "pushforward", "hvp": "hvp"}


def second_order_error(node: "Node", op: str, how: str) -> BackendIncompatibilityError:
    """The error for a derivative of ``op`` with respect to ``x`` that no rule provides."""
    if op == "hvp":
        what = "third derivatives are not available"
    else:
        what = (f"second derivatives are available only for scalar-valued f on a reverse-mode "
                f"inner backend (AutoJAX, AutoTorch); here f returns shape {node.y_shape} with "
                f"{node.backend!r}")
    return BackendIncompatibilityError(
        f"DifferentiateWith({_name(node.f)}, {node.backend!r}): {how} differentiates the "
        f"{op} of f with respect to x again, and {what}. Fix: wrap the whole scalar "
        "objective in DifferentiateWith (its Hessian is then the inner backend's hvp), or take "
        "the outer derivative with finite differences"
    )


def _name(f: Callable[..., Any]) -> str:
    return getattr(f, "__qualname__", None) or repr(f)


@dataclass(frozen=True, eq=False)
class Node:
    """One input signature ``(x_shape, dtype)`` of a DifferentiateWith and its preparations.

    ``preps`` is the cache that the wrapper owns: one prep per operator and number of tangents,
    made at the first real call (never at a dummy point).
    """

    f: Callable[..., Any]
    backend: AbstractBackend
    x_shape: tuple[int, ...]
    y_shape: tuple[int, ...] | None  # None: not known before the first evaluation
    dtype: np.dtype
    preps: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)

    @property
    def scalar(self) -> bool:
        """Scalar f on a backend with cheap reverse mode: value and gradient in one pass."""
        return self.y_shape == () and self.backend.has_pullback

    def out_shapes(self, op: str) -> tuple[tuple[int, ...], ...]:
        """The unbatched output shapes of ``op``."""
        x, y = self.x_shape, self.y_shape
        return {"value": (y,), "value_grad": (y, x), "pushforward": (y,), "pullback": (x,),
                "hvp": (x,)}[op]

    # ---- the batched entry point --------------------------------------------------------
    def runner(self, op: str, batch: int, x_batched: bool) -> Callable[..., tuple[Any, ...]]:
        """``op`` at a fixed batch layout, on inner-backend arrays; returns a tuple of outputs
        (see the module doc). Made once per traced call site, so a call does no dispatch."""
        one = {"value": self.value, "value_grad": self.value_grad, "pushforward": self.pushforward,
               "pullback": self.pullback, "hvp": self.hvp}[op]
        if op not in LINEAR:
            if not batch:
                return one
            return lambda x: self._stack([one(x[i]) for i in range(batch)])
        if not batch:
            return lambda x, t: tuple(r[0] for r in one(x, t[None]))
        if not x_batched:
            return one  # one point, a batch of tangents: one batched call
        return lambda x, t: self._stack([tuple(r[0] for r in one(x[i], t[i][None]))
                                         for i in range(batch)])

    def _stack(self, results: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        stack = self._prep(("stack", 0), lambda: self.backend.impl().stack)
        return tuple(stack(tuple(parts)) for parts in zip(*results))

    def _prep(self, key: tuple[str, int], make: Callable[[], Any]) -> Any:
        prep = self.preps.get(key)
        if prep is None:
            prep = self.preps[key] = make()
        return prep

    # ---- one point ------------------------------------------------------------------------
    def value(self, x: Any) -> tuple[Any]:
        """``f(x)`` (compiled once on AutoJAX)."""
        f = self.f  # a closure: jax.jit needs a hashable callable, f may not be one
        fn = self._prep(("value", 0), lambda: self.backend.impl().compile(lambda x_: f(x_)))
        return (fn(x),)

    def value_grad(self, x: Any) -> tuple[Any, Any]:
        prep = self._prep(("value_grad", 0), lambda: prepare_gradient(
            self.f, self.backend, x, strict=False))
        return value_and_gradient(self.f, self.backend, x, prep=prep)

    def pushforward(self, x: Any, T: Any) -> tuple[Any]:
        return self._linear(prepare_pushforward, pushforward, "pushforward", x, T)

    def pullback(self, x: Any, U: Any) -> tuple[Any]:
        return self._linear(prepare_pullback, pullback, "pullback", x, U)

    def hvp(self, x: Any, T: Any) -> tuple[Any]:
        return self._linear(prepare_hvp, hvp, "hvp", x, T)

    def _linear(self, prepare: Callable[..., Any], apply: Callable[..., tuple], op: str, x: Any,
                T: Any) -> tuple[Any]:
        """A batch ``T`` of ``k`` tangents at one point: one prepared call with ``k`` tangents."""
        k = T.shape[0]
        tangents = tuple(T[i] for i in range(k))
        prep = self._prep((op, k), lambda: prepare(self.f, self.backend, x, tangents, strict=False))
        res = apply(self.f, self.backend, x, tangents, prep=prep)
        return (res[0][None] if k == 1 else self._stack([(r,) for r in res])[0],)
