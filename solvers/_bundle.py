"""The derivative bundle of one function: the plugin object every solver adapter builds on.

A bundle holds the preps of one function at one signature (the array type, dtype and shapes of
``x`` and of the extra arguments), converts at the solver boundary (1-D float64 NumPy outside,
the user's arrays and structure inside), memoises the last point and counts evaluations. The
preps live in a cache keyed weakly on the function object and on the signature, so a second
solve of the same function prepares nothing.
"""

from __future__ import annotations

import types
import weakref
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

import adopt
from adopt import AbstractBackend, AutoSparse, Constant, Prep, SecondOrder
from adopt.solvers._pytree import Flat, flatten, kind_of, to_kind, to_numpy

__all__ = ["Derivatives", "ODEDerivatives", "clear_cache"]

_SCIPY_FORMATS = ("csr", "csc", "coo", "dense")

# fun (or the instance of a bound method) -> {signature: _Prepared}; see clear_cache
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def clear_cache() -> None:
    """Forget every preparation kept for later solves (they are also dropped with their function).

    Examples
    --------
    >>> from adopt.solvers import clear_cache
    >>> clear_cache()
    """
    _CACHE.clear()


@dataclass(frozen=True)
class _Roles:
    """Which backend computes what: adopt's first-order operators take a dense backend."""

    first: AbstractBackend   # values, gradients, pushforwards, pullbacks
    jacobian: Any            # AutoSparse gives scipy.sparse Jacobians
    second: Any              # Hessians (sparse under AutoSparse) and HVPs


def _roles(where: str, backend: Any, sparse_format: str | None) -> _Roles:
    if isinstance(backend, AutoSparse):
        if sparse_format is not None or backend.format not in _SCIPY_FORMATS:
            backend = replace(backend, format=sparse_format or "csr")
        return _Roles(backend.first_order(), backend, backend)
    if isinstance(backend, SecondOrder):
        return _Roles(backend.inner, backend.inner, backend)
    if isinstance(backend, AbstractBackend):
        return _Roles(backend, backend, backend)
    raise TypeError(f"{where}: backend must be AutoJAX(), AutoTorch(), AutoFiniteDiff(), or "
                    f"AutoSparse(...) / SecondOrder(...) of them; got {backend!r}")


def _context_signature(a: Any) -> tuple:
    """Arrays and floats are passed at run time (their type, shape, dtype matter); anything
    else is static, part of the preparation, as for :class:`adopt.Constant`."""
    kind = kind_of(a)
    if kind in ("numpy", "jax", "torch"):
        return kind, tuple(a.shape), str(a.dtype)
    if isinstance(a, float):
        return ("float",)
    return "static", a


def _reference(fun: Callable[..., Any]) -> tuple[Any, Callable[[], Any], Any]:
    """``(owner, deref, subkey)``: a weakly held owner for the cache and a way back to ``fun``.

    A bound method is held through its instance (a new method object is made at every
    attribute access). Functions that cannot be weakly referenced have no owner: they are
    held strongly and prepared per bundle.
    """
    if isinstance(fun, types.MethodType):
        wm = weakref.WeakMethod(fun)
        return fun.__self__, wm, fun.__func__
    try:
        return fun, weakref.ref(fun), None
    except TypeError:
        return None, lambda: fun, None


