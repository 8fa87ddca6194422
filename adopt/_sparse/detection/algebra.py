"""The dependency algebra: sparse boolean matrices of dependency sets and their operations.

A traced array of ``size`` elements carries a boolean CSR matrix ``D`` of shape ``(size, n)``:
row ``k`` holds the inputs element ``k`` may depend on (C order). Every rule of the three
tracers is a few of the operations below, all vectorised (row gathers, sums of matrices,
products with aggregation matrices), so that detection costs a few sparse operations per
operation of ``f``, never a Python loop over its elements.

Second order: a :class:`Trace` accumulates, for every nonlinear operation, the outer products
its second derivative creates (``D_u^T D_v`` for ``u * v``, ``D_u^T D_u`` for ``exp(u)``); their
union, symmetrised, is the Hessian pattern (never smaller than the true one).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from adopt._sparse.detection.diagnostics import canonical_pattern, require_scalar
from adopt._sparse.detection.kinds import Kind

__all__ = [
    "Trace", "Operand", "MAX_GRID", "empty", "pairs", "is_arange", "take", "mask_rows", "union",
    "union_row", "broadcast_row", "broadcast_rows", "owner_rows", "normalize_axes", "groups",
    "group_union",
    "group_spread", "group_prefix", "scatter", "conservative", "pointwise", "reduce", "prefix",
    "spread", "einsum",
]

#: largest index grid an einsum-like contraction enumerates (beyond: a conservative block)
MAX_GRID = 30_000_000

#: a point-wise operand: (its rows broadcast to the output, or None for a constant; its values
#: broadcast and flattened if it is a known constant, else None)
Operand = tuple


def empty(m: int, n: int) -> sp.csr_array:
    """``m`` rows without dependencies."""
    return sp.csr_array((m, n), dtype=bool)


def _index_dtype(*sizes: int) -> type:
    return np.int32 if max(sizes, default=0) < 2**31 - 1 else np.int64


def _csr(indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    dt = _index_dtype(indices.size, shape[1])
    return sp.csr_array((np.ones(indices.size, dtype=bool), indices.astype(dt, copy=False),
                         indptr.astype(dt, copy=False)), shape=shape)


def pairs(rows: np.ndarray, cols: np.ndarray, m: int, k: int) -> sp.csr_array:
    """Boolean ``(m, k)`` matrix with ones at ``(rows[i], cols[i])``; duplicates are merged.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt._sparse.detection.algebra import pairs
    >>> pairs(np.array([0, 1, 1]), np.array([2, 0, 0]), 2, 3).toarray()
    array([[False, False,  True],
           [ True, False, False]])
    """
    return sp.csr_array((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(m, k))


def is_arange(rows: np.ndarray, m: int) -> bool:
    """Whether ``rows`` is ``0, 1, ..., m - 1`` (all rows in order)."""
    if rows.size != m:
        return False
    if m < 3:
        return bool(np.array_equal(rows, np.arange(m)))
    return bool(rows[0] == 0 and rows[-1] == m - 1 and np.all(rows[1:] - rows[:-1] == 1))


def take(D: sp.csr_array, rows: np.ndarray) -> sp.csr_array:
    """The rows ``D[rows]``; a row index of ``-1`` selects a row without dependencies.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from adopt._sparse.detection.algebra import take
    >>> take(sp.eye_array(3, dtype=bool, format="csr"), np.array([2, -1, 0])).toarray().astype(int)
    array([[0, 0, 1],
           [0, 0, 0],
           [1, 0, 0]])
    """
    rows = np.asarray(rows, dtype=np.intp).ravel()
    m, n = D.shape
    if is_arange(rows, m):
        return D
    dt = _index_dtype(D.nnz, rows.size)
    indptr = D.indptr.astype(dt, copy=False)
    holes = rows < 0
    r = np.where(holes, 0, rows) if holes.any() else rows
    starts = indptr[r]
    lens = indptr[r + 1] - starts
    lens[holes] = 0
    if lens.size and lens.min() == lens.max():  # rows of one length k (often 1): no repeat
        k = int(lens[0])
        offsets = (starts[:, None] + np.arange(k, dtype=dt)).ravel()
        new_indptr = np.arange(rows.size + 1, dtype=np.int64) * k
    else:
        new_indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lens, out=new_indptr[1:])
        dt = _index_dtype(int(new_indptr[-1]), D.nnz)
        offsets = np.repeat((starts - new_indptr[:-1]).astype(dt), lens)
        offsets += np.arange(offsets.size, dtype=dt)
    if offsets.size == 0:
        return empty(rows.size, n)
    return _csr(D.indices[offsets], new_indptr, (rows.size, n))


def mask_rows(D: sp.csr_array, keep: np.ndarray) -> sp.csr_array:
    """``D`` with the rows where ``keep`` is False emptied."""
    keep = np.asarray(keep, dtype=bool).ravel()
    if keep.all():
        return D
    return take(D, np.where(keep, np.arange(keep.size), -1))


def union(mats: Sequence[sp.csr_array | None], m: int, n: int) -> sp.csr_array:
    """Row-wise union of matrices of the same shape (None and empty ones are skipped)."""
    out = None
    seen: list[sp.csr_array] = []
    for M in mats:
        if M is None or M.nnz == 0 or any(M is S for S in seen):
            continue
        seen.append(M)
        out = M if out is None else out + M
    return empty(m, n) if out is None else out


def union_row(mats: Sequence[sp.csr_array], n: int) -> sp.csr_array:
    """One row: every input that any row of ``mats`` depends on."""
    hit = np.zeros(n, dtype=bool)
    for M in mats:
        hit[M.indices[:M.nnz]] = True
    cols = np.flatnonzero(hit)
    return _csr(cols, np.array([0, cols.size]), (1, n))


def broadcast_row(U: sp.csr_array, m: int) -> sp.csr_array:
    """``m`` copies of the one row ``U``."""
    k = U.nnz
    return _csr(np.tile(U.indices[:k], m), np.arange(m + 1, dtype=np.int64) * k, (m, U.shape[1]))


def broadcast_rows(shape: tuple, out_shape: tuple) -> np.ndarray:
    """Flat source index of every element of ``out_shape`` when ``shape`` broadcasts to it."""
    src = np.arange(math.prod(shape), dtype=np.intp).reshape(shape)
    return np.broadcast_to(src, out_shape).ravel()


def owner_rows(shape: tuple, dim: int, out_shape: tuple) -> np.ndarray:
    """Group index of every element of a reduced-along-``dim`` output (top_k, kthvalue)."""
    dim = dim % len(shape)
    kept = [s for d, s in enumerate(shape) if d != dim]
    grp = np.expand_dims(np.arange(math.prod(kept)).reshape(kept), dim)
    return np.broadcast_to(grp, out_shape).ravel()


def normalize_axes(axis: object, ndim: int) -> tuple[int, ...]:
    """Sorted non-negative axes; None is every axis."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    return tuple(sorted({int(a) % ndim if ndim else 0 for a in axis}))


