"""AutoSparse and MixedMode: wrappers that make Jacobians and Hessians sparse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from adopt._errors import BackendIncompatibilityError
from adopt._second_order import SecondOrder
from adopt.backends import AbstractBackend

__all__ = ["AutoSparse", "MixedMode", "GreedyColoring", "FORMATS"]

#: output formats of sparse Jacobians and Hessians
FORMATS = ("csr", "csc", "coo", "bcoo", "torch_csr", "torch_coo", "values", "dense")


@dataclass(frozen=True)
class GreedyColoring:
    """Greedy coloring settings for sparse Jacobians and Hessians.

    Parameters
    ----------
    order : str or tuple of str
        Vertex order: "natural", "largest_first", "smallest_last", "incidence_degree",
        "dynamic_largest_first", "random"; a tuple tries each and keeps the fewest colors (ties
        go to the first). Default: natural, largest-first and dynamic-largest-first for
        Jacobians (11 colors on the N = 32 Brusselator, where natural order gives 12); natural
        and largest-first for the costlier star and acyclic Hessian colorings.
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

    def orders(self, symmetric: bool) -> str | tuple[str, ...]:
        """The vertex orders tried for a Jacobian (``symmetric=False``) or a Hessian coloring."""
        if self.order is not None:
            return self.order
        if symmetric:
            return ("natural", "largest_first")
        return ("natural", "largest_first", "dynamic_largest_first")

    def __post_init__(self) -> None:
        if self.symmetric not in ("star", "acyclic"):
            raise ValueError(f"GreedyColoring: symmetric must be 'star' or 'acyclic'; got {self.symmetric!r}")


@dataclass(frozen=True)
class MixedMode:
    """Bidirectional sparse Jacobians: ``forward`` products for some columns and ``reverse``
    products for some rows, from a bicoloring. Use inside :class:`AutoSparse`; both backends
    must share a framework.

    Examples
    --------
    >>> import adopt
    >>> adopt.AutoSparse(adopt.MixedMode(adopt.AutoTorch(mode="forward"), adopt.AutoTorch(mode="reverse")))
    AutoSparse(dense=MixedMode(forward=AutoTorch(mode='forward'), reverse=AutoTorch(mode='reverse')), sparsity_detector=None, coloring=None, format=None, triangle=None)
    """

    forward: AbstractBackend
    reverse: AbstractBackend

    def parts(self) -> tuple[AbstractBackend, AbstractBackend]:
        """The wrapped backends."""
        return self.forward, self.reverse

    def __post_init__(self) -> None:
        if "pushforward" not in self.forward.primitives or "pullback" not in self.reverse.primitives:
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
