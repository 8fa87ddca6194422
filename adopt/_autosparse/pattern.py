"""The sparsity pattern of a prep: detection at preparation, and the contexts it depends on."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from adopt._arrays import array_kind, converter, to_numpy
from adopt._contexts import Constant
from adopt._errors import PreparationMismatchError
from adopt._sparse.detectors import SparsityDetectionError, TracerSparsityDetector, canonical_pattern
from adopt.backends.wrappers import AutoSparse
from adopt.operators._common import Setup

__all__ = ["pattern", "guard"]


def _detector(backend: AutoSparse) -> Any:
    if backend.sparsity_detector is not None:
        return backend.sparsity_detector
    return TracerSparsityDetector()


def _framework(s: Setup) -> str:
    """The framework ``f`` is written for: the (inner) backend's, or the input's for a black box."""
    inner = s.parts.inner.backend
    if inner.black_box:
        kind = array_kind(s.given.x)
        return "numpy" if kind == "scalar" else kind
    return inner.framework


def _oop(f: Callable[..., Any], y: Any) -> Callable[..., Any]:
    """An in-place ``f(y, x, *c)`` as an out-of-place function for sparsity detection."""
    shape = tuple(y.shape)

    def g(x: Any, *c: Any) -> Any:
        buf = x.new_zeros(shape) if array_kind(x) == "torch" else np.zeros_like(x, shape=shape)
        f(buf, x, *c)
        return buf

    return g


def pattern(s: Setup, backend: AutoSparse, hessian: bool) -> sp.csr_array:
    """The Jacobian (or Hessian) pattern of the setup's ``f`` by the backend's detector."""
    det = _detector(backend)
    f = s.given.f if s.given.y is None else _oop(s.given.f, s.given.y)
    fw = _framework(s)
    detect = det.hessian_sparsity if hessian else det.jacobian_sparsity
    expected = (s.shapes.n, s.shapes.n) if hessian else (s.shapes.m, s.shapes.n)
    try:
        P = detect(f, s.given.x, *_as_framework(s.given.contexts, fw), framework=fw)
    except SparsityDetectionError as e:  # say which operator and backend met it
        raise SparsityDetectionError(f"{s.where}: {e}") from e
    P = canonical_pattern(P)
    if P.shape != expected:
        raise ValueError(f"{s.where} with {backend!r}: the sparsity detector returned a pattern of "
                         f"shape {P.shape} but the {'Hessian' if hessian else 'Jacobian'} is "
                         f"{expected}; pass a pattern of shape {expected}")
    return P


def _as_framework(contexts: tuple[Any, ...], fw: str) -> tuple[Any, ...]:
    """Array constants in ``f``'s framework, as the dense operators hand them to ``f``."""
    out = []
    for c in contexts:
        kind = array_kind(getattr(c, "value", None))
        if isinstance(c, Constant) and kind in ("numpy", "jax", "torch") and kind != fw:
            c = Constant(converter(kind, fw)(c.value))
        out.append(c)
    return tuple(out)


def _structural_contexts(contexts: tuple[Any, ...]) -> list[tuple[int, bool, np.ndarray]]:
    """Array constants shape the detected pattern: integer ones as indices (their values must
    not change), float ones through their zeros (a new nonzero where the preparation had a zero
    could add a structural nonzero). Each is checked per call of a strict sparse prep, except a
    float one without zeros at preparation (the multipliers of a Lagrangian prepared at ones),
    where no later value can add a nonzero."""
    out = []
    for i, c in enumerate(contexts):
        v = getattr(c, "value", None)
        if isinstance(c, Constant) and array_kind(v) in ("numpy", "jax", "torch"):
            a = to_numpy(v)
            if a.dtype.kind in "iub":
                out.append((i, True, a.copy()))
            elif not (nonzero := a != 0).all():
                out.append((i, False, nonzero))
    return out


def guard(run: Callable, s: Setup) -> Callable:
    """``run`` behind a check of the contexts that shape the pattern (strict preps)."""
    structural = _structural_contexts(s.given.contexts) if s.given.strict else []
    if not structural:
        return run

    def guarded(x: Any, T: tuple, cs: tuple) -> Any:
        for i, exact, ref in structural:
            a = to_numpy(cs[i].value)
            if exact and not np.array_equal(a, ref) or not exact and np.any((a != 0) & ~ref):
                raise PreparationMismatchError(
                    f"{s.operator} with {s.given.backend!r}: context {i} shapes the sparsity pattern "
                    f"({'its integer values' if exact else 'it has nonzeros where the preparation had zeros'}) "
                    "and changed since preparation; prepare again for the new value"
                )
        return run(x, T, cs)

    return guarded


