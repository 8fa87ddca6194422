"""Moved to :mod:`adopt._sparse.detection.numpy`: delete this module (and ``detect_jaxpr``,
``detect_torch``) once ``detectors.py`` and ``_differentiate_with`` import from there."""

from functools import partial

from adopt._sparse.detection.numpy import run as _run  # noqa: F401 - _differentiate_with
from adopt._sparse.detection.numpy import trace


def _pattern(trace, hessian, f, x, contexts=()):
    tr, rows = trace(f, x, contexts, hessian=hessian)
    return tr.pattern(rows)


jacobian_sparsity = partial(_pattern, trace, False)
hessian_sparsity = partial(_pattern, trace, True)
