"""Large nonlinear systems from PDEs, and the two SciPy examples.

- **2D Bratu** (solid fuel ignition), Moré's formulation as in CUTEst BRATU2DT: on an m x m
  interior grid, h = 1/(m+1), ``4 U - (sum of the 4 neighbours) - h^2 lambda exp(U) = 0``, zero
  boundary, start U = 0. The discrete fold lambda_c(m) lies between 6.802 (m = 15) and 6.8081
  (m -> oo), so lambda <= 6.8 has a lower-branch root at every size here. No published solution
  values exist: the reference is the lower branch computed here by Newton with the analytic
  sparse Jacobian and continuation in lambda (``_computed.py``, labelled ``computed_here``),
  sampled on a 9 x 9 subgrid.
- **SciPy's tutorial integro-differential PDE** (``doc/source/tutorial/optimize.rst``, "Root
  finding for large problems"): 75 x 75, the reference statistics of ``roots.json``
  (``computed_here`` by exact Newton, residual 3.4e-12).
- **SciPy's newton_krylov docstring example**: a double root with a singular Jacobian, so the
  measure is the residual, not the distance to (2/3, 2/3).
- :func:`brusselator_residual`: the sparse-AD benchmark's 2D Brusselator right-hand side, the one
  definition that benchmarks and tests share (:func:`brusselator_for` gives a fresh function
  object per call, for benchmarks).

Both PDE problems offer a preconditioner for Newton–Krylov from problem knowledge: the exact
inverse of their discrete Laplacian (a fast sine transform), as in SciPy's tutorial.

Examples
--------
>>> import numpy as np
>>> from adopt.problems import systems
>>> p = systems.bratu(16, 6.0)
>>> p.name, p.n
('bratu2d/16/6.0', 256)
>>> bool(np.abs(p.fun(np.zeros(256))).max() < 0.1)
True
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adopt.problems._arrayapi import namespace
from adopt.problems._data import load
from adopt.problems._problem import Problem

__all__ = ["problems", "bratu", "integro_pde", "newton_krylov_example", "brusselator_residual",
           "brusselator_for", "laplacian_inverse", "bratu_subgrid"]

_SCIPY = "scipy/scipy@3dbf660a919b1479cdf30d533176053b428d08d3"
BRATU_SIZES = ((16, 6.0), (16, 6.8), (64, 6.0), (64, 6.8), (256, 6.0), (256, 6.8))


def _pad(xp: Any, U: Any, lo: float, hi: float, axis: int) -> Any:
    """U with one constant layer (``lo`` before, ``hi`` after) along ``axis``: the boundary."""
    shape = (1, U.shape[1]) if axis == 0 else (U.shape[0], 1)
    edge = xp.ones(shape, dtype=U.dtype)
    return xp.concat([lo * edge, U, hi * edge], axis=axis)


def _second_differences(xp: Any, U: Any, bounds: tuple[float, float, float, float]) -> Any:
    """Sum of the 1-D second differences (unscaled 5-point Laplacian) with Dirichlet values
    ``(left, right, bottom, top)`` on the ghost layer."""
    left, right, bottom, top = bounds
    P = _pad(xp, U, left, right, 0)
    Q = _pad(xp, U, bottom, top, 1)
    return P[2:, :] + P[:-2, :] + Q[:, 2:] + Q[:, :-2] - 4 * U


def bratu_residual(m: int, lam: float) -> Callable[[Any], Any]:
    """F(u) = 4 U - neighbours - h^2 lambda exp(U) on the m x m interior grid (u = U.ravel())."""
    h2 = 1.0 / (m + 1) ** 2

    def F(u: Any) -> Any:
        xp, _ = namespace(u)
        U = xp.reshape(u, (m, m))
        return xp.reshape(-_second_differences(xp, U, (0.0, 0.0, 0.0, 0.0)) - h2 * lam * xp.exp(U), (-1,))

    return F


def laplacian_inverse(m: int, k: int, scale: float) -> Callable[[np.ndarray], np.ndarray]:
    """``v -> (scale * A)^{-1} v`` for the m x k Dirichlet 5-point matrix A = 4 I - neighbours,
    in O(n log n) by the type-I sine transform that diagonalises it."""
    from scipy.fft import dstn, idstn

    eig = (4 - 2 * np.cos(np.pi * np.arange(1, m + 1) / (m + 1))[:, None]
           - 2 * np.cos(np.pi * np.arange(1, k + 1) / (k + 1))[None, :])

    def apply(v: np.ndarray) -> np.ndarray:
        return idstn(dstn(v.reshape(m, k), type=1) / (scale * eig), type=1).ravel()

    return apply


def bratu_subgrid(m: int) -> np.ndarray:
    """Indices (into u = U.ravel()) of the 9 x 9 subgrid where the Bratu reference is given."""
    ij = np.unique(np.linspace(0, m - 1, 9).round().astype(int))
    return (ij[:, None] * m + ij[None, :]).ravel()


def bratu(m: int, lam: float) -> Problem:
    """2D Bratu on the m x m interior grid at ``lam`` (<= 6.8, below every discrete fold)."""
    d = load("roots.json")["bratu_2d"]
    ref = load("computed_here.json")["bratu_2d"][f"{m}/{lam}"]
    idx = bratu_subgrid(m)
    return Problem(
        name=f"bratu2d/{m}/{lam}", kind="root", fun=bratu_residual(m, lam), x0=np.zeros(m * m),
        reference=np.asarray(ref["u_subgrid"]), rtol=1e-8, observe=lambda u: u[idx],
        source=f"{d['critical_lambda_source']}; lower-branch solution computed_here ({ref['method']})",
        sparse=True, quick=m <= 64, options={"method": "jfnk"},
        preconditioner=lambda u: laplacian_inverse(m, m, 1.0),
        note=f"discrete fold lambda_c(m) in roots.json (e.g. {d['computed_here']['lambda_c_of_m']['63']:.6f} "
             "at m = 63): the Jacobian nearly singular at lambda = 6.8",
    )


def integro_pde_residual(nx: int = 75, ny: int = 75) -> Callable[[Any], Any]:
    """SciPy tutorial: d2x + d2y + 5 mean(cosh P)^2, ghost boundary P = 1 on the top edge."""
    scale = float((nx - 1) ** 2)  # 1 / hx^2 = 1 / hy^2

    def F(p: Any) -> Any:
        xp, _ = namespace(p)
        P = xp.reshape(p, (nx, ny))
        lap = scale * _second_differences(xp, P, (0.0, 0.0, 0.0, 1.0))
        return xp.reshape(lap + 5 * xp.mean(xp.cosh(P)) ** 2, (-1,))

    return F


def _pde_statistics(p: np.ndarray) -> np.ndarray:
    P = p.reshape(75, 75)
    return np.concatenate([[P[37, 37], P.mean(), P.max(), P.min()], P[37, :5], P[37, -5:]])


def integro_pde() -> Problem:
    """SciPy's tutorial integro-differential PDE on its 75 x 75 grid, from P = 0."""
    d = load("roots.json")["scipy_tutorial_integro_pde"]
    c = d["computed_here"]
    ref = [c["P_center_[37,37]"], c["P_mean"], c["P_max"], c["P_min"], *c["P[37,:5]"], *c["P[37,-5:]"]]
    return Problem(
        name="scipy/integro_pde", kind="root", fun=integro_pde_residual(), x0=np.zeros(75 * 75),
        reference=np.asarray(ref), rtol=1e-7, observe=_pde_statistics,
        source=f"{d['source']}; reference statistics computed_here ({c['method']})",
        options={"method": "jfnk"}, preconditioner=lambda p: laplacian_inverse(75, 75, -float(74**2)),
        note="compared: P[37,37], mean, max, min, P[37,:5], P[37,-5:]; the integral term makes "
             "the Jacobian dense (Laplacian + rank one)",
    )


