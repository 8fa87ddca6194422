"""Exceptions raised by adopt.

Every error names the operator, the backend, the offending value and the fix.
"""

from __future__ import annotations

__all__ = [
    "AdoptError",
    "PreparationMismatchError",
    "MissingDependencyError",
    "BackendIncompatibilityError",
    "PrecisionError",
]


class AdoptError(Exception):
    """Base class of every error adopt raises on purpose."""


class PreparationMismatchError(AdoptError, ValueError):
    """A prep was reused with a different function, backend, type, shape, dtype or context.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> f = lambda x: (x**2).sum()
    >>> prep = adopt.prepare_gradient(f, adopt.AutoFiniteDiff(), np.ones(3))
    >>> adopt.gradient(f, adopt.AutoFiniteDiff(), np.ones(4), prep=prep)
    Traceback (most recent call last):
    ...
    adopt._errors.PreparationMismatchError: gradient with AutoFiniteDiff(method='central', rel_step=None, vectorized=False): x has shape (4,) but the prep was made for shape (3,); prepare again with prepare_gradient(f, backend, x, ...) for the new x
    """


class MissingDependencyError(AdoptError, ImportError):
    """An optional framework (JAX, PyTorch, cyipopt, Optax) is not installed."""


class BackendIncompatibilityError(AdoptError, TypeError):
    """The function or input cannot be run by the chosen backend."""


class PrecisionError(AdoptError, TypeError):
    """The computation would silently change precision (e.g. JAX without x64)."""
