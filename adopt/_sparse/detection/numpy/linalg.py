"""Products (every one an einsum: matmul, dot, tensordot, kron, ...), SciPy sparse matrices
times tracers, norms, convolutions and interpolation."""

from __future__ import annotations

import math
import string
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.kinds import Kind
from adopt._sparse.detection.numpy.dispatch import conservative, fallback, warn_no_rule
from adopt._sparse.detection.numpy.reductions import reduction
from adopt._sparse.detection.numpy.registry import GUFUNCS, implements, implements_each, np_functions
from adopt._sparse.detection.numpy.tracer import (
    NumpyTracer,
    data_at,
    fresh,
    lift,
    shape_of,
    structural,
)

__all__ = ["einsum_call", "sparse_matmul"]

_BATCH = string.ascii_uppercase


def _dtype_of(o: Any) -> np.dtype:
    return o.dtype if isinstance(o, (NumpyTracer, np.ndarray)) or sp.issparse(o) else np.asarray(o).dtype


def einsum_call(tr: A.Trace, in_subs: Sequence[str], out_sub: str, operands: Sequence[Any],
                name: str) -> NumpyTracer:
    """The tracer of ``einsum(in_subs -> out_sub, *operands)`` (constants: their zeros count)."""
    operands = [lift(tr, o) for o in operands]
    ops = []
    for o in operands:
        if isinstance(o, NumpyTracer):
            ops.append((o.shape, o._rows(), None))
        elif sp.issparse(o):
            ops.append((o.shape, None, (sp.csr_array(o) != 0).toarray()))
        else:
            arr = np.asarray(o)
            ops.append((arr.shape, None, arr != 0))
    sizes: dict[str, int] = {}
    for sub, (shape, _, _) in zip(in_subs, ops):
        for c, s in zip(sub, shape):
            sizes[c] = max(sizes.get(c, 1), s)
    out_shape = tuple(sizes[c] for c in out_sub)
    D = A.einsum(tr, in_subs, out_sub, ops)
    if D is None:
        warn_no_rule(f"{name} of this size (index grid too large to enumerate)")
        U = conservative(tr, [o for o in operands if isinstance(o, NumpyTracer)])
        D = A.broadcast_row(U, math.prod(out_shape))
    return fresh(tr, D, out_shape, np.result_type(*[_dtype_of(o) for o in operands]))


def _matmul(tr, a, b, /, out=None, **kwargs):
    a, b = lift(tr, a), lift(tr, b)
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    nb = max(max(len(sa), len(sb)) - 2, 0)
    batch = _BATCH[:nb]
    sub_a = (batch[nb - (len(sa) - 2):] if len(sa) > 2 else "") + ("ik" if len(sa) > 1 else "k")
    sub_b = (batch[nb - (len(sb) - 2):] if len(sb) > 2 else "") + ("kj" if len(sb) > 1 else "k")
    out_sub = batch + ("i" if len(sa) > 1 else "") + ("j" if len(sb) > 1 else "")
    return einsum_call(tr, [sub_a, sub_b], out_sub, [a, b], "numpy.matmul")


def _vecdot(tr, a, b, axis=-1):
    a, b = lift(tr, a), lift(tr, b)
    a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
    return _matmul(tr, np.expand_dims(a, -2), np.expand_dims(b, -1))[..., 0, 0]


GUFUNCS["matmul"] = _matmul
GUFUNCS["vecdot"] = lambda tr, a, b, axis=-1, **k: _vecdot(tr, a, b, axis)
GUFUNCS["matvec"] = lambda tr, a, b, **k: _matmul(tr, a, np.expand_dims(b, -1))[..., 0]
GUFUNCS["vecmat"] = lambda tr, a, b, **k: _matmul(tr, np.expand_dims(a, -2), b)[..., 0, :]
implements(np.linalg.matmul)(_matmul)
implements(np.linalg.vecdot)(lambda tr, a, b, /, *, axis=-1: _vecdot(tr, a, b, axis))
implements(np.linalg.trace)(lambda tr, x, /, *, offset=0, dtype=None: np.sum(
    np.diagonal(x, offset, -2, -1), axis=-1))


@implements(np.dot)
def _dot(tr, a, b, out=None):
    a, b = lift(tr, a), lift(tr, b)
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        return np.multiply(a, b)
    letters = iter(string.ascii_lowercase.replace("z", ""))
    sub_a = "".join(next(letters) for _ in range(len(sa) - 1)) + "z"
    if len(sb) == 1:
        sub_b = "z"
    else:
        sub_b = "".join(next(letters) for _ in range(len(sb) - 2)) + "z" + next(letters)
    out_sub = sub_a[:-1] + sub_b.replace("z", "")
    return einsum_call(tr, [sub_a, sub_b], out_sub, [a, b], "numpy.dot")


