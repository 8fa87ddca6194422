"""Contractions and windows: ``dot_general`` as an einsum, convolutions and windowed
reductions with their exact windows."""

from __future__ import annotations

import math
import string

import numpy as np

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.jax.interpreter import rule, shape_of
from adopt._sparse.detection.jax.known import window_rows, windows
from adopt._sparse.detection.values import TracedValue


@rule("dot_general")
def _dot_general(it, e, invals, flags):
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    lhs, rhs = invals
    ls, rs = shape_of(lhs), shape_of(rhs)
    letters = iter(string.ascii_letters)
    L = [next(letters) for _ in ls]
    R: list = [None] * len(rs)
    for a, b in zip(tuple(lb) + tuple(lc), tuple(rb) + tuple(rc)):
        R[b] = L[a]
    R = [r if r is not None else next(letters) for r in R]
    out = ([L[d] for d in lb] + [L[d] for d in range(len(ls)) if d not in lb and d not in lc]
           + [R[d] for d in range(len(rs)) if d not in rb and d not in rc])
    D = A.einsum(it.tr, ["".join(L), "".join(R)], "".join(out),
                 [it.einsum_operand(lhs), it.einsum_operand(rhs)])
    if D is None:
        return it.fallback(e, invals, "dot_general of this size")
    return [it.out(e.outvars[0].aval, D)]


@rule("conv_general_dilated")
def _conv(it, e, invals, flags):
    p = e.params
    if int(p.get("batch_group_count", 1)) != 1:
        return it.fallback(e, invals, "conv_general_dilated with batch_group_count > 1")
    lhs, rhs = invals
    lspec, rspec, ospec = p["dimension_numbers"]
    lshape, rshape = shape_of(lhs), shape_of(rhs)
    B, C = lshape[lspec[0]], lshape[lspec[1]]
    S = tuple(lshape[d] for d in lspec[2:])
    O, Cg = rshape[rspec[0]], rshape[rspec[1]]
    K = tuple(rshape[d] for d in rspec[2:])
    G = int(p["feature_group_count"])
    ndim = len(S)
    out_shape, W = windows(S, K, p["window_strides"], p["padding"],
                           p.get("lhs_dilation") or (1,) * ndim,
                           p.get("rhs_dilation") or (1,) * ndim)
    So, Kw = W.shape
    # lhs patches in canonical order (B, G, Cg, So, Kw): flat lhs index or -1
    lidx = np.arange(math.prod(lshape)).reshape(lshape).transpose(lspec).reshape(B, C, -1)
    patch = np.where(W >= 0, lidx[:, :, np.maximum(W, 0)], -1).reshape(B, G, Cg, So, Kw)
    if isinstance(lhs, TracedValue):
        lop = (patch.shape, A.take(lhs.D, patch.ravel()), None)
    else:
        vals = np.asarray(lhs).ravel()
        lop = (patch.shape, None, np.where(patch >= 0, vals[np.maximum(patch, 0)], 0) != 0)
    ridx = np.arange(math.prod(rshape)).reshape(rshape).transpose(rspec).reshape(
        G, O // G, Cg, Kw)
    if isinstance(rhs, TracedValue):
        rop = (ridx.shape, A.take(rhs.D, ridx.ravel()), None)
    else:
        rop = (ridx.shape, None, (np.asarray(rhs).ravel() != 0)[ridx])
    D = A.einsum(it.tr, ["bgcsw", "gdcw"], "bgds", [lop, rop])
    if D is None:
        return it.fallback(e, invals, "conv_general_dilated of this size")
    canon = np.arange(B * O * So).reshape((B, O) + tuple(out_shape))
    return [it.out(e.outvars[0].aval, A.take(D, canon.transpose(np.argsort(ospec)).ravel()))]


def _window_map(p: dict, shape: tuple) -> np.ndarray:
    nd = len(shape)
    return windows(shape, p["window_dimensions"], p["window_strides"], p["padding"],
                   p.get("base_dilation") or (1,) * nd, p.get("window_dilation") or (1,) * nd)[1]


@rule("reduce_window_sum", "reduce_window_max", "reduce_window_min")
def _reduce_window(it, e, invals, flags):
    x = invals[0]
    agg = window_rows(_window_map(e.params, x.shape), x.size)
    return [it.out(e.outvars[0].aval, agg @ x.D)]


@rule("reduce_window")
def _reduce_window_generic(it, e, invals, flags):
    """``lax.reduce_window`` with a custom computation: smooth in each window and the inits."""
    W = _window_map(e.params, shape_of(invals[0]))
    agg = window_rows(W, math.prod(shape_of(invals[0])))
    return it.custom_reduction(e, invals, lambda D: agg @ D, W.shape[0])
