"""The catalogue against its references: each function at its reference, on NumPy, JAX and torch.

No solver runs here: these tests check the data and the transcriptions (certified RSS at the
certified parameters, residuals at the roots, RHS identical across frameworks).
"""

from __future__ import annotations

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from adopt.problems import KINDS, Problem, brusselator_for, brusselator_residual, catalog, problem

CATALOG = catalog()
BY_NAME = {p.name: p for p in CATALOG}


def _ids(problems: list[Problem]) -> list[str]:
    return [p.name for p in problems]


def _in_frameworks(f, *args: object) -> dict[str, np.ndarray]:
    """``f(*args)`` with the last argument a jax.Array (under jit: one compile, not one per
    primitive) and a torch.Tensor, back in NumPy."""
    *head, x = args
    got_jax = jax.jit(lambda v: f(*head, v))(jnp.asarray(x))
    got_torch = f(*head, torch.from_numpy(np.array(x)))
    assert isinstance(got_jax, jax.Array) and isinstance(got_torch, torch.Tensor)
    return {"jax": np.asarray(got_jax), "torch": got_torch.numpy()}


def _point(p: Problem) -> tuple:
    """Arguments of ``fun`` where the frameworks are compared: the reference when it is the full
    solution, else the start (ODEs: a mid-interval time, after the forcing switch of BRUSS-2D)."""
    if p.kind == "ode":
        return (float(p.t_ref[-1]), p.x0 * 1.01)
    full = p.observe is None and np.shape(p.reference) == np.shape(p.x0)
    return (p.reference if full else p.x0 + 0.01,)


def test_catalogue_shape() -> None:
    kinds = {k: sum(p.kind == k for p in CATALOG) for k in KINDS}
    assert kinds["least_squares"] == 54 + 6 and kinds["root"] == 21 and kinds["ode"] == 7
    assert kinds["minimize"] == 8 + 3 and kinds["scalar"] == 5 and kinds["nlp"] == 9 + 4
    assert {p.options["method"] for p in CATALOG if p.name.startswith("training/")} == {"lbfgs"}
    assert all(p.solver is not None for p in catalog("nlp"))
    assert len(BY_NAME) == len(CATALOG)  # names are unique
    assert {p.name for p in catalog("ode")} == {p.name for p in CATALOG if p.kind == "ode"}
    for p in CATALOG:
        assert p.x0.dtype == np.float64 and p.source and p.rtol > 0
        like = np.tile(p.x0, (len(p.t_ref), 1)) if p.kind == "ode" else p.x0  # a solution's shape
        assert np.isfinite(p.error(like))


def test_unknown_names_and_kinds() -> None:
    with pytest.raises(KeyError, match="close names: nist/Misra1a/start2, nist/Misra1a/start1"):
        problem("nist/Misra1a/start")
    with pytest.raises(ValueError, match="kind must be one of"):
        catalog("regression")
    with pytest.raises(ValueError, match="kind must be one of"):
        Problem("p", "regression", np.sin, np.zeros(1), np.zeros(1), 1e-8, "none")
    with pytest.raises(TypeError, match="x0 must be float64"):
        Problem("p", "root", np.sin, np.zeros(1, dtype=np.float32), np.zeros(1), 1e-8, "none")


NIST = [p for p in CATALOG if p.name.startswith("nist/")]


@pytest.mark.parametrize("p", NIST, ids=_ids(NIST))
def test_nist_rss_at_certified_parameters(p: Problem) -> None:
    rss = float(np.sum(p.fun(p.reference) ** 2))
    if p.value_atol:  # Lanczos1: the certified RSS is numerically zero
        assert rss <= p.value_atol
    else:
        assert rss == pytest.approx(p.reference_value, rel=1.1e-10)
    assert p.value_ok(rss)


@pytest.mark.parametrize("name", ["mgh/rosenbrock", "mgh/powell_singular", "mgh/powell_badly_scaled",
                                  "mgh/wood", "mgh/helical_valley", "mgh/brown_almost_linear",
                                  "mgh/discrete_bvp", "mgh/discrete_integral",
                                  "mgh/variably_dimensioned", "mgh/broyden_tridiagonal",
                                  "mgh/broyden_banded", "mgh/extended_rosenbrock/1000"])
def test_mgh_roots_are_roots(name: str) -> None:
    p = BY_NAME[name]
    assert np.abs(p.fun(p.reference)).max() <= 1e-13


#: (the training objectives' references are a computed minimiser and a fit, not a zero of f)
SCALAR_AND_MINIMIZE = catalog("scalar") + [p for p in catalog("minimize") if not p.name.startswith("training/")]


@pytest.mark.parametrize("p", SCALAR_AND_MINIMIZE, ids=_ids(SCALAR_AND_MINIMIZE))
def test_scalar_roots_and_minimisers(p: Problem) -> None:
    assert abs(float(p.fun(p.reference))) <= 1e-15