@implements(np.inner)
def _inner(tr, a, b):
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        return np.multiply(a, b)
    la = string.ascii_lowercase[: len(sa) - 1]
    lb = string.ascii_lowercase[10: 10 + len(sb) - 1]
    return einsum_call(tr, [la + "z", lb + "z"], la + lb, [a, b], "numpy.inner")


@implements(*np_functions("outer linalg.outer"))
def _outer(tr, a, b, out=None):
    return einsum_call(tr, ["i", "j"], "ij", [np.ravel(a), np.ravel(b)], "numpy.outer")


@implements(np.vdot)
def _vdot(tr, a, b):
    return einsum_call(tr, ["i", "i"], "", [np.ravel(a), np.ravel(b)], "numpy.vdot")


@implements(*np_functions("tensordot linalg.tensordot"))
def _tensordot(tr, a, b, axes=2):
    sa, sb = shape_of(a), shape_of(b)
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        ax_a, ax_b = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    ax_a = [x % len(sa) for x in ax_a]
    ax_b = [x % len(sb) for x in ax_b]
    letters = iter(string.ascii_letters)
    sub_a = [next(letters) for _ in sa]
    sub_b = [next(letters) for _ in sb]
    for i, j in zip(ax_a, ax_b):
        sub_b[j] = sub_a[i]
    out = ([c for d, c in enumerate(sub_a) if d not in ax_a]
           + [c for d, c in enumerate(sub_b) if d not in ax_b])
    return einsum_call(tr, ["".join(sub_a), "".join(sub_b)], "".join(out), [a, b],
                       "numpy.tensordot")


