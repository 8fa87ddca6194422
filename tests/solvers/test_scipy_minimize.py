"""adopt.solvers.scipy.minimize: every method SciPy has, crossed with the backends, against
SciPy run with the analytic derivatives, and SciPy's conventions (x0 forms, args, callbacks,
results, errors)."""

from __future__ import annotations

import gc
import traceback
import weakref

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
import torch
from array_api_compat import array_namespace

import adopt
from adopt import AutoFiniteDiff, AutoJAX, AutoSparse, AutoTorch, SecondOrder
from adopt.solvers import Derivatives
from adopt.solvers.scipy import minimize

DERIVATIVE_METHODS = ["CG", "BFGS", "L-BFGS-B", "TNC", "SLSQP", "Newton-CG", "dogleg",
                      "trust-ncg", "trust-krylov", "trust-exact", "trust-constr"]
BACKENDS = [AutoJAX(), AutoTorch(), AutoFiniteDiff(method="complex")]
X0 = np.full(4, 1.3)


def rosen(x):
    return ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum()


def _reference(method):
    """SciPy with the analytic derivatives SciPy ships for Rosenbrock."""
    uses = {"Newton-CG": "hessp", "trust-ncg": "hessp", "trust-krylov": "hessp",
            "trust-constr": "hessp", "dogleg": "hess", "trust-exact": "hess"}.get(method)
    kw = {"hess": so.rosen_hess} if uses == "hess" else {"hessp": so.rosen_hess_prod} if uses else {}
    return so.minimize(so.rosen, X0, method=method, jac=so.rosen_der, tol=1e-10, **kw)


def _as(backend, x):
    return torch.from_numpy(x) if isinstance(backend, AutoTorch) else x


@pytest.mark.parametrize("method", DERIVATIVE_METHODS)
@pytest.mark.parametrize("b", BACKENDS, ids=lambda b: type(b).__name__)
def test_every_derivative_method_converges_as_with_analytic_derivatives(method, b):
    ref = _reference(method)
    res = minimize(rosen, _as(b, X0), method=method, tol=1e-10, backend=b)
    assert res.success and ref.success
    np.testing.assert_allclose(np.asarray(res.x), 1.0, atol=1e-5)
    assert type(res.x) is type(_as(b, X0))
    assert abs(res.nit - ref.nit) <= 2 and res.status == ref.status and res.message == ref.message
    assert res.nfev == res.njev > 0                     # value and gradient: one evaluation
    assert (res.nhev > 0) == (method in ("Newton-CG", "dogleg", "trust-ncg", "trust-krylov",
                                         "trust-exact", "trust-constr"))


def quadratic(x):
    xp = array_namespace(x)
    return xp.sum((x - 2.0) ** 2) + 1.0


@pytest.mark.parametrize("method", ["Nelder-Mead", "Powell", "COBYLA", "COBYQA"])
def test_derivative_free_methods_pass_through(method):
    res = minimize(quadratic, torch.zeros(2, dtype=torch.float64), method=method, backend=AutoTorch())
    ref = so.minimize(lambda x: ((x - 2.0) ** 2).sum() + 1.0, np.zeros(2), method=method)
    np.testing.assert_allclose(res.x.numpy(), ref.x, rtol=1e-6)
    assert (res.nfev, res.njev, res.nhev) == (ref.nfev, 0, 0)


@pytest.mark.parametrize("x0, shape", [(17, (1,)), (17.0, (1,)), ([3, 4], (2,)),
                                       (np.ones((2, 3)), (2, 3)), (np.array(5.0), ())])
def test_x0_forms_as_scipy_and_any_shape(x0, shape):
    res = minimize(quadratic, x0, method="L-BFGS-B", backend=AutoJAX())
    assert res.success and res.x.shape == shape and res.x.dtype == np.float64
    np.testing.assert_allclose(res.x, 2.0, atol=1e-6)


def test_jax_pytree_and_torch_dict_x0():
    def f(p):
        xp = array_namespace(p["w"])
        return xp.sum((p["w"] - 1.0) ** 2) + (p["b"] - 3.0) ** 2 * 2.0

    res = minimize(f, {"w": jnp.zeros((2, 2)), "b": jnp.array(0.0)}, method="BFGS", backend=AutoJAX())
    assert set(res.x) == {"w", "b"} and res.x["w"].shape == (2, 2)
    np.testing.assert_allclose(res.x["w"], 1.0, atol=1e-6)
    np.testing.assert_allclose(res.x["b"], 3.0, atol=1e-6)
    params = {"w": torch.zeros(3, dtype=torch.float32), "b": torch.zeros((), dtype=torch.float32)}
    res = minimize(f, params, method="trust-krylov", backend=AutoTorch())
    assert res.x["w"].dtype == torch.float32 and isinstance(res.x["b"], torch.Tensor)
    np.testing.assert_allclose(res.x["w"].numpy(), 1.0, atol=1e-5)


