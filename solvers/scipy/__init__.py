"""adopt.solvers.scipy: SciPy's solvers with exact derivatives from an adopt backend.

Each function takes exactly what its SciPy namesake takes, plus ``backend=``, and returns
SciPy's result: change one import (or one argument) and the derivatives become exact.

Examples
--------
>>> import numpy as np, adopt
>>> from adopt.solvers.scipy import minimize
>>> res = minimize(lambda x: ((x - 2.0)**2).sum(), np.zeros(3), backend=adopt.AutoFiniteDiff())
>>> res.x.round(6)
array([2., 2., 2.])
"""

from adopt.solvers.scipy._least_squares import least_squares
from adopt.solvers.scipy._minimize import minimize
from adopt.solvers.scipy._newton_krylov import ExactKrylovJacobian, newton_krylov
from adopt.solvers.scipy._root import root
from adopt.solvers.scipy._solve_ivp import solve_ivp

__all__ = ["minimize", "least_squares", "root", "newton_krylov", "solve_ivp", "ExactKrylovJacobian"]
