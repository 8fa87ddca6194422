"""DifferentiateWith inside PyTorch: one ``torch.autograd.Function`` per operator of the node table.

Each Function is written in the ``setup_context`` style with ``backward``, ``jvp`` and ``vmap``
staticmethods, so that eager autograd (including ``create_graph=True`` double backward), forward
AD, and ``torch.func`` (``grad``, ``vjp``, ``jvp``, ``vmap``, ``jacrev``, ``jacfwd``,
``hessian``) all work. Derivative rules are other Functions of the table (``backward`` of
``value`` is the ``pullback`` Function, and so on), so torch can differentiate them again where
the inner backend provides the derivative, and raises where it does not.

``vmap`` folds the vmapped axis into the operator's ``batch`` exactly as the JAX batching rule
does. ``torch.compile`` is not supported (the Functions call back into another framework).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from adopt._arrays import converter
from adopt._differentiate_with._node import OPS, TRANSPOSE, Node, second_order_error

__all__ = ["call"]


def call(dw: Any, x: torch.Tensor) -> torch.Tensor:
    """``dw(x)`` for a torch tensor: value and gradient at once when autograd will want the
    gradient of a scalar f, else the value (its backward and jvp come when asked)."""
    # the output shape matters here only to choose the scalar route of a reverse-mode backend
    node = dw._node(tuple(x.shape), _numpy_dtype(x.dtype), infer=dw.backend.has_pullback)
    if node.scalar and torch.is_grad_enabled() and x.requires_grad:
        return _apply("value_grad", x, node=node, batch=0, x_batched=False)[0]
    return _apply("value", x, node=node, batch=0, x_batched=False)[0]


def _apply(op: str, *args: Any, node: Node, batch: int, x_batched: bool) -> tuple[Any, ...]:
    return _FUNCTIONS[op].apply(*args, node, batch, x_batched)


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return np.dtype(str(dtype).removeprefix("torch."))


@functools.cache
def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return getattr(torch, np.dtype(dtype).name)


def _host(op: str, args: tuple, node: Node, batch: int, x_batched: bool) -> tuple[torch.Tensor, ...]:
    inner = node.backend.framework
    to_inner, to_torch = converter("torch", inner), converter(inner, "torch")
    res = node.runner(op, batch, x_batched)(*(to_inner(a) for a in args))
    return tuple(to_torch(r).to(_torch_dtype(node.dtype)) for r in res)


def _sum_x(a: torch.Tensor, node: Node) -> torch.Tensor:
    n = len(node.x_shape)
    return a.sum(dim=tuple(range(a.ndim - n, a.ndim))) if n else a


def _expand_x(a: torch.Tensor, node: Node) -> torch.Tensor:
    """A value per problem (shape ``()`` or ``(B,)``) broadcast against ``x``'s axes."""
    return a.reshape(a.shape + (1,) * len(node.x_shape))


def _backward(op: str, ctx: Any, cts: tuple) -> tuple:
    params = dict(node=ctx.node, batch=ctx.batch, x_batched=ctx.x_batched)
    saved = ctx.saved_tensors
    if op == "value":
        (gy,) = cts
        return (None if gy is None else _apply("pullback", saved[0], gy, **params)[0],)
    if op == "value_grad":
        x, g = saved[0], saved[2]
        gy, gg = cts
        terms = ([] if gy is None else [_expand_x(gy, ctx.node) * g]) + \
                ([] if gg is None else [_apply("hvp", x, gg, **params)[0]])
        return (sum(terms[1:], terms[0]) if terms else None,)
    if ctx.needs_input_grad[0]:
        raise second_order_error(ctx.node, op, "torch's backward pass")
    (ct,) = cts
    return None, None if ct is None else _apply(TRANSPOSE[op], saved[0], ct, **params)[0]


def _jvp(op: str, ctx: Any, tangents: tuple) -> tuple:
    params = dict(node=ctx.node, batch=ctx.batch, x_batched=ctx.x_batched)
    saved = ctx.saved_tensors
    if op == "value":
        return _apply("pushforward", saved[0], tangents[0], **params)
    if op == "value_grad":
        (tx,), (x, _, g) = tangents[:1], saved
        return _sum_x(g * tx, ctx.node), _apply("hvp", x, tx, **params)[0]
    dx, dt = tangents[:2]
    if dx is not None:  # None when x has no tangent (grads are not materialised)
        raise second_order_error(ctx.node, op, "torch's forward mode")
    return _apply(op, saved[0], torch.zeros_like(saved[1]) if dt is None else dt, **params)


def _fold(a: torch.Tensor, dim: int | None, size: int, batch: int, batched: bool) -> torch.Tensor:
    """``a`` with the vmapped axis (``size``) folded into the operator's batch axis."""
    a = a.expand(size, *a.shape) if dim is None else a.movedim(dim, 0)
    if not batch:
        return a
    if not batched:
        a = a[:, None].expand(size, batch, *a.shape[1:])
    return a.reshape(size * batch, *a.shape[2:])


def _vmap(op: str, info: Any, in_dims: tuple, *args: Any) -> tuple:
    *arrays, node, batch, x_batched = args
    dims, size = in_dims[:len(arrays)], info.batch_size
    x, *lin = arrays
    if dims[0] is None and not x_batched:
        xb = False
    else:
        x, xb = _fold(x, dims[0], size, batch, x_batched), True
    lin = [_fold(t, d, size, batch, batch > 0) for t, d in zip(lin, dims[1:])]
    outs = _apply(op, x, *lin, node=node, batch=size * max(batch, 1), x_batched=xb)
    if batch:
        outs = tuple(o.reshape(size, batch, *o.shape[1:]) for o in outs)
    return outs, (0,) * len(outs)


def _function(op: str) -> type:
    def forward(*args: Any) -> tuple[torch.Tensor, ...]:
        *arrays, node, batch, x_batched = args
        return _host(op, tuple(arrays), node, batch, x_batched)

    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        *arrays, ctx.node, ctx.batch, ctx.x_batched = inputs
        saved = (*arrays, *output) if op == "value_grad" else tuple(arrays)
        ctx.save_for_backward(*saved)
        ctx.save_for_forward(*saved)
        ctx.set_materialize_grads(False)

    def backward(ctx: Any, *cts: Any) -> tuple:
        grads = _backward(op, ctx, cts)
        return (*grads, *(None,) * (OPS[op] - len(grads)), None, None, None)

    def jvp(ctx: Any, *tangents: Any) -> tuple:
        return _jvp(op, ctx, tangents)

    def vmap(info: Any, in_dims: tuple, *args: Any) -> tuple:
        return _vmap(op, info, in_dims, *args)

    namespace = {name: staticmethod(fn) for name, fn in
                 dict(forward=forward, setup_context=setup_context, backward=backward, jvp=jvp,
                      vmap=vmap).items()}
    return type(f"DifferentiateWith_{op}", (torch.autograd.Function,), namespace)


_FUNCTIONS: dict[str, type] = {op: _function(op) for op in OPS}
