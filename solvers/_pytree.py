"""The boundary between a solver's 1-D float64 vector and the user's unknowns.

A :class:`Flat` is made once, from ``x0``: it records the structure (a single array, or a dict /
list / tuple of arrays: a JAX pytree, a dict of torch tensors), the array type, dtype and shapes,
and gives the ravel / unravel pair the adapters use at every call. ``unravel`` slices and reshapes,
which NumPy, JAX and PyTorch arrays all do, so it runs inside a traced or differentiated function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Flat", "flatten", "kind_of", "to_kind", "to_numpy"]

_NUMBERS = (int, float, np.integer, np.floating)


def kind_of(a: Any) -> str:
    """``"numpy"``, ``"jax"``, ``"torch"`` for arrays, ``"number"`` for Python and NumPy scalars."""
    if isinstance(a, np.ndarray):
        return "numpy"
    if isinstance(a, _NUMBERS):
        return "number"
    root = type(a).__module__.split(".", 1)[0]
    return {"jax": "jax", "jaxlib": "jax", "torch": "torch"}.get(root, "other")


def to_numpy(a: Any) -> np.ndarray:
    """Any array (or scalar) as a writeable float64 NumPy array, copying only when needed
    (a JAX array's buffer is read-only: one copy, made by ``np.array``)."""
    if not isinstance(a, np.ndarray):
        if kind_of(a) != "torch":
            return np.array(a, dtype=np.float64)
        a = a.detach().cpu().numpy()
    out = a if a.dtype == np.float64 else a.astype(np.float64)
    return out if out.flags.writeable else out.copy()


def to_kind(a: np.ndarray, kind: str, dtype: np.dtype) -> Any:
    """A NumPy array as an array of ``kind`` and ``dtype`` (zero-copy NumPy -> torch on CPU)."""
    a = a.astype(dtype, copy=False)
    if kind == "torch":
        import torch

        return torch.from_numpy(a)
    if kind == "jax":
        import jax.numpy as jnp

        out = jnp.asarray(a)
        if out.dtype != a.dtype:
            from adopt import PrecisionError

            raise PrecisionError(
                f"JAX turned {a.dtype} unknowns into {out.dtype} because its x64 mode is off; "
                "enable it with jax.config.update('jax_enable_x64', True) (adopt never flips "
                "it for you), or pass float32 arrays if float32 is what you want")
        return out
    return a


# A structure is a nested tuple: ("leaf",), ("dict", type, keys, children), ("seq", type, children).
def _structure(tree: Any, leaves: list[Any]) -> tuple:
    if isinstance(tree, dict):
        keys = tuple(tree)
        return ("dict", type(tree), keys, tuple(_structure(tree[k], leaves) for k in keys))
    if type(tree) in (list, tuple):
        return ("seq", type(tree), tuple(_structure(t, leaves) for t in tree))
    leaves.append(tree)
    return ("leaf",)


def _build(structure: tuple, leaves: Any) -> Any:
    if structure[0] == "leaf":
        return next(leaves)
    if structure[0] == "dict":
        return structure[1]((k, _build(s, leaves)) for k, s in zip(structure[2], structure[3]))
    return structure[1](_build(s, leaves) for s in structure[2])


def _numbers_only(tree: Any) -> bool:
    if type(tree) in (list, tuple):
        return all(_numbers_only(t) for t in tree)
    return isinstance(tree, _NUMBERS)


@dataclass(frozen=True)
class Flat:
    """How the user's unknowns map to the solver's 1-D float64 vector.

    Attributes
    ----------
    structure : tuple
        The nesting of dicts, lists and tuples (hashable; part of a preparation's signature).
    kind : str
        The array type of the leaves: ``"numpy"``, ``"jax"`` or ``"torch"``.
    dtype : numpy.dtype
        The leaves' dtype (float64, or float32 if the user chose it; integers become float64).
    shapes : tuple of tuple of int
        The leaves' shapes, in flattening order.
    x0 : numpy.ndarray
        The flattened starting point, float64.
    """

    structure: tuple
    kind: str
    dtype: np.dtype
    shapes: tuple[tuple[int, ...], ...]
    x0: np.ndarray

    @property
    def size(self) -> int:
        return self.x0.size

    @property
    def plain(self) -> bool:
        """True when the user's x0 is already what the solver sees: a 1-D float64 NumPy array."""
        return (self.structure == ("leaf",) and self.kind == "numpy" and len(self.shapes[0]) == 1
                and self.dtype == np.float64)

    def unravel(self, z: Any) -> Any:
        """The user's structure from a flat vector ``z`` of any array type (traceable)."""
        if self.structure == ("leaf",):
            return z if len(self.shapes[0]) == 1 else z.reshape(self.shapes[0])
        leaves, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape, dtype=np.int64))
            leaves.append(z[start:start + size].reshape(shape))
            start += size
        return _build(self.structure, iter(leaves))

    def to_user(self, x: np.ndarray) -> Any:
        """The solver's ``x`` as a flat vector in the user's array type and dtype."""
        return to_kind(x, self.kind, self.dtype)

    def result(self, x: np.ndarray) -> Any:
        """The solver's final ``x`` in the user's structure, array type, shape and dtype."""
        return self.unravel(to_kind(np.array(x, dtype=np.float64), self.kind, self.dtype))

    def signature(self) -> tuple:
        """What a preparation depends on: structure, array type, dtype and shapes."""
        return self.structure, self.kind, self.dtype.str, self.shapes


def flatten(x0: Any, where: str) -> Flat:
    """Make the :class:`Flat` of ``x0``.

    Python scalars and (nested) lists of numbers are converted as SciPy converts them
    (``np.atleast_1d(np.asarray(x0, float))``); an array of any type and shape is one leaf; a
    dict, list or tuple of arrays is a tree. Integer leaves become float64, as in SciPy.
    """
    if _numbers_only(x0):
        x0 = np.atleast_1d(np.asarray(x0, dtype=np.float64))
    leaves: list[Any] = []
    structure = _structure(x0, leaves)
    if not leaves:
        raise ValueError(f"{where}: x0 has no arrays in it; pass an array or a dict/list of arrays")
    kinds = {kind_of(a) for a in leaves} - {"number"}
    if "other" in kinds or len(kinds) > 1:
        got = sorted({type(a).__name__ for a in leaves})
        raise TypeError(f"{where}: x0 must be an array or a dict/list/tuple of arrays of one type "
                        f"(NumPy, JAX or torch); got leaves of type {', '.join(got)}")
    kind = kinds.pop() if kinds else "numpy"
    arrays = [np.asarray(to_numpy_any(a)) for a in leaves]
    dtype = _float_dtype(where, arrays)
    flat = np.concatenate([a.astype(np.float64).reshape(-1) for a in arrays]) if arrays else np.zeros(0)
    return Flat(structure, kind, dtype, tuple(a.shape for a in arrays), flat)


def to_numpy_any(a: Any) -> np.ndarray:
    """A leaf as NumPy in its own dtype (no float64 cast)."""
    return a.detach().cpu().numpy() if kind_of(a) == "torch" else np.asarray(a)


def _float_dtype(where: str, arrays: list[np.ndarray]) -> np.dtype:
    dtype = np.result_type(*arrays)
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    if dtype.kind != "f":
        raise TypeError(f"{where}: x0 has dtype {dtype}; solvers need real floating-point "
                        "unknowns: pass float64 arrays (split complex unknowns into real and "
                        "imaginary parts)")
    return dtype
