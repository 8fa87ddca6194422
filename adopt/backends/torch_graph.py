"""Simplification of the ATen graphs AutoTorch captures (``make_fx`` on fake tensors), part of
the torch backend (imported by ``adopt/backends/torch.py`` only).

Nothing fuses ATen operations on CPU, so every node of a captured graph is one pass over its
output, and a sparse prep's products run over ``colors x n`` batches. Traced through
``torch.func``, a forward-over-reverse Hessian-vector product carries what autograd writes for
any function: ``pow(a, 1)``, ``pow(a, 0) * 1``, products with the ones that seed the gradient,
scalar factors applied to the whole batch, ``slice_backward`` into fresh zeros then added up.
:func:`simplify` removes that, in passes over the graph:

1. ``_fold``: drop ``alias`` nodes and plain copies, fold what depends on constants only (the
   seeds and what ``f`` does to them) into constants;
2. ``_identities``: ``pow(a, 1)``, ``a * 1``, products with uniform tensors (ones, ``pow(a, 0)``,
   ``expand`` of a scalar) become ``a`` or a product with a Python scalar;
3. ``_scalars``: a scalar factor of a large tensor moves onto a constant (folded once) or onto
   the smaller operand of the product that made it (``(c * T) * v -> T * (c * v)``);
4. ``_gathers``: a gather with one 1-D index is ``index_select`` (a faster CPU kernel);
5. ``_in_place``: an elementwise node with a fresh input that it alone reads writes into that
   input (``out=``, no new tensor), and a ``slice_backward`` added to a fresh tensor becomes an
   add into its slice.

The measurements behind these passes: benchmarks/results/sparse.md ("PyTorch sparse Hessians").
A call that autograd records does not run the graph (see ``adopt.backends.torch.Captured``).

Results are those of the traced graph up to the rounding of reassociated scalar factors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

__all__ = ["simplify"]

aten = torch.ops.aten
_SCALARS = (int, float)


def simplify(gm: fx.GraphModule) -> None:
    """Simplify a captured graph in place (see the module's docstring)."""
    _fold(gm)
    _identities(gm.graph)
    _scalars(gm)
    _gathers(gm)
    gm.graph.eliminate_dead_code()
    _fold(gm)  # what the scalars made constant
    _in_place(gm)
    gm.graph.eliminate_dead_code()
    for name, _ in list(gm.named_buffers()):  # constants folded into others or unused
        if not any(n.op == "get_attr" and n.target == name for n in gm.graph.nodes):
            delattr(gm, name)
    gm.recompile()


# ---- helpers ------------------------------------------------------------------------------
def _val(a: Any) -> Any:
    """The fake tensor ``make_fx`` recorded for node ``a`` (``None`` if not a tensor node)."""
    v = a.meta.get("val") if isinstance(a, fx.Node) else None
    return v if isinstance(v, torch.Tensor) else None


def _like(a: Any, b: Any) -> bool:
    """Whether nodes ``a`` and ``b`` are tensors of the same shape and dtype."""
    va, vb = _val(a), _val(b)
    return va is not None and vb is not None and va.shape == vb.shape and va.dtype == vb.dtype


def _numel(a: Any) -> float:
    v = _val(a)
    return v.numel() if v is not None else float("inf")


def _node(graph: fx.Graph, at: fx.Node, like: fx.Node, target: Any, *args: Any,
          **kwargs: Any) -> fx.Node:
    """A new node ``target(*args, **kwargs)`` before ``at``, with the metadata of ``like``."""
    with graph.inserting_before(at):
        node = graph.call_function(target, args, kwargs)
    node.meta = {k: v for k, v in like.meta.items() if k != "adopt_fresh"}
    return node


def _is(node: Any, *targets: Any) -> bool:
    return isinstance(node, fx.Node) and node.op == "call_function" and node.target in targets


def _replace(node: fx.Node, new: Any) -> None:
    node.replace_all_uses_with(new)
    node.graph.erase_node(node)


# ---- 1. constants ---------------------------------------------------------------------------
def _fold(gm: fx.GraphModule) -> None:
    """Drop ``alias`` nodes and dtype-preserving copies that only feed functional ops
    (functorch materialises zero tangents so), and fold every node computed from constants alone
    into a constant, unless it is larger than twice the largest input or constant (a folded
    broadcast must not cost memory)."""
    graph, consts = gm.graph, {}
    sizes = [_val(n).numel() for n in graph.nodes if n.op == "placeholder" and _val(n) is not None]
    sizes += [getattr(gm, n.target).numel() for n in graph.nodes if n.op == "get_attr"]
    limit = 2 * max(sizes, default=0)
    for node in list(graph.nodes):
        if node.op == "get_attr":
            consts[node] = getattr(gm, node.target)
            continue
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            continue
        if node.target is aten.alias.default or (node.target is aten._to_copy.default and _plain_copy(node)):
            _replace(node, node.args[0])
            continue
        inputs = node.all_input_nodes
        if (not inputs or not all(i in consts for i in inputs) or node.target._schema.is_mutable
                or torch.Tag.nondeterministic_seeded in node.target.tags):
            continue
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), consts.__getitem__)
        value = node.target(*args, **kwargs)
        if isinstance(value, torch.Tensor) and value.numel() <= limit:
            folded = _constant(gm, node, value)
            _replace(node, folded)
            consts[folded] = value


