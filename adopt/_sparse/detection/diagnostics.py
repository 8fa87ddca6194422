"""Errors, warnings and their messages, shared by the three tracers.

The exception and warning classes and :func:`canonical_pattern` are defined with the detector
front classes (:mod:`adopt._sparse.detectors`); the tracers import them from here only.
"""

from __future__ import annotations

import warnings

import scipy.sparse as sp

from adopt._sparse.detectors import (
    ConservativeSparsityWarning,
    SparsityDetectionError,
    canonical_pattern,
)

__all__ = [
    "FIX", "CONTROL_FLOW", "SparsityDetectionError", "ConservativeSparsityWarning",
    "canonical_pattern", "no_rule", "warn", "require_scalar",
]

#: the fix every message names
FIX = (
    "use DenseSparsityDetector(backend) (local pattern at x) or "
    "KnownSparsityDetector(pattern) (a pattern you supply)"
)
#: control flow on traced values; ``{what}`` says what the tracer met
CONTROL_FLOW = (
    "global sparsity detection cannot follow control flow on the values of x ({what}); "
    "use DenseSparsityDetector (local) or a known pattern (KnownSparsityDetector)"
)


def no_rule(what: str) -> str:
    """The message of an operation without a rule, which is treated as a dense block.

    Examples
    --------
    >>> from adopt._sparse.detection.diagnostics import no_rule
    >>> no_rule("numpy.linalg.svd")[:60]
    'global sparsity detection has no rule for numpy.linalg.svd; '
    """
    return (
        f"global sparsity detection has no rule for {what}; assuming every output of it depends "
        f"on every input of it (a dense block, also in the Hessian). The pattern stays valid but "
        f"may be denser than necessary; if that matters, {FIX}"
    )


def warn(message: str, stacklevel: int) -> None:
    """Emit a :class:`ConservativeSparsityWarning` (``stacklevel`` counted from the caller)."""
    warnings.warn(message, ConservativeSparsityWarning, stacklevel=stacklevel + 1)


def require_scalar(rows: sp.csr_array) -> None:
    """Check that ``f``'s output (its dependency rows) is a scalar, for a Hessian.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from adopt._sparse.detection.diagnostics import require_scalar
    >>> require_scalar(sp.csr_array((2, 3), dtype=bool))
    Traceback (most recent call last):
    ...
    ValueError: hessian_sparsity needs a scalar output; f returned 2 values: use jacobian_sparsity, or sum the outputs
    """
    if rows.shape[0] != 1:
        raise ValueError(
            f"hessian_sparsity needs a scalar output; f returned {rows.shape[0]} values: use "
            "jacobian_sparsity, or sum the outputs"
        )
