"""Global Jacobian / Hessian sparsity detection for PyTorch functions.

``f`` is traced once with ``make_fx`` on fake tensors (no values), through ``functionalize``
(in-place writes and views become functional ``*_scatter`` / ``*_copy`` operators) and the Core
ATen decompositions. The resulting graph uses a closed set of about 180 ATen operators, which
:mod:`.interpreter` interprets with one rule per operator on the dependency algebra:

- :mod:`.elementwise`: point-wise operators by kind (:mod:`adopt._sparse.detection.kinds`);
- :mod:`.movement`: views, slicing, ``index``, ``gather``, ``cat``, ``*_scatter``, padding, run
  on tensors of element numbers (exact selections), and the scatter / ``index_put`` family;
- :mod:`.reductions`: reductions, scans, sorting, softmax, norms and matrix products.

Compared with a ``__torch_function__`` tensor subclass this covers every spelling of an
operation (methods, in-place operators, ``torch.nn.functional``, views written through) with
one rule per ATen operator, and fake tensors make control flow on the values of ``x`` fail
loudly instead of silently following one branch.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from adopt._contexts import Cache
from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.diagnostics import CONTROL_FLOW, SparsityDetectionError
from adopt._sparse.detection.torch import elementwise, movement, reductions  # noqa: F401 - rules
from adopt._sparse.detection.torch.interpreter import Interpreter
from adopt._sparse.detection.values import TracedValue

__all__ = ["trace"]

_DATA_DEPENDENT = ("GuardOnDataDependentSymNode", "DataDependentOutputException",
                   "DynamicOutputShapeException", "UserError")


@functools.cache
def _decompositions() -> dict:
    """The Core ATen decomposition table, materialised once (it costs ~0.1 s to build)."""
    from torch._decomp import core_aten_decompositions

    return dict(core_aten_decompositions())


def _as_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    return torch.as_tensor(np.asarray(x))


def _graph(f: Callable, x: torch.Tensor, contexts: Sequence[Any], caches: list) -> Any:
    """``f`` traced into an FX graph of Core ATen operators (caches are its extra inputs)."""
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.func import functionalize

    def g(x, *cache_values):
        it = iter(cache_values)
        return f(x, *[next(it) if isinstance(c, Cache) else c.value for c in contexts])

    try:
        return make_fx(functionalize(g, remove="mutations_and_views"),
                       decomposition_table=_decompositions(), tracing_mode="fake",
                       _allow_non_fake_inputs=True)(x, *caches)
    except Exception as e:  # noqa: BLE001 - translate data-dependent tracing failures
        if type(e).__name__ in _DATA_DEPENDENT or "data-dependent" in str(e).lower():
            raise SparsityDetectionError(CONTROL_FLOW.format(
                what=f"torch raised {type(e).__name__}: {str(e).splitlines()[0]}")) from e
        raise


def trace(f: Callable, x: Any, contexts: Sequence[Any], hessian: bool) -> tuple[A.Trace, Any]:
    """Interpret ``f``'s ATen graph once: (the trace, the dependency rows of ``f``'s output).

    ``trace.pattern(rows)`` is the detected pattern: the Jacobian's, or with ``hessian=True``
    (a scalar ``f``) the Hessian's.

    Examples
    --------
    >>> import torch
    >>> from adopt._sparse.detection.torch import trace
    >>> tr, rows = trace(lambda x: torch.roll(x, 1) * x, torch.ones(3, dtype=torch.float64), (),
    ...                  hessian=False)
    >>> tr.pattern(rows).toarray().astype(int)
    array([[1, 0, 1],
           [1, 1, 0],
           [0, 1, 1]])
    """
    x = _as_tensor(x)
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = x.to(torch.get_default_dtype())
    caches = [_as_tensor(c.value).clone() for c in contexts if isinstance(c, Cache)]
    gm = _graph(f, x, contexts, caches)
    n = x.numel()
    tr = A.Trace(n, hessian)
    it = Interpreter(gm, tr)
    inputs = [it.tt(x, sp.eye_array(n, dtype=bool, format="csr"))] + [it.tt(c) for c in caches]
    with torch.no_grad():
        y = it.run(inputs)
    return tr, _output_rows(y, n)


def _output_rows(y: Any, n: int) -> sp.csr_array:
    if isinstance(y, TracedValue):
        return y.D
    if isinstance(y, torch.Tensor):
        return A.empty(y.numel(), n)
    if isinstance(y, (int, float, bool, complex)):
        return A.empty(1, n)
    raise SparsityDetectionError(
        f"f returned {type(y).__name__}; return one tensor (torch.cat / torch.stack the parts)"
    )

