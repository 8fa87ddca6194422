"""Global Jacobian / Hessian sparsity detection for NumPy and array-API functions.

``f`` is called once on a :class:`NumpyTracer`, an array stand-in that carries no values, only
*dependencies*: a boolean SciPy CSR matrix ``D`` of shape ``(size, n)`` whose row ``k`` holds the
inputs that element ``k`` may depend on. Every operation maps ``D`` with vectorised sparse
algebra (row gathers, sums, products with aggregation matrices), so detection costs a few sparse
operations per NumPy call, independent of Python loops over elements.

Second order: a trace-wide symmetric pattern ``H`` (n x n) accumulates, for every nonlinear
operation, the outer products its second derivative creates (``D_u^T D_v`` for ``u * v``,
``D_u^T D_u`` for ``exp(u)``, ...). The Hessian pattern of ``f`` is the accumulated ``H``: never
smaller than the true one (it may be larger on dead code).

Rules never under-approximate. Operations without a rule either run NumPy's own Python
implementation on tracers, or fall back to "every output depends on every input" with a
:class:`~adopt._sparse.detectors.ConservativeSparsityWarning`. Control flow on values raises
:class:`~adopt._sparse.detectors.SparsityDetectionError`.

This module also holds the framework-independent sparse helpers that ``detect_torch`` reuses.
"""

from __future__ import annotations

import inspect
import math
import operator
import string
import sys
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from adopt._contexts import Cache
from adopt._sparse.detectors import ConservativeSparsityWarning, SparsityDetectionError, canonical_pattern

__all__ = ["NumpyTracer", "jacobian_sparsity", "hessian_sparsity"]

_FIX = (
    "use DenseSparsityDetector(backend) (local pattern at x) or "
    "KnownSparsityDetector(pattern) (a pattern you supply)"
)
_CONTROL_FLOW = (
    "global sparsity detection cannot follow control flow on the values of x ({what}); "
    "use DenseSparsityDetector (local) or a known pattern (KnownSparsityDetector)"
)
_MAX_GRID = 30_000_000  # largest index grid an einsum-like rule enumerates


# ---------------------------------------------------------------------------------------------
# Framework-independent sparse helpers (also used by detect_torch)
# ---------------------------------------------------------------------------------------------


def _empty(m: int, n: int) -> sp.csr_array:
    return sp.csr_array((m, n), dtype=bool)


def _pairs(rows: np.ndarray, cols: np.ndarray, m: int, k: int) -> sp.csr_array:
    """Boolean (m, k) matrix with ones at (rows[i], cols[i]); duplicates are merged."""
    data = np.ones(len(rows), dtype=bool)
    return sp.csr_array((data, (rows, cols)), shape=(m, k))


def _is_arange(rows: np.ndarray, m: int) -> bool:
    if rows.size != m:
        return False
    if m == 0:
        return True
    return bool(rows[0] == 0 and rows[-1] == m - 1 and (m < 3 or np.all(np.diff(rows) == 1)))


def _take(D: sp.csr_array, rows: np.ndarray) -> sp.csr_array:
    """Rows ``D[rows]`` of a CSR matrix; a row index of -1 selects an empty row."""
    rows = np.asarray(rows, dtype=np.intp).ravel()
    m, n = D.shape
    if _is_arange(rows, m):
        return D
    indptr = np.append(D.indptr, D.indptr[-1]).astype(np.int64)
    r = np.where(rows < 0, m, rows)
    starts = indptr[r]
    lens = indptr[r + 1] - starts
    new_indptr = np.zeros(len(r) + 1, dtype=np.int64)
    np.cumsum(lens, out=new_indptr[1:])
    nnz = int(new_indptr[-1])
    if nnz == 0:
        return _empty(len(r), n)
    offs = np.repeat(starts - new_indptr[:-1], lens) + np.arange(nnz, dtype=np.int64)
    indices = D.indices[offs]
    idx_dtype = np.int32 if max(nnz, n) < 2**31 - 1 else np.int64
    return sp.csr_array(
        (np.ones(nnz, dtype=bool), indices.astype(idx_dtype), new_indptr.astype(idx_dtype)),
        shape=(len(r), n),
    )


def _mask_rows(D: sp.csr_array, keep: np.ndarray) -> sp.csr_array:
    keep = np.asarray(keep, dtype=bool).ravel()
    if keep.all():
        return D
    return _take(D, np.where(keep, np.arange(keep.size), -1))


def _union(mats: Sequence[sp.csr_array | None], m: int, n: int) -> sp.csr_array:
    out = None
    for M in mats:
        if M is None or M.nnz == 0:
            continue
        out = M if out is None else out + M
    return _empty(m, n) if out is None else out


def _broadcast_rows(shape: tuple, out_shape: tuple) -> np.ndarray:
    """Flat source index of every element of ``out_shape`` when ``shape`` broadcasts to it."""
    size = math.prod(shape)
    src = np.arange(size, dtype=np.intp).reshape(shape)
    return np.broadcast_to(src, out_shape).ravel()


def _owner_rows(shape: tuple, dim: int, out_shape: tuple) -> np.ndarray:
    """Group index of every element of a reduced-along-``dim`` output (topk, kthvalue)."""
    dim = dim % len(shape)
    kept = [s for d, s in enumerate(shape) if d != dim]
    grp = np.arange(math.prod(kept)).reshape(kept)
    grp = np.expand_dims(grp, dim)
    return np.broadcast_to(grp, out_shape).ravel()


def _normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    axes = tuple(sorted({int(a) % ndim if ndim else 0 for a in axis}))
    return axes


def _groups(shape: tuple, axes: tuple[int, ...], keepdims: bool) -> tuple[np.ndarray, tuple]:
    """(G, out_shape): row i of G lists the flat input indices reduced into output i."""
    ndim = len(shape)
    kept = [d for d in range(ndim) if d not in axes]
    size = math.prod(shape)
    idx = np.arange(size, dtype=np.intp).reshape(shape)
    r = math.prod(shape[d] for d in axes)
    out_shape = tuple(1 if d in axes else shape[d] for d in range(ndim)) if keepdims else tuple(
        shape[d] for d in kept
    )
    G = idx.transpose(kept + list(axes)).reshape(math.prod(shape[d] for d in kept), r)
    return G, out_shape


def _group_union(D: sp.csr_array, G: np.ndarray) -> sp.csr_array:
    out, r = G.shape
    if r == 0:
        return _empty(out, D.shape[1])
    agg = _pairs(np.repeat(np.arange(out), r), G.ravel(), out, D.shape[0])
    return agg @ D


def _group_spread(D: sp.csr_array, G: np.ndarray) -> sp.csr_array:
    """Every element depends on its whole group (sort, softmax): rows in input order."""
    S = _group_union(D, G)
    owner = np.empty(G.size, dtype=np.intp)
    owner[G.ravel()] = np.repeat(np.arange(G.shape[0]), G.shape[1])
    return _take(S, owner)


def _group_prefix(D: sp.csr_array, G: np.ndarray) -> sp.csr_array:
    """Element j of each group depends on elements 0..j (cumsum): rows in input order."""
    r = G.shape[1]
    jj, ll = np.tril_indices(r)
    agg = _pairs(G[:, jj].ravel(), G[:, ll].ravel(), D.shape[0], D.shape[0])
    return agg @ D


