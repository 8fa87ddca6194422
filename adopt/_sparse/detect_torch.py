"""Global Jacobian / Hessian sparsity detection for PyTorch functions.

Design: ``f`` is traced once with ``make_fx`` on fake tensors (no values), through
``functionalize`` (in-place writes and views become functional ``*_scatter`` / ``*_copy`` ops) and
the Core ATen decompositions. The resulting graph uses a closed set of about 180 ATen operators,
which we interpret with per-operator dependency rules on the same sparse representation as the
NumPy tracer (``detect_numpy``). Compared with a ``__torch_function__`` tensor subclass this
covers every spelling of an operation (methods, in-place ops, ``torch.nn.functional``, views that
are written through) with one rule per ATen operator, and fake tensors make control flow on the
values of ``x`` fail loudly instead of silently following one branch.

Rules:

- data movement (views, slicing, ``index``, ``gather``, ``cat``, ``*_scatter``, padding, ...):
  the ATen op itself is run on tensors of element numbers, which yields the exact selection;
- point-wise ops: union of the broadcast operands, with Hessian terms by kind (linear,
  piecewise linear, product, quotient, power, generic smooth);
- reductions, scans, sorting, softmax, norms, matrix products, scatter/index_put;
- constants (closed-over tensors, ``torch.arange``, ...) are evaluated for real, so index
  tensors and the zeros of constant matrices are known;
- anything else: every output depends on every input, with a ``ConservativeSparsityWarning``.
"""

from __future__ import annotations

import functools
import math
import operator
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from adopt._contexts import Cache
from adopt._sparse.detect_numpy import (
    _CONTROL_FLOW,
    _FIX,
    _Trace,
    _broadcast_rows,
    scalar_hessian_pattern,
    _einsum,
    _empty,
    _group_prefix,
    _group_spread,
    _group_union,
    _groups,
    _normalize_axes,
    _owner_rows,
    _pairs,
    _pointwise,
    _take,
    _union,
)
from adopt._sparse.detectors import canonical_pattern, ConservativeSparsityWarning, SparsityDetectionError

__all__ = ["jacobian_sparsity", "hessian_sparsity"]


class _TT:
    """A traced tensor: shape, dtype and dependency rows (C order); values unknown."""

    __slots__ = ("shape", "dtype", "D")

    def __init__(self, shape: tuple, dtype: Any, D: sp.csr_array):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.D = D if _differentiable(dtype) else _empty(math.prod(self.shape), D.shape[1])

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def rows(self, shape: tuple | None = None) -> sp.csr_array:
        if shape is None or tuple(shape) == self.shape:
            return self.D
        return _take(self.D, _broadcast_rows(self.shape, tuple(shape)))


def _differentiable(dtype: Any) -> bool:
    return bool(dtype.is_floating_point or dtype.is_complex)


def _flat(obj: Any) -> list:
    if isinstance(obj, (list, tuple)):
        return [e for o in obj for e in _flat(o)]
    if isinstance(obj, dict):
        return [e for o in obj.values() for e in _flat(o)]
    return [obj]


def _has_symbolic(obj: Any) -> bool:
    import torch

    return any(isinstance(e, (torch.SymInt, torch.SymFloat, torch.SymBool)) for e in _flat(obj))


def _has_tt(obj: Any) -> bool:
    return any(isinstance(e, _TT) for e in _flat(obj))


def _shape(v: Any) -> tuple:
    import torch

    if isinstance(v, _TT):
        return v.shape
    if isinstance(v, torch.Tensor):
        return tuple(v.shape)
    return ()


def _bind(op: Any, args: tuple, kwargs: dict) -> dict:
    """Arguments of an ATen call by schema name, defaults filled in."""
    out = {}
    pos = 0
    for a in op._schema.arguments:
        if not a.kwarg_only and pos < len(args):
            out[a.name] = args[pos]
            pos += 1
        elif a.name in kwargs:
            out[a.name] = kwargs[a.name]
        elif a.has_default_value():
            out[a.name] = a.default_value
        else:
            out[a.name] = None
    return out


def _meta_list(node: Any) -> list:
    val = node.meta.get("val")
    return list(val) if isinstance(val, (list, tuple)) else [val]


