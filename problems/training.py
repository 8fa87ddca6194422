"""Training-style objectives (kind ``"minimize"``): what Optax users minimise.

Each objective is written once against the array API and runs on NumPy, JAX and PyTorch arrays;
data are seeded NumPy constants.

- ``training/chained_rosenbrock/n200``: the chained Rosenbrock function
  ``sum 100 (x[i+1] - x[i]²)² + (1 - x[i])²`` from the classic start ``(-1.2, 1, -1.2, 1, ...)``;
  its minimiser is all ones (closed form), value 0 (the chained form of Rosenbrock's function,
  as in Moré, Garbow, Hillstrom, ACM TOMS 7(1), 1981, and Ipopt's and CUTEst's test sets).
- ``training/logistic_regression``: L2-regularised logistic loss on 200 seeded samples with 5
  features. Strictly convex; the reference minimiser is computed here by Newton's method with the
  closed-form gradient and Hessian, to a gradient norm below 1e-14.
- ``training/mlp``: a 1-16-1 tanh network fitting ``sin`` on 64 points of [-2, 2]; the
  parameters are one flat vector (``mlp_unravel`` gives the dict of arrays). Not convex: the
  reference is the target itself, and the check is that the trained network's predictions fit
  it to 0.05 (absolute).

Examples
--------
>>> import numpy as np
>>> from adopt.problems import training
>>> p = training.chained_rosenbrock()
>>> p.n, float(p.fun(p.reference)), round(float(p.fun(p.x0)), 6)
(200, 0.0, 50336.0)
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from adopt.problems._arrayapi import namespace
from adopt.problems._problem import Problem

__all__ = ["problems", "chained_rosenbrock", "logistic_regression", "mlp", "rosenbrock",
           "logistic_loss", "mlp_loss", "mlp_unravel", "MLP_SHAPES"]


# ---- chained Rosenbrock -------------------------------------------------------------------------
def rosenbrock(x: Any) -> Any:
    """The chained Rosenbrock function of a 1-D array (NumPy, JAX or torch)."""
    xp, _ = namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def chained_rosenbrock(n: int = 200) -> Problem:
    """Chained Rosenbrock at ``n`` (even) from ``(-1.2, 1, ...)``; minimiser all ones."""
    return Problem(
        name=f"training/chained_rosenbrock/n{n}", kind="minimize", fun=rosenbrock,
        x0=np.tile([-1.2, 1.0], n // 2), reference=np.ones(n), rtol=1e-6, reference_value=0.0,
        value_atol=1e-12,
        source="closed form: f = 0 at x = 1 (Moré, Garbow, Hillstrom 1981, chained variant)",
        quick=False,
        note="for n >= 4 the chained Rosenbrock has a second local minimiser near (-0.993, 0.997, "
             "0.998, ...), f = 3.987: Newton's method from the classic start (the catalogue's "
             "route) converges there; L-BFGS (adopt.solvers.optax) reaches the global one")


# ---- logistic regression --------------------------------------------------------------------------
@cache
def _logistic_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240610)
    X = rng.standard_normal((200, 5))
    w_true = np.array([1.5, -2.0, 0.5, 0.0, 1.0])
    y = np.where(X @ w_true + 0.5 * rng.standard_normal(200) > 0, 1.0, -1.0)
    return X, y


_LAMBDA = 0.1


def logistic_loss(w: Any) -> Any:
    """Mean logistic loss ``log(1 + exp(-y xᵀw))`` plus ``λ/2 ‖w‖²`` (λ = 0.1)."""
    xp, asarray = namespace(w)
    X, y = _logistic_data()
    z = -asarray(y) * (asarray(X) @ w)
    return xp.mean(xp.logaddexp(xp.zeros_like(z), z)) + 0.5 * _LAMBDA * xp.sum(w * w)


@cache
def _logistic_minimiser() -> np.ndarray:
    """Newton's method on the closed-form gradient and Hessian (strictly convex)."""
    X, y = _logistic_data()
    w = np.zeros(X.shape[1])
    for _ in range(50):
        s = 1.0 / (1.0 + np.exp(y * (X @ w)))          # sigma(-y x'w)
        g = -(X.T @ (y * s)) / len(y) + _LAMBDA * w
        if np.linalg.norm(g) < 1e-14:
            break
        H = (X.T * (s * (1 - s))) @ X / len(y) + _LAMBDA * np.eye(X.shape[1])
        w = w - np.linalg.solve(H, g)
    return w


