"""adopt.solvers.scipy.root and newton_krylov against SciPy with hand-written Jacobians and
SciPy's own difference-based Newton-Krylov, and SciPy's conventions for failures and options."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so
import torch
from array_api_compat import array_namespace

from adopt import AutoFiniteDiff, AutoJAX, AutoSparse, AutoTorch
from adopt.solvers import Derivatives
from adopt.solvers.scipy import ExactKrylovJacobian, newton_krylov, root
from _broyden import broyden_jac, broyden_tridiagonal


def _as(b, x):
    return torch.from_numpy(np.asarray(x, dtype=np.float64)) if isinstance(b, AutoTorch) else x


BACKENDS = [AutoJAX(), AutoTorch(), AutoFiniteDiff(method="complex"), AutoSparse(AutoJAX())]


@pytest.mark.parametrize("method", ["hybr", "lm"])
@pytest.mark.parametrize("b", BACKENDS, ids=repr)
def test_methods_with_a_jacobian_as_with_the_analytic_one(method, b):
    x0, calls = -np.ones(10), {"fun": 0, "jac": 0}

    def counted(name, f):
        def g(x):
            calls[name] += 1
            return f(x)
        return g

    ref = so.root(counted("fun", broyden_tridiagonal), x0, jac=counted("jac", lambda x: broyden_jac(x).toarray()), method=method)
    res = root(broyden_tridiagonal, _as(b, x0), method=method, backend=b)
    assert res.success and ref.success and res.status == ref.status and res.message == ref.message
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-10)
    assert 0 < res.nfev <= calls["fun"] and 0 < res.njev <= calls["jac"]   # repeats memoised


def test_quasi_newton_methods_pass_through():
    x0 = -np.ones(10)
    res = root(broyden_tridiagonal, torch.from_numpy(x0), method="anderson", backend=AutoTorch())
    ref = so.root(broyden_tridiagonal, x0, method="anderson")
    assert isinstance(res.x, torch.Tensor) and res.success == ref.success
    np.testing.assert_allclose(res.x.numpy(), ref.x, rtol=1e-12)
    assert res.nfev == ref.nfev and res.njev == 0


@pytest.mark.parametrize("b", [AutoJAX(), AutoTorch()], ids=repr)
def test_newton_krylov_exact_products_need_fewer_evaluations(b):
    x0 = -np.ones(400)
    calls = []
    ref = so.newton_krylov(lambda x: calls.append(1) or broyden_tridiagonal(x), x0, f_tol=1e-10)
    res = newton_krylov(broyden_tridiagonal, _as(b, x0), f_tol=1e-10, backend=b)
    assert res.success and res.status == 1 and res.njvp > 0
    assert np.abs(res.fun).max() <= 1e-10
    np.testing.assert_allclose(np.asarray(res.x), ref, atol=1e-9)
    assert res.nfev + res.njev < len(calls) and res.nit <= 10   # a linearisation evaluates F once


@pytest.mark.parametrize("linearize", [False, True])
@pytest.mark.parametrize("b", [AutoJAX(), AutoTorch()], ids=repr)
def test_newton_krylov_counts_honestly_and_prepares_once(b, linearize):
    """Products are prepared pushforwards, or with linearize=True applications of one
    linearisation per Newton point that needs a product (never more than the points); on JAX a
    second solve traces nothing, on eager torch every evaluation of F is counted."""
    calls = []

    def F(x):
        calls.append(1)
        return broyden_tridiagonal(x)

    newton_krylov(F, _as(b, -np.ones(60)), f_tol=1e-10, linearize=linearize, backend=b)
    calls.clear()
    res = newton_krylov(F, _as(b, np.full(60, -0.8)), f_tol=1e-10, linearize=linearize, backend=b)
    assert res.success and res.njvp > 2 * res.nit
    assert 1 <= res.njev < res.nit if linearize else res.njev == 0
    if isinstance(b, AutoJAX):
        assert calls == []                                 # no tracing at new points
    else:                                                  # F runs eagerly: count its calls
        assert len(calls) == res.nfev + res.njev + res.njvp


def test_newton_krylov_on_a_sparse_backend_linearises_to_the_sparse_jacobian():
    """Under AutoSparse the default linearisation is one sparse Jacobian per Newton point
    (njev), each product a sparse matvec (njvp); the same iterates as exact JVPs give."""
    x0 = -np.ones(400)
    dense = newton_krylov(broyden_tridiagonal, x0, f_tol=1e-10, backend=AutoJAX())
    res = newton_krylov(broyden_tridiagonal, x0, f_tol=1e-10, backend=AutoSparse(AutoJAX()))
    assert res.success and res.nit == dense.nit and res.njvp == dense.njvp
    assert 1 <= res.njev <= res.nit and dense.njev == 0
    np.testing.assert_allclose(res.x, dense.x, atol=1e-12)
    off = newton_krylov(broyden_tridiagonal, x0, f_tol=1e-10, linearize=False,
                        backend=AutoSparse(AutoJAX()))
    assert off.njev == 0 and off.njvp == dense.njvp            # per-product pushforwards


@pytest.mark.parametrize("linearize", [False, True])
@pytest.mark.parametrize("b", [AutoJAX(), AutoSparse(AutoJAX())], ids=repr)
def test_krylov_jacobian_products_at_the_current_point(linearize, b):
    d = Derivatives(broyden_tridiagonal, -np.ones(5), b, vector=True)
    J = ExactKrylovJacobian(d, linearize=linearize)
    J.setup(d.x0, d.fun(d.x0), d.fun)
    assert J.matvec(np.zeros(5)).tolist() == [0.0] * 5 and d.njev == d.njvp == 0
    np.testing.assert_allclose(J.matvec(np.ones(5)), broyden_jac(d.x0) @ np.ones(5), rtol=1e-14)
    J.matvec(np.arange(5.0))
    J.update(d.x0 + 0.5, d.fun(d.x0 + 0.5))
    np.testing.assert_allclose(J.matvec(np.ones(5)), broyden_jac(d.x0 + 0.5) @ np.ones(5), rtol=1e-14)
    assert (d.njev, d.njvp) == (2 if linearize else 0, 3)   # v = 0 needs no product


@pytest.mark.parametrize("method", ["gmres", "bicgstab", "cgs", "tfqmr"])
def test_newton_krylov_inner_solvers_and_preconditioner(method):
    x0 = -np.ones(100)
    M = so.InverseJacobian(so.BroydenFirst()) if method == "gmres" else None
    res = newton_krylov(broyden_tridiagonal, x0, method=method, inner_M=M, f_tol=1e-9,
                        backend=AutoJAX())
    assert res.success and np.abs(broyden_tridiagonal(res.x)).max() <= 1e-9


def test_newton_krylov_follows_scipys_failure_and_option_rules():
    with pytest.raises(so.NoConvergence):                       # SciPy's test_no_convergence
        newton_krylov(lambda x: 1e3 + x, [0.0], maxiter=1, backend=AutoJAX())
    with pytest.raises(ValueError, match="Unknown parameter"):
        newton_krylov(broyden_tridiagonal, -np.ones(5), invalid_param=1e-5, backend=AutoJAX())
    with pytest.warns(UserWarning, match="Please check inner method documentation"):
        newton_krylov(broyden_tridiagonal, -np.ones(5), method="minres", inner_atol=1e-5,
                      backend=AutoJAX())
    with pytest.raises(ValueError, match="Invalid line search"):
        newton_krylov(broyden_tridiagonal, -np.ones(5), line_search="bogus", backend=AutoJAX())
    norms, seen = [], []
    newton_krylov(broyden_tridiagonal, torch.full((5,), -1.0, dtype=torch.float64),
                  tol_norm=lambda f: norms.append(1) or np.abs(f).max(),
                  callback=lambda x, f: seen.append(x), backend=AutoTorch())
    assert norms and seen and all(isinstance(x, torch.Tensor) for x in seen)


def test_newton_krylov_reports_a_non_finite_product():
    def F(x):
        xp = array_namespace(x)
        return xp.sqrt(x) - 2.0                              # J v is inf at x = 0

    with pytest.raises(ValueError, match="Jacobian-vector product .* not finite"):
        newton_krylov(F, np.zeros(3), backend=AutoJAX())


def test_root_krylov_returns_success_false_on_failure():
    res = root(lambda x: 1e3 + x, [0.0], method="krylov", options={"maxiter": 1}, backend=AutoJAX())
    ref = so.root(lambda x: 1e3 + x, [0.0], method="krylov", options={"maxiter": 1})
    assert not res.success and (res.status, res.message) == (ref.status, ref.message)
    res = root(broyden_tridiagonal, -np.ones(50), method="krylov", tol=1e-11, backend=AutoJAX())
    assert res.success and np.abs(res.fun).max() < 1e-9 and res.method == "krylov"
