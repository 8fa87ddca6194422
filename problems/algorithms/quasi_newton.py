"""L-BFGS for ``min f(x)`` on ``gradient`` alone: the quasi-Newton method of model training."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import adopt
from adopt.problems.algorithms._common import Result, nonfinite

__all__ = ["lbfgs"]


def _direction(g: np.ndarray, S: list[np.ndarray], Y: list[np.ndarray]) -> np.ndarray:
    """``-H g`` by the two-loop recursion, H the L-BFGS inverse-Hessian approximation from the
    pairs (s, y), scaled by ``s.y / y.y`` of the newest pair (Nocedal & Wright Alg. 7.4, (7.20))."""
    q, alphas = g.copy(), []
    for s, y in zip(reversed(S), reversed(Y)):
        a = float(s @ q) / float(y @ s)
        alphas.append(a)
        q -= a * y
    r = q * (float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1]) if S else 1.0 / max(1.0, np.abs(g).max()))
    for s, y, a in zip(S, Y, reversed(alphas)):
        r += s * (a - float(y @ r) / float(y @ s))
    return -r


def lbfgs(fun: Callable[..., Any], backend: Any, x0: np.ndarray, args: tuple = (), *,
          memory: int = 10, maxiter: int = 5000, gtol: float = 1e-10) -> Result:
    """Limited-memory BFGS with a backtracking (Armijo) line search, for ``min f(x)``.

    Value and gradient come from one prepared ``value_and_gradient``, at every trial point of
    the line search too (so the accepted trial's gradient is reused). The ``memory`` newest
    pairs ``s = x+ - x``, ``y = g+ - g`` build the inverse-Hessian approximation; a pair
    without positive curvature (possible with an Armijo-only search) is skipped, which keeps it
    positive definite. Stops when ``max |g| <= gtol (1 + |f|)``.

    Liu & Nocedal, "On the limited memory BFGS method for large scale optimization", Math.
    Prog. 45, 1989; Nocedal & Wright, *Numerical Optimization*, 2nd ed., Sect. 7.2 (Alg. 7.4,
    7.5) and Sect. 3.1 (Armijo).

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.problems.algorithms import lbfgs
    >>> f = lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    >>> res = lbfgs(f, adopt.AutoFiniteDiff(), np.array([-1.2, 1.0]), gtol=1e-6)
    >>> res.converged, np.round(res.x, 6)
    (True, array([1., 1.]))
    """
    ctx = tuple(adopt.Constant(a) for a in args)
    x = np.array(x0, dtype=float)
    prep = adopt.prepare_gradient(fun, backend, x, *ctx)

    def value_and_gradient(z: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = adopt.value_and_gradient(fun, backend, z, *ctx, prep=prep)
        return float(v), np.asarray(g, dtype=float)

    v, g = value_and_gradient(x)
    S: list[np.ndarray] = []
    Y: list[np.ndarray] = []
    history, nfev = [float(np.abs(g).max())], 1
    for it in range(1, maxiter + 1):
        if bad := nonfinite("f or its gradient", np.append(g, v), f"at iteration {it - 1}"):
            return Result(x, False, bad, it - 1, nfev, tuple(history))
        if history[-1] <= gtol * (1 + abs(v)):
            return Result(x, True, f"max |gradient| <= {gtol:g} (1 + |f|)", it - 1, nfev, tuple(history))
        p = _direction(g, S, Y)
        slope, a = float(g @ p), 1.0
        while True:
            v_new, g_new = value_and_gradient(x + a * p)
            nfev += 1
            if np.isfinite(v_new) and v_new <= v + 1e-4 * a * slope:
                break
            a *= 0.5
            if a < 1e-12:
                return Result(x, False, "the line search failed: no decrease along the L-BFGS "
                                        "direction", it, nfev, tuple(history))
        s, y = a * p, g_new - g
        if float(s @ y) > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
            S, Y = [*S, s][-memory:], [*Y, y][-memory:]
        x, v, g = x + s, v_new, g_new
        history.append(float(np.abs(g).max()))
    return Result(x, False, f"maximum number of iterations ({maxiter}) reached", maxiter, nfev,
                  tuple(history))
