"""adopt.solvers.ipopt against its references: the Hock–Schittkowski optima on three backends,
cyipopt run with hand-written derivatives, Ipopt's own hand-coded Lukšan–Vlček derivatives, and
the conventions cyipopt's test suite checks (bounds forms, args/kwargs, constraint forms,
options, result fields, status codes, input errors), plus exceptions, callbacks and reuse."""

from __future__ import annotations

import gc
import sys
import traceback
import weakref

import cyipopt
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sp
import torch
from array_api_compat import array_namespace

from adopt import AutoFiniteDiff, AutoJAX, AutoSparse, AutoTorch, MissingDependencyError
from adopt.problems import nlp
from adopt.solvers.ipopt import NLPDerivatives, make_problem, minimize_ipopt

BACKENDS = {"AutoJAX": (AutoJAX(), jnp.asarray), "AutoTorch": (AutoTorch(), torch.from_numpy),
            "AutoFiniteDiff": (AutoFiniteDiff(), np.asarray)}


def sphere(x):
    return (x**2).sum()


# ---- the Hock–Schittkowski optima ---------------------------------------------------------
@pytest.mark.parametrize("name", nlp.HS_NAMES)
@pytest.mark.parametrize("label", list(BACKENDS))
def test_hock_schittkowski_reaches_its_certified_optimum(label, name):
    backend, as_array = BACKENDS[label]
    p = nlp.hock_schittkowski(name)
    x0 = as_array(p.x0.copy())
    res = minimize_ipopt(p.objective, x0, bounds=p.bounds(), constraints=p.nonlinear_constraints(),
                         backend=backend)
    assert res.success and res.status == 0, res.message
    scale = abs(p.fstar) if p.fstar else 1.0
    assert abs(res.fun - p.fstar) <= 1e-6 * scale
    assert type(res.x) is type(x0) and tuple(res.x.shape) == p.x0.shape
    x = np.asarray(res.x, dtype=float)
    assert p.violation(x) <= 1e-7 and abs(float(p.objective(x)) - res.fun) <= 1e-12 * max(1.0, scale)
    assert res.nfev == res.njev > 0 and res.nhev == res.nit    # value + gradient: one evaluation


# ---- cyipopt's own runs as references -------------------------------------------------------
def hs071(x):
    return x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]


def test_same_iterates_as_cyipopt_with_hand_written_derivatives():
    """cyipopt's test_minimize_ipopt_hs071 (dense hand-written Hessians) is the reference."""
    def grad(x):
        return np.array([x[3] * (2 * x[0] + x[1] + x[2]), x[0] * x[3], x[0] * x[3] + 1,
                         x[0] * (x[0] + x[1] + x[2])])

    def hess(x):
        s = 2 * x[0] + x[1] + x[2]
        return np.array([[2 * x[3], 0, 0, 0], [x[3], 0, 0, 0], [x[3], 0, 0, 0], [s, x[0], x[0], 0]])

    def prod_hess(x, v):
        a, b, c, d = x
        return v[0] * np.array([[0, 0, 0, 0], [c * d, 0, 0, 0], [b * d, a * d, 0, 0],
                                [b * c, a * c, a * b, 0]])

    eq = {"type": "eq", "fun": lambda x: (x**2).sum() - 40, "jac": lambda x: 2 * x,
          "hess": lambda x, v: v[0] * 2.0 * np.eye(4)}
    ineq = {"type": "ineq", "fun": lambda x: x.prod() - 25, "jac": lambda x: np.prod(x) / x,
            "hess": prod_hess}
    x0, bounds = np.array([1.0, 5.0, 5.0, 1.0]), [(1, 5)] * 4
    ref = cyipopt.minimize_ipopt(hs071, x0, jac=grad, hess=hess, bounds=bounds, constraints=[eq, ineq])
    mine = [{"type": c["type"], "fun": c["fun"]} for c in (eq, ineq)]
    res = minimize_ipopt(hs071, x0, bounds=bounds, constraints=mine, backend=AutoSparse(AutoJAX()))
    assert (res.status, res.message, res.nit) == (ref.status, ref.message, ref.nit)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-9)
    np.testing.assert_allclose(res.info["mult_g"], ref.info["mult_g"], rtol=1e-7)
    # cyipopt's published answer (test_minimize_ipopt_sparse_jac_if_scipy)
    np.testing.assert_allclose(res.x, [0.99999999, 4.74299964, 3.82114998, 1.3794083], rtol=1e-7)
    assert np.isclose(res.fun, 17.01401727277449)


