"""Solving the catalogue: every problem on AutoJAX (the large ones too), a slice on AutoTorch
and finite differences (and AutoSparse), the operators a run calls, and the failure paths.

A solve passes when adopt's reference algorithm converges and its answer agrees with the
problem's reference (certified values, published solutions) within the problem's tolerance.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from array_api_compat import array_namespace

import adopt
from adopt.problems import Outcome, Problem, catalog, problem

#: the longest solves, first so that they start at once on their own workers (CPU, measured
#: 2026-11-29): the certified 128 x 128 Brusselator (HW's BRUSS-2D), RODAS on 32768 equations,
#: one sparse LU per step over 263 steps, ~145 s; CLNLBEAM at N = 3334 (10005 unknowns), IPOPT's
#: 154 iterations, ~18 s.
LONGEST = ("ode/brusselator2d/128", "nlp/clnlbeam/3334")
EVERY = [problem(n) for n in LONGEST] + [p for p in catalog() if p.name not in LONGEST]

#: one or more problems per route: dense, sparse and matrix-free, all eight operators
SLICE = ["nist/MGH09/start2", "nist/Thurber/start2", "mgh/powell_badly_scaled",
         "mgh/extended_rosenbrock/1000", "mgh/extended_rosenbrock_ls/100", "bratu2d/16/6.8",
         "scipy/newton_krylov_example", "ode/robertson", "ode/brusselator1d",
         "minimize/rosenbrock_ext/100", "minimize/variably_dimensioned/100", "scalar/kepler/e0.99/M0.01"]
ALL_EIGHT = {"pushforward", "pullback", "derivative", "gradient", "jacobian", "second_derivative",
             "hvp", "hessian"}
#: the operators each route calls (kind, method without "/sparse")
ROUTE_OPERATORS = {
    ("least_squares", "lm"): {"jacobian"}, ("least_squares", "lm/matrix-free"): {"pushforward", "pullback"},
    ("root", "newton"): {"jacobian"}, ("root", "jfnk"): {"pushforward"},
    ("minimize", "newton"): {"gradient", "hessian"}, ("minimize", "newton-cg"): {"gradient", "hvp"},
    ("minimize", "lbfgs"): {"gradient"}, ("ode", "rodas"): {"jacobian", "derivative"},
    ("scalar", "halley"): {"derivative", "second_derivative"},
    ("nlp", "ipopt"): {"gradient", "jacobian", "hessian"},
}


def _check(out: Outcome, p: Problem) -> None:
    assert out.success, f"{p.name} on {out.backend}: {out.message}"
    assert out.converged and out.error <= out.tolerance
    assert out.problem == p.name and out.iterations > 0 and out.time > 0
    assert out.nder > 0 and out.operators and out.history
    assert np.shape(out.solution) == (np.shape(p.reference)[:1] + np.shape(p.x0) if p.kind == "ode"
                                      else np.shape(p.x0))


def _check_route(out: Outcome, p: Problem) -> None:
    """The operators recorded are those of the route, sparse where the problem is."""
    method, sparse = out.method.removesuffix("/sparse"), out.method.endswith("/sparse")
    assert out.operators == ROUTE_OPERATORS[p.kind, method]
    assert sparse == (p.sparse and method in ("newton", "rodas", "ipopt"))


@pytest.mark.parametrize("p", EVERY, ids=[p.name for p in EVERY])
def test_every_problem_on_jax(p: Problem) -> None:
    out = p.solve(adopt.AutoJAX())
    _check(out, p)
    _check_route(out, p)


@pytest.mark.parametrize("backend", [adopt.AutoTorch(), adopt.AutoFiniteDiff()],
                         ids=["AutoTorch", "AutoFiniteDiff"])
@pytest.mark.parametrize("name", SLICE)
def test_slice_on_torch_and_finite_differences(name: str, backend: object) -> None:
    p = problem(name)
    out = p.solve(backend)
    _check(out, p)
    _check_route(out, p)
    assert out.tolerance == (p.fd_rtol or p.rtol if isinstance(backend, adopt.AutoFiniteDiff) else p.rtol)


def test_the_slice_calls_all_eight_operators_and_counts_are_recorded_calls() -> None:
    """The union over one run: tests/problems/test_problems_cli.py runs it through ``adopt
    problems``; here, that the slice's routes (checked above) cover all eight."""
    assert set().union(*(ROUTE_OPERATORS[problem(n).kind, _method(problem(n))] for n in SLICE)) == ALL_EIGHT
    # counts are recorded calls: Halley calls value_and_derivative and second_derivative per step
    kepler = problem("scalar/kepler/e0.5/M1").solve(adopt.AutoFiniteDiff())
    assert kepler.nder == 2 * kepler.iterations + (kepler.history[-1] == 0.0)