class _Trace:
    """Per-detection state: the number of inputs and the accumulated Hessian pattern."""

    def __init__(self, n: int, hessian: bool):
        self.n = n
        self.hessian = hessian
        self._terms: list[sp.csr_array] = []
        self.namespace: Any = None

    def cross(self, A: sp.csr_array, B: sp.csr_array) -> None:
        """Record the second-order interactions ``A^T B`` (rows aligned: element-wise)."""
        if not self.hessian or A.nnz == 0 or B.nnz == 0:
            return
        self._terms.append(sp.csr_array(A.T @ B))
        if len(self._terms) > 16:
            self._terms = [_union(self._terms, self.n, self.n)]

    def block(self, S: sp.csr_array) -> None:
        self.cross(S, S)

    def group_pairs(self, D: sp.csr_array, G: np.ndarray) -> None:
        """Interactions between distinct members of each group (products, e.g. ``prod``)."""
        if not self.hessian or G.shape[1] < 2 or D.nnz == 0:
            return
        r = G.shape[1]
        if r > 32:
            self.block(_group_union(D, G))
            return
        first = _take(D, G.ravel())
        for s in range(1, r // 2 + 1):
            self.cross(first, _take(D, np.roll(G, -s, axis=1).ravel()))

    def hessian_pattern(self) -> sp.csr_array:
        H = _union(self._terms, self.n, self.n)
        return canonical_pattern(H + H.T)


# Point-wise rules shared by NumPy ufuncs and ATen point-wise operators. An operand is
# ``(rows, values)``: ``rows`` its dependency rows broadcast to the output (None for a constant),
# ``values`` its known constant values broadcast and flattened (None if traced or unknown).

_Operand = tuple  # (sp.csr_array | None, np.ndarray | None)


def _pointwise(tr: _Trace, kind: str, ops: Sequence[_Operand], m: int) -> sp.csr_array:
    n = tr.n
    traced = [r for r, _ in ops if r is not None]
    if kind == "zero" or not traced:
        return _empty(m, n)
    if kind in ("linear", "piecewise"):
        return _union(traced, m, n)
    if kind == "first":
        return ops[0][0] if ops[0][0] is not None else _empty(m, n)
    if kind == "unary":
        D = ops[0][0]
        tr.block(D)
        return D
    if kind == "mul":
        return _mul_rule(tr, ops, m)
    if kind == "div":
        (u, _), (v, _) = ops[0], ops[1]
        if u is not None and v is not None:
            tr.cross(u, v)
        if v is not None:
            tr.block(v)
        return _union([u, v], m, n)
    if kind == "pow":
        return _pow_rule(tr, ops, m)
    # "nonlinear": a generic smooth function of all operands
    S = _union(traced, m, n)
    tr.block(S)
    return S


def _mul_rule(tr: _Trace, ops: Sequence[_Operand], m: int) -> sp.csr_array:
    keep = np.ones(m, dtype=bool)
    for r, v in ops:
        if r is None and v is not None:
            keep &= np.asarray(v != 0).ravel() if np.ndim(v) else np.full(m, bool(v != 0))
    traced = [_mask_rows(r, keep) for r, _ in ops if r is not None]
    for i in range(len(traced)):
        for j in range(i + 1, len(traced)):
            tr.cross(traced[i], traced[j])
    return _union(traced, m, tr.n)


def _pow_rule(tr: _Trace, ops: Sequence[_Operand], m: int) -> sp.csr_array:
    (u, _), (v, c) = ops[0], ops[1]
    if v is None and u is not None:
        if c is None:  # exponent of unknown value
            tr.block(u)
            return u
        c = np.broadcast_to(np.asarray(c), (m,))
        D = _mask_rows(u, c != 0)
        tr.block(_mask_rows(u, (c != 0) & (c != 1)))
        return D
    S = _union([u, v], m, tr.n)
    tr.block(S)
    return S


# Einsum-like contractions: out[o] = sum over the rest of prod_k op_k[...]. An operand is
# ``(shape, rows, mask)``: rows = dependency rows if traced else None; mask = (value != 0) of a
# known constant, or None.


def _einsum(tr: _Trace, in_subs: Sequence[str], out_sub: str, ops: Sequence[tuple]) -> sp.csr_array:
    sizes: dict[str, int] = {}
    for sub, (shape, _, _) in zip(in_subs, ops):
        if len(sub) != len(shape):
            raise ValueError(f"einsum: subscripts {sub!r} do not match an operand of shape {shape}")
        for c, s in zip(sub, shape):
            if s != 1 and sizes.get(c, 1) not in (1, s):
                raise ValueError(f"einsum: dimension {c!r} has inconsistent sizes {sizes[c]} and {s}")
            sizes[c] = max(sizes.get(c, 1), s)
    out_size = math.prod(sizes[c] for c in out_sub)
    letters = list(dict.fromkeys(list(out_sub) + [c for c in sizes]))
    coords, grid = _einsum_grid(ops, in_subs, letters, sizes)
    if math.prod(grid) > _MAX_GRID:
        return None  # caller falls back conservatively
    valid = np.ones(grid, dtype=bool)
    lins = []
    for sub, (shape, rows, mask) in zip(in_subs, ops):
        lin = np.zeros((1,) * len(grid), dtype=np.intp)
        stride = 1
        for c, s in zip(reversed(sub), reversed(shape)):
            if s != 1:
                lin = lin + coords[c] * stride
            stride *= s
        lin = np.broadcast_to(lin, grid)
        lins.append(lin)
        if rows is None and mask is not None:
            valid &= np.asarray(mask).ravel()[lin]
    out_lin = np.zeros((1,) * len(grid), dtype=np.intp)
    stride = 1
    for c in reversed(out_sub):
        out_lin = out_lin + coords[c] * stride
        stride *= sizes[c]
    out_lin = np.broadcast_to(out_lin, grid)[valid]
    sel = [lin[valid] for lin in lins]
    traced = [(k, ops[k][1]) for k in range(len(ops)) if ops[k][1] is not None]
    parts = []
    for k, rows in traced:
        parts.append(_pairs(out_lin, sel[k], out_size, rows.shape[0]) @ rows)
    for a in range(len(traced)):
        for b in range(a + 1, len(traced)):
            (ka, ra), (kb, rb) = traced[a], traced[b]
            if tr.hessian and ra.nnz and rb.nnz:
                P = _pairs(sel[ka], sel[kb], ra.shape[0], rb.shape[0])
                tr.cross(ra, P @ rb)
    return _union(parts, out_size, tr.n)


def _einsum_grid(ops, in_subs, letters, sizes):
    """Coordinates of the contraction grid; enumerates the nonzeros of the sparsest constant."""
    best = None
    for k, (shape, rows, mask) in enumerate(ops):
        if rows is None and mask is not None and len(set(in_subs[k])) == len(in_subs[k]):
            nnz = int(np.count_nonzero(mask))
            if nnz < math.prod(shape) and (best is None or nnz < best[1]):
                best = (k, nnz)
    coords: dict[str, np.ndarray] = {}
    if best is None:
        grid = tuple(sizes[c] for c in letters)
        for a, c in enumerate(letters):
            shape = [1] * len(letters)
            shape[a] = sizes[c]
            coords[c] = np.arange(sizes[c], dtype=np.intp).reshape(shape)
        return coords, grid
    k = best[0]
    shape, _, mask = ops[k]
    nz = np.nonzero(np.asarray(mask).reshape(shape))
    fixed = [c for c, s in zip(in_subs[k], shape) if s == sizes[c]]
    free = [c for c in letters if c not in fixed]
    grid = (best[1],) + tuple(sizes[c] for c in free)
    for c, s, pos in zip(in_subs[k], shape, nz):
        if c in fixed:
            coords[c] = pos.astype(np.intp).reshape((-1,) + (1,) * len(free))
    for a, c in enumerate(free):
        shp = [1] * len(grid)
        shp[a + 1] = sizes[c]
        coords[c] = np.arange(sizes[c], dtype=np.intp).reshape(shp)
    return coords, grid


# ---------------------------------------------------------------------------------------------
# The tracer
# ---------------------------------------------------------------------------------------------


class _Store:
    """Dependency rows of a buffer; views of it share the store (writes are seen by all)."""

    __slots__ = ("D", "certain", "union")

    def __init__(self, D: sp.csr_array, certain: bool = True):
        self.D = D
        self.certain = certain  # our memory layout provably equals NumPy's
        self.union = False  # writes add dependencies instead of replacing them

    def write(self, slots: np.ndarray, V: sp.csr_array, union: bool = False) -> None:
        nsl = self.D.shape[0]
        W = _pairs(slots, np.arange(len(slots)), nsl, len(slots)) @ V
        if self.union or union:
            self.D = self.D + W
            return
        written = np.zeros(nsl, dtype=bool)
        written[slots] = True
        self.D = _mask_rows(self.D, ~written) + W


class NumpyTracer:
    """Array stand-in that records which inputs every element depends on.

    Supports NumPy ufuncs, most of the NumPy function API through ``__array_function__``,
    indexing and assignment, and ``__array_namespace__`` for array-API code.
    """

    __array_priority__ = 1000
    __slots__ = ("_trace", "_store", "_idx", "dtype")
    device = "cpu"

    def __init__(self, trace: _Trace, store: _Store, idx: np.ndarray, dtype: Any):
        self._trace = trace
        self._store = store
        self._idx = idx  # 1-based slot of every element in ``store``, laid out like NumPy's
        self.dtype = np.dtype(dtype)

    # --- array attributes -----------------------------------------------------------------
    shape = property(lambda self: self._idx.shape)
    ndim = property(lambda self: self._idx.ndim)
    size = property(lambda self: self._idx.size)
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.dtype.itemsize * self._idx.size)
    T = property(lambda self: np.transpose(self))
    mT = property(lambda self: np.swapaxes(self, -1, -2))
    real = property(lambda self: np.real(self))
    imag = property(lambda self: np.imag(self))

    def __repr__(self) -> str:
        return f"NumpyTracer(shape={self.shape}, dtype={self.dtype})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def _rows(self, shape: tuple | None = None) -> sp.csr_array:
        """Dependency rows of the elements in C order (broadcast to ``shape`` if given)."""
        idx = self._idx
        if shape is not None and tuple(shape) != idx.shape:
            idx = np.broadcast_to(idx, shape)
        if not np.issubdtype(self.dtype, np.inexact):
            return _empty(idx.size, self._trace.n)
        return _take(self._store.D, idx.ravel() - 1)

    # --- conversions that would leave the trace --------------------------------------------
    def __bool__(self):
        raise SparsityDetectionError(
            _CONTROL_FLOW.format(what=f"bool() of a traced array of shape {self.shape}, e.g. `if x[0] > 0:`")
        )

    def _no_scalar(self, kind: str):
        raise SparsityDetectionError(
            f"global sparsity detection cannot convert a traced array of shape {self.shape} to a "
            f"{kind}: f calls {kind}() on a value computed from x (e.g. math.exp(x[0]), "
            "float(x[0])), or writes traced values into a plain NumPy buffer created with "
            "np.zeros(shape) / np.empty(shape); use np functions on arrays, create buffers with "
            "np.zeros_like(x), np.empty_like(x) or np.zeros(shape, like=x), or " + _FIX
        )

    def __float__(self):
        self._no_scalar("float")

    def __int__(self):
        self._no_scalar("int")

    def __index__(self):
        self._no_scalar("int")

    def __complex__(self):
        self._no_scalar("complex")

    def item(self, *args):
        self._no_scalar("Python scalar (item)")

    def tolist(self):
        self._no_scalar("Python list (tolist)")

    def __array__(self, dtype=None, copy=None):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if self.ndim == 0 or caller.startswith("scipy.sparse"):
            # np.array([x[0], x[1]]) builds an object array of 0-d tracers; scipy.sparse
            # products return NotImplemented on it, so that NumpyTracer.__rmatmul__ runs.
            out = np.empty((), dtype=object)
            out[()] = self
            return out
        raise SparsityDetectionError(
            f"global sparsity detection cannot convert a traced array of shape {self.shape} to a "
            "plain NumPy array: f calls np.asarray/np.array on a value computed from x, or writes "
            "one into a plain buffer made by np.zeros(shape) / np.empty(shape). Remove "
            "np.asarray(x) from f (NumPy functions accept the tracer directly) or use "
            "xp = array_api_compat.array_namespace(x); xp.asarray(x); create buffers with "
            "np.zeros_like(x) / np.empty_like(x) / np.zeros(shape, like=x); or " + _FIX
        )

    def __array_namespace__(self, api_version: str | None = None):
        return _namespace(self._trace)

    # --- NumPy protocols -------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _array_ufunc(self._trace, ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        tr = self._trace
        rule = _FUNCTIONS.get(func)
        if rule is not None:
            out = kwargs.pop("out", None) if func not in _KEEPS_OUT else None
            return _to_out(tr, rule(tr, *args, **kwargs), out)
        return _unknown_function(tr, func, args, kwargs)

    # --- indexing --------------------------------------------------------------------------
    def __getitem__(self, key):
        return _structural(self._trace, operator.getitem, (self, key), {}, _data_first)

    def __setitem__(self, key, value):
        _check_static(key, "an index")
        if not self._idx.flags.writeable:
            raise ValueError("assignment destination is read-only")
        targets = self._idx[key]
        value = _lift(self._trace, value)
        vshape = _shape_of(value)
        while len(vshape) > targets.ndim and vshape[0] == 1:  # NumPy drops leading 1s here
            vshape = vshape[1:]
        value = np.reshape(value, vshape) if isinstance(value, NumpyTracer) else value
        if np.broadcast_shapes(vshape, targets.shape) != targets.shape:
            raise ValueError(
                f"could not broadcast input array from shape {vshape} into shape {targets.shape}"
            )
        if isinstance(value, NumpyTracer) and np.issubdtype(self.dtype, np.inexact):
            V = value._rows(targets.shape)
        else:
            V = _empty(targets.size, self._trace.n)
        self._store.write(targets.ravel() - 1, V)

    # --- methods (delegate to the NumPy functions) -----------------------------------------
    def reshape(self, *shape, order="C", copy=None):
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape
        return np.reshape(self, shape, order=order)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)) else axes
        return np.transpose(self, axes or None)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        dtype = np.dtype(dtype)
        if not copy and dtype == self.dtype:
            return self
        keep = np.issubdtype(dtype, np.inexact) and np.issubdtype(self.dtype, np.inexact)
        D = self._rows() if keep else _empty(self.size, self._trace.n)
        return _fresh(self._trace, D, self.shape, dtype)

    def copy(self, order="K"):
        return np.copy(self, order=order)

    def flatten(self, order="C"):
        return np.copy(np.ravel(self, order=order))

    def fill(self, value):
        self[...] = value

    def sort(self, axis=-1, kind=None, order=None):
        self[...] = np.sort(self, axis=axis)

    def conj(self):
        return np.conjugate(self)

    conjugate = conj

    def view(self, *args, **kwargs):
        raise SparsityDetectionError(
            "global sparsity detection does not support ndarray.view on a traced array; " + _FIX
        )

    def compress(self, condition, axis=None, out=None):
        return np.compress(condition, self, axis=axis, out=out)

    def __round__(self, ndigits=None):
        return np.round(self, ndigits or 0)


