"""minimize: scipy.optimize.minimize with the derivatives of a backend."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.optimize as so

from adopt import AutoSparse
from adopt.solvers._bundle import Derivatives
from adopt.solvers.scipy._common import finish, no_user_jac, user_callback

__all__ = ["minimize"]

#: what each method of scipy.optimize.minimize takes: nothing, a gradient, or a gradient and
#: a Hessian-vector product / a (dense) Hessian. Unknown methods pass through, for SciPy to judge.
USES = {
    "nelder-mead": None, "powell": None, "cobyla": None, "cobyqa": None,
    "cg": "jac", "bfgs": "jac", "l-bfgs-b": "jac", "tnc": "jac", "slsqp": "jac",
    "newton-cg": "hessp", "trust-ncg": "hessp", "trust-krylov": "hessp",
    "trust-exact": "hess", "dogleg": "hess", "trust-constr": "hessp",
}


def _method(method: Any, bounds: Any, constraints: Any) -> Any:
    """SciPy's choice when ``method`` is None."""
    if method is not None:
        return method
    return "SLSQP" if constraints else "L-BFGS-B" if bounds is not None else "BFGS"


def _second_order(uses: str | None, backend: Any, hess: Any, hessp: Any,
                  d: Derivatives) -> tuple[Any, Any, tuple[str, ...]]:
    """``(hess, hessp, what the bundle supplies)`` to hand SciPy: the user's if given, else the
    backend's for the methods that use them (trust-constr: the sparse Hessian under AutoSparse)."""
    if hess is not None or hessp is not None or uses not in ("hess", "hessp"):
        return hess, hessp, ()
    if uses == "hess" or isinstance(backend, AutoSparse):
        return d.hess, None, ("hess",)
    return None, d.hessp, ("hessp",)


def _constraint(c: Any, x0: Any, backend: Any, exact_hess: bool) -> Any:
    """A constraint whose ``fun`` is converted at the boundary and, if the user gave no
    Jacobian, gets the backend's (and under trust-constr its exact Hessian in place of the
    default quasi-Newton one)."""
    if isinstance(c, dict):
        d = Derivatives(c["fun"], x0, backend, tuple(c.get("args", ())), vector=True)
        if exact_hess and "jac" not in c:
            return _nonlinear(c, d)
        return {**c, "fun": d.fun, "jac": c.get("jac") or d.jac}
    if isinstance(c, so.NonlinearConstraint):
        d, only_fun = Derivatives(c.fun, x0, backend, vector=True), isinstance(c.jac, str)
        jac = d.jac if only_fun else c.jac
        hess = d.hess if only_fun and exact_hess and isinstance(c.hess, so.HessianUpdateStrategy) else c.hess
        return so.NonlinearConstraint(d.fun, c.lb, c.ub, jac=jac, hess=hess,
                                      keep_feasible=c.keep_feasible,
                                      finite_diff_rel_step=c.finite_diff_rel_step,
                                      finite_diff_jac_sparsity=c.finite_diff_jac_sparsity)
    return c  # LinearConstraint: nothing to differentiate


def _nonlinear(c: dict, d: Derivatives) -> so.NonlinearConstraint:
    """An old-style constraint dict for trust-constr, with its exact Jacobian and Hessian."""
    a = tuple(c.get("args", ()))
    ub = 0.0 if c["type"] == "eq" else np.inf
    return so.NonlinearConstraint(lambda x: d.fun(x, *a), 0.0, ub, jac=lambda x: d.jac(x, *a),
                                  hess=lambda x, v: d.hess(x, v, *a))


def _constraints(constraints: Any, x0: Any, backend: Any, meth: str) -> Any:
    if isinstance(constraints, (dict, so.NonlinearConstraint, so.LinearConstraint)):
        constraints = [constraints]
    return [_constraint(c, x0, backend, meth == "trust-constr") for c in constraints]


