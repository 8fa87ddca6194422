"""Sparse Hessians: a star coloring (direct) or an acyclic one (substitution in closed form);
one batched Hessian-vector product per color, then a gather (and prefix sums)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adopt._arrays import numpy_dtype
from adopt._prep import Prep
from adopt._sparse import coloring as col
from adopt._autosparse.formats import constant
from adopt._autosparse.info import SparseInfo
from adopt._autosparse.pattern import pattern
from adopt._autosparse.prepare import concat, finish, seeds
from adopt.backends.wrappers import AutoSparse, GreedyColoring
from adopt.operators._common import Setup, setup
from adopt.operators.hvp import value_hvp_function

__all__ = ["prepare_sparse_hessian"]


def prepare_sparse_hessian(f: Callable[..., Any], backend: AutoSparse, x: Any,
                           contexts: tuple[Any, ...], y: Any, strict: bool) -> Prep:
    """The sparse branch of :func:`adopt.prepare_hessian`."""
    s = setup("hessian", "prepare_hessian", f, backend, x, contexts, strict=strict,
              second_order=True, scalar_y=True)
    P = pattern(s, backend, hessian=True)
    coloring = backend.coloring or GreedyColoring()
    if coloring.symmetric == "star":
        colors = col.star_coloring(P, coloring.orders(symmetric=True), seed=coloring.seed)
        dec = col.star_decompression(P, colors)
    else:
        colors = col.acyclic_coloring(P, coloring.orders(symmetric=True), seed=coloring.seed)
        dec = col.acyclic_decompression(P, colors)
    n, k = s.shapes.n, dec.ncolors
    keep = _triangle(backend.triangle, dec.rows, dec.cols)
    vghv = value_hvp_function(s)
    S = seeds(s, np.asarray(colors), k, s.shapes.x_shape)
    decompress = _symmetric_decompressor(s, dec, keep)

    def h(x: Any, *c: Any) -> tuple[Any, Any, Any]:
        y, g, HT = vghv(x, S, *c)
        return y, g, decompress(HT.reshape(k, n))

    info = SparseInfo(P, coloring.symmetric, np.asarray(colors), np.asarray(colors), k,
                      dec.rows[keep], dec.cols[keep])
    return finish(s, backend, h, info, (n, n))


def _triangle(triangle: str | None, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if triangle == "lower":
        return np.flatnonzero(rows >= cols)
    if triangle == "upper":
        return np.flatnonzero(rows <= cols)
    return np.arange(rows.size)


def _symmetric_decompressor(s: Setup, dec: Any, keep: np.ndarray) -> Callable[[Any], Any]:
    """Nonzeros from the compressed products ``HT`` (ncolors, n) = (H @ S).T."""
    impl, n, k = s.outer, s.shapes.n, dec.ncolors
    if isinstance(dec, col.SymmetricDecompression):
        ci = dec.compressed_index[keep]
        idx = impl.index((ci % k) * n + ci // k)
        return lambda HT: impl.take(HT.reshape(-1), idx, unique=False)
    trees = dec.trees
    nodes, ndiag = trees.key.size, dec.diagonal.size
    key, child, parent = impl.index(trees.key), impl.index(trees.child), impl.index(trees.parent)
    start, stop = impl.index(trees.start), impl.index(trees.stop)
    diagonal = impl.index(dec.diagonal_index)
    dtype = numpy_dtype(s.given.x)
    sign = constant(impl.kind, trees.sign.astype(dtype))
    sign_child = constant(impl.kind, trees.sign[trees.child].astype(dtype))
    # each kept nonzero, read from [diagonal values, edge values]
    slot = np.full(dec.rows.size, -1, dtype=np.int64)
    slot[dec.diagonal] = np.arange(ndiag)
    slot[trees.position] = ndiag + np.arange(trees.position.size)
    source = impl.index(slot[dec.canonical[keep]])
    cat = concat(impl)

    def sums(b: Any) -> Any:
        C = impl.prefix_sum(sign * b)
        return sign_child * (impl.take(C, stop, unique=False) - impl.take(C, start, unique=False))

    def substitute(HT: Any) -> Any:
        flat = HT.T.reshape(-1)
        b = impl.take(flat, key)
        edges = sums(b)  # then one step of iterative refinement on the residual of every sum
        residual = b - impl.segment_sum(edges, child, nodes) - impl.segment_sum(edges, parent, nodes)
        edges = edges + sums(residual)
        return impl.take(cat([impl.take(flat, diagonal), edges]), source, unique=False)

    return substitute
