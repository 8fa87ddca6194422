"""The catalogue: one function per problem family, registered in :data:`FAMILIES`.

A family is a function ``() -> list[Problem]``, usually a module's ``problems``: adding a family
is one more entry in :data:`FAMILIES`. The Hock–Schittkowski and large NLPs of
``problems/nlp.py`` bring their own solver (IPOPT through ``adopt.solvers.ipopt``); the training
objectives of ``problems/training.py`` are solved by L-BFGS (:func:`training_problems`).
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import Callable

from adopt.problems import minimize, mgh, nist, nlp, ode, scalar, systems, training
from adopt.problems._problem import KINDS, Problem

__all__ = ["FAMILIES", "catalog", "problem", "training_problems"]

#: L-BFGS options per training problem: the MLP's fit is a plateau (|f| ~ 1e-10 at the 0.05
#: fit), where Optax's own test, |gradient| <= 1e-6, is the meaningful stop
_TRAINING_OPTIONS = {"training/mlp": {"gtol": 1e-6, "maxiter": 5000}}
#: finite differences: central quotients of the chained Rosenbrock gradient are off by 1.5e-8
#: at its minimiser (h^2 f3 / 6, f3 the third derivative), so the gradient test is 1e-7; the
#: smallest Hessian eigenvalue there is 0.5, so the minimiser is then known to about 1e-6:
#: held to 1e-5
_TRAINING_FD = {"training/chained_rosenbrock/n200": ({"gtol": 1e-7}, 1e-5)}


def _for_lbfgs(p: Problem) -> Problem:
    fd_options, fd_rtol = _TRAINING_FD.get(p.name, ({}, p.fd_rtol))
    return replace(p, options={**p.options, "method": "lbfgs", **_TRAINING_OPTIONS.get(p.name, {})},
                   fd_options=fd_options, fd_rtol=fd_rtol)


def training_problems() -> list[Problem]:
    """The objectives of ``problems/training.py`` (kind ``"minimize"``), with method ``"lbfgs"``.

    L-BFGS on ``gradient`` is how such objectives are trained, and it reaches their references:
    Newton's method from the classic start stops at chained Rosenbrock's second local minimiser
    (f = 3.987), and on the MLP it does not meet its gradient test.

    Examples
    --------
    >>> from adopt.problems._catalog import training_problems
    >>> [(p.name, p.options["method"]) for p in training_problems()][:2]
    [('training/chained_rosenbrock/n200', 'lbfgs'), ('training/logistic_regression', 'lbfgs')]
    """
    return [_for_lbfgs(p) for p in training.problems()]


#: the families, in the order the catalogue lists them
FAMILIES: dict[str, Callable[[], list[Problem]]] = {
    "nist": nist.problems, "mgh": mgh.problems, "systems": systems.problems, "ode": ode.problems,
    "minimize": minimize.problems, "training": training_problems, "scalar": scalar.problems,
    "nlp": nlp.problems,
}


def catalog(kind: str | None = None) -> list[Problem]:
    """Every problem of the library, or those of one ``kind``.

    Parameters
    ----------
    kind : {"least_squares", "root", "ode", "minimize", "scalar", "nlp"}, optional

    Examples
    --------
    >>> from adopt.problems import catalog
    >>> len(catalog("least_squares")) >= 54
    True
    >>> sorted({p.kind for p in catalog()})
    ['least_squares', 'minimize', 'nlp', 'ode', 'root', 'scalar']
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"catalog: kind must be one of {KINDS}; got {kind!r}")
    return [p for family in FAMILIES.values() for p in family() if kind is None or p.kind == kind]


def problem(name: str) -> Problem:
    """The problem called ``name``; a ``KeyError`` that lists close names if there is none.

    Examples
    --------
    >>> from adopt.problems import problem
    >>> problem("ode/robertson").kind
    'ode'
    >>> problem("ode/robertsen")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    KeyError: "no problem 'ode/robertsen' in adopt.problems.catalog(); close names: ode/robertson..."
    """
    problems = {p.name: p for p in catalog()}
    if name in problems:
        return problems[name]
    close = difflib.get_close_matches(name, problems, n=5, cutoff=0.6)
    hint = f"close names: {', '.join(close)}" if close else "see [p.name for p in catalog()]"
    raise KeyError(f"no problem {name!r} in adopt.problems.catalog(); {hint}")