def groups(shape: tuple, axes: tuple[int, ...], keepdims: bool) -> tuple[np.ndarray, tuple]:
    """``(G, out_shape)``: row ``i`` of ``G`` lists the flat input indices reduced into output
    ``i`` when ``axes`` of ``shape`` are reduced.

    Examples
    --------
    >>> from adopt._sparse.detection.algebra import groups
    >>> G, out_shape = groups((2, 3), (1,), False)
    >>> G, out_shape
    (array([[0, 1, 2],
           [3, 4, 5]]), (2,))
    """
    ndim = len(shape)
    kept = [d for d in range(ndim) if d not in axes]
    idx = np.arange(math.prod(shape), dtype=np.intp).reshape(shape)
    if keepdims:
        out_shape = tuple(1 if d in axes else shape[d] for d in range(ndim))
    else:
        out_shape = tuple(shape[d] for d in kept)
    G = idx.transpose(kept + list(axes)).reshape(math.prod(shape[d] for d in kept),
                                                 math.prod(shape[d] for d in axes))
    return G, out_shape


def group_union(D: sp.csr_array, G: np.ndarray) -> sp.csr_array:
    """One row per group: the union of the rows of its members."""
    out, r = G.shape
    if r == 0:
        return empty(out, D.shape[1])
    if r == 1:
        return take(D, G[:, 0])
    return pairs(np.repeat(np.arange(out), r), G.ravel(), out, D.shape[0]) @ D


def group_spread(D: sp.csr_array, G: np.ndarray) -> sp.csr_array:
    """Every element depends on its whole group (sort, softmax); rows in input order."""
    owner = np.empty(G.size, dtype=np.intp)
    owner[G.ravel()] = np.repeat(np.arange(G.shape[0]), G.shape[1])
    return take(group_union(D, G), owner)