def _method(p: Problem) -> str:
    """The route a problem's default options choose (as Outcome.method, without "/sparse")."""
    default = {"least_squares": "lm", "root": "newton", "minimize": "newton", "ode": "rodas",
               "scalar": "halley", "nlp": "ipopt"}[p.kind]
    method = p.options.get("method", default)
    return method + ("/matrix-free" if p.options.get("matrix_free") else "")


@pytest.mark.parametrize("backend", [adopt.AutoSparse(adopt.AutoJAX()),
                                     adopt.AutoSparse(adopt.AutoFiniteDiff())], ids=["jax", "fd"])
def test_explicit_autosparse_newton_on_bratu(backend: object) -> None:
    p = problem("bratu2d/16/6.0")
    out = p.solve(backend, method="newton")
    _check(out, p)
    assert out.method == "newton" and out.operators == {"jacobian"}


def test_dense_route_of_a_sparse_problem() -> None:
    p = problem("mgh/extended_rosenbrock/10")
    dense, sparse = p.solve(adopt.AutoFiniteDiff(), sparse=False), p.solve(adopt.AutoFiniteDiff())
    _check(dense, p)
    assert (dense.method, sparse.method) == ("newton", "newton/sparse")


@pytest.mark.parametrize("method,options", [("gn", {}), ("gn", {"matrix_free": True}),
                                            ("lm", {"matrix_free": True})])
def test_other_least_squares_routes(method: str, options: dict) -> None:
    p = problem("nist/DanWood/start1")  # well scaled: the matrix-free forms have no column scaling
    out = p.solve(adopt.AutoJAX(), method=method, **options)
    _check(out, p)
    assert out.operators == ({"pushforward", "pullback"} if options else {"jacobian"})


def test_unpreconditioned_newton_krylov() -> None:
    p = problem("bratu2d/16/6.0")
    fd = adopt.AutoFiniteDiff()
    with_m, without = p.solve(fd), p.solve(fd, precondition=False)
    _check(without, p)
    assert without.info["krylov"] > 3 * with_m.info["krylov"]


# ---- failure paths ---------------------------------------------------------------------------

def _nan_at_start(kind: str) -> Problem:
    """A problem of ``kind`` whose function is NaN at its start (the log of a negative number)."""
    def fun(*a):
        x = a[-1]
        xp = array_namespace(x)
        with np.errstate(invalid="ignore"):
            out = xp.log(2.0 - x) + x
        return xp.sum(out * out) if kind == "minimize" else out

    x0 = np.asarray(5.0) if kind == "scalar" else np.full(3, 5.0)
    extra = {"t_span": (0.0, 1.0), "t_ref": np.array([1.0])} if kind == "ode" else {}
    ref = np.zeros((1, 3)) if kind == "ode" else np.zeros_like(x0)
    return Problem("test/nan", kind, fun, x0, ref, 1e-8, "a test", **extra)


@pytest.mark.parametrize("kind,options", [("least_squares", {}), ("least_squares", {"method": "gn"}),
                                          ("root", {}), ("root", {"method": "jfnk"}),
                                          ("minimize", {}), ("minimize", {"method": "newton-cg"}),
                                          ("minimize", {"method": "lbfgs"}), ("ode", {}), ("scalar", {})])
def test_nan_in_the_function_stops_with_a_clear_message(kind: str, options: dict) -> None:
    out = _nan_at_start(kind).solve(adopt.AutoFiniteDiff(), **options)
    assert not out.success and not out.converged
    assert "NaN" in out.message and "stopped" in out.message


@pytest.mark.parametrize("name,options", [
    ("nist/MGH10/start2", {"maxiter": 3}), ("mgh/powell_singular", {"maxiter": 2}),
    ("bratu2d/16/6.8", {"maxiter": 2}), ("minimize/rosenbrock/2", {"maxiter": 3}),
    ("minimize/variably_dimensioned/100", {"maxiter": 2}), ("ode/hires", {"max_steps": 5}),
    ("training/logistic_regression", {"maxiter": 2}),
    ("scalar/kepler/e0.99/M0.01", {"maxiter": 1})])
def test_iteration_limit_is_a_failure(name: str, options: dict) -> None:
    out = problem(name).solve(adopt.AutoFiniteDiff(), **options)
    assert not out.success and not out.converged
    assert "maximum number of" in out.message and "reached" in out.message


