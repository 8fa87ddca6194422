"""adopt.solvers.scipy.solve_ivp against SciPy run with hand-written Jacobians: dense and
sparse Jacobians for the implicit methods, nothing for the explicit ones, t and args as
contexts, and SciPy's conventions (events, y0 types, refusals)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate as si
import scipy.sparse as sp
import torch
from array_api_compat import array_namespace

from adopt import AutoFiniteDiff, AutoJAX, AutoSparse, AutoTorch
from adopt.solvers import ODEDerivatives
from adopt.solvers.scipy import solve_ivp


def robertson(t, y, k1=0.04, k2=3e7, k3=1e4):
    xp = array_namespace(y)
    return xp.stack([-k1 * y[0] + k3 * y[1] * y[2],
                     k1 * y[0] - k3 * y[1] * y[2] - k2 * y[1] ** 2,
                     k2 * y[1] ** 2])


def robertson_jac(t, y, k1=0.04, k2=3e7, k3=1e4):
    return np.array([[-k1, k3 * y[2], k3 * y[1]],
                     [k1, -k3 * y[2] - 2 * k2 * y[1], -k3 * y[1]],
                     [0.0, 2 * k2 * y[1], 0.0]])


Y0 = np.array([1.0, 0.0, 0.0])


def _as(b, x):
    return torch.from_numpy(x) if isinstance(b, AutoTorch) else x


@pytest.mark.parametrize("method", ["BDF", "Radau", "LSODA"])
@pytest.mark.parametrize("b", [AutoJAX(), AutoTorch(), AutoFiniteDiff(method="complex"),
                               AutoSparse(AutoJAX())], ids=repr)
def test_implicit_methods_as_with_the_analytic_jacobian(method, b):
    kw = dict(method=method, rtol=1e-8, atol=1e-12)
    ref = si.solve_ivp(robertson, (0.0, 100.0), Y0, jac=robertson_jac, **kw)
    sol = solve_ivp(robertson, (0.0, 100.0), _as(b, Y0), backend=b, **kw)
    assert sol.success and sol.status == ref.status
    np.testing.assert_allclose(sol.y[:, -1], ref.y[:, -1], rtol=1e-7, atol=1e-14)
    assert abs(sol.njev - ref.njev) <= 1 and sol.njev > 0


def diffusion(t, u, d, forcing):
    """1-D reaction-diffusion with a time-dependent source: a tridiagonal Jacobian."""
    xp = array_namespace(u)
    z = xp.zeros(1, dtype=u.dtype)
    lap = xp.concat([z, u[:-1]]) - 2 * u + xp.concat([u[1:], z])
    return d * lap - u**3 + forcing * xp.sin(t) * xp.ones_like(u)


def diffusion_jac(t, u, d, forcing):
    n = u.size
    return sp.diags([d * np.ones(n - 1), -2 * d - 3 * u**2, d * np.ones(n - 1)], [-1, 0, 1], format="csc")


def test_sparse_jacobian_with_t_and_args_as_contexts():
    u0, args = np.linspace(0, 1, 200) ** 2, (400.0, 2.0)
    kw = dict(method="BDF", rtol=1e-8, atol=1e-10, args=args)
    ref = si.solve_ivp(diffusion, (0.0, 2.0), u0, jac=diffusion_jac, **kw)
    traces = []

    def counted(t, u, d, forcing):
        traces.append(1)
        return diffusion(t, u, d, forcing)

    sol = solve_ivp(counted, (0.0, 2.0), u0, backend=AutoSparse(AutoJAX()), **kw)
    np.testing.assert_allclose(sol.y[:, -1], ref.y[:, -1], rtol=1e-6, atol=1e-9)
    assert sol.njev == ref.njev and len(traces) <= 6   # traced at preparation, never per step
    d = ODEDerivatives(diffusion, u0, AutoSparse(AutoJAX()), args)
    J = d.jac(0.3, u0, *args)
    assert J.format == "csc" and J.nnz == 3 * 200 - 2
    np.testing.assert_allclose(J.toarray(), diffusion_jac(0.3, u0, *args).toarray(), rtol=1e-12)


def test_small_systems_get_a_dense_jacobian_and_lsoda_always():
    d = ODEDerivatives(robertson, Y0, AutoSparse(AutoJAX()), sparse_format="dense")
    assert isinstance(d.jac(0.0, Y0), np.ndarray)
    sol = solve_ivp(robertson, (0.0, 1.0), Y0, method="LSODA", backend=AutoSparse(AutoJAX()))
    assert sol.success


def test_explicit_methods_get_fun_untouched():
    calls = []

    def f(t, y):
        calls.append(type(y))
        return -y

    sol = solve_ivp(f, (0.0, 1.0), np.ones(2), method="RK45", backend=AutoJAX())
    ref = si.solve_ivp(lambda t, y: -y, (0.0, 1.0), np.ones(2), method="RK45")
    np.testing.assert_array_equal(sol.y, ref.y)
    assert sol.njev == 0 and set(calls) == {np.ndarray}


def test_torch_y0_and_events_see_the_users_arrays():
    seen = []

    def hit(t, y):
        seen.append(type(y))
        return y[0] - 0.5

    hit.terminal = True
    sol = solve_ivp(lambda t, y: -y, (0.0, 5.0), torch.ones(2, dtype=torch.float64),
                    events=hit, backend=AutoTorch())
    assert sol.status == 1 and set(seen) == {torch.Tensor}
    np.testing.assert_allclose(sol.t_events[0], [np.log(2.0)], rtol=1e-3)


def test_jacobian_options_are_refused():
    with pytest.raises(ValueError, match="drop jac="):
        solve_ivp(robertson, (0, 1), Y0, jac=robertson_jac, backend=AutoJAX())
    with pytest.raises(ValueError, match="KnownSparsityDetector"):
        solve_ivp(robertson, (0, 1), Y0, jac_sparsity=np.ones((3, 3)), backend=AutoJAX())
    with pytest.raises(ValueError, match="`method` must be one of"):
        solve_ivp(robertson, (0, 1), Y0, method="Euler", backend=AutoJAX())
