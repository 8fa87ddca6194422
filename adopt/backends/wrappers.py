"""The wrappers: backends built from other backends, all in one place.

:class:`SecondOrder` composes an outer and an inner backend for second-order operators;
:class:`AutoSparse` makes Jacobians and Hessians sparse (detection, coloring, compression; its
operators live in :mod:`adopt._autosparse`); :class:`MixedMode` pairs a forward and a reverse
backend for bicolored sparse Jacobians; :class:`GreedyColoring` holds AutoSparse's coloring
settings. Like the backend descriptors they are frozen dataclasses that import no framework.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from adopt._errors import BackendIncompatibilityError
from adopt._sparse.coloring import resolve
from adopt.backends import AbstractBackend, AutoFiniteDiff

__all__ = ["SecondOrder", "AutoSparse", "MixedMode", "GreedyColoring", "FORMATS",
           "second_order_modes", "default_second_order"]


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
    if isinstance(backend, AutoFiniteDiff) and backend.method == "complex":
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
    if _complex_step(outer) and (not inner.black_box or _complex_step(inner)):
        raise BackendIncompatibilityError(
            f"{where}: a complex step outside needs an inner derivative that is "
            "analytic in x: real finite differences (central or forward). Another complex step "
            "keeps only the imaginary part, and JAX/PyTorch gradients reject complex input; use "
            "AutoFiniteDiff(method='central') outside"
        )
    outer_mode = outer.mode or ("forward" if outer.has_pushforward else "reverse")
    inner_mode = inner.mode or ("reverse" if inner.has_pullback else "forward")
    return outer_mode, inner_mode


def _complex_step(b: AbstractBackend) -> bool:
    return isinstance(b, AutoFiniteDiff) and b.method == "complex"


#: output formats of sparse Jacobians and Hessians
FORMATS = ("csr", "csc", "coo", "bcoo", "torch_csr", "torch_coo", "values", "dense")


@dataclass(frozen=True)
class GreedyColoring:
    """Greedy coloring settings for sparse Jacobians and Hessians.

    Parameters
    ----------
    order : str or tuple of str
        Vertex order: "natural", "largest_first", "smallest_last", "incidence_degree",
        "dynamic_largest_first", "dsatur", "random"; a tuple tries each and keeps the fewest
        colors (ties go to the first), stopping early at a lower bound. Default: natural,
        largest-first and DSATUR for Jacobians (the optimal 5 colors on a 5-point stencil, where
        the degree orders give 7: benchmarks/results/coloring.md),
        natural, largest-first and dynamic-largest-first for bicolorings, natural and
        largest-first for the costlier star and acyclic Hessian colorings.
    symmetric : {"star", "acyclic"}
        Hessian coloring: star (direct decompression) or acyclic (fewer colors, decompression by
        substitution).
    seed : int
        Seed of the "random" order.

    Examples
    --------
    >>> import adopt
    >>> adopt.GreedyColoring(order=("natural", "largest_first"), symmetric="acyclic")
    GreedyColoring(order=('natural', 'largest_first'), symmetric='acyclic', seed=0)
    """

    order: str | tuple[str, ...] | None = None
    symmetric: Literal["star", "acyclic"] = "star"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.symmetric not in ("star", "acyclic"):
            raise ValueError(f"GreedyColoring: symmetric must be 'star' or 'acyclic'; got {self.symmetric!r}")
        if isinstance(self.order, list):
            raise ValueError(f"GreedyColoring got order {self.order!r}, a list: pass a tuple (the "
                             "backend stays hashable)")
        if self.order is not None:
            resolve(self.order, "GreedyColoring")


@dataclass(frozen=True)
class MixedMode:
    """Bidirectional sparse Jacobians: ``forward`` products for some columns and ``reverse``
    products for some rows, from a bicoloring. Use inside :class:`AutoSparse`; both backends
    must share a framework.

    Examples
    --------
    >>> import adopt
    >>> adopt.AutoSparse(adopt.MixedMode(adopt.AutoTorch(mode="forward"), adopt.AutoTorch(mode="reverse")))
    AutoSparse(dense=MixedMode(forward=AutoTorch(mode='forward'), reverse=AutoTorch(mode='reverse')), sparsity_detector=None, coloring=None, format=None, triangle=None, shard=False)
    """

    forward: AbstractBackend
    reverse: AbstractBackend

    def parts(self) -> tuple[AbstractBackend, AbstractBackend]:
        """The wrapped backends."""
        return self.forward, self.reverse

    def __post_init__(self) -> None:
        if not self.forward.has_pushforward or not self.reverse.has_pullback:
            raise BackendIncompatibilityError(
                f"{self!r}: the forward backend needs pushforward and the reverse one pullback; "
                "AutoFiniteDiff has no pullback, so use AutoJAX() or AutoTorch() as reverse"
            )
        if self.forward.framework != self.reverse.framework:
            raise BackendIncompatibilityError(
                f"{self!r}: forward and reverse backends must share a framework"
            )

    @property
    def framework(self) -> str:
        return self.forward.framework


@dataclass(frozen=True)
class AutoSparse:
    """Sparse Jacobians and Hessians: detect the pattern, color it, compress, decompress.

    Preparation detects the sparsity pattern (globally by default), colors it, and compiles one
    batched product per color group plus the decompression by precomputed index maps; a prepared
    call costs ``ncolors`` JVPs, VJPs or HVPs, batched. Every other operator uses ``dense``.

    On PyTorch, a prepared sparse call is captured once as an ATen graph (``make_fx`` on fake
    tensors), the way ``jax.jit`` captures a JAX one: tensor contexts stay inputs, but Python
    state that ``f`` reads outside its arguments is frozen at preparation (pass what changes
    as a :class:`Constant`). Functions that cannot be captured (control flow on the values of x,
    NumPy calls, Python float contexts) run eagerly, with the same results.

    Parameters
    ----------
    dense : backend, SecondOrder or MixedMode
        What computes the compressed products.
    sparsity_detector : detector, optional
        ``TracerSparsityDetector()`` (default: global, valid at every x),
        ``DenseSparsityDetector(backend, atol)`` (local), or ``KnownSparsityDetector(pattern)``.
    coloring : GreedyColoring, optional
    format : str, optional
        Output: "csr", "csc", "coo" (scipy.sparse), "bcoo" (JAX), "torch_csr", "torch_coo",
        "values" (the nonzeros in the stable CSR order of :func:`sparsity_pattern`) or "dense".
        Default: the input's ecosystem (csr for NumPy, bcoo for JAX, torch_coo for PyTorch).
        Explicit zeros are kept, so the structure never changes between calls.
    triangle : {None, "lower", "upper"}
        For Hessians: return one triangle only (IPOPT wants the lower one).
    shard : bool
        JAX only: split the batch of colors over ``jax.devices()`` (``jax.sharding``), so that
        several accelerators compute the compressed products in parallel (about
        ``ceil(ncolors / devices)`` products each, then one gather); same results as unsharded.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> f = lambda x: x[1:] * x[:-1]
    >>> b = adopt.AutoSparse(adopt.AutoFiniteDiff())
    >>> prep = adopt.prepare_jacobian(f, b, np.ones(5))
    >>> adopt.ncolors(prep)
    2
    >>> adopt.jacobian(f, b, np.arange(5.0), prep=prep).toarray().round(6)
    array([[1., 0., 0., 0., 0.],
           [0., 2., 1., 0., 0.],
           [0., 0., 3., 2., 0.],
           [0., 0., 0., 4., 3.]])
    """

    dense: AbstractBackend | SecondOrder | MixedMode
    sparsity_detector: Any = None
    coloring: GreedyColoring | None = None
    format: str | None = None
    triangle: Literal["lower", "upper"] | None = None
    shard: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.dense, (AbstractBackend, SecondOrder, MixedMode)):
            raise TypeError(f"AutoSparse: dense must be a backend, SecondOrder or MixedMode; got {self.dense!r}")
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"AutoSparse: format must be one of {FORMATS}; got {self.format!r}")
        if self.triangle not in (None, "lower", "upper"):
            raise ValueError(f"AutoSparse: triangle must be None, 'lower' or 'upper'; got {self.triangle!r}")

    def parts(self) -> tuple[AbstractBackend | SecondOrder | MixedMode]:
        """The wrapped backend."""
        return (self.dense,)

    def first_order(self) -> AbstractBackend:
        """The dense backend for operators that are not sparse (gradient, pushforward, ...)."""
        dense = self.dense
        if isinstance(dense, MixedMode):
            return dense.reverse
        if isinstance(dense, SecondOrder):
            return dense.inner
        return dense

    def second_order(self) -> AbstractBackend | SecondOrder:
        """The backend for Hessian-vector products."""
        return self.dense.reverse if isinstance(self.dense, MixedMode) else self.dense
