"""check_backend: run scenarios through a backend and compare against their closed-form answers.

Tolerances (elementwise ``|got - want| <= atol + rtol * |want|``, with ``rtol = atol``)
--------------------------------------------------------------------------------------

=====================================  ===========  ===========
backend                                first order  second order
=====================================  ===========  ===========
AutoJAX, AutoTorch, SecondOrder of AD  1e-8         1e-8
AutoFiniteDiff(method="central")       1e-6         1e-5
AutoFiniteDiff(method="forward")       1e-4         1e-3
AutoFiniteDiff(method="complex")       1e-11        1e-5
=====================================  ===========  ===========

A second-order result takes the loosest entry of the finite-difference parts of the
composition (a plain AutoFiniteDiff nests itself, complex steps inside central differences):
``SecondOrder(AutoFiniteDiff(), AutoJAX())`` is checked at 1e-5. The first-order results of a
second-order operator (the gradient of ``value_gradient_and_hessian``, the derivative of
``value_derivative_and_second_derivative``) come from the inner backend and are checked at its
first-order tolerance. The value ``f(x)`` is checked at 1e-12 on every backend.
``check_backend(..., rtol=..., atol=...)`` overrides every derivative tolerance.

The documented accuracy of AutoFiniteDiff (first order central ~1e-9, forward ~1e-7, complex
~1e-14; second order central ~1e-7, forward ~1e-4) leaves one to two orders of margin on these
well-scaled scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from adopt._arrays import to_numpy as _to_numpy
from adopt._contexts import Cache, Constant
from adopt.backends.wrappers import SecondOrder, default_second_order
from adopt.backends import AbstractBackend, AutoFiniteDiff
from adopt.operators import derivative as _der
from adopt.operators import gradient as _grad
from adopt.operators import hessian as _hess
from adopt.operators import hvp as _hvp
from adopt.operators import jacobian as _jac
from adopt.operators import pullback as _pb
from adopt.operators import pushforward as _pf
from adopt.operators import second_derivative as _sd
from adopt.testing._scenarios import Scenario

__all__ = ["check_backend", "CheckReport", "default_tolerance", "VARIANTS", "PREPARATIONS",
           "INPUT_KINDS"]

VARIANTS = ("plain", "out", "value", "value_out")
PREPARATIONS = ("none", "prepared", "prepared_twice")
INPUT_KINDS = ("numpy", "jax", "torch", "float")

_VALUE_TOL = 1e-12
_AD_TOL = 1e-8
_FD_FIRST = {"central": 1e-6, "forward": 1e-4, "complex": 1e-11}
_FD_SECOND = {"central": 1e-5, "forward": 1e-3, "complex": 1e-5}


@dataclass(frozen=True)
class _Op:
    plain: Callable[..., Any]
    value: Callable[..., Any]
    prepare: Callable[..., Any]
    keys: tuple[str, ...]  # what the value form returns, in order


_OPS = {
    "pushforward": _Op(_pf.pushforward, _pf.value_and_pushforward, _pf.prepare_pushforward,
                       ("value", "pushforward")),
    "pullback": _Op(_pb.pullback, _pb.value_and_pullback, _pb.prepare_pullback,
                    ("value", "pullback")),
    "derivative": _Op(_der.derivative, _der.value_and_derivative, _der.prepare_derivative,
                      ("value", "derivative")),
    "gradient": _Op(_grad.gradient, _grad.value_and_gradient, _grad.prepare_gradient,
                    ("value", "gradient")),
    "jacobian": _Op(_jac.jacobian, _jac.value_and_jacobian, _jac.prepare_jacobian,
                    ("value", "jacobian")),
    "second_derivative": _Op(_sd.second_derivative, _sd.value_derivative_and_second_derivative,
                             _sd.prepare_second_derivative,
                             ("value", "derivative", "second_derivative")),
    "hvp": _Op(_hvp.hvp, _hvp.gradient_and_hvp, _hvp.prepare_hvp, ("gradient", "hvp")),
    "hessian": _Op(_hess.hessian, _hess.value_gradient_and_hessian, _hess.prepare_hessian,
                   ("value", "gradient", "hessian")),
}
_ORDER = {"value": 0, "pushforward": 1, "pullback": 1, "derivative": 1, "gradient": 1,
          "jacobian": 1, "second_derivative": 2, "hvp": 2, "hessian": 2}


# ---- tolerances ------------------------------------------------------------------------------

def _first_order_tol(b: AbstractBackend) -> float:
    return _FD_FIRST[b.method] if isinstance(b, AutoFiniteDiff) else _AD_TOL


def default_tolerance(backend: Any, order: int, operator_order: int | None = None) -> float:
    """The default ``rtol`` (= ``atol``) for results of ``order`` 0, 1 or 2 (see the table above).

    ``operator_order`` (default: ``order``) is the order of the operator that produced the
    result: a first-order result of a second-order operator (a gradient next to a Hessian) comes
    from the inner backend.

    Examples
    --------
    >>> import adopt
    >>> from adopt.testing import default_tolerance
    >>> default_tolerance(adopt.AutoFiniteDiff(), 1), default_tolerance(adopt.AutoFiniteDiff(), 2)
    (1e-06, 1e-05)
    """
    if order == 0:
        return _VALUE_TOL
    if (operator_order or order) == 1 and not isinstance(backend, SecondOrder):
        return _first_order_tol(backend)
    so = backend if isinstance(backend, SecondOrder) else default_second_order(backend)
    if order == 1:
        return _first_order_tol(so.inner)
    fd = [_FD_SECOND[p.method] for p in (so.outer, so.inner) if isinstance(p, AutoFiniteDiff)]
    return max(fd, default=_AD_TOL)


# ---- array kinds -----------------------------------------------------------------------------

def _frameworks(backend: Any) -> list[str]:
    parts = (backend.outer, backend.inner) if isinstance(backend, SecondOrder) else (backend,)
    return [p.framework for p in parts if not p.black_box]


def _default_kinds(backend: Any) -> tuple[str, ...]:
    kinds = dict.fromkeys(_frameworks(backend) + ["numpy"])
    return tuple(kinds)


def _convert(a: Any, kind: str) -> Any:
    """A NumPy array in the array type ``kind`` (a copy, float64 kept)."""
    if kind == "numpy":
        return np.array(a, dtype=np.float64)
    if kind == "float":
        return float(a) if np.ndim(a) == 0 else np.array(a, dtype=np.float64)
    if kind == "jax":
        import jax
        import jax.numpy as jnp

        if not jax.config.jax_enable_x64:
            raise RuntimeError("check_backend with jax arrays needs float64: call "
                               "jax.config.update('jax_enable_x64', True) first")
        return jnp.asarray(np.asarray(a, dtype=np.float64))
    if kind == "torch":
        import torch

        return torch.tensor(np.asarray(a, dtype=np.float64))
    raise ValueError(f"check_backend: unknown input kind {kind!r}; use one of {INPUT_KINDS}")


def _convert_context(c: Any, kind: str) -> Any:
    if isinstance(c, Cache):
        return Cache(_convert(c.value, "numpy" if kind == "float" else kind))
    if isinstance(c.value, np.ndarray):
        return Constant(_convert(c.value, "numpy" if kind == "float" else kind))
    return c


def _buffer(want: Any, kind: str) -> Any:
    """A NaN-filled buffer shaped like ``want`` (or a tuple of them) in the array type ``kind``."""
    if isinstance(want, tuple):
        return tuple(_buffer(w, kind) for w in want)
    if kind == "torch":
        import torch

        return torch.full(tuple(np.shape(want)), float("nan"), dtype=torch.float64)
    return np.full(np.shape(want), np.nan)


def _is_kind(a: Any, kind: str) -> bool:
    if kind in ("numpy", "float"):
        return isinstance(a, np.ndarray) or isinstance(a, np.generic) and np.ndim(a) == 0
    if kind == "jax":
        import jax

        return isinstance(a, jax.Array)
    import torch

    return isinstance(a, torch.Tensor)


def _dtype(a: Any) -> str:
    return str(getattr(a, "dtype", type(a).__name__)).replace("torch.", "")


# ---- checking one call ------------------------------------------------------------------------

class _Mismatch(Exception):
    pass


@dataclass(frozen=True)
class _Inputs:
    kind: str
    x: Any
    prep_x: Any
    tangents: tuple | None
    prep_tangents: tuple | None
    contexts: tuple
    prep_contexts: tuple


def _inputs(sc: Scenario, kind: str) -> _Inputs:
    def tangents(ts: tuple | None) -> tuple | None:
        return None if ts is None else tuple(_convert(t, kind) for t in ts)

    return _Inputs(kind, _convert(sc.x, kind), _convert(sc.prep_x, kind), tangents(sc.tangents),
                   tangents(sc.prep_tangents),
                   tuple(_convert_context(c, kind) for c in sc.contexts),
                   tuple(_convert_context(c, kind) for c in sc.prep_contexts))


def _compare(key: str, got: Any, want: Any, kind: str, rtol: float, atol: float) -> int:
    """Compare one result (or a tuple of them); return the number of arrays checked."""
    if isinstance(want, tuple):
        if not isinstance(got, tuple) or len(got) != len(want):
            raise _Mismatch(f"{key}: expected a tuple of {len(want)} arrays, got "
                            f"{type(got).__name__}{'' if not isinstance(got, tuple) else f' of {len(got)}'}")
        return sum(_compare(f"{key}[{i}]", g, w, kind, rtol, atol) for i, (g, w) in enumerate(zip(got, want)))
    if not _is_kind(got, kind):
        raise _Mismatch(f"{key}: {'NumPy' if kind == 'float' else kind} input must give "
                        f"{'NumPy' if kind == 'float' else kind} output; got "
                        f"{type(got).__module__}.{type(got).__name__}")
    if _dtype(got) != "float64":
        raise _Mismatch(f"{key}: float64 input must give float64 output; got {_dtype(got)}")
    if tuple(np.shape(got)) != np.shape(want):
        raise _Mismatch(f"{key}: expected shape {np.shape(want)}, got {tuple(np.shape(got))}")
    g = _to_numpy(got)
    if not np.allclose(g, want, rtol=rtol, atol=atol, equal_nan=False):
        err = np.abs(g - want)
        worst = "NaN in result" if np.isnan(g).any() else f"max abs error {np.max(err):.3g}"
        fmt = lambda a: np.array2string(np.asarray(a), precision=10)  # noqa: E731
        raise _Mismatch(f"{key}: values differ beyond rtol={rtol:g}, atol={atol:g} ({worst})\n"
                        f"  expected {fmt(want)}\n  got      {fmt(g)}")
    return 1


def _same_buffers(key: str, got: Any, buf: Any) -> None:
    if isinstance(buf, tuple):
        if not isinstance(got, tuple) or len(got) != len(buf):
            raise _Mismatch(f"{key}: out= was a tuple of {len(buf)} buffers; got {type(got).__name__}")
        for i, (g, b) in enumerate(zip(got, buf)):
            _same_buffers(f"{key}[{i}]", g, b)
    elif got is not buf:
        raise _Mismatch(f"{key}: an out= call must return the very buffer it was given, got a "
                        f"different {type(got).__name__}")


@dataclass
class _Runner:
    backend: Any
    rtol: float | None
    atol: float | None
    checks: int = 0
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def tol(self, sc: Scenario, key: str) -> tuple[float, float]:
        order = _ORDER[key]
        default = default_tolerance(self.backend, order, sc.order)
        if order == 0:
            return default, default
        return (self.rtol if self.rtol is not None else default,
                self.atol if self.atol is not None else default)

    def call(self, sc: Scenario, inp: _Inputs, variant: str, prep: Any) -> None:
        op = _OPS[sc.operator]
        value = variant.startswith("value")
        out_keys = tuple(k for k in op.keys if k != "value") if value else (sc.operator,)
        bufs = None
        if variant.endswith("out"):
            bufs = tuple(_buffer(sc.reference[k], inp.kind) for k in out_keys)
        kw: dict[str, Any] = {}
        if prep is not None:
            kw["prep"] = prep
        if bufs is not None:
            kw["out"] = bufs[0] if len(bufs) == 1 else bufs
        y = _buffer(sc.reference["value"], inp.kind) if sc.inplace else None
        if y is not None:
            kw["y"] = y
        args = (sc.f, self.backend, inp.x) + (() if inp.tangents is None else (inp.tangents,))
        res = (op.value if value else op.plain)(*args, *inp.contexts, **kw)
        got = dict(zip(op.keys, res)) if value else {sc.operator: res}
        for k, w in sc.reference.items():
            if k in got:
                self.checks += _compare(k, got[k], w, inp.kind, *self.tol(sc, k))
        if bufs is not None:
            for k, b in zip(out_keys, bufs):
                _same_buffers(k, got[k], b)
        if y is not None:
            self.checks += _compare("y (in-place output)", y, sc.reference["value"], inp.kind,
                                    _VALUE_TOL, _VALUE_TOL)
            if value and got["value"] is not y:
                raise _Mismatch("value: an in-place call must return its y buffer as the value")

    def run(self, sc: Scenario, kind: str, variants: Sequence[str], modes: Sequence[str]) -> None:
        inp = _inputs(sc, kind)
        for variant in variants:
            if variant.endswith("out") and kind == "jax":
                self.skipped.append(f"{sc.name} [{kind}] {variant}: jax.Array cannot be an out= buffer")
                continue
            if "none" in modes:
                self.guard(sc, kind, variant, "none", lambda v=variant: self.call(sc, inp, v, None))
        if "prepared" in modes or "prepared_twice" in modes:
            self.prepared(sc, inp, variants, modes)
        self.guard(sc, kind, "-", "-", lambda: self.unchanged(sc, inp))

    def prepared(self, sc: Scenario, inp: _Inputs, variants: Sequence[str], modes: Sequence[str]) -> None:
        """One prep at the preparation point; each variant called once, or twice with "prepared_twice"."""
        op = _OPS[sc.operator]
        kw = {"y": _buffer(sc.reference["value"], inp.kind)} if sc.inplace else {}
        args = (sc.f, self.backend, inp.prep_x) + (() if inp.prep_tangents is None else (inp.prep_tangents,))
        first = "prepared" if "prepared" in modes else "prepared_twice"
        prep = self.guard(sc, inp.kind, "prepare", first,
                          lambda: op.prepare(*args, *inp.prep_contexts, **kw), ok=True)
        if prep is None:
            return
        for variant in variants:
            if variant.endswith("out") and inp.kind == "jax":
                continue
            call = lambda v=variant: self.call(sc, inp, v, prep)  # noqa: E731
            if self.guard(sc, inp.kind, variant, first, call) and "prepared_twice" in modes:
                self.guard(sc, inp.kind, variant, "prepared_twice", call)

    def unchanged(self, sc: Scenario, inp: _Inputs) -> None:
        """No call may write into x, the tangents or the contexts' values."""
        ts = (inp.tangents or ()) + (inp.prep_tangents or ())
        want = (sc.tangents or ()) + (sc.prep_tangents or ())
        pairs = [("x", inp.x, sc.x), ("prep_x", inp.prep_x, sc.prep_x)]
        pairs += [(f"tangent {i}", t, w) for i, (t, w) in enumerate(zip(ts, want))]
        pairs += [(f"context {i}", c.value, w.value) for i, (c, w) in
                  enumerate(zip(inp.contexts, sc.contexts)) if isinstance(c, Constant)
                  and isinstance(w.value, np.ndarray)]
        for name, got, w in pairs:
            if not np.array_equal(_to_numpy(got), w):
                raise _Mismatch(f"{name} was modified by a call")
            self.checks += 1

    def guard(self, sc: Scenario, kind: str, variant: str, mode: str, fn: Callable[[], Any],
              ok: bool = False) -> Any:
        """Run ``fn``; record a failure (with where it happened) instead of raising."""
        try:
            res = fn()
        except _Mismatch as e:
            self.fail(sc, kind, variant, mode, str(e))
            return None
        except Exception as e:  # noqa: BLE001 - an error raised by adopt is a failure to report
            self.fail(sc, kind, variant, mode, f"raised {type(e).__name__}: {e}")
            return None
        return res if ok else True

    def fail(self, sc: Scenario, kind: str, variant: str, mode: str, msg: str) -> None:
        self.failures.append((sc.name, kind, msg, f"{_op_name(sc.operator, variant)} "
                                                  f"(variant {variant}, preparation {mode})"))

    def report(self) -> str:
        """Failures grouped by scenario, input kind and message, naming every call that failed."""
        groups: dict[tuple[str, str, str], list[str]] = {}
        for name, kind, msg, where in self.failures:
            groups.setdefault((name, kind, msg), []).append(where)
        lines = [f"scenario {name!r} | input {kind} | backend {self.backend!r}\n  {msg}\n"
                 f"  failed in: {'; '.join(wheres)}" for (name, kind, msg), wheres in groups.items()]
        more = f"\n... and {len(lines) - 20} more" if len(lines) > 20 else ""
        return "\n".join(lines[:20]) + more