class _Interpreter:
    def __init__(self, gm: Any, tr: _Trace):
        self.gm = gm
        self.tr = tr
        self.n = tr.n

    # --- helpers -----------------------------------------------------------------------
    def tt(self, meta: Any, D: sp.csr_array) -> _TT:
        return _TT(tuple(meta.shape), meta.dtype, D)

    def empty_like_meta(self, meta: Any) -> _TT:
        return _TT(tuple(meta.shape), meta.dtype, _empty(math.prod(meta.shape), self.n))

    def values(self, v: Any, shape: tuple) -> np.ndarray | None:
        import torch

        if isinstance(v, _TT):
            return None
        if isinstance(v, torch.Tensor):
            arr = v.detach().cpu()
            arr = arr.to(torch.float64) if arr.dtype in (torch.bfloat16, torch.float16) else arr
            return np.broadcast_to(arr.numpy(), shape).ravel()
        if isinstance(v, (int, float, bool, complex)):
            return np.full(math.prod(shape), v)
        return None

    def operand(self, v: Any, shape: tuple) -> tuple:
        if isinstance(v, _TT):
            return (v.rows(shape), None)
        return (None, self.values(v, shape))

    def warn(self, what: str) -> None:
        warnings.warn(
            f"global sparsity detection has no rule for {what}; assuming every output of it "
            "depends on every input of it (a dense block, also in the Hessian). The pattern "
            f"stays valid but may be denser than necessary; if that matters, {_FIX}",
            ConservativeSparsityWarning,
            stacklevel=6,
        )

    # --- graph walk --------------------------------------------------------------------
    def run(self, inputs: Sequence[Any]) -> Any:
        import torch.fx

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
                op = node.target
                if _is_inplace(op) and node.args and isinstance(node.args[0], torch.fx.Node):
                    env[node.args[0]] = env[node]
            elif node.op == "output":
                return torch.fx.node.map_arg(node.args[0], lambda a: env[a])
            else:
                raise SparsityDetectionError(
                    f"unexpected graph node {node.op} in the traced torch function; " + _FIX
                )
        return None

    def call(self, node: Any, args: tuple, kwargs: dict) -> Any:
        import torch

        op = node.target
        if op is operator.getitem:
            return args[0][args[1]]
        if not isinstance(op, torch._ops.OpOverload):
            if not _has_tt((args, kwargs)):
                return op(*args, **kwargs)
            return self.fallback(node, args, kwargs, f"{op}")
        name = _base_name(op)
        traced = _has_tt((args, kwargs))
        if (traced and name == "_local_scalar_dense") or _has_symbolic((args, kwargs)):
            raise SparsityDetectionError(
                "global sparsity detection cannot convert a traced tensor to a Python number "
                "(.item(), float(), int() or a value used as a size/index); " + _FIX
            )
        random = torch.Tag.nondeterministic_seeded in op.tags
        if name in _UNKNOWN_VALUE or (random and not traced):
            return self.unknown_values(node)  # values independent of x, and not constants
        if not traced:
            return op(*args, **kwargs)
        if not op._schema.returns:  # checks such as _linalg_check_errors
            return None
        if name in _META_ONLY:
            return self.meta_only(op, args, kwargs)
        try:
            rule = _RULES.get(name)
            if rule is not None:
                return rule(self, node, op, args, kwargs)
            if torch.Tag.pointwise in op.tags:
                return self.pointwise(node, args, "nonlinear")
            if torch.Tag.view_copy in op.tags or _is_view(op):
                return self.structural(node, op, args, kwargs)
        except SparsityDetectionError:
            raise
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            pass  # a rule that cannot run on this op's arguments (complex views, say): be conservative
        return self.fallback(node, args, kwargs, f"torch.ops.{op}")

    # --- rule families -----------------------------------------------------------------
    def unknown_values(self, node: Any) -> Any:
        outs = [self.empty_like_meta(m) for m in _meta_list(node)]
        return outs[0] if not isinstance(node.meta.get("val"), (list, tuple)) else tuple(outs)

    def meta_only(self, op: Any, args: tuple, kwargs: dict) -> Any:
        """zeros_like(x), new_full(x, ...): only the shape of the traced input matters."""
        import torch

        def real(v):
            if isinstance(v, _TT):
                return torch.zeros(v.shape, dtype=v.dtype)
            return v

        args = torch.fx.node.map_aggregate(args, real)
        kwargs = torch.fx.node.map_aggregate(kwargs, real)
        return op(*args, **kwargs)

    def fallback(self, node: Any, args: tuple, kwargs: dict, what: str) -> Any:
        self.warn(what)
        tts = [v for v in _flat((args, kwargs)) if isinstance(v, _TT)]
        rows = [v.D for v in tts if v.D.nnz]
        U = _union([_group_union(r, np.arange(r.shape[0])[None, :]) for r in rows], 1, self.n)
        self.tr.block(U)
        outs = []
        for m in _meta_list(node):
            if m is None:
                outs.append(m)
                continue
            if not hasattr(m, "shape"):
                raise SparsityDetectionError(
                    f"{what} returns a Python number computed from x; global sparsity detection "
                    "cannot follow it; " + _FIX
                )
            outs.append(self.tt(m, _take(U, np.zeros(math.prod(m.shape), dtype=np.intp))))
        return outs[0] if not isinstance(node.meta.get("val"), (list, tuple)) else tuple(outs)

    def pointwise(self, node: Any, args: Sequence[Any], kind: str) -> Any:
        meta = node.meta["val"]
        shape = tuple(meta.shape)
        m = math.prod(shape)
        if not _differentiable(meta.dtype):
            return self.empty_like_meta(meta)
        ops = [self.operand(a, shape) for a in args if isinstance(a, _TT) or _is_tensor_or_number(a)]
        return self.tt(meta, _pointwise(self.tr, kind, ops, m))

    def structural(self, node: Any, op: Any, args: tuple, kwargs: dict,
                   params: frozenset = frozenset({"index", "indices", "mask", "condition"})) -> Any:
        """Run ``op`` on tensors of element numbers: exact for pure data movement."""
        import torch

        bound = _bind(op, args, kwargs)
        blocks: list[sp.csr_array] = []
        offset = [0]

        def mark(v):
            if isinstance(v, _TT):
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
            v = bound[a.name]
            typ = str(a.type)
            if a.name in params:
                if _has_tt(v):
                    raise SparsityDetectionError(
                        f"global sparsity detection cannot use an index computed from the values "
                        f"of x (argument {a.name!r} of torch.ops.{op}); " + _FIX
                    )
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
        cat = sp.csr_array(sp.vstack(blocks, format="csr")) if len(blocks) > 1 else (
            blocks[0] if blocks else _empty(0, self.n))
        metas = _meta_list(node)

        def convert(r, meta):
            rows = r.detach().numpy().astype(np.int64).ravel() - 1
            return self.tt(meta, _take(cat, rows))

        if isinstance(res, (list, tuple)):
            return type(res)(convert(r, m) for r, m in zip(res, metas))
        return convert(res, metas[0])

    # --- reductions --------------------------------------------------------------------
    def reduce(self, node: Any, x: _TT, dims: Any, keepdim: bool, kind: str) -> Any:
        metas = _meta_list(node)
        axes = _normalize_axes(None if dims is None or (isinstance(dims, (list, tuple))
                                                         and len(dims) == 0) else dims, len(x.shape))
        G, out_shape = _groups(x.shape, axes, bool(keepdim))
        if kind == "zero":
            S = _empty(G.shape[0], self.n)
        else:
            S = _group_union(x.D, G)
            if kind == "prod":
                self.tr.group_pairs(x.D, G)
            elif kind == "smooth":
                self.tr.block(S)
        outs = [self.tt(m, S) for m in metas]  # integer outputs (indices) get no rows
        return outs[0] if len(outs) == 1 else tuple(outs)

    def along(self, node: Any, x: _TT, dim: int, kind: str) -> Any:
        """Scans / sorts along one dimension; extra outputs (indices) have no dependencies."""
        metas = _meta_list(node)
        G, _ = _groups(x.shape, _normalize_axes(dim, len(x.shape)), False)
        if kind in ("prefix", "prefix_prod", "prefix_smooth"):
            D = _group_prefix(x.D, G)
            if kind == "prefix_prod":
                self.tr.group_pairs(x.D, G)
            elif kind == "prefix_smooth":
                self.tr.block(_group_union(x.D, G))
        else:
            D = _group_spread(x.D, G)
            if kind == "spread_smooth":
                self.tr.block(_group_union(x.D, G))
        meta0 = metas[0]
        if tuple(meta0.shape) != x.shape:  # topk / kthvalue: some elements of each group
            S = _group_union(x.D, G)
            if math.prod(meta0.shape) == S.shape[0]:
                D = S
            else:
                D = _take(S, _owner_rows(x.shape, dim, tuple(meta0.shape)))
        outs = [self.tt(m, D) for m in metas]  # integer outputs (indices) get no rows
        return outs[0] if len(outs) == 1 else tuple(outs)

    def einsum(self, node: Any, subs: Sequence[str], out_sub: str, operands: Sequence[Any]) -> _TT:
        import torch

        meta = node.meta["val"]
        ops = []
        for o in operands:
            if isinstance(o, _TT):
                ops.append((o.shape, o.D, None))
            else:
                t = o if isinstance(o, torch.Tensor) else torch.tensor(o)
                ops.append((tuple(t.shape), None, (t != 0).detach().cpu().numpy()))
        D = _einsum(self.tr, subs, out_sub, ops)
        if D is None:
            return self.fallback(node, tuple(operands), {}, f"torch.ops.{node.target} of this size")
        return self.tt(meta, D)

    def scatter_into(self, node: Any, base: Any, targets: np.ndarray, src_rows: sp.csr_array,
                     accumulate: bool, kind: str = "linear") -> _TT:
        """``base`` with the flat positions ``targets[i]`` receiving ``src_rows[i]``."""
        meta = node.meta["val"]
        size = math.prod(meta.shape)
        base_D = base.D if isinstance(base, _TT) else _empty(size, self.n)
        W = _pairs(targets, np.arange(len(targets)), size, len(targets)) @ src_rows
        if kind != "linear":
            self.tr.block(_take(base_D + W, targets))
        if accumulate:
            return self.tt(meta, base_D + W)
        written = np.zeros(size, dtype=bool)
        written[targets] = True
        keep = _take(base_D, np.where(written, -1, np.arange(size)))
        return self.tt(meta, keep + W)


