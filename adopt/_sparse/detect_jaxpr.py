"""Global Jacobian / Hessian sparsity detection for JAX functions, by interpreting the jaxpr.

Design (the JAX counterpart of ``detect_torch``): ``f`` is traced once with ``jax.make_jaxpr``
(the contexts closed over, so they are constants of the jaxpr) and its equations are interpreted
with per-primitive dependency rules on the sparse representation of ``detect_numpy``. Every
traced value carries its shape, dtype and a boolean CSR matrix ``D`` (size x n) whose row ``k``
lists the inputs element ``k`` may depend on. Values that do not depend on ``x`` (literals,
constants, ``iota``, index arithmetic on constants) are evaluated for real (NumPy for data
movement and integer arithmetic, otherwise the JAX primitive itself), so indices and the zeros
of constant matrices are known exactly.

Rules:

- data movement (reshape, broadcast, slicing, concatenate, pad, transpose, rev, split, tile,
  select_n with a known predicate, dynamic_slice / dynamic_update_slice with known indices,
  gather, scatter with known indices): the operation is applied to arrays of element numbers,
  which yields the exact source of every output element;
- point-wise primitives: union of the broadcast operands, with Hessian terms by kind (linear,
  piecewise linear, product, quotient, power, smooth);
- reductions, cumulative reductions, sort / top_k, dot_general (einsum), convolutions and
  windowed reductions (exact windows);
- sub-jaxprs (jit, custom_jvp / custom_vjp, checkpoint, closed_call, cond): interpreted in
  place; ``cond`` with an unknown predicate takes the union of its branches; ``scan`` and
  ``while`` are unrolled exactly while the total work stays under a budget, then iterated on
  dependency patterns to a fixed point (the carry only grows; outputs are the union);
- equations whose outputs cannot reach ``f``'s output through a differentiable path are not
  interpreted (no spurious Hessian terms from predicates, ``floor`` or ``stop_gradient``);
- anything else: every output depends on every input, with a ``ConservativeSparsityWarning``.

Patterns never miss a nonzero: an index that is not a known constant (computed from ``x``)
selects every element, with a warning; Python control flow on ``x`` raises
``SparsityDetectionError``.
"""

from __future__ import annotations

import contextlib
import math
import string
import warnings
from typing import Any, Callable, Sequence

import jax
import numpy as np
import scipy.sparse as sp
from jax.extend.core import DropVar, Literal, Var, jaxprs_in_params

from adopt._sparse.detect_numpy import (
    _CONTROL_FLOW,
    _FIX,
    _Trace,
    _broadcast_rows,
    _einsum,
    _empty,
    _group_prefix,
    _group_spread,
    _group_union,
    _groups,
    _mask_rows,
    _owner_rows,
    _pairs,
    _pointwise,
    _take,
    _union,
    scalar_hessian_pattern,
)
from adopt._sparse.detectors import (
    ConservativeSparsityWarning,
    SparsityDetectionError,
    canonical_pattern,
)

__all__ = ["jacobian_sparsity", "hessian_sparsity"]

#: equation evaluations that loops may spend on exact unrolling (over the whole detection)
_UNROLL_BUDGET = 4000
#: fixed-point passes of one loop before its carry is widened to the union of its inputs
_MAX_PASSES = 48
#: float-valued primitives with a zero derivative: nothing flows back through them
_ZERO_DERIV = frozenset({"floor", "ceil", "round", "sign", "stop_gradient"})

_DIFF: dict = {}


def _differentiable(dtype: Any) -> bool:
    r = _DIFF.get(dtype)
    if r is None:
        try:
            r = bool(jax.dtypes.issubdtype(dtype, np.inexact))
        except TypeError:
            r = False
        _DIFF[dtype] = r
    return r


class _TV:
    """A traced value: shape, dtype and dependency rows (C order); its values are unknown."""

    __slots__ = ("shape", "dtype", "D")

    def __init__(self, shape: tuple, dtype: Any, D: sp.csr_array):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.D = D

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def rows(self, shape: tuple) -> sp.csr_array:
        shape = tuple(shape)
        if shape == self.shape:
            return self.D
        return _take(self.D, _broadcast_rows(self.shape, shape))


def _shape(v: Any) -> tuple:
    return v.shape if isinstance(v, _TV) else tuple(np.shape(v))


def _traced(v: Any) -> bool:
    return isinstance(v, _TV) and v.D.nnz > 0


def _flat_values(v: Any, shape: tuple) -> np.ndarray:
    a = np.asarray(v)
    return a if a.ndim == 0 else np.broadcast_to(a, shape).ravel()


def _read(env: dict, a: Any) -> Any:
    return a.val if isinstance(a, Literal) else env[a]


# ---------------------------------------------------------------------------------------------
# Index arithmetic on arrays of element numbers (NumPy, exact, vectorised)
# ---------------------------------------------------------------------------------------------


def _np_pad(a: np.ndarray, value: Any, config: Sequence) -> np.ndarray:
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


def _np_broadcast_in_dim(a: np.ndarray, shape: Sequence[int], dims: Sequence[int]) -> np.ndarray:
    expanded = [1] * len(shape)
    for i, d in enumerate(dims):
        expanded[d] = a.shape[i]
    return np.broadcast_to(a.reshape(expanded), tuple(shape))


def _np_gather(operand: np.ndarray, indices: Any, dn: Any, slice_sizes: Sequence[int],
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


def _is_int(dtype: Any) -> bool:
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)


def _iota(p: dict) -> np.ndarray:
    shape, dim = tuple(p["shape"]), int(p["dimension"])
    ar = np.arange(shape[dim]).reshape([-1 if d == dim else 1 for d in range(len(shape))])
    return np.broadcast_to(ar, shape)