def group_prefix(D: sp.csr_array, G: np.ndarray) -> sp.csr_array:
    """Element ``j`` of each group depends on its members ``0..j`` (cumsum); input order."""
    jj, ll = np.tril_indices(G.shape[1])
    return pairs(G[:, jj].ravel(), G[:, ll].ravel(), D.shape[0], D.shape[0]) @ D


def scatter(base: sp.csr_array, targets: np.ndarray, V: sp.csr_array,
            accumulate: bool) -> sp.csr_array:
    """``base`` with row ``targets[i]`` receiving row ``i`` of ``V``: added to the old row, or
    replacing it (rows written twice take the union of their values).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from adopt._sparse.detection.algebra import scatter
    >>> I = sp.eye_array(3, dtype=bool, format="csr")
    >>> scatter(I, np.array([0]), I[[2]], accumulate=False).toarray().astype(int)
    array([[0, 0, 1],
           [0, 1, 0],
           [0, 0, 1]])
    """
    size = base.shape[0]
    W = pairs(targets, np.arange(len(targets)), size, len(targets)) @ V
    if accumulate:
        return base + W
    written = np.zeros(size, dtype=bool)
    written[targets] = True
    return mask_rows(base, ~written) + W


class Trace:
    """Per-detection state: the number of inputs and the accumulated Hessian pattern.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from adopt._sparse.detection.algebra import Trace
    >>> tr = Trace(3, hessian=True)
    >>> I = sp.eye_array(3, dtype=bool, format="csr")
    >>> tr.cross(I[[0]], I[[2]])  # x0 * x2
    >>> tr.hessian_pattern().toarray().astype(int)
    array([[0, 0, 1],
           [0, 0, 0],
           [1, 0, 0]])
    """

    def __init__(self, n: int, hessian: bool):
        self.n = n
        self.hessian = hessian
        self._terms: list[sp.csr_array] = []

    def cross(self, A: sp.csr_array, B: sp.csr_array) -> None:
        """Record the interactions ``A^T B`` (rows aligned: element by element)."""
        if self.hessian and A.nnz and B.nnz:
            self._record(sp.csr_array(A.T @ B))

    def block(self, S: sp.csr_array) -> None:
        """Record the interactions within each row of ``S`` (a smooth function of it)."""
        if self.hessian and S.nnz and S.nnz == np.count_nonzero(np.diff(S.indptr)):
            hit = np.zeros(self.n, dtype=bool)  # one input a row: a diagonal
            hit[S.indices[:S.nnz]] = True
            indptr = np.zeros(self.n + 1, dtype=np.int64)
            np.cumsum(hit, out=indptr[1:])
            self._record(_csr(np.flatnonzero(hit), indptr, (self.n, self.n)))
            return
        self.cross(S, S)

    def _record(self, term: sp.csr_array) -> None:
        self._terms.append(term)
        if len(self._terms) > 16:
            self._terms = [union(self._terms, self.n, self.n)]

    def group_pairs(self, D: sp.csr_array, G: np.ndarray) -> None:
        """Interactions between distinct members of each group (products, e.g. ``prod``)."""
        if not self.hessian or G.shape[1] < 2 or D.nnz == 0:
            return
        r = G.shape[1]
        if r > 32:
            self.block(group_union(D, G))
            return
        first = take(D, G.ravel())
        for s in range(1, r // 2 + 1):
            self.cross(first, take(D, np.roll(G, -s, axis=1).ravel()))

    def hessian_pattern(self) -> sp.csr_array:
        """The symmetric pattern of everything recorded."""
        H = union(self._terms, self.n, self.n)
        return canonical_pattern(H + H.T)

    def pattern(self, rows: sp.csr_array) -> sp.csr_array:
        """What the detection returns, given the rows of ``f``'s output: the Jacobian pattern,
        or for a Hessian detection (of a scalar ``f``) the Hessian pattern."""
        if not self.hessian:
            return canonical_pattern(rows)
        require_scalar(rows)
        return self.hessian_pattern()


def conservative(tr: Trace, mats: Sequence[sp.csr_array]) -> sp.csr_array:
    """The row of an operation without a rule: every input of it, one full Hessian block."""
    U = union_row(mats, tr.n)
    tr.block(U)
    return U


# ---- rules by kind ------------------------------------------------------------------------
def pointwise(tr: Trace, kind: Kind, ops: Sequence[Operand], m: int) -> sp.csr_array:
    """Rows of a point-wise operation of ``kind`` on broadcast operands.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from adopt._sparse.detection.algebra import Trace, pointwise
    >>> from adopt._sparse.detection.kinds import Kind
    >>> I = sp.eye_array(2, dtype=bool, format="csr")
    >>> tr = Trace(2, hessian=True)
    >>> pointwise(tr, Kind.MUL, [(I, None), (None, np.array([0.0, 3.0]))], 2).toarray()
    array([[False, False],
           [False,  True]])
    """
    traced = [r for r, _ in ops if r is not None]
    if kind is Kind.ZERO or not traced:
        return empty(m, tr.n)
    if kind in (Kind.LINEAR, Kind.PIECEWISE):
        return union(traced, m, tr.n)
    if kind is Kind.FIRST:
        return ops[0][0] if ops[0][0] is not None else empty(m, tr.n)
    if kind is Kind.UNARY:
        tr.block(ops[0][0])
        return ops[0][0]
    if kind is Kind.MUL:
        return _mul(tr, ops, m)
    if kind is Kind.DIV:
        u, v = ops[0][0], ops[1][0]
        if u is not None and v is not None:
            tr.cross(u, v)
        if v is not None:
            tr.block(v)
        return union([u, v], m, tr.n)
    if kind is Kind.POW:
        return _pow(tr, ops, m)
    S = union(traced, m, tr.n)  # NONLINEAR
    tr.block(S)
    return S


def _mul(tr: Trace, ops: Sequence[Operand], m: int) -> sp.csr_array:
    keep = np.ones(m, dtype=bool)
    for r, v in ops:
        if r is None and v is not None:
            keep &= np.asarray(v != 0).ravel() if np.ndim(v) else np.full(m, bool(v != 0))
    traced = [mask_rows(r, keep) for r, _ in ops if r is not None]
    for i in range(len(traced)):
        for j in range(i + 1, len(traced)):
            tr.cross(traced[i], traced[j])
    return union(traced, m, tr.n)


def _pow(tr: Trace, ops: Sequence[Operand], m: int) -> sp.csr_array:
    (u, _), (v, c) = ops[0], ops[1]
    if v is None and u is not None:
        if c is None:  # an exponent of unknown value
            tr.block(u)
            return u
        c = np.broadcast_to(np.asarray(c), (m,))
        tr.block(mask_rows(u, (c != 0) & (c != 1)))
        return mask_rows(u, c != 0)
    S = union([u, v], m, tr.n)
    tr.block(S)
    return S


def reduce(tr: Trace, D: sp.csr_array, G: np.ndarray, kind: Kind) -> sp.csr_array:
    """Rows of a reduction of each group of ``G`` (a row of ``G`` per output)."""
    if kind is Kind.ZERO:
        return empty(G.shape[0], tr.n)
    S = group_union(D, G)
    if kind is Kind.MUL:
        tr.group_pairs(D, G)
    elif kind is Kind.NONLINEAR:
        tr.block(S)
    return S


def prefix(tr: Trace, D: sp.csr_array, G: np.ndarray, kind: Kind) -> sp.csr_array:
    """Rows of a cumulative reduction along the groups of ``G`` (input order)."""
    if kind is Kind.MUL:
        tr.group_pairs(D, G)
    elif kind is Kind.NONLINEAR:
        tr.block(group_union(D, G))
    return group_prefix(D, G)


def spread(tr: Trace, D: sp.csr_array, G: np.ndarray, kind: Kind) -> sp.csr_array:
    """Rows of an operation where every member depends on its whole group (sort, softmax)."""
    if kind is Kind.NONLINEAR:
        tr.block(group_union(D, G))
    return group_spread(D, G)


# ---- einsum-like contractions -------------------------------------------------------------
def einsum(tr: Trace, in_subs: Sequence[str], out_sub: str,
           ops: Sequence[tuple]) -> sp.csr_array | None:
    """Rows of ``out[o] = sum over the other letters of prod_k op_k[...]``.

    An operand is ``(shape, rows, mask)``: ``rows`` its dependency rows if traced, else None;
    ``mask`` the ``value != 0`` of a known constant, else None. Products of two traced operands
    record their Hessian terms. None if the index grid has more than :data:`MAX_GRID` points
    (the caller falls back to a conservative block).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from adopt._sparse.detection.algebra import Trace, einsum
    >>> A = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> I = sp.eye_array(2, dtype=bool, format="csr")
    >>> einsum(Trace(2, False), ["ij", "j"], "i", [(A.shape, None, A != 0), ((2,), I, None)]).toarray()
    array([[ True, False],
           [ True,  True]])
    """
    sizes: dict[str, int] = {}
    for sub, (shape, _, _) in zip(in_subs, ops):
        if len(sub) != len(shape):
            raise ValueError(f"einsum: subscripts {sub!r} do not match an operand of shape {shape}")
        for c, s in zip(sub, shape):
            if s != 1 and sizes.get(c, 1) not in (1, s):
                raise ValueError(f"einsum: dimension {c!r} has inconsistent sizes {sizes[c]} and {s}")
            sizes[c] = max(sizes.get(c, 1), s)
    out_size = math.prod(sizes[c] for c in out_sub)
    letters = list(dict.fromkeys(list(out_sub) + list(sizes)))
    coords, grid = _einsum_grid(ops, in_subs, letters, sizes)
    if math.prod(grid) > MAX_GRID:
        return None
    valid = np.ones(grid, dtype=bool)
    lins = []
    for sub, (shape, rows, mask) in zip(in_subs, ops):
        lin = np.broadcast_to(_linear_index(coords, sub, shape, len(grid)), grid)
        lins.append(lin)
        if rows is None and mask is not None:
            valid &= np.asarray(mask).ravel()[lin]
    out_shape = tuple(sizes[c] for c in out_sub)
    out_lin = np.broadcast_to(_linear_index(coords, out_sub, out_shape, len(grid)), grid)[valid]
    sel = [lin[valid] for lin in lins]
    traced = [(k, op[1]) for k, op in enumerate(ops) if op[1] is not None]
    parts = [pairs(out_lin, sel[k], out_size, rows.shape[0]) @ rows for k, rows in traced]
    for a in range(len(traced)):
        for b in range(a + 1, len(traced)):
            (ka, ra), (kb, rb) = traced[a], traced[b]
            if tr.hessian and ra.nnz and rb.nnz:
                tr.cross(ra, pairs(sel[ka], sel[kb], ra.shape[0], rb.shape[0]) @ rb)
    return union(parts, out_size, tr.n)


def _linear_index(coords: dict, sub: str, shape: tuple, ndim: int) -> np.ndarray:
    """Flat index into an operand of ``shape`` (size-1 dimensions broadcast) on the grid."""
    lin = np.zeros((1,) * ndim, dtype=np.intp)
    stride = 1
    for c, s in zip(reversed(sub), reversed(shape)):
        if s != 1:
            lin = lin + coords[c] * stride
        stride *= s
    return lin


def _einsum_grid(ops: Sequence[tuple], in_subs: Sequence[str], letters: list,
                 sizes: dict) -> tuple[dict, tuple]:
    """Coordinates of the contraction grid; enumerates the nonzeros of the sparsest constant."""
    best = None
    for k, (shape, rows, mask) in enumerate(ops):
        if rows is None and mask is not None and len(set(in_subs[k])) == len(in_subs[k]):
            nnz = int(np.count_nonzero(mask))
            if nnz < math.prod(shape) and (best is None or nnz < best[1]):
                best = (k, nnz)
    coords: dict[str, np.ndarray] = {}
    if best is None:
        for a, c in enumerate(letters):
            coords[c] = _axis(sizes[c], a, len(letters))
        return coords, tuple(sizes[c] for c in letters)
    k = best[0]
    shape, _, mask = ops[k]
    nz = np.nonzero(np.asarray(mask).reshape(shape))
    fixed = [c for c, s in zip(in_subs[k], shape) if s == sizes[c]]
    free = [c for c in letters if c not in fixed]
    for c, pos in zip(in_subs[k], nz):
        if c in fixed:
            coords[c] = pos.astype(np.intp).reshape((-1,) + (1,) * len(free))
    for a, c in enumerate(free):
        coords[c] = _axis(sizes[c], a + 1, len(free) + 1)
    return coords, (best[1],) + tuple(sizes[c] for c in free)


def _axis(size: int, a: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[a] = size
    return np.arange(size, dtype=np.intp).reshape(shape)