def _nk_example(x: Any) -> Any:
    xp, _ = namespace(x)
    return xp.stack([x[0] + 0.5 * x[1] - 1.0, 0.5 * (x[1] - x[0]) ** 2])


#: SciPy's default f_tol for newton_krylov, eps^(1/3): the docstring's output meets it
NK_FTOL = float(np.finfo(float).eps ** (1 / 3))


def newton_krylov_example() -> Problem:
    """SciPy's newton_krylov docstring system; measured by its residual (a double root)."""
    d = load("roots.json")["scipy_newton_krylov_docstring"]
    return Problem(
        name="scipy/newton_krylov_example", kind="root", fun=_nk_example, x0=np.zeros(2),
        reference=np.zeros(2), rtol=NK_FTOL, floor=1.0, observe=_nk_example,
        source=d["source"], options={"method": "jfnk"},
        note="double root (2/3, 2/3) with a singular Jacobian: error = max |F(x)|, held to SciPy's "
             "default f_tol = eps^(1/3); x itself is then only within about sqrt(f_tol) of the root",
    )


def brusselator_residual(N: int) -> Callable[[Any], Any]:
    """The sparse benchmarks' 2D Brusselator right-hand side on a periodic N x N grid.

    ``x = [u.ravel(), v.ravel()]`` (n = 2 N²), A = 3.4, B = 1, alpha = 10:
    ``du = B + u² v - (A + 1) u + alpha lap(u)``, ``dv = A u - u² v + alpha lap(v)``, with the
    unscaled periodic 5-point Laplacian. 6 nonzeros per row, 12 colors. Written once against the
    array API: the same function runs on NumPy, JAX and PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt.problems import brusselator_residual
    >>> f = brusselator_residual(8)
    >>> x = np.concatenate([np.ones(64), 3.4 * np.ones(64)])   # the uniform steady state
    >>> float(np.abs(f(x)).max())
    0.0
    """
    A, B, alpha = 3.4, 1.0, 10.0

    def f(x: Any) -> Any:
        xp, _ = namespace(x)
        u = xp.reshape(x[: N * N], (N, N))
        v = xp.reshape(x[N * N:], (N, N))
        du = B + u**2 * v - (A + 1) * u + alpha * _periodic_laplacian(xp, u)
        dv = A * u - u**2 * v + alpha * _periodic_laplacian(xp, v)
        return xp.concat([xp.reshape(du, (-1,)), xp.reshape(dv, (-1,))])

    return f


