"""adopt.solvers.optax: Optax optimizers on JAX, PyTorch and NumPy objectives.

:func:`minimize` runs an Optax optimizer to convergence and returns SciPy's
``OptimizeResult``; :func:`make_step` gives the jitted step for a training loop of your own.
The whole loop is one ``jax.jit`` (``lax.while_loop``) for every backend: a JAX objective is
traced into it, a PyTorch or NumPy objective enters it through
:class:`~adopt.DifferentiateWith` (a host callback whose derivative is the backend's), so that
``optax.lbfgs`` and its zoom line search, which evaluate the objective inside JAX control flow,
work on all of them. The optimizer gets what a ``GradientTransformationExtraArgs`` asks for
(``value``, ``grad``, ``value_fn``), and the value and gradient a line search stores in its
state are reused as ``optax.value_and_grad_from_state`` does.

Note: *adopt* (this library) is not ``optax.contrib.adopt``, Optax's unrelated ADOPT optimizer;
any Optax optimizer, that one included, can be passed as ``optimizer``.

Examples
--------
>>> import jax, optax, torch, adopt
>>> from adopt.solvers.optax import minimize
>>> jax.config.update("jax_enable_x64", True)  # Optax runs in JAX: float64 needs x64
>>> f = lambda x: ((x - 2.0) ** 2).sum()
>>> res = minimize(f, torch.zeros(3, dtype=torch.float64), backend=adopt.AutoTorch(),
...                optimizer=optax.lbfgs())
>>> res.success, res.x.round(decimals=8)
(True, tensor([2., 2., 2.], dtype=torch.float64))
"""

from __future__ import annotations

import inspect
import sys
import weakref
from functools import partial
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
from scipy.optimize import OptimizeResult

from adopt import AbstractBackend, DifferentiateWith, MissingDependencyError, PrecisionError
from adopt.solvers._pytree import Flat, flatten

try:
    import jax
    import jax.numpy as jnp
    import optax
    from jax.experimental import io_callback
except ImportError as e:  # pragma: no cover - exercised when optax is absent
    raise MissingDependencyError(
        "adopt.solvers.optax needs optax and jax: pip install 'adopt[optax]'") from e

__all__ = ["minimize", "make_step", "Stepper", "StepState"]

_WHERE = "adopt.solvers.optax"
#: SciPy's messages (scipy.optimize._optimize._status_message) for the same stops
_MESSAGES = {0: "Optimization terminated successfully.",
             1: "Maximum number of iterations has been exceeded.",
             3: "NaN result encountered.",
             99: "`callback` raised `StopIteration`."}


class StepState(NamedTuple):
    """The state of an Optax run: parameters (flat), optimizer state, value and gradient at the
    parameters, and the iteration and evaluation counts."""

    params: jax.Array
    opt_state: Any
    value: jax.Array
    grad: jax.Array
    nit: jax.Array
    nfev: jax.Array


@dataclass(frozen=True, eq=False)
class _Objective:
    """``fun`` as a JAX scalar function of the flat parameter vector ``v``.

    A JAX objective is traced; a PyTorch or NumPy one is a :class:`~adopt.DifferentiateWith` of
    ``v -> fun(unravel(v), *args)``. An exception raised by ``fun`` there is recorded in
    ``errors`` and turned into a NaN value, which stops the loop; the solver then re-raises it
    with its own traceback (JAX would report it as a ``JaxRuntimeError``).
    """

    fun: Callable[..., Any]
    backend: AbstractBackend
    flat: Flat
    args: tuple
    errors: list[BaseException] = field(default_factory=list)
    bridge: DifferentiateWith | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.backend.framework != "jax":  # frozen: set once, here
            object.__setattr__(self, "bridge", DifferentiateWith(self._guarded, self.backend,
                                                                 output_shape=()))

    def __call__(self, v: Any, *args: Any) -> Any:
        if self.backend.framework == "jax":
            return self.fun(self.flat.unravel(v), *args)
        return self.bridge(v)

    def _guarded(self, v: Any) -> Any:
        if self.errors:  # the first error ends the run; do not call fun again
            return v.sum() * float("nan")
        try:
            return self.fun(self.flat.unravel(v), *self.args)
        except Exception as e:  # noqa: BLE001 - recorded and re-raised after the jitted loop
            self.errors.append(e)
            return v.sum() * float("nan")

    def reraise(self) -> None:
        if self.errors:
            err = self.errors[0]
            raise err.with_traceback(err.__traceback__)


