"""The backend contract: light backend descriptors and the implementation interface.

A backend descriptor (``AutoJAX()``, ``AutoTorch()``, ``AutoFiniteDiff()``) is a frozen
dataclass that imports nothing. ``impl()`` imports the framework lazily and returns a
:class:`BackendImpl`, which implements the primitives the framework is good at on *native*
functions ``fn(x, *context_values) -> y`` over the framework's own arrays. Optional fast paths
are methods with a default that returns ``None`` ("not here"); every operator a backend has no
fast path for is derived from its primitives once, in ``adopt.operators``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

__all__ = ["AbstractBackend", "BackendImpl", "NativeFn", "SamePoint", "foreign_framework"]

NativeFn = Callable[..., Any]


class AbstractBackend(ABC):
    """A differentiation backend: what to differentiate with.

    Subclasses are frozen dataclasses; the fields are the backend's settings.
    """

    #: the array framework the backend evaluates ``f`` with: "jax", "torch" or "numpy"
    framework: ClassVar[str]
    #: which primitives the implementation has: forward (value_and_pushforward) and reverse
    #: (value_and_pullback) mode; at least one
    has_pushforward: ClassVar[bool]
    has_pullback: ClassVar[bool]
    #: whether f may be in-place, f(y, x, *contexts)
    supports_inplace: ClassVar[bool]
    #: whether this backend can differentiate through another backend's code (black box)
    black_box: ClassVar[bool]
    #: cost of one forward product relative to one reverse product (sparse Jacobians choose
    #: forward mode when colors(columns) * forward_cost <= colors(rows))
    forward_cost: ClassVar[float] = 1.0
    #: pip extra that provides the framework, for install hints
    extra: ClassVar[str]

    @abstractmethod
    def impl(self) -> "BackendImpl":
        """Import the framework and return the implementation (raises MissingDependencyError)."""

    @property
    def name(self) -> str:
        return repr(self)


@dataclass(frozen=True)
class SamePoint:
    """A linearisation at one point, in two halves compiled once and reused at every point.

    ``at(x, *c) -> (head, state)`` linearises (``head`` is f(x), or the gradient for HVPs);
    ``apply(state, T) -> stacked results`` applies it to a batch of tangents. A same-point prep
    made with ``prep=`` an earlier one reuses both, so a new point costs one ``at``.
    """

    at: Callable[..., Any]
    apply: Callable[[Any, Any], Any]


class BackendImpl(ABC):
    """Implementation of a backend over its framework's native arrays.

    Tangents are stacked along a new leading axis: a batch of ``k`` tangents of ``x`` has shape
    ``(k, *x.shape)``, and one call transforms the whole batch.
    """

    #: the array kind the implementation computes with ("jax", "torch" or "numpy")
    kind: ClassVar[str]
    #: whether ``compile`` compiles (then preparation runs each compiled function once)
    compiles: ClassVar[bool] = False

    def __init__(self, backend: AbstractBackend) -> None:
        self.backend = backend

    # ---- array handling -------------------------------------------------------------
    @abstractmethod
    def check_input(self, operator: str, name: str, x: Any) -> None:
        """Raise if ``x`` cannot be differentiated in its dtype (e.g. float64 without x64)."""

    def wrap(self, fn: NativeFn) -> NativeFn:
        """The native function of the user's ``f`` as the backend wants it (identity by default)."""
        return fn

    def compile(self, fn: NativeFn, static: tuple[int, ...] = ()) -> NativeFn:
        """Compile a native function once at preparation (jax.jit); identity elsewhere."""
        return fn

    def exact(self, compiled: NativeFn, *args: Any) -> NativeFn | None:
        """``compiled`` made for exactly the argument types of ``args`` (shapes, dtypes, devices)
        and run once on them. It refuses other arguments with an error, without tracing or
        compiling, so a strict prep may check a call while it computes. ``None`` where the
        backend cannot (then the check must come before the call)."""
        return None

    def captures(self, cvals: tuple[Any, ...]) -> bool:
        """Whether :meth:`capture` may capture a function taking these context values."""
        return False

    def capture(self, fn: NativeFn, *args: Any) -> NativeFn | None:
        """``fn`` captured once as a graph at ``args``, for a structure known to be static
        (sparse preps); ``None`` where the backend has nothing faster than calling ``fn``."""
        return None

    @abstractmethod
    def eye(self, n: int, like: Any) -> Any:
        """The ``(n, n)`` identity in ``like``'s dtype."""

    @abstractmethod
    def ones(self, shape: tuple[int, ...], like: Any) -> Any:
        """Ones of ``shape`` in ``like``'s dtype."""

    @abstractmethod
    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        """Zeros of ``shape`` in ``like``'s dtype."""

    @abstractmethod
    def stack(self, arrays: tuple[Any, ...]) -> Any:
        """Stack arrays along a new leading axis."""

    @abstractmethod
    def matmul(self, a: Any, b: Any) -> Any:
        """Matrix product."""

    def inplace(self, f: Callable[..., Any], y_shape: tuple[int, ...], y_dtype: Any) -> NativeFn:
        """Turn an in-place ``f(y, x, *c)`` into an out-of-place native function."""
        raise NotImplementedError  # only reached for backends with supports_inplace

    # ---- optional fast paths (None: derive the operator from the primitives) ---------------
    def value_and_gradient(self, fn: NativeFn, nested: bool = False) -> NativeFn | None:
        """``(x, *c) -> (y, g)`` for a scalar ``fn``."""
        return None

    def value_and_jacobian(self, fn: NativeFn, nested: bool = False) -> NativeFn | None:
        """``(x, *c) -> (y, J)`` without a basis of tangents (finite differences: column by column)."""
        return None

    def pushforward_one(self, fn: NativeFn, head: bool) -> NativeFn | None:
        """``(x, t, *c) -> (y, ty)`` for one unbatched tangent (``ty`` alone with
        ``head=False``), where a batch of one costs more (eager frameworks stack; XLA fuses a
        plain ``jvp`` better than a vmapped one); None where the batched primitive is as fast."""
        return None

    def pullback_one(self, fn: NativeFn, head: bool) -> NativeFn | None:
        """``(x, ty, *c) -> (y, tx)`` for one unbatched cotangent; see pushforward_one."""
        return None

    def gradient_and_hvp(self, fn: NativeFn) -> NativeFn | None:
        """``(x, T, *c) -> (g, HT)`` in the backend's best combination."""
        return None

    def hvp_one(self, fn: NativeFn, head: bool) -> NativeFn | None:
        """``(x, t, *c) -> (g, ht)`` for one unbatched tangent; see pushforward_one."""
        return None

    def value_gradient_and_hvp(self, fn: NativeFn) -> NativeFn | None:
        """``(x, T, *c) -> (y, g, HT)`` from one linearisation."""
        return None

    def value_gradient_and_hessian(self, fn: NativeFn) -> NativeFn | None:
        """``(x, *c) -> (y, g, H)`` with ``H`` of shape ``(n, n)``."""
        return None

    def derivative_and_second(self, fn: NativeFn, generic: NativeFn) -> NativeFn | None:
        """``(x, *c) -> (y, d, dd)`` at a scalar ``x``; ``generic`` is the derived ``(d, dd)``."""
        return None

    # ---- optional: linearisations for same-point preps (None: use the generic prep) ----
    def pushforward_at(self, fn: NativeFn) -> SamePoint | None:
        """JVPs at a fixed point for the cost of applying a linear map (``jax.linearize``)."""
        return None

    def pullback_at(self, fn: NativeFn) -> SamePoint | None:
        """VJPs at a fixed point for the cost of a backward pass (a recorded reverse pass)."""
        return None

    def hvp_at(self, fn: NativeFn) -> SamePoint | None:
        """HVPs at a fixed point for the cost of the second-order pass alone."""
        return None

    # ---- primitives (on native functions) --------------------------------------------
    def value_and_pushforward(self, fn: NativeFn) -> NativeFn:
        """``h(x, T, *c) -> (y, TY)`` with ``T`` of shape ``(k, *x.shape)``."""
        raise NotImplementedError  # only called when backend.has_pushforward

    def value_and_pullback(self, fn: NativeFn) -> NativeFn:
        """``h(x, TY, *c) -> (y, TX)`` with ``TY`` of shape ``(k, *y.shape)``."""
        raise NotImplementedError  # only called when backend.has_pullback


def foreign_framework(e: BaseException) -> str | None:
    """The framework (``"jax"`` or ``"torch"``) whose code raised ``e``, judged from the
    traceback's modules and the message; used to tell a user that ``f`` belongs to another
    backend. ``None`` if neither shows."""
    tb, innermost = e.__traceback__, None
    while tb is not None:  # the innermost frame of either framework raised it
        root = str(tb.tb_frame.f_globals.get("__name__", "")).split(".", 1)[0]
        if root in ("jax", "jaxlib", "torch"):
            innermost = "torch" if root == "torch" else "jax"
        elif root != "adopt":
            innermost = None  # user code after the framework's frames
        tb = tb.tb_next
    msg = str(e)
    if "Tensor" in msg and "Tracer" in msg:  # a torch builtin (no Python frame) got a JAX tracer
        return "torch"
    return innermost
