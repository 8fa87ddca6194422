"""Scenarios: a function, an execution point, a different preparation point, and closed-form answers.

Every test function is written once against the array API (``array_api_compat.array_namespace``)
so that the same scenario runs under AutoJAX, AutoTorch and AutoFiniteDiff, with NumPy, JAX or
torch arrays. Scenarios store NumPy inputs and NumPy references; :func:`~adopt.testing.check_backend`
converts them to the array type under test.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from adopt._contexts import Cache, Constant
from adopt._errors import MissingDependencyError

__all__ = [
    "Scenario", "OPERATORS", "FIRST_ORDER", "SECOND_ORDER", "default_scenarios",
    "inplace_scenarios", "context_scenarios", "batched_scenarios", "all_scenarios",
    "scenario_ids", "assign",
]

FIRST_ORDER = ("pushforward", "pullback", "derivative", "gradient", "jacobian")
SECOND_ORDER = ("second_derivative", "hvp", "hessian")
OPERATORS = FIRST_ORDER + SECOND_ORDER
_TANGENT_OPS = ("pushforward", "pullback", "hvp")
_INPLACE_OPS = ("pushforward", "pullback", "derivative", "jacobian")


@dataclass(frozen=True, eq=False)
class Scenario:
    """One operator applied to one function, with closed-form reference results.

    The operator is prepared at ``prep_x`` (with ``prep_tangents`` and ``prep_contexts``) and
    executed at ``x`` (with ``tangents`` and ``contexts``): same types, shapes and dtypes,
    different values, so a prep that kept values of the preparation point is caught.

    Attributes
    ----------
    operator : str
        One of ``"pushforward"``, ``"pullback"``, ``"derivative"``, ``"gradient"``,
        ``"jacobian"``, ``"second_derivative"``, ``"hvp"``, ``"hessian"``.
    f : callable
        ``f(x, *contexts) -> y``, or ``f(y, x, *contexts)`` writing into ``y`` if ``inplace``;
        written against the array API.
    x, prep_x : numpy.ndarray
        The execution and preparation points (float64, same shape).
    tangents, prep_tangents : tuple of numpy.ndarray or None
        Tangents of ``x`` (pushforward, hvp) or cotangents of ``y`` (pullback).
    contexts, prep_contexts : tuple of Constant or Cache
        Contexts at execution and at preparation (same kinds, shapes and dtypes).
    inplace : bool
        Whether ``f`` is in place, ``f(y, x, *contexts)``.
    y_shape : tuple of int
        Shape of ``f(x)``: the shape of the ``y`` buffer of an in-place ``f``.
    reference : Mapping[str, object]
        Closed-form results at ``x``: ``"value"`` and the operator's results, keyed as the
        value form returns them (``"gradient"``, ``"hvp"`` as a tuple, ``"hessian"``, ...).
    name : str
        ``group/operator/function[/detail]``, used as the pytest id.

    Examples
    --------
    >>> from adopt.testing import default_scenarios
    >>> sc = [s for s in default_scenarios() if s.operator == "gradient"][0]
    >>> sc.name, sorted(sc.reference)
    ('default/gradient/scalar_to_scalar', ['gradient', 'value'])
    """

    operator: str
    f: Callable[..., Any] = field(repr=False)
    x: np.ndarray = field(repr=False)
    prep_x: np.ndarray = field(repr=False)
    tangents: tuple[np.ndarray, ...] | None = field(default=None, repr=False)
    prep_tangents: tuple[np.ndarray, ...] | None = field(default=None, repr=False)
    contexts: tuple[Any, ...] = field(default=(), repr=False)
    prep_contexts: tuple[Any, ...] = field(default=(), repr=False)
    inplace: bool = False
    y_shape: tuple[int, ...] = ()
    reference: Mapping[str, Any] = field(default_factory=dict, repr=False)
    name: str = ""

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ValueError(f"Scenario: operator must be one of {OPERATORS}; got {self.operator!r}")
        if (self.tangents is None) != (self.operator not in _TANGENT_OPS):
            raise ValueError(f"Scenario {self.name!r}: {self.operator} "
                             f"{'needs' if self.operator in _TANGENT_OPS else 'takes no'} tangents")
        if self.inplace and self.operator not in _INPLACE_OPS:
            raise ValueError(f"Scenario {self.name!r}: {self.operator} has no in-place form")
        object.__setattr__(self, "reference", MappingProxyType(dict(self.reference)))

    @property
    def order(self) -> int:
        """1 for first-order operators, 2 for second-order ones."""
        return 2 if self.operator in SECOND_ORDER else 1


def scenario_ids(scenario: Any) -> str | None:
    """A pytest id for a scenario: its name (other parameters get pytest's default id).

    Examples
    --------
    >>> import pytest
    >>> from adopt.testing import default_scenarios, scenario_ids
    >>> mark = pytest.mark.parametrize("scenario", default_scenarios(), ids=scenario_ids)
    """
    return scenario.name if isinstance(scenario, Scenario) else None


# ---- array-API helpers -----------------------------------------------------------------

def _xp(x: Any) -> Any:
    try:
        from array_api_compat import array_namespace
    except ImportError as e:  # pragma: no cover - exercised when array-api-compat is absent
        raise MissingDependencyError(
            "adopt.testing needs array-api-compat: pip install 'adopt[arrayapi]'"
        ) from e
    return array_namespace(x)


def assign(buf: Any, value: Any) -> Any:
    """``buf[...] = value`` and return ``buf``; on JAX (immutable arrays) a functional update.

    This is how a Cache scenario writes into its cache on every backend.

    Examples
    --------
    >>> import numpy as np
    >>> assign(np.zeros(2), np.ones(2))
    array([1., 1.])
    """
    from array_api_compat import is_jax_array

    if is_jax_array(buf):
        return buf.at[...].set(value)
    buf[...] = value
    return buf


# ---- functions with closed-form derivatives ---------------------------------------------

@dataclass(frozen=True)
class _Family:
    """A test function and its closed-form value, Jacobian and second derivatives (NumPy)."""

    name: str
    f: Callable[..., Any]
    value: Callable[..., np.ndarray]
    jacobian: Callable[..., np.ndarray]           # (y.size, x.size)
    hessian: Callable[..., np.ndarray] | None = None            # scalar f: (n, n)
    second_derivative: Callable[..., np.ndarray] | None = None  # scalar x: y's shape
    f_inplace: Callable[..., Any] | None = None


def _s2s(t: Any) -> Any:
    xp = _xp(t)
    return xp.sin(t) * t**2


def _s2a(t: Any) -> Any:
    xp = _xp(t)
    return xp.stack([xp.sin(t), t**2 * xp.cos(t), xp.exp(t)])


def _s2a_inplace(y: Any, t: Any) -> None:
    xp = _xp(t)
    y[0] = xp.sin(t)
    y[1] = t**2 * xp.cos(t)
    y[2] = xp.exp(t)


def _v2s(x: Any) -> Any:
    xp = _xp(x)
    return xp.sum(xp.sin(x) * x**2) + 0.5 * xp.sum(x[:-1] * x[1:])


def _m2s(x: Any) -> Any:
    xp = _xp(x)
    return xp.sum(xp.exp(x) * x) + 0.25 * xp.sum(x) ** 2


def _v2v_tall(x: Any) -> Any:
    xp = _xp(x)
    return xp.concat([xp.sin(x) * x, x[:-1] * x[1:]])


def _v2v_tall_inplace(y: Any, x: Any) -> None:
    xp = _xp(x)
    n = x.shape[0]
    y[:n] = xp.sin(x) * x
    y[n:] = x[:-1] * x[1:]


def _v2v_wide(x: Any) -> Any:
    xp = _xp(x)
    return x[:-1] * xp.exp(x[1:])


def _v2m(x: Any) -> Any:
    xp = _xp(x)
    return xp.reshape(x, (-1, 1)) * xp.reshape(xp.sin(x), (1, -1))


def _m2m(x: Any) -> Any:
    return x @ x.T


def _m2m_inplace(y: Any, x: Any) -> None:
    y[...] = x @ x.T


def _d2_sin_x2(t: np.ndarray) -> np.ndarray:
    return 2 * np.sin(t) + 4 * t * np.cos(t) - t**2 * np.sin(t)


def _v2s_grad(x: np.ndarray) -> np.ndarray:
    g = 2 * x * np.sin(x) + x**2 * np.cos(x)
    g[:-1] += 0.5 * x[1:]
    g[1:] += 0.5 * x[:-1]
    return g


def _v2s_hess(x: np.ndarray) -> np.ndarray:
    n = x.size
    return np.diag(_d2_sin_x2(x)) + 0.5 * (np.eye(n, k=1) + np.eye(n, k=-1))


def _v2v_tall_jac(x: np.ndarray) -> np.ndarray:
    n = x.size
    J = np.zeros((2 * n - 1, n))
    J[:n] = np.diag(np.sin(x) + x * np.cos(x))
    for i in range(n - 1):
        J[n + i, i], J[n + i, i + 1] = x[i + 1], x[i]
    return J


def _v2v_wide_jac(x: np.ndarray) -> np.ndarray:
    n = x.size
    J = np.zeros((n - 1, n))
    for i in range(n - 1):
        J[i, i], J[i, i + 1] = np.exp(x[i + 1]), x[i] * np.exp(x[i + 1])
    return J


def _v2m_jac(x: np.ndarray) -> np.ndarray:
    n = x.size
    J = np.zeros((n, n, n))
    for i in range(n):
        for j in range(n):
            J[i, j, i] += np.sin(x[j])
            J[i, j, j] += x[i] * np.cos(x[j])
    return J.reshape(n * n, n)


def _m2m_jac(x: np.ndarray) -> np.ndarray:
    p, q = x.shape
    J = np.zeros((p, p, p, q))
    for i in range(p):
        for j in range(p):
            J[i, j, i, :] += x[j]
            J[i, j, j, :] += x[i]
    return J.reshape(p * p, p * q)


_S2S = _Family(
    "scalar_to_scalar", _s2s, lambda t: np.sin(t) * t**2,
    lambda t: np.reshape(2 * t * np.sin(t) + t**2 * np.cos(t), (1, 1)),
    hessian=lambda t: np.reshape(_d2_sin_x2(t), (1, 1)), second_derivative=_d2_sin_x2,
)
_S2A = _Family(
    "scalar_to_array", _s2a, lambda t: np.stack([np.sin(t), t**2 * np.cos(t), np.exp(t)]),
    lambda t: np.stack([np.cos(t), 2 * t * np.cos(t) - t**2 * np.sin(t), np.exp(t)])[:, None],
    second_derivative=lambda t: np.stack(
        [-np.sin(t), 2 * np.cos(t) - 4 * t * np.sin(t) - t**2 * np.cos(t), np.exp(t)]),
    f_inplace=_s2a_inplace,
)
_V2S = _Family(
    "vector_to_scalar", _v2s, lambda x: np.sum(np.sin(x) * x**2) + 0.5 * np.sum(x[:-1] * x[1:]),
    lambda x: _v2s_grad(x)[None, :], hessian=_v2s_hess,
)
_M2S = _Family(
    "matrix_to_scalar", _m2s, lambda x: np.sum(np.exp(x) * x) + 0.25 * np.sum(x) ** 2,
    lambda x: (np.exp(x) * (x + 1) + 0.5 * np.sum(x)).reshape(1, -1),
    hessian=lambda x: np.diag((np.exp(x) * (x + 2)).ravel()) + 0.5,
)
_V2V_TALL = _Family(
    "vector_to_vector", _v2v_tall, lambda x: np.concatenate([np.sin(x) * x, x[:-1] * x[1:]]),
    _v2v_tall_jac, f_inplace=_v2v_tall_inplace,
)
_V2V_WIDE = _Family(
    "vector_to_shorter_vector", _v2v_wide, lambda x: x[:-1] * np.exp(x[1:]), _v2v_wide_jac,
)
_V2M = _Family("vector_to_matrix", _v2m, lambda x: np.outer(x, np.sin(x)), _v2m_jac)
_M2M = _Family("matrix_to_matrix", _m2m, lambda x: x @ x.T, _m2m_jac, f_inplace=_m2m_inplace)


# ---- functions with contexts -------------------------------------------------------------

def _c_scalar(x: Any, a: Any, s: float) -> Any:
    xp = _xp(x)
    return s * xp.sum(a * xp.sin(x) * x)


def _c_vector(x: Any, a: Any, s: float) -> Any:
    xp = _xp(x)
    return s * a * xp.sin(x)


def _c_power(x: Any, p: int) -> Any:
    xp = _xp(x)
    return xp.sum(x**p)


def _cache_scalar(x: Any, c: Any) -> Any:
    xp = _xp(x)
    c = assign(c, xp.sin(x))
    return xp.sum(c * x)


def _cache_vector(x: Any, c: Any) -> Any:
    xp = _xp(x)
    c = assign(c, xp.sin(x))
    return c * x


_C_SCALAR = _Family(
    "constant_array_and_float", _c_scalar, lambda x, a, s: s * np.sum(a * np.sin(x) * x),
    lambda x, a, s: (s * a * (np.sin(x) + x * np.cos(x)))[None, :],
    hessian=lambda x, a, s: np.diag(s * a * (2 * np.cos(x) - x * np.sin(x))),
)
_C_VECTOR = _Family(
    "constant_array_and_float_vector", _c_vector, lambda x, a, s: s * a * np.sin(x),
    lambda x, a, s: np.diag(s * a * np.cos(x)),
)
_C_SCALAR_X = _Family(
    "constant_array_and_float_scalar_x", _c_vector, lambda t, a, s: s * a * np.sin(t),
    lambda t, a, s: (s * a * np.cos(t))[:, None],
    second_derivative=lambda t, a, s: -s * a * np.sin(t),
)
_C_POWER = _Family(
    "static_constant", _c_power, lambda x, p: np.sum(x**p), lambda x, p: (p * x ** (p - 1))[None, :],
    hessian=lambda x, p: np.diag(p * (p - 1) * x ** (p - 2)),
)
_CACHE_SCALAR = _Family(
    "cache", _cache_scalar, lambda x, c: np.sum(np.sin(x) * x),
    lambda x, c: (np.sin(x) + x * np.cos(x))[None, :],
    hessian=lambda x, c: np.diag(2 * np.cos(x) - x * np.sin(x)),
)
_CACHE_VECTOR = _Family(
    "cache", _cache_vector, lambda x, c: np.sin(x) * x,
    lambda x, c: np.diag(np.sin(x) + x * np.cos(x)),
)


# ---- building scenarios -------------------------------------------------------------------

def _values(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape)


def _cvals(contexts: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(c.value if isinstance(c, Constant) else None for c in contexts)


def _reference(op: str, fam: _Family, x: np.ndarray, tangents: tuple | None,
               contexts: tuple[Any, ...]) -> dict[str, Any]:
    c = _cvals(contexts)
    y = np.asarray(fam.value(x, *c), dtype=np.float64)
    J = np.asarray(fam.jacobian(x, *c), dtype=np.float64).reshape(y.size, x.size)
    ref: dict[str, Any] = {"value": y}
    if op == "pushforward":
        ref[op] = tuple((J @ t.ravel()).reshape(y.shape) for t in tangents)
    elif op == "pullback":
        ref[op] = tuple((J.T @ t.ravel()).reshape(x.shape) for t in tangents)
    elif op == "derivative":
        ref[op] = J[:, 0].reshape(y.shape)
    elif op == "gradient":
        ref[op] = J[0].reshape(x.shape)
    elif op == "jacobian":
        ref[op] = J
    elif op == "second_derivative":
        ref["derivative"] = J[:, 0].reshape(y.shape)
        ref[op] = np.asarray(fam.second_derivative(x, *c), dtype=np.float64).reshape(y.shape)
    else:
        H = np.asarray(fam.hessian(x, *c), dtype=np.float64).reshape(x.size, x.size)
        ref["gradient"] = J[0].reshape(x.shape)
        if op == "hvp":
            del ref["value"]
            ref[op] = tuple((H @ t.ravel()).reshape(x.shape) for t in tangents)
        else:
            ref[op] = H
    return ref


def _make(group: str, op: str, fam: _Family, x: np.ndarray, prep_x: np.ndarray, *, k: int = 1,
          contexts: tuple = (), prep_contexts: tuple = (), inplace: bool = False,
          detail: str = "") -> Scenario:
    seed = zlib.crc32(f"{group}/{op}/{fam.name}/{k}/{x.shape}".encode())
    y_shape = np.shape(fam.value(x, *_cvals(contexts)))
    tangents = prep_tangents = None
    if op in _TANGENT_OPS:
        shape = y_shape if op == "pullback" else x.shape
        tangents = tuple(_values(shape, seed + i) for i in range(k))
        prep_tangents = tuple(_values(shape, seed + 100 + i) for i in range(k))
    name = "/".join(p for p in (group, op, fam.name, detail, "inplace" if inplace else "") if p)
    return Scenario(
        operator=op, f=fam.f_inplace if inplace else fam.f, x=x, prep_x=prep_x,
        tangents=tangents, prep_tangents=prep_tangents, contexts=contexts,
        prep_contexts=prep_contexts, inplace=inplace, y_shape=tuple(y_shape),
        reference=_reference(op, fam, x, tangents, contexts), name=name,
    )


def _scalar(v: float) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def _points() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        "scalar": (_scalar(0.7), _scalar(-0.3)),
        "vector": (np.array([0.5, -0.8, 1.1, 0.3]), np.array([-0.2, 0.9, 0.4, -1.2])),
        "short": (np.array([0.4, -0.6, 0.9]), np.array([1.0, 0.2, -0.5])),
        "wide": (np.array([0.3, -0.7, 0.6, 1.0, -0.4]), np.array([-0.9, 0.1, 0.8, -0.3, 0.5])),
        "matrix": (np.array([[0.2, -0.5, 0.7], [0.9, -0.1, 0.4]]),
                   np.array([[-0.6, 0.3, 0.1], [0.5, 0.8, -0.7]])),
    }


def default_scenarios() -> list[Scenario]:
    """Every applicable operator on scalar→scalar, scalar→array, vector→scalar, matrix→scalar,
    vector→vector (taller and shorter output), vector→matrix and matrix→matrix functions.

    Out-of-place functions, no contexts, one tangent.

    Examples
    --------
    >>> from adopt.testing import default_scenarios
    >>> sorted({s.operator for s in default_scenarios()}) == sorted(
    ...     ["pushforward", "pullback", "derivative", "gradient", "jacobian",
    ...      "second_derivative", "hvp", "hessian"])
    True
    """
    p = _points()
    table = [
        (_S2S, p["scalar"], OPERATORS),
        (_S2A, p["scalar"], ("pushforward", "pullback", "derivative", "jacobian", "second_derivative")),
        (_V2S, p["vector"], ("pushforward", "pullback", "gradient", "jacobian", "hvp", "hessian")),
        (_M2S, p["matrix"], ("pushforward", "pullback", "gradient", "jacobian", "hvp", "hessian")),
        (_V2V_TALL, p["vector"], ("pushforward", "pullback", "jacobian")),
        (_V2V_WIDE, p["wide"], ("pushforward", "pullback", "jacobian")),
        (_V2M, p["short"], ("pushforward", "pullback", "jacobian")),
        (_M2M, p["matrix"], ("pushforward", "pullback", "jacobian")),
    ]
    return [_make("default", op, fam, *pts) for fam, pts, ops in table for op in ops]


def inplace_scenarios() -> list[Scenario]:
    """In-place functions ``f(y, x)`` writing into ``y``, for pushforward, pullback, derivative
    and jacobian (the operators with an in-place form).

    They need a backend with ``supports_inplace`` (AutoTorch, AutoFiniteDiff) and writable
    arrays (NumPy, torch); :func:`check_backend` skips them elsewhere.

    Examples
    --------
    >>> from adopt.testing import inplace_scenarios
    >>> all(s.inplace for s in inplace_scenarios())
    True
    """
    p = _points()
    table = [
        (_S2A, p["scalar"], ("pushforward", "pullback", "derivative", "jacobian")),
        (_V2V_TALL, p["vector"], ("pushforward", "pullback", "jacobian")),
        (_M2M, p["matrix"], ("jacobian",)),
    ]
    return [_make("inplace", op, fam, *pts, inplace=True) for fam, pts, ops in table for op in ops]


def context_scenarios() -> list[Scenario]:
    """Functions of ``x`` and contexts: a Constant array with a Constant Python float (both
    dynamic: new values at execution), a static Constant ``int`` (same value at preparation and
    execution), and a Cache.

    The Cache functions write ``sin(x)`` into their cache with :func:`assign`, which is a
    functional update on JAX, so they run on every backend.

    Examples
    --------
    >>> from adopt.testing import context_scenarios
    >>> all(s.contexts for s in context_scenarios())
    True
    """
    x, px = _points()["vector"]
    t, pt = _points()["scalar"]
    a, pa = np.array([1.5, -0.5, 2.0, 0.7]), np.array([0.3, 1.2, -0.8, 2.5])
    a3, pa3 = a[:3].copy(), pa[:3].copy()
    dyn = dict(contexts=(Constant(a), Constant(2.5)), prep_contexts=(Constant(pa), Constant(-1.25)))
    dyn3 = dict(contexts=(Constant(a3), Constant(2.5)), prep_contexts=(Constant(pa3), Constant(-1.25)))
    static = dict(contexts=(Constant(3),), prep_contexts=(Constant(3),))
    cache = dict(contexts=(Cache(np.zeros(4)),), prep_contexts=(Cache(np.full(4, 7.0)),))
    out = []
    for op in ("pushforward", "pullback", "gradient", "hvp", "hessian"):
        out.append(_make("context", op, _C_SCALAR, x, px, **dyn))
    for op in ("pushforward", "pullback", "jacobian"):
        out.append(_make("context", op, _C_VECTOR, x, px, **dyn))
    for op in ("derivative", "second_derivative"):
        out.append(_make("context", op, _C_SCALAR_X, t, pt, **dyn3))
    for op in ("gradient", "hessian"):
        out.append(_make("context", op, _C_POWER, x, px, **static))
    for op in ("gradient", "hvp", "hessian"):
        out.append(_make("context", op, _CACHE_SCALAR, x, px, **cache))
    for op in ("pushforward", "pullback", "jacobian"):
        out.append(_make("context", op, _CACHE_VECTOR, x, px, **cache, detail="vector"))
    return out


def batched_scenarios() -> list[Scenario]:
    """Tuples of 1, 2 and 3 tangents for pushforward, pullback and hvp, on matrix inputs.

    Examples
    --------
    >>> from adopt.testing import batched_scenarios
    >>> sorted({len(s.tangents) for s in batched_scenarios()})
    [1, 2, 3]
    """
    x, px = _points()["matrix"]
    table = [(_M2M, "pushforward"), (_M2M, "pullback"), (_M2S, "hvp")]
    return [_make("batched", op, fam, x, px, k=k, detail=f"k={k}")
            for fam, op in table for k in (1, 2, 3)]


def all_scenarios() -> list[Scenario]:
    """Default, in-place, context and batched scenarios.

    Examples
    --------
    >>> from adopt.testing import all_scenarios
    >>> len(all_scenarios()) > 50
    True
    """
    return default_scenarios() + inplace_scenarios() + context_scenarios() + batched_scenarios()
