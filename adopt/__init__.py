"""adopt: one differentiation interface over JAX, PyTorch and NumPy finite differences.

Write ``f`` once, pick a backend, get gradients, Jacobians, Hessians, JVPs, VJPs and HVPs,
prepared once and cheap to call.

Examples
--------
>>> import numpy as np, adopt
>>> adopt.gradient(lambda x: (x**2).sum(), adopt.AutoFiniteDiff(), np.array([1.0, 2.0])).round(6)
array([2., 4.])
"""

from adopt._contexts import Cache, Constant
from adopt._errors import (
    AdoptError,
    BackendIncompatibilityError,
    MissingDependencyError,
    PrecisionError,
    PreparationMismatchError,
)
from adopt._differentiate_with import DifferentiateWith
from adopt._limits import DenseSizeError, DenseSizeWarning, set_dense_warning
from adopt._prep import Prep
from adopt._autosparse import DenseSparsityDetector, column_colors, ncolors, row_colors, sparsity_pattern
from adopt.backends.wrappers import AutoSparse, GreedyColoring, MixedMode, SecondOrder
from adopt._sparse.detectors import (
    ConservativeSparsityWarning,
    KnownSparsityDetector,
    SparsityDetectionError,
    TracerSparsityDetector,
)
from adopt.backends import AbstractBackend, AutoFiniteDiff, AutoJAX, AutoTorch, check_available
from adopt.operators.derivative import derivative, prepare_derivative, value_and_derivative
from adopt.operators.gradient import gradient, prepare_gradient, value_and_gradient
from adopt.operators.hessian import hessian, prepare_hessian, value_gradient_and_hessian
from adopt.operators.hvp import gradient_and_hvp, hvp, prepare_hvp, prepare_hvp_same_point
from adopt.operators.jacobian import jacobian, prepare_jacobian, value_and_jacobian
from adopt.operators.pullback import (
    prepare_pullback,
    prepare_pullback_same_point,
    pullback,
    value_and_pullback,
)
from adopt.operators.pushforward import (
    prepare_pushforward,
    prepare_pushforward_same_point,
    pushforward,
    value_and_pushforward,
)
from adopt.operators.second_derivative import (
    prepare_second_derivative,
    second_derivative,
    value_derivative_and_second_derivative,
)

__version__ = "0.1.0"

__all__ = [
    "AbstractBackend", "AutoFiniteDiff", "AutoJAX", "AutoTorch", "SecondOrder", "check_available",
    "Constant", "Cache", "Prep", "DifferentiateWith",
    "AutoSparse", "MixedMode", "GreedyColoring", "TracerSparsityDetector", "DenseSparsityDetector",
    "KnownSparsityDetector", "SparsityDetectionError", "ConservativeSparsityWarning", "sparsity_pattern", "ncolors", "column_colors", "row_colors",
    "AdoptError", "BackendIncompatibilityError", "MissingDependencyError", "PrecisionError",
    "PreparationMismatchError", "DenseSizeError", "DenseSizeWarning", "set_dense_warning",
    "pushforward", "value_and_pushforward", "prepare_pushforward", "prepare_pushforward_same_point",
    "pullback", "value_and_pullback", "prepare_pullback", "prepare_pullback_same_point",
    "derivative", "value_and_derivative", "prepare_derivative",
    "gradient", "value_and_gradient", "prepare_gradient",
    "jacobian", "value_and_jacobian", "prepare_jacobian",
    "second_derivative", "value_derivative_and_second_derivative", "prepare_second_derivative",
    "hvp", "gradient_and_hvp", "prepare_hvp", "prepare_hvp_same_point",
    "hessian", "value_gradient_and_hessian", "prepare_hessian",
]
