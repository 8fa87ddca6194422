"""Newton's method: for F(x) = 0 on ``jacobian``; for min f(x) on ``hessian`` or on ``hvp``.

Dense or sparse by the backend: with ``adopt.AutoSparse(...)`` the Jacobian or Hessian comes as
a SciPy sparse matrix (its pattern detected and colored once at preparation) and the Newton
system is solved by a sparse LU.

Examples
--------
>>> import numpy as np, adopt
>>> from adopt.problems.algorithms import newton, newton_minimize
>>> res = newton(lambda x: x**2 - np.array([4.0, 9.0]), adopt.AutoFiniteDiff(), np.ones(2))
>>> res.converged, np.round(res.x, 10)
(True, array([2., 3.]))
>>> f = lambda x: ((x - 3.0) ** 4).sum() + (x**2).sum()
>>> res = newton_minimize(f, adopt.AutoFiniteDiff(), np.zeros(2))
>>> res.converged
True
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

import adopt
from adopt.problems.algorithms._common import CountingFunction, Result, backtrack, nonfinite, sparse_lu
from adopt.problems.algorithms.krylov import truncated_cg

__all__ = ["newton", "newton_minimize", "newton_cg"]


def _solve(A: Any, b: np.ndarray) -> np.ndarray:
    """``A^{-1} b``: sparse LU for a SciPy sparse matrix, LU otherwise; the minimum-norm
    least-squares solution if A is numerically singular (dense)."""
    if sp.issparse(A):
        return sparse_lu(A).solve(b)
    try:
        return sla.solve(A, b, check_finite=False)
    except (np.linalg.LinAlgError, sla.LinAlgError):
        return np.linalg.lstsq(A, b, rcond=None)[0]


def newton(fun: Callable[..., Any], backend: Any, x0: np.ndarray, args: tuple = (), *,
           maxiter: int = 100, ftol: float = 1e-12, xtol: float = 1e-14) -> Result:
    """Newton's method with a backtracking line search for ``F(x) = 0``.

    ``J(x) s = -F(x)`` with ``F, J`` from one prepared ``value_and_jacobian``; the step length
    satisfies Armijo's condition on ½|F|² (whose slope along the Newton direction is -|F|²).
    Stops when ``max |F| <= ftol`` or the step is below ``xtol`` relative to ``|x|``.

    Dennis & Schnabel, *Numerical Methods for Unconstrained Optimization and Nonlinear
    Equations*, 1983, Alg. 6.5.1 (line search) and Sect. 6.5; Kelley, *Solving Nonlinear
    Equations with Newton's Method*, SIAM 2003, Ch. 1–2.
    """
    f, ctx = CountingFunction(fun), tuple(adopt.Constant(a) for a in args)
    x = np.array(x0, dtype=float)
    prep = adopt.prepare_jacobian(fun, backend, x, *ctx)
    F, J = adopt.value_and_jacobian(fun, backend, x, *ctx, prep=prep)
    history: list[float] = []
    for it in range(1, maxiter + 1):
        F = np.asarray(F, dtype=float)
        history.append(float(np.abs(F).max()))
        where = f"at iteration {it - 1}"
        if bad := nonfinite("F", F, where) or nonfinite("the Jacobian", J, where):
            return Result(x, False, bad, it - 1, f.calls, tuple(history))
        if history[-1] <= ftol:
            return Result(x, True, f"max |F| <= {ftol:g}", it - 1, f.calls, tuple(history))
        s = _solve(J, -F)
        ff = float(F @ F)
        a, _ = backtrack(lambda z: float(np.sum(f(z, *args) ** 2)), x, s, ff, -2.0 * ff)
        if a == 0.0:
            return Result(x, False, "the line search failed: no decrease of |F| along the Newton "
                                    "step", it, f.calls, tuple(history))
        x = x + a * s
        F, J = adopt.value_and_jacobian(fun, backend, x, *ctx, prep=prep)
        if a * np.abs(s).max() <= xtol * (np.abs(x).max() + xtol):
            history.append(float(np.abs(F).max()))
            return Result(x, True, f"step below xtol = {xtol:g} relative", it, f.calls, tuple(history))
    return Result(x, False, f"maximum number of iterations ({maxiter}) reached", maxiter, f.calls,
                  tuple(history))


def _small(p: np.ndarray, x: np.ndarray, xtol: float) -> bool:
    return bool(np.abs(p).max() <= xtol * (np.abs(x).max() + xtol))


def _modified_newton_step(H: Any, g: np.ndarray) -> np.ndarray:
    """Solve ``(H + tau I) p = -g`` with the smallest tau in 0, 1e-3, 2e-3, ... for which the
    factorisation succeeds and gives descent: Cholesky with an added multiple of the identity
    (Nocedal & Wright Alg. 3.3; sparse: LU, and descent as the test)."""
    scale = float(abs(H).max()) if sp.issparse(H) else float(np.abs(H).max())
    tau, eye = 0.0, (sp.eye_array(g.size, format="csc") if sp.issparse(H) else np.eye(g.size))
    while True:
        A = H + tau * eye
        try:
            p = sparse_lu(A).solve(-g) if sp.issparse(H) else sla.cho_solve(sla.cho_factor(A), -g)
            if np.all(np.isfinite(p)) and p @ g < 0:
                return p
        except (np.linalg.LinAlgError, sla.LinAlgError, RuntimeError):
            pass
        tau = max(2 * tau, 1e-3 * max(scale, 1.0))


def newton_minimize(fun: Callable[..., Any], backend: Any, x0: np.ndarray, args: tuple = (), *,
                    maxiter: int = 200, gtol: float = 1e-10, xtol: float = 1e-14) -> Result:
    """Newton's method with exact Hessians and an Armijo line search, for ``min f(x)``.

    ``f, g`` from a prepared ``value_and_gradient``, ``H`` from a prepared ``hessian``
    (dense, or sparse with ``AutoSparse``), modified to be positive definite where it is not.
    Stops when ``max |g| <= gtol (1 + |f|)``, or when the Newton step is below ``xtol`` relative
    to ``|x|`` (the gradient's own rounding can exceed ``gtol`` at a minimiser).

    Nocedal & Wright, *Numerical Optimization*, 2nd ed., Sect. 3.4 (Alg. 3.2 with 3.3).
    """
    f, ctx = CountingFunction(fun), tuple(adopt.Constant(a) for a in args)
    x = np.array(x0, dtype=float)
    pg = adopt.prepare_gradient(fun, backend, x, *ctx)
    ph = adopt.prepare_hessian(fun, backend, x, *ctx)
    history: list[float] = []
    for it in range(1, maxiter + 1):
        v, g = adopt.value_and_gradient(fun, backend, x, *ctx, prep=pg)
        v, g = float(v), np.asarray(g, dtype=float)
        history.append(float(np.abs(g).max()))
        if bad := nonfinite("f or its gradient", np.append(g, v), f"at iteration {it - 1}"):
            return Result(x, False, bad, it - 1, f.calls, tuple(history))
        if history[-1] <= gtol * (1 + abs(v)):
            return Result(x, True, f"max |gradient| <= {gtol:g} (1 + |f|)", it - 1, f.calls, tuple(history))
        H = adopt.hessian(fun, backend, x, *ctx, prep=ph)
        if bad := nonfinite("the Hessian", H, f"at iteration {it}"):
            return Result(x, False, bad, it - 1, f.calls, tuple(history))
        p = _modified_newton_step(H, g)
        if _small(p, x, xtol):
            return Result(x, True, f"Newton step below xtol = {xtol:g} relative", it - 1, f.calls,
                          tuple(history))
        a, _ = backtrack(lambda z: float(f(z, *args)), x, p, v, float(g @ p))
        if a == 0.0:
            return Result(x, False, "the line search failed: no decrease along the Newton step",
                          it, f.calls, tuple(history))
        x = x + a * p
    return Result(x, False, f"maximum number of iterations ({maxiter}) reached", maxiter, f.calls,
                  tuple(history))


def newton_cg(fun: Callable[..., Any], backend: Any, x0: np.ndarray, args: tuple = (), *,
              maxiter: int = 200, gtol: float = 1e-10, xtol: float = 1e-14) -> Result:
    """Line-search Newton–CG (truncated Newton) for ``min f(x)``, Hessian-free.

    The Newton equation ``H p = -g`` is solved by CG on Hessian-vector products (a prepared
    ``hvp``) to the relative tolerance ``min(0.5, sqrt|g|)``, stopping at negative curvature;
    ``f, g`` come from a prepared ``value_and_gradient``. Stops when ``max |g| <= gtol (1 + |f|)``
    or the step is below ``xtol`` relative to ``|x|``.

    Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.1; Dembo & Steihaug,
    "Truncated-Newton algorithms for large-scale unconstrained optimization", Math. Prog. 26, 1983.
    """
    f, ctx = CountingFunction(fun), tuple(adopt.Constant(a) for a in args)
    x = np.array(x0, dtype=float)
    pg = adopt.prepare_gradient(fun, backend, x, *ctx)
    ph = adopt.prepare_hvp(fun, backend, x, (x,), *ctx)
    history: list[float] = []
    ncg = 0
    for it in range(1, maxiter + 1):
        v, g = adopt.value_and_gradient(fun, backend, x, *ctx, prep=pg)
        v, g = float(v), np.asarray(g, dtype=float)
        history.append(float(np.abs(g).max()))
        if bad := nonfinite("f or its gradient", np.append(g, v), f"at iteration {it - 1}"):
            return Result(x, False, bad, it - 1, f.calls, tuple(history), {"cg_iterations": ncg})
        if history[-1] <= gtol * (1 + abs(v)):
            return Result(x, True, f"max |gradient| <= {gtol:g} (1 + |f|)", it - 1, f.calls,
                          tuple(history), {"cg_iterations": ncg})
        xk = x
        B = lambda d: np.asarray(adopt.hvp(fun, backend, xk, (d,), *ctx, prep=ph)[0])  # noqa: E731
        p, inner = truncated_cg(B, g, rtol=min(0.5, float(np.sqrt(np.linalg.norm(g)))))
        ncg += inner
        if _small(p, x, xtol):
            return Result(x, True, f"Newton–CG step below xtol = {xtol:g} relative", it - 1, f.calls,
                          tuple(history), {"cg_iterations": ncg})
        a, _ = backtrack(lambda z: float(f(z, *args)), x, p, v, float(g @ p))
        if a == 0.0:
            return Result(x, False, "the line search failed: no decrease along the Newton–CG step",
                          it, f.calls, tuple(history), {"cg_iterations": ncg})
        x = x + a * p
    return Result(x, False, f"maximum number of iterations ({maxiter}) reached", maxiter, f.calls,
                  tuple(history), {"cg_iterations": ncg})
