"""AutoJAX implementation: the only module of adopt that imports jax."""

from __future__ import annotations

from typing import Any, ClassVar

from adopt._errors import BackendIncompatibilityError, MissingDependencyError, PrecisionError
from adopt.backends._base import BackendImpl, NativeFn, SamePoint, foreign_framework

try:
    import jax
    import jax.numpy as jnp
except ImportError as e:  # pragma: no cover - exercised when jax is absent
    raise MissingDependencyError(
        "AutoJAX needs jax: pip install 'adopt[jax]' (or pip install jax)"
    ) from e

_X64_HINT = (
    "enable JAX's 64-bit mode first with jax.config.update('jax_enable_x64', True) "
    "(or the environment variable JAX_ENABLE_X64=1); adopt never flips it for you. "
    "Or pass float32 input if float32 is what you want."
)


def _product(h: NativeFn, head: bool) -> NativeFn:
    """``h`` (the pair) with the head, else the product alone: traced under ``jax.jit``, the pick
    costs nothing at run time."""
    return h if head else (lambda x, t, *c: h(x, t, *c)[1])


class JaxImpl(BackendImpl):
    """JAX transforms on native functions; every prepared function is one ``jax.jit``."""

    kind: ClassVar[str] = "jax"

    compiles: ClassVar[bool] = True

    def check_input(self, operator: str, name: str, x: Any) -> None:
        dtype = "float64" if isinstance(x, float) else str(getattr(x, "dtype", ""))
        if dtype.replace("torch.", "") == "float64" and not jax.config.jax_enable_x64:
            raise PrecisionError(
                f"{operator}: {name} is float64 but JAX's x64 mode is off, "
                f"so JAX would silently compute in float32; {_X64_HINT}"
            )

    def compile(self, fn: NativeFn, static: tuple[int, ...] = ()) -> NativeFn:
        return jax.jit(fn, static_argnums=static)

    def exact(self, compiled: NativeFn, *args: Any) -> NativeFn:
        """The ahead-of-time executable of the jitted ``compiled`` at ``args``.

        It raises TypeError (other shapes or dtypes) or ValueError (other devices) without
        tracing, where ``jax.jit`` would retrace ``f``. Its call is the C++ dispatch path the
        first call builds (``Compiled._call``; ``Compiled.__call__`` is a Python frame around it).
        """
        aot = compiled.lower(*args).compile()
        aot(*args)
        call = getattr(aot, "_call", None)
        return call if callable(call) else aot

    def probe(self, fn: NativeFn, x: Any, cvals: tuple[Any, ...], operator: str) -> Any:
        """Trace ``fn`` abstractly at ``x``: its output shape and dtype, nothing computed."""
        try:
            return jax.eval_shape(fn, x, *cvals)
        except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError,
                jax.errors.TracerBoolConversionError) as e:
            raise BackendIncompatibilityError(
                f"{operator}: JAX cannot trace f ({type(e).__name__}): f "
                "probably calls NumPy or branches on the values of x. Write f with jax.numpy "
                "(or the array API), or use AutoFiniteDiff(), or wrap the NumPy part in "
                "adopt.DifferentiateWith(part, AutoFiniteDiff())"
            ) from e
        except TypeError as e:
            if foreign_framework(e) != "torch":
                raise
            raise BackendIncompatibilityError(
                f"{operator}: f is a PyTorch function (it called torch on a JAX array); use "
                "AutoTorch() with a torch.Tensor x, or write f with jax.numpy (or the array "
                "API), or wrap it in adopt.DifferentiateWith(f, AutoTorch())") from e

    def eye(self, n: int, like: Any) -> Any:
        return jnp.eye(n, dtype=like.dtype)

    def ones(self, shape: tuple[int, ...], like: Any) -> Any:
        return jnp.ones(shape, dtype=like.dtype)

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        return jnp.zeros(shape, dtype=like.dtype)

    def stack(self, arrays: tuple[Any, ...]) -> Any:
        return jnp.stack(arrays)

    def matmul(self, a: Any, b: Any) -> Any:
        return a @ b

    # ---- primitives -----------------------------------------------------------------
    def value_and_pushforward(self, fn: NativeFn, nested: bool = False) -> NativeFn:
        def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any]:
            y, lin = jax.linearize(lambda x_: fn(x_, *c), x)
            return y, jax.vmap(lin)(T)

        return h

    def value_and_pullback(self, fn: NativeFn, nested: bool = False) -> NativeFn:
        def h(x: Any, TY: Any, *c: Any) -> tuple[Any, Any]:
            y, vjp = jax.vjp(lambda x_: fn(x_, *c), x)
            return y, jax.vmap(lambda t: vjp(t)[0])(TY)

        return h

    # ---- native fast paths ----------------------------------------------------------
    # One tangent: jax.jvp / jax.vjp themselves, what a user would jit. XLA runs them ~2x faster
    # than a linearisation vmapped over a batch of one at small n (fewer, fused kernels).
    def pushforward_one(self, fn: NativeFn, head: bool) -> NativeFn:
        return _product(lambda x, t, *c: jax.jvp(lambda x_: fn(x_, *c), (x,), (t,)), head)

    def pullback_one(self, fn: NativeFn, head: bool) -> NativeFn:
        def h(x: Any, ty: Any, *c: Any) -> tuple[Any, Any]:
            y, vjp = jax.vjp(lambda x_: fn(x_, *c), x)
            return y, vjp(ty)[0]

        return _product(h, head)

    def hvp_one(self, fn: NativeFn, head: bool) -> NativeFn:
        grad = jax.grad(fn)
        return _product(lambda x, t, *c: jax.jvp(lambda x_: grad(x_, *c), (x,), (t,)), head)

    def value_and_gradient(self, fn: NativeFn, nested: bool = False) -> NativeFn:
        return jax.value_and_grad(fn)

    def gradient_and_hvp(self, fn: NativeFn) -> NativeFn:
        grad = jax.grad(fn)

        def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any]:
            g, lin = jax.linearize(lambda x_: grad(x_, *c), x)
            return g, jax.vmap(lin)(T)

        return h

    def value_gradient_and_hvp(self, fn: NativeFn) -> NativeFn:
        vg = jax.value_and_grad(fn)

        def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any, Any]:
            (y, g), lin = jax.linearize(lambda x_: vg(x_, *c), x)
            return y, g, jax.vmap(lambda t: lin(t)[1])(T)

        return h

    def value_gradient_and_hessian(self, fn: NativeFn) -> NativeFn:
        vg = jax.value_and_grad(fn)

        def h(x: Any, *c: Any) -> tuple[Any, Any, Any]:
            def g_aux(x_: Any) -> tuple[Any, Any]:
                y, g = vg(x_, *c)
                return g, (y, g)

            H, (y, g) = jax.jacfwd(g_aux, has_aux=True)(x)
            return y, g, H.reshape(x.size, x.size)

        return h

    def pushforward_at(self, fn: NativeFn) -> SamePoint:
        lin = jax.jit(lambda x, *c: jax.linearize(lambda x_: fn(x_, *c), x))
        return SamePoint(lin, _APPLY_LINEAR)

    def pullback_at(self, fn: NativeFn) -> SamePoint:
        vjp = jax.jit(lambda x, *c: jax.vjp(lambda x_: fn(x_, *c), x))
        return SamePoint(vjp, _APPLY_VJP)

    def hvp_at(self, fn: NativeFn) -> SamePoint:
        grad = jax.grad(fn)
        lin = jax.jit(lambda x, *c: jax.linearize(lambda x_: grad(x_, *c), x))
        return SamePoint(lin, _APPLY_LINEAR)


# The linear maps of jax.linearize and jax.vjp are pytrees of their residuals: one compiled
# apply serves every point (and every prep of the same shapes), with no retrace.
_APPLY_LINEAR = jax.jit(lambda lin, T: jax.vmap(lin)(T))
_APPLY_VJP = jax.jit(lambda vjp, TY: jax.vmap(lambda t: vjp(t)[0])(TY))
