"""AutoFiniteDiff implementation: forward, central and complex-step differences in NumPy.

``f`` is a black box here: it is called with arrays of the kind the user passed (NumPy,
torch or JAX) and its output is read back as NumPy.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import numpy as np

from adopt.backends._base import BackendImpl, NativeFn

_ORDER = {"forward": 1 / 2, "central": 1 / 3, "complex": 1 / 2}
# Inside a second-order composition the rounding error of the inner differences is divided by
# the outer step too, so both steps grow: eps**(1/3) for forward, eps**(1/4) for central.
_NESTED_ORDER = {"forward": 1 / 3, "central": 1 / 4, "complex": 1 / 2}


class FiniteDiffImpl(BackendImpl):
    """Finite differences; a batch of tangents is perturbed in one vectorised operation."""

    kind: ClassVar[str] = "numpy"
    native: ClassVar[frozenset[str]] = frozenset()

    def check_input(self, operator: str, name: str, x: Any) -> None:
        return None

    def probe(self, fn: NativeFn, x: Any, cvals: tuple[Any, ...], operator: str) -> Any:
        return fn(x, *cvals)

    def eye(self, n: int, like: Any) -> Any:
        return np.eye(n, dtype=like.dtype)

    def ones(self, shape: tuple[int, ...], like: Any) -> Any:
        return np.ones(shape, dtype=like.dtype)

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        return np.zeros(shape, dtype=like.dtype)

    def stack(self, arrays: tuple[Any, ...]) -> Any:
        return np.stack(arrays)

    def matmul(self, a: Any, b: Any) -> Any:
        return a @ b

    def index(self, a: Any) -> Any:
        return a

    def segment_sum(self, values: Any, segments: Any, size: int) -> Any:
        return np.bincount(segments, weights=values, minlength=size).astype(values.dtype, copy=False)

    def prefix_sum(self, a: Any) -> Any:
        out = np.zeros(a.size + 1, dtype=a.dtype)
        np.cumsum(a, out=out[1:])
        return out

    def inplace(self, f: Callable[..., Any], y_shape: tuple[int, ...], y_dtype: Any) -> NativeFn:
        def fn(x: Any, *c: Any) -> Any:
            y = np.zeros(y_shape, dtype=np.result_type(y_dtype, x.dtype))
            f(y, x, *c)
            return y

        return fn

    # ---- steps ----------------------------------------------------------------------
    def steps(self, x: np.ndarray, T: np.ndarray, nested: bool = False) -> np.ndarray:
        """One step per tangent: SciPy's rule ``rel * sign(x_m) * max(1, |x_m|)`` scaled by 1/max|t|.

        ``m`` is the index of the largest ``|x_i|`` on the tangent's support; for a unit
        tangent this is exactly :func:`scipy.optimize.approx_derivative`'s step.
        """
        method = self.backend.method
        order = (_NESTED_ORDER if nested else _ORDER)[method]
        rel = self.backend.rel_step or np.finfo(x.dtype).eps ** order
        k = T.shape[0]
        Tf, xf = T.reshape(k, -1), x.reshape(-1)
        absT = np.abs(Tf)
        tmax = absT.max(axis=1, initial=0.0)
        m = np.argmax(np.where(absT > 0, np.abs(xf), -1.0), axis=1)
        xm, tm = xf[m], Tf[np.arange(k), m]
        h = rel * np.where(xm >= 0, 1.0, -1.0) * np.maximum(1.0, np.abs(xm)) / np.where(tmax > 0, tmax, 1.0)
        if method != "complex":
            tm = np.where(tm == 0, 1.0, tm)
            h = ((xm + h * tm) - xm) / tm  # the displacement along x_m is exactly representable
        return h.astype(x.dtype)

    def evaluate(self, fn: NativeFn, X: np.ndarray, cvals: tuple[Any, ...]) -> np.ndarray:
        """``f`` at each point of the batch ``X`` (one call if the backend is vectorized)."""
        if self.backend.vectorized:
            return np.asarray(fn(X, *cvals))
        return np.stack([np.asarray(fn(xi, *cvals)) for xi in X])

    # ---- primitive ------------------------------------------------------------------
    def value_and_pushforward(self, fn: NativeFn, nested: bool = False) -> NativeFn:
        method = self.backend.method

        def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any]:
            y = np.asarray(fn(x, *c))
            steps = self.steps(x, T, nested).reshape((-1,) + (1,) * x.ndim)
            ysteps = steps.reshape((-1,) + (1,) * y.ndim)
            if method == "forward":
                TY = (self.evaluate(fn, x + steps * T, c) - y) / ysteps
            elif method == "central":
                TY = (self.evaluate(fn, x + steps * T, c) - self.evaluate(fn, x - steps * T, c)) / (2 * ysteps)
            else:
                TY = self.evaluate(fn, x + 1j * steps * T, c).imag / ysteps
            return y, TY.astype(np.result_type(y.dtype, x.dtype), copy=False)

        return h

