"""adopt.solvers: exact derivatives for the solvers people already use.

:class:`Derivatives` (and :class:`ODEDerivatives` for ``solve_ivp``) is the plugin object: its
``fun``, ``jac``, ``hess`` and ``hessp`` drop into unchanged SciPy calls. The adapters in
:mod:`adopt.solvers.scipy` take SciPy's own signatures plus ``backend=``.

Examples
--------
>>> import numpy as np, adopt
>>> from adopt.solvers import Derivatives
>>> d = Derivatives(lambda x: (x**2).sum(), np.array([1.0, 2.0]), adopt.AutoFiniteDiff())
>>> d.fun(d.x0), d.jac(d.x0).round(6), d.nfev
(5.0, array([2., 4.]), 1)
"""

from adopt.solvers._bundle import Derivatives, ODEDerivatives, clear_cache
from adopt.solvers._pytree import Flat

__all__ = ["Derivatives", "ODEDerivatives", "Flat", "clear_cache"]
