"""``route="scipy"``: the problems through SciPy's solvers with adopt's derivatives
(:mod:`adopt.solvers.scipy`), for a side-by-side with adopt's reference algorithms.

============== =============================================================================
kind           SciPy solver (default method)
============== =============================================================================
least_squares  ``least_squares`` (``"lm"``; ``"trf"`` with a sparse Jacobian and LSMR for sparse
               problems), tolerances 1e-15 so that the answers can meet certified values
root           ``root`` (``"hybr"``; ``"krylov"`` for the Newton–Krylov problems, with the
               problem's preconditioner as ``inner_M``), ``fatol`` 1e-12
minimize       ``minimize`` (``"Newton-CG"``: gradient and Hessian-vector products; ``xtol``
               1e-12)
ode            ``solve_ivp`` (``"Radau"``, the problem's rtol and atol; restarted at ``t_breaks``)
============== =============================================================================

Options are SciPy's, passed through (``method=``, ``options=``, tolerances); the problem's own
``options`` belong to the adopt route and are not used here (except the ODE tolerances).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import adopt
from adopt.problems.algorithms import Result
from adopt.problems._problem import Problem

__all__ = ["solve_scipy"]


def _result(res: Any, x: np.ndarray) -> Result:
    nit = int(res.get("nit", res.get("njev", 0)) or 0)
    return Result(np.asarray(x, dtype=float), bool(res.success), str(res.message), nit,
                  int(res.get("nfev", 0)))


def _least_squares(p: Problem, backend: Any, opts: dict) -> tuple[Result, str]:
    from adopt.solvers.scipy import least_squares

    method = opts.pop("method", "trf" if p.sparse else "lm")
    if method != "lm" and p.sparse and not isinstance(backend, adopt.AutoSparse):
        backend, opts = adopt.AutoSparse(backend), {"tr_solver": "lsmr", **opts}
    tols = {k: opts.pop(k, 1e-15) for k in ("ftol", "xtol", "gtol")}
    res = least_squares(p.fun, p.x0, method=method, backend=backend, **tols, **opts)
    return _result(res, res.x), f"scipy least_squares {method}"


def _root(p: Problem, backend: Any, opts: dict) -> tuple[Result, str]:
    from scipy.sparse.linalg import LinearOperator

    from adopt.solvers.scipy import root

    krylov = p.options.get("method") == "jfnk"
    method = opts.pop("method", "krylov" if krylov else "hybr")
    options = dict(opts.pop("options", {}))
    if method == "krylov":
        options.setdefault("fatol", 1e-12)
        if p.preconditioner is not None and opts.pop("precondition", True):
            M = p.preconditioner(p.x0)
            options.setdefault("jac_options", {"inner_M": LinearOperator((p.n, p.n), matvec=M)})
    res = root(p.fun, p.x0, method=method, options=options, backend=backend, **opts)
    return _result(res, res.x), f"scipy root {method}"


def _minimize(p: Problem, backend: Any, opts: dict) -> tuple[Result, str]:
    from adopt.solvers.scipy import minimize

    method = opts.pop("method", "Newton-CG")
    if method == "Newton-CG":
        opts["options"] = {"xtol": 1e-12, **opts.get("options", {})}
    res = minimize(p.fun, p.x0, method=method, backend=backend, **opts)
    return _result(res, res.x), f"scipy minimize {method}"


def _ode(p: Problem, backend: Any, opts: dict) -> tuple[Result, str]:
    from adopt.solvers.scipy import solve_ivp

    method = opts.pop("method", "Radau")
    if p.sparse and not isinstance(backend, adopt.AutoSparse):
        backend = adopt.AutoSparse(backend)
    tols = {"rtol": opts.pop("rtol", p.options.get("rtol", 1e-6)),
            "atol": opts.pop("atol", p.options.get("atol", 1e-8))}
    edges = [p.t_span[0], *(b for b in p.t_breaks if p.t_span[0] < b < p.t_span[1]), p.t_span[1]]
    y, ys, nfev, nlu = p.x0, {}, 0, 0
    for t0, t1 in zip(edges[:-1], edges[1:]):
        t_eval = [t for t in p.t_ref if t0 < t <= t1]
        res = solve_ivp(p.fun, (t0, t1), y, method=method, t_eval=[*t_eval, t1] if t1 not in t_eval
                        else t_eval, backend=backend, **tols, **opts)
        nfev, nlu = nfev + res.nfev, nlu + res.nlu  # SciPy reports LU factorisations, not steps
        if not res.success:
            return Result(np.full((len(p.t_ref), p.n), np.nan), False, res.message, nlu, nfev), method
        ys.update({t: res.y[:, i] for i, t in enumerate(res.t) if t in t_eval})
        y = res.y[:, -1]
    return Result(np.array([ys[t] for t in p.t_ref]), True, "reached the end of t_span", nlu, nfev), \
        f"scipy solve_ivp {method}"


_ROUTES = {"least_squares": _least_squares, "root": _root, "minimize": _minimize, "ode": _ode}


def solve_scipy(p: Problem, backend: Any, opts: dict) -> tuple[Result, str]:
    """Run ``p`` through the SciPy adapter of its kind; ``NotImplementedError`` if none."""
    if p.kind not in _ROUTES:
        raise NotImplementedError(f"{p.name}: route 'scipy' has no solver for kind {p.kind!r} "
                                  "(adopt.solvers.scipy adapts minimize, least_squares, root, "
                                  "newton_krylov and solve_ivp)")
    return _ROUTES[p.kind](p, backend, opts)