#: NumPy evaluation of known values: exact data movement (any dtype) and integer / boolean
#: arithmetic; everything else is evaluated by binding the JAX primitive.
_NP_MOVE = {
    "broadcast_in_dim": lambda a, p: _np_broadcast_in_dim(a[0], p["shape"],
                                                          p["broadcast_dimensions"]),
    "reshape": lambda a, p: _reshape(a, p),
    "squeeze": lambda a, p: np.squeeze(a[0], axis=tuple(p["dimensions"])),
    "transpose": lambda a, p: a[0].transpose(p["permutation"]),
    "slice": lambda a, p: _slice(a, p),
    "rev": lambda a, p: np.flip(a[0], axis=tuple(p["dimensions"])),
    "concatenate": lambda a, p: np.concatenate(a, axis=p["dimension"]),
    "select_n": lambda a, p: _np_select(a[0], a[1:]),
    "iota": lambda a, p: _iota(p),
    "copy": lambda a, p: a[0],
    "copy_p": lambda a, p: a[0],
}
_NP_INT = {
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
_NP_CMP = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}


def _np_select(which: np.ndarray, cases: Sequence[np.ndarray]) -> np.ndarray:
    which = np.asarray(which).astype(np.intp)
    shape = np.broadcast_shapes(which.shape, *(np.shape(c) for c in cases))
    out = np.broadcast_to(cases[0], shape)
    for k in range(1, len(cases)):
        out = np.where(which == k, cases[k], out)
    return out


def _np_eval(e: Any, invals: list) -> list | None:
    """Known outputs of ``e`` computed with NumPy, or None to let JAX evaluate it."""
    name = e.primitive.name
    fn = _NP_MOVE.get(name)
    if fn is None:
        fn = _NP_INT.get(name)
        if fn is None:
            cmp = _NP_CMP.get(name)
            if cmp is None:
                return None
            fn = lambda a, p: cmp(a[0], a[1])  # noqa: E731 - comparisons are exact
    try:
        arrays = [np.asarray(v) for v in invals]
        if any(a.dtype == object for a in arrays) or (
                name in _NP_INT and not all(_is_int(a.dtype) for a in arrays)):
            return None
        aval = e.outvars[0].aval
        out = np.asarray(fn(arrays, e.params))
        if out.shape != tuple(aval.shape):
            return None
        return [out.astype(aval.dtype, copy=False)]
    except Exception:  # noqa: BLE001 - JAX evaluates what NumPy cannot
        return None


def _windows(shape: tuple, wdims: Sequence[int], strides: Sequence[int], padding: Sequence,
             base_dil: Sequence[int], win_dil: Sequence[int]) -> tuple[tuple, np.ndarray]:
    """(out_shape, W): ``W[o, w]`` is the flat input index that window offset ``w`` of output
    ``o`` reads (``-1`` for padding), as in ``reduce_window`` / the spatial part of a conv."""
    nums = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    padded = _np_pad(nums, -1, [(lo, hi, bd - 1) for (lo, hi), bd in zip(padding, base_dil)])
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


def _window_rows(W: np.ndarray, size_in: int) -> sp.csr_array:
    """Aggregation matrix (outputs x inputs) of a window map with ``-1`` holes."""
    ok = W >= 0
    rows = np.broadcast_to(np.arange(W.shape[0])[:, None], W.shape)
    return _pairs(rows[ok], W[ok], W.shape[0], size_in)


# ---------------------------------------------------------------------------------------------
# The interpreter
# ---------------------------------------------------------------------------------------------


