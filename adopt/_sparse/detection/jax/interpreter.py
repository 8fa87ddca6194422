"""The jaxpr interpreter: walks the equations, dispatches each to the rule of its primitive.

Every value of the walk is a known array (evaluated for real: constants, literals, index
arithmetic) or a :class:`TracedValue`. An equation whose inputs are all known is evaluated
(:meth:`Interpreter.concrete`); one whose outputs cannot reach ``f``'s output through a
differentiable path is not interpreted (no spurious Hessian terms from predicates, ``floor``
or ``stop_gradient``); the others go to ``RULES[primitive name]``, or to a conservative dense
block with a :class:`ConservativeSparsityWarning`.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable, Sequence

import jax
import numpy as np
import scipy.sparse as sp
from jax.extend.core import ClosedJaxpr, DropVar, Literal, Var, jaxprs_in_params

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.diagnostics import FIX, canonical_pattern, no_rule, warn
from adopt._sparse.detection.jax.known import np_gather, np_eval
from adopt._sparse.detection.kinds import JAX_ZERO_DERIVATIVE, Kind
from adopt._sparse.detection.values import TracedValue

__all__ = ["Interpreter", "Rule", "RULES", "rule", "shape_of", "traced"]

#: equation evaluations that loops may spend on exact unrolling (over the whole detection)
UNROLL_BUDGET = 4000
#: fixed-point passes of one loop before its carry is widened to the union of its inputs
MAX_PASSES = 48

#: rule(interpreter, equation, input values, d-live flags of its outputs) -> output values
Rule = Callable[["Interpreter", Any, list, tuple], list]
#: the rule of every primitive name, filled by the rule modules of this folder
RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register a rule for the primitives ``names``."""
    def deco(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return deco


@functools.lru_cache(maxsize=None)
def differentiable(dtype: Any) -> bool:
    """Whether values of ``dtype`` carry derivatives (floating point or complex)."""
    try:
        return bool(jax.dtypes.issubdtype(dtype, np.inexact))
    except TypeError:
        return False


def shape_of(v: Any) -> tuple:
    return v.shape if isinstance(v, TracedValue) else tuple(np.shape(v))


def traced(v: Any) -> bool:
    return isinstance(v, TracedValue) and v.traced


def _read(env: dict, a: Any) -> Any:
    return a.val if isinstance(a, Literal) else env[a]


class Interpreter:
    """One detection: the trace, the loop budget, the warnings and per-jaxpr caches."""

    def __init__(self, tr: A.Trace):
        self.tr = tr
        self.n = tr.n
        self.budget = UNROLL_BUDGET
        self.messages: dict[str, None] = {}
        self._plans: dict = {}
        self._costs: dict = {}

    # --- values --------------------------------------------------------------------------
    def tv(self, shape: tuple, dtype: Any, D: sp.csr_array | None = None) -> TracedValue:
        """A traced value; no dependencies if ``D`` is None or ``dtype`` not differentiable."""
        shape = tuple(shape)
        if D is None or not differentiable(dtype):
            D = A.empty(math.prod(shape), self.n)
        return TracedValue(shape, dtype, D)

    def out(self, aval: Any, D: sp.csr_array | None) -> TracedValue:
        return self.tv(aval.shape, aval.dtype, D)

    def unknown(self, aval: Any) -> TracedValue:
        """A value independent of ``x`` whose value is not known."""
        return self.tv(aval.shape, aval.dtype)

    def spread_row(self, aval: Any, values: Sequence[Any]) -> TracedValue:
        """Every element depends on everything ``values`` depend on (an unknown index)."""
        U = A.union_row([v.D for v in values if traced(v)], self.n)
        return self.out(aval, A.broadcast_row(U, math.prod(aval.shape)))

    def join(self, aval: Any, values: Sequence[Any]) -> TracedValue:
        """A value that may be any of ``values`` (same shape): union of their rows, canonical."""
        Ds = [v.rows(tuple(aval.shape)) for v in values if traced(v)]
        D = canonical_pattern(A.union(Ds, math.prod(aval.shape), self.n)) if Ds else None
        return self.tv(aval.shape, aval.dtype, D)

    def gather_numbers(self, shape: tuple, idx: Any, dn: Any, slice_sizes: Any,
                       mode: Any) -> np.ndarray | None:
        """Flat operand element that every element of a gather reads (``-1``: filled)."""
        nums = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
        res = np_gather(nums, idx, dn, slice_sizes, mode, -1)
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
        """Collect a warning (each message once per detection, emitted at the end)."""
        self.messages.setdefault(message)

    def warn_index(self, prim: str) -> None:
        self.warn(
            f"global sparsity detection met an index that is not a known constant in {prim!r} "
            "(an index computed from x, or a loop counter of a loop too long to unroll); "
            "assuming every element may be selected. The pattern stays valid but may be "
            f"denser than necessary; if that matters, {FIX}"
        )

    def emit(self) -> None:
        for m in self.messages:
            warn(m, stacklevel=4)

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
                 if l and isinstance(v, Var) and differentiable(v.aval.dtype)}
        plan = []
        for e in reversed(jaxpr.eqns):
            needed = any(o in used for o in e.outvars)
            if needed:
                used.update(a for a in e.invars if isinstance(a, Var))
            flags = tuple(o in dvars for o in e.outvars)
            dlive = needed and any(flags)
            if dlive and e.primitive.name not in JAX_ZERO_DERIVATIVE:
                dvars.update(a for a in e.invars
                             if isinstance(a, Var) and differentiable(a.aval.dtype))
            plan.append((needed, dlive, flags))
        plan.reverse()
        self._plans[key] = plan
        return plan

    def run(self, jaxpr: Any, consts: Sequence[Any], args: Sequence[Any],
            live: tuple | None = None) -> list:
        env: dict = dict(zip(jaxpr.constvars, consts))
        env.update(zip(jaxpr.invars, args))
        for e, (needed, dlive, flags) in zip(jaxpr.eqns, self.plan(jaxpr, live)):
            if not needed:
                continue
            outs = self.eqn(e, [_read(env, a) for a in e.invars], dlive, flags)
            for v, o in zip(e.outvars, outs):
                if not isinstance(v, DropVar):
                    env[v] = o
        return [_read(env, v) for v in jaxpr.outvars]

    def run_closed(self, closed: Any, args: Sequence[Any], live: tuple | None = None) -> list:
        """Run a closed jaxpr (or an open one without constants)."""
        if isinstance(closed, ClosedJaxpr):
            return self.run(closed.jaxpr, closed.consts, args, live)
        return self.run(closed, (), args, live)

    def eqn(self, e: Any, invals: list, dlive: bool, flags: tuple) -> list:
        if not any(isinstance(v, TracedValue) for v in invals):
            return self.concrete(e, invals)
        if not dlive or not any(traced(v) for v in invals):
            return [self.unknown(o.aval) for o in e.outvars]
        name = e.primitive.name
        fn = RULES.get(name)
        if fn is None:
            return self.fallback(e, invals, f"the JAX primitive {name!r}")
        return fn(self, e, invals, flags)

    def concrete(self, e: Any, invals: list) -> list:
        """Evaluate an equation whose inputs are all known (index arithmetic, constants)."""
        prim = e.primitive
        if not prim.multiple_results:
            out = np_eval(e, invals)
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
        """Every output depends on every input (a dense block), with a warning."""
        U = A.conservative(self.tr, [v.D for v in invals if isinstance(v, TracedValue)])
        if U.nnz:
            self.warn(no_rule(what))
        return [self.out(o.aval, A.broadcast_row(U, math.prod(o.aval.shape)))
                for o in e.outvars]

    def pointwise(self, aval: Any, operands: Sequence[Any], kind: Kind) -> TracedValue:
        shape = tuple(aval.shape)
        if not differentiable(aval.dtype):
            return self.unknown(aval)
        ops = []
        for v in operands:
            if isinstance(v, TracedValue):
                ops.append((v.rows(shape), None))
            else:
                values = _flat_values(v, shape) if kind in (Kind.MUL, Kind.POW) else None
                ops.append((None, values))
        return self.out(aval, A.pointwise(self.tr, kind, ops, math.prod(shape)))

    def move(self, e: Any, invals: list, data: Sequence[int], fn: Callable) -> list:
        """Pure data movement: ``fn`` maps arrays of element numbers (one per operand in
        ``data``, ``-1`` for elements without dependencies) to the numbers of the outputs.

        Operands that are rows of one common matrix are numbered by their rows in it, and the
        outputs are gathered from it on use (chains of movements gather once)."""
        values = [invals[p] for p in data]
        bases = {id(v.source()[0]): v.source()[0] for v in values if traced(v)}
        base = next(iter(bases.values())) if len(bases) == 1 else None
        blocks, nums, off = [], [], 0
        for v in values:
            shape = shape_of(v)
            if not traced(v):
                nums.append(np.full(shape, -1, dtype=np.int64))
            elif base is not None:
                index = v.source()[1]
                nums.append(np.arange(base.shape[0]) if index is None else index)
            else:
                nums.append(np.arange(off, off + v.size, dtype=np.int64))
                blocks.append(v.D)
                off += v.size
            nums[-1] = nums[-1].reshape(shape)
        res = fn(nums)
        res = res if isinstance(res, (list, tuple)) else [res]
        if base is None:
            base = (A.empty(0, self.n) if not blocks else blocks[0] if len(blocks) == 1
                    else sp.csr_array(sp.vstack(blocks, format="csr")))
        return [self.gathered(o.aval, base, np.asarray(r).ravel()) for o, r in zip(e.outvars, res)]

    def gathered(self, aval: Any, base: sp.csr_array, index: np.ndarray) -> TracedValue:
        """The rows ``base[index]`` (``-1``: none), gathered when used."""
        if not differentiable(aval.dtype):
            return self.unknown(aval)
        return TracedValue.gathered(tuple(aval.shape), aval.dtype, base, index)

    def custom_reduction(self, e: Any, invals: list, aggregate: Callable, m: int) -> list:
        """``lax.reduce`` / ``reduce_window`` with a custom computation of ``k`` operands and
        ``k`` initial values: every output depends smoothly on its group of every operand
        (``aggregate(D)``, ``m`` rows) and on the initial values."""
        k = len(invals) // 2
        S = A.union([aggregate(v.D) for v in invals[:k] if traced(v)], m, self.n)
        S = S + A.broadcast_row(A.union_row([v.D for v in invals[k:] if traced(v)], self.n), m)
        self.tr.block(S)
        return [self.out(o.aval, S) for o in e.outvars]

    def einsum_operand(self, v: Any) -> tuple:
        if isinstance(v, TracedValue):
            return (v.shape, v.D, None)
        return (shape_of(v), None, np.asarray(v) != 0)

    # --- loops ---------------------------------------------------------------------------
    def fixed_point(self, step: Callable[[list], list], carry: list, avals: Sequence[Any],
                    other: Sequence[Any], what: str) -> tuple[list, list]:
        """Iterate ``step`` (carry -> carry outputs + extra outputs) on dependency patterns
        until the carry stops growing. Returns (carry, extra outputs of the last pass)."""
        carry = [self.join(a, [c]) for a, c in zip(avals, carry)]
        nk = len(carry)
        for passes in range(MAX_PASSES + 2):
            outs = step(carry)
            new = [self.join(a, [c, o]) for a, c, o in zip(avals, carry, outs[:nk])]
            if all(c.D.nnz == m.D.nnz for c, m in zip(carry, new)):
                return carry, outs[nk:]
            carry = new
            if passes == MAX_PASSES:
                self.warn(
                    f"global sparsity detection: the dependency patterns of a {what} loop did "
                    f"not settle in {MAX_PASSES} passes; every carried value is assumed to "
                    "depend on every input of the loop. The pattern stays valid but may be "
                    f"denser than necessary; if that matters, {FIX}"
                )
                everything = list(carry) + [v for v in other if isinstance(v, TracedValue)]
                carry = [self.spread_row(a, everything) for a in avals]
        raise AssertionError("widened loop patterns did not settle")  # pragma: no cover


def _flat_values(v: Any, shape: tuple) -> np.ndarray:
    a = np.asarray(v)
    return a if a.ndim == 0 else np.broadcast_to(a, shape).ravel()
