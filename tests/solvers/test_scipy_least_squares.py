"""adopt.solvers.scipy.least_squares against SciPy run with hand-written Jacobians: dense,
sparse and matrix-free Jacobians, bounds, losses, scaling, SciPy's conventions and refusals."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sp
import torch
from array_api_compat import array_namespace
from scipy.sparse.linalg import LinearOperator

from adopt import AutoFiniteDiff, AutoJAX, AutoSparse, AutoTorch
from adopt.solvers.scipy import least_squares
from _broyden import broyden_jac, broyden_tridiagonal

T = np.linspace(0.0, 3.0, 30)
Y = 2.5 * np.exp(-1.3 * T) + 0.5 + 0.01 * np.sin(7 * T)   # smooth, not exactly the model


def decay(p, t=T, y=Y):
    xp = array_namespace(p)
    return p[0] * xp.exp(-p[1] * xp.asarray(t)) + p[2] - xp.asarray(y)


def decay_jac(p):
    e = np.exp(-p[1] * T)
    return np.stack([e, -p[0] * T * e, np.ones_like(T)], axis=1)


def _as(b, x):
    return torch.from_numpy(np.asarray(x, dtype=np.float64)) if isinstance(b, AutoTorch) else x


CASES = [dict(method="trf"), dict(method="dogbox"), dict(method="lm"),
         dict(method="trf", loss="soft_l1", f_scale=0.1), dict(method="trf", x_scale="jac"),
         dict(method="trf", bounds=([0, 0, 0.6], [10, 1.2, 10])),
         dict(method="dogbox", bounds=([0, 0, 0.55], [10, 10, 10])),
         # scalar bounds and scales: adopt hands SciPy arrays (SciPy's np.resize of a scalar
         # costs milliseconds at n = 1e4); the problem, and so every figure, must be the same
         dict(method="trf", bounds=(0.6, 10)), dict(method="dogbox", bounds=(0.55, np.inf)),
         dict(method="trf", bounds=(-np.inf, 2.0), x_scale=2.0), dict(method="lm", x_scale=0.5),
         dict(method="lm", bounds=(-np.inf, np.inf))]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(map(str, kw.values()))[:30])
@pytest.mark.parametrize("b", [AutoJAX(), AutoTorch(), AutoFiniteDiff(method="complex")],
                         ids=lambda b: type(b).__name__)
def test_dense_jacobian_as_with_the_analytic_one(kw, b):
    x0, calls = [1.0, 1.0, 1.0], {"fun": 0, "jac": 0}

    def counted(name, f):
        def g(x):
            calls[name] += 1
            return f(x)
        return g

    ref = so.least_squares(counted("fun", decay), np.array(x0), jac=counted("jac", decay_jac), **kw)
    res = least_squares(decay, _as(b, x0), backend=b, **kw)
    assert res.status == ref.status > 0 and res.success
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-9)
    np.testing.assert_allclose(res.cost, ref.cost, rtol=1e-9)
    assert (res.nfev, res.njev) == (calls["fun"], calls["jac"])   # evaluations actually made
    np.testing.assert_allclose(res.jac, ref.jac, rtol=1e-8)     # as SciPy scales it (loss)


@pytest.mark.parametrize("b", [AutoSparse(AutoJAX()), AutoSparse(AutoTorch()),
                               AutoSparse(AutoFiniteDiff())], ids=lambda b: type(b.dense).__name__)
def test_sparse_jacobian_and_lsmr(b):
    x0 = -np.ones(300)
    ref = so.least_squares(broyden_tridiagonal, x0, jac=broyden_jac, tr_solver="lsmr")
    res = least_squares(broyden_tridiagonal, x0, backend=b, tr_solver="lsmr")
    assert sp.issparse(res.jac) and res.jac.nnz == 3 * 300 - 2
    assert res.success and res.nfev == ref.nfev and res.njev == ref.njev
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-10)
    np.testing.assert_allclose(res.jac.toarray(), broyden_jac(ref.x).toarray(), atol=1e-7)


@pytest.mark.parametrize("b", [AutoJAX(), AutoTorch()], ids=lambda b: type(b).__name__)
def test_matrix_free_jacobian_operator(b):
    x0 = -np.ones(300)
    ref = so.least_squares(broyden_tridiagonal, x0, jac=broyden_jac, tr_solver="lsmr")
    res = least_squares(broyden_tridiagonal, x0, jac="operator", backend=b)
    assert isinstance(res.jac, LinearOperator) and res.success
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-8)
    v = np.random.default_rng(0).normal(size=300)
    np.testing.assert_allclose(res.jac.matvec(v), broyden_jac(res.x) @ v, rtol=1e-12)
    np.testing.assert_allclose(res.jac.rmatvec(v), broyden_jac(res.x).T @ v, rtol=1e-12)


def test_args_kwargs_and_a_pytree_x0():
    def model(p, t, *, y):
        return p["a"] * jnp.exp(-p["k"] * t) + p["c"] - y

    res = least_squares(model, {"a": jnp.array(1.0), "k": jnp.array(1.0), "c": jnp.array(1.0)},
                        args=(T,), kwargs={"y": Y}, backend=AutoJAX())
    ref = so.least_squares(decay, np.ones(3), jac=decay_jac)
    np.testing.assert_allclose([float(res.x[k]) for k in "akc"], ref.x, rtol=1e-9)


def test_callback_failure_and_stop_follow_scipy():
    res = least_squares(decay, [1.0, 1.0, 1.0], max_nfev=2, backend=AutoJAX())
    ref = so.least_squares(decay, np.ones(3), jac=decay_jac, max_nfev=2)
    assert (res.status, res.message, res.success) == (ref.status, ref.message, False)
    seen = []

    def stop(intermediate_result):
        seen.append(intermediate_result.x)
        if len(seen) == 2:
            raise StopIteration

    res = least_squares(decay, torch.ones(3, dtype=torch.float64), callback=stop, backend=AutoTorch())
    assert res.status == -2 and not res.success and isinstance(seen[0], torch.Tensor)


def test_impossible_combinations_are_refused_before_the_solve():
    sparse = AutoSparse(AutoJAX())
    with pytest.raises(ValueError, match="method='lm' .*needs a dense Jacobian.*method='trf'"):
        least_squares(broyden_tridiagonal, -np.ones(5), method="lm", backend=sparse)
    with pytest.raises(ValueError, match="tr_solver='exact' needs a dense Jacobian"):
        least_squares(broyden_tridiagonal, -np.ones(5), jac="operator", tr_solver="exact", backend=AutoJAX())
    with pytest.raises(ValueError, match="drop jac="):
        least_squares(decay, np.ones(3), jac="2-point", backend=AutoJAX())
    with pytest.raises(ValueError, match="KnownSparsityDetector"):
        least_squares(decay, np.ones(3), jac_sparsity=np.ones((30, 3)), backend=sparse)
    with pytest.raises(ValueError, match="`method` must be 'trf', 'dogbox' or 'lm'"):
        least_squares(decay, np.ones(3), method="gauss-newton", backend=AutoJAX())
    for bad, match in [(dict(bounds=([2, 0, 0], [1, 5, 5])), "Each lower bound must be strictly less"),
                       (dict(bounds=(1.0, 1.0)), "Each lower bound must be strictly less"),
                       (dict(bounds=([0, 0], [1, 1])), "Inconsistent shapes between bounds and `x0`"),
                       (dict(bounds=so.Bounds(0.0, 1.0)), "Inconsistent shapes between bounds and `x0`"),
                       (dict(method="lm", bounds=(0.0, np.inf)), "Method 'lm' doesn't support bounds"),
                       (dict(x_scale=-1.0), "`x_scale` must be 'jac' or array_like with positive"),
                       (dict(x_scale=np.inf), "`x_scale` must be 'jac' or array_like with positive")]:
        with pytest.raises(ValueError, match=match):   # SciPy's own checks and words
            so.least_squares(decay, np.ones(3), **bad)
        with pytest.raises(ValueError, match=match):
            least_squares(decay, np.ones(3), backend=AutoJAX(), **bad)
