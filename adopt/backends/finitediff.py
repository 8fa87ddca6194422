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

    def check_input(self, operator: str, name: str, x: Any) -> None:
        if name != "x":
            return  # contexts are not differentiated
        dtype = str(getattr(x, "dtype", "float64")).replace("torch.", "")
        if dtype in ("float16", "bfloat16"):
            raise TypeError(
                f"{operator}: x is {dtype}; finite differences in half precision lose most "
                "digits (steps of eps**(1/3) ~ 0.1, errors of several percent): pass "
                "float32 or float64 input (x.astype(np.float64)), or use AutoJAX()/AutoTorch()")

    def wrap(self, fn: NativeFn) -> NativeFn:
        """The native function of ``f``: :class:`Batched` if the backend is ``vectorized``."""
        return Batched(fn) if self.backend.vectorized else fn

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

    def inplace(self, f: Callable[..., Any], y_shape: tuple[int, ...], y_dtype: Any) -> NativeFn:
        def fn(x: Any, *c: Any) -> Any:
            y = np.zeros(y_shape, dtype=np.result_type(y_dtype, x.dtype))
            f(y, x, *c)
            return y

        return fn

    # ---- steps ----------------------------------------------------------------------
    def rel_step(self, x: np.ndarray, nested: bool) -> float:
        order = (_NESTED_ORDER if nested else _ORDER)[self.backend.method]
        return self.backend.rel_step or float(np.finfo(x.dtype).eps) ** order

    def steps(self, x: np.ndarray, T: np.ndarray, nested: bool = False) -> np.ndarray:
        """One step per tangent: SciPy's rule ``rel * sign(x_m) * max(1, |x_m|)`` scaled by 1/max|t|.

        ``m`` is the index of the largest finite ``|x_i|`` on the tangent's support; for a unit
        tangent this is exactly :func:`scipy.optimize.approx_derivative`'s step. A non-finite
        ``x_m`` (inf or NaN in an entry ``f`` may ignore) takes the step of ``|x_m| = 1``, so the
        entries of ``f`` that do not read it get a zero derivative, not NaN.
        """
        k = T.shape[0]
        Tf, xf = T.reshape(k, -1), x.reshape(-1)
        absT = np.abs(Tf)
        tmax = absT.max(axis=1, initial=0.0)
        finite = np.isfinite(xf)
        m = np.argmax(np.where((absT > 0) & finite, np.abs(xf), -1.0), axis=1)
        xm, tm = xf[m], Tf[np.arange(k), m]
        h = self.rel_step(x, nested) * _unit_steps(xm) / np.where(tmax > 0, tmax, 1.0)
        if self.backend.method != "complex":
            tm = np.where(tm == 0, 1.0, tm)
            with np.errstate(invalid="ignore", over="ignore"):  # the displacement along x_m
                exact = ((xm + h * tm) - xm) / tm               # is exactly representable
            h = np.where(np.isfinite(exact) & (exact != 0), exact, h)
        return h.astype(x.dtype)

    def evaluate(self, fn: NativeFn, X: np.ndarray, cvals: tuple[Any, ...]) -> np.ndarray:
        """``f`` at each point of the batch ``X``: one call if ``fn`` takes batches, else one per point."""
        if isinstance(fn, Batched):
            return np.asarray(fn(X, *cvals))
        return np.stack([np.asarray(fn(xi, *cvals)) for xi in X]) if len(X) else \
            np.zeros((0,), dtype=X.dtype)

    # ---- primitive ------------------------------------------------------------------
    def value_and_pushforward(self, fn: NativeFn, nested: bool = False) -> NativeFn:
        method = self.backend.method

        def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any]:
            y = np.asarray(fn(x, *c))
            if T.shape[0] == 0 or x.size == 0:  # no tangents, or nothing to perturb
                return y, np.zeros((T.shape[0], *y.shape), dtype=np.result_type(y.dtype, x.dtype))
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

    # ---- native fast path -----------------------------------------------------------
    def value_and_jacobian(self, fn: NativeFn, nested: bool = False) -> NativeFn:
        """``(x, *c) -> (y, J)`` by perturbing one coordinate at a time, never forming a basis.

        Memory is O(n + m·n) for the Jacobian itself plus one perturbed point at a time (a
        chunk of points sized to :data:`CHUNK_BYTES` when ``f`` takes batches), as in
        :func:`scipy.optimize.approx_derivative`; steps are SciPy's, and the denominators are
        the exactly representable displacements.
        """
        method = self.backend.method

        def h(x: Any, *c: Any) -> tuple[Any, Any]:
            x = np.asarray(x)
            y = np.asarray(fn(x, *c))
            n, m = x.size, y.size
            dtype = np.result_type(y.dtype, x.dtype)
            J = np.empty((m, n), dtype=dtype)
            step = (self.rel_step(x, nested) * _unit_steps(x.reshape(-1))).astype(x.dtype)
            chunk = _chunk(fn, n, m, x.dtype)
            for start in range(0, n, chunk):
                idx = np.arange(start, min(n, start + chunk))
                J[:, idx] = self._columns(fn, x, y, idx, step[idx], method, c).T
            return y, J

        return h

    def _columns(self, fn: NativeFn, x: np.ndarray, y: np.ndarray, idx: np.ndarray,
                 step: np.ndarray, method: str, c: tuple[Any, ...]) -> np.ndarray:
        """Difference quotients along the unit vectors ``idx``: shape ``(len(idx), y.size)``."""
        k, xf = idx.size, x.reshape(-1)
        if method == "complex":
            return self._at(fn, x, idx, 1j * step, c).reshape(k, -1).imag / step[:, None]
        plus = _exact(xf[idx], step, xf[idx])
        if method == "forward":
            Y = self._at(fn, x, idx, plus, c)
            return (Y.reshape(k, -1) - y.reshape(-1)) / plus[:, None]
        minus = _exact(xf[idx], -step, xf[idx])
        with np.errstate(invalid="ignore", over="ignore"):
            width = np.where(np.isfinite(xf[idx]), (xf[idx] + plus) - (xf[idx] + minus), 2 * step)
        Y = self._at(fn, x, idx, plus, c) - self._at(fn, x, idx, minus, c)
        return Y.reshape(k, -1) / width[:, None]

    def _at(self, fn: NativeFn, x: np.ndarray, idx: np.ndarray, step: np.ndarray,
            c: tuple[Any, ...]) -> np.ndarray:
        """``f(x + step_i e_{idx_i})`` for each ``i``, stacked; one point in memory at a time
        unless ``fn`` takes batches (then one call for the chunk)."""
        dtype = np.result_type(x.dtype, step.dtype)
        if isinstance(fn, Batched):
            X = np.repeat(x.reshape(1, -1).astype(dtype), idx.size, axis=0)
            X[np.arange(idx.size), idx] += step
            return np.asarray(fn(X.reshape((idx.size, *x.shape)), *c))
        out = []
        for j, hj in zip(idx.tolist(), step.tolist()):
            xp = np.array(x, dtype=dtype)  # a fresh point (f may keep a reference to it)
            xp.reshape(-1)[j] += hj
            out.append(np.asarray(fn(xp, *c)))
        return np.stack(out)