def _delegate(name: str, func: Callable) -> None:
    def method(self, *args, **kwargs):
        return func(self, *args, **kwargs)

    method.__name__ = name
    setattr(NumpyTracer, name, method)


for _name in (
    "sum prod mean std var max min ptp cumsum cumprod argmax argmin any all clip round "
    "trace diagonal repeat take squeeze swapaxes ravel dot nonzero argsort searchsorted "
    "choose partition argpartition"
).split():
    _delegate(_name, getattr(np, _name))

_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
    "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
    "lshift": np.left_shift, "rshift": np.right_shift, "divmod": np.divmod,
}
for _name, _uf in _BINARY.items():
    setattr(NumpyTracer, f"__{_name}__", (lambda uf: lambda self, other: uf(self, other))(_uf))
    setattr(NumpyTracer, f"__r{_name}__", (lambda uf: lambda self, other: uf(other, self))(_uf))
    if _name != "divmod":
        setattr(
            NumpyTracer, f"__i{_name}__",
            (lambda uf: lambda self, other: uf(self, other, out=(self,)))(_uf),
        )
for _name, _uf in {"lt": np.less, "le": np.less_equal, "gt": np.greater,
                   "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}.items():
    setattr(NumpyTracer, f"__{_name}__", (lambda uf: lambda self, other: uf(self, other))(_uf))
NumpyTracer.__neg__ = lambda self: np.negative(self)
NumpyTracer.__pos__ = lambda self: np.positive(self)
NumpyTracer.__abs__ = lambda self: np.absolute(self)
NumpyTracer.__invert__ = lambda self: np.invert(self)
NumpyTracer.__hash__ = None


def _rmatmul(self, other):
    if sp.issparse(other):
        return _sparse_matmul(self._trace, other, self)
    return np.matmul(other, self)


NumpyTracer.__rmatmul__ = _rmatmul

# Object arrays of 0-d tracers (np.array([x[0], x[1]])) evaluate math ufuncs element by element
# through methods named after the ufunc; forward those to the ufuncs themselves.
for _name in (
    "exp exp2 expm1 log log2 log10 log1p sqrt cbrt square reciprocal sin cos tan arcsin arccos "
    "arctan sinh cosh tanh arcsinh arccosh arctanh absolute negative sign floor ceil rint trunc "
    "deg2rad rad2deg degrees radians fabs"
).split():
    if not hasattr(NumpyTracer, _name):
        setattr(NumpyTracer, _name, (lambda uf: lambda self: uf(self))(getattr(np, _name)))


# ---------------------------------------------------------------------------------------------
# Construction, lifting, outputs
# ---------------------------------------------------------------------------------------------


def _fresh(tr: _Trace, D: sp.csr_array, shape: tuple, dtype: Any, certain: bool = True,
           like: np.ndarray | None = None) -> NumpyTracer:
    size = math.prod(shape)
    if like is not None and like.shape == tuple(shape):
        idx = np.empty_like(like, dtype=np.intp)
        idx[...] = np.arange(1, size + 1, dtype=np.intp).reshape(shape)
    else:
        idx = np.arange(1, size + 1, dtype=np.intp).reshape(shape)
    if not np.issubdtype(np.dtype(dtype), np.inexact):
        D = _empty(size, tr.n)
    return NumpyTracer(tr, _Store(D, certain), idx, dtype)


def _constant_tracer(tr: _Trace, shape: tuple, dtype: Any, like: np.ndarray | None = None,
                     certain: bool = True) -> NumpyTracer:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return _fresh(tr, _empty(math.prod(shape), tr.n), shape, dtype, certain, like)


def _contains_tracer(obj: Any) -> bool:
    if isinstance(obj, NumpyTracer):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_contains_tracer(o) for o in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        return any(isinstance(o, NumpyTracer) for o in obj.flat)
    if isinstance(obj, dict):
        return any(_contains_tracer(o) for o in obj.values())
    return False


def _lift(tr: _Trace, a: Any) -> Any:
    """Tracer or constant: object arrays / lists holding tracers become one tracer."""
    if isinstance(a, NumpyTracer):
        if a._trace is not tr:
            raise SparsityDetectionError("tracers from two different sparsity detections were mixed")
        return a
    if isinstance(a, (list, tuple)) and _contains_tracer(a):
        return _structural(tr, np.stack, ([_lift(tr, e) for e in a],), {}, _data_first)
    if isinstance(a, np.ndarray) and a.dtype == object and _contains_tracer(a):
        items = [_lift(tr, e) for e in a.flat]
        dtypes = [e.dtype if isinstance(e, NumpyTracer) else np.asarray(e).dtype for e in items]
        dtype = np.result_type(*dtypes)
        rows = []
        for e in items:
            if isinstance(e, NumpyTracer):
                if e.ndim:
                    raise SparsityDetectionError(
                        f"an object array holds a traced array of shape {e.shape}; build "
                        "arrays of traced values with np.stack/np.concatenate instead"
                    )
                rows.append(e._rows())
            else:
                rows.append(_empty(1, tr.n))
        D = sp.vstack(rows, format="csr") if rows else _empty(0, tr.n)
        return _fresh(tr, sp.csr_array(D, dtype=bool), a.shape, dtype)
    return a


def _check_static(obj: Any, what: str) -> None:
    if _contains_tracer(obj):
        raise SparsityDetectionError(
            f"global sparsity detection cannot use {what} computed from the values of x "
            "(e.g. x[np.argmax(x)], a mask x > 0, or a value-dependent shape); " + _FIX
        )


def _to_out(tr: _Trace, result: Any, out: Any) -> Any:
    if out is None:
        return result
    if isinstance(out, tuple):
        outs, results = out, result if isinstance(result, tuple) else (result,)
    else:
        outs, results = (out,), (result,)
    for o, r in zip(outs, results):
        if o is None:
            continue
        if not isinstance(o, NumpyTracer):
            if isinstance(r, NumpyTracer):
                raise SparsityDetectionError(
                    "f writes a traced result into a plain NumPy array (out=...); create the "
                    "buffer with np.empty_like(x) / np.zeros_like(x) / np.zeros(shape, like=x) "
                    "so the tracer can follow it, or " + _FIX
                )
            np.copyto(o, r)
            continue
        o[...] = r
    return out if isinstance(out, tuple) and len(out) > 1 else outs[0]


def _shape_of(a: Any) -> tuple:
    return a.shape if isinstance(a, NumpyTracer) else np.shape(a)


def _values(a: Any, shape: tuple) -> np.ndarray:
    return np.broadcast_to(np.asarray(a), shape).ravel()


def _operand(a: Any, shape: tuple) -> _Operand:
    if isinstance(a, NumpyTracer):
        return (a._rows(shape), None)
    return (None, _values(a, shape))


def _conservative(tr: _Trace, tracers: Sequence[NumpyTracer]) -> sp.csr_array:
    """A 1 x n row: the union of all dependencies of ``tracers`` (and their full Hessian block)."""
    rows = [t._rows() for t in tracers]
    U = _union([_group_union(r, np.arange(r.shape[0])[None, :]) for r in rows], 1, tr.n)
    tr.block(U)
    return U


def _broadcast_row(U: sp.csr_array, size: int) -> sp.csr_array:
    return _take(U, np.zeros(size, dtype=np.intp))


def _warn(name: str) -> None:
    warnings.warn(
        f"global sparsity detection has no rule for {name}; assuming every output of it depends "
        f"on every input of it (a dense block, also in the Hessian). The pattern stays valid but "
        f"may be denser than necessary; if that matters, {_FIX}",
        ConservativeSparsityWarning,
        stacklevel=4,
    )


# ---------------------------------------------------------------------------------------------
# Structural operations: run NumPy's own function on arrays of slot numbers
# ---------------------------------------------------------------------------------------------


def _data_first(args, kwargs, mark):
    return (mark(args[0]),) + tuple(args[1:]), kwargs


def _data_at(*positions, names=()):
    def sub(args, kwargs, mark):
        args = list(args)
        for p in positions:
            if p < len(args):
                args[p] = mark(args[p])
        kwargs = dict(kwargs)
        for name in names:
            if name in kwargs:
                kwargs[name] = mark(kwargs[name])
        return tuple(args), kwargs

    return sub


def _data_all(args, kwargs, mark):
    return tuple(mark(a) for a in args), kwargs


def _structural(tr: _Trace, func: Callable, args: tuple, kwargs: dict, data: Callable,
                layout_dependent: bool = False, dtype: Any = None) -> Any:
    """Apply a pure data-movement ``func`` to slot numbers; constants enter as slot 0."""
    stores: dict[int, tuple[_Store, int]] = {}
    tracers: list[NumpyTracer] = []
    dtypes: list[Any] = []
    offset = [0]

    def mark(obj):
        if isinstance(obj, NumpyTracer) or (isinstance(obj, np.ndarray) and obj.dtype == object):
            obj = _lift(tr, obj)
        if isinstance(obj, NumpyTracer):
            tracers.append(obj)
            dtypes.append(obj.dtype)
            key = id(obj._store)
            if key not in stores:
                stores[key] = (obj._store, offset[0])
                offset[0] += obj._store.D.shape[0]
            off = stores[key][1]
            return obj._idx if off == 0 else obj._idx + off
        if isinstance(obj, (list, tuple)):
            if _contains_tracer(obj) or any(isinstance(o, (np.ndarray, list, tuple)) for o in obj):
                return type(obj)(mark(o) for o in obj)
        if isinstance(obj, (int, float, complex, bool)):
            return 0
        arr = np.asarray(obj)
        dtypes.append(arr.dtype)
        return np.zeros(arr.shape, dtype=np.intp)

    kwargs = dict(kwargs)
    if kwargs.get("dtype") is not None:
        dtype = kwargs["dtype"]
    kwargs.pop("dtype", None)
    args2, kwargs2 = data(args, kwargs, mark)
    _check_static((args2, kwargs2), "an index or parameter")
    res = func(*args2, **kwargs2)
    if dtype is None:
        dtype = np.result_type(*dtypes) if dtypes else np.float64

    cat = []

    def convert(r):
        if isinstance(r, (list, tuple)):
            return type(r)(convert(e) for e in r)
        r = np.asarray(r)
        if len(tracers) == 1 and len(stores) == 1:
            t = tracers[0]
            view = np.may_share_memory(r, t._idx)
            if view or (layout_dependent and not t._store.certain):
                if layout_dependent and not t._store.certain:
                    t._store.union = True  # NumPy may copy where we view (or vice versa)
                return NumpyTracer(tr, t._store, r, dtype)
        if not cat:
            blocks = [s.D for s, _ in sorted(stores.values(), key=lambda so: so[1])]
            cat.append(sp.csr_array(sp.vstack(blocks, format="csr")) if len(blocks) > 1 else
                       (blocks[0] if blocks else _empty(0, tr.n)))
        D = _take(cat[0], r.ravel() - 1)
        certain = all(s.certain for s, _ in stores.values())
        return _fresh(tr, D, r.shape, dtype, certain, like=r)

    return convert(res)


def _inplace_structural(tr: _Trace, func: Callable, target: Any, args: tuple, kwargs: dict,
                        value_positions: Sequence[int]) -> None:
    """Run an in-place NumPy function (np.put, np.copyto, ...) on slot numbers of ``target``."""
    if not isinstance(target, NumpyTracer):
        if _contains_tracer((args, kwargs)):
            raise SparsityDetectionError(
                f"{func.__name__} writes traced values into a plain NumPy array; create the buffer "
                "with np.empty_like(x) / np.zeros_like(x) so the tracer can follow it, or " + _FIX
            )
        return func(target, *args, **kwargs)
    before = target._idx.copy()
    slots = before.copy()
    args = list(args)
    values = []
    for p in value_positions:
        v = _lift(tr, args[p])
        values.append(v)
        size = math.prod(_shape_of(v))
        args[p] = -(1 + sum(math.prod(_shape_of(w)) for w in values[:-1])) - np.arange(
            size, dtype=np.intp
        ).reshape(_shape_of(v))
    _check_static((args, kwargs), "an index")
    func(slots, *args, **kwargs)
    changed = slots != before
    rows = [v._rows() if isinstance(v, NumpyTracer) else _empty(math.prod(_shape_of(v)), tr.n)
            for v in values]
    V = sp.csr_array(sp.vstack(rows, format="csr")) if rows else _empty(0, tr.n)
    src = -slots[changed] - 1
    if not np.issubdtype(target.dtype, np.inexact):
        V = _empty(V.shape[0], tr.n)
    target._store.write(before[changed] - 1, _take(V, src))


# ---------------------------------------------------------------------------------------------
# Ufuncs
# ---------------------------------------------------------------------------------------------

_UFUNC_KIND: dict[str, str | tuple] = {}


def _kinds(kind: str, names: str) -> None:
    for nm in names.split():
        _UFUNC_KIND[nm] = kind


_kinds("linear", "add subtract negative positive conjugate conj deg2rad rad2deg degrees radians")
_kinds(
    "zero",
    "sign floor ceil trunc rint fix isnan isinf isfinite signbit logical_not invert bitwise_not "
    "bitwise_count spacing isnat floor_divide heaviside greater greater_equal less less_equal "
    "equal not_equal logical_and logical_or logical_xor bitwise_and bitwise_or bitwise_xor "
    "left_shift right_shift gcd lcm",
)
_kinds("piecewise", "absolute fabs maximum minimum fmax fmin remainder mod fmod")
_kinds("first", "copysign nextafter ldexp")
_kinds(
    "unary",
    "exp exp2 expm1 log log2 log10 log1p sqrt cbrt square reciprocal sin cos tan arcsin arccos "
    "arctan sinh cosh tanh arcsinh arccosh arctanh sinc "
    # common scipy.special ufuncs
    "expit logit erf erfc erfcx erfinv erfcinv gamma gammaln loggamma digamma psi ndtr ndtri "
    "log_ndtr log_expit i0 i1 j0 j1 y0 y1 entr cosdg sindg tandg cotdg expm1 log1p exprel "
    "spence dawsn wofz",
)
_kinds("mul", "multiply")
_kinds("div", "divide true_divide")
_kinds("pow", "power float_power")
_kinds(
    "nonlinear",
    "arctan2 hypot logaddexp logaddexp2 xlogy xlog1py rel_entr kl_div huber pseudo_huber "
    "beta betaln binom boxcox boxcox1p",
)
_UFUNC_KIND["divmod"] = ("zero", "piecewise")
_UFUNC_KIND["modf"] = ("linear", "zero")
_UFUNC_KIND["frexp"] = ("linear", "zero")


def _ufunc_dtypes(ufunc, inputs, kwargs) -> tuple:
    dummies = []
    for a in inputs:
        if isinstance(a, NumpyTracer):
            dummies.append(np.zeros((), a.dtype))
        elif isinstance(a, (int, float, complex, bool)):
            dummies.append(a)
        else:
            dummies.append(np.zeros((), np.asarray(a).dtype))
    kw = {k: kwargs[k] for k in ("dtype", "casting", "signature") if k in kwargs}
    with np.errstate(all="ignore"):
        res = ufunc(*dummies, **kw)
    res = res if isinstance(res, tuple) else (res,)
    return tuple(np.asarray(r).dtype for r in res)


def _array_ufunc(tr: _Trace, ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    out = kwargs.pop("out", None)
    where = kwargs.pop("where", True)
    inputs = tuple(_lift(tr, a) for a in inputs)
    if method == "__call__":
        result = _ufunc_call(tr, ufunc, inputs, kwargs)
    elif method == "reduce":
        result = _ufunc_reduce(tr, ufunc, *inputs, **kwargs)
    elif method == "accumulate":
        result = _ufunc_accumulate(tr, ufunc, *inputs, **kwargs)
    elif method == "outer":
        a, b = inputs
        na, nb = len(_shape_of(a)), len(_shape_of(b))
        a = a[(...,) + (None,) * nb] if isinstance(a, NumpyTracer) else np.asarray(a)[(...,) + (None,) * nb]
        result = _ufunc_call(tr, ufunc, (a, b), kwargs)
    elif method == "at":
        return _ufunc_at(tr, ufunc, *inputs)
    else:
        result = _fallback(tr, f"numpy.{ufunc.__name__}.{method}", getattr(ufunc, method), inputs, kwargs)
    if where is not True and method == "__call__" and out is not None:
        _check_static(where, "a where= mask")
        return _masked_to_out(tr, result, out, np.asarray(where))
    return _to_out(tr, result, out)


def _masked_to_out(tr: _Trace, result: Any, out: Any, where: np.ndarray) -> Any:
    """``ufunc(..., out=out, where=where)``: only the masked elements of ``out`` change."""
    outs = out if isinstance(out, tuple) else (out,)
    results = result if isinstance(result, tuple) else (result,)
    for o, r in zip(outs, results):
        if not isinstance(o, NumpyTracer):
            return _to_out(tr, result, out)  # raises for traced results
        mask = np.broadcast_to(where, o.shape)
        o[mask] = np.broadcast_to(r, o.shape)[mask]
    return outs[0] if len(outs) == 1 else outs


def _ufunc_call(tr: _Trace, ufunc, inputs: tuple, kwargs: dict) -> Any:
    name = ufunc.__name__
    if ufunc.signature is not None:
        rule = _GUFUNCS.get(name)
        if rule is None:
            return _fallback(tr, f"numpy.{name}", ufunc, inputs, kwargs)
        return rule(tr, *inputs, **{k: v for k, v in kwargs.items() if k == 'axis'})
    dtypes = _ufunc_dtypes(ufunc, inputs, kwargs)
    shape = np.broadcast_shapes(*(_shape_of(a) for a in inputs))
    m = math.prod(shape)
    kind = _UFUNC_KIND.get(name)
    if kind is None:
        _warn(f"the ufunc numpy.{name}")
        kind = "nonlinear" if ufunc.nin > 1 else "unary"
    kinds = kind if isinstance(kind, tuple) else (kind,) * ufunc.nout
    ops = [_operand(a, shape) for a in inputs]
    certain = all(
        (a._idx.flags.c_contiguous if isinstance(a, NumpyTracer) else
         (not isinstance(a, np.ndarray) or a.flags.c_contiguous))
        for a in inputs
    )
    outs = []
    for k, dt in zip(kinds, dtypes):
        D = _pointwise(tr, k, ops, m) if np.issubdtype(dt, np.inexact) else _empty(m, tr.n)
        outs.append(_fresh(tr, D, shape, dt, certain))
    return outs[0] if len(outs) == 1 else tuple(outs)


def _ufunc_reduce(tr, ufunc, a, axis=0, dtype=None, out=None, keepdims=False, initial=None,
                  where=True):
    name = ufunc.__name__
    kind = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "max", "fmax": "max",
            "fmin": "max", "logical_and": "zero", "logical_or": "zero"}.get(name)
    if kind is None or not isinstance(a, NumpyTracer):
        return _fallback(tr, f"numpy.{name}.reduce", ufunc.reduce, (a,),
                         dict(axis=axis, dtype=dtype, keepdims=keepdims))
    res_dtype = ufunc.reduce(np.zeros((1,), a.dtype), dtype=dtype).dtype
    return _reduction(tr, a, axis, keepdims, kind, where=where, dtype=res_dtype)


def _ufunc_accumulate(tr, ufunc, a, axis=0, dtype=None, out=None):
    kind = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "max",
            "fmax": "max", "fmin": "max"}.get(ufunc.__name__)
    if kind is None or not isinstance(a, NumpyTracer):
        return _fallback(tr, f"numpy.{ufunc.__name__}.accumulate", ufunc.accumulate, (a,),
                         dict(axis=axis, dtype=dtype))
    return _cumulative(tr, a, axis, kind, dtype)


