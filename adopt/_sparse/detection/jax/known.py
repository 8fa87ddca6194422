"""Known values in NumPy: index arithmetic, data movement on element numbers, window maps.

Values that do not depend on ``x`` (literals, constants, ``iota``, integer arithmetic on them)
are evaluated for real, so that indices and the zeros of constant matrices are known exactly:
data movement (any dtype) and integer / boolean arithmetic with NumPy here, everything else by
binding the JAX primitive (:meth:`Interpreter.concrete`). The same NumPy functions applied to
arrays of element numbers give the exact source of every output element of a data movement.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from adopt._sparse.detection.algebra import pairs

__all__ = [
    "np_pad", "np_broadcast_in_dim", "np_gather", "np_select", "reshape", "slice_", "iota",
    "np_eval", "windows", "window_rows",
]


def np_pad(a: np.ndarray, value: Any, config: Sequence) -> np.ndarray:
    """``lax.pad`` on a NumPy array: low / high (possibly negative) and interior padding."""
    for ax, (lo, hi, interior) in enumerate(config):
        lo, hi, interior = int(lo), int(hi), int(interior)
        k = a.shape[ax]
        core = k + max(k - 1, 0) * interior
        low, high = max(lo, 0), max(hi, 0)
        shape = list(a.shape)
        shape[ax] = low + core + high
        out = np.full(shape, value, dtype=a.dtype)
        idx = [slice(None)] * a.ndim
        idx[ax] = slice(low, low + core, interior + 1)
        out[tuple(idx)] = a
        idx[ax] = slice(max(-lo, 0), shape[ax] - max(-hi, 0))
        a = out[tuple(idx)]
    return a


def np_broadcast_in_dim(a: np.ndarray, shape: Sequence[int], dims: Sequence[int]) -> np.ndarray:
    expanded = [1] * len(shape)
    for i, d in enumerate(dims):
        expanded[d] = a.shape[i]
    return np.broadcast_to(a.reshape(expanded), tuple(shape))


def np_gather(operand: np.ndarray, indices: Any, dn: Any, slice_sizes: Sequence[int],
              mode: Any, fill: Any) -> np.ndarray | None:
    """XLA gather on NumPy arrays (index vector in the last dimension of ``indices``, as JAX
    emits it); ``fill`` for out-of-bounds windows in FILL_OR_DROP mode. None if unsupported."""
    from jax.lax import GatherScatterMode

    mode = GatherScatterMode.from_any(mode)
    if mode not in (GatherScatterMode.CLIP, GatherScatterMode.FILL_OR_DROP,
                    GatherScatterMode.PROMISE_IN_BOUNDS):
        return None
    idx = np.asarray(indices).astype(np.int64)
    rank = operand.ndim
    bshape = idx.shape[:-1]
    flat = idx.reshape(math.prod(bshape), idx.shape[-1])  # also an empty index vector
    start = np.zeros((flat.shape[0], rank), dtype=np.int64)
    start[:, list(dn.start_index_map)] = flat
    if dn.operand_batching_dims:
        coords = np.indices(bshape).reshape(len(bshape), -1)
        for od, bd in zip(dn.operand_batching_dims, dn.start_indices_batching_dims):
            start[:, od] = coords[bd]
    hi = np.asarray(operand.shape, dtype=np.int64) - np.asarray(slice_sizes, dtype=np.int64)
    oob = ((start < 0) | (start > hi)).any(axis=1) if (
        mode == GatherScatterMode.FILL_OR_DROP) else None
    start = np.clip(start, 0, hi)
    strides = np.array([math.prod(operand.shape[d + 1:]) for d in range(rank)], dtype=np.int64)
    win = [d for d in range(rank)
           if d not in dn.collapsed_slice_dims and d not in dn.operand_batching_dims]
    wshape = tuple(int(slice_sizes[d]) for d in win)
    off = np.zeros(wshape, dtype=np.int64)
    for k, d in enumerate(win):
        off = off + np.arange(wshape[k]).reshape(
            [-1 if j == k else 1 for j in range(len(win))]) * strides[d]
    vals = operand.ravel()[(start @ strides)[:, None] + off.ravel()[None, :]]
    if oob is not None:
        vals[oob] = fill
    out = vals.reshape(bshape + wshape)
    return np.moveaxis(out, list(range(len(bshape), len(bshape) + len(win))),
                       list(dn.offset_dims))


def np_select(which: np.ndarray, cases: Sequence[np.ndarray]) -> np.ndarray:
    """``lax.select_n``: ``cases[which]`` element by element."""
    which = np.asarray(which).astype(np.intp)
    shape = np.broadcast_shapes(which.shape, *(np.shape(c) for c in cases))
    out = np.broadcast_to(cases[0], shape)
    for k in range(1, len(cases)):
        out = np.where(which == k, cases[k], out)
    return out


def reshape(a: Sequence[np.ndarray], p: dict) -> np.ndarray:
    x = a[0] if p.get("dimensions") is None else a[0].transpose(p["dimensions"])
    return x.reshape(p["new_sizes"])


def slice_(a: Sequence[np.ndarray], p: dict) -> np.ndarray:
    strides = p.get("strides") or (1,) * a[0].ndim
    return a[0][tuple(slice(s, l, st) for s, l, st in
                      zip(p["start_indices"], p["limit_indices"], strides))]


def iota(p: dict) -> np.ndarray:
    shape, dim = tuple(p["shape"]), int(p["dimension"])
    ar = np.arange(shape[dim]).reshape([-1 if d == dim else 1 for d in range(len(shape))])
    return np.broadcast_to(ar, shape)


def _is_int(dtype: Any) -> bool:
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)


_Eval = Callable[[list, dict], Any]

#: exact data movement, any dtype
_MOVE: dict[str, _Eval] = {
    "broadcast_in_dim": lambda a, p: np_broadcast_in_dim(a[0], p["shape"],
                                                         p["broadcast_dimensions"]),
    "reshape": reshape,
    "squeeze": lambda a, p: np.squeeze(a[0], axis=tuple(p["dimensions"])),
    "transpose": lambda a, p: a[0].transpose(p["permutation"]),
    "slice": slice_,
    "rev": lambda a, p: np.flip(a[0], axis=tuple(p["dimensions"])),
    "concatenate": lambda a, p: np.concatenate(a, axis=p["dimension"]),
    "select_n": lambda a, p: np_select(a[0], a[1:]),
    "iota": lambda a, p: iota(p),
    "copy": lambda a, p: a[0],
    "copy_p": lambda a, p: a[0],
}
#: integer and boolean arithmetic (floating point is left to JAX, which rounds as XLA does)
_INT: dict[str, _Eval] = {
    "add": lambda a, p: a[0] + a[1],
    "sub": lambda a, p: a[0] - a[1],
    "mul": lambda a, p: a[0] * a[1],
    "neg": lambda a, p: -a[0],
    "max": lambda a, p: np.maximum(a[0], a[1]),
    "min": lambda a, p: np.minimum(a[0], a[1]),
    "and": lambda a, p: a[0] & a[1],
    "or": lambda a, p: a[0] | a[1],
    "xor": lambda a, p: a[0] ^ a[1],
    "not": lambda a, p: np.invert(a[0]),
    "abs": lambda a, p: np.abs(a[0]),
    "sign": lambda a, p: np.sign(a[0]),
    "clamp": lambda a, p: np.minimum(np.maximum(a[1], a[0]), a[2]),
    "convert_element_type": lambda a, p: a[0],
}
#: comparisons are exact on any dtype
_CMP: dict[str, Callable] = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}


def _evaluator(name: str) -> tuple[_Eval | None, bool]:
    """(the NumPy evaluation of primitive ``name`` or None, whether it needs integer inputs)."""
    if name in _MOVE:
        return _MOVE[name], False
    if name in _INT:
        return _INT[name], True
    cmp = _CMP.get(name)
    return (None if cmp is None else (lambda a, p: cmp(a[0], a[1]))), False


def np_eval(e: Any, invals: list) -> list | None:
    """Known outputs of equation ``e`` computed with NumPy, or None to let JAX evaluate it."""
    fn, integer = _evaluator(e.primitive.name)
    if fn is None:
        return None
    try:
        arrays = [np.asarray(v) for v in invals]
        if any(a.dtype == object for a in arrays) or (
                integer and not all(_is_int(a.dtype) for a in arrays)):
            return None
        aval = e.outvars[0].aval
        out = np.asarray(fn(arrays, e.params))
        if out.shape != tuple(aval.shape):
            return None
        return [out.astype(aval.dtype, copy=False)]
    except Exception:  # noqa: BLE001 - JAX evaluates what NumPy cannot
        return None


def windows(shape: tuple, wdims: Sequence[int], strides: Sequence[int], padding: Sequence,
            base_dil: Sequence[int], win_dil: Sequence[int]) -> tuple[tuple, np.ndarray]:
    """(out_shape, W): ``W[o, w]`` is the flat input index that window offset ``w`` of output
    ``o`` reads (``-1`` for padding), as in ``reduce_window`` / the spatial part of a conv."""
    nums = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    padded = np_pad(nums, -1, [(lo, hi, bd - 1) for (lo, hi), bd in zip(padding, base_dil)])
    nd = len(shape)
    out_shape = tuple(
        max(0, (p - ((k - 1) * wd + 1)) // s + 1)
        for p, k, wd, s in zip(padded.shape, wdims, win_dil, strides)
    )
    idx = []
    for d in range(nd):
        pos = (np.arange(out_shape[d])[:, None] * strides[d]
               + np.arange(wdims[d])[None, :] * win_dil[d])
        sh = [1] * (2 * nd)
        sh[d], sh[nd + d] = out_shape[d], wdims[d]
        idx.append(pos.reshape(sh))
    W = padded[tuple(idx)] if nd else padded.reshape(1, 1)
    return out_shape, W.reshape(math.prod(out_shape), math.prod(wdims))


def window_rows(W: np.ndarray, size_in: int) -> sp.csr_array:
    """Aggregation matrix (outputs x inputs) of a window map with ``-1`` holes."""
    ok = W >= 0
    rows = np.broadcast_to(np.arange(W.shape[0])[:, None], W.shape)
    return pairs(rows[ok], W[ok], W.shape[0], size_in)