class _Interpreter:
    def __init__(self, tr: _Trace):
        self.tr = tr
        self.n = tr.n
        self.budget = _UNROLL_BUDGET
        self.messages: dict[str, None] = {}
        self._plans: dict = {}
        self._costs: dict = {}

    # --- values --------------------------------------------------------------------------
    def tv(self, shape: tuple, dtype: Any, D: sp.csr_array | None = None) -> _TV:
        shape = tuple(shape)
        if D is None or not _differentiable(dtype):
            D = _empty(math.prod(shape), self.n)
        return _TV(shape, dtype, D)

    def out(self, aval: Any, D: sp.csr_array | None) -> _TV:
        return self.tv(aval.shape, aval.dtype, D)

    def unknown(self, aval: Any) -> _TV:
        return self.tv(aval.shape, aval.dtype)

    def union_row(self, values: Sequence[Any]) -> sp.csr_array:
        """One row: every input any of ``values`` depends on."""
        rows = [_group_union(v.D, np.arange(v.size)[None, :]) for v in values if _traced(v)]
        return _union(rows, 1, self.n)

    def join(self, aval: Any, values: Sequence[Any]) -> _TV:
        """A value that may be any of ``values`` (same shape): union of their rows, canonical."""
        Ds = [v.rows(tuple(aval.shape)) for v in values if _traced(v)]
        D = canonical_pattern(_union(Ds, math.prod(aval.shape), self.n)) if Ds else None
        return self.tv(aval.shape, aval.dtype, D)

    def gather_numbers(self, shape: tuple, idx: Any, dn: Any, slice_sizes: Any,
                       mode: Any) -> np.ndarray | None:
        """Flat operand element that every element of a gather reads (``-1``: filled)."""
        nums = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
        res = _np_gather(nums, idx, dn, slice_sizes, mode, -1)
        if res is None:  # modes NumPy does not implement: JAX's gather, numbers from 1
            dtype = np.int32 if nums.size < 2**31 - 2 else np.int64
            if jax.dtypes.canonicalize_dtype(dtype) != dtype:
                return None
            res = np.asarray(jax.lax.gather(jax.numpy.asarray((nums + 1).astype(dtype)), idx,
                                            dn, tuple(slice_sizes), mode=mode, fill_value=0))
            res = res.astype(np.int64) - 1
        res = res.ravel()
        return np.where(res < 0, -1, res)

    # --- warnings ------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        self.messages.setdefault(message)

    def warn_rule(self, what: str) -> None:
        self.warn(
            f"global sparsity detection has no rule for {what}; assuming every output of it "
            "depends on every input of it (a dense block, also in the Hessian). The pattern "
            f"stays valid but may be denser than necessary; if that matters, {_FIX}"
        )

    def warn_index(self, prim: str) -> None:
        self.warn(
            f"global sparsity detection met an index that is not a known constant in {prim!r} "
            "(an index computed from x, or a loop counter of a loop too long to unroll); "
            "assuming every element may be selected. The pattern stays valid but may be "
            f"denser than necessary; if that matters, {_FIX}"
        )

    def emit(self) -> None:
        for m in self.messages:
            warnings.warn(m, ConservativeSparsityWarning, stacklevel=4)

    # --- jaxpr walk ----------------------------------------------------------------------
    def plan(self, jaxpr: Any, live: tuple | None) -> list:
        """Per equation: (needed, d-live, d-live flags of its outputs).

        An equation is needed if an output is used; it is d-live if an output reaches a live
        output of the jaxpr through differentiable values (only those need dependency rows
        and Hessian terms; the others are evaluated only when all their inputs are known)."""
        key = (id(jaxpr), live)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        outs = jaxpr.outvars
        live = live if live is not None else (True,) * len(outs)
        used = {v for v in outs if isinstance(v, Var)}
        dvars = {v for v, l in zip(outs, live)
                 if l and isinstance(v, Var) and _differentiable(v.aval.dtype)}
        plan = []
        for e in reversed(jaxpr.eqns):
            needed = any(o in used for o in e.outvars)
            if needed:
                used.update(a for a in e.invars if isinstance(a, Var))
            flags = tuple(o in dvars for o in e.outvars)
            dlive = needed and any(flags)
            if dlive and e.primitive.name not in _ZERO_DERIV:
                dvars.update(a for a in e.invars
                             if isinstance(a, Var) and _differentiable(a.aval.dtype))
            plan.append((needed, dlive, flags))
        plan.reverse()
        self._plans[key] = plan
        return plan

    def run(self, jaxpr: Any, consts: Sequence[Any], args: Sequence[Any],
            live: tuple | None = None) -> list:
        env: dict = {}
        for v, c in zip(jaxpr.constvars, consts):
            env[v] = c
        for v, a in zip(jaxpr.invars, args):
            env[v] = a
        for e, (needed, dlive, flags) in zip(jaxpr.eqns, self.plan(jaxpr, live)):
            if not needed:
                continue
            outs = self.eqn(e, [_read(env, a) for a in e.invars], dlive, flags)
            for v, o in zip(e.outvars, outs):
                if not isinstance(v, DropVar):
                    env[v] = o
        return [_read(env, v) for v in jaxpr.outvars]

    def run_closed(self, closed: Any, args: Sequence[Any], live: tuple | None = None) -> list:
        if hasattr(closed, "jaxpr"):
            return self.run(closed.jaxpr, closed.consts, args, live)
        return self.run(closed, (), args, live)

    def eqn(self, e: Any, invals: list, dlive: bool, flags: tuple) -> list:
        if not any(isinstance(v, _TV) for v in invals):
            return self.concrete(e, invals)
        if not dlive or not any(_traced(v) for v in invals):
            return [self.unknown(o.aval) for o in e.outvars]
        name = e.primitive.name
        rule = _RULES.get(name)
        if rule is None:
            return self.fallback(e, invals, f"the JAX primitive {name!r}")
        return rule(self, e, invals, flags)

    def concrete(self, e: Any, invals: list) -> list:
        """Evaluate an equation whose inputs are all known (index arithmetic, constants)."""
        prim = e.primitive
        if not prim.multiple_results:
            out = _np_eval(e, invals)
            if out is not None:
                return out
        try:
            params = prim.get_bind_params(e.params)
            ctx = getattr(getattr(e, "ctx", None), "manager", None) or contextlib.nullcontext()
            with ctx:
                if isinstance(params, tuple):  # older JAX: (subfuns, params)
                    out = prim.bind(*params[0], *invals, **params[1])
                else:
                    out = prim.bind(*invals, **params)
        except Exception:  # noqa: BLE001 - unknown values are always a valid answer
            return [self.unknown(o.aval) for o in e.outvars]
        return list(out) if prim.multiple_results else [out]

    def cost(self, jaxpr: Any) -> int:
        """Equation evaluations of one run of ``jaxpr`` (loop bodies counted once a step)."""
        key = id(jaxpr)
        c = self._costs.get(key)
        if c is None:
            c = 0
            for e in jaxpr.eqns:
                sub = sum(self.cost(j) for j in jaxprs_in_params(e.params))
                if e.primitive.name == "scan":
                    sub *= int(e.params["length"])
                c += 1 + sub
            self._costs[key] = c
        return c

    # --- rule families -------------------------------------------------------------------
    def fallback(self, e: Any, invals: list, what: str) -> list:
        self.warn_rule(what)
        U = self.union_row([v for v in invals if isinstance(v, _TV)])
        self.tr.block(U)
        return [self.out(o.aval, _take(U, np.zeros(math.prod(o.aval.shape), dtype=np.intp)))
                for o in e.outvars]

    def pointwise(self, aval: Any, operands: Sequence[Any], kind: str) -> _TV:
        shape = tuple(aval.shape)
        if not _differentiable(aval.dtype):
            return self.unknown(aval)
        ops = []
        for v in operands:
            if isinstance(v, _TV):
                ops.append((v.rows(shape), None))
            else:
                ops.append((None, _flat_values(v, shape) if kind in ("mul", "pow") else None))
        return self.out(aval, _pointwise(self.tr, kind, ops, math.prod(shape)))

    def move(self, e: Any, invals: list, data: Sequence[int], fn: Callable) -> list:
        """Pure data movement: ``fn`` maps arrays of element numbers (one per operand in
        ``data``, ``-1`` for elements without dependencies) to the numbers of the outputs."""
        blocks, nums, off = [], [], 0
        for p in data:
            v = invals[p]
            shape = _shape(v)
            size = math.prod(shape)
            if _traced(v):
                nums.append(np.arange(off, off + size, dtype=np.int64).reshape(shape))
                blocks.append(v.D)
                off += size
            else:
                nums.append(np.full(shape, -1, dtype=np.int64))
        res = fn(nums)
        if not isinstance(res, (list, tuple)):
            res = [res]
        if not blocks:
            cat = _empty(0, self.n)
        else:
            cat = blocks[0] if len(blocks) == 1 else sp.csr_array(sp.vstack(blocks, format="csr"))
        return [self.out(o.aval, _take(cat, np.asarray(r).ravel()))
                for o, r in zip(e.outvars, res)]

    def einsum_operand(self, v: Any) -> tuple:
        if isinstance(v, _TV):
            return (v.shape, v.D, None)
        return (_shape(v), None, np.asarray(v) != 0)

    # --- loops ---------------------------------------------------------------------------
    def fixed_point(self, step: Callable[[list], list], carry: list, avals: Sequence[Any],
                    other: Sequence[Any], what: str) -> tuple[list, list]:
        """Iterate ``step`` (carry -> carry outputs + extra outputs) on dependency patterns
        until the carry stops growing. Returns (carry, extra outputs of the last pass)."""
        carry = [self.join(a, [c]) for a, c in zip(avals, carry)]
        nk = len(carry)
        for passes in range(_MAX_PASSES + 2):
            outs = step(carry)
            new = [self.join(a, [c, o]) for a, c, o in zip(avals, carry, outs[:nk])]
            if all(c.D.nnz == m.D.nnz for c, m in zip(carry, new)):
                return carry, outs[nk:]
            carry = new
            if passes == _MAX_PASSES:
                self.warn(
                    f"global sparsity detection: the dependency patterns of a {what} loop did "
                    f"not settle in {_MAX_PASSES} passes; every carried value is assumed to "
                    "depend on every input of the loop. The pattern stays valid but may be "
                    f"denser than necessary; if that matters, {_FIX}"
                )
                U = self.union_row(list(carry) + [v for v in other if isinstance(v, _TV)])
                carry = [self.tv(a.shape, a.dtype, _take(U, np.zeros(math.prod(a.shape),
                                                                     dtype=np.intp)))
                         for a in avals]
        raise AssertionError("widened loop patterns did not settle")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Rules by primitive name: rule(interpreter, eqn, invals, d-live flags of outputs) -> outputs
