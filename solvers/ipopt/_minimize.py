"""minimize_ipopt: ``cyipopt.minimize_ipopt`` with exact derivatives from an adopt backend, and
``make_problem``, the ``cyipopt.Problem`` of existing cyipopt code."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.optimize as so

from adopt import MissingDependencyError
from adopt.solvers._pytree import Flat
from adopt.solvers.ipopt._given import Given, check_given, value_part
from adopt.solvers.ipopt._nlp import NLPDerivatives

__all__ = ["minimize_ipopt", "make_problem"]


def _cyipopt() -> Any:
    try:
        import cyipopt
    except ImportError as e:  # pragma: no cover - exercised when cyipopt is absent
        raise MissingDependencyError(
            "adopt.solvers.ipopt needs cyipopt: pip install 'adopt[ipopt]' (the cyipopt-wheels "
            "package, which bundles Ipopt)") from e
    return cyipopt


# ---- input checks, as cyipopt.minimize_ipopt makes them ---------------------------------
def _bounds(bounds: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lb, ub)`` of the flattened x: None, a ``Bounds``, or ``(min, max)`` pairs (one pair
    for all, or one per variable; None for unbounded)."""
    if bounds is None:
        bounds = [-np.inf, np.inf]
    if isinstance(bounds, so.Bounds):
        lb, ub = bounds.lb, bounds.ub
    else:
        b = np.atleast_2d(np.asarray(bounds, dtype=object))
        if b.ndim != 2 or b.shape[1] != 2:
            raise ValueError("`bounds` must specify both lower and upper limits for each "
                             "decision variable.")
        lb, ub = b.T
    try:
        lb, ub, _ = np.broadcast_arrays(lb, ub, np.zeros(n))
    except ValueError as e:
        raise ValueError("The number of lower bounds, upper bounds, and decision variables must "
                         "be equal or broadcastable.") from e
    try:
        lb, ub = lb.astype(np.float64), ub.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError("The bounds must be numeric.") from e
    return np.where(np.isnan(lb), -np.inf, lb), np.where(np.isnan(ub), np.inf, ub)


def _tol(tol: Any) -> float | None:
    if tol is None:
        return None
    t = np.asarray(tol)[()]
    if np.ndim(t) != 0 or not np.issubdtype(np.asarray(t).dtype, np.number) or not t > 0:
        raise ValueError("`tol` must be a positive scalar.")
    return float(t)