def logistic_regression() -> Problem:
    """L2-regularised logistic regression (200 samples, 5 features) from zero."""
    return Problem(
        name="training/logistic_regression", kind="minimize", fun=logistic_loss, x0=np.zeros(5),
        reference=_logistic_minimiser(), rtol=1e-6, floor=1.0,
        source="computed_here: Newton's method with the closed-form gradient and Hessian, "
               "gradient norm < 1e-14 (strictly convex: the minimiser is unique)")


# ---- a small MLP ----------------------------------------------------------------------------------
#: the parameters of the 1-16-1 network, in the order of the flat vector
MLP_SHAPES: dict[str, tuple[int, ...]] = {"W1": (1, 16), "b1": (16,), "W2": (16, 1), "b2": (1,)}


@cache
def _mlp_data() -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(-2.0, 2.0, 64)[:, None]
    return t, np.sin(t)


def mlp_unravel(w: Any) -> dict[str, Any]:
    """The dict of parameter arrays from the flat vector (slices: traceable, differentiable)."""
    out, start = {}, 0
    for name, shape in MLP_SHAPES.items():
        size = int(np.prod(shape))
        out[name] = w[start:start + size].reshape(shape)
        start += size
    return out


def mlp_predict(params: dict[str, Any], t: Any) -> Any:
    xp, _ = namespace(params["W1"])
    return xp.tanh(t @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]


def mlp_loss(params: Any) -> Any:
    """Mean squared error of the network on the data; ``params`` is the dict or the flat vector."""
    params = params if isinstance(params, dict) else mlp_unravel(params)
    xp, asarray = namespace(params["W1"])
    t, target = _mlp_data()
    r = mlp_predict(params, asarray(t)) - asarray(target)
    return xp.mean(r * r)


def mlp_init(seed: int = 0) -> dict[str, np.ndarray]:
    """Glorot-uniform weights and zero biases, seeded."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in MLP_SHAPES.items():
        limit = np.sqrt(6.0 / sum(shape)) if len(shape) == 2 else 0.0
        params[name] = rng.uniform(-limit, limit, shape) if limit else np.zeros(shape)
    return params


def _mlp_observe(w: np.ndarray) -> np.ndarray:
    return mlp_predict(mlp_unravel(np.asarray(w)), _mlp_data()[0]).ravel()


def mlp() -> Problem:
    """The 1-16-1 tanh network fitting sin on [-2, 2] (flat parameters, seeded start)."""
    x0 = np.concatenate([a.ravel() for a in mlp_init().values()])
    return Problem(
        name="training/mlp", kind="minimize", fun=mlp_loss, x0=x0,
        reference=_mlp_data()[1].ravel(), rtol=0.05, floor=1.0, observe=_mlp_observe,
        options={"maxiter": 2000}, quick=False,
        source="the target sin(t) on the 64 training points; error = max |prediction - sin| "
               "(a fit, not a unique minimiser: the network is not convex)",
        note="compare the network's predictions with the target, not its weights; a problem for "
             "first-order and quasi-Newton training (L-BFGS fits it in ~1000 iterations); Newton's "
             "method with a modified Hessian (the catalogue's route) fits it (error 6e-3) but "
             "does not meet its gradient test within 2000 iterations")


def problems() -> list[Problem]:
    """Chained Rosenbrock (n = 200), logistic regression and the MLP."""
    return [chained_rosenbrock(), logistic_regression(), mlp()]
