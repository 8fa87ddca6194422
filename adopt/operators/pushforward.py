"""pushforward (JVP), value_and_pushforward and their preparation."""

from __future__ import annotations

from typing import Any, Callable

from adopt._prep import Prep
from adopt.operators import _derive as d
from adopt.operators._common import Op, Setup, run_op
from adopt.operators._tangents import prepare_batched, prepare_same_point

__all__ = ["prepare_pushforward", "prepare_pushforward_same_point", "pushforward",
           "value_and_pushforward"]


def prepare_pushforward(f: Callable[..., Any], backend: Any, x: Any, tx: tuple, *contexts: Any,
                        y: Any = None, strict: bool = True) -> Prep:
    """Prepare :func:`pushforward` for a batch of ``len(tx)`` tangents of ``x``'s shape.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> prep = adopt.prepare_pushforward(np.sin, adopt.AutoFiniteDiff(), np.zeros(2), (np.ones(2),))
    >>> adopt.pushforward(np.sin, adopt.AutoFiniteDiff(), np.zeros(2), (np.ones(2),), prep=prep)[0].round(6)
    array([1., 1.])
    """
    return prepare_batched("pushforward", "prepare_pushforward", _derive, f, backend, x, tx,
                           contexts, of="x", y=y, strict=strict, one=_one)


def _one(s: Setup, head: bool) -> Any:
    return s.outer.pushforward_one(s.fn, head)


def _derive(s: Setup) -> Any:
    return d.value_and_pushforward(s.outer, s.fn, s.shapes)


def prepare_pushforward_same_point(f: Callable[..., Any], backend: Any, x: Any, tx: tuple,
                                   *contexts: Any, y: Any = None, strict: bool = True,
                                   prep: Prep | None = None) -> Prep:
    """Prepare :func:`pushforward` at this very ``x`` (and context values), for new tangents.

    Linearises ``f`` at ``x`` once where the backend can (``jax.linearize`` on AutoJAX); a
    prepared call then only applies the linear map. Elsewhere (PyTorch, finite differences,
    in-place functions) the prep is the generic one.

    The contract: the prep answers at the values of ``x`` and of the contexts it was made with.
    Every call compares them with private copies taken at preparation (an ``x`` changed in
    place counts as a new point) and raises :class:`~adopt.PreparationMismatchError` at
    another point; it never returns derivatives of a stale point. For the next point, pass
    the old prep as ``prep=``: its compiled linearisation is reused, so the new point costs one
    linearisation (about one evaluation of ``f``) and no tracing or compilation.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> x = np.array([0.0, 1.0])
    >>> prep = adopt.prepare_pushforward_same_point(np.sin, adopt.AutoFiniteDiff(), x, (np.ones(2),))
    >>> adopt.pushforward(np.sin, adopt.AutoFiniteDiff(), x, (np.array([2.0, 0.0]),), prep=prep)[0].round(6)
    array([2., 0.])
    >>> x2 = np.array([1.0, 2.0])
    >>> prep = adopt.prepare_pushforward_same_point(np.sin, adopt.AutoFiniteDiff(), x2, (np.ones(2),), prep=prep)
    """
    return prepare_same_point("pushforward", "prepare_pushforward_same_point", _at, _derive, f, backend, x, tx,
                              contexts, of="x", y=y, strict=strict, prep=prep, one=_one)


def _at(s: Setup) -> Any:
    return s.outer.pushforward_at(s.fn)


def pushforward(f: Callable[..., Any], backend: Any, x: Any, tx: tuple, *contexts: Any,
                prep: Prep | None = None, y: Any = None, out: Any = None) -> tuple:
    """Jacobian-vector products ``J(x) @ t`` for each tangent ``t`` in the tuple ``tx``.

    A tuple of ``k`` tangents is one batched call (``vmap`` on JAX and PyTorch, one vectorised
    perturbation on finite differences). With ``y=`` the function is in place, ``f(y, x, *c)``,
    and ``y`` receives ``f(x)``. ``out`` is a tuple of buffers.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> adopt.pushforward(lambda x: x**2, adopt.AutoFiniteDiff(), np.array([1.0, 2.0]),
    ...                   (np.array([1.0, 0.0]), np.array([0.0, 1.0])))[1].round(6)
    array([0., 4.])
    """
    return run_op(PUSHFORWARD, f, backend, x, tx, contexts, prep, y, out)


def value_and_pushforward(f: Callable[..., Any], backend: Any, x: Any, tx: tuple, *contexts: Any,
                          prep: Prep | None = None, y: Any = None, out: Any = None) -> tuple:
    """``(f(x), pushforward)``; see :func:`pushforward`.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> y, (ty,) = adopt.value_and_pushforward(np.sin, adopt.AutoFiniteDiff(), np.zeros(1), (np.ones(1),))
    >>> y, ty.round(6)
    (array([0.]), array([1.]))
    """
    return run_op(VALUE_AND_PUSHFORWARD, f, backend, x, tx, contexts, prep, y, out)


PUSHFORWARD = Op("pushforward", "pushforward", prepare_pushforward)
VALUE_AND_PUSHFORWARD = Op("value_and_pushforward", "pushforward", prepare_pushforward, value=True, head=1)
