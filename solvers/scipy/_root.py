"""root: scipy.optimize.root with the exact Jacobian (or exact JVPs) of a backend."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import scipy.optimize as so

from adopt.solvers._bundle import Derivatives
from adopt.solvers.scipy._common import finish, no_user_jac
from adopt.solvers.scipy._newton_krylov import solve_newton_krylov

__all__ = ["root"]

_KRYLOV_OPTIONS = {"nit": "iter", "disp": "verbose", "maxiter": "maxiter", "ftol": "f_rtol",
                   "fatol": "f_tol", "xtol": "x_rtol", "xatol": "x_tol", "tol_norm": "tol_norm",
                   "line_search": "line_search"}


def _krylov(fun: Callable[..., Any], x0: Any, args: tuple, tol: float | None, callback: Any,
            options: dict, backend: Any) -> so.OptimizeResult:
    """method="krylov": SciPy's option names mapped onto the Newton-Krylov driver."""
    options = dict(options)
    if tol is not None:
        for name, value in (("xtol", tol), ("xatol", np.inf), ("ftol", np.inf), ("fatol", np.inf)):
            options.setdefault(name, value)
    krylov = options.pop("jac_options", None) or {}
    unknown = set(options) - set(_KRYLOV_OPTIONS)
    if unknown:
        warnings.warn(f"Unknown solver options: {', '.join(sorted(unknown))}",
                      so.OptimizeWarning, stacklevel=3)
    solve = {_KRYLOV_OPTIONS[k]: v for k, v in options.items() if k in _KRYLOV_OPTIONS}
    res = solve_newton_krylov(fun, x0, backend, args, krylov, {**solve, "callback": callback},
                              raise_exception=False)
    res.method = "krylov"
    return res


def root(fun: Callable[..., Any], x0: Any, args: tuple = (), method: str = "hybr",
         jac: Any = None, tol: float | None = None, callback: Any = None,
         options: dict | None = None, *, backend: Any) -> so.OptimizeResult:
    """:func:`scipy.optimize.root` with the exact Jacobian from ``backend``.

    ``hybr`` and ``lm`` (MINPACK) get the exact dense Jacobian; ``krylov`` gets exact
    Jacobian-vector products (SciPy's Newton-Krylov iteration, as in
    :func:`newton_krylov`, returning ``success=False`` on failure); the quasi-Newton methods
    (``broyden1``, ``broyden2``, ``anderson``, ``linearmixing``, ``diagbroyden``,
    ``excitingmixing``) and ``df-sane`` use no Jacobian and run as in SciPy.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> residual``, ``x`` of ``x0``'s structure, array type and dtype.
    x0 : float, list, array of any shape, or dict / list / tuple of arrays
    jac : None
        The backend computes the Jacobian; any other value is refused.
    backend : backend
    args, method, tol, callback, options
        As in SciPy.

    Returns
    -------
    OptimizeResult
        SciPy's, with ``x`` in ``x0``'s structure and array type and ``nfev`` / ``njev``
        counting the evaluations the backend performed (``njvp`` for ``krylov``).

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.solvers.scipy import root
    >>> F = lambda x: np.array([x[0] + 0.5 * (x[0] - x[1])**3 - 1.0, 0.5 * (x[1] - x[0])**3 + x[1]])
    >>> res = root(F, [0.0, 0.0], backend=adopt.AutoFiniteDiff())
    >>> res.x.round(6), bool(res.success)
    (array([0.841164, 0.158836]), True)
    """
    no_user_jac("root", jac, backend)
    args = args if isinstance(args, tuple) else (args,)
    meth = method.lower()
    if meth == "krylov":
        return _krylov(fun, x0, args, tol, callback, options or {}, backend)
    d = Derivatives(fun, x0, backend, args, vector=True, sparse_format="dense")
    if meth in ("hybr", "lm"):
        res = so.root(d.fun, d.x0, args, method, d.jac, tol, callback, options)
    else:
        cb = None if callback is None else lambda x, f: callback(d.flat.result(x), f)
        res = so.root(d.value, d.x0, args, method, None, tol, cb, options)
    return finish(res, d)