def _constant(gm: fx.GraphModule, at: fx.Node, value: torch.Tensor) -> fx.Node:
    """A ``get_attr`` node before ``at`` for a new constant ``value`` (with ``at``'s metadata)."""
    name = f"_adopt_folded_{len(list(gm.buffers()))}"
    while hasattr(gm, name):
        name += "_"
    gm.register_buffer(name, value)
    with gm.graph.inserting_before(at):
        node = gm.graph.get_attr(name)
    node.meta = dict(at.meta)
    node.meta["val"] = value
    return node


def _plain_copy(node: fx.Node) -> bool:
    """A ``_to_copy`` that keeps dtype, device and layout, read only by functional ops."""
    a, b = _val(node.args[0]), _val(node)
    if a is None or b is None or (a.dtype, a.device, a.layout) != (b.dtype, b.device, b.layout):
        return False
    return all(u.op == "call_function" and isinstance(u.target, torch._ops.OpOverload)
               and not u.target._schema.is_mutable for u in node.users)


# ---- 2. identities --------------------------------------------------------------------------
_UNIFORM_SOURCES = {aten.ones_like.default: lambda n: 1, aten.zeros_like.default: lambda n: 0,
                    aten.full_like.default: lambda n: n.args[1], aten.full.default: lambda n: n.args[1],
                    aten.scalar_tensor.default: lambda n: n.args[0]}


def _identities(graph: fx.Graph) -> None:
    """Replace the nodes that compute nothing (``pow(a, 1)``, ``a * 1``, ``a * ones``, ``expand``
    to ``a``'s own shape, ``-(-a)``) by ``a``, and products with a uniform tensor by products
    with a Python scalar."""
    uniform: dict[fx.Node, Any] = {}
    for n in list(graph.nodes):
        if n.op != "call_function":
            continue
        v = _uniform(n, uniform)
        if v is not None:
            uniform[n] = v
            continue
        t, a = n.target, n.args[0] if n.args else None
        same = _is(n, aten.expand.default, aten.view.default)
        if (same or t in (aten.pow.Tensor_Scalar, aten.mul.Scalar) and n.args[1] == 1) and _like(a, n):
            _replace(n, a)
        elif t is aten.neg.default and _is(a, aten.neg.default):
            _replace(n, a.args[0])
        elif t is aten.mul.Tensor:
            for u, other in (n.args, n.args[::-1]):
                if u in uniform and _like(other, n) and _val(u).dtype == _val(n).dtype:
                    c = uniform[u]
                    _replace(n, other if c == 1 else _node(graph, n, n, aten.mul.Scalar, other, c))
                    break


