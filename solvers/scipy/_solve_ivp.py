"""solve_ivp: scipy.integrate.solve_ivp with the exact Jacobian of a backend."""

from __future__ import annotations

from typing import Any, Callable

from scipy.integrate import BDF, LSODA, Radau
from scipy.integrate import solve_ivp as scipy_solve_ivp

from adopt import AutoSparse
from adopt.solvers._bundle import ODEDerivatives
from adopt.solvers._pytree import Flat, flatten, to_numpy
from adopt.solvers.scipy._common import no_user_jac

__all__ = ["solve_ivp"]

#: below this many unknowns a dense LU is cheaper than a sparse one (a sparse Jacobian from
#: AutoSparse is handed over dense)
SMALL = 100

_IMPLICIT = {"BDF": BDF, "Radau": Radau, "LSODA": LSODA}


def _implicit(method: Any) -> type | None:
    """The implicit solver class ``method`` names (or is a subclass of), else None."""
    if isinstance(method, str):
        return _IMPLICIT.get(method)
    if isinstance(method, type):
        return next((c for c in _IMPLICIT.values() if issubclass(method, c)), None)
    return None


def _format(cls: type, n: int, backend: Any) -> str | None:
    """csc (what BDF and Radau factorise) under AutoSparse, dense for LSODA and small systems."""
    if not isinstance(backend, AutoSparse):
        return None
    return "dense" if cls is LSODA or n < SMALL else "csc"


def _user_event(event: Callable[..., Any], flat: Flat) -> Callable[..., Any]:
    """An event function seeing ``y`` in ``y0``'s structure, keeping SciPy's attributes."""
    def wrapped(t: float, y: Any, *args: Any) -> float:
        return float(to_numpy(event(t, flat.result(y), *args)))

    wrapped.terminal = getattr(event, "terminal", False)  # type: ignore[attr-defined]
    wrapped.direction = getattr(event, "direction", 0)  # type: ignore[attr-defined]
    return wrapped


def _events(events: Any, flat: Flat) -> Any:
    if events is None or flat.plain:
        return events
    if callable(events):
        return _user_event(events, flat)
    return [_user_event(e, flat) for e in events]


def solve_ivp(fun: Callable[..., Any], t_span: Any, y0: Any, method: Any = "BDF",
              t_eval: Any = None, dense_output: bool = False, events: Any = None,
              vectorized: bool = False, args: tuple | None = None, *, backend: Any,
              **options: Any) -> Any:
    """:func:`scipy.integrate.solve_ivp` with the exact Jacobian from ``backend``.

    The implicit methods BDF, Radau and LSODA get ``jac(t, y)``: a scipy.sparse csc matrix of
    fixed structure under :class:`adopt.AutoSparse` (dense for LSODA and for systems of fewer
    than ``SMALL`` = 100 unknowns, where a dense LU is cheaper), a dense ndarray otherwise.
    ``t`` and ``args`` are :class:`adopt.Constant` contexts, so one preparation serves every
    step, and ``fun`` itself is evaluated compiled (``jax.jit`` on AutoJAX). The explicit methods
    (RK45, RK23, DOP853) need no Jacobian and get ``fun`` untouched.

    Unlike SciPy's, the default ``method`` is ``"BDF"``: a backend is for implicit methods.

    Parameters
    ----------
    fun : callable
        ``fun(t, y, *args)``, with ``y`` of ``y0``'s structure, array type and dtype.
    t_span, t_eval, dense_output, events, args, **options
        As in SciPy (``rtol``, ``atol``, ``first_step``, ``max_step``, ...). Event functions
        see ``y`` in ``y0``'s structure.
    y0 : array (NumPy, JAX, torch) or dict / list / tuple of arrays
        SciPy integrates the flattened vector: ``sol.y`` has one row per flattened unknown.
    method : str or OdeSolver subclass
        As in SciPy, default ``"BDF"``.
    vectorized : bool
        Passed to SciPy for the explicit methods; the implicit ones need no vectorised ``fun``
        (their Jacobian is exact, not differenced) and call it on 1-D ``y``.
    backend : backend
        ``AutoJAX()``, ``AutoTorch()``, ``AutoFiniteDiff()`` or ``AutoSparse(...)`` of them.

    Returns
    -------
    OdeResult
        SciPy's (``t``, ``y``, ``sol``, ``nfev``, ``njev``, ``nlu``, ``status``, ``message``,
        ``success``, ...).

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.solvers.scipy import solve_ivp
    >>> f = lambda t, y, k: -k * y
    >>> sol = solve_ivp(f, (0.0, 1.0), np.ones(3), args=(2.0,), rtol=1e-10, atol=1e-12,
    ...                 backend=adopt.AutoFiniteDiff())
    >>> bool(sol.success), float(sol.y[0, -1].round(8)) == float(np.exp(-2.0).round(8))
    (True, True)
    """
    no_user_jac("solve_ivp", options.get("jac"), backend)
    if options.get("jac_sparsity") is not None:
        raise ValueError("solve_ivp: jac_sparsity is for SciPy's finite differences; with "
                         "backend= pass the pattern to the backend instead: AutoSparse(dense, "
                         "sparsity_detector=adopt.KnownSparsityDetector(jac_sparsity))")
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    cls = _implicit(method)
    flat = flatten(y0, "solve_ivp")
    if cls is None and flat.plain:
        return scipy_solve_ivp(fun, t_span, flat.x0, method, t_eval, dense_output, events,
                               vectorized, args or None, **options)
    fmt = None if cls is None else _format(cls, flat.size, backend)
    d = ODEDerivatives(fun, y0, backend, args, sparse_format=fmt)
    jac = {} if cls is None else {"jac": d.jac}
    return scipy_solve_ivp(d.fun, t_span, d.y0, method, t_eval, dense_output,
                           _events(events, d.flat), vectorized and cls is None, args or None,
                           **jac, **options)