@implements(*np_functions("cross linalg.cross"))
def _cross(tr, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = np.moveaxis(lift(tr, a), axisa, -1), np.moveaxis(lift(tr, b), axisb, -1)
    da, db = shape_of(a)[-1], shape_of(b)[-1]
    if da == 2 and db == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    eps = np.zeros((3, 3, 3))
    eps[0, 1, 2] = eps[1, 2, 0] = eps[2, 0, 1] = 1.0
    eps[0, 2, 1] = eps[2, 1, 0] = eps[1, 0, 2] = -1.0
    a3 = a if da == 3 else np.concatenate([a, np.zeros(shape_of(a)[:-1] + (1,))], axis=-1)
    b3 = b if db == 3 else np.concatenate([b, np.zeros(shape_of(b)[:-1] + (1,))], axis=-1)
    res = np.einsum("ijk,...j,...k->...i", eps, a3, b3)
    return np.moveaxis(res, -1, axisc) if np.ndim(res) > 1 else res


@implements(np.linalg.multi_dot)
def _multi_dot(tr, arrays, *, out=None):
    res = arrays[0]
    for b in arrays[1:]:
        res = res @ b
    return res


@implements(np.kron)
def _kron(tr, a, b):
    a, b = lift(tr, a), lift(tr, b)
    nd = max(len(shape_of(a)), len(shape_of(b)))
    a = np.reshape(a, (1,) * (nd - len(shape_of(a))) + shape_of(a))
    b = np.reshape(b, (1,) * (nd - len(shape_of(b))) + shape_of(b))
    la, lb = string.ascii_lowercase[:nd], string.ascii_uppercase[:nd]
    res = einsum_call(tr, [la, lb], "".join(x + y for x, y in zip(la, lb)), [a, b], "numpy.kron")
    return np.reshape(res, tuple(p * q for p, q in zip(shape_of(a), shape_of(b))))


@implements(np.einsum)
def _einsum(tr, subscripts, *operands, out=None, optimize=False, **kwargs):
    if not isinstance(subscripts, str):
        return fallback(tr, "numpy.einsum (sublist form)", np.einsum, (subscripts,) + operands, {})
    subs = subscripts.replace(" ", "")
    lhs, arrow, rhs = subs.partition("->")
    ins = lhs.split(",")
    shapes = [shape_of(o) for o in operands]
    n_ell = max((len(s) - len(i.replace("...", "")) for i, s in zip(ins, shapes) if "..." in i),
                default=0)
    ell = "".join(c for c in string.ascii_uppercase if c not in subs)[:n_ell]
    new_ins = [i.replace("...", ell[n_ell - (len(s) - len(i.replace("...", ""))):])
               if "..." in i else i for i, s in zip(ins, shapes)]
    if arrow:
        out_sub = rhs.replace("...", ell)
    else:
        joined = "".join(new_ins)
        out_sub = ell + "".join(sorted(c for c in set(joined) if joined.count(c) == 1
                                       and c not in ell))
    if len(operands) == 1 and set(new_ins[0]) == set(out_sub) and len(set(out_sub)) == len(out_sub):
        return structural(tr, np.einsum, (subscripts, operands[0]), {}, data_at(1))
    return einsum_call(tr, new_ins, out_sub, operands, "numpy.einsum")


def sparse_matmul(tr: A.Trace, M: Any, t: Any) -> NumpyTracer:
    """``scipy.sparse`` matrix ``@`` tracer: the nonzeros of ``M`` select rows of ``t``."""
    M = sp.csr_array((sp.csr_array(M) != 0).astype(bool))
    t = lift(tr, t)
    dtype = np.result_type(M.dtype, t.dtype)
    if t.ndim == 1:
        return fresh(tr, M @ t._rows(), (M.shape[0],), dtype)
    p = t.shape[1]
    K = sp.kron(M, sp.identity(p, dtype=bool, format="csr"), format="csr")
    return fresh(tr, sp.csr_array(K.astype(bool)) @ t._rows(), (M.shape[0], p), dtype)


# ---- norms ----------------------------------------------------------------------------------
def _norm_kind(ord: Any, matrix: bool) -> Kind:
    if not matrix and ord == 0:
        return Kind.ZERO
    piecewise = (1, -1, np.inf, -np.inf) if matrix else (1, np.inf, -np.inf)
    return Kind.PIECEWISE if ord in piecewise else Kind.NONLINEAR


@implements(np.linalg.norm)
def _norm(tr, x, ord=None, axis=None, keepdims=False):
    x = lift(tr, x)
    if axis is None and (ord is None or x.ndim == 1):
        axes, matrix = tuple(range(x.ndim)), False
    elif axis is None:
        axes, matrix = tuple(range(x.ndim)), x.ndim == 2 and ord not in (None, "fro")
    else:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        matrix = len(axes) == 2 and ord not in (None, "fro")
    return reduction(tr, x, axes, keepdims, _norm_kind(ord, matrix),
                     dtype=np.result_type(x.dtype, float))


@implements(np.linalg.vector_norm)
def _vector_norm(tr, x, /, *, axis=None, keepdims=False, ord=2):
    return reduction(tr, x, axis, keepdims, _norm_kind(ord, False))


@implements(np.linalg.matrix_norm)
def _matrix_norm(tr, x, /, *, keepdims=False, ord="fro"):
    return reduction(tr, x, (-2, -1), keepdims, _norm_kind(ord, ord not in ("fro", None)))


# ---- signals --------------------------------------------------------------------------------
@implements_each(np.convolve, np.correlate)
def _convolve(tr, func, a, v, mode=None):
    mode = mode or ("full" if func is np.convolve else "valid")
    a, v = lift(tr, np.ravel(a)), lift(tr, np.ravel(v))
    if func is np.correlate:
        v = v[::-1]
    na, nv = shape_of(a)[0], shape_of(v)[0]
    i, j = (g.ravel() for g in np.meshgrid(np.arange(na), np.arange(nv), indexing="ij"))
    valid = np.ones(i.size, dtype=bool)
    for o, idx in ((a, i), (v, j)):
        if not isinstance(o, NumpyTracer):
            valid &= np.asarray(o).ravel()[idx] != 0
    i, j, k = i[valid], j[valid], (i + j)[valid]
    nfull = na + nv - 1
    rows = [A.pairs(k, idx, nfull, o.size) @ o._rows()
            for o, idx in ((a, i), (v, j)) if isinstance(o, NumpyTracer)]
    if isinstance(a, NumpyTracer) and isinstance(v, NumpyTracer):
        tr.cross(A.take(a._rows(), i), A.take(v._rows(), j))
    full = fresh(tr, A.union(rows, nfull, tr.n), (nfull,), np.result_type(_dtype_of(a), _dtype_of(v)))
    lo, hi = min(na, nv), max(na, nv)
    if mode == "full":
        return full
    if mode == "same":
        start = (lo - 1) // 2
        return full[start:start + hi]
    if mode == "valid":
        return full[lo - 1:hi]
    raise ValueError(f"mode must be one of 'valid', 'same' or 'full' (got {mode!r})")


@implements(np.interp)
def _interp(tr, x, xp, fp, left=None, right=None, period=None):
    x = lift(tr, x)
    shape = shape_of(x)
    m = math.prod(shape)
    others = [lift(tr, o) for o in (xp, fp, left, right) if o is not None]
    traced = [o for o in others if isinstance(o, NumpyTracer)]
    rows = [x._rows()] if isinstance(x, NumpyTracer) else []
    if not traced:
        return fresh(tr, A.union(rows, m, tr.n), shape, np.float64)
    S = A.union(rows + [A.broadcast_row(conservative(tr, traced), m)], m, tr.n)
    tr.block(S)
    return fresh(tr, S, shape, np.float64)