def _op_name(operator: str, variant: str) -> str:
    if variant == "prepare":
        return _OPS[operator].prepare.__name__
    if variant.startswith("value"):
        return _OPS[operator].value.__name__
    return operator


def _skip_reason(backend: Any, sc: Scenario, kind: str) -> str | None:
    if isinstance(backend, SecondOrder) and sc.order == 1:
        return "SecondOrder serves second-order operators only"
    if sc.inplace and not _parts_support_inplace(backend):
        return f"{type(backend).__name__} does not support in-place functions (supports_inplace=False)"
    if sc.inplace and kind == "jax":
        return "an in-place function cannot write into a jax.Array"
    if kind == "float" and np.ndim(sc.x) != 0:
        return "a Python float input needs a scalar x"
    return None


def _parts_support_inplace(backend: Any) -> bool:
    parts = (backend.outer, backend.inner) if isinstance(backend, SecondOrder) else (backend,)
    return all(p.supports_inplace for p in parts)


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_backend` did: the number of arrays checked and what it skipped (and why)."""

    checks: int
    skipped: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.checks} checks passed, {len(self.skipped)} skipped"


def check_backend(backend: Any, scenarios: Scenario | Iterable[Scenario], *,
                  rtol: float | None = None, atol: float | None = None,
                  variants: Sequence[str] = VARIANTS, preparation: Sequence[str] = PREPARATIONS,
                  input_kinds: Sequence[str] | None = None) -> CheckReport:
    """Run each scenario through ``backend`` and compare every result with its reference.

    For each scenario, input kind, operator variant (``"plain"``, ``"out"``, ``"value"``,
    ``"value_out"``) and preparation mode (``"none"``: unprepared; ``"prepared"``: prepared at
    ``prep_x`` with the ``prep_contexts`` and executed at ``x`` with the ``contexts``;
    ``"prepared_twice"``: the same prep called a second time), checks the values, the array type
    (NumPy in gives NumPy out), the dtype (float64), the shapes, that ``out=`` calls return the
    very buffers they were given, that an in-place ``f`` fills ``y``, and that no input was
    modified.

    Parameters
    ----------
    backend : AbstractBackend or SecondOrder
        The backend under test.
    scenarios : Scenario or iterable of Scenario
        E.g. :func:`default_scenarios` or :func:`all_scenarios`.
    rtol, atol : float, optional
        Override the default tolerances of the derivatives (see the module docstring).
    variants, preparation : sequence of str
        Subsets of the variants and preparation modes to run.
    input_kinds : sequence of str, optional
        Array types to feed: ``"numpy"``, ``"jax"``, ``"torch"``, ``"float"`` (a Python float x,
        scalar scenarios only). Default: the backend's own framework, and NumPy.

    Returns
    -------
    CheckReport
        The number of arrays checked and the skipped combinations with reasons: in-place
        scenarios on a backend without ``supports_inplace`` (AutoJAX) or with jax arrays,
        first-order scenarios on a :class:`~adopt.SecondOrder`, ``out=`` variants with jax
        arrays (immutable).

    Raises
    ------
    AssertionError
        Listing every failed check, each naming the scenario, operator, variant, preparation
        mode, input kind and backend.

    Examples
    --------
    >>> import adopt
    >>> from adopt.testing import check_backend, default_scenarios
    >>> report = check_backend(adopt.AutoFiniteDiff(), default_scenarios()[:2])
    >>> report.checks > 0
    True
    """
    if isinstance(scenarios, Scenario):
        scenarios = [scenarios]
    _validate(variants, VARIANTS, "variant")
    _validate(preparation, PREPARATIONS, "preparation mode")
    kinds = tuple(input_kinds) if input_kinds is not None else _default_kinds(backend)
    _validate(kinds, INPUT_KINDS, "input kind")
    runner = _Runner(backend, rtol, atol)
    for sc in scenarios:
        for kind in kinds:
            reason = _skip_reason(backend, sc, kind)
            if reason is not None:
                runner.skipped.append(f"{sc.name} [{kind}]: {reason}")
                continue
            runner.run(sc, kind, variants, preparation)
    if runner.failures:
        raise AssertionError(f"check_backend({backend!r}): {len(runner.failures)} failed check(s) "
                             f"({runner.checks} passed)\n{runner.report()}")
    return CheckReport(runner.checks, tuple(runner.skipped))


def _validate(given: Sequence[str], allowed: tuple[str, ...], what: str) -> None:
    for g in given:
        if g not in allowed:
            raise ValueError(f"check_backend: unknown {what} {g!r}; use one of {allowed}")
