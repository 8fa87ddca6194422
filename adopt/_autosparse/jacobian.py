"""Sparse Jacobians: a column coloring pushed forward, a row coloring pulled back, or both
(MixedMode); one batched product per color group, decompressed by the coloring result."""

from __future__ import annotations

from typing import Any, Callable

import scipy.sparse as sp

from adopt._arrays import numpy_dtype
from adopt._prep import Prep
from adopt._sparse.coloring import Bicoloring, Coloring, DirectColoring, color
from adopt._autosparse.info import SparseInfo
from adopt._autosparse.ops import native, ops_for
from adopt._autosparse.pattern import pattern
from adopt._autosparse.prepare import captures, finish, one_hot_seeds
from adopt._autosparse.shard import spread
from adopt.backends.wrappers import AutoSparse, GreedyColoring, MixedMode
from adopt.operators import _derive as d
from adopt.operators._common import Setup, setup

__all__ = ["prepare_sparse_jacobian"]


def _coloring(s: Setup, backend: AutoSparse, P: sp.csr_array) -> Coloring:
    """Column coloring pushed forward or row coloring pulled back, whichever costs less: colors
    times the backend's cost of a forward product relative to a reverse one (1 in a captured
    PyTorch graph, where batched JVPs are plain ATen calls but batched VJPs of some ops loop);
    a bicoloring for MixedMode."""
    coloring = backend.coloring or GreedyColoring()
    order, seed = coloring.order, coloring.seed
    if isinstance(backend.dense, MixedMode):
        return color(P, "bicoloring", order, seed=seed)
    dense = s.parts.dense  # the first-order backend (the inner one of a SecondOrder)
    if dense.mode == "forward" or not dense.has_pullback:
        return color(P, "column", order, seed=seed)
    if dense.mode == "reverse" or not dense.has_pushforward:
        return color(P, "row", order, seed=seed)
    cc = color(P, "column", order, seed=seed)
    # a row coloring is a column coloring of P.T: the same colors for a symmetric structure
    symmetric = P.shape[0] == P.shape[1] and (P != P.T).nnz == 0
    rc = None if symmetric else color(P, "row", order, seed=seed)
    forward_cost = 1.0 if captures(s) else dense.forward_cost
    if cc.ncolors * forward_cost <= (cc if rc is None else rc).ncolors:
        return cc
    return DirectColoring.from_colors(P, "row", cc.colors) if rc is None else rc


def prepare_sparse_jacobian(f: Callable[..., Any], backend: AutoSparse, x: Any,
                            contexts: tuple[Any, ...], y: Any, strict: bool) -> Prep:
    """The sparse branch of :func:`adopt.prepare_jacobian`."""
    s = setup("jacobian", "prepare_jacobian", f, backend, x, contexts, y=y, strict=strict)
    P = pattern(s, backend, hessian=False)
    result = _coloring(s, backend, P)
    dtype, kind = numpy_dtype(s.given.x), s.outer.kind
    if isinstance(result, Bicoloring):
        ks = (result.forward_colors.size, result.reverse_colors.size)
        shapes = (s.shapes.x_shape, s.shapes.y_shape)
        (af, sf), (ar, sr) = (one_hot_seeds(kind, "jacobian", c, k, dtype, shape)
                              for c, k, shape in zip(result.seed_colors(), ks, shapes))
        h, argument = _mixed(s, backend, result, (sf, sr)), (af, ar)
    else:
        shape = s.shapes.x_shape if result.kind == "column" else s.shapes.y_shape
        argument, seeds = one_hot_seeds(kind, "jacobian", result.colors, result.ncolors, dtype,
                                        shape)
        h = _one_sided(s, backend, result, seeds)
    maps = type(result.maps)(*(native(kind, a) for a in result.maps))
    return finish(s, backend, h, (maps, argument), SparseInfo(P, result),
                  (s.shapes.m, s.shapes.n))


def _one_sided(s: Setup, backend: AutoSparse, result: DirectColoring, seeds: Callable) -> Callable:
    """``h((maps, argument), x, *c)``: column groups pushed forward, or row groups pulled back
    (seeds ``seeds(argument)``: :func:`~adopt._autosparse.prepare.one_hot_seeds`)."""
    forward = result.kind == "column"
    product = (d.value_and_pushforward if forward else d.value_and_pullback)(s.outer, s.fn, s.shapes)
    product = spread(s, backend, product)
    ops = ops_for(s.outer.kind)

    def h(a: tuple, x: Any, *c: Any) -> tuple[Any, Any]:
        maps, argument = a
        yv, B = product(x, seeds(argument), *c)
        return yv, result.decompress(B, ops, maps)

    return h


def _mixed(s: Setup, backend: AutoSparse, result: Bicoloring,
           seeds: tuple[Callable, Callable]) -> Callable:
    """``h((maps, (af, ar)), x, *c)``: forward products of ``MixedMode.forward``, reverse
    products of ``MixedMode.reverse`` for the seeds ``seeds[0](af)``, ``seeds[1](ar)``, either
    skipped when it has no seed."""
    mm = backend.dense
    vpf = spread(s, backend, d.value_and_pushforward(mm.forward.impl(), s.fn, s.shapes))
    vpb = spread(s, backend, d.value_and_pullback(mm.reverse.impl(), s.fn, s.shapes))
    kf, kr = result.forward_colors.size, result.reverse_colors.size
    m, n, fn, zeros = s.shapes.m, s.shapes.n, s.fn, s.outer.zeros
    ops = ops_for(s.outer.kind)

    def h(a: tuple, x: Any, *c: Any) -> tuple[Any, Any]:
        maps, (af, ar) = a
        yv = None
        TY, TX = zeros((0, m), x), zeros((0, n), x)
        if kf:
            yv, TY = vpf(x, seeds[0](af), *c)
        if kr:
            yv, TX = vpb(x, seeds[1](ar), *c)
        return fn(x, *c) if yv is None else yv, result.decompress((TY, TX), ops, maps)

    return h
