"""Sparsity detectors: which entries of a Jacobian or Hessian can be nonzero.

Three detectors share one interface, ``jacobian_sparsity(f, x, *contexts, framework=...)`` and
``hessian_sparsity(f, x, *contexts, framework=...)``, both returning a boolean
``scipy.sparse.csr_array`` over ``y.ravel()`` and ``x.ravel()`` (C order):

- :class:`TracerSparsityDetector` (the default): a *global* pattern, valid at every ``x``, found by
  tracing ``f`` once (NumPy: operator overloading; PyTorch: ``make_fx`` + ATen rules; JAX: jaxpr
  interpretation).
- :class:`~adopt.DenseSparsityDetector`: a *local* pattern, the nonzeros of the dense derivative
  at ``x`` (it calls adopt's operators, so it lives above them, in :mod:`adopt._autosparse`).
- :class:`KnownSparsityDetector`: a pattern the user already knows.

This module imports only NumPy and SciPy; the framework-specific tracers are imported lazily.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from adopt._errors import BackendIncompatibilityError, MissingDependencyError

__all__ = [
    "TracerSparsityDetector",
    "KnownSparsityDetector",
    "check_framework",
    "canonical_pattern",
    "SparsityDetectionError",
    "ConservativeSparsityWarning",
]


class SparsityDetectionError(BackendIncompatibilityError):
    """Global sparsity detection cannot trace ``f``.

    Raised for control flow on the values of ``x`` (``if x[0] > 0:``), indices or shapes computed
    from ``x``, and conversions of traced values to Python numbers. The message names the fix:
    a local :class:`DenseSparsityDetector` or a :class:`KnownSparsityDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.detectors import TracerSparsityDetector
    >>> def f(x):
    ...     return x if x[0] > 0 else -x
    >>> TracerSparsityDetector().jacobian_sparsity(f, np.ones(3), framework="numpy")
    Traceback (most recent call last):
    ...
    adopt._sparse.detectors.SparsityDetectionError: global sparsity detection cannot follow control flow on the values of x (bool() of a traced array of shape (), e.g. `if x[0] > 0:`); use DenseSparsityDetector (local) or a known pattern (KnownSparsityDetector)
    """


class ConservativeSparsityWarning(UserWarning):
    """An operation without a sparsity rule was treated as dense.

    The detected pattern stays valid (every output of the operation is assumed to depend on
    every input of it, and the Hessian block of those inputs is assumed full) but may be denser
    than necessary.
    """


_FRAMEWORKS = {
    "numpy": ("adopt._sparse.detection.numpy", "numpy"),
    "torch": ("adopt._sparse.detection.torch", "torch"),
    "jax": ("adopt._sparse.detection.jax", "jax"),
}


def check_framework(framework: str, who: str) -> None:
    """Raise unless ``framework`` is one of "numpy", "jax", "torch" and is installed."""
    _module_name(framework, who)


def _module(framework: str, who: str) -> Any:
    return importlib.import_module(_module_name(framework, who))


def _module_name(framework: str, who: str) -> str:
    if framework not in _FRAMEWORKS:
        raise ValueError(
            f"{who}: framework must be one of 'numpy', 'torch' or 'jax' (got {framework!r}); "
            "pass the framework f is written for"
        )
    name, dependency = _FRAMEWORKS[framework]
    if importlib.util.find_spec(dependency) is None:
        raise MissingDependencyError(
            f"{who} with framework={framework!r} needs {dependency}: "
            f"pip install 'adopt[{dependency}]'"
        )
    return name


def _size(a: Any) -> int:
    return int(np.prod(np.shape(a), dtype=np.int64))


@dataclass(frozen=True)
class TracerSparsityDetector:
    """Global sparsity detection: a pattern valid at every ``x`` (the default detector).

    ``f`` is traced once with the values of ``x`` unknown. Each operation maps the set of inputs
    every element depends on; nonlinear operations also record which pairs of inputs interact,
    which gives the Hessian pattern. Contexts are passed to ``f`` as their values after ``x``
    and are constants (their values, e.g. zeros of a matrix, are used: redetect if a context's
    structure changes). A :class:`adopt.Cache` buffer may be written into by ``f``.

    Patterns never miss a nonzero. Operations without a rule are treated as dense blocks with a
    :class:`ConservativeSparsityWarning`; value-dependent control flow raises
    :class:`SparsityDetectionError`.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.detectors import TracerSparsityDetector
    >>> f = lambda x: x[1:] * x[:-1]
    >>> det = TracerSparsityDetector()
    >>> det.jacobian_sparsity(f, np.ones(4), framework="numpy").toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    >>> det.hessian_sparsity(lambda x: np.sum(f(x)), np.ones(4), framework="numpy").toarray().astype(int)
    array([[0, 1, 0, 0],
           [1, 0, 1, 0],
           [0, 1, 0, 1],
           [0, 0, 1, 0]])
    """

    def jacobian_sparsity(self, f: Callable, x: Any, *contexts: Any, framework: str) -> sp.csr_array:
        """Boolean CSR pattern of shape ``(y.size, x.size)``."""
        return _traced(framework, f, x, contexts, hessian=False)

    def hessian_sparsity(self, f: Callable, x: Any, *contexts: Any, framework: str) -> sp.csr_array:
        """Boolean symmetric CSR pattern of shape ``(x.size, x.size)`` for a scalar ``f``."""
        return _traced(framework, f, x, contexts, hessian=True)


def _traced(framework: str, f: Callable, x: Any, contexts: tuple[Any, ...], hessian: bool) -> sp.csr_array:
    """The pattern of ``f`` traced by its framework's tracer (imported on first use)."""
    trace, rows = _module(framework, "TracerSparsityDetector").trace(f, x, contexts, hessian=hessian)
    return trace.pattern(rows)


def canonical_pattern(M: Any) -> sp.csr_array:
    """A boolean CSR pattern without stored zeros or duplicates, indices sorted (the stable order)."""
    M = sp.csr_array(M, dtype=bool)
    M.eliminate_zeros()
    M.sum_duplicates()
    M.sort_indices()
    return M


@dataclass(frozen=True, eq=False)
class KnownSparsityDetector:
    """A sparsity pattern the user knows, in SciPy's ``jac_sparsity`` convention.

    ``pattern`` is any ``scipy.sparse`` matrix or dense array-like; its nonzeros are the
    structural nonzeros. For Hessians the pattern is symmetrised (a triangle is enough).

    Parameters
    ----------
    pattern : scipy.sparse matrix or array_like
        Shape ``(y.size, x.size)`` for Jacobians, ``(x.size, x.size)`` for Hessians.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from adopt._sparse.detectors import KnownSparsityDetector
    >>> det = KnownSparsityDetector(sp.eye(3))
    >>> det.jacobian_sparsity(np.sin, np.ones(3), framework="numpy").nnz
    3
    >>> det.jacobian_sparsity(np.sin, np.ones(4), framework="numpy")
    Traceback (most recent call last):
    ...
    ValueError: KnownSparsityDetector: pattern has shape (3, 3) but the Jacobian of f at x is (4, 4); pass a pattern of shape (4, 4)
    """

    pattern: object

    def _pattern(self) -> sp.csr_array:
        P = self.pattern
        if sp.issparse(P):
            P = sp.csr_array(P)
            P.eliminate_zeros()
            return canonical_pattern(P)
        P = np.asarray(P)
        if P.ndim != 2:
            raise ValueError(
                f"KnownSparsityDetector: pattern must be 2-D (got shape {P.shape}); pass a "
                "matrix of shape (y.size, x.size) for Jacobians or (x.size, x.size) for Hessians"
            )
        return canonical_pattern(sp.csr_array(P != 0))

    def _check(self, P: sp.csr_array, what: str, shape: tuple[int, int]) -> None:
        if P.shape != shape:
            raise ValueError(
                f"KnownSparsityDetector: pattern has shape {P.shape} but the {what} of f at x is "
                f"{shape}; pass a pattern of shape {shape}"
            )

    def jacobian_sparsity(self, f: Callable, x: Any, *contexts: Any, framework: str) -> sp.csr_array:
        """The pattern, after checking its shape against ``(f(x).size, x.size)``."""
        P = self._pattern()
        if framework not in _FRAMEWORKS:
            _module(framework, "KnownSparsityDetector")
        y = f(x, *(c.value for c in contexts))
        self._check(P, "Jacobian", (_size(y), _size(x)))
        return P

    def hessian_sparsity(self, f: Callable, x: Any, *contexts: Any, framework: str) -> sp.csr_array:
        """The symmetrised pattern, after checking its shape against ``(x.size, x.size)``."""
        P = self._pattern()
        if framework not in _FRAMEWORKS:
            _module(framework, "KnownSparsityDetector")
        n = _size(x)
        self._check(P, "Hessian", (n, n))
        return canonical_pattern(P + P.T)
