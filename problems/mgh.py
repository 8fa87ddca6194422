"""Moré–Garbow–Hillstrom (MINPACK) problems: nonlinear systems and least-squares extras.

Moré, Garbow, Hillstrom, "Testing unconstrained optimization software", ACM TOMS 7(1), 1981,
as coded in MINPACK's drivers (fortran-lang/minpack ``test/test_hybrd.f90`` for the systems,
``test/test_lmder.f90`` for the least-squares problems). Roots are MINPACK's, refined to 40
digits with mpmath (``roots.json``, labelled ``computed_here``) or analytic. The trigonometric
system is left out: MINPACK's recorded vector for it is not a root.

Examples
--------
>>> import numpy as np
>>> from adopt.problems import mgh
>>> p = mgh.system("helical_valley")
>>> p.kind, p.x0
('root', array([-1.,  0.,  0.]))
>>> np.abs(p.fun(p.reference)).max()
np.float64(0.0)
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from adopt.problems._arrayapi import namespace
from adopt.problems._data import load
from adopt.problems._problem import Problem, fd_unreachable

__all__ = ["problems", "system", "least_squares", "extended_rosenbrock", "SYSTEMS"]

_MINPACK = "fortran-lang/minpack@c0b5aea9fcd2b83865af921a7a7e881904f8d3c2"


def _stack(xp: Any, parts: list[Any]) -> Any:
    return xp.stack(parts)


def _rosenbrock(x: Any) -> Any:
    xp, _ = namespace(x)
    return _stack(xp, [1 - x[0], 10 * (x[1] - x[0] ** 2)])


def _powell_singular(x: Any) -> Any:
    xp, _ = namespace(x)
    return _stack(xp, [x[0] + 10 * x[1], math.sqrt(5) * (x[2] - x[3]), (x[1] - 2 * x[2]) ** 2,
                       math.sqrt(10) * (x[0] - x[3]) ** 2])


def _powell_badly_scaled(x: Any) -> Any:
    xp, _ = namespace(x)
    return _stack(xp, [1e4 * x[0] * x[1] - 1, xp.exp(-x[0]) + xp.exp(-x[1]) - 1.0001])


def _wood(x: Any) -> Any:
    xp, _ = namespace(x)
    t1, t2 = x[1] - x[0] ** 2, x[3] - x[2] ** 2
    return _stack(xp, [-200 * x[0] * t1 - (1 - x[0]), 200 * t1 + 20.2 * (x[1] - 1) + 19.8 * (x[3] - 1),
                       -180 * x[2] * t2 - (1 - x[2]), 180 * t2 + 20.2 * (x[3] - 1) + 19.8 * (x[1] - 1)])


def _helical_valley(x: Any) -> Any:
    """MINPACK's branch: theta = atan(x1/x0) (+pi for x0 < 0), i.e. atan2 taken in (-pi/2, 3pi/2]."""
    xp, _ = namespace(x)
    theta = xp.atan2(x[1], x[0])
    theta = xp.where(theta < -math.pi / 2, theta + 2 * math.pi, theta)
    return _stack(xp, [10 * (x[2] - 10 * theta / (2 * math.pi)),
                       10 * (xp.sqrt(x[0] ** 2 + x[1] ** 2) - 1), x[2]])


def _brown_almost_linear(x: Any) -> Any:
    xp, _ = namespace(x)
    n = x.shape[0]
    return xp.concat([x[:-1] + (xp.sum(x) - (n + 1)), xp.reshape(xp.prod(x) - 1, (1,))])


def _grid(n: int) -> tuple[float, np.ndarray]:
    h = 1.0 / (n + 1)
    return h, h * np.arange(1, n + 1)


def _shift(xp: Any, x: Any, k: int) -> Any:
    """x shifted by k places with zero fill: (_shift(x, 1))[i] = x[i-1]."""
    zero = xp.zeros_like(x[:abs(k)])
    return xp.concat([zero, x[:-k]]) if k > 0 else xp.concat([x[-k:], zero])


def _discrete_bvp(x: Any) -> Any:
    xp, asarray = namespace(x)
    h, t = _grid(x.shape[0])
    return 2 * x - _shift(xp, x, 1) - _shift(xp, x, -1) + (x + asarray(t) + 1) ** 3 * h**2 / 2