def _options(options: Any, tol: float | None) -> dict[str, Any]:
    """Ipopt's options as cyipopt.minimize_ipopt sets them: ``disp`` -> print_level, ``maxiter``
    -> max_iter, print_level 0, tol 1e-8 and the adaptive barrier update unless given; at
    print_level 0 also Ipopt's banner is off (``sb="yes"``): no output was asked for."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ValueError("`options` must be a dictionary.")
    opts = {k.decode() if isinstance(k, bytes) else k: v for k, v in options.items()}
    if "eps" in opts:
        raise ValueError("minimize_ipopt: options['eps'] is cyipopt's finite-difference step; "
                         "with backend= adopt computes derivatives: set the step on the backend "
                         "(AutoFiniteDiff(rel_step=...)) and drop 'eps'")
    for old, new in (("disp", "print_level"), ("maxiter", "max_iter")):
        if old in opts and new not in opts:
            opts[new] = opts.pop(old)
    opts["print_level"] = int(opts.get("print_level", 0))
    if opts["print_level"] == 0:
        opts.setdefault("sb", "yes")
    opts.setdefault("tol", tol or 1e-8)
    opts.setdefault("mu_strategy", "adaptive")
    return opts


def _exact_hessian(opts: dict[str, Any]) -> bool:
    value = opts.get("hessian_approximation", "exact")
    return (value.decode() if isinstance(value, bytes) else value) != "limited-memory"


def _add_options(nlp: Any, opts: dict[str, Any]) -> None:
    for option, value in opts.items():
        try:
            nlp.add_option(option, value)
        except TypeError as e:
            raise TypeError(f'Invalid option for IPOPT: {option}: {value} (Original message: "{e}")') from e


# ---- the problem cyipopt solves ---------------------------------------------------------
@dataclass(frozen=True)
class _Callbacks:
    """The ``problem_obj`` handed to cyipopt: without ``hessian`` when IPOPT approximates it
    (cyipopt then switches to limited-memory itself)."""

    objective: Callable
    gradient: Callable
    constraints: Callable
    jacobian: Callable
    jacobianstructure: Callable
    hessian: Callable | None = None
    hessianstructure: Callable | None = None
    intermediate: Callable | None = None


def _problem(d: NLPDerivatives, lb: np.ndarray, ub: np.ndarray, hessian: bool,
             intermediate: Callable | None, given: Given | None = None) -> Any:
    if hessian:
        d.prepare_hessian()
    obj = given or d
    callbacks = _Callbacks(obj.objective, obj.gradient, d.constraints, d.jacobian, d.jacobianstructure,
                           obj.hessian if hessian else None, d.hessianstructure if hessian else None,
                           intermediate)
    return _cyipopt().Problem(n=d.n, m=d.m, problem_obj=callbacks, lb=lb, ub=ub, cl=d.cl, cu=d.cu)


def make_problem(fun: Callable[..., Any], x0: Any, *, backend: Any, args: tuple = (),
                 kwargs: dict | None = None, bounds: Any = None, constraints: Any = (),
                 hessian: bool = True) -> Any:
    """A ``cyipopt.Problem`` with exact derivatives from ``backend``, for existing cyipopt code.

    Add options and call ``solve`` as with any ``cyipopt.Problem``; ``solve`` takes the start
    as a flat float64 vector (``np.ravel(x0)``). For a start in another structure (a dict of
    arrays) use :class:`NLPDerivatives` directly: ``d.x0`` and ``d.flat.result(x)``.

    Parameters
    ----------
    fun, x0, backend, args, kwargs, constraints
        As in :func:`minimize_ipopt`.
    bounds : optional
        Bounds on the flattened x, in the forms :func:`minimize_ipopt` takes.
    hessian : bool
        Give IPOPT the exact Hessian of the Lagrangian (default). False leaves it out, and
        cyipopt sets ``hessian_approximation="limited-memory"``; nothing is prepared for it.

    Returns
    -------
    cyipopt.Problem

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.solvers.ipopt import make_problem
    >>> nlp = make_problem(lambda x: (x[0] - 3.0)**2 + x[1]**2, np.zeros(2),
    ...                    backend=adopt.AutoFiniteDiff(), bounds=[(0.0, 1.5)],
    ...                    constraints={"type": "eq", "fun": lambda x: x[0] + x[1] - 2.0})
    >>> nlp.add_option("print_level", 0)
    >>> x, info = nlp.solve(np.zeros(2))
    >>> info["status"], x.round(6)
    (0, array([1.5, 0.5]))
    """
    d = NLPDerivatives(fun, x0, backend, args, kwargs, constraints, where="make_problem")
    return _problem(d, *_bounds(bounds, d.n), hessian, None)


# ---- iterations and the user's callback -------------------------------------------------
class _Iterations:
    """Counts IPOPT's iterations and calls the user's ``callback`` once per iteration with
    ``x`` in ``x0``'s structure (``StopIteration`` from it stops IPOPT: status 5)."""

    def __init__(self, callback: Callable | None, flat: Flat) -> None:
        self.callback, self.flat, self.nit, self.nlp = callback, flat, 0, None
        self.new_style = callback is not None and set(
            inspect.signature(callback).parameters) == {"intermediate_result"}

    def __call__(self, alg_mod: int, iter_count: int, obj_value: float, inf_pr: float,
                 inf_du: float, mu: float, d_norm: float, regularization_size: float,
                 alpha_du: float, alpha_pr: float, ls_trials: int) -> bool:
        self.nit = iter_count
        if self.callback is None:
            return True
        x = self.flat.result(self.nlp.get_current_iterate(scaled=False)["x"])
        try:
            if self.new_style:
                self.callback(intermediate_result=so.OptimizeResult(
                    x=x, fun=obj_value, nit=iter_count, alg_mod=alg_mod, inf_pr=inf_pr,
                    inf_du=inf_du, mu=mu, d_norm=d_norm, regularization_size=regularization_size,
                    alpha_du=alpha_du, alpha_pr=alpha_pr, ls_trials=ls_trials))
            else:
                self.callback(x)
        except StopIteration:
            return False
        return True


# ---- minimize_ipopt ---------------------------------------------------------------------
def _check(fun: Any, kwargs: Any, method: Any, hess: Any, hessp: Any, jac: Any, callback: Any) -> None:
    if not callable(fun):
        raise ValueError("`fun` must be callable.")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise ValueError("`kwargs` must be a dictionary.")
    if hessp is not None and method is None:
        raise NotImplementedError("`hessp` is not yet supported by Ipopt.")
    check_given(jac, hess)
    if callback is not None and not callable(callback):
        raise ValueError("`callback` must be callable.")


