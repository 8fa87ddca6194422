"""Exact derivatives of a nonlinear program, in the triplet form interior-point solvers take.

:class:`NLPDerivatives` is the plugin object of ``minimize f(x) s.t. cl <= g(x) <= cu``: the
objective's value and gradient (from one evaluation, through :class:`adopt.solvers.Derivatives`),
the constraints and their Jacobian (from one evaluation), and the Hessian of the Lagrangian
``L(x; σ, λ) = σ f(x) + λ·g(x)`` computed as ONE Hessian with ``σ`` and ``λ`` as
:class:`adopt.Constant` contexts. Under :class:`adopt.AutoSparse` the Jacobian and the lower
triangle of the Hessian are sparse, their structure fixed at preparation; a call fills values
only. Its methods are the ones ``cyipopt.Problem`` calls.
"""

from __future__ import annotations

import types
import weakref
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

import adopt
from adopt import AbstractBackend, AutoSparse, Constant, Prep, SecondOrder
from adopt.solvers._bundle import Derivatives
from adopt.solvers._pytree import Flat, kind_of, to_kind, to_numpy
from adopt.solvers.ipopt._constraints import Block, Layout, layout, read_constraints

__all__ = ["NLPDerivatives"]


# ---- backends and contexts --------------------------------------------------------------
@dataclass(frozen=True)
class _Backends:
    """What computes the constraint Jacobian and the Lagrangian Hessian (values only if sparse)."""

    jacobian: Any
    hessian: Any
    first: AbstractBackend
    sparse: bool


def _backends(where: str, backend: Any) -> _Backends:
    if isinstance(backend, AutoSparse):
        return _Backends(replace(backend, format="values", triangle=None),
                         replace(backend, format="values", triangle="lower"), backend.first_order(), True)
    if isinstance(backend, SecondOrder):
        return _Backends(backend.inner, backend, backend.inner, False)
    if isinstance(backend, AbstractBackend):
        return _Backends(backend, backend, backend, False)
    raise TypeError(f"{where}: backend must be AutoJAX(), AutoTorch(), AutoFiniteDiff(), or "
                    f"AutoSparse(...) / SecondOrder(...) of them; got {backend!r}")


def _signature(a: Any, sparse: bool) -> tuple:
    """Arrays and floats are run-time values (their type, shape, dtype matter); anything else is
    static, part of the preparation (as for :class:`adopt.Constant`). Under AutoSparse an array's
    values shape the detected pattern (integer ones as indices, float ones through their zeros):
    they are part of the signature too, so a new zero pattern gets its own preparation."""
    kind = kind_of(a)
    if kind in ("numpy", "jax", "torch"):
        sig = (kind, tuple(a.shape), str(a.dtype))
        if not sparse:
            return sig
        v = np.asarray(a.detach().cpu().numpy() if kind == "torch" else a)
        return sig + ((v != 0).tobytes() if v.dtype.kind in "fc" else v.tobytes(),)
    return ("float",) if isinstance(a, float) else ("static", a)


# ---- the functions adopt differentiates -------------------------------------------------
@dataclass(frozen=True)
class _Call:
    """``fun(x, *args, **kwargs)`` with its arguments read from the context tuple, ``fun`` held
    weakly (the preparations outlive no function)."""

    deref: Callable[[], Any]
    start: int
    nargs: int
    keys: tuple[str, ...]

    def __call__(self, x: Any, ctx: tuple) -> Any:
        c = ctx[self.start:self.start + self.nargs + len(self.keys)]
        if not self.keys:
            return self.deref()(x, *c)
        return self.deref()(x, *c[:self.nargs], **dict(zip(self.keys, c[self.nargs:])))


def _stack(parts: list[Any]) -> Any:
    """Stack a list of scalars (a constraint that returned a list) in their framework."""
    kind = kind_of(parts[0])
    if kind == "jax":
        import jax.numpy as jnp

        return jnp.stack([jnp.asarray(p) for p in parts])
    if kind == "torch":
        import torch

        return torch.stack(list(parts))
    return np.stack(parts)  # NumPy (and adopt's NumPy tracer, through __array_function__)


