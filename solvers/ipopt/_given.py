"""Derivatives the user gives, as ``cyipopt.minimize_ipopt`` takes them: ``jac=`` (a callable, or
True when ``fun`` returns ``(value, gradient)``) and ``hess=`` (the objective's Hessian).

A derivative given replaces the backend's, as in cyipopt; the backend computes the rest. With
``jac=`` the objective's value and gradient come from your functions (``jac=True``: one call of
``fun`` per point). With ``hess=`` the Lagrangian Hessian is ``σ hess(x) + Σ λᵢ∇²gᵢ``: the
backend computes the constraints' part (one Hessian of ``L(x; 0, λ)``) and your matrix, dense
or scipy.sparse, full or lower triangle, is read at the structure the backend fixed.
"""

from __future__ import annotations

import types
import weakref
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from adopt.solvers._pytree import flatten, to_numpy_any
from adopt.solvers.ipopt._nlp import NLPDerivatives

__all__ = ["check_given", "value_part", "Given"]


def check_given(jac: Any, hess: Any) -> None:
    """cyipopt's checks of ``jac`` and ``hess``, with cyipopt's messages."""
    if jac is not None and not isinstance(jac, bool) and not callable(jac):
        raise ValueError("`jac` must be callable or boolean.")
    if hess is not None and not callable(hess):
        raise ValueError("`hess` must be callable.")


class _ValuePart:
    """``fun(x)[0]`` of a ``fun`` returning ``(value, gradient)``, holding ``fun`` weakly."""

    def __init__(self, fun: Callable[..., Any]) -> None:
        self._ref = weakref.ref(fun)

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        return first(self._ref()(x, *args, **kwargs))


def first(out: Any) -> Any:
    """The value in ``(value, gradient)``, or a clear error if ``fun`` returned something else."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ValueError("minimize_ipopt: jac=True says fun returns (value, gradient); it returned "
                         f"{type(out).__name__}: return both, or drop jac=True")
    return out[0]


_VALUE_PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def value_part(fun: Callable[..., Any]) -> Callable[..., Any]:
    """The value of ``fun`` (``jac=True``) as a function the backend differentiates; the same
    object for the same ``fun``, so its preparations are reused across solves."""
    if isinstance(fun, types.MethodType):
        return lambda x, *a, **k: first(fun(x, *a, **k))
    try:
        part = _VALUE_PARTS.get(fun)
        if part is None:
            part = _VALUE_PARTS[fun] = _ValuePart(fun)
        return part
    except TypeError:  # not weakly referenceable: no reuse
        return lambda x, *a, **k: first(fun(x, *a, **k))


class Given:
    """cyipopt's ``objective``, ``gradient`` and ``hessian`` with the user's ``jac`` / ``hess``
    in place of the backend's, the backend's :class:`NLPDerivatives` ``d`` doing the rest."""

    def __init__(self, d: NLPDerivatives, fun: Callable[..., Any], jac: Any, hess: Any,
                 args: tuple, kwargs: dict) -> None:
        self.d, self.fun, self.jac, self.hess = d, fun, jac, hess
        self.args, self.kwargs = args, kwargs
        self.nfev = self.njev = 0
        self._x: np.ndarray | None = None
        self._fg: tuple[float, np.ndarray] | None = None
        self._checked = False

    # ---- objective and gradient ----------------------------------------------------------
    def _user(self, f: Callable[..., Any], x: np.ndarray) -> Any:
        return f(self.d.flat.result(x), *self.args, **self.kwargs)

    def _flat(self, g: Any, what: str) -> np.ndarray:
        g = flatten(g, f"minimize_ipopt: {what}").x0
        if g.size != self.d.n:
            raise ValueError(f"minimize_ipopt: {what} returned {g.size} numbers for {self.d.n} "
                             "unknowns; return the gradient in x0's shape (or flattened)")
        return g

    def _value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """``jac=True``: one call of ``fun`` per point gives both."""
        if self._x is None or not np.array_equal(x, self._x):
            out = self._user(self.fun, x)
            value = float(first(out))
            self.nfev += 1
            gradient = self._flat(out[1], "fun's gradient")
            self._x, self._fg = np.array(x, dtype=np.float64), (value, gradient)
        return self._fg

    def objective(self, x: np.ndarray) -> float:
        """``fun(x)`` (with ``jac=True``, with its gradient)."""
        d = self.d
        if not self.jac:
            return d.objective(x)
        if self.jac is True:
            return d._guard(lambda: self._value_and_gradient(x)[0], lambda: 0.0)
        self.nfev += 1
        return d._guard(lambda: float(d.objective_derivatives.value(x, *self.args)), lambda: 0.0)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Your ``jac(x)``, flattened to float64 (``jac=True``: the gradient ``fun`` returned)."""
        d = self.d
        if not self.jac:
            return d.gradient(x)
        self.njev += 1
        if self.jac is True:
            return d._guard(lambda: self._value_and_gradient(x)[1], lambda: np.zeros(d.n))
        return d._guard(lambda: self._flat(self._user(self.jac, x), "jac"), lambda: np.zeros(d.n))

    # ---- Hessian -------------------------------------------------------------------------
    def _entries(self, H: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Your Hessian at IPOPT's (lower-triangle) structure, checked once against it."""
        n = self.d.n
        if sp.issparse(H):
            H = sp.csr_array(H, dtype=np.float64)
            dense = None
        else:
            dense = np.asarray(to_numpy_any(H), dtype=np.float64).reshape(n, n)
        if not self._checked:
            low = sp.tril(sp.coo_array(dense if dense is not None else H))
            low.eliminate_zeros()
            inside = sp.coo_array((np.ones(rows.size), (rows, cols)), shape=(n, n)).tocsr()
            outside = [(int(i), int(j)) for i, j in zip(low.row, low.col) if not inside[i, j]]
            if outside:
                raise ValueError(f"minimize_ipopt: hess= has nonzeros at {outside[:5]}, outside the "
                                 "sparsity pattern the backend detected for fun's Hessian; check "
                                 "your hess (or pass a dense backend, whose structure is the whole "
                                 "lower triangle)")
            self._checked = True
        return dense[rows, cols] if dense is not None else np.asarray(H[rows, cols]).reshape(-1)

    def hessian(self, x: np.ndarray, lagrange: np.ndarray, obj_factor: float) -> np.ndarray:
        """``obj_factor hess(x)`` plus the constraints' ``Σ λᵢ∇²gᵢ`` from the backend."""
        d = self.d
        if self.hess is None:
            return d.hessian(x, lagrange, obj_factor)
        constraints_part = d.hessian(x, lagrange, 0.0)
        rows, cols = d.hessianstructure()

        def run() -> np.ndarray:
            return constraints_part + obj_factor * self._entries(self._user(self.hess, x), rows, cols)

        return d._guard(run, lambda: np.zeros(rows.size))

    def counts(self) -> dict[str, int]:
        """The result's counts, ``nfev`` and ``njev`` being calls of your functions."""
        counts = self.d.counts()
        if self.jac:
            counts.update(nfev=self.nfev, njev=self.njev)
        return counts
