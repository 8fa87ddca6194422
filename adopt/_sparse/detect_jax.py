"""Global Jacobian / Hessian sparsity detection for JAX functions, with asdex.

asdex (``asdex.jacobian_sparsity`` / ``asdex.hessian_sparsity``) interprets the jaxpr of ``f``
with per-primitive dependency rules and returns an ``asdex.SparsityPattern`` (COO rows/cols over
the flattened output and input, C order); we convert it to a boolean ``scipy.sparse.csr_array``.
Contexts are closed over, so asdex sees them as constants (exact
gathers with constant indices, exploited zeros) and never differentiates them.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from adopt._sparse.detect_numpy import _CONTROL_FLOW, _FIX
from adopt._sparse.detectors import canonical_pattern
from adopt._sparse.detectors import SparsityDetectionError

__all__ = ["jacobian_sparsity", "hessian_sparsity"]


def _bind(f: Callable, contexts: Sequence[Any]) -> Callable:
    """``f`` with the context values closed over (constants of the jaxpr)."""
    values = [c.value for c in contexts]
    return lambda x: f(x, *values)


def _to_csr(pattern: Any) -> sp.csr_array:
    m, n = pattern.shape
    rows = np.asarray(pattern.rows, dtype=np.int64)
    cols = np.asarray(pattern.cols, dtype=np.int64)
    P = sp.csr_array((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(m, n))
    return canonical_pattern(P)


def _detect(method: str, f: Callable, x: Any, contexts: Sequence[Any]) -> sp.csr_array:
    import asdex
    import jax

    g = _bind(f, contexts)
    try:
        pattern = getattr(asdex, method)(g, x)
    except jax.errors.ConcretizationTypeError as e:
        raise SparsityDetectionError(
            _CONTROL_FLOW.format(what=f"jax raised {type(e).__name__}")
        ) from e
    except NotImplementedError as e:
        if "No handler for primitive" not in str(e):
            raise
        raise SparsityDetectionError(
            f"asdex (JAX global sparsity detection) has no rule for a primitive of f: {e}; "
            + _FIX
        ) from e
    return _to_csr(pattern)


def _as_jax(x: Any) -> Any:
    import jax.numpy as jnp

    return x if hasattr(x, "aval") or type(x).__module__.startswith("jax") else jnp.asarray(x)


def jacobian_sparsity(f: Callable, x: Any, contexts: Sequence[Any] = ()) -> sp.csr_array:
    """Boolean CSR pattern (y.size, x.size) of the Jacobian, valid at every ``x`` (asdex)."""
    return _detect("jacobian_sparsity", f, _as_jax(x), contexts)


def hessian_sparsity(f: Callable, x: Any, contexts: Sequence[Any] = ()) -> sp.csr_array:
    """Boolean symmetric CSR pattern (x.size, x.size) of the Hessian of a scalar ``f`` (asdex)."""
    P = _detect("hessian_sparsity", f, _as_jax(x), contexts)
    return canonical_pattern(P + P.T)