#: the frameworks :func:`brusselator_for` accepts
FRAMEWORKS = ("jax", "torch", "numpy")


def brusselator_for(framework: str, N: int) -> Callable[[Any], Any]:
    """A fresh Brusselator function object (:func:`brusselator_residual`) for ``framework``.

    The function is written once against the array API, so the same code serves every
    framework; ``framework`` ("jax", "torch" or "numpy") is checked, and each call returns a
    new function object, so that benchmarks that cache by function identity measure a cold
    preparation.

    Examples
    --------
    >>> import numpy as np
    >>> from adopt.problems import brusselator_for
    >>> f, g = brusselator_for("numpy", 4), brusselator_for("numpy", 4)
    >>> f is not g, f(np.ones(32)).shape
    (True, (32,))
    >>> brusselator_for("tensorflow", 4)
    Traceback (most recent call last):
    ...
    ValueError: brusselator_for: framework must be one of ('jax', 'torch', 'numpy'); got 'tensorflow'
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"brusselator_for: framework must be one of {FRAMEWORKS}; got {framework!r}")
    return brusselator_residual(N)


def _periodic_laplacian(xp: Any, w: Any) -> Any:
    return (xp.roll(w, 1, axis=0) + xp.roll(w, -1, axis=0) + xp.roll(w, 1, axis=1)
            + xp.roll(w, -1, axis=1) - 4 * w)


def problems() -> list[Problem]:
    """Bratu at m = 16, 64, 256 and lambda = 6.0, 6.8; the two SciPy examples."""
    return [bratu(m, lam) for m, lam in BRATU_SIZES] + [integro_pde(), newton_krylov_example()]