# ---------------------------------------------------------------------------------------------

_RULES: dict[str, Callable] = {}


def _rule(*names: str):
    def deco(fn):
        for nm in names:
            _RULES[nm] = fn
        return fn

    return deco


def _kinds(kind: str, names: str) -> None:
    def rule(it, e, invals, flags):
        return [it.pointwise(e.outvars[0].aval, invals, kind)]

    for nm in names.split():
        _RULES[nm] = rule


_kinds("linear", "add sub neg add_any real imag conj complex copy copy_p reduce_precision "
       "convert_element_type")
_kinds("zero", "floor ceil round sign stop_gradient is_finite eq ne lt le gt ge eq_to lt_to "
       "le_to and or not xor population_count clz shift_left shift_right_arithmetic "
       "shift_right_logical")
_kinds("piecewise", "max min clamp rem")
_kinds("first", "nextafter")
_kinds("unary", "exp exp2 log log1p expm1 sin cos tan tanh logistic sqrt rsqrt cbrt erf erfc "
       "erf_inv lgamma digamma asin acos atan sinh cosh asinh acosh atanh square bessel_i0e "
       "bessel_i1e")
_kinds("mul", "mul")
_kinds("div", "div")
_kinds("pow", "pow")
_kinds("nonlinear", "atan2 igamma igammac igamma_grad_a random_gamma_grad polygamma zeta "
       "regularized_incomplete_beta")


@_rule("integer_pow")
def _integer_pow(it, e, invals, flags):
    y = int(e.params["y"])
    kind = "zero" if y == 0 else ("linear" if y == 1 else "unary")
    return [it.pointwise(e.outvars[0].aval, invals, kind)]


@_rule("abs")
def _abs(it, e, invals, flags):
    complex_in = jax.dtypes.issubdtype(invals[0].dtype, np.complexfloating)
    return [it.pointwise(e.outvars[0].aval, invals, "unary" if complex_in else "piecewise")]


@_rule("zeros_like")
def _zeros_like(it, e, invals, flags):
    aval = e.outvars[0].aval
    return [np.zeros(aval.shape, dtype=aval.dtype)]


@_rule("optimization_barrier", "device_put", "sharding_constraint", "reshard", "pvary",
       "layout_constraint", "with_memory_space_constraint")
def _passthrough(it, e, invals, flags):
    return [it.out(o.aval, v.D) if isinstance(v, _TV) else v for o, v in zip(e.outvars, invals)]


# Data movement --------------------------------------------------------------------------------


def _movement(fn: Callable, data: Sequence[int] | None = None):
    def rule(it, e, invals, flags):
        pos = range(len(invals)) if data is None else data
        return it.move(e, invals, pos, lambda nums: fn(nums, e.params))

    return rule


def _reshape(a, p):
    x = a[0] if p.get("dimensions") is None else a[0].transpose(p["dimensions"])
    return x.reshape(p["new_sizes"])


def _slice(a, p):
    strides = p.get("strides") or (1,) * a[0].ndim
    return a[0][tuple(slice(s, l, st) for s, l, st in
                      zip(p["start_indices"], p["limit_indices"], strides))]


_RULES["reshape"] = _movement(_reshape, (0,))
_RULES["broadcast_in_dim"] = _movement(
    lambda a, p: _np_broadcast_in_dim(a[0], p["shape"], p["broadcast_dimensions"]), (0,))
