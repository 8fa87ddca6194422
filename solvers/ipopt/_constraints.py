"""Constraints in SciPy's forms, read once: what to differentiate, what is linear, and the bounds.

An NLP solver sees one constraint vector ``cl <= g(x) <= cu``. The user gives SciPy's forms, in
any mix and order: old-style dicts (``{"type": "eq" | "ineq", "fun", "args", "kwargs"}``, as
``cyipopt.minimize_ipopt`` takes them), ``NonlinearConstraint(fun, lb, ub)`` and
``LinearConstraint(A, lb, ub)``. Nonlinear ones are differentiated by the backend; linear ones
are evaluated in NumPy (their Jacobian is ``A``, their Hessian zero). The rows of ``g`` keep the
user's order, so that the multipliers ``mult_g`` line up with the constraints as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import scipy.optimize as so
import scipy.sparse as sp

__all__ = ["Block", "read_constraints", "Layout", "layout"]


@dataclass(frozen=True)
class Block:
    """One constraint as the user gave it: ``lb <= fun(x, *args, **kwargs) <= ub``, or
    ``lb <= A @ x <= ub`` (``fun`` is None)."""

    fun: Callable[..., Any] | None
    args: tuple
    kwargs: tuple[tuple[str, Any], ...]
    lb: Any
    ub: Any
    A: sp.csr_array | None = None


def _refuse(where: str, i: int, what: str) -> None:
    raise ValueError(f"{where}: constraint {i} gives its own {what}, and the backend computes the "
                     f"exact one; drop {what} from the constraint (adopt differentiates its fun)")


def _from_dict(where: str, i: int, c: dict) -> Block:
    kind = c.get("type")
    if kind not in ("eq", "ineq"):
        raise ValueError(f"{where}: constraint {i} has type {kind!r}; old-style constraints are "
                         "dicts with type 'eq' (fun(x) == 0) or 'ineq' (fun(x) >= 0)")
    if not callable(c.get("fun")):
        raise ValueError(f"{where}: constraint {i} needs a callable 'fun'; got {c.get('fun')!r}")
    for key in ("jac", "hess"):
        if c.get(key) not in (None, False):
            _refuse(where, i, f"'{key}'")
    args = c.get("args", ())
    args = args if isinstance(args, tuple) else tuple(args) if isinstance(args, list) else (args,)
    kwargs = c.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ValueError(f"{where}: constraint {i} has kwargs {kwargs!r}; kwargs must be a dict")
    return Block(c["fun"], args, tuple(kwargs.items()), 0.0, 0.0 if kind == "eq" else np.inf)


def _from_nonlinear(where: str, i: int, c: so.NonlinearConstraint) -> Block:
    if callable(c.jac):
        _refuse(where, i, "jac")
    if callable(c.hess):
        _refuse(where, i, "hess")
    if np.any(c.keep_feasible):
        raise ValueError(f"{where}: constraint {i} asks keep_feasible=True, which IPOPT cannot "
                         "honour (its iterates may leave nonlinear constraints); write simple "
                         "bounds on x as bounds= (IPOPT keeps those), or drop keep_feasible")
    return Block(c.fun, (), (), c.lb, c.ub)


def _from_linear(where: str, i: int, c: so.LinearConstraint) -> Block:
    if np.any(c.keep_feasible):
        raise ValueError(f"{where}: constraint {i} asks keep_feasible=True, which IPOPT cannot "
                         "honour; drop keep_feasible (bounds= on x are kept feasible)")
    A = sp.csr_array(c.A if sp.issparse(c.A) else np.atleast_2d(np.asarray(c.A, dtype=np.float64)),
                     dtype=np.float64)
    return Block(None, (), (), c.lb, c.ub, A)


def read_constraints(where: str, constraints: Any) -> list[Block]:
    """The constraints as blocks, in the given order (one constraint or a sequence of them)."""
    if isinstance(constraints, (dict, so.NonlinearConstraint, so.LinearConstraint)):
        constraints = [constraints]
    blocks = []
    for i, c in enumerate(constraints or ()):
        if isinstance(c, dict):
            blocks.append(_from_dict(where, i, c))
        elif isinstance(c, so.NonlinearConstraint):
            blocks.append(_from_nonlinear(where, i, c))
        elif isinstance(c, so.LinearConstraint):
            blocks.append(_from_linear(where, i, c))
        else:
            raise TypeError(f"{where}: constraint {i} is a {type(c).__name__}; give a dict "
                            "{'type': 'eq'|'ineq', 'fun': ...}, a NonlinearConstraint or a "
                            "LinearConstraint")
    return blocks


@dataclass(frozen=True)
class Layout:
    """Where each block's rows go in ``g``, and the bounds ``cl <= g <= cu``.

    Attributes
    ----------
    m : int
        Number of constraint rows.
    nonlinear_rows : numpy.ndarray
        The rows of ``g`` filled by the stacked nonlinear constraints, in stacking order.
    linear_rows : numpy.ndarray
        The rows filled by ``A @ x`` (the linear blocks stacked in order).
    A : scipy.sparse.csr_array
        The linear blocks stacked, shape ``(linear_rows.size, n)``.
    cl, cu : numpy.ndarray
        Bounds on ``g`` (float64, ``±inf`` where unbounded).
    """

    m: int
    nonlinear_rows: np.ndarray
    linear_rows: np.ndarray
    A: sp.csr_array
    cl: np.ndarray
    cu: np.ndarray

    @property
    def in_order(self) -> bool:
        """The nonlinear rows are ``0 .. k-1`` and there are no linear ones: no scatter needed."""
        return self.linear_rows.size == 0


def _bounds(where: str, i: int, block: Block, size: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        lb = np.broadcast_to(np.asarray(block.lb, dtype=np.float64), (size,))
        ub = np.broadcast_to(np.asarray(block.ub, dtype=np.float64), (size,))
    except ValueError as e:
        raise ValueError(f"{where}: constraint {i} has {size} rows but its bounds lb, ub have "
                         f"shapes {np.shape(block.lb)}, {np.shape(block.ub)}: give scalars or "
                         f"arrays of {size}") from e
    if np.any(lb > ub):
        bad = np.flatnonzero(lb > ub)[:5]
        raise ValueError(f"{where}: constraint {i} has lb > ub at rows {bad.tolist()}; no point "
                         "can satisfy it")
    return lb, ub


def layout(where: str, blocks: Sequence[Block], sizes: Sequence[int], n: int) -> Layout:
    """The rows and bounds of ``g``; ``sizes`` are the output sizes of the nonlinear blocks."""
    it = iter(sizes)
    nonlinear, linear, cl, cu, As = [], [], [], [], []
    row = 0
    for i, b in enumerate(blocks):
        size = b.A.shape[0] if b.fun is None else next(it)
        if b.fun is None:
            if b.A.shape[1] != n:
                raise ValueError(f"{where}: LinearConstraint {i} has A of shape {b.A.shape}, but "
                                 f"x has {n} entries")
            linear.append(np.arange(row, row + size))
            As.append(b.A)
        else:
            nonlinear.append(np.arange(row, row + size))
        lb, ub = _bounds(where, i, b, size)
        cl.append(lb)
        cu.append(ub)
        row += size
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)
    A = sp.vstack(As, format="csr") if As else sp.csr_array((0, n))
    return Layout(row, cat(nonlinear).astype(np.intp), cat(linear).astype(np.intp),
                  sp.csr_array(A), cat(cl).astype(np.float64), cat(cu).astype(np.float64))
