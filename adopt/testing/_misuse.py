"""check_misuse: the ways a user can misuse adopt, each of which must give the right answer or a
clear adopt error, never a silent wrong result.

Each case is a small function of the backend and an array type; it either checks a value
against a closed form or expects an error whose message names the operator, the backend and
the offending argument. Cases that do not apply to a backend (in-place functions on AutoJAX,
first-order operators on a SecondOrder, mutation of an immutable jax.Array) are skipped with the
reason in the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from adopt._contexts import Constant
from adopt._errors import BackendIncompatibilityError, PreparationMismatchError
from adopt.backends.wrappers import SecondOrder
from adopt.backends import AbstractBackend, AutoFiniteDiff
from adopt.backends.wrappers import AutoSparse
from adopt.testing._check import CheckReport, _convert, _to_numpy, default_tolerance

__all__ = ["check_misuse", "MISUSE_CASES"]

_X = np.array([0.5, -1.2, 2.0])
_X2 = np.array([1.5, 0.3, -0.7])
_T = np.array([1.0, -2.0, 0.5])


def _xp(x: Any) -> Any:
    from array_api_compat import array_namespace

    return array_namespace(x)


def _cube(x: Any) -> Any:
    """f(x) = sum(x**3): gradient 3x², Hessian diag(6x)."""
    return _xp(x).sum(x**3)


def _square(x: Any) -> Any:
    """f(x) = x² elementwise: Jacobian diag(2x)."""
    return x * x


def _scaled(x: Any, c: Any) -> Any:
    """f(x, c) = c x² elementwise: Jacobian diag(2cx)."""
    return c * x * x


def _scaled_cube(x: Any, c: Any) -> Any:
    return c * _xp(x).sum(x**3)


class _Skip(Exception):
    pass


@dataclass(frozen=True)
class _Ctx:
    """What a case works with: the backend, its operators (adopt's public ones) and an array type."""

    backend: Any
    kind: str
    adopt: Any

    def arr(self, a: Any) -> Any:
        return _convert(a, self.kind)

    @property
    def second_order_only(self) -> bool:
        return isinstance(self.backend, SecondOrder)

    def first_order(self) -> None:
        if self.second_order_only:
            raise _Skip("SecondOrder serves second-order operators only")

    def mutable(self) -> None:
        if self.kind == "jax":
            raise _Skip("a jax.Array cannot be changed in place or written into")

    def close(self, got: Any, want: Any, order: int) -> None:
        tol = default_tolerance(self.backend if not isinstance(self.backend, AutoSparse)
                                else self.backend.dense, order)
        g = _to_numpy(_dense(got))
        if g.shape != np.shape(want) or not np.allclose(g, want, rtol=tol, atol=tol):
            raise AssertionError(f"expected {np.asarray(want)!r}, got {g!r}")

    def raises(self, exc: type | tuple[type, ...], words: Iterable[str], fn: Callable[[], Any]) -> None:
        """``fn`` must raise ``exc`` with a message naming each of ``words`` (regular expressions)."""
        try:
            fn()
        except exc as e:
            missing = [w for w in words if not re.search(w, str(e))]
            if missing:
                raise AssertionError(f"{type(e).__name__} does not name {missing}: {e}") from e
            return
        raise AssertionError(f"expected {exc} naming {list(words)}; the call succeeded")


def _dense(a: Any) -> Any:
    import scipy.sparse as sp

    if sp.issparse(a):
        return a.toarray()
    if type(a).__module__.split(".")[0] == "torch" and str(a.layout) != "torch.strided":
        return a.to_dense()
    if type(a).__module__.startswith("jax.experimental.sparse"):
        return a.todense()
    return a


# ---- the cases -------------------------------------------------------------------------------

def wrong_operator_prep(c: _Ctx) -> None:
    """A prep serves its own operator family only, even with strict=False."""
    a, b, x = c.adopt, c.backend, c.arr(_X)
    pairs: list[tuple[Callable, tuple, Callable, tuple]] = [
        (a.prepare_hvp, (_cube, b, x, (c.arr(_T),)), a.hessian, (_cube, b, x)),
        (a.prepare_hessian, (_cube, b, x), a.hvp, (_cube, b, x, (c.arr(_T),))),
    ]
    if not c.second_order_only:
        pairs += [
            (a.prepare_gradient, (_cube, b, x), a.hessian, (_cube, b, x)),
            (a.prepare_jacobian, (_square, b, x), a.pushforward, (_square, b, x, (c.arr(_T),))),
            (a.prepare_pushforward, (_square, b, x, (c.arr(_T),)), a.pullback, (_square, b, x, (c.arr(_T),))),
        ]
    for prepare, pargs, op, args in pairs:
        for strict in (True, False):
            prep = prepare(*pargs, strict=strict)
            c.raises(PreparationMismatchError, [op.__name__, prepare.__name__, type(b).__name__],
                     lambda: op(*args, prep=prep))


def same_point_new_context(c: _Ctx) -> None:
    """A same-point prep at Constant(1.0) called with Constant(5.0): right answer or an error."""
    a, b, x, t = c.adopt, c.backend, c.arr(_X), c.arr(_T)
    cases = [(a.prepare_hvp_same_point, a.hvp, _scaled_cube, 5.0 * 6 * _X * _T)]
    if not c.second_order_only:
        cases += [(a.prepare_pushforward_same_point, a.pushforward, _scaled, 5.0 * 2 * _X * _T),
                  (a.prepare_pullback_same_point, a.pullback, _scaled, 5.0 * 2 * _X * _T)]
    for prepare, op, f, want in cases:
        prep = prepare(f, b, x, (t,), Constant(1.0))
        _right_or_refused(c, lambda: op(f, b, x, (t,), Constant(5.0), prep=prep)[0], want, 2 if op is a.hvp else 1)


def same_point_mutated_x(c: _Ctx) -> None:
    """A same-point prep whose x is changed in place afterwards: right answer or an error."""
    c.mutable()
    a, b, t = c.adopt, c.backend, c.arr(_T)
    cases = [(a.prepare_hvp_same_point, a.hvp, _cube, lambda x: 6 * x * _T, 2)]
    if not c.second_order_only:
        cases += [(a.prepare_pushforward_same_point, a.pushforward, _square, lambda x: 2 * x * _T, 1),
                  (a.prepare_pullback_same_point, a.pullback, _square, lambda x: 2 * x * _T, 1)]
    for prepare, op, f, want, order in cases:
        x = c.arr(_X)
        prep = prepare(f, b, x, (t,))
        x[0] = 7.0
        moved = _X.copy()
        moved[0] = 7.0
        _right_or_refused(c, lambda: op(f, b, x, (t,), prep=prep)[0], want(moved), order)


def _right_or_refused(c: _Ctx, call: Callable[[], Any], want: Any, order: int) -> None:
    try:
        got = call()
    except PreparationMismatchError as e:
        if "same-point" not in str(e):
            raise AssertionError(f"the error does not say it is about a same-point prep: {e}") from e
        return
    c.close(got, want, order)


def returned_arrays_reused(c: _Ctx) -> None:
    """Results written into by the caller, or passed back as out=, never corrupt later calls."""
    c.mutable()
    a, b = c.adopt, c.backend
    if c.second_order_only:
        prep = a.prepare_hvp(_cube, b, c.arr(_X), (c.arr(_T),))
        first = a.gradient_and_hvp(_cube, b, c.arr(_X), (c.arr(_T),), prep=prep)
        a.gradient_and_hvp(_cube, b, c.arr(_X2), (c.arr(_T),), prep=prep, out=first)
        c.close(first[1][0], 6 * _X2 * _T, 2)
        first[1][0][...] = np.nan
        c.close(a.hvp(_cube, b, c.arr(_X), (c.arr(_T),), prep=prep)[0], 6 * _X * _T, 2)
        return
    prep = a.prepare_gradient(_cube, b, c.arr(_X))
    g = a.gradient(_cube, b, c.arr(_X), prep=prep)
    a.gradient(_cube, b, c.arr(_X2), prep=prep, out=g)
    c.close(g, 3 * _X2**2, 1)
    g[...] = np.nan
    c.close(a.gradient(_cube, b, c.arr(_X), prep=prep), 3 * _X**2, 1)
    x, t = c.arr(_X), c.arr(_T)
    prep = a.prepare_pushforward_same_point(_square, b, x, (t,))
    y, (ty,) = a.value_and_pushforward(_square, b, x, (t,), prep=prep)
    y[...] = np.nan
    ty[...] = np.nan
    y, (ty,) = a.value_and_pushforward(_square, b, x, (t,), prep=prep)
    c.close(y, _X**2, 0)
    c.close(ty, 2 * _X * _T, 1)


def bad_out_buffers(c: _Ctx) -> None:
    """out= of the wrong shape, dtype or array type, or a tuple for one result, is refused."""
    c.first_order()
    c.mutable()
    a, b, x = c.adopt, c.backend, c.arr(_X)
    other = "torch" if c.kind == "numpy" else "numpy"
    buffers = [
        (ValueError, ["shape", r"\(3, 3\)"], np.zeros((3, 3))),
        (TypeError, ["float32", "downcast"], np.zeros(3, np.float32)),
        (TypeError, ["int64", "truncated"], np.zeros(3, np.int64)),
        (ValueError, ["one buffer", "tuple of 2"], (np.zeros(3), np.zeros(3))),
    ]
    for exc, words, buf in buffers:
        buf = tuple(c.arr(e) for e in buf) if isinstance(buf, tuple) else _like_kind(buf, c.kind)
        c.raises(exc, ["gradient", type(b).__name__, *words], lambda: a.gradient(_cube, b, x, out=buf))
    c.raises(TypeError, ["gradient", "out must be"],
             lambda: a.gradient(_cube, b, x, out=_like_kind(np.zeros(3), other)))


def _like_kind(a: np.ndarray, kind: str) -> Any:
    if kind == "torch":
        import torch

        return torch.from_numpy(a.copy())
    return a


def scalar_outputs(c: _Ctx) -> None:
    """A 0-d array or NumPy scalar output is a scalar everywhere; a Python float output too on
    black boxes, and elsewhere a clear error (it cannot be differentiated through)."""
    c.first_order()
    a, b, x = c.adopt, c.backend, c.arr(_X)
    c.close(a.gradient(_cube, b, x), 3 * _X**2, 1)
    as_float = lambda x: float(_to_numpy(_cube(x)))  # noqa: E731
    if any(isinstance(p, AutoFiniteDiff) and p.method == "complex" for p in _leaves([b])):
        raise _Skip("a complex step needs f to return complex values, which a Python float is not")
    if all(p.black_box for p in _leaves([b])):
        c.close(a.gradient(as_float, b, x), 3 * _X**2, 1)
    else:
        c.raises(BackendIncompatibilityError, ["gradient", type(_leaves([b])[0]).__name__],
                 lambda: a.gradient(as_float, b, x))


def integer_outputs(c: _Ctx) -> None:
    """Integer-valued outputs are refused: their derivatives are zero or undefined."""
    c.first_order()
    a, b, x = c.adopt, c.backend, c.arr(_X)
    def f(x: Any) -> Any:
        return _xp(x).astype(x > 0, _xp(x).int64)
    c.raises(TypeError, ["jacobian", "int", "integer-valued"], lambda: a.jacobian(f, b, x))


def inplace_misuse(c: _Ctx) -> None:
    """An in-place f(y, x) that returns its result, or writes nothing, is refused."""
    c.first_order()
    c.mutable()
    a, b, x = c.adopt, c.backend, c.arr(_X)
    y = _like_kind(np.zeros(3), c.kind)
    returns = lambda y, x: x * x  # noqa: E731
    nothing = lambda y, x: None  # noqa: E731
    if not all(p.supports_inplace for p in _leaves([b])):
        c.raises(BackendIncompatibilityError, ["in-place"], lambda: a.jacobian(returns, b, x, y=y))
        return
    c.raises(TypeError, ["jacobian", "returned", "write into y"], lambda: a.jacobian(returns, b, x, y=y))
    c.raises(ValueError, ["jacobian", "wrote nothing"], lambda: a.jacobian(nothing, b, x, y=y))


def empty_and_scalar_inputs(c: _Ctx) -> None:
    """x of shape (0,) and of shape () give results of the right shapes and values."""
    a, b = c.adopt, c.backend
    for xv in (np.zeros(0), np.array(0.7)):
        x, flat = c.arr(xv), xv.reshape(-1)
        c.close(a.hessian(_cube, b, x), np.diag(6 * flat), 2)
        if c.second_order_only:
            continue
        c.close(a.gradient(_cube, b, x), 3 * xv**2, 1)
        c.close(a.jacobian(_square, b, x), np.diag(2 * flat), 1)
        c.close(a.pushforward(_square, b, x, (x,))[0], 2 * xv * xv, 1)


MISUSE_CASES: dict[str, Callable[[_Ctx], None]] = {
    "wrong_operator_prep": wrong_operator_prep,
    "same_point_new_context": same_point_new_context,
    "same_point_mutated_x": same_point_mutated_x,
    "returned_arrays_reused": returned_arrays_reused,
    "bad_out_buffers": bad_out_buffers,
    "scalar_outputs": scalar_outputs,
    "integer_outputs": integer_outputs,
    "inplace_misuse": inplace_misuse,
    "empty_and_scalar_inputs": empty_and_scalar_inputs,
}


def check_misuse(backend: Any, cases: Iterable[str] | None = None,
                 input_kinds: Iterable[str] | None = None) -> CheckReport:
    """Run the misuse cases through ``backend``: each must give the right answer or a clear error.

    Parameters
    ----------
    backend : backend, SecondOrder or AutoSparse
    cases : iterable of str, optional
        Names from :data:`MISUSE_CASES` (default: all).
    input_kinds : iterable of str, optional
        ``"numpy"``, ``"jax"``, ``"torch"``; default: NumPy and the backend's own framework.

    Raises
    ------
    AssertionError
        Listing every case that returned a wrong result or an unclear error.

    Examples
    --------
    >>> import adopt
    >>> from adopt.testing import check_misuse
    >>> check_misuse(adopt.AutoFiniteDiff(), cases=["wrong_operator_prep"]).checks
    1
    """
    import adopt

    names = list(MISUSE_CASES) if cases is None else list(cases)
    kinds = list(input_kinds) if input_kinds is not None else _kinds(backend)
    failures, skipped, checks = [], [], 0
    for name in names:
        for kind in kinds:
            try:
                MISUSE_CASES[name](_Ctx(backend, kind, adopt))
                checks += 1
            except _Skip as e:
                skipped.append(f"{name} [{kind}]: {e}")
            except Exception as e:  # noqa: BLE001 - every failure is reported together
                failures.append(f"{name} [{kind}]: {type(e).__name__}: {e}")
    if failures:
        raise AssertionError(f"check_misuse({backend!r}): {len(failures)} case(s) failed\n" +
                             "\n".join(failures))
    return CheckReport(checks, tuple(skipped))


def _kinds(backend: Any) -> list[str]:
    frameworks = [p.framework for p in _leaves([backend]) if not p.black_box]
    return list(dict.fromkeys(["numpy", *frameworks]))


def _leaves(parts: Iterable[Any]) -> list[AbstractBackend]:
    """The plain backends inside wrappers (SecondOrder, AutoSparse, MixedMode)."""
    out: list[AbstractBackend] = []
    for p in parts:
        out.extend([p] if isinstance(p, AbstractBackend) else _leaves(p.parts()))
    return out
