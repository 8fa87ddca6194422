"""The NLP problems against their references: the Hock–Schittkowski transcriptions against the
expressions of hs.json and the certified optima, the large problems against closed forms and the
published (loop-form) definitions, every function on NumPy, JAX and torch, and the catalogue
entries (kind "nlp") through their IPOPT route."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import adopt
from adopt.problems import nlp
from adopt.problems._data import load

HS = {p["name"]: p for p in load("hs.json")["problems"]}


def _json_functions(entry: dict):
    """The objective and constraints as hs.json writes them (Python expressions in NumPy)."""
    ev = lambda e, x: eval(e, {"np": np, "x": x})  # noqa: S307 - the reference file's own expressions
    return (lambda x: ev(entry["objective"], x),
            lambda x: np.array([ev(e, x) for e in entry["eq"] + entry["ineq"]], dtype=float))


@pytest.mark.parametrize("name", nlp.HS_NAMES)
def test_hock_schittkowski_transcription_and_certified_optimum(name):
    p, entry = nlp.hock_schittkowski(name), HS[name]
    f, c = _json_functions(entry)
    rng = np.random.default_rng(1)
    for x in (p.x0, p.xstar, rng.uniform(-2, 2, p.n)):
        np.testing.assert_allclose(p.objective(x), f(x), rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(p.constraints(x), c(x), rtol=1e-14, atol=1e-14)
    assert (p.m, int(np.isinf(p.cu).sum())) == (len(entry["eq"]) + len(entry["ineq"]), len(entry["ineq"]))
    # the published x* is optimal to its printed digits (HS100: 7 digits, so f to ~1e-7)
    assert abs(p.objective(p.xstar) - p.fstar) <= 1e-7 * max(1.0, abs(p.fstar))
    assert p.violation(p.xstar) <= 1e-6


def _frameworks(fn, x: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(fn(x)), np.asarray(jax.jit(fn)(jnp.asarray(x))),
            fn(torch.from_numpy(x.copy())).numpy()]


@pytest.mark.parametrize("p", [nlp.hock_schittkowski("HS100"), nlp.hock_schittkowski("HS007"),
                               nlp.luksan_vlcek1(12), nlp.clnlbeam(5)], ids=lambda p: p.name)
def test_written_once_for_numpy_jax_and_torch(p):
    x = p.x0 + 0.01
    for fn in (p.objective, p.constraints):
        ref, *others = _frameworks(fn, x)
        for got in others:
            np.testing.assert_allclose(got, ref, rtol=1e-14)


def test_luksan_vlcek_against_closed_forms_and_ipopts_definition():
    n = 10
    p = nlp.luksan_vlcek1(n)
    # f(x0): pairs (-1.2, 1) give 24.2, pairs (1, -1.2) give 484
    assert p.objective(p.x0) == pytest.approx(24.2 * (n // 2) + 484 * (n // 2 - 1), rel=1e-15)
    x = np.random.default_rng(2).uniform(-1, 1, n)
    loop = [3 * x[i + 1] ** 3 + 2 * x[i + 2] - 5 + np.sin(x[i + 1] - x[i + 2]) * np.sin(x[i + 1] + x[i + 2])
            + 4 * x[i + 1] - x[i] * np.exp(x[i] - x[i + 1]) - 3 for i in range(n - 2)]  # eval_g
    np.testing.assert_allclose(p.constraints(x), loop, rtol=1e-14)
    assert p.m == n - 2 and np.all(p.cl == 0) and np.all(p.cu == 0) and p.bounds() is None
    np.testing.assert_array_equal(p.x0[:4], [-1.2, 1.0, -1.2, 1.0])


def test_clnlbeam_against_the_jump_model():
    N, alpha = 7, 350.0
    p, h = nlp.clnlbeam(N), 1.0 / N
    z = np.random.default_rng(3).uniform(-0.5, 0.5, 3 * (N + 1))
    t, x, u = z[:N + 1], z[N + 1:2 * N + 2], z[2 * N + 2:]
    f = sum(0.5 * h * (u[i + 1] ** 2 + u[i] ** 2) + 0.5 * alpha * h * (np.cos(t[i + 1]) + np.cos(t[i]))
            for i in range(N))
    g = ([x[i + 1] - x[i] - 0.5 * h * (np.sin(t[i + 1]) + np.sin(t[i])) for i in range(N)]
         + [t[i + 1] - t[i] - 0.5 * h * u[i + 1] - 0.5 * h * u[i] for i in range(N)])
    assert p.objective(z) == pytest.approx(f, rel=1e-14)
    np.testing.assert_allclose(p.constraints(z), g, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(p.x0[:N + 1], 0.05 * np.cos(np.arange(N + 1) * h))
    assert np.all(p.x0[2 * N + 2:] == 0.01) and (p.n, p.m) == (3 * N + 3, 2 * N)
    fixed = np.flatnonzero(p.lb == p.ub)
    np.testing.assert_array_equal(fixed, [0, N, N + 1, 2 * N + 1])       # t and x at both ends
    assert (p.lb[1], p.ub[1], p.lb[N + 2], p.ub[N + 2]) == (-1.0, 1.0, -0.05, 0.05)
    assert np.isinf(p.lb[2 * N + 2:]).all() and np.isinf(p.ub[2 * N + 2:]).all()  # u is free


def test_catalogue_entries_and_their_ipopt_route():
    problems = nlp.problems()
    names = [p.name for p in problems]
    assert len(set(names)) == len(names) == len(nlp.HS_NAMES) + 4
    assert {p.kind for p in problems} == {"nlp"} and all(p.solver is not None for p in problems)
    assert max(p.n for p in problems) >= 10_000 and all(np.isfinite(p.reference).all() for p in problems)
    hs071 = next(p for p in problems if p.name == "nlp/HS071")
    out = hs071.solve(adopt.AutoFiniteDiff())
    assert out.success and out.error <= 1e-6 and out.method == "ipopt" and out.iterations > 0
    assert out.operators == {"gradient", "jacobian", "hessian"} and len(out.history) == out.iterations + 1
    assert out.info["violation"] <= 1e-7 and out.info["nhev"] == out.iterations
    # the sparse route on JAX: test_problems_solve.py::test_every_problem_on_jax