@dataclass(frozen=True, eq=False)
class _Core:
    """What the compiled functions depend on (a static argument of ``jax.jit``): the objective
    and the optimizer. Cached, so that repeated solves reuse the compiled loop."""

    objective: _Objective
    optimizer: optax.GradientTransformation

    def value_and_grad(self, params: Any, args: tuple) -> tuple[Any, Any]:
        return jax.value_and_grad(self.objective)(params, *args)

    def update(self, state: StepState, args: tuple) -> StepState:
        """One iteration: the optimizer's update, then value and gradient at the new point."""
        value_fn = lambda p: self.objective(p, *args)  # noqa: E731
        if isinstance(self.optimizer, optax.GradientTransformationExtraArgs):
            updates, opt_state = self.optimizer.update(
                state.grad, state.opt_state, state.params, value=state.value, grad=state.grad,
                value_fn=value_fn)
        else:
            updates, opt_state = self.optimizer.update(state.grad, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        stored = optax.tree.get(opt_state, "value"), optax.tree.get(opt_state, "grad")
        if stored[0] is None or stored[1] is None:
            value, grad = self.value_and_grad(params, args)
            fresh = 1
        else:  # a line search evaluated the objective at the new parameters already
            value, grad = stored
            fresh = 0
        searched = optax.tree.get(opt_state, "num_linesearch_steps", 0)
        return StepState(params, opt_state, value, grad, state.nit + 1,
                         state.nfev + fresh + jnp.asarray(searched, state.nfev.dtype))


@partial(jax.jit, static_argnums=0)
def _init(core: _Core, params: Any, args: tuple) -> StepState:
    value, grad = core.value_and_grad(params, args)
    zero = jnp.zeros((), jnp.int32)
    return StepState(params, core.optimizer.init(params), value, grad, zero, zero + 1)


@partial(jax.jit, static_argnums=0)
def _step(core: _Core, state: StepState, args: tuple) -> StepState:
    return core.update(state, args)


@dataclass(frozen=True, eq=False)
class Stepper:
    """One Optax iteration on an objective, compiled once: made by :func:`make_step`.

    ``init(x0)`` evaluates the objective at ``x0`` and initialises the optimizer; ``step(state)``
    is one jitted iteration (update, ``optax.apply_updates``, then value and gradient at the new
    parameters, taken from the optimizer state when a line search stored them there);
    ``x(state)`` is the parameters in ``x0``'s structure and array type.

    Examples
    --------
    >>> import jax, numpy as np, optax, adopt
    >>> from adopt.solvers.optax import make_step
    >>> jax.config.update("jax_enable_x64", True)
    >>> stepper = make_step(lambda x: np.sum((x - 1.0) ** 2), np.zeros(2),
    ...                     backend=adopt.AutoFiniteDiff(), optimizer=optax.sgd(0.25))
    >>> state = stepper.init()
    >>> for _ in range(3):
    ...     state = stepper.step(state)
    >>> stepper.x(state).round(4), int(state.nfev)
    (array([0.875, 0.875]), 4)
    """

    core: _Core
    args: tuple = ()   # the traced extra arguments of a JAX objective (others bind theirs)

    @property
    def flat(self) -> Flat:
        return self.core.objective.flat

    def init(self, x0: Any = None) -> StepState:
        """The state at ``x0`` (default: the ``x0`` the stepper was made with)."""
        flat = self.flat if x0 is None else flatten(x0, _WHERE)
        if flat.signature() != self.flat.signature():
            raise ValueError(f"{_WHERE}: x0 has signature {flat.signature()} but the stepper was "
                             f"made for {self.flat.signature()}; make a stepper for the new x0")
        return self._run(_init, _params(flat), self.args)

    def step(self, state: StepState) -> StepState:
        """One optimizer iteration (jitted)."""
        return self._run(_step, state, self.args)

    def x(self, state: StepState) -> Any:
        """The parameters of ``state`` in ``x0``'s structure and array type."""
        return self.flat.result(np.asarray(state.params))

    def _run(self, fn: Callable[..., Any], *a: Any) -> Any:
        """``fn(core, *a)``, re-raising an exception that the objective recorded on the way."""
        objective = self.core.objective
        objective.errors.clear()
        try:
            out = jax.block_until_ready(fn(self.core, *a))
        except jax.errors.JaxRuntimeError:
            objective.reraise()
            raise
        objective.reraise()
        return out


def _params(flat: Flat) -> Any:
    params = jnp.asarray(flat.x0.astype(flat.dtype))
    if params.dtype != flat.dtype:
        raise PrecisionError(
            f"{_WHERE}: x0 is {flat.dtype} but JAX's x64 mode is off, and Optax runs in JAX: "
            "enable it with jax.config.update('jax_enable_x64', True) (adopt never flips it), "
            "or pass float32 x0")
    return params


# ---- caches: one objective per (fun, backend, x0 signature), one stepper per optimizer ---------
_OBJECTIVES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _objective(fun: Callable[..., Any], backend: AbstractBackend, flat: Flat, args: tuple) -> _Objective:
    """The cached objective; a PyTorch or NumPy objective with ``args`` is made anew (its args
    are bound into the callback), a JAX one takes them as traced arguments. A function that
    cannot be a weak dictionary key (unhashable) is not cached."""
    bound = args if backend.framework != "jax" else ()
    if bound:
        return _Objective(fun, backend, flat, bound)
    try:
        per_fun = _OBJECTIVES.setdefault(fun, {})
    except TypeError:
        return _Objective(fun, backend, flat, bound)
    key = (backend, flat.signature())
    if key not in per_fun:
        per_fun[key] = _Objective(fun, backend, flat, bound)
    return per_fun[key]


_CORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _core(objective: _Objective, optimizer: optax.GradientTransformation) -> _Core:
    per_objective = _CORES.setdefault(objective, {})
    key = id(optimizer)
    if key not in per_objective or per_objective[key].optimizer is not optimizer:
        per_objective[key] = _Core(objective, optimizer)
    return per_objective[key]


def _check(backend: Any, optimizer: Any) -> None:
    if not isinstance(backend, AbstractBackend):
        raise TypeError(f"{_WHERE}: backend must be AutoJAX(), AutoTorch() or AutoFiniteDiff(); "
                        f"got {backend!r}")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"{_WHERE}: optimizer must be an Optax optimizer such as optax.lbfgs() "
                        f"or optax.adam(1e-2) (note: optax.adam, not optax.adam()); got "
                        f"{optimizer!r}")


