"""Array kinds and conversions between NumPy, JAX and PyTorch (no framework imported here)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["array_kind", "converter", "numpy_dtype", "to_numpy"]

_SCALARS = (float, int, np.floating, np.integer, bool, complex, np.complexfloating)


def array_kind(x: Any) -> str:
    """Return ``"numpy"``, ``"jax"``, ``"torch"`` or ``"scalar"`` (Python scalar) for ``x``."""
    if isinstance(x, np.ndarray):
        return "numpy"
    if isinstance(x, _SCALARS):
        return "scalar"
    root = type(x).__module__.split(".", 1)[0]
    if root in ("jax", "jaxlib"):
        return "jax"
    if root == "torch":
        return "torch"
    return "other"


def numpy_dtype(x: Any) -> np.dtype:
    """The NumPy dtype of an array of any kind (a Python float is float64)."""
    kind = array_kind(x)
    if kind == "torch":
        return np.dtype(str(x.dtype).replace("torch.", ""))
    return np.dtype(x.dtype) if kind in ("numpy", "jax") else np.asarray(x).dtype


def to_numpy(x: Any) -> np.ndarray:
    """An array of any kind as NumPy (zero-copy for torch on CPU; a read-only view of a JAX buffer)."""
    kind = array_kind(x)
    if kind == "torch":
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _numpy_to(kind: str) -> Callable[[Any], Any]:
    if kind == "jax":
        import jax.numpy as jnp

        return jnp.asarray
    if kind == "torch":
        import torch

        return torch.as_tensor
    if kind == "scalar":
        return _numpy_scalar
    return np.asarray


def _numpy_scalar(x: Any) -> Any:
    a = np.asarray(x)
    return a[()] if a.ndim == 0 else a


def _identity(x: Any) -> Any:
    return x


def converter(source: str, target: str) -> Callable[[Any], Any]:
    """A function converting arrays of kind ``source`` to kind ``target``.

    Conversions are zero-copy where the frameworks allow it (NumPy <-> PyTorch on CPU). JAX ->
    NumPy copies: a JAX buffer is immutable, and NumPy out must be an ordinary writeable array.
    ``"scalar"`` as a target means NumPy, with 0-d results as NumPy scalars.
    """
    if source == target:
        return _identity
    if source == "scalar" and target == "numpy":
        return np.asarray
    to_target = _numpy_to(target)
    if source == "scalar":  # a Python float is float64 (NumPy semantics) on every framework
        return lambda x: to_target(np.asarray(x))
    if source == "numpy":
        return to_target
    if source == "torch" and target in ("numpy", "scalar"):
        return lambda x: to_target(x.detach().cpu().numpy())
    if source == "jax" and target == "numpy":  # JAX buffers are read-only: a writeable copy
        return np.array
    if target == "torch":  # JAX buffers are read-only; torch wants writable memory
        return lambda x: to_target(np.array(x))
    return lambda x: to_target(to_numpy(x))
