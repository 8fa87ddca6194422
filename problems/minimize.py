"""Unconstrained minimisation: Moré–Garbow–Hillstrom sums of squares at n up to 10⁴.

f(x) = sum of squares of the MGH residuals (Moré, Garbow, Hillstrom, ACM TOMS 7(1), 1981):
Rosenbrock (#1) and extended Rosenbrock (#21), extended Powell singular (#22) and variably
dimensioned (#25), from MGH's standard starts. Their minimisers are analytic (f* = 0).
Extended Rosenbrock and Powell have sparse (block-diagonal) Hessians: Newton with a sparse
``hessian``; variably dimensioned has a dense one (identity plus rank one): Newton–CG on ``hvp``.
The reference is the minimiser (f* = 0 follows).

Examples
--------
>>> from adopt.problems import minimize
>>> p = minimize.rosenbrock_ext(1000)
>>> p.name, p.kind, float(p.fun(p.reference)), round(float(p.fun(p.x0)), 6)
('minimize/rosenbrock_ext/1000', 'minimize', 0.0, 12100.0)
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adopt.problems._arrayapi import namespace
from adopt.problems._problem import Problem, fd_unreachable
from adopt.problems.mgh import _extended_rosenbrock

__all__ = ["problems", "rosenbrock_ext", "powell_ext", "variably_dimensioned"]

_MGH = "Moré, Garbow, Hillstrom, 'Testing unconstrained optimization software', ACM TOMS 7(1), 1981"


def sum_of_squares(residual: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """f(x) = sum r(x)² as a scalar of x's namespace."""

    def f(x: Any) -> Any:
        xp, _ = namespace(x)
        r = residual(x)
        return xp.sum(r * r)

    return f


def _powell_ext(x: Any) -> Any:
    """MGH #22, blocks of four: x1 + 10 x2, sqrt5 (x3 - x4), (x2 - 2 x3)², sqrt10 (x1 - x4)²."""
    xp, _ = namespace(x)
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    r = xp.stack([a + 10 * b, 5**0.5 * (c - d), (b - 2 * c) ** 2, 10**0.5 * (a - d) ** 2], axis=1)
    return xp.reshape(r, (-1,))


def _variably_dimensioned(x: Any) -> Any:
    """MGH #25: x_j - 1 (j = 1..n), s = sum j (x_j - 1), s²."""
    xp, asarray = namespace(x)
    s = xp.sum(asarray(np.arange(1, x.shape[0] + 1, dtype=float)) * (x - 1))
    return xp.concat([x - 1, xp.stack([s, s**2])])


#: Newton converges quadratically to these minimisers; finite-difference gradients are good to
#: about eps^(2/3) ~ 1e-10 relative, which moves the computed minimiser by ~1e-8.
RTOL, FD_RTOL = 1e-8, 1e-6


def rosenbrock_ext(n: int) -> Problem:
    """Extended Rosenbrock (MGH #21; #1 at n = 2) from (-1.2, 1, ...): Newton with the exact
    Hessian (dense at n = 2, sparse above) up to n = 1000, Newton–CG beyond."""
    name = "minimize/rosenbrock/2" if n == 2 else f"minimize/rosenbrock_ext/{n}"
    return Problem(
        name=name, kind="minimize", fun=sum_of_squares(_extended_rosenbrock), x0=np.tile([-1.2, 1.0], n // 2),
        reference=np.ones(n), rtol=RTOL, fd_rtol=FD_RTOL,
        source=f"{_MGH}, problems 1 and 21; analytic minimiser (all ones)", sparse=n > 2,
        quick=n <= 100, options={"method": "newton" if n <= 1000 else "newton-cg"},
        unreachable=fd_unreachable(
            f"finite differences have no reverse mode: each gradient costs {2 * n} evaluations of "
            "f and each Hessian-vector product two gradients, and Newton–CG needs hundreds of "
            "them; use AutoJAX or AutoTorch") if n > 1000 else {},
    )


def powell_ext(n: int) -> Problem:
    """Extended Powell singular (MGH #22) from (3, -1, 0, 1, ...): minimiser 0, where the Hessian
    is singular, so Newton converges only linearly (by 2/3 per step in the quartic directions)."""
    x0 = np.tile([3.0, -1.0, 0.0, 1.0], n // 4)
    return Problem(
        name=f"minimize/powell_ext/{n}", kind="minimize", fun=sum_of_squares(_powell_ext), x0=x0,
        reference=np.zeros(n), rtol=1e-3, floor=1.0,
        source=f"{_MGH}, problem 22; analytic minimiser (0)", sparse=True, quick=n <= 100,
        options={"method": "newton"},
        note="singular Hessian at the minimiser: |x| shrinks only like |gradient|^(1/3), so the "
             "gradient test 1e-10 leaves |x| ~ 5e-4; error absolute (the minimiser is 0)",
    )


def variably_dimensioned(n: int) -> Problem:
    """Variably dimensioned (MGH #25) from x_j = 1 - j/n: dense Hessian (2 I + rank one)."""
    return Problem(
        name=f"minimize/variably_dimensioned/{n}", kind="minimize",
        fun=sum_of_squares(_variably_dimensioned), x0=1.0 - np.arange(1, n + 1) / n,
        reference=np.ones(n), rtol=RTOL, fd_rtol=FD_RTOL,
        source=f"{_MGH}, problem 25; analytic minimiser (all ones)", quick=n <= 100,
        options={"method": "newton-cg"}, unreachable=fd_unreachable(_vd_fd_reason(n)) if n > 100 else {},
    )


def _vd_fd_reason(n: int) -> str:
    """Why Newton–CG on difference quotients fails on variably dimensioned at large n."""
    top = 2.0 + 2.0 * n * (n + 1) * (2 * n + 1) / 6  # 2 + 2 |w|^2, w = (1, ..., n), at the minimiser
    return (f"the Hessian 2 I + 2 w w^T (w_j = j) has eigenvalues 2 and {top:.1e}: a difference-"
            f"quotient Hessian-vector product errs by about sqrt(eps) x {top:.0e} = {top * 1.5e-8:.0f} "
            "in every direction, more than the eigenvalue 2 of all but one, so Newton–CG stalls "
            "(200 iterations, error 6e-6, measured at n = 1000); a dense difference Hessian costs "
            f"{2 * n} gradients of {2 * n} evaluations each per step; use AutoJAX or AutoTorch")


def problems() -> list[Problem]:
    """Rosenbrock (n = 2); extended Rosenbrock (n = 100, 1000, 10000), extended Powell and
    variably dimensioned (n = 100, 1000). The quick slice holds n <= 100."""
    return ([rosenbrock_ext(n) for n in (2, 100, 1000, 10000)] + [powell_ext(n) for n in (100, 1000)]
            + [variably_dimensioned(n) for n in (100, 1000)])
