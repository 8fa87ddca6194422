"""Point-wise primitives: the kind table, and the few that need more than a kind."""

from __future__ import annotations

import jax
import numpy as np

from adopt._sparse.detection.jax.interpreter import RULES, rule
from adopt._sparse.detection.kinds import JAX_PRIMITIVES, Kind
from adopt._sparse.detection.values import TracedValue


def _by_kind(kind: Kind):
    def pointwise(it, e, invals, flags):
        return [it.pointwise(e.outvars[0].aval, invals, kind)]

    return pointwise


for _name, _kind in JAX_PRIMITIVES.items():
    RULES[_name] = _by_kind(_kind)


@rule("integer_pow")
def _integer_pow(it, e, invals, flags):
    y = int(e.params["y"])
    kind = Kind.ZERO if y == 0 else (Kind.LINEAR if y == 1 else Kind.UNARY)
    return [it.pointwise(e.outvars[0].aval, invals, kind)]


@rule("abs")
def _abs(it, e, invals, flags):
    complex_in = jax.dtypes.issubdtype(invals[0].dtype, np.complexfloating)
    kind = Kind.UNARY if complex_in else Kind.PIECEWISE
    return [it.pointwise(e.outvars[0].aval, invals, kind)]


@rule("zeros_like")
def _zeros_like(it, e, invals, flags):
    aval = e.outvars[0].aval
    return [np.zeros(aval.shape, dtype=aval.dtype)]


@rule("optimization_barrier", "device_put", "sharding_constraint", "reshard", "pvary",
      "layout_constraint", "with_memory_space_constraint")
def _passthrough(it, e, invals, flags):
    return [it.out(o.aval, v.D) if isinstance(v, TracedValue) else v
            for o, v in zip(e.outvars, invals)]
