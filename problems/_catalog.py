"""The catalogue: one module per problem family, registered in :data:`FAMILIES`.

A family is a module with a function ``problems() -> list[Problem]``. Adding a family (the
Hock–Schittkowski and large NLPs of ``problems/nlp.py``, the Optax objectives of
``problems/training.py``) is one more entry in :data:`FAMILIES`.
"""

from __future__ import annotations

import difflib

from adopt.problems import minimize, mgh, nist, ode, scalar, systems
from adopt.problems._problem import KINDS, Problem

__all__ = ["FAMILIES", "catalog", "problem"]

#: the family modules, in the order the catalogue lists them
FAMILIES = (nist, mgh, systems, ode, minimize, scalar)


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
    >>> sorted({p.kind for p in catalog()})[:3]
    ['least_squares', 'minimize', 'ode']
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"catalog: kind must be one of {KINDS}; got {kind!r}")
    return [p for family in FAMILIES for p in family.problems() if kind is None or p.kind == kind]


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
