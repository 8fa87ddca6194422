"""least_squares: scipy.optimize.least_squares with the exact Jacobian of a backend."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.optimize as so

from adopt import AutoSparse
from adopt.solvers._bundle import Derivatives
from adopt.solvers.scipy._common import finish, no_user_jac, user_callback

__all__ = ["least_squares"]


def _full(b: Any, shape: tuple[int, ...]) -> Any:
    """A real scalar as an array of ``shape``; anything else as given (SciPy checks it)."""
    if isinstance(b, (int, float, np.integer, np.floating)) or (
            isinstance(b, np.ndarray) and b.ndim == 0 and b.dtype.kind in "fi"):
        return np.full(shape, float(b))
    return b


def _full_bounds(bounds: Any, shape: tuple[int, ...]) -> Any:
    """Scalar bounds as arrays of ``x0``'s shape: the same problem for SciPy, whose
    ``prepare_bounds`` expands a scalar with ``np.resize``, a tuple of n one-element copies:
    2.5 ms per call at n = 10⁴; the three of a solve (with ``x_scale``) were 28-36 % of SciPy's
    own sparse Broyden solve at n = 10⁴-10⁵ (benchmarks/results/scipy.md)."""
    if isinstance(bounds, so.Bounds):
        return so.Bounds(_full(bounds.lb, shape), _full(bounds.ub, shape), bounds.keep_feasible)
    if isinstance(bounds, tuple) and len(bounds) == 2:
        return _full(bounds[0], shape), _full(bounds[1], shape)
    return bounds


def _full_scale(x_scale: Any, method: str, shape: tuple[int, ...]) -> Any:
    """``x_scale`` with SciPy's default made explicit for 'trf' / 'dogbox' (1.0; 'lm' means
    'jac') and a scalar expanded, for the reason of :func:`_full_bounds`."""
    if x_scale is None and method in ("trf", "dogbox"):
        return np.ones(shape)
    return _full(x_scale, shape)


def _check(jac: Any, backend: Any, method: str, tr_solver: Any, jac_sparsity: Any) -> None:
    """Refuse, before the solve, what cannot work, naming the fix."""
    if jac != "operator":
        no_user_jac("least_squares", jac, backend, " (or jac='operator' for a matrix-free one)")
    if jac_sparsity is not None:
        raise ValueError("least_squares: jac_sparsity is for SciPy's finite differences; with "
                         "backend= pass the pattern to the backend instead: AutoSparse(dense, "
                         "sparsity_detector=adopt.KnownSparsityDetector(jac_sparsity)), or let "
                         "AutoSparse detect it")
    dense = jac != "operator" and not isinstance(backend, AutoSparse)
    if dense:
        return
    what = "jac='operator' gives a LinearOperator" if jac == "operator" else \
        f"backend={backend!r} gives a sparse Jacobian"
    if method == "lm":
        raise ValueError(f"least_squares: method='lm' (MINPACK) needs a dense Jacobian but {what}; "
                         "use method='trf' (or 'dogbox'), or a dense backend")
    if tr_solver == "exact":
        raise ValueError(f"least_squares: tr_solver='exact' needs a dense Jacobian but {what}; use "
                         "tr_solver='lsmr', or a dense backend")


def least_squares(fun: Callable[..., Any], x0: Any, jac: Any = None,
                  bounds: Any = (-np.inf, np.inf), method: str = "trf", ftol: float | None = 1e-8,
                  xtol: float | None = 1e-8, gtol: float | None = 1e-8, x_scale: Any = None,
                  loss: Any = "linear", f_scale: float = 1.0, diff_step: Any = None,
                  tr_solver: str | None = None, tr_options: dict | None = None,
                  jac_sparsity: Any = None, max_nfev: int | None = None, verbose: int = 0,
                  args: tuple = (), kwargs: dict | None = None, callback: Any = None,
                  workers: Any = None, *, backend: Any) -> so.OptimizeResult:
    """:func:`scipy.optimize.least_squares` with the exact Jacobian from ``backend``.

    SciPy's arguments, defaults, checks and result; adopt supplies ``jac``: a dense ndarray
    from a plain backend, a scipy.sparse matrix of fixed structure from
    :class:`adopt.AutoSparse` (so that ``tr_solver="lsmr"`` and large problems work), or, with
    ``jac="operator"``, a matrix-free ``LinearOperator`` whose products are prepared
    pushforwards (JVPs) and pullbacks (VJPs). Bounds, ``loss``, ``x_scale="jac"`` work as in SciPy.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args, **kwargs)`` returning the residuals (1-D), ``x`` of ``x0``'s structure.
    x0 : float, list, array of any shape, or dict / list / tuple of arrays
    jac : {None, "operator"}
        ``None``: the exact Jacobian (dense, or sparse under AutoSparse); ``"operator"``: a
        ``LinearOperator`` (needs ``method="trf"`` or ``"dogbox"`` and ``tr_solver="lsmr"``).
    args, kwargs : optional
        Extra arguments of ``fun``; ``args`` are :class:`adopt.Constant` contexts.
    callback : callable, optional
        As in SciPy; ``x`` in ``x0``'s structure.
    backend : backend
    bounds, method, ftol, xtol, gtol, x_scale, loss, f_scale, diff_step, tr_solver, tr_options, max_nfev, verbose, workers
        As in SciPy. ``jac_sparsity`` is refused: give the pattern to ``AutoSparse``.

    Returns
    -------
    OptimizeResult
        SciPy's, with ``x`` in ``x0``'s structure and array type, and ``nfev`` / ``njev``
        counting the evaluations the backend performed.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.solvers.scipy import least_squares
    >>> t = np.linspace(0, 1, 20); y = 2.0 * np.exp(-1.5 * t)
    >>> res = least_squares(lambda p: p[0] * np.exp(-p[1] * t) - y, [1.0, 1.0],
    ...                     method="lm", backend=adopt.AutoFiniteDiff())
    >>> res.x.round(6), res.status > 0
    (array([2. , 1.5]), True)
    """
    _check(jac, backend, method, tr_solver, jac_sparsity)
    args = args if isinstance(args, tuple) else (args,)
    d = Derivatives(fun, x0, backend, args, kwargs, vector=True)
    shape = d.x0.shape
    res = so.least_squares(
        d.fun, d.x0, d.jac_operator if jac == "operator" else d.jac,
        bounds=_full_bounds(bounds, shape), method=method, ftol=ftol, xtol=xtol, gtol=gtol,
        x_scale=_full_scale(x_scale, method, shape), loss=loss, f_scale=f_scale,
        diff_step=diff_step, tr_solver=tr_solver, tr_options=tr_options, max_nfev=max_nfev,
        verbose=verbose, args=args, callback=user_callback(callback, d.flat), workers=workers)
    return finish(res, d)