class Batched:
    """A native function of a ``vectorized`` backend: ``f`` also takes a batch of points along a
    new leading axis (``(k, *x.shape) -> (k, *y.shape)``). Functions derived from it (a
    gradient inside a second-order composition) are plain functions, evaluated per point."""

    __slots__ = ("fn",)

    def __init__(self, fn: NativeFn) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


#: memory for the perturbed points and values of one chunk of a finite-difference Jacobian
CHUNK_BYTES = 32 * 2**20


def _chunk(fn: NativeFn, n: int, m: int, dtype: Any) -> int:
    per_point = (m + (n if isinstance(fn, Batched) else 0)) * 2 * np.dtype(dtype).itemsize
    return max(1, min(n, CHUNK_BYTES // max(per_point, 1)))


def _unit_steps(xf: np.ndarray) -> np.ndarray:
    """SciPy's unit step ``sign(x) * max(1, |x|)``; ``1`` where ``x`` is not finite."""
    finite = np.isfinite(xf)
    mag = np.where(finite, np.maximum(1.0, np.abs(np.where(finite, xf, 0.0))), 1.0)
    return np.where((xf >= 0) | ~finite, 1.0, -1.0) * mag


def _exact(x: np.ndarray, step: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The displacement ``(x + step) - x`` as floating point makes it (exact), where finite."""
    with np.errstate(invalid="ignore", over="ignore"):
        d = (x + step) - base
    return np.where(np.isfinite(d) & (d != 0), d, step)
