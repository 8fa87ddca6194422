"""derivative, value_and_derivative (scalar x) and their preparation."""

from __future__ import annotations

from typing import Any, Callable

from adopt._prep import Prep
from adopt.operators import _derive as d
from adopt.operators._common import Op, run_op, setup

__all__ = ["prepare_derivative", "derivative", "value_and_derivative"]


def prepare_derivative(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
                       y: Any = None, strict: bool = True) -> Prep:
    """Prepare :func:`derivative` of ``f`` at a scalar ``x`` (a Python float or a 0-d array).

    Examples
    --------
    >>> import numpy as np, adopt
    >>> prep = adopt.prepare_derivative(np.sin, adopt.AutoFiniteDiff(), 0.0)
    >>> round(float(adopt.derivative(np.sin, adopt.AutoFiniteDiff(), 1.0, prep=prep)), 8)
    0.54030231
    """
    s = setup("derivative", "prepare_derivative", f, backend, x, contexts, y=y, strict=strict,
              scalar_x=True)
    h = d.value_and_derivative(s.outer, s.fn, s.shapes)
    both = s.compile(s.core(h, 0), s.x, *s.cvals)
    only = s.compile(s.core(h, 0, lambda r: r[1]), s.x, *s.cvals)
    return s.prep(s.runner(only), s.runner(both))


def derivative(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
               prep: Prep | None = None, y: Any = None, out: Any = None) -> Any:
    """The derivative ``f'(x)`` at a scalar ``x``, of ``f(x)``'s shape.

    Python floats count as NumPy float64 scalars. With ``y=`` the function is in place,
    ``f(y, x, *c)``, and ``y`` receives ``f(x)``.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> adopt.derivative(lambda t: np.array([t, t**2]), adopt.AutoFiniteDiff(), 3.0).round(6)
    array([1., 6.])
    """
    return run_op(DERIVATIVE, f, backend, x, None, contexts, prep, y, out)


def value_and_derivative(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
                         prep: Prep | None = None, y: Any = None, out: Any = None) -> tuple[Any, Any]:
    """``(f(x), f'(x))``; see :func:`derivative`.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> v, dv = adopt.value_and_derivative(np.exp, adopt.AutoFiniteDiff(method="complex"), 0.0)
    >>> float(v), float(dv)
    (1.0, 1.0)
    """
    return run_op(VALUE_AND_DERIVATIVE, f, backend, x, None, contexts, prep, y, out)


DERIVATIVE = Op("derivative", "derivative", prepare_derivative)
VALUE_AND_DERIVATIVE = Op("value_and_derivative", "derivative", prepare_derivative, value=True, head=1)
