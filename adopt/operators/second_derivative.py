"""second_derivative, value_derivative_and_second_derivative and their preparation."""

from __future__ import annotations

from typing import Any, Callable

from adopt._prep import Prep
from adopt.backends.wrappers import SecondOrder
from adopt.operators import _derive as d
from adopt.operators._common import Op, run_op, setup

__all__ = ["prepare_second_derivative", "second_derivative", "value_derivative_and_second_derivative"]


def prepare_second_derivative(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
                              strict: bool = True) -> Prep:
    """Prepare :func:`second_derivative` at a scalar ``x``: the outer pushforward of the inner one.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> prep = adopt.prepare_second_derivative(np.sin, adopt.AutoFiniteDiff(), 0.0)
    >>> round(float(adopt.second_derivative(np.sin, adopt.AutoFiniteDiff(), np.pi / 2, prep=prep)), 4)
    -1.0
    """
    s = setup("second_derivative", "prepare_second_derivative", f, backend, x, contexts,
              strict=strict, second_order=True, scalar_x=True)
    dd = d.derivative_and_second(s.outer, s.parts.inner, s.parts.fn_inner, s.shapes, s.parts.shapes_inner, s.bridge)
    native = None if isinstance(s.parts.dense, SecondOrder) else s.outer.derivative_and_second(s.fn, dd)
    h = native if native is not None else _with_value(s.fn, dd)

    both = s.compile(s.core(h, 0), s.x, *s.cvals)
    only = s.compile(s.core(h, 0, lambda r: r[2]), s.x, *s.cvals)
    return s.prep(s.runner(only), s.runner(both))


def _with_value(fn: Any, dd: Any) -> Any:
    return lambda x, *c: (fn(x, *c), *dd(x, *c))


def second_derivative(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
                      prep: Prep | None = None, out: Any = None) -> Any:
    """The second derivative ``f''(x)`` at a scalar ``x``, of ``f(x)``'s shape.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> round(float(adopt.second_derivative(lambda t: t**3, adopt.AutoFiniteDiff(), 2.0)), 4)
    12.0
    """
    return run_op(SECOND_DERIVATIVE, f, backend, x, None, contexts, prep, None, out)


def value_derivative_and_second_derivative(f: Callable[..., Any], backend: Any, x: Any,
                                           *contexts: Any, prep: Prep | None = None,
                                           out: Any = None) -> tuple[Any, Any, Any]:
    """``(f(x), f'(x), f''(x))``; with ``out=(d_buffer, dd_buffer)`` both derivatives are written.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> v, dv, ddv = adopt.value_derivative_and_second_derivative(lambda t: t**3, adopt.AutoFiniteDiff(), 2.0)
    >>> float(v), round(float(dv), 6), round(float(ddv), 4)
    (8.0, 12.0, 12.0)
    """
    return run_op(VALUE_DERIVATIVE_AND_SECOND_DERIVATIVE, f, backend, x, None, contexts, prep, None, out)


SECOND_DERIVATIVE = Op("second_derivative", "second_derivative", prepare_second_derivative)
VALUE_DERIVATIVE_AND_SECOND_DERIVATIVE = Op("value_derivative_and_second_derivative", "second_derivative", prepare_second_derivative, value=True, head=1)
