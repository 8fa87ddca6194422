"""The FX-graph interpreter: walks the ATen graph, dispatches each node to the rule of its
operator.

Every value of the walk is a real tensor or number (constants: evaluated for real, so index
tensors and the zeros of constant matrices are known) or a :class:`TracedValue`. A node with
traced arguments goes to ``RULES[operator name]``; else, a ``pointwise``-tagged operator is a
smooth function of its operands and a view is data movement; anything else is a conservative
dense block with a :class:`ConservativeSparsityWarning`.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.fx

from adopt._sparse.detection import algebra as A
from adopt._sparse.detection.diagnostics import FIX, SparsityDetectionError, no_rule, warn
from adopt._sparse.detection.kinds import Kind
from adopt._sparse.detection.values import TracedValue

__all__ = ["Interpreter", "Rule", "RULES", "rule", "bind", "metas", "has_traced",
           "index_from_x"]

#: rule(interpreter, node, operator, args, kwargs) -> output value(s)
Rule = Callable[["Interpreter", Any, Any, tuple, dict], Any]
#: the rule of every ATen operator name (and its in-place variant ``name_``)
RULES: dict[str, Rule] = {}
#: operators whose result depends only on the shape of their traced argument
META_ONLY = frozenset({"zeros_like", "ones_like", "full_like", "new_zeros", "new_ones",
                       "new_full", "sym_size", "sym_numel", "sym_stride"})
#: operators whose values are unknown but independent of x (uninitialised or random)
UNKNOWN_VALUE = frozenset({"empty_like", "new_empty", "new_empty_strided", "empty_strided",
                           "empty", "rand_like", "randn_like", "randint_like", "bernoulli",
                           "uniform", "random", "exponential", "geometric", "cauchy",
                           "log_normal"})
#: arguments of structural operators that are indices, never data
INDEX_ARGS = frozenset({"index", "indices", "mask", "condition"})


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register a rule for the ATen operators ``names`` and their in-place variants."""
    def deco(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = RULES[name + "_"] = fn
        return fn

    return deco


def differentiable(dtype: Any) -> bool:
    return bool(dtype.is_floating_point or dtype.is_complex)


def _flat(obj: Any) -> list:
    if isinstance(obj, (list, tuple)):
        return [e for o in obj for e in _flat(o)]
    if isinstance(obj, dict):
        return [e for o in obj.values() for e in _flat(o)]
    return [obj]


def has_traced(obj: Any) -> bool:
    return any(isinstance(e, TracedValue) for e in _flat(obj))


def _has_symbolic(obj: Any) -> bool:
    return any(isinstance(e, (torch.SymInt, torch.SymFloat, torch.SymBool)) for e in _flat(obj))


def index_from_x(op: Any, what: str = "") -> SparsityDetectionError:
    return SparsityDetectionError(
        "global sparsity detection cannot use an index computed from the values of x "
        f"({what}torch.ops.{op}); " + FIX
    )


def shape_of(v: Any) -> tuple:
    if isinstance(v, TracedValue):
        return v.shape
    return tuple(v.shape) if isinstance(v, torch.Tensor) else ()


def bind(op: Any, args: tuple, kwargs: dict) -> dict:
    """Arguments of an ATen call by schema name, defaults filled in."""
    out = {}
    pos = 0
    for a in op._schema.arguments:
        if not a.kwarg_only and pos < len(args):
            out[a.name] = args[pos]
            pos += 1
        elif a.name in kwargs:
            out[a.name] = kwargs[a.name]
        else:
            out[a.name] = a.default_value if a.has_default_value() else None
    return out


def _call_bound(op: Any, bound: dict) -> Any:
    args = [bound[a.name] for a in op._schema.arguments if not a.kwarg_only]
    kwargs = {a.name: bound[a.name] for a in op._schema.arguments if a.kwarg_only}
    return op(*args, **kwargs)


def metas(node: Any) -> list:
    """The fake-tensor metadata of a node's outputs."""
    val = node.meta.get("val")
    return list(val) if isinstance(val, (list, tuple)) else [val]


def _like_node(node: Any, outs: list) -> Any:
    return tuple(outs) if isinstance(node.meta.get("val"), (list, tuple)) else outs[0]


def _base_name(op: Any) -> str:
    return op._schema.name.split("::")[-1]


def _is_inplace(op: Any) -> bool:
    return isinstance(op, torch._ops.OpOverload) and (
        torch.Tag.inplace in op.tags or torch.Tag.inplace_view in op.tags
        or _base_name(op).endswith("_")
    )


def _is_view(op: Any) -> bool:
    returns = op._schema.returns
    return bool(returns) and all(
        r.alias_info is not None and not r.alias_info.is_write for r in returns
    )


def _is_tensor_or_number(v: Any) -> bool:
    return isinstance(v, (torch.Tensor, int, float, bool, complex))


class Interpreter:
    """One detection over one FX gramodule."""

    def __init__(self, gm: Any, tr: A.Trace):
        self.gm = gm
        self.tr = tr
        self.n = tr.n

    # --- values --------------------------------------------------------------------------
    def tt(self, meta: Any, D: sp.csr_array | None = None) -> TracedValue:
        """A traced value of ``meta``'s shape; no dependencies if ``D`` is None or the dtype
        is not differentiable."""
        shape = tuple(meta.shape)
        if D is None or not differentiable(meta.dtype):
            D = A.empty(math.prod(shape), self.n)
        return TracedValue(shape, meta.dtype, D)

    def values(self, v: Any, shape: tuple) -> np.ndarray | None:
        """The values of a known operand, broadcast and flattened (None if unknown)."""
        if isinstance(v, torch.Tensor):
            arr = v.detach().cpu()
            arr = arr.to(torch.float64) if arr.dtype in (torch.bfloat16, torch.float16) else arr
            return np.broadcast_to(arr.numpy(), shape).ravel()
        if isinstance(v, (int, float, bool, complex)):
            return np.full(math.prod(shape), v)
        return None

    def operand(self, v: Any, shape: tuple) -> tuple:
        if isinstance(v, TracedValue):
            return (v.rows(shape), None)
        return (None, self.values(v, shape))

    # --- graph walk ----------------------------------------------------------------------
    def run(self, inputs: Sequence[Any]) -> Any:
        env: dict = {}
        it = iter(inputs)
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                env[node] = next(it)
            elif node.op == "get_attr":
                obj = self.gm
                for part in node.target.split("."):
                    obj = getattr(obj, part)
                env[node] = obj
            elif node.op == "call_function":
                args = torch.fx.node.map_arg(node.args, lambda a: env[a])
                kwargs = torch.fx.node.map_arg(node.kwargs, lambda a: env[a])
                env[node] = self.call(node, args, kwargs)
                if _is_inplace(node.target) and node.args and isinstance(node.args[0],
                                                                         torch.fx.Node):
                    env[node.args[0]] = env[node]
            elif node.op == "output":
                return torch.fx.node.map_arg(node.args[0], lambda a: env[a])
            else:
                raise SparsityDetectionError(
                    f"unexpected graph node {node.op} in the traced torch function; " + FIX
                )
        return None

    def call(self, node: Any, args: tuple, kwargs: dict) -> Any:
        op = node.target
        if op is operator.getitem:
            return args[0][args[1]]
        if not isinstance(op, torch._ops.OpOverload):
            if not has_traced((args, kwargs)):
                return op(*args, **kwargs)
            return self.fallback(node, args, kwargs, f"{op}")
        name = _base_name(op)
        traced = has_traced((args, kwargs))
        if (traced and name == "_local_scalar_dense") or _has_symbolic((args, kwargs)):
            raise SparsityDetectionError(
                "global sparsity detection cannot convert a traced tensor to a Python number "
                "(.item(), float(), int() or a value used as a size/index); " + FIX
            )
        random = torch.Tag.nondeterministic_seeded in op.tags
        if name in UNKNOWN_VALUE or (random and not traced):
            return self.like_node(node, None)  # values independent of x, and not constants
        if not traced:
            return op(*args, **kwargs)
        if not op._schema.returns:  # checks such as _linalg_check_errors
            return None
        if name in META_ONLY:
            return self.meta_only(op, args, kwargs)
        try:
            fn = RULES.get(name)
            if fn is not None:
                return fn(self, node, op, args, kwargs)
            if torch.Tag.pointwise in op.tags:
                return self.pointwise(node, args, Kind.NONLINEAR)
            if torch.Tag.view_copy in op.tags or _is_view(op):
                return self.structural(node, op, args, kwargs)
        except SparsityDetectionError:
            raise
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            pass  # a rule that cannot run on these arguments (complex views, say): conservative
        return self.fallback(node, args, kwargs, f"torch.ops.{op}")

    # --- rule families -------------------------------------------------------------------
    def meta_only(self, op: Any, args: tuple, kwargs: dict) -> Any:
        """zeros_like(x), new_full(x, ...): only the shape of the traced input matters."""
        def real(v):
            return torch.zeros(v.shape, dtype=v.dtype) if isinstance(v, TracedValue) else v

        return op(*torch.fx.node.map_aggregate(args, real),
                  **torch.fx.node.map_aggregate(kwargs, real))

    def fallback(self, node: Any, args: tuple, kwargs: dict, what: str) -> Any:
        """Every output depends on every input (a dense block), with a warning."""
        warn(no_rule(what), stacklevel=5)
        U = A.conservative(self.tr, [v.D for v in _flat((args, kwargs))
                                     if isinstance(v, TracedValue)])
        outs = []
        for m in metas(node):
            if m is not None and not isinstance(m, torch.Tensor):
                raise SparsityDetectionError(
                    f"{what} returns a Python number computed from x; global sparsity detection "
                    "cannot follow it; " + FIX
                )
            outs.append(None if m is None else self.tt(m, A.broadcast_row(U, math.prod(m.shape))))
        return _like_node(node, outs)

    def pointwise(self, node: Any, args: Sequence[Any], kind: Kind) -> Any:
        meta = node.meta["val"]
        shape = tuple(meta.shape)
        if not differentiable(meta.dtype):
            return self.tt(meta)
        ops = [self.operand(a, shape) for a in args
               if isinstance(a, TracedValue) or _is_tensor_or_number(a)]
        return self.tt(meta, A.pointwise(self.tr, kind, ops, math.prod(shape)))

    def structural(self, node: Any, op: Any, args: tuple, kwargs: dict) -> Any:
        """Run ``op`` on tensors of element numbers: exact for pure data movement."""
        bound = bind(op, args, kwargs)
        data = [bound[a.name] for a in op._schema.arguments
                if a.name not in INDEX_ARGS and "Tensor" in str(a.type)]
        bases = {id(v.source()[0]): v.source()[0] for v in _flat(data)
                 if isinstance(v, TracedValue) and v.traced}
        base = next(iter(bases.values())) if len(bases) == 1 else None
        blocks: list[sp.csr_array] = []
        offset = [0]

        def mark(v):  # element numbers from 1; 0 for elements without dependencies
            if isinstance(v, TracedValue) and base is not None:
                b, index = v.source() if v.traced else (None, np.full(v.size, -1))
                nums = np.arange(b.shape[0]) if index is None else index
                return torch.from_numpy(nums.astype(np.float64) + 1).reshape(v.shape)
            if isinstance(v, TracedValue):
                blocks.append(v.D)
                t = torch.arange(offset[0] + 1, offset[0] + v.size + 1, dtype=torch.float64)
                offset[0] += v.size
                return t.reshape(v.shape)
            if isinstance(v, torch.Tensor):
                return torch.zeros(v.shape, dtype=torch.float64)
            if isinstance(v, (list, tuple)):
                return type(v)(mark(e) for e in v)
            return v

        new = {}
        for a in op._schema.arguments:
            v, typ = bound[a.name], str(a.type)
            if a.name in INDEX_ARGS:
                if has_traced(v):
                    raise index_from_x(op, f"argument {a.name!r} of ")
                new[a.name] = v
            elif "Tensor" in typ:
                new[a.name] = mark(v)
            elif a.name in ("value", "fill_value") and typ in ("number", "Scalar"):
                new[a.name] = 0
            else:
                new[a.name] = v
            if a.name == "dtype" and v is not None:
                new[a.name] = torch.float64
        res = _call_bound(op, new)
        if base is None:
            base = sp.csr_array(sp.vstack(blocks, format="csr")) if len(blocks) > 1 else (
                blocks[0] if blocks else A.empty(0, self.n))

        def convert(r, meta):
            if not differentiable(meta.dtype):
                return self.tt(meta)
            rows = r.detach().numpy().astype(np.int64).ravel() - 1
            return TracedValue.gathered(tuple(meta.shape), meta.dtype, base, rows)

        ms = metas(node)
        if isinstance(res, (list, tuple)):
            return type(res)(convert(r, m) for r, m in zip(res, ms))
        return convert(res, ms[0])

    def like_node(self, node: Any, D: sp.csr_array) -> Any:
        """Every output of ``node`` with rows ``D``: floating outputs get them, index outputs
        (argmax, sort's indices) get none."""
        return _like_node(node, [self.tt(m, D) for m in metas(node)])

    def einsum(self, node: Any, subs: Sequence[str], out_sub: str,
               operands: Sequence[Any]) -> TracedValue:
        ops = []
        for o in operands:
            if isinstance(o, TracedValue):
                ops.append((o.shape, o.D, None))
            else:
                t = o if isinstance(o, torch.Tensor) else torch.tensor(o)
                ops.append((tuple(t.shape), None, (t != 0).detach().cpu().numpy()))
        D = A.einsum(self.tr, subs, out_sub, ops)
        if D is None:
            return self.fallback(node, tuple(operands), {},
                                 f"torch.ops.{node.target} of this size")
        return self.tt(node.meta["val"], D)

    def scatter_into(self, node: Any, base: Any, targets: np.ndarray, src_rows: sp.csr_array,
                     accumulate: bool, kind: Kind = Kind.LINEAR) -> TracedValue:
        """``base`` with the flat positions ``targets[i]`` receiving ``src_rows[i]``."""
        meta = node.meta["val"]
        size = math.prod(meta.shape)
        base_D = base.D if isinstance(base, TracedValue) else A.empty(size, self.n)
        D = A.scatter(base_D, targets, src_rows, accumulate)
        if kind is not Kind.LINEAR:
            summed = D if accumulate else A.scatter(base_D, targets, src_rows, True)
            self.tr.block(A.take(summed, targets))
        return self.tt(meta, D)