def _ufunc_at(tr, ufunc, a, indices, b=None):
    if not isinstance(a, NumpyTracer):
        raise SparsityDetectionError(
            f"numpy.{ufunc.__name__}.at writes traced values into a plain NumPy array; create it "
            "with np.zeros_like(x) so the tracer can follow it, or " + _FIX
        )
    _check_static(indices, "an index")
    targets = a._idx[indices]
    if b is None:
        b = 0.0
    b = _lift(tr, b)
    np.broadcast_shapes(_shape_of(b), targets.shape)
    V = b._rows(targets.shape) if isinstance(b, NumpyTracer) else _empty(targets.size, tr.n)
    kind = _UFUNC_KIND.get(ufunc.__name__)
    if kind not in ("linear", "piecewise", "zero"):
        if kind is None:
            _warn(f"numpy.{ufunc.__name__}.at")
        # a smooth function of the old value and of every value applied to the same slot
        slots = targets.ravel() - 1
        agg = _pairs(slots, np.arange(len(slots)), a._store.D.shape[0], len(slots))
        tr.block(_take(a._store.D + agg @ V, slots))
    if kind == "zero":  # keeps the old dependencies too: conservative
        V = _empty(V.shape[0], tr.n)
    a._store.write(targets.ravel() - 1, V, union=True)


