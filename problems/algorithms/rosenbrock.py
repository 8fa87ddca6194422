"""A linearly implicit (Rosenbrock) integrator for stiff ODEs: RODAS, with step-size control.

Each step needs ``J = df/dy`` (a prepared ``jacobian``; sparse with ``AutoSparse``, then the
stage systems are solved by a sparse LU) and ``df/dt`` (a prepared ``derivative``): one of each
per step, and one LU of ``I / (h gamma) - J`` per attempted step size. No Newton iteration.
A large sparse Jacobian keeps its pattern from step to step, so its fill-reducing ordering (nested
dissection) is computed once, at the first step.

Examples
--------
>>> import numpy as np, adopt
>>> from adopt.problems.algorithms import rodas
>>> f = lambda t, y: -50.0 * (y - np.cos(t))      # y(1) = (2500 cos 1 + 50 sin 1) / 2501 - ...
>>> res = rodas(f, adopt.AutoFiniteDiff(), (0.0, 1.0), np.array([0.0]), [1.0], rtol=1e-8, atol=1e-10)
>>> res.converged, round(float(res.x[0, 0]), 6)
(True, 0.556909)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

import adopt
from adopt.problems.algorithms._common import (CountingFunction, Result, fill_reducing_order, nonfinite,
                                               sparse_lu)

__all__ = ["rodas", "RODAS4"]


@dataclass(frozen=True)
class Tableau:
    """A stiffly accurate Rosenbrock method in Hairer & Wanner's transformed form:
    ``(I/(h gamma) - J) k_i = f(t + c_i h, y + sum_j a_ij k_j) + sum_j (C_ij / h) k_j + h d_i f_t``,
    the last two stages giving the embedded and the new solution."""

    gamma: float
    a: np.ndarray  # (s, s), strictly lower
    C: np.ndarray  # (s, s), strictly lower
    c: np.ndarray  # stage times
    d: np.ndarray  # coefficients of h f_t
    order: int     # of the embedded solution + 1: the exponent of the step-size controller


def _lower(rows: list[list[float]]) -> np.ndarray:
    m = np.zeros((len(rows) + 1, len(rows) + 1))
    for i, row in enumerate(rows, start=1):
        m[i, : len(row)] = row
    return m


#: RODAS (order 4, embedded 3, L-stable, stiffly accurate): Hairer & Wanner, *Solving Ordinary
#: Differential Equations II*, 2nd ed., Sect. VI.4, coefficients of their code ``rodas.f``
#: (METH = 1). Stages 5 and 6 use the previous stage's argument plus k: a_6j = a_5j, a_65 = 1.
RODAS4 = Tableau(
    gamma=0.25,
    a=_lower([[1.544], [0.9466785280815826, 0.2557011698983284],
              [3.314825187068521, 2.896124015972201, 0.9986419139977817],
              [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950],
              [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0]]),
    C=_lower([[-5.6688], [-2.430093356833875, -0.2063599157091915],
              [-0.1073529058151375, -9.594562251023355, -20.47028614809616],
              [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160],
              [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
               -6.058818238834054]]),
    c=np.array([0.0, 0.386, 0.21, 0.63, 1.0, 1.0]),
    d=np.array([0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0]),
    order=4,
)


class _Linear:
    """``I/(h gamma) - J``, factorised once per step size: dense LU, or sparse LU in the
    fill-reducing ``order`` computed once for the Jacobian's pattern."""

    def __init__(self, J: Any, shift: float, order: np.ndarray | None = None):
        if sp.issparse(J):
            self.solve = sparse_lu(shift * sp.eye_array(J.shape[0], format="csc") - J, order).solve
        else:
            lu = sla.lu_factor(shift * np.eye(J.shape[0]) - J, check_finite=False)
            self.solve = lambda b: sla.lu_solve(lu, b, check_finite=False)


