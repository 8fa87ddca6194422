"""hvp (Hessian-vector products), gradient_and_hvp and their preparation."""

from __future__ import annotations

from typing import Any, Callable

from adopt._prep import Prep
from adopt.backends.wrappers import SecondOrder
from adopt.operators import _derive as d
from adopt.operators._common import Op, Setup, run_op
from adopt.operators._tangents import prepare_batched, prepare_same_point

__all__ = ["prepare_hvp", "prepare_hvp_same_point", "hvp", "gradient_and_hvp", "hvp_function"]


def hvp_function(s: Setup) -> Any:
    """The native ``(x, T, *c) -> (g, HT)`` for the setup's backend.

    A plain backend uses its native product if it has one (forward-over-reverse on JAX, eager
    reverse-over-reverse on PyTorch) and is otherwise its own outer and inner backend; a
    :class:`SecondOrder` composes its two parts in their modes.
    """
    native = None if isinstance(s.parts.dense, SecondOrder) else s.outer.gradient_and_hvp(s.fn)
    if native is not None:
        return native
    return d.gradient_and_hvp(s.outer, s.parts.inner, s.parts.fn_inner, s.shapes, s.parts.shapes_inner, s.parts.modes, s.bridge)


def value_hvp_function(s: Setup) -> Any:
    """The native ``(x, T, *c) -> (y, g, HT)``: one linearisation where the backend has it."""
    native = None if isinstance(s.parts.dense, SecondOrder) else s.outer.value_gradient_and_hvp(s.fn)
    if native is not None:
        return native
    ghv, fn = hvp_function(s), s.fn

    def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any, Any]:
        return (fn(x, *c), *ghv(x, T, *c))

    return h


def prepare_hvp(f: Callable[..., Any], backend: Any, x: Any, tx: tuple, *contexts: Any,
                strict: bool = True) -> Prep:
    """Prepare :func:`hvp` and :func:`gradient_and_hvp` for a batch of ``len(tx)`` tangents.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> f = lambda x: (x**3).sum()
    >>> prep = adopt.prepare_hvp(f, adopt.AutoFiniteDiff(), np.ones(2), (np.ones(2),))
    >>> adopt.hvp(f, adopt.AutoFiniteDiff(), np.array([1.0, 2.0]), (np.ones(2),), prep=prep)[0].round(4)
    array([ 6., 12.])
    """
    return prepare_batched("hvp", "prepare_hvp", hvp_function, f, backend, x, tx, contexts,
                           of="x", strict=strict, second_order=True, one=_one)


def _one(s: Setup, head: bool) -> Any:
    """The backend's own single-tangent product (a plain backend only), or None."""
    return None if isinstance(s.parts.dense, SecondOrder) else s.outer.hvp_one(s.fn, head)


def prepare_hvp_same_point(f: Callable[..., Any], backend: Any, x: Any, tx: tuple, *contexts: Any,
                           strict: bool = True,
                           prep: Prep | None = None) -> Prep:
    """Prepare :func:`hvp` at this very ``x`` (and context values), for new tangents.

    Where the backend can, the gradient is linearised (JAX) or its graph kept (PyTorch) once; a prepared
    call then does only the second-order pass.

    The contract is that of :func:`prepare_pushforward_same_point`: every call checks ``x`` and
    the contexts against private copies taken at preparation and raises at another point;
    ``prep=`` an earlier same-point prep reuses its compiled linearisation at a new point.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> f = lambda x: (x**3).sum()
    >>> x = np.array([1.0, 2.0])
    >>> prep = adopt.prepare_hvp_same_point(f, adopt.AutoFiniteDiff(), x, (np.ones(2),))
    >>> adopt.hvp(f, adopt.AutoFiniteDiff(), x, (np.array([1.0, 0.0]),), prep=prep)[0].round(4)
    array([6., 0.])
    """
    return prepare_same_point("hvp", "prepare_hvp_same_point", _at, hvp_function, f, backend, x, tx,
                              contexts, of="x", strict=strict, second_order=True, prep=prep, one=_one)


def _at(s: Setup) -> Any:
    return s.outer.hvp_at(s.fn)


def hvp(f: Callable[..., Any], backend: Any, x: Any, tx: tuple, *contexts: Any,
        prep: Prep | None = None, out: Any = None) -> tuple:
    """Hessian-vector products ``∇²f(x) @ t`` of a scalar ``f`` for each ``t`` in ``tx``.

    ``backend`` may be a plain backend (it picks its best combination) or a
    :class:`SecondOrder`. A tuple of ``k`` tangents is one batched call.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> adopt.hvp(lambda x: (x**3).sum(), adopt.AutoFiniteDiff(), np.array([1.0, 2.0]),
    ...           (np.array([1.0, 1.0]),))[0].round(4)
    array([ 6., 12.])
    """
    return run_op(HVP, f, backend, x, tx, contexts, prep, None, out)


def gradient_and_hvp(f: Callable[..., Any], backend: Any, x: Any, tx: tuple, *contexts: Any,
                     prep: Prep | None = None, out: Any = None) -> tuple[Any, tuple]:
    """``(gradient, hvp)``; with ``out=(g_buffer, (hv_buffers...))`` both are written.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> g, (hv,) = adopt.gradient_and_hvp(lambda x: (x**3).sum(), adopt.AutoFiniteDiff(),
    ...                                   np.array([1.0]), (np.array([1.0]),))
    >>> g.round(6), hv.round(4)
    (array([3.]), array([6.]))
    """
    return run_op(GRADIENT_AND_HVP, f, backend, x, tx, contexts, prep, None, out)


HVP = Op("hvp", "hvp", prepare_hvp)
GRADIENT_AND_HVP = Op("gradient_and_hvp", "hvp", prepare_hvp, value=True)