# ---------------------------------------------------------------------------------------------
# Reductions and friends
# ---------------------------------------------------------------------------------------------


def _reduction(tr: _Trace, a: Any, axis: Any, keepdims: bool, kind: str, where: Any = True,
               dtype: Any = None) -> Any:
    a = _lift(tr, a)
    if not isinstance(a, NumpyTracer):
        raise TypeError("internal: reduction of a constant")
    axes = _normalize_axes(axis, a.ndim)
    G, out_shape = _groups(a.shape, axes, bool(keepdims))
    D = a._rows()
    if where is not True and where is not None:
        _check_static(where, "a where= mask")
        D = _mask_rows(D, np.broadcast_to(np.asarray(where), a.shape).ravel())
    dtype = a.dtype if dtype is None else np.dtype(dtype)
    if kind == "zero":
        return _constant_tracer(tr, out_shape, np.bool_ if dtype == np.bool_ else dtype)
    S = _group_union(D, G)
    if kind == "prod":
        tr.group_pairs(D, G)
    elif kind == "smooth":
        tr.block(S)
    return _fresh(tr, S, out_shape, dtype)


def _cumulative(tr: _Trace, a: Any, axis: Any, kind: str, dtype: Any = None) -> Any:
    a = _lift(tr, a)
    if axis is None:
        a = np.ravel(a)
        axis = 0
    axes = _normalize_axes(axis, a.ndim)
    G, _ = _groups(a.shape, axes, False)
    D = a._rows()
    out = _group_prefix(D, G)
    if kind == "prod":
        tr.group_pairs(D, G)
    return _fresh(tr, out, a.shape, a.dtype if dtype is None else dtype)


# ---------------------------------------------------------------------------------------------
# __array_function__ rules
# ---------------------------------------------------------------------------------------------

_FUNCTIONS: dict[Callable, Callable] = {}
_KEEPS_OUT: set = set()
_GUFUNCS: dict[str, Callable] = {}


def _implements(*funcs: Any, keeps_out: bool = False):
    def deco(rule):
        for f in funcs:
            if f is not None:
                _FUNCTIONS[f] = rule
                if keeps_out:
                    _KEEPS_OUT.add(f)
        return rule

    return deco


def _implements_each(*funcs: Any):
    """Register ``rule(tr, func, *args, **kwargs)`` for each of ``funcs``."""

    def deco(rule):
        for f in funcs:
            if f is not None:
                _FUNCTIONS[f] = (lambda func: lambda tr, *a, **k: rule(tr, func, *a, **k))(f)
        return rule

    return deco


def _np(*names: str) -> list:
    out = []
    for nm in names:
        obj = np
        for part in nm.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        out.append(obj)
    return out


def _register_structural(names: str, data: Callable = _data_first, layout_dependent=False):
    for f in _np(*names.split()):
        if f is not None:
            _FUNCTIONS[f] = (lambda func: lambda tr, *a, **k: _structural(
                tr, func, a, k, data, layout_dependent))(f)


_register_structural("reshape ravel", layout_dependent=True)
_register_structural(
    "transpose permute_dims matrix_transpose swapaxes moveaxis rollaxis squeeze expand_dims "
    "broadcast_to flip fliplr flipud rot90 roll take take_along_axis diagonal diag diagflat "
    "tril triu copy split array_split hsplit vsplit dsplit unstack tile repeat resize delete "
    "real lib.stride_tricks.sliding_window_view linalg.diagonal linalg.matrix_transpose"
)
_register_structural("concatenate concat stack hstack vstack dstack column_stack row_stack block")
_register_structural("broadcast_arrays atleast_1d atleast_2d atleast_3d meshgrid", _data_all)
_register_structural("append", _data_at(0, 1, names=("arr", "values")))
_register_structural("insert", _data_at(0, 2, names=("arr", "values")))
_register_structural("compress extract choose", _data_at(1, names=("a", "arr", "choices")))


@_implements(np.pad)
def _pad(tr, array, pad_width, mode="constant", **kwargs):
    if callable(mode) or mode not in ("constant", "edge", "reflect", "symmetric", "wrap", "empty"):
        return _fallback(tr, f"numpy.pad(mode={mode!r})", np.pad, (array, pad_width),
                         dict(mode=mode, **kwargs))
    if mode in ("constant", "empty"):
        mode, kwargs = "constant", {}
    return _structural(tr, np.pad, (array, pad_width), dict(mode=mode, **kwargs), _data_first)


@_implements(np.imag)
def _imag(tr, val):
    return _constant_tracer(tr, _shape_of(val), _lift(tr, val).dtype)


@_implements(np.where)
def _where(tr, condition, x=None, y=None):
    if x is None and y is None:
        _check_static(condition, "np.where(condition) (a value-dependent shape)")
        return np.where(condition)
    if not _contains_tracer(condition):
        return _structural(tr, np.where, (condition, x, y), {}, _data_at(1, 2))
    return _select_union(tr, [condition, x, y], [x, y])


def _select_union(tr: _Trace, all_args: list, branches: list) -> NumpyTracer:
    """Value-dependent selection: the union of the branches (the condition has no derivative)."""
    all_args = [_lift(tr, a) for a in all_args]
    branches = [_lift(tr, b) for b in branches]
    shape = np.broadcast_shapes(*(_shape_of(a) for a in all_args))
    dtype = np.result_type(*[b.dtype if isinstance(b, NumpyTracer) else np.asarray(b).dtype
                             for b in branches])
    m = math.prod(shape)
    D = _union([b._rows(shape) for b in branches if isinstance(b, NumpyTracer)], m, tr.n)
    return _fresh(tr, D, shape, dtype)


@_implements(np.select)
def _select(tr, condlist, choicelist, default=0):
    if not _contains_tracer(condlist):
        return _structural(tr, np.select, (condlist, choicelist, default), {}, _data_at(1, 2))
    return _select_union(tr, list(condlist) + list(choicelist) + [default],
                         list(choicelist) + [default])


_NV = getattr(np, "_NoValue", None)


@_implements(np.clip, keeps_out=True)
def _clip(tr, a, a_min=_NV, a_max=_NV, out=None, *, min=_NV, max=_NV, **kwargs):
    lo = a_min if a_min is not _NV else min
    hi = a_max if a_max is not _NV else max
    args = [a] + [b for b in (lo, hi) if b is not _NV and b is not None]
    return _to_out(tr, _select_union(tr, args, args), out)


@_implements(*_np("zeros_like", "ones_like", "empty_like"))
def _zeros_like(tr, prototype, dtype=None, order="K", subok=True, shape=None, **kw):
    return _like(tr, prototype, dtype, order, shape)


@_implements(np.full_like)
def _full_like(tr, a, fill_value, dtype=None, order="K", subok=True, shape=None, **kw):
    if isinstance(fill_value, NumpyTracer):
        out = _like(tr, a, dtype or fill_value.dtype, order, shape)
        out[...] = fill_value
        return out
    return _like(tr, a, dtype, order, shape)


def _like(tr, prototype, dtype, order, shape):
    proto = prototype._idx if isinstance(prototype, NumpyTracer) else np.asarray(prototype)
    dtype = np.dtype(dtype) if dtype is not None else (
        prototype.dtype if isinstance(prototype, NumpyTracer) else proto.dtype)
    layout = np.empty_like(proto, dtype=np.int8, order=order, shape=shape)
    certain = not isinstance(prototype, NumpyTracer) or prototype._store.certain or order in "CF"
    return _constant_tracer(tr, layout.shape, dtype, like=layout, certain=certain)


def _creation(tr, shape, dtype=float, order="C", fill=None):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dtype = np.dtype(dtype if dtype is not None else float)
    layout = np.empty(shape, dtype=np.int8, order=order)
    return _constant_tracer(tr, shape, dtype, like=layout)


@_implements(*_np("zeros", "ones", "empty"))
def _zeros(tr, shape, dtype=float, order="C", **kw):
    return _creation(tr, shape, dtype, order)


@_implements(np.full)
def _full(tr, shape, fill_value, dtype=None, order="C", **kw):
    out = _creation(tr, shape, dtype if dtype is not None else np.result_type(fill_value), order)
    if isinstance(fill_value, NumpyTracer):
        out[...] = fill_value
    return out


@_implements(np.array, np.asarray, np.asanyarray)
def _array_like(tr, obj, dtype=None, *args, **kwargs):
    """``np.asarray(obj, like=x)``: tracers stay tracers, constants stay NumPy constants."""
    if _contains_tracer(obj):
        t = _lift(tr, obj)
        return t.astype(dtype) if dtype is not None else t
    return np.asarray(obj, dtype=dtype)


for _f in _np("arange", "linspace", "logspace", "geomspace", "eye", "identity", "tri",
              "fromfunction", "frombuffer", "fromiter", "ascontiguousarray", "asfortranarray",
              "require"):
    if _f is not None:  # like=x with constant arguments: plain NumPy constants
        _FUNCTIONS[_f] = (lambda func: lambda tr, *a, **k: func(*a, **k)
                          if not _contains_tracer((a, k)) else _unknown_function(tr, func, a, k))(_f)


@_implements(np.copyto)
def _copyto(tr, dst, src, casting="same_kind", where=True):
    if where is True or not _contains_tracer(where):
        _inplace_structural(tr, np.copyto, dst, (src,), dict(casting="unsafe", where=where), (0,))
    else:
        dst_rows = _select_union(tr, [dst, src, where], [dst, src])
        dst[...] = dst_rows


