"""``AutoSparse(AutoJAX(), shard=True)``: the color batch split over ``jax.devices()``.

The seeds of a prepared call (one tangent per color) are padded with zero tangents to a
multiple of the number of devices and constrained to a :class:`jax.sharding.NamedSharding`
along the color axis; XLA's partitioner then computes each device's colors on that device
(the primal and its linearisation are replicated) and gathers the compressed products for the
decompression. With ``d`` devices a call costs about ``ceil(k / d)`` products on each device plus
one gather of the ``k`` products: it scales with the number of colors per device until the
replicated primal or the gather dominates.
"""

from __future__ import annotations

from typing import Any, Callable

from adopt.backends.wrappers import AutoSparse
from adopt.operators._common import Setup

__all__ = ["spread"]


def spread(s: Setup, backend: AutoSparse, product: Callable) -> Callable:
    """``product(x, S, *c) -> (*heads, B)`` with its batch of seeds ``S`` (k, ...) sharded over
    ``jax.devices()`` when ``backend.shard``; ``product`` itself otherwise."""
    if not backend.shard:
        return product
    if s.outer.kind != "jax":
        raise ValueError(f"{s.where}: shard=True splits the colors over jax.devices() and needs "
                         f"a JAX backend, not {backend.dense!r}; use AutoSparse(AutoJAX(), "
                         "shard=True), or shard=False")
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.devices()
    colors = NamedSharding(Mesh(devices, ("colors",)), PartitionSpec("colors"))

    def sharded(x: Any, S: Any, *c: Any) -> Any:
        k = S.shape[0]
        pad = -k % len(devices)
        S = jnp.concatenate([S, jnp.zeros((pad, *S.shape[1:]), S.dtype)]) if pad else S
        *heads, B = product(x, jax.lax.with_sharding_constraint(S, colors), *c)
        return (*heads, B[:k])

    return sharded
