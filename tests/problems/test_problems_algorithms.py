"""The reference algorithms on closed-form problems, each crossed with the backends, and the
Krylov solvers against dense linear algebra."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from array_api_compat import array_namespace

import adopt
from adopt.problems.algorithms import (gauss_newton, halley, levenberg_marquardt, newton, newton_cg,
                                       newton_krylov, newton_minimize, rodas)
from adopt.problems.algorithms.krylov import cgls_trust_region, gmres, truncated_cg
from adopt.problems.algorithms.rosenbrock import RODAS4, _step
from adopt.problems.algorithms._common import CountingFunction, fill_reducing_order, sparse_lu

BACKENDS = [adopt.AutoJAX(), adopt.AutoTorch(), adopt.AutoFiniteDiff()]
IDS = ["AutoJAX", "AutoTorch", "AutoFiniteDiff"]
T = np.linspace(0.0, 1.0, 7)


def _exp_fit(b, t):
    """Residual of y = 2 exp(-t) fitted by b0 exp(b1 t): exact minimiser (2, -1), zero residual."""
    xp = array_namespace(b)
    t = xp.asarray(t)
    return b[0] * xp.exp(b[1] * t) - 2.0 * xp.exp(-t)


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
@pytest.mark.parametrize("solver,matrix_free", [(levenberg_marquardt, False), (levenberg_marquardt, True),
                                                (gauss_newton, False), (gauss_newton, True)])
def test_least_squares_with_a_context(solver, matrix_free: bool, backend) -> None:
    res = solver(_exp_fit, backend, np.array([1.0, 0.0]), args=(T,), matrix_free=matrix_free)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, [2.0, -1.0], rtol=1e-8)
    # prepared at T, run at 2T: the context is a Constant, so the same preps serve new data
    res2 = solver(_exp_fit, backend, np.array([1.0, 0.0]), args=(2 * T,), matrix_free=matrix_free)
    np.testing.assert_allclose(res2.x, [2.0, -1.0], rtol=1e-8)


def test_levenberg_marquardt_on_a_linear_problem_is_lstsq() -> None:
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((8, 3)), rng.standard_normal(8)
    res = levenberg_marquardt(lambda x: A @ x - b, adopt.AutoFiniteDiff(), np.zeros(3))
    np.testing.assert_allclose(res.x, np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-10)
    assert res.converged and res.nit <= 3


def _cubic(x):
    xp = array_namespace(x)
    return x**3 - xp.asarray([1.0, 8.0, 27.0])


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_newton_and_newton_krylov_find_cube_roots(backend) -> None:
    for res in (newton(_cubic, backend, np.full(3, 5.0)),
                newton_krylov(_cubic, backend, np.full(3, 5.0), ftol=1e-14)):
        assert res.converged, res.message
        np.testing.assert_allclose(res.x, [1.0, 2.0, 3.0], rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_newton_minimize_and_newton_cg(backend) -> None:
    def f(x):
        xp = array_namespace(x)
        return xp.sum((x - 1.0) ** 4 + (x - 1.0) ** 2 + xp.flip(x) * x)  # couples x0 and x2

    ref = newton_minimize(f, adopt.AutoJAX(), np.zeros(3)).x
    for solver in (newton_minimize, newton_cg):
        res = solver(f, backend, np.zeros(3))
        assert res.converged, res.message
        np.testing.assert_allclose(res.x, ref, rtol=1e-7)
    # the gradient vanishes there (closed form): 4 (x-1)^3 + 2 (x-1) + x[::-1] + x = 0
    np.testing.assert_allclose(4 * (ref - 1) ** 3 + 2 * (ref - 1) + ref[::-1] + ref, 0.0, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_halley_on_kepler(backend) -> None:
    res = halley(lambda E, e: E - e * array_namespace(E).sin(E) - 1.0, backend, np.asarray(1.0), args=(0.5,))
    assert res.converged and res.nit <= 5
    assert float(res.x) - 0.5 * np.sin(float(res.x)) == pytest.approx(1.0, abs=1e-15)


def _forced(t, y):
    """y' = -50 (y - cos t): closed form y = (2500 cos t + 50 sin t) / 2501 + C exp(-50 t)."""
    xp = array_namespace(y)
    return -50.0 * (y - xp.cos(xp.asarray(t)))


def _forced_exact(t: float) -> float:
    C = -2500 / 2501
    return (2500 * np.cos(t) + 50 * np.sin(t)) / 2501 + C * np.exp(-50 * t)


@pytest.mark.parametrize("backend", [adopt.AutoJAX(), adopt.AutoFiniteDiff()],
                         ids=["AutoJAX", "AutoFiniteDiff"])
def test_rodas_on_a_nonautonomous_stiff_equation(backend) -> None:
    """df/dt = -50 sin t is nonzero: the derivative operator enters every step. (AutoTorch runs
    RODAS in the catalogue slice of test_problems_solve.py.)"""
    t_eval = [0.1, 0.5, 2.0]
    res = rodas(_forced, backend, (0.0, 2.0), np.zeros(1), t_eval, rtol=1e-9, atol=1e-12)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x[:, 0], [_forced_exact(t) for t in t_eval], rtol=1e-7)