def _numeric_x0(x0: Any) -> None:
    def numeric(a: Any) -> bool:
        if isinstance(a, dict):
            return all(numeric(v) for v in a.values())
        if type(a) in (list, tuple):
            return all(numeric(v) for v in a)
        return not isinstance(a, (str, bytes)) and a is not None
    if not numeric(x0):
        raise ValueError("`x0` must be a numeric array.")


def _scipy_method(fun: Any, x0: Any, args: tuple, kwargs: dict | None, method: Any, jac: Any,
                  hess: Any, hessp: Any, bounds: Any, constraints: Any, tol: Any, callback: Any,
                  options: Any, backend: Any) -> so.OptimizeResult:
    """cyipopt hands a SciPy ``method`` to scipy.optimize.minimize; so does this, through
    :func:`adopt.solvers.scipy.minimize` (keyword arguments bound to ``fun`` and to ``hess``,
    ``hessp``; that adapter's rules for ``jac=`` apply)."""
    from functools import partial

    from adopt.solvers.scipy import minimize

    bind = (lambda g: partial(g, **kwargs) if kwargs and callable(g) else g)
    if bounds is not None and not isinstance(bounds, so.Bounds):
        lb, ub = _bounds(bounds, np.size(x0))
        bounds = so.Bounds(lb, ub)
    return minimize(bind(fun), x0, args, method, jac=bind(jac), hess=bind(hess), hessp=bind(hessp),
                    bounds=bounds, constraints=constraints, tol=tol, callback=callback,
                    options=options, backend=backend)