def _call_bound(op: Any, bound: dict) -> Any:
    args, kwargs = [], {}
    for a in op._schema.arguments:
        if a.kwarg_only:
            kwargs[a.name] = bound[a.name]
        else:
            args.append(bound[a.name])
    return op(*args, **kwargs)


def _is_tensor_or_number(v: Any) -> bool:
    import torch

    return isinstance(v, (torch.Tensor, int, float, bool, complex))


def _base_name(op: Any) -> str:
    name = op._schema.name.split("::")[-1]
    return name


def _is_inplace(op: Any) -> bool:
    import torch

    return isinstance(op, torch._ops.OpOverload) and (
        torch.Tag.inplace in op.tags or torch.Tag.inplace_view in op.tags
        or _base_name(op).endswith("_")
    )


def _is_view(op: Any) -> bool:
    returns = op._schema.returns
    return bool(returns) and all(
        r.alias_info is not None and not r.alias_info.is_write for r in returns
    )


# ---------------------------------------------------------------------------------------------
# Rules by ATen operator name (in-place variants share the rule of the functional op)
# ---------------------------------------------------------------------------------------------

_RULES: dict[str, Callable] = {}
_META_ONLY = {"zeros_like", "ones_like", "full_like", "new_zeros", "new_ones", "new_full",
              "sym_size", "sym_numel", "sym_stride"}
