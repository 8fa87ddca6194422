"""DifferentiateWith inside JAX: one primitive per operator of the node table.

``jax.custom_jvp`` cannot be transposed through a callback and ``jax.custom_vjp`` has no forward
mode, so each operator of :mod:`._node` is a primitive with the rules JAX asks for:

- JVP: ``value`` -> ``pushforward`` (or, for scalar f on a reverse-mode backend,
  ``value_grad`` and ``∇f·t``); ``value_grad`` -> ``hvp``; a linear operator -> itself on the
  tangent of its linear input (its derivative in ``x`` is a second-order term: an error);
- transpose (reverse mode): ``pushforward`` <-> ``pullback``, ``hvp`` -> ``hvp``;
- batching: the vmapped axis is folded into the operator's ``batch`` (a batch of tangents at one
  point stays one batched call of the inner backend);
- evaluation: eagerly the node is called directly (so ``f``'s exceptions propagate as is); under
  ``jit`` through a host callback (``mlir.emit_python_callback``, as ``jax.pure_callback`` does).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from adopt._arrays import array_kind, converter
from adopt._differentiate_with._node import LINEAR, OPS, TRANSPOSE, Node, second_order_error

__all__ = ["call"]


def call(dw: Any, x: Any) -> Any:
    """``dw(x)`` for a jax array ``x``: the ``value`` primitive, or ``f`` itself at the first
    concrete call of an input signature (which teaches the wrapper the output shape)."""
    node = dw._node(x.shape, x.dtype)
    if node.y_shape is None:
        if isinstance(x, jax.core.Tracer):
            raise dw._unknown_shape_error(x.shape, x.dtype, "JAX tracing (jit, grad, vmap)")
        y = dw.f(converter("jax", dw.backend.framework)(x))
        y = np.asarray(converter(array_kind(y), "numpy")(y), dtype=x.dtype)
        dw._node(x.shape, x.dtype, y_shape=y.shape)
        return jnp.asarray(y)
    return _bind("value", x, node=node, batch=0, x_batched=False)[0]


def _bind(op: str, *args: Any, node: Node, batch: int, x_batched: bool) -> list[Any]:
    return _PRIMITIVES[op].bind(*args, node=node, batch=batch, x_batched=x_batched)


# ---- evaluation ------------------------------------------------------------------------------
def _host(op: str, node: Node, batch: int, x_batched: bool) -> Callable[..., tuple[np.ndarray, ...]]:
    """The host function of ``op``: the NumPy arrays XLA passes in, NumPy arrays of the node's
    dtype out. Everything that does not depend on the values is resolved here, once per
    compiled call site, so that a call is the inner backend's prepared operator plus one
    zero-copy view per array (and one copy of each input for torch, see
    :func:`_torch_converters`)."""
    to_inner, to_numpy = _converters(node.backend.framework)
    run = node.runner(op, batch, x_batched)
    dtype = node.dtype

    if OPS[op] == 1:
        def host(x: np.ndarray, **_: Any) -> tuple[np.ndarray, ...]:
            return tuple([np.asarray(to_numpy(r), dtype=dtype) for r in run(to_inner(x))])
    else:
        def host(x: np.ndarray, t: np.ndarray, **_: Any) -> tuple[np.ndarray, ...]:
            return tuple([np.asarray(to_numpy(r), dtype=dtype)
                          for r in run(to_inner(x), to_inner(t))])

    return host


def _converters(inner: str) -> tuple[Callable[[Any], Any], Callable[[Any], np.ndarray]]:
    """NumPy -> the inner framework's arrays, and back."""
    if inner == "torch":
        return _torch_converters()
    return converter("numpy", inner), converter(inner, "numpy")


def _torch_converters() -> tuple[Callable[[Any], Any], Callable[[Any], np.ndarray]]:
    """Host buffer -> tensor and tensor -> NumPy, zero-copy.

    XLA lends the callback its own buffers as read-only arrays; torch wants writable memory
    (and ``f`` could write into its input), so an input is copied once, which costs far less
    than evaluating ``f``. Results are viewed without a copy (``detach`` only when needed).
    """
    import torch

    from_numpy = torch.from_numpy

    def to_torch(a: np.ndarray) -> Any:
        return from_numpy(a if a.flags.writeable else a.copy())

    def to_numpy(r: Any) -> np.ndarray:
        try:
            return r.numpy()
        except RuntimeError:  # requires grad, or not on the CPU
            return r.detach().cpu().numpy()

    return to_torch, to_numpy


def _avals(op: str, node: Node, batch: int) -> list[jax.core.ShapedArray]:
    lead = (batch,) if batch else ()
    return [jax.core.ShapedArray(lead + s, node.dtype) for s in node.out_shapes(op)]


