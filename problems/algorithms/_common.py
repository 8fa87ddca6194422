"""What the reference algorithms share: their result record, a finiteness check, a line search."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import scipy.sparse as sp

__all__ = ["Result", "nonfinite", "backtrack", "CountingFunction", "sparse_lu"]


@dataclass(frozen=True)
class Result:
    """What every reference algorithm returns.

    Attributes
    ----------
    x : numpy.ndarray
        The last iterate (ODE integrators: the states at the requested times, one row each).
    converged : bool
        The algorithm's convergence test passed (never True after a failure).
    message : str
        Why it stopped.
    nit : int
        Iterations (ODE: accepted steps).
    nfev : int
        Evaluations of the function made directly by the algorithm (not by adopt operators).
    history : tuple of float
        One number per iteration: a residual or gradient norm (ODE: the step size).
    info : mapping
        Algorithm-specific counts (rejected steps, Krylov iterations, LU factorisations).
    """

    x: np.ndarray
    converged: bool
    message: str
    nit: int
    nfev: int
    history: tuple[float, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)


class CountingFunction:
    """``fun`` wrapped to count its direct calls and return float64 NumPy arrays.

    Overflow and invalid operations give inf and NaN without NumPy's warnings: the algorithms
    treat a non-finite trial value as a failed step and stop on a non-finite iterate, with a
    message that says so.
    """

    def __init__(self, fun: Callable[..., Any]):
        self.fun, self.calls = fun, 0

    def __call__(self, *args: Any) -> np.ndarray:
        self.calls += 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return np.asarray(self.fun(*args), dtype=float)


def sparse_lu(A: Any) -> Any:
    """SuperLU factors of a SciPy sparse matrix, ordered for its structure: minimum degree on
    ``A + A^T`` when the pattern is symmetric (PDE stencils, Hessians: half the fill of COLAMD
    on the 2D Brusselator), COLAMD otherwise (SuperLU's advice)."""
    import scipy.sparse.linalg as spla

    A = sp.csc_array(A)
    pattern = A != 0
    symmetric = (pattern != pattern.T).nnz == 0
    return spla.splu(A, permc_spec="MMD_AT_PLUS_A" if symmetric else "COLAMD")


def nonfinite(name: str, value: Any, where: str) -> str | None:
    """A message if ``value`` has a NaN or an infinity, else None."""
    a = np.asarray(value.data if sp.issparse(value) else value)  # scipy.sparse: its stored values
    if np.all(np.isfinite(a)):
        return None
    bad = "NaN" if np.isnan(a).any() else "an infinity"
    return f"{name} has {bad} {where}: stopped (check the function's domain and the start)"


def backtrack(merit: Callable[[np.ndarray], float], x: np.ndarray, p: np.ndarray, m0: float,
              slope: float, *, c: float = 1e-4, shrink: float = 0.5, min_step: float = 1e-10
              ) -> tuple[float, float]:
    """Armijo backtracking: the first ``a`` in 1, 1/2, 1/4, ... with
    ``merit(x + a p) <= m0 + c a slope`` (``slope < 0``, the directional derivative).

    Returns ``(a, merit(x + a p))``, or ``(0.0, m0)`` when the step falls below ``min_step``.
    A non-finite trial value counts as a failed trial (the step is too long).
    Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 3.1.
    """
    a = 1.0
    while a >= min_step:
        m = merit(x + a * p)
        if np.isfinite(m) and m <= m0 + c * a * slope:
            return a, m
        a *= shrink
    return 0.0, m0
