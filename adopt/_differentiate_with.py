"""DifferentiateWith: differentiate one part of a function with another backend."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from adopt._arrays import array_kind
from adopt.backends import AbstractBackend

__all__ = ["DifferentiateWith"]


@dataclass(frozen=True)
class DifferentiateWith:
    """Wrap ``f`` so that AutoJAX or AutoTorch differentiate it with ``backend`` instead.

    Use it for a part of a model that the outer framework cannot trace, typically NumPy or
    SciPy code, differentiated by finite differences. Called with NumPy input it is just ``f``.
    Inside JAX it becomes a ``jax.pure_callback`` with a custom JVP ``J(x) @ t`` whose Jacobian
    ``backend`` computes, so that forward mode, reverse mode and ``vmap`` all work; inside
    PyTorch it is a ``torch.autograd.Function`` whose backward pass is ``backend``'s pullback
    (eager reverse mode). ``f`` takes and returns float64 NumPy arrays here.

    Examples
    --------
    >>> import numpy as np, jax, jax.numpy as jnp, adopt
    >>> jax.config.update("jax_enable_x64", True)
    >>> np_part = adopt.DifferentiateWith(lambda x: np.cumsum(x**2), adopt.AutoFiniteDiff())
    >>> g = adopt.gradient(lambda x: jnp.sum(np_part(x)), adopt.AutoJAX(), jnp.array([1.0, 2.0]))
    >>> np.asarray(g).round(6)
    array([4., 4.])
    """

    f: Callable[[np.ndarray], Any]
    backend: AbstractBackend

    def __call__(self, x: Any) -> Any:
        kind = array_kind(x)
        if kind == "jax":
            return _jax_call(self, x)
        if kind == "torch":
            return _torch_call(self, x)
        return self.f(x)

    def numpy_value(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.f(x), dtype=x.dtype)

    def numpy_jacobian(self, x: np.ndarray) -> np.ndarray:
        from adopt.operators.jacobian import jacobian

        return np.asarray(jacobian(self.f, self.backend, x), dtype=x.dtype)


def _jax_call(dw: DifferentiateWith, x: Any) -> Any:
    import jax
    import jax.numpy as jnp

    x_sds = jax.ShapeDtypeStruct(x.shape, x.dtype)
    y0 = dw.numpy_value(np.zeros(x.shape, x.dtype))
    y_sds = jax.ShapeDtypeStruct(y0.shape, x.dtype)
    j_sds = jax.ShapeDtypeStruct((y0.size, x_sds.size), x.dtype)

    @jax.custom_jvp
    def call(x: Any) -> Any:
        return jax.pure_callback(dw.numpy_value, y_sds, x, vmap_method="sequential")

    @call.defjvp
    def call_jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
        (x,), (t,) = primals, tangents
        J = jax.pure_callback(dw.numpy_jacobian, j_sds, x, vmap_method="sequential")
        return call(x), (J @ jnp.ravel(t)).reshape(y_sds.shape)

    return call(x)


def _torch_call(dw: DifferentiateWith, x: Any) -> Any:
    return _torch_function().apply(x, dw)


@functools.cache
def _torch_function() -> type:
    """One ``torch.autograd.Function`` for every DifferentiateWith, defined at first use."""
    import torch  # imported only here, lazily

    class _Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, dw: DifferentiateWith) -> Any:
            ctx.save_for_backward(x)
            ctx.dw = dw
            return torch.as_tensor(dw.numpy_value(x.detach().cpu().numpy()))

        @staticmethod
        def backward(ctx: Any, gy: Any) -> tuple[Any, None]:
            (x,) = ctx.saved_tensors
            J = ctx.dw.numpy_jacobian(x.detach().cpu().numpy())
            gx = gy.detach().cpu().numpy().reshape(-1) @ J
            return torch.as_tensor(gx).reshape(x.shape), None

    return _Fn