for _f, _pos in ((np.put, (2,)), (np.place, (2,)), (np.putmask, (2,)),
                 (np.put_along_axis, (2,)), (np.fill_diagonal, (1,))):
    _FUNCTIONS[_f] = (lambda func, pos: lambda tr, a, *args, **kw: _inplace_structural(
        tr, func, a, args, kw, tuple(p - 1 for p in pos)))(_f, _pos)


@_implements(np.shape)
def _np_shape(tr, a):
    return _shape_of(a)


@_implements(np.ndim)
def _np_ndim(tr, a):
    return len(_shape_of(a))


@_implements(np.size)
def _np_size(tr, a, axis=None):
    shape = _shape_of(a)
    return math.prod(shape) if axis is None else shape[axis]


@_implements(np.result_type)
def _result_type(tr, *arrays_and_dtypes):
    return np.result_type(*[a.dtype if isinstance(a, NumpyTracer) else a for a in arrays_and_dtypes])


@_implements(*_np("iscomplexobj", "isrealobj"))
def _iscomplexobj(tr, x):
    return np.issubdtype(x.dtype, np.complexfloating)


@_implements(np.astype)
def _astype(tr, x, dtype, /, *, copy=True, device=None):
    return x.astype(dtype, copy=copy)


# Reductions ----------------------------------------------------------------------------------


def _reduce_rule(kind: str):
    def rule(tr, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True,
             **kw):
        a = _lift(tr, a)
        if not isinstance(a, NumpyTracer):
            raise TypeError("internal: reduction without tracer")
        if kind in ("sum", "prod") and not np.issubdtype(a.dtype, np.inexact) and dtype is None:
            dtype = np.sum(np.zeros((1,), a.dtype)).dtype
        if kind == "zero":
            return _reduction(tr, a, axis, keepdims, "zero", dtype=np.bool_)
        return _reduction(tr, a, axis, keepdims, kind, where=where, dtype=dtype)

    return rule


_implements(*_np("sum", "nansum"))(_reduce_rule("sum"))
_implements(*_np("mean", "nanmean"))(_reduce_rule("sum"))
_implements(*_np("max", "amax", "nanmax", "min", "amin", "nanmin"))(_reduce_rule("max"))
_implements(*_np("prod", "nanprod"))(_reduce_rule("prod"))
_implements(*_np("any", "all"))(_reduce_rule("zero"))


@_implements(*_np("std", "var", "nanstd", "nanvar"))
def _std(tr, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, **kw):
    return _reduction(tr, a, axis, keepdims, "smooth", where=where, dtype=dtype)


@_implements(np.ptp)
def _ptp(tr, a, axis=None, out=None, keepdims=False):
    return _reduction(tr, a, axis, keepdims, "max")


@_implements(np.average)
def _average(tr, a, axis=None, weights=None, returned=False, *, keepdims=False):
    if weights is None or not _contains_tracer(weights):
        a = _lift(tr, a)
        if weights is not None:
            w = np.asarray(weights)
            if w.shape != a.shape:  # 1-D weights along ``axis``
                shape = [1] * a.ndim
                shape[axis if axis is not None else 0] = -1
                w = w.reshape(shape)
            a = a * (w != 0)  # zero weights remove the dependence
        res = _reduction(tr, a, axis, keepdims, "sum")
        if returned:
            return res, np.sum(np.broadcast_to(np.asarray(1.0 if weights is None else weights), a.shape), axis=axis)
        return res
    return _fallback(tr, "numpy.average with traced weights", np.average, (a,),
                     dict(axis=axis, weights=weights, returned=returned, keepdims=keepdims))


@_implements_each(*_np("median", "nanmedian", "percentile", "quantile", "nanpercentile",
                       "nanquantile"))
def _quantiles(tr, func, a, *args, **kwargs):
    """Order statistics: piecewise linear in the elements of each reduced group."""
    if _contains_tracer((args, kwargs)):
        return _fallback(tr, f"numpy.{func.__name__} with traced q", func, (a,) + args, kwargs)
    a = _lift(tr, a)
    kwargs.pop("out", None)
    bound = inspect.signature(func).bind(np.zeros(a.shape), *args, **kwargs)
    axis = bound.arguments.get("axis")
    keepdims = bound.arguments.get("keepdims", False)
    ref_shape = np.shape(func(np.zeros(a.shape), *args, **kwargs))
    red = _reduction(tr, a, axis, keepdims, "max")
    rows = _take(red._rows(), _broadcast_rows(red.shape, ref_shape))
    return _fresh(tr, rows, ref_shape, np.result_type(a.dtype, np.float64))


@_implements_each(np.sort, np.partition)
def _sort(tr, func, a, *args, **kwargs):
    bound = inspect.signature(func).bind(a, *args, **kwargs)
    axis = bound.arguments.get("axis", -1)
    a = _lift(tr, a)
    if axis is None:
        a, axis = np.ravel(a), 0
    G, _ = _groups(a.shape, _normalize_axes(axis, a.ndim), False)
    return _fresh(tr, _group_spread(a._rows(), G), a.shape, a.dtype)


def _cumulative_rule(kind: str) -> Callable:
    def rule(tr, a, axis=None, dtype=None, out=None, include_initial=False):
        res = _cumulative(tr, a, axis, kind, dtype)
        return _include_initial(res, axis) if include_initial else res

    return rule


_implements(*_np("cumsum", "nancumsum", "cumulative_sum"))(_cumulative_rule("sum"))
_implements(*_np("cumprod", "nancumprod", "cumulative_prod"))(_cumulative_rule("prod"))


def _include_initial(res, axis):
    axis = 0 if axis is None else axis
    pad = [(0, 0)] * res.ndim
    pad[axis] = (1, 0)
    return np.pad(res, pad)


@_implements(np.diff)
def _diff(tr, a, n=1, axis=-1, prepend=_NV, append=_NV):
    a = _lift(tr, a)
    parts = []
    if prepend is not _NV:
        p = np.asarray(prepend) if not isinstance(prepend, NumpyTracer) else prepend
        shape = list(a.shape)
        shape[axis] = 1
        parts.append(np.broadcast_to(p, shape) if np.ndim(p) == 0 else p)
    parts.append(a)
    if append is not _NV:
        p = np.asarray(append) if not isinstance(append, NumpyTracer) else append
        shape = list(a.shape)
        shape[axis] = 1
        parts.append(np.broadcast_to(p, shape) if np.ndim(p) == 0 else p)
    if len(parts) > 1:
        a = np.concatenate(parts, axis=axis)
    axis = axis % a.ndim
    hi = tuple(slice(1, None) if d == axis else slice(None) for d in range(a.ndim))
    lo = tuple(slice(None, -1) if d == axis else slice(None) for d in range(a.ndim))
    for _ in range(n):
        a = a[hi] - a[lo]
    return a


@_implements(np.gradient)
def _gradient(tr, f, *varargs, axis=None, edge_order=1):
    """Finite-difference stencils along each axis (the pattern; values are not tracked)."""
    f = _lift(tr, f)
    axes = _normalize_axes(axis, f.ndim)
    nonuniform = any(np.ndim(v) > 0 for v in varargs)
    out = []
    for ax in axes:
        def sl(start, stop):
            return tuple(slice(start, stop) if d == ax else slice(None) for d in range(f.ndim))

        parts = [f[sl(2, None)] + f[sl(None, -2)]]
        if nonuniform:  # unequal spacing also weighs the centre point
            parts[0] = parts[0] + f[sl(1, -1)]
        k = 2 if edge_order == 2 else 1
        first = sum(f[sl(i, i + 1)] for i in range(k + 1))
        last = sum(f[sl(f.shape[ax] - 1 - i, f.shape[ax] - i)] for i in range(k + 1))
        out.append(np.concatenate([first, parts[0], last], axis=ax))
    return out[0] if len(out) == 1 else tuple(out)


@_implements(*_np("trapezoid", "trapz"))
def _trapezoid(tr, y, x=None, dx=1.0, axis=-1):
    if _contains_tracer((x, dx)):
        return _fallback(tr, "numpy.trapezoid with traced sample points", np.trapezoid, (y,),
                         dict(x=x, dx=dx, axis=axis))
    return _reduction(tr, y, axis, False, "sum")