_UNKNOWN_VALUE = {"empty_like", "new_empty", "new_empty_strided", "empty_strided", "empty",
                  "rand_like", "randn_like", "randint_like", "bernoulli", "uniform", "random",
                  "exponential", "geometric", "cauchy", "log_normal"}


def _rule(*names: str):
    def deco(fn):
        for nm in names:
            _RULES[nm] = fn
            _RULES[nm + "_"] = fn
        return fn

    return deco


def _kind_rule(kind: str, names: str) -> None:
    fn = lambda it, node, op, args, kwargs: it.pointwise(node, _tensor_args(op, args, kwargs), kind)
    for nm in names.split():
        _RULES[nm] = fn
        _RULES[nm + "_"] = fn


def _tensor_args(op: Any, args: tuple, kwargs: dict) -> list:
    """Operands of a point-wise op (tensors and numbers; not flags such as alpha)."""
    bound = _bind(op, args, kwargs)
    out = []
    for a in op._schema.arguments:
        if a.name in ("alpha", "beta", "rounding_mode", "approximate", "dtype", "layout", "device",
                      "pin_memory", "memory_format", "non_blocking", "copy"):
            continue
        v = bound[a.name]
        if isinstance(v, _TT) or _is_tensor_or_number(v):
            out.append(v)
    return out