def _discrete_integral(x: Any) -> Any:
    xp, asarray = namespace(x)
    n = x.shape[0]
    h, t = _grid(n)
    lower = np.tril(np.ones((n, n)))  # j <= k
    kernel = (1 - t)[:, None] * (lower * t[None, :]) + t[:, None] * ((1 - lower) * (1 - t)[None, :])
    return x + h / 2 * (asarray(kernel) @ (x + asarray(t) + 1) ** 3)


def _variably_dimensioned(x: Any) -> Any:
    xp, asarray = namespace(x)
    j = np.arange(1, x.shape[0] + 1, dtype=float)
    s = xp.sum(asarray(j) * (x - 1))
    return x - 1 + asarray(j) * (s * (1 + 2 * s**2))


def _broyden_tridiagonal(x: Any) -> Any:
    xp, _ = namespace(x)
    return (3 - 2 * x) * x - _shift(xp, x, 1) - 2 * _shift(xp, x, -1) + 1


def _broyden_banded(x: Any) -> Any:
    """f_k = x_k (2 + 5 x_k^2) + 1 - sum_{j in [k-5, k+1], j != k} x_j (1 + x_j)."""
    xp, _ = namespace(x)
    g = x * (1 + x)
    band = sum(_shift(xp, g, k) for k in (1, 2, 3, 4, 5, -1))
    return x * (2 + 5 * x**2) + 1 - band


def _extended_rosenbrock(x: Any) -> Any:
    """MGH #21: f_{2i-1} = 10 (x_{2i} - x_{2i-1}^2), f_{2i} = 1 - x_{2i-1}."""
    xp, _ = namespace(x)
    odd, even = x[0::2], x[1::2]
    return xp.reshape(xp.stack([10 * (even - odd**2), 1 - odd], axis=1), (-1,))


_SYSTEMS: dict[str, Callable[[Any], Any]] = {
    "rosenbrock": _rosenbrock, "powell_singular": _powell_singular,
    "powell_badly_scaled": _powell_badly_scaled, "wood": _wood, "helical_valley": _helical_valley,
    "brown_almost_linear": _brown_almost_linear, "discrete_bvp": _discrete_bvp,
    "discrete_integral": _discrete_integral, "variably_dimensioned": _variably_dimensioned,
    "broyden_tridiagonal": _broyden_tridiagonal, "broyden_banded": _broyden_banded,
}
SYSTEMS = tuple(_SYSTEMS)

#: Newton converges quadratically to a simple root: 1e-8 leaves a wide margin; finite
#: differences perturb only the path, not the root, so the same tolerance holds.
ROOT_RTOL = 1e-8
_LOOSE = {  # tolerance, floor, why
    "powell_singular": (1e-5, 1.0, "the Jacobian is singular at the root 0: Newton converges "
                                   "linearly and |F| <= ftol bounds x only to about sqrt(ftol)"),
    "helical_valley": (ROOT_RTOL, 1.0, "the root (1, 0, 0) has zero components: absolute below 1"),
}


def system(name: str) -> Problem:
    """The MINPACK ``hybrd`` test system ``name`` at MINPACK's start and size."""
    d = next(p for p in load("roots.json")["mgh_nonlinear_systems"] if p["name"] == name)
    analytic = "exact_root" in d and not isinstance(d["exact_root"], str)
    ref = d["exact_root"] if analytic else d["root_float64"]
    rtol, floor, why = _LOOSE.get(name, (ROOT_RTOL, 0.0, ""))
    origin = "analytic" if analytic else "MINPACK's root refined to 40 digits with mpmath (computed_here)"
    return Problem(
        name=f"mgh/{name}", kind="root", fun=_SYSTEMS[name], x0=np.asarray(d["x0"], dtype=float),
        reference=np.asarray(ref, dtype=float), rtol=rtol, floor=floor,
        source=f"{d['definition_source']}; root: {origin}, roots.json",
        note="; ".join(s for s in (why, d.get("note", ""), d.get("exact_root_note", "")) if s),
    )


