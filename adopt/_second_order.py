"""SecondOrder: an outer and an inner backend for Hessians and Hessian-vector products."""

from __future__ import annotations

from dataclasses import dataclass, replace

from adopt._errors import BackendIncompatibilityError
from adopt.backends import AbstractBackend

__all__ = ["SecondOrder", "second_order_modes", "default_second_order"]


@dataclass(frozen=True)
class SecondOrder:
    """Differentiate the ``inner`` backend's gradient (or derivative) with the ``outer`` backend.

    The mode of each part is its ``mode`` field, or its natural one: forward for
    AutoFiniteDiff, forward outside and reverse inside for AutoJAX and AutoTorch. So
    ``SecondOrder(AutoJAX(mode="forward"), AutoJAX(mode="reverse"))`` is forward-over-reverse,
    ``SecondOrder(AutoTorch(mode="reverse"), AutoTorch(mode="forward"))`` reverse-over-forward.
    The outer backend must be able to differentiate the inner one: the same framework, or
    AutoFiniteDiff outside (it treats any inner backend as a black box).

    Examples
    --------
    >>> import numpy as np, adopt
    >>> so = adopt.SecondOrder(adopt.AutoFiniteDiff(), adopt.AutoFiniteDiff(method="complex"))
    >>> adopt.hessian(lambda x: (x**3).sum(), so, np.array([1.0, 2.0])).round(5)
    array([[ 6.,  0.],
           [ 0., 12.]])
    """

    outer: AbstractBackend
    inner: AbstractBackend

    def parts(self) -> tuple[AbstractBackend, AbstractBackend]:
        """The wrapped backends."""
        return self.outer, self.inner

    def __post_init__(self) -> None:
        for part, b in (("outer", self.outer), ("inner", self.inner)):
            if not isinstance(b, AbstractBackend):
                raise TypeError(
                    f"SecondOrder: {part} must be a dense backend such as AutoJAX(), AutoTorch() "
                    f"or AutoFiniteDiff(); got {b!r}"
                )


def default_second_order(backend: AbstractBackend) -> SecondOrder:
    """The combination a plain backend uses for second order: itself twice, except that a
    complex step is nested inside central differences."""
    if getattr(backend, "method", None) == "complex":
        return SecondOrder(replace(backend, method="central"), backend)
    return SecondOrder(backend, backend)


def second_order_modes(backend: SecondOrder, where: str | None = None) -> tuple[str, str]:
    """The (outer, inner) modes, after checking that outer can differentiate inner.

    ``where`` (the operator and the backend) starts every error message.
    """
    where = where or repr(backend)
    outer, inner = backend.outer, backend.inner
    if not outer.black_box and (inner.black_box or inner.framework != outer.framework):
        raise BackendIncompatibilityError(
            f"{where}: {type(outer).__name__} cannot differentiate through "
            f"{type(inner).__name__} ({inner.framework} code is opaque to {outer.framework}); "
            f"use an inner backend of the same framework, or AutoFiniteDiff() as the outer one"
        )
    if getattr(outer, "method", None) == "complex" and (not inner.black_box or inner.method == "complex"):
        raise BackendIncompatibilityError(
            f"{where}: a complex step outside needs an inner derivative that is "
            "analytic in x: real finite differences (central or forward). Another complex step "
            "keeps only the imaginary part, and JAX/PyTorch gradients reject complex input; use "
            "AutoFiniteDiff(method='central') outside"
        )
    outer_mode = outer.mode or ("forward" if "pushforward" in outer.primitives else "reverse")
    inner_mode = inner.mode or ("reverse" if "pullback" in inner.primitives else "forward")
    return outer_mode, inner_mode
