"""``Problem.solve``: run a problem through its route and compare the answer with the reference.

Routes (``route="adopt"``): each kind has adopt's reference algorithm, chosen by ``method``:

============== ======================= ===============================================
kind           method (default first)  algorithm, options
============== ======================= ===============================================
least_squares  "lm", "gn"              Levenberg–Marquardt / Gauss–Newton;
                                       ``matrix_free=True`` for pushforward + pullback
root           "newton", "jfnk"        Newton on ``jacobian`` (sparse LU for sparse
                                       problems) / Newton–Krylov; ``precondition=False``
                                       drops the problem's preconditioner
minimize       "newton", "newton-cg",  exact Hessian (sparse for sparse problems) / hvp /
               "lbfgs"                 L-BFGS on the gradient alone (``memory``)
ode            "rodas"                 RODAS; ``rtol``, ``atol``, ``h0``, ``max_steps``
scalar         "halley"                Halley's method
============== ======================= ===============================================

``sparse=False`` keeps a sparse problem's Jacobian or Hessian dense; any other option goes to
the algorithm (``maxiter``, tolerances). Problems of other kinds bring their own ``solver``.
``route="scipy"`` runs SciPy's solver instead, through :mod:`adopt.solvers.scipy`
(see :mod:`adopt.problems._scipy_route`).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

import adopt
from adopt.problems import algorithms as alg
from adopt.problems._problem import Outcome, Problem

__all__ = ["solve", "backend_label"]

Route = Callable[[Problem, Any, dict], tuple[alg.Result, str]]


def backend_label(backend: Any) -> str:
    """A short name: ``AutoJAX``, ``AutoTorch``, ``AutoFiniteDiff``, ``AutoFiniteDiff(complex)``,
    ``AutoSparse(AutoJAX)``."""
    if isinstance(backend, adopt.AutoSparse):
        return f"AutoSparse({backend_label(backend.dense)})"
    if isinstance(backend, adopt.AutoFiniteDiff):
        args = [backend.method] if backend.method != "central" else []
        if backend.rel_step is not None:
            args.append(f"rel_step={backend.rel_step:g}")
        return f"AutoFiniteDiff({', '.join(args)})" if args else "AutoFiniteDiff"
    return type(backend).__name__


def _sparse(problem: Problem, backend: Any, opts: dict) -> Any:
    """``backend`` wrapped in AutoSparse (CSC output, for sparse LU) when the problem is sparse."""
    if opts.pop("sparse", problem.sparse) and not isinstance(backend, adopt.AutoSparse):
        return adopt.AutoSparse(backend, format="csc")
    return backend


def _matrix_free(opts: dict, method: str) -> None:
    """Refuse ``sparse=`` where it would change nothing (never ignore an option silently)."""
    if "sparse" in opts:
        raise ValueError(f"solve: sparse= chooses a sparse Jacobian or Hessian with sparse LU; "
                         f"method {method!r} has no sparse form (it is matrix-free or dense "
                         "least squares): drop sparse=")


def _least_squares(p: Problem, backend: Any, opts: dict) -> tuple[alg.Result, str]:
    method, mf = opts.pop("method", "lm"), opts.pop("matrix_free", False)
    _matrix_free(opts, method)
    run = {"lm": alg.levenberg_marquardt, "gn": alg.gauss_newton}[_check(method, ("lm", "gn"))]
    return run(p.fun, backend, p.x0, matrix_free=mf, **opts), method + ("/matrix-free" if mf else "")


def _root(p: Problem, backend: Any, opts: dict) -> tuple[alg.Result, str]:
    method = _check(opts.pop("method", "newton"), ("newton", "jfnk"))
    if method == "jfnk":
        _matrix_free(opts, method)
        pre = p.preconditioner if opts.pop("precondition", True) else None
        return alg.newton_krylov(p.fun, backend, p.x0, precondition=pre, **opts), method
    b = _sparse(p, backend, opts)
    return alg.newton(p.fun, b, p.x0, **opts), "newton" + ("/sparse" if b is not backend else "")


def _minimize(p: Problem, backend: Any, opts: dict) -> tuple[alg.Result, str]:
    method = _check(opts.pop("method", "newton"), ("newton", "newton-cg", "lbfgs"))
    if method != "newton":
        _matrix_free(opts, method)
        run = alg.newton_cg if method == "newton-cg" else alg.lbfgs
        return run(p.fun, backend, p.x0, **opts), method
    b = _sparse(p, backend, opts)
    return alg.newton_minimize(p.fun, b, p.x0, **opts), "newton" + ("/sparse" if b is not backend else "")


def _ode(p: Problem, backend: Any, opts: dict) -> tuple[alg.Result, str]:
    _check(opts.pop("method", "rodas"), ("rodas",))
    b = _sparse(p, backend, opts)
    res = alg.rodas(p.fun, b, p.t_span, p.x0, p.t_ref, t_breaks=p.t_breaks, **opts)
    return res, "rodas" + ("/sparse" if b is not backend else "")


def _scalar(p: Problem, backend: Any, opts: dict) -> tuple[alg.Result, str]:
    _check(opts.pop("method", "halley"), ("halley",))
    _matrix_free(opts, "halley")
    return alg.halley(p.fun, backend, p.x0, **opts), "halley"


_ROUTES: dict[str, Route] = {"least_squares": _least_squares, "root": _root, "minimize": _minimize,
                             "ode": _ode, "scalar": _scalar}


def _check(method: str, allowed: tuple[str, ...]) -> str:
    if method not in allowed:
        raise ValueError(f"solve: method must be one of {allowed}; got {method!r}")
    return method


def _value(p: Problem, x: np.ndarray) -> float | None:
    """The objective at the answer: the residual sum of squares, or f; None for other kinds."""
    if p.kind == "least_squares":
        r = np.asarray(p.fun(x), dtype=float)
        return float(r @ r)
    if p.kind == "minimize":
        return float(p.fun(x))
    return None


def _verdict(p: Problem, res: alg.Result, error: float, tol: float, value: float | None) -> tuple[bool, str]:
    if not res.converged:
        return False, res.message
    if not error <= tol:
        return False, f"{res.message}; but the answer is off the reference: error {error:.2e} > {tol:.0e}"
    if value is not None and not p.value_ok(value):
        return False, (f"{res.message}; but the objective {value:.10g} is off the reference value "
                       f"{p.reference_value:.10g}")
    return True, res.message


def _route(problem: Problem, backend: Any, route: str, options: dict) -> tuple[Route, dict]:
    """The function that runs ``route`` for this problem, and its options."""
    if route == "scipy":
        from adopt.problems._scipy_route import solve_scipy

        return solve_scipy, dict(options)
    if route != "adopt":
        raise NotImplementedError(f"solve: there is no route {route!r}; the routes are 'adopt' "
                                  "(adopt's reference algorithms) and 'scipy' (adopt.solvers.scipy)")
    run = problem.solver or _ROUTES.get(problem.kind)
    if run is None:
        raise NotImplementedError(f"{problem.name}: no adopt route for kind {problem.kind!r}")
    return run, {**problem.options_for(backend), **options}


def solve(problem: Problem, backend: Any, *, route: str = "adopt", **options: Any) -> Outcome:
    """Solve ``problem`` on ``backend`` and measure the answer against its reference.

    The adopt operators that the run calls are recorded (``adopt.testing.record_operators``),
    not declared. Raises ``NotImplementedError`` with the reason when ``backend`` cannot run
    the problem, or the route does not exist.

    Examples
    --------
    >>> import adopt
    >>> from adopt.problems import problem
    >>> out = problem("mgh/rosenbrock").solve(adopt.AutoFiniteDiff())
    >>> out.success, out.method, sorted(out.operators)
    (True, 'newton', ['jacobian'])
    """
    from adopt.testing import record_operators

    dense = backend.dense if isinstance(backend, adopt.AutoSparse) else backend
    if reason := problem.unreachable.get(backend_label(dense)):
        raise NotImplementedError(f"{problem.name} on {backend_label(backend)}: {reason}")
    run, opts = _route(problem, backend, route, options)
    with record_operators() as calls:
        t0 = time.perf_counter()
        res, method = run(problem, backend, opts)
        elapsed = time.perf_counter() - t0
    x = np.asarray(res.x, dtype=float)
    error = problem.error(x) if np.all(np.isfinite(x)) else float("inf")
    tol = problem.tolerance(backend)
    value = _value(problem, x) if np.all(np.isfinite(x)) else None
    success, message = _verdict(problem, res, error, tol, value)
    return Outcome(
        problem=problem.name, backend=backend_label(backend), route=route, method=method,
        success=success, converged=res.converged, message=message, error=error, tolerance=tol,
        iterations=res.nit, nfev=res.nfev, nder=sum(calls.values()), time=elapsed,
        history=tuple(res.history), operators=frozenset(k for k, v in calls.items() if v),
        solution=x, value=value, info=dict(res.info),
    )