#: one NIST start per dataset: both starts share the function
DISTINCT = [p for p in CATALOG if not p.name.endswith("/start2")]


@pytest.mark.parametrize("p", DISTINCT, ids=_ids(DISTINCT))
def test_function_agrees_across_frameworks(p: Problem) -> None:
    args = _point(p)
    ref = np.asarray(p.fun(*args))
    assert np.all(np.isfinite(ref))
    for name, got in _in_frameworks(p.fun, *args).items():
        assert got.dtype == np.float64, name
        # residuals cancel (model - data): round-off is relative to the data, absolute in r
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-11 * max(1.0, np.abs(ref).max()),
                                   err_msg=name)


def test_bruss2d_forcing_switches_on_at_1_1() -> None:
    """5 is added to u_t at t >= 1.1 where (ix/ns - 0.3)² + (iy/ns - 0.6)² <= 0.01, with Hairer's
    1-based ix, iy and u[(iy-1) ns + ix - 1] (br2d_equation.f)."""
    p, ns = BY_NAME["ode/brusselator2d/32"], 32
    jump = p.fun(1.1, p.x0) - p.fun(1.0999, p.x0)
    disc = [(iy - 1) * ns + ix - 1 for iy in range(1, ns + 1) for ix in range(1, ns + 1)
            if (ix / ns - 0.3) ** 2 + (iy / ns - 0.6) ** 2 <= 0.01]
    np.testing.assert_array_equal(np.flatnonzero(jump), disc)
    np.testing.assert_allclose(jump[disc], 5.0, rtol=1e-12)


def _brusselator_loops(x: np.ndarray, N: int) -> np.ndarray:
    """The 2D Brusselator RHS written out point by point (A = 3.4, B = 1, alpha = 10, periodic)."""
    u, v = x[: N * N].reshape(N, N), x[N * N:].reshape(N, N)
    du, dv = np.empty((N, N)), np.empty((N, N))
    for i in range(N):
        for j in range(N):
            lap = lambda w: (w[(i + 1) % N, j] + w[i - 1, j] + w[i, (j + 1) % N] + w[i, j - 1]  # noqa: E731
                             - 4 * w[i, j])
            du[i, j] = 1.0 + u[i, j] ** 2 * v[i, j] - 4.4 * u[i, j] + 10.0 * lap(u)
            dv[i, j] = 3.4 * u[i, j] - u[i, j] ** 2 * v[i, j] + 10.0 * lap(v)
    return np.concatenate([du.ravel(), dv.ravel()])


@pytest.mark.parametrize("N", [4, 8])
def test_brusselator_against_its_definition_in_every_framework(N: int) -> None:
    x = np.random.default_rng(N).uniform(0.5, 3.5, 2 * N * N)
    ref = _brusselator_loops(x, N)
    atol = 1e-14 * np.abs(ref).max()  # terms of size 100 cancel: round-off is absolute
    np.testing.assert_allclose(brusselator_residual(N)(x), ref, rtol=1e-14, atol=atol)
    fresh = {fw: brusselator_for(fw, N) for fw in ("numpy", "jax", "torch")}
    assert len({id(f) for f in fresh.values()}) == 3  # a new function object per call
    np.testing.assert_allclose(fresh["numpy"](x), ref, rtol=1e-14, atol=atol)
    for name, got in {**_in_frameworks(fresh["jax"], x), **_in_frameworks(fresh["torch"], x)}.items():
        np.testing.assert_allclose(got, ref, rtol=1e-14, atol=atol, err_msg=name)
    with pytest.raises(ValueError, match="framework must be one of"):
        brusselator_for("tensorflow", N)


def test_error_measure() -> None:
    p = BY_NAME["mgh/helical_valley"]  # floor 1: absolute below 1
    assert p.error(np.array([1.0 + 1e-9, 2e-9, 0.0])) == pytest.approx(2e-9)
    q = BY_NAME["nist/Misra1a/start1"]  # componentwise relative
    assert q.error(q.reference * np.array([1.0, 1.0 + 1e-7])) == pytest.approx(1e-7)
    assert q.error(np.array([np.nan, 1.0])) == np.inf


@pytest.mark.parametrize("module", [
    "adopt.problems", "adopt.problems._catalog", "adopt.problems._data", "adopt.problems._arrayapi",
    "adopt.problems._problem", "adopt.problems._solve", "adopt.problems._report", "adopt.problems._cli",
    "adopt.problems.nist", "adopt.problems.mgh", "adopt.problems.systems", "adopt.problems.ode",
    "adopt.problems.minimize", "adopt.problems.scalar", "adopt.problems.algorithms",
    "adopt.problems.algorithms.least_squares", "adopt.problems.algorithms.krylov",
    "adopt.problems.algorithms.newton", "adopt.problems.algorithms.newton_krylov",
    "adopt.problems.algorithms.rosenbrock", "adopt.problems.algorithms.halley",
    "adopt.problems.algorithms.quasi_newton"])
def test_docstring_examples(module: str) -> None:
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