def test_args_are_constants_new_values_no_retrace():
    traces = []

    def f(x, c, k):
        traces.append(1)
        return jnp.sum((x - c) ** 2) * k

    for c in (np.arange(3.0), np.arange(3.0) + 5):
        res = minimize(f, np.zeros(3), args=(c, 2.0), method="Newton-CG", backend=AutoJAX())
        np.testing.assert_allclose(res.x, c, atol=1e-6)
    ntraces = len(traces)
    minimize(f, np.ones(3), args=(np.ones(3), 3.0), method="Newton-CG", backend=AutoJAX())
    assert len(traces) == ntraces                     # a second solve re-traces nothing


def test_preparations_are_held_weakly():
    def f(x):
        return jnp.sum(x**2)

    minimize(f, np.ones(3), method="BFGS", backend=AutoJAX())
    ref = weakref.ref(f)
    del f
    gc.collect()
    assert ref() is None


def test_callbacks_see_the_users_structure_and_can_stop():
    seen, p0 = [], {"a": torch.ones(2, dtype=torch.float64)}

    def f(p):
        return ((p["a"] - 2.0) ** 2).sum()

    minimize(f, p0, method="BFGS", backend=AutoTorch(), callback=lambda xk: seen.append(xk))
    assert seen and all(isinstance(x["a"], torch.Tensor) for x in seen)

    def stop(intermediate_result):
        assert intermediate_result.fun == f(intermediate_result.x).item()
        raise StopIteration

    res = minimize(f, p0, method="L-BFGS-B", backend=AutoTorch(), callback=stop)
    assert not res.success and res.status == 99 and res.message.startswith("`callback` raised")


def test_failure_is_reported_with_scipys_status():
    res = minimize(rosen, np.full(4, -1.2), method="BFGS", options={"maxiter": 3}, backend=AutoJAX())
    ref = so.minimize(so.rosen, np.full(4, -1.2), method="BFGS", jac=so.rosen_der, options={"maxiter": 3})
    assert not res.success and (res.status, res.message) == (ref.status, ref.message)


class Boom(Exception):
    pass


def test_an_exception_in_fun_propagates_with_its_traceback():
    def f(x):
        if x[0] > 1.5:
            raise Boom("user error")
        return ((x - 3.0) ** 2).sum()

    with pytest.raises(Boom, match="user error") as info:
        minimize(f, np.zeros(2), method="BFGS", backend=AutoFiniteDiff())
    assert "f" in [frame.name for frame in traceback.extract_tb(info.tb)]


def test_bad_input_is_rejected_as_scipy_rejects_it():
    with pytest.raises(ValueError, match="jac=.*backend=.*drop jac="):
        minimize(quadratic, np.zeros(2), jac=lambda x: 2 * x, backend=AutoJAX())
    with pytest.raises(ValueError, match="Unknown solver"):
        minimize(quadratic, np.zeros(2), method="no-such-method", backend=AutoJAX())
    with pytest.raises(ValueError, match="upper bound is less than"):
        minimize(quadratic, np.zeros(2), bounds=so.Bounds([1, 1], [0, 0]), backend=AutoJAX())
    with pytest.warns(so.OptimizeWarning, match="Unknown solver options: bogus"):
        minimize(quadratic, np.zeros(2), method="BFGS", options={"bogus": 1}, backend=AutoJAX())


def hs071(x):
    return x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]


def hs071_product(x):
    xp = array_namespace(x)
    return xp.reshape(xp.prod(x), (1,))


def hs071_sphere(x):
    return (x**2).sum() - 40.0


