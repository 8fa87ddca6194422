"""jacobian, value_and_jacobian and their preparation."""

from __future__ import annotations

from typing import Any, Callable

from adopt._limits import check_dense_size
from adopt._prep import Prep
from adopt.operators import _derive as d
from adopt.operators._common import Op, run_op, setup, wrapped

__all__ = ["prepare_jacobian", "jacobian", "value_and_jacobian"]


def prepare_jacobian(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any, y: Any = None,
                     strict: bool = True) -> Prep:
    """Prepare :func:`jacobian`: the mode (forward if ``f(x).size >= x.size``, unless the backend
    says otherwise), the basis of tangents and the compiled batched product are fixed here.

    With an :class:`AutoSparse` backend, preparation also detects the sparsity pattern, colors
    it and precomputes the decompression; the Jacobian is then returned in a sparse format.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> prep = adopt.prepare_jacobian(np.sin, adopt.AutoFiniteDiff(), np.zeros(2))
    >>> adopt.jacobian(np.sin, adopt.AutoFiniteDiff(), np.zeros(2), prep=prep).round(6)
    array([[1., 0.],
           [0., 1.]])
    """
    special = wrapped("jacobian", backend)  # AutoSparse: adopt._autosparse
    if special is not None:
        return special(f, backend, x, contexts, y, strict)
    s = setup("jacobian", "prepare_jacobian", f, backend, x, contexts, y=y, strict=strict)
    m, n = s.shapes.m, s.shapes.n
    k = n if d.jacobian_mode(s.outer, s.shapes) == "forward" else m
    basis = 0 if s.outer.value_and_jacobian(s.fn) is not None else k * k  # a batch of tangents
    check_dense_size(s.where, "Jacobian", (m, n), s.itemsize * (m * n + basis))
    vj = d.value_and_jacobian(s.outer, s.fn, s.shapes)
    both = s.compile(s.core(vj, 0), s.x, *s.cvals)
    only = s.compile(s.core(vj, 0, lambda r: r[1]), s.x, *s.cvals)
    return s.prep(s.runner(only), s.runner(both), mode=d.jacobian_mode(s.outer, s.shapes))


def jacobian(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any, prep: Prep | None = None,
             y: Any = None, out: Any = None) -> Any:
    """The Jacobian of ``f`` at ``x`` as a ``(f(x).size, x.size)`` matrix (C order flattening).

    Examples
    --------
    >>> import numpy as np, adopt
    >>> adopt.jacobian(lambda x: x[:1] * x[1:], adopt.AutoFiniteDiff(), np.array([2.0, 3.0])).round(6)
    array([[3., 2.]])
    """
    return run_op(JACOBIAN, f, backend, x, None, contexts, prep, y, out)


def value_and_jacobian(f: Callable[..., Any], backend: Any, x: Any, *contexts: Any,
                       prep: Prep | None = None, y: Any = None, out: Any = None) -> tuple[Any, Any]:
    """``(f(x), jacobian)``; see :func:`jacobian`.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> v, J = adopt.value_and_jacobian(np.sin, adopt.AutoFiniteDiff(), np.zeros(1))
    >>> v, J.round(6)
    (array([0.]), array([[1.]]))
    """
    return run_op(VALUE_AND_JACOBIAN, f, backend, x, None, contexts, prep, y, out)


JACOBIAN = Op("jacobian", "jacobian", prepare_jacobian)
VALUE_AND_JACOBIAN = Op("value_and_jacobian", "jacobian", prepare_jacobian, value=True, head=1)
