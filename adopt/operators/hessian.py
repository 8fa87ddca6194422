"""hessian, value_gradient_and_hessian and their preparation."""

from __future__ import annotations

from typing import Any, Callable

from adopt._limits import check_dense_size
from adopt._prep import Prep
from adopt.backends.wrappers import SecondOrder
from adopt.operators._common import Op, Setup, run_op, setup, wrapped
from adopt.operators import _derive as d
from adopt.operators._derive import basis
from adopt.operators.hvp import value_hvp_function

__all__ = ["prepare_hessian", "hessian", "value_gradient_and_hessian"]


def prepare_hessian(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
                    strict: bool = True) -> Prep:
    """Prepare :func:`hessian`: one batched Hessian-vector product over the basis of ``x``.

    With an :class:`AutoSparse` backend: one batched product per color of a star (or acyclic)
    coloring of the detected Hessian pattern, and a sparse result.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> f = lambda x: x[0] * x[1]
    >>> prep = adopt.prepare_hessian(f, adopt.AutoFiniteDiff(), np.ones(2))
    >>> adopt.hessian(f, adopt.AutoFiniteDiff(), np.ones(2), prep=prep).round(4)
    array([[0., 1.],
           [1., 0.]])
    """
    special = wrapped("hessian", backend)  # AutoSparse: adopt._autosparse
    if special is not None:
        return special(f, backend, x, contexts, None, strict)
    s = setup("hessian", "prepare_hessian", f, backend, x, contexts, strict=strict,
              second_order=True, scalar_y=True)
    n = s.shapes.n
    copies = 1 if _by_columns(s) else 2  # the result, and a basis of n tangents
    check_dense_size(s.where, "Hessian", (n, n), s.itemsize * copies * n * n)
    h = hessian_function(s)

    both = s.compile(s.core(h, 0), s.x, *s.cvals)
    only = s.compile(s.core(h, 0, lambda r: r[2]), s.x, *s.cvals)
    return s.prep(s.runner(only), s.runner(both))


def hessian_function(s: Setup) -> Any:
    """The native ``(x, *c) -> (y, g, H)``: the backend's own Hessian if it has one (JAX's
    forward-over-reverse ``jacfwd(grad)``), else one batched HVP over the unit tangents."""
    native = None if isinstance(s.parts.dense, SecondOrder) else s.outer.value_gradient_and_hessian(s.fn)
    if native is not None:
        return native
    if _by_columns(s):  # finite differences outside: column by column
        return d.hessian_by_columns(s.outer, s.parts.inner, s.fn, s.parts.fn_inner, s.parts.shapes_inner, s.bridge)
    vghv = value_hvp_function(s)
    n = s.shapes.n
    unit = basis(s.outer, n, s.shapes.x_shape, s.x)

    def h(x: Any, *c: Any) -> tuple[Any, Any, Any]:
        y, g, HT = vghv(x, unit(), *c)
        return y, g, HT if HT.shape == (n, n) else HT.reshape(n, n)  # no view op if 1-D x

    return h


def _by_columns(s: Setup) -> bool:
    """Whether the outer backend forms Jacobians column by column (finite differences)."""
    return s.outer.value_and_jacobian(s.fn) is not None


def hessian(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any, prep: Prep | None = None,
            out: Any = None) -> Any:
    """The Hessian of a scalar ``f`` at ``x`` as an ``(x.size, x.size)`` matrix.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> adopt.hessian(lambda x: (x**3).sum(), adopt.AutoFiniteDiff(), np.array([1.0, 2.0])).round(4)
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return run_op(HESSIAN, f, backend, x, None, contexts, prep, None, out)


def value_gradient_and_hessian(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
                               prep: Prep | None = None, out: Any = None) -> tuple[Any, Any, Any]:
    """``(f(x), gradient, hessian)``; with ``out=(g_buffer, H_buffer)`` both are written.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> v, g, H = adopt.value_gradient_and_hessian(lambda x: (x**2).sum(), adopt.AutoFiniteDiff(), np.ones(1))
    >>> float(v), g.round(6), H.round(4)
    (1.0, array([2.]), array([[2.]]))
    """
    return run_op(VALUE_GRADIENT_AND_HESSIAN, f, backend, x, None, contexts, prep, None, out)


HESSIAN = Op("hessian", "hessian", prepare_hessian)
VALUE_GRADIENT_AND_HESSIAN = Op("value_gradient_and_hessian", "hessian", prepare_hessian, value=True, head=1)
