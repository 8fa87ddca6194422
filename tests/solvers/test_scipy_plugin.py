"""The plugin objects (Derivatives, ODEDerivatives) inside unchanged SciPy calls: exact
derivatives, one evaluation for fun-then-jac, preparation once."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import scipy.integrate as si
import scipy.optimize as so

from adopt import AutoJAX, AutoSparse, AutoTorch
from adopt.solvers import Derivatives, ODEDerivatives


def test_minimize_with_fun_jac_hessp_one_evaluation_per_point():
    calls = []

    def rosen(x):                      # torch runs f eagerly: every evaluation is one call
        calls.append(x.clone())
        return ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum()

    d = Derivatives(rosen, np.full(5, 1.3), AutoTorch())
    calls.clear()
    res = so.minimize(d.fun, d.x0, jac=d.jac, hessp=d.hessp, method="trust-krylov", tol=1e-10)
    ref = so.minimize(so.rosen, np.full(5, 1.3), jac=so.rosen_der, hessp=so.rosen_hess_prod,
                      method="trust-krylov", tol=1e-10)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-10)
    points = {tuple(x.tolist()) for x in calls}
    assert d.nfev == d.njev == len(points) == res.nfev    # value and gradient: one evaluation
    assert d.nhev > 0
    assert d.hessp(d.x0, np.zeros(5, dtype=np.int8)).dtype == np.float64   # SciPy's dtype probe


def test_args_reach_the_bundle_as_constants():
    def f(x, c):
        return jnp.sum((x - c) ** 2)

    c = np.arange(3.0)
    d = Derivatives(f, np.zeros(3), AutoJAX(), args=(c,))
    for target in (c, c + 1):
        res = so.minimize(d.fun, d.x0, args=(target,), jac=d.jac, method="BFGS")
        np.testing.assert_allclose(res.x, target, atol=1e-6)


def test_least_squares_root_and_constraints():
    t = np.linspace(0, 1, 10)

    def r(p):
        return p[0] * jnp.exp(p[1] * t) - 2.0 * jnp.exp(-0.5 * t)

    d = Derivatives(r, np.ones(2), AutoJAX())
    res = so.least_squares(d.fun, d.x0, jac=d.jac)
    np.testing.assert_allclose(res.x, [2.0, -0.5], rtol=1e-10)

    def F(x):
        return jnp.stack([x[0] ** 2 + x[1] ** 2 - 4.0, x[0] - x[1]])

    d = Derivatives(F, np.ones(2), AutoJAX())
    res = so.root(d.fun, d.x0, jac=d.jac, method="hybr")
    np.testing.assert_allclose(res.x, np.sqrt(2.0), rtol=1e-12)

    def circle(x):
        return jnp.sum(x**2, keepdims=True)

    c = Derivatives(circle, np.ones(2), AutoSparse(AutoJAX()), vector=True)
    con = so.NonlinearConstraint(c.fun, -np.inf, 1.0, jac=c.jac, hess=c.hess)
    res = so.minimize(lambda x: x[0] + 2 * x[1], [0.1, 0.1], method="trust-constr",
                      jac=lambda x: np.array([1.0, 2.0]), hess=lambda x: np.zeros((2, 2)),
                      constraints=[con], tol=1e-10)
    np.testing.assert_allclose(res.x, -np.array([1.0, 2.0]) / np.sqrt(5.0), rtol=1e-5)  # barrier tol
    assert c.hess(np.ones(2), np.array([3.0])).toarray().tolist() == [[6.0, 0.0], [0.0, 6.0]]


def test_solve_ivp_jac_and_preparation_once():
    traces = []

    def vdp(t, y, mu):
        traces.append(1)
        return jnp.stack([y[1], mu * ((1 - y[0] ** 2) * y[1] - y[0])])

    def vdp_jac(t, y, mu):
        return np.array([[0.0, 1.0], [mu * (-2 * y[0] * y[1] - 1), mu * (1 - y[0] ** 2)]])

    ref = si.solve_ivp(vdp, (0, 1), [2.0, 0.0], method="Radau", jac=vdp_jac, args=(100.0,), rtol=1e-8)
    traces.clear()
    for _ in range(2):
        d = ODEDerivatives(vdp, np.array([2.0, 0.0]), AutoJAX(), args=(100.0,))
        sol = si.solve_ivp(d.fun, (0, 1), d.y0, method="Radau", jac=d.jac, args=(100.0,), rtol=1e-8)
        np.testing.assert_allclose(sol.y[:, -1], ref.y[:, -1], rtol=1e-7)
        ntraces = len(traces)
    assert 0 < ntraces <= 4 and d.njev == sol.njev     # the second bundle prepared nothing