def minimize_ipopt(fun: Callable[..., Any], x0: Any, args: tuple = (), kwargs: dict | None = None,
                   method: Any = None, jac: Any = None, hess: Any = None, hessp: Any = None,
                   bounds: Any = None, constraints: Any = (), tol: float | None = None,
                   callback: Callable[..., Any] | None = None, options: dict | None = None, *,
                   backend: Any) -> so.OptimizeResult:
    """``cyipopt.minimize_ipopt`` with exact derivatives from ``backend``.

    Solves ``min fun(x)`` subject to ``constraints`` and ``bounds`` with IPOPT. Everything is
    cyipopt's (signature, option handling and defaults: ``print_level`` 0, ``tol`` 1e-8,
    ``mu_strategy="adaptive"``; result fields, status codes and messages) except the
    derivatives: the gradient comes with the value from one evaluation, the constraint
    Jacobian with the constraint values, and IPOPT gets the exact Hessian of the Lagrangian
    ``σ∇²f + Σλᵢ∇²gᵢ``, computed as one Hessian of ``L(x; σ, λ)`` with ``σ`` and ``λ`` as
    :class:`adopt.Constant` contexts. Under :class:`adopt.AutoSparse` the Jacobian and the
    Hessian's lower triangle are sparse triplets whose structure is detected once (globally),
    at preparation. Preparation happens once per function and signature and is reused by
    later solves.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args, **kwargs) -> scalar``; ``x`` has ``x0``'s structure, array type and dtype.
    x0 : float, list, array of any shape (NumPy, JAX, torch), or dict / list / tuple of arrays
        IPOPT sees it flattened to 1-D float64; ``bounds`` refer to the flattened vector.
    args : tuple
        Extra arguments of ``fun`` (:class:`adopt.Constant` contexts: new values of the same
        shape need no new preparation).
    kwargs : dict, optional
        Extra keyword arguments of ``fun``.
    method : str, optional
        None (default) runs IPOPT. A SciPy method name runs
        :func:`adopt.solvers.scipy.minimize` instead, as cyipopt hands it to SciPy.
    jac : callable or bool, optional
        As in cyipopt, a gradient you give replaces the backend's: ``jac(x, *args, **kwargs)``
        (``x`` as ``fun`` gets it; the gradient in ``x0``'s shape or flat), or ``jac=True``
        when ``fun`` returns ``(value, gradient)`` (one call per point). None or False
        (default): the backend's gradient, computed with the value.
    hess : callable, optional
        As in cyipopt, the objective's Hessian ``hess(x, *args, **kwargs)`` (dense, full or
        lower triangle, or scipy.sparse) replaces the backend's; the constraints' part of the
        Lagrangian Hessian still comes from the backend. The backend evaluates ``fun`` once
        at preparation, to fix the Hessian's structure (your nonzeros must lie in it). To let
        IPOPT approximate the Hessian instead, pass
        ``options={"hessian_approximation": "limited-memory"}``: then no Hessian is prepared
        or computed.
    hessp : None
        Not supported by IPOPT (as in cyipopt); passed on with a SciPy ``method``.
    bounds : sequence of (min, max) pairs or scipy.optimize.Bounds, optional
        One pair for every variable, or one pair per variable; None means unbounded.
    constraints : dict, NonlinearConstraint, LinearConstraint, or a sequence of them
        Dicts ``{"type": "eq" | "ineq", "fun": ..., "args": ..., "kwargs": ...}`` (``fun == 0``
        / ``fun >= 0``, as cyipopt and SciPy's SLSQP take them), ``NonlinearConstraint(fun,
        lb, ub)`` (passed to IPOPT as ``lb <= g <= ub``) and ``LinearConstraint(A, lb, ub)``
        (evaluated as ``A @ x``, its Jacobian is ``A``). Constraint functions receive ``x`` in
        ``x0``'s structure; their Jacobians and Hessians come from the backend.
    tol : float, optional
        IPOPT's ``tol`` (default 1e-8); ``options["tol"]`` takes precedence.
    callback : callable, optional
        Called once per IPOPT iteration, as SciPy calls it: ``callback(intermediate_result)``
        with an ``OptimizeResult`` (``x`` in ``x0``'s structure, ``fun``, ``nit`` and IPOPT's
        ``inf_pr``, ``inf_du``, ``mu``, ``d_norm``, ``alpha_pr``, ...), or ``callback(xk)``.
        Raising ``StopIteration`` stops IPOPT (status 5). (cyipopt itself refuses callbacks.)
    options : dict, optional
        Passed to IPOPT, with ``disp`` -> ``print_level`` and ``maxiter`` -> ``max_iter``
        mapped as cyipopt maps them. An invalid option raises ``TypeError``.
    backend : backend
        ``AutoJAX()``, ``AutoTorch()``, ``AutoFiniteDiff()``, ``SecondOrder(...)`` (dense
        triplets), or ``AutoSparse(...)`` of them (sparse triplets: use it for large problems).

    Returns
    -------
    OptimizeResult
        cyipopt's fields: ``x`` (in ``x0``'s structure, array type and dtype), ``success``
        (IPOPT status 0 only: status 1, "solved to acceptable level", is not a success and its
        message says so), ``status`` and ``message`` (IPOPT's code and cyipopt's message, bytes),
        ``fun``, ``info`` (cyipopt's dict: ``g``, ``mult_g``, ``mult_x_L``, ``mult_x_U``, ...),
        ``nit``, ``nfev`` and ``njev`` (objective values and gradients: one evaluation each
        per point; with ``jac=``, calls of your functions); plus ``ncev`` (constraint values
        with their Jacobian) and ``nhev`` (Lagrangian Hessians).

    Raises
    ------
    Exception
        Whatever your functions raise, with its traceback: IPOPT stops at the end of the
        iteration and the exception propagates.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> from adopt.solvers.ipopt import minimize_ipopt
    >>> res = minimize_ipopt(lambda x: (x**2).sum(), np.array([3.0, 4.0]), backend=adopt.AutoFiniteDiff(),
    ...                      constraints={"type": "ineq", "fun": lambda x: x[0] + x[1] - 1.0})
    >>> bool(res.success), res.x.round(6), res.status
    (True, array([0.5, 0.5]), 0)
    """
    _check(fun, kwargs, method, hess, hessp, jac, callback)
    _numeric_x0(x0)
    tol = _tol(tol)
    args = args if isinstance(args, tuple) else (args,)
    if method is not None:
        return _scipy_method(fun, x0, args, kwargs, method, jac, hess, hessp, bounds, constraints,
                             tol, callback, options, backend)
    opts = _options(options, tol)
    d = NLPDerivatives(value_part(fun) if jac is True else fun, x0, backend, args, kwargs,
                       constraints, where="minimize_ipopt")
    given = Given(d, fun, jac, hess, args, dict(kwargs or {})) if jac or hess else None
    if not jac:
        d.objective_derivatives.prepare("jac")
    iterations = _Iterations(callback, d.flat)
    nlp = _problem(d, *_bounds(bounds, d.n), _exact_hessian(opts), iterations, given)
    iterations.nlp = nlp
    _add_options(nlp, opts)
    x, info = nlp.solve(d.x0)
    if d.error is not None:  # cyipopt raises it from solve; never report a result without it
        raise d.error
    status = int(info["status"])
    return so.OptimizeResult(x=d.flat.result(x), success=status == 0, status=status,
                             message=info["status_msg"], fun=float(info["obj_val"]), info=info,
                             nit=iterations.nit, **(given or d).counts())