_RULES["squeeze"] = _movement(lambda a, p: np.squeeze(a[0], axis=tuple(p["dimensions"])), (0,))
_RULES["transpose"] = _movement(lambda a, p: a[0].transpose(p["permutation"]), (0,))
_RULES["slice"] = _movement(_slice, (0,))
_RULES["rev"] = _movement(lambda a, p: np.flip(a[0], axis=tuple(p["dimensions"])), (0,))
_RULES["concatenate"] = _movement(lambda a, p: np.concatenate(a, axis=p["dimension"]))
_RULES["pad"] = _movement(lambda a, p: _np_pad(a[0], a[1].reshape(()), p["padding_config"]),
                          (0, 1))
_RULES["split"] = _movement(
    lambda a, p: np.split(a[0], np.cumsum(p["sizes"])[:-1].astype(np.intp), axis=p["axis"]),
    (0,))
_RULES["stack"] = _movement(lambda a, p: np.stack(a, axis=p["axis"]))
_RULES["unstack"] = _movement(lambda a, p: list(np.moveaxis(a[0], p["axis"], 0)), (0,))
_RULES["tile"] = _movement(lambda a, p: np.tile(a[0], p["reps"]), (0,))


@_rule("select_n")
def _select_n(it, e, invals, flags):
    pred, cases = invals[0], invals[1:]
    aval = e.outvars[0].aval
    if isinstance(pred, _TV):  # unknown predicate: may pick any case
        return [it.pointwise(aval, cases, "piecewise")]
    return it.move(e, invals, range(1, len(invals)),
                   lambda nums: np.broadcast_to(_np_select(pred, nums), tuple(aval.shape)))


def _starts(values: Sequence[Any], shape: tuple, sizes: Sequence[int]) -> list[int] | None:
    """Start indices clamped like XLA, or None if one is not a known constant."""
    if any(isinstance(v, _TV) for v in values):
        return None
    return [int(np.clip(int(np.asarray(v)), 0, d - k)) for v, d, k in zip(values, shape, sizes)]


@_rule("dynamic_slice")
def _dynamic_slice(it, e, invals, flags):
    op = invals[0]
    sizes = tuple(e.params["slice_sizes"])
    starts = _starts(invals[1:1 + len(sizes)], _shape(op), sizes)
    aval = e.outvars[0].aval
    if starts is None:
        it.warn_index("dynamic_slice")
        U = it.union_row([op])
        return [it.out(aval, _take(U, np.zeros(math.prod(aval.shape), dtype=np.intp)))]
    region = tuple(slice(s, s + k) for s, k in zip(starts, sizes))
    return it.move(e, invals, (0,), lambda a: a[0][region])


@_rule("dynamic_update_slice")
def _dynamic_update_slice(it, e, invals, flags):
    op, upd = invals[0], invals[1]
    shape, ushape = _shape(op), _shape(upd)
    starts = _starts(invals[2:2 + len(shape)], shape, ushape)
    aval = e.outvars[0].aval
    if starts is None:
        it.warn_index("dynamic_update_slice")
        base = op.D if isinstance(op, _TV) else _empty(math.prod(shape), it.n)
        U = it.union_row([upd])
        return [it.out(aval, base + _take(U, np.zeros(math.prod(shape), dtype=np.intp)))]
    region = tuple(slice(s, s + k) for s, k in zip(starts, ushape))

    def fn(a):
        out = a[0].copy()
        out[region] = a[1]
        return out

    return it.move(e, invals, (0, 1), fn)


@_rule("gather")
def _gather(it, e, invals, flags):
    op, idx = invals[0], invals[1]
    aval = e.outvars[0].aval
    m = math.prod(aval.shape)
    if isinstance(idx, _TV):
        it.warn_index("gather")
        return [it.out(aval, _take(it.union_row([op]), np.zeros(m, dtype=np.intp)))]
    rows = it.gather_numbers(op.shape, idx, e.params["dimension_numbers"],
                             e.params["slice_sizes"], e.params["mode"])
    if rows is None:
        return it.fallback(e, invals, "gather on more than 2**31 elements without jax x64")
    return [it.out(aval, _take(op.D, rows))]


def _scatter_destinations(it, e, shape: tuple, idx: Any, ushape: tuple) -> np.ndarray | None:
    """Flat operand position every update element lands on (``-1``: dropped), found with the
    gather that is the transpose of the scatter (as JAX differentiates scatter-add)."""
    from jax.lax import GatherDimensionNumbers, GatherScatterMode

    dn = e.params["dimension_numbers"]
    gdn = GatherDimensionNumbers(
        offset_dims=tuple(dn.update_window_dims),
        collapsed_slice_dims=tuple(dn.inserted_window_dims),
        start_index_map=tuple(dn.scatter_dims_to_operand_dims),
        operand_batching_dims=tuple(dn.operand_batching_dims),
        start_indices_batching_dims=tuple(dn.scatter_indices_batching_dims),
    )
    slice_sizes, pos = [], 0
    for i in range(len(shape)):
        if i in dn.inserted_window_dims or i in dn.operand_batching_dims:
            slice_sizes.append(1)
        else:
            slice_sizes.append(ushape[dn.update_window_dims[pos]])
            pos += 1
    mode = GatherScatterMode.from_any(e.params.get("mode"))
    mode = mode if mode == GatherScatterMode.CLIP else GatherScatterMode.FILL_OR_DROP
    return it.gather_numbers(shape, idx, gdn, tuple(slice_sizes), mode)


def _plain_update(update_jaxpr: Any) -> bool:
    """Whether a scatter's update computation just returns the update (``.at[].set``)."""
    if update_jaxpr is None:
        return True
    j = getattr(update_jaxpr, "jaxpr", update_jaxpr)
    return len(j.invars) == 2 and len(j.outvars) == 1 and j.outvars[0] is j.invars[1]