def make_step(fun: Callable[..., Any], x0: Any, *, backend: AbstractBackend,
              optimizer: optax.GradientTransformation, args: tuple = ()) -> Stepper:
    """A jitted Optax step on ``fun`` for a training loop of your own.

    Parameters are as for :func:`minimize`. The compiled step is cached: the same ``fun``,
    ``backend``, ``x0`` signature and optimizer object reuse it.

    Examples
    --------
    >>> import jax, optax, torch, adopt
    >>> from adopt.solvers.optax import make_step
    >>> jax.config.update("jax_enable_x64", True)
    >>> params = {"w": torch.zeros(2, dtype=torch.float64)}
    >>> loss = lambda p: ((p["w"] - torch.tensor([1.0, -1.0], dtype=torch.float64)) ** 2).sum()
    >>> stepper = make_step(loss, params, backend=adopt.AutoTorch(), optimizer=optax.adam(0.1))
    >>> state = stepper.init()
    >>> for _ in range(200):
    ...     state = stepper.step(state)
    >>> stepper.x(state)["w"].round(decimals=2)
    tensor([ 1., -1.], dtype=torch.float64)
    """
    _check(backend, optimizer)
    flat, args = flatten(x0, _WHERE), tuple(args)
    objective = _objective(fun, backend, flat, args)
    return Stepper(_core(objective, optimizer), args if backend.framework == "jax" else ())


