"""Reference algorithms written on adopt's public operators: short, readable, each citing its source.

Each prepares its operators once per solve (JFNK: once per Newton step, at the point) and
reuses the preps every iteration; extra arguments reach ``f`` as ``adopt.Constant`` contexts.

==========================  =====================================================================
algorithm                   adopt operators
==========================  =====================================================================
levenberg_marquardt         jacobian (dense); pushforward + pullback (``matrix_free=True``)
gauss_newton                jacobian (dense); pushforward + pullback (``matrix_free=True``)
newton_krylov               pushforward (same-point prep per Newton step)
newton                      jacobian, dense or sparse (``AutoSparse``: sparse LU)
newton_minimize             gradient + hessian, dense or sparse
newton_cg                   gradient + hvp
lbfgs                       gradient (value and gradient, line-search trials included)
rodas                       jacobian (df/dy, dense or sparse) + derivative (df/dt)
halley                      derivative + second_derivative
==========================  =====================================================================

Examples
--------
>>> import numpy as np, adopt
>>> from adopt.problems.algorithms import halley
>>> res = halley(lambda x: x**3 - 2.0, adopt.AutoFiniteDiff(), np.asarray(1.0))
>>> res.converged, round(float(res.x), 12)
(True, 1.259921049895)
"""

from adopt.problems.algorithms._common import Result
from adopt.problems.algorithms.halley import halley
from adopt.problems.algorithms.least_squares import gauss_newton, levenberg_marquardt
from adopt.problems.algorithms.newton import newton, newton_cg, newton_minimize
from adopt.problems.algorithms.newton_krylov import newton_krylov
from adopt.problems.algorithms.quasi_newton import lbfgs
from adopt.problems.algorithms.rosenbrock import rodas

__all__ = ["Result", "levenberg_marquardt", "gauss_newton", "newton_krylov", "newton",
           "newton_minimize", "newton_cg", "lbfgs", "rodas", "halley"]