def _concat(parts: list[Any]) -> Any:
    kind = kind_of(parts[0])
    if kind == "jax":
        import jax.numpy as jnp

        return jnp.concatenate(parts)
    if kind == "torch":
        import torch

        return torch.cat(parts)
    return np.concatenate(parts)


def _vector(y: Any) -> Any:
    """A constraint's output as a 1-D array of its framework (scalars and lists accepted)."""
    if isinstance(y, (list, tuple)):
        return _stack(list(y))
    if isinstance(y, (int, float)):
        return np.atleast_1d(np.asarray(y, dtype=np.float64))
    return y.reshape(-1)


def _functions(flat: Flat, objective: _Call, constraints: tuple[_Call, ...],
               nf: int) -> tuple[Callable, Callable]:
    """``g(z, *cctx)`` (the nonlinear constraints stacked, with their own arguments) and
    ``L(z, σ, λ, *fctx, *cctx)`` (the objective's ``nf`` arguments first)."""
    def g_of(x: Any, cctx: tuple) -> Any:
        parts = [_vector(c(x, cctx)) for c in constraints]
        return parts[0] if len(parts) == 1 else _concat(parts)

    def stacked(z: Any, *cctx: Any) -> Any:
        return g_of(flat.unravel(z), cctx)

    def lagrangian(z: Any, sigma: Any, lam: Any, *ctx: Any) -> Any:
        x = flat.unravel(z)
        value = sigma * objective(x, ctx[:nf])
        return value + (lam * g_of(x, ctx[nf:])).sum() if constraints else value

    return stacked, lagrangian


# ---- preparations kept across solves ----------------------------------------------------
class _Prepared:
    """The functions, the nonlinear constraint sizes and the preps of one problem signature."""

    def __init__(self, stacked: Callable, lagrangian: Callable, calls: tuple[_Call, ...]) -> None:
        self.stacked, self.lagrangian, self.calls = stacked, lagrangian, calls
        self.sizes: tuple[int, ...] | None = None
        self.preps: dict[str, Prep] = {}

    def prep(self, name: str, make: Callable[[], Prep]) -> Prep:
        if name not in self.preps:
            self.preps[name] = make()
        return self.preps[name]


def _weak(f: Any, callback: Callable) -> weakref.ref:
    return weakref.WeakMethod(f, callback) if isinstance(f, types.MethodType) else weakref.ref(f, callback)


class _WeakCache:
    """Entries keyed on a tuple of functions (held weakly) and a signature; an entry goes when
    one of its functions is collected."""

    def __init__(self) -> None:
        self.entries: dict[tuple, _Prepared] = {}

    def _drop(self, dead: weakref.ref) -> None:
        for key in [k for k in self.entries if any(r is dead for r in k[0])]:
            del self.entries[key]

    def get(self, funcs: tuple, signature: tuple,
            make: Callable[[Callable[[int], Callable]], _Prepared]) -> _Prepared:
        """The entry for ``funcs`` and ``signature``; ``make(deref)`` builds it, where
        ``deref(i)`` returns a function that gives ``funcs[i]`` back."""
        try:
            refs = tuple(_weak(f, self._drop) for f in funcs)
            key = (refs, signature)
            hash(key)
        except TypeError:  # a function or static argument that cannot be a key: no reuse
            return make(lambda i: (lambda: funcs[i]))
        if key not in self.entries:
            self.entries[key] = make(lambda i: refs[i])
        return self.entries[key]

    def clear(self) -> None:
        self.entries.clear()


_CACHE = _WeakCache()


