"""Halley's method for a scalar equation g(x) = 0, on ``derivative`` and ``second_derivative``."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import adopt
from adopt.problems.algorithms._common import Result, nonfinite

__all__ = ["halley"]


def halley(g: Callable[..., Any], backend: Any, x0: Any, args: tuple = (), *, maxiter: int = 50,
           xtol: float = 4 * np.finfo(float).eps) -> Result:
    """Solve the scalar equation ``g(x) = 0`` by Halley's method (cubic convergence).

    ``x+ = x - 2 g g' / (2 g'^2 - g g'')``, with ``g, g'`` from a prepared
    ``value_and_derivative`` and ``g''`` from a prepared ``second_derivative``. Stops when the
    step is below ``xtol`` relative to ``|x|``, or ``g(x) = 0`` exactly.

    E. Halley, Philosophical Transactions 18, 1694; for Kepler's equation: Danby & Burkardt,
    "The solution of Kepler's equation I", Celestial Mechanics 31, 1983; Traub, *Iterative
    Methods for the Solution of Equations*, 1964, Sect. 5.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> res = halley(lambda x: np.cos(x) - x, adopt.AutoFiniteDiff(), np.asarray(1.0))
    >>> round(float(res.x), 12), res.nit <= 5
    (0.739085133215, True)
    """
    ctx = tuple(adopt.Constant(a) for a in args)
    x = np.asarray(x0, dtype=float)
    p1 = adopt.prepare_derivative(g, backend, x, *ctx)
    p2 = adopt.prepare_second_derivative(g, backend, x, *ctx)
    history: list[float] = []
    for it in range(1, maxiter + 1):
        v, d1 = (float(a) for a in adopt.value_and_derivative(g, backend, x, *ctx, prep=p1))
        history.append(abs(v))
        if v == 0.0:
            return Result(x, True, "g(x) = 0 exactly", it - 1, 0, tuple(history))
        d2 = float(adopt.second_derivative(g, backend, x, *ctx, prep=p2))
        if bad := nonfinite("g or a derivative", np.array([v, d1, d2]), f"at iteration {it}"):
            return Result(x, False, bad, it - 1, 0, tuple(history))
        denom = 2 * d1 * d1 - v * d2
        if denom == 0.0:
            return Result(x, False, f"Halley's denominator 2 g'^2 - g g'' vanished at x = {float(x)!r}",
                          it - 1, 0, tuple(history))
        step = 2 * v * d1 / denom
        x = np.asarray(float(x) - step)
        if abs(step) <= xtol * max(abs(float(x)), 1.0):
            return Result(x, True, f"step below {xtol:.1e} relative", it, 0, tuple(history))
    return Result(x, False, f"maximum number of iterations ({maxiter}) reached", maxiter, 0,
                  tuple(history))