def test_converged_to_the_wrong_answer_is_a_failure() -> None:
    p = problem("nist/BoxBOD/start1")  # Moré's scaling leads to another basin from start 1
    out = p.solve(adopt.AutoJAX(), scale=True)
    assert out.converged and not out.success
    assert "off the reference" in out.message


def test_unreachable_backend_raises_with_the_reason() -> None:
    p = problem("nist/Hahn1/start1")
    for method in ("central", "forward", "complex"):
        with pytest.raises(NotImplementedError, match="far larger than b7 = -1.2e-7"):
            p.solve(adopt.AutoFiniteDiff(method=method))
    _check(p.solve(adopt.AutoFiniteDiff(method="complex", rel_step=1e-20)), p)  # an exact step


def test_bad_route_and_method() -> None:
    p = problem("mgh/rosenbrock")
    with pytest.raises(NotImplementedError, match="no route 'nowhere'"):
        p.solve(adopt.AutoFiniteDiff(), route="nowhere")
    with pytest.raises(ValueError, match="method must be one of"):
        p.solve(adopt.AutoFiniteDiff(), method="bisection")


def test_user_exceptions_propagate() -> None:
    def boom(x):
        raise RuntimeError("boom in user code")

    p = Problem("test/boom", "root", boom, np.zeros(2), np.zeros(2), 1e-8, "a test")
    with pytest.raises(RuntimeError, match="boom in user code"):
        p.solve(adopt.AutoFiniteDiff())


# ---- the SciPy route, side by side -------------------------------------------------------------

@pytest.mark.parametrize("name,method,operators", [
    ("nist/Misra1a/start2", "scipy least_squares lm", {"jacobian"}),
    ("mgh/wood", "scipy root hybr", {"jacobian"}),
    ("bratu2d/16/6.8", "scipy root krylov", {"pushforward"}),
    ("minimize/rosenbrock/2", "scipy minimize Newton-CG", {"gradient", "hvp"}),
    ("ode/robertson", "scipy solve_ivp Radau", {"jacobian"})])
def test_scipy_route(name: str, method: str, operators: set) -> None:
    p = problem(name)
    out = p.solve(adopt.AutoFiniteDiff(), route="scipy")
    assert out.success, out.message
    assert out.route == "scipy" and out.method == method and out.operators == operators


def test_scipy_route_has_no_scalar_solver() -> None:
    with pytest.raises(NotImplementedError, match="route 'scipy' has no solver for kind 'scalar'"):
        problem("scalar/kepler/e0.5/M1").solve(adopt.AutoFiniteDiff(), route="scipy")


# ---- the NLPs of problems/nlp.py (IPOPT) and the training objectives (L-BFGS) -------------------

#: a few Hock–Schittkowski problems on torch and finite differences (test_every_problem_on_jax
#: solves every NLP on JAX; tests/solvers/test_ipopt.py all of them on three backends)
@pytest.mark.parametrize("backend", [adopt.AutoTorch(), adopt.AutoFiniteDiff()],
                         ids=["AutoTorch", "AutoFiniteDiff"])
@pytest.mark.parametrize("name", ["nlp/HS035", "nlp/HS071"])
def test_nlp_slice_through_ipopt(name: str, backend: object) -> None:
    p = problem(name)
    out = p.solve(backend)
    _check(out, p)
    assert out.method == "ipopt" and out.operators == {"gradient", "jacobian", "hessian"}
    assert out.info["violation"] <= 1e-7


def test_nlp_without_cyipopt_raises_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cyipopt", None)  # as if cyipopt were not installed
    with pytest.raises(adopt.MissingDependencyError, match="needs cyipopt: pip install"):
        problem("nlp/HS071").solve(adopt.AutoFiniteDiff())


@pytest.mark.parametrize("backend", [adopt.AutoTorch(), adopt.AutoFiniteDiff()], ids=["AutoTorch", "AutoFiniteDiff"])
def test_training_by_lbfgs(backend: object) -> None:
    p = problem("training/logistic_regression")
    out = p.solve(backend)
    _check(out, p)
    assert out.method == "lbfgs" and out.operators == {"gradient"}


def test_finite_differences_options_and_tolerance() -> None:
    p = problem("training/chained_rosenbrock/n200")
    fd = adopt.AutoSparse(adopt.AutoFiniteDiff())
    assert p.options_for(fd) == {**p.options, "gtol": 1e-7} and p.tolerance(fd) == 1e-5
    assert p.options_for(adopt.AutoJAX()) == p.options and p.tolerance(adopt.AutoJAX()) == p.rtol
