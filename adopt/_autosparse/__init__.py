"""AutoSparse's operators: sparse Jacobians and Hessians built on adopt's dense operators.

The layers: :mod:`adopt.backends` (descriptors, implementations, wrappers) <- :mod:`adopt.operators`
(every dense operator) <- this package (sparse Jacobians and Hessians, DenseSparsityDetector).
The algorithms it uses — sparsity detection by tracing, and graph coloring — are in
:mod:`adopt._sparse`, which imports nothing from the operators. The operators reach this package
through :func:`adopt.operators._common.register`, not by import.

Modules: ``pattern`` (detection at preparation), ``jacobian`` (column, row and mixed-mode
colorings), ``hessian`` (star and acyclic colorings): each colors the pattern with
:func:`adopt._sparse.coloring.color` and uses the result's seeds, index maps and decompression;
``ops`` (the decompression's array operations in JAX and PyTorch, native arrays made once),
``prepare`` (the compiled or captured call; index maps as arguments, a Jacobian's small ones as
constants), ``shard`` (the colors over ``jax.devices()``), ``formats`` (the output types),
``info`` (what a prep knows, and its public readers), ``dense_detector``.
"""

from adopt._autosparse.dense_detector import DenseSparsityDetector
from adopt._autosparse.hessian import prepare_sparse_hessian
from adopt._autosparse.info import SparseInfo, column_colors, ncolors, row_colors, sparsity_pattern
from adopt._autosparse.jacobian import prepare_sparse_jacobian
from adopt.backends.wrappers import AutoSparse
from adopt.operators._common import register

__all__ = ["DenseSparsityDetector", "SparseInfo", "sparsity_pattern", "ncolors", "column_colors",
           "row_colors"]

register("jacobian", AutoSparse)(prepare_sparse_jacobian)
register("hessian", AutoSparse)(prepare_sparse_hessian)