def _step(f: CountingFunction, tab: Tableau, t: float, y: np.ndarray, h: float, J: Any, ft: np.ndarray,
          f0: np.ndarray, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One RODAS step: ``(y_new, error estimate)``."""
    E = _Linear(J, 1.0 / (h * tab.gamma), order)
    k: list[np.ndarray] = []
    for i in range(len(tab.c)):
        arg = y + sum((tab.a[i, j] * k[j] for j in range(i)), np.zeros_like(y))
        fi = f0 if i == 0 else f(t + tab.c[i] * h, arg)
        rhs = fi + sum((tab.C[i, j] / h * k[j] for j in range(i)), np.zeros_like(y)) + h * tab.d[i] * ft
        k.append(E.solve(rhs))
    y_new = y + sum((tab.a[-1, j] * k[j] for j in range(len(k) - 1)), np.zeros_like(y)) + k[-1]
    return y_new, k[-1]


def rodas(fun: Callable[..., Any], backend: Any, t_span: tuple[float, float], y0: np.ndarray,
          t_eval: Sequence[float], *, rtol: float = 1e-6, atol: float = 1e-8, h0: float = 1e-6,
          t_breaks: Sequence[float] = (), max_steps: int = 100_000, tableau: Tableau = RODAS4) -> Result:
    """Integrate ``y' = fun(t, y)`` over ``t_span`` and return the states at ``t_eval``.

    Rosenbrock method RODAS with Hairer & Wanner's step-size controller: the error estimate
    (the difference of the order-4 and embedded order-3 solutions, weighted by
    ``atol + rtol max(|y|, |y_new|)``, RMS) gives ``h_new = h / clip(err^(1/4) / 0.9, 1/6, 5)``;
    steps with err > 1 are rejected and retried with the smaller h. Steps land exactly on every
    output time and restart with ``h0`` at every time in ``t_breaks`` (discontinuities of f in t).

    ``x`` of the result holds the states at ``t_eval`` (one row each); ``history`` the accepted
    step sizes. Hairer & Wanner, *Solving Ordinary Differential Equations II*, 2nd ed.,
    Sect. IV.7 (the transformed form, (7.25)) and VI.4; step control (IV.8) as in ``rodas.f``.
    """
    f, ctx_t = CountingFunction(fun), lambda t: adopt.Constant(float(t))
    y = np.array(y0, dtype=float)
    t, t_end = float(t_span[0]), float(t_span[1])
    f_of_y = lambda yy, tt: fun(tt, yy)  # noqa: E731 - J = df/dy with t a constant
    pj = adopt.prepare_jacobian(f_of_y, backend, y, ctx_t(t))
    pt = adopt.prepare_derivative(fun, backend, np.asarray(t), adopt.Constant(y))
    stops = sorted({*map(float, t_eval), *(b for b in map(float, t_breaks) if t < b < t_end), t_end})
    out, steps, rejected, h, order = {}, [], 0, h0, None
    for stop in stops:
        while t < stop:
            if len(steps) >= max_steps:
                return _failed(f"maximum number of steps ({max_steps}) reached at t = {t:g}", t_eval,
                               out, y, steps, f, rejected)
            J = adopt.jacobian(f_of_y, backend, y, ctx_t(t), prep=pj)
            ft = adopt.derivative(fun, backend, np.asarray(t), adopt.Constant(y), prep=pt)
            ft = np.asarray(ft, dtype=float)
            f0 = f(t, y)
            if bad := nonfinite("f, df/dy or df/dt", np.concatenate([f0, ft]), f"at t = {t:g}") or \
                    nonfinite("df/dy", J, f"at t = {t:g}"):
                return _failed(bad, t_eval, out, y, steps, f, rejected)
            if not steps and sp.issparse(J):  # one pattern throughout: order it once
                order = fill_reducing_order(_shift_pattern(J))
            attempt = _accepted_step(f, tableau, t, y, min(h, stop - t), J, ft, f0, rtol, atol, order)
            if isinstance(attempt, str):
                return _failed(attempt, t_eval, out, y, steps, f, rejected)
            h_done, y, h, retries = attempt
            t, rejected = t + h_done, rejected + retries
            steps.append(h_done)
        out[stop] = y.copy()
        if stop in map(float, t_breaks):
            h = h0
    ys = np.array([out[float(te)] for te in t_eval])
    return Result(ys, True, f"reached t = {t_end:g}", len(steps), f.calls, tuple(steps),
                  {"rejected": rejected})


def _accepted_step(f: CountingFunction, tab: Tableau, t: float, y: np.ndarray, h: float, J: Any,
                   ft: np.ndarray, f0: np.ndarray, rtol: float, atol: float, order: np.ndarray | None
                   ) -> tuple[float, np.ndarray, float, int] | str:
    """Steps of size h, shrunk until the weighted error estimate is <= 1 (Hairer & Wanner IV.8):
    ``(h taken, y_new, h for the next step, rejections)``, or a message on step-size underflow.
    ``h_next = h / clip(err^(1/order) / 0.9, 1/6, 5)``, never larger than h after a rejection."""
    retries = 0
    while True:
        y_new, est = _step(f, tab, t, y, h, J, ft, f0, order)
        scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
        err = float(np.sqrt(np.mean((est / scale) ** 2))) if np.all(np.isfinite(y_new)) else np.inf
        fac = min(5.0, max(1 / 6, err ** (1 / tab.order) / 0.9))
        if err <= 1.0:
            return h, y_new, (h / fac if not retries else min(h, h / fac)), retries
        retries, h = retries + 1, h / fac
        if h <= 16 * np.finfo(float).eps * max(abs(t), 1.0):
            return f"step size underflow at t = {t:g} (h = {h:.2e})"


def _shift_pattern(J: Any) -> Any:
    """The pattern of ``I/(h gamma) - J``: J's stored entries and the diagonal (all ones)."""
    P = sp.csc_array(J, copy=True)
    P.data[:] = 1.0
    return P + sp.eye_array(J.shape[0], format="csc")


def _failed(message: str, t_eval: Sequence[float], out: dict, y: np.ndarray, steps: list,
            f: CountingFunction, rejected: int) -> Result:
    """Stopped early: the states reached so far, NaN at the output times not reached."""
    ys = np.array([out.get(float(te), np.full_like(y, np.nan)) for te in t_eval])
    return Result(ys, False, message, len(steps), f.calls, tuple(steps), {"rejected": rejected})
