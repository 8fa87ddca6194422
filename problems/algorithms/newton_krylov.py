"""Jacobian-free Newton–Krylov: GMRES on Jacobian-vector products from ``pushforward``."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import adopt
from adopt.problems.algorithms._common import CountingFunction, Result, backtrack, nonfinite
from adopt.problems.algorithms.krylov import gmres

__all__ = ["newton_krylov"]


def _forcing(eta: float, fnorm: float, fnorm_old: float, ftol: float, gamma: float = 0.9,
             eta_max: float = 0.9) -> float:
    """Eisenstat–Walker "choice 2" with Kelley's safeguards: eta = gamma (|F|/|F_old|)², kept
    from falling fast (>= gamma eta_old² when that is > 0.1) and from over-solving near the
    end (>= 0.5 ftol / |F|)."""
    new = gamma * (fnorm / fnorm_old) ** 2
    if gamma * eta**2 > 0.1:
        new = max(new, gamma * eta**2)
    return float(min(eta_max, max(new, 0.5 * ftol / fnorm)))


def newton_krylov(fun: Callable[..., Any], backend: Any, x0: np.ndarray, args: tuple = (), *,
                  precondition: Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]] | None = None,
                  maxiter: int = 100, ftol: float = 1e-10, restart: int = 50,
                  max_krylov: int = 2000) -> Result:
    """Solve ``F(x) = 0`` by inexact Newton steps from GMRES on ``J v = pushforward(F, x, v)``.

    Every Newton step linearises F once: ``prepare_pushforward_same_point`` at the iterate
    (``jax.linearize`` / ``torch.func.linearize`` where the backend has it), then each GMRES
    iteration is one prepared pushforward. The inner tolerance is Eisenstat and Walker's
    forcing term, so early steps are solved loosely and late ones tightly; a backtracking line
    search on |F| globalises. Stops when ``|F| <= ftol |F(x0)|`` (2-norms).

    ``precondition(x)`` may return ``v -> M v`` with M an approximate inverse Jacobian (right
    preconditioning: GMRES's residual stays the true one).

    Knoll & Keyes, "Jacobian-free Newton–Krylov methods: a survey of approaches and
    applications", J. Comput. Phys. 193, 2004; Eisenstat & Walker, "Choosing the forcing terms
    in an inexact Newton method", SIAM J. Sci. Comput. 17, 1996; Kelley, *Solving Nonlinear
    Equations with Newton's Method*, SIAM 2003, Ch. 3 (``nsoli``).

    Examples
    --------
    >>> import numpy as np, adopt
    >>> F = lambda x: np.array([x[0] + 0.5 * x[1] - 1.0, 0.5 * (x[1] - x[0]) ** 2])
    >>> res = newton_krylov(F, adopt.AutoFiniteDiff(), np.zeros(2))
    >>> res.converged, bool(np.abs(F(res.x)).max() < 1e-10)
    (True, True)
    """
    f, ctx = CountingFunction(fun), tuple(adopt.Constant(a) for a in args)
    x = np.array(x0, dtype=float)
    F = f(x, *args)
    fnorm0 = fnorm = float(np.linalg.norm(F))
    history, eta, nkrylov = [fnorm], 0.5, 0
    for it in range(1, maxiter + 1):
        if bad := nonfinite("F", F, f"at iteration {it - 1}"):
            return Result(x, False, bad, it - 1, f.calls, tuple(history), {"krylov": nkrylov})
        if fnorm <= ftol * fnorm0:
            return Result(x, True, f"|F| <= {ftol:g} |F(x0)|", it - 1, f.calls, tuple(history),
                          {"krylov": nkrylov})
        prep = adopt.prepare_pushforward_same_point(fun, backend, x, (x,), *ctx)
        xk = x
        J = lambda v: np.asarray(adopt.pushforward(fun, backend, xk, (v,), *ctx, prep=prep)[0])  # noqa: E731
        M = precondition(x) if precondition is not None else None
        s, used, relres = gmres(J, -F, rtol=eta, restart=restart, maxiter=max_krylov, M=M)
        nkrylov += used
        ff = fnorm**2
        a, ff_new = backtrack(lambda z: float(np.sum(f(z, *args) ** 2)), x, s, ff,
                              -2.0 * (1.0 - relres) * ff)
        if a == 0.0:
            return Result(x, False, f"the line search failed at Newton step {it} (GMRES reached "
                                    f"{relres:.1e} of the requested {eta:.1e})", it, f.calls,
                          tuple(history), {"krylov": nkrylov})
        x = x + a * s
        F = f(x, *args)
        fnorm_old, fnorm = fnorm, float(np.linalg.norm(F))
        history.append(fnorm)
        if fnorm > 0.0:
            eta = _forcing(eta, fnorm, fnorm_old, ftol * fnorm0)
    return Result(x, False, f"maximum number of Newton steps ({maxiter}) reached", maxiter, f.calls,
                  tuple(history), {"krylov": nkrylov})
