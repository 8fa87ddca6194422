"""DifferentiateWith across frameworks: JAX transforms of PyTorch and NumPy functions, torch
autograd and torch.func of JAX and NumPy functions, against closed forms.

The functions are written once against the array API and are undefined at zero (logarithms), so
a call at a dummy zero point would show up as inf/NaN; every concrete point ``f`` sees is
recorded, and the tests check that no other point was used and how many evaluations each
transform costs once its preparation is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD
from array_api_compat import array_namespace
from torch import func as tf

import adopt
from adopt import AutoFiniteDiff, AutoJAX, AutoTorch, BackendIncompatibilityError, DifferentiateWith

X = np.array([0.5, 1.0, 2.0])
XS = np.array([[0.5, 1.0, 2.0], [1.5, 0.7, 0.3]])   # a batch of points
T = np.array([1.0, -2.0, 0.5])                      # a tangent


# ---- the functions and their closed forms ------------------------------------------------------
def scalar_f(x: Any) -> Any:
    """sum x log x: gradient log x + 1, Hessian diag(1/x)."""
    xp = array_namespace(x)
    return xp.sum(x * xp.log(x))


def vector_f(x: Any) -> Any:
    """log(x) sum(x): Jacobian diag(sum(x)/x) + log(x) 1ᵀ."""
    xp = array_namespace(x)
    return xp.log(x) * xp.sum(x)


def grad_s(x: np.ndarray) -> np.ndarray:
    return np.log(x) + 1


def hess_s(x: np.ndarray) -> np.ndarray:
    return np.diag(1 / x)


def jac_v(x: np.ndarray) -> np.ndarray:
    return np.diag(x.sum() / x) + np.log(x)[:, None]


def grad_sumsq_v(x: np.ndarray) -> np.ndarray:
    """The gradient of sum(vector_f(x)²)."""
    return 2 * jac_v(x).T @ (np.log(x) * x.sum())


@dataclass
class Counted:
    """``fn`` recording every concrete point it is evaluated at (tracers and meta tensors are
    abstract evaluations, counted apart)."""

    fn: Callable[[Any], Any]
    points: list[np.ndarray] = field(default_factory=list)
    abstract: int = 0

    def __call__(self, x: Any) -> Any:
        if isinstance(x, np.ndarray):
            self.points.append(x.copy())
        elif isinstance(x, torch.Tensor) and x.device.type == "cpu":
            self.points.append(_values(x))
        else:
            self.abstract += 1
        return self.fn(x)

    def reset(self) -> None:
        self.points.clear()
        self.abstract = 0


def _values(x: torch.Tensor) -> np.ndarray | None:
    """The values of a tensor; None inside a torch.func transform (a wrapped tensor)."""
    try:
        return x.detach().numpy().copy()
    except RuntimeError:
        return None


def _np(a: Any) -> np.ndarray:
    return a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _tol(inner: Any) -> float:
    return 1e-6 if isinstance(inner, AutoFiniteDiff) else 1e-11


# ---- JAX outside ---------------------------------------------------------------------------------
def _jax_cases(dws: Any, dwv: Any, second_order: bool) -> list[tuple[str, Callable[[], Any], np.ndarray]]:
    x, xs, t = jnp.asarray(X), jnp.asarray(XS), jnp.asarray(T)
    sumsq = lambda z: jnp.sum(dwv(z) ** 2)  # noqa: E731
    cases = [
        ("value", lambda: dwv(x), np.log(X) * X.sum()),
        ("jit value", lambda: jax.jit(dws)(x), (X * np.log(X)).sum()),
        ("grad", lambda: jax.grad(sumsq)(x), grad_sumsq_v(X)),
        ("jit(grad)", lambda: jax.jit(jax.grad(sumsq))(x), grad_sumsq_v(X)),
        ("vmap(grad)", lambda: jax.vmap(jax.grad(sumsq))(xs), np.stack([grad_sumsq_v(p) for p in XS])),
        ("jvp", lambda: jax.jvp(dwv, (x,), (t,))[1], jac_v(X) @ T),
        ("vmap(jvp) over tangents", lambda: jax.vmap(lambda u: jax.jvp(dwv, (x,), (u,))[1])(xs),
         (jac_v(X) @ XS.T).T),
        ("jacfwd", lambda: jax.jacfwd(dwv)(x), jac_v(X)),
        ("jit(jacrev)", lambda: jax.jit(jax.jacrev(dwv))(x), jac_v(X)),
        ("scalar grad", lambda: jax.grad(dws)(x), grad_s(X)),
        ("scalar jit(grad)", lambda: jax.jit(jax.grad(dws))(x), grad_s(X)),
        ("scalar jvp", lambda: jax.jvp(dws, (x,), (t,))[1], grad_s(X) @ T),
        ("scalar vmap(grad)", lambda: jax.vmap(jax.grad(dws))(xs), np.stack([grad_s(p) for p in XS])),
    ]
    if second_order:
        cases += [
            ("hessian", lambda: jax.hessian(dws)(x), hess_s(X)),
            ("jit(vmap(hessian))", lambda: jax.jit(jax.vmap(jax.hessian(dws)))(xs),
             np.stack([hess_s(p) for p in XS])),
            ("jvp of grad", lambda: jax.jvp(jax.grad(dws), (x,), (t,))[1], hess_s(X) @ T),
        ]
    return cases


JAX_INNER = [AutoTorch(), AutoFiniteDiff()]


@pytest.mark.parametrize("inner", JAX_INNER, ids=lambda b: type(b).__name__)
def test_inside_jax_matches_closed_forms(inner: Any) -> None:
    dws, dwv = DifferentiateWith(Counted(scalar_f), inner), DifferentiateWith(Counted(vector_f), inner)
    second = not isinstance(inner, AutoFiniteDiff)
    failures = []
    for name, run, ref in _jax_cases(dws, dwv, second):
        got = run()
        assert got.dtype == jnp.float64, name
        if not np.allclose(np.asarray(got), ref, rtol=_tol(inner), atol=_tol(inner)):
            failures.append((name, np.asarray(got), ref))
    assert not failures
    for counted in (dws.f, dwv.f):  # never a dummy point: only X, the rows of XS, and FD steps
        for p in counted.points:
            assert p is None or np.all(p > 0.2), p


# ---- PyTorch outside -----------------------------------------------------------------------------
def _eager_grad(fn: Callable[[Any], Any], x: torch.Tensor) -> torch.Tensor:
    xg = x.clone().requires_grad_(True)
    return torch.autograd.grad(fn(xg), xg)[0]


def _eager_hessian(fn: Callable[[Any], Any], x: torch.Tensor) -> torch.Tensor:
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(xg), xg, create_graph=True)
    return torch.stack([torch.autograd.grad(g[i], xg, retain_graph=True)[0] for i in range(x.numel())])


def _forward_ad(fn: Callable[[Any], Any], x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    with fwAD.dual_level():
        return fwAD.unpack_dual(fn(fwAD.make_dual(x, t))).tangent


def _torch_cases(dws: Any, dwv: Any, second_order: bool) -> list[tuple[str, Callable[[], Any], np.ndarray]]:
    x, xs, t = torch.tensor(X), torch.tensor(XS), torch.tensor(T)
    sumsq = lambda z: (dwv(z) ** 2).sum()  # noqa: E731
    cases = [
        ("value", lambda: dwv(x), np.log(X) * X.sum()),
        ("autograd.grad", lambda: _eager_grad(sumsq, x), grad_sumsq_v(X)),
        ("func.grad", lambda: tf.grad(sumsq)(x), grad_sumsq_v(X)),
        ("func.vmap(grad)", lambda: tf.vmap(tf.grad(sumsq))(xs), np.stack([grad_sumsq_v(p) for p in XS])),
        ("func.jvp", lambda: tf.jvp(dwv, (x,), (t,))[1], jac_v(X) @ T),
        ("forward AD", lambda: _forward_ad(dwv, x, t), jac_v(X) @ T),
        ("func.jacfwd", lambda: tf.jacfwd(dwv)(x), jac_v(X)),
        ("func.jacrev", lambda: tf.jacrev(dwv)(x), jac_v(X)),
        ("scalar autograd.grad", lambda: _eager_grad(dws, x), grad_s(X)),
        ("scalar func.grad", lambda: tf.grad(dws)(x), grad_s(X)),
        ("scalar func.vmap(grad)", lambda: tf.vmap(tf.grad(dws))(xs), np.stack([grad_s(p) for p in XS])),
    ]
    if second_order:
        cases += [
            ("double backward hessian", lambda: _eager_hessian(dws, x), hess_s(X)),
            ("func.hessian", lambda: tf.hessian(dws)(x), hess_s(X)),
            ("func.vmap(jacrev(jacrev))", lambda: tf.vmap(tf.jacrev(tf.jacrev(dws)))(xs),
             np.stack([hess_s(p) for p in XS])),
        ]
    return cases


TORCH_INNER = [AutoJAX(), AutoFiniteDiff()]


@pytest.mark.parametrize("inner", TORCH_INNER, ids=lambda b: type(b).__name__)
def test_inside_torch_matches_closed_forms(inner: Any) -> None:
    dws, dwv = DifferentiateWith(Counted(scalar_f), inner), DifferentiateWith(Counted(vector_f), inner)
    failures = []
    for name, run, ref in _torch_cases(dws, dwv, not isinstance(inner, AutoFiniteDiff)):
        got = run()
        assert got.dtype == torch.float64, name
        if not np.allclose(_np(got), ref, rtol=_tol(inner), atol=_tol(inner)):
            failures.append((name, _np(got), ref))
    assert not failures


# ---- evaluations: preparation once, then the minimum number of calls ------------------------------
def _steady_calls(dw: DifferentiateWith, run: Callable[[], Any]) -> int:
    run()                   # the first call prepares (and may evaluate f to do so)
    preps = {k: dict(n.preps) for k, n in dw.cache.items()}
    dw.f.reset()
    run()
    assert {k: dict(n.preps) for k, n in dw.cache.items()} == preps  # nothing prepared again
    assert dw.f.abstract == 0
    return len(dw.f.points)


def _jax_x() -> Any:
    return jnp.asarray(X)


def _torch_x() -> Any:
    return torch.tensor(X)


EVALUATIONS = [
    # (what, inner backend, f, transform of the wrapper, x, calls of f per call)
    ("scalar jax.grad", AutoTorch(), scalar_f, lambda d: jax.grad(d), _jax_x, 1),
    ("scalar jit(grad)", AutoTorch(), scalar_f, lambda d: jax.jit(jax.grad(d)), _jax_x, 1),
    ("scalar jit(value_and_grad)", AutoTorch(), scalar_f, lambda d: jax.jit(jax.value_and_grad(d)),
     _jax_x, 1),
    ("scalar jvp", AutoTorch(), scalar_f, lambda d: lambda x: jax.jvp(d, (x,), (x,)), _jax_x, 1),
    ("scalar jit(hessian)", AutoTorch(), scalar_f, lambda d: jax.jit(jax.hessian(d)), _jax_x, 1),
    # under jit the unused primal value is dropped: the pullback is the one evaluation
    ("vector jit(grad(sum))", AutoTorch(), vector_f,
     lambda d: jax.jit(jax.grad(lambda x: jnp.sum(d(x)))), _jax_x, 1),
    ("vector jit(jacrev)", AutoTorch(), vector_f, lambda d: jax.jit(jax.jacrev(d)), _jax_x, 1),
    ("vector grad(sum)", AutoTorch(), vector_f, lambda d: jax.grad(lambda x: jnp.sum(d(x))), _jax_x, 2),
    ("vector jvp", AutoTorch(), vector_f, lambda d: lambda x: jax.jvp(d, (x,), (x,)), _jax_x, 2),
    # the value, then central differences along 3 unit tangents (1 + 2 * 3)
    ("FD inside torch autograd", AutoFiniteDiff(), scalar_f, lambda d: lambda x: _eager_grad(d, x),
     _torch_x, 8),
    ("FD inside jax.jvp", AutoFiniteDiff(), vector_f, lambda d: lambda x: jax.jvp(d, (x,), (x,)),
     _jax_x, 4),
]


@pytest.mark.parametrize("what,inner,fn,transform,make_x,calls", EVALUATIONS,
                         ids=[e[0] for e in EVALUATIONS])
def test_evaluations_of_f(what: str, inner: Any, fn: Any, transform: Any, make_x: Any, calls: int) -> None:
    dw = DifferentiateWith(Counted(fn), inner)
    run, x = transform(dw), make_x()
    assert _steady_calls(dw, lambda: jax.tree.map(np.asarray, run(x))) == calls
    if not isinstance(inner, AutoFiniteDiff):
        assert all(np.array_equal(p, X) for p in dw.f.points)


def test_a_jax_function_is_traced_once_per_operator() -> None:
    traces = []
    dw = DifferentiateWith(lambda x: traces.append(1) or jnp.sum(x * jnp.log(x)), AutoJAX())
    for p in XS:
        tf.grad(dw)(torch.tensor(p))
    first = len(traces)
    for p in XS:
        tf.grad(dw)(torch.tensor(p))
    assert len(traces) == first  # traced at preparation only


# ---- dtypes, identity, NumPy ---------------------------------------------------------------------
def test_float32_stays_float32_both_ways() -> None:
    g32 = jax.grad(DifferentiateWith(scalar_f, AutoTorch()))(jnp.asarray(X, dtype=jnp.float32))
    t32 = tf.grad(DifferentiateWith(scalar_f, AutoJAX()))(torch.tensor(X, dtype=torch.float32))
    assert g32.dtype == jnp.float32 and t32.dtype == torch.float32
    np.testing.assert_allclose(np.asarray(g32), grad_s(X), rtol=1e-6)
    np.testing.assert_allclose(t32.numpy(), grad_s(X), rtol=1e-6)


def test_own_framework_and_numpy_input_call_f() -> None:
    f = Counted(vector_f)
    assert DifferentiateWith(f, AutoTorch())(torch.tensor(X)).dtype == torch.float64
    np.testing.assert_allclose(DifferentiateWith(f, AutoJAX())(X), np.log(X) * X.sum())
    np.testing.assert_allclose(DifferentiateWith(f, AutoFiniteDiff())(X), np.log(X) * X.sum())
    g = jax.grad(lambda x: jnp.sum(DifferentiateWith(vector_f, AutoJAX())(x)))(jnp.asarray(X))
    np.testing.assert_allclose(np.asarray(g), jac_v(X).sum(0), rtol=1e-12)


# ---- shapes learned without values ----------------------------------------------------------------
def _np_branching(x: np.ndarray) -> np.ndarray:
    if np.any(x <= 0):  # control flow on values: NumPy's tracer cannot follow it
        raise ValueError("x must be positive")
    return np.log(x) * x.sum()


def test_output_shape_from_first_concrete_call_or_given() -> None:
    dw = DifferentiateWith(_np_branching, AutoFiniteDiff())
    with pytest.raises(TypeError, match=r"needs the shape of f\(x\).*output_shape"):
        jax.jit(jax.jacrev(dw))(jnp.asarray(X))
    dw(jnp.asarray(X))  # one concrete call teaches the shape
    np.testing.assert_allclose(np.asarray(jax.jit(jax.jacrev(dw))(jnp.asarray(X))), jac_v(X), rtol=1e-6)
    given = DifferentiateWith(_np_branching, AutoFiniteDiff(), output_shape=(3,))
    np.testing.assert_allclose(np.asarray(jax.jit(jax.jacfwd(given))(jnp.asarray(X))), jac_v(X), rtol=1e-6)


def _np_vector_f(x: np.ndarray) -> np.ndarray:
    return np.log(x) * np.sum(x)


@pytest.mark.parametrize("inner,fn", [(AutoTorch(), vector_f), (AutoFiniteDiff(), _np_vector_f)],
                         ids=["torch meta tensors", "NumPy tracer"])
def test_shape_inference_evaluates_nothing(inner: Any, fn: Callable[[Any], Any]) -> None:
    f = Counted(fn)  # first called under jit: the shape of f(x) is learned abstractly, once
    got = jax.jit(jax.jacrev(DifferentiateWith(f, inner)))(jnp.asarray(X))
    np.testing.assert_allclose(np.asarray(got), jac_v(X), rtol=_tol(inner))
    assert f.abstract == 1 and f.points and all(np.all(p > 0.2) for p in f.points)
    if not isinstance(inner, AutoFiniteDiff):
        assert all(np.array_equal(p, X) for p in f.points)


# ---- errors ----------------------------------------------------------------------------------------
SECOND_ORDER_ERRORS = [
    ("jax.hessian of a vector f", lambda: jax.hessian(
        lambda x: jnp.sum(DifferentiateWith(vector_f, AutoTorch())(x) ** 2))(jnp.asarray(X)),
     ("pullback", "second derivatives", r"\(3,\)", "wrap the whole scalar objective")),
    ("double backward of a vector f", lambda: _eager_hessian(
        lambda x: (DifferentiateWith(vector_f, AutoJAX())(x) ** 2).sum(), torch.tensor(X)),
     ("backward pass", "second derivatives", "AutoJAX")),
    ("jax.hessian on finite differences", lambda: jax.hessian(
        DifferentiateWith(scalar_f, AutoFiniteDiff()))(jnp.asarray(X)),
     ("AutoFiniteDiff", "reverse-mode inner backend", "finite differences")),
    ("third order", lambda: jax.jacfwd(jax.hessian(DifferentiateWith(scalar_f, AutoTorch())))(jnp.asarray(X)),
     ("hvp", "third derivatives")),
    ("torch.func.hessian of a vector f", lambda: tf.hessian(
        lambda x: (DifferentiateWith(vector_f, AutoJAX())(x) ** 2).sum())(torch.tensor(X)),
     ("forward mode", "pullback", "second derivatives")),
]


@pytest.mark.parametrize("what,run,parts", SECOND_ORDER_ERRORS, ids=[e[0] for e in SECOND_ORDER_ERRORS])
def test_second_order_limits_are_named(what: str, run: Callable[[], Any], parts: tuple[str, ...]) -> None:
    with pytest.raises(BackendIncompatibilityError) as err:
        run()
    for part in ("DifferentiateWith", *parts):
        assert re.search(part, str(err.value)), (part, str(err.value))


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="backend must be AutoJAX.*SecondOrder"):
        DifferentiateWith(scalar_f, adopt.SecondOrder(AutoJAX(), AutoJAX()))
    with pytest.raises(TypeError, match="f must be callable"):
        DifferentiateWith(3.0, AutoTorch())
    with pytest.raises(TypeError, match="jax array, a torch tensor or a NumPy array; got list"):
        DifferentiateWith(scalar_f, AutoTorch())([1.0, 2.0])


def test_exceptions_of_f_propagate() -> None:
    def bad(x: Any) -> Any:
        raise KeyError("raised by f")

    dw = DifferentiateWith(bad, AutoTorch(), output_shape=())
    with pytest.raises(KeyError, match="raised by f"):      # eagerly: the exception itself
        jax.grad(dw)(jnp.asarray(X))
    with pytest.raises(jax.errors.JaxRuntimeError, match="KeyError: 'raised by f'"):  # under jit
        jax.jit(dw)(jnp.asarray(X))