def extended_rosenbrock(n: int, kind: str = "root") -> Problem:
    """MGH #21 at even ``n`` from (-1.2, 1, -1.2, 1, ...), as a system or a least-squares problem.

    The Jacobian is block diagonal (2x2 blocks): sparse problems.
    """
    d = next(p for p in load("roots.json")["mgh_nonlinear_systems"] if p["name"] == "extended_rosenbrock")
    suffix = "" if kind == "root" else "_ls"
    return Problem(
        name=f"mgh/extended_rosenbrock{suffix}/{n}", kind=kind, fun=_extended_rosenbrock,
        x0=np.tile([-1.2, 1.0], n // 2), reference=np.ones(n), rtol=ROOT_RTOL,
        reference_value=0.0 if kind == "least_squares" else None, value_atol=1e-20,
        source=f"{d['definition_source']}; analytic root (all ones)", sparse=True,
        quick=n <= 1000 if kind == "root" else n <= 100,
        options={"matrix_free": True} if kind == "least_squares" else {},
        unreachable=fd_unreachable(
            f"finite differences have no reverse mode: each pullback (J^T w) costs {n} evaluations "
            "of the residual, and matrix-free Levenberg–Marquardt needs thousands of them; use "
            "AutoJAX or AutoTorch") if kind == "least_squares" and n > 1000 else {},
    )


# --- least squares (test_lmder.f90, subroutine ssqfcn) -------------------------------------------

_BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34,
                    2.1, 4.39])
_OSBORNE2_Y = np.array([
    1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608,
    0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661,
    0.612, 0.558, 0.533, 0.495, 0.5, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428,
    0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559,
    0.597, 0.625, 0.739, 0.71, 0.729, 0.72, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054])


def _bard(x: Any) -> Any:
    """r_i = y_i - (x1 + u_i / (x2 v_i + x3 w_i)), u = i, v = 16 - i, w = min(u, v)."""
    xp, asarray = namespace(x)
    u = np.arange(1.0, 16.0)
    v, w = 16 - u, np.minimum(u, 16 - u)
    return asarray(_BARD_Y) - (x[0] + asarray(u) / (x[1] * asarray(v) + x[2] * asarray(w)))


def _freudenstein_roth(x: Any) -> Any:
    xp, _ = namespace(x)
    return _stack(xp, [-13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1],
                       -29 + x[0] + ((1 + x[1]) * x[1] - 14) * x[1]])


def _osborne2(x: Any) -> Any:
    xp, asarray = namespace(x)
    t = asarray(np.arange(65) / 10)
    model = (x[0] * xp.exp(-x[4] * t) + x[1] * xp.exp(-x[5] * (t - x[8]) ** 2)
             + x[2] * xp.exp(-x[6] * (t - x[9]) ** 2) + x[3] * xp.exp(-x[7] * (t - x[10]) ** 2))
    return asarray(_OSBORNE2_Y) - model


_LEAST_SQUARES = {"bard": _bard, "freudenstein_roth_local": _freudenstein_roth, "osborne2": _osborne2}
#: MINPACK's recorded minimisers come from lmder at tol = sqrt(eps); its test accepts a relative
#: difference of 1e-4 (test_lmder.f90, solution_reltol), and so do we. The sum of squares is
#: held to 1e-8 against the polished minimum (roots.json, computed_here).
LSQ_RTOL = 1e-4


def least_squares(name: str) -> Problem:
    """A MINPACK ``lmder`` test problem: ``bard``, ``freudenstein_roth_local``, ``osborne2``."""
    d = next(p for p in load("roots.json")["mgh_least_squares_extra"] if p["name"] == name)
    short = name.replace("_local", "")
    return Problem(
        name=f"mgh/{short}", kind="least_squares", fun=_LEAST_SQUARES[name],
        x0=np.asarray(d["x0"], dtype=float), reference=np.asarray(d["minpack_lmder_solution"]),
        rtol=LSQ_RTOL, reference_value=d["polished_here"]["sum_sq"], value_rtol=1e-8,
        source=f"{d['minpack_source']}; sum of squares polished with LM (computed_here), roots.json",
        note="local minimum (the global one, 0, is at (5, 4))" if short == "freudenstein_roth" else "",
    )


def problems() -> list[Problem]:
    """The MINPACK systems, extended Rosenbrock (systems at n = 10, 1000; least squares at
    n = 100, 1000, 10000) and the three least-squares extras."""
    return ([system(name) for name in SYSTEMS]
            + [extended_rosenbrock(10), extended_rosenbrock(1000)]
            + [extended_rosenbrock(n, "least_squares") for n in (100, 1000, 10000)]
            + [least_squares(name) for name in _LEAST_SQUARES])
