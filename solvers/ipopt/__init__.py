"""adopt.solvers.ipopt: IPOPT (through cyipopt) with exact, sparse derivatives from a backend.

:func:`minimize_ipopt` takes what ``cyipopt.minimize_ipopt`` takes, plus ``backend=``, and
returns its result. :func:`make_problem` gives existing cyipopt code a ``cyipopt.Problem``, and
:class:`NLPDerivatives` is the plugin object behind both: the objective's value and gradient,
the constraint Jacobian in IPOPT's triplet form, and the Hessian of the Lagrangian as one
Hessian of ``L(x; σ, λ)``, sparse under :class:`adopt.AutoSparse`. cyipopt is imported when a
problem is built: ``pip install 'adopt[ipopt]'``.

Examples
--------
>>> import numpy as np, adopt
>>> from adopt.solvers.ipopt import minimize_ipopt
>>> res = minimize_ipopt(lambda x: ((x - 1.0)**2).sum(), np.zeros(3), backend=adopt.AutoFiniteDiff(),
...                      bounds=[(None, 0.5)])
>>> bool(res.success), res.x.round(6)
(True, array([0.5, 0.5, 0.5]))
"""

from adopt.solvers.ipopt._minimize import make_problem, minimize_ipopt
from adopt.solvers.ipopt._nlp import NLPDerivatives

__all__ = ["minimize_ipopt", "make_problem", "NLPDerivatives"]