def _impl(op: str, *args: Any, node: Node, batch: int, x_batched: bool) -> list[Any]:
    return [jnp.asarray(r) for r in _host(op, node, batch, x_batched)(*map(np.asarray, args))]


def _abstract(op: str, *avals: Any, node: Node, batch: int, x_batched: bool) -> list[Any]:
    return _avals(op, node, batch)


def _lowering(op: str, ctx: Any, *args: Any, node: Node, batch: int, x_batched: bool) -> Any:
    """A host callback that receives NumPy arrays directly (``jax.pure_callback`` would first
    copy its arguments into jax arrays, about 100 µs per call on CPU)."""
    result, _, _ = mlir.emit_python_callback(
        ctx, _host(op, node, batch, x_batched), None, list(args), ctx.avals_in, ctx.avals_out,
        has_side_effect=False, returns_token=False)
    return result


# ---- forward mode and transposition -------------------------------------------------------
def _sum_x(a: Any, node: Node) -> Any:
    """Sum over the axes of x (keeping a leading batch axis)."""
    return jnp.sum(a, axis=tuple(range(a.ndim - len(node.x_shape), a.ndim)))


def _jvp(op: str, primals: tuple, tangents: tuple, **params: Any) -> tuple[list, list]:
    node = params["node"]
    if op == "value" and node.scalar:
        (x,), (tx,) = primals, tangents
        y, g = _bind("value_grad", x, **params)
        return [y], [_sum_x(g * ad.instantiate_zeros(tx), node)]
    if op == "value":
        (x,), (tx,) = primals, tangents
        return _bind("value", x, **params), _bind("pushforward", x, ad.instantiate_zeros(tx), **params)
    if op == "value_grad":
        (x,), (tx,) = primals, tangents
        tx = ad.instantiate_zeros(tx)
        y, g = _bind("value_grad", x, **params)
        return [y, g], [_sum_x(g * tx, node), *_bind("hvp", x, tx, **params)]
    (x, t), (dx, dt) = primals, tangents
    if type(dx) is not ad.Zero:
        raise second_order_error(node, op, "a JAX transformation")
    out = _bind(op, x, t, **params)
    if type(dt) is ad.Zero:
        return out, [jnp.zeros_like(o) for o in out]
    return out, _bind(op, x, dt, **params)


def _transpose(op: str, cts: list, x: Any, t: Any, **params: Any) -> list:
    if ad.is_undefined_primal(x):
        raise second_order_error(params["node"], op, "reverse mode")
    (ct,) = cts
    if type(ct) is ad.Zero:
        return [None, jnp.zeros(t.aval.shape, t.aval.dtype)]
    return [None, *_bind(TRANSPOSE[op], x, ct, **params)]


# ---- batching ---------------------------------------------------------------------------------
def _fold(a: Any, dim: int | None, size: int, batch: int, batched: bool) -> Any:
    """``a`` with the vmapped axis (``size``) folded into the operator's batch axis."""
    a = jnp.broadcast_to(a, (size, *a.shape)) if dim is None else jnp.moveaxis(a, dim, 0)
    if not batch:
        return a
    if not batched:
        a = jnp.broadcast_to(a[:, None], (size, batch, *a.shape[1:]))
    return a.reshape((size * batch, *a.shape[2:]))


def _batch(op: str, args: tuple, dims: tuple, *, node: Node, batch: int, x_batched: bool) -> tuple:
    size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
    x, *lin = args
    if dims[0] is None and not x_batched:
        xb = False
    else:
        x, xb = _fold(x, dims[0], size, batch, x_batched), True
    lin = [_fold(t, d, size, batch, batch > 0) for t, d in zip(lin, dims[1:])]
    outs = _bind(op, x, *lin, node=node, batch=size * max(batch, 1), x_batched=xb)
    if batch:
        outs = [o.reshape((size, batch, *o.shape[1:])) for o in outs]
    return outs, [0] * len(outs)


def _primitive(op: str) -> Primitive:
    p = Primitive(f"adopt_differentiate_with_{op}")
    p.multiple_results = True
    p.def_impl(partial(_impl, op))
    p.def_abstract_eval(partial(_abstract, op))
    mlir.register_lowering(p, partial(_lowering, op))
    ad.primitive_jvps[p] = partial(_jvp, op)
    if op in LINEAR:
        ad.primitive_transposes[p] = partial(_transpose, op)
    batching.primitive_batchers[p] = partial(_batch, op)
    return p


_PRIMITIVES: dict[str, Primitive] = {op: _primitive(op) for op in OPS}
