"""adopt.problems: test problems with certified references, and reference algorithms on adopt.

Every problem is written once against the array API, so it runs on NumPy, JAX and PyTorch, and
carries a reference answer from a published source (or computed here, and labelled so):

- nonlinear least squares: the 27 NIST StRD datasets from both starts, MGH/MINPACK extras;
- nonlinear systems: MGH/MINPACK systems, 2D Bratu up to 256 x 256, SciPy's examples;
- stiff ODEs: Robertson, HIRES, Van der Pol, OREGO, 2D and 1D Brusselator;
- unconstrained minimisation: MGH functions at n up to 10⁴;
- scalar equations: Kepler's equation;
- training objectives (``problems/training.py``: chained Rosenbrock, logistic regression, a
  small MLP), by L-BFGS;
- constrained NLPs (``problems/nlp.py``: Hock–Schittkowski, Lukšan–Vlček, CLNLBEAM), by IPOPT.

``problem.solve(backend)`` runs adopt's reference algorithm (:mod:`adopt.problems.algorithms`)
and returns an :class:`Outcome`: success, error against the reference, counts, time, and the
adopt operators the run called.

Examples
--------
>>> import adopt
>>> from adopt.problems import catalog, problem
>>> sorted({p.kind for p in catalog()})
['least_squares', 'minimize', 'nlp', 'ode', 'root', 'scalar']
>>> out = problem("nist/Misra1a/start2").solve(adopt.AutoFiniteDiff())
>>> out.success, out.error < 1e-6, sorted(out.operators)
(True, True, ['jacobian'])
"""

from adopt.problems import algorithms
from adopt.problems._catalog import FAMILIES, catalog, problem
from adopt.problems._problem import KINDS, Outcome, Problem
from adopt.problems._report import markdown_table
from adopt.problems._solve import solve
from adopt.problems.systems import brusselator_for, brusselator_residual

__all__ = ["Problem", "Outcome", "KINDS", "catalog", "problem", "solve", "FAMILIES",
           "brusselator_residual", "brusselator_for", "markdown_table", "algorithms"]
