"""Moved to :mod:`adopt._sparse.detection.jax` (see ``detect_numpy``)."""

from functools import partial

from adopt._sparse.detect_numpy import _pattern
from adopt._sparse.detection.jax import trace

jacobian_sparsity = partial(_pattern, trace, False)
hessian_sparsity = partial(_pattern, trace, True)