class _Prepared:
    """Everything prepared once for one function at one signature, reused across solves: the
    backends, the function adopt differentiates, its compiled value, its output shape, the preps."""

    def __init__(self, roles: _Roles, g: Callable[..., Any], value: Callable[..., Any],
                 dynamic: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        self.roles = roles
        self.g = g
        self.value = value
        self.dynamic = dynamic
        self.out_shape = out_shape
        self.preps: dict[str, Prep] = {}
        self.weighted = lambda z, v, *c: (v * g(z, *c)).sum()  # v · f(z): constraint Hessians


def _bind_static(g: Callable[..., Any], sigs: tuple, values: tuple) -> tuple[Callable[..., Any], tuple[int, ...]]:
    """``g`` with its static contexts bound, taking only the dynamic ones (arrays, floats)."""
    dynamic = tuple(i for i, s in enumerate(sigs) if s[0] != "static")
    if len(dynamic) == len(sigs):
        return g, dynamic
    static = {i: values[i] for i, s in enumerate(sigs) if s[0] == "static"}
    n = len(sigs)

    def bound(z: Any, *d: Any) -> Any:
        it = iter(d)
        return g(z, *(static[i] if i in static else next(it) for i in range(n)))

    return bound, dynamic


class _Engine:
    """The machinery shared by :class:`Derivatives` and :class:`ODEDerivatives`."""

    def __init__(self, where: str, g_factory: Callable[..., Callable[..., Any]],
                 fun: Callable[..., Any], x0: Any, backend: Any, contexts: tuple,
                 sparse_format: str | None, role: str) -> None:
        if not callable(fun):
            raise TypeError(f"{where}: fun must be callable; got {type(fun).__name__}")
        self.where, self.fun = where, fun
        self.flat: Flat = flatten(x0, where)
        self.roles = _roles(where, backend, sparse_format)
        first = self.roles.first
        # a black box (finite differences) sees the user's arrays; adopt converts NumPy into a
        # framework's arrays itself, and a jitted function takes NumPy arrays directly
        self.point_kind = self.flat.kind if first.black_box else "numpy"
        self.eval_kind = self.flat.kind if first.black_box else first.framework
        sigs = tuple(_context_signature(c) for c in contexts)
        owner, deref, subkey = _reference(fun)
        key = (role, subkey, self.roles, self.flat.signature(), sigs)
        try:
            hash(key)
        except TypeError:  # an unhashable static argument or backend setting: no reuse
            owner = None
        entries = _CACHE.setdefault(owner, {}) if owner is not None else {}
        if key not in entries:
            entries[key] = self._prepare(g_factory(deref, self.flat), sigs, contexts)
        self.p: _Prepared = entries[key]
        self.roles = self.p.roles   # the very backend objects the preps were made with

    def _prepare(self, g: Callable[..., Any], sigs: tuple, contexts: tuple) -> _Prepared:
        bound, dynamic = _bind_static(g, sigs, contexts)
        first = self.roles.first
        value = bound if first.black_box else first.impl().compile(bound)
        to_kind(self.flat.x0, self.eval_kind, self.flat.dtype)  # raises if JAX would downcast
        y0 = value(self._eval_point(self.flat.x0), *self._dynamic(contexts, dynamic))
        return _Prepared(self.roles, g, value, dynamic, tuple(np.shape(y0)))

    def _eval_point(self, x: np.ndarray) -> Any:
        """x for the compiled value function: NumPy into jax.jit, else the evaluating kind."""
        kind = "numpy" if self.eval_kind == "jax" else self.eval_kind
        return to_kind(np.asarray(x, dtype=np.float64), kind, self.flat.dtype)

    def _dynamic(self, contexts: tuple, dynamic: tuple[int, ...]) -> tuple:
        kind = self.eval_kind
        out = []
        for i in dynamic:
            c = contexts[i]
            if kind_of(c) not in (kind, "number") and not (kind == "jax" and kind_of(c) == "numpy"):
                c = to_kind(to_numpy(c), kind, np.dtype(str(c.dtype).replace("torch.", "")))
            out.append(c)
        return tuple(out)

    # ---- the two sides of the boundary ------------------------------------------------
    def point(self, x: np.ndarray) -> Any:
        """A solver's vector (x, or a tangent) as adopt takes it: NumPy in the user's dtype, or
        the user's own array type for a black box."""
        return to_kind(np.asarray(x, dtype=np.float64), self.point_kind, self.flat.dtype)

    def value(self, x: np.ndarray, contexts: tuple) -> Any:
        """``f(x)`` from the compiled value function (no derivative); ``contexts`` are the
        plain values of the extra arguments."""
        return self.p.value(self._eval_point(x), *self._dynamic(contexts, self.p.dynamic))

    def prep(self, name: str, make: Callable[[], Prep]) -> Prep:
        """The prep ``name``, made at the first use and kept with the function."""
        prep = self.p.preps.get(name)
        if prep is None:
            prep = self.p.preps[name] = make()
        return prep

    @property
    def scalar(self) -> bool:
        return self.p.out_shape == ()

    # ---- preparations (z: a point as adopt takes it; C: Constant contexts) -------------
    def gradient_prep(self, z: Any, C: tuple) -> Prep:
        g, b = self.p.g, self.roles.first
        return self.prep("gradient", lambda: adopt.prepare_gradient(g, b, z, *C))

    def jacobian_prep(self, z: Any, C: tuple) -> Prep:
        g, b = self.p.g, self.roles.jacobian
        return self.prep("jacobian", lambda: adopt.prepare_jacobian(g, b, z, *C))

    def hessian_prep(self, z: Any, C: tuple) -> Prep:
        g, b = self.p.g, self.roles.second
        return self.prep("hessian", lambda: adopt.prepare_hessian(g, b, z, *C))

    def hvp_prep(self, z: Any, C: tuple) -> Prep:
        g, b = self.p.g, self.roles.second
        return self.prep("hvp", lambda: adopt.prepare_hvp(g, b, z, (z,), *C))

    def weighted_prep(self, z: Any, C: tuple) -> Prep:
        """The Hessian of ``v · f``, prepared with ``v = 1`` so its pattern holds for every v."""
        h, b, ones = self.p.weighted, self.roles.second, Constant(self.point(np.ones(self.p.out_shape)))
        return self.prep("weighted_hessian", lambda: adopt.prepare_hessian(h, b, z, ones, *C))

    def pushforward_prep(self, z: Any, C: tuple) -> Prep:
        g, b = self.p.g, self.roles.first
        return self.prep("pushforward", lambda: adopt.prepare_pushforward(g, b, z, (z,), *C))

    def pullback_prep(self, z: Any, C: tuple) -> Prep:
        g, b = self.p.g, self.roles.first
        t = self.point(np.zeros(self.p.out_shape))
        return self.prep("pullback", lambda: adopt.prepare_pullback(g, b, z, (t,), *C))

    # ---- operators (x: the solver's NumPy vector) --------------------------------------
    def value_and_gradient(self, x: np.ndarray, C: tuple) -> tuple[float, np.ndarray]:
        z = self.point(x)
        y, grad = adopt.value_and_gradient(self.p.g, self.roles.first, z, *C,
                                           prep=self.gradient_prep(z, C))
        return float(to_numpy(y)), to_numpy(grad).reshape(-1)

    def jacobian(self, x: np.ndarray, C: tuple, with_value: bool) -> tuple[Any, Any]:
        g, b, z = self.p.g, self.roles.jacobian, self.point(x)
        P = self.jacobian_prep(z, C)
        if with_value:
            y, J = adopt.value_and_jacobian(g, b, z, *C, prep=P)
            return to_numpy(y), _matrix(J)
        return None, _matrix(adopt.jacobian(g, b, z, *C, prep=P))

    def hessian(self, x: np.ndarray, C: tuple) -> Any:
        z = self.point(x)
        return _matrix(adopt.hessian(self.p.g, self.roles.second, z, *C, prep=self.hessian_prep(z, C)))

    def hvp(self, x: np.ndarray, p: np.ndarray, C: tuple) -> np.ndarray:
        z, t = self.point(x), self.point(np.asarray(p).reshape(-1))
        hv = adopt.hvp(self.p.g, self.roles.second, z, (t,), *C, prep=self.hvp_prep(z, C))
        return to_numpy(hv[0]).reshape(-1)

    def weighted_hessian(self, x: np.ndarray, v: np.ndarray, C: tuple) -> Any:
        """``Σ v_i ∇² f_i(x)``, the Hessian of ``v · f`` with ``v`` as a Constant."""
        z = self.point(x)
        V = Constant(self.point(np.asarray(v).reshape(self.p.out_shape)))
        return _matrix(adopt.hessian(self.p.weighted, self.roles.second, z, V, *C,
                                     prep=self.weighted_prep(z, C)))

    def jvp(self, z: Any, v: np.ndarray, C: tuple) -> np.ndarray:
        t = self.point(np.asarray(v).reshape(-1))
        tv = adopt.pushforward(self.p.g, self.roles.first, z, (t,), *C, prep=self.pushforward_prep(z, C))
        return to_numpy(tv[0]).reshape(-1)

    def linearize(self, x: np.ndarray, C: tuple) -> Callable[[np.ndarray], np.ndarray]:
        """``v -> J(x) v`` at this one ``x``: a same-point pushforward prep made here, lending
        the compiled linearisation of the previous point (kept with the other preps), so a new
        point costs one linearisation and no tracing; a product then applies the linear map."""
        g, b, z = self.p.g, self.roles.first, self.point(x)
        prep = adopt.prepare_pushforward_same_point(g, b, z, (z,), *C,
                                                    prep=self.p.preps.get("same_point_pushforward"))
        self.p.preps["same_point_pushforward"] = prep

        def jvp(v: np.ndarray) -> np.ndarray:
            t = self.point(np.asarray(v).reshape(-1))
            return to_numpy(adopt.pushforward(g, b, z, (t,), *C, prep=prep)[0]).reshape(-1)

        return jvp

    def vjp(self, z: Any, u: np.ndarray, C: tuple) -> np.ndarray:
        t = self.point(np.asarray(u).reshape(self.p.out_shape))
        tv = adopt.pullback(self.p.g, self.roles.first, z, (t,), *C, prep=self.pullback_prep(z, C))
        return to_numpy(tv[0]).reshape(-1)


def _matrix(J: Any) -> Any:
    """A Jacobian or Hessian for SciPy: float64 ndarray, or the scipy.sparse matrix as is."""
    return J if sp.issparse(J) else to_numpy(J)


def _objective(nargs: int, keys: tuple[str, ...]) -> Callable[..., Callable[..., Any]]:
    """``g(z, *contexts) = fun(unravel(z), *args, **kwargs)``, holding ``fun`` weakly."""
    def factory(deref: Callable[[], Any], flat: Flat) -> Callable[..., Any]:
        if not keys:
            return lambda z, *c: deref()(flat.unravel(z), *c)
        return lambda z, *c: deref()(flat.unravel(z), *c[:nargs], **dict(zip(keys, c[nargs:])))

    return factory


def _rhs(deref: Callable[[], Any], flat: Flat) -> Callable[..., Any]:
    """``g(z, t, *args) = fun(t, unravel(z), *args)``, holding ``fun`` weakly."""
    return lambda z, t, *c: deref()(t, flat.unravel(z), *c)


class Derivatives:
    """Exact derivatives of ``fun`` in the form SciPy's solvers take them (the plugin object).

    ``fun(x, *args, **kwargs)`` is a scalar objective (then :meth:`jac` is its gradient) or a
    vector function: residuals, a root problem, constraints (then :meth:`jac` is its
    Jacobian). The attributes drop into unchanged SciPy calls::

        d = Derivatives(f, x0, AutoJAX())
        scipy.optimize.minimize(d.fun, d.x0, jac=d.jac, hessp=d.hessp, method="trust-krylov")

    ``fun`` then ``jac`` at the same ``x`` cost one evaluation (value and gradient come from
    one :func:`adopt.value_and_gradient`). Preparation happens once: the preps are kept with
    ``fun`` (weakly) and the signature of ``x0`` and ``args``, so a new bundle for the same
    function prepares nothing.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args, **kwargs)``; ``x`` has the structure, array type and dtype of ``x0``.
    x0 : array_like, array or pytree
        The starting point: a float, a list, an array of any shape (NumPy, JAX, torch), or a
        dict / list / tuple of arrays. Solvers see it flattened (:attr:`x0`).
    backend : backend
        ``AutoJAX()``, ``AutoTorch()``, ``AutoFiniteDiff()``, ``AutoSparse(...)`` (sparse
        Jacobians and Hessians as scipy.sparse) or ``SecondOrder(...)`` (for Hessians).
    args : tuple
        Extra positional arguments, passed as :class:`adopt.Constant` contexts: new values
        of the same type and shape need no new preparation. The solver passes them at call
        time (``minimize(d.fun, d.x0, args=args, jac=d.jac)``).
    kwargs : dict, optional
        Extra keyword arguments of ``fun`` (as ``least_squares(kwargs=...)``), fixed here.
    vector : bool, optional
        Whether ``fun`` is a vector function (residuals, constraints: :meth:`jac` is the
        ``(m, n)`` Jacobian, :meth:`hess` takes weights ``v``) even if it returns one number.
        Default: a scalar output makes ``fun`` an objective.
    sparse_format : {"csr", "csc", "coo", "dense"}, optional
        Format of Jacobians and Hessians under AutoSparse (default: the backend's SciPy
        format, else csr).

    Attributes
    ----------
    scalar : bool
        Whether ``fun`` is a scalar objective (``jac`` is its gradient).
    x0 : numpy.ndarray
        The flattened starting point (float64), what to hand the solver.
    flat : Flat
        The ravel / unravel pair; ``flat.result(x)`` gives ``x`` in ``x0``'s structure.
    nfev, njev, nhev : int
        Evaluations performed: values, first derivatives, Hessians and Hessian-vector products
        (a value or gradient asked for again at the memoised point costs nothing and is not
        counted; a Jacobian is computed at each call and handed over, not kept).
    njvp, nvjp : int
        Jacobian-vector and vector-Jacobian products.

    Examples
    --------
    >>> import numpy as np, scipy.optimize, adopt
    >>> from adopt.solvers import Derivatives
    >>> f = lambda x: ((x - 1.0)**2).sum() + (x[0] * x[1])**2
    >>> d = Derivatives(f, np.zeros(2), adopt.AutoFiniteDiff())
    >>> res = scipy.optimize.minimize(d.fun, d.x0, jac=d.jac, method="BFGS")
    >>> bool(res.success), res.x.round(4)
    (True, array([0.6823, 0.6823]))
    """

    def __init__(self, fun: Callable[..., Any], x0: Any, backend: Any, args: tuple = (),
                 kwargs: dict | None = None, *, vector: bool | None = None,
                 sparse_format: str | None = None) -> None:
        args = args if isinstance(args, tuple) else (args,)
        kwargs = dict(kwargs or {})
        self._keys = tuple(kwargs)
        self._kwvals = tuple(kwargs.values())
        self._e = _Engine("Derivatives", _objective(len(args), self._keys), fun, x0, backend,
                          args + self._kwvals, sparse_format, "x")
        self.flat, self.x0, self._args0 = self._e.flat, self._e.flat.x0, args
        self.scalar = not vector if vector is not None else self._e.scalar
        self.nfev = self.njev = self.nhev = self.njvp = self.nvjp = 0
        self._x: np.ndarray | None = None
        self._args: tuple = ()
        self._y: Any = None
        self._g: np.ndarray | None = None

    def _contexts(self, args: tuple) -> tuple:
        return tuple(Constant(a) for a in args + self._kwvals)

    def _at(self, x: np.ndarray, args: tuple) -> bool:
        """Whether ``(x, args)`` is the memoised point (args compared by identity)."""
        return (self._x is not None and len(args) == len(self._args)
                and all(a is b for a, b in zip(args, self._args)) and np.array_equal(x, self._x))

    def _remember(self, x: np.ndarray, args: tuple, y: Any, g: Any) -> None:
        self._x, self._args, self._y, self._g = np.array(x, dtype=np.float64), args, y, g

    def _value_and_gradient(self, x: np.ndarray, args: tuple) -> None:
        if not self._at(x, args) or self._g is None:
            y, g = self._e.value_and_gradient(x, self._contexts(args))
            self.nfev += 1
            self.njev += 1
            self._remember(x, args, y, g)

    def fun(self, x: np.ndarray, *args: Any) -> Any:
        """``fun(x, *args)``: a float for a scalar objective (computed with its gradient, which
        :meth:`jac` then returns at no cost), else a float64 array."""
        if self.scalar:
            self._value_and_gradient(x, args)
            return self._y
        if not self._at(x, args):
            self._remember(x, args, np.atleast_1d(to_numpy(self._e.value(x, args + self._kwvals))), None)
            self.nfev += 1
        return self._y.copy()

    def value(self, x: np.ndarray, *args: Any) -> Any:
        """``fun(x, *args)`` alone, without a derivative and unmemoised (derivative-free
        solvers): a float for a scalar ``fun``, else a float64 array."""
        self.nfev += 1
        y = to_numpy(self._e.value(x, args + self._kwvals))
        return float(y) if self.scalar else np.atleast_1d(y)

    def jac(self, x: np.ndarray, *args: Any) -> Any:
        """The gradient (scalar ``fun``, shape ``(n,)``) or the Jacobian (``(m, n)``: an
        ndarray, or scipy.sparse under AutoSparse) at ``x``. A Jacobian is the solver's to keep
        or scale in place: new values at every call (the value at a new ``x`` comes with it,
        for a later :meth:`fun`)."""
        if self.scalar:
            self._value_and_gradient(x, args)
            return self._g.copy()
        known = self._at(x, args)
        y, J = self._e.jacobian(x, self._contexts(args), with_value=not known)
        self.njev += 1
        if not known:
            self.nfev += 1
            self._remember(x, args, np.atleast_1d(y), None)
        return J   # new values at every call, not kept here: the solver may scale it in place

    def hess(self, x: np.ndarray, *rest: Any) -> Any:
        """The Hessian at ``x``: ``hess(x, *args)`` of a scalar ``fun``, or, for a vector
        ``fun``, ``hess(x, v, *args)`` = ``Σ v_i ∇² fun_i(x)`` (the form of
        ``NonlinearConstraint(hess=...)``). Dense, or scipy.sparse under AutoSparse."""
        self.nhev += 1
        if self.scalar:
            return self._e.hessian(x, self._contexts(rest))
        v, *args = rest
        return self._e.weighted_hessian(x, v, self._contexts(tuple(args)))

    def hessp(self, x: np.ndarray, p: np.ndarray, *args: Any) -> np.ndarray:
        """The Hessian-vector product ``∇² fun(x) @ p`` of a scalar ``fun``."""
        self.nhev += 1
        return self._e.hvp(x, p, self._contexts(args))

    def jac_operator(self, x: np.ndarray, *args: Any) -> LinearOperator:
        """The Jacobian at ``x`` as a matrix-free ``LinearOperator``: ``matvec`` is a
        pushforward (JVP), ``rmatvec`` a pullback (VJP), each one prepared call."""
        self.njev += 1
        e, C, z = self._e, self._contexts(args), self._e.point(np.array(x, dtype=np.float64))
        m = int(np.prod(e.p.out_shape, dtype=np.int64))

        def matvec(v: np.ndarray) -> np.ndarray:
            self.njvp += 1
            return e.jvp(z, v, C)

        def rmatvec(u: np.ndarray) -> np.ndarray:
            self.nvjp += 1
            return e.vjp(z, u, C)

        return LinearOperator((m, self.flat.size), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)

    def jvp(self, x: np.ndarray, v: np.ndarray, *args: Any) -> np.ndarray:
        """The Jacobian-vector product ``J(x) @ v`` (one prepared pushforward)."""
        self.njvp += 1
        return self._e.jvp(self._e.point(x), v, self._contexts(args))

    def jvp_at(self, x: np.ndarray, *args: Any) -> Callable[[np.ndarray], np.ndarray]:
        """``v -> J(x) @ v`` for many ``v`` at one ``x``: each product one prepared pushforward,
        with the point and the arguments converted once here. Each product counts in ``njvp``.

        Examples
        --------
        >>> import numpy as np, adopt
        >>> from adopt.solvers import Derivatives
        >>> d = Derivatives(lambda x: x**2, np.ones(2), adopt.AutoFiniteDiff())
        >>> jv = d.jvp_at(np.array([1.0, 3.0]))
        >>> jv(np.array([1.0, 1.0])).round(6), d.njvp
        (array([2., 6.]), 1)
        """
        e, C = self._e, self._contexts(args)
        z = e.point(np.array(x, dtype=np.float64))
        return self._counted(lambda v: e.jvp(z, v, C))

    def _counted(self, jvp: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        """``jvp`` with each product counted in ``njvp``."""
        def counted(v: np.ndarray) -> np.ndarray:
            self.njvp += 1
            return jvp(v)

        return counted

    @property
    def sparse(self) -> bool:
        """Whether Jacobians and Hessians come as scipy.sparse (the backend is AutoSparse)."""
        return isinstance(self._e.roles.jacobian, AutoSparse)

    def linearize(self, x: np.ndarray, *args: Any) -> Callable[[np.ndarray], np.ndarray]:
        """``v -> J(x) @ v`` for many ``v`` at one ``x`` (a Newton-Krylov step).

        Under AutoSparse the sparse Jacobian is computed once here (one compressed call: a
        pushforward per color) and each product is a scipy.sparse matrix-vector product. On
        AutoJAX ``fun`` is linearised once here (``jax.linearize``, compiled once per function
        and signature and reused at every new point), and each product only applies the
        linear map; elsewhere each product is one prepared pushforward. The linearisation
        evaluates ``fun`` once and counts in ``njev``; each product counts in ``njvp``.

        Examples
        --------
        >>> import numpy as np, adopt
        >>> from adopt.solvers import Derivatives
        >>> d = Derivatives(lambda x: x**2, np.ones(2), adopt.AutoFiniteDiff())
        >>> jv = d.linearize(np.array([1.0, 3.0]))
        >>> jv(np.array([1.0, 1.0])).round(6), d.njev, d.njvp
        (array([2., 6.]), 1, 1)
        """
        if self.sparse:
            jvp = self.jac(x, *args).__matmul__     # counts in njev (and nfev at a new x)
        else:
            self.njev += 1
            jvp = self._e.linearize(np.array(x, dtype=np.float64), self._contexts(args))
        return self._counted(jvp)

    def prepare(self, *names: str) -> None:
        """Prepare ``"jac"``, ``"hess"``, ``"hessp"``, ``"jvp"``, ``"vjp"`` now, at ``x0`` and the
        construction's ``args``, instead of at their first call: a backend that cannot compute
        them raises before a solver starts. Nothing is evaluated.

        Examples
        --------
        >>> import numpy as np, adopt
        >>> from adopt.solvers import Derivatives
        >>> d = Derivatives(lambda x: (x**2).sum(), np.ones(2), adopt.AutoFiniteDiff())
        >>> d.prepare("jac", "hessp"); d.nfev
        0
        """
        e, C = self._e, self._contexts(self._args0)
        z = e.point(self.x0)
        makers = {"jac": e.gradient_prep if self.scalar else e.jacobian_prep,
                  "hess": e.hessian_prep if self.scalar else e.weighted_prep,
                  "hessp": e.hvp_prep, "jvp": e.pushforward_prep, "vjp": e.pullback_prep}
        for name in names:
            makers[name](z, C)

    def counts(self) -> dict[str, int]:
        """The evaluation counts, as result fields."""
        return {"nfev": self.nfev, "njev": self.njev, "nhev": self.nhev}


class ODEDerivatives:
    """The right-hand side ``fun(t, y, *args)`` of an ODE and its exact Jacobian ``jac(t, y, *args)``,
    for ``scipy.integrate.solve_ivp``'s implicit methods (BDF, Radau, LSODA).

    ``t`` and ``args`` are :class:`adopt.Constant` contexts: one preparation serves every time
    step. Under AutoSparse the Jacobian is a scipy.sparse matrix of fixed structure (csc by
    default, what BDF and Radau factorise).

    Parameters
    ----------
    fun : callable
        ``fun(t, y, *args)``; ``y`` has the structure, array type and dtype of ``y0``.
    y0 : array or pytree
    backend : backend
    args : tuple
        Extra arguments of ``fun`` (as ``solve_ivp(args=...)``).
    sparse_format : {"csc", "csr", "dense"}, optional

    Examples
    --------
    >>> import numpy as np, scipy.integrate, adopt
    >>> from adopt.solvers import ODEDerivatives
    >>> f = lambda t, y: np.stack([-0.04 * y[0] + 1e4 * y[1] * y[2], 0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1]**2, 3e7 * y[1]**2])
    >>> d = ODEDerivatives(f, np.array([1.0, 0.0, 0.0]), adopt.AutoFiniteDiff())
    >>> sol = scipy.integrate.solve_ivp(d.fun, (0, 40), d.y0, method="Radau", jac=d.jac, rtol=1e-8, atol=1e-10)
    >>> bool(np.allclose(sol.y[:, -1], [0.71582707, 9.1855348e-06, 0.28416375], rtol=1e-6))
    True
    """

    def __init__(self, fun: Callable[..., Any], y0: Any, backend: Any, args: tuple = (), *,
                 sparse_format: str | None = "csc") -> None:
        args = args if isinstance(args, tuple) else (args,)
        self._e = _Engine("ODEDerivatives", _rhs, fun, y0, backend, (0.0, *args),
                          sparse_format, "ode")
        self.flat, self.y0 = self._e.flat, self._e.flat.x0
        self.nfev = self.njev = 0

    def fun(self, t: float, y: np.ndarray, *args: Any) -> np.ndarray:
        """``fun(t, y, *args)`` as a float64 array (compiled on JAX)."""
        self.nfev += 1
        return to_numpy(self._e.value(y, (float(t), *args))).reshape(-1)

    def jac(self, t: float, y: np.ndarray, *args: Any) -> Any:
        """``∂fun/∂y`` at ``(t, y)``: an ndarray, or scipy.sparse (csc) under AutoSparse."""
        self.njev += 1
        C = (Constant(float(t)), *(Constant(a) for a in args))
        return self._e.jacobian(y, C, with_value=False)[1]
