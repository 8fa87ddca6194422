"""Krylov solvers on operators given as functions: GMRES, CGLS in a trust region, truncated CG.

The reference algorithms hand them Jacobian-vector and Hessian-vector products from adopt's
``pushforward``, ``pullback`` and ``hvp``: no matrix is ever formed.

Examples
--------
>>> import numpy as np
>>> from adopt.problems.algorithms.krylov import gmres
>>> A = np.array([[4.0, 1.0], [2.0, 3.0]])
>>> x, products, relres = gmres(lambda v: A @ v, np.array([1.0, 2.0]), rtol=1e-12)
>>> np.allclose(A @ x, [1.0, 2.0]), products   # two Arnoldi steps and the true residual
(True, 3)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["gmres", "cgls_trust_region", "truncated_cg"]

Op = Callable[[np.ndarray], np.ndarray]


def gmres(A: Op, b: np.ndarray, *, rtol: float, restart: int = 50, maxiter: int = 1000,
          M: Op | None = None) -> tuple[np.ndarray, int, float]:
    """Restarted GMRES with right preconditioning: solve ``A x = b`` as ``A M u = b``, ``x = M u``.

    Stops when the true residual ``|b - A x| <= rtol |b|`` (right preconditioning leaves the
    residual unpreconditioned, so the Newton forcing term means what it says). Classical
    Gram–Schmidt with one reorthogonalisation; the small least-squares problem is solved
    directly. Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed., Alg. 6.9 and 9.5.

    Returns ``(x, matvecs, |b - A x| / |b|)``.
    """
    M = M or (lambda v: v)
    x, bnorm, used = np.zeros_like(b), float(np.linalg.norm(b)), 0
    if bnorm == 0.0:
        return x, 0, 0.0
    r = b.copy()
    while used < maxiter and np.linalg.norm(r) > rtol * bnorm:
        beta = float(np.linalg.norm(r))
        V, H = [r / beta], np.zeros((restart + 1, restart))
        for j in range(restart):
            w = A(M(V[j]))
            used += 1
            Vj = np.array(V)
            h = Vj @ w
            w = w - Vj.T @ h
            h2 = Vj @ w  # reorthogonalise once ("twice is enough")
            w, H[: j + 1, j] = w - Vj.T @ h2, h + h2
            H[j + 1, j] = np.linalg.norm(w)
            e1 = np.zeros(j + 2)
            e1[0] = beta
            y, *_ = np.linalg.lstsq(H[: j + 2, : j + 1], e1, rcond=None)
            res = np.linalg.norm(e1 - H[: j + 2, : j + 1] @ y)
            if res <= rtol * bnorm or used >= maxiter or H[j + 1, j] <= 1e-14 * beta:
                break
            V.append(w / H[j + 1, j])
        x = x + M(np.array(V[: y.size]).T @ y)
        r = b - A(x)
        used += 1
    return x, used, float(np.linalg.norm(r) / bnorm)


def cgls_trust_region(J: Op, JT: Op, r: np.ndarray, radius: float, *, rtol: float = 1e-2,
                      maxiter: int = 200) -> tuple[np.ndarray, np.ndarray, int]:
    """Approximately minimise ``|J q + r|`` subject to ``|q| <= radius``, matrix-free.

    CGLS (conjugate gradients on the normal equations without forming ``J^T J``; Björck,
    *Numerical Methods for Least Squares Problems*, 1996, Alg. 7.4.1), stopped at the trust-region
    boundary as in Steihaug's truncated CG (Steihaug 1983; Nocedal & Wright Alg. 7.2), or when
    the normal-equation residual has dropped by ``rtol``. Each iteration is one ``J`` and one
    ``J^T`` product. Returns ``(q, J q + r, iterations)``.
    """
    res = -r                       # -(J q + r) at q = 0
    s = JT(res)                    # the negative gradient of the model
    q, p, s0, gamma = np.zeros_like(s), s, float(np.linalg.norm(s)), float(s @ s)
    for it in range(1, maxiter + 1):
        if np.sqrt(gamma) <= rtol * s0:
            return q, -res, it - 1
        Jp = J(p)
        curvature = float(Jp @ Jp)
        alpha = gamma / curvature if curvature > 0.0 else 0.0
        if curvature <= 0.0 or np.linalg.norm(q + alpha * p) >= radius:
            tau = _to_boundary(q, p, radius)
            return q + tau * p, -(res - tau * Jp), it
        q, res = q + alpha * p, res - alpha * Jp
        s = JT(res)
        gamma_new = float(s @ s)
        p, gamma = s + (gamma_new / gamma) * p, gamma_new
    return q, -res, maxiter


def _to_boundary(q: np.ndarray, p: np.ndarray, radius: float) -> float:
    """The tau >= 0 with |q + tau p| = radius."""
    a, b, c = p @ p, 2 * (q @ p), q @ q - radius**2
    return float((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))


def truncated_cg(B: Op, g: np.ndarray, *, rtol: float, maxiter: int = 500) -> tuple[np.ndarray, int]:
    """Approximately solve the Newton equation ``B p = -g`` by CG, for a line-search method.

    Stops when ``|B p + g| <= rtol |g|``, or at negative curvature, returning the iterate so far
    (the steepest-descent direction if that happens at once). Nocedal & Wright, *Numerical
    Optimization*, 2nd ed., Algorithm 7.1 (line search Newton–CG). Returns ``(p, iterations)``.
    """
    z, r = np.zeros_like(g), g.copy()
    d, rr, gnorm = -r, float(r @ r), float(np.linalg.norm(g))
    for it in range(1, maxiter + 1):
        Bd = B(d)
        curvature = float(d @ Bd)
        if curvature <= 0.0:
            return (-g if it == 1 else z), it
        alpha = rr / curvature
        z, r = z + alpha * d, r + alpha * Bd
        rr_new = float(r @ r)
        if np.sqrt(rr_new) <= rtol * gnorm:
            return z, it
        d, rr = -r + (rr_new / rr) * d, rr_new
    return z, maxiter
