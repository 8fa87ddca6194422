"""Errors at the front door, table-driven: each names the operator, the backend, the offending value
and the fix (style guide, item 5). A case lists the exception type and the key words (regular
expressions) its message must contain, in any order."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import adopt
from adopt import (
    AutoFiniteDiff,
    AutoJAX,
    AutoTorch,
    BackendIncompatibilityError,
    Cache,
    Constant,
    PrecisionError,
    PreparationMismatchError,
    SecondOrder,
)
from adopt.testing import check_backend, inplace_scenarios

FD, JAX, TORCH = AutoFiniteDiff(), AutoJAX(), AutoTorch()
X = np.array([1.0, 2.0, 3.0])
XJ = jnp.asarray(X)  # float64: conftest enables x64 before this module is imported


def _vec(x):
    return x * 2


def _sumsq(x):
    return (x**2).sum()


def _jsumsq(x):
    return jnp.sum(x**2)


def _np_fn(x):
    return np.sum(np.sin(x))


def _inplace(y, x):
    y[...] = x * 2


def _with_c(x, c):
    return (x**2).sum()


def _jax_reuse(op, f, x, prep_args=(), call_args=None, f_call=None):
    """``op`` at ``x`` (with ``call_args``: tangents, contexts) through a strict AutoJAX prep
    made at the float64 jax.Array XJ (with ``prep_args``)."""
    family = op.removeprefix("value_and_").removeprefix("value_gradient_and_")

    def call():
        prep = getattr(adopt, f"prepare_{family}")(f, JAX, XJ, *prep_args)
        return getattr(adopt, op)(f_call or f, JAX, x, *(prep_args if call_args is None else call_args), prep=prep)

    return call


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[], Any]
    exc: type[BaseException]
    words: tuple[str, ...]  # regular expressions, all of which must occur in the message


def _all(words: tuple[str, ...]) -> str:
    return "(?s)" + "".join(f"(?=.*{w})" for w in words)


def _x64_off(call: Callable[[], Any]) -> Callable[[], Any]:
    def run():
        with jax.enable_x64(False):
            return call()
    return run


# ---- the cases (preps are made inside the calls: collection stays cheap) -------------------

CASES = [
    # f returns an array where a scalar is needed
    *(Case(f"gradient-nonscalar-output-{type(b).__name__}", lambda b=b: adopt.gradient(_vec, b, X),
           ValueError, ("gradient", type(b).__name__, r"shape \(3,\)", "jacobian"))
      for b in (JAX, TORCH, FD)),
    Case("hessian-nonscalar-output", lambda: adopt.hessian(_vec, JAX, X), ValueError,
         ("hessian", "AutoJAX", r"shape \(3,\)", "jacobian")),
    Case("hvp-nonscalar-output", lambda: adopt.hvp(_vec, TORCH, X, (X,)), ValueError,
         ("hvp", "AutoTorch", r"shape \(3,\)", "jacobian")),
    # x is not a scalar
    *(Case(f"derivative-nonscalar-x-{type(b).__name__}", lambda b=b: adopt.derivative(_vec, b, X),
           ValueError, ("derivative", type(b).__name__, r"shape \(3,\)", "pushforward|jacobian"))
      for b in (JAX, FD)),
    Case("second-derivative-nonscalar-x", lambda: adopt.second_derivative(_sumsq, FD, X), ValueError,
         ("second_derivative", "AutoFiniteDiff", r"shape \(3,\)", "hessian|hvp|pushforward")),
    # tangents
    Case("pushforward-tangent-shape", lambda: adopt.pushforward(_vec, JAX, X, (np.ones(2),)),
         ValueError, ("pushforward", "AutoJAX", r"tangent 0 has shape \(2,\)", r"\(3,\)", "like x")),
    Case("pullback-cotangent-shape", lambda: adopt.pullback(_vec, TORCH, X, (np.ones(4),)),
         ValueError, ("pullback", "AutoTorch", r"shape \(4,\)", r"\(3,\)", "like y")),
    Case("hvp-tangent-shape", lambda: adopt.hvp(_sumsq, FD, X, (np.ones(2),)), ValueError,
         ("hvp", "AutoFiniteDiff", r"shape \(2,\)", "like x")),
    Case("pushforward-bare-array-tangent", lambda: adopt.pushforward(_vec, TORCH, X, np.ones(3)),
         TypeError, ("pushforward", "AutoTorch", "ndarray", "tuple", r"\(v,\)")),
    Case("pullback-list-of-tangents", lambda: adopt.pullback(_vec, FD, X, [np.ones(3)]),
         TypeError, ("pullback", "AutoFiniteDiff", "list", "tuple")),
    # dtypes
    Case("integer-input-numpy", lambda: adopt.gradient(_sumsq, FD, np.array([1, 2])), TypeError,
         ("gradient", "AutoFiniteDiff", "int64", r"astype\(float\)")),
    Case("integer-input-torch", lambda: adopt.gradient(_sumsq, TORCH, torch.tensor([1, 2])),
         TypeError, ("gradient", "AutoTorch", "int64", "float")),
    Case("complex-input", lambda: adopt.gradient(_jsumsq, JAX, np.array([1j, 2.0])), TypeError,
         ("gradient", "AutoJAX", "complex128", "real")),
    Case("x64-off-numpy-input", _x64_off(lambda: adopt.gradient(_jsumsq, JAX, X)), PrecisionError,
         ("gradient", "AutoJAX", "float64", "jax_enable_x64")),
    Case("x64-off-jax-input", _x64_off(lambda: adopt.hessian(_jsumsq, JAX, XJ)),
         PrecisionError, ("hessian", "AutoJAX", "float64", "jax_enable_x64")),
    Case("x64-off-float64-constant", _x64_off(lambda: adopt.gradient(
        _with_c, JAX, X.astype(np.float32), Constant(X))), PrecisionError,
         ("gradient", "AutoJAX", "context 0", "float64", "jax_enable_x64")),
    # the function cannot run on the backend
    Case("numpy-function-on-jax", lambda: adopt.gradient(_np_fn, JAX, X), BackendIncompatibilityError,
         ("gradient", "AutoJAX", "NumPy", r"AutoFiniteDiff\(\)", "DifferentiateWith")),
    Case("numpy-function-on-torch", lambda: adopt.jacobian(np.sin, TORCH, X),
         BackendIncompatibilityError,
         ("jacobian", "AutoTorch", "NumPy", r"AutoFiniteDiff\(\)", "DifferentiateWith")),
    Case("inplace-function-on-jax", lambda: adopt.jacobian(_inplace, JAX, X, y=np.zeros(3)),
         BackendIncompatibilityError,
         ("jacobian", "AutoJAX", "in-place", "immutable", r"AutoTorch\(\)|AutoFiniteDiff\(\)")),
    Case("inplace-pushforward-on-jax", lambda: adopt.pushforward(_inplace, JAX, X, (X,), y=np.zeros(3)),
         BackendIncompatibilityError, ("pushforward", "AutoJAX", "in-place", r"return y")),
    # a prep reused with something changed
    Case("prep-changed-function", lambda: adopt.gradient(
        lambda x: (x**2).sum(), FD, X, prep=adopt.prepare_gradient(_sumsq, FD, X)),
         PreparationMismatchError, ("gradient", "AutoFiniteDiff", "not the function", "prepare again")),
    Case("prep-changed-backend", lambda: adopt.gradient(
        _jsumsq, AutoJAX(mode="forward"), X, prep=adopt.prepare_gradient(_jsumsq, JAX, X)),
         PreparationMismatchError, ("gradient", "mode='forward'", "mode=None", "prepare again")),
    Case("prep-changed-shape", lambda: adopt.gradient(
        _sumsq, TORCH, np.ones(4), prep=adopt.prepare_gradient(_sumsq, TORCH, X)),
         PreparationMismatchError, ("gradient", "AutoTorch", r"shape \(4,\)", r"\(3,\)", "prepare")),
    Case("prep-changed-dtype", lambda: adopt.gradient(
        _sumsq, FD, X.astype(np.float32), prep=adopt.prepare_gradient(_sumsq, FD, X)),
         PreparationMismatchError, ("gradient", "AutoFiniteDiff", "float32", "float64", "prepare")),
    Case("prep-changed-array-type", lambda: adopt.gradient(
        _sumsq, TORCH, torch.tensor(X), prep=adopt.prepare_gradient(_sumsq, TORCH, X)),
         PreparationMismatchError, ("gradient", "AutoTorch", "torch.Tensor", "numpy.ndarray", "prepare")),
    Case("prep-changed-context-type", lambda: adopt.gradient(
        _with_c, FD, X, Cache(X), prep=adopt.prepare_gradient(_with_c, FD, X, Constant(X))),
         PreparationMismatchError, ("gradient", "AutoFiniteDiff", "context 0", "Cache", "Constant")),
    Case("prep-changed-static-constant", lambda: adopt.hessian(
        _with_c, FD, X, Constant(4), prep=adopt.prepare_hessian(_with_c, FD, X, Constant(3))),
         PreparationMismatchError, ("hessian", "AutoFiniteDiff", "static", "from 3 to 4", "prepare again")),
    Case("prep-changed-number-of-tangents", lambda: adopt.pushforward(
        _vec, TORCH, X, (X, X), prep=adopt.prepare_pushforward(_vec, TORCH, X, (X,))),
         PreparationMismatchError, ("pushforward", "AutoTorch", "2 tangents", "for 1", "prepare again")),
    Case("prep-tangents-none", lambda: adopt.pushforward(
        _vec, FD, X, None, prep=adopt.prepare_pushforward(_vec, FD, X, (X,))),
         PreparationMismatchError, ("pushforward", "AutoFiniteDiff", "NoneType, not a tuple", r"\(v,\)")),
    Case("prep-tangents-list", lambda: adopt.pullback(
        _vec, TORCH, torch.tensor(X), [torch.tensor(X)],
        prep=adopt.prepare_pullback(_vec, TORCH, torch.tensor(X), (torch.tensor(X),))),
         PreparationMismatchError, ("pullback", "AutoTorch", "list, not a tuple", "tuple of 1")),
    Case("prep-y-given-to-an-out-of-place-prep", lambda: adopt.jacobian(
        _vec, FD, X, y=np.zeros(3), prep=adopt.prepare_jacobian(_vec, FD, X)),
         PreparationMismatchError, ("jacobian", "AutoFiniteDiff", "y was given", "without y")),
    Case("prep-y-missing-for-an-in-place-prep", lambda: adopt.jacobian(
        _inplace, FD, X, prep=adopt.prepare_jacobian(_inplace, FD, X, y=np.zeros(3))),
         PreparationMismatchError, ("jacobian", "AutoFiniteDiff", "y is missing", r"numpy.ndarray\[3\]", "y=")),
    Case("prep-changed-number-of-contexts", lambda: adopt.gradient(
        _with_c, FD, X, prep=adopt.prepare_gradient(_with_c, FD, X, Constant(X))),
         PreparationMismatchError, ("gradient", "AutoFiniteDiff", "0 contexts", "for 1")),
    # a strict prep of JAX arrays runs JAX's executable for exactly its arguments and is checked
    # while it computes: the same errors (tests/test_dense_fast_paths.py: and no retracing)
    Case("jax-prep-changed-shape", _jax_reuse("value_and_gradient", _jsumsq, jnp.ones(4)),
         PreparationMismatchError, ("value_and_gradient", "AutoJAX", r"shape \(4,\)", r"\(3,\)", "prepare")),
    Case("jax-prep-changed-dtype", _jax_reuse("hessian", _jsumsq, XJ.astype(jnp.float32)),
         PreparationMismatchError, ("hessian", "AutoJAX", "float32", "float64", "prepare")),
    Case("jax-prep-given-numpy", _jax_reuse("jacobian", _vec, X),
         PreparationMismatchError, ("jacobian", "AutoJAX", "numpy.ndarray", "jaxlib", "prepare")),
    Case("jax-prep-changed-function", _jax_reuse("gradient", _jsumsq, XJ, f_call=lambda x: jnp.sum(x**2)),
         PreparationMismatchError, ("gradient", "AutoJAX", "not the function", "prepare again")),
    Case("jax-prep-changed-tangent-shape", _jax_reuse("pullback", _vec, XJ, ((XJ,),), ((jnp.ones(2),),)),
         PreparationMismatchError, ("pullback", "AutoJAX", "tangent 0", r"shape \(2,\)", "prepare")),
    Case("jax-prep-changed-context-shape",
         _jax_reuse("gradient", _with_c, XJ, (Constant(XJ),), (Constant(jnp.ones(2)),)),
         PreparationMismatchError, ("gradient", "AutoJAX", "context 0", r"shape \(2,\)", "prepare")),
    Case("same-point-prep-at-another-x", lambda: adopt.pullback(
        _vec, TORCH, X + 1, (X,), prep=adopt.prepare_pullback_same_point(_vec, TORCH, X, (X,))),
         PreparationMismatchError, ("pullback", "AutoTorch", "same-point", "x has other values",
                                    "prepare_pullback")),
    # backends that cannot be combined, or used where they do not apply
    Case("second-order-jax-over-torch", lambda: adopt.prepare_hessian(_sumsq, SecondOrder(JAX, TORCH), X),
         BackendIncompatibilityError,
         ("hessian", "AutoJAX", "AutoTorch", r"AutoFiniteDiff\(\) as the outer")),
    Case("second-order-jax-over-finitediff",
         lambda: adopt.prepare_hvp(_sumsq, SecondOrder(JAX, FD), X, (X,)), BackendIncompatibilityError,
         ("hvp", "AutoJAX", "AutoFiniteDiff", "same framework")),
    Case("second-order-for-gradient", lambda: adopt.gradient(_sumsq, SecondOrder(FD, FD), X),
         TypeError, ("gradient", "SecondOrder", "second-order", "outer or inner backend")),
    # coloring settings, refused when made (not at the first preparation that uses them)
    Case("coloring-misspelt-order", lambda: adopt.GreedyColoring(order="dsatr"), ValueError,
         ("GreedyColoring", "'dsatr' is not an order", "'dsatur'", "non-empty tuple of them")),
    Case("coloring-unknown-orders-in-tuple", lambda: adopt.GreedyColoring(order=("natural", "lf", "sl")),
         ValueError, ("GreedyColoring", "'lf', 'sl' are not orders", "'largest_first'")),
    Case("coloring-order-list", lambda: adopt.GreedyColoring(order=["natural"]), ValueError,
         ("GreedyColoring", "a list", "pass a tuple")),
    Case("coloring-empty-order", lambda: adopt.GreedyColoring(order=()), ValueError,
         ("GreedyColoring", r"got order \(\)", "non-empty tuple")),
    Case("coloring-order-not-a-name", lambda: adopt.GreedyColoring(order=3), ValueError,
         ("GreedyColoring", "got order 3", "use one of")),
    Case("coloring-symmetric", lambda: adopt.GreedyColoring(symmetric="distance2"), ValueError,
         ("GreedyColoring", "'star' or 'acyclic'", "'distance2'")),
    Case("bare-context", lambda: adopt.gradient(_with_c, FD, X, np.ones(3)), TypeError,
         ("gradient", "AutoFiniteDiff", "bare ndarray", r"Constant\(value\)")),
    Case("out-jax-array", lambda: adopt.gradient(_jsumsq, JAX, XJ, out=jnp.zeros(3)), TypeError,
         ("gradient", "jax.Array", "immutable", "returned value")),
    Case("out-jax-arrays-tuple", lambda: adopt.value_and_pushforward(
        _vec, JAX, XJ, (XJ,), out=(jnp.zeros(3),)), TypeError,
         ("pushforward", "jax.Array", "returned value")),
]

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_error(case: Case):
    with pytest.raises(case.exc, match=_all(case.words)):
        case.call()


def test_error_table_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# ---- precision: x64 off is an error for float64, never a silent downcast ----------------------

def test_float32_with_x64_off_stays_float32(x64_off):
    g = adopt.gradient(_jsumsq, JAX, jnp.ones(3, dtype=jnp.float32))
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(g), 2.0)


def test_x64_is_restored_after_x64_off_tests():
    assert jax.config.jax_enable_x64


# ---- in-place functions on AutoJAX: check_backend skips them, the operators raise ------------

def test_inplace_scenarios_raise_on_jax():
    for sc in inplace_scenarios():
        assert sc.inplace
        report = check_backend(JAX, [sc])
        assert report.checks == 0 and "supports_inplace=False" in report.skipped[0]
        args = (sc.tangents,) if sc.tangents is not None else ()
        op = getattr(adopt, sc.operator)
        with pytest.raises(BackendIncompatibilityError, match=_all(("AutoJAX", "in-place"))):
            op(sc.f, JAX, sc.x, *args, y=np.zeros(sc.y_shape))


# ---- a missing optional framework ------------------------------------------------------------

_MISSING = """
import sys
sys.modules[{module!r}] = None  # as if it were not installed
import numpy as np
import adopt, adopt.testing  # neither imports a framework
assert not adopt.check_available(adopt.{backend}())
for call in (lambda: adopt.{backend}().impl(),
             lambda: adopt.gradient(lambda x: (x**2).sum(), adopt.{backend}(), np.ones(2))):
    try:
        call()
    except adopt.MissingDependencyError as e:
        assert isinstance(e, ImportError)
        print("RAISED", e)
    else:
        print("NOT RAISED")
"""


@pytest.mark.parametrize("module,backend", [("jax", "AutoJAX"), ("torch", "AutoTorch")])
def test_missing_framework(module, backend):
    code = textwrap.dedent(_MISSING.format(module=module, backend=backend))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("RAISED") for line in lines), proc.stdout
    for line in lines:
        assert re.search(_all((backend, module, "pip install")), line), line