def _scatter_rule(kind: str):
    """kind: "replace" (scatter), "add" (scatter-add/-sub), "mul", "minmax"."""

    def rule(it, e, invals, flags):
        op, idx, upd = invals[0], invals[1], invals[2]
        aval = e.outvars[0].aval
        size = math.prod(aval.shape)
        shape, ushape = _shape(op), _shape(upd)
        base = op.D if isinstance(op, _TV) else _empty(size, it.n)
        U = upd.D if isinstance(upd, _TV) else _empty(math.prod(ushape), it.n)
        nonlinear = (kind == "mul" and U.nnz > 0) or (
            kind == "replace" and not _plain_update(e.params.get("update_jaxpr")))
        dest = None if isinstance(idx, _TV) else _scatter_destinations(it, e, shape, idx, ushape)
        if dest is None:
            it.warn_index(e.primitive.name)
            D = base + _take(it.union_row([upd]), np.zeros(size, dtype=np.intp))
            if nonlinear:
                it.tr.block(it.union_row([it.tv(aval.shape, aval.dtype, D)]))
            return [it.out(aval, D)]
        ok = dest >= 0
        targets = dest[ok]
        W = _pairs(targets, np.flatnonzero(ok), size, len(dest)) @ U
        if kind == "replace" and not nonlinear:
            written = np.zeros(size, dtype=bool)
            written[targets] = True
            return [it.out(aval, _mask_rows(base, ~written) + W)]
        D = base + W
        if nonlinear:
            it.tr.block(_take(D, targets))
        return [it.out(aval, D)]

    return rule


_RULES["scatter"] = _scatter_rule("replace")
_RULES["scatter-add"] = _RULES["scatter_add"] = _scatter_rule("add")
_RULES["scatter-sub"] = _RULES["scatter_sub"] = _scatter_rule("add")
_RULES["scatter-mul"] = _RULES["scatter_mul"] = _scatter_rule("mul")
for _nm in ("scatter-min", "scatter-max", "scatter_min", "scatter_max"):
    _RULES[_nm] = _scatter_rule("minmax")


# Reductions, scans, sorting ---------------------------------------------------------------------


def _reduce_rule(kind: str):
    def rule(it, e, invals, flags):
        x = invals[0]
        G, _ = _groups(x.shape, tuple(sorted(int(a) for a in e.params["axes"])), False)
        S = _group_union(x.D, G)
        if kind == "prod":
            it.tr.group_pairs(x.D, G)
        return [it.out(e.outvars[0].aval, S)]

    return rule


_RULES["reduce_sum"] = _reduce_rule("sum")
_RULES["reduce_max"] = _RULES["reduce_min"] = _reduce_rule("max")
_RULES["reduce_prod"] = _reduce_rule("prod")


def _cumulative_rule(kind: str):
    def rule(it, e, invals, flags):
        x = invals[0]
        G, _ = _groups(x.shape, (int(e.params["axis"]) % len(x.shape),), False)
        if e.params.get("reverse"):
            G = G[:, ::-1]
        D = _group_prefix(x.D, G)
        if kind == "prod":
            it.tr.group_pairs(x.D, G)
        elif kind == "smooth":
            it.tr.block(_group_union(x.D, G))
        return [it.out(e.outvars[0].aval, D)]

    return rule


_RULES["cumsum"] = _RULES["cummax"] = _RULES["cummin"] = _cumulative_rule("linear")
_RULES["cumprod"] = _cumulative_rule("prod")
_RULES["cumlogsumexp"] = _cumulative_rule("smooth")


@_rule("sort")
def _sort(it, e, invals, flags):
    shape = _shape(invals[0])
    G, _ = _groups(shape, (int(e.params["dimension"]) % len(shape),), False)
    return [it.out(o.aval, _group_spread(v.D, G) if isinstance(v, _TV) else None)
            for o, v in zip(e.outvars, invals)]


@_rule("top_k", "approx_top_k")
def _top_k(it, e, invals, flags):
    x = invals[0]
    p = e.params
    axis = int(p.get("reduction_dimension", p.get("axis", -1))) % len(x.shape)
    G, _ = _groups(x.shape, (axis,), False)
    values = e.outvars[0].aval
    rows = _owner_rows(x.shape, axis, tuple(values.shape))
    return [it.out(values, _take(_group_union(x.D, G), rows))] + [
        it.unknown(o.aval) for o in e.outvars[1:]]


@_rule("reduce")
def _reduce_generic(it, e, invals, flags):
    """``lax.reduce`` with a custom computation: outputs depend smoothly on their groups of
    every operand and on the initial values."""
    k = len(invals) // 2
    shape = _shape(invals[0])
    G, _ = _groups(shape, tuple(sorted(int(a) for a in e.params["dimensions"])), False)
    S = _union([_group_union(v.D, G) for v in invals[:k] if _traced(v)], G.shape[0], it.n)
    init = it.union_row(invals[k:])
    S = S + _take(init, np.zeros(G.shape[0], dtype=np.intp))
    it.tr.block(S)
    return [it.out(o.aval, S) for o in e.outvars]


# Contractions and windows -----------------------------------------------------------------------


@_rule("dot_general")
def _dot_general(it, e, invals, flags):
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    lhs, rhs = invals
    ls, rs = _shape(lhs), _shape(rhs)
    letters = iter(string.ascii_letters)
    L = [next(letters) for _ in ls]
    R: list = [None] * len(rs)
    for a, b in zip(tuple(lb) + tuple(lc), tuple(rb) + tuple(rc)):
        R[b] = L[a]
    R = [r if r is not None else next(letters) for r in R]
    out = ([L[d] for d in lb] + [L[d] for d in range(len(ls)) if d not in lb and d not in lc]
           + [R[d] for d in range(len(rs)) if d not in rb and d not in rc])
    D = _einsum(it.tr, ["".join(L), "".join(R)], "".join(out),
                [it.einsum_operand(lhs), it.einsum_operand(rhs)])
    if D is None:
        return it.fallback(e, invals, "dot_general of this size")
    return [it.out(e.outvars[0].aval, D)]


