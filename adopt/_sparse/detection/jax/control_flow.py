"""Sub-jaxprs and control flow.

Calls (``jit``, ``custom_jvp`` / ``custom_vjp``, ``checkpoint``, ...) are interpreted in place;
``cond`` with a known index runs its branch, with an unknown one the union of its branches;
``scan`` and ``while`` are unrolled exactly while the total work stays under a budget, then
iterated on dependency patterns to a fixed point (the carry only grows; outputs are the union).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
import scipy.sparse as sp
from jax.extend.core import ClosedJaxpr, Jaxpr

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.jax.interpreter import Interpreter, rule, traced
from adopt._sparse.detection.values import TracedValue


@rule("jit", "pjit", "closed_call", "core_call", "remat2", "checkpoint", "remat",
      "custom_jvp_call", "custom_jvp_call_jaxpr", "custom_vjp_call", "custom_vjp_call_jaxpr",
      "custom_vmap_call", "named_call", "composite")
def _call(it, e, invals, flags):
    p = e.params
    closed = next((p[k] for k in ("jaxpr", "call_jaxpr", "fun_jaxpr", "call")
                   if p.get(k) is not None), None)
    inner = closed.jaxpr if isinstance(closed, ClosedJaxpr) else closed
    if (not isinstance(inner, Jaxpr) or len(inner.invars) != len(invals)
            or len(inner.outvars) != len(e.outvars)):
        return it.fallback(e, invals, f"the JAX primitive {e.primitive.name!r}")
    return it.run_closed(closed, invals, flags)


@rule("cond")
def _cond(it, e, invals, flags):
    index, ops = invals[0], invals[1:]
    branches = e.params["branches"]
    if not isinstance(index, TracedValue):
        k = int(np.clip(int(np.asarray(index)), 0, len(branches) - 1))
        return it.run_closed(branches[k], ops, flags)
    outs = [it.run_closed(b, ops, flags) for b in branches]
    return [it.join(o.aval, [r[k] for r in outs]) for k, o in enumerate(e.outvars)]


def _slice0(v: Any, t: int) -> Any:
    """Element ``t`` along the leading axis (a scan input slice)."""
    if isinstance(v, TracedValue):
        s = math.prod(v.shape[1:])
        return TracedValue(v.shape[1:], v.dtype, A.take(v.D, np.arange(t * s, (t + 1) * s)))
    try:
        return np.asarray(v)[t]
    except Exception:  # noqa: BLE001 - e.g. PRNG key arrays: index them with JAX
        return v[t]


def _stack(it: Interpreter, aval: Any, parts: list) -> Any:
    if not any(isinstance(q, TracedValue) for q in parts):
        try:
            return np.stack([np.asarray(q) for q in parts])
        except Exception:  # noqa: BLE001 - e.g. PRNG key arrays: stack them with JAX
            return jax.numpy.stack(parts)
    s = math.prod(aval.shape[1:])
    blocks = [q.D if isinstance(q, TracedValue) else A.empty(s, it.n) for q in parts]
    return it.out(aval, sp.csr_array(sp.vstack(blocks, format="csr")))


@rule("scan")
def _scan(it, e, invals, flags):
    p = e.params
    body = p["jaxpr"]
    nc, nk, L = int(p["num_consts"]), int(p["num_carry"]), int(p["length"])
    consts, carry, xs = list(invals[:nc]), list(invals[nc:nc + nk]), invals[nc + nk:]
    if L == 0:
        return carry + [it.unknown(o.aval) for o in e.outvars[nk:]]
    cost = L * it.cost(body.jaxpr)
    if cost <= it.budget:  # exact: unroll
        it.budget -= cost
        ys: list = [[None] * L for _ in e.outvars[nk:]]
        for t in (range(L - 1, -1, -1) if p["reverse"] else range(L)):
            out = it.run_closed(body, consts + carry + [_slice0(v, t) for v in xs])
            carry = out[:nk]
            for k, y in enumerate(out[nk:]):
                ys[k][t] = y
        return carry + [_stack(it, o.aval, parts) for o, parts in zip(e.outvars[nk:], ys)]
    # fixed point: every step sees the union of the slices of xs
    xs_u = []
    for v, var in zip(xs, body.jaxpr.invars[nc + nk:]):
        if traced(v):
            s = math.prod(v.shape[1:])
            G = np.arange(L * s).reshape(L, s).T
            xs_u.append(it.tv(var.aval.shape, var.aval.dtype, A.group_union(v.D, G)))
        else:
            xs_u.append(it.unknown(var.aval))
    avals = [o.aval for o in e.outvars[:nk]]
    carry, ys_last = it.fixed_point(lambda c: it.run_closed(body, consts + c + xs_u), carry,
                                    avals, consts + xs_u, "scan")
    ys = []
    for o, y in zip(e.outvars[nk:], ys_last):
        s = math.prod(o.aval.shape[1:])
        D = y.D if isinstance(y, TracedValue) else None
        ys.append(it.out(o.aval, None if D is None else A.take(D, np.tile(np.arange(s), L))))
    return carry + ys


@rule("while")
def _while(it, e, invals, flags):
    p = e.params
    cn, bn = int(p["cond_nconsts"]), int(p["body_nconsts"])
    cconsts, bconsts, carry = list(invals[:cn]), list(invals[cn:cn + bn]), list(invals[cn + bn:])
    cond, body = p["cond_jaxpr"], p["body_jaxpr"]
    cost = it.cost(body.jaxpr) + it.cost(cond.jaxpr)
    while True:  # exact while the predicate is known and the budget lasts
        pred = it.run_closed(cond, cconsts + carry, (False,))[0]
        if isinstance(pred, TracedValue) or cost > it.budget:
            break
        if not bool(np.asarray(pred)):
            return carry
        it.budget -= cost
        carry = it.run_closed(body, bconsts + carry)
    avals = [o.aval for o in e.outvars]
    carry, _ = it.fixed_point(lambda c: it.run_closed(body, bconsts + c), carry, avals,
                              bconsts, "while")
    return carry