_DEFAULT_OPTIMIZER: list[optax.GradientTransformation] = []


def _default_optimizer() -> optax.GradientTransformation:
    if not _DEFAULT_OPTIMIZER:  # one object, so that default calls share the compiled loop
        _DEFAULT_OPTIMIZER.append(optax.lbfgs())
    return _DEFAULT_OPTIMIZER[0]


def minimize(fun: Callable[..., Any], x0: Any, *, backend: AbstractBackend,
             optimizer: optax.GradientTransformation | None = None, maxiter: int = 1000,
             tol: float = 1e-6, callback: Callable[..., Any] | None = None, args: tuple = (),
             progress: bool | None = None) -> OptimizeResult:
    """Minimize a scalar ``fun(x, *args)`` with an Optax optimizer; SciPy's result.

    The loop stops when the gradient's 2-norm is at most ``tol`` (``success``), after
    ``maxiter`` iterations, when the value is not finite, or when ``callback`` raises
    ``StopIteration``; all of it runs in one ``jax.jit``, compiled once per function, ``x0``
    signature and optimizer object.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> scalar``, in ``backend``'s framework: JAX (traced into the loop),
        PyTorch or NumPy (called back from it).
    x0 : array, float, list, or dict/list/tuple of arrays
        The start: a NumPy, JAX or torch array, a JAX pytree or a dict of torch tensors. ``x``
        in the result has its structure, array type and dtype (a scalar or list becomes a 1-D
        array, as in SciPy).
    backend : AutoJAX, AutoTorch or AutoFiniteDiff
        What differentiates ``fun``.
    optimizer : optax.GradientTransformation, optional
        Default ``optax.lbfgs()`` (zoom line search). Line-search optimizers receive
        ``value``, ``grad`` and ``value_fn``.
    maxiter : int
        Maximum number of iterations.
    tol : float
        Tolerance on the gradient's 2-norm (Optax's own L-BFGS example's test).
    callback : callable, optional
        ``callback(intermediate_result)`` (an ``OptimizeResult`` with ``x``, ``fun``, ``jac``,
        ``nit``) or ``callback(xk)``, after each iteration, as in SciPy; raising
        ``StopIteration`` stops the run (``status`` 99).
    args : tuple
        Extra arguments of ``fun``.
    progress : bool, optional
        A tqdm progress bar (if tqdm is installed). Default: only when stderr is a terminal.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``jac``, ``nit``, ``nfev`` (objective evaluations, each value and
        gradient, including line-search trials), ``success``, ``status`` (0 converged, 1
        ``maxiter`` reached, 3 non-finite value, 99 stopped by the callback), ``message``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, optax, adopt
    >>> from adopt.solvers.optax import minimize
    >>> jax.config.update("jax_enable_x64", True)
    >>> res = minimize(lambda p: jnp.sum((p["a"] - 3.0) ** 2), {"a": jnp.zeros(2)},
    ...                backend=adopt.AutoJAX(), optimizer=optax.lbfgs())
    >>> res.x["a"], res.status, res.message
    (Array([3., 3.], dtype=float64), 0, 'Optimization terminated successfully.')
    """
    optimizer = _default_optimizer() if optimizer is None else optimizer
    stepper = make_step(fun, x0, backend=backend, optimizer=optimizer, args=args)
    hooks = _Hooks.make(stepper.flat, callback, progress, maxiter)
    state = stepper.init()
    limits = jnp.asarray(maxiter, jnp.int32), jnp.asarray(tol, state.value.dtype)
    try:
        final = stepper._run(partial(_loop, hooks=hooks), state, stepper.args, limits)
    finally:
        hooks.close()
    return _result(stepper, hooks, final, tol)


