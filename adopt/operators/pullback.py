"""pullback (VJP), value_and_pullback and their preparation."""

from __future__ import annotations

from typing import Any, Callable

from adopt._prep import Prep
from adopt.operators import _derive as d
from adopt.operators._common import Op, Setup, run_op
from adopt.operators._tangents import prepare_batched, prepare_same_point

__all__ = ["prepare_pullback", "prepare_pullback_same_point", "pullback", "value_and_pullback"]


def prepare_pullback(f: Callable[..., Any], backend: Any, x: Any, ty: tuple, *contexts: Any,
                     y: Any = None, strict: bool = True) -> Prep:
    """Prepare :func:`pullback` for a batch of ``len(ty)`` cotangents of ``f(x)``'s shape.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> prep = adopt.prepare_pullback(np.sin, adopt.AutoFiniteDiff(), np.zeros(2), (np.ones(2),))
    >>> adopt.pullback(np.sin, adopt.AutoFiniteDiff(), np.zeros(2), (np.ones(2),), prep=prep)[0].round(6)
    array([1., 1.])
    """
    return prepare_batched("pullback", "prepare_pullback", _derive, f, backend, x, ty, contexts,
                           of="y", y=y, strict=strict, one=_one)


def _one(s: Setup, head: bool) -> Any:
    return s.outer.pullback_one(s.fn, head)


def _derive(s: Setup) -> Any:
    return d.value_and_pullback(s.outer, s.fn, s.shapes)


def prepare_pullback_same_point(f: Callable[..., Any], backend: Any, x: Any, ty: tuple,
                                *contexts: Any, y: Any = None, strict: bool = True,
                                prep: Prep | None = None) -> Prep:
    """Prepare :func:`pullback` at this very ``x`` (and context values), for new tangents.

    Where the backend can, the reverse pass is recorded once (``jax.vjp``, a retained torch graph); a
    prepared call then only runs the backward pass.

    The contract is that of :func:`prepare_pushforward_same_point`: every call checks ``x`` and
    the contexts against private copies taken at preparation and raises at another point;
    ``prep=`` an earlier same-point prep reuses its compiled linearisation at a new point.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> x = np.array([0.0, 1.0])
    >>> prep = adopt.prepare_pullback_same_point(np.sin, adopt.AutoFiniteDiff(), x, (np.ones(2),))
    >>> adopt.pullback(np.sin, adopt.AutoFiniteDiff(), x, (np.array([2.0, 0.0]),), prep=prep)[0].round(6)
    array([2., 0.])
    """
    return prepare_same_point("pullback", "prepare_pullback_same_point", _at, _derive, f, backend, x, ty,
                              contexts, of="y", y=y, strict=strict, prep=prep, one=_one)


def _at(s: Setup) -> Any:
    return s.outer.pullback_at(s.fn)


def pullback(f: Callable[..., Any], backend: Any, x: Any, ty: tuple, *contexts: Any,
             prep: Prep | None = None, y: Any = None, out: Any = None) -> tuple:
    """Vector-Jacobian products ``tᵀ J(x)`` for each cotangent ``t`` in the tuple ``ty``.

    A tuple of ``k`` cotangents is one batched call. With ``y=`` the function is in place,
    ``f(y, x, *c)``, and ``y`` receives ``f(x)``. ``out`` is a tuple of buffers.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> adopt.pullback(lambda x: x[:1] * x[1:], adopt.AutoFiniteDiff(), np.array([2.0, 3.0]),
    ...                (np.ones(1),))[0].round(6)
    array([3., 2.])
    """
    return run_op(PULLBACK, f, backend, x, ty, contexts, prep, y, out)


def value_and_pullback(f: Callable[..., Any], backend: Any, x: Any, ty: tuple, *contexts: Any,
                       prep: Prep | None = None, y: Any = None, out: Any = None) -> tuple:
    """``(f(x), pullback)``; see :func:`pullback`.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> yv, (tx,) = adopt.value_and_pullback(np.sin, adopt.AutoFiniteDiff(), np.zeros(1), (np.ones(1),))
    >>> yv, tx.round(6)
    (array([0.]), array([1.]))
    """
    return run_op(VALUE_AND_PULLBACK, f, backend, x, ty, contexts, prep, y, out)


PULLBACK = Op("pullback", "pullback", prepare_pullback)
VALUE_AND_PULLBACK = Op("value_and_pullback", "pullback", prepare_pullback, value=True, head=1)
