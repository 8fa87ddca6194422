"""Point-wise ATen operators: the kind table, and the few that need more than a kind."""

from __future__ import annotations

from typing import Any

import torch

from adopt._sparse.detection.kinds import ATEN_OPS, Kind
from adopt._sparse.detection.torch.interpreter import bind, differentiable, has_traced, metas, rule
from adopt._sparse.detection.values import TracedValue

#: arguments of point-wise operators that are flags or options, not operands
_OPTIONS = frozenset({"alpha", "beta", "rounding_mode", "approximate", "dtype", "layout",
                      "device", "pin_memory", "memory_format", "non_blocking", "copy"})


def _operands(op: Any, args: tuple, kwargs: dict) -> list:
    """Operands of a point-wise op (tensors and numbers; not flags such as alpha)."""
    bound = bind(op, args, kwargs)
    return [bound[a.name] for a in op._schema.arguments if a.name not in _OPTIONS
            and isinstance(bound[a.name], (TracedValue, torch.Tensor, int, float, bool, complex))]


def _by_kind(kind: Kind):
    def pointwise(it, node, op, args, kwargs):
        return it.pointwise(node, _operands(op, args, kwargs), kind)

    return pointwise


for _name, _kind in ATEN_OPS.items():
    rule(_name)(_by_kind(_kind))


@rule("div")
def _div(it, node, op, args, kwargs):
    mode = bind(op, args, kwargs).get("rounding_mode")
    kind = Kind.ZERO if mode in ("floor", "trunc") else Kind.DIV
    return it.pointwise(node, _operands(op, args, kwargs), kind)


def _select(condition: str, branches: tuple[str, str]):
    """``where`` / ``masked_fill``: data movement under a known condition, else either."""
    def select(it, node, op, args, kwargs):
        b = bind(op, args, kwargs)
        if not has_traced(b[condition]):
            return it.structural(node, op, args, kwargs)
        return it.pointwise(node, [b[k] for k in branches], Kind.PIECEWISE)

    return select


rule("where")(_select("condition", ("self", "other")))
rule("masked_fill")(_select("mask", ("self", "value")))


def _copy_of(argument: str):
    """The rows of one argument, broadcast to the output (casts, copies, fills)."""
    def copy(it, node, op, args, kwargs):
        meta = node.meta["val"]
        src = bind(op, args, kwargs)[argument]
        if isinstance(src, TracedValue) and differentiable(src.dtype):
            return it.tt(meta, src.rows(tuple(meta.shape)))
        return it.tt(meta)

    return copy


rule("_to_copy", "to", "_to_dtype", "type_as")(_copy_of("self"))
rule("copy")(_copy_of("src"))


@rule("fill")
def _fill(it, node, op, args, kwargs):
    value = bind(op, args, kwargs)["value"]
    if isinstance(value, TracedValue):
        return _copy_of("value")(it, node, op, args, kwargs)
    meta = node.meta["val"]
    value = value.item() if isinstance(value, torch.Tensor) else float(value)
    return torch.full(tuple(meta.shape), value, dtype=meta.dtype)


@rule("native_dropout")
def _dropout(it, node, op, args, kwargs):
    out, mask = metas(node)
    return (it.tt(out, args[0].rows(tuple(out.shape))), it.tt(mask))