@_rule("conv_general_dilated")
def _conv(it, e, invals, flags):
    p = e.params
    if int(p.get("batch_group_count", 1)) != 1:
        return it.fallback(e, invals, "conv_general_dilated with batch_group_count > 1")
    lhs, rhs = invals
    lspec, rspec, ospec = p["dimension_numbers"]
    lshape, rshape = _shape(lhs), _shape(rhs)
    B, C = lshape[lspec[0]], lshape[lspec[1]]
    S = tuple(lshape[d] for d in lspec[2:])
    O, Cg = rshape[rspec[0]], rshape[rspec[1]]
    K = tuple(rshape[d] for d in rspec[2:])
    G = int(p["feature_group_count"])
    ndim = len(S)
    out_shape, W = _windows(S, K, p["window_strides"], p["padding"],
                            p.get("lhs_dilation") or (1,) * ndim,
                            p.get("rhs_dilation") or (1,) * ndim)
    So, Kw = W.shape
    # lhs patches in canonical order (B, G, Cg, So, Kw): flat lhs index or -1
    lidx = np.arange(math.prod(lshape)).reshape(lshape).transpose(lspec).reshape(B, C, -1)
    patch = np.where(W >= 0, lidx[:, :, np.maximum(W, 0)], -1).reshape(B, G, Cg, So, Kw)
    if isinstance(lhs, _TV):
        lop = (patch.shape, _take(lhs.D, patch.ravel()), None)
    else:
        vals = np.asarray(lhs).ravel()
        lop = (patch.shape, None, np.where(patch >= 0, vals[np.maximum(patch, 0)], 0) != 0)
    ridx = np.arange(math.prod(rshape)).reshape(rshape).transpose(rspec).reshape(
        G, O // G, Cg, Kw)
    if isinstance(rhs, _TV):
        rop = (ridx.shape, _take(rhs.D, ridx.ravel()), None)
    else:
        rop = (ridx.shape, None, (np.asarray(rhs).ravel() != 0)[ridx])
    D = _einsum(it.tr, ["bgcsw", "gdcw"], "bgds", [lop, rop])
    if D is None:
        return it.fallback(e, invals, "conv_general_dilated of this size")
    canon = np.arange(B * O * So).reshape((B, O) + tuple(out_shape))
    rows = canon.transpose(np.argsort(ospec)).ravel()
    return [it.out(e.outvars[0].aval, _take(D, rows))]


def _window_map(p: dict, shape: tuple) -> np.ndarray:
    nd = len(shape)
    return _windows(shape, p["window_dimensions"], p["window_strides"], p["padding"],
                    p.get("base_dilation") or (1,) * nd, p.get("window_dilation") or (1,) * nd)[1]


@_rule("reduce_window_sum", "reduce_window_max", "reduce_window_min")
def _reduce_window(it, e, invals, flags):
    x = invals[0]
    return [it.out(e.outvars[0].aval, _window_rows(_window_map(e.params, x.shape), x.size) @ x.D)]


@_rule("reduce_window")
def _reduce_window_generic(it, e, invals, flags):
    """``lax.reduce_window`` with a custom computation: smooth in each window and the inits."""
    k = len(invals) // 2
    shape = _shape(invals[0])
    W = _window_map(e.params, shape)
    agg = _window_rows(W, math.prod(shape))
    S = _union([agg @ v.D for v in invals[:k] if _traced(v)], W.shape[0], it.n)
    S = S + _take(it.union_row(invals[k:]), np.zeros(W.shape[0], dtype=np.intp))
    it.tr.block(S)
    return [it.out(o.aval, S) for o in e.outvars]


# Sub-jaxprs and control flow --------------------------------------------------------------------


@_rule("jit", "pjit", "closed_call", "core_call", "remat2", "checkpoint", "remat",
       "custom_jvp_call", "custom_jvp_call_jaxpr", "custom_vjp_call", "custom_vjp_call_jaxpr",
       "custom_vmap_call", "named_call", "composite")
def _call(it, e, invals, flags):
    p = e.params
    closed = next((p[k] for k in ("jaxpr", "call_jaxpr", "fun_jaxpr", "call")
                   if p.get(k) is not None), None)
    inner = getattr(closed, "jaxpr", closed)
    if (closed is None or not hasattr(inner, "eqns") or len(inner.invars) != len(invals)
            or len(inner.outvars) != len(e.outvars)):
        return it.fallback(e, invals, f"the JAX primitive {e.primitive.name!r}")
    return it.run_closed(closed, invals, flags)


@_rule("cond")
def _cond(it, e, invals, flags):
    index, ops = invals[0], invals[1:]
    branches = e.params["branches"]
    if not isinstance(index, _TV):
        k = int(np.clip(int(np.asarray(index)), 0, len(branches) - 1))
        return it.run_closed(branches[k], ops, flags)
    outs = [it.run_closed(b, ops, flags) for b in branches]
    return [it.join(o.aval, [r[k] for r in outs]) for k, o in enumerate(e.outvars)]


def _slice0(v: Any, t: int, it: _Interpreter) -> Any:
    """Element ``t`` along the leading axis (a scan input slice)."""
    if isinstance(v, _TV):
        s = math.prod(v.shape[1:])
        return _TV(v.shape[1:], v.dtype, _take(v.D, np.arange(t * s, (t + 1) * s)))
    try:
        return np.asarray(v)[t]
    except Exception:  # noqa: BLE001 - e.g. PRNG key arrays: index them with JAX
        return v[t]


def _stack(it: _Interpreter, aval: Any, parts: list) -> Any:
    if not any(isinstance(q, _TV) for q in parts):
        try:
            return np.stack([np.asarray(q) for q in parts])
        except Exception:  # noqa: BLE001 - e.g. PRNG key arrays: stack them with JAX
            return jax.numpy.stack(parts)
    s = math.prod(aval.shape[1:])
    blocks = [q.D if isinstance(q, _TV) else _empty(s, it.n) for q in parts]
    return it.out(aval, sp.csr_array(sp.vstack(blocks, format="csr")))


@_rule("scan")
def _scan(it, e, invals, flags):
    p = e.params
    body = p["jaxpr"]
    nc, nk, L = int(p["num_consts"]), int(p["num_carry"]), int(p["length"])
    consts, carry, xs = invals[:nc], list(invals[nc:nc + nk]), invals[nc + nk:]
    if L == 0:
        return carry + [it.unknown(o.aval) for o in e.outvars[nk:]]
    cost = L * it.cost(body.jaxpr)
    if cost <= it.budget:  # exact: unroll
        it.budget -= cost
        ys: list = [[None] * L for _ in e.outvars[nk:]]
        for t in (range(L - 1, -1, -1) if p["reverse"] else range(L)):
            out = it.run_closed(body, list(consts) + carry + [_slice0(v, t, it) for v in xs])
            carry = out[:nk]
            for k, y in enumerate(out[nk:]):
                ys[k][t] = y
        return carry + [_stack(it, o.aval, parts) for o, parts in zip(e.outvars[nk:], ys)]
    # fixed point: every step sees the union of the slices of xs
    xs_u = []
    for v, var in zip(xs, body.jaxpr.invars[nc + nk:]):
        if _traced(v):
            s = math.prod(v.shape[1:])
            G = np.arange(L * s).reshape(L, s).T
            xs_u.append(it.tv(var.aval.shape, var.aval.dtype, _group_union(v.D, G)))
        else:
            xs_u.append(it.unknown(var.aval))
    avals = [o.aval for o in e.outvars[:nk]]
    carry, ys_last = it.fixed_point(
        lambda c: it.run_closed(body, list(consts) + c + xs_u), carry, avals,
        list(consts) + xs_u, "scan")
    ys = []
    for o, y in zip(e.outvars[nk:], ys_last):
        s = math.prod(o.aval.shape[1:])
        D = y.D if isinstance(y, _TV) else None
        ys.append(it.out(o.aval, None if D is None else _take(D, np.tile(np.arange(s), L))))
    return carry + ys


@_rule("while")
def _while(it, e, invals, flags):
    p = e.params
    cn, bn = int(p["cond_nconsts"]), int(p["body_nconsts"])
    cconsts, bconsts, carry = invals[:cn], invals[cn:cn + bn], list(invals[cn + bn:])
    cond, body = p["cond_jaxpr"], p["body_jaxpr"]
    cost = it.cost(body.jaxpr) + it.cost(cond.jaxpr)
    while True:  # exact while the predicate is known and the budget lasts
        pred = it.run_closed(cond, list(cconsts) + carry, (False,))[0]
        if isinstance(pred, _TV) or cost > it.budget:
            break
        if not bool(np.asarray(pred)):
            return carry
        it.budget -= cost
        carry = it.run_closed(body, list(bconsts) + carry)
    avals = [o.aval for o in e.outvars]
    carry, _ = it.fixed_point(lambda c: it.run_closed(body, list(bconsts) + c), carry, avals,
                              list(bconsts), "while")
    return carry


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def _as_array(x: Any) -> Any:
    import jax.numpy as jnp

    x = x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)
    if not jax.dtypes.issubdtype(x.dtype, np.inexact):
        x = jnp.asarray(x, dtype=jnp.result_type(float))
    return x


