"""Global Jacobian / Hessian sparsity detection for JAX functions, by interpreting the jaxpr.

``f`` is traced once with ``jax.make_jaxpr`` (the contexts closed over, so they are constants
of the jaxpr) and its equations are interpreted (:mod:`.interpreter`) with per-primitive rules
on the dependency algebra:

- :mod:`.elementwise`: point-wise primitives by kind (:mod:`adopt._sparse.detection.kinds`);
- :mod:`.movement`: reshape, broadcast, slicing, concatenate, pad, select_n, dynamic slices,
  gather and scatter, applied to arrays of element numbers (exact sources);
- :mod:`.reductions`: reductions, cumulative reductions, sort and top_k;
- :mod:`.contractions`: ``dot_general`` (an einsum), convolutions, windowed reductions;
- :mod:`.control_flow`: calls, ``cond``, ``scan`` and ``while`` (unrolled, then fixed points);
- :mod:`.known`: NumPy evaluation of the values that do not depend on ``x``.

Patterns never miss a nonzero: an index computed from ``x`` selects every element, with a
warning; Python control flow on ``x`` raises ``SparsityDetectionError``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax
import numpy as np
import scipy.sparse as sp

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.diagnostics import CONTROL_FLOW, SparsityDetectionError
from adopt._sparse.detection.jax import contractions, control_flow, elementwise, movement, reductions  # noqa: F401 - rules
from adopt._sparse.detection.jax.interpreter import Interpreter
from adopt._sparse.detection.values import TracedValue

__all__ = ["trace"]


def _as_array(x: Any) -> Any:
    if not isinstance(x, (np.ndarray, jax.Array)):
        x = np.asarray(x)
    if not jax.dtypes.issubdtype(x.dtype, np.inexact):
        x = jax.numpy.asarray(x, dtype=jax.numpy.result_type(float))
    return x


def _make_jaxpr(f: Callable, x: Any, contexts: Sequence[Any]) -> tuple[Any, Any]:
    values = [c.value for c in contexts]
    spec = jax.ShapeDtypeStruct(tuple(x.shape), jax.dtypes.canonicalize_dtype(x.dtype))
    try:
        return jax.make_jaxpr(lambda v: f(v, *values), return_shape=True)(spec)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError,
            jax.errors.TracerArrayConversionError, jax.errors.NonConcreteBooleanIndexError) as e:
        raise SparsityDetectionError(
            CONTROL_FLOW.format(what=f"jax raised {type(e).__name__}")
        ) from e


def trace(f: Callable, x: Any, contexts: Sequence[Any], hessian: bool) -> tuple[A.Trace, Any]:
    """Interpret ``f``'s jaxpr once: (the trace, the dependency rows of ``f``'s output).

    ``trace.pattern(rows)`` is the detected pattern: the Jacobian's, or with ``hessian=True``
    (a scalar ``f``) the Hessian's.

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from adopt._sparse.detection.jax import trace
    >>> tr, rows = trace(lambda x: jnp.sum(x[1:] * x[:-1]), np.ones(4), (), hessian=True)
    >>> rows.shape, tr.pattern(rows).nnz  # a scalar; the two off-diagonals
    ((1, 4), 6)
    """
    x = _as_array(x)
    closed, out_shape = _make_jaxpr(f, x, contexts)
    leaves = jax.tree_util.tree_leaves(out_shape)
    if len(leaves) != 1:
        raise SparsityDetectionError(
            f"f returned {len(leaves)} arrays; return one array (jnp.concatenate the parts)"
        )
    n = math.prod(x.shape)
    tr = A.Trace(n, hessian)
    it = Interpreter(tr)
    xin = it.tv(tuple(x.shape), x.dtype, sp.eye_array(n, dtype=bool, format="csr"))
    with jax.ensure_compile_time_eval():
        (y,) = it.run(closed.jaxpr, closed.consts, [xin])
    it.emit()
    rows = y.D if isinstance(y, TracedValue) else A.empty(math.prod(np.shape(y)), n)
    return tr, rows

