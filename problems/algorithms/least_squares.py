"""Nonlinear least squares, min ½|r(x)|²: Levenberg–Marquardt and Gauss–Newton.

Both come dense (``jacobian``: the whole J, prepared once per solve) and matrix-free
(``pushforward`` for J v and ``pullback`` for J^T w, each prepared once per solve: CGLS in the
trust region, LSMR for the Gauss–Newton step).

Examples
--------
>>> import numpy as np, adopt
>>> from adopt.problems.algorithms import levenberg_marquardt
>>> t = np.linspace(0.0, 1.0, 8)
>>> fun = lambda b: b[0] * np.exp(b[1] * t) - 2.0 * np.exp(-t)
>>> res = levenberg_marquardt(fun, adopt.AutoFiniteDiff(), np.array([1.0, 0.0]))
>>> res.converged, np.round(res.x, 6)
(True, array([ 2., -1.]))
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

import adopt
from adopt.problems.algorithms._common import CountingFunction, Result, backtrack, nonfinite
from adopt.problems.algorithms.krylov import cgls_trust_region

__all__ = ["levenberg_marquardt", "gauss_newton"]

_EPS = np.finfo(float).eps


class _Linearization:
    """r(x) and its Jacobian at a point: explicit (``jacobian``) or as products
    (``pushforward`` and ``pullback``), from preps made once at the start."""

    def __init__(self, fun: CountingFunction, backend: Any, x0: np.ndarray, args: tuple, matrix_free: bool):
        self.fun, self.backend, self.matrix_free, self.args = fun, backend, matrix_free, args
        self.ctx = tuple(adopt.Constant(a) for a in args)
        if matrix_free:
            r0 = fun(x0, *args)
            self.pf = adopt.prepare_pushforward(fun.fun, backend, x0, (x0,), *self.ctx)
            self.pb = adopt.prepare_pullback(fun.fun, backend, x0, (r0,), *self.ctx)
        else:
            self.prep = adopt.prepare_jacobian(fun.fun, backend, x0, *self.ctx)

    def at(self, x: np.ndarray, r: np.ndarray | None) -> tuple[np.ndarray, Any]:
        """``(r(x), J)`` with J a dense matrix, or a pair ``(v -> J v, w -> J^T w)``."""
        if not self.matrix_free:
            r, J = adopt.value_and_jacobian(self.fun.fun, self.backend, x, *self.ctx, prep=self.prep)
            return np.asarray(r, dtype=float), np.asarray(J.toarray() if sp.issparse(J) else J)
        f, b, c = self.fun.fun, self.backend, self.ctx
        r = self.fun(x, *self.args) if r is None else r
        jvp = lambda v: np.asarray(adopt.pushforward(f, b, x, (v,), *c, prep=self.pf)[0])  # noqa: E731
        vjp = lambda w: np.asarray(adopt.pullback(f, b, x, (w,), *c, prep=self.pb)[0])  # noqa: E731
        return r, (jvp, vjp)


def _ops(J: Any) -> tuple[Callable, Callable]:
    return (lambda v: J @ v, lambda w: J.T @ w) if isinstance(J, np.ndarray) else J


def _more_step(J: np.ndarray, r: np.ndarray, D: np.ndarray, radius: float) -> tuple[np.ndarray, float]:
    """Moré's Levenberg–Marquardt step: ``p = argmin |J p + r|² + lam |D p|²`` with ``lam = 0``
    if the Gauss–Newton step fits in the region, else ``|D p| = radius`` within 10 %, ``lam``
    found by Newton's method on ``1/radius - 1/|D p(lam)|`` in a safeguarded bracket.
    Via the SVD of ``J D^-1`` each trial ``lam`` costs O(n²) (Moré uses QR and Givens)."""
    U, s, Vt = np.linalg.svd(J / D, full_matrices=False)
    keep = s > (s[0] if s.size else 0.0) * _EPS * max(J.shape)
    s, c, V = s[keep], (U.T @ r)[keep], Vt[keep].T

    def scaled_step(lam: float) -> np.ndarray:
        return -(V @ (s * c / (s**2 + lam)))

    q, lam = scaled_step(0.0), 0.0
    if np.linalg.norm(q) <= 1.1 * radius:
        return q / D, lam
    lo, hi = 0.0, float(np.linalg.norm(s * c)) / radius
    lam = 1e-3 * hi
    for _ in range(30):
        q = scaled_step(lam)
        qn = float(np.linalg.norm(q))
        if abs(qn - radius) <= 0.1 * radius:
            break
        lo, hi = (lam, hi) if qn > radius else (lo, lam)
        dqn = float(np.sum((s * c) ** 2 / (s**2 + lam) ** 3)) / qn  # -d|q|/dlam
        lam = lam + (qn - radius) / radius * qn / dqn
        if not lo < lam < hi:
            lam = max(np.sqrt(lo * hi), 1e-3 * hi)
    return q / D, lam


def levenberg_marquardt(fun: Callable[..., Any], backend: Any, x0: np.ndarray, args: tuple = (), *,
                        matrix_free: bool = False, maxiter: int = 1000, ftol: float = 1e-14,
                        xtol: float = 1e-14, gtol: float = 1e-14, factor: float = 100.0,
                        scale: bool = True, inner_rtol: float = 1e-10) -> Result:
    """Levenberg–Marquardt in Moré's trust-region form.

    Each iteration takes the step that minimises the Gauss–Newton model within a scaled trust
    region ``|D p| <= radius`` (D: the largest column norms of J seen so far), accepts it if
    the actual reduction of |r|² is at least 1e-4 of the predicted one, and resizes the region
    by the ratio of the two, with the update rules and stopping tests of MINPACK's ``lmder``:
    relative reduction of the sum of squares <= ``ftol``, region <= ``xtol`` relative to
    ``|D x|``, cosine between r and the columns of J <= ``gtol`` (dense), or any of them at the
    limit of float64. Dense: Moré's step with its Levenberg–Marquardt parameter
    (:func:`_more_step`); matrix-free: D = I and CGLS stopped at the region's boundary.
    ``scale=False`` keeps D = I in the dense form too (MINPACK's ``mode = 2`` with unit
    ``diag``, SciPy's ``x_scale=1``). ``inner_rtol``: CGLS's relative tolerance (matrix-free);
    without column scaling, loose inner solves lose the small singular directions of a badly
    scaled J and the outer iteration stalls.

    J. J. Moré, "The Levenberg–Marquardt algorithm: implementation and theory", Numerical
    Analysis (Dundee 1977), Lecture Notes in Mathematics 630, 1978; Moré, Garbow, Hillstrom,
    *User Guide for MINPACK-1*, ANL-80-74, 1980; Nocedal & Wright, *Numerical Optimization*,
    2nd ed., Sect. 10.3.
    """
    f = CountingFunction(fun)
    lin = _Linearization(f, backend, np.asarray(x0, dtype=float), args, matrix_free)
    x = np.array(x0, dtype=float)
    r, J = lin.at(x, None)
    scale = scale and not matrix_free
    D = _column_norms(J, np.zeros_like(x)) if scale else np.ones_like(x)
    radius = factor * (np.linalg.norm(D * x) or 1.0)
    history, ntr = [float(r @ r)], 0

    def done(converged: bool, message: str, it: int) -> Result:
        return Result(x, converged, message, it, f.calls, tuple(history), {"cg_iterations": ntr})

    for it in range(1, maxiter + 1):
        where = f"at iteration {it - 1}"
        if (bad := nonfinite("the residual", r, where)) or \
                (bad := None if matrix_free else nonfinite("the Jacobian", J, where)):
            return done(False, bad, it - 1)
        ss = float(r @ r)
        if ss == 0.0:
            return done(True, "exact fit: the residual is zero", it - 1)
        if not matrix_free and _cosine(J, r) <= max(gtol, _EPS):
            return done(True, f"gtol: r is orthogonal to the columns of J within {max(gtol, _EPS):g}",
                        it - 1)
        if matrix_free:
            p, model, inner = cgls_trust_region(*_ops(J), r, radius, rtol=inner_rtol,
                                                maxiter=min(200, 2 * x.size + 10))
            # an interior CG step plays the role of Moré's lam = 0 (the Gauss–Newton step fits)
            ntr, lam = ntr + inner, 0.0 if np.linalg.norm(p) < 0.99 * radius else 1.0
        else:
            p, lam = _more_step(J, r, D, radius)
            model = J @ p + r
        dp = float(np.linalg.norm(D * p))
        if it == 1:
            radius = min(radius, dp)
        r_new = f(x + p, *args)
        pred = 1.0 - float(model @ model) / ss
        ared = 1.0 - float(r_new @ r_new) / ss if np.all(np.isfinite(r_new)) else -np.inf
        rho = ared / pred if pred > 0 else -np.inf
        if rho <= 0.25:
            shrink = 0.5 if ared >= 0 else max(0.1, min(0.5, 0.5 * pred / (pred - 0.5 * ared)))
            shrink = 0.1 if ared <= -99.0 else shrink  # |r_new| >= 10 |r|
            radius = shrink * min(radius, 10.0 * dp)
        elif lam == 0.0 or rho >= 0.75:
            radius = 2.0 * dp
        if rho >= 1e-4:
            x = x + p
            r, J = lin.at(x, r_new)
            history.append(float(r @ r))
            if scale:
                D = _column_norms(J, D)
        if abs(ared) <= max(ftol, _EPS) and pred <= max(ftol, _EPS) and rho <= 2.0:
            return done(True, f"ftol: relative reduction of the sum of squares <= {max(ftol, _EPS):g}", it)
        if radius <= max(xtol, _EPS) * np.linalg.norm(D * x):
            return done(True, f"xtol: trust region <= {max(xtol, _EPS):g} relative to |D x|", it)
    return done(False, f"maximum number of iterations ({maxiter}) reached", maxiter)


def _column_norms(J: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Moré's scaling: the largest column norms so far; 1 for columns that were always zero."""
    D = np.maximum(D, np.linalg.norm(J, axis=0))
    return np.where(D > 0, D, 1.0)


def _cosine(J: np.ndarray, r: np.ndarray) -> float:
    """max_j |J_j . r| / (|J_j| |r|): 0 at a stationary point of |r|²."""
    norms = np.linalg.norm(J, axis=0) * np.linalg.norm(r)
    ok = norms > 0
    return float(np.max(np.abs(J.T @ r)[ok] / norms[ok])) if ok.any() else 0.0


def gauss_newton(fun: Callable[..., Any], backend: Any, x0: np.ndarray, args: tuple = (), *,
                 matrix_free: bool = False, maxiter: int = 200, ftol: float = 1e-12,
                 xtol: float = 1e-12, gtol: float = 1e-12, inner_rtol: float = 1e-10) -> Result:
    """Gauss–Newton with a backtracking (Armijo) line search on |r|².

    The step solves ``min |J p + r|``: dense by a least-squares solve (SVD), matrix-free by LSMR
    on ``pushforward`` / ``pullback`` (Fong & Saunders 2011) to ``atol = btol = inner_rtol``.
    Converges where J has full rank along the path; without the trust region of
    :func:`levenberg_marquardt` it is less robust far from the solution, and the matrix-free
    form has no column scaling: LSMR's stopping test is relative to |J|, so on a
    badly scaled J (columns differing by 1e5) it stops before resolving the small directions.

    Nocedal & Wright, *Numerical Optimization*, 2nd ed., Sect. 10.3; Dennis & Schnabel,
    *Numerical Methods for Unconstrained Optimization and Nonlinear Equations*, Sect. 10.2.
    """
    from scipy.sparse.linalg import LinearOperator, lsmr

    f = CountingFunction(fun)
    lin = _Linearization(f, backend, np.asarray(x0, dtype=float), args, matrix_free)
    x = np.array(x0, dtype=float)
    r, J = lin.at(x, None)
    history = [float(r @ r)]
    for it in range(1, maxiter + 1):
        if bad := nonfinite("the residual", r, f"at iteration {it - 1}"):
            return Result(x, False, bad, it - 1, f.calls, tuple(history))
        ss = float(r @ r)
        if ss == 0.0 or (not matrix_free and _cosine(J, r) <= gtol):
            return Result(x, True, "gtol: stationary point of |r|²", it - 1, f.calls, tuple(history))
        Jv, JTw = _ops(J)
        if matrix_free:
            A = LinearOperator((r.size, x.size), matvec=Jv, rmatvec=JTw, dtype=float)
            p = lsmr(A, -r, atol=inner_rtol, btol=inner_rtol, maxiter=10 * x.size)[0]
        else:
            p = np.linalg.lstsq(J, -r, rcond=None)[0]
        slope = 2.0 * float(Jv(p) @ r)
        a, ss_new = backtrack(lambda z: float(np.sum(f(z, *args) ** 2)), x, p, ss, slope)
        if a == 0.0:
            return Result(x, False, "the line search failed: no decrease along the Gauss–Newton "
                                    "step (J may be rank deficient here)", it, f.calls, tuple(history))
        x = x + a * p
        r, J = lin.at(x, None)
        history.append(float(r @ r))
        if ss - ss_new <= ftol * ss or a * np.linalg.norm(p) <= xtol * (np.linalg.norm(x) + xtol):
            return Result(x, True, "ftol/xtol: no further relative progress", it, f.calls, tuple(history))
    return Result(x, False, f"maximum number of iterations ({maxiter}) reached", maxiter, f.calls,
                  tuple(history))