def _make_jaxpr(f: Callable, x: Any, contexts: Sequence[Any]) -> tuple[Any, Any]:
    values = [c.value for c in contexts]
    spec = jax.ShapeDtypeStruct(tuple(x.shape), jax.dtypes.canonicalize_dtype(x.dtype))
    try:
        return jax.make_jaxpr(lambda v: f(v, *values), return_shape=True)(spec)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError,
            jax.errors.TracerArrayConversionError, jax.errors.NonConcreteBooleanIndexError) as e:
        raise SparsityDetectionError(
            _CONTROL_FLOW.format(what=f"jax raised {type(e).__name__}")
        ) from e


def _trace(f: Callable, x: Any, contexts: Sequence[Any], hessian: bool) -> tuple[_Trace, Any]:
    x = _as_array(x)
    closed, out_shape = _make_jaxpr(f, x, contexts)
    leaves = jax.tree_util.tree_leaves(out_shape)
    if len(leaves) != 1:
        raise SparsityDetectionError(
            f"f returned {len(leaves)} arrays; return one array (jnp.concatenate the parts)"
        )
    n = math.prod(x.shape)
    tr = _Trace(n, hessian)
    it = _Interpreter(tr)
    xin = it.tv(tuple(x.shape), x.dtype, sp.eye_array(n, dtype=bool, format="csr"))
    with jax.ensure_compile_time_eval():
        (y,) = it.run(closed.jaxpr, closed.consts, [xin])
    it.emit()
    rows = y.D if isinstance(y, _TV) else _empty(math.prod(np.shape(y)), n)
    return tr, rows


def jacobian_sparsity(f: Callable, x: Any, contexts: Sequence[Any] = ()) -> sp.csr_array:
    """Boolean CSR pattern (y.size, x.size) of the Jacobian, valid at every ``x``."""
    _, rows = _trace(f, x, contexts, hessian=False)
    return canonical_pattern(rows)


def hessian_sparsity(f: Callable, x: Any, contexts: Sequence[Any] = ()) -> sp.csr_array:
    """Boolean symmetric CSR pattern (x.size, x.size) of the Hessian of a scalar ``f``."""
    tr, rows = _trace(f, x, contexts, hessian=True)
    return scalar_hessian_pattern(tr, rows)