def test_rodas_is_fourth_order() -> None:
    """Fixed steps on a linear non-autonomous system with the closed form
    y = (2 exp(-t) + sin t, 2 exp(-t) + cos t): the global error falls 16-fold per halving of h,
    and the embedded estimate (order 3) is of order h^4 per step."""
    A = np.array([[-2.0, 1.0], [1.0, -2.0]])
    f = lambda t, y: A @ y + np.array([2 * np.sin(t), 2 * (np.cos(t) - np.sin(t))])  # noqa: E731
    ft = lambda t: np.array([2 * np.cos(t), -2 * (np.sin(t) + np.cos(t))])  # noqa: E731
    errors, estimates = [], []
    for n in (10, 20, 40):
        h, y, t, est = 1.0 / n, np.array([2.0, 3.0]), 0.0, 0.0
        for _ in range(n):
            y, e = _step(CountingFunction(f), RODAS4, t, y, h, A, ft(t), f(t, y))
            t, est = t + h, max(est, np.abs(e).max())
        errors.append(np.abs(y - [2 * np.exp(-1) + np.sin(1), 2 * np.exp(-1) + np.cos(1)]).max())
        estimates.append(est)
    np.testing.assert_allclose(np.log2(np.array(errors[:-1]) / errors[1:]), 4.0, atol=0.15)
    assert np.all(np.log2(np.array(estimates[:-1]) / estimates[1:]) > 3.5)


def test_rodas_sparse_and_dense_agree() -> None:
    f = lambda t, y: -(2 * y - np.roll(y, 1) - np.roll(y, -1)) * 100.0 - y**3  # noqa: E731
    y0 = np.sin(np.linspace(0, np.pi, 20))
    dense = rodas(f, adopt.AutoFiniteDiff(), (0.0, 1.0), y0, [1.0], rtol=1e-8, atol=1e-10)
    sparse = rodas(f, adopt.AutoSparse(adopt.AutoFiniteDiff(), format="csc"), (0.0, 1.0), y0, [1.0],
                   rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sparse.x, dense.x, rtol=1e-12, atol=1e-14)
    assert sparse.nit == dense.nit


def _stencil(m: int) -> sp.csc_array:
    T = sp.diags_array([-1.0, 4.0, -1.0], offsets=[-1, 0, 1], shape=(m, m))
    return sp.csc_array(sp.kronsum(T, T))


#: (matrix, whether nested dissection orders it): a 2D stencil, disconnected 2 x 2 blocks, a
#: dense block (no separator), an unsymmetric pattern and a small matrix (SuperLU orders those)
ORDERINGS = [
    (_stencil(72), True),
    (sp.csc_array(sp.block_diag([np.array([[3.0, 1.0], [1.0, 2.0]])] * 2500)), True),
    (sp.csc_array(sp.block_diag([np.ones((40, 40)) + 40 * np.eye(40), _stencil(70)])), True),
    (sp.csc_array(_stencil(72) + sp.eye_array(72 * 72, k=5)), False),
    (_stencil(20), False),
]


@pytest.mark.parametrize("A,ordered", ORDERINGS,
                         ids=["stencil", "blocks", "dense-block", "unsymmetric", "small"])
def test_fill_reducing_order_solves_exactly(A: sp.csc_array, ordered: bool) -> None:
    order = fill_reducing_order(A)
    assert (order is not None) == ordered
    if ordered:
        np.testing.assert_array_equal(np.sort(order), np.arange(A.shape[0]))  # a permutation
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    x = sparse_lu(A, order).solve(b)
    np.testing.assert_allclose(A @ x, b, atol=1e-11)


def test_gmres_with_and_without_a_preconditioner() -> None:
    rng = np.random.default_rng(1)
    A = np.eye(40) * 4 + rng.standard_normal((40, 40)) * 0.3
    b = rng.standard_normal(40)
    x, used, relres = gmres(lambda v: A @ v, b, rtol=1e-12, restart=10)
    np.testing.assert_allclose(A @ x, b, atol=1e-10)
    Minv = np.linalg.inv(A)
    x2, used2, _ = gmres(lambda v: A @ v, b, rtol=1e-12, M=lambda v: Minv @ v)
    np.testing.assert_allclose(x2, x, rtol=1e-9)
    assert used2 <= 3 < used and relres <= 1e-12


def test_cgls_in_a_trust_region() -> None:
    rng = np.random.default_rng(2)
    J, r = rng.standard_normal((10, 4)), rng.standard_normal(10)
    q, model, _ = cgls_trust_region(lambda v: J @ v, lambda w: J.T @ w, r, 1e6, rtol=1e-12)
    np.testing.assert_allclose(q, np.linalg.lstsq(J, -r, rcond=None)[0], rtol=1e-9)
    np.testing.assert_allclose(model, J @ q + r, atol=1e-12)
    q, model, _ = cgls_trust_region(lambda v: J @ v, lambda w: J.T @ w, r, 0.01)
    assert np.linalg.norm(q) == pytest.approx(0.01)
    np.testing.assert_allclose(model, J @ q + r, atol=1e-12)


def test_truncated_cg() -> None:
    B = np.diag([1.0, 2.0, 3.0])
    p, _ = truncated_cg(lambda v: B @ v, np.array([1.0, 1.0, 1.0]), rtol=1e-12)
    np.testing.assert_allclose(p, [-1.0, -0.5, -1 / 3])
    g = np.array([1.0, 0.0, 0.0])
    p, it = truncated_cg(lambda v: -v, g, rtol=1e-12)  # negative curvature at once: steepest descent
    np.testing.assert_array_equal(p, -g)
    assert it == 1
