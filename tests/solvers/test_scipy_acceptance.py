"""Acceptance: the NIST StRD nonlinear regressions through least_squares(method="lm") and the
stiff test set (Robertson, HIRES, OREGO) through solve_ivp(method="Radau"), on AutoJAX and
AutoTorch, against the certified / reference values of adopt.problems."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adopt import AutoJAX, AutoTorch
from adopt.problems import catalog, problem
from adopt.solvers.scipy import least_squares, solve_ivp

NIST = sorted({p.name.split("/")[1] for p in catalog(kind="least_squares") if p.name.startswith("nist/")})
TIGHT = dict(method="lm", ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=5000)


def _as(b, x):
    return torch.from_numpy(np.array(x)) if isinstance(b, AutoTorch) else x


def _significant_digits(x, certified):
    """NIST's log relative error: the number of correct significant digits."""
    err = np.max(np.abs(np.asarray(x) - certified) / np.abs(certified))
    return np.inf if err == 0 else -np.log10(err)


def _solve_nist(b, start):
    """Every dataset from one start: {dataset: significant digits}. Both starts of a dataset
    share one residual function, so its preparation (the compiled Jacobian) is reused."""
    digits = {}
    for name in NIST:
        p, fun = problem(f"nist/{name}/{start}"), problem(f"nist/{name}/start2").fun
        res = least_squares(fun, _as(b, p.x0), backend=b, **TIGHT)
        digits[name] = _significant_digits(res.x, p.reference)
    return digits


@pytest.mark.parametrize("b", [AutoJAX(), AutoTorch()], ids=lambda b: type(b).__name__)
def test_nist_strd_certified_parameters_to_six_digits(b):
    assert len(NIST) == 27
    start2 = _solve_nist(b, "start2")
    assert {k: v for k, v in start2.items() if v < 6} == {}
    start1 = _solve_nist(b, "start1")
    # BoxBOD from start 1 goes to another basin with lm's default Jacobian column scaling,
    # as with SciPy and MINPACK (shared/reference/SOURCES.md); every other dataset converges
    assert {k for k, v in start1.items() if v < 6} == {"BoxBOD"}


def test_nist_boxbod_start1_converges_without_column_scaling():
    p = problem("nist/BoxBOD/start1")
    res = least_squares(p.fun, p.x0, x_scale=1.0, backend=AutoJAX(), **TIGHT)
    assert _significant_digits(res.x, p.reference) >= 6


STIFF = {"ode/robertson": dict(rtol=1e-7, atol=1e-20), "ode/hires": dict(rtol=1e-7, atol=1e-11),
         "ode/orego": dict(rtol=1e-7, atol=1e-9)}


@pytest.mark.parametrize("name", STIFF)
@pytest.mark.parametrize("b", [AutoJAX(), AutoTorch()], ids=lambda b: type(b).__name__)
def test_stiff_problems_reach_their_reference_values_with_radau(name, b):
    p = problem(name)
    sol = solve_ivp(p.fun, p.t_span, _as(b, p.x0), method="Radau", t_eval=p.t_ref, backend=b,
                    **STIFF[name])
    assert sol.success and sol.njev > 0
    np.testing.assert_allclose(sol.y.T, p.reference, rtol=1e-6)
