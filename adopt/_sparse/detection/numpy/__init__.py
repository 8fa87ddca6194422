"""Global Jacobian / Hessian sparsity detection for NumPy and array-API functions.

``f`` is called once on a :class:`~.tracer.NumpyTracer`, an array stand-in that carries no
values, only dependency rows (:mod:`adopt._sparse.detection.algebra`). Every NumPy call maps
them with a few vectorised sparse operations, independent of Python loops over elements:

- :mod:`.tracer`: the tracer, its buffers (views share them), indexing and assignment, and the
  structural functions (NumPy's own function on arrays of slot numbers);
- :mod:`.ufuncs`: ufuncs by kind (:mod:`adopt._sparse.detection.kinds`) and their methods;
- :mod:`.movement`: data movement, selections, buffers made from ``x``, in-place writers;
- :mod:`.reductions`: reductions, cumulative reductions, sorting, differences;
- :mod:`.linalg`: products (einsum), SciPy sparse matrices, norms, convolutions;
- :mod:`.namespace`: the array-API namespace; :mod:`.dispatch`: ``__array_function__`` and
  the conservative fallback; :mod:`.registry`: the rule tables.

Operations without a rule either run NumPy's own Python implementation on tracers, or fall
back to "every output depends on every input" with a ``ConservativeSparsityWarning``. Control
flow on values raises ``SparsityDetectionError``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from adopt._contexts import Cache
from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.diagnostics import SparsityDetectionError
from adopt._sparse.detection.numpy import linalg, movement, reductions, ufuncs  # noqa: F401 - rules
from adopt._sparse.detection.numpy.tracer import NumpyTracer, Store, constant, lift

__all__ = ["NumpyTracer", "run", "trace"]


def run(f: Callable, x: Any, contexts: Sequence[Any], hessian: bool) -> tuple[A.Trace, NumpyTracer, Any]:
    """Call ``f`` once on a tracer of ``x``: (the trace, the tracer of ``x``, ``f``'s output).

    Also the way to learn ``f``'s output shape without evaluating it.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.detection.numpy import run
    >>> _, _, y = run(lambda x: np.outer(x, x[:2]), np.ones(3), (), hessian=False)
    >>> np.shape(y)
    (3, 2)
    """
    x = np.asarray(x)
    n = x.size
    tr = A.Trace(n, hessian)
    idx = np.empty_like(x, dtype=np.intp)
    idx[...] = np.arange(1, n + 1, dtype=np.intp).reshape(x.shape)
    dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else np.float64
    store = Store(sp.eye_array(n, dtype=bool, format="csr"),
                  certain=x.flags.c_contiguous or x.flags.f_contiguous)
    xt = NumpyTracer(tr, store, idx, dtype)
    values = []
    for c in contexts:
        v = c.value
        if isinstance(c, Cache) and isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.inexact):
            v = constant(tr, v.shape, v.dtype, like=v)
        values.append(v)
    with np.errstate(all="ignore"):
        y = f(xt, *values)
    return tr, xt, y


def trace(f: Callable, x: Any, contexts: Sequence[Any], hessian: bool) -> tuple[A.Trace, Any]:
    """Call ``f`` once on a tracer: (the trace, the dependency rows of ``f``'s output).

    ``trace.pattern(rows)`` is the detected pattern: the Jacobian's, or with ``hessian=True``
    (a scalar ``f``) the Hessian's.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.detection.numpy import trace
    >>> tr, rows = trace(np.cumsum, np.ones(3), (), hessian=False)
    >>> tr.pattern(rows).toarray().astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    """
    tr, _, y = run(f, x, contexts, hessian)
    return tr, _output_rows(tr, y)


def _output_rows(tr: A.Trace, y: Any) -> sp.csr_array:
    y = lift(tr, y)
    if isinstance(y, NumpyTracer):
        return y._rows()
    if isinstance(y, (list, tuple)) or (isinstance(y, np.ndarray) and y.dtype == object):
        raise SparsityDetectionError(
            f"f returned {type(y).__name__}; return one array (np.stack / np.concatenate the parts)"
        )
    return A.empty(int(np.size(y)), tr.n)