def _uniform(n: fx.Node, uniform: dict[fx.Node, Any]) -> Any:
    """The value of every element of node ``n`` when it is known before the call (``ones_like``,
    ``full``, ``pow(a, 0)``, ``expand`` or scalar multiples of those), else ``None``; values
    other than 0 and 1 only in float64, where Python's arithmetic is the tensor's."""
    t, a = n.target, n.args[0] if n.args else None
    if t in _UNIFORM_SOURCES:
        v = _UNIFORM_SOURCES[t](n)
        ok = isinstance(v, _SCALARS) and not isinstance(v, bool) and (v in (0, 1) or _exact(n))
        return v if ok else None
    if t is aten.expand.default:
        return uniform.get(a)
    v = _val(n)
    if t is aten.pow.Tensor_Scalar and n.args[1] == 0 and v is not None and v.is_floating_point():
        return 1
    if t in (aten.mul.Scalar, aten.mul.Tensor) and a in uniform and isinstance(n.args[1], _SCALARS) and _exact(n):
        return uniform[a] * n.args[1]
    return None


def _exact(n: fx.Node) -> bool:
    """Whether Python arithmetic on scalars (double precision) rounds as node ``n`` does."""
    v = _val(n)
    return v is not None and v.dtype == torch.float64


# ---- 3. scalar factors ----------------------------------------------------------------------
def _scalars(gm: fx.GraphModule) -> None:
    """Move scalar factors off large tensors, to a fixed point (each move can enable another)."""
    for _ in range(8):
        if not _scalars_once(gm):
            return
        gm.graph.eliminate_dead_code()


def _scalars_once(gm: fx.GraphModule) -> bool:
    changed = False
    for n in list(gm.graph.nodes):
        f = _factor(n)
        if f is not None and _like(f[1], n):
            s = _scaled(gm, f[1], f[0], n)
            if s is not None:
                _replace(n, s)
                changed = True
        elif _is(n, aten.mul.Tensor):
            changed |= _hoist(gm, n)
        elif _is(n, aten.add.Tensor, aten.sub.Tensor) and not n.kwargs:
            changed |= _sums(gm.graph, n)
    return changed


def _factor(n: Any) -> tuple[Any, Any] | None:
    """``(c, a)`` when node ``n`` is ``c * a`` for a Python scalar ``c`` (``mul.Scalar``, ``neg``)
    and a floating-point tensor ``a``."""
    v = _val(n)
    if v is None or not v.is_floating_point():
        return None
    if _is(n, aten.neg.default):
        return -1, n.args[0]
    if _is(n, aten.mul.Scalar, aten.mul.Tensor):
        for c, a in (n.args, n.args[::-1]):
            if isinstance(c, _SCALARS) and not isinstance(c, bool) and _like(a, n):
                return c, a
    return None


def _scaled(gm: fx.GraphModule, a: fx.Node, c: Any, at: fx.Node) -> fx.Node | None:
    """A node equal to ``c * a``, made before ``at`` without a pass over ``a``'s elements, or
    ``None``: a constant scaled once, or ``c`` moved into what made ``a`` (a product, both terms
    of a sum, through ``expand`` and ``slice_backward``)."""
    if not isinstance(a, fx.Node) or _val(a) is None or not _val(a).is_floating_point():
        return None
    if a.op == "get_attr":
        return _constant(gm, at, getattr(gm, a.target) * c)
    if a.op != "call_function" or len(a.users) != 1:
        return None
    f = _factor(a)
    if f is not None and _like(f[1], a):  # two scalar factors: one pass at most
        return _scaled(gm, f[1], c * f[0], at) or _node(gm.graph, at, a, aten.mul.Scalar, f[1], c * f[0])
    if _is(a, aten.mul.Tensor):
        p, q = a.args
        for x in sorted((p, q), key=lambda x: (getattr(x, "op", "") != "get_attr", _numel(x))):
            s = _scaled(gm, x, c, at) or _small_product(gm.graph, x, c, a, at)
            if s is not None:
                return _node(gm.graph, at, a, aten.mul.Tensor, *(s if y is x else y for y in (p, q)))
        return None
    if _is(a, aten.add.Tensor, aten.sub.Tensor) and not a.kwargs:  # both terms must take it
        p, q = (_scaled(gm, x, c, at) or _small_product(gm.graph, x, c, a, at) for x in a.args)
        return None if p is None or q is None else _node(gm.graph, at, a, a.target, p, q)
    if _is(a, aten.expand.default, aten.slice_backward.default):
        x = a.args[0]
        s = _scaled(gm, x, c, at) or _small_product(gm.graph, x, c, a, at)
        return None if s is None else _node(gm.graph, at, a, a.target, s, *a.args[1:])
    return None


