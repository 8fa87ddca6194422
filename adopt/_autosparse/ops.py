"""Decompression in JAX and PyTorch: the coloring results' :class:`~adopt._sparse.coloring.Ops`
over those frameworks' arrays, and a result's seeds and index maps as native arrays, made once
at preparation.

A JAX prep passes its index maps to its compiled function as arguments: captured as
constants, a large index map is baked into the executable (a 6 M-entry gather compiles in about
1.7 s as a constant, 0.04 s as an argument). Its seeds stay constants: XLA specialises the
batched products to them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adopt._sparse.coloring import NUMPY_OPS, Ops

__all__ = ["JaxOps", "TorchOps", "ops_for", "native"]


class JaxOps:
    """:class:`~adopt._sparse.coloring.Ops` in ``jax.numpy`` (traced inside ``jax.jit``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> JaxOps().segment_sum(jnp.array([1.0, 2.0, 3.0]), jnp.array([0, 1, 0]), 2).tolist()
    [4.0, 2.0]
    """

    def __init__(self) -> None:
        import jax.numpy as jnp

        self.jnp = jnp

    def take(self, a: Any, idx: Any) -> Any:
        return a.at[idx].get(mode="promise_in_bounds")

    def prefix_sum(self, a: Any) -> Any:
        return self.jnp.concatenate([self.jnp.zeros(1, dtype=a.dtype), self.jnp.cumsum(a)])

    def segment_sum(self, values: Any, segments: Any, size: int) -> Any:
        return self.jnp.zeros(size, dtype=values.dtype).at[segments].add(values)

    def concat(self, arrays: list[Any]) -> Any:
        return self.jnp.concatenate(arrays)


class TorchOps:
    """:class:`~adopt._sparse.coloring.Ops` in PyTorch (eager, or captured in a graph).

    Examples
    --------
    >>> import torch
    >>> TorchOps().prefix_sum(torch.tensor([1.0, 2.0, 3.0])).tolist()
    [0.0, 1.0, 3.0, 6.0]
    """

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def take(self, a: Any, idx: Any) -> Any:
        return a[idx]

    def prefix_sum(self, a: Any) -> Any:
        return self.torch.cat([a.new_zeros(1), self.torch.cumsum(a, 0)])

    def segment_sum(self, values: Any, segments: Any, size: int) -> Any:
        return values.new_zeros(size).index_add_(0, segments, values)

    def concat(self, arrays: list[Any]) -> Any:
        return self.torch.cat(arrays)


def ops_for(kind: str) -> Ops:
    """The decompression operations of an array kind ("numpy", "jax" or "torch")."""
    return {"jax": JaxOps, "torch": TorchOps}.get(kind, lambda: NUMPY_OPS)()


def native(kind: str, a: np.ndarray) -> Any:
    """A NumPy array of a prep (seeds, an index map) as an array of ``kind``, made once.

    JAX arrays are placed by ``device_put`` (``jnp.asarray`` would compile a conversion per new
    shape), index maps in int32 where they fit (half the bytes a gather reads); torch tensors
    share the NumPy memory.

    Examples
    --------
    >>> import numpy as np
    >>> native("jax", np.arange(3)).dtype
    dtype('int32')
    """
    if kind == "jax":
        import jax

        if a.dtype.kind in "iu" and a.size and a.max() < 2**31 and a.min() >= -2**31:
            a = a.astype(np.int32)
        return jax.device_put(a)
    if kind == "torch":
        import torch

        return torch.from_numpy(np.ascontiguousarray(a) if a.flags.writeable else np.array(a))
    return a
