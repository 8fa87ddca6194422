"""newton_krylov: SciPy's Newton-Krylov solver with exact Jacobian-vector products.

SciPy's own ``newton_krylov`` can only difference ``F`` (scipy#15367). Here SciPy's outer
iteration (``nonlin_solve``: forcing terms, line search, termination, ``NoConvergence``) and
its inner Krylov solvers run unchanged; only the products ``J(x) v`` are exact: each is one
prepared pushforward (on AutoJAX a compiled JVP), or, with ``linearize=True``, ``F`` is
linearised once per Newton point (a same-point pushforward prep lending the compiled
linearisation from point to point: no tracing) and each product applies the linear map.
Under AutoSparse the linearisation is the sparse Jacobian, computed once per Newton point (a
pushforward per color), and each product is a sparse matrix-vector product: the default there.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.optimize import KrylovJacobian, NoConvergence, OptimizeResult
from scipy.optimize._nonlin import nonlin_solve

from adopt.solvers._bundle import Derivatives
from adopt.solvers._pytree import Flat

__all__ = ["newton_krylov", "solve_newton_krylov"]


class ExactKrylovJacobian(KrylovJacobian):
    """SciPy's :class:`~scipy.optimize.KrylovJacobian` (inner solver, preconditioner, LGMRES
    recycling) with exact products ``J(x) v`` from a :class:`Derivatives` bundle in place of
    finite differences.

    Each product is one prepared pushforward at the current Newton point (on AutoJAX a
    compiled JVP: about the cost of one evaluation of ``F``). With ``linearize=True``, ``F`` is
    linearised once per Newton point instead (:meth:`Derivatives.linearize`, at the first
    product after ``setup`` / ``update``) and each product applies the linear map: worth it
    when ``F`` is costly next to its linear part (many transcendental functions on a large
    state); on small grids the per-call cost of the framework dominates and products are
    faster (see benchmarks/results/scipy.md). Under AutoSparse the linearisation is the sparse
    Jacobian (a pushforward per color, once per Newton point) and a product costs a sparse
    matrix-vector product: ``linearize=None`` (the default) means True there, False elsewhere.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.solvers import Derivatives
    >>> from adopt.solvers.scipy import ExactKrylovJacobian
    >>> d = Derivatives(lambda x: x**2 - 4.0, np.ones(3), adopt.AutoFiniteDiff())
    >>> J = ExactKrylovJacobian(d)
    >>> J.setup(d.x0, d.fun(d.x0), d.fun)
    >>> J.matvec(np.ones(3)).round(6)
    array([2., 2., 2.])
    """

    def __init__(self, bundle: Derivatives, *, args: tuple = (), linearize: bool | None = None,
                 rdiff: Any = None, method: Any = "lgmres", inner_maxiter: int = 20,
                 inner_M: Any = None, outer_k: int = 10, **kw: Any) -> None:
        super().__init__(rdiff=rdiff, method=method, inner_maxiter=inner_maxiter,
                         inner_M=inner_M, outer_k=outer_k, **kw)
        self.bundle, self.args = bundle, args
        self.linearize = bundle.sparse if linearize is None else linearize
        self._jvp: Callable[[np.ndarray], np.ndarray] | None = None

    def setup(self, x: np.ndarray, f: np.ndarray, func: Callable[..., Any]) -> None:
        super().setup(x, f, func)
        self._jvp = None

    def update(self, x: np.ndarray, f: np.ndarray) -> None:
        super().update(x, f)
        self._jvp = None     # a new Newton point: products (or a linearisation) at it

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """``J(x) v`` at the current Newton point (the last ``setup`` / ``update``)."""
        if not np.any(v):
            return 0 * v    # SciPy's shortcut: no product, and no linearisation, for v = 0
        if self._jvp is None:   # the first product at this point
            at = self.bundle.linearize if self.linearize else self.bundle.jvp_at
            self._jvp = at(self.x0, *self.args)
        r = self._jvp(v)
        # a finite sum says every entry is finite (the full check only when it is not)
        if not np.isfinite(r.sum()) and not np.isfinite(r).all() and np.isfinite(v).all():
            raise ValueError("newton_krylov: the Jacobian-vector product J(x) v is not finite at "
                             "the current x; check F for overflow or a singularity there")
        return r


def _residual(d: Derivatives, args: tuple) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: d.fun(x, *args).reshape(-1)


def _callback(callback: Any, flat: Flat) -> Any:
    if callback is None or flat.plain:
        return callback
    return lambda x, f: callback(flat.result(x), f)


def solve_newton_krylov(F: Callable[..., Any], x0: Any, backend: Any, args: tuple,
                        krylov: dict, solve: dict, raise_exception: bool) -> OptimizeResult:
    """The one driver of :func:`newton_krylov` and ``root(method="krylov")``."""
    d = Derivatives(F, x0, backend, args, vector=True)
    jacobian = ExactKrylovJacobian(d, args=args, **krylov)
    solve = {**solve, "callback": _callback(solve.get("callback"), d.flat)}
    try:
        x, info = nonlin_solve(_residual(d, args), d.x0, jacobian, full_output=True,
                               raise_exception=raise_exception, **solve)
    except NoConvergence as e:
        raise NoConvergence(d.flat.result(e.args[0])) from None
    res = OptimizeResult(x=d.flat.result(x), **info)
    res.update(nfev=d.nfev, njev=d.njev, njvp=d.njvp)
    return res


def newton_krylov(F: Callable[..., Any], xin: Any, iter: int | None = None, rdiff: Any = None,
                  method: Any = "lgmres", inner_maxiter: int = 20, inner_M: Any = None,
                  outer_k: int = 10, verbose: bool = False, maxiter: int | None = None,
                  f_tol: float | None = None, f_rtol: float | None = None,
                  x_tol: float | None = None, x_rtol: float | None = None,
                  tol_norm: Any = None, line_search: Any = "armijo", callback: Any = None,
                  *, backend: Any, linearize: bool | None = None, **kw: Any) -> OptimizeResult:
    """:func:`scipy.optimize.newton_krylov` with exact Jacobian-vector products from ``backend``.

    SciPy's arguments and behaviour: the same outer Newton iteration, forcing terms, line
    search, tolerances (``f_tol`` defaults to 6e-6 in the max-norm), inner Krylov solvers
    (``method``, ``inner_maxiter``, ``inner_M``, ``outer_k``, ``inner_*`` keywords), and
    ``NoConvergence`` raised when ``maxiter`` is reached. The products ``J(x) v`` are exact
    instead of one difference of ``F`` each: a product is one prepared pushforward (on AutoJAX
    a compiled JVP, about the cost of one evaluation of ``F``; nothing is traced at a new point
    or in a second solve of the same ``F``).

    Parameters
    ----------
    F : callable
        ``F(x) -> residual``, with ``x`` of ``xin``'s structure, array type and dtype.
    xin : float, list, array of any shape, or dict / list / tuple of arrays
    rdiff : ignored
        SciPy's difference step; the products here are exact.
    backend : backend
        ``AutoJAX()``, ``AutoTorch()`` (or ``AutoFiniteDiff()``, which differences ``F``), or
        ``AutoSparse(...)`` of one: the sparse Jacobian once per Newton point, products as
        sparse matrix-vector products (the fastest route when ``F`` is sparse and cheap,
        such as a discretised PDE).
    linearize : bool, optional
        Linearise ``F`` once per Newton point (on AutoJAX ``jax.linearize``, compiled once and
        lent from point to point; under AutoSparse the sparse Jacobian) and apply the linear
        map in each product, instead of one pushforward per product: worth it when ``F`` is
        costly next to its linear part. Default: True under AutoSparse, False otherwise.
    iter, method, inner_maxiter, inner_M, outer_k, verbose, maxiter, f_tol, f_rtol, x_tol, x_rtol, tol_norm, line_search, callback, **kw
        As in SciPy; ``callback(x, f)`` sees ``x`` in ``xin``'s structure.

    Returns
    -------
    OptimizeResult
        ``x`` (in ``xin``'s structure and array type), ``success``, ``status``, ``message``,
        ``fun`` (the final residual, flat), ``nit``, ``nfev`` (evaluations of ``F`` the
        iteration asked for), ``njvp`` (Jacobian-vector products; on a backend that runs ``F``
        eagerly, such as AutoTorch, each also evaluates ``F`` once) and ``njev``
        (linearisations, under AutoSparse sparse Jacobians: one per Newton point at which a
        product was needed; 0 without ``linearize``).

    Raises
    ------
    scipy.optimize.NoConvergence
        When no solution is found within ``maxiter`` iterations (SciPy's behaviour), with the
        last ``x`` as its argument. ``root(method="krylov", backend=...)`` returns
        ``success=False`` instead.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.solvers.scipy import newton_krylov
    >>> F = lambda x: x**3 + x - np.array([2.0, 10.0])
    >>> res = newton_krylov(F, np.ones(2), f_tol=1e-12, backend=adopt.AutoFiniteDiff())
    >>> res.x.round(8), bool(res.success)
    (array([1., 2.]), True)
    """
    krylov = dict(rdiff=rdiff, method=method, inner_maxiter=inner_maxiter, inner_M=inner_M,
                  outer_k=outer_k, linearize=linearize, **kw)
    solve = dict(iter=iter, verbose=verbose, maxiter=maxiter, f_tol=f_tol, f_rtol=f_rtol,
                 x_tol=x_tol, x_rtol=x_rtol, tol_norm=tol_norm, line_search=line_search,
                 callback=callback)
    return solve_newton_krylov(F, xin, backend, (), krylov, solve, raise_exception=True)
