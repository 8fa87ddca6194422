"""Reference values computed here, once, by methods independent of adopt.

Where no published reference exists (the Bratu lower branch, the 32 x 32 Brusselator, Kepler's
equation), the reference is computed by this module with hand-written analytic derivatives
and SciPy / mpmath, never with adopt, and stored in ``data/computed_here.json`` with the method
that produced it. Regenerate with ``python -m adopt.problems._computed`` (a few minutes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["bratu_lower_branch", "bruss2d_reference", "kepler_reference", "main"]


def _second_difference(m: int, periodic: bool) -> sp.csr_array:
    T = sp.diags_array([np.full(m - 1, -1.0), np.full(m, 2.0), np.full(m - 1, -1.0)],
                       offsets=[-1, 0, 1], format="lil")
    if periodic:
        T[0, m - 1] = T[m - 1, 0] = -1.0
    return sp.csr_array(T)


def _laplacian_2d(m: int, periodic: bool) -> sp.csr_array:
    """The matrix of 4 U - (4 neighbours) on an m x m grid (Dirichlet zero or periodic)."""
    T, eye = _second_difference(m, periodic), sp.eye_array(m)
    return sp.csr_array(sp.kron(eye, T) + sp.kron(T, eye))


def bratu_lower_branch(m: int, lam: float, steps: int = 20) -> np.ndarray:
    """Lower-branch Bratu solution: Newton with the analytic sparse Jacobian, continued in lambda
    from 0 in ``steps`` equal steps, each solved to |F| < 1e-13."""
    from scipy.sparse.linalg import spsolve

    A, h2 = _laplacian_2d(m, periodic=False), 1.0 / (m + 1) ** 2
    u = np.zeros(m * m)
    for mu in np.linspace(lam / steps, lam, steps):
        for _ in range(50):
            F = A @ u - h2 * mu * np.exp(u)
            if np.abs(F).max() < 1e-13:
                break
            u = u - spsolve(sp.csc_array(A - sp.diags_array(h2 * mu * np.exp(u))), F)
        else:
            raise RuntimeError(f"Bratu m={m} lambda={mu}: Newton did not converge")
    return u


def _bruss2d_jacobian(ns: int):  # noqa: ANN202 - returns a closure
    L = -0.1 * ns**2 * _laplacian_2d(ns, periodic=True)

    def jac(t: float, y: np.ndarray) -> sp.csc_array:
        u, v = y[: ns * ns], y[ns * ns:]
        d = sp.diags_array
        return sp.csc_array(sp.block_array([[d(2 * u * v - 4.4) + L, d(u**2)],
                                            [d(3.4 - 2 * u * v), d(-(u**2)) + L]]))

    return jac


def _bruss2d_radau(ns: int, rtol: float) -> np.ndarray:
    """States at t = 1.5 and 11.5 (rows), restarted at the forcing switch t = 1.1."""
    from scipy.integrate import solve_ivp

    from adopt.problems.ode import bruss2d_rhs, bruss2d_y0

    f, jac, y = bruss2d_rhs(ns), _bruss2d_jacobian(ns), bruss2d_y0(ns)
    _check_jacobian(f, jac, y)
    out = []
    for t0, t1 in ((0.0, 1.1), (1.1, 1.5), (1.5, 11.5)):
        sol = solve_ivp(f, (t0, t1), y, method="Radau", jac=jac, rtol=rtol, atol=rtol)
        if not sol.success:
            raise RuntimeError(sol.message)
        y = sol.y[:, -1]
        if t1 > 1.1:
            out.append(y)
    return np.array(out)


def bruss2d_reference(ns: int, rtol: float = 1e-10, check_rtol: float = 1e-8) -> dict[str, Any]:
    """The ns x ns BRUSS-2D at t = 1.5 and 11.5 by SciPy's Radau with the analytic sparse
    Jacobian (checked against central differences); a second run at ``check_rtol`` measures
    how far the stored values can be from the exact ones."""
    y, check = _bruss2d_radau(ns, rtol), _bruss2d_radau(ns, check_rtol)
    idx = np.arange(0, 2 * ns * ns, 16)
    return {"t": [1.5, 11.5], "indices": idx.tolist(), "y": [row[idx].tolist() for row in y],
            "max_abs_diff_vs_rtol_check": float(np.abs(y - check).max()), "check_rtol": check_rtol,
            "method": f"scipy {_scipy_version()} solve_ivp Radau, rtol = atol = {rtol:g}, analytic "
                      "sparse Jacobian, restarted at t = 1.1; every 16th component"}


def _check_jacobian(f: Any, jac: Any, y: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    v, h = rng.standard_normal(y.size), 1e-6
    fd = (f(1.2, y + h * v) - f(1.2, y - h * v)) / (2 * h)
    if not np.allclose(jac(1.2, y) @ v, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max()):
        raise RuntimeError("analytic BRUSS-2D Jacobian disagrees with central differences")


def kepler_reference(e: float, M: float) -> str:
    """E with E - e sin E = M, to 30 digits (mpmath findroot from E = M + 0.85 e)."""
    import mpmath

    with mpmath.workdps(40):
        E = mpmath.findroot(lambda E: E - e * mpmath.sin(E) - M, M + 0.85 * e)
        return mpmath.nstr(E, 30)


def _scipy_version() -> str:
    import scipy

    return scipy.__version__


def compute() -> dict[str, Any]:
    """Every computed reference, as stored in ``data/computed_here.json``."""
    from adopt.problems.scalar import KEPLER_CASES, _label
    from adopt.problems.systems import BRATU_SIZES, bratu_subgrid

    import mpmath

    bratu = {f"{m}/{lam}": {"u_subgrid": bratu_lower_branch(m, lam)[bratu_subgrid(m)].tolist(),
                            "method": f"Newton with the analytic sparse Jacobian (scipy "
                                      f"{_scipy_version()} spsolve), continuation in lambda from 0 "
                                      "in 20 steps, |F| < 1e-13; 9 x 9 subgrid"}
             for m, lam in BRATU_SIZES}
    kepler = {f"e{_label(e)}/M{_label(M)}": {"E": kepler_reference(e, M),
                                             "method": f"mpmath {mpmath.__version__} findroot, 40 digits"}
              for e, M in KEPLER_CASES}
    return {"label": "computed_here", "bratu_2d": bratu, "bruss2d": {"32": bruss2d_reference(32)},
            "kepler": kepler}


def main() -> int:
    """Write ``data/computed_here.json`` next to this module."""
    path = Path(__file__).with_name("data") / "computed_here.json"
    path.write_text(json.dumps(compute(), indent=1) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
