"""Sparse Jacobians: a column coloring pushed forward, a row coloring pulled back, or both
(MixedMode); one batched product per color group, then one gather."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from adopt._prep import Prep
from adopt._sparse import coloring as col
from adopt._autosparse.info import SparseInfo
from adopt._autosparse.pattern import pattern
from adopt._autosparse.prepare import captures, concat, count, finish, seeds
from adopt.backends.wrappers import AutoSparse, GreedyColoring, MixedMode
from adopt.operators import _derive as d
from adopt.operators._common import Setup, setup

__all__ = ["prepare_sparse_jacobian"]


def _jacobian_mode(s: Setup, backend: AutoSparse, P: sp.csr_array, coloring: GreedyColoring) -> tuple[str, np.ndarray]:
    """Column coloring pushed forward or row coloring pulled back, whichever costs less: colors
    times the backend's cost of a forward product relative to a reverse one (1 in a captured
    PyTorch graph, where batched JVPs are plain ATen calls but batched VJPs of some ops loop)."""
    dense = s.parts.dense  # the first-order backend (the inner one of a SecondOrder)
    order, seed = coloring.orders(symmetric=False), coloring.seed
    forward_cost = 1.0 if captures(s) else dense.forward_cost
    has_fwd, has_rev = dense.has_pushforward, dense.has_pullback
    if dense.mode == "forward" or not has_rev:
        return "forward", col.column_coloring(P, order, seed=seed)
    if dense.mode == "reverse" or not has_fwd:
        return "reverse", col.row_coloring(P, order, seed=seed)
    cc = col.column_coloring(P, order, seed=seed)
    # a row coloring is a column coloring of P.T: the same one for a symmetric structure
    rc = cc if _symmetric_structure(P) else col.row_coloring(P, order, seed=seed)
    return ("forward", cc) if count(cc) * forward_cost <= count(rc) else ("reverse", rc)


def _symmetric_structure(P: sp.csr_array) -> bool:
    return P.shape[0] == P.shape[1] and (P != P.T).nnz == 0


def prepare_sparse_jacobian(f: Callable[..., Any], backend: AutoSparse, x: Any,
                            contexts: tuple[Any, ...], y: Any, strict: bool) -> Prep:
    """The sparse branch of :func:`adopt.prepare_jacobian`."""
    s = setup("jacobian", "prepare_jacobian", f, backend, x, contexts, y=y, strict=strict)
    P = pattern(s, backend, hessian=False)
    coloring = backend.coloring or GreedyColoring()
    if isinstance(backend.dense, MixedMode):
        h, info = _mixed(s, backend.dense, P, coloring)
    else:
        mode, colors = _jacobian_mode(s, backend, P, coloring)
        h, info = _one_sided(s, P, colors, mode)
    shape = (s.shapes.m, s.shapes.n)
    return finish(s, backend, h, info, shape)


def _one_sided(s: Setup, P: sp.csr_array, colors: np.ndarray, mode: str) -> tuple[Callable, SparseInfo]:
    """Column groups pushed forward, or row groups pulled back; nonzeros gathered by one index map.

    Forward products come out as ``(ncolors, m)``: entry ``(i, j)`` sits at ``colors[j] * m + i``;
    reverse ones as ``(ncolors, n)``: at ``colors[i] * n + j``.
    """
    k, (rows, cols) = count(colors), P.nonzero()
    forward = mode == "forward"
    m, n = s.shapes.m, s.shapes.n
    idx = s.outer.index(colors[cols] * m + rows if forward else colors[rows] * n + cols)
    S = seeds(s, colors, k, s.shapes.x_shape if forward else s.shapes.y_shape)
    product = (d.value_and_pushforward if forward else d.value_and_pullback)(s.outer, s.fn, s.shapes)
    take = s.outer.take

    def h(x: Any, *c: Any) -> tuple[Any, Any]:
        yv, B = product(x, S, *c)
        return yv, take(B.reshape(-1), idx)

    return h, SparseInfo(P, mode, colors if forward else None, None if forward else colors, k, rows, cols)


def _mixed(s: Setup, mm: MixedMode, P: sp.csr_array, coloring: GreedyColoring) -> tuple[Callable, SparseInfo]:
    rc, cc = col.bicoloring(P, coloring.orders(symmetric=False), seed=coloring.seed)
    dec = col.bicoloring_decompression(P, rc, cc)
    m, n = s.shapes.m, s.shapes.n
    fwd_used, rev_used = np.asarray(dec.forward_colors), np.asarray(dec.reverse_colors)
    fpos = np.full(dec.ncol_colors, -1)
    fpos[fwd_used] = np.arange(fwd_used.size)
    rpos = np.full(dec.nrow_colors, -1)
    rpos[rev_used] = np.arange(rev_used.size)
    ci, rev = dec.compressed_index, dec.from_reverse
    nc = m * dec.ncol_colors
    # Bc (m, ncol) entry r*ncol + c  ->  our forward products (kf, m): fpos[c]*m + r
    r_f, c_f = ci // dec.ncol_colors, ci % dec.ncol_colors
    # Br (nrow, n) entry r*n + j  ->  our reverse products (kr, n), after the forward ones
    cr = ci - nc
    r_r, j_r = cr // n, cr % n
    kf = fwd_used.size
    idx = np.where(rev, kf * m + rpos[np.where(rev, r_r, 0)] * n + np.where(rev, j_r, 0),
                   fpos[np.where(rev, 0, c_f)] * m + np.where(rev, 0, r_f))
    idx = s.outer.index(idx)
    seeds_f = seeds(s, _select_colors(cc, fwd_used), kf, s.shapes.x_shape) if kf else None
    seeds_r = seeds(s, _select_colors(rc, rev_used), rev_used.size, s.shapes.y_shape) if rev_used.size else None
    fi, ri = mm.forward.impl(), mm.reverse.impl()
    vpf = d.value_and_pushforward(fi, s.fn, s.shapes)
    vpb = d.value_and_pullback(ri, s.fn, s.shapes)
    cat = concat(s.outer)

    fn = s.fn

    def h(x: Any, *c: Any) -> tuple[Any, Any]:
        yv, parts = fn(x, *c), [s.outer.zeros((0,), x)]
        if seeds_f is not None:
            yv, TY = vpf(x, seeds_f, *c)
            parts.append(TY.reshape(-1))
        if seeds_r is not None:
            yv, TX = vpb(x, seeds_r, *c)
            parts.append(TX.reshape(-1))
        return yv, s.outer.take(cat(parts), idx)

    rows, cols = dec.rows, dec.cols
    return h, SparseInfo(P, "mixed", cc, rc, kf + rev_used.size, rows, cols)


def _select_colors(colors: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Renumber ``colors`` onto the used ones; unused groups get a dummy color past the end."""
    pos = np.full(int(colors.max()) + 1 if colors.size else 0, used.size)
    pos[used] = np.arange(used.size)
    new = pos[colors]
    return np.where(new < used.size, new, -1)


