"""Backend descriptors: what to differentiate with. None of them imports its framework."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from adopt._errors import MissingDependencyError
from adopt.backends._base import AbstractBackend, BackendImpl

__all__ = ["AbstractBackend", "AutoJAX", "AutoTorch", "AutoFiniteDiff", "check_available"]

Mode = Literal["forward", "reverse"] | None


def _check_mode(backend: AbstractBackend, mode: Mode) -> None:
    if mode not in (None, "forward", "reverse"):
        raise ValueError(f"{type(backend).__name__}: mode must be None, 'forward' or 'reverse'; got {mode!r}")


@dataclass(frozen=True)
class AutoJAX(AbstractBackend):
    """Differentiate JAX functions with ``jax`` transforms, compiled with ``jax.jit`` at preparation.

    Parameters
    ----------
    mode : {None, "forward", "reverse"}
        Which mode to use where both work (Jacobians, the parts of a ``SecondOrder``).
        ``None`` picks by shape: forward for Jacobians with at least as many outputs as inputs.

    Notes
    -----
    float64 needs JAX's x64 mode; adopt never switches it on for you and raises a
    :class:`~adopt.PrecisionError` rather than computing in float32.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, adopt
    >>> jax.config.update("jax_enable_x64", True)
    >>> adopt.gradient(lambda x: jnp.sum(x**2), adopt.AutoJAX(), jnp.array([1.0, 2.0]))
    Array([2., 4.], dtype=float64)
    """

    mode: Mode = None
    framework: ClassVar[str] = "jax"
    has_pushforward: ClassVar[bool] = True
    has_pullback: ClassVar[bool] = True
    supports_inplace: ClassVar[bool] = False
    black_box: ClassVar[bool] = False
    extra: ClassVar[str] = "jax"

    def __post_init__(self) -> None:
        _check_mode(self, self.mode)

    def impl(self) -> BackendImpl:
        from adopt.backends.jax import JaxImpl

        return JaxImpl(self)


@dataclass(frozen=True)
class AutoTorch(AbstractBackend):
    """Differentiate PyTorch functions with eager ``torch.autograd`` and ``torch.func``.

    Each operator uses whichever is faster on CPU: eager autograd for gradients, pullbacks and
    Hessian-vector products (reverse over reverse), ``torch.func`` (``jvp`` under ``vmap``) for
    pushforwards and forward-mode Jacobians, and ``torch.func`` for every nested transform.

    Parameters
    ----------
    mode : {None, "forward", "reverse"}
        As for :class:`AutoJAX`.

    Examples
    --------
    >>> import torch, adopt
    >>> adopt.gradient(lambda x: (x**2).sum(), adopt.AutoTorch(), torch.tensor([1.0, 2.0], dtype=torch.float64))
    tensor([2., 4.], dtype=torch.float64)
    """

    mode: Mode = None
    framework: ClassVar[str] = "torch"
    #: a batched forward product (torch.func.jvp under vmap) costs several eager batched
    #: backward passes on CPU (benchmarks/results/design_choices.md): sparse Jacobians weigh
    #: column colors by it when choosing the mode
    forward_cost: ClassVar[float] = 3.0
    has_pushforward: ClassVar[bool] = True
    has_pullback: ClassVar[bool] = True
    supports_inplace: ClassVar[bool] = True
    black_box: ClassVar[bool] = False
    extra: ClassVar[str] = "torch"

    def __post_init__(self) -> None:
        _check_mode(self, self.mode)

    def impl(self) -> BackendImpl:
        from adopt.backends.torch import TorchImpl

        return TorchImpl(self)


@dataclass(frozen=True)
class AutoFiniteDiff(AbstractBackend):
    """Finite differences on any function (NumPy, or any framework as a black box).

    Parameters
    ----------
    method : {"central", "forward", "complex"}
        Central differences (error O(h²)), forward differences (O(h), one evaluation per
        tangent), or the complex step (exact to rounding; ``f`` must be complex-analytic and
        accept complex input).
    rel_step : float, optional
        Relative step. Default as in :func:`scipy.optimize.approx_derivative`: ``eps**(1/2)``
        for forward and complex, ``eps**(1/3)`` for central, with ``eps`` of x's dtype; inside a
        second-order composition ``eps**(1/3)`` for forward and ``eps**(1/4)`` for central. The step
        along a tangent ``t`` is ``rel_step * max(1, |x_i|) / max|t|`` with ``i`` the largest
        ``|x_i|`` on ``t``'s support, which is SciPy's rule for the unit tangents of a Jacobian.
    vectorized : bool
        If True, ``f`` accepts a batch ``X`` of shape ``(k, *x.shape)`` and returns
        ``(k, *y.shape)``; a batch of tangents is then one call of ``f``. Otherwise the
        perturbed points are formed in one vectorised operation and ``f`` is called on each.

    Notes
    -----
    Accuracy (relative, well-scaled problems; what the conformance suite checks): first order
    central ~1e-9, forward ~1e-7, complex ~1e-14; second order (the plain backend nests itself,
    complex steps inside central differences) central ~1e-7, forward ~1e-4, complex ~1e-7.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> float(adopt.derivative(np.sin, adopt.AutoFiniteDiff(method="complex"), 0.0))
    1.0
    """

    method: Literal["central", "forward", "complex"] = "central"
    rel_step: float | None = None
    vectorized: bool = False
    framework: ClassVar[str] = "numpy"
    has_pushforward: ClassVar[bool] = True
    has_pullback: ClassVar[bool] = False
    supports_inplace: ClassVar[bool] = True
    black_box: ClassVar[bool] = True
    extra: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.method not in ("central", "forward", "complex"):
            raise ValueError(
                f"AutoFiniteDiff: method must be 'central', 'forward' or 'complex'; got {self.method!r}"
            )
        if self.rel_step is not None and not self.rel_step > 0:
            raise ValueError(f"AutoFiniteDiff: rel_step must be positive; got {self.rel_step!r}")

    @property
    def mode(self) -> Mode:
        return "forward"

    def impl(self) -> BackendImpl:
        from adopt.backends.finitediff import FiniteDiffImpl

        return FiniteDiffImpl(self)


def check_available(backend: AbstractBackend) -> bool:
    """Whether ``backend``'s framework (every framework of a wrapper) is installed and importable.

    Examples
    --------
    >>> import adopt
    >>> adopt.check_available(adopt.AutoFiniteDiff())
    True
    >>> adopt.check_available(adopt.AutoSparse(adopt.SecondOrder(adopt.AutoFiniteDiff(), adopt.AutoFiniteDiff())))
    True
    """
    if not isinstance(backend, AbstractBackend):  # a wrapper: SecondOrder, AutoSparse, MixedMode
        return all(check_available(part) for part in backend.parts())
    try:
        backend.impl()
    except MissingDependencyError:
        return False
    return True