@_implements(np.trace)
def _trace_rule(tr, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return np.sum(np.diagonal(a, offset, axis1, axis2), axis=-1)


@_implements(*_np("round", "around", "fix"))
def _round(tr, a, decimals=0, out=None):
    a = _lift(tr, a)
    return _constant_tracer(tr, a.shape, a.dtype)


@_implements(*_np("nan_to_num", "real_if_close"))
def _nan_to_num(tr, x, *args, **kwargs):
    x = _lift(tr, x)
    return _fresh(tr, x._rows(), x.shape, x.dtype)


def _int_result(tr, func, args, kwargs):
    """Integer / boolean results (argmax, isclose, ...): right shape, no dependencies."""
    stand = _stand_in(tr, args, kwargs, seed=0)
    ref = func(*stand[0], **stand[1])
    if isinstance(ref, tuple):
        return tuple(_constant_tracer(tr, np.shape(r), np.asarray(r).dtype) for r in ref)
    return _constant_tracer(tr, np.shape(ref), np.asarray(ref).dtype)


for _f in _np("argmax", "argmin", "nanargmax", "nanargmin", "argsort", "argpartition",
              "searchsorted", "count_nonzero", "isclose", "allclose", "array_equal",
              "array_equiv", "isin", "digitize", "signbit", "isreal", "iscomplex", "isneginf",
              "isposinf"):
    if _f is not None:
        _FUNCTIONS[_f] = (lambda func: lambda tr, *a, **k: _int_result(tr, func, a, k))(_f)

for _f in _np("nonzero", "argwhere", "flatnonzero", "unique", "unique_values", "unique_counts",
              "unique_inverse", "unique_all", "trim_zeros", "intersect1d", "union1d",
              "setdiff1d", "setxor1d"):
    if _f is not None:
        _FUNCTIONS[_f] = (lambda func: lambda tr, *a, **k: _check_static(
            (a, k), f"numpy.{func.__name__} (its output shape depends on the values of x)"))(_f)


# Linear algebra products ---------------------------------------------------------------------

_BATCH = string.ascii_uppercase


def _einsum_call(tr: _Trace, in_subs: Sequence[str], out_sub: str, operands: Sequence[Any],
                 name: str) -> Any:
    operands = [_lift(tr, o) for o in operands]
    ops = []
    dtypes = []
    for o in operands:
        if isinstance(o, NumpyTracer):
            ops.append((o.shape, o._rows(), None))
            dtypes.append(o.dtype)
        elif sp.issparse(o):
            ops.append((o.shape, None, (sp.csr_array(o) != 0).toarray()))
            dtypes.append(o.dtype)
        else:
            arr = np.asarray(o)
            ops.append((arr.shape, None, arr != 0))
            dtypes.append(arr.dtype)
    sizes: dict[str, int] = {}
    for sub, (shape, _, _) in zip(in_subs, ops):
        for c, s in zip(sub, shape):
            sizes[c] = max(sizes.get(c, 1), s)
    out_shape = tuple(sizes[c] for c in out_sub)
    dtype = np.result_type(*dtypes)
    D = _einsum(tr, in_subs, out_sub, ops)
    if D is None:
        _warn(f"{name} of this size (index grid too large to enumerate)")
        U = _conservative(tr, [o for o in operands if isinstance(o, NumpyTracer)])
        D = _broadcast_row(U, math.prod(out_shape))
    return _fresh(tr, D, out_shape, dtype)


def _matmul(tr, a, b, /, out=None, **kwargs):
    a, b = _lift(tr, a), _lift(tr, b)
    sa, sb = _shape_of(a), _shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    nb = max(len(sa), len(sb)) - 2
    nb = max(nb, 0)
    batch = _BATCH[:nb]
    sub_a = (batch[nb - (len(sa) - 2):] if len(sa) > 2 else "") + ("ik" if len(sa) > 1 else "k")
    sub_b = (batch[nb - (len(sb) - 2):] if len(sb) > 2 else "") + ("kj" if len(sb) > 1 else "k")
    out_sub = batch + ("i" if len(sa) > 1 else "") + ("j" if len(sb) > 1 else "")
    return _einsum_call(tr, [sub_a, sub_b], out_sub, [a, b], "numpy.matmul")


_GUFUNCS["matmul"] = _matmul
_GUFUNCS["vecdot"] = lambda tr, a, b, axis=-1, **k: _vecdot(tr, a, b, axis)
_GUFUNCS["matvec"] = lambda tr, a, b, **k: _matmul(tr, a, np.expand_dims(b, -1))[..., 0]
_GUFUNCS["vecmat"] = lambda tr, a, b, **k: _matmul(tr, np.expand_dims(a, -2), b)[..., 0, :]


def _vecdot(tr, a, b, axis=-1):
    a, b = _lift(tr, a), _lift(tr, b)
    a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
    return _matmul(tr, np.expand_dims(a, -2), np.expand_dims(b, -1))[..., 0, 0]


@_implements(np.dot)
def _dot(tr, a, b, out=None):
    a, b = _lift(tr, a), _lift(tr, b)
    sa, sb = _shape_of(a), _shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        return np.multiply(a, b)
    letters = iter(string.ascii_lowercase.replace("z", ""))
    sub_a = "".join(next(letters) for _ in range(len(sa) - 1)) + "z"
    if len(sb) == 1:
        sub_b = "z"
    else:
        pre = "".join(next(letters) for _ in range(len(sb) - 2))
        sub_b = pre + "z" + next(letters)
    out_sub = sub_a[:-1] + sub_b.replace("z", "")
    return _einsum_call(tr, [sub_a, sub_b], out_sub, [a, b], "numpy.dot")


@_implements(np.inner)
def _inner(tr, a, b):
    sa, sb = _shape_of(a), _shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        return np.multiply(a, b)
    la = string.ascii_lowercase[: len(sa) - 1]
    lb = string.ascii_lowercase[10: 10 + len(sb) - 1]
    return _einsum_call(tr, [la + "z", lb + "z"], la + lb, [a, b], "numpy.inner")


@_implements(*_np("outer", "linalg.outer"))
def _outer(tr, a, b, out=None):
    return _einsum_call(tr, ["i", "j"], "ij", [np.ravel(a), np.ravel(b)], "numpy.outer")


@_implements(np.vdot)
def _vdot(tr, a, b):
    return _einsum_call(tr, ["i", "i"], "", [np.ravel(a), np.ravel(b)], "numpy.vdot")


@_implements(*_np("tensordot", "linalg.tensordot"))
def _tensordot(tr, a, b, axes=2):
    sa, sb = _shape_of(a), _shape_of(b)
    if isinstance(axes, (int, np.integer)):
        ax_a = list(range(len(sa) - axes, len(sa)))
        ax_b = list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    ax_a = [x % len(sa) for x in ax_a]
    ax_b = [x % len(sb) for x in ax_b]
    letters = iter(string.ascii_letters)
    sub_a = [next(letters) for _ in sa]
    sub_b = [next(letters) for _ in sb]
    for i, j in zip(ax_a, ax_b):
        sub_b[j] = sub_a[i]
    out = [c for d, c in enumerate(sub_a) if d not in ax_a] + [
        c for d, c in enumerate(sub_b) if d not in ax_b]
    return _einsum_call(tr, ["".join(sub_a), "".join(sub_b)], "".join(out), [a, b],
                        "numpy.tensordot")


@_implements(*_np("cross", "linalg.cross"))
def _cross(tr, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = np.moveaxis(_lift(tr, a), axisa, -1), np.moveaxis(_lift(tr, b), axisb, -1)
    da, db = _shape_of(a)[-1], _shape_of(b)[-1]
    if da == 2 and db == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    eps = np.zeros((3, 3, 3))
    eps[0, 1, 2] = eps[1, 2, 0] = eps[2, 0, 1] = 1.0
    eps[0, 2, 1] = eps[2, 1, 0] = eps[1, 0, 2] = -1.0
    a3 = a if da == 3 else np.concatenate([a, np.zeros(_shape_of(a)[:-1] + (1,))], axis=-1)
    b3 = b if db == 3 else np.concatenate([b, np.zeros(_shape_of(b)[:-1] + (1,))], axis=-1)
    res = np.einsum("ijk,...j,...k->...i", eps, a3, b3)
    return np.moveaxis(res, -1, axisc) if np.ndim(res) > 1 else res


@_implements(np.linalg.multi_dot)
def _multi_dot(tr, arrays, *, out=None):
    res = arrays[0]
    for b in arrays[1:]:
        res = res @ b
    return res


_implements(np.linalg.matmul)(_matmul)
_implements(np.linalg.vecdot)(lambda tr, a, b, /, *, axis=-1: _vecdot(tr, a, b, axis))
_implements(np.linalg.trace)(lambda tr, x, /, *, offset=0, dtype=None: np.sum(
    np.diagonal(x, offset, -2, -1), axis=-1))


@_implements(np.kron)
def _kron(tr, a, b):
    a, b = _lift(tr, a), _lift(tr, b)
    nd = max(len(_shape_of(a)), len(_shape_of(b)))
    a = np.reshape(a, (1,) * (nd - len(_shape_of(a))) + _shape_of(a))
    b = np.reshape(b, (1,) * (nd - len(_shape_of(b))) + _shape_of(b))
    la, lb = string.ascii_lowercase[:nd], string.ascii_uppercase[:nd]
    res = _einsum_call(tr, [la, lb], "".join(x + y for x, y in zip(la, lb)), [a, b], "numpy.kron")
    return np.reshape(res, tuple(p * q for p, q in zip(_shape_of(a), _shape_of(b))))


@_implements(np.einsum)
def _einsum_rule(tr, subscripts, *operands, out=None, optimize=False, **kwargs):
    if not isinstance(subscripts, str):
        return _fallback(tr, "numpy.einsum (sublist form)", np.einsum, (subscripts,) + operands, {})
    subs = subscripts.replace(" ", "")
    lhs, arrow, rhs = subs.partition("->")
    ins = lhs.split(",")
    shapes = [_shape_of(o) for o in operands]
    n_ell = max((len(s) - len(i.replace("...", "")) for i, s in zip(ins, shapes) if "..." in i),
                default=0)
    ell = "".join(c for c in string.ascii_uppercase if c not in subs)[:n_ell]
    new_ins = []
    for i, s in zip(ins, shapes):
        if "..." in i:
            k = len(s) - len(i.replace("...", ""))
            i = i.replace("...", ell[n_ell - k:])
        new_ins.append(i)
    if arrow:
        out_sub = rhs.replace("...", ell)
    else:
        counts = {}
        for c in "".join(new_ins):
            counts[c] = counts.get(c, 0) + 1
        out_sub = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    if len(operands) == 1 and set(new_ins[0]) == set(out_sub) and len(set(out_sub)) == len(out_sub):
        return _structural(tr, np.einsum, (subscripts, operands[0]), {}, _data_at(1))
    return _einsum_call(tr, new_ins, out_sub, operands, "numpy.einsum")


def _sparse_matmul(tr, A, t) -> NumpyTracer:
    """scipy.sparse matrix @ tracer: the nonzeros of A select rows of t (column by column)."""
    A = sp.csr_array(A)
    A = sp.csr_array((A != 0).astype(bool))
    t = _lift(tr, t)
    if t.ndim == 1:
        return _fresh(tr, A @ t._rows(), (A.shape[0],), np.result_type(A.dtype, t.dtype))
    p = t.shape[1]
    K = sp.kron(A, sp.identity(p, dtype=bool, format="csr"), format="csr")
    return _fresh(tr, sp.csr_array(K.astype(bool)) @ t._rows(), (A.shape[0], p),
                  np.result_type(A.dtype, t.dtype))


# Norms ---------------------------------------------------------------------------------------


def _norm_kind(ord: Any, matrix: bool) -> str:
    if matrix:
        return "max" if ord in (1, -1, np.inf, -np.inf) else "smooth"
    if ord == 0:
        return "zero"
    return "max" if ord in (1, np.inf, -np.inf) else "smooth"


@_implements(np.linalg.norm)
def _norm(tr, x, ord=None, axis=None, keepdims=False):
    x = _lift(tr, x)
    if axis is None and (ord is None or x.ndim == 1):
        axes, matrix = tuple(range(x.ndim)), False
    elif axis is None:
        axes, matrix = tuple(range(x.ndim)), x.ndim == 2 and ord not in (None, "fro")
    else:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        matrix = len(axes) == 2 and ord not in (None, "fro")
    return _reduction(tr, x, axes, keepdims, _norm_kind(ord, matrix), dtype=np.result_type(x.dtype, float))


@_implements(np.linalg.vector_norm)
def _vector_norm(tr, x, /, *, axis=None, keepdims=False, ord=2):
    return _reduction(tr, x, axis, keepdims, _norm_kind(ord, False))


@_implements(np.linalg.matrix_norm)
def _matrix_norm(tr, x, /, *, keepdims=False, ord="fro"):
    return _reduction(tr, x, (-2, -1), keepdims, _norm_kind(ord, ord not in ("fro", None)))


# Signal processing ---------------------------------------------------------------------------


@_implements_each(np.convolve, np.correlate)
def _convolve(tr, func, a, v, mode=None):
    mode = mode or ("full" if func is np.convolve else "valid")
    a, v = _lift(tr, np.ravel(a)), _lift(tr, np.ravel(v))
    if func is np.correlate:
        v = v[::-1]
    na, nv = _shape_of(a)[0], _shape_of(v)[0]
    i, j = np.meshgrid(np.arange(na), np.arange(nv), indexing="ij")
    i, j = i.ravel(), j.ravel()
    valid = np.ones(i.size, dtype=bool)
    for o, idx in ((a, i), (v, j)):
        if not isinstance(o, NumpyTracer):
            valid &= np.asarray(o).ravel()[idx] != 0
    i, j, k = i[valid], j[valid], (i + j)[valid]
    nfull = na + nv - 1
    rows = []
    for o, idx in ((a, i), (v, j)):
        if isinstance(o, NumpyTracer):
            rows.append(_pairs(k, idx, nfull, o.size) @ o._rows())
    if isinstance(a, NumpyTracer) and isinstance(v, NumpyTracer):
        tr.cross(_take(a._rows(), i), _take(v._rows(), j))
    dtype = np.result_type(*[o.dtype if isinstance(o, NumpyTracer) else np.asarray(o).dtype
                             for o in (a, v)])
    full = _fresh(tr, _union(rows, nfull, tr.n), (nfull,), dtype)
    lo, hi = min(na, nv), max(na, nv)
    if mode == "full":
        return full
    if mode == "same":
        start = (lo - 1) // 2
        return full[start:start + hi]
    if mode == "valid":
        return full[lo - 1:hi]
    raise ValueError(f"mode must be one of 'valid', 'same' or 'full' (got {mode!r})")


@_implements(np.interp)
def _interp(tr, x, xp, fp, left=None, right=None, period=None):
    x = _lift(tr, x)
    shape = _shape_of(x)
    others = [_lift(tr, o) for o in (xp, fp, left, right) if o is not None]
    traced_others = [o for o in others if isinstance(o, NumpyTracer)]
    m = math.prod(shape)
    rows = [x._rows()] if isinstance(x, NumpyTracer) else []
    if traced_others:
        U = _conservative(tr, traced_others)
        rows.append(_broadcast_row(U, m))
        S = _union(rows, m, tr.n)
        tr.block(S)
        return _fresh(tr, S, shape, np.float64)
    return _fresh(tr, _union(rows, m, tr.n), shape, np.float64)


# ---------------------------------------------------------------------------------------------
# Unknown functions
# ---------------------------------------------------------------------------------------------


def _stand_in(tr, args, kwargs, seed):
    """Replace tracers by random arrays of their shape and dtype (to learn output shapes)."""
    rng = np.random.default_rng(seed)
    originals = []

    def sub(obj):
        if isinstance(obj, NumpyTracer):
            arr = rng.uniform(0.5, 1.5, size=obj.shape).astype(obj.dtype) if np.issubdtype(
                obj.dtype, np.inexact) else np.ones(obj.shape, obj.dtype)
            originals.append((obj, arr, arr.copy()))
            return arr
        if isinstance(obj, list):
            return [sub(o) for o in obj]
        if isinstance(obj, tuple):
            return tuple(sub(o) for o in obj)
        if isinstance(obj, dict):
            return {k: sub(v) for k, v in obj.items()}
        return obj

    return sub(list(args)), sub(dict(kwargs)), originals


def _unknown_function(tr, func, args, kwargs):
    impl = getattr(func, "_implementation", None)
    if impl is not None:
        try:
            return impl(*args, **kwargs)
        except (SparsityDetectionError, AttributeError, TypeError):
            pass
    return _fallback(tr, f"numpy.{getattr(func, '__qualname__', func)}", func, args, kwargs)


def _fallback(tr: _Trace, name: str, func: Callable, args: Sequence, kwargs: dict) -> Any:
    """Every output depends on every input (a dense block); warns with the operation's name."""
    args = [_lift(tr, a) for a in args]
    kwargs = {k: _lift(tr, v) for k, v in kwargs.items()}
    a1, k1, orig1 = _stand_in(tr, args, kwargs, seed=1)
    a2, k2, _ = _stand_in(tr, args, kwargs, seed=2)
    with np.errstate(all="ignore"):
        ref1 = func(*a1, **k1)
        ref2 = func(*a2, **k2)
    if _structure(ref1) != _structure(ref2):
        raise SparsityDetectionError(
            f"the output shape of {name} depends on the values of x; global sparsity detection "
            "needs shapes that depend only on the shape of x; " + _FIX
        )
    _warn(name)
    tracers = [o for o, _, _ in orig1]
    U = _conservative(tr, tracers)
    for t, arr, before in orig1:  # in-place functions: the written array depends on everything
        if not np.array_equal(arr, before, equal_nan=True):
            t._store.write(np.unique(t._idx.ravel() - 1), _broadcast_row(U, len(np.unique(t._idx))),
                           union=True)

    def convert(r):
        if isinstance(r, tuple) and hasattr(r, "_fields"):
            return type(r)(*[convert(e) for e in r])
        if isinstance(r, (list, tuple)):
            return type(r)(convert(e) for e in r)
        if r is None or isinstance(r, str):
            return r
        arr = np.asarray(r)
        if arr.dtype == object:
            return r
        size = arr.size
        D = _broadcast_row(U, size) if np.issubdtype(arr.dtype, np.inexact) else _empty(size, tr.n)
        return _fresh(tr, D, arr.shape, arr.dtype)

    return convert(ref1)


def _structure(r: Any) -> Any:
    if isinstance(r, (list, tuple)):
        return tuple(_structure(e) for e in r)
    if r is None:
        return None
    return np.shape(r)


# ---------------------------------------------------------------------------------------------
# Array-API namespace
# ---------------------------------------------------------------------------------------------

class _Linalg:
    def __init__(self, ns):
        self._ns = ns

    def __getattr__(self, name):
        return getattr(np.linalg, name)


class _Namespace:
    """Array-API namespace of NumpyTracer: NumPy 2's main namespace plus tracer-aware creation."""

    __array_api_version__ = "2023.12"

    def __init__(self, tr: _Trace):
        self._tr = tr
        self.linalg = _Linalg(self)

    def __getattr__(self, name):
        return getattr(np, name)

    def asarray(self, obj, /, *, dtype=None, device=None, copy=None):
        obj = _lift(self._tr, obj)
        if isinstance(obj, NumpyTracer):
            if dtype is not None:
                return obj.astype(dtype, copy=bool(copy))
            return obj.copy() if copy else obj
        return np.asarray(obj, dtype=dtype, copy=copy)

    def astype(self, x, dtype, /, *, copy=True, device=None):
        return x.astype(dtype, copy=copy) if isinstance(x, NumpyTracer) else np.astype(x, dtype, copy=copy)

    def _make(self, shape, dtype, fill=None):
        dtype = np.dtype(dtype if dtype is not None else np.float64)
        if not np.issubdtype(dtype, np.inexact):
            return np.full(shape, fill if fill is not None else 0, dtype=dtype)
        return _creation(self._tr, shape, dtype)

    def zeros(self, shape, *, dtype=None, device=None):
        return self._make(shape, dtype, 0)

    def ones(self, shape, *, dtype=None, device=None):
        return self._make(shape, dtype, 1)

    def empty(self, shape, *, dtype=None, device=None):
        return self._make(shape, dtype, 0)

    def full(self, shape, fill_value, *, dtype=None, device=None):
        if isinstance(fill_value, NumpyTracer):
            return np.full(shape, fill_value, dtype=dtype, like=fill_value)
        return self._make(shape, dtype if dtype is not None else np.result_type(fill_value), fill_value)

    def sort(self, x, /, *, axis=-1, descending=False, stable=True):
        return np.sort(x, axis=axis)


def _namespace(tr: _Trace) -> _Namespace:
    if tr.namespace is None:
        tr.namespace = _Namespace(tr)
    return tr.namespace


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def _run(f: Callable, x: Any, contexts: Sequence[Any], hessian: bool) -> tuple[_Trace, Any, Any]:
    x = np.asarray(x)
    n = x.size
    tr = _Trace(n, hessian)
    idx = np.empty_like(x, dtype=np.intp)
    idx[...] = np.arange(1, n + 1, dtype=np.intp).reshape(x.shape)
    dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else np.float64
    store = _Store(sp.eye_array(n, dtype=bool, format="csr"),
                   certain=x.flags.c_contiguous or x.flags.f_contiguous)
    xt = NumpyTracer(tr, store, idx, dtype)
    values = []
    for c in contexts:
        v = c.value
        if isinstance(c, Cache) and isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.inexact):
            v = _constant_tracer(tr, v.shape, v.dtype, like=v)
        values.append(v)
    with np.errstate(all="ignore"):
        y = f(xt, *values)
    return tr, xt, y


def _output_rows(tr: _Trace, y: Any) -> sp.csr_array:
    y = _lift(tr, y)
    if isinstance(y, NumpyTracer):
        return y._rows()
    if isinstance(y, (list, tuple)) or (isinstance(y, np.ndarray) and y.dtype == object):
        raise SparsityDetectionError(
            f"f returned {type(y).__name__}; return one array (np.stack / np.concatenate the parts)"
        )
    return _empty(int(np.size(y)), tr.n)


def jacobian_sparsity(f: Callable, x: Any, contexts: Sequence[Any] = ()) -> sp.csr_array:
    """Boolean CSR pattern (y.size, x.size) of the Jacobian of ``f`` valid at every ``x``."""
    tr, _, y = _run(f, x, contexts, hessian=False)
    return canonical_pattern(_output_rows(tr, y))


def hessian_sparsity(f: Callable, x: Any, contexts: Sequence[Any] = ()) -> sp.csr_array:
    """Boolean symmetric CSR pattern (x.size, x.size) of the Hessian of a scalar ``f``."""
    tr, _, y = _run(f, x, contexts, hessian=True)
    return scalar_hessian_pattern(tr, _output_rows(tr, y))


def scalar_hessian_pattern(tr: Any, rows: sp.csr_array) -> sp.csr_array:
    """The Hessian pattern a tracer accumulated, after checking that f's output was a scalar."""
    if rows.shape[0] != 1:
        raise ValueError(
            f"hessian_sparsity needs a scalar output; f returned {rows.shape[0]} values: use "
            "jacobian_sparsity, or sum the outputs"
        )
    return tr.hessian_pattern()


def _context_values(contexts: Sequence[Any]) -> list:
    return [c.value.copy() if isinstance(c, Cache) and isinstance(c.value, np.ndarray) else c.value
            for c in contexts]