# ---- the plugin object ------------------------------------------------------------------
class NLPDerivatives:
    """Exact derivatives of ``min fun(x) s.t. cl <= g(x) <= cu`` for IPOPT (the plugin object).

    Its methods are those ``cyipopt.Problem(problem_obj=...)`` calls: ``objective``,
    ``gradient``, ``constraints``, ``jacobian``, ``jacobianstructure``, ``hessian``,
    ``hessianstructure``. ``objective`` and ``gradient`` at one point cost one
    :func:`adopt.value_and_gradient`; ``constraints`` and ``jacobian`` one
    :func:`adopt.value_and_jacobian`; ``hessian(x, λ, σ)`` is one prepared Hessian of
    ``L(x; σ, λ) = σ fun(x) + λ·g(x)``, σ and λ being :class:`adopt.Constant` contexts.
    Under :class:`adopt.AutoSparse` the Jacobian and the Hessian's lower triangle are sparse
    triplets whose structure is fixed at preparation; dense backends give dense triplets.
    Preparations are kept with the functions (weakly) and the signature, so a new object for
    the same problem prepares nothing.

    An exception raised by your functions propagates: the method re-raises it (cyipopt stores
    it, stops at the next iteration and raises it from ``solve``), later calls return zeros
    without running your code, and :attr:`error` keeps it.

    Parameters
    ----------
    fun : callable
        The objective ``fun(x, *args, **kwargs) -> scalar``.
    x0 : array_like, array or pytree
        The start: its structure, array type and dtype are what your functions receive.
    backend : backend
        ``AutoJAX()``, ``AutoTorch()``, ``AutoFiniteDiff()``, ``SecondOrder(...)`` (dense), or
        ``AutoSparse(...)`` of them (sparse Jacobian and Hessian).
    args : tuple
        Extra positional arguments of ``fun``, passed as :class:`adopt.Constant` contexts.
    kwargs : dict, optional
        Extra keyword arguments of ``fun``.
    constraints : dict, NonlinearConstraint, LinearConstraint or a sequence of them
        In SciPy's forms: dicts ``{"type": "eq"|"ineq", "fun", "args", "kwargs"}``
        (``fun == 0`` / ``fun >= 0``), ``NonlinearConstraint(fun, lb, ub)``,
        ``LinearConstraint(A, lb, ub)``. Rows of ``g`` keep the given order.

    Attributes
    ----------
    n, m : int
        Number of unknowns and of constraint rows.
    x0 : numpy.ndarray
        The flattened start, float64 (what ``cyipopt.Problem.solve`` takes).
    cl, cu : numpy.ndarray
        Bounds of the constraint rows.
    flat : Flat
        The ravel / unravel pair; ``flat.result(x)`` gives ``x`` in ``x0``'s structure.
    objective_derivatives : Derivatives
        The bundle of the objective.
    nfev, njev, ncev, nhev : int
        Evaluations: objective values, gradients, constraint values with their Jacobian,
        Lagrangian Hessians.
    error : BaseException or None
        The first exception your functions raised, if any.

    Examples
    --------
    >>> import numpy as np, adopt, cyipopt
    >>> from adopt.solvers.ipopt import NLPDerivatives
    >>> d = NLPDerivatives(lambda x: ((x - 2.0)**2).sum(), np.zeros(2), adopt.AutoFiniteDiff(),
    ...                    constraints={"type": "ineq", "fun": lambda x: 1.0 - x[0]})
    >>> nlp = cyipopt.Problem(n=d.n, m=d.m, problem_obj=d, cl=d.cl, cu=d.cu)
    >>> nlp.add_option("print_level", 0)
    >>> x, info = nlp.solve(d.x0)
    >>> info["status"], x.round(6)
    (0, array([1., 2.]))
    """

    def __init__(self, fun: Callable[..., Any], x0: Any, backend: Any, args: tuple = (),
                 kwargs: dict | None = None, constraints: Any = (), *,
                 where: str = "NLPDerivatives") -> None:
        args = args if isinstance(args, tuple) else (args,)
        kwargs = dict(kwargs or {})
        self.where = where
        self.objective_derivatives = d = Derivatives(fun, x0, backend, args, kwargs)
        if not d.scalar:
            raise ValueError(f"{where}: fun must return a scalar (a float or a 0-d array); it "
                             "returned an array: return y[0] (or y.sum()) for a one-element y")
        self.flat, self.x0, self.n = d.flat, d.x0, d.x0.size
        self._args = args
        self._b = _backends(where, backend)
        blocks = read_constraints(where, constraints)
        nonlinear = [b for b in blocks if b.fun is not None]
        self._fctx = args + tuple(kwargs.values())
        self._cctx = tuple(v for b in nonlinear for v in b.args + tuple(v for _, v in b.kwargs))
        self._CC = tuple(Constant(v) for v in self._cctx)            # the constraints' arguments
        self._CA = tuple(Constant(v) for v in self._fctx) + self._CC  # the Lagrangian's
        first = self._b.first
        self._kind = self.flat.kind if first.black_box else "numpy"
        self._funs = (fun, *(b.fun for b in nonlinear))  # the cache holds them weakly; we do not
        self._p = self._prepared(len(args), tuple(kwargs), nonlinear)
        self.layout: Layout = layout(where, blocks, self._p.sizes, self.n)
        self.m, self.cl, self.cu = self.layout.m, self.layout.cl, self.layout.cu
        self._jstructure, self._linear_values = self._jacobian_structure()
        self._hstructure: tuple[np.ndarray, np.ndarray] | None = None
        self.ncev = self.nhev = 0
        self.error: BaseException | None = None
        self._cx: np.ndarray | None = None
        self._g = self._jv = None

    # ---- preparation ---------------------------------------------------------------------
    def _prepared(self, nargs: int, keys: tuple[str, ...], blocks: list[Block]) -> _Prepared:
        arity = [(nargs, keys)] + [(len(b.args), tuple(k for k, _ in b.kwargs)) for b in blocks]
        signature = (self._b, self.flat.signature(), tuple(arity),
                     tuple(_signature(c, self._b.sparse) for c in self._fctx + self._cctx))

        def make(deref: Callable[[int], Callable]) -> _Prepared:
            objective = _Call(deref(0), 0, nargs, keys)
            calls, start = [], 0  # constraint arguments, counted from the first constraint's
            for i, (na, ks) in enumerate(arity[1:], 1):
                calls.append(_Call(deref(i), start, na, ks))
                start += na + len(ks)
            stacked, lagrangian = _functions(self.flat, objective, tuple(calls), nargs + len(keys))
            return _Prepared(stacked, lagrangian, tuple(calls))

        p = _CACHE.get(self._funs, signature, make)
        if p.sizes is None:
            p.sizes = self._sizes(p)
        return p

    def _eval_kind(self) -> str:
        first = self._b.first
        return self.flat.kind if first.black_box else first.framework

    def _sizes(self, p: _Prepared) -> tuple[int, ...]:
        """Each nonlinear constraint's output size. One constraint: the rows of its prepared
        Jacobian. Several: one evaluation of each at x0, in the framework the backend uses."""
        if len(p.calls) == 1:
            prep = self._jacobian_prep(p)
            if self._b.sparse:
                return (adopt.sparsity_pattern(prep).shape[0],)
            y, _ = adopt.value_and_jacobian(p.stacked, self._b.jacobian, self._point(self.x0),
                                            *self._CC, prep=prep)   # the form the callbacks use
            return (int(np.prod(tuple(y.shape))),)
        kind = self._eval_kind()
        x = self.flat.unravel(to_kind(self.x0, kind, self.flat.dtype))
        ctx = tuple(_as_kind(c, kind) for c in self._cctx)
        return tuple(int(_vector(c(x, ctx)).shape[0]) for c in p.calls)

    def _jacobian_prep(self, p: _Prepared | None = None) -> Prep:
        p = p or self._p
        z = self._point(self.x0)
        return p.prep("jacobian", lambda: adopt.prepare_jacobian(p.stacked, self._b.jacobian, z, *self._CC))

    def _hessian_prep(self) -> Prep:
        z = self._point(self.x0)
        sigma, lam = self._multipliers(1.0, np.ones(self.layout.nonlinear_rows.size))
        return self._p.prep("hessian", lambda: adopt.prepare_hessian(
            self._p.lagrangian, self._b.hessian, z, sigma, lam, *self._CA))

    def _jacobian_structure(self) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """Rows and columns of the Jacobian's values: the nonlinear block (pattern in CSR order,
        or every entry row by row when dense), then the linear rows' nonzeros, whose (constant)
        values come second."""
        k, rows_nl = self.layout.nonlinear_rows.size, self.layout.nonlinear_rows
        if k:
            prep = self._jacobian_prep()
            if self._b.sparse:
                P = adopt.sparsity_pattern(prep).tocoo()
                r, c = P.row, P.col
            else:
                r, c = np.repeat(np.arange(k), self.n), np.tile(np.arange(self.n), k)
        else:
            r = c = np.zeros(0, dtype=np.intp)
        A = self.layout.A.tocoo()
        rows = np.concatenate([rows_nl[r], self.layout.linear_rows[A.row]]).astype(np.intp)
        cols = np.concatenate([c, A.col]).astype(np.intp)
        return (rows, cols), A.data.astype(np.float64)

    def prepare_hessian(self) -> None:
        """Prepare the Lagrangian Hessian now (it is otherwise prepared at the first
        ``hessianstructure()``): a backend that cannot compute it raises before a solve.

        Examples
        --------
        >>> import numpy as np, adopt
        >>> from adopt.solvers.ipopt import NLPDerivatives
        >>> d = NLPDerivatives(lambda x: (x**4).sum(), np.ones(3), adopt.AutoSparse(adopt.AutoFiniteDiff()))
        >>> d.prepare_hessian(); [a.tolist() for a in d.hessianstructure()]
        [[0, 1, 2], [0, 1, 2]]
        """
        if self._hstructure is not None:
            return
        prep = self._hessian_prep()
        if self._b.sparse:
            P = adopt.sparsity_pattern(prep).tocoo()
            low = P.row >= P.col
            self._hstructure = (P.row[low].astype(np.intp), P.col[low].astype(np.intp))
        else:
            r, c = np.tril_indices(self.n)
            self._hstructure = (r.astype(np.intp), c.astype(np.intp))
            self._tril = r * self.n + c

    # ---- the boundary ------------------------------------------------------------------
    def _point(self, x: np.ndarray) -> Any:
        return to_kind(np.asarray(x, dtype=np.float64), self._kind, self.flat.dtype)

    def _multipliers(self, sigma: float, lam: np.ndarray) -> tuple[Constant, Constant]:
        dt = self.flat.dtype
        return (Constant(to_kind(np.asarray(sigma, dtype=np.float64), self._kind, dt)),
                Constant(to_kind(np.asarray(lam, dtype=np.float64), self._kind, dt)))

    def _guard(self, run: Callable[[], Any], fallback: Callable[[], Any]) -> Any:
        """Run user code once no exception is pending; keep and re-raise the first one."""
        if self.error is not None:
            return fallback()
        try:
            return run()
        except BaseException as e:
            self.error = e
            raise

    # ---- cyipopt's callbacks -----------------------------------------------------------
    def objective(self, x: np.ndarray) -> float:
        """``fun(x)`` (computed with the gradient, which :meth:`gradient` then returns)."""
        d = self.objective_derivatives
        return self._guard(lambda: float(d.fun(x, *self._args)), lambda: 0.0)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """The objective's gradient at ``x`` (flat float64)."""
        d = self.objective_derivatives
        return self._guard(lambda: d.jac(x, *self._args), lambda: np.zeros(self.n))

    def _at(self, x: np.ndarray) -> bool:
        return self._cx is not None and np.array_equal(x, self._cx)

    def _evaluate_constraints(self, x: np.ndarray) -> None:
        """Constraint values and Jacobian values at ``x``, from one evaluation."""
        if self._at(x):
            return
        lay, k = self.layout, self.layout.nonlinear_rows.size
        g = values = np.zeros(0)
        if k:
            y, J = adopt.value_and_jacobian(self._p.stacked, self._b.jacobian, self._point(x),
                                            *self._CC, prep=self._jacobian_prep())
            g, values = _numpy(y), _numpy(J).reshape(-1)
        if not lay.in_order:
            full = np.empty(lay.m)
            full[lay.nonlinear_rows] = g
            full[lay.linear_rows] = lay.A @ np.asarray(x, dtype=np.float64)
            g, values = full, np.concatenate([values, self._linear_values])
        self.ncev += 1
        self._cx, self._g, self._jv = np.array(x, dtype=np.float64), g, values

    def constraints(self, x: np.ndarray) -> np.ndarray:
        """``g(x)``, the constraint rows in the given order."""
        def run() -> np.ndarray:
            self._evaluate_constraints(x)
            return self._g

        return self._guard(run, lambda: np.zeros(self.m))

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """The values of the constraint Jacobian, in the order of :meth:`jacobianstructure`."""
        def run() -> np.ndarray:
            self._evaluate_constraints(x)
            return self._jv

        return self._guard(run, lambda: np.zeros(self._jstructure[0].size))

    def jacobianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the Jacobian's values (fixed at preparation)."""
        return self._jstructure

    def hessianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the lower triangle of the Lagrangian Hessian (fixed)."""
        self.prepare_hessian()
        return self._hstructure

    def hessian(self, x: np.ndarray, lagrange: np.ndarray, obj_factor: float) -> np.ndarray:
        """The values of ``obj_factor ∇²fun + Σ lagrange_i ∇²g_i`` at ``x``, in the order of
        :meth:`hessianstructure` (linear constraints add nothing)."""
        self.prepare_hessian()

        def run() -> np.ndarray:
            lam = np.asarray(lagrange, dtype=np.float64)
            lam = lam if self.layout.in_order else lam[self.layout.nonlinear_rows]
            H = adopt.hessian(self._p.lagrangian, self._b.hessian, self._point(x),
                              *self._multipliers(obj_factor, lam), *self._CA, prep=self._hessian_prep())
            self.nhev += 1
            H = _numpy(H)
            return H if self._b.sparse else H.reshape(-1)[self._tril]

        return self._guard(run, lambda: np.zeros(self._hstructure[0].size))

    # ---- counts ------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """``nfev``, ``njev`` (objective values and gradients), ``ncev`` (constraint values with
        Jacobians) and ``nhev`` (Lagrangian Hessians), as result fields."""
        d = self.objective_derivatives
        return {"nfev": d.nfev, "njev": d.njev, "ncev": self.ncev, "nhev": self.nhev}

    @property
    def nfev(self) -> int:
        """Objective evaluations (each with its gradient)."""
        return self.objective_derivatives.nfev

    @property
    def njev(self) -> int:
        """Objective gradients."""
        return self.objective_derivatives.njev


def _numpy(a: Any) -> np.ndarray:
    """A result as float64 NumPy without a copy where possible (cyipopt copies what it gets)."""
    if kind_of(a) == "torch":
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _as_kind(c: Any, kind: str) -> Any:
    """An array argument in the framework ``kind`` (NumPy arrays go into JAX as they are)."""
    k = kind_of(c)
    if k in ("numpy", "jax", "torch") and k != kind and not (kind == "jax" and k == "numpy"):
        return to_kind(to_numpy(c), kind, np.dtype(str(c.dtype).replace("torch.", "")))
    return c