def _small_product(graph: fx.Graph, x: Any, c: Any, a: fx.Node, at: fx.Node) -> fx.Node | None:
    """``c * x`` as a new node when ``x`` has fewer elements than ``a`` and ``a``'s dtype."""
    vx, va = _val(x), _val(a)
    if vx is None or va is None or vx.dtype != va.dtype or vx.numel() >= va.numel():
        return None
    return _node(graph, at, x, aten.mul.Scalar, x, c)


def _hoist(gm: fx.GraphModule, n: fx.Node) -> bool:
    """``(c * b) * y -> b * (c * y)`` when ``y`` is a constant or smaller than ``c * b``."""
    for i in (0, 1):
        x, y = n.args[i], n.args[1 - i]
        f = _factor(x)
        if f is None or len(x.users) != 1 or not _like(f[1], x):
            continue
        cheap = isinstance(y, fx.Node) and (y.op == "get_attr" or _numel(y) < _numel(x))
        s = (_scaled(gm, y, f[0], n) if cheap else None) or _small_product(gm.graph, y, f[0], x, n)
        if s is not None:
            n.args = (f[1], s) if i == 0 else (s, f[1])
            return True
    return False


def _sums(graph: fx.Graph, n: fx.Node) -> bool:
    """``p + c * b -> add(p, b, alpha=c)``, ``p - c * b -> add(p, b, alpha=-c)`` (``-b`` is
    ``-1 * b``) and ``c * b + q -> add(q, b, alpha=c)``: the scalar rides on the sum."""
    sign = 1 if n.target is aten.add.Tensor else -1
    for i in (1, 0) if sign == 1 else (1,):
        q = n.args[i]
        f = _factor(q)
        if f is not None and len(q.users) == 1 and _like(f[1], q):
            _replace(n, _node(graph, n, n, aten.add.Tensor, n.args[1 - i], f[1], alpha=sign * f[0]))
            return True
    return False


# ---- 4. gathers -----------------------------------------------------------------------------
def _gathers(gm: fx.GraphModule) -> None:
    """``a[idx]`` with ``a`` and ``idx`` 1-D as ``index_select`` (a faster CPU kernel)."""
    for n in list(gm.graph.nodes):
        if not (_is(n, aten.index.Tensor) and len(n.args[1]) == 1 and isinstance(n.args[1][0], fx.Node)):
            continue
        a, idx = n.args[0], n.args[1][0]
        vi = getattr(gm, idx.target) if idx.op == "get_attr" else _val(idx)
        va = _val(a)
        ints = vi is not None and vi.dim() == 1 and vi.dtype in (torch.int32, torch.int64)
        if ints and va is not None and va.dim() == 1:
            _replace(n, _node(gm.graph, n, n, aten.index_select.default, a, 0, idx))


# ---- 5. in place ----------------------------------------------------------------------------
def add_into_slice(x: torch.Tensor, y: torch.Tensor, dim: int, start: int, end: int,
                   step: int, alpha: Any = 1) -> torch.Tensor:
    """``x`` after adding ``alpha * y`` into its slice ``start:end:step`` along ``dim``: what
    ``x + alpha * slice_backward(y, x.shape, dim, start, end, step)`` computes, without zeros."""
    aten.slice.Tensor(x, dim, start, end, step).add_(y, alpha=alpha)
    return x


