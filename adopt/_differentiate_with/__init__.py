"""DifferentiateWith: differentiate one part of a function with another backend."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from adopt._arrays import array_kind, converter, numpy_dtype
from adopt._differentiate_with._node import Node
from adopt.backends import AbstractBackend

__all__ = ["DifferentiateWith"]


@dataclass(frozen=True, eq=False)
class DifferentiateWith:
    """Wrap ``f`` so that JAX and PyTorch differentiate it with ``backend``'s derivatives.

    ``f`` takes and returns arrays of ``backend``'s framework: torch tensors for
    :class:`~adopt.AutoTorch`, jax arrays for :class:`~adopt.AutoJAX`, NumPy arrays for
    :class:`~adopt.AutoFiniteDiff`. The wrapper accepts jax arrays, torch tensors and NumPy
    arrays, and returns the caller's array type in the caller's dtype (float64 stays float64,
    float32 stays float32):

    - **inside JAX** (``jax.grad``, ``jax.jit``, ``jax.vmap``, ``jax.jvp``, ``jax.hessian``) it
      is a JAX primitive whose JVP is the inner backend's pushforward, transposed (reverse mode)
      to its pullback; under ``jit`` the calls are ``jax.pure_callback``\\ s;
    - **inside PyTorch** (``torch.autograd``, ``torch.func.grad``, ``vmap``, ``jvp``) it is a
      ``torch.autograd.Function`` whose ``backward`` is the inner pullback and whose ``jvp`` is
      the inner pushforward;
    - called with the framework's own arrays it is just ``f``.

    Notes
    -----
    *Preparation.* The inner backend's operators are prepared once per input shape and dtype
    and per number of tangents, at their first real call, and cached on the wrapper (its
    ``cache``). Nothing is evaluated at a dummy point.

    *Output shapes.* JAX needs the shape of ``f(x)`` before ``f`` runs when it traces the
    wrapper (``jit``, ``grad``, ``vmap``). It is learned once per input shape: from the first
    call with a concrete jax array, or abstractly, without computing anything, by the inner
    framework (``jax.eval_shape``; torch ``meta`` tensors; adopt's NumPy tracer), or given as
    ``output_shape``. ``f`` is then called once with meta tensors or tracers, never with values.

    *Evaluations.* A scalar-valued ``f`` on a reverse-mode backend (AutoJAX, AutoTorch) computes
    value and gradient in one pass of ``f`` for both forward and reverse mode (a JVP is then
    ``∇f·t``). Otherwise forward mode is the inner pushforward and reverse mode the inner
    pullback, which evaluates ``f`` again (no graph is kept between the forward and the backward
    pass); finite differences form the pullback from a Jacobian by pushforwards, their cheapest.

    *Batches.* A batch of tangents at one point (``jax.vmap`` over tangents, ``jax.jacfwd``,
    ``jax.jacrev``, ``jax.hessian``, ``torch.func.vmap``) is one batched call of the inner
    backend; a batch of points is a loop over the points.

    *Second order.* For scalar-valued ``f`` on a reverse-mode backend the derivative of the
    gradient is the inner backend's Hessian-vector product (``jax.hessian``, double backward,
    ``torch.func.hessian``). Other second derivatives with respect to ``x`` raise
    :class:`~adopt.BackendIncompatibilityError` naming the limitation and the fix.

    *Errors.* An exception raised by ``f`` propagates as is, except inside ``jax.jit``, where
    JAX reports it as a ``JaxRuntimeError`` carrying ``f``'s traceback (JAX's rule for host
    callbacks).

    Parameters
    ----------
    f : callable
        ``f(x) -> y`` in ``backend``'s framework.
    backend : AutoJAX, AutoTorch or AutoFiniteDiff
        What differentiates ``f``.
    output_shape : tuple of int, optional
        The shape of ``f(x)``, for functions that cannot be evaluated abstractly and are first
        called under ``jax.jit`` (e.g. NumPy code calling compiled SciPy routines).

    Examples
    --------
    A NumPy function inside JAX, differentiated by finite differences:

    >>> import numpy as np, jax, jax.numpy as jnp, adopt
    >>> jax.config.update("jax_enable_x64", True)
    >>> np_part = adopt.DifferentiateWith(lambda x: np.cumsum(x**2), adopt.AutoFiniteDiff())
    >>> g = jax.grad(lambda x: jnp.sum(np_part(x)))(jnp.array([1.0, 2.0]))
    >>> np.asarray(g).round(6)
    array([4., 4.])

    A PyTorch function inside ``jax.jit(jax.grad)``, and a JAX function inside
    ``torch.autograd``:

    >>> import torch
    >>> torch_part = adopt.DifferentiateWith(lambda x: (x.sin() * x).sum(), adopt.AutoTorch())
    >>> jax.jit(jax.grad(torch_part))(jnp.array([0.0, 1.0]))
    Array([0.        , 1.38177329], dtype=float64)
    >>> jax_part = adopt.DifferentiateWith(lambda x: jnp.sum(x**3), adopt.AutoJAX())
    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.grad(jax_part(x), x)[0]
    tensor([ 3., 12.], dtype=torch.float64)
    """

    f: Callable[..., Any]
    backend: AbstractBackend
    output_shape: tuple[int, ...] | None = None
    cache: dict[tuple[tuple[int, ...], np.dtype], Node] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"DifferentiateWith with {self.backend!r}"
        if not callable(self.f):
            raise TypeError(f"{where}: f must be callable; got {type(self.f).__name__}")
        if not isinstance(self.backend, AbstractBackend):
            raise TypeError(f"{where}: backend must be AutoJAX(), AutoTorch() or "
                            f"AutoFiniteDiff() (a dense backend); got {self.backend!r}")

    def __call__(self, x: Any) -> Any:
        kind = array_kind(x)
        inner = self.backend.framework
        if kind == inner or kind == "scalar" and inner == "numpy":
            return self.f(x)
        if kind == "jax":
            from adopt._differentiate_with._jax import call

            return call(self, x)
        if kind == "torch":
            from adopt._differentiate_with._torch import call

            return call(self, x)
        if kind in ("numpy", "scalar"):  # no framework differentiates NumPy: just evaluate
            y = self.f(converter(kind, inner)(x))
            return converter(array_kind(y), "numpy")(y).astype(numpy_dtype(x), copy=False)
        raise TypeError(f"DifferentiateWith({_name(self.f)}, {self.backend!r}): x must be a jax "
                        f"array, a torch tensor or a NumPy array; got {type(x).__name__}")

    def _node(self, shape: tuple[int, ...], dtype: Any, y_shape: tuple[int, ...] | None = None,
              infer: bool = True) -> Node:
        """The cached :class:`Node` of an input signature, made at first use.

        The output shape is ``y_shape`` if given (learned from a concrete call), else
        ``output_shape``, else inferred abstractly (if ``infer``); ``None`` if none of these
        knows it.
        """
        key = (tuple(shape), np.dtype(dtype))
        node = self.cache.get(key)
        if node is None or y_shape is not None and node.y_shape is None:
            if y_shape is None:
                y_shape = self.output_shape
            if y_shape is None and infer:
                y_shape = abstract_shape(self.f, self.backend.framework, *key)
            y_shape = None if y_shape is None else tuple(y_shape)
            node = self.cache[key] = Node(self.f, self.backend, key[0], y_shape, key[1])
        return node

    def _unknown_shape_error(self, shape: tuple[int, ...], dtype: Any, how: str) -> Exception:
        return TypeError(
            f"DifferentiateWith({_name(self.f)}, {self.backend!r}): {how} needs the shape of "
            f"f(x) for x of shape {tuple(shape)} and dtype {np.dtype(dtype)} before f runs, and "
            f"f cannot be evaluated abstractly by {self.backend.framework}. Call the wrapper "
            "once on a concrete array of this shape first (outside jax.jit), or pass "
            "output_shape=... to DifferentiateWith"
        )


def _name(f: Callable[..., Any]) -> str:
    return getattr(f, "__qualname__", None) or repr(f)


def abstract_shape(f: Callable[..., Any], framework: str, shape: tuple[int, ...],
                   dtype: np.dtype) -> tuple[int, ...] | None:
    """The shape of ``f(x)`` for ``x`` of ``shape`` and ``dtype``, computed without values:
    ``jax.eval_shape``, torch ``meta`` tensors, or adopt's NumPy tracer. ``None`` if ``f``
    cannot run abstractly."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tuple(_ABSTRACT[framework](f, shape, dtype))
    except Exception:  # noqa: BLE001 - any failure means "not abstractly": the caller explains
        return None


def _jax_shape(f: Callable[..., Any], shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, ...]:
    import jax

    return jax.eval_shape(f, jax.ShapeDtypeStruct(shape, dtype)).shape


def _torch_shape(f: Callable[..., Any], shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, ...]:
    import torch

    return f(torch.empty(shape, dtype=getattr(torch, np.dtype(dtype).name), device="meta")).shape


def _numpy_shape(f: Callable[..., Any], shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, ...]:
    from adopt._sparse.detection.numpy import run as _run

    _, _, y = _run(f, np.empty(shape, dtype), (), hessian=False)
    return np.shape(y)


_ABSTRACT: dict[str, Callable[..., tuple[int, ...]]] = {
    "jax": _jax_shape, "torch": _torch_shape, "numpy": _numpy_shape}