def _result(stepper: Stepper, hooks: "_Hooks", s: StepState, tol: float) -> OptimizeResult:
    hooks.reraise()
    value, gnorm = float(s.value), float(jnp.linalg.norm(s.grad))
    if hooks.stopped:
        status = 99
    elif not np.isfinite(value) or not np.isfinite(gnorm):
        status = 3
    elif gnorm <= tol:
        status = 0
    else:
        status = 1
    return OptimizeResult(x=stepper.x(s), fun=value, jac=stepper.flat.result(np.asarray(s.grad)),
                          nit=int(s.nit), nfev=int(s.nfev), success=status == 0, status=status,
                          message=_MESSAGES[status])


@partial(jax.jit, static_argnames=("core", "hooks"))
def _loop(core: _Core, state: StepState, args: tuple, limits: tuple, *, hooks: "_Hooks") -> StepState:
    maxiter, tol = limits

    def cond(c: tuple[StepState, Any]) -> Any:
        s, stop = c
        return (s.nit < maxiter) & (jnp.linalg.norm(s.grad) > tol) & jnp.isfinite(s.value) & ~stop

    def body(c: tuple[StepState, Any]) -> tuple[StepState, Any]:
        s = core.update(c[0], args)
        return s, hooks.after_step(s)

    return jax.lax.while_loop(cond, body, (state, jnp.asarray(False)))[0]


@dataclass(frozen=True, eq=False)
class _Hooks:
    """What runs on the host after each iteration: the user's callback, the progress bar.

    A static argument of the jitted loop: a run with a callback or a progress bar compiles its
    own loop (a run without either shares the cached one).
    """

    flat: Flat
    callback: Callable[..., Any] | None
    bar: Any
    every: int
    errors: list[BaseException] = field(default_factory=list)
    stops: list[bool] = field(default_factory=list)

    @staticmethod
    def make(flat: Flat, callback: Callable[..., Any] | None, progress: bool | None,
             maxiter: int) -> "_Hooks":
        bar = _bar(progress, maxiter)
        if callback is None and bar is None:
            return _NO_HOOKS
        return _Hooks(flat, callback, bar, max(1, maxiter // 200))

    @property
    def stopped(self) -> bool:
        return bool(self.stops)

    def after_step(self, s: StepState) -> Any:
        stop = jnp.asarray(False)
        if self.callback is not None:
            stop = io_callback(self._call, jax.ShapeDtypeStruct((), bool), s.params, s.value,
                               s.grad, s.nit)
        if self.bar is not None:
            jax.lax.cond(s.nit % self.every == 0,
                         lambda: jax.debug.callback(self._tick, s.nit, s.value, jnp.linalg.norm(s.grad)),
                         lambda: None)
        return stop

    def _call(self, params: Any, value: Any, grad: Any, nit: Any) -> np.ndarray:
        x = self.flat.result(np.asarray(params))
        try:
            if "intermediate_result" in inspect.signature(self.callback).parameters:
                self.callback(intermediate_result=OptimizeResult(
                    x=x, fun=float(value), jac=self.flat.result(np.asarray(grad)), nit=int(nit)))
            else:
                self.callback(x)
        except StopIteration:
            self.stops.append(True)
        except Exception as e:  # noqa: BLE001 - re-raised after the jitted loop
            self.errors.append(e)
        return np.asarray(bool(self.stops or self.errors))

    def _tick(self, nit: Any, value: Any, gnorm: Any) -> None:
        self.bar.update(int(nit) - self.bar.n)
        self.bar.set_postfix(f=f"{float(value):.6g}", gnorm=f"{float(gnorm):.3g}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def reraise(self) -> None:
        if self.errors:
            err = self.errors[0]
            raise err.with_traceback(err.__traceback__)


def _want_progress(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else bool(progress)


def _bar(progress: bool | None, maxiter: int) -> Any:
    if not _want_progress(progress):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar without it
        return None
    return tqdm(total=maxiter, desc=_WHERE, unit="it")


_NO_HOOKS = _Hooks(flatten(np.zeros(1), _WHERE), None, None, 1)
