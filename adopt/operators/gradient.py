"""gradient, value_and_gradient and their preparation."""

from __future__ import annotations

from typing import Any, Callable

from adopt._prep import Prep
from adopt.operators import _derive as d
from adopt.operators._common import Op, run_op, setup

__all__ = ["prepare_gradient", "gradient", "value_and_gradient"]


def prepare_gradient(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
                     strict: bool = True) -> Prep:
    """Prepare :func:`gradient` and :func:`value_and_gradient` of a scalar ``f`` at ``x``.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> f = lambda x: (x**2).sum()
    >>> prep = adopt.prepare_gradient(f, adopt.AutoFiniteDiff(), np.zeros(2))
    >>> adopt.gradient(f, adopt.AutoFiniteDiff(), np.array([1.0, 2.0]), prep=prep).round(6)
    array([2., 4.])
    """
    s = setup("gradient", "prepare_gradient", f, backend, x, contexts, strict=strict, scalar_y=True)
    vg = d.value_and_gradient(s.outer, s.fn, s.shapes)
    both = s.compile(s.core(vg, 0), s.x, *s.cvals)
    grad = s.compile(s.core(vg, 0, lambda r: r[1]), s.x, *s.cvals)
    return s.prep(s.runner(grad), s.runner(both))


def gradient(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
             prep: Prep | None = None, out: Any = None) -> Any:
    """The gradient of a scalar-valued ``f`` at ``x``, of ``x``'s shape.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> scalar``.
    backend : AbstractBackend
        ``AutoJAX()``, ``AutoTorch()``, ``AutoFiniteDiff()``.
    x : array or float
        The point; NumPy in gives NumPy out, jax.Array gives jax.Array, torch.Tensor gives torch.Tensor.
    *contexts : Constant or Cache
        Extra arguments of ``f``, not differentiated.
    prep : Prep, optional
        From :func:`prepare_gradient`; without it every call prepares anew.
    out : array, optional
        A buffer to write the gradient into (returned).

    Examples
    --------
    >>> import numpy as np, adopt
    >>> adopt.gradient(lambda x: (x**2).sum(), adopt.AutoFiniteDiff(), np.array([1.0, 2.0])).round(6)
    array([2., 4.])
    """
    return run_op(GRADIENT, f, backend, x, None, contexts, prep, None, out)


def value_and_gradient(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
                       prep: Prep | None = None, out: Any = None) -> tuple[Any, Any]:
    """``(f(x), gradient)``; with ``out=`` the gradient is written into ``out``.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> y, g = adopt.value_and_gradient(lambda x: (x**2).sum(), adopt.AutoFiniteDiff(), np.array([1.0, 2.0]))
    >>> float(y), g.round(6)
    (5.0, array([2., 4.]))
    """
    return run_op(VALUE_AND_GRADIENT, f, backend, x, None, contexts, prep, None, out)


GRADIENT = Op("gradient", "gradient", prepare_gradient)
VALUE_AND_GRADIENT = Op("value_and_gradient", "gradient", prepare_gradient, value=True, head=1)