_kind_rule("linear", "add sub rsub neg positive clone alias lift_fresh_copy detach detach_copy "
           "alias_copy conj resolve_conj resolve_neg deg2rad rad2deg contiguous real")
_kind_rule("zero", "sign sgn floor ceil round trunc eq ne lt le gt ge logical_and logical_or "
           "logical_xor logical_not bitwise_and bitwise_or bitwise_xor bitwise_not "
           "bitwise_left_shift bitwise_right_shift isnan isinf isfinite isposinf isneginf signbit "
           "floor_divide heaviside isin")
_kind_rule("piecewise", "abs relu maximum minimum fmax fmin clamp clamp_min clamp_max hardtanh "
           "remainder fmod frac leaky_relu threshold")
_kind_rule("first", "copysign nextafter ldexp")
_kind_rule("mul", "mul")
_kind_rule("pow", "pow float_power")


@_rule("div")
def _div(it, node, op, args, kwargs):
    mode = _bind(op, args, kwargs).get("rounding_mode")
    kind = "zero" if mode in ("floor", "trunc") else "div"
    return it.pointwise(node, _tensor_args(op, args, kwargs), kind)


@_rule("where")
def _where(it, node, op, args, kwargs):
    b = _bind(op, args, kwargs)
    if not _has_tt(b["condition"]):
        return it.structural(node, op, args, kwargs)
    return it.pointwise(node, [b["self"], b["other"]], "piecewise")


@_rule("masked_fill")
def _masked_fill(it, node, op, args, kwargs):
    b = _bind(op, args, kwargs)
    if not _has_tt(b["mask"]):
        return it.structural(node, op, args, kwargs)
    return it.pointwise(node, [b["self"], b["value"]], "piecewise")


@_rule("_to_copy", "to", "_to_dtype", "type_as")
def _to_copy(it, node, op, args, kwargs):
    meta = node.meta["val"]
    x = args[0]
    if isinstance(x, _TT) and _differentiable(meta.dtype) and _differentiable(x.dtype):
        return it.tt(meta, x.rows(tuple(meta.shape)))
    return it.empty_like_meta(meta)


@_rule("native_dropout")
def _dropout(it, node, op, args, kwargs):
    meta_out, meta_mask = _meta_list(node)
    x = args[0]
    return (it.tt(meta_out, x.rows(tuple(meta_out.shape))), it.empty_like_meta(meta_mask))


@_rule("copy")
def _copy(it, node, op, args, kwargs):
    meta = node.meta["val"]
    src = _bind(op, args, kwargs)["src"]
    if isinstance(src, _TT):
        return it.tt(meta, src.rows(tuple(meta.shape)))
    return it.empty_like_meta(meta)


@_rule("fill")
def _fill(it, node, op, args, kwargs):
    meta = node.meta["val"]
    value = _bind(op, args, kwargs)["value"]
    if isinstance(value, _TT):
        return it.tt(meta, value.rows(tuple(meta.shape)))
    import torch

    return torch.full(tuple(meta.shape), float(value) if not isinstance(value, torch.Tensor)
                      else value.item(), dtype=meta.dtype)