# ---- derivatives in IPOPT's triplet form, against Ipopt's hand-coded LuksanVlcek1.cpp -------
def _ipopt_jacobian(x):
    """eval_jac_g of Ipopt's examples/ScalableProblems/LuksanVlcek1.cpp: rows i, columns i..i+2."""
    a, b, c = x[:-2], x[1:-1], x[2:]
    e = np.exp(a - b)
    vals = np.stack([-(1 + a) * e,
                     9 * b**2 + np.cos(b - c) * np.sin(b + c) + np.sin(b - c) * np.cos(b + c) + 4 + a * e,
                     2 - np.cos(b - c) * np.sin(b + c) + np.sin(b - c) * np.cos(b + c)], axis=1)
    rows = np.repeat(np.arange(x.size - 2), 3)
    cols = rows + np.tile([0, 1, 2], x.size - 2)
    return sp.csr_array((vals.ravel(), (rows, cols)), shape=(x.size - 2, x.size))


def _ipopt_hessian(x, lam, sigma):
    """eval_h of LuksanVlcek1.cpp: the tridiagonal Hessian of the Lagrangian (lower triangle)."""
    n = x.size
    d, o = np.zeros(n), np.zeros(n - 1)
    d[:-1] += sigma * (2 + 400 * (3 * x[:-1]**2 - x[1:]))
    d[1:] += sigma * 200
    o += sigma * (-400 * x[:-1])
    i = np.arange(n - 2)
    a, b, c = x[i], x[i + 1], x[i + 2]
    d[i] -= lam * (2 + a) * np.exp(a - b)
    o[i] += lam * (1 + a) * np.exp(a - b)
    d[i + 1] += lam * (18 * b - 2 * np.sin(b - c) * np.sin(b + c) + 2 * np.cos(b - c) * np.cos(b + c)
                       - a * np.exp(a - b))
    d[i + 2] += lam * (-2 * np.sin(b - c) * np.sin(b + c) - 2 * np.cos(b - c) * np.cos(b + c))
    return sp.tril(sp.diags([d, o], [0, -1])).tocsr()


def _matrix(structure, values, shape):
    return sp.csr_array(sp.coo_array((values, structure), shape=shape))


