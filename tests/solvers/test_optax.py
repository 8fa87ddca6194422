"""adopt.solvers.optax: Optax optimizers on JAX, PyTorch and NumPy objectives.

Solves are checked against the training problems' references (closed form, Newton's method, the
fitted target) and against each other: the same Optax algorithm on the same objective written
in JAX and in PyTorch takes the same steps. Optimizer objects are module constants, so that each
(objective, optimizer) pair compiles its loop once for the whole module.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from scipy.optimize import OptimizeResult

from adopt import AutoFiniteDiff, AutoJAX, AutoTorch, PrecisionError
from adopt.problems import training
from adopt.solvers.optax import StepState, make_step, minimize

LBFGS = optax.lbfgs()
ADAM = optax.adam(0.02)
SGD = optax.sgd(0.1)

_CONVERT = {"jax": jnp.asarray, "torch": torch.tensor, "numpy": np.asarray}


def _np(a: Any) -> np.ndarray:
    return a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


class Counted:
    """``fun`` counting its concrete evaluations."""

    def __init__(self, fun: Any) -> None:
        self.fun, self.calls = fun, 0

    def __call__(self, x: Any, *args: Any) -> Any:
        self.calls += 1
        return self.fun(x, *args)


# ---- the done-when: L-BFGS on a PyTorch chained Rosenbrock, n = 200 ---------------------
def test_lbfgs_on_torch_chained_rosenbrock_n200() -> None:
    p = training.chained_rosenbrock(200)
    fun = Counted(p.fun)
    res = minimize(fun, torch.tensor(p.x0), backend=AutoTorch(), optimizer=LBFGS, maxiter=3000,
                   tol=1e-8)
    assert isinstance(res, OptimizeResult)
    assert (res.success, res.status, res.message) == (True, 0, "Optimization terminated successfully.")
    assert isinstance(res.x, torch.Tensor) and res.x.dtype == torch.float64 and res.x.shape == (200,)
    assert p.error(_np(res.x)) <= p.rtol and p.value_ok(res.fun)
    assert np.linalg.norm(_np(res.jac)) <= 1e-8
    assert res.nfev >= res.nit > 100 and fun.calls >= res.nfev


# ---- problems x backends ------------------------------------------------------------------------
#: a PyTorch objective shared by the table and the evaluation count (one compiled loop for both)
LOGISTIC_COUNTED = Counted(training.logistic_loss)

SOLVES = [
    ("training/logistic_regression", AutoJAX(), LBFGS, {"tol": 1e-9}),
    ("training/logistic_regression", AutoTorch(), LBFGS, {"tol": 1e-9}),
    ("training/logistic_regression", AutoFiniteDiff(), LBFGS, {"tol": 1e-7}),
    ("training/mlp", AutoJAX(), LBFGS, {"tol": 1e-6, "maxiter": 2000}),
]


@pytest.mark.parametrize("name,backend,optimizer,options", SOLVES,
                         ids=[f"{s[0].split('/')[1]}-{type(s[1]).__name__}" for s in SOLVES])
def test_training_problems_reach_their_references(name: str, backend: Any, optimizer: Any,
                                                 options: dict) -> None:
    p = {q.name: q for q in training.problems()}[name]
    x0 = _CONVERT[backend.framework](p.x0)
    fun = LOGISTIC_COUNTED if p.fun is training.logistic_loss and backend == AutoTorch() else p.fun
    res = minimize(fun, x0, backend=backend, optimizer=optimizer, **options)
    assert res.success, res.message
    assert type(res.x) is type(x0) and res.x.dtype == x0.dtype
    assert p.error(_np(res.x)) <= p.tolerance(backend)


def test_mlp_with_dicts_of_tensors_trains_like_the_jax_pytree() -> None:
    init = training.mlp_init()
    x0_torch = {k: torch.tensor(v) for k, v in init.items()}
    res = minimize(training.mlp_loss, x0_torch, backend=AutoTorch(), optimizer=ADAM, maxiter=300)
    assert res.status == 1 and res.nit == 300  # maxiter: a training budget, not convergence
    assert set(res.x) == set(init) and all(
        isinstance(res.x[k], torch.Tensor) and tuple(res.x[k].shape) == init[k].shape for k in init)
    assert res.fun < float(training.mlp_loss(init)) / 100        # it trains
    # the same steps as on the JAX pytree (SGD: Adam's 1/sqrt(v) amplifies rounding chaotically)
    res_t = minimize(training.mlp_loss, x0_torch, backend=AutoTorch(), optimizer=SGD, maxiter=50)
    res_j = minimize(training.mlp_loss, {k: jnp.asarray(v) for k, v in init.items()},
                     backend=AutoJAX(), optimizer=SGD, maxiter=50)
    for k in init:
        np.testing.assert_allclose(_np(res_t.x[k]), _np(res_j.x[k]), rtol=1e-10, atol=1e-13)
    assert res_t.fun == pytest.approx(res_j.fun, rel=1e-12) and res_t.nfev == res_j.nfev == 51


# ---- evaluations, steps, caching ----------------------------------------------------------------
BACKTRACKING = optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(
    max_backtracking_steps=15, store_grad=True))


@pytest.mark.parametrize("optimizer,tol", [(LBFGS, 1e-9), (BACKTRACKING, 1e-6)],
                         ids=["lbfgs-zoom", "sgd-backtracking"])
def test_nfev_counts_every_evaluation_including_line_search_trials(optimizer: Any, tol: float) -> None:
    p, fun = training.logistic_regression(), LOGISTIC_COUNTED
    minimize(fun, torch.tensor(p.x0), backend=AutoTorch(), optimizer=optimizer, tol=tol)  # prepares
    fun.calls = 0
    res = minimize(fun, torch.tensor(p.x0), backend=AutoTorch(), optimizer=optimizer, tol=tol)
    ref = minimize(p.fun, jnp.asarray(p.x0), backend=AutoJAX(), optimizer=optimizer, tol=tol)
    assert res.success and fun.calls == res.nfev == ref.nfev and res.nit == ref.nit
    assert res.nfev > res.nit  # the line search evaluates trial steps
    assert p.error(_np(res.x)) <= 100 * tol


def test_make_step_is_the_loop_of_minimize() -> None:
    p = training.logistic_regression()
    stepper = make_step(p.fun, p.x0, backend=AutoFiniteDiff(), optimizer=SGD)
    state = stepper.init()
    assert isinstance(state, StepState) and int(state.nfev) == 1
    for _ in range(25):
        state = stepper.step(state)
    res = minimize(p.fun, p.x0, backend=AutoFiniteDiff(), optimizer=SGD, maxiter=25)
    np.testing.assert_array_equal(stepper.x(state), res.x)
    assert int(state.nit) == res.nit == 25 and int(state.nfev) == res.nfev == 26
    assert make_step(p.fun, p.x0, backend=AutoFiniteDiff(), optimizer=SGD).core is stepper.core
    with pytest.raises(ValueError, match="signature"):
        stepper.init(np.zeros(3))


def test_a_second_solve_does_not_retrace() -> None:
    traces = []

    def fun(x: Any, a: Any) -> Any:
        traces.append(1)
        return jnp.sum((x - a) ** 2)

    minimize(fun, np.zeros(3), backend=AutoJAX(), optimizer=SGD, maxiter=200, args=(jnp.ones(3),))
    first = len(traces)
    res = minimize(fun, np.full(3, 0.5), backend=AutoJAX(), optimizer=SGD, maxiter=200,
                   args=(jnp.array([1.0, 2.0, 3.0]),))  # new x0 and args: traced arguments
    assert len(traces) == first and res.success
    np.testing.assert_allclose(res.x, [1.0, 2.0, 3.0], rtol=1e-6)


# ---- SciPy's conventions ------------------------------------------------------------------------
def _quadratic(x: Any, a: float, b: Any) -> Any:
    return ((x - a) ** 2).sum() + 0.0 * b


def test_scalar_and_list_x0_and_args_as_in_scipy() -> None:
    res = minimize(_quadratic, 0.0, backend=AutoFiniteDiff(), optimizer=SGD, args=(2.0, 1.0))
    np.testing.assert_allclose(res.x, [2.0], rtol=1e-6)
    assert res.x.shape == (1,) and isinstance(res.fun, float) and res.success
    res = minimize(_quadratic, [0.0, 1.0], backend=AutoFiniteDiff(), optimizer=SGD, args=(-1.0, 0.0))
    np.testing.assert_allclose(res.x, [-1.0, -1.0], rtol=1e-6)
    assert res.success and res.x.shape == (2,)


@pytest.mark.parametrize("framework,backend", [("torch", AutoTorch()), ("jax", AutoJAX())])
def test_float32_stays_float32(framework: str, backend: Any) -> None:
    x0 = _CONVERT[framework](np.zeros(2, dtype=np.float32))
    res = minimize(lambda x: ((x - 3.0) ** 2).sum(), x0, backend=backend, optimizer=SGD,
                   maxiter=100, tol=1e-4)
    assert res.x.dtype == x0.dtype and res.success
    np.testing.assert_allclose(_np(res.x), [3.0, 3.0], rtol=1e-4)


def test_float64_without_x64_is_refused(x64_off: None) -> None:
    with pytest.raises(PrecisionError, match="float64.*x64.*float32"):
        minimize(lambda x: (x**2).sum(), torch.zeros(2, dtype=torch.float64), backend=AutoTorch(),
                 optimizer=SGD)


def test_maxiter_and_nonfinite_values_are_failures() -> None:
    res = minimize(lambda x: ((x - 1.0) ** 2).sum(), np.zeros(2), backend=AutoFiniteDiff(),
                   optimizer=SGD, maxiter=3)
    assert (res.success, res.status, res.nit) == (False, 1, 3)
    assert res.message == "Maximum number of iterations has been exceeded."
    with np.errstate(invalid="ignore"):
        res = minimize(lambda x: np.log(x - 1.0).sum(), np.full(2, 1.5), backend=AutoFiniteDiff(),
                       optimizer=optax.sgd(1.0), maxiter=10)
    assert (res.success, res.status, res.message) == (False, 3, "NaN result encountered.")


# ---- callbacks, user errors, progress ----------------------------------------------------------
def test_callback_sees_each_iterate_and_can_stop() -> None:
    seen = []

    def callback(intermediate_result: OptimizeResult) -> None:
        seen.append((intermediate_result.nit, intermediate_result.x.clone(), intermediate_result.fun))
        if intermediate_result.nit == 4:
            raise StopIteration

    res = minimize(lambda x: ((x - 1.0) ** 2).sum(), torch.zeros(2, dtype=torch.float64),
                   backend=AutoTorch(), optimizer=SGD, callback=callback)
    assert [s[0] for s in seen] == [1, 2, 3, 4] and isinstance(seen[0][1], torch.Tensor)
    assert (res.success, res.status, res.message, res.nit) == (False, 99, "`callback` raised `StopIteration`.", 4)
    np.testing.assert_allclose(seen[-1][1].numpy(), res.x.numpy())
    legacy = []
    minimize(lambda x: ((x - 1.0) ** 2).sum(), np.zeros(2), backend=AutoFiniteDiff(),
             optimizer=SGD, maxiter=3, callback=lambda xk: legacy.append(xk.copy()))
    assert len(legacy) == 3 and isinstance(legacy[0], np.ndarray)


def test_exceptions_in_user_code_propagate() -> None:
    def fun(x: Any) -> Any:
        if float(x[0].detach()) > 0.5:
            raise KeyError("raised by fun")
        return ((x - 1.0) ** 2).sum()

    with pytest.raises(KeyError, match="raised by fun"):
        minimize(fun, torch.zeros(2, dtype=torch.float64), backend=AutoTorch(), optimizer=SGD)

    def callback(intermediate_result: OptimizeResult) -> None:
        raise ZeroDivisionError("raised by callback")

    with pytest.raises(ZeroDivisionError, match="raised by callback"):
        minimize(lambda x: (x**2).sum(), np.ones(2), backend=AutoFiniteDiff(), optimizer=SGD,
                 callback=callback)


class _FakeBar:
    made: list["_FakeBar"] = []

    def __init__(self, total: int, **kwargs: Any) -> None:
        self.total, self.n, self.closed, self.postfix = total, 0, False, {}
        _FakeBar.made.append(self)

    def update(self, k: int) -> None:
        self.n += k

    def set_postfix(self, refresh: bool = True, **kw: Any) -> None:
        self.postfix = kw

    def close(self) -> None:
        self.closed = True


def test_progress_bar_with_tqdm_and_none_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=_FakeBar))
    fun = lambda x: ((x - 1.0) ** 2).sum()  # noqa: E731
    minimize(fun, np.zeros(2), backend=AutoFiniteDiff(), optimizer=SGD, maxiter=400)
    assert not _FakeBar.made  # progress=None: stderr is not a terminal under pytest
    res = minimize(fun, np.zeros(2), backend=AutoFiniteDiff(), optimizer=SGD, maxiter=400,
                   tol=1e-12, progress=True)
    (bar,) = _FakeBar.made
    assert bar.total == 400 and bar.closed and 0 < bar.n <= res.nit and set(bar.postfix) == {"f", "gnorm"}


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"optimizer must be an Optax optimizer.*optax.adam\(1e-2\)"):
        minimize(lambda x: (x**2).sum(), np.ones(2), backend=AutoFiniteDiff(), optimizer=optax.adam)
    with pytest.raises(TypeError, match="backend must be"):
        minimize(lambda x: (x**2).sum(), np.ones(2), backend="torch", optimizer=SGD)