def minimize(fun: Callable[..., Any], x0: Any, args: tuple = (), method: Any = None,
             jac: Any = None, hess: Any = None, hessp: Any = None, bounds: Any = None,
             constraints: Any = (), tol: float | None = None, callback: Any = None,
             options: dict | None = None, *, backend: Any) -> so.OptimizeResult:
    """:func:`scipy.optimize.minimize` with exact derivatives from ``backend``.

    Everything is SciPy's (methods, defaults, options, warnings, ``OptimizeResult``) except
    that adopt supplies the derivatives each method uses: the gradient for CG, BFGS,
    L-BFGS-B, TNC, SLSQP (value and gradient from one evaluation); the gradient and a
    prepared Hessian-vector product for Newton-CG, trust-ncg, trust-krylov and trust-constr
    (the sparse Hessian under :class:`adopt.AutoSparse`); the gradient and the dense Hessian
    for trust-exact and dogleg. Nelder-Mead, Powell, COBYLA and COBYQA use no derivatives.
    Nonlinear constraints (dicts or ``NonlinearConstraint``) without a Jacobian of their own
    get the exact one, and under trust-constr the Hessian ``Σ vᵢ ∇²cᵢ`` too.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``, with ``x`` of ``x0``'s structure, array type and dtype.
    x0 : float, list, array of any shape (NumPy, JAX, torch), or dict / list / tuple of arrays
        SciPy sees it flattened to 1-D float64; ``bounds`` refer to the flattened vector.
    args : tuple
        Extra arguments of ``fun``, passed as :class:`adopt.Constant`: new values need no
        new preparation.
    method, bounds, constraints, tol, options
        As in SciPy.
    jac : None
        The backend computes the gradient; any other value is refused.
    hess, hessp : optional
        Your own second-order information (e.g. ``hess=scipy.optimize.BFGS()``), used as
        given; by default the backend supplies what the method uses.
    callback : callable, optional
        As in SciPy; it sees ``x`` in ``x0``'s structure.
    backend : backend
        ``AutoJAX()``, ``AutoTorch()``, ``AutoFiniteDiff()``, ``AutoSparse(...)``, ``SecondOrder(...)``.

    Returns
    -------
    OptimizeResult
        SciPy's, with ``x`` in ``x0``'s structure, array type and dtype (``jac`` stays the
        flat NumPy gradient), and ``nfev``, ``njev``, ``nhev`` counting the evaluations the
        backend performed (Hessian-vector products count in ``nhev``).

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.solvers.scipy import minimize
    >>> rosen = lambda x: ((1 - x[:-1])**2 + 100 * (x[1:] - x[:-1]**2)**2).sum()
    >>> res = minimize(rosen, np.zeros(4), method="trust-exact", backend=adopt.AutoFiniteDiff())
    >>> bool(res.success), res.x.round(3)
    (True, array([1., 1., 1., 1.]))
    """
    no_user_jac("minimize", jac, backend)
    args = args if isinstance(args, tuple) else (args,)
    method = _method(method, bounds, constraints)
    uses = "hessp" if callable(method) else USES.get(str(method).lower(), "jac")
    d = Derivatives(fun, x0, backend, args, sparse_format="dense" if uses == "hess" else None)
    meth = "" if callable(method) else method.lower()
    if uses is None:
        res = so.minimize(d.value, d.x0, args, method, bounds=bounds, tol=tol,
                          constraints=_constraints(constraints, x0, backend, meth),
                          callback=user_callback(callback, d.flat), options=options)
        return finish(res, d)
    hess, hessp, supplied = _second_order(uses, backend, hess, hessp, d)
    if callable(method):
        hess = hess or d.hess
    d.prepare("jac", *supplied)      # a backend that cannot do it fails here, before the solve
    res = so.minimize(d.fun, d.x0, args, method, jac=d.jac, hess=hess, hessp=hessp,
                      bounds=bounds, constraints=_constraints(constraints, x0, backend, meth),
                      tol=tol, callback=user_callback(callback, d.flat), options=options)
    return finish(res, d)