@pytest.mark.parametrize("backend", [AutoSparse(AutoJAX()), AutoFiniteDiff()], ids=["sparse-jax", "dense-fd"])
def test_jacobian_and_lagrangian_hessian_triplets_match_ipopts_hand_coded_ones(backend):
    n, rng = 40, np.random.default_rng(0)
    p = nlp.luksan_vlcek1(n)
    d = NLPDerivatives(p.objective, p.x0, backend, constraints=p.nonlinear_constraints())
    x, lam, sigma = rng.uniform(-1, 1, n), rng.standard_normal(n - 2), 0.7
    J = _matrix(d.jacobianstructure(), d.jacobian(x), (n - 2, n))
    H = _matrix(d.hessianstructure(), d.hessian(x, lam, sigma), (n, n))
    rtol = 1e-6 if isinstance(backend, AutoFiniteDiff) else 1e-12
    np.testing.assert_allclose(J.toarray(), _ipopt_jacobian(x).toarray(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(H.toarray(), _ipopt_hessian(x, lam, sigma).toarray(),
                               rtol=10 * rtol, atol=10 * rtol)
    rows, cols = d.hessianstructure()
    assert np.all(rows >= cols)                                   # IPOPT's lower triangle
    if isinstance(backend, AutoSparse):                           # Ipopt's own structure sizes
        assert (d.jacobianstructure()[0].size, rows.size) == (3 * (n - 2), 2 * n - 1)
    else:                                                         # dense triplets
        assert (d.jacobianstructure()[0].size, rows.size) == ((n - 2) * n, n * (n + 1) // 2)
    np.testing.assert_allclose(d.constraints(x), nlp.luksan_vlcek_constraints(x), rtol=1e-14)
    assert d.ncev == 1 and d.nhev == 1                            # values with the Jacobian


def test_large_luksan_vlcek_solves_with_the_sparse_lagrangian_hessian():
    p = nlp.luksan_vlcek1(10_000)
    res = p.solve(AutoSparse(AutoJAX()))
    assert res.success and res.nit == 6          # CasADi's IPOPT: 6 iterations too (benchmark)
    assert abs(res.fun - p.fstar) <= 1e-6 * p.fstar and p.violation(np.asarray(res.x)) <= 1e-8


def test_clnlbeam_solves_with_bounds_and_fixed_variables():
    p = nlp.clnlbeam(100)
    res = p.solve(AutoSparse(AutoJAX()))
    x = np.asarray(res.x)
    assert res.success and abs(res.fun - p.fstar) <= 1e-6 * p.fstar and p.violation(x) <= 1e-7
    assert x[0] == x[100] == x[101] == x[201] == 0.0          # t and x clamped at both ends


# ---- cyipopt's conventions ------------------------------------------------------------------
@pytest.mark.parametrize("bounds, expected", [([1, 10], [1, 1]), ([None, None], [0, 0]),
                                              (so.Bounds(lb=0.5, ub=[1, 2]), [0.5, 0.5]),
                                              ([(1, None), (None, -2)], [1, -2])])
def test_bounds_forms_as_cyipopt(bounds, expected):
    res = minimize_ipopt(lambda x: x @ x, [2, 3], bounds=bounds, backend=AutoFiniteDiff())
    np.testing.assert_allclose(res.x, expected, atol=1e-7)


def test_args_and_kwargs_reach_the_objective_and_the_constraints():
    """cyipopt's test_minimize_ipopt_jac_hessians_constraints_with_arg_kwargs, derivatives exact."""
    def rosen2(x, a, b=None):
        return ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum() * a * b

    con = {"type": "ineq", "fun": lambda x, a, b=None: -x[0]**2 - x[1]**2 + 2 * a * b,
           "args": (1.0,), "kwargs": {"b": 1.0}}
    for backend in (AutoJAX(), AutoTorch(), AutoFiniteDiff()):
        res = minimize_ipopt(rosen2, [0.0, 0.0], args=(1.0,), kwargs={"b": 1.0}, constraints=con,
                             backend=backend)
        assert res.success and np.isclose(res.fun, 0.0)
        np.testing.assert_allclose(np.asarray(res.x), [1.0, 1.0], rtol=1e-5)


def test_constraint_forms_agree_with_scipy_and_keep_their_order():
    """cyipopt's late-binding test problem, its three constraints given in three forms."""
    fun = lambda x: (x[0] - 1) ** 2 + (x[1] - 2.5) ** 2
    dicts = [{"type": "ineq", "fun": lambda x: x[0] - 2 * x[1] + 2},
             {"type": "ineq", "fun": lambda x: -x[0] - 2 * x[1] + 6},
             {"type": "ineq", "fun": lambda x: -x[0] + 2 * x[1] + 2}]
    ref = so.minimize(fun, (2, 0), bounds=((0, None), (0, None)), constraints=dicts)
    mixed = [so.LinearConstraint([[1, -2]], -2, np.inf), dicts[1],
             so.NonlinearConstraint(lambda x: -x[0] + 2 * x[1], -2, np.inf)]
    for cons in (dicts, mixed):
        res = minimize_ipopt(fun, (2, 0), bounds=((0, None), (0, None)), constraints=cons,
                             backend=AutoFiniteDiff())
        assert res.success
        np.testing.assert_allclose(res.x, ref.x, atol=1e-7)
        g = res.info["g"]                                # rows in the order given
        np.testing.assert_allclose(g, [res.x[0] - 2 * res.x[1] + (2 if cons is dicts else 0),
                                       -res.x[0] - 2 * res.x[1] + 6,
                                       -res.x[0] + 2 * res.x[1] + (2 if cons is dicts else 0)], atol=1e-9)
    eq = minimize_ipopt(fun, (2, 0), constraints={"type": "eq", "fun": lambda x: x[0] - x[1]},
                        backend=AutoFiniteDiff())
    np.testing.assert_allclose(eq.x, [1.75, 1.75], atol=1e-7)


@pytest.mark.parametrize("x0, shape", [(2.0, (1,)), ([3, 4], (2,)), (np.ones((2, 3)), (2, 3))])
def test_x0_forms(x0, shape):
    res = minimize_ipopt(lambda x: ((x - 0.5) ** 2).sum(), x0, backend=AutoJAX())
    assert res.success and res.x.shape == shape and res.x.dtype == np.float64
    np.testing.assert_allclose(res.x, 0.5)


def test_pytree_x0_and_float32_keep_the_users_structure_and_dtype():
    seen = []

    def f(p):
        seen.append(p["w"].dtype)
        return ((p["w"] - 1.0) ** 2).sum() + (p["b"] + 2.0) ** 2

    params = {"w": torch.zeros(3, dtype=torch.float32), "b": torch.zeros((), dtype=torch.float32)}
    res = minimize_ipopt(f, params, constraints={"type": "ineq", "fun": lambda p: p["b"] + 1.0},
                         tol=1e-5, backend=AutoFiniteDiff())     # float32: what the user chose
    assert res.success and set(seen) == {torch.float32}
    assert res.x["w"].dtype == torch.float32 and res.x["b"].shape == ()
    np.testing.assert_allclose(res.x["w"].numpy(), 1.0, atol=1e-3)
    np.testing.assert_allclose(float(res.x["b"]), -1.0, atol=1e-3)
    assert isinstance(res.fun, float) and res.info["x"].dtype == np.float64


def test_result_fields_options_and_status_codes():
    res = minimize_ipopt(sphere, np.ones(3), options={"disp": 0, "maxiter": 1},
                         backend=AutoFiniteDiff(), constraints={"type": "ineq", "fun": lambda x: x[0] - 0.5})
    assert set(res) >= {"x", "success", "status", "message", "fun", "info", "nit", "nfev", "njev", "nhev"}
    assert (res.status, res.success, res.nit) == (-1, False, 1)
    assert res.message.startswith(b"Maximum number of iterations exceeded")
    assert set(res.info) >= {"x", "g", "obj_val", "mult_g", "mult_x_L", "mult_x_U", "status", "status_msg"}
    # an "acceptable" stop is not a success, and says so
    acc = minimize_ipopt(lambda x: ((x - 1) ** 4).sum(), np.zeros(2), backend=AutoFiniteDiff(),
                         options={"tol": 1e-30, "acceptable_tol": 1e-3, "acceptable_iter": 2})
    assert (acc.status, acc.success) == (1, False) and b'"acceptable" tolerances' in acc.message
    # a NaN from the functions is IPOPT's invalid number, not a success
    with np.errstate(invalid="ignore"):
        bad = minimize_ipopt(lambda x: np.sqrt(x[0]) + x[0] ** 2, np.array([-1.0]), backend=AutoFiniteDiff())
    assert not bad.success and bad.status == -13


@pytest.mark.parametrize("call, error, match", [
    (dict(fun="migratory coconuts"), ValueError, "`fun` must be callable."),
    (dict(x0="spamalot"), ValueError, "`x0` must be a numeric array."),
    (dict(kwargs="elderberries"), ValueError, "`kwargs` must be a dictionary."),
    (dict(hessp=lambda x, p: p), NotImplementedError, "`hessp` is not yet supported by Ipopt."),
    (dict(method="a newt"), ValueError, "Unknown solver"),
    (dict(jac="self-perpetuating autocracy"), ValueError, "`jac` must be callable or boolean."),
    (dict(hess="farcical aquatic ceremony"), ValueError, "`hess` must be callable."),
    (dict(jac=True), ValueError, "jac=True says fun returns \\(value, gradient\\)"),
    (dict(hess=lambda x: np.ones((2, 2))), ValueError, r"hess= has nonzeros at \[\(1, 0\)\]"),
    (dict(bounds=1), ValueError, "`bounds` must specify both lower and upper"),
    (dict(bounds=[(1, 2), (3, 4), (5, 6)]), ValueError, "The number of lower bounds, upper bounds"),
    (dict(bounds=[["low", "high"]]), ValueError, "The bounds must be numeric."),
    (dict(tol=[1, 2, 3]), ValueError, "`tol` must be a positive scalar."),
    (dict(tol=-1), ValueError, "`tol` must be a positive scalar."),
    (dict(tol="ni"), ValueError, "`tol` must be a positive scalar."),
    (dict(options="supreme executive power"), ValueError, "`options` must be a dictionary."),
    (dict(options={"eps": 1e-9}), ValueError, "eps.*AutoFiniteDiff"),
    (dict(options={"no_such_option": 1}), TypeError, "Invalid option for IPOPT: no_such_option"),
    (dict(callback="a duck"), ValueError, "`callback` must be callable."),
    (dict(constraints={"type": "eq", "fun": sphere, "jac": lambda x: 2 * x}), ValueError,
     "constraint 0 gives its own 'jac'.*drop"),
    (dict(constraints={"type": "lt", "fun": sphere}), ValueError, "constraint 0 has type 'lt'"),
    (dict(constraints=so.NonlinearConstraint(lambda x: x, [0, 0, 0], 1)), ValueError,
     "constraint 0 has 2 rows but its bounds"),
    (dict(constraints=so.NonlinearConstraint(sphere, 0, 1, keep_feasible=True)), ValueError,
     "keep_feasible"),
    (dict(fun=lambda x: x), ValueError, "fun must return a scalar"),
])
def test_bad_input_is_refused_with_the_fix(call, error, match):
    kw = {"fun": sphere, "x0": np.ones(2), "backend": AutoSparse(AutoFiniteDiff()), **call}
    with pytest.raises(error, match=match):
        minimize_ipopt(**kw)


def rosen_hess_lower(x):
    return np.tril(so.rosen_hess(x))


@pytest.mark.parametrize("given", [dict(jac=so.rosen_der), dict(jac=so.rosen_der, hess=so.rosen_hess),
                                   dict(jac=so.rosen_der, hess=lambda x: sp.coo_array(rosen_hess_lower(x)))],
                         ids=["jac", "jac+hess", "jac+sparse-lower-hess"])
def test_jac_and_hess_given_replace_the_backends_as_in_cyipopt(given):
    """cyipopt's docstring example: rosen with rosen_der (and rosen_hess); with the user's
    derivatives the run is cyipopt's own, iterate for iterate and call for call."""
    x0 = [1.3, 0.7, 0.8, 1.9, 1.2]
    ref = cyipopt.minimize_ipopt(so.rosen, x0, jac=so.rosen_der, hess=so.rosen_hess)
    res = minimize_ipopt(so.rosen, x0, backend=AutoFiniteDiff(), **given)
    assert (res.status, res.nit, res.nfev, res.njev) == (ref.status, ref.nit, ref.nfev, ref.njev) == (0, 17, 29, 19)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-10)


def test_value_and_gradient_from_fun_with_jac_true_and_the_objectives_hessian_given():
    """cyipopt's test_minimize_ipopt_hs071: fun returns (value, gradient), the objective's
    Hessian is the user's lower triangle; the constraints' Hessians come from the backend."""
    def obj_and_grad(x):
        return hs071(x), np.array([x[3] * (2 * x[0] + x[1] + x[2]), x[0] * x[3], x[0] * x[3] + 1,
                                   x[0] * (x[0] + x[1] + x[2])])

    def obj_hess(x):
        return np.array([[2 * x[3], 0, 0, 0], [x[3], 0, 0, 0], [x[3], 0, 0, 0],
                         [2 * x[0] + x[1] + x[2], x[0], x[0], 0]])

    cons = [{"type": "eq", "fun": lambda x: (x**2).sum() - 40},
            {"type": "ineq", "fun": lambda x: x.prod() - 25}]
    res = minimize_ipopt(obj_and_grad, np.array([1.0, 5.0, 5.0, 1.0]), jac=True, hess=obj_hess,
                         bounds=[(1, 5)] * 4, constraints=cons, backend=AutoFiniteDiff())
    assert res.success and np.isclose(res.fun, 17.01401727277449) and res.nfev == res.njev
    np.testing.assert_allclose(res.x, [0.99999999, 4.74299964, 3.82114998, 1.3794083], rtol=1e-7)


def test_a_scipy_method_goes_to_scipy_as_in_cyipopt():
    res = minimize_ipopt(lambda x, a, b=0: ((x - a) ** 2).sum() + b, np.zeros(2), args=(1.5,),
                         kwargs={"b": 2.0}, method="SLSQP", backend=AutoJAX())
    assert res.success and np.allclose(res.x, 1.5) and np.isclose(res.fun, 2.0) and res.njev > 0


def test_callbacks_see_the_users_structure_and_can_stop():
    seen, params = [], {"a": torch.ones(2, dtype=torch.float64)}
    f = lambda p: ((p["a"] - 2.0) ** 2).sum()
    res = minimize_ipopt(f, params, backend=AutoTorch(), callback=lambda xk: seen.append(xk))
    assert res.success and len(seen) == res.nit + 1 and isinstance(seen[-1]["a"], torch.Tensor)
    np.testing.assert_allclose(seen[0]["a"].numpy(), 1.0)

    def stop(intermediate_result):
        assert intermediate_result.nit == 0 and intermediate_result.inf_du > 0
        assert np.isclose(intermediate_result.fun, float(f(intermediate_result.x)))
        raise StopIteration

    res = minimize_ipopt(f, params, backend=AutoTorch(), callback=stop)
    assert (res.status, res.success, res.nit) == (5, False, 0)


class Boom(Exception):
    pass


@pytest.mark.parametrize("where", ["objective", "constraint", "callback", "jac"])
def test_an_exception_in_user_code_propagates_with_its_traceback(where):
    def f(x):
        if where == "objective" and x[0] > 1.5:
            raise Boom("user error")
        return ((x - 3.0) ** 2).sum()

    def c(x):
        if where == "constraint" and x[0] > 1.5:
            raise Boom("user error")
        return x[0] + x[1] + 10.0

    def cb(xk):
        if where == "callback" and xk[0] > 1.5:
            raise Boom("user error")

    def gr(x):
        if x[0] > 1.5:
            raise Boom("user error")
        return 2.0 * (x - 3.0)

    with pytest.raises(Boom, match="user error") as info:
        minimize_ipopt(f, np.zeros(2), constraints={"type": "ineq", "fun": c}, callback=cb,
                       jac=gr if where == "jac" else None, backend=AutoFiniteDiff())
    names = [frame.name for frame in traceback.extract_tb(info.tb)]
    assert {"objective": "f", "constraint": "c", "callback": "cb", "jac": "gr"}[where] in names


def test_preparation_is_reused_across_solves_and_limited_memory_skips_the_hessian():
    traces = []

    def f(x, target):
        traces.append("f")
        return jnp.sum((x - target) ** 2)

    def c(x):
        traces.append("c")
        return jnp.sum(x) - 1.0

    con, backend, target = {"type": "eq", "fun": c}, AutoSparse(AutoJAX()), np.arange(1.0, 5.0)
    lm = minimize_ipopt(f, np.zeros(4), args=(target,), constraints=con, backend=backend,
                        options={"hessian_approximation": "limited-memory"})
    first = len(traces)
    exact = minimize_ipopt(f, np.zeros(4), args=(target,), constraints=con, backend=backend)
    assert lm.success and exact.success and lm.nhev == 0 and exact.nhev == exact.nit
    assert len(traces) > first                                 # only the exact run traced the Lagrangian
    np.testing.assert_allclose(exact.x, target - 2.25, atol=1e-8)
    before = len(traces)
    again = minimize_ipopt(f, np.ones(4), args=(np.full(4, 2.0),), constraints=con, backend=backend)
    assert again.success and len(traces) == before             # new x0 and args: nothing re-traced
    np.testing.assert_allclose(again.x, 0.25, atol=1e-8)
    # zeros in an array argument can shape a sparsity pattern: a new zero pattern is prepared anew
    zeros = minimize_ipopt(f, np.ones(4), args=(np.zeros(4),), constraints=con, backend=backend)
    np.testing.assert_allclose(zeros.x, 0.25, atol=1e-8)


def test_preparations_are_held_weakly():
    def f(x):
        return jnp.sum(x**2)

    def c(x):
        return x[0] - 1.0

    minimize_ipopt(f, np.ones(3), constraints={"type": "eq", "fun": c}, backend=AutoJAX())
    refs = weakref.ref(f), weakref.ref(c)
    del f, c
    gc.collect()
    assert refs[0]() is None and refs[1]() is None


# ---- existing cyipopt code ------------------------------------------------------------------
def test_make_problem_and_the_plugin_object_serve_existing_cyipopt_code():
    p = nlp.hock_schittkowski("HS071")
    for hessian in (True, False):
        problem = make_problem(p.objective, p.x0, backend=AutoJAX(), bounds=p.bounds(),
                               constraints=p.nonlinear_constraints(), hessian=hessian)
        problem.add_option("print_level", 0)
        x, info = problem.solve(p.x0)
        assert info["status"] == 0 and abs(info["obj_val"] - p.fstar) <= 1e-6 * p.fstar
    d = NLPDerivatives(lambda q: p.objective(q["x"]), {"x": torch.from_numpy(p.x0)}, AutoTorch(),
                       constraints=so.NonlinearConstraint(lambda q: p.constraints(q["x"]), p.cl, p.cu))
    problem = cyipopt.Problem(n=d.n, m=d.m, problem_obj=d, lb=p.lb, ub=p.ub, cl=d.cl, cu=d.cu)
    problem.add_option("print_level", 0)
    x, info = problem.solve(d.x0)
    assert info["status"] == 0 and isinstance(d.flat.result(x)["x"], torch.Tensor)
    assert d.nfev == d.njev and d.ncev > 0 and d.nhev > 0 and d.error is None


def test_missing_cyipopt_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "cyipopt", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'adopt\[ipopt\]'"):
        minimize_ipopt(sphere, np.ones(2), backend=AutoFiniteDiff())


def test_functions_written_once_run_on_every_framework():
    def f(x):
        xp = array_namespace(x)
        return xp.sum(xp.exp(x) - 2.0 * x)

    for label, (backend, as_array) in BACKENDS.items():
        res = minimize_ipopt(f, as_array(np.zeros(3)), backend=AutoSparse(backend))
        assert res.success, label
        np.testing.assert_allclose(np.asarray(res.x), np.log(2.0), atol=1e-7)