for _nm in ("view", "_unsafe_view", "reshape", "expand", "permute", "slice", "select", "squeeze",
            "unsqueeze", "t", "transpose", "flip", "roll", "diagonal", "unfold",
            "repeat", "cat", "stack", "constant_pad_nd", "narrow", "split", "split_with_sizes",
            "unbind", "chunk", "index", "index_select", "gather", "tril", "triu", "slice_scatter",
            "select_scatter", "diagonal_scatter", "movedim", "flatten",
            "_reshape_alias", "take", "take_along_dim", "reflection_pad1d", "reflection_pad2d",
            "reflection_pad3d", "replication_pad1d", "replication_pad2d", "replication_pad3d",
            "masked_scatter", "view_as", "expand_as", "squeeze_copy", "unsqueeze_copy",
            "_unsafe_index", "rot90", "hstack", "vstack", "tile", "repeat_interleave",
            "channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "im2col", "col2im"):
    _RULES[_nm] = _RULES[_nm + "_"] = (
        lambda it, node, op, args, kwargs: it.structural(node, op, args, kwargs))


@_rule("as_strided", "as_strided_copy", "as_strided_scatter")
def _as_strided(it, node, op, args, kwargs):
    """Strides refer to memory: exact only when the traced input is laid out contiguously."""
    import torch

    src = node.args[0]
    meta = src.meta.get("val") if isinstance(src, torch.fx.Node) else None
    if meta is None or not meta.is_contiguous() or meta.storage_offset() != 0:
        return it.fallback(node, args, kwargs, f"torch.ops.{op} of a non-contiguous tensor")
    return it.structural(node, op, args, kwargs)


# Reductions -----------------------------------------------------------------------------------


def _red(kind: str, dim_name: str = "dim"):
    def rule(it, node, op, args, kwargs):
        b = _bind(op, args, kwargs)
        x = b["self"]
        if not isinstance(x, _TT):
            return it.fallback(node, args, kwargs, f"torch.ops.{op}")
        dims = b.get(dim_name) if dim_name in b else None
        return it.reduce(node, x, dims, b.get("keepdim", False) or False, kind)

    return rule


for _nm in ("sum", "mean", "nansum", "nanmean"):
    _RULES[_nm] = _red("sum")
for _nm in ("amax", "amin", "max", "min", "median", "nanmedian", "mode", "kthvalue_reduce"):
    _RULES[_nm] = _red("max")
for _nm in ("prod",):
    _RULES[_nm] = _red("prod")
for _nm in ("var", "std", "var_mean", "std_mean", "logsumexp"):
    _RULES[_nm] = _red("smooth")
for _nm in ("any", "all", "argmax", "argmin", "count_nonzero"):
    _RULES[_nm] = _red("zero")


@_rule("max", "min")
def _max(it, node, op, args, kwargs):
    b = _bind(op, args, kwargs)
    if "other" in b:  # max.other / min.other: elementwise
        return it.pointwise(node, [b["self"], b["other"]], "piecewise")
    return it.reduce(node, b["self"], b.get("dim"), b.get("keepdim", False) or False, "max")


@_rule("linalg_vector_norm", "norm")
def _norm(it, node, op, args, kwargs):
    b = _bind(op, args, kwargs)
    ord_ = b.get("ord", b.get("p", 2))
    ord_ = 2 if ord_ is None else ord_
    kind = "zero" if ord_ == 0 else ("max" if ord_ in (1, math.inf, -math.inf) else "smooth")
    return it.reduce(node, b["self"], b.get("dim"), b.get("keepdim", False) or False, kind)


def _along(kind: str):
    def rule(it, node, op, args, kwargs):
        b = _bind(op, args, kwargs)
        x = b["self"]
        if not isinstance(x, _TT):
            return it.fallback(node, args, kwargs, f"torch.ops.{op}")
        dim = b.get("dim")
        dim = -1 if dim is None else dim
        return it.along(node, x, dim, kind)

    return rule


_RULES["cumsum"] = _RULES["cumsum_"] = _along("prefix")
_RULES["cumprod"] = _RULES["cumprod_"] = _along("prefix_prod")
_RULES["cummax"] = _RULES["cummin"] = _along("prefix")
_RULES["logcumsumexp"] = _along("prefix_smooth")
_RULES["sort"] = _RULES["topk"] = _RULES["kthvalue"] = _along("spread")
_RULES["_softmax"] = _RULES["_log_softmax"] = _RULES["softmax"] = _RULES["log_softmax"] = (
    _along("spread_smooth"))


# Matrix products ------------------------------------------------------------------------------


def _product(subs: list[str], out: str, operands: tuple[str, str] | None = None) -> Callable:
    """Rule of a matrix product ``einsum(subs -> out)`` of the first two arguments, or of the
    named ``operands`` plus ``beta * self`` (``addmm`` and friends; no bias when beta == 0)."""
    def rule(it, node, op, args, kwargs):
        if operands is None:
            return it.einsum(node, subs, out, [args[0], args[1]])
        b = _bind(op, args, kwargs)
        prod = it.einsum(node, subs, out, [b[operands[0]], b[operands[1]]])
        return prod if b.get("beta", 1) == 0 else it.pointwise(node, [b["self"], prod], "linear")

    return rule


for _names, _subs, _out, _operands in (
    (("mm",), ["ik", "kj"], "ij", None),
    (("bmm",), ["bik", "bkj"], "bij", None),
    (("mv",), ["ik", "k"], "i", None),
    (("dot", "vdot", "inner"), ["k", "k"], "", None),
    (("outer", "ger"), ["i", "j"], "ij", None),
    (("addmm",), ["ik", "kj"], "ij", ("mat1", "mat2")),
    (("addmv",), ["ik", "k"], "i", ("mat", "vec")),
    (("baddbmm",), ["bik", "bkj"], "bij", ("batch1", "batch2")),
    (("addr",), ["i", "j"], "ij", ("vec1", "vec2")),
):
    _rule(*_names)(_product(_subs, _out, _operands))


# Scatter family -------------------------------------------------------------------------------


def _lin(shape: tuple) -> Any:
    import torch

    return torch.arange(math.prod(shape), dtype=torch.int64).reshape(shape)


def _src_rows(it, src: Any, shape: tuple) -> sp.csr_array:
    """Rows of ``src`` for an index of ``shape``: broadcast, or the leading block (scatter)."""
    m = math.prod(shape)
    if not isinstance(src, _TT):
        return _empty(m, it.n)
    if len(src.shape) == len(shape) and all(s >= t for s, t in zip(src.shape, shape)):
        sel = _lin(src.shape)[tuple(slice(0, t) for t in shape)]
        return _take(src.D, sel.numpy().ravel())
    return src.rows(shape)


@_rule("index_put", "_unsafe_index_put")
def _index_put(it, node, op, args, kwargs):
    import torch

    b = _bind(op, args, kwargs)
    if _has_tt(b["indices"]):
        raise SparsityDetectionError(
            "global sparsity detection cannot use an index computed from the values of x "
            f"(torch.ops.{op}); " + _FIX
        )
    base = b["self"]
    targets = torch.ops.aten.index.Tensor(_lin(_shape(base)), b["indices"])
    rows = _src_rows(it, b["values"], tuple(targets.shape))
    return it.scatter_into(node, base, targets.numpy().ravel(), rows, bool(b["accumulate"]))


def _scatter_rule(accumulate: bool | None):
    def rule(it, node, op, args, kwargs):
        import torch

        b = _bind(op, args, kwargs)
        if _has_tt(b["index"]):
            raise SparsityDetectionError(
                "global sparsity detection cannot use an index computed from the values of x "
                f"(torch.ops.{op}); " + _FIX
            )
        base, dim, index = b["self"], b["dim"], b["index"]
        targets = torch.gather(_lin(_shape(base)), dim, index)
        src = b.get("src", b.get("value"))
        rows = _src_rows(it, src, tuple(index.shape))
        acc, kind = accumulate, "linear"
        reduce = b.get("reduce")
        if accumulate is None:  # scatter_reduce
            acc = bool(b.get("include_self", True))
            kind = "linear" if reduce in ("sum", "mean", "amax", "amin") else "nonlinear"
        elif reduce is not None:  # scatter(..., reduce="add" / "multiply")
            acc = True
            kind = "nonlinear" if reduce == "multiply" else "linear"
        return it.scatter_into(node, base, targets.numpy().ravel(), rows, acc, kind)

    return rule


_RULES["scatter"] = _RULES["scatter_"] = _scatter_rule(False)
_RULES["scatter_add"] = _RULES["scatter_add_"] = _scatter_rule(True)
_RULES["scatter_reduce"] = _RULES["scatter_reduce_"] = _scatter_rule(None)


def _index_dim_rule(accumulate: bool):
    def rule(it, node, op, args, kwargs):
        import torch

        b = _bind(op, args, kwargs)
        if _has_tt(b["index"]):
            raise SparsityDetectionError(
                "global sparsity detection cannot use an index computed from the values of x "
                f"(torch.ops.{op}); " + _FIX
            )
        base, dim, index = b["self"], b["dim"], b["index"]
        targets = torch.index_select(_lin(_shape(base)), dim, index)
        src = b.get("source", b.get("value"))
        rows = _src_rows(it, src, tuple(targets.shape)) if isinstance(src, _TT) else _empty(
            targets.numel(), it.n)
        return it.scatter_into(node, base, targets.numpy().ravel(), rows, accumulate)

    return rule


_RULES["index_add"] = _RULES["index_add_"] = _index_dim_rule(True)
_RULES["index_copy"] = _RULES["index_copy_"] = _index_dim_rule(False)
_RULES["index_fill"] = _RULES["index_fill_"] = _index_dim_rule(False)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------

_DATA_DEPENDENT = ("GuardOnDataDependentSymNode", "DataDependentOutputException",
                   "DynamicOutputShapeException", "UserError")


@functools.cache
def _decompositions() -> dict:
    """The Core ATen decomposition table, materialised once (it costs ~0.1 s to build)."""
    from torch._decomp import core_aten_decompositions

    return dict(core_aten_decompositions())


def _as_tensor(x: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach()
    return torch.as_tensor(np.asarray(x))


def _trace(f: Callable, x: Any, contexts: Sequence[Any], hessian: bool) -> tuple[_Trace, Any]:
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.func import functionalize

    x = _as_tensor(x)
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = x.to(torch.get_default_dtype())
    caches = [_as_tensor(c.value).clone() for c in contexts if isinstance(c, Cache)]

    def g(x, *cache_values):
        it = iter(cache_values)
        values = [next(it) if isinstance(c, Cache) else c.value for c in contexts]
        return f(x, *values)

    try:
        gm = make_fx(
            functionalize(g, remove="mutations_and_views"),
            decomposition_table=_decompositions(),
            tracing_mode="fake",
            _allow_non_fake_inputs=True,
        )(x, *caches)
    except Exception as e:  # noqa: BLE001 - translate data-dependent tracing failures
        if type(e).__name__ in _DATA_DEPENDENT or "data-dependent" in str(e).lower():
            raise SparsityDetectionError(
                _CONTROL_FLOW.format(what=f"torch raised {type(e).__name__}: "
                                          f"{str(e).splitlines()[0]}")
            ) from e
        raise
    n = x.numel()
    tr = _Trace(n, hessian)
    it = _Interpreter(gm, tr)
    inputs = [_TT(tuple(x.shape), x.dtype, sp.eye_array(n, dtype=bool, format="csr"))]
    inputs += [_TT(tuple(c.shape), c.dtype, _empty(c.numel(), n)) for c in caches]
    with torch.no_grad():
        y = it.run(inputs)
    return tr, y


def _output_rows(tr: _Trace, y: Any) -> sp.csr_array:
    import torch

    if isinstance(y, _TT):
        return y.D
    if isinstance(y, torch.Tensor):
        return _empty(y.numel(), tr.n)
    if isinstance(y, (int, float, bool, complex)):
        return _empty(1, tr.n)
    raise SparsityDetectionError(
        f"f returned {type(y).__name__}; return one tensor (torch.cat / torch.stack the parts)"
    )


def jacobian_sparsity(f: Callable, x: Any, contexts: Sequence[Any] = ()) -> sp.csr_array:
    """Boolean CSR pattern (y.numel(), x.numel()) of the Jacobian, valid at every ``x``."""
    tr, y = _trace(f, x, contexts, hessian=False)
    return canonical_pattern(_output_rows(tr, y))


def hessian_sparsity(f: Callable, x: Any, contexts: Sequence[Any] = ()) -> sp.csr_array:
    """Boolean symmetric CSR pattern (x.numel(), x.numel()) of the Hessian of a scalar ``f``."""
    tr, y = _trace(f, x, contexts, hessian=True)
    return scalar_hessian_pattern(tr, _output_rows(tr, y))


def _context_values(contexts: Sequence[Any]) -> Callable[[], list]:
    """Context values for one call; caches are cloned inside the transformed function."""
    return lambda: [_as_tensor(c.value).clone() if isinstance(c, Cache) else c.value
                    for c in contexts]