def _hs071_analytic(method):
    """SciPy on HS071 with hand-written derivatives: the reference run."""
    def grad(x):
        return np.array([x[3] * (2 * x[0] + x[1] + x[2]), x[0] * x[3], x[0] * x[3] + 1,
                         x[0] * (x[0] + x[1] + x[2])])

    def hess(x):
        s = 2 * x[0] + x[1] + x[2]
        return np.array([[2 * x[3], x[3], x[3], s], [x[3], 0, 0, x[0]], [x[3], 0, 0, x[0]],
                         [s, x[0], x[0], 0]])

    def prod_hess(x, v):
        a, b, c, d = x
        return v[0] * np.array([[0, c * d, b * d, b * c], [c * d, 0, a * d, a * c],
                                [b * d, a * d, 0, a * b], [b * c, a * c, a * b, 0]])

    exact = method == "trust-constr"
    prod = so.NonlinearConstraint(lambda x: np.array([np.prod(x)]), 25.0, np.inf,
                                  jac=lambda x: np.array([np.prod(x) / x]),
                                  hess=prod_hess if exact else None)
    sphere = so.NonlinearConstraint(hs071_sphere, 0.0, 0.0, jac=lambda x: 2 * x[None],
                                    hess=(lambda x, v: 2 * v[0] * np.eye(4)) if exact else None)
    return so.minimize(hs071, [1.0, 5.0, 5.0, 1.0], method=method, jac=grad,
                       hess=hess if exact else None, bounds=[(1, 5)] * 4,
                       constraints=[prod, sphere], tol=1e-10, options={"maxiter": 500})


HS071_F = 17.0140172895   # Schittkowski's PROB.FOR (see shared/reference/SOURCES.md)


@pytest.mark.parametrize("method", ["SLSQP", "trust-constr"])
@pytest.mark.parametrize("b", [AutoJAX(), AutoTorch()], ids=lambda b: type(b).__name__)
def test_constraints_get_exact_jacobians_and_hessians(method, b):
    cons = [so.NonlinearConstraint(hs071_product, 25.0, np.inf), {"type": "eq", "fun": hs071_sphere}]
    x0 = _as(b, np.array([1.0, 5.0, 5.0, 1.0]))
    res = minimize(hs071, x0, method=method, bounds=[(1, 5)] * 4, constraints=cons, backend=b,
                   tol=1e-10, options={"maxiter": 500})
    ref = _hs071_analytic(method)
    assert res.success and ref.success and abs(res.nit - ref.nit) <= 1
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-7)
    np.testing.assert_allclose(float(res.fun), HS071_F, rtol=1e-6)


def test_sparse_hessian_under_autosparse():
    def chain(x):
        return ((x[1:] - x[:-1] ** 2) ** 2).sum() + ((x - 0.5) ** 2).sum()

    x0 = np.linspace(0, 1, 40)
    d = Derivatives(chain, x0, AutoSparse(AutoJAX()))
    H = d.hess(x0)
    assert H.format == "csr" and H.nnz == 40 + 2 * 39
    np.testing.assert_allclose(H.toarray(), Derivatives(chain, x0, AutoJAX()).hess(x0), atol=1e-12)
    res = minimize(chain, x0, method="trust-constr", backend=AutoSparse(AutoJAX()), tol=1e-10)
    ref = minimize(chain, x0, method="trust-exact", backend=AutoJAX(), tol=1e-10)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-7)


@pytest.mark.parametrize("b", [SecondOrder(AutoJAX(mode="reverse"), AutoJAX(mode="reverse")),
                               SecondOrder(AutoFiniteDiff(), AutoTorch()),
                               AutoSparse(SecondOrder(AutoJAX(), AutoJAX()))], ids=repr)
def test_second_order_backends(b):
    for method in ("trust-exact", "Newton-CG"):
        x0 = _as(b.inner if isinstance(b, SecondOrder) else b, X0)
        res = minimize(rosen, x0, method=method, tol=1e-10, backend=b)
        assert res.success
        np.testing.assert_allclose(np.asarray(res.x), 1.0, atol=1e-6)


def test_a_bound_method_is_prepared_once_and_held_through_its_instance():
    class Model:
        traces = 0

        def loss(self, x):
            self.traces += 1
            return jnp.sum((x - 2.0) ** 2)

    model = Model()
    minimize(model.loss, np.zeros(3), method="BFGS", backend=AutoJAX())
    traces = model.traces
    res = minimize(model.loss, np.ones(3), method="BFGS", backend=AutoJAX())
    np.testing.assert_allclose(res.x, 2.0, atol=1e-6)
    assert model.traces == traces                   # a new bound method object, same preparation
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_an_impossible_backend_fails_before_the_solve():
    iterations = []
    with pytest.raises(adopt.BackendIncompatibilityError, match="cannot differentiate through"):
        minimize(lambda x: jnp.sum(x**2), np.ones(3), method="trust-exact",
                 backend=SecondOrder(AutoTorch(), AutoJAX()), callback=iterations.append)
    assert iterations == []                          # SciPy never started
