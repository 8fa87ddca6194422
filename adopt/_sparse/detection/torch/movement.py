"""Data movement: views, slicing, indexing, concatenation, padding (the operator run on
tensors of element numbers), and the scatter family (known indices)."""

from __future__ import annotations

import math
from typing import Any

import scipy.sparse as sp
import torch

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.kinds import Kind
from adopt._sparse.detection.torch.interpreter import (
    bind,
    has_traced,
    index_from_x,
    rule,
    shape_of,
)
from adopt._sparse.detection.values import TracedValue

#: operators that only move data (in-place variants included)
STRUCTURAL = (
    "view _unsafe_view reshape expand permute slice select squeeze unsqueeze t transpose flip "
    "roll diagonal unfold repeat cat stack constant_pad_nd narrow split split_with_sizes unbind "
    "chunk index index_select gather tril triu slice_scatter select_scatter diagonal_scatter "
    "movedim flatten _reshape_alias take take_along_dim reflection_pad1d reflection_pad2d "
    "reflection_pad3d replication_pad1d replication_pad2d replication_pad3d masked_scatter "
    "view_as expand_as squeeze_copy unsqueeze_copy _unsafe_index rot90 hstack vstack tile "
    "repeat_interleave channel_shuffle pixel_shuffle pixel_unshuffle im2col col2im"
)


@rule(*STRUCTURAL.split())
def _structural(it, node, op, args, kwargs):
    return it.structural(node, op, args, kwargs)


@rule("as_strided", "as_strided_copy", "as_strided_scatter")
def _as_strided(it, node, op, args, kwargs):
    """Strides refer to memory: exact only when the traced input is laid out contiguously."""
    src = node.args[0]
    meta = src.meta.get("val") if isinstance(src, torch.fx.Node) else None
    if meta is None or not meta.is_contiguous() or meta.storage_offset() != 0:
        return it.fallback(node, args, kwargs, f"torch.ops.{op} of a non-contiguous tensor")
    return it.structural(node, op, args, kwargs)


def _lin(shape: tuple) -> torch.Tensor:
    return torch.arange(math.prod(shape), dtype=torch.int64).reshape(shape)


def _src_rows(it, src: Any, shape: tuple) -> sp.csr_array:
    """Rows of ``src`` for an index of ``shape``: broadcast, or the leading block (scatter)."""
    if not isinstance(src, TracedValue):
        return A.empty(math.prod(shape), it.n)
    if len(src.shape) == len(shape) and all(s >= t for s, t in zip(src.shape, shape)):
        sel = _lin(src.shape)[tuple(slice(0, t) for t in shape)]
        return A.take(src.D, sel.numpy().ravel())
    return src.rows(shape)


def _known(b: dict, name: str, op: Any) -> Any:
    if has_traced(b[name]):
        raise index_from_x(op)
    return b[name]


@rule("index_put", "_unsafe_index_put")
def _index_put(it, node, op, args, kwargs):
    b = bind(op, args, kwargs)
    base = b["self"]
    targets = torch.ops.aten.index.Tensor(_lin(shape_of(base)), _known(b, "indices", op))
    rows = _src_rows(it, b["values"], tuple(targets.shape))
    return it.scatter_into(node, base, targets.numpy().ravel(), rows, bool(b["accumulate"]))


def _scatter(accumulate: bool | None):
    """``scatter`` (False), ``scatter_add`` (True), ``scatter_reduce`` (None: by ``reduce``)."""
    def scatter(it, node, op, args, kwargs):
        b = bind(op, args, kwargs)
        base, dim, index = b["self"], b["dim"], _known(b, "index", op)
        targets = torch.gather(_lin(shape_of(base)), dim, index)
        rows = _src_rows(it, b.get("src", b.get("value")), tuple(index.shape))
        acc, kind = accumulate, Kind.LINEAR
        reduce = b.get("reduce")
        if accumulate is None:  # scatter_reduce
            acc = bool(b.get("include_self", True))
            kind = Kind.LINEAR if reduce in ("sum", "mean", "amax", "amin") else Kind.NONLINEAR
        elif reduce is not None:  # scatter(..., reduce="add" / "multiply")
            acc = True
            kind = Kind.NONLINEAR if reduce == "multiply" else Kind.LINEAR
        return it.scatter_into(node, base, targets.numpy().ravel(), rows, acc, kind)

    return scatter


rule("scatter")(_scatter(False))
rule("scatter_add")(_scatter(True))
rule("scatter_reduce")(_scatter(None))


def _index_dim(accumulate: bool):
    """``index_add`` (True), ``index_copy`` / ``index_fill`` (False)."""
    def index_dim(it, node, op, args, kwargs):
        b = bind(op, args, kwargs)
        base, dim, index = b["self"], b["dim"], _known(b, "index", op)
        targets = torch.index_select(_lin(shape_of(base)), dim, index)
        rows = _src_rows(it, b.get("source", b.get("value")), tuple(targets.shape))
        return it.scatter_into(node, base, targets.numpy().ravel(), rows, accumulate)

    return index_dim


rule("index_add")(_index_dim(True))
rule("index_copy", "index_fill")(_index_dim(False))
