"""DenseSparsityDetector: the pattern of a dense derivative at one point.

It computes the derivative with adopt's own operators, so it lives above them (as DI's
``misc/sparsity_detector.jl``), not among the tracers of :mod:`adopt._sparse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from adopt._arrays import to_numpy
from adopt._sparse.detectors import canonical_pattern, check_framework
from adopt.operators.hessian import hessian
from adopt.operators.jacobian import jacobian

__all__ = ["DenseSparsityDetector"]


@dataclass(frozen=True)
class DenseSparsityDetector:
    """Local sparsity detection: the entries with ``|value| > atol`` of the dense derivative at ``x``.

    Works for any ``f`` (control flow included) but the pattern is only valid near ``x``: an
    entry that happens to vanish at ``x`` is missed. With finite differences (``"numpy"``) the
    Hessian carries rounding noise: pass an ``atol`` above it (e.g. ``1e-6`` for O(1) data).

    Parameters
    ----------
    backend : AbstractBackend or None
        The dense backend that evaluates the derivative with adopt's own operators; None picks
        the framework's: AutoFiniteDiff() for NumPy, AutoJAX(), AutoTorch().
    atol : float
        Entries with absolute value ``<= atol`` are structural zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt import DenseSparsityDetector
    >>> f = lambda x: np.array([x[0] * x[1], x[2] if x[2] > 0 else 0.0])
    >>> det = DenseSparsityDetector(backend=None)  # NumPy: finite differences
    >>> det.jacobian_sparsity(f, np.array([1.0, 2.0, 3.0]), framework="numpy").toarray().astype(int)
    array([[1, 1, 0],
           [0, 0, 1]])
    """

    backend: object
    atol: float = 0.0

    def _backend(self, framework: str) -> Any:
        check_framework(framework, "DenseSparsityDetector")
        if self.backend is not None:
            return self.backend
        from adopt.backends import AutoFiniteDiff, AutoJAX, AutoTorch

        return {"numpy": AutoFiniteDiff(), "jax": AutoJAX(), "torch": AutoTorch()}[framework]

    def jacobian_sparsity(self, f: Callable, x: Any, *contexts: Any, framework: str) -> sp.csr_array:
        """Boolean CSR pattern of the dense Jacobian at ``x``, shape ``(y.size, x.size)``."""
        J = jacobian(f, self._backend(framework), x, *contexts)
        return _threshold(to_numpy(J), self.atol)

    def hessian_sparsity(self, f: Callable, x: Any, *contexts: Any, framework: str) -> sp.csr_array:
        """Boolean CSR pattern of the dense Hessian at ``x`` (symmetrised), ``(x.size, x.size)``."""
        H = hessian(f, self._backend(framework), x, *contexts)
        P = _threshold(to_numpy(H), self.atol)
        return canonical_pattern(P + P.T)


def _threshold(M: np.ndarray, atol: float) -> sp.csr_array:
    M = np.asarray(M)
    return canonical_pattern(sp.csr_array(np.abs(M) > atol))


