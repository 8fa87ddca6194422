"""Graph coloring for sparse Jacobians and Hessians, and the decompression of their products.

Everything here is NumPy/SciPy work done once, at preparation (with the greedy loops compiled
by numba when it is installed). :func:`color` turns a sparsity pattern into a result that gives
the seed tangents of the compressed products and the decompression of those products into the
nonzeros, in the layout of the operators (tangents on the leading axis).

Layout (as SparseMatrixColorings.jl ``src/``):

* ``_pattern``: patterns and colors; ``_graph``: the graphs that are colored;
* ``_orders``: vertex orders and the lower bounds that end a search over orders;
* ``_kernels`` (the loops) and ``_loops`` (numba or plain Python); ``_greedy``: partial
  distance-2, star and acyclic colorings; ``_bicoloring``;
* ``_check``: validity of colorings; ``_results``: results and direct decompression;
  ``_substitution``: acyclic results, decompression by substitution in closed form;
* ``_api``: :func:`color`.

.. [GMP05] Gebremedhin, Manne, Pothen. What color is your Jacobian? Graph coloring for computing
   derivatives. SIAM Review 47(4), 2005.
.. [GTMP07] Gebremedhin, Tarafdar, Manne, Pothen. New acyclic and star coloring algorithms with
   application to computing Hessians. SISC 29(3), 2007.
.. [GTPW09] Gebremedhin, Tarafdar, Pothen, Walther. Efficient computation of sparse Hessians
   using coloring and automatic differentiation. INFORMS J. Computing 21(2), 2009.
.. [Brelaz79] Brélaz. New methods to color the vertices of a graph. Communications of the ACM
   22(4), 1979.
.. [CV98] Coleman, Verma. The efficient computation of sparse Jacobian matrices using automatic
   differentiation. SISC 19(4), 1998.
"""

from ._api import DEFAULT_ORDERS, KINDS, Coloring, color
from ._bicoloring import Bicoloring
from ._check import (check_acyclic_coloring, check_bicoloring, check_column_coloring,
                     check_row_coloring, check_star_coloring)
from ._orders import ORDERS, resolve
from ._results import NUMPY_OPS, DirectColoring, DirectMaps, NumpyOps, Ops, one_hot
from ._substitution import SubstitutionColoring, SubstitutionMaps

__all__ = [
    "color", "KINDS", "ORDERS", "DEFAULT_ORDERS", "resolve", "Coloring",
    "DirectColoring", "SubstitutionColoring", "Bicoloring", "DirectMaps", "SubstitutionMaps",
    "Ops", "NumpyOps", "NUMPY_OPS", "one_hot",
    "check_column_coloring", "check_row_coloring", "check_star_coloring",
    "check_acyclic_coloring", "check_bicoloring",
]