def _in_place(gm: fx.GraphModule) -> None:
    """Pointwise nodes write into a fresh input (see ``_fresh``) through their ``out=`` form;
    a ``slice_backward`` added to a fresh tensor is added into its slice."""
    for n in list(gm.graph.nodes):
        if _is(n, aten.add.Tensor) and _slice_sum(gm, n):
            continue
        out = _out_form(n)
        dest = next((a for a in n.args if _fresh(a, n)), None) if out is not None else None
        if dest is not None:
            _replace(n, _fresh_node(gm.graph, n, out, *n.args, **n.kwargs, out=dest))


#: Pointwise ops whose ``out=`` kernels are single TensorIterator loops, which may write into
#: one of their inputs.
_OUT_INTO_INPUT = {aten.add, aten.sub, aten.rsub, aten.mul, aten.div, aten.neg, aten.pow, aten.exp,
                   aten.log, aten.log1p, aten.expm1, aten.sin, aten.cos, aten.tan, aten.tanh,
                   aten.sinh, aten.cosh, aten.sigmoid, aten.sqrt, aten.rsqrt, aten.reciprocal,
                   aten.abs, aten.sign, aten.where, aten.clamp, aten.maximum, aten.minimum, aten.erf}


def _out_form(n: fx.Node) -> Any:
    """The ``out=`` overload of a pointwise ATen node (``mul.Tensor -> mul.out``), or ``None``."""
    t = n.target
    if n.op != "call_function" or getattr(t, "overloadpacket", None) not in _OUT_INTO_INPUT:
        return None
    name = "out" if t._overloadname in ("default", "Tensor") else f"{t._overloadname}_out"
    return getattr(t.overloadpacket, name) if name in t.overloadpacket.overloads() else None


def _slice_sum(gm: fx.GraphModule, n: fx.Node) -> bool:
    """``x + alpha * slice_backward(c * y, ...)`` as ``add_into_slice(x, y, ..., alpha * c)``
    when ``x`` is fresh, or a constant (copied: one pass instead of the zeros and the copy of
    ``slice_backward``)."""
    alpha = n.kwargs.get("alpha", 1)
    for i in (1, 0) if alpha == 1 else (1,):
        x, s = n.args[1 - i], n.args[i]
        if not (_is(s, aten.slice_backward.default) and len(s.users) == 1):
            continue
        constant = getattr(x, "op", "") == "get_attr" and _like(x, n)
        if constant or _fresh(x, n):
            x = _node(gm.graph, n, n, aten.clone.default, x) if constant else x
            y, _, dim, start, end, step = s.args
            f = _factor(y)
            if f is not None and len(y.users) == 1 and _like(f[1], y):
                alpha, y = alpha * f[0], f[1]
            _replace(n, _fresh_node(gm.graph, n, add_into_slice, x, y, dim, start, end, step, alpha))
            return True
    return False


def _fresh_node(graph: fx.Graph, n: fx.Node, target: Any, *args: Any, **kwargs: Any) -> fx.Node:
    """The node that replaces ``n`` by writing into a fresh tensor: still fresh for the next."""
    node = _node(graph, n, n, target, *args, **kwargs)
    node.meta["adopt_fresh"] = True
    return node


def _fresh(a: Any, n: fx.Node) -> bool:
    """Whether ``a`` is a tensor of ``n``'s shape and dtype that the graph made (not an input, a
    constant or a view) and that only ``n`` reads, so that ``n`` may overwrite it."""
    if not (isinstance(a, fx.Node) and a.op == "call_function" and len(a.users) == 1 and _like(a, n)):
        return False
    t = a.target
    if a.meta.get("adopt_fresh"):  # wrote into a fresh tensor: still fresh
        return True
    return (isinstance(t, torch._ops.OpOverload) and not t._schema.is_mutable
            and all(r.alias_info is None for r in t._schema.returns)
            and t is not aten._unsafe_view.default)  # a view that its schema does not declare
