"""Constrained nonlinear programs (kind ``"nlp"``), solved by IPOPT through adopt.solvers.ipopt.

``min f(x)  s.t.  cl <= c(x) <= cu,  lb <= x <= ub``, each written once against the array API:

- the Hock–Schittkowski problems of ``data/hs.json`` (HS006, 007, 035, 039, 040, 044, 071, 076,
  100: W. Hock, K. Schittkowski, *Test Examples for Nonlinear Programming Codes*, LNEMS 187,
  1981), with their certified optimal values f*;
- ``luksan_vlcek1``: the chained Rosenbrock function with trigonometric–exponential equality
  constraints of Lukšan and Vlček, as Ipopt's ``examples/ScalableProblems/LuksanVlcek1.cpp``
  (problem ``LukVlE1``) defines it; n unknowns, n - 2 constraints;
- ``clnlbeam``: the clamped nonlinear beam (Maurer and Mittelmann 1991; CUTEst CLNLBEAM), as
  the JuMP paper's benchmark writes it (``mlubin/JuMPSupplement`` ``clnlbeam/clnlbeam.jl``):
  N intervals, 3(N + 1) unknowns (t, x, u), 2N equality constraints, t and x clamped at both
  ends.

The reference is f*: certified for Hock–Schittkowski; for the large problems (no certified
value exists) computed here by CasADi's own exact derivatives with its bundled IPOPT, labelled
so. ``problem.solve(backend)`` runs :func:`adopt.solvers.ipopt.minimize_ipopt` (AutoSparse
for the large ones) and compares f at the answer with f*.

Examples
--------
>>> from adopt.problems import nlp
>>> p = nlp.hock_schittkowski("HS071")
>>> p.n, p.m, round(float(p.objective(p.xstar)), 6), float(p.fstar)
(4, 2, 17.014017, 17.0140173)
>>> lv = nlp.luksan_vlcek1(10)
>>> float(lv.objective(lv.x0))   # 5 * 24.2 + 4 * 484
2057.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import numpy as np
import scipy.optimize as so

from adopt.problems._arrayapi import namespace
from adopt.problems._data import load
from adopt.problems._problem import Problem, fd_unreachable

__all__ = ["NLP", "problems", "hock_schittkowski", "luksan_vlcek1", "clnlbeam", "HS_NAMES"]


@dataclass(frozen=True)
class NLP:
    """One nonlinear program: functions written against the array API, data in NumPy.

    Attributes
    ----------
    name : str
    objective : callable
        ``f(x) -> scalar`` on NumPy, JAX or torch arrays.
    constraints : callable or None
        ``c(x) -> (m,)`` on the same arrays.
    cl, cu : numpy.ndarray
        ``cl <= c(x) <= cu`` (equal bounds: equality).
    lb, ub : numpy.ndarray
        Bounds on x (``±inf``: none).
    x0 : numpy.ndarray
        The standard start.
    fstar : float
        The reference optimal value.
    xstar : numpy.ndarray or None
        A minimiser where one is published.
    source : str
    sparse : bool
        Large and sparse: solve with an AutoSparse backend.
    note : str
    """

    name: str
    objective: Callable[[Any], Any]
    constraints: Callable[[Any], Any] | None
    cl: np.ndarray
    cu: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    x0: np.ndarray
    fstar: float
    source: str
    xstar: np.ndarray | None = None
    sparse: bool = False
    note: str = ""
    options: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.x0.size)

    @property
    def m(self) -> int:
        return int(self.cl.size)

    def bounds(self) -> so.Bounds | None:
        """The bounds on x as ``scipy.optimize.Bounds`` (None when x is free)."""
        if np.all(np.isinf(self.lb)) and np.all(np.isinf(self.ub)):
            return None
        return so.Bounds(self.lb, self.ub)

    def nonlinear_constraints(self) -> list[so.NonlinearConstraint]:
        """The constraints as one ``NonlinearConstraint(c, cl, cu)`` (none if unconstrained)."""
        if self.constraints is None:
            return []
        return [so.NonlinearConstraint(self.constraints, self.cl, self.cu)]

    def violation(self, x: np.ndarray) -> float:
        """The largest violation of the constraints and bounds at ``x`` (NumPy)."""
        x = np.asarray(x, dtype=float)
        v = [np.maximum(self.lb - x, 0), np.maximum(x - self.ub, 0)]
        if self.constraints is not None:
            c = np.asarray(self.constraints(x), dtype=float)
            v += [np.maximum(self.cl - c, 0), np.maximum(c - self.cu, 0)]
        return float(max(np.max(a, initial=0.0) for a in v))

    def solve(self, backend: Any, **options: Any) -> Any:
        """``minimize_ipopt`` on this problem (IPOPT's options as keywords); an OptimizeResult.

        Examples
        --------
        >>> import adopt
        >>> from adopt.problems import nlp
        >>> res = nlp.hock_schittkowski("HS035").solve(adopt.AutoFiniteDiff())
        >>> bool(res.success), round(res.fun, 8)
        (True, 0.11111111)
        """
        from adopt.solvers.ipopt import minimize_ipopt

        return minimize_ipopt(self.objective, self.x0, bounds=self.bounds(),
                              constraints=self.nonlinear_constraints(),
                              options={**self.options, **options}, backend=backend)


def _vector(x: Any, parts: list[Any]) -> Any:
    xp, _ = namespace(x)
    return xp.stack(parts)


# ---- Hock–Schittkowski -------------------------------------------------------------------
# objective and constraints (equalities first, then inequalities c >= 0) in the book's 1-based
# names, transcribed from the expressions of data/hs.json (0-based there: x1 is x[0]); the
# unknowns are unpacked once, which JAX traces far faster than repeated indexing
def _hs006(x: Any) -> tuple[Any, list[Any]]:
    x1, x2 = x
    return (1 - x1) ** 2, [10 * (x2 - x1 ** 2)]


def _hs007(x: Any) -> tuple[Any, list[Any]]:
    xp, _ = namespace(x)
    x1, x2 = x
    return xp.log(1 + x1 ** 2) - x2, [(1 + x1 ** 2) ** 2 + x2 ** 2 - 4]


def _hs035(x: Any) -> tuple[Any, list[Any]]:
    x1, x2, x3 = x
    f = 9 - 8 * x1 - 6 * x2 - 4 * x3 + 2 * x1 ** 2 + 2 * x2 ** 2 + x3 ** 2 + 2 * x1 * x2 + 2 * x1 * x3
    return f, [3 - x1 - x2 - 2 * x3]


def _hs039(x: Any) -> tuple[Any, list[Any]]:
    x1, x2, x3, x4 = x
    return -x1, [x2 - x1 ** 3 - x3 ** 2, x1 ** 2 - x2 - x4 ** 2]


def _hs040(x: Any) -> tuple[Any, list[Any]]:
    x1, x2, x3, x4 = x
    return -x1 * x2 * x3 * x4, [x1 ** 3 + x2 ** 2 - 1, x1 ** 2 * x4 - x3, x4 ** 2 - x2]


def _hs044(x: Any) -> tuple[Any, list[Any]]:
    x1, x2, x3, x4 = x
    f = x1 - x2 - x3 - x1 * x3 + x1 * x4 + x2 * x3 - x2 * x4
    return f, [8 - x1 - 2 * x2, 12 - 4 * x1 - x2, 12 - 3 * x1 - 4 * x2, 8 - 2 * x3 - x4,
               8 - x3 - 2 * x4, 5 - x3 - x4]


def _hs071(x: Any) -> tuple[Any, list[Any]]:
    x1, x2, x3, x4 = x
    return (x1 * x4 * (x1 + x2 + x3) + x3,
            [x1 ** 2 + x2 ** 2 + x3 ** 2 + x4 ** 2 - 40, x1 * x2 * x3 * x4 - 25])


def _hs076(x: Any) -> tuple[Any, list[Any]]:
    x1, x2, x3, x4 = x
    f = x1 ** 2 + 0.5 * x2 ** 2 + x3 ** 2 + 0.5 * x4 ** 2 - x1 * x3 + x3 * x4 - x1 - 3 * x2 + x3 - x4
    return f, [5 - x1 - 2 * x2 - x3 - x4, 4 - 3 * x1 - x2 - 2 * x3 + x4, x2 + 4 * x3 - 1.5]


def _hs100(x: Any) -> tuple[Any, list[Any]]:
    x1, x2, x3, x4, x5, x6, x7 = x
    f = ((x1 - 10) ** 2 + 5 * (x2 - 12) ** 2 + x3 ** 4 + 3 * (x4 - 11) ** 2 + 10 * x5 ** 6
         + 7 * x6 ** 2 + x7 ** 4 - 4 * x6 * x7 - 10 * x6 - 8 * x7)
    return f, [127 - 2 * x1 ** 2 - 3 * x2 ** 4 - x3 - 4 * x4 ** 2 - 5 * x5,
               282 - 7 * x1 - 3 * x2 - 10 * x3 ** 2 - x4 + x5,
               196 - 23 * x1 - x2 ** 2 - 6 * x6 ** 2 + 8 * x7,
               -4 * x1 ** 2 - x2 ** 2 + 3 * x1 * x2 - 2 * x3 ** 2 - 5 * x6 + 11 * x7]


_HS: dict[str, Callable[[Any], tuple[Any, list[Any]]]] = {
    "HS006": _hs006, "HS007": _hs007, "HS035": _hs035, "HS039": _hs039, "HS040": _hs040,
    "HS044": _hs044, "HS071": _hs071, "HS076": _hs076, "HS100": _hs100,
}
HS_NAMES = tuple(_HS)


def _hs_objective(name: str, x: Any) -> Any:
    return _HS[name](x)[0]


def _hs_constraints(name: str, x: Any) -> Any:
    return _vector(x, _HS[name](x)[1])


def _bound(values: list[float | None], fill: float) -> np.ndarray:
    return np.array([fill if v is None else v for v in values], dtype=np.float64)


def hock_schittkowski(name: str) -> NLP:
    """The Hock–Schittkowski problem ``name`` (``"HS071"``) from ``data/hs.json``."""
    entry = next(p for p in load("hs.json")["problems"] if p["name"] == name)
    neq, nin = len(entry["eq"]), len(entry["ineq"])
    return NLP(
        name=name, objective=partial(_hs_objective, name), constraints=partial(_hs_constraints, name),
        cl=np.zeros(neq + nin), cu=np.r_[np.zeros(neq), np.full(nin, np.inf)],
        lb=_bound(entry["lb"], -np.inf), ub=_bound(entry["ub"], np.inf),
        x0=np.array(entry["x0"], dtype=np.float64), fstar=float(entry["fstar"]),
        xstar=np.array(entry["xstar"], dtype=np.float64),
        source=f"f*: {entry['fstar_source']}; formulation: {entry['formulation_source']}",
        note=entry.get("note", ""))


# ---- Lukšan–Vlček 1 ----------------------------------------------------------------------
def luksan_vlcek_objective(x: Any) -> Any:
    """Chained Rosenbrock: sum of 100 (x_i² - x_{i+1})² + (x_i - 1)²."""
    xp, _ = namespace(x)
    return xp.sum(100.0 * (x[:-1] ** 2 - x[1:]) ** 2 + (x[:-1] - 1.0) ** 2)


def luksan_vlcek_constraints(x: Any) -> Any:
    """c_i = 3x_{i+1}³ + 2x_{i+2} - 5 + sin(x_{i+1} - x_{i+2}) sin(x_{i+1} + x_{i+2})
    + 4x_{i+1} - x_i exp(x_i - x_{i+1}) - 3, i = 0 .. n-3."""
    xp, _ = namespace(x)
    a, b, c = x[:-2], x[1:-1], x[2:]
    return (3.0 * b ** 3 + 2.0 * c - 5.0 + xp.sin(b - c) * xp.sin(b + c) + 4.0 * b
            - a * xp.exp(a - b) - 3.0)


#: f* computed here by ``python benchmarks/ipopt_casadi.py --reference``: CasADi 3.8.2 (SX, exact
#: Hessian) with its bundled Ipopt 3.14.19 (MUMPS 5.8.2), tol 1e-10, from the standard starts
#: (Solve_Succeeded in 7, 7, 74 and 370 iterations)
_COMPUTED = {
    ("luksan_vlcek1", 100): 6.232458632438e+00, ("luksan_vlcek1", 10000): 6.232458632438e+00,
    ("clnlbeam", 100): 3.448774699096e+02, ("clnlbeam", 3334): 3.448761334657e+02,
}
_CASADI = ("computed_here: CasADi 3.8.2 (SX, exact Hessian) with its bundled Ipopt 3.14.19, "
           "tol 1e-10, from the standard start (no certified value exists)")


def luksan_vlcek1(n: int) -> NLP:
    """Lukšan–Vlček 1 (Ipopt's ``LukVlE1``) with ``n`` unknowns from (-1.2, 1, -1.2, ...)."""
    x0 = np.where(np.arange(n) % 2 == 0, -1.2, 1.0)
    return NLP(
        name=f"luksan_vlcek1/{n}", objective=luksan_vlcek_objective,
        constraints=luksan_vlcek_constraints, cl=np.zeros(n - 2), cu=np.zeros(n - 2),
        lb=np.full(n, -np.inf), ub=np.full(n, np.inf), x0=x0,
        fstar=_COMPUTED.get(("luksan_vlcek1", n), np.nan), sparse=True,
        source=("coin-or/Ipopt examples/ScalableProblems/LuksanVlcek1.cpp (LukVlE1: g_l = g_u = 0); "
                "L. Lukšan, J. Vlček, 'Sparse and partially separable test problems for "
                f"unconstrained and equality constrained optimization', 1999; f*: {_CASADI}"))


# ---- CLNLBEAM ----------------------------------------------------------------------------
_ALPHA = 350.0


def clnlbeam_parts(N: int) -> tuple[slice, slice, slice]:
    """Where t, x and u sit in the vector of unknowns (N + 1 each)."""
    return slice(0, N + 1), slice(N + 1, 2 * N + 2), slice(2 * N + 2, 3 * N + 3)


def clnlbeam_objective(z: Any) -> Any:
    """sum_i h/2 (u_{i+1}² + u_i²) + α h/2 (cos t_{i+1} + cos t_i), h = 1/N, α = 350."""
    xp, _ = namespace(z)
    N = z.shape[0] // 3 - 1
    ts, _, us = clnlbeam_parts(N)
    t, u, h = z[ts], z[us], 1.0 / N
    return xp.sum(0.5 * h * (u[1:] ** 2 + u[:-1] ** 2) + 0.5 * _ALPHA * h * (xp.cos(t[1:]) + xp.cos(t[:-1])))


def clnlbeam_constraints(z: Any) -> Any:
    """x_{i+1} - x_i - h/2 (sin t_{i+1} + sin t_i) = 0 and t_{i+1} - t_i - h/2 (u_{i+1} + u_i) = 0."""
    xp, _ = namespace(z)
    N = z.shape[0] // 3 - 1
    ts, xs, us = clnlbeam_parts(N)
    t, x, u, h = z[ts], z[xs], z[us], 1.0 / N
    return xp.concat([x[1:] - x[:-1] - 0.5 * h * (xp.sin(t[1:]) + xp.sin(t[:-1])),
                      t[1:] - t[:-1] - 0.5 * h * (u[1:] + u[:-1])])


def clnlbeam(N: int) -> NLP:
    """CLNLBEAM with ``N`` intervals: start t_i = x_i = 0.05 cos(i h), u_i = 0.01; bounds
    -1 <= t <= 1, -0.05 <= x <= 0.05, t and x fixed to 0 at both ends."""
    ts, xs, us = clnlbeam_parts(N)
    s = 0.05 * np.cos(np.arange(N + 1) / N)
    lb, ub = np.full(3 * N + 3, -np.inf), np.full(3 * N + 3, np.inf)
    lb[ts], ub[ts], lb[xs], ub[xs] = -1.0, 1.0, -0.05, 0.05
    for end in (ts.start, ts.stop - 1, xs.start, xs.stop - 1):
        lb[end] = ub[end] = 0.0
    return NLP(
        name=f"clnlbeam/{N}", objective=clnlbeam_objective, constraints=clnlbeam_constraints,
        cl=np.zeros(2 * N), cu=np.zeros(2 * N), lb=lb, ub=ub, x0=np.concatenate([s, s, np.full(N + 1, 0.01)]),
        fstar=_COMPUTED.get(("clnlbeam", N), np.nan), sparse=True, options={"mu_strategy": "monotone"},
        note=("hard for IPOPT from this start, and the number of iterations is chaotic (CasADi's run "
              "at N = 1666 takes 454, or 360 to 442 from a start perturbed by 1e-15 relative); solved "
              "with IPOPT's own default barrier update (monotone, as CasADi and JuMP run it): at "
              "N = 3334 154 iterations on AutoJAX, 145 on AutoTorch, where cyipopt's default "
              "(adaptive) takes 884; f* is stable to 1e-10"),
        source=("mlubin/JuMPSupplement@07c282e0513dd204e9600975e05f08c40f368da0 clnlbeam/clnlbeam.jl "
                "(H. Maurer, H.D. Mittelmann, 'The non-linear beam via optimal control with bound "
                f"state variables', Optim. Control Appl. Meth. 12, 1991; CUTEst CLNLBEAM); f*: {_CASADI}"))


# ---- the catalogue -------------------------------------------------------------------------
def _route(nlp: NLP, problem: Problem, backend: Any, options: dict) -> tuple[Any, str]:
    """``Problem.solver``: IPOPT through minimize_ipopt (AutoSparse for sparse problems unless
    ``sparse=False``), as an :class:`adopt.problems.algorithms.Result` whose history is IPOPT's
    max(primal, dual infeasibility) per iteration."""
    import adopt
    from adopt.problems.algorithms import Result
    from adopt.solvers.ipopt import minimize_ipopt

    sparse = options.pop("sparse", nlp.sparse) and not isinstance(backend, adopt.AutoSparse)
    b = adopt.AutoSparse(backend) if sparse else backend
    history: list[float] = []

    def record(intermediate_result: Any) -> None:
        history.append(max(intermediate_result.inf_pr, intermediate_result.inf_du))

    res = minimize_ipopt(nlp.objective, nlp.x0, bounds=nlp.bounds(), constraints=nlp.nonlinear_constraints(),
                         callback=record, options={**nlp.options, **options}, backend=b)
    x = np.asarray(res.x, dtype=float)
    info = {"status": res.status, "njev": res.njev, "ncev": res.ncev, "nhev": res.nhev,
            "violation": nlp.violation(x)}
    result = Result(x=x, converged=bool(res.success), message=res.message.decode(), nit=res.nit,
                    nfev=res.nfev, history=tuple(history), info=info)
    return result, "ipopt" + ("/sparse" if isinstance(b, adopt.AutoSparse) else "")


def _problem(nlp: NLP, quick: bool, fd_cost: str = "") -> Problem:
    f = nlp.objective
    return Problem(
        name=f"nlp/{nlp.name}", kind="nlp", fun=f, x0=nlp.x0, reference=np.array([nlp.fstar]),
        rtol=1e-6, floor=1.0 if nlp.fstar == 0 else 0.0,
        observe=lambda x: np.array([float(f(np.asarray(x, dtype=float)))]),
        source=nlp.source, sparse=nlp.sparse, quick=quick, solver=partial(_route, nlp),
        note=nlp.note or "error: |f(x) - f*| / |f*| at IPOPT's answer (absolute where f* = 0)",
        unreachable=fd_unreachable(_FD_HESSIAN.format(twice=2 * nlp.n, cost=fd_cost)) if fd_cost else {})


#: why the large NLPs do not run on finite differences (costs measured on this machine, one core)
_FD_HESSIAN = ("IPOPT needs the Lagrangian Hessian at every iteration, and finite differences "
               "have no reverse mode: the gradient of the Lagrangian costs 2n = {twice} evaluations, "
               "and its sparse Hessian one such gradient difference per color, Theta(n^2) in all "
               "({cost}); use AutoJAX or AutoTorch")


#: in the quick slice (the others are small too, but each JAX solve compiles three functions;
#: tests/solvers/test_ipopt.py solves all of them on three backends)
_QUICK = ("HS071", "HS100")


def problems() -> list[Problem]:
    """The Hock–Schittkowski problems, Lukšan–Vlček 1 at n = 100 and 10⁴, CLNLBEAM at
    N = 100 and 3334 (303 and 10005 unknowns)."""
    hs = [_problem(hock_schittkowski(name), name in _QUICK) for name in HS_NAMES]
    large = [_problem(luksan_vlcek1(100), True),
             _problem(luksan_vlcek1(10_000), False, "108 s per Hessian at n = 10^4, and IPOPT takes "
                      "7 iterations or more: a quarter of an hour"),
             _problem(clnlbeam(100), True),
             _problem(clnlbeam(3334), False, "16 s per Hessian at n = 10005, and IPOPT takes "
                      "about 150 iterations from this start: 40 minutes")]
    return hs + large
